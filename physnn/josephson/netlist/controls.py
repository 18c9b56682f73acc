"""Control lines of a netlist (``.tran``, ``.temp``, ``.neb``, ``.spread``, ``.option``, ``.iv``,
``.print``/``.plot``/``.save``) applied to a flattened :class:`~.elements.Netlist`. Standard
library only."""

from __future__ import annotations

import re

from .elements import Element, JJModel, Netlist, PrintRequest
from .errors import NetlistError, warn
from .expressions import ParamScope, evaluate
from .flatten import Line
from .lines import canonical_device, canonical_node, key_value

__all__ = ["apply_controls", "parse_print"]


def apply_controls(
    net: Netlist,
    controls: list[Line],
    params: ParamScope,
    models: dict[str, JJModel],
    alias: dict[str, str],
    *,
    strict: bool = False,
    src: str | None = None,
) -> None:
    """Read the control lines into ``net`` (its elements already flattened; ``alias``: nodes
    merged by zero-valued inductors; ``models``: the global ``.model`` table for ``.iv``)."""
    gmodels = models
    byname = {e.name: e for e in net.elements}
    nodes = {nd for e in net.elements for nd in e.nodes}
    for c in controls:
        tok, ln = c.tokens, c.line
        head = tok[0]
        if head == ".TRAN":
            vals = tok[1:]
            if vals and vals[-1] in ("DST", "NOSTARTUP"):
                net.startup = False
                vals = vals[:-1]
            if "UIC" in vals:
                warn(
                    "UIC on .tran: physnn ignores it (JoSIM v2.7 stops with an undefined-variable error)",
                    line=ln,
                    token="UIC",
                    strict=strict,
                    src=src,
                )
            vals = [v for v in vals if v not in ("UIC",)]
            if not vals:
                raise NetlistError(".tran needs a step", line=ln, token=head)
            if len(vals) > 4:
                raise NetlistError("unexpected token", line=ln, token=vals[4])
            step = evaluate(vals[0], params, line=ln)
            stop = evaluate(vals[1], params, line=ln) if len(vals) > 1 else 1e-9
            start = evaluate(vals[2], params, line=ln) if len(vals) > 2 else 0.0
            if not (step > 0 and stop > 0):
                raise NetlistError(".tran step and stop must be > 0", line=ln, token=" ".join(vals))
            if not 0 <= start < stop:
                raise NetlistError(".tran start must be in [0, stop)", line=ln, token=vals[2])
            net.tstep, net.tstop, net.tstart, net.prstep = step, stop, start, step
            if len(vals) > 3:
                # JoSIM v2.7: .tran TSTEP TSTOP PRSTART PRSTEP; a print step below the
                # step lowers the step to it (src/Transient.cpp)
                prstep = evaluate(vals[3], params, line=ln)
                if not prstep > 0:
                    raise NetlistError(".tran print step must be > 0", line=ln, token=vals[3])
                net.prstep = prstep
                net.tstep = min(step, prstep)
            net.has_tran = True
        elif head == ".TEMP":
            if len(tok) != 2:
                raise NetlistError(".temp needs one value", line=ln, token=head)
            net.temp = evaluate(tok[1], params, line=ln)
            if net.temp < 0:
                raise NetlistError(".temp must be >= 0 K", line=ln, token=tok[1])
        elif head == ".NEB":
            if len(tok) != 2:
                raise NetlistError(".neb needs one value (Hz)", line=ln, token=head)
            net.neb = evaluate(tok[1], params, line=ln)
            if not net.neb > 0:
                raise NetlistError(".neb must be > 0 Hz", line=ln, token=tok[1])
        elif head == ".SPREAD":
            if len(tok) < 2:
                raise NetlistError(".spread needs a value", line=ln, token=head)
            for t in tok[1:]:
                kv = key_value(t)
                key, val = ("G", t) if kv is None else (kv[0], kv[1])
                if key not in ("G", "L", "C", "R", "B"):
                    raise NetlistError(".spread takes a global value and L=, C=, R=, B=", line=ln, token=t)
                v = evaluate(val, params, line=ln)
                if not 0 <= v < 3:
                    raise NetlistError(".spread must be in [0, 3) (relative 3-sigma)", line=ln, token=t)
                net.spread[key] = v
        elif head in (".OPTION", ".OPTIONS"):
            for t in tok[1:]:
                kv = key_value(t)
                key, val = (t, "1") if kv is None else kv
                try:
                    net.options[key.lower()] = evaluate(val, params, line=ln)
                except NetlistError:
                    net.options[key.lower()] = val.lower()
                if key not in ("SEED", "MAXSTEP", "STEP", "STARTUP", "NOSTARTUP", "MINIMAL", "ANALYSIS"):
                    warn("option not used by physnn", line=ln, token=t, strict=strict, src=src)
            if "seed" in net.options:
                sd = net.options["seed"]
                if not (isinstance(sd, float) and sd >= 0 and sd == int(sd)):
                    raise NetlistError(".option seed must be a non-negative integer", line=ln, token=str(sd))
        elif head == ".IV":
            if len(tok) < 3:
                raise NetlistError(".iv needs a model and a maximum current", line=ln, token=head)
            if tok[1] not in gmodels:
                raise NetlistError("undefined junction model", line=ln, token=tok[1])
            imax = evaluate(tok[2], params, line=ln)
            if not imax > 0:
                raise NetlistError(".iv maximum current must be > 0", line=ln, token=tok[2])
            net.iv.append((tok[1], imax, c.text.split()[3] if len(tok) > 3 else None))
        elif head in (".PRINT", ".PLOT", ".SAVE"):
            net.prints.extend(parse_print(tok, ln, byname, nodes, strict, src, alias))
        elif head in (".FILE", ".END"):
            pass
        else:
            warn("unknown control ignored", line=ln, token=head, strict=strict, src=src)


def parse_print(
    tok: list[str],
    ln,
    byname: dict[str, Element],
    nodes: set[str],
    strict: bool = False,
    src: str | None = None,
    alias: dict[str, str] | None = None,
) -> list[PrintRequest]:
    alias = alias or {}

    def dev(name: str) -> Element | None:
        key = canonical_device(name)
        if key not in byname:
            warn("unknown device in .print: ignoring this store request", line=ln, token=name, strict=strict, src=src)
            return None
        return byname[key]

    def nd(n: str) -> str | None:
        key = canonical_node(n)
        key = alias.get(key, key)  # a node shorted by a zero inductor
        if key != "0" and key not in nodes:
            warn("unknown node in .print: ignoring this store request", line=ln, token=n, strict=strict, src=src)
            return None
        return key

    def node_req(letter: str, a: str, b: str | None) -> PrintRequest | None:
        n1 = nd(a)
        n2 = nd(b) if b is not None else "0"
        if n1 is None or n2 is None:
            return None
        # JoSIM's column name: the nodes as written (``.print nodev 3 0`` -> V(3,0), v(3) -> V(3))
        c1 = canonical_node(a)
        lab = f"{letter}({c1})" if b is None else f"{letter}({c1},{canonical_node(b)})"
        return PrintRequest(kind="nodev" if letter == "V" else "nodep", target=(n1, n2), label=lab, line=ln)

    def dev_req(letter: str, name: str) -> PrintRequest | None:
        e = dev(name)
        if e is None:
            return None
        if letter == "I" and e.kind == "T":
            warn(
                "current of a transmission line is not kept (print its port voltages): ignoring this store request",
                line=ln,
                token=name,
                strict=strict,
                src=src,
            )
            return None
        k = {"V": "devv", "I": "devi", "P": "phase"}[letter]
        return PrintRequest(kind=k, target=(e.name,), label=f"{letter}({e.name})", line=ln)

    args = tok[1:]
    if args and args[0] == "TRAN":  # SPICE: .print tran v(1) ...
        args = args[1:]
    if not args:
        raise NetlistError(".print needs arguments", line=ln, token=tok[0])
    kind = args[0]
    out: list[PrintRequest | None] = []
    if kind in ("DEVV", "DEVI", "PHASE", "DEVP", "DEVICE_VOLTAGE", "DEVICE_CURRENT", "DEVICE_PHASE"):
        if len(args) != 2:
            raise NetlistError(f".print {kind} needs one device", line=ln, token=" ".join(args))
        letter = {"DEVV": "V", "DEVICE_VOLTAGE": "V", "DEVI": "I", "DEVICE_CURRENT": "I"}.get(kind, "P")
        out.append(dev_req(letter, args[1]))
    elif kind in ("NODEV", "NODEP", "NODE_VOLTAGE", "NODE_PHASE"):
        if len(args) not in (2, 3):
            raise NetlistError(f".print {kind} needs one or two nodes", line=ln, token=" ".join(args))
        letter = "V" if kind in ("NODEV", "NODE_VOLTAGE") else "P"
        out.append(node_req(letter, args[1], args[2] if len(args) == 3 else None))
    else:
        # SPICE/WRspice style: .print v(1) v(2,3) i(L1) p(B1) p(1) v(B1) @B1[p] ...
        for a in args:
            m = re.match(r"^([VIP])\((.*)\)$", a)
            if m is None:
                m2 = re.match(r"^@([A-Z0-9_.|]+)\[([VIPC])\]$", a)  # @device[v|i|p]
                if m2 is None:
                    raise NetlistError("unknown .print form", line=ln, token=a)
                out.append(dev_req({"C": "I"}.get(m2.group(2), m2.group(2)), m2.group(1)))
                continue
            letter, inner = m.group(1), m.group(2).split()
            if not inner or len(inner) > 2:
                raise NetlistError("a .print trace takes one device or one or two nodes", line=ln, token=a)
            if letter == "I" or (
                len(inner) == 1 and canonical_device(inner[0]) in byname and canonical_node(inner[0]) not in nodes
            ):
                if len(inner) != 1:
                    raise NetlistError("a current trace takes one device", line=ln, token=a)
                out.append(dev_req(letter, inner[0]))
            else:
                out.append(node_req(letter, inner[0], inner[1] if len(inner) > 1 else None))
    return [p for p in out if p is not None]
