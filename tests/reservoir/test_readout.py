"""Readouts: closed-form ridge against numpy least squares, ensembles against loops, error messages."""

import numpy as np
import pytest
import torch

from physnn.reservoir.readout import LogisticReadout, RidgeReadout


def _ridge_reference(X, y, alpha):
    """Ridge with intercept via an augmented numpy lstsq system (independent of the readout code)."""
    Xc, yc = X - X.mean(0), y - y.mean(0)
    A = np.vstack([Xc, np.sqrt(alpha) * np.eye(X.shape[1])])
    b = np.concatenate([yc, np.zeros((X.shape[1],) + y.shape[1:])])
    w = np.linalg.lstsq(A, b, rcond=None)[0]
    return w, y.mean(0) - X.mean(0) @ w


def test_ridge_matches_numpy_lstsq_and_fit_returns_self():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 6))
    y = rng.normal(size=80)
    r = RidgeReadout(alpha=0.7)
    assert r.fit(X, y) is r
    w, b = _ridge_reference(X, y, 0.7)
    np.testing.assert_allclose(r.coef_, w, rtol=1e-10, atol=1e-12)
    assert r.intercept_ == pytest.approx(b, abs=1e-12)
    np.testing.assert_allclose(r.predict(X), X @ w + b, rtol=1e-10)
    # alpha=0 and no intercept -> plain least squares
    r0 = RidgeReadout(alpha=0.0, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(r0.coef_, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-9)


def test_ridge_matches_sklearn_multioutput():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 3))
    r = RidgeReadout(alpha=2.0).fit(torch.from_numpy(X), torch.from_numpy(y))
    sk = Ridge(alpha=2.0).fit(X, y)
    assert isinstance(r.coef_, torch.Tensor) and r.coef_.shape == (3, 4)
    np.testing.assert_allclose(r.coef_.numpy(), sk.coef_, rtol=1e-9)
    np.testing.assert_allclose(r.intercept_.numpy(), sk.intercept_, rtol=1e-9)
    assert r.score(X, y) == pytest.approx(sk.score(X, y), rel=1e-9)


def test_ridge_ensemble_equals_loop_with_per_member_alpha():
    rng = np.random.default_rng(3)
    E, n, f = 4, 60, 5
    X, y = rng.normal(size=(E, n, f)), rng.normal(size=(E, n))
    alphas = np.array([1e-3, 0.1, 1.0, 10.0])
    r = RidgeReadout(alpha=alphas).fit(X, y)
    assert r.coef_.shape == (E, f) and r.intercept_.shape == (E,)
    pred = r.predict(X)
    scores = r.score(X, y)
    for e in range(E):
        single = RidgeReadout(alpha=alphas[e]).fit(X[e], y[e])
        np.testing.assert_allclose(r.coef_[e], single.coef_, rtol=1e-10)
        np.testing.assert_allclose(pred[e], single.predict(X[e]), rtol=1e-10)
        assert scores[e] == pytest.approx(single.score(X[e], y[e]))
    # shared targets broadcast over members
    rs = RidgeReadout(alpha=0.1).fit(X, y[0])
    np.testing.assert_allclose(rs.coef_[2], RidgeReadout(alpha=0.1).fit(X[2], y[0]).coef_, rtol=1e-10)


def test_ridge_errors():
    X = np.zeros((10, 3))
    with pytest.raises(ValueError, match="y: 9 samples"):
        RidgeReadout().fit(X, np.zeros(9))
    Xn = np.ones((10, 3))
    Xn[2, 1] = np.nan
    with pytest.raises(ValueError, match="X: 1 non-finite"):
        RidgeReadout().fit(Xn, np.zeros(10))
    with pytest.raises(ValueError, match="alpha"):
        RidgeReadout(alpha=-1.0).fit(X, np.zeros(10))
    with pytest.raises(ValueError, match="X: expected shape"):
        RidgeReadout().fit(np.zeros(10), np.zeros(10))
    with pytest.raises(RuntimeError, match="not fitted"):
        RidgeReadout().predict(X)
    r = RidgeReadout().fit(np.random.default_rng(0).normal(size=(10, 3)), np.arange(10.0))
    with pytest.raises(ValueError, match="4 features"):
        r.predict(np.zeros((5, 4)))
    with pytest.raises(TypeError, match="X: expected a numeric array"):
        RidgeReadout().fit(np.array(["a", "b"]), np.zeros(2))


def test_logistic_binary_and_multiclass_against_sklearn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    lr = LogisticReadout(C=1.0)
    assert lr.fit(X, y) is lr
    sk = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(lr.coef_, sk.coef_, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(lr.predict_proba(X), sk.predict_proba(X), atol=1e-4)
    assert lr.score(X, y) == pytest.approx(sk.score(X, y))
    # three classes, badly scaled features: standardize must not change the decision much
    y3 = np.digitize(X[:, 0], [-0.5, 0.5])
    Xs = X * np.array([1e3, 1.0, 1e-3, 1.0])
    m = LogisticReadout(C=10.0, standardize=True).fit(Xs, y3)
    assert m.classes_.tolist() == [0, 1, 2] and m.coef_.shape == (3, 4)
    assert m.score(Xs, y3) > 0.9
    p = m.predict_proba(Xs)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)


def test_logistic_ensemble_equals_loop_and_errors():
    rng = np.random.default_rng(5)
    X = torch.from_numpy(rng.normal(size=(3, 40, 2)))
    y = (X[..., 0] > 0).long()
    m = LogisticReadout().fit(X, y)
    assert isinstance(m.coef_, torch.Tensor) and m.coef_.shape == (3, 1, 2)
    acc = m.score(X, y)
    assert acc.shape == (3,)
    for e in range(3):
        s = LogisticReadout().fit(X[e], y[e])
        torch.testing.assert_close(m.coef_[e], s.coef_)
        assert acc[e] == pytest.approx(s.score(X[e], y[e]))
    with pytest.raises(ValueError, match="at least two classes"):
        LogisticReadout().fit(X[0], np.zeros(40))
    with pytest.raises(ValueError, match="C="):
        LogisticReadout(C=0.0).fit(X[0], y[0])
    with pytest.raises(ValueError, match="E=3"):
        m.predict(X[:2])
