"""Synthetic data sets: same seed, same data on every backend; scikit-learn's geometry."""

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import datasets as D
from portable_ml.backend import backend_of

from .helpers import other_device, second_backend

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
    X2, y2 = D.make_blobs([5, 7], centers=second_backend().asarray(C), cluster_std=0.0, seed=0)
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
    LogisticRegression = pytest.importorskip("sklearn.linear_model").LogisticRegression
    QuadraticDiscriminantAnalysis = pytest.importorskip("sklearn.discriminant_analysis").QuadraticDiscriminantAnalysis

    acc_inf = QuadraticDiscriminantAnalysis().fit(inf, y).score(inf, y)
    acc_noise = LogisticRegression().fit(noise, y).score(noise, y)
    assert acc_inf > 0.8 and acc_noise < 0.45


def test_classification_matches_sklearn_statistics():
    """Same design as scikit-learn: compare class balance, feature scale and separability."""
    sk = pytest.importorskip("sklearn.datasets")
    cross_val_score = pytest.importorskip("sklearn.model_selection").cross_val_score
    KNeighborsClassifier = pytest.importorskip("sklearn.neighbors").KNeighborsClassifier

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


# ------------------------------------------------------------------ train_test_split
def _rows_as_ids(backend, a):
    """Column 0 of a split ``X`` built as ``X[:, 0] = row index``: the rows it holds."""
    return backend.to_numpy(a)[:, 0].astype(np.int64)


def test_train_test_split_same_split_on_every_backend(backend):
    rng = np.random.default_rng()
    n = int(rng.integers(8, 60))
    X = np.column_stack([np.arange(n), rng.normal(size=n)])
    y = rng.integers(0, 3, size=n)
    ref = D.train_test_split(X, y, seed=11)  # numpy
    out = D.train_test_split(backend.asarray(X), backend.asarray(y), seed=11)
    assert len(out) == 4
    for got, want in zip(out, ref):
        assert backend_of(got) == backend.name
        np.testing.assert_array_equal(backend.to_numpy(got), want)
    X_tr, X_te, y_tr, y_te = (backend.to_numpy(a) for a in out)
    # scikit-learn's sizes: ceil(test_size * n) test rows
    sk_split = pytest.importorskip("sklearn.model_selection").train_test_split

    sk = sk_split(X, test_size=0.25, random_state=0)
    assert (X_tr.shape[0], X_te.shape[0]) == (sk[0].shape[0], sk[1].shape[0])
    # a partition of the rows, rows kept together with their labels
    ids = np.concatenate([X_tr[:, 0], X_te[:, 0]]).astype(np.int64)
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))
    np.testing.assert_array_equal(y_tr, y[X_tr[:, 0].astype(np.int64)])
    np.testing.assert_array_equal(y_te, y[X_te[:, 0].astype(np.int64)])
    # a seed decides: another seed, another split
    other = D.train_test_split(X, seed=12, test_size=0.5)[1]
    assert not np.array_equal(other, D.train_test_split(X, seed=11, test_size=0.5)[1])


@pytest.mark.parametrize("test_size, n_test", [(0.25, 13), (0.3, 16), (0.5, 26), (0.98, 50), (7, 7), (50, 50)])
def test_train_test_split_sizes_are_sklearns(test_size, n_test):
    sk_split = pytest.importorskip("sklearn.model_selection").train_test_split

    X = np.arange(51.0)[:, None]
    tr, te = D.train_test_split(X, test_size=test_size, seed=0)
    sk_tr, sk_te = sk_split(X, test_size=test_size, random_state=0)
    assert te.shape[0] == sk_te.shape[0] == n_test and tr.shape[0] == sk_tr.shape[0] == 51 - n_test


def test_train_test_split_arrays_stay_on_their_device(backend):
    be = other_device(backend)
    if be is None:
        pytest.skip("one device")
    from array_api_compat import device

    X = be.asarray(np.arange(20.0).reshape(10, 2))
    for part in D.train_test_split(X, X[:, 0], seed=0):
        assert device(part) == be.device


def test_train_test_split_stratified_keeps_class_proportions(backend):
    sk_split = pytest.importorskip("sklearn.model_selection").train_test_split

    # class counts 10, 23, 37 (n = 70, 21 test rows): no ties among the remainders, so scikit-learn's
    # allocation is deterministic -- 3, 7 and 11 test rows -- and ours must be the same
    y = np.repeat([0, 1, 2], [10, 23, 37])
    y = np.random.default_rng().permutation(y)
    X = np.column_stack([np.arange(70.0), y])
    sk_te = sk_split(X, test_size=0.3, stratify=y, random_state=0)[1]
    want = np.bincount(sk_te[:, 1].astype(np.int64), minlength=3)
    np.testing.assert_array_equal(want, [3, 7, 11])
    for seed in range(3):
        tr, te, y_tr, y_te = D.train_test_split(backend.asarray(X), backend.asarray(y), test_size=0.3, seed=seed,
                                                stratify=backend.asarray(y))
        np.testing.assert_array_equal(np.bincount(backend.to_numpy(y_te), minlength=3), want)
        np.testing.assert_array_equal(np.bincount(backend.to_numpy(y_tr), minlength=3), [7, 16, 26])
        ids = np.concatenate([_rows_as_ids(backend, tr), _rows_as_ids(backend, te)])
        np.testing.assert_array_equal(np.sort(ids), np.arange(70))
    # the same stratified split on every backend
    ref = D.train_test_split(X, test_size=0.3, seed=4, stratify=y)[1]
    np.testing.assert_array_equal(
        backend.to_numpy(D.train_test_split(backend.asarray(X), test_size=0.3, seed=4, stratify=backend.asarray(y))[1]),
        ref)


def test_train_test_split_stratified_proportions_on_fresh_labels():
    rng = np.random.default_rng()
    k = int(rng.integers(2, 6))
    y = rng.integers(0, k, size=int(rng.integers(60, 200)))
    y[: 2 * k] = np.repeat(np.arange(k), 2)
    counts = np.bincount(y, minlength=k)
    for test_size in (0.2, 0.5, 17):
        _, te = D.train_test_split(y, test_size=test_size, stratify=y, seed=int(rng.integers(1000)))
        n_test = te.shape[0]
        # every class within one row of its exact share, as scikit-learn's largest-remainder allocation
        assert np.all(np.abs(np.bincount(te, minlength=k) - counts * n_test / y.size) < 1)
        assert n_test == (test_size if isinstance(test_size, int) else int(np.ceil(test_size * y.size)))


def test_train_test_split_bad_input(backend):
    X = backend.asarray(np.zeros((10, 2)))
    y = backend.asarray(np.arange(10) % 2)
    with pytest.raises(TypeError, match="needs at least one array"):
        D.train_test_split()
    with pytest.raises(ValueError, match=r"the arrays must have the same number of rows \(samples\); got arrays\[0\]: 10, arrays\[1\]: 9"):
        D.train_test_split(X, y[:9])
    with pytest.raises(TypeError, match=r"arrays\[1\]: expected an array"):
        D.train_test_split(X, [0] * 10)
    with pytest.raises(ValueError, match=r"test_size must be finite and in \(0, 1\); got test_size=1.5"):
        D.train_test_split(X, test_size=1.5)
    with pytest.raises(ValueError, match=r"test_size=10 must be an int in \[1, n_samples\) = \[1, 10\)"):
        D.train_test_split(X, test_size=10)
    with pytest.raises(TypeError, match="test_size must be a float in"):
        D.train_test_split(X, test_size="0.2")
    with pytest.raises(ValueError, match="the training set would be empty"):
        D.train_test_split(X, test_size=0.95)
    sk_split = pytest.importorskip("sklearn.model_selection").train_test_split

    with pytest.raises(ValueError, match="train set will be empty"):  # scikit-learn refuses it too
        sk_split(np.zeros((10, 2)), test_size=0.95)
    with pytest.raises(ValueError, match=r"must have at least one dimension"):
        D.train_test_split(backend.asarray(np.float64(1.0)))
    with pytest.raises(ValueError, match=r"stratify must be a 1-D array of one label per row \(10\)"):
        D.train_test_split(X, stratify=y[:5])
    with pytest.raises(ValueError, match="the least populated class has 1 member"):
        D.train_test_split(X, stratify=backend.asarray(np.r_[np.zeros(9, dtype=np.int64), 1]))
    with pytest.raises(ValueError, match=r"at least as many rows as there are classes \(5\)"):
        D.train_test_split(X, test_size=0.2, stratify=backend.asarray(np.arange(10) % 5))
    with pytest.raises(ValueError, match="seed must be an integer >= 0; got seed=-3"):
        D.train_test_split(X, seed=-3)


# ------------------------------------------------------------------ minibatches
def test_minibatches_same_batches_on_every_backend(backend):
    from portable_ml.random import Generator

    rng = np.random.default_rng()
    n, b = int(rng.integers(5, 40)), int(rng.integers(1, 9))
    X = np.column_stack([np.arange(n), rng.normal(size=n)])
    y = np.arange(n) * 10
    batches = D.minibatches(backend.asarray(X), backend.asarray(y), batch_size=b, rng=backend.rng(7))
    assert len(batches) == -(-n // b)
    got = list(batches)
    assert len(got) == -(-n // b)
    ref = list(D.minibatches(X, y, batch_size=b, rng=Generator("numpy", 7)))
    order = Generator("numpy", 7).permutation(n)  # the rows come in the order of rng.permutation(n)
    for i, ((xb, yb), (xr, yr)) in enumerate(zip(got, ref)):
        assert backend_of(xb) == backend.name and backend_of(yb) == backend.name
        np.testing.assert_array_equal(backend.to_numpy(xb), xr)
        np.testing.assert_array_equal(backend.to_numpy(yb), yr)
        np.testing.assert_array_equal(backend.to_numpy(xb)[:, 0], order[i * b:(i + 1) * b])
        np.testing.assert_array_equal(backend.to_numpy(yb), 10 * order[i * b:(i + 1) * b])
    # one generator: each call is a new epoch in a new order (n >= 5: a repeat has probability <= 1/120)
    rng2 = backend.rng(7)
    first = np.concatenate([backend.to_numpy(yb) for _, yb in D.minibatches(backend.asarray(X), backend.asarray(y),
                                                                            batch_size=b, rng=rng2)])
    second = np.concatenate([backend.to_numpy(yb) for _, yb in D.minibatches(backend.asarray(X), backend.asarray(y),
                                                                             batch_size=b, rng=rng2)])
    assert not np.array_equal(first, second) and np.array_equal(np.sort(first), np.sort(second))


def test_minibatches_drop_last_and_in_order(backend):
    X = backend.asarray(np.arange(22.0).reshape(11, 2))
    sizes = [int(xb.shape[0]) for xb in D.minibatches(X, batch_size=4, rng=backend.rng(0), drop_last=True)]
    assert sizes == [4, 4]
    batches = D.minibatches(X, batch_size=4, rng=None, shuffle=False)
    assert len(batches) == 3
    got = [backend.to_numpy(xb) for xb in batches]
    np.testing.assert_array_equal(np.concatenate(got), np.arange(22.0).reshape(11, 2))
    assert [g.shape[0] for g in got] == [4, 4, 3]
    assert len(D.minibatches(X, batch_size=11, rng=None, shuffle=False, drop_last=True)) == 1
    assert len(D.minibatches(X, batch_size=12, rng=backend.rng(0), drop_last=True)) == 0
    be = other_device(backend)
    if be is not None:
        from array_api_compat import device

        Xo = be.asarray(np.arange(10.0).reshape(5, 2))
        for xb, yb in D.minibatches(Xo, Xo[:, 0], batch_size=2, rng=be.rng(1)):
            assert device(xb) == be.device and device(yb) == be.device


def test_minibatches_bad_input(backend):
    X = backend.asarray(np.zeros((6, 2)))
    with pytest.raises(TypeError, match="rng must be a portable_ml.random.Generator"):
        D.minibatches(X, batch_size=2, rng=0)
    with pytest.raises(TypeError, match="rng must be a portable_ml.random.Generator"):
        D.minibatches(X, batch_size=2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1; got batch_size=0"):
        D.minibatches(X, batch_size=0, rng=backend.rng(0))
    with pytest.raises(TypeError, match="batch_size must be an integer; got float 2.0"):
        D.minibatches(X, batch_size=2.0, rng=backend.rng(0))
    with pytest.raises(ValueError, match=r"same number of rows \(samples\); got X: 6, y: 5"):
        D.minibatches(X, backend.asarray(np.zeros(5)), batch_size=2, rng=backend.rng(0))
    with pytest.raises(TypeError, match="drop_last must be True or False"):
        D.minibatches(X, batch_size=2, rng=backend.rng(0), drop_last="no")
    with pytest.raises(TypeError, match="missing 2 required keyword-only arguments"):
        D.minibatches(X)
    if backend.name != "numpy":
        with pytest.raises(TypeError, match="arrays from different backends cannot be mixed"):
            D.minibatches(X, np.zeros(6), batch_size=2, rng=backend.rng(0))


# ------------------------------------------------------------------ resample
def _imbalanced(rng):
    counts = rng.permutation([int(rng.integers(2, 6)), int(rng.integers(8, 15)), int(rng.integers(20, 30))])
    y = rng.permutation(np.repeat([0, 1, 2], counts))
    return np.column_stack([np.arange(y.size), y]).astype(np.float64), y, counts


def test_resample_over_balances_by_drawing_with_replacement(backend):
    from portable_ml.random import Generator

    X, y, counts = _imbalanced(np.random.default_rng())
    Xr, yr = D.resample(backend.asarray(X), backend.asarray(y), strategy="over", rng=backend.rng(3))
    assert backend_of(Xr) == backend.name and backend_of(yr) == backend.name
    Xr, yr = backend.to_numpy(Xr), backend.to_numpy(yr)
    np.testing.assert_array_equal(np.bincount(yr), [counts.max()] * 3)
    np.testing.assert_array_equal(Xr[: y.size], X)  # every row kept, in order, extra rows appended
    ids = Xr[:, 0].astype(np.int64)
    np.testing.assert_array_equal(y[ids], yr)  # each extra row is a row of its class
    np.testing.assert_array_equal(Xr, X[ids])
    ref = D.resample(X, y, strategy="over", rng=Generator("numpy", 3))  # the same rows on every backend
    np.testing.assert_array_equal(Xr, ref[0])


def test_resample_under_balances_without_replacement(backend):
    from portable_ml.random import Generator

    X, y, counts = _imbalanced(np.random.default_rng())
    Xr, yr = D.resample(backend.asarray(X), backend.asarray(y), strategy="under", rng=backend.rng(5))
    Xr, yr = backend.to_numpy(Xr), backend.to_numpy(yr)
    np.testing.assert_array_equal(np.bincount(yr), [counts.min()] * 3)
    ids = Xr[:, 0].astype(np.int64)
    assert np.unique(ids).size == ids.size  # no row twice
    np.testing.assert_array_equal(y[ids], yr)
    np.testing.assert_array_equal(yr, np.repeat([0, 1, 2], counts.min()))  # grouped by class
    small = int(np.argmin(counts))
    np.testing.assert_array_equal(ids[yr == small], np.flatnonzero(y == small))  # the smallest class whole
    ref = D.resample(X, y, strategy="under", rng=Generator("numpy", 5))
    np.testing.assert_array_equal(Xr, ref[0])
    assert not np.array_equal(Xr, D.resample(X, y, strategy="under", rng=Generator("numpy", 6))[0])


def test_resample_bad_input(backend):
    X = backend.asarray(np.zeros((6, 2)))
    y = backend.asarray(np.array([0, 0, 0, 1, 1, 2]))
    with pytest.raises(ValueError, match="strategy must be one of 'over', 'under'; got strategy='smote'"):
        D.resample(X, y, strategy="smote", rng=backend.rng(0))
    with pytest.raises(TypeError, match="rng must be a portable_ml.random.Generator"):
        D.resample(X, y, rng=1)
    with pytest.raises(ValueError, match=r"y must be 1-D \(one label per row\)"):
        D.resample(X, X, rng=backend.rng(0))
    with pytest.raises(ValueError, match=r"got X: 6, y: 5"):
        D.resample(X, y[:5], rng=backend.rng(0))
    with pytest.raises(ValueError, match="must not be empty"):
        D.resample(X[:0, :], y[:0], rng=backend.rng(0))
