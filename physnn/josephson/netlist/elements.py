"""What a netlist holds: junction models (:class:`JJModel`), source functions (:class:`Source`),
flattened elements (:class:`Element`), ``.print`` traces (:class:`PrintRequest`) and the parsed
:class:`Netlist`; the readers of ``.model`` lines and source functions. Standard library only
(a source's values are computed with numpy, imported when one is evaluated)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import NetlistError, warn
from .expressions import ParamScope, evaluate
from .lines import canonical_device, key_value
from .values import parse_value

__all__ = [
    "JJModel",
    "Source",
    "Element",
    "PrintRequest",
    "Netlist",
    "parse_model",
    "parse_source",
    "parse_cus",
    "element_options",
    "MODEL_FIELDS",
    "SOURCE_FUNCTIONS",
]


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

            from ...random import check_generator

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
        key = canonical_device(name)
        for e in self.elements:
            if e.name == key:
                return e
        raise KeyError(f"no element {name!r} in {self.source_name}")


#: JoSIM v2.7's JJ model parameters (src/Model.cpp) -> JJModel field
MODEL_FIELDS = MappingProxyType(
    {
        "VG": "vg",
        "VGAP": "vg",
        "IC": "icrit",
        "ICRIT": "icrit",
        "RTYPE": "rtype",
        "RN": "rn",
        "R0": "r0",
        "CAP": "cap",
        "C": "cap",
        "DELV": "delv",
        "ICFACT": "icfct",
        "ICFCT": "icfct",
        "PHI": "phi",
        "T": "t",
        "TC": "tc",
        "D": "d",
    }
)


def parse_model(tok: list[str], line: int, params: ParamScope, strict: bool = False) -> JJModel:
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
        if k not in MODEL_FIELDS:
            warn("unknown JJ model parameter ignored", line=line, token=k, strict=strict)
            continue
        val = evaluate(v, params, line=line)
        kw[MODEL_FIELDS[k]] = int(val) if MODEL_FIELDS[k] == "rtype" else val
    for key in ("icrit", "cap", "r0", "rn", "vg", "delv", "icfct"):
        if key in kw and not (math.isfinite(kw[key]) and kw[key] > 0):
            raise NetlistError(f"JJ model parameter {key} must be > 0", line=line, token=str(kw[key]))
    if kw.get("rtype", 1) not in (0, 1):
        raise NetlistError("RTYPE must be 0 or 1", line=line, token=str(kw["rtype"]))
    if not 0.0 <= kw.get("d", 0.0) < 1.0:
        raise NetlistError("transparency D must be in [0, 1)", line=line, token=str(kw["d"]))
    if kw.get("d", 0.0) != 0.0:
        warn(
            "JJ model D (transparency) > 0: physnn keeps the tunnel-junction current-phase relation Ic sin(phi)",
            line=line,
            token="D",
            strict=strict,
        )
    return JJModel(name=name, **kw)


SOURCE_FUNCTIONS = ("PWL", "PULSE", "SIN", "DC", "EXP", "CUS", "NOISE")


def parse_source(toks: list[str], line: int, params: ParamScope, base_dir: Path | None = None) -> Source:
    if not toks:
        raise NetlistError("source needs a value or function", line=line, token="")
    first = toks[0]
    m = re.match(r"^(PWL|PULSE|SIN|DC|EXP|CUS|NOISE)\((.*)\)$", first)
    if m:
        kind = m.group(1).lower()
        raw = m.group(2).split()
        if kind == "cus":
            return parse_cus(raw, line, params, base_dir, first)
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


def parse_cus(raw: list[str], line, params: ParamScope, base_dir: Path | None, first: str) -> Source:
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


def element_options(toks: list[str], evaluate_, ln) -> tuple[tuple[str, float], ...]:
    """``TEMP=``, ``NEB=``, ``SPREAD=`` options; ``evaluate_(text, line)`` gives a value."""
    out = []
    for t in toks:
        kv = key_value(t)
        if kv and kv[0] in ("TEMP", "NEB", "SPREAD"):
            out.append((kv[0], evaluate_(kv[1], ln)))
    return tuple(out)
