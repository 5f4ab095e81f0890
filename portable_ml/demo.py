"""The demo behind ``portable-ml demo``: the same models on every backend.

For each selected backend it makes the same synthetic data (same seed, same
values everywhere), trains LogisticRegression, KMeans, PCA and an MLP
classifier, and reports one quality metric and the fit time for each. The
metrics should agree across backends up to floating-point rounding; the
table says how far apart they are.
"""

from __future__ import annotations

import time

from .backend import available_backends, get_backend
from .testing import dtype_name

__all__ = ["run_demo", "summarize", "MODELS"]

#: (model, metric) pairs the demo reports, in order.
MODELS = (
    ("LogisticRegression", "test accuracy"),
    ("KMeans", "inertia / n"),
    ("PCA", "explained variance (2 comps)"),
    ("MLPClassifier", "test accuracy"),
)


def _timed(fn):
    """``(fn(), seconds)``; ``fn`` ends with a host value, so lazy and async backends have finished."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _split(X, y, n_train):
    return X[:n_train, ...], y[:n_train], X[n_train:, ...], y[n_train:]


def run_backend(name, device=None, *, seed=0, n_samples=2000, epochs=30):
    """Train the demo models on one backend; a list of result rows and the fitted models."""
    from . import datasets, metrics, optimizers
    from .models import PCA, KMeans, LogisticRegression, MLPClassifier

    be = get_backend(name, device)
    rows, fitted = [], {}
    n_train = n_samples * 3 // 4

    X, y = datasets.make_classification(n_samples=n_samples, n_features=10, n_informative=5, seed=seed,
                                        backend=be)
    Xtr, ytr, Xte, yte = _split(X, y, n_train)
    clf = LogisticRegression(alpha=1e-3)
    acc, secs = _timed(lambda: float(metrics.accuracy(yte, clf.fit(Xtr, ytr).predict(Xte))))
    rows.append(("LogisticRegression", acc, secs))
    fitted["LogisticRegression"] = (clf, Xte, yte)

    Xb, _ = datasets.make_blobs(n_samples=n_samples, centers=4, n_features=2, seed=seed, backend=be)
    inertia, secs = _timed(lambda: float(KMeans(n_clusters=4, seed=seed).fit(Xb).inertia_))
    rows.append(("KMeans", inertia / n_samples, secs))

    ratio, secs = _timed(lambda: float(be.xp.sum(PCA(n_components=2).fit(X).explained_variance_ratio_)))
    rows.append(("PCA", ratio, secs))

    Xm, ym = datasets.make_moons(n_samples=n_samples, noise=0.1, seed=seed, backend=be)
    Xtr, ytr, Xte, yte = _split(Xm, ym, n_train)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), epochs=epochs, batch_size=64, seed=seed,
                        optimizer=optimizers.adam(1e-2))
    acc, secs = _timed(lambda: float(metrics.accuracy(yte, mlp.fit(Xtr, ytr).predict(Xte))))
    rows.append(("MLPClassifier", acc, secs))
    fitted["MLPClassifier"] = (mlp, Xm, ym)

    dtype = dtype_name(X.dtype)
    return [{"backend": be.name, "dtype": dtype, "model": m, "metric": dict(MODELS)[m], "value": v, "seconds": s}
            for m, v, s in rows], fitted


def run_demo(backends=None, device=None, *, seed=0, n_samples=2000, epochs=30, progress=None):
    """Rows ``{"backend", "dtype", "model", "metric", "value", "seconds"}`` for every backend, and fitted models.

    ``fitted`` maps backend name to that backend's fitted models (used for
    the optional figure).
    """
    rows, fitted = [], {}
    for name in backends or available_backends():
        if progress:
            progress(name)
        r, f = run_backend(name, device, seed=seed, n_samples=n_samples, epochs=epochs)
        rows.extend(r)
        fitted[name] = f
    return rows, fitted


def summarize(rows):
    """``{dtype: {model: spread}}``: the largest difference of each metric across backends, per dtype.

    Backends are compared only with those computing in the same floating
    dtype (float32 rounding is not disagreement); a dtype computed by a single
    backend has no spread and is left out.
    """
    out = {}
    for dtype in dict.fromkeys(r["dtype"] for r in rows):
        same = [r for r in rows if r["dtype"] == dtype]
        if len({r["backend"] for r in same}) < 2:
            continue
        out[dtype] = {}
        for model, _ in MODELS:
            vals = [r["value"] for r in same if r["model"] == model]
            out[dtype][model] = max(vals) - min(vals)
    return out


def write_figure(fitted_on_backend, path):
    """One PNG: the MLP's decision boundary, its loss curve, the logistic model's ROC curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot

    mlp, Xm, ym = fitted_on_backend["MLPClassifier"]
    clf, Xte, yte = fitted_on_backend["LogisticRegression"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    plot.plot_decision_boundary(mlp, Xm, ym, ax=axes[0], resolution=120)
    plot.plot_history(mlp, ax=axes[1], title="MLP training loss")
    proba = clf.predict_proba(Xte)
    plot.plot_roc(yte, proba[:, 1], ax=axes[2], label="LogisticRegression")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
