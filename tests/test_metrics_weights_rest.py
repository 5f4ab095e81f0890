"""``sample_weight=`` on the counts, MCC, probability, report, ranking and threshold metrics.

``confusion_counts``, ``confusion_matrix``, ``mcc``, ``log_loss``,
``brier_score``, ``classification_report``, ``ndcg_score``,
``threshold_scores`` and ``best_threshold``: every weighted result is
compared with scikit-learn's weighted namesake on every backend (float32 and
float64), with weights that include zeros, a class only predicted and a class
in neither input.  The threshold metrics have no scikit-learn namesake: they
are compared with scikit-learn's weighted precision, recall, F1, accuracy,
balanced accuracy and MCC at each threshold.  Invariants that need no
reference (unit weights are no weights, integer weights are repeated samples,
zero weights are dropped samples) hold on every backend; the results stay on
the input's backend in its floating dtype, run under ``jax.jit`` and
differentiate under ``jax.grad``; bad weights raise a ``ValueError`` naming
``sample_weight``.
"""

import numpy as np
import pytest

from portable_ml import metrics as M
from portable_ml._xp import array_namespace, device_of
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name
from portable_ml.tree import tree_leaves

from .helpers import optional_module, place_all

skm = optional_module("sklearn.metrics")

K = 6  # classes of the multiclass inputs: 3 only predicted, 4 in neither input


def _weights(rng, n, zeros=5):
    w = rng.uniform(0.0, 2.0, n)
    w[rng.choice(n, zeros, replace=False)] = 0.0
    return w


def _labels(rng, n=300):
    y = rng.choice([0, 1, 2, 5], size=n, p=[0.45, 0.3, 0.2, 0.05])
    yhat = np.where(rng.uniform(size=n) < 0.6, y, rng.choice([0, 1, 3], size=n))
    return y, yhat


def _binary(rng, n=300):
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    yhat = np.where(rng.uniform(size=n) < 0.7, y, 1.0 - y)
    return y, yhat


def _scores(rng, n=300):
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    return y, np.round(rng.normal(size=n) + y, 1)  # many ties


def _probs(rng, n, k):
    p = rng.uniform(0.02, 1.0, (n, k))
    return p / p.sum(1, keepdims=True)


def _tol(float_dtype):
    return {"rtol": 2e-5, "atol": 1e-6} if dtype_name(float_dtype) == "float32" else {"rtol": 1e-10, "atol": 1e-12}


def _host(a, float_dtype):
    """A float array as the backend sees it (rounded to the dtype under test), in float64."""
    return np.asarray(a, dtype=dtype_name(float_dtype)).astype(np.float64)


def _kept(out, backend, float_dtype):
    """Every leaf of ``out`` is an array of ``backend`` in the dtype under test."""
    for leaf in tree_leaves(out):
        assert backend_of(leaf) == backend.name, type(leaf)
        assert dtype_name(leaf.dtype) == dtype_name(float_dtype), leaf.dtype


# ------------------------------------------------------------ against scikit-learn, every backend
def test_weighted_counts_and_mcc_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(0)
    dt = dtype_name(float_dtype)
    t = _tol(float_dtype)
    y, yhat = _binary(rng)
    w = _weights(rng, y.size)
    wh = _host(w, float_dtype)
    # integer labels: the weighted counts take the weights' dtype
    yi, pi = y.astype(np.int64), yhat.astype(np.int64)
    yt, pt, wt = place_all(backend, yi, pi, w, dtype=dt)
    counts = M.confusion_counts(yt, pt, sample_weight=wt)
    _kept(counts, backend, float_dtype)
    tn, fp, fn, tp = skm.confusion_matrix(yi, pi, sample_weight=wh).ravel()
    assert_close(tuple(counts), (tp, tn, fp, fn), **t)
    assert_close(counts.tp, float(wh[(yi == 1) & (pi == 1)].sum()), **t)
    yt, pt, wt = place_all(backend, y, yhat, w, dtype=dt)
    got = M.mcc(yt, pt, sample_weight=wt)
    _kept(got, backend, float_dtype)
    assert_close(got, skm.matthews_corrcoef(y, yhat, sample_weight=wh), **t)
    # a constant prediction: the denominator is 0, MCC 0 as scikit-learn
    assert_close(M.mcc(yt, yt * 0.0, sample_weight=wt), skm.matthews_corrcoef(y, 0 * y, sample_weight=wh), **t)

    lab, lab_hat = _labels(rng)
    lt, lpt, wt = place_all(backend, lab, lab_hat, w, dtype=dt)
    cm = M.confusion_matrix(lt, lpt, K, sample_weight=wt)
    _kept(cm, backend, float_dtype)
    assert tuple(cm.shape) == (K, K)
    assert_close(cm, skm.confusion_matrix(lab, lab_hat, labels=list(range(K)), sample_weight=wh), **t)
    # float labels: the same matrix
    lt, lpt = place_all(backend, lab.astype(np.float64), lab_hat.astype(np.float64), dtype=dt)
    assert_close(M.confusion_matrix(lt, lpt, num_classes=K, sample_weight=wt),
                 skm.confusion_matrix(lab, lab_hat, labels=list(range(K)), sample_weight=wh), **t)


def test_weighted_probability_metrics_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(1)
    dt = dtype_name(float_dtype)
    t = _tol(float_dtype)
    n = 250
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    p = np.clip(rng.uniform(size=n) * 0.8 + 0.2 * y, 0.0, 1.0)
    p[:3] = (0.0, 1.0, 0.5)  # clipped by log_loss
    w = _weights(rng, n)
    yt, pt, wt = place_all(backend, y, p, w, dtype=dt)
    ph, wh = _host(p, float_dtype), _host(w, float_dtype)
    got = M.log_loss(yt, pt, sample_weight=wt)
    _kept(got, backend, float_dtype)
    # scikit-learn clips at the eps of the probabilities' dtype
    want = skm.log_loss(y, np.asarray(p, dtype=dt), sample_weight=np.asarray(w, dtype=dt))
    assert_close(got, want, **t)
    got = M.brier_score(yt, pt, sample_weight=wt)
    _kept(got, backend, float_dtype)
    assert_close(got, skm.brier_score_loss(y, ph, sample_weight=wh), **t)

    labels = rng.integers(0, 4, n)
    labels[:4] = np.arange(4)
    P = _probs(rng, n, 4)
    lt, Pt = place_all(backend, labels, P, dtype=dt)
    Ph = _host(P, float_dtype)
    Ph /= Ph.sum(1, keepdims=True)  # scikit-learn renormalises rows; ours are already sums of 1 +- ulp
    assert_close(M.log_loss(lt, Pt, sample_weight=wt),
                 skm.log_loss(labels, Ph, labels=list(range(4)), sample_weight=wh), **t)
    for half in ("auto", True, False):
        assert_close(M.brier_score(lt, Pt, scale_by_half=half, sample_weight=wt),
                     skm.brier_score_loss(labels, Ph, labels=list(range(4)), scale_by_half=half, sample_weight=wh),
                     **t)


def test_weighted_classification_report_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(2)
    dt = dtype_name(float_dtype)
    y, yhat = _labels(rng)
    w = _weights(rng, y.size)
    yt, pt, wt = place_all(backend, y.astype(np.float64), yhat, w, dtype=dt)
    got = M.classification_report(yt, pt, num_classes=K, sample_weight=wt)
    _kept(got, backend, float_dtype)  # the supports too: sums of weights
    want = skm.classification_report(y, yhat, labels=list(range(K)), output_dict=True, zero_division=0,
                                     sample_weight=_host(w, float_dtype))
    assert set(got) == set(want)
    assert_close(got, want, **_tol(float_dtype))


def test_weighted_ndcg_score_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(3)
    dt = dtype_name(float_dtype)
    rel = rng.integers(0, 4, (40, 7)).astype(np.float64)
    rel[5] = 0.0  # no relevant item: scores 0 and counts in the mean, as scikit-learn
    score = np.round(rng.normal(size=(40, 7)), 1)
    w = _weights(rng, 40)
    rt, st, wt = place_all(backend, rel, score, w, dtype=dt)
    sh, wh = _host(score, float_dtype), _host(w, float_dtype)
    for k in (None, 1, 3, 10):
        got = M.ndcg_score(rt, st, k=k, sample_weight=wt)
        _kept(got, backend, float_dtype)
        assert_close(got, skm.ndcg_score(rel, sh, k=k, sample_weight=wh), **_tol(float_dtype), err_msg=f"k={k}")


_SK_THRESHOLD = {"f1": "f1_score", "accuracy": "accuracy_score", "balanced_accuracy": "balanced_accuracy_score",
                 "mcc": "matthews_corrcoef"}


def _best_threshold_sk(y, s, w, metric):
    fn = getattr(skm, _SK_THRESHOLD[metric])
    cand = np.unique(s[w > 0])
    values = np.array([fn(y, (s >= u).astype(int), sample_weight=w) for u in cand])
    best = np.flatnonzero(values >= values.max() - 1e-12)[-1]
    return cand[best], values[best]


def test_weighted_threshold_metrics_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(4)
    dt = dtype_name(float_dtype)
    t = _tol(float_dtype)
    y, s = _scores(rng, 200)
    w = _weights(rng, y.size, zeros=20)
    top = np.argmax(s)
    s[top] = s.max() + 1.0
    w[top] = 0.0  # a unique top score of zero weight: no candidate of best_threshold
    thresholds = np.r_[np.linspace(-2.0, 2.5, 10), s[top], s[top] + 1.0]
    yt, st, tt, wt = place_all(backend, y, s, thresholds, w, dtype=dt)
    sh, th, wh = _host(s, float_dtype), _host(thresholds, float_dtype), _host(w, float_dtype)
    for zd in (0, 1):
        got = M.threshold_scores(yt, st, tt, zero_division=zd, sample_weight=wt)
        _kept(got, backend, float_dtype)
        want = [np.array([fn(y, (sh >= u).astype(int), zero_division=zd, sample_weight=wh) for u in th])
                for fn in (skm.precision_score, skm.recall_score, skm.f1_score)]
        assert_close(tuple(got), tuple(want), **t, err_msg=f"zero_division={zd}")
    for metric in _SK_THRESHOLD:
        got = M.best_threshold(yt, st, metric=metric, sample_weight=wt)
        _kept(got, backend, float_dtype)
        thr, value = _best_threshold_sk(y, sh, wh, metric)
        assert_close(tuple(got), (thr, value), **t, err_msg=metric)


def test_best_threshold_skips_candidates_of_zero_weight(backend, float_dtype):
    """Rare positives and uninformative scores: "predict nothing" is the most accurate rule.

    The top score (a negative sample's) has zero weight: its rule predicts no
    weighted sample positive, which is no rule of the samples of nonzero
    weight; scikit-learn's answer, and ours, is the best of the others.
    """
    rng = np.random.default_rng(10)
    dt = dtype_name(float_dtype)
    y = np.zeros(60)
    y[rng.choice(59, 6, replace=False)] = 1.0
    s = rng.normal(size=60)
    top = np.argmax(s)
    y[top], y[59] = 0.0, y[top]
    w = rng.uniform(0.5, 2.0, 60)
    w[top] = 0.0
    yt, st, wt = place_all(backend, y, s, w, dtype=dt)
    sh, wh = _host(s, float_dtype), _host(w, float_dtype)
    keep = w > 0
    yk, sk, wk = place_all(backend, y[keep], s[keep], w[keep], dtype=dt)
    for metric in ("accuracy", "f1"):
        got = M.best_threshold(yt, st, metric=metric, sample_weight=wt)
        assert float(backend.to_numpy(got.threshold)) < sh[top], metric
        assert_close(tuple(got), _best_threshold_sk(y, sh, wh, metric), **_tol(float_dtype), err_msg=metric)
        assert_close(tuple(got), tuple(M.best_threshold(yk, sk, metric=metric, sample_weight=wk)),
                     **_tol(float_dtype), err_msg=metric)


# ------------------------------------------------------------ invariants, every backend
def _cases(rng, n=40):
    """``(name, fn(*arrays, sample_weight=None), arrays with the sample axis first)``."""
    yb, pb = _binary(rng, n)
    lab = rng.integers(0, 4, n)
    lab[:4] = np.arange(4)
    lab_hat = rng.integers(0, 4, n)
    p = rng.uniform(0.01, 0.99, n)
    P = _probs(rng, n, 4)
    rel = rng.integers(0, 4, (n, 5)).astype(np.float64)
    score = np.round(rng.normal(size=(n, 5)), 1)
    ys, s = _scores(rng, n)
    thr = np.linspace(-1.5, 2.0, 6)

    def report(a, b, **k):
        r = M.classification_report(a, b, num_classes=4, **k)
        return [r[c][m] for c in ("0", "1", "2", "3", "macro avg", "weighted avg") for m in r[c]] + [r["accuracy"]]

    return [
        ("confusion_counts", lambda a, b, **k: tuple(M.confusion_counts(a, b, **k)), (yb, pb)),
        ("confusion_matrix", lambda a, b, **k: M.confusion_matrix(a, b, 4, **k), (lab, lab_hat.astype(float))),
        ("mcc", M.mcc, (yb, pb)),
        ("log_loss", M.log_loss, (yb, p)),
        ("log_loss[multiclass]", M.log_loss, (lab, P)),
        ("brier_score", M.brier_score, (yb, p)),
        ("brier_score[multiclass]", M.brier_score, (lab, P)),
        ("classification_report", report, (lab, lab_hat.astype(float))),
        ("ndcg_score", lambda a, b, **k: M.ndcg_score(a, b, k=3, **k), (rel, score)),
        ("threshold_scores", lambda a, b, **k: tuple(M.threshold_scores(a, b, _like(thr, b), **k)), (ys, s)),
        *[(f"best_threshold[{m}]", lambda a, b, m=m, **k: tuple(M.best_threshold(a, b, metric=m, **k)), (ys, s))
          for m in _SK_THRESHOLD],
    ]


def _like(host, x):
    """``host`` as an array of ``x``'s namespace and device (also inside ``jax.jit``)."""
    return array_namespace(x).asarray(host, device=device_of(x))


def _on(backend, arrays, fn, **kw):
    return [backend.to_numpy(x) for x in tree_leaves(fn(*place_all(backend, *arrays), **kw))]


def _skip_eager_jax(backend):
    if backend.name == "jax":  # op-by-op dispatch: ~50 s here; the jit test compares JAX with NumPy on these cases
        pytest.skip("JAX runs these cases compiled in test_weighted_metrics_under_jax_jit_and_grad")


def _counts_as_float(out):
    return [np.asarray(x, dtype=np.float64) for x in out]


def test_unit_weights_are_no_weights(backend):
    _skip_eager_jax(backend)
    rng = np.random.default_rng(5)
    for name, fn, arrays in _cases(rng):
        ones = place_all(backend, np.ones(np.shape(arrays[0])[0]))[0]
        assert_close(_on(backend, arrays, fn, sample_weight=ones), _counts_as_float(_on(backend, arrays, fn)),
                     rtol=1e-12, atol=1e-14, err_msg=name)


def test_integer_weights_equal_repeated_samples(backend):
    _skip_eager_jax(backend)
    rng = np.random.default_rng(6)
    cases = _cases(rng)
    counts = rng.integers(0, 4, 40)
    counts[:4] = 1  # every class of the multiclass cases keeps a sample
    for name, fn, arrays in cases:
        repeated = [np.repeat(a, counts, axis=0) for a in arrays]
        weighted = _on(backend, arrays, fn, sample_weight=place_all(backend, counts.astype(np.float64))[0])
        assert_close(weighted, _counts_as_float(_on(backend, repeated, fn)), rtol=1e-12, atol=1e-14, err_msg=name)
    # integer (not floating) weights are the same weights
    name, fn, arrays = cases[1]
    assert_close(_on(backend, arrays, fn, sample_weight=place_all(backend, counts)[0]),
                 _on(backend, arrays, fn, sample_weight=place_all(backend, counts.astype(np.float64))[0]),
                 rtol=0, atol=0, err_msg=name)


def test_zero_weights_equal_dropped_samples(backend):
    _skip_eager_jax(backend)
    rng = np.random.default_rng(7)
    w = _weights(rng, 40, zeros=8)
    w[:4] = 1.0  # every class of the multiclass cases keeps a sample
    keep = w > 0
    for name, fn, arrays in _cases(rng):
        kept = [a[keep] for a in arrays]
        assert_close(_on(backend, arrays, fn, sample_weight=place_all(backend, w)[0]),
                     _on(backend, kept, fn, sample_weight=place_all(backend, w[keep])[0]),
                     rtol=1e-12, atol=1e-14, err_msg=name)


# ------------------------------------------------------------ traced
def test_weighted_metrics_under_jax_jit_and_grad():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    rng = np.random.default_rng(8)
    w = _weights(rng, 40)
    for name, fn, arrays in _cases(rng):
        args = [jnp.asarray(a) for a in (*arrays, w)]
        jitted = jax.jit(lambda *a, fn=fn: fn(*a[:-1], sample_weight=a[-1]))(*args)
        assert_close(jitted, fn(*arrays, sample_weight=w), rtol=1e-12, atol=1e-14, err_msg=name)
    # the weighted log loss and Brier score differentiate in p: w_i / sum(w) times the per-sample derivative
    y = (rng.uniform(size=40) < 0.5).astype(np.float64)
    p = rng.uniform(0.05, 0.95, 40)
    g = jax.grad(lambda q: M.log_loss(jnp.asarray(y), q, sample_weight=jnp.asarray(w)))(jnp.asarray(p))
    assert_close(g, w / w.sum() * ((1 - y) / (1 - p) - y / p), rtol=1e-12, atol=1e-14)
    g = jax.grad(lambda q: M.brier_score(jnp.asarray(y), q, sample_weight=jnp.asarray(w)))(jnp.asarray(p))
    assert_close(g, w / w.sum() * 2.0 * (p - y), rtol=1e-12, atol=1e-14)
    # the weights themselves differentiate too (the mean is a smooth function of them)
    g = jax.grad(lambda v: M.log_loss(jnp.asarray(y), jnp.asarray(p), sample_weight=v))(jnp.asarray(w))
    per = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert_close(g, (per - (w @ per) / w.sum()) / w.sum(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------ bad weights
def _calls():
    """``(name, call(y_binary, scores, w))`` for each function: ``w`` of the sample length."""
    lab = np.arange(30) % 3

    P = np.full((30, 3), 1 / 3)
    rel = np.ones((30, 4))
    return [
        ("confusion_counts", lambda y, s, w: M.confusion_counts(y, y, sample_weight=w)),
        ("confusion_matrix", lambda y, s, w: M.confusion_matrix(lab, lab, 3, sample_weight=w)),
        ("mcc", lambda y, s, w: M.mcc(y, 1 - y, sample_weight=w)),
        ("log_loss", lambda y, s, w: M.log_loss(y, np.full(30, 0.3), sample_weight=w)),
        ("log_loss[multiclass]", lambda y, s, w: M.log_loss(lab, P, sample_weight=w)),
        ("brier_score", lambda y, s, w: M.brier_score(y, np.full(30, 0.3), sample_weight=w)),
        ("classification_report", lambda y, s, w: M.classification_report(lab, lab, num_classes=3, sample_weight=w)),
        ("ndcg_score", lambda y, s, w: M.ndcg_score(rel, np.arange(120.0).reshape(30, 4), sample_weight=w)),
        ("threshold_scores", lambda y, s, w: M.threshold_scores(y, s, np.zeros(3), sample_weight=w)),
        ("best_threshold", lambda y, s, w: M.best_threshold(y, s, sample_weight=w)),
    ]


_NAMES = [name for name, _ in _calls()]


@pytest.mark.parametrize("name", _NAMES)
@pytest.mark.parametrize("bad, match", [
    (lambda w: w[:-1], r"sample_weight must have shape \(n_samples,\) = \(30,\); got \(29,\)"),
    (lambda w: np.stack([w, w], axis=1), "sample_weight"),
    (lambda w: np.where(np.arange(30) == 4, -0.5, w), r"non-negative .*negative weights \(min -0.5\)"),
    (lambda w: np.where(np.arange(30) == 4, np.nan, w), "sample_weight must be finite .*NaN or infinite"),
    (lambda w: np.where(np.arange(30) == 4, np.inf, w), "sample_weight must be finite .*NaN or infinite"),
    (lambda w: 0.0 * w, "sample_weight must be .* nonzero sum; got weights that are all zero"),
], ids=["length", "2-D", "negative", "nan", "inf", "all-zero"])
def test_bad_weights_raise(name, bad, match):
    rng = np.random.default_rng(9)
    y = np.arange(30) % 2
    s = rng.normal(size=30)
    call = dict(_calls())[name]
    call(y, s, _weights(rng, 30))  # the good weights pass
    with pytest.raises(ValueError, match=match):
        call(y, s, bad(_weights(rng, 30)))


def test_weights_of_another_kind_raise():
    y = np.arange(10) % 2
    with pytest.raises(TypeError, match="sample_weight .*got list"):
        M.mcc(y, y, sample_weight=[1.0] * 10)
    with pytest.raises(TypeError, match="sample_weight must be a real"):
        M.confusion_counts(y, y, sample_weight=np.ones(10, dtype=complex))
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="cannot be mixed"):
        M.log_loss(y, np.full(10, 0.5), sample_weight=torch.ones(10))


def test_value_checks_of_weights_are_skipped_when_traced():
    """Under jax.jit the weights are not read (no sync); the shapes still are."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    y = jnp.asarray(np.arange(10) % 2)
    out = jax.jit(lambda w: M.mcc(y, 1 - y, sample_weight=w))(-jnp.ones(10))
    assert np.isfinite(float(out))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(n_samples,\)"):
        jax.jit(lambda w: M.mcc(y, y, sample_weight=w))(jnp.ones(9))
