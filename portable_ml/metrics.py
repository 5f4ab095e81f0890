r"""Classification, regression and ranking metrics.

Every metric finds the namespace of its inputs and returns arrays of that
backend on the inputs' device: a 0-d array for a score, an integer array for
counts.  Nothing here leaves the device except the value checks listed below.

Conventions
-----------
- **Labels.** Binary metrics take labels 0/1 (integer, boolean or floating
  arrays); the positive class is 1.  Multiclass labels are class indices
  ``0 .. num_classes - 1`` held in an integer, boolean or floating array
  (floating labels must be whole numbers).  Inputs are 1-D, one entry per
  sample.
- **dtype.** Floating scores keep the floating dtype of the inputs (promoted
  over ``y_true`` and ``y_pred``/``scores``); all-integer or boolean inputs
  give the backend's default float.  Counts (:func:`confusion_counts`,
  :func:`confusion_matrix`) are in the backend's default integer dtype.
- **Division by zero** gives 0, never NaN and never a warning (precision,
  recall, F-scores, MCC, the ranking normalisations), as scikit-learn does
  with ``zero_division=0``.
- **Scores** may be any real values, infinities included (scikit-learn
  refuses infinities; their ranks are well defined, so they are kept).
- **Value checks** (binary labels, labels in range, probabilities in
  [0, 1], NaN scores, a single class for ROC-AUC/AP) run only on concrete
  inputs: NumPy, CuPy, PyTorch and array-api-strict arrays.  JAX and Dask
  arrays are never read back for a check; shapes are always checked.
- **sample_weight** (every metric but ``max_error``, ``calibration_curve``,
  ``roc_auc(multi_class="ovo")``, the clustering scores and the
  formula-sheet ``dcg``/``ndcg``, none of which scikit-learn weights
  either): an array of shape (n_samples,); counts become sums of weights
  (floating: :func:`confusion_counts`, :func:`confusion_matrix` and the
  supports of :func:`classification_report`), means weighted means and
  medians weighted medians, equal to scikit-learn's weighted results.  The
  weights must be finite with a nonzero sum (checked on concrete inputs);
  those of ``confusion_counts``, ``confusion_matrix``, ``mcc``,
  ``log_loss``, ``brier_score``, ``classification_report``,
  ``ndcg_score``, ``threshold_scores`` and ``best_threshold`` must also be
  non-negative.  Integer weights give the result on the samples repeated
  that many times, and a zero weight the result without that sample (the
  thresholds of :func:`best_threshold` included; the fixed-length curves
  keep a repeated point).
- **num_classes** of the multiclass metrics is static (it sets the shape of
  the per-class counts).  When it is ``None`` it is inferred as
  ``max(y_true, y_pred) + 1``, which reads the labels: allowed for eager
  arrays (also eager JAX, and Dask, where it computes that maximum), refused
  with a clear error for traced arrays (inside ``jax.jit`` or ``jax.vmap``).
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import NamedTuple

from . import _numerics as _n
from . import losses as _L
from ._validate import check_array
from ._xp import (
    as_array0d,
    array_namespace,
    as_float,
    check_nonempty,
    check_ndim,
    check_same_shape,
    device_of,
    MAX_INFERRED_CLASSES,
    check_class_elements,
    float_dtype,
    infer_num_classes,
    is_traced,
    value_check,
)

__all__ = [
    "ConfusionCounts",
    "confusion_counts",
    "confusion_matrix",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "fbeta",
    "mcc",
    "jaccard",
    "balanced_accuracy",
    "cohen_kappa",
    "top_k_accuracy",
    "hamming_loss",
    "roc_auc",
    "average_precision",
    "roc_curve",
    "precision_recall_curve",
    "ThresholdScores",
    "threshold_scores",
    "BestThreshold",
    "best_threshold",
    "brier_score",
    "calibration_curve",
    "classification_report",
    "log_loss",
    "r2",
    "explained_variance",
    "mape",
    "mse",
    "mae",
    "mean_squared_log_error",
    "median_absolute_error",
    "max_error",
    "mean_pinball_loss",
    "d2_absolute_error",
    "silhouette_score",
    "adjusted_rand_index",
    "dcg",
    "ndcg",
    "ndcg_score",
]

_AVERAGES = ("binary", "macro", "micro", "weighted")
_GAINS = ("linear", "exponential")
# scikit-learn's mean_absolute_percentage_error guards |y| with float64's eps, for every dtype.
_MAPE_EPS = 2.220446049250313e-16


class ConfusionCounts(NamedTuple):
    """The four cells of a binary confusion matrix (0-d integer arrays)."""

    tp: object
    tn: object
    fp: object
    fn: object


# ============================================================ private helpers
def _info(like, what, *, xp, **kw):
    info = xp.__array_namespace_info__()
    try:
        return getattr(info, what)(device=device_of(like), **kw)
    except Exception:  # tracers report no device; the default device's answer is the same
        return getattr(info, what)(**kw)


def _int_dtype(like, *, xp):
    """The namespace's default integer dtype (for counts)."""
    return _info(like, "default_dtypes", xp=xp)["integral"]


def _wide_float(like, *, xp):
    """float64 where the device has it, else its default float: sums of counts stay exact."""
    floats = _info(like, "dtypes", kind="real floating", xp=xp)
    return floats["float64"] if "float64" in floats else _info(like, "default_dtypes", xp=xp)["real floating"]


def _safe_div(num, den, *, xp):
    """``num / den`` where ``den != 0``, else 0 -- no NaN, no warning, finite gradients."""
    nonzero = den != 0
    return xp.where(nonzero, num / xp.where(nonzero, den, xp.ones_like(den)), xp.zeros_like(num))


def _count(mask, idt, axis=None, *, xp):
    return xp.sum(xp.astype(mask, idt), axis=axis)


def _is_bool(x, *, xp):
    return xp.isdtype(x.dtype, "bool")


def _positive(y, *, xp):
    """Boolean mask of the positive class (label 1)."""
    return y if _is_bool(y, xp=xp) else y == 1


def _check_label_dtype(y, name, *, xp):
    if not xp.isdtype(y.dtype, ("bool", "integral", "real floating")):
        raise TypeError(f"{name} must hold labels as an integer, boolean or real floating array; got dtype {y.dtype}")


def _check_pair(y_true, y_pred, name_true="y_true", name_pred="y_pred"):
    """1-D, non-empty and of one length."""
    check_ndim(y_true, name_true, 1)
    check_ndim(y_pred, name_pred, 1)
    check_same_shape(y_true, y_pred, name_true, name_pred)
    check_nonempty(y_true, name_true)


def _check_binary(y, name, *, xp):
    if _is_bool(y, xp=xp):
        return
    value_check(
        xp.all((y == 0) | (y == 1)),
        lambda: f"{name} must hold binary labels 0 and 1; got values other than 0 and 1 "
        f"(min {float(xp.min(y)):g}, max {float(xp.max(y)):g}); for multiclass labels pass "
        "average='macro', 'micro' or 'weighted'",
    )


def _check_classes(y, num_classes, name, *, xp):
    """Class indices: whole numbers in [0, num_classes) (checked when concrete)."""
    if _is_bool(y, xp=xp):
        return
    if xp.isdtype(y.dtype, "real floating"):
        value_check(xp.all(y == xp.floor(y)), f"{name} must hold whole-number class indices; got non-integer values")
    lo, hi = xp.min(y), xp.max(y)
    value_check(
        (lo >= 0) & (hi < num_classes),
        lambda: f"{name} must hold class indices in [0, {num_classes}); got values in [{float(lo):g}, {float(hi):g}]",
    )


def _check_not_nan(x, name, *, xp):
    if xp.isdtype(x.dtype, "real floating"):
        value_check(~xp.any(xp.isnan(x)), f"{name} must not contain NaN")


def _label_pair(y_true, y_pred, dtype, *, xp):
    """Both label arrays in one dtype that compares exactly (floating if either is)."""
    if xp.isdtype(y_true.dtype, "real floating") or xp.isdtype(y_pred.dtype, "real floating"):
        return as_float(y_true, xp, dtype), as_float(y_pred, xp, dtype)
    if _is_bool(y_true, xp=xp) and _is_bool(y_pred, xp=xp):
        return y_true, y_pred
    idt = _int_dtype(y_true, xp=xp)
    a = xp.astype(y_true, idt) if _is_bool(y_true, xp=xp) else y_true
    b = xp.astype(y_pred, idt) if _is_bool(y_pred, xp=xp) else y_pred
    common = xp.result_type(a.dtype, b.dtype)
    return xp.astype(a, common), xp.astype(b, common)


def _num_classes(num_classes, y_true, y_pred, *, xp):
    if num_classes is not None:
        try:
            k = operator.index(num_classes)
        except TypeError:
            raise TypeError(f"num_classes must be an int; got {num_classes!r}") from None
        if k < 1:
            raise ValueError(f"num_classes must be positive; got num_classes={k}")
        return k
    hi_true, hi_pred = xp.max(y_true), xp.max(y_pred)
    if is_traced(hi_true) or is_traced(hi_pred):
        raise ValueError(
            "num_classes must be given when the labels are traced (inside jax.jit, jax.vmap, "
            "torch.compile or torch.func): it fixes the shape of the per-class counts; pass "
            "num_classes=<number of classes>"
        )
    # one host read (Dask computes it here): the class count fixes shapes
    hi = float(xp.maximum(hi_true, hi_pred))
    if not math.isfinite(hi) or hi + 1 > MAX_INFERRED_CLASSES:
        name = "y_true" if bool(hi_true >= hi_pred) else "y_pred"  # (readable: hi was read)
        if not math.isfinite(hi):
            raise ValueError(f"{name} must hold class indices; got the non-finite label {hi}")
        return infer_num_classes(hi, name)
    return max(int(hi) + 1, 1)


def _multiclass_labels(y_true, y_pred, num_classes, dtype, names=("y_true", "y_pred"), *, xp):
    """Validated labels in a common dtype, the number of classes, and the class values."""
    a, b = _label_pair(y_true, y_pred, dtype, xp=xp)
    if _is_bool(a, xp=xp):
        idt = _int_dtype(a, xp=xp)
        a, b = xp.astype(a, idt), xp.astype(b, idt)
    k = _num_classes(num_classes, a, b, xp=xp)
    check_class_elements(k, (a.shape[0], k), "one-hot encodings of the labels")
    _check_classes(a, k, names[0], xp=xp)
    _check_classes(b, k, names[1], xp=xp)
    classes = xp.arange(k, dtype=a.dtype, device=device_of(a))
    return a, b, classes


def _check_binary_pair(y_true, y_pred, *, xp):
    _check_label_dtype(y_true, "y_true", xp=xp)
    _check_label_dtype(y_pred, "y_pred", xp=xp)
    _check_pair(y_true, y_pred)
    _check_binary(y_true, "y_true", xp=xp)
    _check_binary(y_pred, "y_pred", xp=xp)


def _binary_counts(y_true, y_pred, *, xp):
    t, p = _positive(y_true, xp=xp), _positive(y_pred, xp=xp)
    idt = _int_dtype(y_true, xp=xp)
    tp = _count(t & p, idt, xp=xp)
    true_pos = _count(t, idt, xp=xp)
    pred_pos = _count(p, idt, xp=xp)
    fn = true_pos - tp
    fp = pred_pos - tp
    tn = y_true.shape[0] - true_pos - fp
    return ConfusionCounts(*(as_array0d(c, xp) for c in (tp, tn, fp, fn)))


def _weighted_binary_counts(y_true, y_pred, w, *, xp):
    """``(tp, tn, fp, fn)`` as sums of the weights ``w`` (0-d, ``w``'s dtype), each cell summed directly."""
    t, p = _positive(y_true, xp=xp), _positive(y_pred, xp=xp)
    zero = xp.zeros_like(w)

    def wsum(mask):
        return xp.sum(xp.where(mask, w, zero))

    return wsum(t & p), wsum(~t & ~p), wsum(~t & p), wsum(t & ~p)


def _sample_weights(sample_weight, like, dtype=None, *, xp, nonnegative=False):
    """``None``, or validated sample weights of shape (n_samples,) in ``like``'s (or ``dtype``) floating dtype.

    ``nonnegative=True`` also refuses negative weights (the metrics whose
    weights are frequencies: counts, means of losses, rankings).
    """
    if sample_weight is None:
        return None
    w = as_float(check_array(sample_weight, "sample_weight"), xp, like.dtype if dtype is None else dtype, "sample_weight")
    check_ndim(w, "sample_weight", 1)
    if w.shape[0] != like.shape[0]:
        raise ValueError(f"sample_weight must have shape (n_samples,) = ({like.shape[0]},); got {tuple(w.shape)}")
    if not nonnegative:
        value_check(xp.all(xp.isfinite(w)) & (xp.sum(w) != 0),
                    "sample_weight must be finite with a nonzero sum")
        return w
    finite = xp.all(xp.isfinite(w))
    signed = xp.all(w >= 0)  # False for NaN too
    value_check(finite & signed & (xp.sum(w) != 0), lambda: _weight_error(w, xp=xp))
    return w


def _weight_error(w, *, xp):
    """The message of :func:`_sample_weights` for non-negative weights (read on failure only)."""
    head = "sample_weight must be finite and non-negative with a nonzero sum; got "
    if not bool(xp.all(xp.isfinite(w))):
        return head + "NaN or infinite weights"
    if not bool(xp.all(w >= 0)):
        return head + f"negative weights (min {float(xp.min(w)):g})"
    return head + "weights that are all zero"


def _sample_mean(values, w, *, xp):
    """The mean of the per-sample ``values`` (0-d), weighted by ``w`` (``np.average(values, weights=w)``)."""
    if w is None:
        return xp.mean(values)
    return xp.sum(w * values) / xp.sum(w)


def _wmean(x, w, *, xp):
    """Mean over axis 0 of a 2-D ``x``, weighted by ``w`` (``np.average(x, axis=0, weights=w)``)."""
    if w is None:
        return xp.mean(x, axis=0)
    return xp.sum((w / xp.sum(w))[:, None] * x, axis=0)  # normalised first: tiny w * tiny x never underflows


def _check_average(average, allowed=_AVERAGES):
    if average not in allowed:
        raise ValueError(f"average must be one of {allowed}; got {average!r}")


def _check_zero_division(zero_division):
    """The value a 0/0 score takes: 0, 1 or NaN (``"warn"`` is 0, as scikit-learn, without a warning)."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, numbers.Real) and not isinstance(zero_division, bool):
        z = float(zero_division)
        if z in (0.0, 1.0) or math.isnan(z):
            return z
    raise ValueError(f"zero_division must be 0, 1, nan or 'warn'; got zero_division={zero_division!r}")


def _div_or(num, den, fill, *, xp):
    """``num / den`` where ``den != 0``, else ``fill`` (finite gradients)."""
    if fill == 0.0:
        return _safe_div(num, den, xp=xp)
    nonzero = den != 0
    return xp.where(nonzero, num / xp.where(nonzero, den, xp.ones_like(den)), xp.full_like(num, fill))


def _fbeta_from_counts(tp, true_sum, pred_sum, beta2, which, zero_division=0.0, *, xp):
    if which == "precision":
        return _div_or(tp, pred_sum, zero_division, xp=xp)
    if which == "recall":
        return _div_or(tp, true_sum, zero_division, xp=xp)
    if which == "jaccard":
        return _div_or(tp, true_sum + pred_sum - tp, zero_division, xp=xp)
    return _div_or((1.0 + beta2) * tp, beta2 * true_sum + pred_sum, zero_division, xp=xp)


def _class_counts(a, b, classes, dtype, w=None, *, xp):
    """Per-class (true positives, true support, predicted support) from one-hot masks (weighted by ``w``)."""
    if w is not None:
        in_true = a[:, None] == classes
        in_pred = b[:, None] == classes
        wk = w[:, None]

        def wsum(mask):
            return xp.sum(xp.where(mask, wk, xp.zeros_like(wk)), axis=0)

        return wsum(in_true & in_pred), wsum(in_true), wsum(in_pred)
    idt = _int_dtype(a, xp=xp)
    in_true = a[:, None] == classes  # (n, k) one-hot masks
    in_pred = b[:, None] == classes
    tp = xp.astype(_count(in_true & in_pred, idt, axis=0, xp=xp), dtype)
    true_sum = xp.astype(_count(in_true, idt, axis=0, xp=xp), dtype)
    pred_sum = xp.astype(_count(in_pred, idt, axis=0, xp=xp), dtype)
    return tp, true_sum, pred_sum


def _masked_average(score, mask, weights, *, xp, skip_nan):
    """Weighted mean of ``score`` over ``mask`` (scikit-learn's ``_nanaverage`` / ``_average``).

    ``skip_nan`` drops NaN scores with their weights (precision, recall, F);
    otherwise a NaN score propagates (Jaccard).  Weights summing to zero fall
    back to the plain mean; an empty selection gives NaN.
    """
    valid = mask & ~xp.isnan(score) if skip_nan else mask
    fvalid = xp.astype(valid, score.dtype)
    w = weights * fvalid
    wsum = xp.sum(w)
    w = xp.where(wsum > 0, w, fvalid)
    s = xp.where(valid, score, xp.zeros_like(score)) if skip_nan else xp.where(mask, score, xp.zeros_like(score))
    total = xp.sum(w)
    mean = xp.sum(w * s) / xp.where(total > 0, total, xp.ones_like(total))
    return xp.where(xp.sum(fvalid) > 0, mean, xp.full_like(mean, math.nan))


def _prf(y_true, y_pred, *, which, beta, average, num_classes, zero_division=0.0, sample_weight=None):
    """Shared body of precision, recall, the F-scores and the Jaccard index."""
    xp = array_namespace(y_true, y_pred)
    _check_average(average, _AVERAGES + (None,))
    zd = _check_zero_division(zero_division)
    if not (isinstance(beta, numbers.Real) and math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite non-negative number; got beta={beta!r}")
    beta2 = float(beta) ** 2
    _check_label_dtype(y_true, "y_true", xp=xp)
    _check_label_dtype(y_pred, "y_pred", xp=xp)
    _check_pair(y_true, y_pred)
    dtype = float_dtype(xp, y_true, y_pred)
    w = _sample_weights(sample_weight, y_true, dtype, xp=xp)
    if average == "binary":
        if num_classes not in (None, 2):
            raise ValueError(f"average='binary' needs labels 0 and 1 (num_classes=2); got num_classes={num_classes}")
        _check_binary(y_true, "y_true", xp=xp)
        _check_binary(y_pred, "y_pred", xp=xp)
        if w is not None:
            t, p = _positive(y_true, xp=xp), _positive(y_pred, xp=xp)
            zero = xp.zeros_like(w)
            tp = xp.sum(xp.where(t & p, w, zero))
            return _fbeta_from_counts(tp, xp.sum(xp.where(t, w, zero)), xp.sum(xp.where(p, w, zero)), beta2, which,
                                      zd, xp=xp)
        c = _binary_counts(y_true, y_pred, xp=xp)
        tp = xp.astype(c.tp, dtype)
        return _fbeta_from_counts(tp, tp + xp.astype(c.fn, dtype), tp + xp.astype(c.fp, dtype), beta2, which, zd, xp=xp)

    a, b, classes = _multiclass_labels(y_true, y_pred, num_classes, dtype, xp=xp)
    tp, true_sum, pred_sum = _class_counts(a, b, classes, dtype, w, xp=xp)
    if average == "micro":
        return _fbeta_from_counts(xp.sum(tp), xp.sum(true_sum), xp.sum(pred_sum), beta2, which, zd, xp=xp)
    score = _fbeta_from_counts(tp, true_sum, pred_sum, beta2, which, zd, xp=xp)
    if average is None:
        return score
    # over the classes present in y_true or y_pred (scikit-learn's default labels=None)
    present = (true_sum + pred_sum) > 0
    weights = true_sum if average == "weighted" else xp.ones_like(true_sum)
    return _masked_average(score, present, weights, skip_nan=which != "jaccard", xp=xp)


# ============================================================ classification
def confusion_counts(y_true, y_pred, *, sample_weight=None):
    r"""Cells of the binary confusion matrix.

    .. math:: \mathrm{TP} = \sum_i s_i [y_i = 1][\hat y_i = 1],\quad
              \mathrm{TN} = \sum_i s_i [y_i = 0][\hat y_i = 0],\quad
              \mathrm{FP} = \sum_i s_i [y_i = 0][\hat y_i = 1],\quad
              \mathrm{FN} = \sum_i s_i [y_i = 1][\hat y_i = 0]

    with :math:`s_i = 1` unless ``sample_weight`` is given.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
        Labels 0/1 (integer, boolean or floating).
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the samples: each cell becomes the sum of
        the weights of its samples.

    Returns
    -------
    ConfusionCounts
        ``(tp, tn, fp, fn)``, a named tuple of 0-d arrays on the inputs'
        device: of the backend's default integer dtype, or with
        ``sample_weight`` of the floating dtype promoted over the labels and
        the weights (summed in float64 where the device has it).
        scikit-learn's ``confusion_matrix(y_true, y_pred,
        sample_weight=sample_weight).ravel()`` is ``(tn, fp, fn, tp)``.

    Raises
    ------
    ValueError
        Inputs not 1-D, of different lengths or empty; labels other than
        0 and 1 (concrete inputs); ``sample_weight`` of another shape than
        (n_samples,), or (concrete inputs) negative, NaN, infinite or all zero.

    Examples
    --------
    >>> import numpy as np
    >>> tp, tn, fp, fn = confusion_counts(np.array([1, 0, 1, 1]), np.array([1, 1, 0, 1]))
    >>> int(tp), int(tn), int(fp), int(fn)
    (2, 0, 1, 1)
    """
    xp = array_namespace(y_true, y_pred, sample_weight)
    _check_binary_pair(y_true, y_pred, xp=xp)
    if sample_weight is None:
        return _binary_counts(y_true, y_pred, xp=xp)
    dtype = float_dtype(xp, y_true, y_pred, sample_weight)
    w = _sample_weights(sample_weight, y_true, _wide_float(y_true, xp=xp), nonnegative=True, xp=xp)
    cells = _weighted_binary_counts(y_true, y_pred, w, xp=xp)
    return ConfusionCounts(*(as_array0d(xp.astype(c, dtype), xp) for c in cells))


def confusion_matrix(y_true, y_pred, num_classes=None, *, sample_weight=None):
    r"""Multiclass confusion matrix, as one GEMM of one-hot encodings.

    .. math:: C = Y^\top \hat Y,\qquad C_{ij} = \#\{s : y_s = i,\ \hat y_s = j\}

    where :math:`Y` and :math:`\hat Y` are the (n_samples, num_classes)
    one-hot encodings of ``y_true`` and ``y_pred`` (rows are true classes,
    columns predicted ones, as in scikit-learn).  With ``sample_weight``
    :math:`s`, :math:`C = (\operatorname{diag}(s)\,Y)^\top \hat Y`:
    :math:`C_{ij} = \sum_{t : y_t = i,\ \hat y_t = j} s_t`.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
        Class indices in ``[0, num_classes)``.
    num_classes : int, optional
        Number of classes.  ``None`` infers ``max(y_true, y_pred) + 1`` from
        eager inputs; required for traced inputs (``jax.jit``).
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the samples: each cell becomes the sum of
        the weights of its samples.

    Returns
    -------
    array of shape (num_classes, num_classes)
        Counts in the backend's default integer dtype (with
        ``sample_weight``: sums of weights in the floating dtype promoted
        over the labels and the weights), equal to
        ``sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(num_classes),
        sample_weight=sample_weight)``.

    Notes
    -----
    The GEMM runs in float64 where the device has it (exact up to
    :math:`2^{53}` samples per cell), else float32 (exact up to
    :math:`2^{24}`).  Cost :math:`O(n k^2)` flops, two (n, k) temporaries;
    no scatter and no loop.

    Raises
    ------
    ValueError
        Inputs not 1-D, of different lengths or empty; labels outside
        ``[0, num_classes)`` (concrete inputs); ``num_classes=None`` on traced
        inputs; ``sample_weight`` of another shape than (n_samples,), or
        (concrete inputs) negative, NaN, infinite or all zero.
    """
    xp = array_namespace(y_true, y_pred, sample_weight)
    _check_label_dtype(y_true, "y_true", xp=xp)
    _check_label_dtype(y_pred, "y_pred", xp=xp)
    _check_pair(y_true, y_pred)
    dtype = float_dtype(xp, y_true, y_pred)
    wide = _wide_float(y_true, xp=xp)
    w = _sample_weights(sample_weight, y_true, wide, nonnegative=True, xp=xp)
    a, b, classes = _multiclass_labels(y_true, y_pred, num_classes, dtype, xp=xp)
    k = classes.shape[0]
    check_class_elements(k, (k, k), "a confusion matrix")
    onehot_true = xp.astype(a[:, None] == classes, wide)
    onehot_pred = xp.astype(b[:, None] == classes, wide)
    if w is not None:
        onehot_true = onehot_true * w[:, None]
    counts = xp.matmul(xp.matrix_transpose(onehot_true), onehot_pred)
    if w is not None:
        return xp.astype(counts, float_dtype(xp, y_true, y_pred, sample_weight))
    return xp.astype(counts, _int_dtype(a, xp=xp))


def accuracy(y_true, y_pred, *, sample_weight=None):
    r"""Fraction of correct predictions (binary or multiclass).

    .. math:: \mathrm{acc} = \frac1n \sum_i [y_i = \hat y_i]
              \;\Bigl(= \frac{\mathrm{TP} + \mathrm{TN}}{n} \text{ for binary labels}\Bigr)

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
        Labels of any kind that compares exactly (class indices, 0/1).

    Returns
    -------
    0-d array
        As ``sklearn.metrics.accuracy_score``.
    """
    xp = array_namespace(y_true, y_pred)
    _check_label_dtype(y_true, "y_true", xp=xp)
    _check_label_dtype(y_pred, "y_pred", xp=xp)
    _check_pair(y_true, y_pred)
    dtype = float_dtype(xp, y_true, y_pred)
    a, b = _label_pair(y_true, y_pred, dtype, xp=xp)
    w = _sample_weights(sample_weight, y_true, dtype, xp=xp)
    hits = xp.astype(a == b, dtype)
    return as_array0d(xp.mean(hits) if w is None else xp.sum(w * hits) / xp.sum(w), xp)


def precision(y_true, y_pred, *, average="binary", num_classes=None, zero_division=0, sample_weight=None):
    r"""Precision: the fraction of predicted positives that are positive.

    .. math:: P = \frac{\mathrm{TP}}{\mathrm{TP} + \mathrm{FP}}
              \quad (0 \text{ when } \mathrm{TP} + \mathrm{FP} = 0)

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
        Labels 0/1 for ``average="binary"``, else class indices.
    average : {"binary", "macro", "micro", "weighted"} or None
        ``"binary"``: the score of class 1.  ``None``: the per-class scores,
        an array of shape (num_classes,) (scikit-learn's ``average=None``
        with ``labels=range(num_classes)``: a class absent from both inputs
        scores ``zero_division``).  Otherwise per-class scores
        :math:`P_c` from one-vs-rest counts, then ``"macro"``: their mean over
        the classes present in ``y_true`` or ``y_pred`` (scikit-learn's
        default class set); ``"weighted"``: their mean weighted by the class
        supports :math:`n_c = \#\{y_i = c\}`; ``"micro"``: the score of the
        summed counts (equal to the accuracy for single-label data).
    num_classes : int, optional
        Number of classes for the multiclass averages; inferred from eager
        inputs when ``None``, required under ``jax.jit``.
    zero_division : {0, 1, nan, "warn"}, default 0
        The score where its denominator is 0, as scikit-learn's
        ``zero_division`` (``"warn"`` gives 0, without a warning: the check
        would read the values back).  With ``nan`` the averages skip the
        undefined classes (scikit-learn's ``_nanaverage``).
    sample_weight : array of shape (n_samples,), optional
        Weights of the samples: the counts become sums of weights.

    Returns
    -------
    0-d array, or array of shape (num_classes,) for ``average=None``
        As ``sklearn.metrics.precision_score(..., zero_division=zero_division)``.

    Raises
    ------
    ValueError
        Bad shapes; unknown ``average``; labels other than 0/1 with
        ``average="binary"`` or outside ``[0, num_classes)`` (concrete
        inputs); ``num_classes=None`` on traced inputs.
    """
    return _prf(y_true, y_pred, which="precision", beta=1.0, average=average, num_classes=num_classes,
                zero_division=zero_division, sample_weight=sample_weight)


def recall(y_true, y_pred, *, average="binary", num_classes=None, zero_division=0, sample_weight=None):
    r"""Recall (sensitivity, true-positive rate).

    .. math:: R = \frac{\mathrm{TP}}{\mathrm{TP} + \mathrm{FN}}
              \quad (0 \text{ when } \mathrm{TP} + \mathrm{FN} = 0)

    Arguments, averaging and errors as in :func:`precision`; equals
    ``sklearn.metrics.recall_score(..., zero_division=0)``.
    """
    return _prf(y_true, y_pred, which="recall", beta=1.0, average=average, num_classes=num_classes,
                zero_division=zero_division, sample_weight=sample_weight)


def fbeta(y_true, y_pred, *, beta=1.0, average="binary", num_classes=None, zero_division=0, sample_weight=None):
    r"""F-beta score: weighted harmonic mean of precision and recall.

    .. math:: F_\beta = \frac{(1+\beta^2)\,P R}{\beta^2 P + R}
              = \frac{(1+\beta^2)\,\mathrm{TP}}{(1+\beta^2)\,\mathrm{TP} + \beta^2\,\mathrm{FN} + \mathrm{FP}}

    computed from the counts (the right-hand form), 0 when its denominator is
    0.  ``beta=1`` is F1; ``beta=0`` is the precision.  Other arguments,
    averaging and errors as in :func:`precision`; equals
    ``sklearn.metrics.fbeta_score(..., zero_division=0)``.

    Parameters
    ----------
    beta : float, default 1.0
        Weight of recall, finite and non-negative.
    """
    return _prf(y_true, y_pred, which="f", beta=beta, average=average, num_classes=num_classes,
                zero_division=zero_division, sample_weight=sample_weight)


def f1(y_true, y_pred, *, average="binary", num_classes=None, zero_division=0, sample_weight=None):
    r"""F1 score, :func:`fbeta` with :math:`\beta = 1`.

    .. math:: F_1 = \frac{2 P R}{P + R} = \frac{2\,\mathrm{TP}}{2\,\mathrm{TP} + \mathrm{FN} + \mathrm{FP}}

    Equals ``sklearn.metrics.f1_score(..., zero_division=0)``.
    """
    return _prf(y_true, y_pred, which="f", beta=1.0, average=average, num_classes=num_classes,
                zero_division=zero_division, sample_weight=sample_weight)


def mcc(y_true, y_pred, *, sample_weight=None):
    r"""Matthews correlation coefficient of binary labels.

    .. math:: \mathrm{MCC} = \frac{\mathrm{TP}\,\mathrm{TN} - \mathrm{FP}\,\mathrm{FN}}
              {\sqrt{(\mathrm{TP}+\mathrm{FP})(\mathrm{TP}+\mathrm{FN})(\mathrm{TN}+\mathrm{FP})(\mathrm{TN}+\mathrm{FN})}}

    0 when the denominator is 0 (a constant ``y_true`` or ``y_pred``), as
    ``sklearn.metrics.matthews_corrcoef``.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
        Labels 0/1.
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the samples: the four counts become sums of
        weights (:func:`confusion_counts`), as scikit-learn's weighted
        confusion matrix.

    Returns
    -------
    0-d array in [-1, 1].
    """
    xp = array_namespace(y_true, y_pred, sample_weight)
    _check_binary_pair(y_true, y_pred, xp=xp)
    dtype = float_dtype(xp, y_true, y_pred)
    if sample_weight is None:
        return _mcc_from_counts(*(xp.astype(c, dtype) for c in _binary_counts(y_true, y_pred, xp=xp)), xp=xp)
    # weighted counts and their products in float64 where the device has it
    w = _sample_weights(sample_weight, y_true, _wide_float(y_true, xp=xp), nonnegative=True, xp=xp)
    return xp.astype(_mcc_from_counts(*_weighted_binary_counts(y_true, y_pred, w, xp=xp), xp=xp), dtype)


def _mcc_from_counts(tp, tn, fp, fn, *, xp):
    den = xp.sqrt((tp + fp) * (tp + fn)) * xp.sqrt((tn + fp) * (tn + fn))
    return _safe_div(tp * tn - fp * fn, den, xp=xp)


def jaccard(y_true, y_pred, *, average="binary", num_classes=None, zero_division=0, sample_weight=None):
    r"""Jaccard index (intersection over union of the predicted and true positives).

    .. math:: J = \frac{\mathrm{TP}}{\mathrm{TP} + \mathrm{FP} + \mathrm{FN}}
              \quad (\texttt{zero\_division} \text{ when the denominator is } 0)

    per class for the multiclass averages; ``"micro"`` divides the summed
    counts, ``"macro"`` and ``"weighted"`` average the per-class indices
    over the classes present in ``y_true`` or ``y_pred`` (a NaN index
    propagates into the average, as in scikit-learn).  Arguments and errors
    as in :func:`precision`.

    Returns
    -------
    0-d array, or array of shape (num_classes,) for ``average=None``
        As ``sklearn.metrics.jaccard_score(..., zero_division=zero_division)``.
    """
    return _prf(y_true, y_pred, which="jaccard", beta=1.0, average=average, num_classes=num_classes,
                zero_division=zero_division, sample_weight=sample_weight)


def balanced_accuracy(y_true, y_pred, *, adjusted=False, num_classes=None, sample_weight=None):
    r"""Balanced accuracy: the mean recall over the classes present in ``y_true``.

    .. math:: \mathrm{BA} = \frac1{|C|}\sum_{c \in C} \frac{\mathrm{TP}_c}{n_c},
              \qquad C = \{c : n_c = \#\{i : y_i = c\} > 0\}

    ``adjusted=True`` rescales chance to 0 and a perfect score to 1:
    :math:`(\mathrm{BA} - 1/|C|) / (1 - 1/|C|)` (an IEEE 0/0 or x/0 when
    ``y_true`` holds one class, as in scikit-learn).

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
        Class indices (0/1 for binary data).
    adjusted : bool, default False
    num_classes : int, optional
        As in :func:`precision`.
    sample_weight : array of shape (n_samples,), optional
        Weights of the samples: :math:`\mathrm{TP}_c` and :math:`n_c` become
        sums of weights, and :math:`C` the classes of nonzero weight in
        ``y_true``.

    Returns
    -------
    0-d array, equal to ``sklearn.metrics.balanced_accuracy_score`` (with
    ``sample_weight``, its weighted result).
    """
    xp = array_namespace(y_true, y_pred, sample_weight)
    _check_label_dtype(y_true, "y_true", xp=xp)
    _check_label_dtype(y_pred, "y_pred", xp=xp)
    _check_pair(y_true, y_pred)
    dtype = float_dtype(xp, y_true, y_pred)
    w = _sample_weights(sample_weight, y_true, dtype, xp=xp)
    a, b, classes = _multiclass_labels(y_true, y_pred, num_classes, dtype, xp=xp)
    tp, true_sum, _ = _class_counts(a, b, classes, dtype, w, xp=xp)
    present = xp.astype(true_sum != 0, dtype)
    n_present = xp.sum(present)
    score = xp.sum(_safe_div(tp, true_sum, xp=xp)) / n_present
    if adjusted:
        chance = 1.0 / n_present
        score = (score - chance) / (1.0 - chance)
    return as_array0d(score, xp)


_KAPPA_WEIGHTS = (None, "linear", "quadratic")


def cohen_kappa(y1, y2, *, weights=None, num_classes=None, replace_undefined_by=math.nan, sample_weight=None):
    r"""Cohen's kappa: agreement of two labelings beyond chance.

    With :math:`C` the confusion matrix of ``y1`` against ``y2`` (``n``
    samples; with ``sample_weight`` the weighted confusion matrix and
    :math:`n = \sum_i s_i`), :math:`E = C\mathbf 1\,\mathbf 1^\top C / n` the counts
    expected from the marginals, and disagreement weights
    :math:`w_{ij} = [i \ne j]` (``None``), :math:`|i - j|` (``"linear"``) or
    :math:`(i - j)^2` (``"quadratic"``):

    .. math:: \kappa = 1 - \frac{\sum_{ij} w_{ij} C_{ij}}{\sum_{ij} w_{ij} E_{ij}}

    Parameters
    ----------
    y1, y2 : array of shape (n_samples,)
        Class indices.
    weights : {None, "linear", "quadratic"}
    num_classes : int, optional
        As in :func:`confusion_matrix`.  The linear and quadratic weights
        use the class indices ``0 .. num_classes - 1``.
    replace_undefined_by : float, default nan
        The value when the denominator is 0 (both labelings one and the
        same constant class), as scikit-learn.
    sample_weight : array of shape (n_samples,), optional
        Weights of the samples (scikit-learn's weighted confusion matrix).

    Returns
    -------
    0-d array
        Equal to ``sklearn.metrics.cohen_kappa_score(y1, y2,
        labels=range(num_classes))`` (the default ``labels=None`` gives the
        same result when every class in ``0 .. num_classes - 1`` occurs, or
        for ``weights=None``).
    """
    if weights not in _KAPPA_WEIGHTS:
        raise ValueError(f"weights must be one of {_KAPPA_WEIGHTS}; got weights={weights!r}")
    if not isinstance(replace_undefined_by, numbers.Real):
        raise TypeError(f"replace_undefined_by must be a real number; got {replace_undefined_by!r}")
    xp = array_namespace(y1, y2, sample_weight)
    _check_label_dtype(y1, "y1", xp=xp)
    _check_label_dtype(y2, "y2", xp=xp)
    _check_pair(y1, y2, "y1", "y2")
    dtype = float_dtype(xp, y1, y2)
    wide = _wide_float(y1, xp=xp)
    sw = _sample_weights(sample_weight, y1, wide, xp=xp)
    a, b, classes = _multiclass_labels(y1, y2, num_classes, dtype, ("y1", "y2"), xp=xp)
    k = classes.shape[0]
    check_class_elements(k, (k, k), "a confusion matrix")
    onehot_1 = xp.astype(a[:, None] == classes, wide)
    onehot_2 = xp.astype(b[:, None] == classes, wide)
    if sw is not None:
        onehot_1 = onehot_1 * sw[:, None]
    conf = xp.matmul(xp.matrix_transpose(onehot_1), onehot_2)
    sum_rows, sum_cols = xp.sum(conf, axis=1), xp.sum(conf, axis=0)
    total = float(a.shape[0]) if sw is None else xp.sum(sw)
    expected = sum_rows[:, None] * sum_cols[None, :] / total
    idx = xp.arange(k, dtype=wide, device=device_of(conf))
    diff = idx[:, None] - idx[None, :]
    if weights is None:
        w = xp.astype(diff != 0, wide)
    elif weights == "linear":
        w = xp.abs(diff)
    else:
        w = diff * diff
    num, den = xp.sum(w * conf), xp.sum(w * expected)
    kappa = 1.0 - num / xp.where(den != 0, den, xp.ones_like(den))
    kappa = xp.where(den != 0, kappa, xp.full_like(kappa, float(replace_undefined_by)))
    return xp.astype(kappa, dtype)


def top_k_accuracy(y_true, y_score, *, k=2, normalize=True, sample_weight=None):
    r"""Top-k accuracy: the fraction of samples whose true class is among the ``k`` highest scores.

    .. math:: \mathrm{rank}_i = \#\{j : s_{ij} > s_{i y_i}\} + \#\{j > y_i : s_{ij} = s_{i y_i}\},
              \qquad \mathrm{acc}_k = \frac1n \sum_i [\mathrm{rank}_i < k]

    Ties are broken as scikit-learn does (a stable ascending sort, reversed:
    of tied classes the higher index ranks first).  No sort is needed: the
    rank is counted in :math:`O(n \cdot n_\mathrm{classes})`.

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Class indices in ``[0, n_classes)``.
    y_score : array of shape (n_samples, n_classes)
        Scores (probabilities, logits), one column per class.
    k : int, default 2
        Number of top classes that count as a hit; ``k >= n_classes`` gives 1.
    normalize : bool, default True
        The fraction (``True``) or the number of hits (``False``).
    sample_weight : array of shape (n_samples,), optional
        Weights of the samples: the weighted mean of the hits (``normalize=True``)
        or the sum of the weights of the hits.

    Returns
    -------
    0-d array
        Equal to ``sklearn.metrics.top_k_accuracy_score(y_true, y_score, k=k,
        labels=range(n_classes))``.  Binary scores of shape (n_samples,) are
        not taken (scikit-learn thresholds them at a value chosen from the
        data); pass the two columns ``(1 - p, p)``.
    """
    xp = array_namespace(y_true, y_score, sample_weight)
    k = _check_k(k)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool; got {normalize!r}")
    _check_label_dtype(y_true, "y_true", xp=xp)
    if not xp.isdtype(y_score.dtype, ("integral", "real floating")):
        raise TypeError(f"y_score must be a real array; got dtype {y_score.dtype}")
    check_ndim(y_true, "y_true", 1)
    check_ndim(y_score, "y_score", 2)
    if y_score.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"y_true and y_score must have the same number of samples; got y_true.shape={tuple(y_true.shape)} "
            f"and y_score.shape={tuple(y_score.shape)}"
        )
    check_nonempty(y_true, "y_true")
    _check_not_nan(y_score, "y_score", xp=xp)
    dtype = float_dtype(xp, y_true, y_score)
    n_classes = y_score.shape[1]
    labels = xp.astype(y_true, _int_dtype(y_true, xp=xp)) if _is_bool(y_true, xp=xp) else y_true
    _check_classes(labels, n_classes, "y_true", xp=xp)
    classes = xp.arange(n_classes, dtype=labels.dtype, device=device_of(labels))
    onehot = labels[:, None] == classes
    own = xp.sum(xp.where(onehot, y_score, xp.zeros_like(y_score)), axis=1)[:, None]
    idt = _int_dtype(y_true, xp=xp)
    above = (y_score > own) | ((y_score == own) & (classes > labels[:, None]))
    hits = xp.astype(_count(above, idt, axis=1, xp=xp) < k, dtype)
    w = _sample_weights(sample_weight, y_true, dtype, xp=xp)
    if w is not None:
        return as_array0d(xp.sum(w * hits) / xp.sum(w) if normalize else xp.sum(w * hits), xp)
    return as_array0d(xp.mean(hits) if normalize else xp.sum(hits), xp)


def hamming_loss(y_true, y_pred, *, sample_weight=None):
    r"""Fraction of wrong labels.

    .. math:: L_H = \frac{1}{n L}\sum_{i=1}^{n}\sum_{l=1}^{L} [y_{il} \ne \hat y_{il}]

    For 1-D labels (:math:`L = 1`) this is ``1 - accuracy``; 2-D inputs are
    multilabel indicator matrices.

    With ``sample_weight`` :math:`s`, the weighted mean over the samples,
    :math:`\sum_i s_i \frac1L\sum_l [y_{il} \ne \hat y_{il}] / \sum_i s_i`.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,) or (n_samples, n_labels)
    sample_weight : array of shape (n_samples,), optional

    Returns
    -------
    0-d array, equal to ``sklearn.metrics.hamming_loss``.
    """
    xp = array_namespace(y_true, y_pred, sample_weight)
    _check_label_dtype(y_true, "y_true", xp=xp)
    _check_label_dtype(y_pred, "y_pred", xp=xp)
    check_ndim(y_true, "y_true", (1, 2))
    check_same_shape(y_true, y_pred, "y_true", "y_pred")
    check_nonempty(y_true, "y_true")
    dtype = float_dtype(xp, y_true, y_pred)
    a, b = _label_pair(y_true, y_pred, dtype, xp=xp)
    w = _sample_weights(sample_weight, y_true, dtype, xp=xp)
    wrong = xp.astype(a != b, dtype)
    if w is None:
        return as_array0d(xp.mean(wrong), xp)
    per_sample = wrong if wrong.ndim == 1 else xp.mean(wrong, axis=1)
    return as_array0d(xp.sum(w * per_sample) / xp.sum(w), xp)


# ------------------------------------------------------------ ranking of scores
def _sorted_scores(y_true, scores, sample_weight=None):
    """Validate, sort once, and return what ROC-AUC and AP share.

    Returns ``(xp, dtype, wide, s, y, P, n, ws)``: scores sorted ascending,
    the 0/1 labels in that order (``wide`` float), the number of positives
    and of samples, and the sample weights in that order (``wide``; ``None``
    without weights).
    """
    xp = array_namespace(y_true, scores, sample_weight)
    _check_label_dtype(y_true, "y_true", xp=xp)
    if not xp.isdtype(scores.dtype, ("bool", "integral", "real floating")):
        raise TypeError(f"scores must be a real-valued array; got dtype {scores.dtype}")
    _check_pair(y_true, scores, "y_true", "scores")
    _check_binary(y_true, "y_true", xp=xp)
    _check_not_nan(scores, "scores", xp=xp)
    dtype = float_dtype(xp, y_true, scores)
    wide = _wide_float(scores, xp=xp)
    if _is_bool(scores, xp=xp):
        scores = xp.astype(scores, _int_dtype(scores, xp=xp))
    w = _sample_weights(sample_weight, y_true, wide, xp=xp)
    n = y_true.shape[0]
    order = xp.argsort(scores, stable=False)
    s = xp.take(scores, order)
    y = xp.take(xp.astype(_positive(y_true, xp=xp), wide), order)
    n_pos = xp.sum(y)
    value_check(
        (n_pos > 0) & (n_pos < n),
        "y_true holds a single class (all 0 or all 1): ROC-AUC and average precision are "
        "undefined; both classes must be present",
    )
    return xp, dtype, wide, s, y, n_pos, n, (None if w is None else xp.take(w, order))


def roc_auc(y_true, scores, *, max_fpr=None, multi_class="raise", average="macro", sample_weight=None):
    r"""Area under the ROC curve, exact with tied scores, in :math:`O(n \log n)`.

    The trapezoidal area under the ROC curve through the distinct thresholds
    (scikit-learn's ``roc_auc_score``) equals the Mann-Whitney statistic with
    mid-ranks, which is what is computed:

    .. math:: \mathrm{AUC} = \frac{1}{n_+ n_-}\sum_{i: y_i = 1}\sum_{j: y_j = 0}
              \Bigl([s_i > s_j] + \tfrac12 [s_i = s_j]\Bigr)
              = \frac{\sum_{i: y_i=1} r_i - n_+(n_+ + 1)/2}{n_+ n_-}

    with :math:`r_i` the rank of :math:`s_i` among all scores (ascending, tied
    scores sharing their mean rank).  One sort; the tie group of each sorted
    score is found with two binary searches of the sorted scores (``left``
    and ``right``), so :math:`r_i = (\mathrm{left}_i + \mathrm{right}_i + 1)/2`
    -- no threshold loop, no data-dependent shapes (works under ``jax.jit``).

    **Partial area** (``max_fpr`` in (0, 1)): the area under the
    piecewise-linear curve for :math:`\mathrm{FPR} \le m`, the last segment
    interpolated at :math:`m`, with McClish's standardisation
    :math:`\tfrac12\bigl(1 + \frac{A - m^2/2}{m - m^2/2}\bigr)`, as
    scikit-learn; computed from the fixed-length :func:`roc_curve`
    (one clipped trapezoid per point).

    **Multiclass** (``scores`` of shape (n_samples, n_classes), class
    probabilities summing to 1 per row, labels ``0 .. n_classes - 1``, all
    present): ``multi_class="ovr"`` averages the one-vs-rest AUCs
    :math:`A(c, \bar c)` of each class; ``"ovo"`` averages over the class
    pairs :math:`\tfrac12(A(a \mid b) + A(b \mid a))`, where
    :math:`A(a \mid b)` is the AUC of column :math:`a` on the samples of
    classes :math:`a` and :math:`b` (Hand & Till 2001).  Every such AUC is a
    Mann-Whitney count from one sort per column and cumulative class counts
    (no subsetting, fixed shapes): :math:`O(k\,n \log n + n k^2)`.
    ``average="macro"`` is the plain mean; ``"weighted"`` weights by the
    class (ovr) or pair (ovo) prevalence.

    **Sample weights** :math:`s_i` weight each pair of a positive and a
    negative by :math:`s_i s_j` (the trapezoidal area under the weighted ROC
    curve, as scikit-learn):
    :math:`\sum_{i: y_i=1}\sum_{j: y_j=0} s_i s_j ([s_i > s_j] + \tfrac12[\ldots =])
    / (S_+ S_-)` with :math:`S_\pm` the class weights, from cumulative weight
    sums of the sorted scores; the partial area uses the weighted ROC
    points; ``"ovr"`` weights each class's AUC the same way and its
    ``"weighted"`` average by the class weights.  ``"ovo"`` takes no weights
    (scikit-learn refuses them too).

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1 (binary) or class indices (multiclass).
    scores : array of shape (n_samples,) or (n_samples, n_classes)
        Scores, higher meaning more likely positive (probabilities, logits,
        decision values); class probabilities for the multiclass AUC.
    max_fpr : float in (0, 1], optional
        Binary only: the standardised partial AUC up to this false-positive rate.
    multi_class : {"raise", "ovr", "ovo"}
        Needed for 2-D ``scores`` (``"raise"``, the default, refuses them as
        scikit-learn does).
    average : {"macro", "weighted"}
        Averaging of the multiclass AUCs.
    sample_weight : array of shape (n_samples,), optional
        Weights of the samples (not with ``multi_class="ovo"``).

    Returns
    -------
    0-d array
        Equal to ``sklearn.metrics.roc_auc_score(y_true, scores, max_fpr=...,
        multi_class=..., average=...)``.  The sums
        run in float64 where the device has it (exact up to
        :math:`\sim 6\cdot 10^7` samples), else float32.

    Raises
    ------
    ValueError
        Bad shapes; labels other than 0/1, NaN scores, or a single class in
        ``y_true`` (concrete inputs).  On traced or lazy inputs a single class
        gives NaN (the area is undefined), as current scikit-learn returns.
        Multiclass: rows of ``scores`` not summing to 1, a class absent from
        ``y_true`` (concrete inputs); ``max_fpr`` with 2-D scores.
    """
    if multi_class not in ("raise", "ovr", "ovo"):
        raise ValueError(f"multi_class must be one of ('raise', 'ovr', 'ovo'); got multi_class={multi_class!r}")
    if average not in ("macro", "weighted"):
        raise ValueError(f"average must be 'macro' or 'weighted'; got average={average!r}")
    if max_fpr is not None and not (isinstance(max_fpr, numbers.Real) and 0 < max_fpr <= 1):
        raise ValueError(f"max_fpr must be a number in (0, 1] or None; got max_fpr={max_fpr!r}")
    if getattr(scores, "ndim", 1) == 2:
        if multi_class == "raise":
            raise ValueError(
                f"scores must be 1-D for binary labels; got scores.shape={tuple(scores.shape)}: 2-D (multiclass) "
                "scores need multi_class='ovr' or 'ovo' (scikit-learn's default multi_class='raise' refuses them)"
            )
        if max_fpr is not None and max_fpr != 1:
            raise ValueError(f"max_fpr is only defined for binary scores; got max_fpr={max_fpr!r} with 2-D scores")
        if multi_class == "ovo" and sample_weight is not None:
            raise ValueError(
                "sample_weight is not supported for the one-vs-one multiclass AUC (nor by scikit-learn); "
                "pass sample_weight=None or multi_class='ovr'"
            )
        return as_array0d(_multiclass_auc(y_true, scores, multi_class, average, sample_weight),
                          array_namespace(scores))
    if max_fpr is not None and max_fpr != 1:
        return as_array0d(_partial_auc(y_true, scores, float(max_fpr), sample_weight), array_namespace(scores))
    return _binary_auc(y_true, scores, sample_weight)


def _partial_auc(y_true, scores, m, sample_weight=None):
    """McClish-standardised partial AUC up to FPR ``m``, from the fixed-length ROC points."""
    xp, dtype, wide, s, tp, pp, n_pos, n_neg, _, _ = _curve_inputs(y_true, scores, sample_weight)
    value_check(
        (n_pos > 0) & (n_neg > 0),
        "y_true holds a single class (all 0 or all 1): ROC-AUC is undefined; both classes must be present",
    )
    zero = xp.zeros((1,), dtype=wide, device=device_of(s))
    fpr = _nan_div(xp.concat([zero, xp.flip(pp - tp)]), xp.full_like(xp.concat([zero, tp]), 1.0) * n_neg, xp=xp)
    tpr = _nan_div(xp.concat([zero, xp.flip(tp)]), xp.full_like(fpr, 1.0) * n_pos, xp=xp)
    f0, f1, t0, t1 = fpr[:-1], fpr[1:], tpr[:-1], tpr[1:]
    full = f1 <= m
    # a segment crossing m: its part left of m, the rate interpolated at m
    t_m = t0 + (t1 - t0) * _safe_div(m - f0, f1 - f0, xp=xp)
    part = xp.where(full, (f1 - f0) * (t0 + t1) / 2.0,
                    xp.where(f0 < m, (m - f0) * (t0 + t_m) / 2.0, xp.zeros_like(f0)))
    area = xp.sum(part)
    min_area, max_area = 0.5 * m * m, m
    return xp.astype(0.5 * (1.0 + (area - min_area) / (max_area - min_area)), dtype)


def _multiclass_auc(y_true, scores, multi_class, average, sample_weight=None):
    """One-vs-rest or one-vs-one AUC from Mann-Whitney counts (one sort per column), optionally weighted."""
    xp = array_namespace(y_true, scores, sample_weight)
    _check_label_dtype(y_true, "y_true", xp=xp)
    if not xp.isdtype(scores.dtype, ("integral", "real floating")):
        raise TypeError(f"scores must be a real-valued array; got dtype {scores.dtype}")
    check_ndim(y_true, "y_true", 1)
    if scores.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"y_true and scores must have the same number of samples; got y_true.shape={tuple(y_true.shape)} "
            f"and scores.shape={tuple(scores.shape)}"
        )
    check_nonempty(y_true, "y_true")
    k = scores.shape[1]
    if k < 3:
        raise ValueError(
            f"the multiclass AUC needs at least 3 classes (columns); got scores.shape={tuple(scores.shape)}; "
            "for two classes pass the scores of class 1 as a 1-D array"
        )
    dtype = float_dtype(xp, y_true, scores)
    q = as_float(scores, xp, dtype)
    _check_not_nan(q, "scores", xp=xp)
    value_check(
        xp.all(xp.abs(xp.sum(xp.astype(q, _wide_float(q, xp=xp)), axis=1) - 1.0) <= 1e-6 * k),
        "multiclass scores must be class probabilities: every row must sum to 1",
    )
    labels = xp.astype(y_true, _int_dtype(y_true, xp=xp)) if _is_bool(y_true, xp=xp) else y_true
    _check_classes(labels, k, "y_true", xp=xp)
    check_class_elements(k, (y_true.shape[0], k), "one-hot encodings of the labels")
    wide = _wide_float(q, xp=xp)
    dev = device_of(q)
    onehot = xp.astype(labels[:, None] == xp.arange(k, dtype=labels.dtype, device=dev), wide)
    counts = xp.sum(onehot, axis=0)
    value_check(xp.all(counts > 0), "every class 0 .. n_classes - 1 must occur in y_true for the multiclass AUC")
    w = _sample_weights(sample_weight, y_true, wide, xp=xp)
    if w is not None:  # class masses instead of counts: every count below becomes a sum of weights
        onehot = onehot * w[:, None]
        counts = xp.sum(onehot, axis=0)
    # u[a, b] = sum over samples i of class a of #{j of class b: s_ja < s_ia} + 1/2 #{... =}, column a
    rows = []
    for a in range(k):
        col = q[:, a]
        order = xp.argsort(col, stable=False)
        s = xp.take(col, order)
        oh = xp.take(onehot, order, axis=0)
        cum = xp.cumulative_sum(oh, axis=0, include_initial=True)  # (n + 1, k)
        left = xp.searchsorted(s, s, side="left")
        right = xp.searchsorted(s, s, side="right")
        below, upto = xp.take(cum, left, axis=0), xp.take(cum, right, axis=0)
        rank = below + 0.5 * (upto - below)  # (n, k): class-b samples below each sample, ties halved
        rows.append(xp.sum(oh[:, a:a + 1] * rank, axis=0))
    u = xp.stack(rows)  # (k, k)
    n = float(y_true.shape[0]) if w is None else xp.sum(w)
    if multi_class == "ovr":
        u_rest = xp.sum(u, axis=1) - xp.sum(u * xp.eye(k, dtype=wide, device=dev), axis=1)
        aucs = u_rest / (counts * (n - counts))
        weights = counts / n if average == "weighted" else xp.ones_like(counts)
    else:
        pair = u / (counts[:, None] * counts[None, :])  # A(a | b)
        sym = (pair + xp.matrix_transpose(pair)) / 2.0
        idx = xp.arange(k, device=dev)
        upper = xp.astype(idx[:, None] < idx[None, :], wide)
        aucs = xp.reshape(sym, (-1,))
        prevalence = (counts[:, None] + counts[None, :]) / n
        weights = xp.reshape(upper * (prevalence if average == "weighted" else xp.ones_like(prevalence)), (-1,))
    return xp.astype(xp.sum(weights * aucs) / xp.sum(weights), dtype)


def _binary_auc(y_true, scores, sample_weight=None):
    xp, dtype, wide, s, y, n_pos, n, ws = _sorted_scores(y_true, scores, sample_weight)
    left = xp.searchsorted(s, s, side="left")
    right = xp.searchsorted(s, s, side="right")
    if ws is not None:
        # sum over positives i of s_i * (negative weight below s_i + half the tied negative weight)
        neg = (1.0 - y) * ws
        cneg = xp.cumulative_sum(neg, include_initial=True)
        below = xp.take(cneg, left)
        tied = xp.take(cneg, right) - below
        pos = y * ws
        den = xp.sum(pos) * xp.sum(neg)
        defined = den != 0
        num = xp.sum(pos * (below + 0.5 * tied))
        auc = xp.where(defined, num / xp.where(defined, den, xp.ones_like(den)), xp.full_like(den, math.nan))
        return xp.astype(auc, dtype)
    # sum over positives of 2 * mid-rank, minus 2 * n_pos (n_pos + 1) / 2, both without the +1
    twice_u = xp.sum(y * xp.astype(left + right, wide)) - n_pos * n_pos
    den = 2.0 * n_pos * (n - n_pos)
    defined = den > 0
    auc = xp.where(defined, twice_u / xp.where(defined, den, xp.ones_like(den)), xp.full_like(den, math.nan))
    return xp.astype(auc, dtype)


def average_precision(y_true, scores, *, sample_weight=None):
    r"""Average precision (area under the step precision-recall curve), exact with ties.

    Over the distinct thresholds :math:`t_1 > t_2 > \dots` (the distinct
    scores), with precision :math:`P_k` and recall :math:`R_k` of the rule
    :math:`s \ge t_k`, as scikit-learn's ``average_precision_score``:

    .. math:: \mathrm{AP} = \sum_k (R_k - R_{k-1})\,P_k
              = \frac{1}{n_+}\sum_{i: y_i = 1} \frac{\#\{j : y_j = 1,\ s_j \ge s_i\}}{\#\{j : s_j \ge s_i\}}

    (no interpolation).  The right-hand form needs one sort, one cumulative
    sum and one binary search per score: :math:`O(n \log n)`, no threshold
    loop, no data-dependent shapes.  With sample weights :math:`s_i` every
    count is a sum of weights:
    :math:`\frac{1}{S_+}\sum_{i: y_i = 1} s_i \frac{\sum_{j: y_j = 1, s_j \ge s_i} s_j}{\sum_{j: s_j \ge s_i} s_j}`
    (scikit-learn's weighted result; an undefined precision counts as 0).

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1.
    scores : array of shape (n_samples,)
        Scores, higher meaning more likely positive.
    sample_weight : array of shape (n_samples,), optional

    Returns
    -------
    0-d array
        Equal to ``sklearn.metrics.average_precision_score(y_true, scores,
        sample_weight=sample_weight)``.

    Raises
    ------
    ValueError
        As :func:`roc_auc` (a single class raises on concrete inputs).  On
        traced or lazy inputs without positives the result is 0, as
        scikit-learn returns.
    """
    xp, dtype, wide, s, y, n_pos, n, ws = _sorted_scores(y_true, scores, sample_weight)
    left = xp.searchsorted(s, s, side="left")  # = #{j : s_j < s_i}
    if ws is not None:
        yw = y * ws
        pos_w = xp.sum(yw)
        tp_at = pos_w - xp.take(xp.cumulative_sum(yw, include_initial=True), left)
        pp_at = xp.sum(ws) - xp.take(xp.cumulative_sum(ws, include_initial=True), left)
        return xp.astype(_safe_div(xp.sum(yw * _safe_div(tp_at, pp_at, xp=xp)), pos_w, xp=xp), dtype)
    pos_below = xp.cumulative_sum(y, include_initial=True)  # positives among the first m sorted
    tp_at = n_pos - xp.take(pos_below, left)  # positives with s_j >= s_i
    precision_at = tp_at / xp.astype(n - left, wide)
    ap = _safe_div(xp.sum(y * precision_at), n_pos, xp=xp)
    return xp.astype(ap, dtype)


# ------------------------------------------------------------ curves and thresholds
class ThresholdScores(NamedTuple):
    """Precision, recall and F1 of the rule ``scores >= threshold``, one entry per threshold."""

    precision: object
    recall: object
    f1: object


class BestThreshold(NamedTuple):
    """The best threshold of :func:`best_threshold` and its score (0-d arrays)."""

    threshold: object
    score: object


def _curve_inputs(y_true, scores, sample_weight=None):
    """Validated labels and scores; the scores sorted ascending with the counts at each sorted score.

    Returns ``(xp, dtype, wide, s, tp, pp, n_pos, n_neg, left, right)``:
    ``s`` the scores sorted ascending (floating ``dtype``); ``tp[i]`` and
    ``pp[i]`` the true and all predicted positives of the rule
    ``scores >= s[i]`` (a tie group shares its values), in ``wide``;
    ``left[i]``/``right[i]`` the first index and one past the last of the tie
    group of ``s[i]``.  With ``sample_weight`` every count is a sum of
    weights.  The class counts are not checked.
    """
    xp = array_namespace(y_true, scores, sample_weight)
    _check_label_dtype(y_true, "y_true", xp=xp)
    if not xp.isdtype(scores.dtype, ("bool", "integral", "real floating")):
        raise TypeError(f"scores must be a real-valued array; got dtype {scores.dtype}")
    _check_pair(y_true, scores, "y_true", "scores")
    _check_binary(y_true, "y_true", xp=xp)
    _check_not_nan(scores, "scores", xp=xp)
    dtype = float_dtype(xp, y_true, scores)
    wide = _wide_float(scores, xp=xp)
    w = _sample_weights(sample_weight, y_true, wide, xp=xp)
    n = y_true.shape[0]
    if _is_bool(scores, xp=xp):
        scores = xp.astype(scores, _int_dtype(scores, xp=xp))
    order = xp.argsort(scores, stable=False)
    s = as_float(xp.take(scores, order), xp, dtype)
    y = xp.take(xp.astype(_positive(y_true, xp=xp), wide), order)
    left = xp.searchsorted(s, s, side="left")  # #{j : s_j < s_i}: the first index of the tie group
    right = xp.searchsorted(s, s, side="right")
    if w is not None:
        ws = xp.take(w, order)
        yw, nw = y * ws, (1.0 - y) * ws
        pos_below = xp.cumulative_sum(yw, include_initial=True)
        neg_below = xp.cumulative_sum(nw, include_initial=True)
        # the totals are the cumulative sums' last entries: a count of zero-weight samples only is exactly 0
        n_pos, n_neg = pos_below[-1], neg_below[-1]
        tp = n_pos - xp.take(pos_below, left)
        pp = tp + (n_neg - xp.take(neg_below, left))
        return xp, dtype, wide, s, tp, pp, n_pos, n_neg, left, right
    n_pos = xp.sum(y)
    pos_below = xp.cumulative_sum(y, include_initial=True)
    tp = n_pos - xp.take(pos_below, left)
    pp = xp.astype(n - left, wide)
    return xp, dtype, wide, s, tp, pp, n_pos, float(n) - n_pos, left, right


def _without_zero_weights(y_true, scores, sample_weight, what):
    """The samples of nonzero weight (scikit-learn drops the others before finding the thresholds); eager only."""
    xp = array_namespace(y_true, scores, sample_weight)
    _check_pair(y_true, scores, "y_true", "scores")
    w = _sample_weights(sample_weight, y_true, _wide_float(scores, xp=xp), xp=xp)
    _eager_only(w, what)
    keep = w != 0
    out = (y_true[keep], scores[keep], w[keep])
    if math.isnan(out[0].shape[0] or 0.0):  # Dask: the boolean mask leaves the lengths unknown
        out = tuple(a.compute_chunk_sizes() for a in out)
    return out


def _eager_only(x, what):
    if is_traced(x):
        raise ValueError(
            f"{what} has a data-dependent length and cannot be traced (jax.jit, jax.vmap); "
            "use the fixed-length form (the default) inside traced code"
        )


def _nan_div(num, den, *, xp):
    """``num / den``, NaN where ``den == 0`` (undefined rates, as scikit-learn), without warnings."""
    nonzero = den != 0
    return xp.where(nonzero, num / xp.where(nonzero, den, xp.ones_like(den)), xp.full_like(num, math.nan))


def _check_flag(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {value!r}")


def roc_curve(y_true, scores, *, unique=False, drop_intermediate=False, sample_weight=None):
    r"""Receiver operating characteristic: false- and true-positive rates per threshold.

    For the rule "positive when :math:`s \ge t`",

    .. math:: \mathrm{TPR}(t) = \frac{\#\{i : y_i = 1, s_i \ge t\}}{n_+},
              \qquad \mathrm{FPR}(t) = \frac{\#\{i : y_i = 0, s_i \ge t\}}{n_-}

    **Fixed-length form** (default, traceable): the thresholds are
    :math:`+\infty` followed by every score in decreasing order -- ``n + 1``
    points whatever the data.  Tied scores give repeated, identical points
    (each tie group takes the rates of its whole group), so removing
    consecutive duplicates leaves exactly scikit-learn's
    ``roc_curve(y_true, scores, drop_intermediate=False)``.  One sort, one
    cumulative sum and one binary search: :math:`O(n \log n)`.

    ``unique=True`` performs that de-duplication and ``drop_intermediate=True``
    (which implies it) also drops the collinear points, as scikit-learn's
    default.  Both give data-dependent lengths: eager arrays only (refused
    under ``jax.jit``; lazy on Dask, with unknown lengths).

    With ``sample_weight`` the counts are sums of weights
    (:math:`\mathrm{TPR}(t) = \sum_{y_i = 1, s_i \ge t} w_i / \sum_{y_i = 1} w_i`).
    ``unique=True`` and ``drop_intermediate=True`` first drop the samples of
    zero weight, as scikit-learn does, so their scores are no thresholds;
    in the fixed-length form they stay, and their points repeat the point
    before them.

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1.
    scores : array of shape (n_samples,)
        Scores, higher meaning more likely positive.
    unique, drop_intermediate : bool, default False
    sample_weight : array of shape (n_samples,), optional

    Returns
    -------
    fpr, tpr, thresholds : arrays of shape (n_samples + 1,) (fixed form)
        Non-decreasing rates; ``thresholds[0] = inf``.  A class absent from
        ``y_true`` makes its rate NaN (scikit-learn warns and does the same).
    """
    _check_flag(unique, "unique")
    _check_flag(drop_intermediate, "drop_intermediate")
    if sample_weight is not None and (unique or drop_intermediate):
        y_true, scores, sample_weight = _without_zero_weights(y_true, scores, sample_weight,
                                                              "roc_curve(unique=True)")
    xp, dtype, wide, s, tp, pp, n_pos, n_neg, left, right = _curve_inputs(y_true, scores, sample_weight)
    fp = pp - tp
    dev = device_of(s)
    n = s.shape[0]
    zero = xp.zeros((1,), dtype=wide, device=dev)
    # decreasing thresholds: the ascending arrays reversed, after the (0, 0) point at +inf
    tps = xp.concat([zero, xp.flip(tp)])
    fps = xp.concat([zero, xp.flip(fp)])
    thr = xp.concat([xp.full((1,), math.inf, dtype=dtype, device=dev), xp.flip(s)])
    if unique or drop_intermediate:
        _eager_only(s, "roc_curve(unique=True)")
        # position p = 1..n of the decreasing arrays holds ascending index n - p; its tie
        # group spans positions first..last, and every position holds the group's counts
        first = xp.flip(n - right + 1)
        last = xp.flip(n - left)
        pos = xp.arange(1, n + 1, dtype=first.dtype, device=dev)
        keep = pos == last  # one point per tie group (scikit-learn's distinct thresholds)
        if drop_intermediate:
            # scikit-learn keeps the first and last groups and those where the counts bend:
            # a nonzero second difference with the previous and next groups' points
            prev_i, next_i = first - 1, xp.clip(last + 1, 0, n)
            def bend(c):
                return (xp.take(c, prev_i) - 2 * c[1:] + xp.take(c, next_i)) != 0
            keep = keep & ((first == 1) | (last == n) | bend(fps) | bend(tps))
        keep = xp.concat([xp.ones((1,), dtype=xp.bool, device=dev), keep])
        tps, fps, thr = tps[keep], fps[keep], thr[keep]
    fpr = xp.astype(_nan_div(fps, xp.full_like(fps, 1.0) * n_neg, xp=xp), dtype)
    tpr = xp.astype(_nan_div(tps, xp.full_like(tps, 1.0) * n_pos, xp=xp), dtype)
    return fpr, tpr, thr


def precision_recall_curve(y_true, scores, *, unique=False, sample_weight=None):
    r"""Precision and recall per threshold (recall decreasing), as scikit-learn.

    For the rule "positive when :math:`s \ge t`", :math:`P(t) = \mathrm{TP}(t) / \#\{s_i \ge t\}`
    and :math:`R(t) = \mathrm{TP}(t) / n_+`.

    **Fixed-length form** (default, traceable): the thresholds are every
    score in increasing order (``n`` of them), then the final point
    ``(precision, recall) = (1, 0)`` without a threshold.  Tied scores give
    repeated identical points; keeping the first of each run of equal
    thresholds (``unique=True``, eager only) leaves exactly
    ``sklearn.metrics.precision_recall_curve(y_true, scores)``.

    With ``sample_weight`` the counts are sums of weights; ``unique=True``
    first drops the samples of zero weight, as scikit-learn does.

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1.
    scores : array of shape (n_samples,)
    unique : bool, default False
    sample_weight : array of shape (n_samples,), optional

    Returns
    -------
    precision, recall : arrays of shape (n_samples + 1,) (fixed form)
    thresholds : array of shape (n_samples,)
        Increasing.  Without positives in ``y_true`` the recall is 1, as
        scikit-learn (which also warns).
    """
    _check_flag(unique, "unique")
    if sample_weight is not None and unique:
        y_true, scores, sample_weight = _without_zero_weights(y_true, scores, sample_weight,
                                                              "precision_recall_curve(unique=True)")
    xp, dtype, wide, s, tp, pp, n_pos, n_neg, _, _ = _curve_inputs(y_true, scores, sample_weight)
    dev = device_of(s)
    precision = _safe_div(tp, pp, xp=xp)
    recall = xp.where(n_pos > 0, tp / xp.where(n_pos > 0, n_pos, xp.ones_like(n_pos)), xp.ones_like(tp))
    thr = s
    if unique:
        _eager_only(s, "precision_recall_curve(unique=True)")
        first = xp.concat([xp.ones((1,), dtype=xp.bool, device=dev), s[1:] != s[:-1]])
        precision, recall, thr = precision[first], recall[first], thr[first]
    one = xp.ones((1,), dtype=dtype, device=dev)
    return (xp.concat([xp.astype(precision, dtype), one]), xp.concat([xp.astype(recall, dtype), one * 0.0]), thr)


def _scores_at(y_true, scores, thresholds, sample_weight=None):
    """True and predicted positives of ``scores >= t`` for each ``t`` in ``thresholds`` (binary searches).

    With ``sample_weight`` the counts are sums of weights.
    """
    xp = array_namespace(y_true, scores, thresholds, sample_weight)
    _check_pair(y_true, scores, "y_true", "scores")
    _sample_weights(sample_weight, y_true, _wide_float(scores, xp=xp), nonnegative=True, xp=xp)  # non-negative
    _, dtype, wide, s, tp, pp, n_pos, n_neg, _, _ = _curve_inputs(y_true, scores, sample_weight)
    if not xp.isdtype(thresholds.dtype, ("integral", "real floating")):
        raise TypeError(f"thresholds must be a real array; got dtype {thresholds.dtype}")
    check_ndim(thresholds, "thresholds", 1)
    n = s.shape[0]
    t = as_float(thresholds, xp, dtype)
    left = xp.searchsorted(s, t, side="left")  # #{scores < t}
    # tp of the rule at t: tp at the first sorted score >= t, or 0 beyond the largest score
    idx = xp.clip(left, 0, n - 1) if n > 1 else xp.zeros_like(left)
    tp_t = xp.where(left < n, xp.take(tp, idx), xp.zeros_like(xp.take(tp, idx)))
    if sample_weight is None:
        pp_t = xp.astype(n - left, wide)
    else:
        pp_t = xp.where(left < n, xp.take(pp, idx), xp.zeros_like(tp_t))
    return xp, dtype, tp_t, pp_t, n_pos, n_neg


def threshold_scores(y_true, scores, thresholds, *, zero_division=0, sample_weight=None):
    r"""Precision, recall and F1 of the rule ``scores >= t``, for every ``t`` in ``thresholds``.

    .. math:: P(t) = \frac{\mathrm{TP}(t)}{\#\{i : s_i \ge t\}},\quad
              R(t) = \frac{\mathrm{TP}(t)}{n_+},\quad
              F_1(t) = \frac{2\,\mathrm{TP}(t)}{\#\{i : s_i \ge t\} + n_+}

    With ``sample_weight`` :math:`w`, every count is a sum of weights:
    :math:`\mathrm{TP}(t) = \sum_{i : y_i = 1,\ s_i \ge t} w_i`,
    :math:`\sum_{i : s_i \ge t} w_i` and :math:`n_+ = \sum_{i : y_i = 1} w_i`.

    One sort of the scores and one binary search per threshold:
    :math:`O((n + m)\log n)` for ``m`` thresholds, fixed output shape.

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1.
    scores : array of shape (n_samples,)
    thresholds : array of shape (n_thresholds,)
    zero_division : {0, 1, nan, "warn"}, default 0
        As in :func:`precision`.
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the samples.

    Returns
    -------
    ThresholdScores
        ``(precision, recall, f1)``, each of shape (n_thresholds,); entry
        ``j`` equals ``sklearn.metrics.precision_score(y_true, scores >=
        thresholds[j], zero_division=zero_division, sample_weight=sample_weight)``
        (and ``recall_score``, ``f1_score``).
    """
    zd = _check_zero_division(zero_division)
    xp, dtype, tp, pp, n_pos, _ = _scores_at(y_true, scores, thresholds, sample_weight)
    pos = xp.full_like(tp, 1.0) * n_pos
    return ThresholdScores(
        xp.astype(_div_or(tp, pp, zd, xp=xp), dtype),
        xp.astype(_div_or(tp, pos, zd, xp=xp), dtype),
        xp.astype(_div_or(2.0 * tp, pp + pos, zd, xp=xp), dtype),
    )


_THRESHOLD_METRICS = ("f1", "accuracy", "balanced_accuracy", "mcc")


def best_threshold(y_true, scores, *, metric="f1", sample_weight=None):
    r"""The threshold ``t`` among the scores that maximises a metric of the rule ``scores >= t``.

    Every distinct score is a candidate (the rules between two consecutive
    scores are the same), scored from the counts
    :math:`\mathrm{TP}(t)`, :math:`\mathrm{FP}(t)` of one sort and one
    cumulative sum (:math:`O(n \log n)`, fixed shapes, traceable):

    - ``"f1"``: :math:`2\mathrm{TP} / (2\mathrm{TP} + \mathrm{FP} + \mathrm{FN})`;
    - ``"accuracy"``: :math:`(\mathrm{TP} + \mathrm{TN}) / n`;
    - ``"balanced_accuracy"``: :math:`(\mathrm{TPR} + \mathrm{TNR}) / 2`
      (the maximiser of Youden's :math:`J = \mathrm{TPR} - \mathrm{FPR}`);
    - ``"mcc"``: Matthews' correlation coefficient.

    Ties between thresholds go to the highest threshold.

    With ``sample_weight`` the counts are sums of weights, and the
    candidates are the distinct scores of the samples of nonzero weight (a
    zero weight is the same as dropping the sample).

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1.
    scores : array of shape (n_samples,)
    metric : {"f1", "accuracy", "balanced_accuracy", "mcc"}
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the samples.

    Returns
    -------
    BestThreshold
        ``(threshold, score)``, 0-d arrays: ``score`` equals
        ``sklearn.metrics.f1_score(y_true, scores >= threshold,
        sample_weight=sample_weight)`` (or the other metric), the maximum
        over all thresholds.
    """
    if metric not in _THRESHOLD_METRICS:
        raise ValueError(f"metric must be one of {_THRESHOLD_METRICS}; got metric={metric!r}")
    xp = array_namespace(y_true, scores, sample_weight)
    _check_pair(y_true, scores, "y_true", "scores")
    w = _sample_weights(sample_weight, y_true, _wide_float(scores, xp=xp), nonnegative=True, xp=xp)
    xp, dtype, wide, s, tp, pp, n_pos, n_neg, left, right = _curve_inputs(y_true, scores, sample_weight)
    n = n_pos + n_neg
    fp = pp - tp
    fn = n_pos - tp
    tn = n_neg - fp
    if w is not None:  # sums of weights: a rounding may leave -ulp
        tn = xp.maximum(tn, xp.zeros_like(tn))
    if metric == "f1":
        value = _safe_div(2.0 * tp, 2.0 * tp + fp + fn, xp=xp)
    elif metric == "accuracy":
        value = (tp + tn) / n
    elif metric == "balanced_accuracy":
        # scikit-learn averages over the classes present in y_true
        tpr, tnr = _safe_div(tp, xp.full_like(tp, 1.0) * n_pos, xp=xp), _safe_div(tn, xp.full_like(tn, 1.0) * n_neg, xp=xp)
        present = xp.astype(n_pos > 0, wide) + xp.astype(n_neg > 0, wide)
        value = (tpr + tnr) / present
    else:
        value = _mcc_from_counts(tp, tn, fp, fn, xp=xp)
    if w is not None:
        # A tie group of zero weight is no candidate (as if its samples were dropped): its rule
        # predicts the same weight as the next group's (exactly: the same cumulative sums).
        pp_next = xp.take(xp.concat([pp, xp.zeros_like(pp[:1])]), right)
        value = xp.where(pp > pp_next, value, xp.full_like(value, -math.inf))
    # the highest threshold among the maximisers: argmax of the reversed (decreasing) order
    rev = xp.flip(value)
    i = s.shape[0] - 1 - xp.argmax(rev)
    return BestThreshold(as_array0d(xp.take(s, xp.reshape(i, (1,)))[0], xp),
                         as_array0d(xp.astype(xp.max(value), dtype), xp))


# ------------------------------------------------------------ probability calibration
def _probabilities(y_true, p, *, xp):
    """Validated labels and probabilities (1-D binary or 2-D multiclass), ``p`` in its floating dtype."""
    _check_label_dtype(y_true, "y_true", xp=xp)
    if not xp.isdtype(p.dtype, ("integral", "real floating")):
        raise TypeError(f"p must hold probabilities as a real array; got dtype {p.dtype}")
    dtype = float_dtype(xp, y_true, p)
    q = as_float(p, xp, dtype)
    check_ndim(y_true, "y_true", 1)
    check_ndim(q, "p", (1, 2))
    if q.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"y_true and p must have the same number of samples; got y_true.shape={tuple(y_true.shape)} "
            f"and p.shape={tuple(q.shape)}"
        )
    check_nonempty(q, "p")
    value_check(
        xp.all((q >= 0) & (q <= 1)),
        lambda: f"p must hold probabilities in [0, 1]; got values in [{float(xp.min(q)):g}, {float(xp.max(q)):g}]",
    )
    return dtype, q


def brier_score(y_true, p, *, scale_by_half="auto", sample_weight=None):
    r"""Brier score: the mean squared error of predicted probabilities.

    Binary (``p`` of shape (n_samples,), the probability of class 1):
    :math:`\frac1n\sum_i (y_i - p_i)^2`.  Multiclass (``p`` of shape
    (n_samples, n_classes)): :math:`\frac1n\sum_i\sum_c ([y_i = c] - p_{ic})^2`,
    halved when ``scale_by_half`` is true (``"auto"``: for fewer than three
    columns, so that two columns give the binary score), as scikit-learn.
    With ``sample_weight`` :math:`w` the mean over the samples is weighted:
    :math:`\frac1n\sum_i` becomes :math:`\sum_i w_i \cdot / \sum_i w_i`.

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1, or class indices for 2-D ``p``.
    p : array of shape (n_samples,) or (n_samples, n_classes)
    scale_by_half : bool or "auto", default "auto"
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the samples, with a nonzero sum.

    Returns
    -------
    0-d array, equal to ``sklearn.metrics.brier_score_loss`` (multiclass:
    with ``labels=range(n_classes)``; with ``sample_weight``, its weighted
    result).
    """
    if not (scale_by_half == "auto" or isinstance(scale_by_half, bool)):
        raise ValueError(f"scale_by_half must be a bool or 'auto'; got {scale_by_half!r}")
    xp = array_namespace(y_true, p, sample_weight)
    dtype, q = _probabilities(y_true, p, xp=xp)
    w = _sample_weights(sample_weight, y_true, dtype, nonnegative=True, xp=xp)
    if q.ndim == 1:
        _check_binary(y_true, "y_true", xp=xp)
        d = as_float(_positive(y_true, xp=xp), xp, dtype) - q
        per = 2.0 * d * d  # both columns (1 - p, p) of the two-class form
        half = scale_by_half == "auto" or scale_by_half
    else:
        k = q.shape[1]
        labels = xp.astype(y_true, _int_dtype(y_true, xp=xp)) if _is_bool(y_true, xp=xp) else y_true
        _check_classes(labels, k, "y_true", xp=xp)
        onehot = as_float(labels[:, None] == xp.arange(k, dtype=labels.dtype, device=device_of(labels)), xp, dtype)
        d = onehot - q
        per = xp.sum(d * d, axis=1)
        half = (k < 3) if scale_by_half == "auto" else scale_by_half
    score = _sample_mean(per, w, xp=xp)
    return as_array0d(score / 2.0 if half else score, xp)


_CALIBRATION = ("uniform", "quantile")


def calibration_curve(y_true, p, *, n_bins=10, strategy="uniform", drop_empty=False):
    r"""Calibration (reliability) curve: the fraction of positives against the mean probability per bin.

    The probabilities are cut into ``n_bins`` bins by the edges
    :math:`e_0 < \dots < e_{B}` -- equal widths on [0, 1] (``"uniform"``) or
    the quantiles of ``p`` (``"quantile"``, NumPy's linear percentiles) --
    sample :math:`i` falling in bin :math:`b` with :math:`e_b < p_i \le e_{b+1}`
    (the first bin closed), as scikit-learn.  Per bin,

    .. math:: \mathrm{prob\_true}_b = \frac{\sum_{i \in b} y_i}{|b|},\qquad
              \mathrm{prob\_pred}_b = \frac{\sum_{i \in b} p_i}{|b|}

    from one (n_samples, n_bins) one-hot GEMV -- no loop, no scatter.

    **Fixed-length form** (default, traceable): arrays of shape (n_bins,),
    NaN for empty bins.  ``drop_empty=True`` removes the empty bins (eager
    only: a data-dependent length), which is
    ``sklearn.calibration.calibration_curve(y_true, p, n_bins=n_bins, strategy=strategy)``.

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1.
    p : array of shape (n_samples,)
        Probabilities of class 1.
    n_bins : int, default 10
    strategy : {"uniform", "quantile"}
    drop_empty : bool, default False

    Returns
    -------
    prob_true, prob_pred : arrays of shape (n_bins,) (fixed form)
    """
    if strategy not in _CALIBRATION:
        raise ValueError(f"strategy must be one of {_CALIBRATION}; got strategy={strategy!r}")
    _check_flag(drop_empty, "drop_empty")
    try:
        n_bins = operator.index(n_bins)
    except TypeError:
        raise TypeError(f"n_bins must be an int; got {n_bins!r}") from None
    if n_bins < 1:
        raise ValueError(f"n_bins must be positive; got n_bins={n_bins}")
    xp = array_namespace(y_true, p)
    dtype, q = _probabilities(y_true, p, xp=xp)
    check_ndim(q, "p", 1)
    _check_binary(y_true, "y_true", xp=xp)
    check_class_elements(n_bins, (q.shape[0], n_bins), "one-hot bin memberships")
    wide = _wide_float(q, xp=xp)
    dev = device_of(q)
    qw = xp.astype(q, wide)
    if n_bins == 1:
        binids = xp.zeros(q.shape, dtype=_int_dtype(q, xp=xp), device=dev)
    else:
        if strategy == "uniform":  # NumPy's linspace: i * (1 / n_bins)
            inner = xp.asarray([i * (1.0 / n_bins) for i in range(1, n_bins)], dtype=wide, device=dev)
        else:
            srt = xp.sort(qw)
            n = q.shape[0]
            # NumPy's linear percentile positions, float for float as scikit-learn computes them:
            # np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)
            pos = [(n - 1) * ((i * (1.0 / n_bins)) * 100 / 100) for i in range(1, n_bins)]
            lo = xp.asarray([int(math.floor(x)) for x in pos], dtype=_int_dtype(q, xp=xp), device=dev)
            hi = xp.asarray([min(int(math.floor(x)) + 1, n - 1) for x in pos], dtype=_int_dtype(q, xp=xp), device=dev)
            t = xp.asarray([x - math.floor(x) for x in pos], dtype=wide, device=dev)
            a, b = xp.take(srt, lo), xp.take(srt, hi)
            # NumPy's _lerp: exact at both ends, monotone
            inner = xp.where(t >= 0.5, b - (b - a) * (1.0 - t), a + (b - a) * t)
        binids = xp.searchsorted(inner, qw, side="left")
    member = xp.astype(binids[:, None] == xp.arange(n_bins, dtype=binids.dtype, device=dev), wide)
    total = xp.sum(member, axis=0)
    y = as_float(_positive(y_true, xp=xp), xp, wide)
    trues = xp.sum(member * y[:, None], axis=0)
    sums = xp.sum(member * qw[:, None], axis=0)
    prob_true, prob_pred = _nan_div(trues, total, xp=xp), _nan_div(sums, total, xp=xp)
    if drop_empty:
        _eager_only(total, "calibration_curve(drop_empty=True)")
        keep = total > 0
        prob_true, prob_pred = prob_true[keep], prob_pred[keep]
    return xp.astype(prob_true, dtype), xp.astype(prob_pred, dtype)


def classification_report(y_true, y_pred, *, num_classes=None, sample_weight=None):
    r"""Precision, recall, F1 and support per class, with the accuracy and the averages.

    With ``sample_weight`` every count is a sum of weights (the supports
    too, which are then floating, as scikit-learn's), and the accuracy is the
    weighted one.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
        Class indices.
    num_classes : int, optional
        As in :func:`precision`.
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the samples, with a nonzero sum.

    Returns
    -------
    dict
        scikit-learn's ``classification_report(..., output_dict=True)``
        layout: ``{"0": {"precision", "recall", "f1-score", "support"}, ...,
        "accuracy", "macro avg": {...}, "weighted avg": {...}}`` with one
        entry per class ``0 .. num_classes - 1``; the values are 0-d arrays
        on the inputs' device (support in the default integer dtype; with
        ``sample_weight`` in the scores' floating dtype), so the report is
        traceable with a static ``num_classes``.  Equal to
        ``sklearn.metrics.classification_report(y_true, y_pred,
        labels=range(num_classes), output_dict=True, zero_division=0,
        sample_weight=sample_weight)``
        (the default ``labels=None`` gives the same when every class occurs).
        The averages run over all ``num_classes`` classes, as scikit-learn's
        with explicit labels.
    """
    xp = array_namespace(y_true, y_pred, sample_weight)
    _check_label_dtype(y_true, "y_true", xp=xp)
    _check_label_dtype(y_pred, "y_pred", xp=xp)
    _check_pair(y_true, y_pred)
    dtype = float_dtype(xp, y_true, y_pred)
    w = _sample_weights(sample_weight, y_true, dtype, nonnegative=True, xp=xp)
    a, b, classes = _multiclass_labels(y_true, y_pred, num_classes, dtype, xp=xp)
    tp, true_sum, pred_sum = _class_counts(a, b, classes, dtype, w, xp=xp)
    prec = _safe_div(tp, pred_sum, xp=xp)
    rec = _safe_div(tp, true_sum, xp=xp)
    f1s = _safe_div(2.0 * tp, true_sum + pred_sum, xp=xp)
    support = xp.astype(true_sum, _int_dtype(a, xp=xp)) if w is None else true_sum
    n = xp.sum(true_sum)
    report = {}
    for c in range(classes.shape[0]):
        report[str(c)] = {"precision": prec[c], "recall": rec[c], "f1-score": f1s[c], "support": support[c]}
    report["accuracy"] = xp.sum(tp) / n
    total = xp.sum(support)
    report["macro avg"] = {"precision": xp.mean(prec), "recall": xp.mean(rec), "f1-score": xp.mean(f1s),
                           "support": total}
    report["weighted avg"] = {"precision": xp.sum(prec * true_sum) / n, "recall": xp.sum(rec * true_sum) / n,
                              "f1-score": xp.sum(f1s * true_sum) / n, "support": total}
    # every entry a 0-d array of the backend (NumPy's indexing and reductions give NumPy scalars)
    return {k: as_array0d(v, xp) if not isinstance(v, dict) else {m: as_array0d(u, xp) for m, u in v.items()}
            for k, v in report.items()}


def log_loss(y_true, p, *, eps=None, sample_weight=None):
    r"""Log loss (cross-entropy) of predicted probabilities, as scikit-learn's ``log_loss``.

    Binary (``p`` of shape (n_samples,), the probability of class 1):

    .. math:: L = -\frac1n \sum_i \bigl[y_i \log \tilde p_i + (1 - y_i)\log \widetilde{(1-p_i)}\bigr]

    Multiclass (``p`` of shape (n_samples, n_classes), integer labels):

    .. math:: L = -\frac1n \sum_i \log \tilde p_{i, y_i}

    where :math:`\tilde q = \operatorname{clip}(q, \epsilon, 1 - \epsilon)`
    (clipping, as scikit-learn does: :math:`p` and :math:`1 - p` are each
    clipped, so probabilities 0 and 1 give a finite loss).  The binary case
    is the weighted mean of ``pml.losses.binary_cross_entropy(..., eps=eps,
    reduction="none")``, which owns the formula and its clipping.  Derivative in
    the binary case, inside the clipping range:
    :math:`\partial L/\partial p_i = \frac1n\bigl(\frac{1-y_i}{1-p_i} - \frac{y_i}{p_i}\bigr)`;
    0 where clipped.  With ``sample_weight`` :math:`w` the mean is weighted:
    :math:`\frac1n\sum_i` becomes :math:`\sum_i w_i \cdot / \sum_i w_i`
    (and :math:`\frac1n` in the derivative :math:`w_i / \sum_j w_j`).

    Parameters
    ----------
    y_true : array of shape (n_samples,)
        Labels 0/1 (binary) or class indices (multiclass).
    p : array of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities.
    eps : float, optional
        Clipping bound in (0, 0.5); ``None`` (default) uses the machine
        epsilon of the result's floating dtype, as scikit-learn does (2.2e-16
        in float64, 1.2e-7 in float32).
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the samples, with a nonzero sum.

    Returns
    -------
    0-d array
        Equal to ``sklearn.metrics.log_loss(y_true, p, sample_weight=sample_weight)``
        (multiclass: with ``labels=range(n_classes)``).

    Raises
    ------
    ValueError
        Bad shapes; labels other than 0/1 or outside ``[0, n_classes)``, or
        ``p`` outside [0, 1] (concrete inputs); ``eps`` outside (0, 0.5);
        ``sample_weight`` of another shape than (n_samples,), or (concrete
        inputs) negative, NaN, infinite or all zero.
    """
    xp = array_namespace(y_true, p, sample_weight)
    _check_label_dtype(y_true, "y_true", xp=xp)
    if not xp.isdtype(p.dtype, ("integral", "real floating")):
        raise TypeError(f"p must hold probabilities as a real array; got dtype {p.dtype}")
    dtype = float_dtype(xp, y_true, p)
    q = as_float(p, xp, dtype)
    if eps is None:
        eps = float(xp.finfo(dtype).eps)
    elif not 0 < eps < 0.5:
        raise ValueError(f"eps must lie in (0, 0.5); got eps={eps!r}")
    check_ndim(y_true, "y_true", 1)
    check_ndim(q, "p", (1, 2))
    if q.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"y_true and p must have the same number of samples; got y_true.shape={tuple(y_true.shape)} "
            f"and p.shape={tuple(q.shape)}"
        )
    check_nonempty(q, "p")
    value_check(
        xp.all((q >= 0) & (q <= 1)),
        lambda: f"p must hold probabilities in [0, 1]; got values in [{float(xp.min(q)):g}, {float(xp.max(q)):g}]",
    )
    w = _sample_weights(sample_weight, y_true, dtype, nonnegative=True, xp=xp)
    if q.ndim == 1:
        _check_binary(y_true, "y_true", xp=xp)
        y = xp.astype(_positive(y_true, xp=xp), dtype)
        return as_array0d(_sample_mean(_L.binary_cross_entropy(y, q, eps=eps, reduction="none"), w, xp=xp), xp)
    k = q.shape[1]
    labels = xp.astype(y_true, _int_dtype(y_true, xp=xp)) if _is_bool(y_true, xp=xp) else y_true
    _check_classes(labels, k, "y_true", xp=xp)
    onehot = labels[:, None] == xp.arange(k, dtype=labels.dtype, device=device_of(labels))
    log_q = xp.log(xp.clip(q, eps, 1.0 - eps))
    return as_array0d(-_sample_mean(xp.sum(xp.where(onehot, log_q, xp.zeros_like(log_q)), axis=-1), w, xp=xp), xp)


# ============================================================ regression
_MULTIOUTPUT = ("raw_values", "uniform_average")
_MULTIOUTPUT_VW = _MULTIOUTPUT + ("variance_weighted",)


def _regression_pair(y_true, y_pred, *, ndim=(1, 2)):
    xp = array_namespace(y_true, y_pred)
    dtype = float_dtype(xp, y_true, y_pred)
    y, p = as_float(y_true, xp, dtype, "y_true"), as_float(y_pred, xp, dtype, "y_pred")
    check_ndim(y, "y_true", ndim)
    check_same_shape(y, p, "y_true", "y_pred")
    check_nonempty(y, "y_true")
    return xp, y, p


def _columns(x):
    """(n_samples, n_outputs) view: a 1-D target is one output."""
    return x[:, None] if x.ndim == 1 else x


def _check_multioutput(multioutput, allowed=_MULTIOUTPUT):
    if isinstance(multioutput, str):
        if multioutput not in allowed:
            raise ValueError(f"multioutput must be one of {allowed} or an array of weights; got {multioutput!r}")
    elif multioutput is None or isinstance(multioutput, (bool, numbers.Number)):
        raise TypeError(f"multioutput must be one of {allowed} or an array of weights; got {multioutput!r}")
    return multioutput


def _combine_outputs(per_output, multioutput, *, xp, variance=None):
    r"""scikit-learn's ``multioutput``: the per-output scores, their mean, or a weighted mean.

    ``"variance_weighted"`` weights by ``variance`` (the outputs' variances
    of ``y_true``; uniform when all are 0).
    """
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return per_output
        if multioutput == "uniform_average":
            return as_array0d(xp.mean(per_output), xp)
        w = xp.where(xp.any(variance != 0), variance, xp.ones_like(variance))
    else:
        try:
            w = xp.asarray(multioutput, dtype=per_output.dtype, device=device_of(per_output))
        except Exception as err:
            raise TypeError(f"multioutput weights must be a real array; got {multioutput!r}") from err
        if tuple(w.shape) != tuple(per_output.shape):
            raise ValueError(
                f"multioutput weights must have shape (n_outputs,) = {tuple(per_output.shape)}; got {tuple(w.shape)}"
            )
    return as_array0d(xp.sum(w * per_output) / xp.sum(w), xp)


def _fraction_explained(num, den, force_finite, *, xp):
    """``1 - num / den`` per output; with ``force_finite`` 1 for 0/0 and 0 for x/0 (scikit-learn)."""
    if not force_finite:  # IEEE 1 - num/den (NaN for 0/0, -inf for x/0), without the warnings
        undefined = xp.where(num == 0, xp.full_like(num, math.nan), xp.full_like(num, -math.inf))
        return xp.where(den != 0, 1.0 - num / xp.where(den != 0, den, xp.ones_like(den)), undefined)
    ratio = _safe_div(num, den, xp=xp)
    constant = xp.where(num == 0, xp.ones_like(num), xp.zeros_like(num))
    return xp.where(den != 0, 1.0 - ratio, constant)


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {value!r}")


def r2(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", force_finite=True):
    r"""Coefficient of determination :math:`R^2`.

    .. math:: R^2 = 1 - \frac{\sum_i (y_i - \hat y_i)^2}{\sum_i (y_i - \bar y)^2},
              \qquad \frac{\partial R^2}{\partial \hat y_i} = \frac{2 (y_i - \hat y_i)}{\sum_j (y_j - \bar y)^2}

    per output (column).  A constant ``y_true`` (zero denominator) gives
    1.0 for a perfect prediction and 0.0 otherwise, as scikit-learn
    (``force_finite=True``; ``False`` keeps the IEEE NaN or -inf).

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array of shape (n_samples,), optional
        Weights of the samples (weighted means and sums, as scikit-learn).
    multioutput : {"raw_values", "uniform_average", "variance_weighted"} or array of shape (n_outputs,)
        The per-output scores (shape (n_outputs,); (1,) for 1-D inputs),
        their mean, their mean weighted by the variances of ``y_true``, or
        weighted by the given weights -- as scikit-learn.
    force_finite : bool, default True

    Returns
    -------
    0-d array (or per-output array), equal to ``sklearn.metrics.r2_score``.

    Raises
    ------
    ValueError
        Shapes differ, wrong rank, or fewer than two samples (where
        scikit-learn warns and returns NaN).
    """
    multioutput = _check_multioutput(multioutput, _MULTIOUTPUT_VW)
    _check_bool(force_finite, "force_finite")
    xp, y, p = _regression_pair(y_true, y_pred)
    if y.shape[0] < 2:
        raise ValueError(f"r2 needs at least two samples; got y_true.shape={tuple(y.shape)}")
    w = _sample_weights(sample_weight, y, xp=xp)
    y, p = _columns(y), _columns(p)
    res, dev = y - p, y - _wmean(y, w, xp=xp)
    # both sums scaled by one factor per column, max(|res|, |dev|) (as hypot
    # does): the ratio is unchanged and the squares neither overflow nor underflow
    s = _n.max_abs_scale(xp.stack([res, dev]), axis=(0, 1), xp=xp)
    res, dev = res / s, dev / s
    ws = xp.ones_like(res) if w is None else w[:, None]
    ss_res = xp.sum(ws * res * res, axis=0)
    ss_tot = xp.sum(ws * dev * dev, axis=0)
    scores = _fraction_explained(ss_res, ss_tot, force_finite, xp=xp)
    rel = s / xp.max(s)
    return _combine_outputs(scores, multioutput, variance=ss_tot * rel * rel, xp=xp)


def explained_variance(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", force_finite=True):
    r"""Explained variance score.

    .. math:: \mathrm{EV} = 1 - \frac{\operatorname{Var}(y - \hat y)}{\operatorname{Var}(y)}

    per output (population variances).  It differs from :func:`r2` by
    ignoring a constant bias of the prediction.  Zero ``Var(y)`` gives 1 for
    a zero numerator and 0 otherwise (``force_finite=True``, as
    scikit-learn).  ``multioutput`` as in :func:`r2`.

    Returns
    -------
    0-d array (or per-output array), equal to ``sklearn.metrics.explained_variance_score``.
    """
    multioutput = _check_multioutput(multioutput, _MULTIOUTPUT_VW)
    _check_bool(force_finite, "force_finite")
    xp, y, p = _regression_pair(y_true, y_pred)
    w = _sample_weights(sample_weight, y, xp=xp)
    y, p = _columns(y), _columns(p)
    d = y - p
    d = d - _wmean(d, w, xp=xp)
    dev = y - _wmean(y, w, xp=xp)
    s = _n.max_abs_scale(xp.stack([d, dev]), axis=(0, 1), xp=xp)  # as in r2: no under- or overflow
    d, dev = d / s, dev / s
    num, den = _wmean(d * d, w, xp=xp), _wmean(dev * dev, w, xp=xp)
    rel = s / xp.max(s)
    return _combine_outputs(_fraction_explained(num, den, force_finite, xp=xp), multioutput, variance=den * rel * rel, xp=xp)


def mape(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean absolute percentage error, in percent.

    .. math:: \mathrm{MAPE} = \frac{100}{n}\sum_i \frac{|y_i - \hat y_i|}{\max(|y_i|, \epsilon)},
              \qquad \frac{\partial\,\mathrm{MAPE}}{\partial \hat y_i}
              = \frac{100}{n}\,\frac{\operatorname{sign}(\hat y_i - y_i)}{\max(|y_i|, \epsilon)}

    with :math:`\epsilon` = float64's machine epsilon (2.22e-16) for every
    dtype, as scikit-learn's ``mean_absolute_percentage_error`` (which
    returns the fraction; this is 100 times it).  A zero target therefore
    gives a huge but finite term.  Per output, combined by ``multioutput``
    (``"raw_values"``, ``"uniform_average"`` or weights, as scikit-learn).

    Returns
    -------
    0-d array (or per-output array).
    """
    multioutput = _check_multioutput(multioutput)
    xp, y, p = _regression_pair(y_true, y_pred)
    w = _sample_weights(sample_weight, y, xp=xp)
    y, p = _columns(y), _columns(p)
    per = 100.0 * _wmean(xp.abs(y - p) / xp.clip(xp.abs(y), _MAPE_EPS, None), w, xp=xp)
    return _combine_outputs(per, multioutput, xp=xp)


def mse(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean squared error.

    .. math:: \mathrm{MSE} = \frac1n\sum_i (y_i - \hat y_i)^2,
              \qquad \frac{\partial\,\mathrm{MSE}}{\partial \hat y_i} = \frac2n (\hat y_i - y_i)

    Per output, combined by ``multioutput`` (as :func:`mape`); equals
    ``sklearn.metrics.mean_squared_error``: the weighted column means of
    ``pml.losses.mse(..., reduction="none")``, which owns the formula.
    """
    multioutput = _check_multioutput(multioutput)
    xp, y, p = _regression_pair(y_true, y_pred)
    w = _sample_weights(sample_weight, y, xp=xp)
    return _combine_outputs(_wmean(_L.mse(_columns(y), _columns(p), reduction="none"), w, xp=xp), multioutput, xp=xp)


def mae(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean absolute error.

    .. math:: \mathrm{MAE} = \frac1n\sum_i |y_i - \hat y_i|,
              \qquad \frac{\partial\,\mathrm{MAE}}{\partial \hat y_i} = \frac1n \operatorname{sign}(\hat y_i - y_i)

    Per output, combined by ``multioutput`` (as :func:`mape`); equals
    ``sklearn.metrics.mean_absolute_error``: the weighted column means of
    ``pml.losses.mae(..., reduction="none")``, which owns the formula.
    """
    multioutput = _check_multioutput(multioutput)
    xp, y, p = _regression_pair(y_true, y_pred)
    w = _sample_weights(sample_weight, y, xp=xp)
    return _combine_outputs(_wmean(_L.mae(_columns(y), _columns(p), reduction="none"), w, xp=xp), multioutput, xp=xp)


def mean_squared_log_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    r"""Mean squared logarithmic error.

    .. math:: \mathrm{MSLE} = \frac1n\sum_i \bigl(\log(1 + y_i) - \log(1 + \hat y_i)\bigr)^2

    (``log1p``, accurate near 0).  Per output, combined by ``multioutput``;
    equals ``sklearn.metrics.mean_squared_log_error``.

    Raises
    ------
    ValueError
        Values :math:`\le -1` in either input (concrete inputs), as scikit-learn.
    """
    multioutput = _check_multioutput(multioutput)
    xp, y, p = _regression_pair(y_true, y_pred)
    value_check(
        ~(xp.any(y <= -1) | xp.any(p <= -1)),
        "mean_squared_log_error cannot be used when y_true or y_pred contain values less than or equal to -1",
    )
    w = _sample_weights(sample_weight, y, xp=xp)
    d = xp.log1p(_columns(y)) - xp.log1p(_columns(p))
    return _combine_outputs(_wmean(d * d, w, xp=xp), multioutput, xp=xp)


def _median0(x, *, xp):
    """Median along axis 0 of a 2-D array (mean of the two middle values for even n)."""
    n = x.shape[0]
    srt = xp.sort(x, axis=0)
    return (srt[(n - 1) // 2, ...] + srt[n // 2, ...]) / 2.0


def _weighted_median0(x, w, *, xp):
    r"""Weighted median along axis 0 of a 2-D ``x``: scikit-learn's ``_weighted_percentile(x, w, 50, average=True)``.

    Per column, with the values sorted ascending, :math:`F_j` the cumulative
    weights and :math:`t = F_n / 2`: the first :math:`j` with :math:`F_j \ge t`;
    the value there when :math:`F_j - t` exceeds the dtype's epsilon times
    :math:`F_n` (so that the choice does not depend on the weights' scale), else
    the mean of it and the next value of nonzero weight (the averaged
    inverted CDF: the plain median for unit weights).  One sort, one
    cumulative sum and two binary searches per column (the columns are the
    outputs, a static count).
    """
    n = x.shape[0]
    wide = _wide_float(x, xp=xp)
    eps = xp.finfo(x.dtype).eps
    cols = []
    for c in range(x.shape[1]):
        col = x[:, c]
        order = xp.argsort(col, stable=False)
        v = xp.take(col, order)
        cdf = xp.cumulative_sum(xp.astype(xp.take(w, order), wide))
        target = xp.reshape(cdf[-1] / 2.0, (1,))
        idx = xp.clip(xp.searchsorted(cdf, target), 0, n - 1)
        at = xp.take(cdf, idx)
        nxt = xp.searchsorted(cdf, at, side="right")  # the next sample of nonzero weight
        nxt = xp.where(nxt > n - 1, idx, nxt)
        lo = xp.take(v, idx)
        mid = (lo + xp.take(v, xp.clip(nxt, 0, n - 1))) / 2.0
        cols.append(xp.where(at - target > eps * cdf[-1], lo, mid)[0])  # relative: weights of any scale
    return xp.stack(cols)


def median_absolute_error(y_true, y_pred, *, multioutput="uniform_average", sample_weight=None):
    r"""Median absolute error, robust to outliers.

    .. math:: \mathrm{MedAE} = \operatorname{median}_i |y_i - \hat y_i|

    per output (the mean of the two middle values for an even number of
    samples, as NumPy's median), combined by ``multioutput``; equals
    ``sklearn.metrics.median_absolute_error``.  One sort per output.  With
    ``sample_weight`` the weighted median of scikit-learn's
    ``_weighted_percentile(..., average=True)`` (the averaged inverted
    weighted CDF; see ``d2_absolute_error``), equal to
    ``median_absolute_error(..., sample_weight=...)``.
    """
    multioutput = _check_multioutput(multioutput)
    xp, y, p = _regression_pair(y_true, y_pred)
    w = _sample_weights(sample_weight, y, xp=xp)
    err = xp.abs(_columns(y) - _columns(p))
    return _combine_outputs(_median0(err, xp=xp) if w is None else _weighted_median0(err, w, xp=xp), multioutput, xp=xp)


def max_error(y_true, y_pred):
    r"""Maximum residual error.

    .. math:: \max_i |y_i - \hat y_i|

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,)
        One output only, as scikit-learn.

    Returns
    -------
    0-d array, equal to ``sklearn.metrics.max_error``.
    """
    xp, y, p = _regression_pair(y_true, y_pred, ndim=1)
    return as_array0d(xp.max(xp.abs(y - p)), xp)


def _check_alpha(alpha):
    if not (isinstance(alpha, numbers.Real) and 0 <= alpha <= 1):
        raise ValueError(f"alpha must be a number in [0, 1]; got alpha={alpha!r}")
    return float(alpha)


def _pinball(y, p, alpha, w=None, *, xp):
    """Per-output mean pinball loss of 2-D ``y``, ``p`` (weighted by ``w``)."""
    d = y - p
    loss = xp.where(d >= 0, alpha * d, (alpha - 1.0) * d)
    return _wmean(loss, w, xp=xp)


def mean_pinball_loss(y_true, y_pred, *, sample_weight=None, alpha=0.5, multioutput="uniform_average"):
    r"""Mean pinball (quantile) loss.

    .. math:: L_\alpha = \frac1n\sum_i \bigl(\alpha \max(y_i - \hat y_i, 0)
              + (1 - \alpha)\max(\hat y_i - y_i, 0)\bigr)

    minimised by the :math:`\alpha`-quantile; ``alpha=0.5`` is half the MAE.
    Per output, combined by ``multioutput``; equals
    ``sklearn.metrics.mean_pinball_loss``.

    Parameters
    ----------
    alpha : float in [0, 1], default 0.5
    """
    alpha = _check_alpha(alpha)
    multioutput = _check_multioutput(multioutput)
    xp, y, p = _regression_pair(y_true, y_pred)
    w = _sample_weights(sample_weight, y, xp=xp)
    return _combine_outputs(_pinball(_columns(y), _columns(p), alpha, w, xp=xp), multioutput, xp=xp)


def d2_absolute_error(y_true, y_pred, *, multioutput="uniform_average", sample_weight=None):
    r""":math:`D^2` score with the absolute error: the fraction of absolute deviation explained.

    .. math:: D^2 = 1 - \frac{\sum_i |y_i - \hat y_i|}{\sum_i |y_i - \operatorname{median}(y)|}

    per output; a zero denominator gives 1 for a zero numerator and 0
    otherwise (as scikit-learn).  ``multioutput`` as in :func:`mae`; equals
    ``sklearn.metrics.d2_absolute_error_score``.  With ``sample_weight``
    both sums are weighted and the median is the weighted one of
    :func:`median_absolute_error`, as scikit-learn.

    Raises
    ------
    ValueError
        Fewer than two samples (where scikit-learn warns and returns NaN).
    """
    multioutput = _check_multioutput(multioutput)
    xp, y, p = _regression_pair(y_true, y_pred)
    if y.shape[0] < 2:
        raise ValueError(f"d2_absolute_error needs at least two samples; got y_true.shape={tuple(y.shape)}")
    w = _sample_weights(sample_weight, y, xp=xp)
    y, p = _columns(y), _columns(p)
    num = _pinball(y, p, 0.5, w, xp=xp)
    centre = _median0(y, xp=xp) if w is None else _weighted_median0(y, w, xp=xp)
    den = _pinball(y, xp.zeros_like(y) + centre, 0.5, w, xp=xp)
    return _combine_outputs(_fraction_explained(num, den, True, xp=xp), multioutput, xp=xp)


# ============================================================ clustering
def _cluster_labels(labels, name, num_classes, *, xp):
    _check_label_dtype(labels, name, xp=xp)
    if _is_bool(labels, xp=xp):
        labels = xp.astype(labels, _int_dtype(labels, xp=xp))
    k = _num_classes(num_classes, labels, labels, xp=xp)
    _check_classes(labels, k, name, xp=xp)
    return labels, k


def silhouette_score(X, labels, *, num_classes=None):
    r"""Mean silhouette coefficient of a clustering (Euclidean distances).

    For sample :math:`i` in cluster :math:`C_{l_i}`, with :math:`d` the
    Euclidean distance:

    .. math:: a_i = \frac{1}{|C_{l_i}| - 1}\sum_{j \in C_{l_i}} d(x_i, x_j),\qquad
              b_i = \min_{c \ne l_i,\ |C_c| > 0} \frac{1}{|C_c|}\sum_{j \in C_c} d(x_i, x_j),

    .. math:: s_i = \frac{b_i - a_i}{\max(a_i, b_i)} \quad (0 \text{ in a one-sample cluster}),
              \qquad S = \frac1n \sum_i s_i

    The distances come from one GEMM (:func:`portable_ml.distances.pairwise_euclidean`,
    zero diagonal, as scikit-learn) and the per-cluster sums from a second
    one, with the (n, k) one-hot matrix of the labels: :math:`O(n^2 d + n^2 k)`
    flops and an (n, n) temporary.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    labels : array of shape (n_samples,)
        Cluster indices ``0 .. num_classes - 1`` (empty clusters are ignored).
    num_classes : int, optional
        Number of cluster indices; inferred from eager labels when ``None``,
        required under ``jax.jit``.

    Returns
    -------
    0-d array in [-1, 1], equal to ``sklearn.metrics.silhouette_score(X, labels)``.

    Raises
    ------
    ValueError
        Bad shapes; labels outside ``[0, num_classes)``, or fewer than 2 or
        more than ``n_samples - 1`` non-empty clusters (concrete inputs).
    """
    from .distances import pairwise_euclidean

    xp = array_namespace(X, labels)
    check_ndim(X, "X", 2)
    check_ndim(labels, "labels", 1)
    if X.shape[0] != labels.shape[0]:
        raise ValueError(f"X and labels must have the same number of samples; got X.shape={tuple(X.shape)} "
                         f"and labels.shape={tuple(labels.shape)}")
    check_nonempty(labels, "labels")
    dtype = float_dtype(xp, X)
    x = as_float(X, xp, dtype, "X")
    lab, k = _cluster_labels(labels, "labels", num_classes, xp=xp)
    n = x.shape[0]
    check_class_elements(k, (n, k), "one-hot encodings of the labels")
    onehot = xp.astype(lab[:, None] == xp.arange(k, dtype=lab.dtype, device=device_of(lab)), dtype)
    counts = xp.sum(onehot, axis=0)
    n_clusters = xp.sum(xp.astype(counts > 0, dtype))
    value_check(
        (n_clusters >= 2) & (n_clusters <= n - 1),
        lambda: f"silhouette_score needs 2 <= number of clusters <= n_samples - 1; got {int(n_clusters)} "
        f"non-empty clusters for {n} samples",
    )
    d = pairwise_euclidean(x)
    sums = xp.matmul(d, onehot)  # (n, k): total distance of each sample to each cluster
    own_count = xp.sum(onehot * counts, axis=1)
    own_sum = xp.sum(onehot * sums, axis=1)
    a = _safe_div(own_sum, own_count - 1.0, xp=xp)
    mean_other = xp.where((counts > 0) & (onehot == 0), sums / xp.where(counts > 0, counts, xp.ones_like(counts)),
                          xp.full_like(sums, math.inf))
    b = xp.min(mean_other, axis=1)
    s = xp.where(own_count > 1, _safe_div(b - a, xp.maximum(a, b), xp=xp), xp.zeros_like(a))
    return as_array0d(xp.mean(s), xp)


def adjusted_rand_index(labels_true, labels_pred, *, num_classes=None):
    r"""Adjusted Rand index of two clusterings (chance-corrected pair agreement).

    From the contingency table :math:`C = Y^\top \hat Y` (one GEMM of the
    one-hot encodings) come the pair counts of scikit-learn's
    ``pair_confusion_matrix`` -- with :math:`S = \sum_{ij} C_{ij}^2`,
    row sums :math:`r` and column sums :math:`c`:
    :math:`\mathrm{TP} = S - n`, :math:`\mathrm{FP} = \sum_{ij} C_{ij} c_j - S`,
    :math:`\mathrm{FN} = \sum_{ij} C_{ij} r_i - S`,
    :math:`\mathrm{TN} = n^2 - \mathrm{FP} - \mathrm{FN} - S` -- and

    .. math:: \mathrm{ARI} = \frac{2(\mathrm{TP}\,\mathrm{TN} - \mathrm{FN}\,\mathrm{FP})}
              {(\mathrm{TP} + \mathrm{FN})(\mathrm{FN} + \mathrm{TN}) + (\mathrm{TP} + \mathrm{FP})(\mathrm{FP} + \mathrm{TN})}

    (1 when FN = FP = 0, e.g. identical partitions).  The counts are held in
    float64 where the device has it (exact up to :math:`n \approx 9\cdot 10^7`).

    Parameters
    ----------
    labels_true, labels_pred : array of shape (n_samples,)
        Cluster indices ``0 .. num_classes - 1`` (the values are names only:
        any relabelling gives the same index).
    num_classes : int, optional
        Number of cluster indices (both labelings); inferred from eager
        labels when ``None``, required under ``jax.jit``.

    Returns
    -------
    0-d array, equal to ``sklearn.metrics.adjusted_rand_score(labels_true, labels_pred)``.
    """
    xp = array_namespace(labels_true, labels_pred)
    _check_label_dtype(labels_true, "labels_true", xp=xp)
    _check_label_dtype(labels_pred, "labels_pred", xp=xp)
    _check_pair(labels_true, labels_pred, "labels_true", "labels_pred")
    dtype = float_dtype(xp, labels_true, labels_pred)
    a, b, classes = _multiclass_labels(labels_true, labels_pred, num_classes, dtype,
                                       ("labels_true", "labels_pred"), xp=xp)
    k = classes.shape[0]
    check_class_elements(k, (k, k), "a contingency table")
    wide = _wide_float(a, xp=xp)
    y1 = xp.astype(a[:, None] == classes, wide)
    y2 = xp.astype(b[:, None] == classes, wide)
    cont = xp.matmul(xp.matrix_transpose(y1), y2)
    n = float(a.shape[0])
    rows, cols = xp.sum(y1, axis=0), xp.sum(y2, axis=0)
    sq = xp.sum(cont * cont)
    tp = sq - n
    fp = xp.sum(cont * cols[None, :]) - sq
    fn = xp.sum(cont * rows[:, None]) - sq
    tn = n * n - fp - fn - sq
    den = (tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)
    ari = _safe_div(2.0 * (tp * tn - fn * fp), den, xp=xp)
    ari = xp.where((fn == 0) & (fp == 0), xp.ones_like(ari), ari)
    return xp.astype(ari, dtype)


# ============================================================ ranking
def _discounts(m, k, dtype, device, *, xp):
    r"""Position discounts :math:`1/\log_2(i + 1)`, i = 1..m, zero beyond ``k``."""
    pos = xp.arange(m, dtype=dtype, device=device)
    disc = 1.0 / xp.log2(pos + 2.0)
    if k is None:
        return disc
    return xp.where(pos < k, disc, xp.zeros_like(disc))


def _check_k(k):
    if k is None:
        return None
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an int or None; got {k!r}") from None
    if k < 1:
        raise ValueError(f"k must be positive; got k={k}")
    return k


def _gains(rel, gains, *, xp):
    if gains == "linear":
        return rel
    return xp.expm1(rel * math.log(2.0))  # 2**rel - 1, accurate for small rel


def _row_dcg(rel, k, gains, *, xp):
    """DCG of each ranking (last axis) in the given order."""
    disc = _discounts(rel.shape[-1], k, rel.dtype, device_of(rel), xp=xp)
    return xp.sum(_gains(rel, gains, xp=xp) * disc, axis=-1)


def _relevance(relevance, gains, name="relevance"):
    xp = array_namespace(relevance)
    if gains not in _GAINS:
        raise ValueError(f"gains must be one of {_GAINS}; got {gains!r}")
    rel = as_float(relevance, xp, float_dtype(xp, relevance))
    check_ndim(rel, name, (1, 2))
    check_nonempty(rel, name)
    return xp, rel


def dcg(relevance, *, k=None, gains="linear"):
    r"""Discounted cumulative gain of relevances listed in ranked order (formula-sheet form).

    .. math:: \mathrm{DCG@k} = \sum_{i=1}^{\min(k, m)} \frac{g(\mathrm{rel}_i)}{\log_2(i + 1)},
              \qquad g(r) = r \ (\texttt{gains="linear"}) \text{ or } 2^r - 1 \ (\texttt{"exponential"})

    ``relevance[i]`` is the graded relevance of the item shown at rank
    ``i + 1``.  The linear gain is the usual textbook form (and
    scikit-learn's); the exponential gain is the common IR variant that
    stresses highly relevant items -- both agree for 0/1 relevance.

    Parameters
    ----------
    relevance : array of shape (m,) or (n_queries, m)
        Relevance in ranked order; one ranking per row for 2-D input.
    k : int, optional
        Cut-off rank (all positions when ``None``).
    gains : {"linear", "exponential"}

    Returns
    -------
    0-d array
        The DCG; for 2-D input the mean over the rankings.
    """
    xp, rel = _relevance(relevance, gains)
    return as_array0d(xp.mean(_row_dcg(rel, _check_k(k), gains, xp=xp)), xp)


def ndcg(relevance, *, k=None, gains="linear"):
    r"""Normalised DCG of relevances listed in ranked order (formula-sheet form).

    .. math:: \mathrm{nDCG@k} = \frac{\mathrm{DCG@k}(\mathrm{rel})}{\mathrm{DCG@k}(\mathrm{sort}_\downarrow(\mathrm{rel}))}

    the ideal DCG being that of the relevances sorted in decreasing order.
    A ranking with zero ideal DCG (nothing relevant) scores 0.

    Parameters
    ----------
    relevance : array of shape (m,) or (n_queries, m)
        Non-negative relevance in ranked order; one ranking per row.
    k : int, optional
        Cut-off rank.
    gains : {"linear", "exponential"}
        As in :func:`dcg`.

    Returns
    -------
    0-d array in [0, 1]
        For 2-D input the mean over the rankings.

    Raises
    ------
    ValueError
        Wrong rank, empty input, negative relevance (concrete inputs).
    """
    xp, rel = _relevance(relevance, gains)
    k = _check_k(k)
    value_check(~xp.any(rel < 0), "relevance must be non-negative for ndcg")
    actual = _row_dcg(rel, k, gains, xp=xp)
    ideal = _row_dcg(xp.sort(rel, axis=-1, descending=True), k, gains, xp=xp)
    return as_array0d(xp.mean(_safe_div(actual, ideal, xp=xp)), xp)


def ndcg_score(y_true, y_score, *, k=None, sample_weight=None):
    r"""NDCG of rankings induced by scores, as ``sklearn.metrics.ndcg_score``.

    Each row ranks its ``m`` items by decreasing ``y_score``; the gain of an
    item is its true relevance (linear gains) and tied scores share the mean
    gain of their group (scikit-learn's ``ignore_ties=False``, McSherry &
    Najork 2008):

    .. math:: \mathrm{DCG@k} = \sum_{g} \bar y_g \sum_{i \in \mathrm{pos}(g)} d_i,
              \qquad d_i = \frac{[i \le k]}{\log_2(i + 1)},
              \qquad \mathrm{nDCG@k} = \frac{\mathrm{DCG@k}}{\mathrm{IDCG@k}}

    where :math:`g` runs over the groups of tied scores, :math:`\bar y_g` is
    the mean relevance of a group and :math:`\mathrm{pos}(g)` the ranks it
    occupies; :math:`\mathrm{IDCG}` is the DCG of the relevances sorted
    decreasingly.  Rows with zero IDCG score 0.  Vectorised: one sort per
    row, group boundaries from binary searches of cumulative group ids, no
    loop over rows or groups.

    Parameters
    ----------
    y_true : array of shape (n_samples, m)
        Non-negative true relevance of each item, ``m > 1``.
    y_score : array of shape (n_samples, m)
        Predicted scores.
    k : int, optional
        Only the top ``k`` ranks count.
    sample_weight : array of shape (n_samples,), optional
        Non-negative weights of the rows, with a nonzero sum: the mean over
        the rows is weighted, :math:`\sum_i w_i\,\mathrm{nDCG}_i / \sum_i w_i`.

    Returns
    -------
    0-d array in [0, 1]: the mean over rows (with ``sample_weight``, the
    weighted mean, as scikit-learn's).

    Raises
    ------
    ValueError
        Not 2-D, shapes differ, ``m < 2``; negative ``y_true`` or NaN scores
        (concrete inputs); ``sample_weight`` of another shape than
        (n_samples,), or (concrete inputs) negative, NaN, infinite or all zero.
    """
    xp = array_namespace(y_true, y_score, sample_weight)
    k = _check_k(k)
    check_ndim(y_true, "y_true", 2)
    check_same_shape(y_true, y_score, "y_true", "y_score")
    check_nonempty(y_true, "y_true")
    n, m = y_true.shape
    if m < 2:
        raise ValueError(f"ndcg_score needs more than one item per row; got y_true.shape={(n, m)}")
    dtype = float_dtype(xp, y_true, y_score)
    rel = as_float(y_true, xp, dtype)
    value_check(~xp.any(rel < 0), "y_true must hold non-negative relevance for ndcg_score")
    _check_not_nan(y_score, "y_score", xp=xp)
    w = _sample_weights(sample_weight, rel, nonnegative=True, xp=xp)
    if _is_bool(y_score, xp=xp):
        y_score = xp.astype(y_score, _int_dtype(y_score, xp=xp))
    dev = device_of(rel)
    disc = _discounts(m, k, dtype, dev, xp=xp)
    ideal = xp.sum(xp.sort(rel, axis=-1, descending=True) * disc, axis=-1)

    # Sort every row by decreasing score; work on the flattened (n*m,) array.
    order = xp.argsort(y_score, axis=-1, descending=True, stable=False)
    idt = order.dtype
    row_start = xp.arange(n, dtype=idt, device=dev)[:, None] * m
    flat = xp.reshape(order + row_start, (-1,))
    s = xp.take(xp.reshape(y_score, (-1,)), flat)
    g = xp.take(xp.reshape(rel, (-1,)), flat)
    # Group ids increase along the flat array: a new group at a change of score or of row.
    pos = xp.arange(n * m, dtype=idt, device=dev)
    first = xp.ones((1,), dtype=xp.bool, device=dev)
    new = xp.concat([first, (s[1:] != s[:-1]) | (pos[1:] % m == 0)])
    gid = xp.cumulative_sum(xp.astype(new, idt))
    offset = pos - pos % m
    lo = xp.searchsorted(gid, gid, side="left") - offset  # first rank of the group, 0-based in its row
    hi = xp.searchsorted(gid, gid, side="right") - offset  # one past its last rank
    disc_cum = xp.cumulative_sum(disc, include_initial=True)
    group_disc = xp.take(disc_cum, hi) - xp.take(disc_cum, lo)
    per_item = g * group_disc / xp.astype(hi - lo, dtype)
    gain = xp.sum(xp.reshape(per_item, (n, m)), axis=-1)
    return as_array0d(_sample_mean(_safe_div(gain, ideal, xp=xp), w, xp=xp), xp)
