"""Echo state network (leaky-integrator tanh reservoir), batched over an ensemble of reservoirs.

State update (Jaeger 2001; leaky integrator of Jaeger, Lukoševičius, Popovici & Siewert, Neural
Networks 20, 335 (2007), doi:10.1016/j.neunet.2007.04.016), the same equations as reservoirpy's
``Reservoir`` node, so both libraries give identical states on identical matrices::

    x[t] = (1 - a) x[t-1] + a tanh(W x[t-1] + W_in u[t] + b)

``W`` (N x N) is sparse-random (``density``) with standard-normal non-zeros, rescaled to the
requested spectral radius; ``W_in`` (N x n_in) and ``b`` are uniform in ``[-1, 1]`` times
``input_scaling`` / ``bias_scaling``. A linear :class:`~physnn.reservoir.readout.RidgeReadout` is
fitted on the states after a washout.

Ensemble: every hyperparameter of :class:`ESNParams` except ``n_units``/``density`` may be a tuple
(one value per member) and ``generator`` a list of generators (one seed per member), so ``E``
reservoirs with different seeds AND hyperparameters run in one batched time loop (one ``baddbmm``
+ ``tanh`` + ``lerp`` per step on ``(E, B, N)`` states) and are fitted in one batched ridge solve.

Examples
--------
>>> import torch
>>> from physnn.reservoir.esn import ESN, ESNParams
>>> u = torch.rand(500, generator=torch.Generator().manual_seed(0)) * 0.5
>>> y = torch.roll(u, 3)                                   # recall the input 3 steps back
>>> esn = ESN(1, ESNParams(n_units=50, spectral_radius=0.9), generator=torch.Generator().manual_seed(1))
>>> esn.fit(u[:400], y[:400], washout=50).predict(u[400:]).shape
torch.Size([100])
>>> from physnn.random import generator_from_seed
>>> ens = ESN(1, ESNParams(n_units=50, spectral_radius=(0.5, 0.9, 1.1)),
...           generator=[generator_from_seed(s) for s in (1, 2, 3)])
>>> ens.run(u).shape                                       # (E, T, N)
torch.Size([3, 500, 50])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from .._checks import check_finite, check_int_range, check_positive, check_probability
from .._vmath import INV_LN2 as _INV_LN2, LN2_HI as _LN2_HI, LN2_LO as _LN2_LO
from ..random import check_generator, check_seed, generator_from_seed
from ..buffers import empty_torch
from .readout import RidgeReadout

__all__ = ["ESNParams", "ESNState", "esn_step", "esn_matrices", "ESN", "HAVE_NUMBA"]

_PER_MEMBER = ("spectral_radius", "input_scaling", "leak_rate", "bias_scaling")


@dataclass(frozen=True, kw_only=True)
class ESNParams:
    """Hyperparameters of an echo state network (dimensionless).

    Parameters
    ----------
    n_units : int
        Reservoir size ``N``.
    spectral_radius : float or tuple of float
        Largest ``|eigenvalue|`` of ``W`` (< 1 usually guarantees the echo-state property).
    input_scaling : float or tuple of float
        ``W_in`` entries are uniform in ``[-input_scaling, input_scaling]``.
    leak_rate : float or tuple of float
        Leaky-integrator rate ``a`` in ``(0, 1]`` (1 = no leak).
    bias_scaling : float or tuple of float
        Bias entries uniform in ``[-bias_scaling, bias_scaling]``.
    density : float
        Fraction of non-zero recurrent weights, in ``(0, 1]``.
    input_density : float
        Fraction of non-zero input weights, in ``(0, 1]``.

    A tuple gives one value per ensemble member; all tuples must have the same length ``E`` and
    scalars are broadcast.
    """

    n_units: int = 200
    spectral_radius: float | tuple[float, ...] = 0.9
    input_scaling: float | tuple[float, ...] = 1.0
    leak_rate: float | tuple[float, ...] = 1.0
    bias_scaling: float | tuple[float, ...] = 0.0
    density: float = 0.1
    input_density: float = 1.0

    def __post_init__(self) -> None:
        check_int_range(self.n_units, "n_units", 1)
        for name in ("density", "input_density"):
            v = check_probability(getattr(self, name), name)
            if v == 0:
                raise ValueError(f"{name}=0: must be in (0, 1]")
        sizes = set()
        for name in _PER_MEMBER:
            v = getattr(self, name)
            vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
            if isinstance(v, list):
                object.__setattr__(self, name, vals)
            if isinstance(v, (tuple, list)):
                if len(vals) == 0:
                    raise ValueError(f"{name}: empty tuple")
                sizes.add(len(vals))
            for x in vals:
                check_positive(x, name, allow_zero=name != "leak_rate")
                if name == "leak_rate" and float(x) > 1:
                    raise ValueError(f"leak_rate={x!r}: must be in (0, 1]")
        if len(sizes) > 1:
            raise ValueError(f"per-member hyperparameter tuples have different lengths {sorted(sizes)}")

    @property
    def ensemble_size(self) -> int | None:
        """Length of the per-member tuples, or None if every hyperparameter is a scalar."""
        for name in _PER_MEMBER:
            v = getattr(self, name)
            if isinstance(v, tuple):
                return len(v)
        return None

    def member(self, e: int) -> "ESNParams":
        """The scalar :class:`ESNParams` of ensemble member ``e``."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _PER_MEMBER:
            if isinstance(kw[name], tuple):
                kw[name] = kw[name][e]
        return ESNParams(**kw)

    def values(self, name: str, E: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Hyperparameter ``name`` as a tensor of shape ``(E,)``."""
        v = getattr(self, name)
        return torch.as_tensor(v if isinstance(v, tuple) else (v,) * E, dtype=dtype)


class ESNState(NamedTuple):
    """Reservoir state ``x``: ``(..., N)``."""

    x: torch.Tensor


def esn_step(
    u: torch.Tensor,
    state: ESNState,
    W: torch.Tensor,
    W_in: torch.Tensor,
    bias: torch.Tensor,
    params: ESNParams | torch.Tensor | float,
) -> tuple[torch.Tensor, ESNState]:
    """One leaky tanh update ``x' = (1-a) x + a tanh(W x + W_in u + b)`` (pure function).

    Parameters
    ----------
    u : Tensor ``(..., n_in)``
        Input at this step.
    state : ESNState
        ``x`` of shape ``(..., N)``; with an ensemble the leading dim is ``E``.
    W, W_in, bias : Tensor
        ``(N, N)``, ``(N, n_in)``, ``(N,)`` -- or with a leading ``E`` for ensembles (then ``x`` and
        ``u`` are ``(E, B, ·)``).
    params : ESNParams or leak rate
        Supplies the leak rate ``a`` (a float, a per-member tuple, or a tensor broadcastable to x).

    Returns
    -------
    (x, ESNState)
        The new state (also the layer output).
    """
    a: torch.Tensor | float
    if isinstance(params, ESNParams):
        rate = params.leak_rate
        a = (
            torch.as_tensor(rate, dtype=state.x.dtype).reshape(-1, *([1] * (state.x.ndim - 1)))
            if isinstance(rate, tuple)
            else rate
        )
    else:
        a = params
    if W.ndim == 3:
        pre = torch.baddbmm(bias.unsqueeze(1), state.x, W.transpose(1, 2)) + u @ W_in.transpose(1, 2)
    else:
        pre = state.x @ W.T + u @ W_in.T + bias
    x = state.x + a * (torch.tanh(pre) - state.x)
    return x, ESNState(x)


# ------------------------------------------------------------------------ compiled time loop
# Why hand-written: the per-step work of a 200-unit reservoir is tiny, so a Python-level loop of
# torch ops is dominated by call overhead, and torch's bmm of (E,1,N)x(E,N,N) is far from peak for
# E=32. A numba-compiled loop over time, batch and members removes both. W is stored in a sliced
# ELLPACK layout (SELL-C, Kreutzer et al., SIAM J. Sci. Comput. 36, C401 (2014),
# doi:10.1137/130930352): rows sorted by length, groups of C=8 rows padded to the longest, stored
# k-major, so the inner loop runs over 8 independent rows (no dependency chain). Two details
# matter for speed (measured on this codebase's 2-core Cascade Lake box, N=200, density 0.1):
# * indices are unsigned and every array is indexed from a per-slice view with ``8*k + c``, so
#   LLVM can prove them non-negative and drops numba's negative-index wraparound selects
#   (2.3x faster matvec than indexing a flat array with a loaded offset);
# * tanh is a branch-free polynomial (below) that LLVM vectorises; libm's tanh/exp are scalar
#   calls (no SVML here) and cost as much as the sparse matvec.
# The input drive ``W_in u[t] + b`` is formed in the loop too (no (T, E, N) pre-pass).
_SELL_C = 8  # rows per slice; the kernel below is unrolled for 8


try:  # numba is optional (it ships with librosa); without it the torch loop is used
    import math as _math

    import numba as _numba

    from .._vmath import bitcast as _bitcast
    from .._vmath import expm1_reduced
    from ..buffers import scratch as _scratch

    @_numba.njit(inline="always", boundscheck=False, error_model="numpy")
    def _leaky_tanh(pre, xp, a, out, pm, kb):  # pragma: no cover - compiled
        """out = xp + a (tanh(pre) - xp), elementwise; pm, kb: scratch (float64, int64) of pre's size.

        tanh(v) = -expm1(-2|v|) / (2 + expm1(-2|v|)) with the sign of v; |error| <= 2.2 ulp.
        expm1(w), w in [-40, 0]: w = k ln2 + r with |r| <= ln2/2 (Cody-Waite), expm1(r) by its
        Taylor series to r^13 (remainder < 2e-17), 2^k built from the exponent bits ((k + 1023)
        << 52, read back through a float64 view of ``kb``) -- only arithmetic, shifts and
        selects, so both passes vectorise. tanh(20) rounds to 1 in float64: |v| is clipped there.
        """
        for i in range(pre.shape[0]):
            w = -2.0 * min(abs(pre[i]), 20.0)
            k = np.int32(w * _INV_LN2 - 0.5)  # round-half-away for w <= 0
            kf = np.float64(k)
            r = (w - kf * _LN2_HI) - kf * _LN2_LO
            pm[i] = expm1_reduced(r)
            kb[i] = np.int64(k + 1023) << 52  # bits of 2^k
        for i in range(pre.shape[0]):
            s = _bitcast(kb[i])  # 2^k from its bits (no float view of kb: see physnn._vmath.bitcast)
            em1 = s * pm[i] + (s - 1.0)  # expm1(w) = 2^k expm1(r) + (2^k - 1)
            xi = xp[i]
            out[i] = xi + a * (_math.copysign(-em1 / (2.0 + em1), pre[i]) - xi)

    @_numba.njit(error_model="numpy")
    def _tanh_array(v):  # pragma: no cover - compiled
        """tanh of a float64 vector by the kernel's routine (for tests)."""
        n = v.shape[0]
        out = np.empty(n)
        _leaky_tanh(v, np.zeros(n), 1.0, out, np.empty(n), np.empty(n, np.int64))
        return out

    @_numba.njit(cache=True, boundscheck=False, nogil=True, parallel=True, error_model="numpy")
    def _sell_loop(S, u, w_in_t, bias, x0, slen, idx, val, rowperm, leak):  # pragma: no cover - compiled
        """States S (E, B, T, N), written in full, for inputs u (B, T, n_in).

        w_in_t (E, n_in, N), bias (E, N), x0 (E, B, N) start state; W as SELL-8 arrays: slen
        (E, n_slices), idx/val (E, nnz_padded), rowperm (E, N) (slot -> row). Ensemble members are
        independent reservoirs: they run in parallel (``prange`` over E, numba's thread count),
        each with its own time loop over a contiguous (B, T, N) block.
        """
        E, B, T, N = S.shape
        n_in = u.shape[2]
        n_sl = slen.shape[1]
        for e in _numba.prange(E):
            ide = idx[e]
            vae = val[e]
            rp = rowperm[e]
            sle = slen[e]
            wi = w_in_t[e]
            be = bias[e]
            a = leak[e]
            acc = _scratch(n_sl * 8, np.float64)
            pre = _scratch(N, np.float64)
            pm = _scratch(N, np.float64)
            kb = _scratch(N, np.int64)
            for b in range(B):
                xp = x0[e, b]
                for t in range(T):
                    o = 0
                    for sl in range(n_sl):
                        L = sle[sl]
                        vs = vae[o : o + 8 * L]
                        ids = ide[o : o + 8 * L]
                        # 8 rows at once in registers: independent accumulation chains
                        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
                        for k in range(L):
                            q = 8 * k
                            a0 += vs[q] * xp[ids[q]]
                            a1 += vs[q + 1] * xp[ids[q + 1]]
                            a2 += vs[q + 2] * xp[ids[q + 2]]
                            a3 += vs[q + 3] * xp[ids[q + 3]]
                            a4 += vs[q + 4] * xp[ids[q + 4]]
                            a5 += vs[q + 5] * xp[ids[q + 5]]
                            a6 += vs[q + 6] * xp[ids[q + 6]]
                            a7 += vs[q + 7] * xp[ids[q + 7]]
                        o += 8 * L
                        r = 8 * sl
                        acc[r] = a0
                        acc[r + 1] = a1
                        acc[r + 2] = a2
                        acc[r + 3] = a3
                        acc[r + 4] = a4
                        acc[r + 5] = a5
                        acc[r + 6] = a6
                        acc[r + 7] = a7
                    ut = u[b, t]
                    for i in range(N):
                        pre[i] = be[i]
                    for j in range(n_in):
                        uj = ut[j]
                        wj = wi[j]
                        for i in range(N):
                            pre[i] += wj[i] * uj
                    for q in range(N):
                        pre[rp[q]] += acc[q]
                    st = S[e, b, t]
                    _leaky_tanh(pre, xp, a, st, pm, kb)  # vectorised tanh + leaky update
                    xp = st

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_NUMBA = False


def _to_sell(W: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(E, N, N) dense -> SELL-8 arrays (slen, idx, val, rowperm), padded to common sizes.

    ``idx``/``rowperm`` are unsigned (uint16 for N < 65536): see the kernel's comment.
    """
    C = _SELL_C
    Wn = W.numpy()
    E, N = Wn.shape[0], Wn.shape[-1]
    itype = np.uint16 if N < 2**16 else np.uint32
    n_sl = -(-N // C)
    slen = np.zeros((E, n_sl), np.int64)
    rowperm = np.zeros((E, N), itype)
    parts = []
    for e in range(E):
        nz = Wn[e] != 0
        ln = nz.sum(axis=1)
        order = np.argsort(-ln, kind="stable")
        rowperm[e] = order
        I_all, V_all = [], []
        for s_ in range(n_sl):
            rows = order[s_ * C : (s_ + 1) * C]
            K = int(ln[rows].max()) if rows.size else 0
            slen[e, s_] = K
            I = np.zeros((K, C), itype)
            V = np.zeros((K, C), Wn.dtype)
            for q, r in enumerate(rows):
                cols = np.flatnonzero(nz[r])
                I[: cols.size, q] = cols
                V[: cols.size, q] = Wn[e, r, cols]
            I_all.append(I.ravel())
            V_all.append(V.ravel())
        parts.append((np.concatenate(I_all), np.concatenate(V_all)))
    m = max(1, max(p[0].size for p in parts))
    idx = np.zeros((E, m), itype)
    val = np.zeros((E, m), Wn.dtype)
    for e, (i_, v_) in enumerate(parts):
        idx[e, : i_.size] = i_
        val[e, : v_.size] = v_
    return slen, idx, val, rowperm


def _generators(generator: Any, seed: Any, E: int | None) -> list[torch.Generator | None]:
    """One generator per member: ``generator`` (one shared, or a list of one per member), or the
    deprecated ``seed`` (an int or one per member) turned into generators."""
    n = 1 if E is None else E
    if generator is not None and seed is not None:
        raise ValueError("give either generator or seed, not both")
    if seed is not None:
        import warnings

        warnings.warn(
            "seed: deprecated for reservoirs (physics takes generators) and refused in the next "
            "release; pass generator=physnn.random.generator_from_seed(s), or a list of them "
            "(one per member)",
            DeprecationWarning,
            stacklevel=3,
        )
        if isinstance(seed, (list, tuple, np.ndarray, range)):
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed: {len(seeds)} seeds for an ensemble of {n}")
            return [generator_from_seed(check_seed(s, f"seed[{e}]")) for e, s in enumerate(seeds)]
        return [generator_from_seed(check_seed(seed))] * n
    if isinstance(generator, (list, tuple)):
        if len(generator) != n:
            raise ValueError(f"generator: {len(generator)} generators for an ensemble of {n}")
        return [check_generator(g, f"generator[{e}]") for e, g in enumerate(generator)]
    return [check_generator(generator)] * n


def esn_matrices(
    n_inputs: int,
    params: ESNParams,
    *,
    E: int | None = None,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    seed: int | Sequence[int] | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``(W, W_in, bias)`` for one reservoir or an ensemble of ``E``.

    Member ``e`` draws, in order, the recurrent mask and values, the input mask and values and the
    bias from its own generator (``generator[e]``), so member ``e`` of an ensemble equals a single
    reservoir made with a generator of the same seed and ``params.member(e)``. One shared
    ``generator`` (None: torch's global generator) is consumed member after member. ``seed`` (an
    int, or one per member) is deprecated: it stands for :func:`physnn.random.generator_from_seed`
    of it and warns with a ``DeprecationWarning``.

    Returns
    -------
    W : ``(N, N)`` or ``(E, N, N)``, W_in : ``(N, n_in)`` or ``(E, N, n_in)``, bias : ``(N,)`` or ``(E, N)``
    """
    check_int_range(n_inputs, "n_inputs", 1)
    if E is None:
        E = params.ensemble_size
    elif params.ensemble_size not in (None, E):
        raise ValueError(f"E={E} but params hold per-member tuples of length {params.ensemble_size}")
    single = E is None
    gens = _generators(generator, seed, E)
    nE = 1 if E is None else E  # (E is None: single)
    N = params.n_units
    Ws, Wins, bs = [], [], []
    for e in range(nE):
        g = gens[e]
        mask = torch.rand(N, N, generator=g, dtype=torch.float64) < params.density
        W = torch.randn(N, N, generator=g, dtype=torch.float64) * mask
        m_in = torch.rand(N, n_inputs, generator=g, dtype=torch.float64) < params.input_density
        W_in = (2 * torch.rand(N, n_inputs, generator=g, dtype=torch.float64) - 1) * m_in
        b = 2 * torch.rand(N, generator=g, dtype=torch.float64) - 1
        Ws.append(W)
        Wins.append(W_in)
        bs.append(b)
    W = torch.stack(Ws)
    rho = torch.linalg.eigvals(W).abs().amax(dim=-1)  # one batched eigen-solve
    if bool((rho == 0).any()):
        raise ValueError(f"density={params.density}: a recurrent matrix has spectral radius 0 (too sparse)")
    W = W * (params.values("spectral_radius", nE) / rho).reshape(-1, 1, 1)
    W_in = torch.stack(Wins) * params.values("input_scaling", nE).reshape(-1, 1, 1)
    b = torch.stack(bs) * params.values("bias_scaling", nE).reshape(-1, 1)
    W, W_in, b = W.to(dtype), W_in.to(dtype), b.to(dtype)
    if single:
        return W[0], W_in[0], b[0]
    return W, W_in, b


class ESN(nn.Module):
    """Echo state network: fixed random reservoir + ridge readout, optionally an ensemble.

    Parameters
    ----------
    n_inputs : int
        Input dimension.
    params : ESNParams
        Hyperparameters (tuples -> ensemble).
    E : int, optional
        Ensemble size (inferred from the tuples in ``params`` if omitted; None -> no ensemble dim).
    alpha : float or sequence of float
        Ridge penalty of the readout (one per member allowed).
    include_input : bool
        Append the input ``u[t]`` to the readout features.
    generator : torch.Generator or sequence of torch.Generator, optional
        Random source(s) for the matrices: one generator (None: torch's global generator), or one
        per member (see :func:`esn_matrices`).
    seed : int or sequence of int, optional
        Deprecated (``DeprecationWarning``; refused in the next release): stands for
        ``generator=physnn.random.generator_from_seed(seed)`` (or a list of them).
    W, W_in, bias : Tensor, optional
        Explicit matrices (e.g. shared with another library); then nothing is drawn and
        ``spectral_radius``/``input_scaling``/``bias_scaling`` of ``params`` are ignored.
    dtype : torch.dtype
        float64 (default; agrees with NumPy codes to round-off) or float32 (the ridge solve is
        always float64).
    backend : {"auto", "numba", "torch"}
        Time loop: a numba-compiled sparse (sliced-ELLPACK) loop -- fastest on CPU, used by "auto" when numba
        is importable -- or a loop of torch ops (``baddbmm`` + ``tanh`` + ``lerp`` per step).

    Attributes
    ----------
    readout_ : RidgeReadout
        Fitted readout (after :meth:`fit`).
    last_state_ : Tensor
        Reservoir state after the last :meth:`run`/:meth:`fit`/:meth:`predict`.
    """

    W: torch.Tensor  # buffers (registered in __init__)
    W_in: torch.Tensor
    bias: torch.Tensor
    leak: torch.Tensor
    _sell: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # W in SELL-8 (numba backend), set by _run

    def __init__(
        self,
        n_inputs: int,
        params: ESNParams | None = None,
        *,
        E: int | None = None,
        alpha: float | Sequence[float] = 1e-6,
        include_input: bool = False,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        seed: int | Sequence[int] | None = None,
        W: torch.Tensor | np.ndarray | None = None,
        W_in: torch.Tensor | np.ndarray | None = None,
        bias: torch.Tensor | np.ndarray | float | None = None,
        dtype: torch.dtype = torch.float64,
        backend: Literal["auto", "numba", "torch"] = "auto",
    ) -> None:
        super().__init__()
        if backend not in ("auto", "numba", "torch"):
            raise ValueError(f"backend={backend!r}: expected 'auto', 'numba' or 'torch'")
        if backend == "numba" and not HAVE_NUMBA:
            raise ValueError("backend='numba': numba is not installed")
        self.backend = ("numba" if HAVE_NUMBA else "torch") if backend == "auto" else backend
        self._sell_key: tuple | None = None
        self.params = params if params is not None else ESNParams()
        if not isinstance(self.params, ESNParams):
            raise TypeError(f"params: expected ESNParams, got {type(self.params).__name__}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")
        self.n_inputs = check_int_range(n_inputs, "n_inputs", 1)
        self.alpha = alpha
        self.include_input = include_input
        if W is None:
            if W_in is not None or bias is not None:
                raise ValueError("W_in/bias given without W: give all explicit matrices or none")
            W_, W_in_, b_ = esn_matrices(n_inputs, self.params, E=E, generator=generator, seed=seed, dtype=dtype)
        else:
            W_, W_in_, b_ = self._explicit(W, W_in, bias, E, dtype)
        self.E = None if W_.ndim == 2 else W_.shape[0]
        self.register_buffer("W", W_)
        self.register_buffer("W_in", W_in_)
        self.register_buffer("bias", b_)
        nE = 1 if self.E is None else self.E
        if self.params.ensemble_size not in (None, nE) or (self.E is None and self.params.ensemble_size):
            raise ValueError(f"params hold {self.params.ensemble_size} members but the matrices {nE}")
        self.register_buffer("leak", self.params.values("leak_rate", nE, dtype).reshape(nE, 1, 1))
        self.last_state_: torch.Tensor | None = None

    def _explicit(self, W: Any, W_in: Any, bias: Any, E: int | None, dtype: torch.dtype):
        def t(a, name):
            a = torch.as_tensor(
                np.asarray(a.toarray() if hasattr(a, "toarray") else a) if not isinstance(a, torch.Tensor) else a
            )
            a = a.to(dtype)
            check_finite(a, name)
            return a

        W = t(W, "W")
        if W.ndim not in (2, 3) or W.shape[-1] != W.shape[-2]:
            raise ValueError(f"W: expected (N, N) or (E, N, N), got {tuple(W.shape)}")
        N = W.shape[-1]
        if N != self.params.n_units:
            raise ValueError(f"W: {N} units but params.n_units={self.params.n_units}")
        if E is not None and (W.ndim != 3 or W.shape[0] != E):
            raise ValueError(f"W: shape {tuple(W.shape)} does not match E={E}")
        if W_in is None:
            raise ValueError("W_in: required with an explicit W")
        W_in = t(W_in, "W_in")
        if W_in.shape != (*W.shape[:-1], self.n_inputs):
            raise ValueError(f"W_in: expected shape {(*W.shape[:-1], self.n_inputs)}, got {tuple(W_in.shape)}")
        if bias is None:
            bias = 0.0
        b = t(bias, "bias")
        b = b.expand(W.shape[:-1]).clone() if b.ndim <= 1 else b
        if b.shape != W.shape[:-1]:
            raise ValueError(f"bias: expected shape {tuple(W.shape[:-1])}, got {tuple(b.shape)}")
        return W, W_in, b

    # ---------------------------------------------------------------------------- shape handling
    def _inputs(self, u: Any, name: str = "u") -> tuple[torch.Tensor, int]:
        """u -> (B, T, n_in) tensor and its original ndim."""
        t = u.detach() if isinstance(u, torch.Tensor) else torch.as_tensor(np.asarray(u, dtype=float))
        t = t.to(self.W.dtype)
        check_finite(t, name)
        nd = t.ndim
        if nd == 1:
            if self.n_inputs != 1:
                raise ValueError(f"{name}: 1-D input but n_inputs={self.n_inputs}")
            t = t.reshape(1, -1, 1)
        elif nd == 2:
            t = t.unsqueeze(0)
        elif nd != 3:
            raise ValueError(f"{name}: expected (T,), (T, n_in) or (B, T, n_in), got {tuple(t.shape)}")
        if t.shape[-1] != self.n_inputs:
            raise ValueError(f"{name}: last dimension {t.shape[-1]} != n_inputs={self.n_inputs}")
        if t.shape[1] < 1:
            raise ValueError(f"{name}: empty time axis")
        return t, nd

    # ------------------------------------------------------------------------------------ running
    @torch.no_grad()
    def _run(self, u: torch.Tensor, x0: torch.Tensor | None) -> torch.Tensor:
        """Core loop: u (B, T, n_in) -> states (E, B, T, N) (a view of one preallocated buffer)."""
        B, T, n_in = u.shape
        W = self.W if self.W.ndim == 3 else self.W.unsqueeze(0)
        W_in = self.W_in if self.W_in.ndim == 3 else self.W_in.unsqueeze(0)
        bias = self.bias if self.bias.ndim == 2 else self.bias.unsqueeze(0)
        nE, N = W.shape[0], W.shape[-1]
        leak = self.leak
        x = torch.zeros(nE, B, N, dtype=W.dtype) if x0 is None else x0.reshape(nE, B, N).to(W.dtype)
        if self.backend == "numba":
            key = (self.W.data_ptr(), self.W._version, self.W.dtype)
            if self._sell_key != key:
                self._sell = _to_sell(W)
                self._sell_key = key
            # member-major buffer: each member's (B, T, N) block is contiguous (its own thread,
            # and for B = 1 the ridge readout takes it without a copy); uninitialised, since the
            # kernel writes every element
            S = empty_torch((nE, B, T, N), W.dtype)
            # members run on as many numba threads as torch is given; numba's OpenMP layer shares
            # torch's runtime and would otherwise leave torch's thread count changed (numba.config
            # sets NUMBA_NUM_THREADS through globals(), which mypy cannot see: read by getattr)
            n_threads = torch.get_num_threads()
            _numba.set_num_threads(max(1, min(n_threads, getattr(_numba.config, "NUMBA_NUM_THREADS"))))
            # members are handed out one at a time (dynamic), not in E / threads blocks: on a
            # shared machine a thread that loses its core then delays only its current member
            chunk = _numba.set_parallel_chunksize(1)
            try:
                _sell_loop(
                    S.numpy(),
                    u.contiguous().numpy(),
                    W_in.transpose(1, 2).contiguous().numpy(),
                    bias.contiguous().numpy(),
                    x.contiguous().numpy(),
                    *self._sell,
                    leak.reshape(nE).contiguous().numpy(),
                )
            finally:
                _numba.set_parallel_chunksize(chunk)
                torch.set_num_threads(n_threads)
        else:
            S = torch.einsum("bti,eni->tebn", u, W_in).contiguous()  # (T, E, B, N)
            S += bias.reshape(1, nE, 1, N)
            Wt = W.transpose(1, 2).contiguous()
            no_leak = bool((leak == 1).all())
            for t in range(T):  # per step: one batched matmul, one tanh, one lerp
                st = S[t]
                torch.baddbmm(st, x, Wt, out=st)
                st.tanh_()
                if not no_leak:
                    torch.lerp(x, st, leak, out=st)
                x = st
            S = S.permute(1, 2, 0, 3)  # (E, B, T, N) view
        self.last_state_ = S[:, :, -1].clone()
        return S

    def _shape_states(self, S: torch.Tensor, nd: int) -> torch.Tensor:
        X = S  # (E, B, T, N)
        if nd < 3:
            X = X[:, 0]
        return X if self.E is not None else X[0]

    def _start(self, reset: bool, B: int) -> torch.Tensor | None:
        if reset or self.last_state_ is None:
            return None
        if self.last_state_.shape[1] != B:
            raise ValueError(
                f"u: batch of {B} sequences, but the stored state has {self.last_state_.shape[1]}; use reset=True"
            )
        return self.last_state_

    def run(self, u: Any, *, reset: bool = True) -> torch.Tensor:
        """Reservoir states for input ``u``.

        Parameters
        ----------
        u : array ``(T,)``, ``(T, n_in)`` or ``(B, T, n_in)``
            Input sequence(s), shared by all ensemble members.
        reset : bool
            Start from ``x = 0`` (default) or continue from :attr:`last_state_`.

        Returns
        -------
        Tensor ``(T, N)`` or ``(B, T, N)``, with a leading ``E`` for ensembles (a view).
        """
        ut, nd = self._inputs(u)
        return self._shape_states(self._run(ut, self._start(reset, ut.shape[0])), nd)

    def _features(
        self, S: torch.Tensor, ut: torch.Tensor, washout: int, dtype: torch.dtype = torch.float64
    ) -> torch.Tensor:
        """(E, B, T, N) states -> (E, B*(T-washout), F) readout features.

        Without ``include_input`` this is a view of ``S`` where the layout allows (numba backend,
        B = 1, float64: no copy of the largest array of a fit), else one copy.
        """
        nE, B, T, N = S.shape
        if not self.include_input:
            return S[:, :, washout:].to(dtype).reshape(nE, B * (T - washout), N)
        F = N + ut.shape[-1]
        X = empty_torch((nE, B, T - washout, F), dtype)
        X[..., :N].copy_(S[:, :, washout:])
        X[..., N:].copy_(ut[:, washout:].unsqueeze(0))
        return X.view(nE, B * (T - washout), F)

    def fit(self, u: Any, y: Any, washout: int = 0) -> "ESN":
        """Run the reservoir from ``x = 0`` on ``u`` and fit the ridge readout to ``y``; return self.

        Parameters
        ----------
        u : array ``(T,)``, ``(T, n_in)`` or ``(B, T, n_in)``
        y : array ``(T,)``, ``(T, n_out)`` or ``(B, T, n_out)`` (shared by all members)
        washout : int
            Initial steps discarded (transient from the zero state).
        """
        ut, nd = self._inputs(u)
        B, T, _ = ut.shape
        check_int_range(washout, "washout", 0, T - 1)
        yt = y.detach() if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y, dtype=float))
        yt = yt.to(torch.float64)
        check_finite(yt, "y")
        lead = (B, T) if nd == 3 else (T,)
        if yt.ndim not in (len(lead), len(lead) + 1) or tuple(yt.shape[: len(lead)]) != lead:
            raise ValueError(f"y: shape {tuple(yt.shape)} does not match u (T={T}" + (f", B={B})" if nd == 3 else ")"))
        self._y_1d = yt.ndim == len(lead)
        yb = yt.reshape(B, T, -1)
        S = self._run(ut, None)
        Y = yb[:, washout:].reshape(B * (T - washout), -1)
        alpha = self.alpha
        if self.E is None and isinstance(alpha, (list, tuple)):
            raise ValueError("alpha: a sequence of penalties needs an ensemble (E)")
        readout = RidgeReadout(alpha=alpha)
        ens = self.E is not None
        # states are finite by construction (bounded tanh of finite inputs): no re-validation
        X = self._features(S, ut, washout)
        Yr = Y.unsqueeze(0).expand(X.shape[0], -1, -1)
        self.readout_ = readout.solve(X, Yr, ensemble=ens, one_d=self._y_1d, is_torch=True)
        return self

    def predict(self, u: Any, *, reset: bool = False) -> torch.Tensor:
        """Readout output for input ``u``, continuing from the last state unless ``reset``.

        Returns ``(T,)``/``(T, n_out)`` (``(B, T, ...)`` for batched input), leading ``E`` for
        ensembles.
        """
        if not hasattr(self, "readout_"):
            raise RuntimeError("ESN is not fitted yet: call fit(u, y, washout) first")
        ut, nd = self._inputs(u)
        B, T, _ = ut.shape
        S = self._run(ut, self._start(reset, B))
        X = self._features(S, ut, 0)
        P = self.readout_.predict(X if self.E is not None else X[0])
        if self.E is None:
            P = P.unsqueeze(0)
        P = P.reshape(P.shape[0], B, T, *P.shape[2:])
        if nd < 3:
            P = P[:, 0]
        return P if self.E is not None else P[0]

    def extra_repr(self) -> str:
        return f"n_inputs={self.n_inputs}, params={self.params}, E={self.E}"
