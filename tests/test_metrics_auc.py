"""roc_auc's partial area (max_fpr) and multiclass one-vs-rest / one-vs-one against scikit-learn."""

import numpy as np
import pytest

from portable_ml import metrics as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all

skm = optional_module("sklearn.metrics")


@pytest.mark.parametrize("max_fpr", [0.05, 0.3, 0.5, 0.999, 1.0])
def test_partial_auc_vs_sklearn(backend, float_dtype, max_fpr):
    dt = dtype_name(float_dtype)
    for seed, decimals in [(0, 1), (1, 8)]:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, 300)
        s = np.round(y + rng.normal(size=300), decimals)
        got = M.roc_auc(*place_all(backend, y, s, dtype=dt), max_fpr=max_fpr)
        assert backend_of(got) == backend.name and got.dtype == float_dtype and tuple(got.shape) == ()
        assert_close(got, skm.roc_auc_score(y, np.asarray(s, dtype=dt), max_fpr=max_fpr),
                     err_msg=f"decimals={decimals}")


def test_partial_auc_sklearn_fixture(backend):
    """scikit-learn's test_partial_roc_auc_score: perfect and reversed rankings."""
    y = np.array([0, 0, 1, 1])
    for max_fpr in (0.1, 0.5, 0.9):
        got = M.roc_auc(*place_all(backend, y, np.array([0.1, 0.2, 0.8, 0.9])), max_fpr=max_fpr)
        assert float(backend.to_numpy(got)) == pytest.approx(1.0)
        got = M.roc_auc(*place_all(backend, y, np.array([0.9, 0.8, 0.2, 0.1])), max_fpr=max_fpr)
        assert float(backend.to_numpy(got)) == pytest.approx(skm.roc_auc_score(y, [0.9, 0.8, 0.2, 0.1],
                                                                                max_fpr=max_fpr))


def _probabilities(rng, n, k, decimals=None):
    y = np.r_[np.arange(k), rng.integers(0, k, n - k)]
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    if decimals is not None:  # ties within columns; the last column keeps the rows summing to 1
        p[:, :-1] = np.round(p[:, :-1], decimals)
        p[:, -1] = 1.0 - p[:, :-1].sum(1)
        p = np.clip(p, 0, 1)
    return y, p


@pytest.mark.parametrize("multi_class", ["ovr", "ovo"])
@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_multiclass_auc_vs_sklearn(backend, float_dtype, multi_class, average):
    dt = dtype_name(float_dtype)
    for k, decimals in [(3, 1), (5, None)]:
        rng = np.random.default_rng(k)
        y, p = _probabilities(rng, 200, k, decimals)
        ph = np.asarray(p, dtype=dt).astype(np.float64)  # both sides see the same values and ties
        got = M.roc_auc(*place_all(backend, y, p, dtype=dt), multi_class=multi_class, average=average)
        assert backend_of(got) == backend.name and got.dtype == float_dtype and tuple(got.shape) == ()
        want = skm.roc_auc_score(y, ph, multi_class=multi_class, average=average)
        assert_close(got, want, rtol=1e-5 if dt == "float32" else None, err_msg=f"k={k}")


def test_multiclass_auc_sklearn_fixture(backend):
    """scikit-learn's test_multiclass_ovo_roc_auc_toydata (Hand & Till) value."""
    y = np.array([0, 1, 0, 2])
    p = np.array([[0.1, 0.8, 0.1], [0.3, 0.4, 0.3], [0.35, 0.5, 0.15], [0, 0.2, 0.8]])
    # pairs (0,1): A(0|1) = 0.5, A(1|0) = 0 -> 0.25; (0,2): 1 and 1; (1,2): 1 and 1
    got = M.roc_auc(*place_all(backend, y, p), multi_class="ovo")
    np.testing.assert_allclose(float(backend.to_numpy(got)), (0.25 + 1 + 1) / 3, rtol=1e-6)
    np.testing.assert_allclose(float(backend.to_numpy(got)), skm.roc_auc_score(y, p, multi_class="ovo"), rtol=1e-6)


def test_jitted_equals_eager():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    y, p = _probabilities(np.random.default_rng(3), 60, 4)
    yt, pt = jnp.asarray(y), jnp.asarray(p)
    for mc in ("ovr", "ovo"):
        f = jax.jit(lambda a, b, mc=mc: M.roc_auc(a, b, multi_class=mc))
        np.testing.assert_allclose(float(f(yt, pt)), float(M.roc_auc(yt, pt, multi_class=mc)), rtol=1e-6)
    yb, sb = jnp.asarray(y % 2), jnp.asarray(p[:, 0])
    f = jax.jit(lambda a, b: M.roc_auc(a, b, max_fpr=0.2))
    np.testing.assert_allclose(float(f(yb, sb)), float(M.roc_auc(yb, sb, max_fpr=0.2)), rtol=1e-6)


def test_errors(backend):
    y, p = _probabilities(np.random.default_rng(0), 20, 3)
    yt, pt = place_all(backend, y, p)
    with pytest.raises(ValueError, match="multi_class='ovr' or 'ovo'"):
        M.roc_auc(yt, pt)
    with pytest.raises(ValueError, match="multi_class must be"):
        M.roc_auc(yt, pt, multi_class="ova")
    with pytest.raises(ValueError, match="average"):
        M.roc_auc(yt, pt, multi_class="ovr", average="micro")
    with pytest.raises(ValueError, match="max_fpr is only defined"):
        M.roc_auc(yt, pt, multi_class="ovr", max_fpr=0.5)
    yb, sb = place_all(backend, y % 2, p[:, 0])
    for bad in (0, -0.1, 1.5, "half"):
        with pytest.raises(ValueError, match="max_fpr"):
            M.roc_auc(yb, sb, max_fpr=bad)
    if backend.name not in ("jax", "dask"):
        with pytest.raises(ValueError, match="sum to 1"):
            M.roc_auc(yt, place(backend, p * 2), multi_class="ovr")
        with pytest.raises(ValueError, match="must occur in y_true"):
            M.roc_auc(place(backend, np.zeros(20, dtype=np.int64)), pt, multi_class="ovo")
