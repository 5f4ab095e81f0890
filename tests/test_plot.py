"""Plots, headless: curves agree with scikit-learn; figures are valid PNGs of the expected size."""

import struct

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from portable_ml import plot  # noqa: E402

from .helpers import optional_module  # noqa: E402

skm = optional_module("sklearn.metrics")


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", data[16:24])


def data(seed=0, n=300, ties=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = y + rng.normal(size=n)
    if ties:
        s = np.round(s, 1)
    return y, s


def test_roc_curve_matches_sklearn(backend):
    y, s = data()
    fpr, tpr, thr = plot.roc_curve(backend.asarray(y), backend.asarray(s))
    f2, t2, th2 = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])


def test_precision_recall_curve_matches_sklearn():
    y, s = data(1)
    p, r, t = plot.precision_recall_curve(y, s)
    p2, r2, t2 = skm.precision_recall_curve(y, s)
    np.testing.assert_allclose(p, p2)
    np.testing.assert_allclose(r, r2)
    np.testing.assert_allclose(t, t2)


def _save(ax, path, size=(4, 3), dpi=50):
    fig = ax.figure
    fig.set_size_inches(*size)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return png_size(path)


def test_roc_and_pr_figures(tmp_path):
    y, s = data(2)
    ax = plot.plot_roc(y, s, label="scores")
    assert f"{skm.roc_auc_score(y, s):.3f}" in ax.get_legend().get_texts()[0].get_text()
    assert _save(ax, tmp_path / "roc.png") == (200, 150)
    ax = plot.plot_precision_recall(y, s)
    assert f"{skm.average_precision_score(y, s):.3f}" in ax.get_legend().get_texts()[0].get_text()
    assert _save(ax, tmp_path / "pr.png") == (200, 150)


def test_history_figure(tmp_path):
    ax = plot.plot_history({"loss": [1.0, 0.5, 0.3], "val_loss": np.array([1.1, 0.7, 0.6])}, logy=True)
    assert len(ax.get_lines()) == 2
    assert _save(ax, tmp_path / "h.png", size=(6, 4), dpi=40) == (240, 160)


def test_decision_boundary_figure(tmp_path, backend):
    LogisticRegression = pytest.importorskip("sklearn.linear_model").LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)

    class OnBackend:  # a classifier whose inputs arrive on the backend of X
        def predict_proba(self, G):
            assert type(G) is type(Xb)
            return clf.predict_proba(backend.to_numpy(G))

    Xb = backend.asarray(X)
    ax = plot.plot_decision_boundary(OnBackend(), Xb, y, resolution=30)
    assert _save(ax, tmp_path / "b.png") == (200, 150)


def test_bad_inputs():
    with pytest.raises(ValueError, match="binary"):
        plot.roc_curve(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match=r"\(n_samples, 2\)"):
        plot.plot_decision_boundary(None, np.ones((3, 3)))
