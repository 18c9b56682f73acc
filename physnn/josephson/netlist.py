"""JoSIM/WRspice-style netlist parser: values, ``.param`` expressions, subcircuits, sources.

The accepted subset (JoSIM v2.7 syntax guide, https://joeydelp.github.io/JoSIM/syntax/):

* elements ``B`` (Josephson junction, ``area=`` / ``ic=``), ``L``, ``R``, ``C``, ``K`` (mutual
  coupling ``K1 L1 L2 k``), ``I`` and ``V`` sources, ``P`` phase sources, ``X`` instances (JoSIM
  order ``X1 SUB n1 n2`` and SPICE order ``X1 n1 n2 SUB``);
* source functions ``pwl(...)``, ``pulse(...)``, ``sin(...)``, ``dc v`` or a bare value;
* controls ``.subckt``/``.ends``, ``.model name jj(...)``, ``.param``, ``.tran``, ``.print``,
  ``.temp``, ``.end`` (other dot-controls such as ``.iv`` are ignored with a warning);
* comments (lines starting with ``*`` or ``#``), ``+`` continuation lines, case-insensitive text.

Numbers take JoSIM's scale suffixes: ``f`` 1e-15 (so ``1F`` is 1 fF, as JoSIM reads it), ``p``,
``n``, ``u``, ``m`` (milli), ``k``, ``meg``/``x``, ``g``, ``t``, ``mil``; trailing unit letters
(``V``, ``A``, ``H``, ``F``, ``OHM``, ``S``, ``HZ``) are ignored, as in JoSIM.

Every error is a :class:`NetlistError` naming the line number and the offending token.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "NetlistError",
    "JJModel",
    "Source",
    "Element",
    "PrintRequest",
    "Netlist",
    "parse_value",
    "parse_netlist",
]


class NetlistError(ValueError):
    """Bad netlist input. ``line`` is the 1-based line number, ``token`` the offending text."""

    def __init__(self, message: str, *, line: int | None = None, token: str | None = None, source: str | None = None):
        self.line = line
        self.token = token
        self.source = source
        where = []
        if source:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        prefix = ":".join(where)
        tok = f" (token {token!r})" if token is not None else ""
        super().__init__(f"{prefix + ': ' if prefix else ''}{message}{tok}")


# --------------------------------------------------------------------------------------------
# numbers and expressions
# --------------------------------------------------------------------------------------------
_SCALE = [("MEG", 1e6), ("MIL", 25.4e-6), ("F", 1e-15), ("P", 1e-12), ("N", 1e-9), ("U", 1e-6),
          ("M", 1e-3), ("K", 1e3), ("X", 1e6), ("G", 1e9), ("T", 1e12)]
_UNITS = {"", "V", "A", "H", "F", "OHM", "OHMS", "S", "HZ", "W", "WB", "C", "K", "R", "SEC"}
_NUM_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[E][+-]?\d+)?)([A-Z]*)$")


def parse_value(token: str, *, line: int | None = None) -> float:
    """Convert one number with an optional JoSIM scale suffix to ``float`` (SI).

    >>> parse_value("0.07pF"), parse_value("1F"), parse_value("2.8mV"), parse_value("1meg")
    (7e-14, 1e-15, 0.0028, 1000000.0)
    """
    t = token.strip().upper()
    m = _NUM_RE.match(t)
    if m is None:
        raise NetlistError("not a number", line=line, token=token)
    base = float(m.group(1))
    suffix = m.group(2)
    if suffix == "":
        return base
    for name, scale in _SCALE:
        if suffix.startswith(name) and suffix[len(name):] in _UNITS:
            return base * scale
    if suffix in _UNITS:
        return base
    raise NetlistError("unknown scale suffix or unit", line=line, token=token)


_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}
_FUN = {"SQRT": math.sqrt, "EXP": math.exp, "LOG": math.log, "LN": math.log, "LOG10": math.log10,
        "SIN": math.sin, "COS": math.cos, "TAN": math.tan, "ABS": abs, "ATAN": math.atan,
        "ASIN": math.asin, "ACOS": math.acos, "SINH": math.sinh, "COSH": math.cosh, "TANH": math.tanh}
_CONST = {"PI": math.pi, "PHI_ZERO": 2.067833848e-15, "E": math.e}
_TOK_RE = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?[A-Z]*)|(?P<id>[A-Z_][A-Z0-9_.|]*)|(?P<op>\*\*|[-+*/^(),]))")


class _Params:
    """Lazily evaluated ``.param`` table with cycle detection."""

    def __init__(self) -> None:
        self.raw: dict[str, tuple[str, int]] = {}
        self.values: dict[str, float] = {}
        self._busy: set[str] = set()

    def define(self, name: str, expr: str, line: int) -> None:
        self.raw[name] = (expr, line)
        self.values.pop(name, None)

    def get(self, name: str, line: int | None) -> float:
        if name in self.values:
            return self.values[name]
        if name not in self.raw:
            raise NetlistError("undefined parameter", line=line, token=name)
        if name in self._busy:
            raise NetlistError("circular parameter definition", line=self.raw[name][1], token=name)
        self._busy.add(name)
        try:
            expr, pline = self.raw[name]
            v = evaluate(expr, self, line=pline)
        finally:
            self._busy.discard(name)
        self.values[name] = v
        return v


def evaluate(expr: str, params: _Params | None, *, line: int | None = None) -> float:
    """Evaluate a ``.param`` expression: numbers with suffixes, names, + - * / ^, functions."""
    text = expr.strip().upper()
    if len(text) >= 2 and text[0] in "{'\"" and text[-1] in "}'\"":
        text = text[1:-1]
    try:
        return parse_value(text, line=line)
    except NetlistError:
        pass
    pieces: list[str] = []
    names: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOK_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise NetlistError("cannot parse expression", line=line, token=expr)
        pos = m.end()
        if m.group("num"):
            pieces.append(repr(parse_value(m.group("num"), line=line)))
        elif m.group("id"):
            ident = m.group("id")
            key = f"_v{len(names)}"
            names[key] = ident
            pieces.append(key)
        else:
            op = m.group("op")
            pieces.append("**" if op == "^" else op)
    src = " ".join(pieces)
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError:
        raise NetlistError("cannot parse expression", line=line, token=expr) from None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            return _BIN[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Name):
            ident = names[node.id]
            if params is not None and (ident in params.raw or ident in params.values):
                return params.get(ident, line)
            if ident in _CONST:
                return _CONST[ident]
            raise NetlistError("undefined parameter", line=line, token=ident)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fname = names[node.func.id]
            if fname not in _FUN:
                raise NetlistError("unknown function", line=line, token=fname)
            return float(_FUN[fname](*[ev(a) for a in node.args]))
        raise NetlistError("unsupported expression", line=line, token=expr)

    try:
        return float(ev(tree))
    except (ZeroDivisionError, ValueError, OverflowError) as exc:
        if isinstance(exc, NetlistError):
            raise
        raise NetlistError(f"expression cannot be evaluated ({exc})", line=line, token=expr) from None


# --------------------------------------------------------------------------------------------
# data classes
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class JJModel:
    """RCSJ junction model (per unit area; JoSIM defaults). SI units."""

    name: str
    icrit: float = 1e-3  #: critical current, A
    cap: float = 2.5e-12  #: capacitance, F
    r0: float = 30.0  #: subgap resistance, ohm
    rn: float = 5.0  #: normal resistance, ohm
    vg: float = 2.8e-3  #: gap voltage, V
    delv: float = 0.1e-3  #: width of the gap transition, V
    icfct: float = math.pi / 4  #: Ic*Rn / (pi*Delta/2e) factor setting the transition conductance
    rtype: int = 1  #: 1 = piecewise quasiparticle resistance, 0 = constant rn
    phi: float = 0.0  #: phase offset (pi junction: pi), rad


@dataclass(frozen=True, kw_only=True)
class Source:
    """Time function of an I, V or P source. ``kind`` in {'pwl', 'pulse', 'sin', 'dc'}."""

    kind: str
    args: tuple[float, ...]

    def __call__(self, t, *, tstep: float, tstop: float):
        """Evaluate at times ``t`` (numpy array, s) following JoSIM's definitions."""
        import numpy as np

        t = np.asarray(t, dtype=float)
        a = self.args
        if self.kind == "dc":
            return np.full_like(t, a[0])
        if self.kind == "pwl":
            ts, vs = np.asarray(a[0::2]), np.asarray(a[1::2])
            out = np.interp(t, ts, vs)
            return np.where(t < ts[0], 0.0, out)  # JoSIM returns 0 before the first point
        if self.kind == "pulse":
            a1, a2 = a[0], a[1]
            td = a[2] if len(a) > 2 else 0.0
            tr = a[3] if len(a) > 3 else tstep
            tf = a[4] if len(a) > 4 else tstep
            pw = a[5] if len(a) > 5 else tstop
            per = a[6] if len(a) > 6 else tstop
            tau = np.where(t < td, -1.0, t - td)
            tau = np.where(tau >= 0, tau - np.floor(tau / per) * per, tau)
            out = np.full_like(t, a1)
            rise = (tau >= 0) & (tau < tr)
            out = np.where(rise, a1 + (a2 - a1) * tau / max(tr, 1e-300), out)
            out = np.where((tau >= tr) & (tau < tr + pw), a2, out)
            fall = (tau >= tr + pw) & (tau < tr + pw + tf)
            out = np.where(fall, a2 + (a1 - a2) * (tau - tr - pw) / max(tf, 1e-300), out)
            return out
        if self.kind == "sin":
            vo, va = a[0], a[1]
            freq = a[2] if len(a) > 2 else 1.0 / tstop
            td = a[3] if len(a) > 3 else 0.0
            theta = a[4] if len(a) > 4 else 0.0
            x = t - td
            return np.where(t >= td, vo + va * np.sin(2 * math.pi * freq * x) * np.exp(-theta * x), vo)
        raise ValueError(f"Source.kind={self.kind!r}: unknown")  # pragma: no cover


@dataclass(frozen=True, kw_only=True)
class Element:
    """One flattened circuit element. ``name`` is the JoSIM label (``B01|X1`` inside ``X1``)."""

    kind: str  #: first letter: B L R C I V P K
    name: str
    nodes: tuple[str, ...]  #: flattened node names; ground is ``"0"``
    value: float = 0.0  #: L in H, R in ohm, C in F, K coupling coefficient
    source: Source | None = None
    model: JJModel | None = None
    area: float = 1.0
    coupled: tuple[str, str] = ()  #: K only: the two coupled inductor labels
    line: int = 0


@dataclass(frozen=True, kw_only=True)
class PrintRequest:
    """One ``.print`` trace: ``kind`` in {'devv', 'devi', 'phase', 'nodev', 'nodep'}."""

    kind: str
    target: tuple[str, ...]  #: device label, or (node+, node-)
    label: str  #: output name, JoSIM style: V(1), P(B01), I(ROUT)
    line: int = 0


@dataclass(kw_only=True)
class Netlist:
    """A parsed, flattened netlist."""

    elements: list[Element] = field(default_factory=list)
    prints: list[PrintRequest] = field(default_factory=list)
    tstep: float | None = None
    tstop: float | None = None
    tstart: float = 0.0
    temp: float | None = None
    startup: bool = True
    params: dict[str, float] = field(default_factory=dict)
    source_name: str = "<netlist>"

    @property
    def junctions(self) -> list[Element]:
        return [e for e in self.elements if e.kind == "B"]

    def element(self, name: str) -> Element:
        key = _canonical_device(name)
        for e in self.elements:
            if e.name == key:
                return e
        raise KeyError(f"no element {name!r} in {self.source_name}")


# --------------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------------
@dataclass
class _Line:
    tokens: list[str]
    line: int
    text: str


@dataclass
class _Subckt:
    name: str
    ports: list[str]
    body: list[_Line]
    line: int
    models: dict[str, JJModel] = field(default_factory=dict)


def _split_lines(text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for i, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not s or s[0] in "*#":
            continue
        if s[0] == "+":
            if not out:
                raise NetlistError("continuation line without a preceding line", line=i, token="+")
            prev, pl = out[-1]
            out[-1] = (prev + " " + s[1:].strip(), pl)
            continue
        out.append((s, i))
    return out


def _tokenize(s: str, line: int) -> list[str]:
    """Split on blanks and commas outside parentheses; ``f(a b)`` stays one token."""
    s = s.upper()
    s = re.sub(r"\s*=\s*", "=", s)
    s = re.sub(r"\s*\(\s*", "(", s)
    toks: list[str] = []
    cur = ""
    depth = 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise NetlistError("unbalanced ')'", line=line, token=s)
        if depth == 0 and (ch.isspace() or ch == ","):
            if cur:
                toks.append(cur)
            cur = ""
        elif depth > 0 and ch == ",":
            cur += " "
        else:
            cur += ch
    if depth != 0:
        raise NetlistError("unbalanced '('", line=line, token=s)
    if cur:
        toks.append(cur)
    # a function name followed by a separate "(..." token: glue them ("PWL (0 0)" -> "PWL(0 0)")
    return toks


def _canonical_device(name: str) -> str:
    """``X03_B01`` / ``X03.B01`` / ``B01|X03`` -> JoSIM label ``B01|X03``."""
    n = name.strip().upper()
    if "|" in n:
        return n
    for sep in (".", "_"):
        if sep in n:
            parts = n.split(sep)
            if all(p and p[0] == "X" for p in parts[:-1]) and parts[-1] and parts[-1][0] in "BLRCIVPK":
                return "|".join([parts[-1], *reversed(parts[:-1])])
    return n


def _is_ground(node: str) -> bool:
    return node in ("0", "GND")


def _parse_model(tok: list[str], line: int, params: _Params) -> JJModel:
    if len(tok) < 3:
        raise NetlistError("bad .model line: need '.model name jj(...)'", line=line, token=" ".join(tok))
    name = tok[1]
    body = " ".join(tok[2:])
    m = re.match(r"^([A-Z]+)\s*(?:\((.*)\))?\s*$", body)
    if m is None:
        raise NetlistError("bad .model definition", line=line, token=body)
    if m.group(1) != "JJ":
        raise NetlistError("unknown model type (only jj)", line=line, token=m.group(1))
    kw: dict[str, float] = {}
    fields = {"VG": "vg", "VGAP": "vg", "IC": "icrit", "ICRIT": "icrit", "RTYPE": "rtype", "RN": "rn",
              "R0": "r0", "CAP": "cap", "C": "cap", "DELV": "delv", "ICFACT": "icfct", "ICFCT": "icfct",
              "PHI": "phi"}
    for item in (m.group(2) or "").split():
        if "=" not in item:
            raise NetlistError("model parameter must be name=value", line=line, token=item)
        k, v = item.split("=", 1)
        if k in ("T", "TC", "D", "CPR", "TDEP"):
            warnings.warn(f"line {line}: JJ model parameter {k} ignored (temperature-dependent model "
                          "not implemented)", stacklevel=3)
            continue
        if k not in fields:
            raise NetlistError("unknown JJ model parameter", line=line, token=k)
        val = evaluate(v, params, line=line)
        kw[fields[k]] = int(val) if fields[k] == "rtype" else val
    return JJModel(name=name, **kw)


def _parse_source(toks: list[str], line: int, params: _Params) -> Source:
    if not toks:
        raise NetlistError("source needs a value or function", line=line, token="")
    first = toks[0]
    m = re.match(r"^(PWL|PULSE|SIN|DC)\((.*)\)$", first)
    if m:
        kind = m.group(1).lower()
        args = tuple(evaluate(a, params, line=line) for a in m.group(2).split())
        if len(toks) > 1:
            raise NetlistError("unexpected token after source function", line=line, token=toks[1])
    elif first == "DC" and len(toks) == 2:
        kind, args = "dc", (evaluate(toks[1], params, line=line),)
    elif len(toks) == 1 and "(" not in first:
        kind, args = "dc", (evaluate(first, params, line=line),)
    else:
        raise NetlistError("unknown source function", line=line, token=first)
    if kind == "pwl":
        if len(args) < 2 or len(args) % 2:
            raise NetlistError("pwl needs time/value pairs", line=line, token=first)
        ts = args[0::2]
        if any(b < a for a, b in zip(ts, ts[1:])):
            raise NetlistError("pwl times must not decrease", line=line, token=first)
        if ts[0] != 0.0:
            args = (0.0, 0.0, *args)
    elif kind == "pulse" and len(args) < 2:
        raise NetlistError("pulse needs at least 2 arguments", line=line, token=first)
    elif kind == "sin" and len(args) < 2:
        raise NetlistError("sin needs at least 2 arguments", line=line, token=first)
    elif kind == "dc" and len(args) != 1:
        raise NetlistError("dc needs one value", line=line, token=first)
    return Source(kind=kind, args=args)


def parse_netlist(netlist: str | Path, *, params: dict[str, float] | None = None) -> Netlist:
    """Parse a netlist (path or text) into a flattened :class:`Netlist`.

    Parameters
    ----------
    netlist : str or Path
        File path, or the netlist text itself (anything containing a newline is text).
    params : dict, optional
        ``.param`` overrides (name -> SI value), applied after the file's own definitions.
    """
    if isinstance(netlist, Path) or ("\n" not in str(netlist) and Path(str(netlist)).is_file()):
        path = Path(netlist)
        text = path.read_text()
        src_name = str(path)
    else:
        text = str(netlist)
        src_name = "<netlist>"
        if "\n" not in text and text.strip().lower().endswith((".cir", ".js", ".sp")):
            raise NetlistError(f"netlist file not found: {text}", token=text)
    try:
        return _parse(text, src_name, params or {})
    except NetlistError as exc:
        if exc.source is None and src_name != "<netlist>":
            new = NetlistError(str(exc).split(": ", 1)[-1] if exc.line is not None else str(exc),
                               line=exc.line, token=None, source=src_name)
            new.token = exc.token
            raise new from None
        raise


def _parse(text: str, src_name: str, overrides: dict[str, float]) -> Netlist:
    lines = [(_tokenize(s, ln), ln, s) for s, ln in _split_lines(text)]
    params = _Params()
    subckts: dict[str, _Subckt] = {}
    models: dict[str, JJModel] = {}
    top: list[_Line] = []
    controls: list[_Line] = []
    cur: _Subckt | None = None
    for tok, ln, s in lines:
        if not tok:
            continue
        head = tok[0]
        if head == ".END":
            break
        if head == ".SUBCKT":
            if cur is not None:
                raise NetlistError("nested .subckt definitions are not allowed", line=ln, token=head)
            if len(tok) < 2:
                raise NetlistError(".subckt needs a name", line=ln, token=head)
            cur = _Subckt(name=tok[1], ports=tok[2:], body=[], line=ln)
            if tok[1] in subckts:
                raise NetlistError("duplicate subcircuit", line=ln, token=tok[1])
            subckts[tok[1]] = cur
            continue
        if head == ".ENDS":
            if cur is None:
                raise NetlistError(".ends without .subckt", line=ln, token=head)
            if len(tok) > 1 and tok[1] != cur.name:
                raise NetlistError(f".ends name does not match .subckt {cur.name}", line=ln, token=tok[1])
            cur = None
            continue
        if head == ".PARAM":
            body = " ".join(tok[1:])
            for m in re.finditer(r"([A-Z_][A-Z0-9_]*)=(\S+)", body):
                params.define(m.group(1), m.group(2), ln)
            if "=" not in body:
                raise NetlistError(".param needs name=value", line=ln, token=body)
            continue
        if head == ".MODEL":
            (cur.models if cur is not None else models)[tok[1] if len(tok) > 1 else ""] = (tok, ln)  # type: ignore[assignment]
            continue
        if head.startswith("."):
            if cur is not None:
                raise NetlistError("control line inside .subckt", line=ln, token=head)
            controls.append(_Line(tok, ln, s))
            continue
        (cur.body if cur is not None else top).append(_Line(tok, ln, s))
    if cur is not None:
        raise NetlistError(f".subckt {cur.name} has no .ends", line=cur.line, token=cur.name)
    for k, v in overrides.items():
        params.define(k.upper(), repr(float(v)), 0)

    # models are parsed after params so that they may use them
    gmodels = {k: _parse_model(t, ln, params) for k, (t, ln) in models.items()}  # type: ignore[misc]
    for sc in subckts.values():
        sc.models = {k: _parse_model(t, ln, params) for k, (t, ln) in sc.models.items()}  # type: ignore[misc]

    net = Netlist(source_name=src_name)
    elements: list[Element] = []
    labels: dict[str, int] = {}

    def expand(body: list[_Line], path: list[str], nodemap: dict[str, str], scope: _Subckt | None,
               stack: tuple[str, ...]) -> None:
        def node(n: str) -> str:
            if _is_ground(n):
                return "0"
            if n in nodemap:
                return nodemap[n]
            return "|".join([n, *reversed(path)]) if path else n

        def label(n: str) -> str:
            return "|".join([n, *reversed(path)]) if path else n

        for ln_ in body:
            tok, ln = ln_.tokens, ln_.line
            kind = tok[0][0]
            name = label(tok[0])
            if kind == "X":
                if len(tok) < 2:
                    raise NetlistError("instance needs a subcircuit name and nodes", line=ln, token=tok[0])
                if tok[1] in subckts and tok[-1] not in subckts:
                    sname, conns = tok[1], tok[2:]
                elif tok[-1] in subckts:
                    sname, conns = tok[-1], tok[1:-1]
                else:
                    cand = tok[1] if len(tok) > 1 else tok[0]
                    raise NetlistError("undefined subcircuit", line=ln, token=cand if cand not in ("0",) else tok[-1])
                sc = subckts[sname]
                if sname in stack:
                    raise NetlistError("recursive subcircuit instance", line=ln, token=sname)
                if len(conns) != len(sc.ports):
                    raise NetlistError(f"subcircuit {sname} has {len(sc.ports)} ports, instance gives "
                                       f"{len(conns)} nodes", line=ln, token=tok[0])
                sub_map = {p: node(c) for p, c in zip(sc.ports, conns)}
                expand(sc.body, [*path, tok[0]], sub_map, sc, (*stack, sname))
                continue
            if name in labels:
                raise NetlistError("duplicate element label", line=ln, token=tok[0])
            labels[name] = ln
            if kind in "LRC":
                if len(tok) < 4:
                    raise NetlistError("missing node or value", line=ln, token=tok[0])
                extra = [t for t in tok[4:] if not t.startswith("IC=")]
                if extra:
                    raise NetlistError("unexpected token", line=ln, token=extra[0])
                val = evaluate(tok[3], params, line=ln)
                if not (math.isfinite(val) and val > 0):
                    raise NetlistError(f"{kind} value must be > 0", line=ln, token=tok[3])
                elements.append(Element(kind=kind, name=name, nodes=(node(tok[1]), node(tok[2])), value=val, line=ln))
            elif kind == "B":
                if len(tok) < 4:
                    raise NetlistError("junction needs two nodes and a model", line=ln, token=tok[0])
                n1, n2 = node(tok[1]), node(tok[2])
                rest = tok[3:]
                mname, area, ic = None, None, None
                for t in rest:
                    if t.startswith("AREA="):
                        area = evaluate(t[5:], params, line=ln)
                    elif t.startswith("IC="):
                        ic = evaluate(t[3:], params, line=ln)
                    elif "=" in t:
                        k = t.split("=")[0]
                        if k in ("TEMP", "NEB", "SPREAD"):
                            warnings.warn(f"line {ln}: junction option {k} ignored", stacklevel=4)
                        else:
                            raise NetlistError("unknown junction option", line=ln, token=t)
                    elif mname is None:
                        mname = t
                    elif area is None:
                        area = evaluate(t, params, line=ln)
                    else:
                        raise NetlistError("unexpected token", line=ln, token=t)
                if mname is None:
                    raise NetlistError("junction needs a model name", line=ln, token=tok[0])
                model = (scope.models.get(mname) if scope is not None else None) or gmodels.get(mname)
                if model is None:
                    raise NetlistError("undefined junction model", line=ln, token=mname)
                if ic is not None:
                    area = ic / model.icrit
                area = 1.0 if area is None else area
                if not (math.isfinite(area) and area > 0):
                    raise NetlistError("junction area must be > 0", line=ln, token=str(area))
                elements.append(Element(kind="B", name=name, nodes=(n1, n2), model=model, area=area, line=ln))
            elif kind in "IVP":
                if len(tok) < 3:
                    raise NetlistError("missing node", line=ln, token=tok[0])
                if len(tok) < 4:
                    raise NetlistError("source needs a value or function", line=ln, token=tok[0])
                src = _parse_source(tok[3:], ln, params)
                elements.append(Element(kind=kind, name=name, nodes=(node(tok[1]), node(tok[2])), source=src, line=ln))
            elif kind == "K":
                if len(tok) != 4:
                    raise NetlistError("mutual inductance needs 'K L1 L2 k'", line=ln, token=tok[0])
                k = evaluate(tok[3], params, line=ln)
                if not (-1.0 < k < 1.0):
                    raise NetlistError("coupling must satisfy |k| < 1", line=ln, token=tok[3])
                elements.append(Element(kind="K", name=name, nodes=(), value=k,
                                        coupled=(label(tok[1]), label(tok[2])), line=ln))
            else:
                raise NetlistError("unknown element type", line=ln, token=tok[0])

    expand(top, [], {}, None, ())
    # mutual inductances must name existing inductors
    inductors = {e.name for e in elements if e.kind == "L"}
    for e in elements:
        if e.kind == "K":
            for lname in e.coupled:
                if lname not in inductors:
                    raise NetlistError("mutual inductance names an unknown inductor", line=e.line, token=lname)
    net.elements = elements

    # controls
    byname = {e.name: e for e in elements}
    for c in controls:
        tok, ln = c.tokens, c.line
        head = tok[0]
        if head == ".TRAN":
            vals = tok[1:]
            if vals and vals[-1] == "DST":
                net.startup = False
                vals = vals[:-1]
            if not vals:
                raise NetlistError(".tran needs a step", line=ln, token=head)
            net.tstep = evaluate(vals[0], params, line=ln)
            net.tstop = evaluate(vals[1], params, line=ln) if len(vals) > 1 else 1e-9
            net.tstart = evaluate(vals[2], params, line=ln) if len(vals) > 2 else 0.0
            if len(vals) > 3:
                prstep = evaluate(vals[3], params, line=ln)
                net.tstep = min(net.tstep, prstep)  # JoSIM reduces TSTEP to PRSTEP
            if not (net.tstep > 0 and net.tstop > 0):
                raise NetlistError(".tran step and stop must be > 0", line=ln, token=" ".join(vals))
        elif head == ".TEMP":
            if len(tok) != 2:
                raise NetlistError(".temp needs one value", line=ln, token=head)
            net.temp = evaluate(tok[1], params, line=ln)
            if net.temp < 0:
                raise NetlistError(".temp must be >= 0 K", line=ln, token=tok[1])
        elif head in (".PRINT", ".PLOT"):
            net.prints.extend(_parse_print(tok, ln, byname))
        elif head in (".IV", ".SPREAD", ".NEB", ".OPTIONS", ".OPTION", ".FILE", ".CONTROL", ".INCLUDE", ".ENDC"):
            warnings.warn(f"{src_name} line {ln}: control {head} ignored", stacklevel=3)
        else:
            raise NetlistError("unknown control", line=ln, token=head)
    net.params = {k: params.get(k, None) for k in params.raw}
    return net


def _parse_print(tok: list[str], ln: int, byname: dict[str, Element]) -> list[PrintRequest]:
    def dev(name: str) -> Element:
        key = _canonical_device(name)
        if key not in byname:
            raise NetlistError("unknown device in .print", line=ln, token=name)
        return byname[key]

    def node_ok(n: str) -> str:
        return "0" if _is_ground(n) else n

    args = tok[1:]
    if not args:
        raise NetlistError(".print needs arguments", line=ln, token=tok[0])
    kind = args[0]
    out: list[PrintRequest] = []
    if kind in ("DEVV", "DEVI", "PHASE", "DEVP", "DEVICE_VOLTAGE", "DEVICE_CURRENT", "DEVICE_PHASE"):
        if len(args) != 2:
            raise NetlistError(f".print {kind} needs one device", line=ln, token=" ".join(args))
        e = dev(args[1])
        k = {"DEVV": "devv", "DEVICE_VOLTAGE": "devv", "DEVI": "devi", "DEVICE_CURRENT": "devi"}.get(kind, "phase")
        letter = {"devv": "V", "devi": "I", "phase": "P"}[k]
        out.append(PrintRequest(kind=k, target=(e.name,), label=f"{letter}({e.name})", line=ln))
        return out
    if kind in ("NODEV", "NODEP", "NODE_VOLTAGE", "NODE_PHASE"):
        if len(args) not in (2, 3):
            raise NetlistError(f".print {kind} needs one or two nodes", line=ln, token=" ".join(args))
        n1 = node_ok(args[1])
        n2 = node_ok(args[2]) if len(args) == 3 else "0"
        k = "nodev" if "V" in kind.split("_")[-1][-1:] or kind in ("NODEV", "NODE_VOLTAGE") else "nodep"
        letter = "V" if k == "nodev" else "P"
        lab = f"{letter}({n1})" if n2 == "0" else f"{letter}({n1},{n2})"
        out.append(PrintRequest(kind=k, target=(n1, n2), label=lab, line=ln))
        return out
    # WRspice style: .print v(1) v(2,3) i(L1) p(B1)
    for a in args:
        m = re.match(r"^([VIP])\((.*)\)$", a)
        if m is None:
            raise NetlistError("unknown .print form", line=ln, token=a)
        letter, inner = m.group(1), m.group(2).split()
        if letter == "I" or (len(inner) == 1 and _canonical_device(inner[0]) in byname):
            e = dev(inner[0])
            k = {"V": "devv", "I": "devi", "P": "phase"}[letter]
            out.append(PrintRequest(kind=k, target=(e.name,), label=f"{letter}({e.name})", line=ln))
        else:
            n1 = node_ok(inner[0])
            n2 = node_ok(inner[1]) if len(inner) > 1 else "0"
            k = "nodev" if letter == "V" else "nodep"
            lab = f"{letter}({n1})" if n2 == "0" else f"{letter}({n1},{n2})"
            out.append(PrintRequest(kind=k, target=(n1, n2), label=lab, line=ln))
    return out
