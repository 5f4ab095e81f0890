"""silhouette_score and adjusted_rand_index against scikit-learn, on every backend."""

import numpy as np
import pytest

from portable_ml import metrics as M
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all

skm = optional_module("sklearn.metrics")


def host(backend, x):
    return float(np.asarray(backend.to_numpy(x), dtype=np.float64))


@pytest.mark.parametrize("k", [2, 3, 7])
def test_silhouette_vs_sklearn(backend, float_dtype, k):
    rng = np.random.default_rng(k)
    centers = rng.normal(scale=3.0, size=(k, 4))
    labels = rng.integers(0, k, 150)
    X = centers[labels] + rng.normal(size=(150, 4))
    labels[0] = k + 1  # a singleton cluster (s = 0) and an empty index k
    dt = dtype_name(float_dtype)
    Xt, lt = place_all(backend, X, labels, dtype=dt)
    got = M.silhouette_score(Xt, lt)
    assert backend_of(got) == backend.name and got.dtype == float_dtype and tuple(got.shape) == ()
    want = skm.silhouette_score(np.asarray(X, dtype=dt), labels)
    assert_close(got, want, rtol=1e-4 if dt == "float32" else 1e-9, err_msg=f"k={k}")
    assert_close(M.silhouette_score(Xt, lt, num_classes=k + 4), want, rtol=1e-4 if dt == "float32" else 1e-9)


def test_silhouette_sklearn_fixtures(backend):
    """scikit-learn's test_correct_labelsize / cluster-size-1 cases, and a hand-computed value."""
    X = np.array([[0.0], [1.0], [1.0], [2.0], [3.0], [3.0]])
    labels = np.array([0, 0, 1, 1, 2, 2])
    Xt, lt = place_all(backend, X, labels)
    np.testing.assert_allclose(host(backend, M.silhouette_score(Xt, lt)), skm.silhouette_score(X, labels))
    # scikit-learn's test_cluster_size_1: singletons score 0
    X = np.array([[0.0], [1.0], [1.0], [2.0], [3.0], [3.0]])
    labels = np.array([0, 1, 1, 1, 2, 2])
    np.testing.assert_allclose(host(backend, M.silhouette_score(*place_all(backend, X, labels))),
                               skm.silhouette_score(X, labels))


@pytest.mark.parametrize("k", [2, 5])
def test_adjusted_rand_index_vs_sklearn(backend, float_dtype, k):
    rng = np.random.default_rng(10 + k)
    a = rng.integers(0, k, 300)
    b = np.where(rng.uniform(size=300) < 0.7, a, rng.integers(0, k + 2, 300))
    dt = dtype_name(float_dtype)
    at, bt = place_all(backend, a.astype(np.float64), b, dtype=dt)
    got = M.adjusted_rand_index(at, bt)
    assert backend_of(got) == backend.name and got.dtype == float_dtype and tuple(got.shape) == ()
    assert_close(got, skm.adjusted_rand_score(a, b))
    assert_close(M.adjusted_rand_index(at, bt, num_classes=k + 5), skm.adjusted_rand_score(a, b))
    # symmetric, and invariant under relabelling
    assert_close(M.adjusted_rand_index(bt, at), skm.adjusted_rand_score(a, b))
    perm = rng.permutation(k)
    assert_close(M.adjusted_rand_index(*place_all(backend, perm[a].astype(np.float64), b, dtype=dt)),
                 skm.adjusted_rand_score(a, b))


def test_adjusted_rand_index_sklearn_fixtures(backend):
    """scikit-learn's test_perfect_matches / docstring values."""
    def ari(a, b):
        return host(backend, M.adjusted_rand_index(*place_all(backend, np.array(a), np.array(b))))

    assert ari([0, 0, 1, 1], [0, 0, 1, 1]) == pytest.approx(1.0)
    assert ari([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(1.0)
    assert ari([0, 0, 1, 2], [0, 0, 1, 1]) == pytest.approx(0.57, abs=5e-3)
    assert ari([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.57, abs=5e-3)
    assert ari([0, 0, 0, 0], [0, 1, 2, 3]) == pytest.approx(0.0)
    assert ari([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert ari([0, 0, 0], [0, 0, 0]) == 1.0
    assert ari([0], [0]) == 1.0


def test_jitted_equals_eager():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    rng = np.random.default_rng(5)
    X = jnp.asarray(rng.normal(size=(40, 3)))
    a, b = jnp.asarray(rng.integers(0, 3, 40)), jnp.asarray(rng.integers(0, 4, 40))
    np.testing.assert_allclose(float(jax.jit(lambda x, l: M.silhouette_score(x, l, num_classes=3))(X, a)),
                               float(M.silhouette_score(X, a)), rtol=1e-5)
    np.testing.assert_allclose(float(jax.jit(lambda u, v: M.adjusted_rand_index(u, v, num_classes=4))(a, b)),
                               float(M.adjusted_rand_index(a, b)), rtol=1e-5)
    with pytest.raises(ValueError, match="num_classes must be given"):
        jax.jit(M.silhouette_score)(X, a)


def test_errors(backend):
    X, lab = place_all(backend, np.ones((4, 2)), np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="same number of samples"):
        M.silhouette_score(X, place(backend, np.array([0, 1, 1])))
    with pytest.raises(ValueError, match="X"):
        M.silhouette_score(place(backend, np.ones(4)), lab)
    with pytest.raises(ValueError, match="same shape"):
        M.adjusted_rand_index(lab, place(backend, np.array([0, 1])))
    if backend.name not in ("jax", "dask"):
        with pytest.raises(ValueError, match="number of clusters"):
            M.silhouette_score(X, place(backend, np.array([1, 1, 1, 1])))
        with pytest.raises(ValueError, match="number of clusters"):
            M.silhouette_score(X, place(backend, np.array([0, 1, 2, 3])))
