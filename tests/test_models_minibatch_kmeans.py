"""MiniBatchKMeans against a float64 NumPy port of scikit-learn's update rule and against scikit-learn."""

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import models as M
from portable_ml.models.cluster import _minibatch_step, _reassign
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place
from .test_models_common import assert_fitted_on, blobs, torch_single_thread  # noqa: F401

SkMiniBatchKMeans = optional_module("sklearn.cluster").deferred("MiniBatchKMeans")
SkKMeans = optional_module("sklearn.cluster").deferred("KMeans")


# ------------------------------------------------------------------ float64 NumPy reference
def ref_step(X, centers, weight_sums, *, reassign=False, ratio=0.01, choice=None):
    """scikit-learn's ``_mini_batch_step`` (unit sample weights), sample by sample as its Cython
    ``_minibatch_update_dense``: ``c <- (c * W + sum x) / (W + n_b)`` for the centres that got samples,
    then the low-count reassignment with the batch rows ``choice(b, n_reassign)``."""
    X, C, W = (np.asarray(a, dtype=np.float64) for a in (X, centers, weight_sums))
    d2 = ((X[:, None, :] - C[None, :, :]) ** 2).sum(-1)
    labels = d2.argmin(1)
    inertia = d2.min(1).sum()
    new, W = C.copy(), W.copy()
    for j in range(C.shape[0]):
        idx = np.flatnonzero(labels == j)
        if idx.size == 0:
            continue
        c = C[j] * W[j]
        for i in idx:
            c = c + X[i]
        W[j] += idx.size
        new[j] = c / W[j]
    if reassign and ratio > 0:
        to = W < ratio * W.max()
        if to.sum() > 0.5 * X.shape[0]:
            to[np.argsort(W, kind="stable")[int(0.5 * X.shape[0]):]] = False
        n_re = int(to.sum())
        if n_re:
            new[to] = X[choice(X.shape[0], n_re)]
        W[to] = np.min(W[~to])
    return new, W, labels, inertia


def _data(n=400, d=3, k=4, seed=0, spread=5.0):
    X, y = blobs(n=n, d=d, k=k, seed=seed, spread=spread)
    return X, y


# ------------------------------------------------------------------ the update rule
def test_minibatch_step_matches_the_reference_update(backend, float_dtype):
    name = dtype_name(float_dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if name == "float64" else dict(rtol=2e-5, atol=2e-5)
    g = np.random.default_rng(1)
    X, _ = _data(seed=1)
    C = X[:4] + g.normal(size=(4, 3))
    W = np.array([0.0, 3.0, 10.0, 1.0])
    for lo in (0, 40, 80):  # three consecutive batches, the counts carried over
        Xb = X[lo:lo + 40]
        rC, rW, rlab, rin = ref_step(Xb, C, W)
        new, cnt, lab, inertia = _minibatch_step(*(place(backend, a, dtype=name) for a in (Xb, C, W)))
        np.testing.assert_array_equal(backend.to_numpy(lab), rlab)
        assert_close(new, rC, **tol)
        assert_close(cnt, rW, rtol=0, atol=0)
        assert_close(inertia, rin, **tol)
        C, W = rC, rW
    # scikit-learn's test_minibatch_update_consistency: the batch inertia decreases after the step
    g = np.random.default_rng(2)
    C0 = X[:4] + g.normal(size=(4, 3))
    new, _, _, before = _minibatch_step(X[:10], C0, np.zeros(4))
    assert 0 < ((X[:10, None] - new[None]) ** 2).sum(-1).min(1).sum() < before


def test_minibatch_step_under_jit():
    jax = pytest.importorskip("jax")
    X, _ = _data(seed=2)
    C, W = X[:4] + 0.5, np.array([1.0, 0.0, 2.0, 5.0])
    jx = pml.get_backend("jax")
    out = jax.jit(_minibatch_step)(*(jx.asarray(a, dtype="float32") for a in (X[:50], C, W)))
    ref = ref_step(X[:50], C, W)
    assert_close(out[0], ref[0], rtol=2e-5, atol=2e-5)
    assert_close(out[1], ref[1], rtol=0, atol=0)


@pytest.mark.parametrize("ratio", [1.0, 0.3, 1e-15])
def test_reassignment_matches_the_reference(backend, ratio):
    """scikit-learn's test_minibatch_reassign: a large ratio moves centres (the fit gets worse), a tiny one
    moves none; the moved ones take distinct batch rows and the smallest remaining count.  The rows are
    host draws of pml's Generator, the same on every backend for a seed."""
    X, y = _data(n=200, seed=3)
    perfect = np.stack([X[y == j].mean(0) for j in range(4)])
    W0 = np.array([150.0, 1.0, 0.0, 20.0])  # after the step 200, 51, 50, 70: 0.3 moves two centres
    new, cnt, _, _ = _minibatch_step(*(place(backend, a) for a in (X, perfect, W0)))
    new, cnt = _reassign(place(backend, X), new, cnt, ratio, backend.rng(7), xp=backend.xp)
    ref_rng = pml.get_backend("numpy").rng(7)
    rC, rW, _, _ = ref_step(X, perfect, W0, reassign=True, ratio=ratio,
                            choice=lambda b, m: np.asarray(ref_rng.choice(b, m)))
    assert_close(new, rC, rtol=1e-12, atol=1e-12)
    assert_close(cnt, rW, rtol=1e-12, atol=0)
    inertia = lambda C: ((X[:, None] - backend.to_numpy(C)[None]) ** 2).sum(-1).min(1).sum()  # noqa: E731
    if ratio == 1e-15:
        assert_close(new, ref_step(X, perfect, W0)[0], rtol=1e-12, atol=1e-12)
    else:
        assert inertia(new) > inertia(ref_step(X, perfect, W0)[0])


def test_more_reassignments_than_half_a_batch_are_capped():
    """100 centres, batches of 10: at most 5 centres (the lowest counts) move per step (sklearn's cap)."""
    g = np.random.default_rng(4)
    X = g.normal(size=(10, 2))
    C = g.normal(size=(100, 2))
    W = np.concatenate([np.zeros(60), np.full(40, 100.0)])
    new, cnt, _, _ = _minibatch_step(X, C, W)
    new2, cnt2 = _reassign(X, new, cnt, 0.01, pml.get_backend("numpy").rng(0), xp=np)
    moved = np.flatnonzero((new2 != new).any(1))
    assert 1 <= len(moved) <= 5
    ref_rng = pml.get_backend("numpy").rng(0)
    rC, rW, _, _ = ref_step(X, C, W, reassign=True, ratio=0.01, choice=lambda b, m: ref_rng.choice(b, m))
    assert_close(new2, rC, rtol=1e-12, atol=1e-12)
    assert_close(cnt2, rW, rtol=0, atol=0)
    M.MiniBatchKMeans(n_clusters=100, batch_size=10, seed=42).fit(g.normal(size=(300, 2)))  # runs


# ------------------------------------------------------------------ partial_fit
@pytest.mark.parametrize("ratio", [0.0, 0.01])
def test_partial_fit_equals_reference_and_sklearn(backend, float_dtype, ratio):
    """partial_fit with given batches and initial centres: the reference update, step by step, and
    scikit-learn's partial_fit (no centre falls below the reassignment ratio on these batches)."""
    name = dtype_name(float_dtype)
    tol = dict(rtol=1e-12, atol=1e-12) if name == "float64" else dict(rtol=1e-4, atol=1e-4)
    X, _ = _data(n=600, seed=5)
    C0 = X[[0, 1, 2, 3]] + 0.3
    m = M.MiniBatchKMeans(n_clusters=4, init=place(backend, C0, dtype=name), reassignment_ratio=ratio, seed=0)
    ref = SkMiniBatchKMeans(4, init=C0, n_init=1, reassignment_ratio=ratio, batch_size=60)
    C, W = C0, np.zeros(4)
    for lo in range(0, 600, 60):
        Xb = X[lo:lo + 60]
        m.partial_fit(place(backend, Xb, dtype=name))
        ref.partial_fit(Xb)
        C, W, _, _ = ref_step(Xb, C, W)
        assert_close(m.cluster_centers_, C, **tol)
        assert_close(m.cluster_centers_, ref.cluster_centers_, **tol)
        labels = backend.to_numpy(m.labels_)
        np.testing.assert_array_equal(labels, ((Xb[:, None] - C[None]) ** 2).sum(-1).argmin(1))
        assert_close(m.inertia_, np.float64(ref.inertia_), **tol)
    assert m.n_steps_ == ref.n_steps_ == 10
    assert_fitted_on(m, backend, float_dtype)


def test_partial_fit_seeds_from_the_first_batch_and_checks_features(backend):
    X, y = _data(n=300, seed=6, spread=8.0)
    m = M.MiniBatchKMeans(n_clusters=4, seed=3)
    for _ in range(5):
        m.partial_fit(place(backend, X))
    assert m.n_steps_ == 5
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, backend.to_numpy(m.predict(place(backend, X)))) == 1.0
    with pytest.raises(ValueError, match="3 features"):
        m.partial_fit(place(backend, X[:, :2]))


def test_partial_fit_reassigns_identical_centres():
    """scikit-learn's test_minibatch_sensible_reassign (partial_fit part): half the rows are 0."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=100, centers=5, random_state=0)
    X[::2, :] = 0
    km = M.MiniBatchKMeans(n_clusters=20, init="random", seed=0)
    for _ in range(100):
        km.partial_fit(X)
    assert np.asarray(km.cluster_centers_).any(axis=1).sum() > 9


# ------------------------------------------------------------------ fit
def test_fit_reaches_lloyd_and_sklearn_inertia(backend, float_dtype):
    name = dtype_name(float_dtype)
    X, y = _data(n=3000, d=4, k=5, seed=7, spread=4.0)
    Xb = place(backend, X, dtype=name)
    m = M.MiniBatchKMeans(n_clusters=5, batch_size=256, n_init=3, seed=1).fit(Xb)
    assert_fitted_on(m, backend, float_dtype)
    lloyd = float(M.KMeans(n_clusters=5, n_init=3, seed=1).fit(X).inertia_)
    sk = SkMiniBatchKMeans(5, batch_size=256, n_init=3, random_state=1).fit(X).inertia_
    inertia = float(backend.to_numpy(m.inertia_))
    assert inertia <= 1.02 * lloyd
    assert inertia <= 1.03 * sk
    labels = backend.to_numpy(m.labels_)
    np.testing.assert_array_equal(backend.to_numpy(m.predict(Xb)), labels)
    C = backend.to_numpy(m.cluster_centers_).astype(np.float64)
    rtol = 1e-10 if name == "float64" else 1e-4
    assert_close(m.inertia_, ((X - C[labels]) ** 2).sum(), rtol=rtol)
    assert_close(m.score(Xb), -((X - C[labels]) ** 2).sum(), rtol=rtol)
    D = np.linalg.norm(X[:, None] - C[None], axis=-1)
    assert_close(m.transform(Xb), D, rtol=10 * rtol, atol=10 * rtol)
    assert m.n_iter_ == -(-(m.n_steps_ * 256) // 3000)


def test_fit_draws_the_same_batches_on_every_backend(backend):
    X, _ = _data(n=500, seed=8)
    m = M.MiniBatchKMeans(n_clusters=4, batch_size=64, seed=5).fit(place(backend, X))
    ref = M.MiniBatchKMeans(n_clusters=4, batch_size=64, seed=5).fit(X)
    assert m.n_steps_ == ref.n_steps_
    assert_close(m.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(backend.to_numpy(m.labels_), ref.labels_)


def test_fit_is_the_step_loop_of_the_reference():
    """fit with an initial array and no reassignment: the reference update on the drawn batches (the
    Generator's integer draws after the validation rows), stopped by max_iter."""
    X, _ = _data(n=200, seed=9)
    C0 = X[:4] + 0.1
    m = M.MiniBatchKMeans(n_clusters=4, init=C0, batch_size=50, max_iter=3, max_no_improvement=None,
                          reassignment_ratio=0.0, seed=11).fit(X)
    rng = pml.get_backend("numpy").rng(11)
    rng.integers(0, 200, (150,))  # the validation rows (init_size = 3 * batch_size)
    C, W = C0, np.zeros(4)
    for _ in range(3 * 200 // 50):
        C, W, _, _ = ref_step(X[np.asarray(rng.integers(0, 200, (50,)))], C, W)
    assert m.n_steps_ == 12 and m.n_iter_ == 3
    assert_close(m.cluster_centers_, C, rtol=1e-12, atol=1e-12)


def test_stopping_rules():
    """scikit-learn's test_minibatch_iter_steps and test_minibatch_declared_convergence."""
    from sklearn.datasets import make_blobs

    X, _, centers = make_blobs(centers=3, random_state=0, return_centers=True)
    n = X.shape[0]
    km = M.MiniBatchKMeans(n_clusters=3, batch_size=30, seed=0).fit(X)
    assert km.n_iter_ == np.ceil(km.n_steps_ * 30 / n) and isinstance(km.n_iter_, int)
    km = M.MiniBatchKMeans(n_clusters=3, batch_size=30, seed=0, tol=0, max_no_improvement=None,
                           max_iter=10).fit(X)
    assert km.n_iter_ == 10 and km.n_steps_ == (10 * n) // 30 and isinstance(km.n_steps_, int)
    for tol, max_no_improvement in [(1e-4, None), (0, 10)]:
        km = M.MiniBatchKMeans(n_clusters=3, init=centers, batch_size=20, tol=tol, seed=0, max_iter=10,
                               max_no_improvement=max_no_improvement).fit(X)
        assert 1 < km.n_iter_ < 10


def test_sensible_reassignment_in_fit():
    """scikit-learn's test_minibatch_sensible_reassign: identical initial centres get reassigned."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=100, centers=5, random_state=0)
    X[::2, :] = 0
    for batch_size in (10, 200):
        km = M.MiniBatchKMeans(n_clusters=20, batch_size=batch_size, seed=0, init="random").fit(X)
        assert np.asarray(km.cluster_centers_).any(axis=1).sum() > 9


def test_predict_under_jit():
    jax = pytest.importorskip("jax")
    X, y = _data(n=300, seed=10, spread=8.0)
    Xj = pml.get_backend("jax").asarray(X, dtype="float32")
    m = M.MiniBatchKMeans(n_clusters=4, batch_size=100, seed=0).fit(Xj)
    got = jax.jit(m.predict)(Xj)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(m.labels_))
    assert_close(jax.jit(m.transform)(Xj), m.transform(Xj), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(n_clusters=0), ValueError, "n_clusters must be a positive int"),
    (dict(n_clusters=500), ValueError, "n_clusters=500 must not exceed n_samples=90"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(max_iter=0), ValueError, "max_iter"),
    (dict(reassignment_ratio=-0.1), ValueError, "reassignment_ratio"),
    (dict(max_no_improvement=-1), ValueError, "max_no_improvement"),
    (dict(n_init=0), ValueError, "n_init"),
    (dict(n_init="many"), TypeError, "n_init"),
    (dict(tol=-1.0), ValueError, "tol"),
    (dict(init="farthest"), ValueError, "init must be 'k-means\\+\\+', 'random' or an array"),
    (dict(init=np.zeros((2, 3))), ValueError, r"init array must have shape \(n_clusters, n_features\)"),
])
def test_bad_parameters_are_named(kwargs, exc, match):
    X, _ = blobs()
    kwargs = {"n_clusters": 3, **kwargs}
    with pytest.raises(exc, match=match):
        M.MiniBatchKMeans(**kwargs).fit(X)
    with pytest.raises(exc, match=match):
        M.MiniBatchKMeans(**kwargs).partial_fit(X)


def test_bad_input():
    X, _ = blobs()
    with pytest.raises(M.NotFittedError, match="not fitted"):
        M.MiniBatchKMeans(n_clusters=3).predict(X)
    m = M.MiniBatchKMeans(n_clusters=3, seed=0).fit(X)
    with pytest.raises(ValueError, match="3 features"):
        m.predict(X[:, :2])
    with pytest.raises(ValueError, match="NaN or infinity"):
        M.MiniBatchKMeans(n_clusters=3).fit(np.where(X > 1, np.nan, X))


def test_reassignment_ratio_above_one_keeps_finite_counts():
    """ratio > 1 flags every centre (scikit-learn then fails on an empty minimum): the centres move to batch
    rows and keep their counts, so later steps stay finite."""
    X, _ = _data(n=200, seed=12)
    m = M.MiniBatchKMeans(n_clusters=4, batch_size=50, reassignment_ratio=2.0, seed=0, max_iter=2).fit(X)
    assert np.isfinite(np.asarray(m.cluster_centers_)).all() and np.isfinite(np.asarray(m._counts)).all()
