"""Registry cases for :mod:`portable_ml.losses` (each loss and its ``*_grad``)."""

import numpy as np

from ... import losses as L
from ..registry import Case, binary, labels, normal, one_hot, pm1, positive, simplex, unit


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


def _gaussian(r):
    return normal(r, 8, 3), normal(r, 8, 3), positive(r, 8, 3)


# (name, input maker, keyword options, index of the prediction argument); the
# options vary the reductions and hyperparameters across the table.
_TABLE = [
    ("mse", _regression, {}, 1),
    ("rmse", _regression, {}, 1),
    ("mae", _regression, {"reduction": "sum"}, 1),
    ("huber", _regression, {"delta": 0.7}, 1),
    ("log_cosh", _regression, {"reduction": "none"}, 1),
    ("binary_cross_entropy", _bce, {}, 1),
    ("binary_cross_entropy_with_logits", _bce_logits, {"reduction": "none"}, 1),
    ("hinge", _signed, {}, 1),
    ("squared_hinge", _signed, {"reduction": "sum"}, 1),
    ("logistic_loss", _signed, {}, 1),
    ("focal", _bce, {"gamma": 1.5}, 1),
    ("sigmoid_focal", _bce_logits, {"alpha": 0.3, "reduction": "none"}, 1),
    ("categorical_cross_entropy", _onehot_probs, {}, 1),
    ("softmax_cross_entropy", _onehot_logits, {"reduction": "none"}, 1),
    ("sparse_categorical_cross_entropy", _labels_probs, {"reduction": "sum"}, 1),
    ("sparse_softmax_cross_entropy", _labels_logits, {}, 1),
    ("kl_divergence", _two_simplex, {}, 1),
    ("js_divergence", _two_simplex, {"reduction": "none"}, 1),
    ("nll", _log_probs_labels, {}, 0),
    ("contrastive", _pairs, {"margin": 1.3}, 0),
    ("gaussian_nll", _gaussian, {"full": True}, 1),
]

CASES = [
    Case(f"losses.{name}{grad}", getattr(L, name + grad), make, kwargs=kw, grad_argnums=(arg,))
    for name, make, kw, arg in _TABLE
    for grad in ("", "_grad")
]
