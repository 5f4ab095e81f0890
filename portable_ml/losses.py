r"""Loss functions and their gradients with respect to the prediction.

Every loss ``L(y_true, y_pred, *, reduction="mean")`` has a companion
``L_grad`` with the same arguments returning :math:`\partial L/\partial y_{pred}`
for the same ``reduction`` (the prediction argument is ``y_pred``, ``p``,
``logits``, ``scores``, ``q``, ``log_probs``, ``d`` or ``mean``). Argument
order follows the formula sheets: ``(y_true, y_pred)``, except
``nll(log_probs, labels)`` and ``contrastive(d, y)``.

Reductions
----------
* Elementwise losses (``mse``, ``huber``, ``binary_cross_entropy``, ``hinge``,
  ...) give one value per element: ``"mean"`` averages over all elements,
  ``"sum"`` adds them, ``"none"`` returns them (shape of the prediction).
* Distribution losses (categorical and softmax cross-entropy, their sparse
  forms, ``nll``, ``kl_divergence``, ``js_divergence``) sum over the class
  axis (``axis=-1``, the last, by default; ``axis=1`` for torch's
  ``(N, C, d1, ...)`` layout) first, giving one value per position (the
  prediction's shape without that axis), then reduce those positions the
  same way. The sparse forms take ``ignore_index`` (torch's) and the softmax
  forms ``where`` (optax's mask): positions they exclude contribute 0 and
  are not counted by ``"mean"``, which is 0 when nothing is left.
* Gradients follow suit: for ``"mean"`` they are already divided by the number
  of elements (or rows); for ``"none"`` they are the gradient of the *sum* of
  the per-item losses.

Sample weights
--------------
Every loss and gradient takes ``sample_weight=None``: one non-negative
weight :math:`w_i` per sample (the first axis; shape ``(n_samples,)``),
broadcast over that sample's items (:math:`W`). ``"none"`` returns
:math:`W \ell`, ``"sum"`` :math:`\sum W \ell` and ``"mean"``
:math:`\sum W \ell / \sum W`, scikit-learn's weighted mean
(``mean_squared_error(..., sample_weight=w)`` averages the outputs of
each sample the same way). torch's per-class ``weight=`` of
``cross_entropy``/``nll_loss`` is ``sample_weight=weight[labels]``: torch
also divides by :math:`\sum_i \mathrm{weight}[c_i]` for ``"mean"``. All
weights 0 give NaN for ``"mean"``. For the distribution losses the
samples are the first axis of the positions (the prediction without its
class axis: axis 1 of the prediction when ``axis=0``). With
``ignore_index`` or ``where``, ``"mean"`` divides by the sum of :math:`W`
over the counted positions only (torch: :math:`\sum_i \mathrm{weight}[c_i]`
over the targets not ignored) and is 0 when that sum is 0. ``rmse`` takes the root of the weighted
mean squared error. Gradients are those of the weighted reduced loss.

Numerics: the logit forms (``binary_cross_entropy_with_logits``,
``softmax_cross_entropy``, ``sparse_softmax_cross_entropy``,
``sigmoid_focal``, ``logistic_loss``) never clip and never overflow. The
probability forms clip their probabilities to ``[eps, 1 - eps]`` inside the
logs (said in each docstring); their gradient is that of the clipped
function, so it is 0 where the clip is active.

Bad input (shapes that differ, wrong one-hot width, empty arrays, labels out
of range, an unknown ``reduction``) raises ``ValueError``/``TypeError``.
Value checks of labels run only on eager, concrete arrays (not on JAX tracers
or lazy Dask arrays).
"""

from __future__ import annotations

import math

from ._gradlink import differentiable
from . import _numerics as _n
from ._validate import check_axis, check_int, check_probabilities, check_real, check_values
from ._xp import (
    as_array0d,
    clip,
    array_namespace,
    as_float,
    check_labels,
    check_nonempty,
    check_positive,
    check_reduction,
    check_same_shape,
    device_of,
    float_dtype,
    native,
    reduce,
    sign,
    size,
    value_check,
)

__all__ = [
    "mse", "mse_grad",
    "rmse", "rmse_grad",
    "mae", "mae_grad",
    "huber", "huber_grad",
    "log_cosh", "log_cosh_grad",
    "binary_cross_entropy", "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_grad",
    "categorical_cross_entropy", "categorical_cross_entropy_grad",
    "softmax_cross_entropy", "softmax_cross_entropy_grad",
    "sparse_categorical_cross_entropy", "sparse_categorical_cross_entropy_grad",
    "sparse_softmax_cross_entropy", "sparse_softmax_cross_entropy_grad",
    "hinge", "hinge_grad",
    "squared_hinge", "squared_hinge_grad",
    "logistic_loss", "logistic_loss_grad",
    "focal", "focal_grad",
    "sigmoid_focal", "sigmoid_focal_grad",
    "kl_divergence", "kl_divergence_grad",
    "js_divergence", "js_divergence_grad",
    "nll", "nll_grad",
    "contrastive", "contrastive_grad",
    "gaussian_nll", "gaussian_nll_grad",
    "mean_squared_log_error", "mean_squared_log_error_grad",
    "poisson", "poisson_grad",
    "smooth_l1", "smooth_l1_grad",
    "cosine_similarity_loss", "cosine_similarity_loss_grad",
    "dice", "dice_grad",
    "tversky", "tversky_grad",
    "categorical_focal", "categorical_focal_grad",
    "categorical_hinge", "categorical_hinge_grad",
    "multiclass_hinge", "multiclass_hinge_grad",
]

_LOG2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# beyond this |r|, log cosh r = |r| - log 2 + O(e^{-2|r|}) is linear to within 1e-17
_LOG_COSH_LINEAR = 20.0


def _doc(fn):
    """Fill the shared numpydoc pieces (``%REDUCTION%``, ``%RETURNS%`` ...) of a loss docstring."""
    fn.__doc__ = fn.__doc__.replace("%REDUCTION%", _REDUCTION).replace(
        "%RETURNS%", _RETURNS).replace("%ROWS%", _ROWS).replace("%RAISES%", _RAISES).replace(
        "%AXIS%", _AXIS).replace("%IGNORE%", _IGNORE).replace("%WHERE%", _WHERE)
    return fn


_REDUCTION = """sample_weight : array of shape (n_samples,), optional
        Non-negative weight of each sample (the first axis), broadcast over
        its items; see "Sample weights" in the module docstring.
    reduction : {"mean", "sum", "none"}, default "mean"
        How the per-item losses are combined (see the module docstring)."""
_RETURNS = """Returns
    -------
    array
        0-d for ``"mean"``/``"sum"``, else one loss per element (the
        prediction's shape); floating dtype of the inputs."""
_ROWS = """Returns
    -------
    array
        0-d for ``"mean"``/``"sum"``, else one loss per position (the
        prediction's shape without the class axis): the class axis is summed
        first."""
_AXIS = """axis : int, default -1
        The class axis (Keras' and optax's ``axis``; torch's inputs of shape
        ``(N, C, d1, ...)`` have it at 1). ``"mean"`` averages over all the
        other positions; the gradient has the prediction's layout."""
_IGNORE = """ignore_index : int, optional
        Targets equal to it contribute 0 (loss and gradient) and are left out
        of the ``"mean"``'s count, as torch's ``ignore_index``; they may lie
        outside ``[0, n_classes)`` (-100, torch's usual value). When every
        target is ignored, ``"mean"`` is 0 with a zero gradient (torch gives
        NaN): a batch of padding only then leaves the parameters as they are."""
_WHERE = """where : boolean array, optional
        optax's mask, of the prediction's shape (excluded entries leave the
        softmax's normalisation and the class sum) or of that shape without
        the class axis (excluded positions). A position with nothing
        included contributes 0 and is left out of the ``"mean"``'s count (0
        when nothing at all is included)."""
_RAISES = """Raises
    ------
    ValueError
        Shapes differ, the input is empty, or ``reduction`` is unknown."""


# ============================================================== shared pieces
def _elementwise(y_true, y_pred, names, reduction, *, allowed=("mean", "sum", "none")):
    """Namespace and the two arguments as arrays of one float dtype, checked."""
    xp = array_namespace(y_true, y_pred)
    check_reduction(reduction, allowed)
    dtype = float_dtype(xp, y_true, y_pred)
    y, p = as_float(y_true, xp, dtype, names[0]), as_float(y_pred, xp, dtype, names[1])
    check_same_shape(y, p, *names)
    check_nonempty(p, names[1])
    return xp, y, p


def _distribution(y_true, y_pred, names, reduction):
    """As :func:`_elementwise`, for arrays of shape (..., n_classes)."""
    xp = array_namespace(y_true, y_pred)
    check_reduction(reduction)
    dtype = float_dtype(xp, y_true, y_pred)
    y, p = as_float(y_true, xp, dtype, names[0]), as_float(y_pred, xp, dtype, names[1])
    a, b = names
    if p.ndim == 0:
        raise ValueError(f"{b} must have a class axis (the last); got a 0-d array")
    if tuple(y.shape[:-1]) == tuple(p.shape[:-1]) and y.ndim == p.ndim and y.shape[-1] != p.shape[-1]:
        raise ValueError(
            f"{a} rows have {y.shape[-1]} classes but {b} has {p.shape[-1]} (last axis); "
            f"got {a}.shape={tuple(y.shape)} and {b}.shape={tuple(p.shape)}"
        )
    check_same_shape(y, p, a, b)
    check_nonempty(p, b)
    return xp, y, p


def _sparse(labels, x, names, reduction):
    """Namespace, integer labels of shape x.shape[:-1] in [0, n_classes), float x."""
    xp = array_namespace(labels, x)
    check_reduction(reduction)
    lab, b = names
    if not hasattr(labels, "dtype") or not xp.isdtype(labels.dtype, "integral"):
        raise TypeError(f"{lab} must be an array of integer class indices; got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    x = as_float(x, xp, float_dtype(xp, x), b)
    if x.ndim == 0:
        raise ValueError(f"{b} must have a class axis (the last); got a 0-d array")
    if tuple(labels.shape) != tuple(x.shape[:-1]):
        raise ValueError(
            f"{lab} must have shape {b}.shape[:-1] = {tuple(x.shape[:-1])}; "
            f"got {lab}.shape={tuple(labels.shape)}"
        )
    check_nonempty(x, b)
    check_labels(labels, x.shape[-1], lab, xp)
    return xp, labels, x


def _check_pm1(y, name, *, xp):
    """Eager check that ``y`` holds only -1 and +1."""
    value_check(xp.all((y == 1.0) | (y == -1.0)),
                lambda: f"{name} must hold labels -1 and +1 only; got values in "
                f"[{float(xp.min(y))}, {float(xp.max(y))}]")


def _check_eps(eps):
    check_real(eps, "eps", low=0.0, high=0.5, low_open=True, high_open=True)


def _check_distributions(p, q, *, xp):
    """Concrete ``p`` and ``q`` must hold probabilities (a negative one is an error, not a clip)."""
    check_probabilities(p, "p", xp)
    check_probabilities(q, "q", xp)


def _bounds(eps, dtype, *, xp):
    """[eps, 1 - eps] for probabilities inside logs.

    The upper bound is the largest float of ``dtype`` below 1 when ``1 - eps``
    rounds to 1 there (float32 with the default eps=1e-15), so that
    ``log(1 - p)`` stays finite.
    """
    return eps, 1.0 - max(eps, float(xp.finfo(dtype).eps) / 2.0)


def _scale(g, n, reduction):
    """Turn d(sum of items)/dx into d(reduced loss)/dx (``n`` items)."""
    return g / n if reduction == "mean" else g


def _rows(x):
    return size(x) // x.shape[-1]


def _smooth_labels(y, a, k):
    """``(1 - a) y + a / k`` (``a`` checked in [0, 1]); ``y`` itself when ``a == 0``."""
    a = check_real(a, "label_smoothing", low=0.0, high=1.0)
    return y if a == 0 else (1.0 - a) * y + a / k


def _smoothed_one_hot(labels, k, a, dtype, *, xp):
    """``(1 - a) onehot(labels) + a / k`` in ``dtype``."""
    t = xp.astype(_class_mask(labels, k, xp=xp), dtype)
    return t if a == 0 else (1.0 - a) * t + a / k


def _class_mask(labels, k, *, xp):
    """Boolean one-hot of ``labels`` along a new last axis of width ``k``."""
    classes = xp.arange(k, dtype=labels.dtype, device=device_of(labels))
    return xp.expand_dims(labels, axis=-1) == classes


def _take_class(x, labels, *, xp):
    """``x[..., labels]`` along the last axis.

    ``take_along_axis`` (one read per row) where the namespace has it; Dask
    lacks it, and there a one-hot compare does the same job (a full pass over
    ``x``, about 60 % of a log-sum-exp at 1000 classes on NumPy, which is why
    it is not the only path).
    """
    if hasattr(xp, "take_along_axis"):
        index_dtype = xp.__array_namespace_info__().default_dtypes()["indexing"]
        if labels.dtype != index_dtype:  # torch takes only int64 indices
            labels = xp.astype(labels, index_dtype)
        idx = xp.expand_dims(labels, axis=-1)
        return xp.squeeze(xp.take_along_axis(x, idx, axis=-1), axis=-1)
    mask = _class_mask(labels, x.shape[-1], xp=xp)
    return xp.sum(xp.where(mask, x, xp.zeros_like(x)), axis=-1)


# ---------------------------------------------------- class axis, ignored targets and masks (distribution losses)
def _without(shape, ax):
    """``shape`` without axis ``ax``."""
    return tuple(shape[:ax]) + tuple(shape[ax + 1:])


def _to_last(x, ax, *, xp):
    """``x`` with axis ``ax`` moved to the end (``x`` itself when it is there already).

    ``permute_dims``, not ``moveaxis``: ``torch.func.vmap`` has no batching rule for the latter.
    """
    if ax == x.ndim - 1:
        return x
    return xp.permute_dims(x, tuple(i for i in range(x.ndim) if i != ax) + (ax,))


def _from_last(x, ax, *, xp):
    """Undo :func:`_to_last`."""
    if ax == x.ndim - 1:
        return x
    order = list(range(x.ndim - 1))
    order.insert(ax, x.ndim - 1)
    return xp.permute_dims(x, tuple(order))


def _class_axis(axis, x, name):
    """The class axis ``axis`` of ``x`` (named ``name``) normalised to ``[0, x.ndim)``."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have a class axis; got a 0-d array")
    return check_axis(axis, x.ndim, "axis")


def _check_ignore_index(ignore_index):
    return None if ignore_index is None else check_int(ignore_index, "ignore_index")


def _ignored(labels, ignore_index, *, xp):
    """Boolean array: ``labels != ignore_index`` (``None`` when nothing can be ignored).

    An ``ignore_index`` the labels' integer dtype cannot hold (-100 against
    unsigned labels) matches no label, and is not compared (array-api-strict
    refuses a Python integer out of the dtype's range).
    """
    if ignore_index is None:
        return None
    info = xp.iinfo(labels.dtype)
    if not info.min <= ignore_index <= info.max:
        return None
    return labels != ignore_index


def _check_where(where, x, ax, name, *, xp):
    """The boolean mask ``where`` in the layout of ``_to_last(x, ax)`` (None stays None).

    Two shapes are accepted, as optax has them: ``x.shape`` (a mask of the
    entries: excluded classes leave the normalisation and the sum) or
    ``x.shape`` without the class axis (a mask of the positions), which
    gains a trailing axis of length 1 and broadcasts over the classes.
    """
    if where is None:
        return None
    if not (hasattr(where, "dtype") and hasattr(where, "shape")):
        raise TypeError(f"where must be a boolean array (or None); got {type(where).__name__} -- wrap it with "
                        "numpy.asarray or Backend.asarray")
    if not xp.isdtype(where.dtype, "bool"):
        raise TypeError(f"where must be a boolean array; got dtype {where.dtype}")
    full, rows = tuple(x.shape), _without(x.shape, ax)
    if tuple(where.shape) == full:
        return _to_last(where, ax, xp=xp)
    if tuple(where.shape) == rows:
        return xp.expand_dims(where, axis=-1)
    raise ValueError(f"where must have {name}'s shape {full} (a mask of entries) or that shape without the class "
                     f"axis {rows} (a mask of positions); got where.shape={tuple(where.shape)}")


def _dist_along(y_true, y_pred, names, reduction, axis, where=None):
    """As :func:`_distribution` with the class axis ``axis`` and an optional mask ``where``.

    Returns ``xp``, the two arrays with the class axis moved last, the
    normalised axis and the mask in that layout (or ``None``).
    """
    xp = array_namespace(y_true, y_pred, where)
    check_reduction(reduction)
    dtype = float_dtype(xp, y_true, y_pred)
    y, p = as_float(y_true, xp, dtype, names[0]), as_float(y_pred, xp, dtype, names[1])
    a, b = names
    ax = _class_axis(axis, p, b)
    if y.ndim == p.ndim and _without(y.shape, ax) == _without(p.shape, ax) and y.shape[ax] != p.shape[ax]:
        raise ValueError(
            f"{a} rows have {y.shape[ax]} classes but {b} has {p.shape[ax]} (class axis {ax}); "
            f"got {a}.shape={tuple(y.shape)} and {b}.shape={tuple(p.shape)}"
        )
    check_same_shape(y, p, a, b)
    check_nonempty(p, b)
    w = _check_where(where, p, ax, b, xp=xp)
    return xp, _to_last(y, ax, xp=xp), _to_last(p, ax, xp=xp), ax, w


def _sparse_along(labels, x, names, reduction, axis, ignore_index=None, where=None):
    """As :func:`_sparse` with the class axis ``axis``, ``ignore_index`` and ``where``.

    Returns ``xp``, safe labels (ignored ones replaced by 0, so that nothing
    indexes out of bounds), ``x`` with the class axis last, the normalised
    axis, the kept positions (``labels != ignore_index``, or ``None``) and
    the mask (or ``None``).
    """
    ignore_index = _check_ignore_index(ignore_index)
    xp = array_namespace(labels, x, where)
    check_reduction(reduction)
    lab, b = names
    if not hasattr(labels, "dtype") or not xp.isdtype(labels.dtype, "integral"):
        raise TypeError(f"{lab} must be an array of integer class indices; got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    x = as_float(x, xp, float_dtype(xp, x), b)
    ax = _class_axis(axis, x, b)
    want = _without(x.shape, ax)
    if tuple(labels.shape) != want:
        where_ = f"{b}.shape[:-1]" if ax == x.ndim - 1 else f"{b}.shape without the class axis {ax}"
        raise ValueError(f"{lab} must have shape {where_} = {want}; got {lab}.shape={tuple(labels.shape)}")
    check_nonempty(x, b)
    kept = _ignored(labels, ignore_index, xp=xp)
    if kept is not None:
        labels = xp.where(kept, labels, xp.zeros_like(labels))
    check_labels(labels, x.shape[ax], lab if kept is None else f"{lab} (other than ignore_index={ignore_index})", xp)
    w = _check_where(where, x, ax, b, xp=xp)
    return xp, labels, _to_last(x, ax, xp=xp), ax, kept, w


def _counted(kept, w, *, xp):
    """Positions that count in the mean: kept by ``ignore_index`` and with an included entry (or ``None``: all)."""
    inc = None if w is None else xp.any(w, axis=-1)
    if kept is None:
        return inc
    return kept if inc is None else kept & inc


def _reduce_counted(v, counted, reduction, *, xp):
    """Reduce per-position losses ``v``; positions outside ``counted`` contribute 0 and are not counted.

    ``"mean"`` divides by the number of counted positions, and is 0 when
    there is none (torch's ``cross_entropy`` gives NaN there).
    """
    if counted is None:
        return reduce(v, reduction, xp)
    v = xp.where(counted, v, xp.zeros_like(v))
    if reduction == "none":
        return v
    total = xp.sum(v)
    if reduction == "sum":
        return as_array0d(total, xp)
    n = xp.sum(xp.astype(counted, v.dtype))
    return as_array0d(total / xp.where(n > 0, n, xp.ones_like(n)), xp)


def _scale_counted(g, counted, reduction, *, xp):
    """As :func:`_scale` for a gradient ``g`` with the class axis last; uncounted positions give 0."""
    if counted is None:
        return _scale(g, _rows(g), reduction)
    g = xp.where(xp.expand_dims(counted, axis=-1), g, xp.zeros_like(g))
    if reduction != "mean":
        return g
    n = xp.sum(xp.astype(counted, g.dtype))
    return g / xp.where(n > 0, n, xp.ones_like(n))


def _masked_log_softmax(z, w, *, xp):
    """``(log softmax of z over the entries in w, 0 elsewhere; softmax likewise)`` along the last axis.

    Excluded entries are set to ``-inf`` before the shift, so they neither
    set the maximum nor overflow; a row with nothing included gives zeros.
    """
    zx = xp.where(w, z, xp.full_like(z, -math.inf))
    zs = _n._shift_by_max(zx, -1, xp=xp)
    e = xp.exp(zs)
    total = xp.sum(e, axis=-1, keepdims=True)
    total = xp.where(total > 0, total, xp.ones_like(total))
    ls = xp.where(w, zs - xp.log(total), xp.zeros_like(z))
    return ls, e / total


# ============================================================== regression
@differentiable("mse_grad", wrt=1)
@_doc
def mse(y_true, y_pred, *, reduction="mean"):
    r"""Mean squared error.

    Parameters
    ----------
    y_true, y_pred : arrays of the same shape
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    .. math:: \ell_i = (\hat y_i - y_i)^2, \qquad \frac{\partial \ell_i}{\partial \hat y_i} = 2(\hat y_i - y_i)

    Reference: ``torch.nn.functional.mse_loss``.

    Examples
    --------
    >>> import numpy as np
    >>> float(mse(np.asarray([1.0, 2.0]), np.asarray([1.5, 2.0])))
    0.125
    """
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    # one unnamed temporary: NumPy squares it in place (temporary elision)
    return reduce((p - y) ** 2, reduction, xp)


def mse_grad(y_true, y_pred, *, reduction="mean"):
    r""":math:`\partial\,\mathrm{mse}/\partial\hat y = 2(\hat y - y)` (divided by the size for ``"mean"``)."""
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    n = size(p) if reduction == "mean" else 0
    return (p - y) * (2.0 / n if n else 2.0)


@differentiable("rmse_grad", wrt=1)
def rmse(y_true, y_pred, *, reduction="mean"):
    r"""Root mean squared error (``reduction="mean"`` only).

    Parameters
    ----------
    y_true, y_pred : arrays of the same shape
    reduction : {"mean"}
        Only ``"mean"``: the root of a sum or of single elements is not an RMSE.

    Returns
    -------
    0-d array

    Notes
    -----
    .. math:: L = \sqrt{\tfrac1n \textstyle\sum_i (\hat y_i - y_i)^2}, \qquad
              \frac{\partial L}{\partial \hat y_i} = \frac{\hat y_i - y_i}{n L}

    At a perfect prediction (:math:`L = 0`) the gradient is taken as 0, its
    subgradient, not NaN.
    """
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction, allowed=("mean",))
    r = p - y
    s = _n.max_abs_scale(r, xp=xp)
    u = r / s
    return as_array0d(s * xp.sqrt(xp.mean(u * u)), xp)


def rmse_grad(y_true, y_pred, *, reduction="mean"):
    r""":math:`\partial L/\partial\hat y_i = (\hat y_i - y_i)/(nL)`; 0 where :math:`L = 0`."""
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction, allowed=("mean",))
    r = p - y
    s = _n.max_abs_scale(r, xp=xp)
    u = r / s  # scaled by max |r|: neither r^2 nor L underflows or overflows
    loss = xp.sqrt(xp.mean(u * u))
    return u / (size(p) * xp.where(loss > 0, loss, xp.ones_like(loss)))


@differentiable("mae_grad", wrt=1)
@_doc
def mae(y_true, y_pred, *, reduction="mean"):
    r"""Mean absolute error.

    Parameters
    ----------
    y_true, y_pred : arrays of the same shape
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    .. math:: \ell_i = |\hat y_i - y_i|, \qquad \frac{\partial \ell_i}{\partial \hat y_i} = \operatorname{sign}(\hat y_i - y_i)

    (0 at a zero residual). Reference: ``torch.nn.functional.l1_loss``.
    """
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    return reduce(xp.abs(p - y), reduction, xp)


def mae_grad(y_true, y_pred, *, reduction="mean"):
    r""":math:`\operatorname{sign}(\hat y - y)` (0 at zero residuals; divided by the size for ``"mean"``)."""
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    return _scale(sign(p - y, xp), size(p), reduction)


@differentiable("huber_grad", wrt=1)
@_doc
def huber(y_true, y_pred, *, delta=1.0, reduction="mean"):
    r"""Huber loss: quadratic near zero, linear beyond ``delta``.

    Parameters
    ----------
    y_true, y_pred : arrays of the same shape
    delta : float, default 1.0
        Where the loss turns from quadratic to linear; positive.
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    With :math:`r = \hat y - y`:

    .. math:: \ell = \begin{cases} \tfrac12 r^2 & |r| \le \delta \\ \delta\,(|r| - \tfrac12\delta) & |r| > \delta \end{cases}, \qquad
              \frac{\partial \ell}{\partial \hat y} = \operatorname{clip}(r, -\delta, \delta)

    Reference: ``torch.nn.functional.huber_loss``.

    Examples
    --------
    >>> import numpy as np
    >>> huber(np.asarray([0.0, 0.0]), np.asarray([0.5, 3.0]), reduction="none")
    array([0.125, 2.5  ])
    """
    check_positive(delta, "delta")
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    a = xp.abs(p - y)
    c = clip(a, None, delta, xp=xp)  # c (a - c/2) is a^2/2 for a <= delta, else delta (a - delta/2)
    return reduce(c * (a - 0.5 * c), reduction, xp)


def huber_grad(y_true, y_pred, *, delta=1.0, reduction="mean"):
    r""":math:`\operatorname{clip}(\hat y - y, -\delta, \delta)` (divided by the size for ``"mean"``)."""
    check_positive(delta, "delta")
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    return _scale(clip(p - y, -delta, delta, xp=xp), size(p), reduction)


@differentiable("log_cosh_grad", wrt=1)
@_doc
def log_cosh(y_true, y_pred, *, reduction="mean"):
    r"""Log-cosh loss: :math:`\log\cosh(\hat y - y)`.

    Parameters
    ----------
    y_true, y_pred : arrays of the same shape
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    .. math:: \ell = \log\cosh r, \quad r = \hat y - y, \qquad \frac{\partial \ell}{\partial \hat y} = \tanh r

    Evaluated as :math:`\operatorname{log1p}(2\sinh^2(a/2)) + \max(|r| - a, 0)`
    with :math:`a = \min(|r|, 20)`: the first term keeps full relative
    precision where :math:`\log\cosh r \approx r^2/2` (the naive
    :math:`\log\cosh` and :math:`|r| + \log(1 + e^{-2|r|}) - \log 2` both
    cancel there), and beyond :math:`|r| = 20` the function is linear with
    slope :math:`\tanh 20 = 1` to within :math:`10^{-17}`, so large residuals
    never overflow (``cosh`` itself does beyond 710 in float64, 89 in float32).

    Examples
    --------
    >>> import numpy as np
    >>> log_cosh(np.asarray([0.0, 0.0]), np.asarray([1e-5, 1e3]), reduction="none")
    array([5.00000000e-11, 9.99306853e+02])
    """
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    return reduce(native("log_cosh", _log_cosh, y, p, xp=xp), reduction, xp)


def _log_cosh(y, p, *, xp):
    r""":math:`\log\cosh(p - y)`, elementwise, as :func:`log_cosh` describes."""
    r = xp.abs(p - y)
    a = clip(r, None, _LOG_COSH_LINEAR, xp=xp)
    h = xp.sinh(0.5 * a)
    return xp.log1p(2.0 * (h * h)) + (r - a)


def log_cosh_grad(y_true, y_pred, *, reduction="mean"):
    r""":math:`\tanh(\hat y - y)` (divided by the size for ``"mean"``)."""
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    return _scale(xp.tanh(p - y), size(p), reduction)


# ============================================================== binary classification
@differentiable("binary_cross_entropy_grad", wrt=1)
@_doc
def binary_cross_entropy(y_true, y_pred, *, eps=1e-15, label_smoothing=0.0, reduction="mean"):
    r"""Binary cross-entropy of probabilities.

    Parameters
    ----------
    y_true : array
        Targets in [0, 1] (hard 0/1 or soft labels).
    y_pred : array of the same shape
        Predicted probabilities :math:`p`. **Clipped** to :math:`[\epsilon, 1-\epsilon]`
        inside the logs (in float32, :math:`1-\epsilon` is at most the largest
        float below 1), so the loss is finite for ``p`` exactly 0 or 1; prefer
        :func:`binary_cross_entropy_with_logits`, which never clips.
    eps : float, default 1e-15
        Clipping bound, in (0, 0.5).
    label_smoothing : float, default 0.0
        In [0, 1]: the targets become :math:`(1 - a)\,y + a/K` (K = 2 classes), as
        ``label_smoothing=`` of torch, Keras and optax's ``smooth_labels``.
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    .. math:: \ell = -\bigl(y \log p + (1 - y)\log(1 - p)\bigr), \qquad
              \frac{\partial \ell}{\partial p} = \frac{p - y}{p(1 - p)}

    with :math:`p` clipped; the gradient is 0 where the clip is active.
    Reference: ``torch.nn.functional.binary_cross_entropy`` (which instead
    clamps the logs at -100).
    """
    _check_eps(eps)
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    y = _smooth_labels(y, label_smoothing, 2)
    check_probabilities(p, "y_pred", xp)
    pc = clip(p, *_bounds(eps, p.dtype, xp=xp), xp=xp)
    return reduce(-(y * xp.log(pc) + (1.0 - y) * xp.log1p(-pc)), reduction, xp)


def binary_cross_entropy_grad(y_true, y_pred, *, eps=1e-15, label_smoothing=0.0, reduction="mean"):
    r""":math:`(p - y)/(p(1-p))` with :math:`p` clipped; 0 where the clip is active."""
    _check_eps(eps)
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    y = _smooth_labels(y, label_smoothing, 2)
    check_probabilities(p, "y_pred", xp)
    lo, hi = _bounds(eps, p.dtype, xp=xp)
    pc = clip(p, lo, hi, xp=xp)
    g = xp.where((p >= lo) & (p <= hi), (pc - y) / (pc * (1.0 - pc)), xp.zeros_like(p))
    return _scale(g, size(p), reduction)


@differentiable("binary_cross_entropy_with_logits_grad", wrt=1)
@_doc
def binary_cross_entropy_with_logits(y_true, logits, *, label_smoothing=0.0, reduction="mean"):
    r"""Binary cross-entropy from logits (sigmoid folded in; never clips, never overflows).

    Parameters
    ----------
    y_true : array
        Targets in [0, 1].
    logits : array of the same shape
        :math:`z`, with :math:`p = \sigma(z)`.
    label_smoothing : float, default 0.0
        In [0, 1]: the targets become :math:`(1 - a)\,y + a/K` (K = 2 classes), as
        ``label_smoothing=`` of torch, Keras and optax's ``smooth_labels``.
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    .. math:: \ell = -\bigl(y\log\sigma(z) + (1-y)\log\sigma(-z)\bigr)
              = y\operatorname{softplus}(-z) + (1-y)\operatorname{softplus}(z), \qquad
              \frac{\partial \ell}{\partial z} = \sigma(z) - y

    Reference: ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Examples
    --------
    >>> import numpy as np
    >>> binary_cross_entropy_with_logits(np.asarray([1.0, 0.0]), np.asarray([1e4, 1e4]), reduction="none")
    array([    0., 10000.])
    """
    xp, y, z = _elementwise(y_true, logits, ("y_true", "logits"), reduction)
    if type(label_smoothing) is not float or label_smoothing != 0.0:  # (the default skips the check: per-call cost)
        y = _smooth_labels(y, label_smoothing, 2)
    return reduce(native("bce_logits", _bce_logits, y, z, xp=xp), reduction, xp)


def binary_cross_entropy_with_logits_grad(y_true, logits, *, label_smoothing=0.0, reduction="mean"):
    r""":math:`\sigma(z) - y` (divided by the size for ``"mean"``)."""
    xp, y, z = _elementwise(y_true, logits, ("y_true", "logits"), reduction)
    if type(label_smoothing) is not float or label_smoothing != 0.0:
        y = _smooth_labels(y, label_smoothing, 2)
    return _scale(native("bce_logits_grad", _bce_logits_grad, y, z, xp=xp), size(z), reduction)


def _bce_logits(y, z, *, xp):
    r""":math:`y\operatorname{softplus}(-z) + (1-y)\operatorname{softplus}(z)`.

    Equal to :math:`\operatorname{softplus}(z) - yz`, but without its
    cancellation: each term keeps full relative precision, e.g. at
    :math:`y = 1, z = 35` it is :math:`e^{-35}`, not 0.
    """
    return y * _n.softplus(-z, xp=xp) + (1.0 - y) * _n.softplus(z, xp=xp)


def _bce_logits_grad(y, z, *, xp):
    r""":math:`(1-y)\sigma(z) - y\sigma(-z) = \sigma(z) - y`, without cancellation.

    With :math:`e = e^{-|z|}` and :math:`d = 1 + e`, :math:`\sigma(z) = N(z)/d` and
    :math:`\sigma(-z) = N(-z)/d` (:func:`portable_ml._numerics.logistic_numerator`):
    one ``exp`` and one division for both.
    """
    e = xp.exp(-xp.abs(z))
    num, num_neg = _n.logistic_numerator(z, e, xp=xp), _n.logistic_numerator(-z, e, xp=xp)
    return ((1.0 - y) * num - y * num_neg) / (1.0 + e)


@differentiable("hinge_grad", wrt=1)
@_doc
def hinge(y_pm1, scores, *, reduction="mean"):
    r"""Hinge loss for labels in {-1, +1}.

    Parameters
    ----------
    y_pm1 : array
        Labels, -1 or +1 (checked on eager inputs).
    scores : array of the same shape
        Real-valued scores :math:`s`.
    %REDUCTION%

    %RETURNS%

    %RAISES%
        Also when ``y_pm1`` holds values other than -1 and +1.

    Notes
    -----
    .. math:: \ell = \max(0, 1 - y s), \qquad
              \frac{\partial \ell}{\partial s} = \begin{cases} -y & y s < 1 \\ 0 & y s \ge 1 \end{cases}
    """
    xp, y, s = _elementwise(y_pm1, scores, ("y_pm1", "scores"), reduction)
    _check_pm1(y, "y_pm1", xp=xp)
    return reduce(clip(1.0 - y * s, 0.0, None, xp=xp), reduction, xp)


def hinge_grad(y_pm1, scores, *, reduction="mean"):
    r""":math:`-y` where :math:`ys < 1`, else 0 (divided by the size for ``"mean"``)."""
    xp, y, s = _elementwise(y_pm1, scores, ("y_pm1", "scores"), reduction)
    _check_pm1(y, "y_pm1", xp=xp)
    active = xp.astype(y * s < 1.0, y.dtype)  # a 0/1 factor, not ``where``: NumPy's is branchy
    return _scale(-y * active, size(s), reduction)


@differentiable("squared_hinge_grad", wrt=1)
@_doc
def squared_hinge(y_pm1, scores, *, reduction="mean"):
    r"""Squared hinge loss for labels in {-1, +1}.

    Parameters
    ----------
    y_pm1 : array
        Labels, -1 or +1 (checked on eager inputs).
    scores : array of the same shape
    %REDUCTION%

    %RETURNS%

    %RAISES%
        Also when ``y_pm1`` holds values other than -1 and +1.

    Notes
    -----
    .. math:: \ell = \max(0, 1 - y s)^2, \qquad \frac{\partial \ell}{\partial s} = -2y\max(0, 1 - ys)
    """
    xp, y, s = _elementwise(y_pm1, scores, ("y_pm1", "scores"), reduction)
    _check_pm1(y, "y_pm1", xp=xp)
    m = clip(1.0 - y * s, 0.0, None, xp=xp)
    return reduce(m * m, reduction, xp)


def squared_hinge_grad(y_pm1, scores, *, reduction="mean"):
    r""":math:`-2y\max(0, 1 - ys)` (divided by the size for ``"mean"``)."""
    xp, y, s = _elementwise(y_pm1, scores, ("y_pm1", "scores"), reduction)
    _check_pm1(y, "y_pm1", xp=xp)
    return _scale(-2.0 * y * clip(1.0 - y * s, 0.0, None, xp=xp), size(s), reduction)


@differentiable("logistic_loss_grad", wrt=1)
@_doc
def logistic_loss(y_pm1, scores, *, reduction="mean"):
    r"""Logistic loss for labels in {-1, +1}: :math:`\log(1 + e^{-ys})`.

    Parameters
    ----------
    y_pm1 : array
        Labels, -1 or +1 (checked on eager inputs).
    scores : array of the same shape
    %REDUCTION%

    %RETURNS%

    %RAISES%
        Also when ``y_pm1`` holds values other than -1 and +1.

    Notes
    -----
    .. math:: \ell = \log(1 + e^{-ys}) = \operatorname{softplus}(-ys), \qquad
              \frac{\partial \ell}{\partial s} = -y\,\sigma(-ys)

    Equal to :func:`binary_cross_entropy_with_logits` with :math:`y_{01} = (y+1)/2`;
    stable for any score.
    """
    xp, y, s = _elementwise(y_pm1, scores, ("y_pm1", "scores"), reduction)
    _check_pm1(y, "y_pm1", xp=xp)
    return reduce(_n.softplus(-y * s, xp=xp), reduction, xp)


def logistic_loss_grad(y_pm1, scores, *, reduction="mean"):
    r""":math:`-y\,\sigma(-ys)` (divided by the size for ``"mean"``)."""
    xp, y, s = _elementwise(y_pm1, scores, ("y_pm1", "scores"), reduction)
    _check_pm1(y, "y_pm1", xp=xp)
    return _scale(-y * _n.sigmoid(-y * s, xp=xp), size(s), reduction)


def _check_focal(alpha, gamma):
    if alpha is not None:  # at most 1; negative (or None) disables the weighting
        check_real(alpha, "alpha", high=1.0)
    check_positive(gamma, "gamma", strict=False)


def _alpha_weight(alpha, y):
    """alpha_t = alpha y + (1 - alpha)(1 - y); 1 when alpha is None or negative (torchvision)."""
    if alpha is None or alpha < 0:
        return 1.0
    return alpha * y + (1.0 - alpha) * (1.0 - y)


def _pow(q, gamma, *, xp):
    """q**gamma for q >= 0 with 0**0 = 1 and no warnings."""
    return xp.ones_like(q) if gamma == 0 else q ** gamma


def _pow_m1(q, gamma, *, xp):
    """gamma * q**(gamma - 1), taken as 0 at q = 0 (the factor it multiplies vanishes there)."""
    if gamma == 0:
        return xp.zeros_like(q)
    if gamma >= 1:
        return gamma * q ** (gamma - 1.0)
    pos = q > 0
    return xp.where(pos, gamma * xp.where(pos, q, xp.ones_like(q)) ** (gamma - 1.0), xp.zeros_like(q))


@differentiable("focal_grad", wrt=1)
@_doc
def focal(y_true, p, *, alpha=0.25, gamma=2.0, eps=1e-15, reduction="mean"):
    r"""Binary focal loss of probabilities (Lin et al., 2017).

    Parameters
    ----------
    y_true : array
        Targets in [0, 1].
    p : array of the same shape
        Predicted probabilities, **clipped** to :math:`[\epsilon, 1-\epsilon]`
        as in :func:`binary_cross_entropy`. Prefer :func:`sigmoid_focal` from logits.
    alpha : float or None, default 0.25
        Weight of the positive class; ``None`` or a negative value disables
        the weighting (as in torchvision).
    gamma : float, default 2.0
        Focusing exponent, :math:`\ge 0` (0 gives weighted cross-entropy).
    eps : float, default 1e-15
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    With :math:`p_t = p y + (1-p)(1-y)`, :math:`\alpha_t = \alpha y + (1-\alpha)(1-y)`,
    :math:`\mathrm{ce} = -(y\log p + (1-y)\log(1-p))` and :math:`q = 1 - p_t`:

    .. math:: \ell = \alpha_t\, q^{\gamma}\, \mathrm{ce}, \qquad
              \frac{\partial \ell}{\partial p} = \alpha_t \Bigl( q^{\gamma} \frac{p - y}{p(1-p)}
              + \gamma q^{\gamma - 1} (1 - 2y)\, \mathrm{ce} \Bigr)

    For hard labels this is the sheet's :math:`-\alpha_t (1 - p_t)^\gamma \log p_t`;
    the soft-label form is torchvision's (``sigmoid_focal_loss`` with
    :math:`p = \sigma(z)`).
    """
    _check_eps(eps)
    _check_focal(alpha, gamma)
    xp, y, p = _elementwise(y_true, p, ("y_true", "p"), reduction)
    check_probabilities(p, "p", xp)
    pc = clip(p, *_bounds(eps, p.dtype, xp=xp), xp=xp)
    ce = -(y * xp.log(pc) + (1.0 - y) * xp.log1p(-pc))
    q = y * (1.0 - pc) + (1.0 - y) * pc
    return reduce(_alpha_weight(alpha, y) * _pow(q, gamma, xp=xp) * ce, reduction, xp)


def focal_grad(y_true, p, *, alpha=0.25, gamma=2.0, eps=1e-15, reduction="mean"):
    r""":math:`\partial\ell/\partial p` of :func:`focal` (formula there); 0 where the clip is active."""
    _check_eps(eps)
    _check_focal(alpha, gamma)
    xp, y, p = _elementwise(y_true, p, ("y_true", "p"), reduction)
    check_probabilities(p, "p", xp)
    lo, hi = _bounds(eps, p.dtype, xp=xp)
    pc = clip(p, lo, hi, xp=xp)
    ce = -(y * xp.log(pc) + (1.0 - y) * xp.log1p(-pc))
    q = y * (1.0 - pc) + (1.0 - y) * pc
    dce = (pc - y) / (pc * (1.0 - pc))
    g = _alpha_weight(alpha, y) * (_pow(q, gamma, xp=xp) * dce + _pow_m1(q, gamma, xp=xp) * (1.0 - 2.0 * y) * ce)
    g = xp.where((p >= lo) & (p <= hi), g, xp.zeros_like(g))
    return _scale(g, size(p), reduction)


@differentiable("sigmoid_focal_grad", wrt=1)
@_doc
def sigmoid_focal(y_true, logits, *, alpha=0.25, gamma=2.0, reduction="mean"):
    r"""Binary focal loss from logits, as ``torchvision.ops.sigmoid_focal_loss``.

    Same formula as torchvision, but the default reduction is ``"mean"``
    (torchvision's is ``"none"``). Computed from the logits without clipping:
    stable for any logit.

    Parameters
    ----------
    y_true : array
        Targets in [0, 1].
    logits : array of the same shape
        :math:`z`, with :math:`p = \sigma(z)`.
    alpha : float or None, default 0.25
        Weight of the positive class; ``None`` or negative disables it.
    gamma : float, default 2.0
        Focusing exponent, :math:`\ge 0`.
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    With :math:`\mathrm{ce} = y\operatorname{softplus}(-z) + (1-y)\operatorname{softplus}(z)`,
    :math:`q = 1 - p_t = y\,\sigma(-z) + (1-y)\,\sigma(z)` and
    :math:`\alpha_t = \alpha y + (1-\alpha)(1-y)`:

    .. math:: \ell = \alpha_t\, q^{\gamma}\, \mathrm{ce}, \qquad
              \frac{\partial \ell}{\partial z} = \alpha_t \Bigl( q^{\gamma} (\sigma(z) - y)
              + \gamma q^{\gamma-1} (1 - 2y)\, \sigma(z)\sigma(-z)\, \mathrm{ce} \Bigr)
    """
    _check_focal(alpha, gamma)
    xp, y, z = _elementwise(y_true, logits, ("y_true", "logits"), reduction)
    ce = _bce_logits(y, z, xp=xp)
    q = y * _n.sigmoid(-z, xp=xp) + (1.0 - y) * _n.sigmoid(z, xp=xp)
    return reduce(_alpha_weight(alpha, y) * _pow(q, gamma, xp=xp) * ce, reduction, xp)


def sigmoid_focal_grad(y_true, logits, *, alpha=0.25, gamma=2.0, reduction="mean"):
    r""":math:`\partial\ell/\partial z` of :func:`sigmoid_focal` (formula there)."""
    _check_focal(alpha, gamma)
    xp, y, z = _elementwise(y_true, logits, ("y_true", "logits"), reduction)
    ce = _bce_logits(y, z, xp=xp)
    s, s_neg = _n.sigmoid(z, xp=xp), _n.sigmoid(-z, xp=xp)
    q = y * s_neg + (1.0 - y) * s
    dce = (1.0 - y) * s - y * s_neg  # sigma(z) - y, without cancellation
    g = _pow(q, gamma, xp=xp) * dce + _pow_m1(q, gamma, xp=xp) * (1.0 - 2.0 * y) * (s * s_neg) * ce
    return _scale(_alpha_weight(alpha, y) * g, size(z), reduction)


# ============================================================== distributions
@differentiable("categorical_cross_entropy_grad", wrt=1)
@_doc
def categorical_cross_entropy(y_onehot, p, *, eps=1e-15, label_smoothing=0.0, axis=-1, reduction="mean"):
    r"""Categorical cross-entropy of probabilities.

    Parameters
    ----------
    y_onehot : array of shape (..., n_classes)
        One-hot (or soft) targets.
    p : array of the same shape
        Predicted class probabilities (not renormalised), **clipped** below
        at :math:`\epsilon` inside the log. Prefer :func:`softmax_cross_entropy`
        from logits.
    eps : float, default 1e-15
    label_smoothing : float, default 0.0
        In [0, 1]: the targets become :math:`(1 - a)\,y + a/K` (K classes), as
        ``label_smoothing=`` of torch, Keras and optax's ``smooth_labels``.
    %AXIS%
    %REDUCTION%

    %ROWS%

    Raises
    ------
    ValueError
        Shapes differ (a one-hot width that is not ``p``'s number of
        classes is named as such), the input is empty, ``axis`` is out of
        range, or ``reduction`` is unknown.

    Notes
    -----
    .. math:: \ell = -\sum_k y_k \log p_k, \qquad \frac{\partial \ell}{\partial p_k} = -\frac{y_k}{p_k}

    with :math:`p_k` clipped below at :math:`\epsilon`; the gradient is 0 where
    the clip is active.
    """
    _check_eps(eps)
    xp, y, p, _, _ = _dist_along(y_onehot, p, ("y_onehot", "p"), reduction, axis)
    y = _smooth_labels(y, label_smoothing, y.shape[-1])
    check_probabilities(p, "p", xp)
    return reduce(-xp.sum(y * xp.log(clip(p, eps, None, xp=xp)), axis=-1), reduction, xp)


def categorical_cross_entropy_grad(y_onehot, p, *, eps=1e-15, label_smoothing=0.0, axis=-1, reduction="mean"):
    r""":math:`-y_k/p_k` (0 where :math:`p_k < \epsilon`); divided by the number of rows for ``"mean"``."""
    _check_eps(eps)
    xp, y, p, ax, _ = _dist_along(y_onehot, p, ("y_onehot", "p"), reduction, axis)
    y = _smooth_labels(y, label_smoothing, y.shape[-1])
    check_probabilities(p, "p", xp)
    g = xp.where(p >= eps, -y / clip(p, eps, None, xp=xp), xp.zeros_like(p))
    return _from_last(_scale(g, _rows(p), reduction), ax, xp=xp)


@differentiable("softmax_cross_entropy_grad", wrt=1)
@_doc
def softmax_cross_entropy(y_onehot, logits, *, label_smoothing=0.0, axis=-1, where=None, reduction="mean"):
    r"""Cross-entropy of softmax(logits) against one-hot or soft targets.

    Parameters
    ----------
    y_onehot : array of shape (..., n_classes)
        One-hot or soft targets (rows summing to 1 for the usual meaning).
    logits : array of the same shape
        Finite logits; never clipped, never overflow.
    label_smoothing : float, default 0.0
        In [0, 1]: the targets become :math:`(1 - a)\,y + a/K` (K classes), as
        ``label_smoothing=`` of torch, Keras and optax's ``smooth_labels``.
    %AXIS%
    %WHERE%
    %REDUCTION%

    %ROWS%

    Raises
    ------
    TypeError
        ``where`` is not a boolean array.
    ValueError
        Shapes differ (including the one-hot width), the input is empty,
        ``axis`` is out of range, ``where`` has neither accepted shape, or
        ``reduction`` is unknown.

    Notes
    -----
    .. math:: \ell = -\sum_k y_k \log\operatorname{softmax}(z)_k
                   = \Bigl(\sum_k y_k\Bigr)\operatorname{lse}(z) - \sum_k y_k z_k, \qquad
              \frac{\partial \ell}{\partial z_k} = \Bigl(\sum_j y_j\Bigr) s_k - y_k

    (:math:`s_k - y_k` for one-hot rows). With ``where``, the sums, the
    log-sum-exp and the softmax run over the included entries only, and the
    gradient is 0 at the excluded ones. Reference:
    ``torch.nn.functional.cross_entropy`` with probability targets,
    ``optax.losses.softmax_cross_entropy(logits, labels, axis, where)``.
    """
    xp, y, z, _, w = _dist_along(y_onehot, logits, ("y_onehot", "logits"), reduction, axis, where)
    y = _smooth_labels(y, label_smoothing, y.shape[-1])
    if w is None:
        return reduce(-xp.sum(y * _n.log_softmax(z, axis=-1, xp=xp), axis=-1), reduction, xp)
    ls, _ = _masked_log_softmax(z, w, xp=xp)
    return _reduce_counted(-xp.sum(y * ls, axis=-1), _counted(None, w, xp=xp), reduction, xp=xp)


def softmax_cross_entropy_grad(y_onehot, logits, *, label_smoothing=0.0, axis=-1, where=None, reduction="mean"):
    r""":math:`(\sum_j y_j)\,\operatorname{softmax}(z) - y`; divided by the number of rows for ``"mean"``."""
    xp, y, z, ax, w = _dist_along(y_onehot, logits, ("y_onehot", "logits"), reduction, axis, where)
    y = _smooth_labels(y, label_smoothing, y.shape[-1])
    if w is not None:
        _, s = _masked_log_softmax(z, w, xp=xp)
        y = xp.where(w, y, xp.zeros_like(y))
        g = xp.sum(y, axis=-1, keepdims=True) * s - y
        return _from_last(_scale_counted(g, _counted(None, w, xp=xp), reduction, xp=xp), ax, xp=xp)
    e = xp.exp(_n._shift_by_max(z, -1, xp=xp))
    # the softmax normalisation and the row sums of y in one (rows, 1) factor; the
    # unnamed temporaries let NumPy do the subtraction and the division in place
    c = xp.sum(y, axis=-1, keepdims=True) / xp.sum(e, axis=-1, keepdims=True)
    n = _rows(z)
    return _from_last((e * c - y) / n if reduction == "mean" and n else e * c - y, ax, xp=xp)


@differentiable("sparse_categorical_cross_entropy_grad", wrt=1)
@_doc
def sparse_categorical_cross_entropy(labels, p, *, eps=1e-15, label_smoothing=0.0, axis=-1, ignore_index=None,
                                     reduction="mean"):
    r"""Categorical cross-entropy of probabilities, with integer class labels.

    Parameters
    ----------
    labels : integer array of shape (...)
        Class indices in ``[0, n_classes)`` (checked on eager inputs).
    p : array of shape (..., n_classes)
        Class probabilities, **clipped** below at :math:`\epsilon` inside the log.
    eps : float, default 1e-15
    label_smoothing : float, default 0.0
        In [0, 1]: the targets become :math:`(1 - a)\,y + a/K` (K classes), as
        ``label_smoothing=`` of torch, Keras and optax's ``smooth_labels``.
    %AXIS%
    %IGNORE%
    %REDUCTION%

    %ROWS%

    Raises
    ------
    TypeError
        ``labels`` is not an integer array, or ``ignore_index`` not an integer.
    ValueError
        ``labels.shape`` is not ``p``'s shape without the class axis, labels
        out of range, empty input, or an unknown ``reduction``.

    Notes
    -----
    .. math:: \ell = -\log p_{c}, \quad c = \text{label}, \qquad
              \frac{\partial \ell}{\partial p_k} = -\frac{[k = c]}{p_c}

    Reference: ``torch.nn.functional.nll_loss(log(p), labels)``.
    """
    label_smoothing = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    _check_eps(eps)
    xp, labels, p, _, kept, _ = _sparse_along(labels, p, ("labels", "p"), reduction, axis, ignore_index)
    check_probabilities(p, "p", xp)
    v = -xp.log(clip(_take_class(p, labels, xp=xp), eps, None, xp=xp))
    if label_smoothing:  # (1 - a)(-log p_c) + (a/K) sum_k -log p_k
        v = (1.0 - label_smoothing) * v - (label_smoothing / p.shape[-1]) * xp.sum(
            xp.log(clip(p, eps, None, xp=xp)), axis=-1)
    return _reduce_counted(v, kept, reduction, xp=xp)


def sparse_categorical_cross_entropy_grad(labels, p, *, eps=1e-15, label_smoothing=0.0, axis=-1,
                                          ignore_index=None, reduction="mean"):
    r""":math:`-[k = c]/p_c` (0 where :math:`p_c < \epsilon`); divided by the number of rows for ``"mean"``."""
    label_smoothing = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    _check_eps(eps)
    xp, labels, p, ax, kept, _ = _sparse_along(labels, p, ("labels", "p"), reduction, axis, ignore_index)
    check_probabilities(p, "p", xp)
    t = _smoothed_one_hot(labels, p.shape[-1], label_smoothing, p.dtype, xp=xp)
    g = xp.where(p >= eps, -t / clip(p, eps, None, xp=xp), xp.zeros_like(p))
    return _from_last(_scale_counted(g, kept, reduction, xp=xp), ax, xp=xp)


@differentiable("sparse_softmax_cross_entropy_grad", wrt=1)
@_doc
def sparse_softmax_cross_entropy(labels, logits, *, label_smoothing=0.0, axis=-1, ignore_index=None, where=None,
                                 reduction="mean"):
    r"""Cross-entropy of softmax(logits) with integer class labels.

    Parameters
    ----------
    labels : integer array of shape (...)
        Class indices in ``[0, n_classes)`` (checked on eager inputs).
    logits : array of shape (..., n_classes)
        Finite logits; never clipped, never overflow.
    label_smoothing : float, default 0.0
        In [0, 1]: the targets become :math:`(1 - a)\,y + a/K` (K classes), as
        ``label_smoothing=`` of torch, Keras and optax's ``smooth_labels``.
    %AXIS%
    %IGNORE%
    %WHERE%
    %REDUCTION%

    %ROWS%

    Raises
    ------
    TypeError
        ``labels`` is not an integer array, ``ignore_index`` not an integer,
        or ``where`` not a boolean array.
    ValueError
        ``labels.shape`` is not ``logits``' shape without the class axis,
        labels out of range, empty input, ``where`` of neither accepted
        shape, or an unknown ``reduction``.

    Notes
    -----
    .. math:: \ell = \operatorname{lse}(z) - z_c, \qquad
              \frac{\partial \ell}{\partial z_k} = \operatorname{softmax}(z)_k - [k = c]

    With ``where`` this is :func:`softmax_cross_entropy` of the one-hot
    targets with the same mask: a row whose own class is excluded gives 0
    (optax's integer-label form still subtracts :math:`z_c` there).
    Reference: ``torch.nn.functional.cross_entropy`` with class indices,
    ``optax.softmax_cross_entropy_with_integer_labels``.

    Examples
    --------
    >>> import numpy as np
    >>> labels, logits = np.asarray([0, 2]), np.asarray([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    >>> sparse_softmax_cross_entropy(labels, logits, reduction="none")
    array([0.40760596, 1.09861229])
    >>> sparse_softmax_cross_entropy_grad(labels, logits)  # (softmax - onehot) / 2 rows
    array([[-0.16737952,  0.12236424,  0.04501529],
           [ 0.16666667,  0.16666667, -0.33333333]])
    >>> sparse_softmax_cross_entropy(np.asarray([0, -100]), logits, ignore_index=-100)  # the mean of one row
    array(0.40760596)
    """
    label_smoothing = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    xp, labels, z, _, kept, w = _sparse_along(labels, logits, ("labels", "logits"), reduction, axis, ignore_index,
                                              where)
    if w is not None:  # the one-hot form with the mask
        t = _smoothed_one_hot(labels, z.shape[-1], label_smoothing, z.dtype, xp=xp)
        ls, _ = _masked_log_softmax(z, w, xp=xp)
        return _reduce_counted(-xp.sum(t * ls, axis=-1), _counted(kept, w, xp=xp), reduction, xp=xp)
    # gather after the shift: log sum exp(z - m) - (z_c - m), so that the
    # rounding of lse(z) at the scale of m never cancels against z_c
    zs = _n._shift_by_max(z, -1, xp=xp)
    lse = xp.log(xp.sum(xp.exp(zs), axis=-1))
    v = lse - _take_class(zs, labels, xp=xp)
    if label_smoothing:  # (1 - a)(lse - z_c) + a (lse - mean_k z_k)
        v = (1.0 - label_smoothing) * v + label_smoothing * (lse - xp.mean(zs, axis=-1))
    return _reduce_counted(v, kept, reduction, xp=xp)


def sparse_softmax_cross_entropy_grad(labels, logits, *, label_smoothing=0.0, axis=-1, ignore_index=None, where=None,
                                      reduction="mean"):
    r""":math:`\operatorname{softmax}(z) - \mathrm{onehot}(c)`; divided by the number of rows for ``"mean"``."""
    label_smoothing = check_real(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    xp, labels, z, ax, kept, w = _sparse_along(labels, logits, ("labels", "logits"), reduction, axis, ignore_index,
                                               where)
    t = _smoothed_one_hot(labels, z.shape[-1], label_smoothing, z.dtype, xp=xp)
    if w is None:
        g = _n.softmax(z, axis=-1, xp=xp) - t
    else:
        _, s = _masked_log_softmax(z, w, xp=xp)
        t = xp.where(w, t, xp.zeros_like(t))
        g = xp.sum(t, axis=-1, keepdims=True) * s - t
    return _from_last(_scale_counted(g, _counted(kept, w, xp=xp), reduction, xp=xp), ax, xp=xp)


@differentiable("nll_grad", wrt=0)
@_doc
def nll(log_probs, labels, *, axis=-1, ignore_index=None, reduction="mean"):
    r"""Negative log-likelihood of integer labels under log-probabilities.

    Parameters
    ----------
    log_probs : array of shape (..., n_classes)
        Log-probabilities (e.g. :func:`portable_ml.activations.log_softmax`).
    labels : integer array of shape (...)
        Class indices in ``[0, n_classes)`` (checked on eager inputs).
    %AXIS%
    %IGNORE%
    %REDUCTION%

    %ROWS%

    Raises
    ------
    TypeError
        ``labels`` is not an integer array, or ``ignore_index`` not an integer.
    ValueError
        ``labels.shape`` is not ``log_probs``' shape without the class axis,
        labels out of range, empty input, or an unknown ``reduction``.

    Notes
    -----
    .. math:: \ell = -\log p_c, \qquad \frac{\partial \ell}{\partial (\log p)_k} = -[k = c]

    Reference: ``torch.nn.functional.nll_loss`` (``axis=1`` for its
    ``(N, C, d1, ...)`` inputs).
    """
    xp, labels, lp, _, kept, _ = _sparse_along(labels, log_probs, ("labels", "log_probs"), reduction, axis,
                                               ignore_index)
    return _reduce_counted(-_take_class(lp, labels, xp=xp), kept, reduction, xp=xp)


def nll_grad(log_probs, labels, *, axis=-1, ignore_index=None, reduction="mean"):
    r""":math:`-\mathrm{onehot}(c)`; divided by the number of rows for ``"mean"``."""
    xp, labels, lp, ax, kept, _ = _sparse_along(labels, log_probs, ("labels", "log_probs"), reduction, axis,
                                                ignore_index)
    g = -xp.astype(_class_mask(labels, lp.shape[-1], xp=xp), lp.dtype)
    return _from_last(_scale_counted(g, kept, reduction, xp=xp), ax, xp=xp)


@differentiable("kl_divergence_grad", wrt=1)
@_doc
def kl_divergence(p, q, *, eps=1e-15, log_target=False, axis=-1, reduction="mean"):
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p \,\|\, q)` along the class axis.

    Parameters
    ----------
    p : array of shape (..., n_classes)
        Target distribution (non-negative; zeros contribute 0), or its
        logarithm (``-inf`` allowed) with ``log_target=True``.
    q : array of the same shape
        Predicted distribution, **clipped** below at :math:`\epsilon` inside the log.
    eps : float, default 1e-15
    log_target : bool, default False
        ``p`` holds :math:`\log p` (torch's ``kl_div(..., log_target=True)``).
    %AXIS%
    %REDUCTION%

    %ROWS%

    %RAISES%

    Notes
    -----
    .. math:: \mathrm{KL} = \sum_k p_k \log\frac{p_k}{q_k}, \qquad
              \frac{\partial\,\mathrm{KL}}{\partial q_k} = -\frac{p_k}{q_k}

    Inputs are used as given (not renormalised). Reference:
    ``scipy.special.rel_entr(p, q).sum(axis)``; for ``"mean"`` on 2-D input,
    ``torch.nn.functional.kl_div(log q, p, reduction="batchmean")``.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(kl_divergence(np.asarray([0.5, 0.5]), np.asarray([0.9, 0.1]))), 12)  # log(5/3)
    0.510825623766
    """
    _check_eps(eps)
    xp, p, q, _ = _kl_setup(p, q, log_target, reduction, axis)
    if log_target:
        lp = p
        p = xp.exp(lp)
        # p = 0 (log p = -inf) contributes 0, not 0 * -inf
        v = xp.where(p > 0, p * (xp.where(p > 0, lp, xp.zeros_like(lp)) - xp.log(clip(q, eps, None, xp=xp))),
                     xp.zeros_like(p))
        return reduce(xp.sum(v, axis=-1), reduction, xp)
    return reduce(xp.sum(_n.rel_entr(p, clip(q, eps, None, xp=xp), xp=xp), axis=-1), reduction, xp)


def _kl_setup(p, q, log_target, reduction, axis):
    if not isinstance(log_target, bool):
        raise TypeError(f"log_target must be a bool; got {type(log_target).__name__}")
    xp, p, q, ax, _ = _dist_along(p, q, ("p", "q"), reduction, axis)
    if log_target:
        check_values(p, "p", xp, high=0, what="log-probabilities (<= 0) with log_target=True")
        check_probabilities(q, "q", xp)
    else:
        _check_distributions(p, q, xp=xp)
    return xp, p, q, ax


def kl_divergence_grad(p, q, *, eps=1e-15, log_target=False, axis=-1, reduction="mean"):
    r""":math:`-p_k/q_k` (0 where :math:`q_k < \epsilon`); divided by the number of rows for ``"mean"``."""
    _check_eps(eps)
    xp, p, q, ax = _kl_setup(p, q, log_target, reduction, axis)
    if log_target:
        p = xp.exp(p)
    g = xp.where(q >= eps, -p / clip(q, eps, None, xp=xp), xp.zeros_like(q))
    return _from_last(_scale(g, _rows(q), reduction), ax, xp=xp)


@differentiable("js_divergence_grad", wrt=1)
@_doc
def js_divergence(p, q, *, axis=-1, reduction="mean"):
    r"""Jensen-Shannon divergence along the class axis (natural log; bounded by log 2).

    Parameters
    ----------
    p, q : arrays of shape (..., n_classes)
        Distributions (non-negative; zeros allowed, no clipping needed).
    %AXIS%
    %REDUCTION%

    %ROWS%

    %RAISES%

    Notes
    -----
    With :math:`m = (p + q)/2`:

    .. math:: \mathrm{JS} = \tfrac12 \sum_k p_k\log\frac{p_k}{m_k} + \tfrac12 \sum_k q_k\log\frac{q_k}{m_k}, \qquad
              \frac{\partial\,\mathrm{JS}}{\partial q_k} = \tfrac12 \log\frac{q_k}{m_k}

    The derivative is :math:`-\infty` where :math:`q_k = 0 < p_k` (returned as
    such) and :math:`\tfrac12\log 2` where both vanish. Reference:
    ``scipy.spatial.distance.jensenshannon(p, q, axis=axis) ** 2``.
    """
    xp, p, q, _, _ = _dist_along(p, q, ("p", "q"), reduction, axis)
    _check_distributions(p, q, xp=xp)
    m = 0.5 * (p + q)
    v = 0.5 * xp.sum(_n.rel_entr(p, m, xp=xp) + _n.rel_entr(q, m, xp=xp), axis=-1)
    return reduce(v, reduction, xp)


def js_divergence_grad(p, q, *, axis=-1, reduction="mean"):
    r""":math:`\tfrac12\log(q_k/m_k)` (:math:`-\infty` where :math:`q_k = 0 < p_k`); divided by the number of rows for ``"mean"``."""
    xp, p, q, ax, _ = _dist_along(p, q, ("p", "q"), reduction, axis)
    _check_distributions(p, q, xp=xp)
    pos = q > 0
    one = xp.ones_like(q)
    m = 0.5 * (p + q)
    at_pos = 0.5 * xp.log(xp.where(pos, q, one) / xp.where(pos, m, one))
    at_zero = xp.where(p > 0, xp.full_like(q, -math.inf), xp.full_like(q, 0.5 * _LOG2))
    return _from_last(_scale(xp.where(pos, at_pos, at_zero), _rows(q), reduction), ax, xp=xp)


# ============================================================== metric learning, likelihood
@differentiable("contrastive_grad", wrt=0)
@_doc
def contrastive(d, y, *, margin=1.0, reduction="mean"):
    r"""Contrastive loss on pair distances (Hadsell, Chopra & LeCun, 2006).

    Parameters
    ----------
    d : array
        Distances between the two embeddings of each pair (:math:`\ge 0`).
    y : array of the same shape
        1 for a similar pair, 0 for a dissimilar one.
    margin : float, default 1.0
        Dissimilar pairs closer than this are penalised; positive.
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    .. math:: \ell = y\,d^2 + (1 - y)\max(0, m - d)^2, \qquad
              \frac{\partial \ell}{\partial d} = 2y\,d - 2(1-y)\max(0, m - d)

    The same convention as ``tfa.losses.contrastive_loss`` (no factor 1/2).
    """
    check_positive(margin, "margin")
    xp, d, y = _elementwise(d, y, ("d", "y"), reduction)
    check_values(d, "d", xp, low=0, what="non-negative distances")
    h = clip(margin - d, 0.0, None, xp=xp)
    # (y d) d: a dissimilar pair (y = 0) far away contributes 0, not 0 * inf
    return reduce((y * d) * d + (1.0 - y) * (h * h), reduction, xp)


def contrastive_grad(d, y, *, margin=1.0, reduction="mean"):
    r""":math:`2y\,d - 2(1-y)\max(0, m-d)` (divided by the size for ``"mean"``)."""
    check_positive(margin, "margin")
    xp, d, y = _elementwise(d, y, ("d", "y"), reduction)
    check_values(d, "d", xp, low=0, what="non-negative distances")
    g = 2.0 * (y * d - (1.0 - y) * clip(margin - d, 0.0, None, xp=xp))
    return _scale(g, size(d), reduction)


def _broadcast_shape(a, b, names):
    """The broadcast of two static shapes, or a ``ValueError`` naming both arguments."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            raise ValueError(f"{names[0]} and {names[1]} must broadcast together; got "
                             f"{names[0]}.shape={tuple(a)} and {names[1]}.shape={tuple(b)}")
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def _gaussian_nll_setup(y_true, mean, var, eps, reduction):
    xp = array_namespace(y_true, mean, var)
    check_reduction(reduction)
    check_positive(eps, "eps")
    dtype = float_dtype(xp, y_true, mean, var)
    y, mu, v = (as_float(a, xp, dtype, n) for a, n in ((y_true, "y_true"), (mean, "mean"), (var, "var")))
    ms, vs = tuple(mu.shape), tuple(v.shape)
    shape = _broadcast_shape(tuple(y.shape), ms, ("y_true", "mean"))  # torch broadcasts the target
    check_nonempty(mu, "mean")
    if vs != ms:
        if ms and vs == ms[:-1]:  # one variance per row: broadcast over the last axis
            v = xp.expand_dims(v, axis=-1)
        elif not (v.ndim == mu.ndim and sum(b for a, b in zip(ms, vs) if a != b) == 1):
            # torch's rule: the shape of mean with exactly one axis of size 1 (e.g. (n, 1, h, w))
            raise ValueError(
                f"var must have the shape of mean {ms}, or that shape with one axis of size 1, "
                f"or with the last axis dropped; got var.shape={vs}"
            )
    value_check(~xp.any(v < 0), "var must be non-negative; it has negative entries")
    if tuple(y.shape) != shape:
        y = xp.broadcast_to(y, shape)
    if ms != shape:
        mu = xp.broadcast_to(mu, shape)
    return xp, y, mu, clip(v, eps, None, xp=xp), ms


def _sum_to_shape(g, shape, *, xp):
    """Sum ``g`` over the axes along which an array of ``shape`` was broadcast to ``g.shape``."""
    if tuple(g.shape) == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return xp.reshape(xp.sum(g, axis=axes, keepdims=True), shape) if axes else g


@differentiable("gaussian_nll_grad", wrt=1)
def gaussian_nll(y_true, mean, var, *, full=False, eps=1e-6, reduction="mean"):
    r"""Gaussian negative log-likelihood, as ``torch.nn.functional.gaussian_nll_loss``.

    Parameters
    ----------
    y_true : array
        Observations, of the shape of ``mean`` or broadcastable with it (as
        torch, e.g. a target of shape (1, 3) against means of shape (2, 3)).
    mean : array
        Predicted means (the prediction argument of :func:`gaussian_nll_grad`).
    var : array
        Predicted variances, non-negative (checked on eager inputs), of the
        shape of ``mean``, or that shape with one axis of size 1 or the last
        axis dropped (shared variances, as torch allows). Clamped below at ``eps``.
    full : bool, default False
        Add the constant :math:`\tfrac12\log 2\pi`.
    eps : float, default 1e-6
        Lower clamp of ``var``; positive.
    reduction : {"mean", "sum", "none"}, default "mean"
        Over all elements of the broadcast of ``y_true`` and ``mean``, as torch does.

    Returns
    -------
    array
        0-d for ``"mean"``/``"sum"``, else one value per element of the
        broadcast shape of ``y_true`` and ``mean``.

    Raises
    ------
    ValueError
        ``y_true`` and ``mean`` do not broadcast, ``var`` has a shape torch
        would reject or negative entries, empty input, unknown ``reduction``.

    Notes
    -----
    With :math:`v = \max(\sigma^2, \epsilon)`:

    .. math:: \ell = \tfrac12\Bigl(\log v + \frac{(\mu - y)^2}{v}\Bigr) \;[+\; \tfrac12\log 2\pi], \qquad
              \frac{\partial \ell}{\partial \mu} = \frac{\mu - y}{v}
    """
    xp, y, mu, v, _ = _gaussian_nll_setup(y_true, mean, var, eps, reduction)
    r = mu - y
    loss = 0.5 * (xp.log(v) + (r / v) * r)  # (r/v) r: r^2 may overflow where r^2/v does not
    if full:
        loss = loss + _HALF_LOG_2PI
    return reduce(loss, reduction, xp)


def gaussian_nll_grad(y_true, mean, var, *, full=False, eps=1e-6, reduction="mean"):
    r""":math:`(\mu - y)/\max(\sigma^2, \epsilon)` w.r.t. ``mean``, of ``mean``'s shape.

    Divided by the number of losses for ``"mean"``; summed over the axes along
    which ``mean`` was broadcast against ``y_true``.
    """
    xp, y, mu, v, mean_shape = _gaussian_nll_setup(y_true, mean, var, eps, reduction)
    g = _scale((mu - y) / v, size(mu), reduction)
    return _sum_to_shape(g, mean_shape, xp=xp)


# ============================================================== more regression and classification losses
def _check_above(x, name, low, what, *, xp):
    check_values(x, name, xp, low=low, what=what)


@differentiable("mean_squared_log_error_grad", wrt=1)
@_doc
def mean_squared_log_error(y_true, y_pred, *, reduction="mean"):
    r"""Mean squared logarithmic error.

    Parameters
    ----------
    y_true, y_pred : arrays of the same shape
        Non-negative targets and predictions (checked on eager inputs).
    %REDUCTION%

    %RETURNS%

    %RAISES%
        Also when an input has negative entries.

    Notes
    -----
    .. math:: \ell = \bigl(\log(1 + \hat y) - \log(1 + y)\bigr)^2, \qquad
              \frac{\partial \ell}{\partial \hat y} = \frac{2\bigl(\log(1 + \hat y) - \log(1 + y)\bigr)}{1 + \hat y}

    Reference: ``sklearn.metrics.mean_squared_log_error`` (``"mean"``), which
    also rejects negative values; Keras clips negative inputs to 0 instead.
    """
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    _check_above(y, "y_true", 0, "non-negative values", xp=xp)
    _check_above(p, "y_pred", 0, "non-negative values", xp=xp)
    d = xp.log1p(p) - xp.log1p(y)
    return reduce(d * d, reduction, xp)


def mean_squared_log_error_grad(y_true, y_pred, *, reduction="mean"):
    r""":math:`2(\log(1+\hat y) - \log(1+y))/(1+\hat y)` (divided by the size for ``"mean"``)."""
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    _check_above(y, "y_true", 0, "non-negative values", xp=xp)
    _check_above(p, "y_pred", 0, "non-negative values", xp=xp)
    return _scale(2.0 * (xp.log1p(p) - xp.log1p(y)) / (1.0 + p), size(p), reduction)


@differentiable("poisson_grad", wrt=1)
@_doc
def poisson(y_true, y_pred, *, eps=1e-8, reduction="mean"):
    r"""Poisson negative log-likelihood of rates (without the :math:`\log y!` term).

    Parameters
    ----------
    y_true : array
        Observed counts (any non-negative reals).
    y_pred : array of the same shape
        Predicted rates, non-negative (checked on eager inputs).
    eps : float, default 1e-8
        Added to the rate inside the log; positive.
    %REDUCTION%

    %RETURNS%

    %RAISES%
        Also when ``y_pred`` has negative entries.

    Notes
    -----
    .. math:: \ell = \hat y - y \log(\hat y + \epsilon), \qquad
              \frac{\partial \ell}{\partial \hat y} = 1 - \frac{y}{\hat y + \epsilon}

    Reference: ``torch.nn.functional.poisson_nll_loss(y_pred, y_true,
    log_input=False, eps=eps)``; Keras's ``poisson`` is the same with
    ``eps=1e-7`` and a mean over the last axis per sample.
    """
    check_positive(eps, "eps")
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    _check_above(p, "y_pred", 0, "non-negative rates", xp=xp)
    return reduce(p - y * xp.log(p + eps), reduction, xp)


def poisson_grad(y_true, y_pred, *, eps=1e-8, reduction="mean"):
    r""":math:`1 - y/(\hat y + \epsilon)` (divided by the size for ``"mean"``)."""
    check_positive(eps, "eps")
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    _check_above(p, "y_pred", 0, "non-negative rates", xp=xp)
    return _scale(1.0 - y / (p + eps), size(p), reduction)


@differentiable("smooth_l1_grad", wrt=1)
@_doc
def smooth_l1(y_true, y_pred, *, beta=1.0, reduction="mean"):
    r"""Smooth L1 loss, as ``torch.nn.functional.smooth_l1_loss``.

    Parameters
    ----------
    y_true, y_pred : arrays of the same shape
    beta : float, default 1.0
        Width of the quadratic zone; positive (``beta -> 0`` is :func:`mae`).
    %REDUCTION%

    %RETURNS%

    %RAISES%

    Notes
    -----
    With :math:`r = \hat y - y`:

    .. math:: \ell = \begin{cases} r^2 / (2\beta) & |r| < \beta \\ |r| - \beta/2 & \text{else} \end{cases},
              \qquad \frac{\partial \ell}{\partial \hat y} = \operatorname{clip}(r/\beta, -1, 1)

    It is :func:`huber` with ``delta=beta`` divided by ``beta``.
    """
    check_positive(beta, "beta")
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    a = xp.abs(p - y)
    c = clip(a, None, beta, xp=xp)
    return reduce(c * (a - 0.5 * c) / beta, reduction, xp)


def smooth_l1_grad(y_true, y_pred, *, beta=1.0, reduction="mean"):
    r""":math:`\operatorname{clip}((\hat y - y)/\beta, -1, 1)` (divided by the size for ``"mean"``)."""
    check_positive(beta, "beta")
    xp, y, p = _elementwise(y_true, y_pred, ("y_true", "y_pred"), reduction)
    return _scale(clip((p - y) / beta, -1.0, 1.0, xp=xp), size(p), reduction)


def _cosine_parts(y_true, y_pred, eps, reduction):
    check_positive(eps, "eps")
    xp, y, p = _distribution(y_true, y_pred, ("y_true", "y_pred"), reduction)
    ny = clip(xp.sqrt(xp.sum(y * y, axis=-1, keepdims=True)), eps, None, xp=xp)
    rp = xp.sqrt(xp.sum(p * p, axis=-1, keepdims=True))
    np_ = clip(rp, eps, None, xp=xp)
    yh = y / ny
    cos = xp.sum(yh * p, axis=-1, keepdims=True) / np_
    return xp, p, yh, rp, np_, cos


@differentiable("cosine_similarity_loss_grad", wrt=1)
@_doc
def cosine_similarity_loss(y_true, y_pred, *, eps=1e-8, reduction="mean"):
    r"""Cosine distance :math:`1 - \cos(y, \hat y)` along the last axis.

    Parameters
    ----------
    y_true, y_pred : arrays of shape (..., n_features)
    eps : float, default 1e-8
        Lower clamp of each norm; positive.
    %REDUCTION%

    %ROWS%

    %RAISES%

    Notes
    -----
    With :math:`\|x\|_\epsilon = \max(\|x\|_2, \epsilon)` and
    :math:`c = \langle y, \hat y\rangle / (\|y\|_\epsilon \|\hat y\|_\epsilon)`:

    .. math:: \ell = 1 - c, \qquad
              \frac{\partial \ell}{\partial \hat y} = -\frac{y}{\|y\|_\epsilon\|\hat y\|_\epsilon}
              + c\,\frac{\hat y}{\|\hat y\|^2} \;[\|\hat y\| > \epsilon]

    Reference: ``optax.cosine_distance(y_pred, y_true, epsilon=eps)``
    (``1 - torch.nn.functional.cosine_similarity``). Keras's
    ``cosine_similarity`` loss is :math:`-c`, i.e. ours minus 1.
    """
    xp, p, yh, rp, np_, cos = _cosine_parts(y_true, y_pred, eps, reduction)
    return reduce(1.0 - xp.squeeze(cos, axis=-1), reduction, xp)


def cosine_similarity_loss_grad(y_true, y_pred, *, eps=1e-8, reduction="mean"):
    r""":math:`-y/(\|y\|_\epsilon\|\hat y\|_\epsilon) + c\,\hat y/\|\hat y\|^2` (formula in :func:`cosine_similarity_loss`)."""
    xp, p, yh, rp, np_, cos = _cosine_parts(y_true, y_pred, eps, reduction)
    active = xp.astype(rp > eps, p.dtype)
    g = -yh / np_ + (active * cos / (np_ * np_)) * p
    return _scale(g, _rows(p), reduction)


def _overlap_sums(y_true, p, names, reduction):
    xp, y, p = _distribution(y_true, p, names, reduction)
    check_probabilities(p, names[1], xp)
    tp = xp.sum(y * p, axis=-1, keepdims=True)
    return xp, y, p, tp


@differentiable("dice_grad", wrt=1)
@_doc
def dice(y_true, p, *, smooth=1.0, reduction="mean"):
    r"""Soft Dice loss along the last axis (one value per row).

    Parameters
    ----------
    y_true : array of shape (..., n_features)
        Targets in [0, 1] (a mask, or one-hot rows).
    p : array of the same shape
        Predicted probabilities in [0, 1] (checked on eager inputs). Flatten
        each sample's pixels (and classes) to the last axis first for the
        per-image Dice of segmentation.
    smooth : float, default 1.0
        Added to numerator and denominator; :math:`\ge 0` (0 is undefined
        for an empty target and prediction).
    %REDUCTION%

    %ROWS%

    %RAISES%

    Notes
    -----
    With :math:`I = \sum_k y_k p_k`, :math:`N = 2I + s`,
    :math:`D = \sum_k y_k + \sum_k p_k + s`:

    .. math:: \ell = 1 - \frac{N}{D} = \frac{\sum_k y_k(1 - p_k) + p_k(1 - y_k)}{D}, \qquad
              \frac{\partial \ell}{\partial p_k} = \frac{N - 2 y_k D}{D^2}

    Reference: the formula in float64 NumPy (Milletari et al., 2016, without
    the squares; Keras's ``Dice`` is ``smooth=0`` up to its epsilon and
    reduces over every axis but the first).
    """
    check_positive(smooth, "smooth", strict=False)
    xp, y, p, tp = _overlap_sums(y_true, p, ("y_true", "p"), reduction)
    d = xp.sum(y, axis=-1) + xp.sum(p, axis=-1) + smooth
    # 1 - N/D = (D - N)/D with D - N = sum(y (1-p) + p (1-y)): a sum of non-negative terms, no cancellation
    errors = xp.sum(y * (1.0 - p) + p * (1.0 - y), axis=-1)
    return reduce(errors / d, reduction, xp)


def dice_grad(y_true, p, *, smooth=1.0, reduction="mean"):
    r""":math:`(N - 2 y_k D)/D^2` (formula in :func:`dice`); divided by the number of rows for ``"mean"``."""
    check_positive(smooth, "smooth", strict=False)
    xp, y, p, tp = _overlap_sums(y_true, p, ("y_true", "p"), reduction)
    n = 2.0 * tp + smooth
    d = xp.sum(y, axis=-1, keepdims=True) + xp.sum(p, axis=-1, keepdims=True) + smooth
    return _scale((n - 2.0 * y * d) / (d * d), _rows(p), reduction)


def _check_tversky(alpha, beta, smooth):
    check_positive(alpha, "alpha", strict=False)
    check_positive(beta, "beta", strict=False)
    check_positive(smooth, "smooth", strict=False)


@differentiable("tversky_grad", wrt=1)
@_doc
def tversky(y_true, p, *, alpha=0.5, beta=0.5, smooth=1.0, reduction="mean"):
    r"""Tversky loss along the last axis (one value per row); Dice-like with weighted errors.

    Parameters
    ----------
    y_true : array of shape (..., n_features)
        Targets in [0, 1].
    p : array of the same shape
        Predicted probabilities in [0, 1] (checked on eager inputs).
    alpha : float, default 0.5
        Weight of the false positives :math:`\sum (1-y)p`; :math:`\ge 0`.
    beta : float, default 0.5
        Weight of the false negatives :math:`\sum y(1-p)`; :math:`\ge 0`.
    smooth : float, default 1.0
        Added to numerator and denominator; :math:`\ge 0`.
    %REDUCTION%

    %ROWS%

    %RAISES%

    Notes
    -----
    With :math:`T = \sum y p`, :math:`F_P = \sum (1-y) p`, :math:`F_N = \sum y (1-p)`,
    :math:`N = T + s`, :math:`D = T + \alpha F_P + \beta F_N + s`:

    .. math:: \ell = 1 - \frac{N}{D}, \qquad
              \frac{\partial \ell}{\partial p_k} = \frac{N\,(y_k + \alpha(1 - y_k) - \beta y_k) - y_k D}{D^2}

    Salehi et al. (2017); ``alpha`` weighs false positives as in Keras's
    ``Tversky``. Reference: the formula in float64 NumPy.
    """
    _check_tversky(alpha, beta, smooth)
    xp, y, p, tp = _overlap_sums(y_true, p, ("y_true", "p"), reduction)
    fp = xp.sum((1.0 - y) * p, axis=-1, keepdims=True)
    fn = xp.sum(y * (1.0 - p), axis=-1, keepdims=True)
    errors = alpha * fp + beta * fn
    v = errors / (tp + errors + smooth)  # = 1 - N/D without the cancellation of 1 - N/D near 0
    return reduce(xp.squeeze(v, axis=-1), reduction, xp)


def tversky_grad(y_true, p, *, alpha=0.5, beta=0.5, smooth=1.0, reduction="mean"):
    r""":math:`\partial\ell/\partial p` of :func:`tversky` (formula there); divided by the number of rows for ``"mean"``."""
    _check_tversky(alpha, beta, smooth)
    xp, y, p, tp = _overlap_sums(y_true, p, ("y_true", "p"), reduction)
    fp = xp.sum((1.0 - y) * p, axis=-1, keepdims=True)
    fn = xp.sum(y * (1.0 - p), axis=-1, keepdims=True)
    n = tp + smooth
    d = tp + alpha * fp + beta * fn + smooth
    g = (n * (y + alpha * (1.0 - y) - beta * y) - y * d) / (d * d)
    return _scale(g, _rows(p), reduction)


@differentiable("categorical_focal_grad", wrt=1)
@_doc
def categorical_focal(y_onehot, p, *, alpha=0.25, gamma=2.0, eps=1e-15, reduction="mean"):
    r"""Categorical focal loss of probabilities, as Keras's ``CategoricalFocalCrossentropy``.

    Parameters
    ----------
    y_onehot : array of shape (..., n_classes)
        One-hot (or soft) target rows.
    p : array of the same shape
        Class probabilities in [0, 1] (checked on eager inputs), **clipped**
        below at :math:`\epsilon` inside the log; not renormalised.
    alpha : float, default 0.25
        Overall weight (as Keras); in [0, 1].
    gamma : float, default 2.0
        Focusing exponent, :math:`\ge 0` (0 gives ``alpha`` times
        :func:`categorical_cross_entropy`).
    eps : float, default 1e-15
    %REDUCTION%

    %ROWS%

    %RAISES%

    Notes
    -----
    With :math:`\bar p = \max(p, \epsilon)`:

    .. math:: \ell = -\alpha \sum_k y_k (1 - \bar p_k)^{\gamma} \log \bar p_k, \qquad
              \frac{\partial \ell}{\partial p_k} = \alpha y_k \Bigl(\gamma (1-\bar p_k)^{\gamma-1}\log \bar p_k
              - \frac{(1-\bar p_k)^{\gamma}}{\bar p_k}\Bigr)

    (0 where the clip is active). Keras also divides ``p`` by its row sum
    first; pass normalised rows to get its values.
    """
    _check_eps(eps)
    check_real(alpha, "alpha", low=0.0, high=1.0)
    check_positive(gamma, "gamma", strict=False)
    xp, y, p = _distribution(y_onehot, p, ("y_onehot", "p"), reduction)
    check_probabilities(p, "p", xp)
    pc = clip(p, eps, 1.0, xp=xp)
    v = -alpha * xp.sum(y * _pow(1.0 - pc, gamma, xp=xp) * xp.log(pc), axis=-1)
    return reduce(v, reduction, xp)


def categorical_focal_grad(y_onehot, p, *, alpha=0.25, gamma=2.0, eps=1e-15, reduction="mean"):
    r""":math:`\partial\ell/\partial p` of :func:`categorical_focal` (formula there); 0 where the clip is active."""
    _check_eps(eps)
    check_real(alpha, "alpha", low=0.0, high=1.0)
    check_positive(gamma, "gamma", strict=False)
    xp, y, p = _distribution(y_onehot, p, ("y_onehot", "p"), reduction)
    check_probabilities(p, "p", xp)
    pc = clip(p, eps, 1.0, xp=xp)
    q = 1.0 - pc
    g = alpha * y * (_pow_m1(q, gamma, xp=xp) * xp.log(pc) - _pow(q, gamma, xp=xp) / pc)
    g = xp.where(p >= eps, g, xp.zeros_like(g))
    return _scale(g, _rows(p), reduction)


def _categorical_hinge_parts(y_onehot, scores, reduction):
    xp, y, s = _distribution(y_onehot, scores, ("y_onehot", "scores"), reduction)
    pos = xp.sum(y * s, axis=-1, keepdims=True)
    t = (1.0 - y) * s
    neg = xp.max(t, axis=-1, keepdims=True)
    return xp, y, s, t, neg, 1.0 + neg - pos


@differentiable("categorical_hinge_grad", wrt=1)
@_doc
def categorical_hinge(y_onehot, scores, *, reduction="mean"):
    r"""Categorical hinge loss, as Keras's ``categorical_hinge``.

    Parameters
    ----------
    y_onehot : array of shape (..., n_classes)
        One-hot target rows.
    scores : array of the same shape
        Real-valued class scores.
    %REDUCTION%

    %ROWS%

    %RAISES%

    Notes
    -----
    With :math:`P = \sum_k y_k s_k` and :math:`M = \max_k (1 - y_k) s_k`
    (Keras's form: the true class enters :math:`M` as a 0, so :math:`M \ge 0`):

    .. math:: \ell = \max(0, 1 + M - P), \qquad
              \frac{\partial \ell}{\partial s_k} = [\ell > 0]\bigl((1 - y_k)\,a_k - y_k\bigr)

    where :math:`a` is the indicator of the arg-max of :math:`(1-y)s`
    (shared equally among ties, as ``jax.grad`` of ``max`` does). For the
    Crammer-Singer / torch form see :func:`multiclass_hinge`.
    """
    xp, y, s, t, neg, m = _categorical_hinge_parts(y_onehot, scores, reduction)
    return reduce(xp.squeeze(clip(m, 0.0, None, xp=xp), axis=-1), reduction, xp)


def categorical_hinge_grad(y_onehot, scores, *, reduction="mean"):
    r""":math:`[\ell > 0]((1 - y_k) a_k - y_k)` (formula in :func:`categorical_hinge`)."""
    xp, y, s, t, neg, m = _categorical_hinge_parts(y_onehot, scores, reduction)
    a = xp.astype(t == neg, s.dtype)
    a = a / xp.sum(a, axis=-1, keepdims=True)
    active = xp.astype(m > 0.0, s.dtype)
    return _scale(active * ((1.0 - y) * a - y), _rows(s), reduction)


@differentiable("multiclass_hinge_grad", wrt=1)
@_doc
def multiclass_hinge(labels, scores, *, margin=1.0, reduction="mean"):
    r"""Multi-class margin loss, as ``torch.nn.functional.multi_margin_loss`` (``p=1``).

    Parameters
    ----------
    labels : integer array of shape (...)
        Class indices in ``[0, n_classes)`` (checked on eager inputs).
    scores : array of shape (..., n_classes)
        Real-valued class scores.
    margin : float, default 1.0
        Positive.
    %REDUCTION%

    %ROWS%

    Raises
    ------
    TypeError
        ``labels`` is not an integer array.
    ValueError
        ``labels.shape != scores.shape[:-1]``, labels out of range, empty
        input, or an unknown ``reduction``.

    Notes
    -----
    With :math:`C` classes, true class :math:`c` and
    :math:`h_k = \max(0, m - s_c + s_k)`:

    .. math:: \ell = \frac1C \sum_{k \ne c} h_k, \qquad
              \frac{\partial \ell}{\partial s_k} = \frac1C \begin{cases}
              \mathbb{1}[h_k > 0] & k \ne c \\ -\sum_{j \ne c} \mathbb{1}[h_j > 0] & k = c \end{cases}

    Weston-Watkins form with torch's division by :math:`C`.
    """
    check_positive(margin, "margin")
    xp, labels, s = _sparse(labels, scores, ("labels", "scores"), reduction)
    k = s.shape[-1]
    other = ~_class_mask(labels, k, xp=xp)
    h = clip(margin - xp.expand_dims(_take_class(s, labels, xp=xp), axis=-1) + s, 0.0, None, xp=xp)
    return reduce(xp.sum(xp.where(other, h, xp.zeros_like(h)), axis=-1) / k, reduction, xp)


def multiclass_hinge_grad(labels, scores, *, margin=1.0, reduction="mean"):
    r""":math:`\partial\ell/\partial s` of :func:`multiclass_hinge` (formula there)."""
    check_positive(margin, "margin")
    xp, labels, s = _sparse(labels, scores, ("labels", "scores"), reduction)
    k = s.shape[-1]
    hit = _class_mask(labels, k, xp=xp)
    h = margin - xp.expand_dims(_take_class(s, labels, xp=xp), axis=-1) + s
    act = xp.astype((h > 0.0) & ~hit, s.dtype)
    g = act - xp.astype(hit, s.dtype) * xp.sum(act, axis=-1, keepdims=True)
    return _scale(g / k, _rows(s), reduction)


# ============================================================== per-sample weights (every loss, one place)
#: losses with one value per row (the class/feature axis, the last, is summed first)
_ROW_LOSSES = frozenset({
    "categorical_cross_entropy", "softmax_cross_entropy", "sparse_categorical_cross_entropy",
    "sparse_softmax_cross_entropy", "nll", "kl_divergence", "js_divergence", "cosine_similarity_loss",
    "dice", "tversky", "categorical_focal", "categorical_hinge", "multiclass_hinge",
})


def _sample_weights(sample_weight, shape, dtype, *, xp):
    """``sample_weight`` checked (shape ``(shape[0],)``, non-negative) and shaped to broadcast over ``shape``."""
    wxp = array_namespace(sample_weight, xp.zeros((), dtype=dtype))  # mixed backends raise here
    if not len(shape):
        raise ValueError("sample_weight needs a sample axis (the first); the loss has one value only")
    w = as_float(sample_weight, wxp, dtype, "sample_weight")
    if tuple(w.shape) != (shape[0],):
        raise ValueError(f"sample_weight must have shape (n_samples,) = ({shape[0]},), one weight per sample "
                         f"(the first axis); got sample_weight.shape={tuple(w.shape)}")
    check_values(w, "sample_weight", xp, low=0, what="non-negative weights")
    return w, xp.reshape(w, (shape[0],) + (1,) * (len(shape) - 1))


def _weighted_reduce(v, w, wb, per_sample, reduction, *, xp):
    """``sum W l`` for "sum", ``sum W l / (sum w * per_sample)`` for "mean", ``W l`` for "none"."""
    v = wb * v
    if reduction == "none":
        return v
    total = xp.sum(v)
    return as_array0d(total / (xp.sum(w) * per_sample) if reduction == "mean" else total, xp)


def _counted_positions(name, args, kw, *, xp):
    """The positions a distribution loss ``name`` counts (``ignore_index``, ``where``), or ``None``: all.

    The same rule as the loss itself (:func:`_counted`), in the caller's
    layout (the prediction's shape without the class axis).
    """
    ignore_index, where = kw.get("ignore_index"), kw.get("where")
    if ignore_index is None and where is None:
        return None
    pred = args[0] if name.startswith("nll") else args[1]
    ax = check_axis(kw.get("axis", -1), pred.ndim, "axis")
    kept = None
    if ignore_index is not None:
        kept = _ignored(args[1] if name.startswith("nll") else args[0], ignore_index, xp=xp)
    w = None
    if where is not None:
        w = xp.any(_to_last(where, ax, xp=xp), axis=-1) if where.ndim == pred.ndim else where
    if kept is None:
        return w
    return kept if w is None else kept & w


def _with_sample_weight(fn, *, grad, rows, check=None):
    """Add ``sample_weight=None`` to a loss or ``*_grad``: weights of the per-item losses, reduced in one place.

    The unweighted call is ``fn`` itself; a weighted one evaluates ``fn(...,
    reduction="none")`` (the items, or the gradient of their sum) and weights
    it along the first axis of the positions (for a gradient of a loss with
    a class axis, the weights are broadcast along that axis too).
    """
    import functools
    import inspect

    @functools.wraps(fn)
    def wrapper(*args, sample_weight=None, reduction="mean", **kw):
        if sample_weight is None:
            return fn(*args, reduction=reduction, **kw)
        check_reduction(reduction)
        if check is not None:
            check(*args, **kw)
        v = fn(*args, reduction="none", **kw)
        xp = array_namespace(*args)
        counted = _counted_positions(fn.__name__, args, kw, xp=xp) if rows else None
        ax = None
        if grad and rows:  # the class axis of the gradient: weights broadcast along it
            ax = check_axis(kw.get("axis", -1), v.ndim, "axis")
            w, wb = _sample_weights(sample_weight, _without(v.shape, ax), v.dtype, xp=xp)
            wb = xp.expand_dims(wb, axis=ax)
        else:
            w, wb = _sample_weights(sample_weight, tuple(v.shape), v.dtype, xp=xp)
        if counted is None:
            if not grad:
                return _weighted_reduce(v, w, wb, size(v) // v.shape[0], reduction, xp=xp)
            per_sample = size(v) // (size(w) * (v.shape[ax] if rows else 1))
            g = wb * v
            return g / (xp.sum(w) * per_sample) if reduction == "mean" else g
        # positions left out by ignore_index / where are 0 in v already; the mean counts only the others
        wv = wb * v
        if reduction == "none":
            return wv
        if reduction == "sum" and not grad:
            return as_array0d(xp.sum(wv), xp)
        if reduction == "sum":
            return wv
        wc = xp.reshape(w, (w.shape[0],) + (1,) * (counted.ndim - 1)) * xp.astype(counted, v.dtype)
        total_w = xp.sum(wc)
        total_w = xp.where(total_w > 0, total_w, xp.ones_like(total_w))
        return wv / total_w if grad else as_array0d(xp.sum(wv) / total_w, xp)

    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    at = [p.name for p in params].index("reduction")
    params.insert(at, inspect.Parameter("sample_weight", inspect.Parameter.KEYWORD_ONLY, default=None))
    wrapper.__signature__ = sig.replace(parameters=params)
    return wrapper


def _gaussian_mean_not_broadcast(y_true, mean, var, **kw):
    ys, ms = tuple(getattr(y_true, "shape", ())), tuple(getattr(mean, "shape", ()))
    if _broadcast_shape(ys, ms, ("y_true", "mean")) != ms:
        raise ValueError(f"gaussian_nll_grad with sample_weight needs mean of the broadcast shape of y_true and "
                         f"mean; got y_true.shape={ys} and mean.shape={ms} (broadcast mean first)")


def _rmse_weighted(loss, grad):
    import functools
    import inspect

    def make(fn, is_grad):
        @functools.wraps(fn)
        def wrapper(y_true, y_pred, *, sample_weight=None, reduction="mean"):
            if sample_weight is None:
                return fn(y_true, y_pred, reduction=reduction)
            check_reduction(reduction, ("mean",))
            m = mse(y_true, y_pred, sample_weight=sample_weight)
            if not is_grad:
                return xp_sqrt(m)
            xp = array_namespace(m)
            r = xp.sqrt(m)
            g = mse_grad(y_true, y_pred, sample_weight=sample_weight)
            safe = xp.where(r > 0, r, xp.ones_like(r))
            return xp.where(r > 0, g / (2.0 * safe), xp.zeros_like(g))

        def xp_sqrt(m):
            return array_namespace(m).sqrt(m)

        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        params.insert(len(params) - 1, inspect.Parameter("sample_weight", inspect.Parameter.KEYWORD_ONLY,
                                                         default=None))
        wrapper.__signature__ = sig.replace(parameters=params)
        return wrapper

    return make(loss, False), make(grad, True)


for _name in __all__:
    if _name.startswith("rmse"):
        continue
    _base = _name[:-5] if _name.endswith("_grad") else _name
    globals()[_name] = _with_sample_weight(globals()[_name], grad=_name.endswith("_grad"),
                                           rows=_base in _ROW_LOSSES,
                                           check=_gaussian_mean_not_broadcast if _name == "gaussian_nll_grad" else None)
rmse, rmse_grad = _rmse_weighted(rmse, rmse_grad)
del _name, _base
