"""Synthetic data sets: same seed, same data on every backend; scikit-learn's geometry."""

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import datasets as D
from portable_ml.backend import backend_of

from .helpers import other_device

GENERATORS = {
    "blobs": lambda **kw: D.make_blobs(60, 3, centers=4, cluster_std=0.7, **kw),
    "moons": lambda **kw: D.make_moons(50, noise=0.1, **kw),
    "classification": lambda **kw: D.make_classification(80, 6, n_informative=3, n_redundant=1, n_repeated=1,
                                                         n_classes=3, **kw),
    "regression": lambda **kw: D.make_regression(40, 5, n_informative=3, noise=0.5, bias=2.0, **kw),
}


def _int_default(backend):
    return backend.xp.__array_namespace_info__().default_dtypes()["integral"]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_data_on_every_backend(name, backend):
    make = GENERATORS[name]
    X_ref, y_ref = make(seed=5)  # numpy, float64
    X, y = make(seed=5, backend=backend.name)
    assert backend_of(X) == backend.name and backend_of(y) == backend.name
    assert X.dtype == backend.float_dtype
    assert y.dtype == (backend.float_dtype if name == "regression" else _int_default(backend))
    Xh, yh = backend.to_numpy(X), backend.to_numpy(y)
    np.testing.assert_array_equal(Xh, X_ref.astype(Xh.dtype))
    np.testing.assert_array_equal(yh, y_ref.astype(yh.dtype))
    # seeded: reproducible, and a different seed gives different data
    np.testing.assert_array_equal(backend.to_numpy(make(seed=5, backend=backend.name)[0]), Xh)
    assert not np.array_equal(backend.to_numpy(make(seed=6, backend=backend.name)[0]), Xh)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_device_and_dtype(name, backend, float_dtype):
    X, y = GENERATORS[name](seed=0, backend=backend.name, dtype=float_dtype)
    assert X.dtype == float_dtype
    be = other_device(backend)
    if be is not None:
        from array_api_compat import device

        X, y = GENERATORS[name](seed=0, backend=backend.name, device=be.device)
        assert device(X) == be.device and device(y) == be.device


def test_jax_device_by_name():
    pytest.importorskip("jax")
    import jax

    if len(jax.devices()) < 2:
        pytest.skip("one JAX device")
    X, y = D.make_moons(10, seed=0, backend="jax", device="cpu:1")
    assert X.devices() == {jax.devices()[1]} and y.devices() == {jax.devices()[1]}


# ------------------------------------------------------------------ make_moons
def test_moons_without_noise_are_sklearns_points():
    sk = pytest.importorskip("sklearn.datasets")
    X, y = D.make_moons((30, 21), seed=0)
    Xs, ys = sk.make_moons((30, 21), random_state=0)
    order = np.lexsort((X[:, 1], X[:, 0], y))
    order_s = np.lexsort((Xs[:, 1], Xs[:, 0], ys))
    np.testing.assert_allclose(X[order], Xs[order_s], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(y[order], ys[order_s])
    # unshuffled: outer moon first, on the unit circle's upper half
    X, y = D.make_moons(11, shuffle=False)
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 6)
    np.testing.assert_allclose(np.hypot(X[:5, 0], X[:5, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(X[5:, 0] - 1.0, X[5:, 1] - 0.5), 1.0)


def test_moons_noise_is_gaussian_with_the_given_std():
    X0, y0 = D.make_moons(4000, seed=3)
    X, y = D.make_moons(4000, noise=0.2, seed=3)
    np.testing.assert_array_equal(y, y0)  # shuffle draws come first, as in scikit-learn
    r = (X - X0).ravel()
    assert abs(r.std() - 0.2) < 0.01 and abs(r.mean()) < 0.01


# ------------------------------------------------------------------ make_blobs
def test_blobs_geometry():
    X, y, C = D.make_blobs(3000, 2, centers=3, cluster_std=[0.5, 1.0, 2.0], center_box=(-5, 5), seed=1,
                           return_centers=True)
    assert X.shape == (3000, 2) and C.shape == (3, 2)
    assert np.all((C >= -5) & (C <= 5))
    np.testing.assert_array_equal(np.bincount(y), [1000, 1000, 1000])
    for k, s in enumerate([0.5, 1.0, 2.0]):
        pts = X[y == k]
        assert np.allclose(pts.mean(0), C[k], atol=4 * s / np.sqrt(1000))
        assert np.allclose(pts.std(0), s, rtol=0.1)


def test_blobs_counts_and_given_centers():
    X, y = D.make_blobs(10, centers=3, seed=0, shuffle=False)
    np.testing.assert_array_equal(y, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])  # remainder to the first centres
    C = np.array([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]])
    X, y = D.make_blobs([5, 7], centers=C, cluster_std=0.0, seed=0)
    assert X.shape == (12, 3)
    np.testing.assert_array_equal(X, C[y])
    np.testing.assert_array_equal(np.bincount(y), [5, 7])
    # centres given as another backend's array
    X2, y2 = D.make_blobs([5, 7], centers=pml.get_backend("array_api_strict").asarray(C), cluster_std=0.0, seed=0)
    np.testing.assert_array_equal(X2, X)


# ------------------------------------------------------------------ make_classification
def test_classification_structure():
    n, ni, nr, nrep = 2000, 4, 2, 2
    X, y = D.make_classification(n, 12, n_informative=ni, n_redundant=nr, n_repeated=nrep, n_classes=3,
                                 n_clusters_per_class=2, flip_y=0.0, class_sep=2.0, shuffle=False, seed=0)
    assert X.shape == (n, 12) and set(np.unique(y)) == {0, 1, 2}
    assert abs(np.bincount(y) - n / 3).max() <= 1
    inf = X[:, :ni]
    # redundant features are exact linear combinations of the informative ones
    coef, *_ = np.linalg.lstsq(inf, X[:, ni:ni + nr], rcond=None)
    np.testing.assert_allclose(inf @ coef, X[:, ni:ni + nr], atol=1e-9)
    # repeated features are copies of informative/redundant columns
    for j in range(ni + nr, ni + nr + nrep):
        assert any(np.array_equal(X[:, j], X[:, i]) for i in range(ni + nr))
    # the rest is standard normal noise, uninformative
    noise = X[:, ni + nr + nrep:]
    assert abs(noise.std() - 1) < 0.05 and abs(noise.mean()) < 0.05
    # informative features separate the classes well (cluster centres 2*class_sep apart)
    from sklearn.linear_model import LogisticRegression
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

    acc_inf = QuadraticDiscriminantAnalysis().fit(inf, y).score(inf, y)
    acc_noise = LogisticRegression().fit(noise, y).score(noise, y)
    assert acc_inf > 0.8 and acc_noise < 0.45


def test_classification_matches_sklearn_statistics():
    """Same design as scikit-learn: compare class balance, feature scale and separability."""
    sk = pytest.importorskip("sklearn.datasets")
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    kw = dict(n_samples=1500, n_features=8, n_informative=3, n_redundant=2, n_classes=2, class_sep=1.0)
    X, y = D.make_classification(**kw, seed=0)
    Xs, ys = sk.make_classification(**kw, random_state=0)
    assert abs(y.mean() - ys.mean()) < 0.05
    assert abs(np.linalg.norm(X.std(0)) / np.linalg.norm(Xs.std(0)) - 1) < 0.3
    knn = KNeighborsClassifier(15)
    a, b = cross_val_score(knn, X, y, cv=3).mean(), cross_val_score(knn, Xs, ys, cv=3).mean()
    assert a > 0.8 and b > 0.8 and abs(a - b) < 0.1


def test_classification_weights_flip_shift_scale():
    X, y = D.make_classification(4000, 5, n_informative=2, n_redundant=0, weights=[0.9], flip_y=0.0, seed=1)
    assert abs(y.mean() - 0.1) < 0.01
    _, y_flip = D.make_classification(4000, 5, n_informative=2, n_redundant=0, flip_y=1.0, seed=1)
    assert 0.4 < y_flip.mean() < 0.6
    Xs, _ = D.make_classification(500, 4, n_informative=2, n_redundant=0, shift=None, scale=None, seed=2)
    assert Xs.std(0).max() > 5  # random scales in [1, 101)


def test_classification_bad_input():
    with pytest.raises(ValueError, match="must be <= n_features"):
        D.make_classification(10, 3, n_informative=2, n_redundant=2)
    with pytest.raises(ValueError, match=r"must be <= 2\*\*n_informative"):
        D.make_classification(10, 5, n_informative=2, n_classes=3, n_clusters_per_class=2)
    with pytest.raises(ValueError, match="weights must have n_classes"):
        D.make_classification(10, 5, weights=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        D.make_classification(0)


# ------------------------------------------------------------------ make_regression
def test_regression_is_linear_with_sparse_coefficients():
    X, y, w = D.make_regression(200, 10, n_informative=4, bias=3.0, coef=True, seed=0)
    assert X.shape == (200, 10) and y.shape == (200,) and w.shape == (10,)
    assert np.count_nonzero(w) == 4 and np.all((w >= 0) & (w < 100))
    np.testing.assert_allclose(y, X @ w + 3.0, rtol=1e-12, atol=1e-10)
    X, y, w = D.make_regression(3000, 6, n_informative=6, n_targets=2, noise=2.0, coef=True, seed=1)
    assert y.shape == (3000, 2) and w.shape == (6, 2)
    assert abs((y - X @ w).std() - 2.0) < 0.1
    # unshuffled: the informative coefficients come first
    _, _, w = D.make_regression(50, 8, n_informative=3, coef=True, shuffle=False, seed=2)
    assert np.all(w[:3] > 0) and np.all(w[3:] == 0)


def test_regression_effective_rank_profile():
    X, _ = D.make_regression(300, 50, effective_rank=5, tail_strength=0.1, seed=0)
    s = np.linalg.svd(X, compute_uv=False)
    i = np.arange(50)
    want = 0.9 * np.exp(-((i / 5) ** 2)) + 0.1 * np.exp(-0.1 * i / 5)
    np.testing.assert_allclose(s, np.sort(want)[::-1], rtol=1e-10)


def test_bad_input():
    with pytest.raises(ValueError, match="noise must be non-negative and finite; got noise=-1.0"):
        D.make_moons(10, noise=-1.0)
    with pytest.raises(ValueError, match="n_samples must be an int or a pair of ints"):
        D.make_moons((1, 2, 3))
    with pytest.raises(ValueError, match="cluster_std must be a number or one value per centre"):
        D.make_blobs(10, centers=3, cluster_std=[1.0, 2.0])
    with pytest.raises(ValueError, match="unknown backend"):
        D.make_moons(10, backend="nope")
    with pytest.raises(TypeError, match="real floating dtype"):
        D.make_moons(10, dtype="int64")
    with pytest.raises(ValueError, match=r"tail_strength must be finite and in \[0, 1\]; got tail_strength=2.0"):
        D.make_regression(10, 5, effective_rank=2, tail_strength=2.0)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: D.make_blobs(2.5), TypeError, "n_samples must be an integer; got float 2.5"),
    (lambda: D.make_blobs(10, centers=2.0), TypeError, "centers must be an integer; got float 2.0"),
    (lambda: D.make_moons(True), TypeError, "n_samples must be an integer; got the bool True"),
    (lambda: D.make_moons(10, noise="0.1"), TypeError, "noise must be a real number; got '0.1'"),
    (lambda: D.make_moons(10, noise=float("nan")), ValueError, "noise must be non-negative and finite; got noise=nan"),
    (lambda: D.make_classification(10, 5, flip_y=float("nan")), ValueError, "flip_y must be finite"),
    (lambda: D.make_classification(10, 5, n_informative=2.0), TypeError, "n_informative must be an integer"),
    (lambda: D.make_regression(10, 5, bias="1"), TypeError, "bias must be a real number; got '1'"),
    (lambda: D.make_blobs(10, center_box=(0.0, float("inf"))), ValueError, "center_box must be finite"),
    (lambda: D.make_moons(10, seed=-1), ValueError, "seed must be an integer >= 0; got seed=-1"),
    (lambda: D.make_regression(10, 5, seed=1.5), TypeError, "seed must be an integer; got float 1.5"),
])
def test_options_checked_with_the_shared_vocabulary(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
