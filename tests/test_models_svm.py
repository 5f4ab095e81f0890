"""LinearSVC (hinge and squared hinge, one-vs-rest) against scikit-learn, on every backend.

References: the squared hinge against scikit-learn's ``LinearSVC`` at ``C = 1/(n alpha)`` (the
primal TRON solver of liblinear, its one-vs-rest and ``class_weight`` rules included); liblinear
penalises the intercept by ``b^2 / (2 intercept_scaling^2)``, so ``intercept_scaling=1e4`` (the
penalty then moves the optimum by about 1e-11).  The hinge against ``SVC(kernel="linear")``
(libsvm: the same problem, intercept not penalised), one binary problem per class with
liblinear's one-vs-rest weights (checked against ``LinearSVC`` with the squared hinge); without an
intercept on the data and its mirror image.  Besides the coefficients, our objective at our
solution must not exceed the objective at the reference's.
"""

import warnings

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, other_device, place, place_all
from .test_models_common import assert_fitted_on, torch_single_thread  # noqa: F401

_skd = optional_module("sklearn.datasets")
_sksvm = optional_module("sklearn.svm")

ALPHA = 0.05
LOSSES = ["squared_hinge", "hinge"]
# coefficients; the hinge optimum is a kink of a piecewise-linear objective, so in float32 it is
# located only to about 1e-3 (the objective, checked separately, to about 1e-6); in float64 libsvm's
# own solution (tol=1e-12) is off by up to about 1e-6, with a higher objective than ours
TOL = {("squared_hinge", "float64"): dict(rtol=1e-7, atol=1e-8),
       ("hinge", "float64"): dict(rtol=2e-5, atol=3e-6),
       ("squared_hinge", "float32"): dict(rtol=2e-3, atol=2e-4),
       ("hinge", "float32"): dict(rtol=2e-2, atol=5e-3)}
OBJ_TOL = {"float64": 1e-11, "float32": 2e-5}


def _binary(n=120, seed=0):
    X, y = _skd.make_classification(n, 4, n_informative=3, n_redundant=0, random_state=seed, flip_y=0.1)
    return X, np.where(y == 1, 7, 3), np.random.default_rng(seed).uniform(0.2, 3.0, n)


def _multi(n=150, seed=1):
    X, y = _skd.make_classification(n, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=seed)
    return X, np.array([2, 5, 9])[y], np.random.default_rng(seed).uniform(0.2, 3.0, n)


# ------------------------------------------------------------------ independent references
def _ovr_problems(y, sw, class_weight):
    """liblinear's one-vs-rest: (classes, [(y_pm1, weights)]) -- two classes: one problem, classes[1] positive."""
    classes = np.unique(y)
    k = len(classes)
    s = np.ones(len(y)) if sw is None else sw
    if class_weight == "balanced":
        counts = np.array([s[y == c].sum() for c in classes])
        cw = dict(zip(classes, s.sum() / (k * counts)))
    else:
        cw = dict(class_weight or {})
    if k == 2:
        return classes, [(np.where(y == classes[1], 1.0, -1.0), s * np.array([cw.get(v, 1.0) for v in y]))]
    return classes, [(np.where(y == c, 1.0, -1.0), s * np.where(y == c, cw.get(c, 1.0), 1.0)) for c in classes]


def _objective(coef, intercept, X, y_pm1, W, loss):
    """The documented objective in float64 NumPy."""
    z = np.maximum(0.0, 1.0 - y_pm1 * (X @ coef + intercept))
    return np.sum(W * (z * z if loss == "squared_hinge" else z)) / len(y_pm1) + 0.5 * ALPHA * coef @ coef


def _reference(X, y, loss, fit_intercept, sw=None, class_weight=None):
    """(coef (k', d), intercept (k',)) of the reference fit."""
    n = len(y)
    C = 1.0 / (n * ALPHA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # liblinear warns at tol=1e-12 although it is at the optimum
        if loss == "squared_hinge":
            ref = _sksvm.LinearSVC(C=C, loss=loss, dual=loss == "hinge", tol=1e-12, max_iter=100000, random_state=0,
                              fit_intercept=fit_intercept, intercept_scaling=1e4, class_weight=class_weight)
            ref.fit(X, y, sample_weight=sw)
            return ref.coef_, np.broadcast_to(ref.intercept_, (ref.coef_.shape[0],))
        # the hinge: libsvm (liblinear's dual coordinate descent can stall short of the optimum
        # with unequal sample weights); without an intercept on the data and its mirror image
        # (-x_i, -y_i), whose optimal intercept is 0 by symmetry, at C/2 (twice the samples)
        coefs, intercepts = [], []
        for y_pm1, W in _ovr_problems(y, sw, class_weight)[1]:
            if fit_intercept:
                ref = _sksvm.SVC(kernel="linear", C=C, tol=1e-12).fit(X, y_pm1, sample_weight=W)
            else:
                ref = _sksvm.SVC(kernel="linear", C=C / 2, tol=1e-12).fit(np.concatenate([X, -X]),
                                                                   np.concatenate([y_pm1, -y_pm1]),
                                                                   sample_weight=np.concatenate([W, W]))
            coefs.append(ref.coef_[0])
            intercepts.append(ref.intercept_[0] if fit_intercept else 0.0)
        return np.array(coefs), np.array(intercepts)


def _check(model, X, y, loss, fit_intercept, float_dtype, sw=None, class_weight=None):
    name = dtype_name(float_dtype)
    coef, intercept = _reference(X, y, loss, fit_intercept, sw, class_weight)
    got_coef, got_b = np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)
    tol = TOL[(loss, name)]
    label = f"{loss} fit_intercept={fit_intercept} class_weight={class_weight} weighted={sw is not None}"
    assert_close(got_coef, coef, **tol, err_msg=f"coef_ {label}")
    assert_close(got_b, intercept, **tol, err_msg=f"intercept_ {label}")
    for c, (y_pm1, W) in enumerate(_ovr_problems(y, sw, class_weight)[1]):
        mine = _objective(got_coef[c], got_b[c], X, y_pm1, W, loss)
        theirs = _objective(coef[c], intercept[c], X, y_pm1, W, loss)
        assert mine <= theirs + OBJ_TOL[name] * max(1.0, theirs), f"objective {mine} > {theirs} ({label}, problem {c})"


def _fit(backend, X, y, float_dtype, sw=None, **params):
    name = dtype_name(float_dtype)
    Xb, yb = place_all(backend, X, y, dtype=name)
    swb = None if sw is None else place(backend, sw, dtype=name)
    tol = 1e-10 if name == "float64" else 1e-5
    return M.LinearSVC(alpha=ALPHA, tol=tol, **params).fit(Xb, yb, sample_weight=swb), Xb, yb


def _to_np(backend, a):
    return np.asarray(backend.to_numpy(a))


# ------------------------------------------------------------------ against scikit-learn
@pytest.mark.parametrize("loss", LOSSES)
def test_binary_matches_sklearn(backend, float_dtype, loss):
    X, y, _ = _binary()
    for fit_intercept in (True, False):
        model, Xb, yb = _fit(backend, X, y, float_dtype, loss=loss, fit_intercept=fit_intercept)
        assert_fitted_on(model, backend, float_dtype)
        _check(model, X, y, loss, fit_intercept, float_dtype)
        assert model.coef_.shape == (1, 4) and model.intercept_.shape == (1,)
        assert_close(model.classes_, np.array([3, 7]))
        assert isinstance(model.n_iter_, int) and model.n_iter_ >= 1
    # scores, labels and accuracy of the last fit (no intercept), against the reference's
    coef, b = _reference(X, y, loss, False)
    S_ref = X @ coef[0] + b[0]
    pred_ref = np.where(S_ref > 0, 7, 3)
    tol = TOL[(loss, dtype_name(float_dtype))]
    S = model.decision_function(Xb)
    assert backend_of(S) == backend.name and S.shape == (len(y),)
    assert_close(S, S_ref, rtol=tol["rtol"], atol=10 * tol["atol"])
    pred = _to_np(backend, model.predict(Xb))
    assert (pred != pred_ref).sum() <= 1  # at most a near-tie
    score = model.score(Xb, yb)
    assert backend_of(score) == backend.name
    assert abs(float(_to_np(backend, score)) - np.mean(pred_ref == y)) <= 1.0 / len(y)


@pytest.mark.parametrize("loss", LOSSES)
def test_multiclass_matches_sklearn(backend, float_dtype, loss):
    X, y, _ = _multi()
    for fit_intercept in (True, False):
        model, Xb, yb = _fit(backend, X, y, float_dtype, loss=loss, fit_intercept=fit_intercept)
        assert_fitted_on(model, backend, float_dtype)
        _check(model, X, y, loss, fit_intercept, float_dtype)
        assert model.coef_.shape == (3, 4) and model.intercept_.shape == (3,)
    assert_close(model.classes_, np.array([2, 5, 9]))
    S = model.decision_function(Xb)
    assert S.shape == (len(y), 3)
    want = np.array([2, 5, 9])[np.argmax(_to_np(backend, S), axis=1)]
    np.testing.assert_array_equal(_to_np(backend, model.predict(Xb)), want)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("class_weight", [None, "balanced", {5: 3.0, 9: 0.5}])
def test_weights_match_sklearn(backend, float_dtype, loss, class_weight):
    """sample_weight and class_weight; without an intercept against LinearSVC's own multiclass fit
    (its one-vs-rest weighting: the class weight on the class's own samples only), with one against
    the per-problem references."""
    for data in (_binary, _multi):
        X, y, sw = data()
        cw = class_weight if not isinstance(class_weight, dict) else \
            {k: v for k, v in class_weight.items() if k in set(y.tolist())}
        fit_intercept = data is _binary
        model, _, _ = _fit(backend, X, y, float_dtype, sw, loss=loss, fit_intercept=fit_intercept, class_weight=cw)
        assert_fitted_on(model, backend, float_dtype)
        _check(model, X, y, loss, fit_intercept, float_dtype, sw, cw)


def test_sample_weights_are_repetitions(backend):
    """Integer weights equal repeated rows (with alpha scaled by n_repeated / n: the sum is divided by n)."""
    X, y, _ = _binary(60)
    reps = np.random.default_rng(3).integers(0, 3, len(y))
    for loss in LOSSES:
        a = M.LinearSVC(alpha=ALPHA, loss=loss, tol=1e-11).fit(*place_all(backend, np.repeat(X, reps, axis=0),
                                                                      np.repeat(y, reps)))
        Xb, yb, wb = place_all(backend, X, y, reps.astype(float))
        b = M.LinearSVC(alpha=ALPHA * reps.sum() / len(y), loss=loss, tol=1e-11).fit(Xb, yb, sample_weight=wb)
        assert_close(b.coef_, a.coef_, rtol=1e-6, atol=1e-7, err_msg=loss)
        assert_close(b.intercept_, a.intercept_, rtol=1e-6, atol=1e-7, err_msg=loss)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_problems_float64_numpy(seed):
    """More random problems (sizes, strengths, separable or not) against the references, NumPy float64."""
    global ALPHA
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(40, 200)), int(rng.integers(2, 9))
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d)
    y = (X @ rng.normal(size=d) + rng.normal(scale=rng.uniform(0.1, 2.0), size=n) > 0.3).astype(int)
    old, ALPHA = ALPHA, float(10.0 ** rng.uniform(-3, 0))
    try:
        for loss in LOSSES:
            for fit_intercept in (True, False):
                m = M.LinearSVC(alpha=ALPHA, loss=loss, fit_intercept=fit_intercept, tol=1e-10).fit(X, y)
                _check(m, X, y, loss, fit_intercept, np.float64)
    finally:
        ALPHA = old


# ------------------------------------------------------------------ conventions
def test_fitted_on_other_device(backend):
    dev = other_device(backend)
    if dev is None:
        pytest.skip(f"{backend.name} has no second device here")
    X, y, _ = _multi(60)
    model = M.LinearSVC(alpha=ALPHA, loss="hinge").fit(dev.asarray(X), dev.asarray(y))
    assert_fitted_on(model, dev)
    from array_api_compat import device

    assert device(model.predict(dev.asarray(X))) == dev.device


def test_predict_under_jax_jit():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    X, y, _ = _multi(60)
    for Xf, yf in [(X, y), _binary(60)[:2]]:
        model = M.LinearSVC(alpha=ALPHA).fit(jnp.asarray(Xf), jnp.asarray(yf))
        Xj = jnp.asarray(Xf)
        assert_close(jax.jit(model.predict)(Xj), model.predict(Xj))
        assert_close(jax.jit(model.decision_function)(Xj), model.decision_function(Xj), rtol=1e-6)
        assert_close(jax.jit(model.score)(Xj, jnp.asarray(yf)), model.score(Xj, jnp.asarray(yf)))


def test_params_and_repr():
    m = M.LinearSVC(alpha=0.1, loss="hinge")
    assert m.get_params() == {"alpha": 0.1, "loss": "hinge", "fit_intercept": True, "tol": 1e-6, "max_iter": 1000,
                              "class_weight": None}
    assert repr(m) == "LinearSVC(alpha=0.1, loss='hinge')"
    assert m.set_params(alpha=2.0) is m and m.alpha == 2.0


def test_not_converged_warns():
    X, y, _ = _binary()
    with pytest.warns(M.ConvergenceWarning, match="LinearSVC did not converge in max_iter=1"):
        M.LinearSVC(alpha=ALPHA, loss="hinge", max_iter=1).fit(X, y)


def test_hinge_duality_gap_certificate():
    """The documented certificate: the exact hinge objective at the fit is within tol of the
    optimum, below the objective at SVC's solution plus tol (and within it from above)."""
    X, y, _ = _binary(200, seed=5)
    for tol in (1e-4, 1e-7):
        m = M.LinearSVC(alpha=ALPHA, loss="hinge", tol=tol).fit(X, y)
        coef, b = _reference(X, y, "hinge", True)
        ypm = np.where(y == 7, 1.0, -1.0)
        ours = _objective(m.coef_[0], m.intercept_[0], X, ypm, 1.0, "hinge")
        best = _objective(coef[0], b[0], X, ypm, 1.0, "hinge")
        assert ours - best <= tol


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("params, match", [
    ({"loss": "log"}, "loss must be one of"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": -1.0}, "alpha"),
    ({"tol": -1.0}, "tol"),
    ({"max_iter": 0}, "max_iter"),
    ({"class_weight": "auto"}, "class_weight"),
    ({"class_weight": {4: 2.0}}, "not a class"),
])
def test_bad_params(params, match):
    X, y, _ = _binary(30)
    with pytest.raises((ValueError, TypeError), match=match):
        M.LinearSVC(**params).fit(X, y)


def test_bad_input(backend):
    X, y, sw = _binary(30)
    Xb, yb = place_all(backend, X, y)
    m = M.LinearSVC()
    with pytest.raises(M.NotFittedError, match="not fitted"):
        m.predict(Xb)
    with pytest.raises(ValueError, match="at least 2 classes"):
        m.fit(Xb, place(backend, np.zeros(30, dtype=np.int64)))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        m.fit(Xb, place(backend, y[:-1]))
    with pytest.raises(ValueError, match="2-D"):
        m.fit(place(backend, X[:, 0]), yb)
    Xnan = X.copy()
    Xnan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        m.fit(place(backend, Xnan), yb)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        m.fit(Xb, yb, sample_weight=place(backend, sw[:-1]))
    with pytest.raises(ValueError, match="non-negative"):
        m.fit(Xb, yb, sample_weight=place(backend, -sw))
    m.fit(Xb, yb)
    with pytest.raises(ValueError, match="features"):
        m.predict(place(backend, X[:, :3]))


# ------------------------------------------------------------------ the pure cores
def _core_args(seed=0, n=40, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(X @ rng.normal(size=d) + rng.normal(size=n) > 0, 1.0, -1.0)
    return 0.3 * rng.normal(size=d + 1), X, y, rng.uniform(0.5, 2.0, n)


def _np_grad(theta, X, y, loss, sw):
    s = X @ theta[:-1] + theta[-1]
    z = np.maximum(0.0, 1.0 - y * s)
    r = sw * (-y * (z > 0) if loss == "hinge" else -2.0 * y * z) / len(y)
    return np.concatenate([X.T @ r + ALPHA * theta[:-1], [r.sum()]])


@pytest.mark.parametrize("loss", LOSSES)
def test_objective_and_grad_cores(backend, float_dtype, loss):
    theta, X, y, sw = _core_args()
    name = dtype_name(float_dtype)
    args = place_all(backend, theta, X, y, dtype=name)
    swb = place(backend, sw, dtype=name)
    tol = dict(rtol=1e-12, atol=1e-13) if name == "float64" else dict(rtol=1e-5, atol=1e-6)
    f = M.linear_svc_objective(*args, ALPHA, loss=loss, sample_weight=swb)
    assert backend_of(f) == backend.name and f.shape == ()
    assert_close(f, _objective(theta[:-1], theta[-1], X, y, sw, loss), **tol)
    g = M.linear_svc_grad(*args, ALPHA, loss=loss, sample_weight=swb)
    assert_close(g, _np_grad(theta, X, y, loss, sw), **tol)
    g0 = M.linear_svc_grad(args[0][:-1], *args[1:], ALPHA, loss=loss, fit_intercept=False)
    th0 = np.concatenate([theta[:-1], [0.0]])
    assert_close(g0, _np_grad(th0, X, y, loss, np.ones_like(sw))[:-1], **tol)


def test_grad_is_jax_grad():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    theta, X, y, sw = (jnp.asarray(a) for a in _core_args(1))
    for loss in LOSSES:
        want = jax.jit(jax.grad(lambda t: M.linear_svc_objective(t, X, y, ALPHA, loss=loss, sample_weight=sw)))(theta)
        assert_close(M.linear_svc_grad(theta, X, y, ALPHA, loss=loss, sample_weight=sw), want, rtol=1e-12, atol=1e-14)


def test_newton_step_core(backend):
    """A squared-hinge step decreases the objective and, repeated, reaches the fitted solution."""
    theta, X, y, _ = _core_args(2)
    Xb, yb = place_all(backend, X, y)
    th = place(backend, np.zeros_like(theta))
    f0 = M.linear_svc_objective(th, Xb, yb, ALPHA)
    for _ in range(20):
        th = M.linear_svc_newton_step(th, Xb, yb, ALPHA)
    assert float(_to_np(backend, M.linear_svc_objective(th, Xb, yb, ALPHA))) < float(_to_np(backend, f0))
    m = M.LinearSVC(alpha=ALPHA, tol=1e-12).fit(Xb, yb)
    assert_close(th[:-1], m.coef_[0, :], rtol=1e-10, atol=1e-12)
    # hinge: one step on the smoothed objective keeps shape and backend
    h = M.linear_svc_newton_step(th, Xb, yb, ALPHA, loss="hinge", smoothing=0.5)
    assert h.shape == th.shape and backend_of(h) == backend.name
    with pytest.raises(ValueError, match="smoothing"):
        M.linear_svc_newton_step(th, Xb, yb, ALPHA, loss="hinge", smoothing=0.0)
    with pytest.raises(ValueError, match="theta must have shape"):
        M.linear_svc_objective(th[:-1], Xb, yb, ALPHA)
    with pytest.raises(ValueError, match="loss must be one of"):
        M.linear_svc_grad(th, Xb, yb, ALPHA, loss="l1")


def test_calibrated_probabilities():
    """LinearSVC has no probabilities; CalibratedClassifier gives them from its decision_function."""
    for data in (_binary, _multi):
        X, y, _ = data()
        svc = M.LinearSVC(alpha=ALPHA).fit(X, y)
        P = np.asarray(M.CalibratedClassifier(svc).fit(X, y).predict_proba(X))
        assert P.shape == (len(y), len(np.unique(y)))
        assert_close(P.sum(axis=1), np.ones(len(y)), rtol=1e-12)
        assert np.mean(np.unique(y)[np.argmax(P, axis=1)] == y) >= 0.7
