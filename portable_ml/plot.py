"""Pictures: training curves, decision boundaries, ROC and precision-recall curves.

Plotting is host-side work: arrays of any backend are copied to NumPy here
(this module is in the composition layer, not a formula module).  Matplotlib
is an optional extra (``pip install "portable-ml[plot]"``); it is imported on
first use, and every function draws on a given ``ax`` or a new figure and
returns the ``Axes``.
"""

from __future__ import annotations

import numpy as np

from . import metrics
from .backend import backend_of, get_backend, to_numpy

__all__ = ["plot_history", "plot_decision_boundary", "plot_roc", "plot_precision_recall", "roc_curve",
           "precision_recall_curve"]


def _plt():
    try:
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:  # pragma: no cover - depends on the installation
        raise ModuleNotFoundError("pml.plot needs matplotlib: pip install 'portable-ml[plot]'") from None
    return plt


def _axes(ax):
    if ax is None:
        _, ax = _plt().subplots()
    return ax


def _host(x):
    return np.asarray(to_numpy(x))


# ------------------------------------------------------------ curves (host)
def _host_pair(y_true, scores):
    y, s = _host(y_true).ravel(), _host(scores).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and scores must have the same length; got {y.shape[0]} and {s.shape[0]}")
    return y, s


def roc_curve(y_true, scores):
    """False- and true-positive rates at every distinct threshold, as NumPy arrays.

    Returns ``(fpr, tpr, thresholds)`` starting at (0, 0), like
    ``sklearn.metrics.roc_curve(drop_intermediate=False)``: the host copy of
    :func:`portable_ml.metrics.roc_curve` with ``unique=True`` (a class
    absent from ``y_true`` gives rates of 0 here, for drawing).
    """
    fpr, tpr, thr = metrics.roc_curve(*_host_pair(y_true, scores), unique=True)
    return np.nan_to_num(fpr, nan=0.0), np.nan_to_num(tpr, nan=0.0), thr


def precision_recall_curve(y_true, scores):
    """Precision and recall at every distinct threshold (decreasing recall), as NumPy arrays.

    The host copy of :func:`portable_ml.metrics.precision_recall_curve` with ``unique=True``.
    """
    return metrics.precision_recall_curve(*_host_pair(y_true, scores), unique=True)


# ------------------------------------------------------------ plots
def plot_history(history, ax=None, *, keys=None, logy=False, title=None):
    """Loss / metric curves from a fit.

    ``history`` is a dict of sequences (``{"loss": [...], "val_loss": [...]}``),
    a sequence of numbers, or a fitted estimator with ``history_`` or
    ``loss_curve_``.
    """
    ax = _axes(ax)
    if hasattr(history, "history_"):
        history = history.history_
    elif hasattr(history, "loss_curve_"):
        history = {"loss": history.loss_curve_}
    if not isinstance(history, dict):
        history = {"loss": history}
    for key in keys or list(history):
        values = _host(history[key]).astype(np.float64).ravel() if len(history[key]) else np.array([])
        ax.plot(np.arange(1, values.size + 1), values, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.set_title(title or "training history")
    return ax


def plot_decision_boundary(model, X, y=None, ax=None, *, resolution=200, margin=0.5, title=None):
    """Decision regions of any fitted 2-feature classifier, with the data on top.

    The grid is evaluated on the backend and device of ``X`` (via
    ``model.predict_proba`` where it exists, else ``model.predict``).
    """
    ax = _axes(ax)
    Xh = _host(X)
    if Xh.ndim != 2 or Xh.shape[1] != 2:
        raise ValueError(f"X must have shape (n_samples, 2) to draw a boundary; got {Xh.shape}")
    lo, hi = Xh.min(axis=0) - margin, Xh.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.c_[gx.ravel(), gy.ravel()].astype(Xh.dtype)
    be = get_backend(backend_of(X) or "numpy")
    if be.name != "numpy":
        from array_api_compat import device

        be = get_backend(be.name, device(X))
    G = be.asarray(grid)
    if hasattr(model, "predict_proba"):
        proba = _host(model.predict_proba(G))
        z = proba[:, -1] if proba.ndim == 2 and proba.shape[1] == 2 else proba.argmax(axis=1) if proba.ndim == 2 else proba
    else:
        z = _host(model.predict(G))
    cs = ax.contourf(gx, gy, z.reshape(gx.shape), levels=20 if z.dtype.kind == "f" else None, alpha=0.6, cmap="RdBu_r")
    ax.figure.colorbar(cs, ax=ax)
    ax.scatter(Xh[:, 0], Xh[:, 1], c=None if y is None else _host(y), s=12, edgecolors="k", cmap="RdBu_r")
    ax.set_title(title or f"decision boundary ({type(model).__name__})")
    return ax


def plot_roc(y_true, scores, ax=None, *, label=None):
    """ROC curve with its area in the legend."""
    ax = _axes(ax)
    fpr, tpr, _ = roc_curve(y_true, scores)
    auc = float(np.trapezoid(tpr, fpr))
    ax.plot(fpr, tpr, label=f"{label or 'model'} (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right")
    return ax


def plot_precision_recall(y_true, scores, ax=None, *, label=None):
    """Precision-recall curve (step form) with average precision in the legend."""
    ax = _axes(ax)
    precision, recall, _ = precision_recall_curve(y_true, scores)
    ap = float(-np.sum(np.diff(recall) * precision[:-1]))
    ax.step(recall, precision, where="post", label=f"{label or 'model'} (AP = {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.05)
    ax.set_title("precision-recall curve")
    ax.legend(loc="lower left")
    return ax
