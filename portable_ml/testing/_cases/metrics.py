"""Cases for ``portable_ml.metrics``.

Labels are integer arrays (kept as they are on every backend) or 0/1 floats
(cast to the dtype under test, so the result's floating dtype follows it).
Scores with ties (rounded) exercise the tie handling of ROC-AUC, AP and
``ndcg_score`` under ``jax.jit`` and ``jax.vmap``.  Multiclass cases pass
``num_classes``: it is static and required under ``jax.jit``.  Only the
probability/regression metrics are differentiable in their prediction.
"""

import numpy as np

from ... import metrics as m
from ..registry import Case, binary, labels, normal, positive, simplex, unit

N = 24  # samples per case
K = 4  # classes


def _pair_binary(r):
    return labels(r, N, 2), binary(r, N)


def _pair_multiclass(r):
    return labels(r, N, K), labels(r, N, K).astype(np.float64)


def _tied_scores(r):
    return binary(r, N), np.round(normal(r, N), 1)


def _relevance(r, *shape):
    return r.integers(0, 4, size=shape).astype(np.float64)


def _ndcg_inputs(r):
    return _relevance(r, 5, 7), np.round(normal(r, 5, 7))


def _regression(r, *shape):
    return normal(r, *shape), normal(r, *shape)


def _prf_cases(name, fn, **kw):
    return [
        Case(f"metrics.{name}", fn, _pair_binary, kwargs=dict(kw)),
        *[
            Case(f"metrics.{name}[{avg}]", fn, _pair_multiclass, kwargs=dict(kw, average=avg, num_classes=K))
            for avg in ("macro", "micro", "weighted")
        ],
    ]


CASES = [
    Case("metrics.confusion_counts", m.confusion_counts, _pair_binary),
    Case("metrics.confusion_matrix", m.confusion_matrix, _pair_multiclass, kwargs={"num_classes": K}),
    Case("metrics.accuracy", m.accuracy, _pair_multiclass),
    *_prf_cases("precision", m.precision),
    *_prf_cases("recall", m.recall),
    *_prf_cases("f1", m.f1),
    *_prf_cases("fbeta", m.fbeta, beta=2.0),
    Case("metrics.mcc", m.mcc, _pair_binary),
    Case("metrics.roc_auc", m.roc_auc, _tied_scores),
    Case("metrics.average_precision", m.average_precision, _tied_scores),
    Case("metrics.log_loss", m.log_loss, lambda r: (binary(r, N), unit(r, N)), grad_argnums=(1,)),
    Case("metrics.log_loss[multiclass]", m.log_loss, lambda r: (labels(r, N, K), simplex(r, N, K)),
         grad_argnums=(1,)),
    Case("metrics.r2", m.r2, lambda r: _regression(r, N), grad_argnums=(1,)),
    Case("metrics.r2[multioutput]", m.r2, lambda r: _regression(r, N, 3), grad_argnums=(1,)),
    Case("metrics.mape", m.mape, lambda r: (positive(r, N), normal(r, N)), grad_argnums=(1,)),
    Case("metrics.mse", m.mse, lambda r: _regression(r, N), grad_argnums=(1,)),
    Case("metrics.mae", m.mae, lambda r: _regression(r, N), grad_argnums=(1,)),
    Case("metrics.dcg", m.dcg, lambda r: (_relevance(r, 9),), kwargs={"k": 5}),
    Case("metrics.dcg[exponential]", m.dcg, lambda r: (_relevance(r, 4, 9),), kwargs={"gains": "exponential"}),
    Case("metrics.ndcg", m.ndcg, lambda r: (_relevance(r, 4, 9),), kwargs={"k": 5}),
    Case("metrics.ndcg_score", m.ndcg_score, _ndcg_inputs),
    Case("metrics.ndcg_score[k]", m.ndcg_score, _ndcg_inputs, kwargs={"k": 3}),
]
