"""Registry cases for :mod:`portable_ml.losses` (each loss and its ``*_grad``).

References: ``torch.nn.functional`` (mse, l1, huber, bce, bce-with-logits,
cross_entropy, nll_loss, gaussian_nll_loss), SciPy (KL via ``rel_entr``, JS
via ``jensenshannon``), and float64 NumPy transcriptions of the formulas
(log-cosh, hinge, squared hinge, logistic, focal, torchvision's sigmoid
focal, contrastive).  Every reduction is swept; every ``*_grad`` is linked to
its loss (the gradient of the reduced loss with respect to the prediction).
"""

import numpy as np

from ... import losses as L
from ..registry import (
    Case,
    Reference,
    binary,
    labels,
    normal,
    one_hot,
    pm1,
    positive,
    simplex,
    unit,
)

_ALL = ("mean", "sum", "none")


def _regression(r):
    return normal(r, 4, 5), normal(r, 4, 5)


def _bce(r):
    return binary(r, 12).reshape(3, 4), unit(r, 3, 4)


def _bce_logits(r):
    return binary(r, 12).reshape(3, 4), normal(r, 3, 4, scale=3.0)


def _signed(r):
    return pm1(r, 10), normal(r, 10, scale=2.0)


def _onehot_probs(r):
    return one_hot(r, 6, 4), simplex(r, 6, 4)


def _onehot_logits(r):
    return one_hot(r, 6, 4), normal(r, 6, 4, scale=3.0)


def _labels_probs(r):
    return labels(r, 6, 4), simplex(r, 6, 4)


def _labels_logits(r):
    return labels(r, 6, 4), normal(r, 6, 4, scale=3.0)


def _two_simplex(r):
    return simplex(r, 5, 4), simplex(r, 5, 4)


def _log_probs_labels(r):
    return np.log(simplex(r, 6, 4)), labels(r, 6, 4)


def _pairs(r):
    # distances away from the margin kink at 1.3
    return np.abs(normal(r, 10)) + 0.05 * (r.uniform(size=10) < 0.5), binary(r, 10)


def _positive_pair(r):
    return positive(r, 4, 5, low=0.0, high=3.0), positive(r, 4, 5, low=0.0, high=3.0)


def _counts(r):
    return r.poisson(2.0, size=(4, 5)).astype(np.float64), positive(r, 4, 5)


def _vectors(r):
    return normal(r, 5, 4), normal(r, 5, 4)


def _masks(r):
    return binary(r, 30).reshape(5, 6), unit(r, 5, 6)


def _onehot_scores(r):
    return one_hot(r, 6, 4), normal(r, 6, 4, scale=2.0)


def _labels_scores(r):
    return labels(r, 6, 4), normal(r, 6, 4, scale=2.0)


def _gaussian(r):
    return normal(r, 8, 3), normal(r, 8, 3), positive(r, 8, 3)


# ------------------------------------------------------------------ extreme inputs (exact in float32)
_BIG = 1e4
_EXTREME = {
    # zero residuals, and huge ones
    "mse": (np.zeros(4), np.zeros(4)),
    "rmse": (np.ones(4), np.ones(4)),
    "mae": (np.ones(4), np.ones(4)),
    "huber": (np.array([0.0, 0.0, _BIG, -_BIG]), np.array([0.0, _BIG, 0.0, _BIG])),
    "log_cosh": (np.array([0.0, 0.0, _BIG, -_BIG, 1e-20]), np.array([0.0, _BIG, -_BIG, _BIG, 0.0])),
    # probabilities exactly 0 and 1, right and wrong
    "binary_cross_entropy": (np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0, 1.0])),
    "focal": (np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0, 1.0])),
    # logits at +-1e4, right and wrong
    "binary_cross_entropy_with_logits": (np.array([1.0, 0.0, 1.0, 0.0]), np.array([_BIG, -_BIG, -_BIG, _BIG])),
    "sigmoid_focal": (np.array([1.0, 0.0, 1.0, 0.0]), np.array([_BIG, -_BIG, -_BIG, _BIG])),
    "hinge": (np.array([1.0, -1.0, 1.0, -1.0]), np.array([_BIG, -_BIG, -_BIG, _BIG])),
    "squared_hinge": (np.array([1.0, -1.0, 1.0, -1.0]), np.array([_BIG, -_BIG, -_BIG, _BIG])),
    "logistic_loss": (np.array([1.0, -1.0, 1.0, -1.0]), np.array([_BIG, -_BIG, -_BIG, _BIG])),
    "categorical_cross_entropy": (np.eye(3)[[0, 1, 2]], np.array([[1.0, 0, 0], [1.0, 0, 0], [0.5, 0.5, 0]])),
    "softmax_cross_entropy": (np.eye(3)[[0, 1, 2]],
                              np.array([[_BIG, -_BIG, 0], [_BIG, -_BIG, -_BIG], [0, 0, -_BIG]])),
    "sparse_categorical_cross_entropy": (np.array([0, 1, 2]), np.array([[1.0, 0, 0], [1.0, 0, 0], [0.5, 0.5, 0]])),
    "sparse_softmax_cross_entropy": (np.array([0, 1, 2]),
                                     np.array([[_BIG, -_BIG, 0], [_BIG, -_BIG, -_BIG], [0, 0, -_BIG]])),
    "kl_divergence": (np.array([[1.0, 0, 0], [0.5, 0.5, 0]]), np.array([[0.0, 1, 0], [1.0, 0, 0]])),
    "js_divergence": (np.array([[1.0, 0, 0], [0.5, 0.5, 0]]), np.array([[0.2, 0.8, 0.0], [1e-30, 0.5, 0.5]])),
    "nll": (np.array([[0.0, -_BIG, -np.inf], [-_BIG, 0.0, -_BIG]]), np.array([0, 2])),
    "contrastive": (np.array([0.0, 0.0, _BIG, _BIG]), np.array([1.0, 0.0, 1.0, 0.0])),
    "gaussian_nll": (np.zeros(4), np.array([0.0, 0.0, _BIG, -_BIG]), np.array([0.0, 1.0, 0.0, _BIG])),
    "mean_squared_log_error": (np.array([0.0, 0.0, _BIG, 0.0]), np.array([0.0, _BIG, 0.0, 1e-30])),
    # a zero rate with a zero count and with a positive one
    "poisson": (np.array([0.0, 1.0, 0.0, _BIG]), np.array([0.0, 0.0, _BIG, _BIG])),
    "smooth_l1": (np.array([0.0, 0.0, _BIG, -_BIG]), np.array([0.0, _BIG, 0.0, _BIG])),
    # a zero target row (clamped norm), opposite and huge vectors
    "cosine_similarity_loss": (np.array([[0.0, 0, 0], [_BIG, 0, 0], [1.0, 0, 0]]),
                               np.array([[1.0, 2, 0], [-_BIG, 1, 0], [_BIG, _BIG, 0]])),
    # an empty target and prediction, a perfect match, a total miss
    "dice": (np.array([[0.0, 0, 0], [1.0, 1, 0], [1.0, 0, 0]]), np.array([[0.0, 0, 0], [1.0, 1, 0], [0.0, 0, 1]])),
    "tversky": (np.array([[0.0, 0, 0], [1.0, 1, 0], [1.0, 0, 0]]), np.array([[0.0, 0, 0], [1.0, 1, 0], [0.0, 0, 1]])),
    "categorical_focal": (np.eye(3)[[0, 1, 2]], np.array([[1.0, 0, 0], [1.0, 0, 0], [0.5, 0.5, 0]])),
    # scores at +-1e4, away from ties of the max and from the hinge's kink
    "categorical_hinge": (np.eye(3)[[0, 1, 2]], np.array([[_BIG, -_BIG, 5.0], [_BIG, -_BIG, -_BIG], [1.0, 2.0, -_BIG]])),
    "multiclass_hinge": (np.array([0, 1, 2]), np.array([[_BIG, -_BIG, 0], [_BIG, -_BIG, -_BIG], [0, 0, -_BIG]])),
}


# ------------------------------------------------------------------ references (float64 host)
_TORCH = ("torch",)
_SCIPY = ("scipy.special",)


def _reduce(v, reduction):
    return {"mean": np.mean, "sum": np.sum}.get(reduction, lambda a: a)(v)


def _t(a):
    import torch

    return torch.as_tensor(a)


def _F():
    import torch.nn.functional as F

    return F


def _torch(name, **fixed):
    """A ``torch.nn.functional`` loss taking (input, target); our (y_true, y_pred) are swapped."""

    def ref(y, p, reduction="mean", **kw):
        return getattr(_F(), name)(_t(p), _t(y), reduction=reduction, **fixed, **kw).numpy()

    return ref


def _huber(y, p, delta=1.0, reduction="mean"):
    return _F().huber_loss(_t(p), _t(y), delta=delta, reduction=reduction).numpy()


def _per_item(f):
    """A float64 NumPy per-item formula, reduced in NumPy."""

    def ref(*args, reduction="mean", **kw):
        return _reduce(f(*args, **kw), reduction)

    return ref


def _log_cosh(y, p):
    a = np.abs(p - y)  # log cosh a = a + log1p(e^{-2a}) - log 2, no overflow
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


def _focal(y, p, alpha=0.25, gamma=2.0, eps=1e-15):
    p = np.clip(p, eps, 1 - eps)
    p_t = np.where(y == 1, p, 1 - p)
    a_t = np.where(y == 1, alpha, 1 - alpha) if alpha is not None else 1.0
    return -a_t * (1 - p_t) ** gamma * np.log(p_t)


def _sigmoid_focal(y, z, alpha=0.25, gamma=2.0):
    # torchvision.ops.sigmoid_focal_loss, transcribed
    from scipy.special import expit

    p = expit(z)
    ce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None and alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def _rmse(y, p, reduction="mean"):
    return np.sqrt(_F().mse_loss(_t(p), _t(y)).numpy())


def _cce(y, p, reduction="mean", axis=-1):
    import torch

    if axis not in (-1, y.ndim - 1):  # soft targets along another axis: the formula in float64
        return _reduce(-(y * np.log(p)).sum(axis), reduction)
    return _F().nll_loss(torch.log(_t(p)), _t(y.argmax(-1)), reduction=reduction).numpy()


def _torch_layout(x, axis):
    """``x`` with its class axis ``axis`` where torch wants it: axis 1 (or 0 for 1-D input)."""
    return np.moveaxis(x, axis, min(1, x.ndim - 1))


def _sparse_cce(labels_, p, reduction="mean", axis=-1, ignore_index=None):
    import torch

    kw = {} if ignore_index is None else {"ignore_index": ignore_index}
    # log p of a point of the simplex is its own log_softmax: cross_entropy adds the smoothing term
    return _F().nll_loss(torch.log(_t(_torch_layout(p, axis))), _t(labels_), reduction=reduction, **kw).numpy()


def _softmax_ce(y, z, reduction="mean", axis=-1, **kw):
    return _F().cross_entropy(_t(_torch_layout(z, axis)), _t(_torch_layout(y, axis)), reduction=reduction,
                              **kw).numpy()


def _sparse_softmax_ce(labels_, z, reduction="mean", axis=-1, ignore_index=None, **kw):
    if ignore_index is not None:
        kw["ignore_index"] = ignore_index
    return _F().cross_entropy(_t(_torch_layout(z, axis)), _t(labels_), reduction=reduction, **kw).numpy()


def _nll(lp, labels_, reduction="mean", axis=-1, ignore_index=None):
    kw = {} if ignore_index is None else {"ignore_index": ignore_index}
    return _F().nll_loss(_t(_torch_layout(lp, axis)), _t(labels_), reduction=reduction, **kw).numpy()


def _kl(p, q, reduction="mean", axis=-1):
    from scipy.special import rel_entr

    return _reduce(rel_entr(p, q).sum(axis), reduction)


def _js(p, q, reduction="mean", axis=-1):
    from scipy.spatial.distance import jensenshannon
    from scipy.special import rel_entr

    if axis in (-1, p.ndim - 1):
        return _reduce(jensenshannon(p, q, axis=axis) ** 2, reduction)
    # jensenshannon renormalises p and q along the axis; the typical rows sum to 1 along the last axis only
    m = 0.5 * (p + q)
    return _reduce(0.5 * (rel_entr(p, m).sum(axis) + rel_entr(q, m).sum(axis)), reduction)


def _optax_log_softmax(z, w, axis):
    """``jax.nn.log_softmax(z, axis, where=w)`` as optax calls it, transcribed in float64 NumPy."""
    m = np.max(z, axis=axis, keepdims=True, where=w, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    total = np.sum(np.exp(np.where(w, z - m, -np.inf)), axis=axis, keepdims=True, where=w)
    with np.errstate(divide="ignore"):
        return z - m - np.log(total)


def _masked_mean(v, counted, reduction):
    """Our reduction of masked per-position losses: "mean" over the counted positions (0 over none)."""
    if reduction != "mean":
        return _reduce(v, reduction)
    return v.sum() / max(int(np.sum(counted)), 1)


def _optax_softmax_ce(y, z, w, reduction="mean", axis=-1, label_smoothing=0.0):
    # optax.losses.softmax_cross_entropy(z, y, axis, where), transcribed; the smoothing is optax.smooth_labels
    y = (1.0 - label_smoothing) * y + label_smoothing / y.shape[axis]
    if w.ndim != z.ndim:
        w = np.expand_dims(w, axis)
    w = np.broadcast_to(w, z.shape)
    ls = _optax_log_softmax(z, w, axis)
    v = -np.sum(y * np.where(w, ls, 0.0), axis=axis, where=w)
    return _masked_mean(v, np.any(w, axis=axis), reduction)


def _optax_sparse_softmax_ce(labels_, z, w, reduction="mean", ignore_index=None):
    # optax.losses.softmax_cross_entropy_with_integer_labels(z, labels, where=w), transcribed, and
    # torch's ignore_index on top
    kept = np.ones(labels_.shape, bool) if ignore_index is None else labels_ != ignore_index
    safe = np.where(kept, labels_, 0)
    w = np.broadcast_to(np.expand_dims(w, -1) if w.ndim != z.ndim else w, z.shape)
    m = np.max(z, axis=-1, keepdims=True, where=w, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    total = np.sum(np.exp(np.where(w, z - m, -np.inf)), axis=-1, where=w)
    lse = np.log(np.where(total > 0, total, 1.0)) + m[..., 0]
    out = lse - np.take_along_axis(z, safe[..., None], axis=-1)[..., 0]
    counted = np.any(w, axis=-1) & kept
    return _masked_mean(np.where(counted, out, 0.0), counted, reduction)


def _gaussian_nll(y, mean, var, full=False, eps=1e-6, reduction="mean"):
    return _F().gaussian_nll_loss(_t(mean), _t(y), _t(var), full=full, eps=eps, reduction=reduction).numpy()


def _msle(y, p):
    return (np.log1p(p) - np.log1p(y)) ** 2


def _poisson(y, p, eps=1e-8, reduction="mean"):
    return _F().poisson_nll_loss(_t(p), _t(y), log_input=False, full=False, eps=eps, reduction=reduction).numpy()


def _smooth_l1(y, p, beta=1.0, reduction="mean"):
    return _F().smooth_l1_loss(_t(p), _t(y), beta=beta, reduction=reduction).numpy()


def _cosine(y, p, eps=1e-8):
    # optax.cosine_distance(p, y, epsilon=eps), transcribed (optax computes in float32 unless jax has x64)
    unit_y = y / np.maximum(np.linalg.norm(y, axis=-1, keepdims=True), eps)
    unit_p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), eps)
    return 1.0 - (unit_y * unit_p).sum(-1)


def _dice(y, p, smooth=1.0):
    inter = (y * p).sum(-1)
    return 1.0 - (2.0 * inter + smooth) / (y.sum(-1) + p.sum(-1) + smooth)


def _tversky(y, p, alpha=0.5, beta=0.5, smooth=1.0):
    tp, fp, fn = (y * p).sum(-1), ((1 - y) * p).sum(-1), (y * (1 - p)).sum(-1)
    return 1.0 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def _categorical_focal(y, p, alpha=0.25, gamma=2.0, eps=1e-15):
    # keras.losses.categorical_focal_crossentropy (from_logits=False), transcribed
    p = p / p.sum(-1, keepdims=True)
    p = np.clip(p, eps, 1.0 - eps)
    ce = -y * np.log(p)
    return (alpha * (1.0 - p) ** gamma * ce).sum(-1)


def _categorical_hinge(y, s):
    # keras.losses.categorical_hinge, transcribed
    pos = (y * s).sum(-1)
    neg = ((1.0 - y) * s).max(-1)
    return np.maximum(0.0, neg - pos + 1.0)


def _multi_margin(labels_, s, margin=1.0, reduction="mean"):
    return _F().multi_margin_loss(_t(s), _t(labels_), margin=margin, reduction=reduction).numpy()


def _contrastive(d, y, margin=1.0):
    return y * d**2 + (1 - y) * np.maximum(0, margin - d) ** 2


# name -> (input maker, options, index of the prediction argument, reference, source, needs,
#          reductions swept, reference holds at the extremes)
_TABLE = {
    "mse": (_regression, {}, 1, _torch("mse_loss"), "torch mse_loss", _TORCH, _ALL, True),
    "rmse": (_regression, {}, 1, _rmse, "sqrt(torch mse_loss)", _TORCH, ("mean",), True),
    "mae": (_regression, {"reduction": "sum"}, 1, _torch("l1_loss"), "torch l1_loss", _TORCH, _ALL, True),
    "huber": (_regression, {"delta": 0.7}, 1, _huber, "torch huber_loss", _TORCH, _ALL, True),
    "log_cosh": (_regression, {"reduction": "none"}, 1, _per_item(_log_cosh), "NumPy float64", (), _ALL, True),
    # torch clamps log(0) at -100 where we clip p at eps: no reference at the extremes
    "binary_cross_entropy": (_bce, {}, 1, _torch("binary_cross_entropy"), "torch binary_cross_entropy", _TORCH,
                             _ALL, False),
    "binary_cross_entropy_with_logits": (_bce_logits, {"reduction": "none"}, 1,
                                         _torch("binary_cross_entropy_with_logits"),
                                         "torch binary_cross_entropy_with_logits", _TORCH, _ALL, True),
    "hinge": (_signed, {}, 1, _per_item(lambda y, s: np.maximum(0, 1 - y * s)), "NumPy float64", (), _ALL, True),
    "squared_hinge": (_signed, {"reduction": "sum"}, 1, _per_item(lambda y, s: np.maximum(0, 1 - y * s) ** 2),
                      "NumPy float64", (), _ALL, True),
    "logistic_loss": (_signed, {}, 1, _per_item(lambda y, s: np.logaddexp(0, -y * s)), "NumPy float64", (),
                      _ALL, True),
    "focal": (_bce, {"gamma": 1.5}, 1, _per_item(_focal), "NumPy float64", (), _ALL, True),
    "sigmoid_focal": (_bce_logits, {"alpha": 0.3, "reduction": "none"}, 1, _per_item(_sigmoid_focal),
                      "torchvision sigmoid_focal_loss, transcribed", _SCIPY, _ALL, True),
    # torch's log(0) = -inf where we clip p at eps
    "categorical_cross_entropy": (_onehot_probs, {}, 1, _cce, "torch nll_loss(log p)", _TORCH, _ALL, False),
    "softmax_cross_entropy": (_onehot_logits, {"reduction": "none"}, 1, _softmax_ce,
                              "torch cross_entropy", _TORCH, _ALL, True),
    "sparse_categorical_cross_entropy": (_labels_probs, {"reduction": "sum"}, 1, _sparse_cce,
                                         "torch nll_loss(log p)", _TORCH, _ALL, False),
    "sparse_softmax_cross_entropy": (_labels_logits, {}, 1, _sparse_softmax_ce, "torch cross_entropy", _TORCH,
                                     _ALL, True),
    # rel_entr is inf where q = 0 < p; we clip q at eps
    "kl_divergence": (_two_simplex, {}, 1, _kl, "scipy.special.rel_entr", _SCIPY, _ALL, False),
    "js_divergence": (_two_simplex, {"reduction": "none"}, 1, _js, "scipy jensenshannon**2 (rel_entr off the last axis)",
                      ("scipy.spatial",),
                      _ALL, True),
    "nll": (_log_probs_labels, {}, 0, _nll, "torch nll_loss", _TORCH, _ALL, True),
    "contrastive": (_pairs, {"margin": 1.3}, 0, _per_item(_contrastive), "NumPy float64", (), _ALL, True),
    "gaussian_nll": (_gaussian, {"full": True}, 1, _gaussian_nll, "torch gaussian_nll_loss", _TORCH, _ALL, True),
    "mean_squared_log_error": (_positive_pair, {}, 1, _per_item(_msle), "NumPy float64 (sklearn's formula)", (),
                               _ALL, True),
    "poisson": (_counts, {}, 1, _poisson, "torch poisson_nll_loss(log_input=False)", _TORCH, _ALL, True),
    "smooth_l1": (_regression, {"beta": 0.6}, 1, _smooth_l1, "torch smooth_l1_loss", _TORCH, _ALL, True),
    "cosine_similarity_loss": (_vectors, {}, 1, _per_item(_cosine), "optax cosine_distance, transcribed", (),
                               _ALL, True),
    "dice": (_masks, {}, 1, _per_item(_dice), "NumPy float64", (), _ALL, True),
    "tversky": (_masks, {"alpha": 0.3, "beta": 0.7, "reduction": "sum"}, 1, _per_item(_tversky), "NumPy float64",
                (), _ALL, True),
    # Keras renormalises p and clips it at 1 - eps too: equal on the simplex inputs, not at the extremes
    "categorical_focal": (_onehot_probs, {"gamma": 1.5}, 1, _per_item(_categorical_focal),
                          "keras categorical_focal_crossentropy, transcribed", (), _ALL, False),
    "categorical_hinge": (_onehot_scores, {}, 1, _per_item(_categorical_hinge), "keras categorical_hinge, transcribed",
                          (), _ALL, True),
    "multiclass_hinge": (_labels_scores, {"margin": 0.8}, 1, _multi_margin, "torch multi_margin_loss", _TORCH,
                         _ALL, True),
}


# further options swept (the reference takes them too); the typical labels hold every class, so an
# in-range ignore_index drops some rows (the out-of-range -100 is in the variants below)
_MORE_SWEEP = {
    "categorical_cross_entropy": ({"axis": 0},),
    "softmax_cross_entropy": ({"label_smoothing": 0.1}, {"axis": 0}, {"axis": 0, "reduction": "mean"}),
    "sparse_categorical_cross_entropy": ({"ignore_index": 1}, {"ignore_index": 3, "reduction": "mean"}),
    "sparse_softmax_cross_entropy": ({"label_smoothing": 0.1}, {"ignore_index": 1},
                                     {"ignore_index": 2, "label_smoothing": 0.1, "reduction": "none"}),
    "nll": ({"ignore_index": 2}, {"ignore_index": 0, "reduction": "none"}),
    "kl_divergence": ({"axis": 0}, {"axis": -2, "reduction": "none"}),
    "js_divergence": ({"axis": 0}, {"axis": 0, "reduction": "mean"}),
}


def _cases(name):
    make, kw, arg, ref, source, needs, reductions, at_ext = _TABLE[name]
    sweep = tuple({"reduction": r} for r in reductions if r != kw.get("reduction", "mean"))
    sweep += _MORE_SWEEP.get(name, ())
    ext = _EXTREME[name]
    return [
        Case(f"losses.{name}", getattr(L, name), make, kwargs=kw, grad_argnums=(arg,), sweep=sweep,
             extremes=lambda: ext, tol="accurate", reference=Reference(ref, source, needs, at_extremes=at_ext)),
        Case(f"losses.{name}_grad", getattr(L, name + "_grad"), make, kwargs=kw, grad_argnums=(arg,), sweep=sweep,
             extremes=lambda: ext, tol="accurate"),
    ]


# ------------------------------------------------------------------ variants: torch's (N, C, d) layout, optax's masks
def _ncd_labels(r, n=4, k=5, d=3):
    """Labels of shape (n, d) in [0, k) with some set to torch's ignore_index -100."""
    lab = r.integers(0, k, size=(n, d))
    lab[r.uniform(size=(n, d)) < 0.3] = -100
    lab[0, 0] = -100
    lab[1, 0] = 1
    return lab.astype(np.int64)


def _ncd_logits(r):
    return _ncd_labels(r), normal(r, 4, 5, 3, scale=3.0)


def _ncd_probs(r):
    return _ncd_labels(r), simplex(r, 4, 3, 5).transpose(0, 2, 1)


def _ncd_log_probs(r):
    lab, p = _ncd_probs(r)
    return np.log(p), lab


def _entry_mask(r, n, k):
    """An (n, k) mask of entries: one row with nothing included, the others with at least one entry."""
    w = r.uniform(size=(n, k)) < 0.6
    w[np.arange(n), r.integers(0, k, size=n)] = True
    w[1] = False
    return w


def _masked_onehot_logits(r):
    return simplex(r, 6, 4), normal(r, 6, 4, scale=3.0), _entry_mask(r, 6, 4)


def _masked_labels_logits(r):
    w = r.uniform(size=6) < 0.7
    w[:2] = (True, False)
    return labels(r, 6, 4), normal(r, 6, 4, scale=3.0), w


def _with_where(fn):
    """``fn(a, b, where=w, **options)`` with the mask as a third positional argument (placed like the arrays)."""

    def call(a, b, w, **kw):
        return fn(a, b, where=w, **kw)

    call.__name__ = call.__qualname__ = fn.__name__ + "[where]"
    return call


_IGNORED_EXTREME = np.array([[0, -100], [2, 1]])
_VARIANTS = {
    # name: (function, input maker, options, wrt, reference, source, needs, sweep, extremes)
    "sparse_softmax_cross_entropy[axis=1,ignore_index=-100]": (
        "sparse_softmax_cross_entropy", _ncd_logits, {"axis": 1, "ignore_index": -100}, 1, _sparse_softmax_ce,
        "torch cross_entropy on (N, C, d) logits, ignore_index=-100", _TORCH,
        ({"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.2}),
        (_IGNORED_EXTREME, np.array([[[_BIG, -_BIG], [-_BIG, 0], [0, -_BIG]],
                                     [[0, _BIG], [-_BIG, -_BIG], [_BIG, 0]]]))),
    "sparse_categorical_cross_entropy[axis=1,ignore_index=-100]": (
        "sparse_categorical_cross_entropy", _ncd_probs, {"axis": 1, "ignore_index": -100, "reduction": "sum"}, 1,
        _sparse_cce, "torch nll_loss(log p) on (N, C, d) probabilities, ignore_index=-100", _TORCH,
        ({"reduction": "mean"}, {"reduction": "none"}), None),
    "nll[axis=1,ignore_index=-100]": (
        "nll", _ncd_log_probs, {"axis": 1, "ignore_index": -100}, 0, _nll,
        "torch nll_loss on (N, C, d) log-probabilities, ignore_index=-100", _TORCH,
        ({"reduction": "sum"}, {"reduction": "none"}),
        (np.array([[[0.0, -_BIG], [-_BIG, -np.inf], [-np.inf, 0.0]],
                   [[-_BIG, 0.0], [0.0, -_BIG], [-_BIG, -np.inf]]]), _IGNORED_EXTREME)),
    "softmax_cross_entropy[where]": (
        "softmax_cross_entropy", _masked_onehot_logits, {}, 1, _optax_softmax_ce,
        "optax softmax_cross_entropy(where=), transcribed", (),
        ({"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.1}, {"axis": 0}),
        (np.eye(3)[[0, 1, 2]], np.array([[_BIG, -_BIG, 0], [_BIG, -_BIG, -_BIG], [0, 0, -_BIG]]),
         np.array([[True, False, True], [False, False, False], [False, True, True]]))),
    "sparse_softmax_cross_entropy[where]": (
        "sparse_softmax_cross_entropy", _masked_labels_logits, {}, 1, _optax_sparse_softmax_ce,
        "optax softmax_cross_entropy_with_integer_labels(where=), transcribed", (),
        ({"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 1}),
        (np.array([0, 1, 2]), np.array([[_BIG, -_BIG, 0], [_BIG, -_BIG, -_BIG], [0, 0, -_BIG]]),
         np.array([True, False, True]))),
}


def _variant(name):
    base, make, kw, arg, ref, source, needs, sweep, ext = _VARIANTS[name]
    masked = name.endswith("[where]")
    fn, grad = getattr(L, base), getattr(L, base + "_grad")
    if masked:
        fn, grad = _with_where(fn), _with_where(grad)
    extremes = None if ext is None else (lambda: ext)
    suffix = name[len(base):]
    return [
        Case(f"losses.{name}", fn, make, kwargs=kw, grad_argnums=(arg,), sweep=sweep, extremes=extremes,
             tol="accurate", reference=Reference(ref, source, needs)),
        Case(f"losses.{base}_grad{suffix}", grad, make, kwargs=kw, grad_argnums=(arg,), sweep=sweep,
             extremes=extremes, tol="accurate"),
    ]


CASES = [c for name in _TABLE for c in _cases(name)] + [c for name in _VARIANTS for c in _variant(name)]
