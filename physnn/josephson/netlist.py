"""JoSIM v2.7 / WRspice-style netlist parser: values, ``.param`` expressions, subcircuits, sources.

The language (JoSIM v2.7 syntax guide, https://joeydelp.github.io/JoSIM/syntax/):

* elements ``B`` (Josephson junction, ``area=`` / ``ic=``, per-element ``temp=``, ``neb=``,
  ``spread=``), ``L``, ``R``, ``C``, ``K`` (mutual coupling ``K1 L1 L2 k``), ``I`` and ``V``
  sources, ``P`` phase sources, ``T`` lossless transmission lines (``T1 n1+ n1- n2+ n2- Z0=.. TD=..``,
  ``LOSSLESS`` accepted), ``X`` instances (JoSIM order ``X1 SUB n1 n2`` and SPICE order
  ``X1 n1 n2 SUB``);
* source functions ``pwl``, ``pulse``, ``sin``, ``exp``, ``cus`` (waveform file), ``noise``,
  ``dc v`` or a bare value;
* controls ``.subckt``/``.ends``, ``.model name jj(...)`` (every JoSIM JJ parameter),
  ``.param``, ``.include`` (relative to the including file, then the circuit library folders;
  cycles are errors), ``.tran TSTEP TSTOP [PRSTART [PRSTEP]] [DST]``, ``.print``/``.plot``/
  ``.save`` in JoSIM's and SPICE's forms with hierarchical names (``B1|X1``, ``B1.X1``,
  ``X1.B1``), ``.temp``, ``.neb``, ``.spread``, ``.iv``, ``.option``/``.options``,
  ``.control``/``.endc`` blocks, ``.end``;
* comments (lines starting with ``*``, ``#``, ``;`` or ``//``), ``+`` continuation lines,
  case-insensitive text.

Numbers take JoSIM's scale suffixes: ``f`` 1e-15 (so ``1F`` is 1 fF, as JoSIM reads it), ``p``,
``n``, ``u``, ``m`` (milli), ``k``, ``meg``/``x``, ``g``, ``t``, ``mil``; trailing unit letters
(``V``, ``A``, ``H``, ``F``, ``OHM``, ``S``, ``HZ``) are ignored, as in JoSIM.

Scoping and element forms, as JoSIM v2.7 reads them (measured with josim-cli v2.7, git 02a34ee;
the netlists of ``tests/josephson/test_josim_scoping.py`` reproduce each rule, JoSIM's switching
times on them are test data). JoSIM's documentation does not state these rules:

* ``.param`` at the top level is global; a ``.param`` inside a ``.subckt`` belongs to that
  subcircuit only (JoSIM keys parameters by name and subcircuit): its elements see it, other
  cells and the top level do not, and a later cell redefining the name changes nothing here.
  Inside a subcircuit a value that is one bare name resolves in the subcircuit, then at the top
  level; a longer expression resolves only the subcircuit's names in JoSIM (an error there):
  physnn resolves a top-level name too and warns. A nested instance does not see the enclosing
  instance's parameters (each subcircuit definition is its own scope).
* A parameter may use parameters defined later in the file. A second definition of a name in the
  same scope keeps the FIRST value (JoSIM prints "Replacing" and keeps the first); physnn warns.
  A parameter that nothing uses is evaluated only at the end and, if it cannot be, only warns.
* One ``name=expression`` per ``.param`` line; the blanks of the expression are dropped
  (``.param x = (a + b) * 2``). Several definitions on one line, blank- or comma-separated, are a
  physnn extension (JoSIM reads one): physnn defines each and warns.
* ``.model`` is global wherever it stands in the file (also after the subcircuits that use it); a
  ``.model`` inside a ``.subckt`` is seen there first. All names are case-insensitive.
* Labels: a device inside instances is ``B1|X2|X1`` (innermost instance first); a node likewise
  (``1|X2|X1``). Dots in instance names stay (``XAND2.31`` -> ``B1|XAND2.31``, node
  ``1|XB.C|X2``): JoSIM itself cannot ``.print`` such a device (it reads ``.`` in a ``.print`` name
  as ``|``); physnn finds the label as written.
* ``.print nodev 3 0`` is the column ``V(3,0)`` (the nodes as written), ``.print nodev 3`` and
  ``v(3)`` are ``V(3)``; ``.plot`` lines print like ``.print``. An unknown ``.print`` device or node
  warns and is skipped.
* A junction line may give a third node (WRspice ``B0 3 4 15 jjmit area=2.25``): the last bare
  token is the model. ``FCHECK`` / ``NFREE`` after a value are accepted and ignored; a token
  starting with ``*`` after the nodes starts an inline comment (``RS2 7 8 1.73ohm *SHUNT=3.73``).
  ``.model`` may continue on ``+`` lines.
* A zero-valued inductor is a short (its two nodes carry one phase; physnn merges them and the
  inductor is not an element of the circuit). A dangling node (a stub resistor, an unused bias
  node) simulates; only a node that nothing but a current source touches is an error.
* ``.tran TSTEP TSTOP [PRSTART [PRSTEP]] [DST]`` (JoSIM src/Transient.cpp): the run steps at
  ``min(TSTEP, PRSTEP)`` and prints from PRSTART the first sample at or after each multiple of
  PRSTEP, also after a step halving (:func:`physnn.josephson.simulate.print_indices`). ``UIC`` is
  a JoSIM error; physnn ignores it and warns.

Every error is a :class:`NetlistError` naming the line number (and the file, for included lines)
and the offending token. Where JoSIM warns and goes on (a ``.print`` of a missing device, an
unknown control or option ...), a :class:`NetlistWarning` names the line; ``strict=True`` turns
it into a NetlistError.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import math
import operator
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .values import scale_factor

__all__ = [
    "warn_netlist",
    "NetlistError",
    "NetlistWarning",
    "JJModel",
    "Source",
    "Element",
    "PrintRequest",
    "Netlist",
    "parse_value",
    "parse_netlist",
]


class NetlistError(ValueError):
    """Bad netlist input. ``line`` is the 1-based line number, ``token`` the offending text,
    ``source`` the file (an included file for its own lines)."""

    def __init__(self, message: str, *, line: int | None = None, token: str | None = None, source: str | None = None):
        if source is None and getattr(line, "src", None):
            source = line.src
        self.line = None if line is None else int(line)
        self.token = token
        self.source = source
        self.message = message
        where = []
        if source:
            where.append(str(source))
        if line is not None:
            where.append(f"line {int(line)}")
        prefix = ":".join(where)
        tok = f" (token {token!r})" if token is not None else ""
        super().__init__(f"{prefix + ': ' if prefix else ''}{message}{tok}")


class NetlistWarning(UserWarning):
    """Input that JoSIM accepts with a warning (physnn warns too and goes on; ``strict=True``
    turns it into a :class:`NetlistError`)."""


class _Ln(int):
    """A line number that remembers its file (lines pulled in by ``.include``)."""

    src: str | None = None

    def __new__(cls, value: int, src: str | None = None):
        obj = super().__new__(cls, value)
        obj.src = src
        return obj

    def __reduce__(self):
        return (_Ln, (int(self), self.src))


def _where(line, default: str | None = None) -> str:
    src = getattr(line, "src", None) or default
    return f"{src + ' ' if src else ''}line {int(line)}" if line is not None else (src or "<netlist>")


def warn_netlist(message: str, *, line=None, token: str | None = None, strict: bool = False, src: str | None = None) -> None:
    """JoSIM-style warning: a :class:`NetlistWarning` naming the line, or an error when strict."""
    if strict:
        raise NetlistError(message + " (strict=True)", line=line, token=token, source=None if getattr(line, "src", None) else src)
    tok = f" (token {token!r})" if token is not None else ""
    warnings.warn(f"{_where(line, src)}: {message}{tok}", NetlistWarning, stacklevel=4)


# --------------------------------------------------------------------------------------------
# numbers and expressions
# --------------------------------------------------------------------------------------------
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
    factor = scale_factor(m.group(2), _UNITS)
    if factor is None:
        raise NetlistError("unknown scale suffix or unit", line=line, token=token)
    return base if factor == 1.0 else base * factor


_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}
_FUN = {"SQRT": math.sqrt, "EXP": math.exp, "LOG": math.log, "LN": math.log, "LOG10": math.log10,
        "SIN": math.sin, "COS": math.cos, "TAN": math.tan, "ABS": abs, "ATAN": math.atan,
        "ASIN": math.asin, "ACOS": math.acos, "SINH": math.sinh, "COSH": math.cosh, "TANH": math.tanh}
_CONST = {"PI": math.pi, "PHI_ZERO": 2.067833848e-15, "E": math.e}
_TOK_RE = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?[A-Z]*)|(?P<id>[A-Z_][A-Z0-9_.|]*)|(?P<op>\*\*|[-+*/^(),]))")


class _Params:
    """Lazily evaluated ``.param`` table of one scope, with cycle detection.

    The top level is one scope; each ``.subckt`` is a scope of its own whose ``parent`` is the
    top level (JoSIM v2.7 keys every parameter by (name, subcircuit), measured with josim-cli
    v2.7): a bare name resolves in the scope, then at the top level; a name inside a longer
    expression in a subcircuit resolves in the subcircuit only in JoSIM -- physnn also finds
    a top-level one there and warns (``NetlistWarning``). A duplicate definition in one scope
    keeps the first (JoSIM prints "Replacing" yet keeps the first value) and warns."""

    def __init__(self, parent: "_Params | None" = None, *, name: str | None = None, strict: bool = False,
                 src: str | None = None) -> None:
        self.raw: dict[str, tuple[str, int]] = {}
        self.values: dict[str, float] = {}
        self._busy: set[str] = set()
        self.parent = parent
        self.name = name
        self.strict = strict
        self.src = src
        self._warned: set[str] = set()

    def define(self, name: str, expr: str, line: int) -> None:
        if name in self.raw:
            warn_netlist(f"duplicate .param {name}: JoSIM v2.7 keeps the first definition (line "
                  f"{int(self.raw[name][1])})", line=line, token=name, strict=self.strict, src=self.src)
            return
        self.raw[name] = (expr, line)
        self.values.pop(name, None)

    def override(self, name: str, value: float) -> None:
        """``parse_netlist(params=...)``: replaces the definition (top level)."""
        self.raw[name] = (repr(float(value)), 0)
        self.values[name] = float(value)

    def has(self, name: str) -> bool:
        if name in self.raw or name in self.values:
            return True
        return self.parent is not None and self.parent.has(name)

    def get(self, name: str, line: int | None, *, bare: bool = True) -> float:
        if name not in self.raw and name not in self.values and self.parent is not None:
            if not bare and self.parent.has(name) and name not in self._warned:
                self._warned.add(name)
                warn_netlist(f"top-level parameter {name} used in an expression inside .subckt {self.name}: JoSIM "
                      "v2.7 resolves only a bare name there (the expression is an error in JoSIM)",
                      line=line, token=name, strict=self.strict, src=self.src)
            return self.parent.get(name, line)
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
    bare = len(names) == 1 and len(pieces) == 1  # the whole value is one name
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
            if params is not None and params.has(ident):
                return params.get(ident, line, bare=bare)
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
    t: float = 4.2  #: temperature of the model, K (JoSIM's T; kept, see README: CPR is sin(phi))
    tc: float = 9.1  #: critical temperature, K (JoSIM's TC; kept)
    d: float = 0.0  #: transparency (JoSIM's D; 0 = tunnel junction, the only CPR physnn models)


@dataclass(frozen=True, kw_only=True)
class Source:
    """Time function of an I, V or P source.

    ``kind`` in {'pwl', 'pulse', 'sin', 'dc', 'exp', 'cus', 'noise'}; ``args`` are the function's
    arguments in SI units (for ``cus``: ``(TS, SF, IM, TD, PER, v0, v1, ...)`` with the file's
    values; for ``noise``: ``(VO, VA, TSTEP, TD)``).
    """

    kind: str
    args: tuple[float, ...]

    @property
    def stochastic(self) -> bool:
        return self.kind == "noise"

    def __call__(self, t, *, tstep: float, tstop: float, generator=None):
        """Evaluate at times ``t`` (numpy array, s) following JoSIM's definitions.

        ``generator`` (``torch.Generator`` or None) feeds ``noise`` sources only.
        """
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
        if self.kind == "exp":
            # SPICE EXP(V1 V2 TD1 TAU1 TD2 TAU2)
            v1, v2 = a[0], a[1]
            td1 = a[2] if len(a) > 2 else 0.0
            tau1 = a[3] if len(a) > 3 else tstep
            td2 = a[4] if len(a) > 4 else td1 + tstep
            tau2 = a[5] if len(a) > 5 else tstep
            rise = (v2 - v1) * (1.0 - np.exp(-np.clip(t - td1, 0.0, None) / tau1))
            fall = (v1 - v2) * (1.0 - np.exp(-np.clip(t - td2, 0.0, None) / tau2))
            return v1 + np.where(t >= td1, rise, 0.0) + np.where(t >= td2, fall, 0.0)
        if self.kind == "cus":
            ts, sf, im, td, per = a[:5]
            vals = np.asarray(a[5:]) * sf
            n = len(vals)
            x = (t - td) / ts
            if per:
                x = np.where(x >= 0, np.mod(x, n), x)
            if im == 0:  # step (zero-order hold)
                idx = np.clip(np.floor(x).astype(int), 0, n - 1)
                out = vals[idx]
            elif im == 2 and n >= 3:  # cubic spline through the points
                from scipy.interpolate import CubicSpline

                out = CubicSpline(np.arange(n), vals)(np.clip(x, 0, n - 1))
            else:  # linear
                out = np.interp(x, np.arange(n), vals)
            return np.where(x < 0, 0.0, out)
        if self.kind == "noise":
            import torch

            from ..random import check_generator

            vo, va = a[0], a[1]
            td = a[3] if len(a) > 3 else 0.0
            z = torch.randn(t.shape, generator=check_generator(generator), dtype=torch.float64).numpy()
            return np.where(t >= td, vo + va * z / math.sqrt(2.0 * tstep), 0.0)
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
    delay: float = 0.0  #: T only: time delay TD, s (``value`` is Z0, ohm)
    options: tuple[tuple[str, float], ...] = ()  #: per-element TEMP / NEB / SPREAD (JoSIM), SI
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
    has_tran: bool = False  #: a ``.tran`` line was given
    prstep: float | None = None  #: print step of ``.tran`` (output decimation), s
    neb: float | None = None  #: noise effective bandwidth of ``.neb``, Hz
    spread: dict[str, float] = field(default_factory=dict)  #: ``.spread``: {'G','L','C','R','B'} -> relative 3-sigma
    options: dict[str, float | str] = field(default_factory=dict)  #: ``.option`` name -> value
    iv: list[tuple[str, float, str | None]] = field(default_factory=list)  #: ``.iv`` (model, max current A, file)
    includes: list[str] = field(default_factory=list)  #: files pulled in by ``.include``
    models: dict[str, JJModel] = field(default_factory=dict)  #: top-level ``.model`` definitions
    subcircuits: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: ``.subckt`` name -> ports

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
    params: "_Params | None" = None  #: the subcircuit's own ``.param`` scope


_CONTROL_CMDS = {"TRAN", "PRINT", "PLOT", "SAVE", "TEMP", "NEB", "SPREAD", "OPTION", "OPTIONS", "PARAM", "IV",
                 "MODEL", "INCLUDE"}


def _resolve_include(name: str, base_dir: Path | None, line, src: str | None) -> Path:
    """``.include`` target: relative to the including file (or the working folder for text),
    then in the circuit library folders (``$PHYSNN_CIRCUIT_PATH``, then the packaged cells)."""
    from .._resources import search_path

    cands = [Path(name)] if Path(name).is_absolute() else []
    if not cands:
        cands.append((base_dir or Path.cwd()) / name)
        cands += [folder / name for folder in search_path("circuits")]
        cands += [folder / Path(name).name for folder in search_path("circuits")]
    for c in cands:
        if c.is_file():
            return c.resolve()
    raise NetlistError(f".include file not found (looked in {', '.join(str(c.parent) for c in cands[:3])})",
                       line=line, token=name, source=None if getattr(line, "src", None) else src)


def _split_lines(text: str, *, src: str | None = None, base_dir: Path | None = None,
                 stack: tuple[str, ...] = (), strict: bool = False, includes: list | None = None) -> list[tuple[str, int]]:
    """Logical lines ``(text, line)``: comments dropped, ``+`` continuations joined, ``.include``
    files expanded in place (their lines carry their own file name), ``.control`` blocks turned
    into the equivalent dot-commands."""
    out: list[tuple[str, int]] = []
    in_control = False
    for i, raw in enumerate(text.splitlines(), start=1):
        ln = _Ln(i, src)
        s = raw.strip()
        if not s or s[0] in "*#;" or s.startswith("//"):
            continue
        if s[0] == "+":
            if not out:
                raise NetlistError("continuation line without a preceding line", line=ln, token="+")
            prev, pl = out[-1]
            out[-1] = (prev + " " + s[1:].strip(), pl)
            continue
        head = s.split()[0].upper()
        if head == ".CONTROL":
            in_control = True
            continue
        if head == ".ENDC":
            if not in_control:
                warn_netlist(".endc without .control", line=ln, token=s.split()[0], strict=strict, src=src)
            in_control = False
            continue
        if in_control:
            cmd = head.lstrip(".")
            if cmd in _CONTROL_CMDS:
                s = "." + s.lstrip(".")
            elif cmd in ("RUN", "QUIT", "EXIT"):
                continue
            else:
                warn_netlist(f"command {cmd.lower()} in a .control block ignored", line=ln, token=s.split()[0],
                      strict=strict, src=src)
                continue
            head = "." + cmd
        if head in (".INCLUDE", ".INC"):
            parts = s.split(None, 1)
            if len(parts) < 2:
                raise NetlistError(".include needs a file name", line=ln, token=parts[0])
            name = parts[1].strip().strip("'\"")
            path = _resolve_include(name, base_dir, ln, src)
            key = str(path)
            if key in stack:
                raise NetlistError(f".include cycle: {' -> '.join([*stack, key])}", line=ln, token=name)
            if includes is not None:
                includes.append(key)
            out += _split_lines(path.read_text(), src=key, base_dir=path.parent, stack=(*stack, key),
                                strict=strict, includes=includes)
            continue
        out.append((s, ln))
    if in_control:
        warn_netlist(".control block without .endc", line=_Ln(len(text.splitlines()), src), token=".control",
              strict=strict, src=src)
    return out


_EQ_RE = re.compile(r"\s*=\s*")
_SPLIT_RE = re.compile(r"[\s,]+")


def _tokenize(s: str, line: int) -> list[str]:
    """Split on blanks and commas outside parentheses; ``f(a b)`` stays one token."""
    s = s.upper()
    s = _EQ_RE.sub("=", s)
    if "(" not in s and ")" not in s:  # most element lines: no function, a plain split
        return [t for t in _SPLIT_RE.split(s) if t]
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


_DEVICE_LETTERS = "BLRCIVPKT"


def _canonical_device(name: str) -> str:
    """Hierarchical device names in every accepted form -> JoSIM's label ``B01|X03|X10``.

    ``B01|X03`` (JoSIM: device, then instances inner to outer), ``B01.X03`` (WRspice: the same
    order with dots), ``X03.B01`` / ``X03_B01`` (SPICE3: instances outer to inner, then device).
    """
    n = name.strip().upper()
    if "|" in n:
        return n
    for sep in (".", "_"):
        if sep in n:
            parts = n.split(sep)
            if all(p and p[0] == "X" for p in parts[:-1]) and parts[-1] and parts[-1][0] in _DEVICE_LETTERS:
                return "|".join([parts[-1], *reversed(parts[:-1])])
            if sep == "." and parts[0] and parts[0][0] in _DEVICE_LETTERS and all(p and p[0] == "X" for p in parts[1:]):
                return "|".join(parts)
    return n


def _canonical_node(name: str) -> str:
    """Hierarchical node names: ``5|X1`` (JoSIM), ``5.X1`` (WRspice) or ``X1.5`` (SPICE3) -> ``5|X1``."""
    n = name.strip().upper()
    if _is_ground(n):
        return "0"
    if "|" in n or "." not in n:
        return n
    parts = n.split(".")
    if all(p and p[0] == "X" for p in parts[:-1]) and parts[-1]:
        return "|".join([parts[-1], *reversed(parts[:-1])])
    if parts[0] and all(p and p[0] == "X" for p in parts[1:]):
        return "|".join(parts)
    return n


def _is_ground(node: str) -> bool:
    return node in ("0", "GND")


#: JoSIM v2.7's JJ model parameters (src/Model.cpp) -> JJModel field
_MODEL_FIELDS = {"VG": "vg", "VGAP": "vg", "IC": "icrit", "ICRIT": "icrit", "RTYPE": "rtype", "RN": "rn",
                 "R0": "r0", "CAP": "cap", "C": "cap", "DELV": "delv", "ICFACT": "icfct", "ICFCT": "icfct",
                 "PHI": "phi", "T": "t", "TC": "tc", "D": "d"}


def _parse_model(tok: list[str], line: int, params: _Params, strict: bool = False) -> JJModel:
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
    for item in (m.group(2) or "").split():
        if "=" not in item:
            raise NetlistError("model parameter must be name=value", line=line, token=item)
        k, v = item.split("=", 1)
        if k not in _MODEL_FIELDS:
            warn_netlist("unknown JJ model parameter ignored", line=line, token=k, strict=strict)
            continue
        val = evaluate(v, params, line=line)
        kw[_MODEL_FIELDS[k]] = int(val) if _MODEL_FIELDS[k] == "rtype" else val
    for key in ("icrit", "cap", "r0", "rn", "vg", "delv", "icfct"):
        if key in kw and not (math.isfinite(kw[key]) and kw[key] > 0):
            raise NetlistError(f"JJ model parameter {key} must be > 0", line=line, token=str(kw[key]))
    if kw.get("rtype", 1) not in (0, 1):
        raise NetlistError("RTYPE must be 0 or 1", line=line, token=str(kw["rtype"]))
    if not 0.0 <= kw.get("d", 0.0) < 1.0:
        raise NetlistError("transparency D must be in [0, 1)", line=line, token=str(kw["d"]))
    if kw.get("d", 0.0) != 0.0:
        warn_netlist("JJ model D (transparency) > 0: physnn keeps the tunnel-junction current-phase relation "
              "Ic sin(phi)", line=line, token="D", strict=strict)
    return JJModel(name=name, **kw)


_FUNCS = ("PWL", "PULSE", "SIN", "DC", "EXP", "CUS", "NOISE")


def _parse_source(toks: list[str], line: int, params: _Params, base_dir: Path | None = None) -> Source:
    if not toks:
        raise NetlistError("source needs a value or function", line=line, token="")
    first = toks[0]
    m = re.match(r"^(PWL|PULSE|SIN|DC|EXP|CUS|NOISE)\((.*)\)$", first)
    if m:
        kind = m.group(1).lower()
        raw = m.group(2).split()
        if kind == "cus":
            return _parse_cus(raw, line, params, base_dir, first)
        args = tuple(evaluate(a, params, line=line) for a in raw)
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
    elif kind == "pulse":
        if len(args) < 2 or len(args) > 7:
            raise NetlistError("pulse takes 2 to 7 arguments (V1 V2 TD TR TF PW PER)", line=line, token=first)
        if len(args) > 6 and args[6] <= 0:
            raise NetlistError("pulse period must be > 0", line=line, token=first)
    elif kind == "sin" and not 2 <= len(args) <= 5:
        raise NetlistError("sin takes 2 to 5 arguments (VO VA FREQ TD THETA)", line=line, token=first)
    elif kind == "exp":
        if not 2 <= len(args) <= 6:
            raise NetlistError("exp takes 2 to 6 arguments (V1 V2 TD1 TAU1 TD2 TAU2)", line=line, token=first)
        if any(x <= 0 for x in args[3:4] + args[5:6]):
            raise NetlistError("exp time constants must be > 0", line=line, token=first)
    elif kind == "noise" and not 2 <= len(args) <= 4:
        raise NetlistError("noise takes 2 to 4 arguments (VO VA TSTEP TD)", line=line, token=first)
    elif kind == "dc" and len(args) != 1:
        raise NetlistError("dc needs one value", line=line, token=first)
    if not all(math.isfinite(x) for x in args):
        raise NetlistError("source arguments must be finite", line=line, token=first)
    return Source(kind=kind, args=args)


def _parse_cus(raw: list[str], line, params: _Params, base_dir: Path | None, first: str) -> Source:
    """``cus(WFFILE TS SF IM <TD <PER>>)``: values from a file (blank/comma/semicolon separated)."""
    if not 4 <= len(raw) <= 6:
        raise NetlistError("cus takes 4 to 6 arguments (WFFILE TS SF IM TD PER)", line=line, token=first)
    fname = raw[0].strip("'\"")
    cands = [Path(fname)] if Path(fname).is_absolute() else [(base_dir or Path.cwd()) / fname]
    # the tokenizer upper-cases the line: also try the name as the folder lists it
    folder = cands[0].parent
    if folder.is_dir():
        cands += [p for p in folder.iterdir() if p.name.upper() == Path(fname).name.upper()]
    path = next((c for c in cands if c.is_file()), None)
    if path is None:
        raise NetlistError("cus waveform file not found", line=line, token=raw[0])
    vals = []
    for tok in re.split(r"[\s,;]+", path.read_text().strip()):
        if tok:
            vals.append(parse_value(tok, line=line))
    if not vals:
        raise NetlistError("cus waveform file holds no values", line=line, token=raw[0])
    ts, sf = evaluate(raw[1], params, line=line), evaluate(raw[2], params, line=line)
    im = evaluate(raw[3], params, line=line)
    td = evaluate(raw[4], params, line=line) if len(raw) > 4 else 0.0
    per = evaluate(raw[5], params, line=line) if len(raw) > 5 else 0.0
    if not ts > 0:
        raise NetlistError("cus time step TS must be > 0", line=line, token=raw[1])
    if im not in (0, 1, 2):
        raise NetlistError("cus interpolation IM must be 0, 1 or 2", line=line, token=raw[3])
    return Source(kind="cus", args=(ts, sf, im, td, float(bool(per)), *vals))


_FLAGS = ("FCHECK", "NFREE")  #: WRspice/JoSIM element flags after the value (no effect on the circuit)


def _element_tokens(tok: list[str]) -> list[str]:
    """An element line's tokens without an inline comment (a token starting with ``*`` after
    the nodes and everything after it: ``RS2 7 8 1.73ohm *SHUNT=3.73``) and without the
    ``FCHECK``/``NFREE`` flags (JoSIM v2.7 accepts both, measured with josim-cli v2.7)."""
    for i in range(1, len(tok)):
        if tok[i].startswith("*"):
            tok = tok[:i]
            break
    if any(t in _FLAGS for t in tok[3:]):
        tok = tok[:3] + [t for t in tok[3:] if t not in _FLAGS]
    return tok


def _model_known(name: str, scope, gmodels: dict) -> bool:
    return (scope is not None and name in scope.models) or name in gmodels


def _merge_shorts(shorts, elements: list) -> dict[str, str]:
    """Zero-valued inductors short their nodes (JoSIM v2.7 simulates them: the two nodes carry
    one phase, measured with josim-cli v2.7): the nodes are merged (ground wins, else the first
    node of the first short), ``elements`` rewritten in place; returns node -> merged node."""
    import dataclasses

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


def _kv(tok: str) -> tuple[str, str] | None:
    if "=" in tok:
        k, v = tok.split("=", 1)
        return k, v
    return None


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while a large structure of small objects is built.

    Parsing or compiling a 3,000-junction netlist makes ~10^5 tokens, tuples and elements and
    drops none of them, yet every 700 allocations trigger a collection that also walks the rest
    of the process's heap (numpy, torch, xarray): on the test machine half to two thirds of
    the parse time (0.06 s with the collector paused against 0.11-0.22 s). Nothing here makes
    reference cycles that would need the collector; it is resumed afterwards if it was running."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_netlist(netlist: str | Path, *, params: dict[str, float] | None = None, strict: bool = False) -> Netlist:
    """Parse a netlist (path or text) into a flattened :class:`Netlist`.

    Parameters
    ----------
    netlist : str or Path
        File path, or the netlist text itself (anything containing a newline is text).
    params : dict, optional
        ``.param`` overrides (name -> SI value) of top-level parameters, applied after the file's
        own definitions (a subcircuit's own ``.param`` of the same name still rules inside it).
    strict : bool
        Turn every :class:`NetlistWarning` (input JoSIM accepts with a warning) into a
        :class:`NetlistError`.
    """
    if isinstance(netlist, Path) or ("\n" not in str(netlist) and Path(str(netlist)).is_file()):
        path = Path(netlist)
        try:
            text = path.read_text()
        except (FileNotFoundError, IsADirectoryError):
            raise NetlistError(f"netlist file not found: {path}", token=str(path)) from None
        src_name = str(path)
        base_dir = path.resolve().parent
        stack: tuple[str, ...] = (str(path.resolve()),)
    else:
        text = str(netlist)
        src_name = "<netlist>"
        base_dir = None
        stack = ()
        if "\n" not in text and text.strip().lower().endswith((".cir", ".js", ".sp")):
            raise NetlistError(f"netlist file not found: {text}", token=text)
    try:
        with gc_paused():
            return _parse(text, src_name, params or {}, strict=strict, base_dir=base_dir, stack=stack)
    except NetlistError as exc:
        if exc.source is None and src_name != "<netlist>":
            new = NetlistError(exc.message, line=exc.line, token=exc.token, source=src_name)
            raise new from None
        raise
    except RecursionError:
        raise NetlistError("netlist nests too deeply", token=src_name) from None


def _parse(text: str, src_name: str, overrides: dict[str, float], *, strict: bool = False,
           base_dir: Path | None = None, stack: tuple[str, ...] = ()) -> Netlist:
    includes: list[str] = []
    src = None if src_name == "<netlist>" else src_name
    lines = [(_tokenize(s, ln), ln, s) for s, ln in
             _split_lines(text, src=src, base_dir=base_dir, stack=stack, strict=strict, includes=includes)]
    params = _Params(strict=strict, src=src)
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
            ports = [t for t in tok[2:] if "=" not in t]
            cur = _Subckt(name=tok[1], ports=ports, body=[], line=ln,
                          params=_Params(params, name=tok[1], strict=strict, src=src))
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
            _define_params(tok, ln, cur.params if cur is not None else params, strict, src)
            continue
        if head == ".MODEL":
            (cur.models if cur is not None else models)[tok[1] if len(tok) > 1 else ""] = (tok, ln)  # type: ignore[assignment]
            continue
        if head.startswith("."):
            if cur is not None:
                raise NetlistError("control line inside .subckt", line=ln, token=head)
            controls.append(_Line(tok, ln, s))
            continue
        tok = _element_tokens(tok)
        (cur.body if cur is not None else top).append(_Line(tok, ln, s))
    if cur is not None:
        raise NetlistError(f".subckt {cur.name} has no .ends", line=cur.line, token=cur.name)
    for k, v in overrides.items():
        params.override(k.upper(), v)

    # models are parsed after params so that they may use them
    gmodels = {k: _parse_model(t, ln, params, strict) for k, (t, ln) in models.items()}  # type: ignore[misc]
    for sc in subckts.values():
        sc.models = {k: _parse_model(t, ln, sc.params, strict) for k, (t, ln) in sc.models.items()}  # type: ignore[misc]
    _check_subckt_cycles(subckts)

    net = Netlist(source_name=src_name, includes=includes, models=gmodels,
                  subcircuits={k: tuple(v.ports) for k, v in subckts.items()})
    elements: list[Element] = []
    labels: dict[str, int] = {}
    # Every .param is known before the elements are expanded, so a value's text always evaluates
    # to the same number: each distinct text is evaluated once (a subcircuit's values would
    # otherwise be re-parsed at every instance). Sources likewise, except cus() (its file is
    # found relative to the including file).
    values: dict[tuple[str | None, str], float] = {}
    sources: dict[tuple, Source] = {}
    scope_params = params  # the .param scope of the body being expanded

    def evaluate_once(text: str, ln) -> float:
        key = (scope_params.name, text)
        v = values.get(key)
        if v is None:
            v = values[key] = evaluate(text, scope_params, line=ln)
        return v

    def expand(body: list[_Line], path: list[str], nodemap: dict[str, str], scope: _Subckt | None,
               stack_: tuple[str, ...]) -> None:
        nonlocal scope_params
        outer_params = scope_params
        scope_params = scope.params if scope is not None else params
        try:
            _expand(body, path, nodemap, scope, stack_)
        finally:
            scope_params = outer_params

    def _expand(body: list[_Line], path: list[str], nodemap: dict[str, str], scope: _Subckt | None,
                stack_: tuple[str, ...]) -> None:
        suffix = "|" + "|".join(reversed(path)) if path else ""

        def node(n: str) -> str:
            if n == "0" or n == "GND":  # _is_ground
                return "0"
            m = nodemap.get(n)
            return m if m is not None else n + suffix

        def label(n: str) -> str:
            return n + suffix

        for ln_ in body:
            tok, ln = ln_.tokens, ln_.line
            kind = tok[0][0]
            name = label(tok[0])
            if kind == "X":
                if len(tok) < 2:
                    raise NetlistError("instance needs a subcircuit name and nodes", line=ln, token=tok[0])
                plain = [t for t in tok if "=" not in t]
                if len(plain) < 2:
                    raise NetlistError("instance needs a subcircuit name and nodes", line=ln, token=tok[0])
                if plain[1] in subckts and plain[-1] not in subckts:
                    sname, conns = plain[1], plain[2:]
                elif plain[-1] in subckts:
                    sname, conns = plain[-1], plain[1:-1]
                else:
                    cand = plain[1] if len(plain) > 1 else plain[0]
                    raise NetlistError("undefined subcircuit", line=ln, token=cand if cand not in ("0",) else plain[-1])
                sc = subckts[sname]
                if sname in stack_:
                    raise NetlistError("recursive subcircuit instance", line=ln, token=sname)
                if len(conns) != len(sc.ports):
                    raise NetlistError(f"subcircuit {sname} has {len(sc.ports)} ports, instance gives "
                                       f"{len(conns)} nodes", line=ln, token=tok[0])
                sub_map = {p: node(c) for p, c in zip(sc.ports, conns)}
                expand(sc.body, [*path, tok[0]], sub_map, sc, (*stack_, sname))
                continue
            if name in labels:
                raise NetlistError("duplicate element label", line=ln, token=tok[0])
            labels[name] = ln
            if kind in "LRC":
                if len(tok) < 4:
                    raise NetlistError("missing node or value", line=ln, token=tok[0])
                extra = [t for t in tok[4:] if not t.startswith(("IC=", "TEMP=", "NEB=", "SPREAD="))]
                if extra:
                    raise NetlistError("unexpected token", line=ln, token=extra[0])
                val = evaluate_once(tok[3], ln)
                if kind == "L" and val == 0.0:  # JoSIM accepts a zero inductor: a short, nodes merged below
                    shorts.append((node(tok[1]), node(tok[2]), name, ln))
                    continue
                if not (math.isfinite(val) and val > 0):
                    raise NetlistError(f"{kind} value must be > 0", line=ln, token=tok[3])
                opts = _elem_options(tok[4:], evaluate_once, ln) if len(tok) > 4 else ()
                elements.append(Element(kind=kind, name=name, nodes=(node(tok[1]), node(tok[2])), value=val,
                                        options=opts, line=ln))
            elif kind == "B":
                if len(tok) < 4:
                    raise NetlistError("junction needs two nodes and a model", line=ln, token=tok[0])
                n1, n2 = node(tok[1]), node(tok[2])
                mname, area, ic = None, None, None
                opts = []
                rest = tok[3:]
                bare = [t for t in rest if "=" not in t]
                if (len(bare) >= 2 and _model_known(bare[-1], scope, gmodels)
                        and not _model_known(bare[0], scope, gmodels)):
                    # WRspice 3-terminal junction (B n+ n- nphase model ...): JoSIM takes the last
                    # bare token as the model; the phase node is not used
                    mname = bare[-1]
                    rest = [t for t in rest if "=" in t]
                for t in rest:
                    kv = _kv(t)
                    if kv and kv[0] == "AREA":
                        area = evaluate_once(kv[1], ln)
                    elif kv and kv[0] == "IC":
                        ic = evaluate_once(kv[1], ln)
                    elif kv and kv[0] in ("TEMP", "NEB", "SPREAD"):
                        opts.append((kv[0], evaluate_once(kv[1], ln)))
                    elif kv:
                        raise NetlistError("unknown junction option", line=ln, token=t)
                    elif mname is None:
                        mname = t
                    elif area is None:
                        area = evaluate_once(t, ln)
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
                elements.append(Element(kind="B", name=name, nodes=(n1, n2), model=model, area=area,
                                        options=tuple(opts), line=ln))
            elif kind == "T":
                plain = [t for t in tok[1:] if "=" not in t and t != "LOSSLESS"]
                if len(plain) < 4:
                    raise NetlistError("transmission line needs four nodes: T n1+ n1- n2+ n2- Z0=.. TD=..",
                                       line=ln, token=tok[0])
                if len(plain) > 4:
                    raise NetlistError("unexpected token", line=ln, token=plain[4])
                z0 = td = None
                for t in tok[5:]:
                    kv = _kv(t)
                    if kv is None:
                        continue
                    if kv[0] == "Z0":
                        z0 = evaluate_once(kv[1], ln) if kv[1] else None
                    elif kv[0] == "TD":
                        td = evaluate_once(kv[1], ln) if kv[1] else None
                    else:
                        warn_netlist("transmission-line parameter ignored (lossless line: Z0 and TD)", line=ln,
                              token=t, strict=strict, src=src)
                for key, v in (("Z0", z0), ("TD", td)):
                    if v is None:
                        raise NetlistError(f"transmission line needs {key}=value", line=ln, token=tok[0])
                    if not (math.isfinite(v) and v > 0):
                        raise NetlistError(f"transmission line {key} must be > 0", line=ln, token=f"{key}={v:g}")
                nodes = tuple(node(n) for n in plain[:4])
                elements.append(Element(kind="T", name=name, nodes=nodes, value=z0, delay=td, line=ln))
            elif kind in "IVP":
                if len(tok) < 3:
                    raise NetlistError("missing node", line=ln, token=tok[0])
                if len(tok) < 4:
                    raise NetlistError("source needs a value or function", line=ln, token=tok[0])
                key = (scope_params.name, *tok[3:])
                srcf = sources.get(key)
                if srcf is None:
                    srcf = _parse_source(tok[3:], ln, scope_params, base_dir=_line_dir(ln, base_dir))
                    if srcf.kind != "cus":
                        sources[key] = srcf
                elements.append(Element(kind=kind, name=name, nodes=(node(tok[1]), node(tok[2])), source=srcf, line=ln))
            elif kind == "K":
                if len(tok) != 4:
                    raise NetlistError("mutual inductance needs 'K L1 L2 k'", line=ln, token=tok[0])
                k = evaluate_once(tok[3], ln)
                if not (-1.0 < k < 1.0):
                    raise NetlistError("coupling must satisfy |k| < 1", line=ln, token=tok[3])
                elements.append(Element(kind="K", name=name, nodes=(), value=k,
                                        coupled=(label(tok[1]), label(tok[2])), line=ln))
            else:
                raise NetlistError("unknown element type", line=ln, token=tok[0])

    shorts: list[tuple[str, str, str, int]] = []  # zero-valued inductors: (node, node, label, line)
    expand(top, [], {}, None, ())
    alias = _merge_shorts(shorts, elements) if shorts else {}
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
    nodes = {nd for e in elements for nd in e.nodes}
    for c in controls:
        tok, ln = c.tokens, c.line
        head = tok[0]
        if head == ".TRAN":
            vals = tok[1:]
            if vals and vals[-1] in ("DST", "NOSTARTUP"):
                net.startup = False
                vals = vals[:-1]
            if "UIC" in vals:
                warn_netlist("UIC on .tran: physnn ignores it (JoSIM v2.7 stops with an undefined-variable error)",
                      line=ln, token="UIC", strict=strict, src=src)
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
                kv = _kv(t)
                key, val = ("G", t) if kv is None else (kv[0], kv[1])
                if key not in ("G", "L", "C", "R", "B"):
                    raise NetlistError(".spread takes a global value and L=, C=, R=, B=", line=ln, token=t)
                v = evaluate(val, params, line=ln)
                if not 0 <= v < 3:
                    raise NetlistError(".spread must be in [0, 3) (relative 3-sigma)", line=ln, token=t)
                net.spread[key] = v
        elif head in (".OPTION", ".OPTIONS"):
            for t in tok[1:]:
                kv = _kv(t)
                key, val = (t, "1") if kv is None else kv
                try:
                    net.options[key.lower()] = evaluate(val, params, line=ln)
                except NetlistError:
                    net.options[key.lower()] = val.lower()
                if key not in ("SEED", "MAXSTEP", "STEP", "STARTUP", "NOSTARTUP", "MINIMAL", "ANALYSIS"):
                    warn_netlist("option not used by physnn", line=ln, token=t, strict=strict, src=src)
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
            net.prints.extend(_parse_print(tok, ln, byname, nodes, strict, src, alias))
        elif head in (".FILE", ".END"):
            pass
        else:
            warn_netlist("unknown control ignored", line=ln, token=head, strict=strict, src=src)
    net.params = {}
    for k in params.raw:
        try:
            net.params[k] = params.get(k, None)
        except NetlistError as exc:  # never used by an element: JoSIM-compatible to go on
            warn_netlist(f"unused .param {k} cannot be evaluated ({exc.message}); ignored", line=params.raw[k][1],
                  token=k, strict=strict, src=src)
    return net


_PARAM_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_.]*$")


def _define_params(tok: list[str], ln, scope: _Params, strict: bool, src: str | None) -> None:
    """One ``.param name=expression`` line (JoSIM v2.7: the blanks of the expression are dropped,
    so ``.param x = (a + b) * 2`` is one expression). Several ``name=value`` on one line (blank-
    or comma-separated) are a physnn extension: JoSIM v2.7 reads only one; physnn defines each
    and warns."""
    body = " ".join(tok[1:])
    if "=" not in body:
        raise NetlistError(".param needs name=value", line=ln, token=body or tok[0])
    if body.count("=") == 1:
        name, expr = (x.strip() for x in body.split("="))
        if not _PARAM_NAME_RE.match(name) or not expr:
            raise NetlistError(".param needs name=value", line=ln, token=body)
        scope.define(name, expr.replace(" ", ""), ln)
        return
    warn_netlist("several name=value on one .param line: JoSIM v2.7 reads one definition per line", line=ln,
          token=body, strict=strict, src=src)
    for m in re.finditer(r"([A-Z_][A-Z0-9_]*)=(\S+)", body):
        scope.define(m.group(1), m.group(2), ln)


def _line_dir(ln, base_dir: Path | None) -> Path | None:
    src = getattr(ln, "src", None)
    return Path(src).parent if src else base_dir


def _elem_options(toks: list[str], evaluate_, ln) -> tuple[tuple[str, float], ...]:
    """``TEMP=``, ``NEB=``, ``SPREAD=`` options; ``evaluate_(text, line)`` gives a value."""
    out = []
    for t in toks:
        kv = _kv(t)
        if kv and kv[0] in ("TEMP", "NEB", "SPREAD"):
            out.append((kv[0], evaluate_(kv[1], ln)))
    return tuple(out)


def _check_subckt_cycles(subckts: dict[str, _Subckt]) -> None:
    """A subcircuit that instantiates itself through any chain is a NetlistError (even unused)."""
    def calls(sc: _Subckt):
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


def _parse_print(tok: list[str], ln, byname: dict[str, Element], nodes: set[str], strict: bool = False,
                 src: str | None = None, alias: dict[str, str] | None = None) -> list[PrintRequest]:
    alias = alias or {}
    def dev(name: str) -> Element | None:
        key = _canonical_device(name)
        if key not in byname:
            warn_netlist("unknown device in .print: ignoring this store request", line=ln, token=name, strict=strict, src=src)
            return None
        return byname[key]

    def nd(n: str) -> str | None:
        key = _canonical_node(n)
        key = alias.get(key, key)  # a node shorted by a zero inductor
        if key != "0" and key not in nodes:
            warn_netlist("unknown node in .print: ignoring this store request", line=ln, token=n, strict=strict, src=src)
            return None
        return key

    def node_req(letter: str, a: str, b: str | None) -> PrintRequest | None:
        n1 = nd(a)
        n2 = nd(b) if b is not None else "0"
        if n1 is None or n2 is None:
            return None
        # JoSIM's column name: the nodes as written (``.print nodev 3 0`` -> V(3,0), v(3) -> V(3))
        c1 = _canonical_node(a)
        lab = f"{letter}({c1})" if b is None else f"{letter}({c1},{_canonical_node(b)})"
        return PrintRequest(kind="nodev" if letter == "V" else "nodep", target=(n1, n2), label=lab, line=ln)

    def dev_req(letter: str, name: str) -> PrintRequest | None:
        e = dev(name)
        if e is None:
            return None
        if letter == "I" and e.kind == "T":
            warn_netlist("current of a transmission line is not kept (print its port voltages): ignoring this "
                  "store request", line=ln, token=name, strict=strict, src=src)
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
            if letter == "I" or (len(inner) == 1 and _canonical_device(inner[0]) in byname
                                 and _canonical_node(inner[0]) not in nodes):
                if len(inner) != 1:
                    raise NetlistError("a current trace takes one device", line=ln, token=a)
                out.append(dev_req(letter, inner[0]))
            else:
                out.append(node_req(letter, inner[0], inner[1] if len(inner) > 1 else None))
    return [p for p in out if p is not None]
