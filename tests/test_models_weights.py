"""sample_weight on GaussianNB against scikit-learn's weighted fit, on every backend."""

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place_all
from .test_models_common import assert_fitted_on, torch_single_thread  # noqa: F401

SkGNB = optional_module("sklearn.naive_bayes").deferred("GaussianNB")


def _data(seed=0, n=120, d=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    X = rng.normal(size=(n, d)) + y[:, None] * np.array([1.0, -0.5, 0.2, 0.0])
    return X, np.array([3, 8, 11])[y], rng.uniform(0.0, 3.0, size=n)


def test_gaussian_nb_sample_weight_matches_sklearn(backend, float_dtype):
    name = dtype_name(float_dtype)
    tol = dict(rtol=1e-10, atol=1e-12) if name == "float64" else dict(rtol=2e-4, atol=2e-5)
    X, y, w = _data()
    Xb, yb, wb = place_all(backend, X, y, w, dtype=name)
    m = M.GaussianNB().fit(Xb, yb, sample_weight=wb)
    ref = SkGNB().fit(X, y, sample_weight=w)
    assert_fitted_on(m, backend, float_dtype)
    for attr in ("theta_", "var_", "class_count_", "class_prior_", "epsilon_"):
        assert_close(getattr(m, attr), getattr(ref, attr), **tol, err_msg=attr)
    assert_close(m.predict_proba(Xb), ref.predict_proba(X), **tol)


def test_integer_weights_equal_repeated_rows(backend):
    X, y, _ = _data(seed=1, n=40)
    reps = np.random.default_rng(2).integers(0, 4, size=40)
    reps[:3] = 1  # keep every class present
    Xb, yb, wb = place_all(backend, X, y, reps.astype(np.float64))
    m = M.GaussianNB(var_smoothing=0.0).fit(Xb, yb, sample_weight=wb)
    r = M.GaussianNB(var_smoothing=0.0).fit(*place_all(backend, np.repeat(X, reps, axis=0), np.repeat(y, reps)))
    for attr in ("theta_", "var_", "class_count_", "class_prior_"):
        assert_close(getattr(m, attr), backend.to_numpy(getattr(r, attr)), rtol=1e-10, atol=1e-12, err_msg=attr)


@pytest.mark.parametrize("w, match", [
    (np.ones(5), "shape"),
    (-np.ones(120), "non-negative"),
    (np.zeros(120), "positive sum"),
    (np.full(120, np.nan), "finite"),
])
def test_bad_sample_weight(w, match):
    X, y, _ = _data()
    with pytest.raises(ValueError, match=match):
        M.GaussianNB().fit(X, y, sample_weight=w)
