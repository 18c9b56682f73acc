"""Flattening: subcircuit instances expanded into one list of elements with JoSIM's labels
(:class:`Flattener`), zero-valued inductors merged as shorts, subcircuit cycles and
current-source-only nodes found. Standard library only."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from .elements import Element, JJModel, Source, element_options, parse_source
from .errors import NetlistError, warn
from .expressions import ParamScope, evaluate
from .lines import key_value, line_dir

__all__ = ["Line", "Subckt", "Flattener", "merge_shorts", "check_subckt_cycles", "check_dangling"]


@dataclass
class Line:
    """One logical line: its tokens (upper case), line number and text."""

    tokens: list[str]
    line: int
    text: str


@dataclass
class Subckt:
    """A ``.subckt`` definition: ports, body lines, its own models and ``.param`` scope."""

    name: str
    ports: list[str]
    body: list[Line]
    line: int
    models: dict[str, JJModel] = field(default_factory=dict)
    params: "ParamScope | None" = None  #: the subcircuit's own ``.param`` scope


class Flattener:
    """Expands a netlist's top-level body into flat :class:`Element` s.

    A device inside instances is labelled ``B1|X2|X1`` (innermost instance first), a node
    likewise (``1|X2|X1``); ground is ``"0"``. Each subcircuit body is expanded with its own
    ``.param`` scope (:class:`ParamScope`) and models (then the global ones). Every ``.param``
    is known before the elements are expanded, so a value's text always evaluates to the same
    number in one scope: each distinct (scope, text) is evaluated once (a subcircuit's values
    would otherwise be re-parsed at every instance); sources likewise, except ``cus()`` (its
    file is found relative to the including file).

    Parameters
    ----------
    subckts : dict
        ``.subckt`` name -> :class:`Subckt` (models already parsed).
    params : ParamScope
        The top-level ``.param`` scope.
    models : dict
        Global ``.model`` name -> :class:`JJModel`.
    strict : bool
        Turn warnings into errors.
    src : str, optional
        File name for warnings.
    base_dir : Path, optional
        Folder that ``cus()`` waveform files are relative to.
    """

    def __init__(
        self,
        subckts: dict[str, Subckt],
        params: ParamScope,
        models: dict[str, JJModel],
        *,
        strict: bool = False,
        src: str | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.subckts = subckts
        self.params = params
        self.models = models
        self.strict = strict
        self.src = src
        self.base_dir = base_dir
        self.elements: list[Element] = []
        self.labels: dict[str, int] = {}
        self.shorts: list[tuple[str, str, str, int]] = []  #: zero-valued inductors: (node, node, label, line)
        self._values: dict[tuple[str | None, str], float] = {}
        self._sources: dict[tuple, Source] = {}
        self._scope = params  # the .param scope of the body being expanded

    def flatten(self, top: list[Line]) -> tuple[list[Element], dict[str, str]]:
        """Expand ``top``; returns the elements and the node aliases of the shorts (node ->
        merged node). Mutual inductances must name existing inductors."""
        self.expand(top, (), {}, None, ())
        elements = self.elements
        alias = merge_shorts(self.shorts, elements) if self.shorts else {}
        inductors = {e.name for e in elements if e.kind == "L"}
        for e in elements:
            if e.kind == "K":
                for lname in e.coupled:
                    if lname not in inductors:
                        raise NetlistError("mutual inductance names an unknown inductor", line=e.line, token=lname)
        return elements, alias

    def value(self, text: str, ln) -> float:
        """The value of ``text`` in the current scope (evaluated once per scope and text)."""
        key = (self._scope.name, text)
        v = self._values.get(key)
        if v is None:
            v = self._values[key] = evaluate(text, self._scope, line=ln)
        return v

    def model_known(self, name: str, scope: Subckt | None) -> bool:
        return (scope is not None and name in scope.models) or name in self.models

    def expand(
        self,
        body: list[Line],
        path: tuple[str, ...],
        nodemap: dict[str, str],
        scope: Subckt | None,
        stack: tuple[str, ...],
    ) -> None:
        """Append the elements of ``body`` instantiated at ``path`` (instance names, outer first);
        ``nodemap`` maps the subcircuit's ports to the caller's nodes."""
        outer = self._scope
        self._scope = scope.params if scope is not None else self.params
        try:
            self._expand(body, path, nodemap, scope, stack)
        finally:
            self._scope = outer

    def _expand(self, body, path, nodemap, scope, stack) -> None:
        suffix = "|" + "|".join(reversed(path)) if path else ""

        def node(n: str) -> str:
            if n == "0" or n == "GND":  # is_ground
                return "0"
            m = nodemap.get(n)
            return m if m is not None else n + suffix

        labels = self.labels
        for ln_ in body:
            tok, ln = ln_.tokens, ln_.line
            kind = tok[0][0]
            if kind == "X":
                self._instance(tok, ln, path, node, stack)
                continue
            name = tok[0] + suffix
            if name in labels:
                raise NetlistError("duplicate element label", line=ln, token=tok[0])
            labels[name] = ln
            if kind in "LRC":
                self._passive(kind, name, tok, ln, node)
            elif kind == "B":
                self._junction(name, tok, ln, node, scope)
            elif kind == "T":
                self._tline(name, tok, ln, node)
            elif kind in "IVP":
                self._source(kind, name, tok, ln, node)
            elif kind == "K":
                self._mutual(name, tok, ln, suffix)
            else:
                raise NetlistError("unknown element type", line=ln, token=tok[0])

    def _instance(self, tok, ln, path, node, stack) -> None:
        subckts = self.subckts
        if len(tok) < 2:
            raise NetlistError("instance needs a subcircuit name and nodes", line=ln, token=tok[0])
        plain = [t for t in tok if "=" not in t]
        if len(plain) < 2:
            raise NetlistError("instance needs a subcircuit name and nodes", line=ln, token=tok[0])
        if plain[1] in subckts and plain[-1] not in subckts:  # JoSIM order X1 SUB n1 n2
            sname, conns = plain[1], plain[2:]
        elif plain[-1] in subckts:  # SPICE order X1 n1 n2 SUB
            sname, conns = plain[-1], plain[1:-1]
        else:
            cand = plain[1] if len(plain) > 1 else plain[0]
            raise NetlistError("undefined subcircuit", line=ln, token=cand if cand not in ("0",) else plain[-1])
        sc = subckts[sname]
        if sname in stack:
            raise NetlistError("recursive subcircuit instance", line=ln, token=sname)
        if len(conns) != len(sc.ports):
            raise NetlistError(
                f"subcircuit {sname} has {len(sc.ports)} ports, instance gives {len(conns)} nodes",
                line=ln,
                token=tok[0],
            )
        sub_map = {p: node(c) for p, c in zip(sc.ports, conns)}
        self.expand(sc.body, (*path, tok[0]), sub_map, sc, (*stack, sname))

    def _passive(self, kind, name, tok, ln, node) -> None:
        if len(tok) < 4:
            raise NetlistError("missing node or value", line=ln, token=tok[0])
        extra = [t for t in tok[4:] if not t.startswith(("IC=", "TEMP=", "NEB=", "SPREAD="))]
        if extra:
            raise NetlistError("unexpected token", line=ln, token=extra[0])
        val = self.value(tok[3], ln)
        if kind == "L" and val == 0.0:  # JoSIM accepts a zero inductor: a short, nodes merged later
            self.shorts.append((node(tok[1]), node(tok[2]), name, ln))
            return
        if not (math.isfinite(val) and val > 0):
            raise NetlistError(f"{kind} value must be > 0", line=ln, token=tok[3])
        opts = element_options(tok[4:], self.value, ln) if len(tok) > 4 else ()
        self.elements.append(
            Element(kind=kind, name=name, nodes=(node(tok[1]), node(tok[2])), value=val, options=opts, line=ln)
        )

    def _junction(self, name, tok, ln, node, scope) -> None:
        if len(tok) < 4:
            raise NetlistError("junction needs two nodes and a model", line=ln, token=tok[0])
        n1, n2 = node(tok[1]), node(tok[2])
        mname, area, ic = None, None, None
        opts = []
        rest = tok[3:]
        bare = [t for t in rest if "=" not in t]
        if len(bare) >= 2 and self.model_known(bare[-1], scope) and not self.model_known(bare[0], scope):
            # WRspice 3-terminal junction (B n+ n- nphase model ...): JoSIM takes the last
            # bare token as the model; the phase node is not used
            mname = bare[-1]
            rest = [t for t in rest if "=" in t]
        value = self.value
        for t in rest:
            kv = key_value(t)
            if kv and kv[0] == "AREA":
                area = value(kv[1], ln)
            elif kv and kv[0] == "IC":
                ic = value(kv[1], ln)
            elif kv and kv[0] in ("TEMP", "NEB", "SPREAD"):
                opts.append((kv[0], value(kv[1], ln)))
            elif kv:
                raise NetlistError("unknown junction option", line=ln, token=t)
            elif mname is None:
                mname = t
            elif area is None:
                area = value(t, ln)
            else:
                raise NetlistError("unexpected token", line=ln, token=t)
        if mname is None:
            raise NetlistError("junction needs a model name", line=ln, token=tok[0])
        model = (scope.models.get(mname) if scope is not None else None) or self.models.get(mname)
        if model is None:
            raise NetlistError("undefined junction model", line=ln, token=mname)
        if ic is not None:
            area = ic / model.icrit
        area = 1.0 if area is None else area
        if not (math.isfinite(area) and area > 0):
            raise NetlistError("junction area must be > 0", line=ln, token=str(area))
        self.elements.append(
            Element(kind="B", name=name, nodes=(n1, n2), model=model, area=area, options=tuple(opts), line=ln)
        )

    def _tline(self, name, tok, ln, node) -> None:
        plain = [t for t in tok[1:] if "=" not in t and t != "LOSSLESS"]
        if len(plain) < 4:
            raise NetlistError(
                "transmission line needs four nodes: T n1+ n1- n2+ n2- Z0=.. TD=..", line=ln, token=tok[0]
            )
        if len(plain) > 4:
            raise NetlistError("unexpected token", line=ln, token=plain[4])
        z0 = td = None
        for t in tok[5:]:
            kv = key_value(t)
            if kv is None:
                continue
            if kv[0] == "Z0":
                z0 = self.value(kv[1], ln) if kv[1] else None
            elif kv[0] == "TD":
                td = self.value(kv[1], ln) if kv[1] else None
            else:
                warn(
                    "transmission-line parameter ignored (lossless line: Z0 and TD)",
                    line=ln,
                    token=t,
                    strict=self.strict,
                    src=self.src,
                )
        for key, v in (("Z0", z0), ("TD", td)):
            if v is None:
                raise NetlistError(f"transmission line needs {key}=value", line=ln, token=tok[0])
            if not (math.isfinite(v) and v > 0):
                raise NetlistError(f"transmission line {key} must be > 0", line=ln, token=f"{key}={v:g}")
        nodes = tuple(node(n) for n in plain[:4])
        self.elements.append(Element(kind="T", name=name, nodes=nodes, value=z0, delay=td, line=ln))

    def _source(self, kind, name, tok, ln, node) -> None:
        if len(tok) < 3:
            raise NetlistError("missing node", line=ln, token=tok[0])
        if len(tok) < 4:
            raise NetlistError("source needs a value or function", line=ln, token=tok[0])
        key = (self._scope.name, *tok[3:])
        srcf = self._sources.get(key)
        if srcf is None:
            srcf = parse_source(tok[3:], ln, self._scope, base_dir=line_dir(ln, self.base_dir))
            if srcf.kind != "cus":
                self._sources[key] = srcf
        self.elements.append(Element(kind=kind, name=name, nodes=(node(tok[1]), node(tok[2])), source=srcf, line=ln))

    def _mutual(self, name, tok, ln, suffix) -> None:
        if len(tok) != 4:
            raise NetlistError("mutual inductance needs 'K L1 L2 k'", line=ln, token=tok[0])
        k = self.value(tok[3], ln)
        if not (-1.0 < k < 1.0):
            raise NetlistError("coupling must satisfy |k| < 1", line=ln, token=tok[3])
        self.elements.append(
            Element(kind="K", name=name, nodes=(), value=k, coupled=(tok[1] + suffix, tok[2] + suffix), line=ln)
        )


def merge_shorts(shorts, elements: list) -> dict[str, str]:
    """Zero-valued inductors short their nodes (JoSIM v2.7 simulates them: the two nodes carry
    one phase, measured with josim-cli v2.7): the nodes are merged (ground wins, else the first
    node of the first short), ``elements`` rewritten in place; returns node -> merged node."""
    root: dict[str, str] = {}

    def find(n: str) -> str:
        while root.get(n, n) != n:
            n = root[n]
        return n

    for a, b, _, _ in shorts:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if rb == "0":
            ra, rb = rb, ra
        root[rb] = ra
    alias = {n: find(n) for n in root}
    for i, e in enumerate(elements):
        if e.nodes and any(n in alias for n in e.nodes):
            elements[i] = dataclasses.replace(e, nodes=tuple(alias.get(n, n) for n in e.nodes))
    return alias


def check_subckt_cycles(subckts: dict[str, Subckt]) -> None:
    """A subcircuit that instantiates itself through any chain is a NetlistError (even unused)."""

    def calls(sc: Subckt):
        for ln_ in sc.body:
            tok = ln_.tokens
            if tok[0][0] == "X":
                plain = [t for t in tok if "=" not in t]
                for cand in (plain[1] if len(plain) > 1 else None, plain[-1]):
                    if cand in subckts:
                        yield cand, ln_.line
                        break

    state: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]):
        state[name] = 1
        for callee, ln in calls(subckts[name]):
            if state.get(callee) == 1:
                raise NetlistError(f".subckt cycle: {' -> '.join([*trail, name, callee])}", line=ln, token=callee)
            if callee not in state:
                visit(callee, (*trail, name))
        state[name] = 2

    for name in subckts:
        if name not in state:
            visit(name, ())


def check_dangling(elements: list[Element]) -> None:
    """A node that only a current source touches has no solution: NetlistError naming the
    element's line and the node (checked when a circuit is compiled). Any other dangling node
    (a stub resistor, an unused bias node, an open transmission-line port) simulates, as in
    JoSIM v2.7 (measured with josim-cli v2.7)."""
    count: dict[str, int] = {}
    first: dict[str, Element] = {}
    for e in elements:
        for i, nd in enumerate(e.nodes):
            if e.kind == "T":
                count[nd] = count.get(nd, 0) + 2
                continue
            if nd != "0":
                count[nd] = count.get(nd, 0) + 1
                first.setdefault(nd, e)
    for nd, k in count.items():
        if k == 1 and first[nd].kind == "I":
            e = first[nd]
            raise NetlistError(f"node {nd} is connected to nothing but {e.name}", line=e.line, token=nd)
