"""Linear readouts for reservoirs: closed-form ridge regression and logistic regression.

Both follow the scikit-learn estimator conventions (``fit`` returns ``self``, fitted attributes end
in ``_``) and accept NumPy arrays or torch tensors. Given 3-D features ``(E, n_samples,
n_features)`` they fit ``E`` independent readouts at once -- one per ensemble member (reservoirs
with different seeds, device instances or hyperparameters):

* :class:`RidgeReadout` solves the regularised normal equations of all members in ONE batched
  ``torch.linalg.solve`` (float64), so fitting 32 reservoirs costs about as much as fitting one.
* :class:`LogisticReadout` wraps :class:`sklearn.linear_model.LogisticRegression` (L-BFGS) once per
  member: scikit-learn's solver is well tested and a readout fit is not the bottleneck here.

Targets may be shared by all members (``y`` of shape ``(n_samples,)`` or ``(n_samples,
n_targets)``) or given per member (``(E, n_samples)`` or ``(E, n_samples, n_targets)``). If
``E == n_samples`` a 2-D ``y`` of shape ``(E, n_samples)`` is read as per-member targets.

Outputs have the type of the input features: torch in -> torch out (float64), NumPy in -> NumPy out.

Examples
--------
>>> import numpy as np
>>> from physnn.reservoir.readout import RidgeReadout
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(100, 3)); y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
>>> r = RidgeReadout(alpha=1e-9).fit(X, y)
>>> np.round(r.coef_, 6).tolist(), round(float(r.intercept_), 6)
([1.0, -2.0, 0.5], 3.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._checks import check_finite, check_int_range, check_positive

__all__ = ["RidgeReadout", "LogisticReadout"]


# ---------------------------------------------------------------------------------------- helpers
def _to_tensor(a: Any, name: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Convert array-like ``a`` to a CPU tensor of ``dtype``; raise TypeError/ValueError naming it."""
    if isinstance(a, torch.Tensor):
        t = a.detach()
    else:
        try:
            arr = np.asarray(a)
        except Exception:  # pragma: no cover - exotic inputs
            raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(a).__name__}") from None
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.is_complex():
        raise TypeError(f"{name}: complex values are not supported")
    t = t.to(device="cpu", dtype=dtype)
    check_finite(t, name)
    return t


def _features(X: Any) -> tuple[torch.Tensor, bool, bool]:
    """Return (X as float64 tensor of shape (E, n, f), is_torch, has_ensemble_dim)."""
    is_torch = isinstance(X, torch.Tensor)
    t = _to_tensor(X, "X")
    if t.ndim == 2:
        return t.unsqueeze(0), is_torch, False
    if t.ndim == 3:
        return t, is_torch, True
    raise ValueError(f"X: expected shape (n_samples, n_features) or (E, n_samples, n_features), got {tuple(t.shape)}")


def _targets(y: Any, E: int, n: int, ensemble: bool, dtype: torch.dtype) -> tuple[torch.Tensor, bool]:
    """Return (y as tensor of shape (E, n, t), was_1d) for features of shape (E, n, f)."""
    t = _to_tensor(y, "y", dtype)
    if ensemble and t.ndim == 2 and t.shape == (E, n):
        return t.unsqueeze(-1), True  # per-member 1-D targets
    if ensemble and t.ndim == 3:
        if t.shape[:2] != (E, n):
            raise ValueError(f"y: shape {tuple(t.shape)} does not match X's (E, n_samples) = {(E, n)}")
        return t, False
    if t.ndim == 1:
        if t.shape[0] != n:
            raise ValueError(f"y: {t.shape[0]} samples but X has {n} samples")
        return t.reshape(1, n, 1).expand(E, n, 1), True
    if t.ndim == 2:
        if t.shape[0] != n:
            raise ValueError(
                f"y: shape {tuple(t.shape)}; expected (n_samples,), (n_samples, n_targets)"
                + (", (E, n_samples) or (E, n_samples, n_targets)" if ensemble else "")
                + f" with n_samples={n}"
                + (f", E={E}" if ensemble else "")
            )
        return t.unsqueeze(0).expand(E, n, t.shape[1]), False
    raise ValueError(f"y: unsupported number of dimensions {t.ndim} (shape {tuple(t.shape)})")


def _out(t: torch.Tensor, is_torch: bool) -> Any:
    return t if is_torch else t.numpy()


class _Base:
    """Shared bookkeeping: input conversion and ensemble-shape checks at predict time."""

    # set by the subclasses' fit (declared here for the checks below; unset until fitted)
    _ensemble: bool
    _E: int
    n_features_in_: int

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(X, y) first")

    def _predict_features(self, X: Any) -> tuple[torch.Tensor, bool]:
        self._check_fitted()
        Xt, is_torch, ens = _features(X)
        if ens != self._ensemble:
            want = "(E, n_samples, n_features)" if self._ensemble else "(n_samples, n_features)"
            raise ValueError(f"X: fitted with features of shape {want}, got {tuple(Xt.shape if ens else Xt.shape[1:])}")
        if ens and Xt.shape[0] != self._E:
            raise ValueError(f"X: fitted for E={self._E} ensemble members, got E={Xt.shape[0]}")
        if Xt.shape[-1] != self.n_features_in_:
            raise ValueError(f"X: has {Xt.shape[-1]} features, but the readout was fitted with {self.n_features_in_}")
        return Xt, is_torch


# ------------------------------------------------------------------------------------------ ridge
class RidgeReadout(_Base):
    r"""Ridge regression :math:`\min_w \|y - Xw - b\|^2 + \alpha\|w\|^2`, solved in closed form.

    Parameters
    ----------
    alpha : float or array-like of shape (E,)
        L2 penalty (>= 0); one value per ensemble member may be given. ``alpha=0`` falls back to
        a least-squares solve (``torch.linalg.lstsq``), which also handles rank-deficient ``X``.
    fit_intercept : bool
        Fit an unpenalised bias (by centring ``X`` and ``y``), as scikit-learn's ``Ridge``.

    Attributes
    ----------
    coef_ : ndarray or Tensor
        ``(n_features,)`` for 1-D targets, else ``(n_targets, n_features)``; with an ensemble a
        leading ``E`` dimension is added.
    intercept_ : float, ndarray or Tensor
        ``()``/``(n_targets,)``, with a leading ``E`` for ensembles (0 if ``fit_intercept=False``).
    n_features_in_ : int
    """

    def __init__(self, alpha: float | Any = 1e-6, fit_intercept: bool = True) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X: Any, y: Any) -> "RidgeReadout":
        """Fit on features ``X`` ``(n, f)`` or ``(E, n, f)`` and targets ``y``; return ``self``."""
        Xt, is_torch, ens = _features(X)
        E, n, f = Xt.shape
        if n < 1:
            raise ValueError("X: needs at least one sample")
        Y, one_d = _targets(y, E, n, ens, torch.float64)
        return self.solve(Xt, Y, ensemble=ens, one_d=one_d, is_torch=is_torch)

    def solve(
        self, Xt: torch.Tensor, Y: torch.Tensor, *, ensemble: bool, one_d: bool, is_torch: bool
    ) -> "RidgeReadout":
        """Fit on validated float64 ``Xt`` (E, n, f) and ``Y`` (E, n, t) (no copies of ``Xt``)."""
        E, n, f = Xt.shape
        alpha = _to_tensor(self.alpha, "alpha")
        if alpha.ndim > 1 or (alpha.ndim == 1 and alpha.shape[0] not in (1, E)):
            raise ValueError(f"alpha: expected a scalar or shape ({E},), got {tuple(alpha.shape)}")
        if bool((alpha < 0).any()):
            raise ValueError(f"alpha={self.alpha!r}: must be >= 0")
        alpha = alpha.reshape(-1, 1, 1).expand(E, 1, 1)
        if self.fit_intercept:
            x_mean = Xt.mean(dim=1, keepdim=True)  # (E,1,f)
            y_mean = Y.mean(dim=1, keepdim=True)  # (E,1,t)
        else:
            x_mean = torch.zeros(E, 1, f, dtype=Xt.dtype)
            y_mean = torch.zeros(E, 1, Y.shape[-1], dtype=Xt.dtype)
        if bool((alpha == 0).all()):
            W = torch.linalg.lstsq(Xt - x_mean, Y - y_mean, driver="gelsd").solution  # (E,f,t)
            return self._finish(W, x_mean, y_mean, ensemble=ensemble, one_d=one_d, is_torch=is_torch)
        # centred normal equations without a centred copy of X: Xc'Xc = X'X - n mu mu'
        Xtr = Xt.transpose(1, 2)
        A = Xtr @ Xt - n * x_mean.transpose(1, 2) @ x_mean
        B = Xtr @ (Y - y_mean)
        return self._solve_gram(A, B, x_mean, y_mean, ensemble=ensemble, one_d=one_d, is_torch=is_torch)

    def _solve_gram(
        self,
        A: torch.Tensor,
        B: torch.Tensor,
        x_mean: torch.Tensor,
        y_mean: torch.Tensor,
        *,
        ensemble: bool,
        one_d: bool,
        is_torch: bool,
    ) -> "RidgeReadout":
        """Fit from the centred Gram matrix ``A = Xc'Xc`` (E,f,f) and ``B = Xc'Yc`` (E,f,t), float64."""
        E, f = A.shape[0], A.shape[-1]
        alpha = _to_tensor(self.alpha, "alpha")
        if alpha.ndim > 1 or (alpha.ndim == 1 and alpha.shape[0] not in (1, E)):
            raise ValueError(f"alpha: expected a scalar or shape ({E},), got {tuple(alpha.shape)}")
        if bool((alpha < 0).any()):
            raise ValueError(f"alpha={self.alpha!r}: must be >= 0")
        A = A + alpha.reshape(-1, 1, 1) * torch.eye(f, dtype=A.dtype)
        L, info = torch.linalg.cholesky_ex(A)
        if bool((info == 0).all()):
            W = torch.cholesky_solve(B, L)
        else:  # some member has alpha == 0 and a singular X'X
            W = torch.linalg.lstsq(A, B, driver="gelsd").solution
        return self._finish(W, x_mean, y_mean, ensemble=ensemble, one_d=one_d, is_torch=is_torch)

    def _finish(
        self,
        W: torch.Tensor,
        x_mean: torch.Tensor,
        y_mean: torch.Tensor,
        *,
        ensemble: bool,
        one_d: bool,
        is_torch: bool,
    ) -> "RidgeReadout":
        E, f = W.shape[0], W.shape[1]
        b_full = y_mean - x_mean @ W  # (E,1,t)
        b = b_full.squeeze(1)
        coef = W.transpose(1, 2)  # (E,t,f)
        if one_d:
            coef, b = coef[:, 0, :], b[:, 0]
        if not ensemble:
            coef, b = coef[0], b[0]
        self._ensemble, self._E, self._one_d = ensemble, E, one_d
        self.n_features_in_ = f
        self._W, self._b = W, b_full
        self.coef_ = _out(coef, is_torch)
        self.intercept_ = _out(b, is_torch) if (ensemble or not one_d) else float(b)
        return self

    def predict(self, X: Any) -> Any:
        """Predictions ``(n,)``/``(n, t)``, with a leading ``E`` for ensemble input."""
        Xt, is_torch = self._predict_features(X)
        P = Xt @ self._W + self._b  # (E,n,t)
        if self._one_d:
            P = P[..., 0]
        if not self._ensemble:
            P = P[0]
        return _out(P, is_torch)

    def score(self, X: Any, y: Any) -> Any:
        """Coefficient of determination R² (averaged over targets); one value per ensemble member."""
        Xt, is_torch = self._predict_features(X)
        E, n, _ = Xt.shape
        Y, _ = _targets(y, E, n, self._ensemble, torch.float64)
        P = Xt @ self._W + self._b
        ss_res = ((Y - P) ** 2).sum(dim=1)
        ss_tot = ((Y - Y.mean(dim=1, keepdim=True)) ** 2).sum(dim=1)
        r2 = (1.0 - ss_res / ss_tot).mean(dim=-1)  # (E,)
        if not self._ensemble:
            return float(r2[0])
        return _out(r2, is_torch)


# --------------------------------------------------------------------------------------- logistic
class LogisticReadout(_Base):
    """Multinomial logistic regression (scikit-learn L-BFGS), one model per ensemble member.

    Parameters
    ----------
    C : float
        Inverse L2 regularisation strength (> 0), as in scikit-learn.
    max_iter : int
        L-BFGS iteration limit.
    standardize : bool
        Scale every feature to zero mean / unit variance (statistics from the training data, per
        member) before the fit -- reservoir spike counts are often badly scaled, which slows L-BFGS.
        ``coef_``/``intercept_`` are always expressed for the *raw* features.
    tol : float
        Solver tolerance.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
        Sorted class labels (every ensemble member must see the same set).
    coef_ : ndarray or Tensor
        ``(1, n_features)`` for two classes, else ``(n_classes, n_features)``; leading ``E`` for
        ensembles.
    intercept_ : ndarray or Tensor
        ``(1,)`` or ``(n_classes,)``, leading ``E`` for ensembles.
    n_iter_ : ndarray
        Iterations used per member.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 1000, *, standardize: bool = False, tol: float = 1e-4) -> None:
        self.C = C
        self.max_iter = max_iter
        self.standardize = standardize
        self.tol = tol

    def fit(self, X: Any, y: Any) -> "LogisticReadout":
        """Fit on features ``(n, f)`` or ``(E, n, f)`` and labels ``(n,)`` or ``(E, n)``; return ``self``."""
        from sklearn.linear_model import LogisticRegression

        C = check_positive(self.C, "C")
        max_iter = check_int_range(self.max_iter, "max_iter", 1)
        tol = check_positive(self.tol, "tol")
        Xt, is_torch, ens = _features(X)
        E, n, f = Xt.shape
        y_arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        if y_arr.dtype.kind == "f":
            check_finite(y_arr, "y")
        if ens and y_arr.ndim == 2 and y_arr.shape == (E, n):
            Y = y_arr
        elif y_arr.ndim == 1 and y_arr.shape[0] == n:
            Y = np.broadcast_to(y_arr, (E, n))
        else:
            raise ValueError(
                f"y: labels of shape {y_arr.shape} do not match X {tuple(Xt.shape) if ens else tuple(Xt.shape[1:])}; "
                "expected (n_samples,)" + (" or (E, n_samples)" if ens else "")
            )
        classes = np.unique(Y)
        if classes.size < 2:
            raise ValueError(f"y: needs at least two classes, got {classes.tolist()}")
        for e in range(E):
            ce = np.unique(Y[e])
            if ce.size != classes.size:
                raise ValueError(f"y: ensemble member {e} sees classes {ce.tolist()}, others {classes.tolist()}")
        Xn = Xt.numpy()
        if self.standardize:
            mu = Xn.mean(axis=1, keepdims=True)
            sd = Xn.std(axis=1, keepdims=True)
            sd = np.where(sd > 0, sd, 1.0)
        else:
            mu, sd = np.zeros((E, 1, f)), np.ones((E, 1, f))
        coefs, icepts, iters = [], [], []
        for e in range(E):
            m = LogisticRegression(C=C, max_iter=max_iter, tol=tol)
            m.fit((Xn[e] - mu[e]) / sd[e], Y[e])
            coef = m.coef_ / sd[e]  # back to raw-feature units
            icept = m.intercept_ - (coef * mu[e]).sum(axis=1)
            coefs.append(coef)
            icepts.append(icept)
            iters.append(int(np.max(m.n_iter_)))
        W = torch.from_numpy(np.stack(coefs))  # (E,k,f)
        b = torch.from_numpy(np.stack(icepts))  # (E,k)
        self._ensemble, self._E = ens, E
        self.n_features_in_ = f
        self.classes_ = classes
        self.n_iter_ = np.asarray(iters)
        self._W, self._b = W, b
        self.coef_ = _out(W if ens else W[0], is_torch)
        self.intercept_ = _out(b if ens else b[0], is_torch)
        return self

    def decision_function(self, X: Any) -> Any:
        """Logits ``(n,)`` (two classes) or ``(n, n_classes)``, leading ``E`` for ensembles."""
        Xt, is_torch = self._predict_features(X)
        z = Xt @ self._W.transpose(1, 2) + self._b.unsqueeze(1)  # (E,n,k)
        if z.shape[-1] == 1:
            z = z[..., 0]
        return _out(z if self._ensemble else z[0], is_torch)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities ``(n, n_classes)``, leading ``E`` for ensembles (columns = ``classes_``)."""
        Xt, is_torch = self._predict_features(X)
        z = Xt @ self._W.transpose(1, 2) + self._b.unsqueeze(1)
        if z.shape[-1] == 1:
            p1 = torch.sigmoid(z)
            p = torch.cat([1 - p1, p1], dim=-1)
        else:
            p = torch.softmax(z, dim=-1)
        return _out(p if self._ensemble else p[0], is_torch)

    def predict(self, X: Any) -> Any:
        """Most probable class label ``(n,)``, leading ``E`` for ensembles (NumPy labels)."""
        p = self.predict_proba(X)
        p = p.numpy() if isinstance(p, torch.Tensor) else p
        return self.classes_[np.argmax(p, axis=-1)]

    def score(self, X: Any, y: Any) -> Any:
        """Accuracy; a float, or one value per ensemble member ``(E,)``."""
        pred = self.predict(X)
        y_arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        if y_arr.shape != pred.shape and y_arr.shape != pred.shape[-1:]:
            raise ValueError(f"y: shape {y_arr.shape} does not match predictions {pred.shape}")
        acc = (pred == y_arr).mean(axis=-1)
        return float(acc) if not self._ensemble else acc
