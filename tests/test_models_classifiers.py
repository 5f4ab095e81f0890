"""Logistic/softmax regression, LDA and Gaussian naive Bayes against scikit-learn, on every backend."""

import warnings

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all
from .test_models_common import assert_fitted_on, torch_single_thread  # noqa: F401

make_classification = optional_module("sklearn.datasets").deferred("make_classification")
SkLDA = optional_module("sklearn.discriminant_analysis").deferred("LinearDiscriminantAnalysis")
SkLogistic = optional_module("sklearn.linear_model").deferred("LogisticRegression")
SkGNB = optional_module("sklearn.naive_bayes").deferred("GaussianNB")


ALPHA = 0.05
TOL = {"float64": dict(rtol=1e-8, atol=1e-9), "float32": dict(rtol=2e-4, atol=2e-5)}


def _binary_data():
    X, y = make_classification(200, 4, n_informative=3, n_redundant=0, random_state=0)
    return X, np.where(y == 1, 7, 3)  # labels other than 0/1: classes_ carries them


def _multi_data():
    X, y = make_classification(240, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=1)
    return X, np.array([2, 5, 9])[y]


def _sk_logistic(X, y):
    # C = 1/(n alpha); Newton-Cholesky reaches the optimum to rounding
    return SkLogistic(C=1.0 / (X.shape[0] * ALPHA), solver="newton-cholesky", tol=1e-14, max_iter=1000).fit(X, y)


def _check_classifier(model, ref, X, Xb, y, yb, tol, backend):
    assert_close(model.classes_, ref.classes_)
    assert_close(model.predict_proba(Xb), ref.predict_proba(X), **tol, err_msg="predict_proba")
    assert_close(model.predict_log_proba(Xb), ref.predict_log_proba(X), **{**tol, "atol": 10 * tol["atol"]},
                 err_msg="predict_log_proba")
    pred = backend.to_numpy(model.predict(Xb))
    assert (pred != ref.predict(X)).sum() <= 1, "predictions differ"  # at most a near-tie
    assert backend_of(model.score(Xb, yb)) == backend.name
    assert abs(float(backend.to_numpy(model.score(Xb, yb))) - ref.score(X, y)) <= 1.0 / len(y)


def test_logistic_and_softmax_regression_match_sklearn(backend, float_dtype):
    name = dtype_name(float_dtype)
    tol = TOL[name]
    solver_tol = 1e-10 if name == "float64" else 1e-5
    for data, cls in [(_binary_data(), M.LogisticRegression), (_multi_data(), M.SoftmaxRegression)]:
        X, y = data
        Xb, yb = place_all(backend, X, y, dtype=name)
        model = cls(alpha=ALPHA, tol=solver_tol).fit(Xb, yb)
        ref = _sk_logistic(X, y)
        assert_fitted_on(model, backend, float_dtype)
        assert_close(model.coef_, ref.coef_, **tol, err_msg=f"{cls.__name__} coef_")
        assert_close(model.intercept_, ref.intercept_, **tol, err_msg=f"{cls.__name__} intercept_")
        assert_close(model.decision_function(Xb), ref.decision_function(X), **{**tol, "atol": 10 * tol["atol"]})
        _check_classifier(model, ref, X, Xb, y, yb, tol, backend)
        assert 1 < model.n_iter_ <= 12, "Newton converges in a few steps"


@pytest.mark.parametrize("solver", [
    "lbfgs",
    pytest.param("gd"),
])
@pytest.mark.skip_backends(dask="tens to hundreds of full passes, each a Dask graph (~0.1 s of scheduling); "
                                "Newton covers Dask here, the registry's lbfgs_step/gd_step cases the other steps")
def test_other_solvers_reach_the_same_optimum(backend, solver):
    max_iter = 3000 if solver == "gd" else 200
    tol = 1e-9 if solver == "gd" else 1e-10
    for (X, y), cls in [(_binary_data(), M.LogisticRegression), (_multi_data(), M.SoftmaxRegression)]:
        Xb, yb = place_all(backend, X, y)
        model = cls(alpha=ALPHA, solver=solver, tol=tol, max_iter=max_iter).fit(Xb, yb)
        ref = _sk_logistic(X, y)
        assert_close(model.coef_, ref.coef_, rtol=1e-7, atol=1e-7, err_msg=f"{cls.__name__}/{solver} coef_")
        assert_close(model.intercept_, ref.intercept_, rtol=1e-7, atol=1e-7)


def test_no_intercept_and_strong_penalty(backend):
    X, y = _binary_data()
    Xb, yb = place_all(backend, X, y)
    m = M.LogisticRegression(alpha=2.0, fit_intercept=False, tol=1e-12).fit(Xb, yb)
    ref = SkLogistic(C=1.0 / (200 * 2.0), fit_intercept=False, solver="newton-cholesky", tol=1e-14).fit(X, y)
    assert_close(m.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    assert_close(m.intercept_, np.zeros(1))


def test_softmax_intercepts_are_symmetric(backend):
    X, y = _multi_data()
    m = M.SoftmaxRegression(alpha=ALPHA, tol=1e-12).fit(*place_all(backend, X, y))
    assert abs(float(backend.to_numpy(backend.xp.sum(m.intercept_)))) < 1e-12
    assert np.abs(backend.to_numpy(backend.xp.sum(m.coef_, axis=0))).max() < 1e-10


def test_separable_data_stays_finite(backend):
    """Perfectly separable data with a weak penalty: large scores, no overflow, probabilities in [0, 1]."""
    X = np.concatenate([np.linspace(-3, -1, 10), np.linspace(1, 3, 10)])[:, None]
    y = (X[:, 0] > 0).astype(np.int64)
    Xb, yb = place_all(backend, X, y)
    m = M.LogisticRegression(alpha=1e-6, tol=1e-8).fit(Xb, yb)
    p = backend.to_numpy(m.predict_proba(Xb))
    assert np.all(np.isfinite(p)) and p.min() >= 0 and p.max() <= 1
    assert float(backend.to_numpy(m.score(Xb, yb))) == 1.0
    lp = backend.to_numpy(m.predict_log_proba(place(backend, np.array([[1e4], [-1e4]]))))
    assert np.all(np.isfinite(lp))


def test_pure_logistic_functions_match_jax_grad():
    """Analytic gradients equal jax.grad; the Newton step uses jax.hessian's Hessian (all jitted)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    X, y = _binary_data()
    y01 = (y == 7).astype(np.float64)
    theta = np.random.default_rng(0).normal(size=5) * 0.3
    args = [jnp.asarray(a) for a in (theta, X, y01)]
    assert_close(jax.jit(M.logistic_grad)(*args, ALPHA), jax.jit(jax.grad(M.logistic_objective))(*args, ALPHA),
                 rtol=1e-12, atol=1e-14)
    Xm, ym = _multi_data()
    Y = (ym[:, None] == np.array([2, 5, 9])).astype(np.float64)
    Theta = np.random.default_rng(1).normal(size=(5, 3)) * 0.3
    argm = [jnp.asarray(a) for a in (Theta, Xm, Y)]
    g = jax.jit(M.softmax_grad)(*argm, ALPHA)
    assert_close(g, jax.jit(jax.grad(M.softmax_objective))(*argm, ALPHA), rtol=1e-12, atol=1e-14)
    H = np.asarray(jax.jit(jax.hessian(M.softmax_objective))(*argm, ALPHA)).reshape(15, 15)
    u = np.zeros((5, 3))
    u[-1] = 1 / np.sqrt(3)  # null direction of the loss (a common intercept shift), orthogonal to g
    want = Theta - np.linalg.solve(H + np.outer(u.ravel(), u.ravel()), np.asarray(g).ravel()).reshape(5, 3)
    assert_close(jax.jit(M.softmax_newton_step)(*argm, ALPHA), want, rtol=1e-9, atol=1e-11)


def test_pure_logistic_functions_check_their_arguments(backend):
    """Shapes, dtypes and options are checked before any product: a clear error naming the argument."""
    X, y = _binary_data()
    y01 = (y == 7).astype(np.float64)
    theta = np.zeros(5)
    Xb, yb, tb = place_all(backend, X, y01, theta)
    with pytest.raises(ValueError, match=r"theta must have shape \(5,\): n_features \+ 1"):
        M.logistic_grad(tb[:4], Xb, yb, ALPHA)
    with pytest.raises(ValueError, match=r"theta must have shape \(4,\): n_features for"):
        M.logistic_objective(tb, Xb, yb, ALPHA, fit_intercept=False)
    with pytest.raises(ValueError, match="y must be 1-D"):
        M.logistic_newton_step(tb, Xb, place(backend, np.asarray(0.5)), ALPHA)
    with pytest.raises(ValueError, match=r"y must have one row per sample of X \(200\)"):
        M.logistic_gd_step(tb, Xb, yb[:-1], ALPHA, 1.0)
    with pytest.raises(ValueError, match="lipschitz must be"):
        M.logistic_gd_step(tb, Xb, yb, ALPHA, 0.0)
    with pytest.raises(ValueError, match="alpha must be"):
        M.logistic_objective(tb, Xb, yb, -1.0)
    with pytest.raises(TypeError, match="X: expected an array .* got list"):
        M.softmax_grad(place(backend, np.zeros((5, 3))), X.tolist(), place(backend, np.eye(3)[y % 3]), ALPHA)
    with pytest.raises(ValueError, match="theta and Y must have one column per class"):
        M.softmax_objective(place(backend, np.zeros((5, 2))), Xb, place(backend, np.eye(3)[y % 3]), ALPHA)
    with pytest.raises(TypeError, match="multinomial must be True or False"):
        M.lbfgs_init_state(tb, Xb, yb, ALPHA, multinomial=1)
    with pytest.raises(TypeError, match="complex"):
        M.logistic_grad(tb, place(backend, X.astype(np.complex128)), yb, ALPHA)


# ------------------------------------------------------------------ LDA
def _lda_datasets():
    X3, y3 = _multi_data()
    X2, y2 = _binary_data()
    Xs = X3.copy()
    Xs[:, 2] = 1.5  # a constant feature
    Xs = np.concatenate([Xs, Xs[:, :1] * 2.0], axis=1)  # and a collinear one: singular covariance
    return {"three-class": (X3, y3), "binary": (X2, y2), "singular": (Xs, y3)}


@pytest.mark.parametrize("data", ["three-class", "binary", "singular"])
def test_lda_matches_sklearn(backend, float_dtype, data):
    name = dtype_name(float_dtype)
    tol = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=1e-4, atol=1e-4)}[name]
    X, y = _lda_datasets()[data]
    Xb, yb = place_all(backend, X, y, dtype=name)
    m = M.LinearDiscriminantAnalysis().fit(Xb, yb)
    ref = SkLDA().fit(X, y)
    assert_fitted_on(m, backend, float_dtype)
    for attr in ("means_", "priors_", "xbar_", "coef_", "intercept_"):
        assert_close(getattr(m, attr), getattr(ref, attr), **tol, err_msg=attr)
    assert_close(m.decision_function(Xb), ref.decision_function(X), **tol)
    _check_classifier(m, ref, X, Xb, y, yb, tol, backend)


def test_lda_priors(backend):
    X, y = _multi_data()
    m = M.LinearDiscriminantAnalysis(priors=[0.2, 0.3, 0.5]).fit(*place_all(backend, X, y))
    ref = SkLDA(priors=[0.2, 0.3, 0.5]).fit(X, y)
    assert_close(m.predict_proba(place(backend, X)), ref.predict_proba(X), rtol=1e-9, atol=1e-10)


# ------------------------------------------------------------------ Gaussian naive Bayes
def test_gaussian_nb_matches_sklearn(backend, float_dtype):
    name = dtype_name(float_dtype)
    tol = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}[name]
    for X, y in (_multi_data(), _binary_data()):
        X = X * np.array([1.0, 10.0, 0.1, 3.0]) + np.array([100.0, 0.0, -5.0, 2.0])  # mixed scales, offsets
        Xb, yb = place_all(backend, X, y, dtype=name)
        m = M.GaussianNB().fit(Xb, yb)
        ref = SkGNB().fit(X, y)
        assert_fitted_on(m, backend, float_dtype)
        for attr in ("theta_", "var_", "class_prior_", "class_count_", "epsilon_"):
            assert_close(getattr(m, attr), getattr(ref, attr), **tol, err_msg=attr)
        _check_classifier(m, ref, X, Xb, y, yb, tol, backend)


def test_gaussian_nb_priors_and_smoothing(backend):
    X, y = _multi_data()
    X[:, 3] = 0.0  # zero variance: var_smoothing keeps it finite
    Xb, yb = place_all(backend, X, y)
    m = M.GaussianNB(priors=[0.5, 0.25, 0.25], var_smoothing=1e-6).fit(Xb, yb)
    ref = SkGNB(priors=[0.5, 0.25, 0.25], var_smoothing=1e-6).fit(X, y)
    assert_close(m.var_, ref.var_, rtol=1e-10)
    assert_close(m.predict_proba(Xb), ref.predict_proba(X), rtol=1e-9, atol=1e-12)
    # a single class is allowed (as in scikit-learn): probability 1
    one = M.GaussianNB().fit(Xb, place(backend, np.zeros(X.shape[0], dtype=np.int64)))
    assert_close(one.predict_proba(Xb), np.ones((X.shape[0], 1)))


@pytest.mark.parametrize("multinomial", [False, True])
@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_in_memory_runs_follow_the_public_steps(multinomial, solver):
    """The estimators' runs (scores carried, full step tried first, backtracking in groups) take the
    iterates of the public one-step functions, whose vectorised search tries every step at once."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 4))
    k = 3 if multinomial else 2
    y = (X @ rng.normal(size=(4, k)) * 2 + rng.gumbel(size=(300, k))).argmax(axis=1)
    Y = np.eye(k)[y]
    T = Y if multinomial else Y[:, 1]
    alpha = 0.01
    cls = M.SoftmaxRegression if multinomial else M.LogisticRegression
    theta = np.zeros((5, k) if multinomial else (5,))
    if solver == "lbfgs":
        state = M.lbfgs_init_state(theta, X, T, alpha, multinomial=multinomial)
    for steps in range(1, 6):
        if solver == "lbfgs":
            state = M.lbfgs_step(state, X, T, alpha, multinomial=multinomial)
            theta = state.theta
        else:
            theta = (M.softmax_newton_step if multinomial else M.logistic_newton_step)(theta, X, T, alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = cls(alpha=alpha, solver=solver, tol=0.0, max_iter=steps).fit(X, y)
        got = np.concatenate([np.asarray(m.coef_).T, np.asarray(m.intercept_)[None, :]]) if multinomial \
            else np.r_[np.asarray(m.coef_)[0], np.asarray(m.intercept_)]
        assert_close(got, theta, rtol=1e-9, atol=1e-12, err_msg=f"{solver} after {steps} steps")
