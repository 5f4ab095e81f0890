"""Synthetic data sets with scikit-learn's generators' arguments, on any backend.

Every generator draws on the host with ``numpy.random.default_rng(seed)`` in
float64 and then places the result with :meth:`portable_ml.Backend.asarray`,
so **the same seed gives the same data on every backend and device** (up to
the final cast to the backend's float dtype).  Arguments follow
``sklearn.datasets`` (``random_state`` is called ``seed``); the algorithms
are scikit-learn's, but since they draw from NumPy's ``Generator`` (PCG64)
rather than the legacy ``RandomState``, the values differ from
scikit-learn's for the same integer seed while the distributions are the
same.

Returned ``X`` has the backend's default float dtype (or ``dtype``);
classification labels ``y`` have the backend's default integer dtype.

Splitting and batching existing data (:func:`train_test_split`,
:func:`minibatches`, :func:`resample`) draws its indices the same way, on the
host from a seed or a :class:`portable_ml.random.Generator`, and gathers the
rows on the arrays' own backend and device: the same seed selects the same
rows on every backend, and the data never leave the device.
"""

from __future__ import annotations

import numpy as np

import math
import numbers

from ._validate import check_array, check_bool, check_choice, check_int, check_real, check_seed
from ._xp import array_namespace, device_of
from .backend import backend_of, get_backend, to_numpy

__all__ = ["make_blobs", "make_moons", "make_classification", "make_regression",
           "train_test_split", "minibatches", "resample"]


# ------------------------------------------------------------------ helpers
def _host(obj):
    """Host NumPy float64 array of array-like ``obj`` (any backend's array, list, ...)."""
    return np.asarray(to_numpy(obj) if backend_of(obj) not in (None, "numpy") else obj, dtype=np.float64)


def _place(X, y, backend, device, dtype, classification):
    be = get_backend(backend, device)
    if dtype is not None and isinstance(dtype, str):
        dtype = getattr(be.xp, dtype)
    fdt = be.float_dtype if dtype is None else dtype
    if not be.xp.isdtype(fdt, "real floating"):
        raise TypeError(f"dtype must be a real floating dtype of the {be.name} backend; got {dtype!r}")
    Xb = be.asarray(X, dtype=fdt)
    if classification:
        info = be.xp.__array_namespace_info__()
        try:
            idt = info.default_dtypes(device=be.device)["integral"]
        except Exception:
            idt = info.default_dtypes()["integral"]
        yb = be.asarray(y, dtype=idt)
    else:
        yb = be.asarray(y, dtype=fdt)
    return be, Xb, yb


def _shuffle_rows(gen, *arrays):
    perm = gen.permutation(arrays[0].shape[0])
    return tuple(a[perm] for a in arrays)


# ------------------------------------------------------------------ generators
def make_blobs(n_samples=100, n_features=2, *, centers=None, cluster_std=1.0, center_box=(-10.0, 10.0),
               shuffle=True, seed=None, return_centers=False, backend=None, device=None, dtype=None):
    r"""Isotropic Gaussian blobs for clustering (as ``sklearn.datasets.make_blobs``).

    Sample :math:`i` of cluster :math:`k` is :math:`x_i \sim \mathcal N(c_k, \sigma_k^2 I)`.

    Parameters
    ----------
    n_samples : int or sequence of int
        Total number of points, split as equally as possible among the
        centres (the first ``n_samples % k`` get one more), or the number of
        points per centre.
    n_features : int
        Dimension (ignored when ``centers`` is an array).
    centers : int or array of shape (k, n_features), optional
        Number of centres drawn uniformly in ``center_box`` (default 3 when
        ``n_samples`` is an int), or the centres themselves.
    cluster_std : float or sequence of float
        Standard deviation of every cluster, or one per cluster.
    center_box : (float, float)
        Bounds of the random centres.
    shuffle : bool
        Shuffle the samples (otherwise they come grouped by cluster).
    seed : int, optional
        Seed of the host generator (``None``: fresh entropy).
    return_centers : bool
        Also return the centres (float array of shape (k, n_features)).
    backend, device
        Where the arrays are placed (:func:`portable_ml.get_backend`).
    dtype : dtype or str, optional
        Floating dtype of ``X`` (default: the backend's float dtype).

    Returns
    -------
    X : array of shape (n_samples, n_features)
    y : integer array of shape (n_samples,)
        Cluster index of each sample, in ``[0, k)``.
    centers : array of shape (k, n_features)
        Only with ``return_centers=True``.
    """
    gen = np.random.default_rng(check_seed(seed))
    n_features = check_int(n_features, "n_features", low=1)
    lo, hi = (check_real(v, "center_box") for v in center_box)
    if not lo <= hi:
        raise ValueError(f"center_box must be (low, high) with low <= high; got center_box={center_box!r}")
    if not hasattr(n_samples, "__len__"):  # one count (checked); else one count per part
        n_total = check_int(n_samples, "n_samples", low=1)
        if centers is None:
            centers = 3
        if not hasattr(centers, "__len__") and not hasattr(centers, "shape"):
            k = check_int(centers, "centers", low=1)
            C = gen.uniform(lo, hi, size=(k, n_features))
        else:
            C = _host(centers)
            if C.ndim != 2:
                raise ValueError(f"centers must be an int or an array of shape (k, n_features); got shape {C.shape}")
            k, n_features = C.shape
        counts = np.full(k, n_total // k)
        counts[: n_total % k] += 1
    else:
        counts = np.asarray(list(n_samples))
        if counts.ndim != 1 or counts.size == 0 or counts.dtype.kind not in "iu" or (counts < 0).any():
            raise ValueError(f"n_samples must be a positive int or a sequence of non-negative ints; got {n_samples!r}")
        k = counts.size
        if centers is None:
            C = gen.uniform(lo, hi, size=(k, n_features))
        else:
            C = _host(centers)
            if C.ndim != 2 or C.shape[0] != k:
                raise ValueError(f"centers must have one row per entry of n_samples ({k}); got shape {C.shape}")
            n_features = C.shape[1]
    std = np.asarray(to_numpy(cluster_std), dtype=np.float64)
    if std.ndim == 0:
        std = np.full(k, float(std))
    if std.shape != (k,):
        raise ValueError(f"cluster_std must be a number or one value per centre ({k}); got {cluster_std!r}")
    if (std < 0).any():
        raise ValueError(f"cluster_std must be non-negative; got {cluster_std!r}")
    y = np.repeat(np.arange(k), counts)
    X = C[y] + std[y, None] * gen.standard_normal((y.size, n_features))
    if shuffle:
        X, y = _shuffle_rows(gen, X, y)
    be, Xb, yb = _place(X, y, backend, device, dtype, True)
    if return_centers:
        return Xb, yb, be.asarray(C, dtype=Xb.dtype)
    return Xb, yb


def make_moons(n_samples=100, *, shuffle=True, noise=None, seed=None, backend=None, device=None, dtype=None):
    r"""Two interleaving half circles (as ``sklearn.datasets.make_moons``).

    The outer moon is :math:`(\cos t, \sin t)`, the inner one
    :math:`(1 - \cos t, \tfrac12 - \sin t)`, with :math:`t` evenly spaced on
    :math:`[0, \pi]`; Gaussian noise of standard deviation ``noise`` is then
    added to every coordinate.

    Parameters
    ----------
    n_samples : int or (int, int)
        Total number of points (the outer moon gets ``n_samples // 2``), or
        ``(n_outer, n_inner)``.
    shuffle : bool
        Shuffle the samples.
    noise : float, optional
        Standard deviation of the Gaussian noise (``None``: none).
    seed, backend, device, dtype
        As in :func:`make_blobs`.

    Returns
    -------
    X : array of shape (n_samples, 2)
    y : integer array of shape (n_samples,)
        0 for the outer moon, 1 for the inner one.
    """
    if not hasattr(n_samples, "__len__"):  # one count (checked); else one count per part
        n = check_int(n_samples, "n_samples", low=1)
        n_out, n_in = n // 2, n - n // 2
    else:
        try:
            n_out, n_in = n_samples
        except (TypeError, ValueError):
            raise ValueError(f"n_samples must be an int or a pair of ints; got n_samples={n_samples!r}") from None
        n_out, n_in = check_int(n_out, "n_samples[0]", low=0), check_int(n_in, "n_samples[1]", low=0)
    if noise is not None:
        noise = check_real(noise, "noise", low=0.0)
    gen = np.random.default_rng(check_seed(seed))
    t_out, t_in = np.linspace(0.0, np.pi, n_out), np.linspace(0.0, np.pi, n_in)
    X = np.concatenate([
        np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
        np.stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1),
    ])
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
    if shuffle:
        X, y = _shuffle_rows(gen, X, y)
    if noise is not None:
        X = X + gen.normal(0.0, noise, size=X.shape)
    return _place(X, y, backend, device, dtype, True)[1:]


def _hypercube_vertices(n, d, gen):
    """``n`` distinct vertices of {0, 1}^d (distinct while d <= 30, as scikit-learn)."""
    if d > 30:
        return np.hstack([gen.integers(0, 2, size=(n, d - 30)), _hypercube_vertices(n, 30, gen)])
    codes = gen.choice(2 ** d, size=n, replace=False)
    return (codes[:, None] >> np.arange(d)) & 1


def make_classification(n_samples=100, n_features=20, *, n_informative=2, n_redundant=2, n_repeated=0,
                        n_classes=2, n_clusters_per_class=2, weights=None, flip_y=0.01, class_sep=1.0,
                        hypercube=True, shift=0.0, scale=1.0, shuffle=True, seed=None,
                        backend=None, device=None, dtype=None):
    r"""Random n-class problem (Guyon's Madelon design, as ``sklearn.datasets.make_classification``).

    Each class is made of ``n_clusters_per_class`` Gaussian clusters whose
    centres are distinct vertices of a hypercube of side ``2 * class_sep`` in
    the ``n_informative`` informative dimensions; each cluster gets a random
    covariance (:math:`x \mapsto xA`, :math:`A_{ij} \sim U(-1, 1)`).  Then come
    ``n_redundant`` random linear combinations of the informative features,
    ``n_repeated`` copies of informative/redundant ones and standard normal
    noise features.  A fraction ``flip_y`` of labels is redrawn at random;
    features are shifted by ``shift`` and multiplied by ``scale`` (``None``:
    random, as scikit-learn).  With ``shuffle`` the samples *and the feature
    columns* are permuted; otherwise the informative features come first.

    Parameters
    ----------
    n_samples, n_features : int
        Number of samples and of features.
    n_informative, n_redundant, n_repeated : int
        Number of informative, redundant (linear combinations) and repeated features.
    n_classes, n_clusters_per_class : int
        Number of classes and of Gaussian clusters per class.
    weights : sequence of float, optional
        Class proportions (length ``n_classes`` or ``n_classes - 1``; default equal).
    flip_y : float
        Fraction of labels redrawn uniformly at random.
    class_sep : float
        Half the side of the hypercube on whose vertices the clusters sit.
    hypercube : bool
        Clusters on the vertices of a hypercube (else of a random polytope).
    shift, scale : float, array of shape (n_features,) or None
        Added to, then multiplied with, the features (``None``: random).
    shuffle : bool
        Shuffle the samples and the feature columns.
    seed, backend, device, dtype
        As in :func:`make_blobs`.

    Returns
    -------
    X : array of shape (n_samples, n_features)
    y : integer array of shape (n_samples,)
        Labels in ``[0, n_classes)``.

    Raises
    ------
    ValueError
        If ``n_informative + n_redundant + n_repeated > n_features``, or
        ``n_classes * n_clusters_per_class > 2 ** n_informative``, or
        ``weights`` has the wrong length.
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    n_features = check_int(n_features, "n_features", low=1)
    n_informative = check_int(n_informative, "n_informative", low=1)
    n_redundant = check_int(n_redundant, "n_redundant", low=0)
    n_repeated = check_int(n_repeated, "n_repeated", low=0)
    n_classes = check_int(n_classes, "n_classes", low=1)
    n_clusters_per_class = check_int(n_clusters_per_class, "n_clusters_per_class", low=1)
    flip_y = check_real(flip_y, "flip_y", low=0.0, high=1.0)
    class_sep = check_real(class_sep, "class_sep", low=0.0)
    if n_informative + n_redundant + n_repeated > n_features:
        raise ValueError(f"n_informative + n_redundant + n_repeated = {n_informative + n_redundant + n_repeated} "
                         f"must be <= n_features = {n_features}")
    n_clusters = n_classes * n_clusters_per_class
    if np.log2(n_clusters) > n_informative:
        raise ValueError(f"n_classes * n_clusters_per_class = {n_clusters} must be <= "
                         f"2**n_informative = {2 ** n_informative}")
    if weights is None:
        w = np.full(n_classes, 1.0 / n_classes)
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size == n_classes - 1:
            w = np.append(w, 1.0 - w.sum())
        if w.size != n_classes:
            raise ValueError(f"weights must have n_classes ({n_classes}) or n_classes - 1 entries; "
                             f"got {np.asarray(weights).size}")
    gen = np.random.default_rng(check_seed(seed))
    n_random = n_features - n_informative - n_redundant - n_repeated

    counts = np.array([int(n_samples * w[k % n_classes] / n_clusters_per_class) for k in range(n_clusters)])
    np.add.at(counts, np.arange(n_samples - counts.sum()) % n_clusters, 1)
    cluster = np.repeat(np.arange(n_clusters), counts)
    y = cluster % n_classes

    centroids = _hypercube_vertices(n_clusters, n_informative, gen).astype(np.float64) * (2 * class_sep) - class_sep
    if not hypercube:
        centroids = centroids * gen.uniform(size=(n_clusters, 1)) * gen.uniform(size=(1, n_informative))

    # informative features: per-cluster random covariance, then shift to its vertex
    Z = gen.standard_normal((n_samples, n_informative))
    A = 2.0 * gen.uniform(size=(n_clusters, n_informative, n_informative)) - 1.0
    informative = np.empty_like(Z)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for k in range(n_clusters):  # a loop over clusters (few), not samples
        s, e = starts[k], starts[k + 1]
        informative[s:e] = Z[s:e] @ A[k] + centroids[k]
    parts = [informative]
    if n_redundant:
        B = 2.0 * gen.uniform(size=(n_informative, n_redundant)) - 1.0
        parts.append(informative @ B)
    if n_repeated:
        base = np.concatenate(parts, axis=1)
        idx = ((base.shape[1] - 1) * gen.uniform(size=n_repeated) + 0.5).astype(np.intp)
        parts.append(base[:, idx])
    if n_random:
        parts.append(gen.standard_normal((n_samples, n_random)))
    X = np.concatenate(parts, axis=1)

    if flip_y > 0.0:
        flip = gen.uniform(size=n_samples) < flip_y
        y = np.where(flip, gen.integers(0, n_classes, size=n_samples), y)
    shift = (2.0 * gen.uniform(size=n_features) - 1.0) * class_sep if shift is None else _host(shift)
    scale = 1.0 + 100.0 * gen.uniform(size=n_features) if scale is None else _host(scale)
    X = (X + shift) * scale
    if shuffle:
        X, y = _shuffle_rows(gen, X, y)
        X = X[:, gen.permutation(n_features)]
    return _place(X, y, backend, device, dtype, True)[1:]


def make_regression(n_samples=100, n_features=100, *, n_informative=10, n_targets=1, bias=0.0,
                    effective_rank=None, tail_strength=0.5, noise=0.0, shuffle=True, coef=False,
                    seed=None, backend=None, device=None, dtype=None):
    r"""Random linear regression problem (as ``sklearn.datasets.make_regression``).

    .. math:: y = X w + \text{bias} + \varepsilon,\qquad \varepsilon \sim \mathcal N(0, \text{noise}^2)

    where only ``n_informative`` rows of :math:`w` are nonzero, drawn from
    :math:`U(0, 100)`.  :math:`X` is standard normal, or, with
    ``effective_rank``, a low-rank matrix with bell-shaped singular values
    :math:`(1-s)\,e^{-(i/r)^2} + s\,e^{-0.1 i/r}` (scikit-learn's
    ``make_low_rank_matrix``, :math:`s` = ``tail_strength``).  With
    ``shuffle`` the samples and the feature columns (with their coefficients)
    are permuted.

    Parameters
    ----------
    n_samples, n_features : int
        Number of samples and of features.
    n_informative : int
        Number of features with a nonzero coefficient.
    n_targets : int
        Number of regression targets.
    bias : float
        Intercept added to every target.
    effective_rank : int, optional
        Approximate rank of ``X`` (``None``: ``X`` is standard normal).
    tail_strength : float
        Weight of the fat tail of the singular values, in [0, 1].
    noise : float
        Standard deviation of the Gaussian noise on ``y``.
    shuffle : bool
        Shuffle the samples and the feature columns.
    coef : bool
        Also return the true coefficients :math:`w`.
    seed, backend, device, dtype
        As in :func:`make_blobs`.

    Returns
    -------
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,) or (n_samples, n_targets)
        Float targets (1-D when ``n_targets == 1``).
    coef : array of shape (n_features,) or (n_features, n_targets)
        Only with ``coef=True``.
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    n_features = check_int(n_features, "n_features", low=1)
    n_informative = check_int(n_informative, "n_informative", low=0)
    n_targets = check_int(n_targets, "n_targets", low=1)
    noise = check_real(noise, "noise", low=0.0)
    tail_strength = check_real(tail_strength, "tail_strength", low=0.0, high=1.0)
    n_informative = min(n_informative, n_features)
    gen = np.random.default_rng(check_seed(seed))
    if effective_rank is None:
        X = gen.standard_normal((n_samples, n_features))
    else:
        r = check_int(effective_rank, "effective_rank", low=1)
        n = min(n_samples, n_features)
        u, _ = np.linalg.qr(gen.standard_normal((n_samples, n)))
        v, _ = np.linalg.qr(gen.standard_normal((n_features, n)))
        i = np.arange(n, dtype=np.float64)
        s = (1.0 - tail_strength) * np.exp(-((i / r) ** 2)) + tail_strength * np.exp(-0.1 * i / r)
        X = (u * s) @ v.T
    w = np.zeros((n_features, n_targets))
    w[:n_informative] = 100.0 * gen.uniform(size=(n_informative, n_targets))
    y = X @ w + check_real(bias, "bias")
    if noise > 0.0:
        y = y + gen.normal(0.0, noise, size=y.shape)
    if shuffle:
        X, y = _shuffle_rows(gen, X, y)
        perm = gen.permutation(n_features)
        X, w = X[:, perm], w[perm]
    if n_targets == 1:
        y, w = y[:, 0], w[:, 0]
    be, Xb, yb = _place(X, y, backend, device, dtype, False)
    if coef:
        return Xb, yb, be.asarray(w, dtype=Xb.dtype)
    return Xb, yb


# ------------------------------------------------------------------ splitting, batching, resampling
def _n_rows(a, name):
    """Number of rows of array ``a`` (a Python int); refuses 0-d arrays and unknown (Dask) lengths."""
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (one row per sample); got a 0-d array")
    n = a.shape[0]
    if n is None or (isinstance(n, float) and math.isnan(n)):
        raise ValueError(f"{name} has an unknown number of rows (a Dask array with unknown chunk sizes); "
                         "call its compute_chunk_sizes() first")
    return int(n)


def _placer(a):
    """``place(host_indices)``: integer indices onto the backend and device of array ``a``."""
    name = backend_of(a)
    if name in ("numpy", "dask"):  # NumPy indices index both directly (Dask keeps them in its graph)
        return lambda idx: idx
    be = get_backend(name, device=device_of(a))
    return lambda idx: be.asarray(idx)


def _take_rows(a, idx, *, xp=None):
    """Rows ``idx`` (placed by :func:`_placer`) of ``a``, gathered where ``a`` lives."""
    xp = array_namespace(a) if xp is None else xp
    return xp.take(a, idx, axis=0)


def _check_arrays(arrays, names):
    """Every array of ``arrays`` checked and of one length; returns that length."""
    n = None
    for a, name in zip(arrays, names):
        check_array(a, name)
        m = _n_rows(a, name)
        if n is None:
            n = m
        elif m != n:
            lengths = ", ".join(f"{nm}: {_n_rows(b, nm)}" for b, nm in zip(arrays, names))
            raise ValueError(f"the arrays must have the same number of rows (samples); got {lengths}")
    return n


def _split_sizes(n, test_size):
    """``(n_train, n_test)`` as scikit-learn's ``train_test_split``: ``ceil(test_size * n)`` test rows
    for a float in (0, 1), ``test_size`` rows for an int in [1, n)."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float in (0, 1) or an int in [1, n_samples); got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test < n:
            raise ValueError(f"test_size={n_test} must be an int in [1, n_samples) = [1, {n}) "
                             "(or a float in (0, 1))")
    else:
        frac = check_real(test_size, "test_size", low=0.0, high=1.0, low_open=True, high_open=True)
        n_test = math.ceil(frac * n)
    n_train = n - n_test
    if n_train == 0:
        raise ValueError(f"with n_samples={n} and test_size={test_size!r} the training set would be empty; "
                         "lower test_size")
    return n_train, n_test


def _approximate_mode(class_counts, n_draws, gen):
    r"""Per-class draws close to the mode of the multivariate hypergeometric distribution.

    scikit-learn's ``_approximate_mode``: :math:`\lfloor n_{draws} n_c / n \rfloor` for every class,
    the remaining draws going to the largest fractional parts, ties broken at random (a loop over
    distinct remainders, i.e. over classes, not samples).
    """
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.nonzero(remainder == value)
            add = min(len(inds), need)
            floored[gen.choice(inds, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(np.int64)


def _stratified_indices(labels, n_train, n_test, gen):
    """Train and test indices whose class counts follow ``labels`` (scikit-learn's ``StratifiedShuffleSplit``)."""
    _, y = np.unique(labels, return_inverse=True)
    y = y.reshape(-1)
    counts = np.bincount(y)
    k = counts.size
    if counts.min() < 2:
        raise ValueError(f"stratify: the least populated class has {counts.min()} member; every class needs "
                         "at least 2 to appear in both the training and the test set")
    if n_train < k or n_test < k:
        raise ValueError(f"stratify: the training set ({n_train} rows) and the test set ({n_test} rows) must "
                         f"each have at least as many rows as there are classes ({k}); change test_size")
    n_i = _approximate_mode(counts, n_train, gen)
    t_i = _approximate_mode(counts - n_i, n_test, gen)
    by_class = np.split(np.argsort(y, kind="stable"), np.cumsum(counts)[:-1])
    train, test = [], []
    for idx, a, b in zip(by_class, n_i, t_i):  # a loop over classes
        idx = idx[gen.permutation(idx.size)]
        train.append(idx[:a])
        test.append(idx[a:a + b])
    return gen.permutation(np.concatenate(train)), gen.permutation(np.concatenate(test))


def train_test_split(*arrays, test_size=0.25, seed=None, stratify=None):
    r"""Split arrays into random training and test rows (as ``sklearn.model_selection.train_test_split``).

    The rows are permuted by ``numpy.random.default_rng(seed)`` on the host;
    the first :math:`n_{test}` rows of the permutation form the test set and
    the rest the training set, and every array is gathered on its own backend
    and device.  With ``stratify`` the split is scikit-learn's
    ``StratifiedShuffleSplit``: each class :math:`c` of :math:`n_c` rows gets
    about :math:`n_c\, n_{train}/n` training rows and :math:`n_c\, n_{test}/n`
    test rows (rounded to the largest remainders, ties at random), so both
    sets keep the class proportions.

    Parameters
    ----------
    *arrays : arrays with the same number of rows
        Any backend and device (each may differ); rows are samples.
    test_size : float or int, default 0.25
        A fraction in (0, 1) (:math:`n_{test} = \lceil \text{test\_size}\cdot n \rceil`, as
        scikit-learn) or a number of test rows in ``[1, n)``.
    seed : int, optional
        Seed of the permutation (``None``: fresh entropy).  The same seed
        gives the same split on every backend; the values differ from
        scikit-learn's for the same integer (NumPy's ``Generator`` instead of
        the legacy ``RandomState``).
    stratify : array of shape (n_samples,), optional
        Class labels whose proportions both sets keep (read to the host).

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``: two arrays per input, on
        the input's backend and device.

    Raises
    ------
    TypeError, ValueError
        No array, a non-array, arrays of different lengths, a bad
        ``test_size``, an empty training set; with ``stratify``, a class of
        fewer than 2 rows, or fewer training or test rows than classes.
    """
    if not arrays:
        raise TypeError("train_test_split needs at least one array")
    names = [f"arrays[{i}]" for i in range(len(arrays))]
    n = _check_arrays(arrays, names)
    n_train, n_test = _split_sizes(n, test_size)
    gen = np.random.default_rng(check_seed(seed))
    if stratify is None:
        perm = gen.permutation(n)
        test, train = perm[:n_test], perm[n_test:]
    else:
        check_array(stratify, "stratify")
        if stratify.ndim != 1 or _n_rows(stratify, "stratify") != n:
            raise ValueError(f"stratify must be a 1-D array of one label per row ({n}); "
                             f"got shape {tuple(stratify.shape)}")
        train, test = _stratified_indices(to_numpy(stratify), n_train, n_test, gen)
    out = []
    for a in arrays:
        place = _placer(a)
        out.extend([_take_rows(a, place(train)), _take_rows(a, place(test))])
    return out


class _MiniBatches:
    """Iterator of mini-batches (see :func:`minibatches`); ``len()`` is the number of batches."""

    def __init__(self, X, y, order, n, batch_size, count):
        self._X, self._y, self._order, self._n = X, y, order, n
        self._size, self._count, self._next = batch_size, count, 0
        self._xp = array_namespace(X)

    def __iter__(self):
        return self

    def __len__(self):
        return self._count

    def __next__(self):
        i = self._next
        if i >= self._count:
            raise StopIteration
        self._next = i + 1
        lo, hi = i * self._size, min((i + 1) * self._size, self._n)  # in bounds (array-api-strict)
        if self._order is None:  # in order: slices, no gather
            return self._X[lo:hi, ...] if self._y is None else (self._X[lo:hi, ...], self._y[lo:hi, ...])
        idx = self._order[lo:hi]
        xb = _take_rows(self._X, idx, xp=self._xp)
        return xb if self._y is None else (xb, _take_rows(self._y, idx, xp=self._xp))


def minibatches(X, y=None, *, batch_size, rng, shuffle=True, drop_last=False):
    r"""Iterate over mini-batches of the rows of ``X`` (and ``y``), on their backend and device.

    With ``shuffle`` the rows are visited in the order of one permutation
    drawn from ``rng`` when ``minibatches`` is called (the draw of
    ``rng.permutation(n)``, made on the host): the same seed gives the same
    batches on every backend, and each call draws a new permutation (one
    epoch per call).  The permutation is placed on the device once; every
    batch is one gather there.  Without ``shuffle`` batches are slices in
    row order and ``rng`` is not used (it may be ``None``).

    Parameters
    ----------
    X : array of shape (n_samples, ...)
    y : array of shape (n_samples, ...), optional
        On the backend and device of ``X``.
    batch_size : int
        Rows per batch (>= 1); the last batch may be smaller.
    rng : portable_ml.random.Generator
        Source of the permutation (e.g. ``Backend.rng(seed)``).
    shuffle : bool, default True
        Visit the rows in random order.
    drop_last : bool, default False
        Skip the last batch when it has fewer than ``batch_size`` rows.

    Returns
    -------
    iterator
        Of ``X_batch`` arrays, or of ``(X_batch, y_batch)`` pairs when ``y``
        is given; ``len()`` gives the number of batches,
        :math:`\lfloor n/b \rfloor` with ``drop_last``, else :math:`\lceil n/b \rceil`.

    Examples
    --------
    >>> import numpy as np
    >>> from portable_ml.random import Generator
    >>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in minibatches(X, y, batch_size=2, rng=Generator("numpy", 0))]  # doctest: +SKIP
    [[4, 2], [0, 3], [1]]
    """
    from .random import Generator

    arrays, names = (X,) if y is None else (X, y), ("X",) if y is None else ("X", "y")
    n = _check_arrays(arrays, names)
    array_namespace(*arrays)  # one backend and device
    batch_size = check_int(batch_size, "batch_size", low=1)
    shuffle = check_bool(shuffle, "shuffle")
    drop_last = check_bool(drop_last, "drop_last")
    order = None
    if shuffle:
        if not isinstance(rng, Generator):
            raise TypeError(f"rng must be a portable_ml.random.Generator (e.g. Backend.rng(seed)); "
                            f"got {type(rng).__name__}")
        order = _placer(X)(rng.numpy().permutation(n))
    elif rng is not None and not isinstance(rng, Generator):
        raise TypeError(f"rng must be a portable_ml.random.Generator or None; got {type(rng).__name__}")
    count = n // batch_size if drop_last else -(-n // batch_size)
    return _MiniBatches(X, y, order, n, batch_size, count)


def resample(X, y, *, strategy="over", rng):
    r"""Balance the classes of ``(X, y)`` by random over- or under-sampling.

    With :math:`n_c` rows of class :math:`c`:

    * ``"over"``: every row is kept, and each class gets
      :math:`\max_c n_c - n_c` extra rows drawn from it with replacement
      (appended, class by class), so every class has :math:`\max_c n_c` rows
      (imbalanced-learn's ``RandomOverSampler``);
    * ``"under"``: each class keeps :math:`\min_c n_c` of its rows drawn
      without replacement (the smallest class all of its rows), grouped by
      class (imbalanced-learn's ``RandomUnderSampler``).

    The labels are read to the host to count the classes (the result's size
    depends on them); the rows are drawn there from ``rng`` and gathered on
    the backend and device of ``X`` and ``y``.

    Parameters
    ----------
    X : array of shape (n_samples, ...)
    y : array of shape (n_samples,)
        Class labels (any values; classes are the distinct ones, in sorted order).
    strategy : {"over", "under"}, default "over"
    rng : portable_ml.random.Generator
        Source of the draws: the same seed gives the same rows on every backend.

    Returns
    -------
    X_resampled, y_resampled : arrays
        :math:`k \max_c n_c` (``"over"``) or :math:`k \min_c n_c` (``"under"``)
        rows, on the inputs' backend and device.
    """
    from .random import Generator

    n = _check_arrays((X, y), ("X", "y"))
    array_namespace(X, y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per row); got shape {tuple(y.shape)}")
    if n == 0:
        raise ValueError("X and y must not be empty")
    strategy = check_choice(strategy, "strategy", ("over", "under"))
    if not isinstance(rng, Generator):
        raise TypeError(f"rng must be a portable_ml.random.Generator (e.g. Backend.rng(seed)); "
                        f"got {type(rng).__name__}")
    gen = rng.numpy()
    _, codes = np.unique(to_numpy(y), return_inverse=True)
    codes = codes.reshape(-1)
    counts = np.bincount(codes)
    by_class = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    if strategy == "over":
        top = counts.max()
        extra = [idx[gen.integers(0, idx.size, size=top - idx.size)] for idx in by_class]  # a loop over classes
        rows = np.concatenate([np.arange(n)] + extra)
    else:
        low = counts.min()
        rows = np.concatenate([idx if idx.size == low else idx[gen.choice(idx.size, size=low, replace=False)]
                               for idx in by_class])
    place = _placer(X)
    idx = place(rows)
    return _take_rows(X, idx), _take_rows(y, idx)
