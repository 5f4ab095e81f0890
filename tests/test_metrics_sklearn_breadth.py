"""The scikit-learn breadth of ``pml.metrics``, on every backend, float32 and float64.

Every function is compared with its scikit-learn namesake on fresh random
draws and on degenerate inputs (classes never predicted, classes absent,
constant targets); the fixed cases of scikit-learn's own test suite are
ported where they exist.
"""

import math

import numpy as np
import pytest

from portable_ml import metrics as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all

skm = optional_module("sklearn.metrics")

def allclose(got, want, rtol=1e-5, **kw):
    """Results of integer labels are in the backend's default float (float32 for JAX and torch)."""
    np.testing.assert_allclose(got, want, rtol=rtol, **kw)


EAGER = {"jax": "JAX arrays are not read back for value checks", "dask": "lazy: values are not checked"}


def close(out, want, backend, dtype, *, shape=(), err_msg="", rtol=None, atol=None):
    """``out`` is an array of ``backend`` in ``dtype``, of ``shape``, close to ``want`` (NaN equal to NaN)."""
    assert backend_of(out) == backend.name, err_msg
    assert tuple(out.shape) == shape, f"{err_msg}: shape {tuple(out.shape)}, want {shape}"
    assert out.dtype == dtype, f"{err_msg}: dtype {out.dtype}, want {dtype}"
    assert_close(out, np.asarray(want, dtype=np.float64), rtol=rtol, atol=atol, err_msg=err_msg)


def _labels(rng, n=300):
    """Class 3 only predicted, class 4 in neither input, class 5 rare: every zero-division path."""
    y = rng.choice([0, 1, 2, 5], size=n, p=[0.45, 0.3, 0.2, 0.05])
    yhat = np.where(rng.uniform(size=n) < 0.6, y, rng.choice([0, 1, 3], size=n))
    return y, yhat


# ============================================================ zero_division and average=None
@pytest.mark.parametrize("zero_division", [0, 1, math.nan, "warn"])
def test_prf_zero_division_and_per_class_vs_sklearn(backend, float_dtype, zero_division):
    y, yhat = _labels(np.random.default_rng(0))
    yt, yp = place_all(backend, y, yhat.astype(np.float64), dtype=dtype_name(float_dtype))
    fns = {
        "precision": (M.precision, skm.precision_score, {}),
        "recall": (M.recall, skm.recall_score, {}),
        "f1": (M.f1, skm.f1_score, {}),
        "fbeta": (M.fbeta, skm.fbeta_score, {"beta": 2.0}),
    }
    if not (isinstance(zero_division, float) and math.isnan(zero_division)):  # scikit-learn's jaccard takes 0/1
        fns["jaccard"] = (M.jaccard, skm.jaccard_score, {})
    for name, (fn, ref, kw) in fns.items():
        for avg in ("macro", "micro", "weighted"):
            got = fn(yt, yp, average=avg, num_classes=6, zero_division=zero_division, **kw)
            want = ref(y, yhat, average=avg, zero_division=zero_division, **kw)
            close(got, want, backend, float_dtype, err_msg=f"{name}({avg}, zd={zero_division})")
        got = fn(yt, yp, average=None, num_classes=6, zero_division=zero_division, **kw)
        want = ref(y, yhat, average=None, labels=range(6), zero_division=zero_division, **kw)
        close(got, want, backend, float_dtype, shape=(6,), err_msg=f"{name}(None, zd={zero_division})")


@pytest.mark.parametrize("zero_division", [0, 1, math.nan])
@pytest.mark.parametrize("case", ["nothing_predicted", "no_positive", "both_empty", "mixed"])
def test_binary_zero_division_vs_sklearn(backend, case, zero_division):
    y, yhat = {
        "nothing_predicted": ([1, 0, 1, 0], [0, 0, 0, 0]),
        "no_positive": ([0, 0, 0, 0], [1, 0, 1, 0]),
        "both_empty": ([0, 0, 0], [0, 0, 0]),
        "mixed": ([1, 0, 1, 1, 0], [1, 1, 0, 1, 0]),
    }[case]
    y, yhat = np.array(y), np.array(yhat)
    yt, yp = place_all(backend, y, yhat)
    for fn, ref in [(M.precision, skm.precision_score), (M.recall, skm.recall_score), (M.f1, skm.f1_score),
                    (M.jaccard, skm.jaccard_score)]:
        if ref is skm.jaccard_score and isinstance(zero_division, float):
            continue
        got = backend.to_numpy(fn(yt, yp, zero_division=zero_division))
        allclose(got, ref(y, yhat, zero_division=zero_division), err_msg=f"{fn.__name__} {case}")


def test_sklearn_ported_prf_cases(backend):
    """scikit-learn's test_precision_recall_f1_score_multiclass and test_jaccard_score_validation fixtures."""
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = np.array([0, 2, 1, 0, 0, 1])
    yt, yp = place_all(backend, y_true, y_pred)
    allclose(backend.to_numpy(M.precision(yt, yp, average=None)), [2 / 3, 0, 0])
    allclose(backend.to_numpy(M.recall(yt, yp, average=None)), [1, 0, 0])
    allclose(backend.to_numpy(M.f1(yt, yp, average=None)), [0.8, 0, 0])
    allclose(backend.to_numpy(M.jaccard(yt, yp, average=None)), [2 / 3, 0, 0])
    allclose(float(backend.to_numpy(M.jaccard(yt, yp, average="macro"))), 2 / 9)
    allclose(float(backend.to_numpy(M.jaccard(yt, yp, average="micro"))), 2 / 10)
    # jaccard of binary labels (scikit-learn's docstring example)
    a, b = place_all(backend, np.array([0, 1, 1]), np.array([1, 1, 1]))
    allclose(float(backend.to_numpy(M.jaccard(a, b))), 2 / 3)


# ============================================================ other classification metrics
@pytest.mark.parametrize("adjusted", [False, True])
def test_balanced_accuracy_vs_sklearn(backend, float_dtype, adjusted):
    rng = np.random.default_rng(1)
    y, yhat = _labels(rng)
    yt, yp = place_all(backend, y, yhat.astype(np.float64), dtype=dtype_name(float_dtype))
    for k in (None, 6, 9):
        got = M.balanced_accuracy(yt, yp, adjusted=adjusted, num_classes=k)
        want = skm.balanced_accuracy_score(y, yhat, adjusted=adjusted)
        close(got, want, backend, float_dtype, err_msg=f"num_classes={k}")
    # binary, and scikit-learn's test_balanced_accuracy_score fixture
    yb, pb = rng.integers(0, 2, 90), rng.integers(0, 2, 90)
    got = M.balanced_accuracy(*place_all(backend, yb, pb), adjusted=adjusted)
    allclose(float(backend.to_numpy(got)), skm.balanced_accuracy_score(yb, pb, adjusted=adjusted))
    a, b = place_all(backend, np.array([0, 1, 0, 0, 1, 0]), np.array([0, 1, 0, 0, 0, 1]))
    want = 0.625 if not adjusted else 0.25
    allclose(float(backend.to_numpy(M.balanced_accuracy(a, b, adjusted=adjusted))), want)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_vs_sklearn(backend, float_dtype, weights):
    rng = np.random.default_rng(2)
    y1 = rng.integers(0, 5, 250)
    y2 = np.where(rng.uniform(size=250) < 0.5, y1, rng.integers(0, 5, 250))
    a, b = place_all(backend, y1.astype(np.float64), y2, dtype=dtype_name(float_dtype))
    close(M.cohen_kappa(a, b, weights=weights), skm.cohen_kappa_score(y1, y2, weights=weights),
          backend, float_dtype, err_msg="all classes present")
    # a class absent from both: equal to scikit-learn with labels=range(num_classes)
    y1[y1 == 2], y2[y2 == 2] = 3, 3
    a, b = place_all(backend, y1.astype(np.float64), y2, dtype=dtype_name(float_dtype))
    close(M.cohen_kappa(a, b, weights=weights, num_classes=6),
          skm.cohen_kappa_score(y1, y2, weights=weights, labels=range(6)), backend, float_dtype, err_msg="labels")


def test_cohen_kappa_sklearn_fixtures(backend):
    """scikit-learn's test_cohen_kappa values (Artstein & Poesio 2008 and the weighting example)."""
    def kappa(y1, y2, **kw):
        return float(backend.to_numpy(M.cohen_kappa(*place_all(backend, np.array(y1), np.array(y2)), **kw)))

    y1 = [0] * 40 + [1] * 60
    assert kappa(y1, y1) == pytest.approx(1.0)
    allclose(kappa([0] * 46 + [1] * 44 + [2] * 10, [0] * 52 + [1] * 32 + [2] * 16), 0.8013, atol=1e-4)
    y1, y2 = [0] * 46 + [1] * 44 + [2] * 10, [0] * 50 + [1] * 40 + [2] * 10
    allclose(kappa(y1, y2), 0.9315, atol=1e-4)
    allclose(kappa(y1, y2, weights="linear"), 0.9412, atol=1e-4)
    allclose(kappa(y1, y2, weights="quadratic"), 0.9541, atol=1e-4)
    # undefined (one constant labeling shared): replace_undefined_by
    assert math.isnan(kappa([1, 1, 1], [1, 1, 1]))
    assert kappa([1, 1, 1], [1, 1, 1], replace_undefined_by=0.0) == 0.0


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_vs_sklearn_with_ties(backend, float_dtype, k):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 200)
    score = np.round(rng.uniform(size=(200, 5)), 1)  # many ties between classes
    yt, st = place_all(backend, y, score, dtype=dtype_name(float_dtype))
    for normalize in (True, False):
        got = M.top_k_accuracy(yt, st, k=k, normalize=normalize)
        want = skm.top_k_accuracy_score(y, score, k=k, normalize=normalize, labels=range(5))
        close(got, want, backend, float_dtype, err_msg=f"normalize={normalize}")


def test_top_k_accuracy_sklearn_fixtures(backend):
    """scikit-learn's test_top_k_accuracy_score and its tie cases."""
    y_score = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.3, 0.4, 0.2], [0.4, 0.1, 0.2, 0.3], [0.3, 0.2, 0.4, 0.1]])
    yt, st = place_all(backend, np.array([0, 1, 2, 3]), y_score)
    for k, want in [(1, 0.25), (2, 0.5), (3, 0.75)]:
        allclose(float(backend.to_numpy(M.top_k_accuracy(yt, st, k=k))), want)
    ties = np.array([[0.2, 0.2, 0.2, 0.4]] * 3)
    yt, st = place_all(backend, np.array([0, 1, 2]), ties)
    for k in (1, 2, 3):
        want = skm.top_k_accuracy_score([0, 1, 2], ties, k=k, labels=range(4))
        allclose(float(backend.to_numpy(M.top_k_accuracy(yt, st, k=k))), want)


def test_hamming_loss_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(4)
    y, yhat = _labels(rng)
    dt = dtype_name(float_dtype)
    close(M.hamming_loss(*place_all(backend, y.astype(np.float64), yhat, dtype=dt)), skm.hamming_loss(y, yhat),
          backend, float_dtype, err_msg="multiclass")
    Y, P = rng.integers(0, 2, (60, 4)), rng.integers(0, 2, (60, 4))
    close(M.hamming_loss(*place_all(backend, Y.astype(np.float64), P.astype(np.float64), dtype=dt)),
          skm.hamming_loss(Y, P), backend, float_dtype, err_msg="multilabel")
    # scikit-learn's fixtures
    a, b = place_all(backend, np.array([[0, 1], [1, 1]]), np.zeros((2, 2), dtype=np.int64))
    allclose(float(backend.to_numpy(M.hamming_loss(a, b))), 0.75)


# ============================================================ regression
REGRESSION = {
    "r2": (M.r2, "r2_score", {}),
    "explained_variance": (M.explained_variance, "explained_variance_score", {}),
    "mse": (M.mse, "mean_squared_error", {}),
    "mae": (M.mae, "mean_absolute_error", {}),
    "mean_squared_log_error": (M.mean_squared_log_error, "mean_squared_log_error", {}),
    "median_absolute_error": (M.median_absolute_error, "median_absolute_error", {}),
    "mean_pinball_loss": (M.mean_pinball_loss, "mean_pinball_loss", {"alpha": 0.3}),
    "d2_absolute_error": (M.d2_absolute_error, "d2_absolute_error_score", {}),
}
VARIANCE_WEIGHTED = {"r2", "explained_variance"}


def _targets(rng, shape, positive=False):
    y = rng.normal(size=shape)
    yhat = y + 0.5 * rng.normal(size=shape) + 0.3
    if positive:
        y, yhat = np.abs(y), np.abs(yhat)
    return y, yhat


@pytest.mark.parametrize("name", sorted(REGRESSION))
@pytest.mark.parametrize("shape", [(51,), (40, 3)])
def test_regression_multioutput_vs_sklearn(backend, float_dtype, name, shape):
    fn, ref_name, kw = REGRESSION[name]
    ref = getattr(skm, ref_name)
    y, yhat = _targets(np.random.default_rng(5), shape, positive=name == "mean_squared_log_error")
    dt = dtype_name(float_dtype)
    yt, yp = place_all(backend, y, yhat, dtype=dt)
    yh, ph = np.asarray(y, dtype=dt), np.asarray(yhat, dtype=dt)  # both sides see the same ties
    n_out = 1 if len(shape) == 1 else shape[1]
    options = ["uniform_average", "raw_values"] + (["variance_weighted"] if name in VARIANCE_WEIGHTED else [])
    if n_out > 1:
        options.append(np.array([0.2, 0.5, 0.3]))
    for mo in options:
        got = fn(yt, yp, multioutput=mo, **kw)
        want = ref(yh, ph, multioutput=mo, **kw)
        out_shape = (n_out,) if isinstance(mo, str) and mo == "raw_values" else ()
        close(got, want, backend, float_dtype, shape=out_shape, err_msg=f"{name}(multioutput={mo!r})")


def test_max_error_vs_sklearn(backend, float_dtype):
    y, yhat = _targets(np.random.default_rng(6), (70,))
    close(M.max_error(*place_all(backend, y, yhat, dtype=dtype_name(float_dtype))), skm.max_error(y, yhat),
          backend, float_dtype)
    a, b = place_all(backend, np.array([3.0, 2.0, 7.0, 1.0]), np.array([4.0, 2.0, 7.0, 1.0]))
    assert float(backend.to_numpy(M.max_error(a, b))) == 1.0  # scikit-learn's docstring example


def test_regression_constant_targets_vs_sklearn(backend, float_dtype):
    """force_finite, variance_weighted with constant outputs, d2 with a constant column."""
    dt = dtype_name(float_dtype)
    y = np.column_stack([np.full(6, 2.0), np.arange(6.0), np.full(6, -1.0)])
    yhat = np.column_stack([np.full(6, 2.0), np.arange(6.0)[::-1], np.linspace(-1, 0, 6)])
    yt, yp = place_all(backend, y, yhat, dtype=dt)
    for fn, ref in [(M.r2, skm.r2_score), (M.explained_variance, skm.explained_variance_score)]:
        for mo in ("raw_values", "uniform_average", "variance_weighted"):
            shape = (3,) if mo == "raw_values" else ()
            close(fn(yt, yp, multioutput=mo), ref(y, yhat, multioutput=mo), backend, float_dtype, shape=shape,
                  err_msg=f"{fn.__name__} {mo}")
        with np.errstate(divide="ignore", invalid="ignore"):  # the reference divides by zero
            want = ref(y, yhat, multioutput="raw_values", force_finite=False)
        close(fn(yt, yp, multioutput="raw_values", force_finite=False), want, backend, float_dtype, shape=(3,),
              err_msg=f"{fn.__name__} force_finite=False")
    const = place(backend, np.full((5, 2), 1.5), dtype=dt)
    close(M.r2(const, const, multioutput="variance_weighted"), 1.0, backend, float_dtype, err_msg="all constant")
    close(M.d2_absolute_error(yt, yp, multioutput="raw_values"),
          skm.d2_absolute_error_score(y, yhat, multioutput="raw_values"), backend, float_dtype, shape=(3,))


def test_sklearn_regression_fixtures(backend):
    """scikit-learn's docstring examples."""
    def val(fn, y, p, **kw):
        return backend.to_numpy(fn(*place_all(backend, np.array(y, dtype=np.float64), np.array(p, dtype=np.float64)),
                                   **kw))

    allclose(val(M.explained_variance, [3, -0.5, 2, 7], [2.5, 0.0, 2, 8]), 0.957, atol=1e-3)
    allclose(val(M.mean_squared_log_error, [3, 5, 2.5, 7], [2.5, 5, 4, 8]), 0.039, atol=1e-3)
    allclose(val(M.median_absolute_error, [3, -0.5, 2, 7], [2.5, 0.0, 2, 8]), 0.5)
    allclose(val(M.median_absolute_error, [[0.5, 1], [-1, 1], [7, -6]], [[0, 2], [-1, 2], [8, -5]],
                                   multioutput=[0.3, 0.7]), 0.85)
    allclose(val(M.mean_pinball_loss, [1, 2, 3], [0, 2, 3], alpha=0.1), 0.03333, atol=1e-5)
    allclose(val(M.mean_pinball_loss, [1, 2, 3], [1, 2, 4], alpha=0.9), 0.03333, atol=1e-5)
    allclose(val(M.d2_absolute_error, [3, -0.5, 2, 7], [2.5, 0.0, 2, 8]), 0.764, atol=1e-3)
    allclose(val(M.d2_absolute_error, [1, 2, 3], [3, 2, 1]), -1.0)


# ============================================================ errors
def test_option_errors(backend):
    y, p = place_all(backend, np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    with pytest.raises(ValueError, match="zero_division"):
        M.precision(y, p, zero_division=0.5)
    with pytest.raises(ValueError, match="zero_division"):
        M.jaccard(y, p, zero_division="nan")
    with pytest.raises(ValueError, match="average"):
        M.jaccard(y, p, average="samples")
    with pytest.raises(ValueError, match="weights"):
        M.cohen_kappa(y, p, weights="cubic")
    with pytest.raises(TypeError, match="replace_undefined_by"):
        M.cohen_kappa(y, p, replace_undefined_by="zero")
    s = place(backend, np.ones((4, 3)))
    with pytest.raises(ValueError, match="k must be positive"):
        M.top_k_accuracy(y, s, k=0)
    with pytest.raises(TypeError, match="normalize"):
        M.top_k_accuracy(y, s, normalize=1)
    with pytest.raises(ValueError, match="y_score"):
        M.top_k_accuracy(y, place(backend, np.ones(4)))
    with pytest.raises(ValueError, match="number of samples"):
        M.top_k_accuracy(y, place(backend, np.ones((3, 3))))
    r, q = place_all(backend, np.ones((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="multioutput"):
        M.mse(r, q, multioutput="variance_weighted")
    with pytest.raises(ValueError, match="multioutput"):
        M.r2(r, q, multioutput="mean")
    with pytest.raises(TypeError, match="multioutput"):
        M.mae(r, q, multioutput=None)
    with pytest.raises(ValueError, match=r"multioutput weights must have shape \(n_outputs,\)"):
        M.mae(r, q, multioutput=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="alpha"):
        M.mean_pinball_loss(r, q, alpha=1.5)
    with pytest.raises(TypeError, match="force_finite"):
        M.r2(r, q, force_finite=1)
    with pytest.raises(ValueError, match="y_true"):
        M.max_error(r, q)
    with pytest.raises(ValueError, match="at least two samples"):
        M.d2_absolute_error(*place_all(backend, np.ones(1), np.ones(1)))


def test_value_errors_on_eager_inputs(backend):
    if backend.name in EAGER:
        pytest.skip(EAGER[backend.name])
    a, b = place_all(backend, np.array([0.0, -1.0, 2.0]), np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="less than or equal to -1"):
        M.mean_squared_log_error(a, b)
    y, s = place_all(backend, np.array([0, 1, 3]), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"y_true must hold class indices in \[0, 3\)"):
        M.top_k_accuracy(y, s)
    with pytest.raises(ValueError, match="y1 must hold class indices"):
        M.cohen_kappa(*place_all(backend, np.array([0, 1, 5]), np.array([0, 1, 1])), num_classes=3)


def test_jitted_equals_eager():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    rng = np.random.default_rng(7)
    y, yhat = _labels(rng)
    yt, yp = jnp.asarray(y), jnp.asarray(yhat)
    for fn, kw in [(M.precision, {"average": None, "zero_division": 1}), (M.jaccard, {"average": "macro"}),
                   (M.balanced_accuracy, {"adjusted": True}), (M.cohen_kappa, {"weights": "quadratic"})]:
        eager = fn(yt, yp, num_classes=6, **kw)
        jitted = jax.jit(lambda a, b, fn=fn, kw=kw: fn(a, b, num_classes=6, **kw))(yt, yp)
        allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6, err_msg=fn.__name__)
    r, q = _targets(rng, (30, 2))
    for fn in (M.median_absolute_error, M.d2_absolute_error, M.explained_variance):
        eager = fn(jnp.asarray(r), jnp.asarray(q), multioutput="raw_values")
        jitted = jax.jit(lambda a, b, fn=fn: fn(a, b, multioutput="raw_values"))(jnp.asarray(r), jnp.asarray(q))
        allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6, err_msg=fn.__name__)


# ============================================================ sample_weight
def test_sample_weight_vs_sklearn(backend, float_dtype):
    rng = np.random.default_rng(8)
    dt = dtype_name(float_dtype)
    y, yhat = _labels(rng)
    w = rng.uniform(0.0, 2.0, y.size)
    yt, yp, wt = place_all(backend, y.astype(np.float64), yhat, w, dtype=dt)
    wh = np.asarray(w, dtype=dt).astype(np.float64)
    close(M.accuracy(yt, yp, sample_weight=wt), skm.accuracy_score(y, yhat, sample_weight=wh), backend, float_dtype,
          err_msg="accuracy")
    for fn, ref in [(M.precision, skm.precision_score), (M.recall, skm.recall_score), (M.f1, skm.f1_score),
                    (M.jaccard, skm.jaccard_score)]:
        for avg in ("macro", "micro", "weighted"):
            close(fn(yt, yp, average=avg, num_classes=6, sample_weight=wt),
                  ref(y, yhat, average=avg, sample_weight=wh, zero_division=0), backend, float_dtype,
                  err_msg=f"{fn.__name__} {avg}")
        yb, pb, wb = place_all(backend, y % 2, yhat % 2, w)  # integer labels: the default float
        allclose(np.asarray(backend.to_numpy(fn(yb, pb, sample_weight=wb)), dtype=np.float64),
                 ref(y % 2, yhat % 2, sample_weight=w, zero_division=0), err_msg=f"{fn.__name__} binary")
    for shape in [(40,), (40, 2)]:
        r, q = _targets(rng, shape, positive=True)
        rw = rng.uniform(0.1, 3.0, 40)
        rt, qt, rwt = place_all(backend, r, q, rw, dtype=dt)
        rwh = np.asarray(rw, dtype=dt).astype(np.float64)
        rh, qh = np.asarray(r, dtype=dt), np.asarray(q, dtype=dt)
        for name in ("r2", "explained_variance", "mse", "mae", "mean_squared_log_error", "mean_pinball_loss"):
            fn, ref_name, kw = REGRESSION[name]
            close(fn(rt, qt, sample_weight=rwt, multioutput="raw_values", **kw),
                  getattr(skm, ref_name)(rh, qh, sample_weight=rwh, multioutput="raw_values", **kw),
                  backend, float_dtype, shape=(1 if len(shape) == 1 else 2,), err_msg=f"{name}{shape}")
        close(M.mape(rt, qt, sample_weight=rwt), 100 * skm.mean_absolute_percentage_error(rh, qh, sample_weight=rwh),
              backend, float_dtype, err_msg="mape")


def test_sample_weight_errors_and_jit(backend):
    y, p = place_all(backend, np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    with pytest.raises(ValueError, match="sample_weight"):
        M.precision(y, p, sample_weight=place(backend, np.ones(3)))
    with pytest.raises(ValueError, match="sample_weight"):
        M.mse(*place_all(backend, np.ones(4), np.ones(4)), sample_weight=place(backend, np.ones((4, 1))))
    if backend.name not in EAGER:
        with pytest.raises(ValueError, match="nonzero sum"):
            M.mae(*place_all(backend, np.ones(4), np.ones(4)), sample_weight=place(backend, np.zeros(4)))
    if backend.name == "jax":
        import jax

        w = place(backend, np.array([1.0, 2.0, 0.5, 1.0]))
        f = jax.jit(lambda a, b, w: M.f1(a, b, average="macro", num_classes=2, sample_weight=w))
        allclose(np.asarray(f(y, p, w)), np.asarray(M.f1(y, p, average="macro", sample_weight=w)))
