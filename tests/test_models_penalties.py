"""LogisticRegression / SoftmaxRegression with l1, elastic-net and no penalty against scikit-learn's saga optimum."""

import warnings

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place_all
from .test_models_common import assert_fitted_on, torch_single_thread  # noqa: F401

SkLogistic = optional_module("sklearn.linear_model").deferred("LogisticRegression")


ALPHA = 0.02


def _binary(seed=0, n=160, d=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0).astype(np.int64)
    return X, np.where(y == 1, 4, -1)


def _multi(seed=1, n=150, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.argmax(X @ rng.normal(size=(d, 3)) + 0.5 * rng.normal(size=(n, 3)), axis=1)


def _saga(X, y, penalty, alpha, l1_ratio=0.5):
    """scikit-learn at C = 1/(n alpha), saga run to a very tight tolerance (its optimum)."""
    C = 1.0 / (X.shape[0] * alpha) if penalty is not None else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkLogistic(penalty=penalty, C=C, solver="saga", tol=1e-13, max_iter=500_000,
                          l1_ratio=l1_ratio if penalty == "elasticnet" else None).fit(X, y)


@pytest.mark.parametrize("penalty", ["l1", "elasticnet"])
def test_l1_penalties_match_sklearn_saga(backend, float_dtype, penalty):
    name = dtype_name(float_dtype)
    f64 = name == "float64"
    tol = dict(rtol=1e-7, atol=1e-7) if f64 else dict(rtol=1e-3, atol=3e-4)
    for (X, y), cls in [(_binary(), M.LogisticRegression), (_multi(), M.SoftmaxRegression)]:
        Xb, yb = place_all(backend, X, y, dtype=name)
        m = cls(penalty=penalty, alpha=ALPHA, l1_ratio=0.3, tol=1e-10 if f64 else 1e-5,
                max_iter=5000).fit(Xb, yb)
        ref = _saga(X, y, penalty, ALPHA, l1_ratio=0.3)
        assert_fitted_on(m, backend, float_dtype)
        assert_close(m.coef_, ref.coef_, **tol, err_msg=f"{cls.__name__}/{penalty} coef_")
        assert_close(m.intercept_, ref.intercept_, **tol, err_msg=f"{cls.__name__}/{penalty} intercept_")
        assert_close(m.predict_proba(Xb), ref.predict_proba(X), **tol)
    if penalty == "l1":  # the l1 fit is sparse: an uninformative feature gets an exact zero
        Xz = np.concatenate([X, np.random.default_rng(5).normal(size=(X.shape[0], 1)) * 1e-3], axis=1)
        m = M.SoftmaxRegression(penalty="l1", alpha=ALPHA, tol=1e-8, max_iter=5000).fit(*place_all(backend, Xz, y))
        assert np.all(backend.to_numpy(m.coef_)[:, -1] == 0.0)


@pytest.mark.skip_backends(dask="the l2 path on Dask is covered in test_models_classifiers")
def test_no_penalty_and_elasticnet_limits(backend):
    X, y = _binary(seed=3)
    Xb, yb = place_all(backend, X, y)
    ref = _saga(X, y, None, 0.0)
    m = M.LogisticRegression(penalty=None, alpha=5.0, tol=1e-10).fit(Xb, yb)  # alpha ignored without a penalty
    assert_close(m.coef_, ref.coef_, rtol=1e-6, atol=1e-6)
    # l1_ratio=0 is the l2 fit; l1_ratio=1 is the l1 fit
    l2 = M.LogisticRegression(alpha=ALPHA, tol=1e-12).fit(Xb, yb)
    e0 = M.LogisticRegression(penalty="elasticnet", l1_ratio=0.0, alpha=ALPHA, tol=1e-12).fit(Xb, yb)
    assert_close(e0.coef_, l2.coef_, rtol=1e-12, atol=1e-12)
    l1 = M.LogisticRegression(penalty="l1", alpha=ALPHA, tol=1e-11, max_iter=5000).fit(Xb, yb)
    e1 = M.LogisticRegression(penalty="elasticnet", l1_ratio=1.0, alpha=ALPHA, tol=1e-11, max_iter=5000).fit(Xb, yb)
    assert_close(e1.coef_, l1.coef_, rtol=1e-9, atol=1e-9)


def test_l1_without_intercept_matches_sklearn(backend):
    X, y = _binary(seed=4)
    m = M.LogisticRegression(penalty="l1", alpha=ALPHA, fit_intercept=False, tol=1e-10,
                             max_iter=5000).fit(*place_all(backend, X, y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkLogistic(penalty="l1", C=1.0 / (X.shape[0] * ALPHA), solver="saga", fit_intercept=False,
                         tol=1e-13, max_iter=500_000).fit(X, y)
    assert_close(m.coef_, ref.coef_, rtol=1e-7, atol=1e-7)
    assert_close(m.intercept_, np.zeros(1))


@pytest.mark.parametrize("kwargs, match", [
    (dict(penalty="l3"), "penalty"),
    (dict(penalty="elasticnet", l1_ratio=1.5), "l1_ratio"),
    (dict(penalty="elasticnet", l1_ratio="a"), "l1_ratio"),
])
def test_bad_penalty_options(kwargs, match):
    X, y = _binary()
    with pytest.raises(ValueError, match=match):
        M.LogisticRegression(**kwargs).fit(X, y)


def test_l1_rejects_nonfinite_on_dask():
    da = pytest.importorskip("dask.array")
    X, y = _binary()
    X = X.copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.LogisticRegression(penalty="l1").fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))
