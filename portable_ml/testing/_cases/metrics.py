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
from ..registry import Case, Reference, binary, labels, normal, positive, simplex, unit

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


_SKLEARN = ("sklearn.metrics",)


def _sk(name, drop=(), rename=None, **fixed):
    """A scikit-learn reference: ``sklearn.metrics.<name>`` with our options mapped onto its own."""
    def ref(*args, **kw):
        import sklearn.metrics as skm

        k = kw.pop("num_classes", None)
        # the averages run over the classes present (scikit-learn's labels=None); per-class
        # arrays and the kappa weights over all num_classes classes
        if k is not None and "labels" not in drop and kw.get("average") is None:
            kw["labels"] = list(range(k))
        for key in drop:
            kw.pop(key, None)
        for ours, theirs in (rename or {}).items():
            if ours in kw:
                kw[theirs] = kw.pop(ours)
        return np.asarray(getattr(skm, name)(*args, **fixed, **kw), dtype=np.float64)

    return Reference(ref, f"sklearn.metrics.{name}", _SKLEARN)


def _prf_cases(name, fn, sk_name=None, **kw):
    ref = _sk(sk_name) if sk_name else None
    return [
        Case(f"metrics.{name}", fn, _pair_binary, kwargs=dict(kw), reference=ref),
        *[
            Case(f"metrics.{name}[{avg}]", fn, _pair_multiclass, kwargs=dict(kw, average=avg, num_classes=K),
                 reference=ref)
            for avg in ("macro", "micro", "weighted", None)
        ],
        Case(f"metrics.{name}[zero_division]", fn, _pair_multiclass, reference=ref,
             kwargs=dict(kw, average="macro", num_classes=K + 2, zero_division=1)),
    ]


def _scores_k(r):
    return labels(r, N, K), np.round(unit(r, N, K), 1)  # ties between classes


def _positive_pair(r, *shape):
    return positive(r, *shape), positive(r, *shape)


CASES = [
    Case("metrics.confusion_counts", m.confusion_counts, _pair_binary),
    Case("metrics.confusion_matrix", m.confusion_matrix, _pair_multiclass, kwargs={"num_classes": K}),
    Case("metrics.accuracy", m.accuracy, _pair_multiclass),
    *_prf_cases("precision", m.precision, "precision_score"),
    *_prf_cases("recall", m.recall, "recall_score"),
    *_prf_cases("f1", m.f1, "f1_score"),
    *_prf_cases("fbeta", m.fbeta, "fbeta_score", beta=2.0),
    *_prf_cases("jaccard", m.jaccard, "jaccard_score"),
    Case("metrics.mcc", m.mcc, _pair_binary),
    Case("metrics.balanced_accuracy", m.balanced_accuracy, _pair_multiclass, kwargs={"num_classes": K},
         sweep=({"adjusted": True},), reference=_sk("balanced_accuracy_score", drop=("labels",))),
    Case("metrics.cohen_kappa", m.cohen_kappa, _pair_multiclass, kwargs={"num_classes": K},
         sweep=({"weights": "linear"}, {"weights": "quadratic"}), reference=_sk("cohen_kappa_score")),
    Case("metrics.top_k_accuracy", m.top_k_accuracy, _scores_k, sweep=({"k": 1}, {"k": 3, "normalize": False}),
         reference=_sk("top_k_accuracy_score", labels=list(range(K)))),
    Case("metrics.hamming_loss", m.hamming_loss, _pair_multiclass, reference=_sk("hamming_loss")),
    Case("metrics.hamming_loss[multilabel]", m.hamming_loss, lambda r: (binary(r, N).reshape(6, 4),
                                                                        binary(r, N).reshape(6, 4)),
         reference=_sk("hamming_loss")),
    Case("metrics.roc_auc", m.roc_auc, _tied_scores),
    Case("metrics.average_precision", m.average_precision, _tied_scores),
    Case("metrics.log_loss", m.log_loss, lambda r: (binary(r, N), unit(r, N)), grad_argnums=(1,)),
    Case("metrics.log_loss[multiclass]", m.log_loss, lambda r: (labels(r, N, K), simplex(r, N, K)),
         grad_argnums=(1,)),
    Case("metrics.r2", m.r2, lambda r: _regression(r, N), grad_argnums=(1,)),
    Case("metrics.r2[multioutput]", m.r2, lambda r: _regression(r, N, 3), grad_argnums=(1,)),
    Case("metrics.r2[raw_values]", m.r2, lambda r: _regression(r, N, 3), grad_argnums=(1,),
         kwargs={"multioutput": "raw_values"}, sweep=({"multioutput": "variance_weighted"},),
         reference=_sk("r2_score")),
    Case("metrics.explained_variance", m.explained_variance, lambda r: _regression(r, N, 3), grad_argnums=(1,),
         sweep=({"multioutput": "raw_values"}, {"multioutput": "variance_weighted"}),
         reference=_sk("explained_variance_score")),
    Case("metrics.mean_squared_log_error", m.mean_squared_log_error, lambda r: _positive_pair(r, N, 2),
         grad_argnums=(1,), sweep=({"multioutput": "raw_values"},), reference=_sk("mean_squared_log_error")),
    Case("metrics.median_absolute_error", m.median_absolute_error, lambda r: _regression(r, N + 1, 2),
         sweep=({"multioutput": "raw_values"},), reference=_sk("median_absolute_error")),
    Case("metrics.max_error", m.max_error, lambda r: _regression(r, N), reference=_sk("max_error")),
    Case("metrics.mean_pinball_loss", m.mean_pinball_loss, lambda r: _regression(r, N, 2), grad_argnums=(1,),
         kwargs={"alpha": 0.2}, sweep=({"multioutput": "raw_values"},), reference=_sk("mean_pinball_loss")),
    Case("metrics.d2_absolute_error", m.d2_absolute_error, lambda r: _regression(r, N, 2), grad_argnums=(1,),
         sweep=({"multioutput": "raw_values"},), reference=_sk("d2_absolute_error_score")),
    Case("metrics.mse[raw_values]", m.mse, lambda r: _regression(r, N, 3), grad_argnums=(1,),
         kwargs={"multioutput": "raw_values"}, reference=_sk("mean_squared_error")),
    Case("metrics.mae[raw_values]", m.mae, lambda r: _regression(r, N, 3), grad_argnums=(1,),
         kwargs={"multioutput": "raw_values"}, reference=_sk("mean_absolute_error")),
    Case("metrics.mape", m.mape, lambda r: (positive(r, N), normal(r, N)), grad_argnums=(1,)),
    Case("metrics.mse", m.mse, lambda r: _regression(r, N), grad_argnums=(1,)),
    Case("metrics.mae", m.mae, lambda r: _regression(r, N), grad_argnums=(1,)),
    Case("metrics.dcg", m.dcg, lambda r: (_relevance(r, 9),), kwargs={"k": 5}),
    Case("metrics.dcg[exponential]", m.dcg, lambda r: (_relevance(r, 4, 9),), kwargs={"gains": "exponential"}),
    Case("metrics.ndcg", m.ndcg, lambda r: (_relevance(r, 4, 9),), kwargs={"k": 5}),
    Case("metrics.ndcg_score", m.ndcg_score, _ndcg_inputs),
    Case("metrics.ndcg_score[k]", m.ndcg_score, _ndcg_inputs, kwargs={"k": 3}),
]
