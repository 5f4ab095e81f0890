"""GaussianNB: sample_weight and partial_fit against scikit-learn, on every backend (Dask included)."""

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all
from .test_models_common import assert_fitted_on, torch_single_thread  # noqa: F401

make_classification = optional_module("sklearn.datasets").deferred("make_classification")
SkGNB = optional_module("sklearn.naive_bayes").deferred("GaussianNB")


ATTRS = ["theta_", "var_", "class_count_", "class_prior_"]
TOL = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=2e-4, atol=1e-5)}


def _data():
    X, y = make_classification(300, 5, n_informative=3, n_redundant=0, n_classes=3, random_state=0)
    return X, np.array([1, 4, 6])[y], np.random.default_rng(0).uniform(0.0, 3.0, 300)


def _compare(model, ref, Xb, X, tol):
    for a in ATTRS:
        assert_close(getattr(model, a), getattr(ref, a), **tol, err_msg=a)
    assert_close(model.epsilon_, np.asarray(ref.epsilon_), rtol=1e-6, atol=0)
    assert_close(model.predict_proba(Xb), ref.predict_proba(X), **{**tol, "atol": 10 * tol["atol"]})


def test_sample_weight_matches_sklearn(backend, float_dtype):
    name = dtype_name(float_dtype)
    X, y, sw = _data()
    Xb, yb, swb = place_all(backend, X, y, sw, dtype=name)
    m = M.GaussianNB().fit(Xb, yb, sample_weight=swb)
    assert_fitted_on(m, backend, float_dtype)
    _compare(m, SkGNB().fit(X, y, sample_weight=sw), Xb, X, TOL[name])


@pytest.mark.parametrize("weighted", [False, True])
def test_partial_fit_matches_sklearn_and_the_one_shot_fit(backend, weighted):
    X, y, sw = _data()
    sw = sw if weighted else None
    ref, m = SkGNB(), M.GaussianNB()
    cuts = [0, 90, 95, 300]  # the middle batch lacks classes
    for a, b in zip(cuts[:-1], cuts[1:]):
        w = None if sw is None else sw[a:b]
        ref.partial_fit(X[a:b], y[a:b], classes=[1, 4, 6], sample_weight=w)
        Xb, yb, wb = place_all(backend, X[a:b], y[a:b], w)
        m.partial_fit(Xb, yb, classes=[1, 4, 6], sample_weight=wb)
    assert_fitted_on(m, backend, np.float64)
    # scikit-learn subtracts the *new* epsilon from the old variances: a var_smoothing-sized drift
    _compare(m, ref, place(backend, X), X, dict(rtol=1e-9, atol=1e-10))
    once = M.GaussianNB().fit(*place_all(backend, X, y), sample_weight=place(backend, sw) if weighted else None)
    assert_close(m.theta_, once.theta_, rtol=1e-12, atol=1e-13)
    # the variances differ only by epsilon (from the last batch vs the whole data)
    assert_close(m.var_ - m.epsilon_, once.var_ - once.epsilon_, rtol=1e-11, atol=1e-13)


def test_partial_fit_errors():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        M.GaussianNB().partial_fit(X, y)
    m = M.GaussianNB().partial_fit(X, y, classes=[1, 4, 6])
    with pytest.raises(ValueError, match="not in classes"):
        m.partial_fit(X, np.where(y == 1, 2, y))
    with pytest.raises(ValueError, match="features"):
        m.partial_fit(X[:, :3], y)
    with pytest.raises(ValueError, match="not in classes"):
        M.GaussianNB().partial_fit(X, y, classes=[1, 4])
