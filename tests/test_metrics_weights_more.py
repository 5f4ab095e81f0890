"""``sample_weight=`` on the classification, ranking, curve and median-based metrics.

Every weighted result is compared with scikit-learn's weighted namesake on
every backend (float32 and float64), with weights that include zeros and
tied scores; two invariants that need no reference hold on NumPy: unit
weights give the unweighted result, and integer weights give the result on
the samples repeated that many times.
"""

import numpy as np
import pytest

from portable_ml import metrics as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all

skm = optional_module("sklearn.metrics")

EAGER = {"jax", "dask"}  # value checks are skipped there (traced or lazy)


def _weights(rng, n, zeros=5):
    w = rng.uniform(0.0, 2.0, n)
    w[rng.choice(n, zeros, replace=False)] = 0.0
    return w


def _labels(rng, n=300):
    """Class 3 only predicted, class 4 in neither input, class 5 rare."""
    y = rng.choice([0, 1, 2, 5], size=n, p=[0.45, 0.3, 0.2, 0.05])
    yhat = np.where(rng.uniform(size=n) < 0.6, y, rng.choice([0, 1, 3], size=n))
    return y, yhat


def _tol(float_dtype):
    return {"rtol": 2e-5, "atol": 1e-6} if dtype_name(float_dtype) == "float32" else {"rtol": 1e-10, "atol": 1e-12}


def _host(w, float_dtype):
    """The weights as the backend sees them (rounded to the dtype under test), in float64."""
    return np.asarray(w, dtype=dtype_name(float_dtype)).astype(np.float64)


def test_weighted_label_metrics_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(0)
    dt = dtype_name(float_dtype)
    y, yhat = _labels(rng)
    w = _weights(rng, y.size)
    yt, yp, wt = place_all(backend, y.astype(np.float64), yhat.astype(np.float64), w, dtype=dt)
    wh = _host(w, float_dtype)
    t = _tol(float_dtype)
    for adjusted in (False, True):
        assert_close(M.balanced_accuracy(yt, yp, num_classes=6, adjusted=adjusted, sample_weight=wt),
                     skm.balanced_accuracy_score(y, yhat, adjusted=adjusted, sample_weight=wh), **t)
    for weights in (None, "linear", "quadratic"):
        assert_close(M.cohen_kappa(yt, yp, num_classes=6, weights=weights, sample_weight=wt),
                     skm.cohen_kappa_score(y, yhat, labels=list(range(6)), weights=weights, sample_weight=wh), **t)
    assert_close(M.hamming_loss(yt, yp, sample_weight=wt), skm.hamming_loss(y, yhat, sample_weight=wh), **t)
    Y, P = rng.integers(0, 2, (300, 4)), rng.integers(0, 2, (300, 4))
    Yt, Pt = place_all(backend, Y.astype(np.float64), P.astype(np.float64), dtype=dt)
    assert_close(M.hamming_loss(Yt, Pt, sample_weight=wt), skm.hamming_loss(Y, P, sample_weight=wh), **t)
    scores = np.round(rng.normal(size=(300, 6)), 1)  # ties between classes
    st = place(backend, scores, dtype=dt)
    sh = np.asarray(scores, dtype=dt).astype(np.float64)
    for k in (1, 2, 4):
        for normalize in (True, False):
            assert_close(M.top_k_accuracy(yt, st, k=k, normalize=normalize, sample_weight=wt),
                         skm.top_k_accuracy_score(y, sh, k=k, normalize=normalize, labels=list(range(6)),
                                                  sample_weight=wh), **t)


def _scores(rng, n=400):
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    s = np.round(rng.normal(size=n) + y, 1)  # many ties
    return y, s


def test_weighted_ranking_metrics_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(1)
    dt = dtype_name(float_dtype)
    y, s = _scores(rng)
    w = _weights(rng, y.size, zeros=20)
    yt, st, wt = place_all(backend, y, s, w, dtype=dt)
    sh, wh = np.asarray(s, dtype=dt).astype(np.float64), _host(w, float_dtype)
    t = _tol(float_dtype)
    assert_close(M.roc_auc(yt, st, sample_weight=wt), skm.roc_auc_score(y, sh, sample_weight=wh), **t)
    for max_fpr in (0.05, 0.3, 0.99):
        assert_close(M.roc_auc(yt, st, max_fpr=max_fpr, sample_weight=wt),
                     skm.roc_auc_score(y, sh, max_fpr=max_fpr, sample_weight=wh), **t)
    assert_close(M.average_precision(yt, st, sample_weight=wt),
                 skm.average_precision_score(y, sh, sample_weight=wh), **t)
    k = 5
    labels = rng.integers(0, k, 400)
    probs = rng.uniform(0.05, 1.0, (400, k)) + 0.5 * np.eye(k)[labels]
    probs /= probs.sum(1, keepdims=True)
    lt, pt = place_all(backend, labels, probs, dtype=dt)
    ph = np.asarray(probs, dtype=dt).astype(np.float64)
    ph /= ph.sum(1, keepdims=True)
    for average in ("macro", "weighted"):
        assert_close(M.roc_auc(lt, pt, multi_class="ovr", average=average, sample_weight=wt),
                     skm.roc_auc_score(labels, ph, multi_class="ovr", average=average, sample_weight=wh), **t)


def test_weighted_curves_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(2)
    dt = dtype_name(float_dtype)
    y, s = _scores(rng, 200)
    w = _weights(rng, y.size, zeros=30)
    w[np.argmax(s)] = 0.0  # the top score has no weight: it is no threshold for scikit-learn
    yt, st, wt = place_all(backend, y, s, w, dtype=dt)
    sh, wh = np.asarray(s, dtype=dt).astype(np.float64), _host(w, float_dtype)
    t = _tol(float_dtype)
    for drop in (False, True):
        # on Dask the de-duplicated lengths are unknown until computed (documented): compare host copies
        got = [backend.to_numpy(a) for a in M.roc_curve(yt, st, unique=True, drop_intermediate=drop, sample_weight=wt)]
        want = skm.roc_curve(y, sh, drop_intermediate=drop, sample_weight=wh)
        assert tuple(got[0].shape) == want[0].shape, (drop, got[0].shape, want[0].shape)
        assert_close(got[:2], want[:2], **t)
        assert_close(got[2][1:], want[2][1:], **t)
    got = [backend.to_numpy(a) for a in M.precision_recall_curve(yt, st, unique=True, sample_weight=wt)]
    want = skm.precision_recall_curve(y, sh, sample_weight=wh)
    assert tuple(got[2].shape) == want[2].shape
    assert_close(got, want, **t)
    # the fixed-length form: n + 1 points, each the weighted rates of the rule s >= t
    fpr, tpr, thr = M.roc_curve(yt, st, sample_weight=wt)
    assert tuple(fpr.shape) == (201,)
    thr_h = np.r_[np.inf, np.sort(sh)[::-1]]
    pred = (sh[None, :] >= thr_h[:, None]).astype(np.float64)
    pos, neg = y * wh, (1 - y) * wh
    assert_close((fpr, tpr), (pred @ neg / neg.sum(), pred @ pos / pos.sum()), **t)
    precision, recall, _ = M.precision_recall_curve(yt, st, sample_weight=wt)
    pred = (sh[None, :] >= np.sort(sh)[:, None]).astype(np.float64)
    tp, pp = pred @ pos, pred @ wh
    assert_close(precision, np.r_[np.divide(tp, pp, out=np.zeros_like(tp), where=pp != 0), 1.0], **t)
    assert_close(recall, np.r_[tp / pos.sum(), 0.0], **t)


@pytest.mark.parametrize("shape", [(41,), (40, 3)])
def test_weighted_median_metrics_vs_sklearn(backend, float_dtype, shape):
    rng = np.random.default_rng(3)
    dt = dtype_name(float_dtype)
    y, p = rng.normal(size=shape), rng.normal(size=shape)
    yh, ph = (np.asarray(a, dtype=dt).astype(np.float64) for a in (y, p))
    n = shape[0]
    outputs = (1,) if len(shape) == 1 else (shape[1],)
    t = _tol(float_dtype)
    for w in (_weights(rng, n), np.round(rng.uniform(0, 3, n)), np.ones(n), np.r_[np.ones(n - 3), 0.0, 0.0, 0.0]):
        yt, pt, wt = place_all(backend, y, p, w, dtype=dt)
        wh = _host(w, float_dtype)
        got = M.median_absolute_error(yt, pt, multioutput="raw_values", sample_weight=wt)
        assert tuple(got.shape) == outputs
        assert_close(got, np.atleast_1d(skm.median_absolute_error(yh, ph, multioutput="raw_values",
                                                                 sample_weight=wh)), **t)
        assert_close(M.d2_absolute_error(yt, pt, multioutput="raw_values", sample_weight=wt),
                     np.atleast_1d(skm.d2_absolute_error_score(yh, ph, multioutput="raw_values", sample_weight=wh)),
                     **t)
        assert_close(M.d2_absolute_error(yt, pt, sample_weight=wt),
                     skm.d2_absolute_error_score(yh, ph, sample_weight=wh), **t)


def _scalar_metrics(rng):
    """(name, fn(*arrays, sample_weight=None), arrays with the sample axis first)."""
    y, yhat = _labels(rng, 60)
    yb, s = _scores(rng, 60)
    scores = rng.normal(size=(60, 6))
    labels = rng.integers(0, 4, 60)
    labels[:4] = np.arange(4)
    probs = rng.uniform(0.1, 1, (60, 4))
    probs /= probs.sum(1, keepdims=True)
    r, q = rng.normal(size=(60, 2)), rng.normal(size=(60, 2))
    return [
        ("balanced_accuracy", lambda a, b, **k: M.balanced_accuracy(a, b, num_classes=6, **k), (y, yhat)),
        ("cohen_kappa", lambda a, b, **k: M.cohen_kappa(a, b, num_classes=6, weights="quadratic", **k), (y, yhat)),
        ("top_k_accuracy", lambda a, b, **k: M.top_k_accuracy(a, b, k=2, **k), (y, scores)),
        ("hamming_loss", M.hamming_loss, (y, yhat)),
        ("roc_auc", M.roc_auc, (yb, s)),
        ("roc_auc[max_fpr]", lambda a, b, **k: M.roc_auc(a, b, max_fpr=0.4, **k), (yb, s)),
        ("roc_auc[ovr]", lambda a, b, **k: M.roc_auc(a, b, multi_class="ovr", average="weighted", **k),
         (labels, probs)),
        ("average_precision", M.average_precision, (yb, s)),
        ("median_absolute_error", lambda a, b, **k: M.median_absolute_error(a, b, multioutput="raw_values", **k),
         (r, q)),
        ("d2_absolute_error", lambda a, b, **k: M.d2_absolute_error(a, b, multioutput="raw_values", **k), (r, q)),
    ]


def test_unit_weights_are_no_weights():
    rng = np.random.default_rng(4)
    for name, fn, arrays in _scalar_metrics(rng):
        assert_close(fn(*arrays, sample_weight=np.ones(60)), fn(*arrays), rtol=1e-12, atol=1e-14, err_msg=name)


def test_integer_weights_equal_repeated_samples():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 4, 60)
    counts[:6] = 1  # every class of the ovr case keeps a sample
    for name, fn, arrays in _scalar_metrics(rng):
        repeated = [np.repeat(a, counts, axis=0) for a in arrays]
        assert_close(fn(*arrays, sample_weight=counts.astype(np.float64)), fn(*repeated), rtol=1e-12, atol=1e-14,
                     err_msg=name)


def test_weighted_metrics_under_jax_jit():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    rng = np.random.default_rng(6)
    y, s = _scores(rng, 80)
    w = _weights(rng, 80)
    r, q = rng.normal(size=(80, 2)), rng.normal(size=(80, 2))
    labels, yhat = rng.integers(0, 3, 80), rng.integers(0, 3, 80)
    cases = [
        (M.roc_auc, (y, s), {}), (M.roc_auc, (y, s), {"max_fpr": 0.5}), (M.average_precision, (y, s), {}),
        (M.median_absolute_error, (r, q), {}), (M.d2_absolute_error, (r, q), {}),
        (M.balanced_accuracy, (labels, yhat), {"num_classes": 3}), (M.cohen_kappa, (labels, yhat), {"num_classes": 3}),
        (M.hamming_loss, (labels, yhat), {}),
    ]
    for fn, arrays, kw in cases:
        args = [jnp.asarray(a) for a in (*arrays, w)]
        jitted = jax.jit(lambda *a, fn=fn, kw=kw: fn(*a[:-1], sample_weight=a[-1], **kw))(*args)
        assert_close(jitted, fn(*arrays, sample_weight=w, **kw), rtol=1e-12, atol=1e-14, err_msg=fn.__name__)
    curve = jax.jit(lambda a, b, c: M.roc_curve(a, b, sample_weight=c))(*(jnp.asarray(v) for v in (y, s, w)))
    assert_close(curve, M.roc_curve(y, s, sample_weight=w), rtol=1e-12)
    with pytest.raises(ValueError, match="cannot be traced"):
        jax.jit(lambda a, b, c: M.roc_curve(a, b, unique=True, sample_weight=c))(*(jnp.asarray(v) for v in (y, s, w)))


@pytest.mark.parametrize("call, match", [
    (lambda y, s, w: M.roc_auc(y, s, sample_weight=w[:-1]), r"sample_weight must have shape \(n_samples,\)"),
    (lambda y, s, w: M.median_absolute_error(y, s, sample_weight=w[:, None]), "sample_weight"),
    (lambda y, s, w: M.roc_curve(y, s, unique=True, sample_weight=w[:-1]), "sample_weight must have shape"),
    (lambda y, s, w: M.hamming_loss(y, y, sample_weight=np.zeros_like(w)), "nonzero sum"),
    (lambda y, s, w: M.average_precision(y, s, sample_weight=np.where(w > 1, np.inf, w)), "finite"),
])
def test_bad_weights_raise(call, match):
    rng = np.random.default_rng(7)
    y, s = _scores(rng, 30)
    with pytest.raises(ValueError, match=match):
        call(y, s, _weights(rng, 30))


def test_ovo_takes_no_weights_as_sklearn():
    rng = np.random.default_rng(8)
    labels = np.arange(30) % 3
    probs = rng.uniform(0.1, 1, (30, 3))
    probs /= probs.sum(1, keepdims=True)
    with pytest.raises(ValueError, match="one-vs-one"):
        M.roc_auc(labels, probs, multi_class="ovo", sample_weight=np.ones(30))
    with pytest.raises(ValueError, match="sample_weight"):
        skm.roc_auc_score(labels, probs, multi_class="ovo", sample_weight=np.ones(30))
