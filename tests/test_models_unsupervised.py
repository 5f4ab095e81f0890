"""KMeans and PCA against scikit-learn, on every backend."""

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import models as M
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place
from .test_models_common import assert_fitted_on, blobs, torch_single_thread  # noqa: F401

SkKMeans = optional_module("sklearn.cluster").deferred("KMeans")
SkPCA = optional_module("sklearn.decomposition").deferred("PCA")
adjusted_rand_score = optional_module("sklearn.metrics").deferred("adjusted_rand_score")


# ------------------------------------------------------------------ KMeans
def test_kmeans_partition_and_inertia_match_sklearn(backend, float_dtype):
    name = dtype_name(float_dtype)
    X, y = blobs(n=150, d=3, k=4, seed=1, spread=10.0)
    Xb = place(backend, X, dtype=name)
    m = M.KMeans(n_clusters=4, seed=0).fit(Xb)
    ref = SkKMeans(4, n_init=1, random_state=0).fit(X)
    assert_fitted_on(m, backend, float_dtype)
    labels = backend.to_numpy(m.labels_)
    assert adjusted_rand_score(ref.labels_, labels) == 1.0
    assert adjusted_rand_score(y, labels) == 1.0
    rtol = 1e-10 if name == "float64" else 1e-5
    assert_close(m.inertia_, np.float64(ref.inertia_), rtol=rtol)
    # the same centres up to the label permutation
    perm = [int(np.bincount(labels[ref.labels_ == j]).argmax()) for j in range(4)]
    assert_close(backend.to_numpy(m.cluster_centers_)[perm], ref.cluster_centers_, rtol=rtol, atol=rtol)
    assert 1 <= m.n_iter_ < 20
    np.testing.assert_array_equal(backend.to_numpy(m.predict(Xb)), labels)
    D = backend.to_numpy(m.transform(Xb))
    want = np.linalg.norm(X[:, None, :] - backend.to_numpy(m.cluster_centers_)[None].astype(np.float64), axis=-1)
    assert_close(D, want, rtol=10 * rtol, atol=10 * rtol)
    assert_close(m.score(Xb), -np.float64(ref.inertia_), rtol=rtol)


def test_kmeans_same_seed_same_result_on_every_backend(backend):
    X, _ = blobs(n=120, d=2, k=3, seed=2, spread=3.0)
    m = M.KMeans(n_clusters=3, seed=42).fit(place(backend, X))
    ref = M.KMeans(n_clusters=3, seed=42).fit(X)
    np.testing.assert_array_equal(backend.to_numpy(m.labels_), ref.labels_)
    assert_close(m.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert m.n_iter_ == ref.n_iter_


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_kmeans_blocked_threaded_loop_matches_sklearn(backend):
    """Several blocks of rows (the threaded host loop on NumPy/torch): sklearn's Lloyd from the same init."""
    g = np.random.default_rng(5)
    X = g.normal(size=(40000, 4))  # 16384 rows per block: three blocks, split over the worker threads
    C0 = X[g.choice(X.shape[0], 5, replace=False)]
    m = M.KMeans(n_clusters=5, init=place(backend, C0), max_iter=15, tol=0.0).fit(place(backend, X))
    ref = SkKMeans(5, init=C0, n_init=1, max_iter=15, tol=0.0, algorithm="lloyd").fit(X)
    assert m.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(backend.to_numpy(m.labels_), ref.labels_)
    assert_close(m.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert_close(m.inertia_, np.float64(ref.inertia_), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("spread,k", [(8.0, 5), (0.7, 6)], ids=["separated", "overlapping"])
def test_kmeans_elkan_equals_lloyd_and_sklearn_elkan(backend, float_dtype, spread, k):
    """algorithm='elkan' (Hamerly's bounds on eager backends, Lloyd on JAX/Dask): the same iterations as
    'lloyd' from the same initial centres, and as scikit-learn's Elkan."""
    name = dtype_name(float_dtype)
    g = np.random.default_rng(11 + k)
    C = spread * g.normal(size=(k, 3))
    X = C[g.integers(0, k, 3000)] + g.normal(size=(3000, 3))
    C0 = X[g.choice(X.shape[0], k, replace=False)]
    # the second run starts with a far-away centre: an empty cluster, relocated mid-run
    C_far = np.concatenate([np.full((1, 3), 100.0), C0[1:]])
    rtol = 1e-10 if name == "float64" else 2e-5
    Xb = place(backend, X, dtype=name)
    for init in (C0, C_far):
        Cb = place(backend, init, dtype=name)
        lloyd = M.KMeans(n_clusters=k, init=Cb, max_iter=60, tol=0.0).fit(Xb)
        elkan = M.KMeans(n_clusters=k, init=Cb, max_iter=60, tol=0.0, algorithm="elkan").fit(Xb)
        assert_fitted_on(elkan, backend, float_dtype)
        assert elkan.n_iter_ == lloyd.n_iter_
        np.testing.assert_array_equal(backend.to_numpy(elkan.labels_), backend.to_numpy(lloyd.labels_))
        assert_close(elkan.cluster_centers_, lloyd.cluster_centers_, rtol=rtol, atol=rtol)
        assert_close(elkan.inertia_, lloyd.inertia_, rtol=rtol)
    if name == "float64":
        elkan = M.KMeans(n_clusters=k, init=place(backend, C0), max_iter=60, tol=0.0, algorithm="elkan").fit(Xb)
        ref = SkKMeans(k, init=C0, n_init=1, max_iter=60, tol=0.0, algorithm="elkan").fit(X)
        assert elkan.n_iter_ == ref.n_iter_
        np.testing.assert_array_equal(backend.to_numpy(elkan.labels_), ref.labels_)
        assert_close(elkan.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-10)
        assert_close(elkan.inertia_, np.float64(ref.inertia_), rtol=1e-10)


def test_kmeans_elkan_with_tolerance_and_seeding_matches_lloyd():
    """The relative tolerance stops both at the same iteration; k-means++ seeding and n_init as for lloyd."""
    g = np.random.default_rng(3)
    X = g.normal(size=(5000, 4)) + np.repeat(6.0 * g.normal(size=(10, 4)), 500, axis=0)
    for tol in (1e-2, 1e-4):
        a = M.KMeans(n_clusters=10, seed=2, n_init=2, tol=tol).fit(X)
        b = M.KMeans(n_clusters=10, seed=2, n_init=2, tol=tol, algorithm="elkan").fit(X)
        assert a.n_iter_ == b.n_iter_
        np.testing.assert_array_equal(a.labels_, b.labels_)
        assert_close(b.cluster_centers_, a.cluster_centers_, rtol=1e-10, atol=1e-10)
    # k = 1: no second centre, every bound test passes
    one = M.KMeans(n_clusters=1, algorithm="elkan", seed=0).fit(X)
    assert_close(one.cluster_centers_[0], X.mean(0), rtol=1e-12, atol=1e-12)


def test_kmeans_elkan_skips_distance_computations(monkeypatch):
    """Hamerly's bounds do their job: after the first pass, far fewer full rows of distances than n per step."""
    from portable_ml.models import cluster

    calls = []
    orig = cluster._nearest_two
    monkeypatch.setattr(cluster, "_nearest_two", lambda x, *a, **kw: calls.append(x.shape[0]) or orig(x, *a, **kw))
    g = np.random.default_rng(4)
    C = 10.0 * g.normal(size=(8, 5))
    X = C[g.integers(0, 8, 20000)] + g.normal(size=(20000, 5))
    m = M.KMeans(n_clusters=8, seed=0, algorithm="elkan", tol=0.0).fit(X)
    blocks = -(-X.shape[0] // max(256, cluster._BLOCK_ENTRIES // X.shape[1]))  # the first pass, by blocks
    assert sum(calls[:blocks]) == X.shape[0] and m.n_iter_ >= 2
    assert sum(calls[blocks:]) < 0.05 * X.shape[0] * (m.n_iter_ - 1)


def test_kmeans_algorithm_is_checked():
    with pytest.raises(ValueError, match="algorithm must be 'lloyd' or 'elkan'; got algorithm='full'"):
        M.KMeans(n_clusters=2, algorithm="full").fit(np.ones((4, 2)))


def test_kmeans_threaded_step_equals_serial_step_and_restores_thread_settings():
    from concurrent.futures import ThreadPoolExecutor

    from portable_ml.models.cluster import _lloyd_fast_step_blocks, _OneThreadKernels

    g = np.random.default_rng(6)
    X, C = g.normal(size=(10000, 3)), g.normal(size=(4, 3))
    eye, ones, prev = np.eye(4), np.ones(1000), np.full(10000, -1)
    serial = _lloyd_fast_step_blocks(X, C, prev, 0.0, eye, ones, rows=1000)
    with ThreadPoolExecutor(3) as pool:
        threaded = _lloyd_fast_step_blocks(X, C, prev, 0.0, eye, ones, rows=1000, pool=pool, workers=3)
    np.testing.assert_array_equal(threaded[1], serial[1])
    assert_close(threaded[0], serial[0], rtol=1e-13, atol=1e-13)
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with _OneThreadKernels(torch.zeros((100000, 2))):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_kmeans_init_options(backend):
    X, y = blobs(n=90, d=2, k=3, seed=3)
    Xb = place(backend, X)
    for init, n_init in [("random", 3), ("k-means++", 2)]:
        m = M.KMeans(n_clusters=3, init=init, n_init=n_init, seed=1).fit(Xb)
        assert adjusted_rand_score(y, backend.to_numpy(m.labels_)) == 1.0
    centres = np.stack([X[y == j].mean(0) for j in range(3)])
    m = M.KMeans(n_clusters=3, init=place(backend, centres)).fit(Xb)
    np.testing.assert_array_equal(backend.to_numpy(m.labels_), y)  # starts at the answer
    assert m.n_iter_ == 1
    assert_close(m.cluster_centers_, centres, rtol=1e-12, atol=1e-12)


def test_kmeans_empty_cluster_is_relocated_to_the_farthest_sample(backend):
    X, y = blobs(n=60, d=2, k=3, seed=4)
    Xb = place(backend, X)
    # two centres inside blob 0, one absurdly far away: it gets no sample and must move
    c0 = X[y == 0].mean(0)
    init = np.stack([c0, c0 + 0.01, np.array([1e3, 1e3])])
    res = M.lloyd_step(Xb, place(backend, init))
    d2 = ((X[:, None, :] - init[None]) ** 2).sum(-1)
    assert not (backend.to_numpy(res.labels) == 2).any()
    farthest = X[np.argmax(d2.min(1))]
    assert_close(res.centers[2, :], farthest, rtol=1e-12)
    m = M.KMeans(n_clusters=3, init=place(backend, init)).fit(Xb)
    assert adjusted_rand_score(y, backend.to_numpy(m.labels_)) == 1.0
    assert np.bincount(backend.to_numpy(m.labels_), minlength=3).min() > 0


def test_kmeans_plusplus_picks_distinct_samples(backend):
    X, _ = blobs(n=50, d=2, k=5, seed=5)
    C = backend.to_numpy(M.kmeans_plusplus(place(backend, X), 5, backend.rng(0)))
    assert C.shape == (5, 2)
    hits = [np.flatnonzero((X == c).all(1)) for c in C]
    assert all(len(h) == 1 for h in hits) and len({int(h[0]) for h in hits}) == 5
    C2 = M.kmeans_plusplus(X, 5, pml.get_backend("numpy").rng(0))
    np.testing.assert_array_equal(C, C2)  # host draws: the same seeding everywhere
    if backend.name != "numpy":
        with pytest.raises(TypeError, match="rng must draw on X's backend"):
            M.kmeans_plusplus(place(backend, X), 5, pml.get_backend("numpy").rng(0))


# ------------------------------------------------------------------ PCA
def _pca_data(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ np.diag([4.0, 2.5, 1.5, 0.7, 0.2]) @ np.linalg.qr(rng.normal(size=(d, d)))[0] + 3


def test_pca_matches_sklearn(backend, float_dtype):
    name = dtype_name(float_dtype)
    tol = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-4, atol=2e-4)}[name]
    X = _pca_data()
    Xb = place(backend, X, dtype=name)
    for kwargs in ({"n_components": 3}, {"n_components": 2, "whiten": True}, {}):
        m = M.PCA(**kwargs).fit(Xb)
        ref = SkPCA(**kwargs).fit(X)
        assert_fitted_on(m, backend, float_dtype)
        for attr in ("components_", "explained_variance_", "explained_variance_ratio_", "singular_values_",
                     "mean_", "noise_variance_"):
            assert_close(getattr(m, attr), getattr(ref, attr), **tol, err_msg=f"{kwargs} {attr}")
        assert m.n_components_ == ref.n_components_
        Z = m.transform(Xb)
        assert_close(Z, ref.transform(X), **tol, err_msg=f"{kwargs} transform")
        assert_close(m.inverse_transform(Z), ref.inverse_transform(ref.transform(X)), **tol)
        # components are sign-normalised: the largest-magnitude entry of each is positive
        comp = backend.to_numpy(m.components_)
        assert (comp[np.arange(comp.shape[0]), np.abs(comp).argmax(1)] > 0).all()


def _decaying(n, d, seed=8):
    """Rank-20 signal with a geometrically decaying spectrum plus noise, offset from the origin."""
    g = np.random.default_rng(seed)
    r = min(n, d, 20)
    return (g.normal(size=(n, r)) * (10.0 * 0.7 ** np.arange(r))) @ g.normal(size=(r, d)) \
        + 0.01 * g.normal(size=(n, d)) + 3.0


@pytest.mark.parametrize("shape, k, solver", [
    ((2000, 20), 4, "covariance_eigh"),  # tall: n >= 10 d, d <= 1000
    ((120, 600), 5, "randomized"),       # wide
    ((700, 300), 3, "randomized"),       # k << d
    ((120, 600), 100, "full"),           # k >= 0.8 min(n, d): the full SVD
])
def test_pca_solver_by_shape_matches_sklearn(backend, shape, k, solver):
    """The in-memory solver follows scikit-learn's "auto" rule; every solver gives the exact PCA."""
    X = _decaying(*shape)
    ref = SkPCA(n_components=k).fit(X)
    assert ref._fit_svd_solver == solver
    exact = SkPCA(n_components=k, svd_solver="full").fit(X)
    m = M.PCA(n_components=k).fit(place(backend, X))
    tol = dict(rtol=1e-8, atol=1e-10)
    for attr in ("explained_variance_", "explained_variance_ratio_", "singular_values_", "mean_"):
        assert_close(getattr(m, attr), getattr(exact, attr), **tol, err_msg=attr)
    assert_close(m.noise_variance_, np.float64(exact.noise_variance_), rtol=1e-7, atol=1e-12)
    assert_close(m.components_, exact.components_, rtol=1e-6, atol=1e-8)  # both sign-normalised


def test_pca_full_rank_round_trip_and_variance_fraction(backend):
    X = _pca_data()
    Xb = place(backend, X)
    m = M.PCA().fit(Xb)
    assert_close(m.inverse_transform(m.transform(Xb)), X, rtol=1e-10, atol=1e-10)
    assert_close(backend.xp.sum(m.explained_variance_ratio_), np.float64(1.0), rtol=1e-12)
    frac = M.PCA(n_components=0.9).fit(Xb)
    assert frac.n_components_ == SkPCA(n_components=0.9).fit(X).n_components_


def test_pca_wide_data(backend):
    """Fewer samples than features (Dask's SVD is tall-and-skinny only: the transpose is factored)."""
    X = _pca_data(n=4, d=5, seed=1)
    m = M.PCA().fit(place(backend, X))
    ref = SkPCA().fit(X)
    assert m.n_components_ == 4
    assert_close(m.explained_variance_, ref.explained_variance_, rtol=1e-9, atol=1e-10)
    assert_close(backend.xp.abs(m.components_[:3, :]), np.abs(ref.components_[:3]), rtol=1e-8, atol=1e-9)


def test_pca_needs_two_samples(backend):
    with pytest.raises(ValueError, match="at least 2 samples"):
        M.PCA().fit(place(backend, np.ones((1, 3))))


@pytest.mark.parametrize("kwargs", [{"n_components": 2}, {"n_components": 3, "whiten": True}, {},
                                    {"n_components": 0.85}])
def test_pca_covariance_precision_and_log_likelihood_match_sklearn(backend, float_dtype, kwargs):
    name = dtype_name(float_dtype)
    tol = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-3, atol=2e-3)}[name]
    X = _pca_data()
    X_new = _pca_data(n=20, seed=5)
    m = M.PCA(**kwargs).fit(place(backend, X, dtype=name))
    ref = SkPCA(**kwargs).fit(X)
    assert m.n_components_ == ref.n_components_
    cov = m.get_covariance()
    assert tuple(cov.shape) == (5, 5) and dtype_name(cov.dtype) == name
    assert_close(cov, ref.get_covariance(), **tol)
    assert_close(m.get_precision(), ref.get_precision(), **tol)
    Xb = place(backend, X_new, dtype=name)
    assert_close(m.score_samples(Xb), ref.score_samples(X_new), **tol)
    s = m.score(Xb)
    assert tuple(s.shape) == () and dtype_name(s.dtype) == name
    assert_close(s, np.float64(ref.score(X_new)), **tol)


def test_pca_covariance_with_all_components_is_the_sample_covariance(backend):
    X = _pca_data()
    m = M.PCA().fit(place(backend, X))
    assert_close(m.get_covariance(), np.cov(X.T), rtol=1e-10, atol=1e-12)
    with pytest.raises(M.NotFittedError, match="not fitted"):
        M.PCA().get_covariance()
