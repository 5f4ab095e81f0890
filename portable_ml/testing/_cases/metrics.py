"""Cases for ``portable_ml.metrics``.

Labels are integer arrays (kept as they are on every backend) or 0/1 floats
(cast to the dtype under test, so the result's floating dtype follows it).
Scores with ties (rounded) exercise the tie handling of ROC-AUC, AP and
``ndcg_score`` under ``jax.jit`` and ``jax.vmap``.  Multiclass cases pass
``num_classes``: it is static and required under ``jax.jit``.  Only the
probability/regression metrics are differentiable in their prediction.

The ``[weighted]`` cases pass ``sample_weight`` as the last positional
argument (through a small wrapper: options are static, arrays positional, so
the weights are cast, placed, traced and batched like the other inputs).
The weights include a zero (scikit-learn drops zero-weight samples before it
picks thresholds) and are compared with scikit-learn's weighted results.
"""

import numpy as np

from ... import metrics as m
from ..registry import Capabilities, Case, Reference, binary, labels, normal, positive, simplex, unit

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


def _roc_brute(y, s, unique=False, drop_intermediate=False):
    """Rates of the rule ``s >= t`` at t = inf and each score in decreasing order, O(n^2)."""
    thr = np.r_[np.inf, np.sort(s)[::-1]]
    pred = s[None, :] >= thr[:, None]
    pos, neg = y == 1, y == 0
    fpr = (pred & neg).sum(1) / max(neg.sum(), 1) if neg.any() else np.full(thr.shape, np.nan)
    tpr = (pred & pos).sum(1) / max(pos.sum(), 1) if pos.any() else np.full(thr.shape, np.nan)
    if unique or drop_intermediate:
        import sklearn.metrics as skm

        return tuple(np.asarray(a, dtype=np.float64) for a in skm.roc_curve(y, s, drop_intermediate=drop_intermediate))
    return fpr, tpr, thr


def _pr_brute(y, s, unique=False):
    thr = np.sort(s)
    pred = s[None, :] >= thr[:, None]
    tp = (pred & (y == 1)).sum(1)
    precision = tp / pred.sum(1)
    recall = tp / (y == 1).sum() if (y == 1).any() else np.ones(thr.shape)
    if unique:
        first = np.r_[True, thr[1:] != thr[:-1]]
        precision, recall, thr = precision[first], recall[first], thr[first]
    return np.r_[precision, 1.0], np.r_[recall, 0.0], thr


def _threshold_scores_ref(y, s, t, zero_division=0):
    import sklearn.metrics as skm

    out = []
    for fn in (skm.precision_score, skm.recall_score, skm.f1_score):
        out.append(np.array([fn(y, (s >= u).astype(int), zero_division=zero_division) for u in t]))
    return tuple(out)


def _best_threshold_ref(y, s, metric="f1"):
    import sklearn.metrics as skm

    fn = {"f1": skm.f1_score, "accuracy": skm.accuracy_score, "mcc": skm.matthews_corrcoef,
          "balanced_accuracy": skm.balanced_accuracy_score}[metric]
    cand = np.unique(s)
    values = np.array([fn(y, (s >= u).astype(int)) for u in cand])
    best = np.flatnonzero(values >= values.max() - 1e-12)[-1]
    return np.float64(cand[best]), np.float64(values[best])


def _joined(fn):
    """``fn``'s tuple of arrays as one 1-D array (the registry compares one array with a reference)."""
    def joined(*args, **kw):
        from ..._xp import array_namespace

        out = fn(*args, **kw)
        xp = array_namespace(*out)
        return xp.concat([xp.reshape(a, (-1,)) for a in out])

    joined.__name__ = joined.__qualname__ = fn.__name__
    joined.__doc__ = f"The outputs of ``{fn.__name__}`` joined into one 1-D array."
    return joined


def _joined_ref(fn, source, needs=()):
    def ref(*args, **kw):
        return np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in fn(*args, **kw)])

    return Reference(ref, source, needs)


def _calibration_ref(y, p, n_bins=10, strategy="uniform", drop_empty=False):
    """NumPy float64: edges by np.linspace / np.percentile, per-bin means, NaN for empty bins."""
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)
    ids = np.searchsorted(edges[1:-1], p)
    total = np.bincount(ids, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (np.bincount(ids, weights=y, minlength=n_bins) / total,
               np.bincount(ids, weights=p, minlength=n_bins) / total)
    return tuple(o[total > 0] for o in out) if drop_empty else out


def _brier_ref(y, p, scale_by_half="auto"):
    import sklearn.metrics as skm

    labels = None if p.ndim == 1 else list(range(p.shape[1]))
    return skm.brier_score_loss(y, p, labels=labels, scale_by_half=scale_by_half)


def _clusters(r):
    lab = labels(r, N, K)
    lab[:K] = np.arange(K)  # every cluster present, so the count is static and the score defined
    return normal(r, N, 3) + lab[:, None], lab


def _multiclass_probs(r):
    y = labels(r, N, K)
    y[:K] = np.arange(K)  # every class present
    return y, simplex(r, N, K)


_EAGER_ONLY = Capabilities(jit=False, grad=False, vmap=False, lazy_dask=False)


def _threshold_inputs(r):
    y, s = _tied_scores(r)
    return y, s, np.round(np.linspace(-1.5, 1.5, 7), 1)


def _scores_k(r):
    return labels(r, N, K), np.round(unit(r, N, K), 1)  # ties between classes


def _positive_pair(r, *shape):
    return positive(r, *shape), positive(r, *shape)


# ------------------------------------------------------------ sample weights
def _weights(r, n):
    w = positive(r, n, low=0.0, high=2.0)
    w[2] = 0.0
    return w


def _with_weights(make):
    """``make``'s inputs and a weight per sample (the first input's length)."""
    def made(r):
        args = make(r)
        return (*args, _weights(r, np.shape(args[0])[0]))

    return made


def _weighted(fn):
    """``fn`` with ``sample_weight`` as its last positional argument."""
    def weighted(*args, **kw):
        return fn(*args[:-1], sample_weight=args[-1], **kw)

    weighted.__name__ = weighted.__qualname__ = fn.__name__
    weighted.__doc__ = f"``{fn.__name__}`` with ``sample_weight`` passed positionally (last)."
    return weighted


def _skw(name, drop=(), **fixed):
    """``_sk(name)`` with the last positional argument passed as ``sample_weight``."""
    base = _sk(name, drop=drop, **fixed)

    def ref(*args, **kw):
        return base.fn(*args[:-1], sample_weight=args[-1], **kw)

    return Reference(ref, f"sklearn.metrics.{name} (sample_weight)", _SKLEARN)


def _roc_brute_w(y, s, w, unique=False, drop_intermediate=False):
    """Weighted rates of the rule ``s >= t`` at t = inf and each score in decreasing order, O(n^2)."""
    if unique or drop_intermediate:
        import sklearn.metrics as skm

        return tuple(np.asarray(a, dtype=np.float64)
                     for a in skm.roc_curve(y, s, sample_weight=w, drop_intermediate=drop_intermediate))
    thr = np.r_[np.inf, np.sort(s)[::-1]]
    pred = (s[None, :] >= thr[:, None]).astype(np.float64)
    pos, neg = (y == 1) * w, (y == 0) * w
    return pred @ neg / neg.sum(), pred @ pos / pos.sum(), thr


def _pr_brute_w(y, s, w, unique=False):
    if unique:
        import sklearn.metrics as skm

        return tuple(np.asarray(a, dtype=np.float64) for a in skm.precision_recall_curve(y, s, sample_weight=w))
    thr = np.sort(s)
    pred = (s[None, :] >= thr[:, None]).astype(np.float64)
    tp, pp = pred @ ((y == 1) * w), pred @ w
    precision = np.divide(tp, pp, out=np.zeros_like(tp), where=pp != 0)
    return np.r_[precision, 1.0], np.r_[tp / ((y == 1) * w).sum(), 0.0], thr


def _multilabel_pair(r):
    return binary(r, N).reshape(6, 4), binary(r, N).reshape(6, 4)


def _confusion_counts_w(y, p, w):
    """(tp, tn, fp, fn) from scikit-learn's weighted confusion matrix (``ravel`` is tn, fp, fn, tp)."""
    import sklearn.metrics as skm

    tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1], sample_weight=w).ravel()
    return tp, tn, fp, fn


def _brier_ref_w(y, p, w, scale_by_half="auto"):
    import sklearn.metrics as skm

    labels = None if p.ndim == 1 else list(range(p.shape[1]))
    return skm.brier_score_loss(y, p, labels=labels, scale_by_half=scale_by_half, sample_weight=w)


_REPORT_ROWS = ("macro avg", "weighted avg")
_REPORT_COLUMNS = ("precision", "recall", "f1-score", "support")


def _report_entries(report, k):
    """The entries of a classification report in one fixed order: per class, the accuracy, the averages."""
    rows = [str(c) for c in range(k)]
    out = [report[r][col] for r in rows for col in _REPORT_COLUMNS]
    out.append(report["accuracy"])
    out.extend(report[r][col] for r in _REPORT_ROWS for col in _REPORT_COLUMNS)
    return out


def _report_vector(fn):
    """``fn``'s classification report as one 1-D array (:func:`_report_entries`'s order, in the scores' dtype)."""
    def vector(*args, **kw):
        from ..._xp import array_namespace

        report = fn(*args, **kw)
        entries = _report_entries(report, len(report) - 3)
        xp = array_namespace(*entries)
        dtype = report["accuracy"].dtype
        return xp.stack([xp.astype(e, dtype) for e in entries])

    vector.__name__ = vector.__qualname__ = fn.__name__
    vector.__doc__ = f"The entries of ``{fn.__name__}``'s report as one 1-D array."
    return vector


def _report_ref_w(y, p, w, num_classes):
    import sklearn.metrics as skm

    report = skm.classification_report(y, p, labels=list(range(num_classes)), output_dict=True, zero_division=0,
                                       sample_weight=w)
    return np.asarray(_report_entries(report, num_classes), dtype=np.float64)


def _threshold_scores_ref_w(y, s, t, w, zero_division=0):
    import sklearn.metrics as skm

    return tuple(np.array([fn(y, (s >= u).astype(int), zero_division=zero_division, sample_weight=w) for u in t])
                 for fn in (skm.precision_score, skm.recall_score, skm.f1_score))


def _best_threshold_ref_w(y, s, w, metric="f1"):
    """Every distinct score of nonzero weight scored by scikit-learn's weighted metric; the highest maximiser."""
    import sklearn.metrics as skm

    fn = {"f1": skm.f1_score, "accuracy": skm.accuracy_score, "mcc": skm.matthews_corrcoef,
          "balanced_accuracy": skm.balanced_accuracy_score}[metric]
    cand = np.unique(s[w > 0])
    values = np.array([fn(y, (s >= u).astype(int), sample_weight=w) for u in cand])
    best = np.flatnonzero(values >= values.max() - 1e-12)[-1]
    return np.float64(cand[best]), np.float64(values[best])


WEIGHTED_CASES = [
    Case("metrics.balanced_accuracy[weighted]", _weighted(m.balanced_accuracy), _with_weights(_pair_multiclass),
         kwargs={"num_classes": K}, sweep=({"adjusted": True},),
         reference=_skw("balanced_accuracy_score", drop=("labels",))),
    Case("metrics.cohen_kappa[weighted]", _weighted(m.cohen_kappa), _with_weights(_pair_multiclass),
         kwargs={"num_classes": K}, sweep=({"weights": "linear"}, {"weights": "quadratic"}),
         reference=_skw("cohen_kappa_score")),
    Case("metrics.top_k_accuracy[weighted]", _weighted(m.top_k_accuracy), _with_weights(_scores_k),
         sweep=({"k": 1}, {"k": 3, "normalize": False}), reference=_skw("top_k_accuracy_score", labels=list(range(K)))),
    Case("metrics.hamming_loss[weighted]", _weighted(m.hamming_loss), _with_weights(_pair_multiclass),
         reference=_skw("hamming_loss")),
    Case("metrics.hamming_loss[multilabel, weighted]", _weighted(m.hamming_loss), _with_weights(_multilabel_pair),
         reference=_skw("hamming_loss")),
    Case("metrics.roc_auc[weighted]", _weighted(m.roc_auc), _with_weights(_tied_scores),
         sweep=({"max_fpr": 0.3}, {"max_fpr": 0.8}), reference=_skw("roc_auc_score")),
    Case("metrics.roc_auc[ovr, weighted]", _weighted(m.roc_auc), _with_weights(_multiclass_probs),
         kwargs={"multi_class": "ovr"}, sweep=({"average": "weighted"},), reference=_skw("roc_auc_score")),
    Case("metrics.average_precision[weighted]", _weighted(m.average_precision), _with_weights(_tied_scores),
         reference=_skw("average_precision_score")),
    Case("metrics.roc_curve[weighted]", _joined(_weighted(m.roc_curve)), _with_weights(_tied_scores),
         reference=_joined_ref(_roc_brute_w, "NumPy float64, O(n^2), weighted counts")),
    Case("metrics.roc_curve[unique, weighted]", _joined(_weighted(m.roc_curve)), _with_weights(_tied_scores),
         kwargs={"unique": True}, vmap=False, sweep=({"drop_intermediate": True},), capabilities=_EAGER_ONLY,
         reference=_joined_ref(_roc_brute_w, "sklearn.metrics.roc_curve (sample_weight)", _SKLEARN)),
    Case("metrics.precision_recall_curve[weighted]", _joined(_weighted(m.precision_recall_curve)),
         _with_weights(_tied_scores), reference=_joined_ref(_pr_brute_w, "NumPy float64, O(n^2), weighted counts")),
    Case("metrics.precision_recall_curve[unique, weighted]", _joined(_weighted(m.precision_recall_curve)),
         _with_weights(_tied_scores), kwargs={"unique": True}, vmap=False, capabilities=_EAGER_ONLY,
         reference=_joined_ref(_pr_brute_w, "sklearn.metrics.precision_recall_curve (sample_weight)", _SKLEARN)),
    Case("metrics.median_absolute_error[weighted]", _weighted(m.median_absolute_error),
         _with_weights(lambda r: _regression(r, N + 1, 2)), sweep=({"multioutput": "raw_values"},),
         reference=_skw("median_absolute_error")),
    Case("metrics.d2_absolute_error[weighted]", _weighted(m.d2_absolute_error),
         _with_weights(lambda r: _regression(r, N, 2)), grad_argnums=(1,), sweep=({"multioutput": "raw_values"},),
         reference=_skw("d2_absolute_error_score")),
    Case("metrics.confusion_counts[weighted]", _joined(_weighted(m.confusion_counts)), _with_weights(_pair_binary),
         reference=_joined_ref(_confusion_counts_w, "sklearn.metrics.confusion_matrix (sample_weight)", _SKLEARN)),
    Case("metrics.confusion_matrix[weighted]", _weighted(m.confusion_matrix), _with_weights(_pair_multiclass),
         kwargs={"num_classes": K}, reference=_skw("confusion_matrix")),
    Case("metrics.mcc[weighted]", _weighted(m.mcc), _with_weights(_pair_binary), reference=_skw("matthews_corrcoef")),
    Case("metrics.log_loss[weighted]", _weighted(m.log_loss), _with_weights(lambda r: (binary(r, N), unit(r, N))),
         grad_argnums=(1,), reference=_skw("log_loss")),
    Case("metrics.log_loss[multiclass, weighted]", _weighted(m.log_loss), _with_weights(_multiclass_probs),
         grad_argnums=(1,), reference=_skw("log_loss", labels=list(range(K)))),
    Case("metrics.brier_score[weighted]", _weighted(m.brier_score),
         _with_weights(lambda r: (binary(r, N), unit(r, N))), grad_argnums=(1,),
         reference=Reference(_brier_ref_w, "sklearn.metrics.brier_score_loss (sample_weight)", _SKLEARN)),
    Case("metrics.brier_score[multiclass, weighted]", _weighted(m.brier_score), _with_weights(_multiclass_probs),
         grad_argnums=(1,), sweep=({"scale_by_half": True},),
         reference=Reference(_brier_ref_w, "sklearn.metrics.brier_score_loss (sample_weight)", _SKLEARN)),
    Case("metrics.classification_report[weighted]", _report_vector(_weighted(m.classification_report)),
         _with_weights(_pair_multiclass), kwargs={"num_classes": K},
         reference=Reference(_report_ref_w, "sklearn.metrics.classification_report (sample_weight)", _SKLEARN)),
    Case("metrics.ndcg_score[weighted]", _weighted(m.ndcg_score), _with_weights(_ndcg_inputs),
         sweep=({"k": 3},), reference=_skw("ndcg_score")),
    Case("metrics.threshold_scores[weighted]", _joined(_weighted(m.threshold_scores)),
         _with_weights(_threshold_inputs), sweep=({"zero_division": 1},),
         reference=_joined_ref(_threshold_scores_ref_w, "sklearn precision/recall/f1_score (sample_weight) per "
                               "threshold", _SKLEARN)),
    Case("metrics.best_threshold[weighted]", _joined(_weighted(m.best_threshold)), _with_weights(_tied_scores),
         sweep=({"metric": "accuracy"}, {"metric": "balanced_accuracy"}, {"metric": "mcc"}),
         reference=_joined_ref(_best_threshold_ref_w, "sklearn metrics (sample_weight), every distinct threshold "
                               "of nonzero weight", _SKLEARN)),
]


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
    Case("metrics.roc_auc[max_fpr]", m.roc_auc, _tied_scores, kwargs={"max_fpr": 0.3}, sweep=({"max_fpr": 0.8},),
         reference=_sk("roc_auc_score")),
    Case("metrics.roc_auc[ovr]", m.roc_auc, _multiclass_probs, kwargs={"multi_class": "ovr"},
         sweep=({"average": "weighted"},), reference=_sk("roc_auc_score")),
    Case("metrics.roc_auc[ovo]", m.roc_auc, _multiclass_probs, kwargs={"multi_class": "ovo"},
         sweep=({"average": "weighted"},), reference=_sk("roc_auc_score")),
    Case("metrics.roc_curve", _joined(m.roc_curve), _tied_scores,
         reference=_joined_ref(_roc_brute, "NumPy float64, O(n^2)")),
    Case("metrics.roc_curve[unique]", _joined(m.roc_curve), _tied_scores, kwargs={"unique": True}, vmap=False,
         sweep=({"drop_intermediate": True},), capabilities=_EAGER_ONLY,
         reference=_joined_ref(_roc_brute, "sklearn.metrics.roc_curve", _SKLEARN)),
    Case("metrics.precision_recall_curve", _joined(m.precision_recall_curve), _tied_scores,
         reference=_joined_ref(_pr_brute, "NumPy float64, O(n^2)")),
    Case("metrics.precision_recall_curve[unique]", _joined(m.precision_recall_curve), _tied_scores,
         kwargs={"unique": True}, vmap=False, capabilities=_EAGER_ONLY,
         reference=_joined_ref(_pr_brute, "NumPy float64, O(n^2)")),
    Case("metrics.threshold_scores", _joined(m.threshold_scores), _threshold_inputs, sweep=({"zero_division": 1},),
         reference=_joined_ref(_threshold_scores_ref, "sklearn precision/recall/f1_score per threshold", _SKLEARN)),
    Case("metrics.best_threshold", _joined(m.best_threshold), _tied_scores,
         sweep=({"metric": "accuracy"}, {"metric": "balanced_accuracy"}, {"metric": "mcc"}),
         reference=_joined_ref(_best_threshold_ref, "sklearn metrics, every distinct threshold", _SKLEARN)),
    Case("metrics.brier_score", m.brier_score, lambda r: (binary(r, N), unit(r, N)), grad_argnums=(1,),
         reference=Reference(_brier_ref, "sklearn.metrics.brier_score_loss", _SKLEARN)),
    Case("metrics.brier_score[multiclass]", m.brier_score, lambda r: (labels(r, N, K), simplex(r, N, K)),
         grad_argnums=(1,), sweep=({"scale_by_half": True},),
         reference=Reference(_brier_ref, "sklearn.metrics.brier_score_loss", _SKLEARN)),
    Case("metrics.calibration_curve", _joined(m.calibration_curve), lambda r: (binary(r, N), unit(r, N)),
         kwargs={"n_bins": 5}, sweep=({"strategy": "quantile"},),
         reference=_joined_ref(_calibration_ref, "NumPy float64 (np.percentile, np.bincount)")),
    Case("metrics.calibration_curve[drop_empty]", _joined(m.calibration_curve),
         lambda r: (binary(r, N), unit(r, N) ** 3), kwargs={"n_bins": 8, "drop_empty": True}, vmap=False,
         capabilities=_EAGER_ONLY, reference=_joined_ref(_calibration_ref, "NumPy float64 (np.bincount)")),
    Case("metrics.classification_report", m.classification_report, _pair_multiclass, kwargs={"num_classes": K}),
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
    Case("metrics.silhouette_score", m.silhouette_score, _clusters, kwargs={"num_classes": K},
         reference=_sk("silhouette_score", drop=("labels",))),
    Case("metrics.adjusted_rand_index", m.adjusted_rand_index, _pair_multiclass, kwargs={"num_classes": K},
         reference=_sk("adjusted_rand_score", drop=("labels",))),
    Case("metrics.dcg", m.dcg, lambda r: (_relevance(r, 9),), kwargs={"k": 5}),
    Case("metrics.dcg[exponential]", m.dcg, lambda r: (_relevance(r, 4, 9),), kwargs={"gains": "exponential"}),
    Case("metrics.ndcg", m.ndcg, lambda r: (_relevance(r, 4, 9),), kwargs={"k": 5}),
    Case("metrics.ndcg_score", m.ndcg_score, _ndcg_inputs),
    Case("metrics.ndcg_score[k]", m.ndcg_score, _ndcg_inputs, kwargs={"k": 3}),
    *WEIGHTED_CASES,
]
