"""sample_weight on fit and class_weight on the classifiers, against scikit-learn's weighted fits."""

import warnings

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place_all
from .test_models_common import assert_fitted_on, torch_single_thread  # noqa: F401

make_classification = optional_module("sklearn.datasets").deferred("make_classification")
make_regression = optional_module("sklearn.datasets").deferred("make_regression")
SkLogistic = optional_module("sklearn.linear_model").deferred("LogisticRegression")


ALPHA = 0.05
TOL = {"float64": dict(rtol=1e-8, atol=1e-9), "float32": dict(rtol=2e-3, atol=2e-4)}


def _binary():
    X, y = make_classification(200, 4, n_informative=3, n_redundant=0, random_state=0, weights=[0.7])
    return X, np.where(y == 1, 7, 3), np.random.default_rng(0).uniform(0.0, 3.0, 200)


def _multi():
    X, y = make_classification(240, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=1)
    return X, np.array([2, 5, 9])[y], np.random.default_rng(1).uniform(0.0, 3.0, 240)


@pytest.mark.parametrize("class_weight", [None, "balanced", {7: 3.0, 9: 0.5}])
def test_logistic_weights_match_sklearn(backend, float_dtype, class_weight):
    name = dtype_name(float_dtype)
    for (X, y, sw), cls in [(_binary(), M.LogisticRegression), (_multi(), M.SoftmaxRegression)]:
        cw = class_weight if not isinstance(class_weight, dict) else \
            {k: v for k, v in class_weight.items() if k in set(y)}
        ref = SkLogistic(C=1.0 / (len(y) * ALPHA), solver="newton-cholesky", tol=1e-14, class_weight=cw,
                         max_iter=1000).fit(X, y, sample_weight=sw)
        Xb, yb, swb = place_all(backend, X, y, sw, dtype=name)
        m = cls(alpha=ALPHA, tol=1e-10 if name == "float64" else 1e-5, class_weight=cw).fit(Xb, yb,
                                                                                           sample_weight=swb)
        assert_fitted_on(m, backend, float_dtype)
        assert_close(m.coef_, ref.coef_, **TOL[name], err_msg=f"{cls.__name__} {cw} coef_")
        assert_close(m.intercept_, ref.intercept_, **TOL[name], err_msg=f"{cls.__name__} {cw} intercept_")


@pytest.mark.parametrize("solver", ["lbfgs", "gd", "fista"])
@pytest.mark.skip_backends(dask="a Dask pass per iteration; Newton and FISTA on Dask are in test_weights_on_dask")
def test_logistic_weights_every_solver(backend, solver):
    X, y, sw = _binary()
    ref = SkLogistic(C=1.0 / (len(y) * ALPHA), solver="newton-cholesky", tol=1e-14,
                     class_weight="balanced").fit(X, y, sample_weight=sw)
    Xb, yb, swb = place_all(backend, X, y, sw)
    m = M.LogisticRegression(alpha=ALPHA, solver=solver, tol=1e-10, max_iter=5000,
                             class_weight="balanced").fit(Xb, yb, sample_weight=swb)
    assert_close(m.coef_, ref.coef_, rtol=1e-7, atol=1e-8)


def test_weights_are_repetitions(backend):
    """Integer weights equal repeating the rows (the definition of a sample weight) -- with the
    objective divided by the number of rows, alpha scales by n_repeated / n."""
    X, y, _ = _binary()
    reps = np.random.default_rng(2).integers(0, 3, len(y))
    Xr, yr = np.repeat(X, reps, axis=0), np.repeat(y, reps)
    a = M.LogisticRegression(alpha=ALPHA, tol=1e-12).fit(*place_all(backend, Xr, yr))
    Xb, yb, wb = place_all(backend, X, y, reps.astype(float))
    b = M.LogisticRegression(alpha=ALPHA * len(yr) / len(y), tol=1e-12).fit(Xb, yb, sample_weight=wb)
    assert_close(b.coef_, a.coef_, rtol=1e-9, atol=1e-10)
    assert_close(b.intercept_, a.intercept_, rtol=1e-9, atol=1e-10)


def test_weights_on_dask():
    da = pytest.importorskip("dask.array")
    X, y, sw = _binary()
    for solver, tol in [("newton", 1e-10), ("fista", 1e-10)]:
        ref = M.LogisticRegression(alpha=ALPHA, solver=solver, tol=tol, max_iter=3000,
                                   class_weight="balanced").fit(X, y, sample_weight=sw)
        m = M.LogisticRegression(alpha=ALPHA, solver=solver, tol=tol, max_iter=3000, class_weight="balanced").fit(
            da.from_array(X, chunks=64), da.from_array(y, chunks=64), sample_weight=da.from_array(sw, chunks=50))
        assert isinstance(m.coef_, da.Array)
        assert_close(np.asarray(m.coef_), ref.coef_, rtol=1e-10, atol=1e-12)
    Xm, ym, swm = _multi()
    ref = M.SoftmaxRegression(alpha=ALPHA, tol=1e-10, class_weight={5: 2.0}).fit(Xm, ym, sample_weight=swm)
    m = M.SoftmaxRegression(alpha=ALPHA, tol=1e-10, class_weight={5: 2.0}).fit(
        da.from_array(Xm, chunks=64), da.from_array(ym, chunks=64), sample_weight=da.from_array(swm, chunks=80))
    assert_close(np.asarray(m.coef_), ref.coef_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw, fit_kw, err, match", [
    ({}, dict(sample_weight=np.ones(5)), ValueError, r"sample_weight must have shape \(n_samples,\) = \(200,\)"),
    ({}, dict(sample_weight=-np.ones(200)), ValueError, "sample_weight must be finite and non-negative"),
    ({}, dict(sample_weight=np.full(200, np.nan)), ValueError, "sample_weight must be finite and non-negative"),
    (dict(class_weight={4: 2.0}), {}, ValueError, "class_weight names label 4"),
    (dict(class_weight="auto"), {}, ValueError, "class_weight must be None, 'balanced' or a dict"),
])
def test_bad_weights(kw, fit_kw, err, match):
    X, y, _ = _binary()
    with pytest.raises(err, match=match):
        M.LogisticRegression(**kw).fit(X, y, **fit_kw)
