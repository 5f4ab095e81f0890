"""Linear regression models against scikit-learn, on every backend, float32 and float64."""

import warnings

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all
from .test_models_common import assert_fitted_on, regression, torch_single_thread  # noqa: F401

sk = optional_module("sklearn.linear_model")


# closed forms agree to rounding; iterative solvers to their (tight) tolerance
TOL = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-4, atol=2e-4)}
ITER_TOL = {"float64": dict(rtol=1e-7, atol=1e-8), "float32": dict(rtol=1e-3, atol=1e-3)}


def _check(model, ref, tol, name):
    assert_close(model.coef_, ref.coef_, **tol, err_msg=f"{name} coef_")
    want = np.broadcast_to(np.asarray(ref.intercept_, dtype=np.float64), tuple(model.intercept_.shape))
    assert_close(model.intercept_, want, **tol, err_msg=f"{name} intercept_")


def test_linear_models_match_sklearn(backend, float_dtype):
    name = dtype_name(float_dtype)
    X, y = regression(n=60, d=4)
    Xb, yb = place_all(backend, X, y, dtype=name)
    tight = name == "float64"
    fits = {
        "lstsq": (M.LinearRegression(), sk.LinearRegression(), TOL),
        "normal": (M.LinearRegression(solver="normal"), sk.LinearRegression(), TOL),
        "gd": (M.LinearRegression(solver="gd", tol=1e-12 if tight else 1e-6, max_iter=5000),
               sk.LinearRegression(), ITER_TOL),
        "ridge": (M.Ridge(alpha=3.0), sk.Ridge(alpha=3.0), TOL),
        "lasso": (M.Lasso(alpha=0.05, tol=1e-13 if tight else 1e-6, max_iter=5000),
                  sk.Lasso(alpha=0.05, tol=1e-14, max_iter=100_000), ITER_TOL),
        "enet": (M.ElasticNet(alpha=0.1, l1_ratio=0.3, tol=1e-13 if tight else 1e-6, max_iter=5000),
                 sk.ElasticNet(alpha=0.1, l1_ratio=0.3, tol=1e-14, max_iter=100_000), ITER_TOL),
    }
    for label, (model, ref, tol) in fits.items():
        model.fit(Xb, yb)
        ref.fit(X, y)
        _check(model, ref, tol[name], label)
        assert_fitted_on(model, backend, float_dtype)
        assert model.coef_.shape == (4,) and model.intercept_.shape == ()
        assert_close(model.predict(Xb), ref.predict(X), **tol[name], err_msg=f"{label} predict")
        assert_close(model.score(Xb, yb), ref.score(X, y), **tol[name], err_msg=f"{label} score")
    assert fits["gd"][0].n_iter_ > 1 and fits["lasso"][0].n_iter_ > 1


def test_lasso_sparsity_and_duality_gap(backend):
    """Strong L1 zeroes coefficients exactly (as scikit-learn); the gap meets the tolerance."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 6))
    y = X[:, 0] * 3.0 - 2.0 * X[:, 1] + 0.1 * rng.normal(size=80)
    Xb, yb = place_all(backend, X, y)
    m = M.Lasso(alpha=0.3, tol=1e-12, max_iter=5000).fit(Xb, yb)
    ref = sk.Lasso(alpha=0.3, tol=1e-14, max_iter=100_000).fit(X, y)
    coef = backend.to_numpy(m.coef_)
    np.testing.assert_array_equal(coef == 0, ref.coef_ == 0)
    assert (coef == 0).sum() >= 3
    _check(m, ref, ITER_TOL["float64"], "lasso")
    gap = float(backend.to_numpy(m.dual_gap_))
    assert -1e-15 <= gap <= 1e-12 * np.sum((y - y.mean()) ** 2) / 80


def test_multi_target_and_no_intercept(backend):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 3))
    Y = X @ rng.normal(size=(3, 2)) + rng.normal(size=(1, 2)) + 0.1 * rng.normal(size=(50, 2))
    Xb, Yb = place_all(backend, X, Y)
    for model, ref, tol in [
        (M.LinearRegression(), sk.LinearRegression(), TOL),
        (M.Ridge(alpha=2.0, fit_intercept=False), sk.Ridge(alpha=2.0, fit_intercept=False), TOL),
        (M.Lasso(alpha=0.02, tol=1e-13, max_iter=5000), sk.Lasso(alpha=0.02, tol=1e-14, max_iter=10**5),
         ITER_TOL),
    ]:
        model.fit(Xb, Yb)
        ref.fit(X, Y)
        assert model.coef_.shape == (2, 3) and model.intercept_.shape == (2,)
        _check(model, ref, tol["float64"], type(model).__name__)
        assert_close(model.predict(Xb), ref.predict(X), **tol["float64"])
        assert_close(model.score(Xb, Yb), ref.score(X, Y), **tol["float64"])


@pytest.mark.backends("numpy", "array_api_strict", "torch", "jax")
def test_lstsq_is_minimum_norm_on_rank_deficient_data(backend):
    """A duplicated column: lstsq gives numpy.linalg.lstsq's minimum-norm solution."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 3))
    X = np.concatenate([X, X[:, :1]], axis=1)
    y = rng.normal(size=30)
    w = M.lstsq_solve(*place_all(backend, X, y))
    assert_close(w, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-9, atol=1e-12)
    m = M.LinearRegression().fit(*place_all(backend, X, y))
    assert_close(m.coef_, sk.LinearRegression().fit(X, y).coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.skip_backends(dask="300 raw steps build one ever-growing lazy graph; fit() persists each iteration")
def test_pure_steps_reach_the_closed_forms(backend):
    """Iterating the public one-step functions converges to the closed-form solutions."""
    X, y = regression(n=40, d=3)
    Xc, yc = X - X.mean(0), (y - y.mean())[:, None]
    G, c = Xc.T @ Xc / 40, Xc.T @ yc / 40
    L = np.linalg.eigvalsh(G).max()
    Gb, cb, Lb = place_all(backend, G, c, np.array(L))
    w = backend.xp.zeros_like(cb)
    for _ in range(300):
        w = M.least_squares_gd_step(w, Gb, cb, Lb)
    assert_close(w, np.linalg.solve(G, c), rtol=1e-8, atol=1e-10)
    # FISTA with alpha -> ridge-like check through sklearn's Lasso at the same alpha
    state = M.FistaState(w * 0, w * 0, backend.xp.ones_like(cb[0, :]))
    for _ in range(300):
        state = M.elastic_net_step(state, Gb, cb, Lb, alpha=0.05, l1_ratio=1.0)
    ref = sk.Lasso(alpha=0.05, tol=1e-14, max_iter=10**5, fit_intercept=False).fit(Xc, yc[:, 0])
    assert_close(state.w[:, 0], ref.coef_, rtol=1e-8, atol=1e-10)
    yy = place(backend, np.array([float(yc[:, 0] @ yc[:, 0]) / 40]))
    gap = M.elastic_net_duality_gap(state.w, Gb, cb, yy, alpha=0.05, l1_ratio=1.0)
    assert abs(float(backend.to_numpy(gap)[0])) < 1e-12  # 0 up to rounding


def test_gd_warns_when_not_converged():
    X, y = regression()
    with pytest.warns(M.ConvergenceWarning, match=r"LinearRegression\(solver='gd'\) did not converge"):
        M.LinearRegression(solver="gd", max_iter=3).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.LinearRegression(solver="gd", max_iter=5000).fit(X, y)


# ------------------------------------------------- scikit-learn's toy problems (test_coordinate_descent.py)
_TOY_X, _TOY_Y, _TOY_T = np.array([[-1.0], [0.0], [1.0]]), np.array([-1.0, 0.0, 1.0]), np.array([[2.0], [3.0], [4.0]])


@pytest.mark.parametrize("alpha, coef, pred", [
    (1e-8, 1.0, [2, 3, 4]), (0.1, 0.85, [1.7, 2.55, 3.4]), (0.5, 0.25, [0.5, 0.75, 1.0]), (1.0, 0.0, [0, 0, 0])])
def test_lasso_toy_as_scikit_learn(backend, alpha, coef, pred):
    """scikit-learn's test_lasso_toy, at the default tol, to 1e-6 (was 0.2450980 for 0.25, 0.8496732 for 0.85)."""
    X, y, T = place_all(backend, _TOY_X, _TOY_Y, _TOY_T)
    m = M.Lasso(alpha=alpha).fit(X, y)
    ref = sk.Lasso(alpha=alpha).fit(_TOY_X, _TOY_Y)
    assert_close(m.coef_, np.array([coef]), rtol=0, atol=1e-6)
    assert_close(m.coef_, ref.coef_, rtol=0, atol=1e-6)
    assert_close(m.predict(T), np.array(pred, dtype=np.float64), rtol=0, atol=1e-6)
    assert abs(float(backend.to_numpy(m.dual_gap_))) < 1e-6


@pytest.mark.parametrize("alpha, l1_ratio, coef", [(1e-8, 1.0, 1.0), (0.5, 0.3, 0.50819672), (0.5, 0.5, 0.45454545)])
def test_enet_toy_as_scikit_learn(backend, alpha, l1_ratio, coef):
    """scikit-learn's test_enet_toy (which checks 3 decimals), here to 1e-6 against scikit-learn itself."""
    X, y, T = place_all(backend, _TOY_X, _TOY_Y, _TOY_T)
    m = M.ElasticNet(alpha=alpha, l1_ratio=l1_ratio).fit(X, y)
    ref = sk.ElasticNet(alpha=alpha, l1_ratio=l1_ratio).fit(_TOY_X, _TOY_Y)
    assert_close(m.coef_, ref.coef_, rtol=0, atol=1e-6)
    assert_close(m.coef_, np.array([coef]), rtol=0, atol=1e-6)
    assert_close(m.predict(T), ref.predict(_TOY_T), rtol=0, atol=1e-6)
    assert abs(float(backend.to_numpy(m.dual_gap_))) < 1e-6


@pytest.mark.parametrize("shape", [(50, 8), (30, 60)])
def test_lasso_at_default_tol_is_as_close_to_the_solution_as_scikit_learn(shape):
    """With the same default tol, our coefficients are no farther from the exact solution than scikit-learn's."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape)
    y = X[:, :5] @ np.ones(5) + 0.1 * rng.normal(size=shape[0])
    for alpha in (0.01, 0.1, 0.5):
        exact = sk.Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(X, y).coef_
        ours = np.max(np.abs(M.Lasso(alpha=alpha, max_iter=10_000).fit(X, y).coef_ - exact))
        theirs = np.max(np.abs(sk.Lasso(alpha=alpha).fit(X, y).coef_ - exact))
        assert ours <= max(theirs, 1e-6), (alpha, ours, theirs)


@pytest.mark.parametrize("cls, kw", [(M.Lasso, {}), (M.ElasticNet, {"l1_ratio": 0.4})])
def test_positive_matches_sklearn(backend, float_dtype, cls, kw):
    """positive=True: w >= 0, the same optimum (and the same zero pattern) as scikit-learn's positive fit."""
    name = dtype_name(float_dtype)
    rng = np.random.default_rng(11)
    X = rng.normal(size=(90, 6))
    y = X @ np.array([2.0, -1.5, 0.7, -0.3, 1.0, 0.0]) + 0.5 + 0.1 * rng.normal(size=90)
    f64 = name == "float64"
    m = cls(alpha=0.05, positive=True, tol=1e-12 if f64 else 1e-6, max_iter=5000, **kw).fit(
        *place_all(backend, X, y, dtype=name))
    ref = getattr(sk, cls.__name__)(alpha=0.05, positive=True, tol=1e-14, max_iter=10**5, **kw).fit(X, y)
    assert_fitted_on(m, backend, float_dtype)
    coef = backend.to_numpy(m.coef_)
    assert np.all(coef >= 0) and np.all(ref.coef_[[1, 3]] == 0)
    if f64:
        np.testing.assert_array_equal(coef == 0, ref.coef_ == 0)
        assert float(backend.to_numpy(m.dual_gap_)) <= 1e-11 * np.sum((y - y.mean()) ** 2) / 90
    _check(m, ref, ITER_TOL[name], f"{cls.__name__}(positive=True)")
    unconstrained = cls(alpha=0.05, tol=1e-10, max_iter=5000, **kw).fit(X, y)
    assert (unconstrained.coef_ < 0).sum() >= 2  # the constraint is active on this data


def test_positive_must_be_bool():
    X, y = regression(n=20, d=3)
    with pytest.raises(TypeError, match="positive"):
        M.Lasso(positive="yes").fit(X, y)


# ------------------------------------------------------------------ the in-memory Gram + Cholesky route
def _conditioned(n, d, kappa, seed, gap=False):
    """``X`` (n, d) with singular values graded from 1 to 1/kappa (or all 1 but one, 1/kappa), random bases."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(n, d)))[0]
    V = np.linalg.qr(rng.normal(size=(d, d)))[0]
    s = np.geomspace(1.0, 1.0 / kappa, d) if not gap else np.r_[np.ones(d - 1), 1.0 / kappa]
    return (U * s) @ V.T


@pytest.mark.parametrize("gap", [False, True])
@pytest.mark.parametrize("d", [5, 40, 120])
def test_cholesky_condition_estimate_is_a_lower_bound_within_10d(d, gap):
    """The estimate behind the route choice, (max L_ii / min L_ii)^2 of the equilibrated Gram matrix,
    never exceeds its true condition number and falls short of it by less than 10 d (graded and
    gapped spectra, random singular bases): the route threshold divides by d for that reason."""
    from portable_ml.models import linear

    for kappa in (1e1, 1e3, 1e5):
        X = _conditioned(4 * d, d, kappa, seed=d)
        G = X.T @ X
        s = 1.0 / np.sqrt(np.diag(G))
        A = s[:, None] * G * s[None, :]
        ld = np.diag(np.linalg.cholesky(A))
        est, true = (ld.max() / ld.min()) ** 2, np.linalg.cond(A)
        assert est <= true * (1 + 1e-6)
        assert true <= 10 * d * est, (kappa, est, true)
        W, ok = linear._cholesky_solve(G, np.ones((d, 1)), 0.0, with_alpha=False)
        assert bool(ok) == (d * est <= np.finfo(np.float64).eps ** -0.5)


def _longdouble_solve(A, b):
    """``A^{-1} b`` by Gaussian elimination with partial pivoting, in long double."""
    d = A.shape[0]
    M_ = np.concatenate([A, b[:, None]], axis=1)
    for k in range(d):
        p = k + int(np.argmax(np.abs(M_[k:, k])))
        M_[[k, p]] = M_[[p, k]]
        M_[k + 1:] -= np.outer(M_[k + 1:, k] / M_[k, k], M_[k])
    w = np.zeros(d, dtype=np.longdouble)
    for k in range(d - 1, -1, -1):
        w[k] = (M_[k, d] - M_[k, k + 1:d] @ w[k + 1:]) / M_[k, k]
    return w


def _longdouble_lstsq(X, y):
    """Least squares of the exact float64 ``X``, ``y`` in extended precision (x87 long double, 64-bit
    significand): NumPy's float64 lstsq refined three times by the normal equations of the residual,
    all in long double; each refinement gains a factor kappa^2 * 1e-19 <= 1e-7 (kappa <= 1e6)."""
    Xl, yl = X.astype(np.longdouble), y.astype(np.longdouble)
    A = Xl.T @ Xl
    w = np.linalg.lstsq(X, y, rcond=None)[0].astype(np.longdouble)
    for _ in range(3):
        w = w + _longdouble_solve(A, Xl.T @ (yl - Xl @ w))
    return w


@pytest.mark.backends("numpy", "array_api_strict", "torch", "jax")
def test_ill_conditioned_X_takes_the_accurate_route(backend, monkeypatch):
    """kappa(X) = 1e6: the normal equations in float64 would lose kappa^2 eps ~ 1e-4; the fit detects
    the conditioning and solves through the QR factor instead, within a few kappa * eps of an
    extended-precision reference (as scikit-learn's SVD-based lstsq).  Well-conditioned X takes the
    Cholesky route and meets the same reference to rounding."""
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        pytest.skip("no extended precision long double on this platform")
    from portable_ml.models import linear

    routes = []
    real = linear._try_cholesky
    monkeypatch.setattr(linear, "_try_cholesky", lambda *a, **k: routes.append(real(*a, **k)) or routes[-1])
    n, d = 200, 8
    rng = np.random.default_rng(7)
    for kappa, cholesky in ((1e6, False), (10.0, True)):
        X = _conditioned(n, d, kappa, seed=3) * 5.0
        y = X @ rng.normal(size=d)  # consistent: the error bound is kappa * eps (no kappa^2 residual term)
        Xc, yc = X - X.mean(0), y - y.mean()
        ref = np.asarray(_longdouble_lstsq(Xc, yc), dtype=np.float64)
        m = M.LinearRegression().fit(*place_all(backend, X, y))
        err = np.linalg.norm(backend.to_numpy(m.coef_) - ref) / np.linalg.norm(ref)
        assert (routes[-1] is not None) == cholesky
        assert err <= 50 * kappa * np.finfo(np.float64).eps, (kappa, err)
        # ridge with a penalty too small to help: the same choice, against the augmented reference
        alpha = 1e-10
        aug_X, aug_y = np.concatenate([Xc, np.sqrt(alpha) * np.eye(d)]), np.r_[yc, np.zeros(d)]
        ref = np.asarray(_longdouble_lstsq(aug_X, aug_y), dtype=np.float64)
        r = M.Ridge(alpha=alpha).fit(*place_all(backend, X, y))
        err = np.linalg.norm(backend.to_numpy(r.coef_) - ref) / np.linalg.norm(ref)
        assert (routes[-1] is not None) == cholesky
        assert err <= 50 * kappa * np.finfo(np.float64).eps, (kappa, err)


@pytest.mark.backends("numpy", "jax", "torch")
def test_gram_route_reports_non_finite_input_and_falls_back_on_overflow(backend):
    X, y = regression(n=40, d=3)
    bad = X.copy()
    bad[5, 1] = np.inf
    for cls in (M.LinearRegression, M.Ridge, M.Lasso):
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            cls().fit(*place_all(backend, bad, y))
        with pytest.raises(ValueError, match="y contains NaN or infinity"):
            cls().fit(*place_all(backend, X, np.where(np.arange(40) == 3, np.nan, y)))
    # finite data whose squares overflow float64: the QR factor route still solves it
    big = X * 1e160
    m = M.LinearRegression().fit(*place_all(backend, big, y))
    assert_close(m.coef_, sk.LinearRegression().fit(X, y).coef_ / 1e160, rtol=1e-8)
