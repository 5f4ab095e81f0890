"""Metrics against scikit-learn (and float64 NumPy sheet formulas), on every backend.

Inputs are fresh random draws; scores are rounded where ties matter.  float32
runs compare with scikit-learn evaluated on the float32-cast values, so both
sides see the same ties.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portable_ml as pml
from portable_ml import metrics as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all

skm = optional_module("sklearn.metrics")

EAGER = {"jax": "JAX arrays are not read back for value checks", "dask": "lazy: values are not checked"}


def _int_default(backend):
    info = backend.xp.__array_namespace_info__()
    return info.default_dtypes(device=backend.device)["integral"]


def check(out, want, backend, dtype, *, rtol=None, atol=None, err_msg=""):
    """``out`` is a 0-d array of ``backend`` in ``dtype`` and close to ``want``."""
    assert backend_of(out) == backend.name, err_msg
    assert tuple(out.shape) == (), f"{err_msg}: shape {tuple(out.shape)}"
    assert out.dtype == dtype, f"{err_msg}: dtype {out.dtype}, want {dtype}"
    assert_close(out, np.float64(want), rtol=rtol, atol=atol, err_msg=err_msg)


def as_dtype(a, dtype):
    """Host float64 copy of ``a`` as the backend dtype would store it (for references)."""
    return np.asarray(a, dtype=dtype_name(dtype)).astype(np.float64)


# ============================================================ binary classification
def test_binary_classification_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 301)
    yhat = np.where(rng.uniform(size=301) < 0.7, y, 1 - y).astype(np.float64)
    yt, yp = place_all(backend, y, yhat, dtype=dtype_name(float_dtype))

    tp, tn, fp, fn = M.confusion_counts(yt, yp)
    want_tn, want_fp, want_fn, want_tp = skm.confusion_matrix(y, yhat).ravel()
    for got, want in [(tp, want_tp), (tn, want_tn), (fp, want_fp), (fn, want_fn)]:
        assert backend_of(got) == backend.name and tuple(got.shape) == ()
        assert got.dtype == _int_default(backend)
        assert int(backend.to_numpy(got)) == want
    counts = M.confusion_counts(yt, yp)
    assert int(backend.to_numpy(counts.tp)) == want_tp and int(backend.to_numpy(counts.fn)) == want_fn

    z = {"zero_division": 0}
    refs = {
        "accuracy": (M.accuracy(yt, yp), skm.accuracy_score(y, yhat)),
        "precision": (M.precision(yt, yp), skm.precision_score(y, yhat, **z)),
        "recall": (M.recall(yt, yp), skm.recall_score(y, yhat, **z)),
        "f1": (M.f1(yt, yp), skm.f1_score(y, yhat, **z)),
        "fbeta(0.5)": (M.fbeta(yt, yp, beta=0.5), skm.fbeta_score(y, yhat, beta=0.5, **z)),
        "fbeta(2)": (M.fbeta(yt, yp, beta=2.0), skm.fbeta_score(y, yhat, beta=2.0, **z)),
        "fbeta(0)=precision": (M.fbeta(yt, yp, beta=0.0), skm.precision_score(y, yhat, **z)),
        "mcc": (M.mcc(yt, yp), skm.matthews_corrcoef(y, yhat)),
    }
    for name, (got, want) in refs.items():
        check(got, want, backend, float_dtype, err_msg=name)


def test_label_kinds_agree(backend):
    """Boolean, integer and floating 0/1 labels give the same scores."""
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    kinds = [(y.astype(bool), p.astype(bool)), (y, p), (y.astype(np.float64), p.astype(bool))]
    values = []
    for a, b in kinds:
        yt, yp = place_all(backend, a, b)
        values.append([float(backend.to_numpy(f(yt, yp))) for f in (M.accuracy, M.precision, M.recall, M.f1, M.mcc)])
    want = [skm.accuracy_score(y, p), skm.precision_score(y, p), skm.recall_score(y, p), skm.f1_score(y, p),
            skm.matthews_corrcoef(y, p)]
    for v in values:
        np.testing.assert_allclose(v, want, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")  # scikit-learn's MCC reference
@pytest.mark.parametrize("case", ["no_predicted_positive", "no_true_positive", "all_negative", "all_positive_pred"])
def test_zero_division_gives_zero(backend, float_dtype, case):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 40)
    yhat = {
        "no_predicted_positive": np.zeros(40),
        "no_true_positive": rng.integers(0, 2, 40).astype(np.float64),
        "all_negative": np.zeros(40),
        "all_positive_pred": np.ones(40),
    }[case]
    if case in ("no_true_positive", "all_negative"):
        y = np.zeros(40, dtype=np.int64)
    yt, yp = place_all(backend, y, yhat, dtype=dtype_name(float_dtype))
    z = {"zero_division": 0}
    refs = {
        "precision": (M.precision(yt, yp), skm.precision_score(y, yhat, **z)),
        "recall": (M.recall(yt, yp), skm.recall_score(y, yhat, **z)),
        "f1": (M.f1(yt, yp), skm.f1_score(y, yhat, **z)),
        "fbeta": (M.fbeta(yt, yp, beta=2.0), skm.fbeta_score(y, yhat, beta=2.0, **z)),
        "mcc": (M.mcc(yt, yp), skm.matthews_corrcoef(y, yhat)),
    }
    for name, (got, want) in refs.items():
        check(got, want, backend, float_dtype, err_msg=f"{case}: {name}")
        assert np.isfinite(backend.to_numpy(got)), name


# ============================================================ multiclass
def _multiclass_labels(rng, n=400):
    """Class 3 only ever predicted, class 4 in neither; classes 0-2 and 5 in both."""
    y = rng.choice([0, 1, 2, 5], size=n, p=[0.4, 0.3, 0.2, 0.1])
    yhat = np.where(rng.uniform(size=n) < 0.6, y, rng.choice([0, 1, 2, 3, 5], size=n))
    return y, yhat


@pytest.mark.parametrize("num_classes", [None, 6, 9])
def test_multiclass_averages_vs_sklearn(backend, float_dtype, num_classes):
    y, yhat = _multiclass_labels(np.random.default_rng(3))
    yt, yp = place_all(backend, y, yhat.astype(np.float64), dtype=dtype_name(float_dtype))
    z = {"zero_division": 0}
    for avg in ("macro", "micro", "weighted"):
        kw = {"average": avg, "num_classes": num_classes}
        refs = {
            "precision": (M.precision(yt, yp, **kw), skm.precision_score(y, yhat, average=avg, **z)),
            "recall": (M.recall(yt, yp, **kw), skm.recall_score(y, yhat, average=avg, **z)),
            "f1": (M.f1(yt, yp, **kw), skm.f1_score(y, yhat, average=avg, **z)),
            "fbeta": (M.fbeta(yt, yp, beta=0.5, **kw), skm.fbeta_score(y, yhat, beta=0.5, average=avg, **z)),
        }
        for name, (got, want) in refs.items():
            check(got, want, backend, float_dtype, err_msg=f"{name}(average={avg!r})")
    # micro-averaged scores of single-label data are the accuracy
    check(M.accuracy(yt, yp), skm.accuracy_score(y, yhat), backend, float_dtype, err_msg="accuracy")


def test_binary_data_with_multiclass_averages(backend):
    rng = np.random.default_rng(4)
    y, yhat = rng.integers(0, 2, 80), rng.integers(0, 2, 80)
    yt, yp = place_all(backend, y, yhat)
    for avg in ("macro", "micro", "weighted"):
        got = backend.to_numpy(M.f1(yt, yp, average=avg))
        np.testing.assert_allclose(got, skm.f1_score(y, yhat, average=avg), rtol=1e-6, err_msg=avg)


def test_confusion_matrix_vs_sklearn(backend):
    y, yhat = _multiclass_labels(np.random.default_rng(5))
    yt, yp = place_all(backend, y, yhat)
    for k in (None, 6, 8):
        cm = M.confusion_matrix(yt, yp, k)
        kk = 6 if k is None else k
        assert backend_of(cm) == backend.name and cm.dtype == _int_default(backend)
        np.testing.assert_array_equal(backend.to_numpy(cm), skm.confusion_matrix(y, yhat, labels=range(kk)))
    # floating labels, keyword num_classes
    yt, yp = place_all(backend, y.astype(np.float64), yhat.astype(np.float64))
    np.testing.assert_array_equal(backend.to_numpy(M.confusion_matrix(yt, yp, num_classes=6)),
                                  skm.confusion_matrix(y, yhat, labels=range(6)))


# ============================================================ ROC-AUC and average precision
def _score_cases(rng, n=500):
    y = rng.integers(0, 2, n)
    s = rng.normal(size=n) + 0.8 * y
    return {
        "continuous": (y, s),
        "ties": (y, np.round(s, 1)),
        "few_values": (y, np.round(s).clip(-1, 2)),
        "all_tied": (y, np.full(n, 0.25)),
        "perfect": (y, y + 0.1 * rng.uniform(size=n)),
        "reversed": (y, -y - 0.1 * rng.uniform(size=n)),
        "infinite": (y, np.where(rng.uniform(size=n) < 0.1, np.inf, np.round(s, 1))),
        "rare_positive": (np.eye(1, n, 7, dtype=np.int64)[0], np.round(s, 1)),
    }


@pytest.mark.parametrize("case", list(_score_cases(np.random.default_rng(0))))
def test_roc_auc_and_average_precision_vs_sklearn(backend, float_dtype, case):
    y, s = _score_cases(np.random.default_rng(6))[case]
    yt, st_ = place_all(backend, y, s, dtype=dtype_name(float_dtype))
    s_ref = as_dtype(s, float_dtype)  # the ties the backend sees
    s_ref = np.where(np.isinf(s_ref), 1e30, s_ref)  # scikit-learn refuses inf; same order
    check(M.roc_auc(yt, st_), skm.roc_auc_score(y, s_ref), backend, float_dtype, err_msg="roc_auc")
    check(M.average_precision(yt, st_), skm.average_precision_score(y, s_ref), backend, float_dtype,
          err_msg="average_precision")


def test_roc_auc_integer_and_boolean_scores(backend):
    rng = np.random.default_rng(7)
    y, s = rng.integers(0, 2, 200), rng.integers(-3, 4, 200)
    yt, st_ = place_all(backend, y, s)
    assert_close(M.roc_auc(yt, st_), skm.roc_auc_score(y, s), rtol=1e-6)
    assert_close(M.average_precision(yt, st_), skm.average_precision_score(y, s), rtol=1e-6)
    yt, sb = place_all(backend, y, s > 0)
    assert_close(M.roc_auc(yt, sb), skm.roc_auc_score(y, s > 0), rtol=1e-6)


@pytest.mark.backends("array_api_strict")
def test_roc_auc_float32_only_device_large_n():
    """Where the device has no float64, sums run in float32: still accurate at n = 2e5."""
    be = pml.get_backend("array_api_strict", device="no_float64")
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 200_000)
    s = np.round(rng.normal(size=200_000), 2).astype(np.float32)
    yt, st_ = be.asarray(y), be.asarray(s)
    assert_close(M.roc_auc(yt, st_), skm.roc_auc_score(y, s), rtol=2e-6)
    assert_close(M.average_precision(yt, st_), skm.average_precision_score(y, s), rtol=2e-6)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(-4, 4)), min_size=2, max_size=60).filter(
        lambda v: 0 < sum(t for t, _ in v) < len(v)
    )
)
def test_roc_auc_properties(pairs):
    """Equal to scikit-learn on tie-heavy inputs; AUC(y, -s) = 1 - AUC(y, s); monotone-invariant."""
    y = np.array([t for t, _ in pairs])
    s = np.array([v for _, v in pairs], dtype=np.float64)
    auc = float(M.roc_auc(y, s))
    assert auc == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert float(M.average_precision(y, s)) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert float(M.roc_auc(y, -s)) == pytest.approx(1.0 - auc, abs=1e-12)
    assert float(M.roc_auc(y, np.exp(s) + 3.0 * s)) == pytest.approx(auc, abs=1e-12)


# ============================================================ log loss
def test_log_loss_binary_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 100)
    p = rng.uniform(size=100)
    p[:4] = [0.0, 1.0, 0.0, 1.0]  # exact 0 and 1: clipped, finite
    yt, pt = place_all(backend, y, p, dtype=dtype_name(float_dtype))
    p_ref = np.asarray(p, dtype=dtype_name(float_dtype))  # sklearn clips with this dtype's eps
    got = M.log_loss(yt, pt)
    rtol = 5e-6 if dtype_name(float_dtype) == "float32" else None  # scikit-learn sums in float32 too
    check(got, skm.log_loss(y, p_ref), backend, float_dtype, err_msg="log_loss", rtol=rtol)
    # an explicit eps
    eps = 1e-3
    pc = np.clip(as_dtype(p, float_dtype), eps, 1 - eps)
    want = -np.mean(y * np.log(pc) + (1 - y) * np.log(np.clip(1 - as_dtype(p, float_dtype), eps, 1 - eps)))
    check(M.log_loss(yt, pt, eps=eps), want, backend, float_dtype, err_msg="log_loss(eps)")


def test_log_loss_multiclass_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(10)
    y = rng.integers(0, 4, 60)
    p = rng.dirichlet(np.ones(4), size=60)
    p[0] = [1.0, 0.0, 0.0, 0.0]
    y[0] = 1  # a zero probability on the true class: clipped, finite
    yt, pt = place_all(backend, y, p, dtype=dtype_name(float_dtype))
    want = skm.log_loss(y, np.asarray(p, dtype=dtype_name(float_dtype)), labels=range(4))
    rtol = 5e-6 if dtype_name(float_dtype) == "float32" else None  # scikit-learn sums in float32 too
    check(M.log_loss(yt, pt), want, backend, float_dtype, err_msg="log_loss", rtol=rtol)


# ============================================================ regression
def test_regression_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(11)
    for shape in [(50,), (40, 3)]:
        y = rng.normal(size=shape)
        yhat = y + 0.5 * rng.normal(size=shape)
        yt, yp = place_all(backend, y, yhat, dtype=dtype_name(float_dtype))
        refs = {
            "r2": (M.r2(yt, yp), skm.r2_score(y, yhat)),
            "mape": (M.mape(yt, yp), 100 * skm.mean_absolute_percentage_error(y, yhat)),
            "mse": (M.mse(yt, yp), skm.mean_squared_error(y, yhat)),
            "mae": (M.mae(yt, yp), skm.mean_absolute_error(y, yhat)),
        }
        for name, (got, want) in refs.items():
            check(got, want, backend, float_dtype, err_msg=f"{name}{shape}")


def test_regression_edge_cases(backend, float_dtype):
    dt = dtype_name(float_dtype)
    const = place(backend, np.full(6, 2.5), dtype=dt)
    near = place(backend, np.array([2.5, 2.5, 2.5, 2.5, 2.5, 2.6]), dtype=dt)
    check(M.r2(const, const), skm.r2_score(np.full(6, 2.5), np.full(6, 2.5)), backend, float_dtype, err_msg="perfect")
    check(M.r2(const, near), 0.0, backend, float_dtype, err_msg="constant y_true")
    # multioutput with one constant column: scikit-learn's per-column rule, then the mean
    y = np.column_stack([np.full(5, 1.0), np.arange(5.0)])
    yhat = np.column_stack([np.full(5, 1.0), np.arange(5.0)[::-1]])
    check(M.r2(*place_all(backend, y, yhat, dtype=dt)), skm.r2_score(y, yhat), backend, float_dtype, err_msg="mixed")
    # MAPE with a zero target: a huge but finite term, as scikit-learn
    y0, p0 = np.array([0.0, 1.0, 2.0]), np.array([1e-3, 1.5, 2.0])
    got = M.mape(*place_all(backend, y0, p0, dtype=dt))
    want = 100 * skm.mean_absolute_percentage_error(as_dtype(y0, float_dtype), as_dtype(p0, float_dtype))
    check(got, want, backend, float_dtype, rtol=1e-6 if dt == "float32" else None, err_msg="mape zero target")
    zero = place(backend, np.zeros(4), dtype=dt)
    check(M.mse(zero, zero), 0.0, backend, float_dtype)
    check(M.mae(zero, zero), 0.0, backend, float_dtype)


# ============================================================ ranking
def _dcg_reference(rel, k=None, gains="linear"):
    """The formula sheet's DCG, one ranking at a time, in float64 (a plain loop)."""
    total = 0.0
    for i, r in enumerate(rel, start=1):
        if k is not None and i > k:
            break
        g = r if gains == "linear" else 2.0**r - 1.0
        total += g / math.log2(i + 1)
    return total


def test_dcg_ndcg_vs_sheet_formula(backend, float_dtype):
    rng = np.random.default_rng(12)
    rel = rng.integers(0, 5, size=(6, 9)).astype(np.float64)
    rel[2] = 0.0  # nothing relevant: ndcg 0
    r2d = place(backend, rel, dtype=dtype_name(float_dtype))
    r1d = place(backend, rel[0], dtype=dtype_name(float_dtype))
    for k in (None, 1, 4, 20):
        for gains in ("linear", "exponential"):
            d = [_dcg_reference(r, k, gains) for r in rel]
            ideal = [_dcg_reference(sorted(r, reverse=True), k, gains) for r in rel]
            nd = [a / b if b > 0 else 0.0 for a, b in zip(d, ideal)]
            tag = f"k={k}, gains={gains}"
            check(M.dcg(r1d, k=k, gains=gains), d[0], backend, float_dtype, err_msg=f"dcg 1-D {tag}")
            check(M.dcg(r2d, k=k, gains=gains), np.mean(d), backend, float_dtype, err_msg=f"dcg 2-D {tag}")
            check(M.ndcg(r1d, k=k, gains=gains), nd[0], backend, float_dtype, err_msg=f"ndcg 1-D {tag}")
            check(M.ndcg(r2d, k=k, gains=gains), np.mean(nd), backend, float_dtype, err_msg=f"ndcg 2-D {tag}")
    # the textbook example: relevance 3, 2, 3, 0, 1, 2 in ranked order has DCG 6.861
    ex = place(backend, np.array([3.0, 2.0, 3.0, 0.0, 1.0, 2.0]), dtype=dtype_name(float_dtype))
    assert abs(float(backend.to_numpy(M.dcg(ex))) - 6.861) < 1e-3


@pytest.mark.parametrize("k", [None, 1, 3, 50])
def test_ndcg_score_vs_sklearn_with_ties(backend, float_dtype, k):
    rng = np.random.default_rng(13)
    y_true = rng.integers(0, 4, size=(30, 12)).astype(np.float64)
    y_true[3] = 0.0  # zero ideal DCG: scores 0
    y_score = np.round(rng.normal(size=(30, 12)))  # many ties within rows
    y_score[5] = 1.0  # a row of one tie group
    yt, ys = place_all(backend, y_true, y_score, dtype=dtype_name(float_dtype))
    got = M.ndcg_score(yt, ys, k=k)
    check(got, skm.ndcg_score(y_true, as_dtype(y_score, float_dtype), k=k), backend, float_dtype, err_msg=f"k={k}")
    # integer scores and relevance keep working
    yt_i, ys_i = place_all(backend, y_true.astype(np.int64), y_score.astype(np.int64))
    assert_close(M.ndcg_score(yt_i, ys_i, k=k), skm.ndcg_score(y_true, y_score, k=k), rtol=1e-6)


# ============================================================ Dask chunks, JAX transformations
@pytest.mark.backends("dask")
def test_dask_multichunk_inputs(backend):
    import dask.array as da

    rng = np.random.default_rng(14)
    y = rng.integers(0, 2, 1000)
    s = np.round(rng.normal(size=1000), 1)
    yc, pc = rng.integers(0, 4, 1000), rng.integers(0, 4, 1000)
    ch = lambda a: da.from_array(a, chunks=128)  # noqa: E731
    assert_close(M.roc_auc(ch(y), ch(s)), skm.roc_auc_score(y, s), rtol=1e-12)
    assert_close(M.average_precision(ch(y), ch(s)), skm.average_precision_score(y, s), rtol=1e-12)
    assert_close(M.f1(ch(yc), ch(pc), average="macro"), skm.f1_score(yc, pc, average="macro"), rtol=1e-12)
    np.testing.assert_array_equal(M.confusion_matrix(ch(yc), ch(pc), 4).compute(), skm.confusion_matrix(yc, pc))
    rel, sc = rng.integers(0, 3, (40, 6)).astype(float), np.round(rng.normal(size=(40, 6)))
    got = M.ndcg_score(da.from_array(rel, chunks=(16, 6)), da.from_array(sc, chunks=(16, 6)), k=4)
    assert_close(got, skm.ndcg_score(rel, sc, k=4), rtol=1e-12)


@pytest.mark.backends("jax")
def test_jitted_evaluation_step_equals_eager(backend):
    import jax

    rng = np.random.default_rng(15)
    y, s = rng.integers(0, 2, 200), np.round(rng.normal(size=200), 1)
    yc, pc = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    rel, sc = rng.integers(0, 3, (10, 7)).astype(float), np.round(rng.normal(size=(10, 7)))
    args = place_all(backend, y, s, yc, pc, rel, sc)

    def evaluate(y, s, yc, pc, rel, sc):
        hard = (s > 0).astype(s.dtype)
        return {
            "auc": M.roc_auc(y, s), "ap": M.average_precision(y, s), "f1": M.f1(y, hard), "mcc": M.mcc(y, hard),
            "f1_macro": M.f1(yc, pc, average="macro", num_classes=5),
            "recall_weighted": M.recall(yc, pc, average="weighted", num_classes=5),
            "cm": M.confusion_matrix(yc, pc, 5), "ndcg": M.ndcg_score(rel, sc, k=3),
        }

    eager = evaluate(*args)
    with jax.transfer_guard("disallow"):  # no hidden host round-trips inside the compiled step
        jitted = jax.jit(evaluate)(*args)
    assert_close(jitted, eager, rtol=1e-12, atol=1e-14)

    with pytest.raises(ValueError, match="num_classes must be given"):
        jax.jit(lambda a, b: M.precision(a, b, average="macro"))(args[2], args[3])
    # a single class cannot raise under jit: the undefined area is NaN
    assert np.isnan(jax.jit(M.roc_auc)(backend.asarray(np.zeros(5, int)), args[1][:5]))
    # eager JAX arrays may infer num_classes
    assert_close(M.f1(args[2], args[3], average="macro"), skm.f1_score(yc, pc, average="macro"), rtol=1e-12)


# ============================================================ bad input
def test_shape_errors(backend):
    a3, a4 = place_all(backend, np.array([0, 1, 1]), np.array([0, 1, 1, 0]))
    s3 = place(backend, np.array([0.1, 0.2, 0.3]))
    m2 = place(backend, np.ones((3, 2)))
    empty = place(backend, np.zeros(0, dtype=np.int64))
    for f in (M.confusion_counts, M.accuracy, M.precision, M.f1, M.mcc, M.confusion_matrix):
        with pytest.raises(ValueError, match="same shape"):
            f(a3, a4)
        with pytest.raises(ValueError, match="must be 1-D"):
            f(m2, m2)
        with pytest.raises(ValueError, match="must not be empty"):
            f(empty, empty)
    for f in (M.roc_auc, M.average_precision):
        with pytest.raises(ValueError, match="same shape"):
            f(a4, s3)
        with pytest.raises(ValueError, match="scores must be 1-D"):
            f(a3, place(backend, np.ones((3, 1))))
    with pytest.raises(ValueError, match="same number of samples"):
        M.log_loss(a4, s3)
    with pytest.raises(ValueError, match="p must be 1-D or 2-D"):
        M.log_loss(a3, place(backend, np.ones((3, 1, 1))))
    for f in (M.r2, M.mape, M.mse, M.mae):
        with pytest.raises(ValueError, match="same shape"):
            f(s3, place(backend, np.ones(4)))
        with pytest.raises(ValueError, match="y_true must be 1-D or 2-D"):
            f(place(backend, np.ones((2, 2, 2))), place(backend, np.ones((2, 2, 2))))
    with pytest.raises(ValueError, match="at least two samples"):
        M.r2(s3[:1], s3[:1])
    with pytest.raises(ValueError, match="y_true must be 2-D"):
        M.ndcg_score(s3, s3)
    with pytest.raises(ValueError, match="more than one item"):
        M.ndcg_score(place(backend, np.ones((3, 1))), place(backend, np.ones((3, 1))))
    with pytest.raises(ValueError, match="relevance must be 1-D or 2-D"):
        M.dcg(place(backend, np.ones((2, 2, 2))))


def test_option_errors(backend):
    y, p = place_all(backend, np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    with pytest.raises(ValueError, match="average must be one of"):
        M.f1(y, p, average="samples")
    with pytest.raises(ValueError, match="beta must be"):
        M.fbeta(y, p, beta=-1.0)
    with pytest.raises(ValueError, match="needs labels 0 and 1"):
        M.precision(y, p, num_classes=3)
    with pytest.raises(ValueError, match="num_classes must be positive"):
        M.confusion_matrix(y, p, 0)
    with pytest.raises(TypeError, match="num_classes must be an int"):
        M.recall(y, p, average="macro", num_classes=2.5)
    r = place(backend, np.array([3.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match="k must be positive"):
        M.dcg(r, k=0)
    with pytest.raises(ValueError, match="gains must be one of"):
        M.ndcg(r, gains="cubic")
    with pytest.raises(ValueError, match=r"eps must lie in \(0, 0.5\)"):
        M.log_loss(y, place(backend, np.array([0.1, 0.9, 0.8, 0.2])), eps=0.7)


@pytest.mark.skip_backends(**EAGER)
def test_value_errors_on_eager_inputs(backend):
    yb, pb = place_all(backend, np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    y3 = place(backend, np.array([0, 2, 1, 0]))
    with pytest.raises(ValueError, match="y_true must hold binary labels 0 and 1"):
        M.f1(y3, pb)
    with pytest.raises(ValueError, match="y_pred must hold binary labels 0 and 1"):
        M.confusion_counts(yb, y3)
    with pytest.raises(ValueError, match="y_true must hold binary labels"):
        M.roc_auc(y3, place(backend, np.array([0.1, 0.2, 0.3, 0.4])))
    with pytest.raises(ValueError, match=r"y_true must hold class indices in \[0, 2\)"):
        M.precision(y3, pb, average="macro", num_classes=2)
    with pytest.raises(ValueError, match="y_pred must hold class indices"):
        M.confusion_matrix(yb, place(backend, np.array([0, -1, 1, 0])))
    with pytest.raises(ValueError, match="whole-number class indices"):
        M.f1(yb, place(backend, np.array([0.0, 1.5, 1.0, 0.0])), average="micro")
    s = place(backend, np.array([0.1, 0.4, 0.35, 0.8]))
    for f in (M.roc_auc, M.average_precision):
        for single in (np.zeros(4, dtype=np.int64), np.ones(4, dtype=np.int64)):
            with pytest.raises(ValueError, match="single class"):
                f(place(backend, single), s)
        with pytest.raises(ValueError, match="scores must not contain NaN"):
            f(yb, place(backend, np.array([0.1, np.nan, 0.3, 0.2])))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        M.log_loss(yb, place(backend, np.array([0.1, 1.2, 0.3, 0.2])))
    with pytest.raises(ValueError, match="y_true must hold binary labels"):
        M.log_loss(y3, place(backend, np.array([0.1, 0.2, 0.3, 0.2])))
    with pytest.raises(ValueError, match=r"y_true must hold class indices in \[0, 2\)"):
        M.log_loss(y3, place(backend, np.full((4, 2), 0.5)))
    with pytest.raises(ValueError, match="non-negative relevance"):
        M.ndcg_score(place(backend, np.array([[1.0, -1.0], [0.0, 2.0]])), place(backend, np.ones((2, 2))))
    with pytest.raises(ValueError, match="relevance must be non-negative"):
        M.ndcg(place(backend, np.array([1.0, -1.0])))
    with pytest.raises(ValueError, match="y_score must not contain NaN"):
        M.ndcg_score(place(backend, np.ones((2, 2))), place(backend, np.array([[np.nan, 1.0], [0.0, 2.0]])))


def test_type_errors(backend):
    y = place(backend, np.array([0, 1, 1, 0]))
    other = "array_api_strict" if backend.name == "numpy" else "numpy"
    with pytest.raises(TypeError, match="different backends"):
        M.f1(y, pml.get_backend(other).asarray(np.array([0, 1, 0, 0])))
    with pytest.raises(TypeError, match="must hold labels"):
        M.accuracy(y, place(backend, np.array([0, 1, 0, 0], dtype=np.complex128)))


# ------------------------------------------------- accuracy at the extremes (issue 12)
@pytest.mark.parametrize("scale", [1e-30, 1e30])
@pytest.mark.parametrize("two_d", [False, True])
def test_r2_is_scale_free_in_float32(backend, scale, two_d):
    """Squares of 1e-30 underflow and of 1e30 overflow float32; the ratio needs neither."""
    rng = np.random.default_rng(8)
    y = rng.normal(size=(30, 2) if two_d else 30)
    p = y + rng.normal(size=y.shape)
    ref = skm.r2_score(y, p)
    yb = backend.asarray(y * scale, dtype="float32")
    pb = backend.asarray(p * scale, dtype="float32")
    out = M.r2(yb, pb)
    assert dtype_name(out.dtype) == "float32"
    assert float(backend.to_numpy(out)) == pytest.approx(ref, rel=1e-5)
    assert ref < 0.5  # a poor fit: 1.0 (all squares underflowed) would be wrong


@pytest.mark.parametrize("fn", [M.r2, M.mse, M.mae])
def test_regression_metrics_reject_complex_input_naming_it(fn):
    with pytest.raises(TypeError, match=r"y_pred must be a real .*complex"):
        fn(np.array([1.0, 2.0]), np.array([1.0 + 1j, 2.0]))
