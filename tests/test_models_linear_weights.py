"""sample_weight on the linear models, Lasso/ElasticNet(positive=True) and warm_start, against scikit-learn."""

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place_all
from .test_models_common import assert_fitted_on, torch_single_thread  # noqa: F401

L = optional_module("sklearn.linear_model")
make_regression = optional_module("sklearn.datasets").deferred("make_regression")


TOL = {"float64": dict(rtol=1e-8, atol=1e-8), "float32": dict(rtol=2e-3, atol=2e-3)}
MODELS = [
    ("LinearRegression", {}),
    ("Ridge", dict(alpha=3.0)),
    ("Lasso", dict(alpha=0.5, tol=1e-10, max_iter=100000)),
    ("ElasticNet", dict(alpha=0.5, l1_ratio=0.3, tol=1e-10, max_iter=100000)),
]


def _data():
    X, y = make_regression(150, 5, n_informative=4, noise=5.0, random_state=0)
    return X, y / 50.0, np.random.default_rng(0).uniform(0.0, 3.0, 150)


@pytest.mark.parametrize("name, kw", MODELS, ids=[m[0] for m in MODELS])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sample_weight_matches_sklearn(backend, float_dtype, name, kw, fit_intercept):
    dt = dtype_name(float_dtype)
    X, y, sw = _data()
    if dt == "float32" and "tol" in kw:
        kw = {**kw, "tol": 1e-6}
    ref = getattr(L, name)(fit_intercept=fit_intercept, **kw).fit(X, y, sample_weight=sw)
    Xb, yb, swb = place_all(backend, X, y, sw, dtype=dt)
    m = getattr(M, name)(fit_intercept=fit_intercept, **kw).fit(Xb, yb, sample_weight=swb)
    assert_fitted_on(m, backend, float_dtype)
    assert_close(m.coef_, ref.coef_, **TOL[dt], err_msg=f"{name} coef_")
    assert_close(m.intercept_, np.asarray(ref.intercept_), **TOL[dt], err_msg=f"{name} intercept_")


@pytest.mark.parametrize("name, kw", MODELS, ids=[m[0] for m in MODELS])
def test_integer_weights_are_repetitions(name, kw):
    """Weights 0, 1, 2 equal dropping or repeating rows (Lasso/ElasticNet: with their n/sum(s) rescaling
    that is exactly the repeated data's objective)."""
    X, y, _ = _data()
    reps = np.random.default_rng(3).integers(0, 3, len(y))
    a = getattr(M, name)(**kw).fit(np.repeat(X, reps, axis=0), np.repeat(y, reps))
    b = getattr(M, name)(**kw).fit(X, y, sample_weight=reps.astype(float))
    assert_close(b.coef_, a.coef_, rtol=1e-8, atol=1e-9)
    assert_close(b.intercept_, a.intercept_, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("cls", ["Lasso", "ElasticNet"])
def test_positive_matches_sklearn(backend, cls):
    X, y, _ = _data()
    y = y - 3.0 * X[:, 0]  # the unconstrained fit has a negative weight
    kw = dict(alpha=0.05, tol=1e-10, max_iter=100000)
    ref = getattr(L, cls)(positive=True, **kw).fit(X, y)
    free = getattr(L, cls)(**kw).fit(X, y)
    assert (free.coef_ < 0).any() and (ref.coef_ == 0).any()
    m = getattr(M, cls)(positive=True, **kw).fit(*place_all(backend, X, y))
    assert_close(m.coef_, ref.coef_, rtol=1e-8, atol=1e-9)
    assert_close(m.intercept_, np.asarray(ref.intercept_), rtol=1e-8, atol=1e-9)
    assert np.all(backend.to_numpy(m.coef_) >= 0)


def test_warm_start_starts_from_the_previous_fit(backend):
    X, y, _ = _data()
    Xb, yb = place_all(backend, X, y)
    m = M.Lasso(alpha=0.1, tol=1e-8, max_iter=100000, warm_start=True).fit(Xb, yb)
    cold_iters = m.n_iter_
    m.fit(Xb, yb)  # from the solution: converged at once
    assert m.n_iter_ <= 2 < cold_iters
    m.set_params(alpha=0.09).fit(Xb, yb)
    ref = L.Lasso(alpha=0.09, tol=1e-12, max_iter=100000).fit(X, y)
    assert_close(m.coef_, ref.coef_, rtol=1e-6, atol=1e-7)
    cold = M.Lasso(alpha=0.1, tol=1e-8, max_iter=100000).fit(Xb, yb)
    cold.fit(Xb, yb)
    assert cold.n_iter_ == cold_iters


def test_bad_positive_and_weights():
    X, y, _ = _data()
    with pytest.raises(TypeError, match="positive must be True or False"):
        M.Lasso(positive="yes").fit(X, y)
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        M.Ridge().fit(X, y, sample_weight=-np.ones(len(y)))
