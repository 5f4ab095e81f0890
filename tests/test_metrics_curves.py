"""ROC and precision-recall curves, threshold scores and the best threshold, against scikit-learn.

The fixed-length (traceable) curves are compared with scikit-learn's points
after removing consecutive duplicate points; the compacted forms
(``unique=True``, ``drop_intermediate=True``) directly.
"""

import numpy as np
import pytest

from portable_ml import metrics as M
from portable_ml.backend import backend_of
from portable_ml.testing import dtype_name

from .helpers import optional_module, place, place_all

skm = optional_module("sklearn.metrics")


def host(backend, x):
    return np.asarray(backend.to_numpy(x), dtype=np.float64)


def dedupe(*arrays):
    """Drop points equal to their predecessor in every array (the fixed form's repeated tie points)."""
    stacked = np.stack(arrays)
    a, b = stacked[:, 1:], stacked[:, :-1]
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    keep = np.r_[True, np.any(~same, axis=0)]
    return tuple(a[keep] for a in arrays)


def _data(seed, n=200, decimals=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.round(y + rng.normal(size=n), decimals)  # ties
    return y, s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_curve_fixed_form_vs_sklearn(backend, float_dtype, seed):
    y, s = _data(seed, decimals=[1, 2, 8][seed])
    dt = dtype_name(float_dtype)
    yt, st = place_all(backend, y, s, dtype=dt)
    sh = np.asarray(s, dtype=dt)
    fpr, tpr, thr = M.roc_curve(yt, st)
    for a in (fpr, tpr, thr):
        assert backend_of(a) == backend.name and a.dtype == float_dtype and tuple(a.shape) == (y.size + 1,)
    got = dedupe(host(backend, fpr), host(backend, tpr), host(backend, thr))
    want = skm.roc_curve(y, sh, drop_intermediate=False)
    for g, w, name in zip(got, want, ("fpr", "tpr", "thresholds")):
        np.testing.assert_allclose(g, w, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("drop_intermediate", [False, True])
def test_roc_curve_compact_vs_sklearn(backend, float_dtype, drop_intermediate):
    if backend.name == "dask":
        pytest.skip("compacted curves have unknown Dask lengths; checked separately")
    dt = dtype_name(float_dtype)
    for seed in range(4):
        y, s = _data(seed, n=[5, 50, 200, 400][seed], decimals=[0, 1, 2, 8][seed])
        if y.min() == y.max():
            continue
        got = M.roc_curve(*place_all(backend, y, s, dtype=dt), unique=True, drop_intermediate=drop_intermediate)
        want = skm.roc_curve(y, np.asarray(s, dtype=dt), drop_intermediate=drop_intermediate)
        for g, w, name in zip(got, want, ("fpr", "tpr", "thresholds")):
            np.testing.assert_allclose(host(backend, g), w, rtol=1e-6, err_msg=f"{name} seed={seed}")


def test_precision_recall_curve_vs_sklearn(backend, float_dtype):
    dt = dtype_name(float_dtype)
    for seed in range(3):
        y, s = _data(seed, decimals=[0, 1, 8][seed])
        yt, st = place_all(backend, y, s, dtype=dt)
        want = skm.precision_recall_curve(y, np.asarray(s, dtype=dt))
        p, r, t = M.precision_recall_curve(yt, st)
        assert tuple(p.shape) == (y.size + 1,) and tuple(t.shape) == (y.size,) and p.dtype == float_dtype
        # fixed form: thresholds increasing; a tie group repeats its point, keep its first
        ph, rh, th = host(backend, p), host(backend, r), host(backend, t)
        first = np.r_[True, th[1:] != th[:-1]]
        got = (np.r_[ph[:-1][first], ph[-1]], np.r_[rh[:-1][first], rh[-1]], th[first])
        for g, w, name in zip(got, want, ("precision", "recall", "thresholds")):
            np.testing.assert_allclose(g, w, rtol=1e-6, err_msg=f"{name} seed={seed}")
        if backend.name != "dask":
            got = M.precision_recall_curve(yt, st, unique=True)
            for g, w, name in zip(got, want, ("precision", "recall", "thresholds")):
                np.testing.assert_allclose(host(backend, g), w, rtol=1e-6, err_msg=f"unique {name}")


def test_sklearn_ported_curve_cases(backend):
    """scikit-learn's test_roc_curve_drop_intermediate and test_precision_recall_curve fixtures."""
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_score = np.array([0.0, 0.2, 0.5, 0.6, 0.7, 1.0])
    _, tpr, thr = M.roc_curve(*place_all(backend, y_true, y_score), drop_intermediate=True)
    np.testing.assert_allclose(host(backend, thr), [np.inf, 1.0, 0.7, 0.0])
    y_true = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    y_score = np.array([0.0, 0.1, 0.6, 0.6, 0.7, 0.8, 0.9, 0.6, 0.7, 0.8, 0.9, 0.9, 1.0] + [1.0] * 12)
    _, _, thr = M.roc_curve(*place_all(backend, y_true[:13], y_score[:13]), drop_intermediate=True)
    want = skm.roc_curve(y_true[:13], y_score[:13], drop_intermediate=True)[2]
    np.testing.assert_allclose(host(backend, thr), want)
    p, r, t = M.precision_recall_curve(*place_all(backend, np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])),
                                       unique=True)
    np.testing.assert_allclose(host(backend, p), [0.5, 2 / 3, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(host(backend, r), [1.0, 1.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(host(backend, t), [0.1, 0.35, 0.4, 0.8])


def test_curves_with_one_class_match_sklearn(backend):
    y, s = np.zeros(6, dtype=np.int64), np.array([0.1, 0.3, 0.3, 0.5, 0.9, 0.2])
    yt, st = place_all(backend, y, s)
    fpr, tpr, thr = dedupe(*(host(backend, a) for a in M.roc_curve(yt, st)))
    with pytest.warns(Warning):
        want = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, want[0])
    np.testing.assert_array_equal(np.isnan(tpr), np.isnan(want[1]))
    with pytest.warns(Warning):
        want = skm.precision_recall_curve(y, s)
    p, r, t = M.precision_recall_curve(yt, st)
    np.testing.assert_allclose(host(backend, r)[:-1], 1.0)


def test_threshold_scores_vs_sklearn(backend, float_dtype):
    y, s = _data(5, n=150)
    dt = dtype_name(float_dtype)
    sh = np.asarray(s, dtype=dt).astype(np.float64)
    thresholds = np.r_[np.unique(sh)[::7], sh.min() - 1, sh.max() + 1, 0.05]
    yt, st, tt = place_all(backend, y, s, thresholds, dtype=dt)
    th = np.asarray(thresholds, dtype=dt).astype(np.float64)
    for zd in (0, 1):
        out = M.threshold_scores(yt, st, tt, zero_division=zd)
        for got, ref, name in zip(out, (skm.precision_score, skm.recall_score, skm.f1_score), out._fields):
            assert backend_of(got) == backend.name and got.dtype == float_dtype and tuple(got.shape) == th.shape
            want = [ref(y, (sh >= t).astype(int), zero_division=zd) for t in th]
            np.testing.assert_allclose(host(backend, got), want, rtol=1e-6, err_msg=f"{name} zd={zd}")


@pytest.mark.parametrize("metric", ["f1", "accuracy", "balanced_accuracy", "mcc"])
def test_best_threshold_vs_brute_force_sklearn(backend, float_dtype, metric):
    ref = {"f1": skm.f1_score, "accuracy": skm.accuracy_score, "balanced_accuracy": skm.balanced_accuracy_score,
           "mcc": skm.matthews_corrcoef}[metric]
    dt = dtype_name(float_dtype)
    for seed in range(3):
        y, s = _data(10 + seed, n=120, decimals=[1, 2, 8][seed])
        sh = np.asarray(s, dtype=dt).astype(np.float64)
        cand = np.unique(sh)
        values = np.array([ref(y, (sh >= t).astype(int)) for t in cand])
        best = M.best_threshold(*place_all(backend, y, s, dtype=dt), metric=metric)
        assert best.threshold.dtype == float_dtype and tuple(best.threshold.shape) == ()
        np.testing.assert_allclose(float(host(backend, best.score)), values.max(), rtol=1e-6)
        # ties between thresholds go to the highest one
        want_t = cand[np.flatnonzero(np.isclose(values, values.max(), rtol=1e-9, atol=1e-12))[-1]]
        assert float(host(backend, best.threshold)) == want_t


def test_curves_under_jit_equal_eager():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    y, s = _data(3)
    yt, st = jnp.asarray(y), jnp.asarray(s)
    for fn in (M.roc_curve, M.precision_recall_curve):
        for e, j in zip(fn(yt, st), jax.jit(fn)(yt, st)):
            np.testing.assert_allclose(np.asarray(j), np.asarray(e))
    t = jnp.asarray(np.linspace(-1, 2, 9))
    for e, j in zip(M.threshold_scores(yt, st, t), jax.jit(M.threshold_scores)(yt, st, t)):
        np.testing.assert_allclose(np.asarray(j), np.asarray(e))
    e, j = M.best_threshold(yt, st, metric="mcc"), jax.jit(lambda a, b: M.best_threshold(a, b, metric="mcc"))(yt, st)
    np.testing.assert_allclose(np.asarray(j.threshold), np.asarray(e.threshold))
    with pytest.raises(ValueError, match="data-dependent length"):
        jax.jit(lambda a, b: M.roc_curve(a, b, unique=True))(yt, st)


def test_dask_compact_curves_are_lazy_and_right():
    pytest.importorskip("dask")
    from portable_ml.backend import get_backend

    b = get_backend("dask")
    y, s = _data(4)
    fpr, tpr, thr = M.roc_curve(*place_all(b, y, s), drop_intermediate=True)
    want = skm.roc_curve(y, s, drop_intermediate=True)
    for g, w in zip((fpr, tpr, thr), want):
        np.testing.assert_allclose(np.asarray(g.compute()), w)


def test_curve_errors(backend):
    y, s = place_all(backend, np.array([0, 1, 1, 0]), np.array([0.1, 0.4, 0.3, 0.2]))
    with pytest.raises(TypeError, match="unique"):
        M.roc_curve(y, s, unique=1)
    with pytest.raises(ValueError, match="metric"):
        M.best_threshold(y, s, metric="auc")
    with pytest.raises(ValueError, match="thresholds"):
        M.threshold_scores(y, s, place(backend, np.ones((2, 2))))
    with pytest.raises(ValueError, match="same shape"):
        M.precision_recall_curve(y, place(backend, np.ones(3)))
