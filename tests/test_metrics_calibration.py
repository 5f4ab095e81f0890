"""brier_score, calibration_curve and classification_report against scikit-learn, on every backend."""

import math

import numpy as np
import pytest

from portable_ml import metrics as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all

skm = optional_module("sklearn.metrics")
skc = optional_module("sklearn.calibration")


def host(backend, x):
    return np.asarray(backend.to_numpy(x), dtype=np.float64)


def test_brier_score_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(0)
    dt = dtype_name(float_dtype)
    y, p = rng.integers(0, 2, 120), rng.uniform(size=120)
    got = M.brier_score(*place_all(backend, y, p, dtype=dt))
    assert backend_of(got) == backend.name and got.dtype == float_dtype and tuple(got.shape) == ()
    assert_close(got, skm.brier_score_loss(y, np.asarray(p, dtype=dt)), err_msg="binary")
    for k in (2, 3, 5):
        yk, pk = rng.integers(0, k, 90), rng.dirichlet(np.ones(k), 90)
        yt, pt = place_all(backend, yk, pk, dtype=dt)
        for half in ("auto", True, False):
            want = skm.brier_score_loss(yk, np.asarray(pk, dtype=dt), labels=range(k), scale_by_half=half)
            assert_close(M.brier_score(yt, pt, scale_by_half=half), want, err_msg=f"k={k} scale_by_half={half}")
    # scikit-learn's docstring example
    yt, pt = place_all(backend, np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.3]))
    np.testing.assert_allclose(float(host(backend, M.brier_score(yt, pt))), 0.0375, rtol=1e-6)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 4, 10])
def test_calibration_curve_vs_sklearn(backend, float_dtype, strategy, n_bins):
    rng = np.random.default_rng(n_bins)
    dt = dtype_name(float_dtype)
    for decimals in (1, 2, 8):  # probabilities on the bin edges, and between them
        y, p = rng.integers(0, 2, 97), np.round(rng.beta(0.7, 1.5, 97), decimals)
        ph = np.asarray(p, dtype=dt)
        want = skc.calibration_curve(y, ph, n_bins=n_bins, strategy=strategy)
        yt, pt = place_all(backend, y, p, dtype=dt)
        prob_true, prob_pred = M.calibration_curve(yt, pt, n_bins=n_bins, strategy=strategy)
        assert tuple(prob_true.shape) == (n_bins,) and prob_true.dtype == float_dtype
        pt_h, pp_h = host(backend, prob_true), host(backend, prob_pred)
        full = ~np.isnan(pt_h)  # the fixed form marks the empty bins with NaN
        np.testing.assert_array_equal(np.isnan(pp_h), ~full)
        np.testing.assert_allclose(pt_h[full], want[0], rtol=1e-6, err_msg=f"prob_true decimals={decimals}")
        np.testing.assert_allclose(pp_h[full], want[1], rtol=1e-5, err_msg=f"prob_pred decimals={decimals}")
        if backend.name != "dask":
            got = M.calibration_curve(yt, pt, n_bins=n_bins, strategy=strategy, drop_empty=True)
            for g, w in zip(got, want):
                np.testing.assert_allclose(host(backend, g), w, rtol=1e-5)


def test_calibration_curve_sklearn_fixture(backend):
    """scikit-learn's test_calibration_curve values."""
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.0, 0.1, 0.2, 0.8, 0.9, 1.0])
    prob_true, prob_pred = M.calibration_curve(*place_all(backend, y, p), n_bins=2)
    np.testing.assert_allclose(host(backend, prob_true), [0, 1])
    np.testing.assert_allclose(host(backend, prob_pred), [0.1, 0.9])
    prob_true, prob_pred = M.calibration_curve(*place_all(backend, y, p), n_bins=2, strategy="quantile")
    np.testing.assert_allclose(host(backend, prob_true), [0, 1])
    np.testing.assert_allclose(host(backend, prob_pred), [0.1, 0.9])


@pytest.mark.parametrize("num_classes", [None, 5])
def test_classification_report_vs_sklearn(backend, float_dtype, num_classes):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 150)
    yhat = np.where(rng.uniform(size=150) < 0.6, y, rng.integers(0, 5, 150))
    yhat[yhat == 4] = 3  # class 4 never predicted: zero-division paths
    yt, yp = place_all(backend, y.astype(np.float64), yhat, dtype=dtype_name(float_dtype))
    got = M.classification_report(yt, yp, num_classes=num_classes)
    want = skm.classification_report(y, yhat, output_dict=True, zero_division=0)
    assert list(got) == list(want)
    for key, row in want.items():
        if key == "accuracy":
            assert_close(got[key], row, err_msg=key)
            continue
        for field, value in row.items():
            out = got[key][field]
            assert backend_of(out) == backend.name and tuple(out.shape) == (), f"{key} {field}"
            if field == "support":
                assert int(host(backend, out)) == value
            else:
                assert out.dtype == float_dtype
                assert_close(out, value, err_msg=f"{key} {field}")


def test_jitted_equals_eager():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    rng = np.random.default_rng(4)
    y, p = jnp.asarray(rng.integers(0, 2, 60)), jnp.asarray(rng.uniform(size=60))
    for strategy in ("uniform", "quantile"):
        f = jax.jit(lambda a, b, s=strategy: M.calibration_curve(a, b, n_bins=6, strategy=s))
        for e, j in zip(M.calibration_curve(y, p, n_bins=6, strategy=strategy), f(y, p)):
            np.testing.assert_allclose(np.asarray(j), np.asarray(e))
    rep = jax.jit(lambda a, b: M.classification_report(a, b, num_classes=2))(y, (p > 0.5).astype(jnp.int32))
    np.testing.assert_allclose(float(rep["macro avg"]["f1-score"]),
                               float(M.f1(y, (p > 0.5).astype(jnp.int32), average="macro")), rtol=1e-6)
    with pytest.raises(ValueError, match="data-dependent length"):
        jax.jit(lambda a, b: M.calibration_curve(a, b, drop_empty=True))(y, p)


def test_errors(backend):
    y, p = place_all(backend, np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.3]))
    with pytest.raises(ValueError, match="strategy"):
        M.calibration_curve(y, p, strategy="kmeans")
    with pytest.raises(ValueError, match="n_bins must be positive"):
        M.calibration_curve(y, p, n_bins=0)
    with pytest.raises(TypeError, match="n_bins"):
        M.calibration_curve(y, p, n_bins=2.5)
    with pytest.raises(ValueError, match="scale_by_half"):
        M.brier_score(y, p, scale_by_half="yes")
    with pytest.raises(ValueError, match="number of samples"):
        M.brier_score(y, place(backend, np.ones(3) / 2))
    if backend.name not in ("jax", "dask"):
        with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
            M.calibration_curve(y, place(backend, np.array([0.1, 1.5, 0.2, 0.3])))
