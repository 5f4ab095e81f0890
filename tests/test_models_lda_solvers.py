"""LinearDiscriminantAnalysis's "lsqr" and "eigen" solvers and shrinkage against scikit-learn, on every backend."""

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.models.discriminant import _ledoit_wolf
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all

ledoit_wolf = optional_module("sklearn.covariance").deferred("ledoit_wolf")
SkLDA = optional_module("sklearn.discriminant_analysis").deferred("LinearDiscriminantAnalysis")


def _data(n_per=30, d=4, k=3, seed=0):
    g = np.random.default_rng(seed)
    X = np.concatenate([g.normal(size=(n_per, d)) @ g.normal(size=(d, d)) + 2.0 * i for i in range(k)])
    return X, np.repeat(np.arange(k), n_per)


@pytest.mark.parametrize("solver", ["lsqr", "eigen"])
@pytest.mark.parametrize("shrinkage", [None, "auto", 0.3])
@pytest.mark.parametrize("k", [2, 3])
def test_lda_solvers_match_sklearn(backend, float_dtype, solver, shrinkage, k):
    name = dtype_name(float_dtype)
    tol = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-3, atol=2e-3)}[name]
    X, y = _data(k=k)
    ref = SkLDA(solver=solver, shrinkage=shrinkage).fit(X, y)
    m = M.LinearDiscriminantAnalysis(solver=solver, shrinkage=shrinkage).fit(*place_all(backend, X, y, dtype=name))
    assert dtype_name(m.coef_.dtype) == name
    for attr in ("coef_", "intercept_", "means_", "priors_", "covariance_"):
        assert_close(getattr(m, attr), getattr(ref, attr), **tol, err_msg=attr)
    if solver == "eigen":
        assert_close(m.explained_variance_ratio_, ref.explained_variance_ratio_, **tol)
    Xb = place(backend, X, dtype=name)
    assert_close(m.predict_proba(Xb), ref.predict_proba(X), **tol)
    np.testing.assert_array_equal(np.asarray(backend.to_numpy(m.predict(Xb))), ref.predict(X))


@pytest.mark.parametrize("solver", ["lsqr", "eigen"])
def test_lda_shrinkage_with_more_features_than_samples_and_priors(backend, solver):
    """Few samples, many features: the empirical covariance is singular, the shrunk one is not."""
    g = np.random.default_rng(3)
    X = np.concatenate([g.normal(size=(8, 20)) + i for i in range(3)])
    y = np.repeat([0, 1, 2], 8)
    for shrinkage in ("auto", 0.5):
        ref = SkLDA(solver=solver, shrinkage=shrinkage, priors=[0.2, 0.3, 0.5]).fit(X, y)
        m = M.LinearDiscriminantAnalysis(solver=solver, shrinkage=shrinkage, priors=[0.2, 0.3, 0.5])
        m.fit(*place_all(backend, X, y))
        assert_close(m.coef_, ref.coef_, rtol=1e-8, atol=1e-9)
        assert_close(m.predict_proba(place(backend, X)), ref.predict_proba(X), rtol=1e-8, atol=1e-9)


def test_ledoit_wolf_matches_sklearn(backend, float_dtype):
    name = dtype_name(float_dtype)
    g = np.random.default_rng(4)
    for n, d in ((40, 5), (10, 30), (25, 1)):
        Z = g.normal(size=(n, d)) * g.uniform(0.5, 3.0, d)
        Z = Z - Z.mean(0)
        out = _ledoit_wolf(place(backend, Z, dtype=name), n, xp=backend.xp)
        rtol = 1e-10 if name == "float64" else 1e-4
        assert_close(out, ledoit_wolf(Z)[0], rtol=rtol, atol=rtol)


def test_lda_solver_options_are_checked():
    X, y = _data()
    with pytest.raises(ValueError, match="solver must be one of"):
        M.LinearDiscriminantAnalysis(solver="qr").fit(X, y)
    with pytest.raises(ValueError, match="shrinkage is not supported with solver='svd'"):
        M.LinearDiscriminantAnalysis(shrinkage="auto").fit(X, y)
    with pytest.raises(ValueError, match="shrinkage"):
        M.LinearDiscriminantAnalysis(solver="lsqr", shrinkage=1.5).fit(X, y)
    with pytest.raises(ValueError, match="shrinkage must be one of"):
        M.LinearDiscriminantAnalysis(solver="lsqr", shrinkage="oas").fit(X, y)


@pytest.mark.parametrize("solver", ["lsqr", "eigen"])
def test_lda_singular_covariance(backend, solver):
    """A duplicated feature makes S_w singular: "eigen" raises (scipy.linalg.eigh does too), "lsqr"
    takes the minimum-norm solution as scikit-learn's lstsq; with shrinkage both work."""
    X, y = _data()
    X = np.concatenate([X, X[:, :1]], axis=1)
    if solver == "eigen":
        with pytest.raises(ValueError, match="within-class covariance is singular"):
            M.LinearDiscriminantAnalysis(solver=solver).fit(*place_all(backend, X, y))
    else:
        m = M.LinearDiscriminantAnalysis(solver=solver).fit(*place_all(backend, X, y))
        ref = SkLDA(solver=solver).fit(X, y)
        assert_close(m.coef_, ref.coef_, rtol=1e-6, atol=1e-7)
        assert_close(m.predict_proba(place(backend, X)), ref.predict_proba(X), rtol=1e-7, atol=1e-8)
    m = M.LinearDiscriminantAnalysis(solver=solver, shrinkage=0.1).fit(*place_all(backend, X, y))
    ref = SkLDA(solver=solver, shrinkage=0.1).fit(X, y)
    assert_close(m.predict_proba(place(backend, X)), ref.predict_proba(X), rtol=1e-7, atol=1e-8)
