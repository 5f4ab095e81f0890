r"""Data preparation: one-hot encoding, feature scaling, polynomial features, class weights.

Two kinds of objects live here:

* **functions** of arrays (:func:`one_hot`, :func:`polynomial_features`,
  :func:`compute_class_weight`), written once against the array API like the
  formula modules: the result is on the backend, device and (floating) dtype
  of the input, and each runs under ``jax.jit`` (``num_classes``, ``degree``
  and the other options are static), ``jax.vmap`` and, where it is
  differentiable, ``jax.grad``;
* **scalers** (:class:`StandardScaler`, :class:`MinMaxScaler`), estimators
  with scikit-learn's conventions (:mod:`portable_ml.models._base`): ``fit``
  reads the data eagerly and stores fitted attributes named as
  scikit-learn's, on the backend and device of ``X``; ``transform`` and
  ``inverse_transform`` are plain arithmetic on those arrays and run under
  ``jax.jit``.

The column statistics of the scalers are computed in one pass over the
data: on Dask one task per row chunk (all in one ``dask.compute``, which
also checks that ``X`` is finite), merged in memory by Chan, Golub and
LeVeque's pairwise update; elsewhere one (on JAX compiled) reduction.  They
are accurate for data far from the origin (see :class:`StandardScaler`).
"""

from __future__ import annotations

import itertools

from ._validate import check_array, check_bool, check_int, check_real
from ._xp import (
    array_namespace,
    as_float,
    check_class_elements,
    check_labels,
    check_ndim,
    check_nonempty,
    device_of,
    float_dtype,
    infer_num_classes,
    is_traced,
    value_check,
)
from .backend import backend_of
from .models._base import Estimator, NotFittedError, _is_dask, check_X, compiled
from .models._stats import from_memory_like

__all__ = [
    "one_hot",
    "polynomial_features",
    "compute_class_weight",
    "StandardScaler",
    "MinMaxScaler",
]

#: Machine epsilon of float64: scikit-learn's bound for a constant feature
#: (:class:`StandardScaler`) uses it whatever the data's dtype, since it
#: accumulates in float64.
_EPS64 = 2.0**-52


# ------------------------------------------------------------------ one-hot encoding
def _resolve_dtype(dtype, like, name="dtype", *, xp):
    """``dtype`` (``None``, a dtype of ``xp`` or its name) as a dtype of ``xp``."""
    if dtype is None:
        return float_dtype(xp, like)
    out = getattr(xp, dtype, None) if isinstance(dtype, str) else dtype
    try:
        ok = out is not None and xp.isdtype(out, ("real floating", "integral", "bool"))
    except Exception:  # not a dtype of this namespace
        ok = False
    if not ok:
        raise TypeError(f"{name} must be a real floating, integer or boolean dtype of the array's namespace "
                        f"({getattr(xp, '__name__', xp)}) or its name (e.g. 'float32'); got {name}={dtype!r}")
    return out


def one_hot(labels, num_classes, *, dtype=None):
    r"""One-hot encoding of integer class indices.

    .. math:: Y_{\dots c} = [\,\text{labels}_{\dots} = c\,],\qquad c = 0, \dots, k-1

    Parameters
    ----------
    labels : integer array of any shape
        Class indices in ``[0, num_classes)``.
    num_classes : int
        Number of classes :math:`k` (static under ``jax.jit``: it sets the
        shape of the result).
    dtype : dtype or str, optional
        dtype of the result (floating, integer or boolean); default the
        backend's default floating dtype on the labels' device.

    Returns
    -------
    array of shape ``labels.shape + (num_classes,)``
        On the labels' backend and device.

    Raises
    ------
    TypeError
        ``labels`` not an array of integers; ``num_classes`` not an integer;
        an unknown ``dtype``.
    ValueError
        ``num_classes < 1``; labels outside ``[0, num_classes)`` (checked
        when the labels are concrete -- under ``jax.jit`` an out-of-range
        label gives a row of zeros, as ``jax.nn.one_hot`` does); an
        encoding of more than :data:`portable_ml._xp.MAX_CLASS_ELEMENTS`
        elements.

    Examples
    --------
    >>> import numpy as np
    >>> one_hot(np.asarray([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    check_array(labels, "labels")
    xp = array_namespace(labels)
    if not xp.isdtype(labels.dtype, "integral"):
        raise TypeError(f"labels must hold integer class indices; got dtype {labels.dtype}")
    k = check_int(num_classes, "num_classes", low=1)
    out_dtype = _resolve_dtype(dtype, labels, xp=xp)
    check_class_elements(k, tuple(labels.shape) + (k,), "a one-hot encoding")
    check_labels(labels, k, "labels", xp)
    classes = xp.arange(k, dtype=labels.dtype, device=device_of(labels))
    return xp.astype(labels[..., None] == classes, out_dtype)


# ------------------------------------------------------------------ polynomial features
def _poly_plan(n_features, degree, interaction_only):
    """Per degree 2..degree: (prefix positions in the previous degree's block, last feature), in
    scikit-learn's order (``itertools.combinations[_with_replacement]`` of the features, by degree)."""
    comb = itertools.combinations if interaction_only else itertools.combinations_with_replacement
    plan = []
    prev = {(i,): i for i in range(n_features)}
    for t in range(2, degree + 1):
        combos = list(comb(range(n_features), t))
        if not combos:
            break
        plan.append(([prev[c[:-1]] for c in combos], [c[-1] for c in combos]))
        prev = {c: j for j, c in enumerate(combos)}
    return plan


def _take_columns(A, idx, dev, *, xp):
    """Columns ``idx`` (a list of ints) of ``A``: a gather, or a slice for one column (Dask's
    ``take`` with a one-element index array reports a wrong shape)."""
    if len(idx) == 1:
        return A[:, idx[0]:idx[0] + 1]
    return xp.take(A, xp.asarray(idx, device=dev), axis=1)


def polynomial_features(X, *, degree=2, interaction_only=False, include_bias=True):
    r"""Products of the features up to ``degree``, in scikit-learn's column order.

    For features :math:`x_1, \dots, x_d` the columns are, degree by degree,

    .. math:: \prod_{j \in c} x_j \quad\text{for}\quad
        c \in \operatorname{combinations\_with\_replacement}(\{1..d\}, t),\ t = 0, 1, \dots, \text{degree}

    (``itertools`` order; :math:`t = 0` is the bias column of ones, only with
    ``include_bias``; with ``interaction_only`` the combinations have distinct
    features, so no powers :math:`x_j^2` appear).  This is the output of
    ``sklearn.preprocessing.PolynomialFeatures(degree, interaction_only=...,
    include_bias=...).fit_transform(X)``.

    The columns of degree :math:`t` are computed at once, as one gather of
    the degree :math:`t-1` block times one gather of ``X`` (a loop over the
    degrees, none over the samples or the combinations).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Integer and boolean inputs are promoted to the default float.
    degree : int
        Highest degree (>= 0).
    interaction_only : bool
        Only products of distinct features.
    include_bias : bool
        Start with a column of ones.

    Returns
    -------
    array of shape (n_samples, n_output_features)
        :math:`\sum_{t} \binom{d + t - 1}{t}` columns (:math:`\binom{d}{t}`
        with ``interaction_only``), over :math:`t` from 0 (with the bias) or
        1 to ``degree``.

    Raises
    ------
    TypeError, ValueError
        ``X`` not a 2-D array with at least one feature; ``degree`` not an
        integer >= 0; ``degree=0`` without the bias (no columns).
    """
    check_array(X, "X")
    xp = array_namespace(X)
    check_ndim(X, "X", 2)
    if X.shape[1] == 0:
        raise ValueError(f"X must have at least one feature; got an array of shape {tuple(X.shape)}")
    degree = check_int(degree, "degree", low=0)
    interaction_only = check_bool(interaction_only, "interaction_only")
    include_bias = check_bool(include_bias, "include_bias")
    if degree == 0 and not include_bias:
        raise ValueError("degree=0 with include_bias=False would give no columns; "
                         "raise degree or set include_bias=True")
    X = as_float(X, xp, float_dtype(xp, X), "X")
    blocks = [xp.ones_like(X[:, :1])] if include_bias else []
    if degree >= 1:
        blocks.append(X)
    prev = X
    dev = device_of(X)
    for prefix, last in _poly_plan(X.shape[1], degree, interaction_only):
        prev = _take_columns(prev, prefix, dev, xp=xp) * _take_columns(X, last, dev, xp=xp)
        blocks.append(prev)
    return blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=1)


# ------------------------------------------------------------------ class weights
def compute_class_weight(y, *, num_classes=None):
    r"""Balanced class weights, as ``sklearn.utils.class_weight.compute_class_weight("balanced", ...)``.

    .. math:: w_c = \frac{n}{k\, n_c}

    with :math:`n` samples, :math:`k` classes and :math:`n_c` samples of
    class :math:`c`: rare classes weigh more, and
    :math:`\sum_i w_{y_i} = n` (each class carries :math:`n/k` in total).

    Parameters
    ----------
    y : integer array of shape (n_samples,)
        Class indices in ``[0, num_classes)``.
    num_classes : int, optional
        Number of classes :math:`k` (static under ``jax.jit``).  ``None``
        infers ``max(y) + 1`` from eager labels (a host read of the maximum;
        refused for traced labels).

    Returns
    -------
    array of shape (num_classes,)
        In the backend's default floating dtype on the device of ``y``;
        equal to scikit-learn's with ``classes=range(num_classes)``.

    Raises
    ------
    TypeError
        ``y`` not an integer array, ``num_classes`` not an integer.
    ValueError
        ``y`` not 1-D or empty; labels outside ``[0, num_classes)``; a class
        without samples (:math:`n_c = 0`, its weight is undefined;
        scikit-learn raises too) -- these value checks run on concrete
        labels; under a trace such a class gets weight 0.
    """
    check_array(y, "y")
    xp = array_namespace(y)
    check_ndim(y, "y", 1)
    check_nonempty(y, "y")
    if not xp.isdtype(y.dtype, "integral"):
        raise TypeError(f"y must hold integer class indices; got dtype {y.dtype}")
    if num_classes is None:
        hi = xp.max(y)
        if is_traced(hi):
            raise ValueError("num_classes must be given when y is traced (inside jax.jit, jax.vmap, "
                             "torch.compile or torch.func): it fixes the shape of the weights; pass "
                             "num_classes=<number of classes>")
        k = infer_num_classes(int(hi), "y")  # one host read (Dask computes it): the class count sets shapes
    else:
        k = check_int(num_classes, "num_classes", low=1)
    check_class_elements(k, (y.shape[0], k), "a one-hot encoding of y")
    check_labels(y, k, "y", xp)
    dtype = float_dtype(xp, y)
    classes = xp.arange(k, dtype=y.dtype, device=device_of(y))
    info = xp.__array_namespace_info__()
    idt = info.default_dtypes()["integral"]  # exact counts (a float32 count rounds above 2**24)
    counts = xp.astype(xp.sum(xp.astype(y[:, None] == classes, idt), axis=0), dtype)
    value_check(xp.all(counts > 0), lambda: (
        f"y has no sample of class {int(xp.argmin(counts))} of num_classes={k}: its balanced weight "
        "n / (k * n_c) is undefined; pass the number of classes actually present, or labels encoded "
        "as 0..k-1"))
    n = xp.sum(counts)
    present = counts > 0
    return xp.where(present, n / (k * xp.where(present, counts, xp.ones_like(counts))), xp.zeros_like(counts))


# ------------------------------------------------------------------ column statistics
def _column_stats(X):
    r"""``(mean, var, min, max)`` of the columns of in-memory ``X`` (n, d), ``var`` with divisor n.

    Shifted, corrected two-pass: :math:`D = X - x_1` (the first row; exact
    for data clustered far from the origin), :math:`\bar d` its mean,
    :math:`E = D - \bar d`, :math:`\sigma^2 = \overline{E^2} - \bar E^2`,
    :math:`\mu = x_1 + \bar d`.
    """
    xp = array_namespace(X)
    shift = X[:1, :]
    D = X - shift
    m = xp.mean(D, axis=0, keepdims=True)
    E = D - m
    e = xp.mean(E, axis=0)
    var = xp.mean(E * E, axis=0) - e * e
    var = xp.maximum(var, xp.zeros_like(var))
    return (shift + m)[0, ...], var, xp.min(X, axis=0), xp.max(X, axis=0)


def _chunk_stats(x, shift):
    """What one row chunk contributes: (count, mean of x - shift, M2 about it, min, max, finite)."""
    xp = array_namespace(x)
    D = x - shift
    m = xp.mean(D, axis=0)
    E = D - m
    e = xp.mean(E, axis=0)
    n = x.shape[0]
    m2 = xp.sum(E * E, axis=0) - n * (e * e)
    return n, m + e, xp.maximum(m2, xp.zeros_like(m2)), xp.min(x, axis=0), xp.max(x, axis=0), \
        bool(xp.all(xp.isfinite(x)))


def _dask_column_stats(X):
    r"""One pass over Dask ``X``: ``(mean, var, min, max)`` in memory (the chunks' array library).

    Every row chunk is read by one task, which returns its count, the mean
    :math:`\bar d_b` and scatter :math:`M_{2,b}` of its rows shifted by the
    first row of ``X``, its minima and maxima and whether it is finite; all
    tasks run in one ``dask.compute``.  The blocks merge by Chan, Golub and
    LeVeque's update
    :math:`\bar d = \sum_b n_b \bar d_b / n`,
    :math:`M_2 = \sum_b M_{2,b} + \sum_b n_b (\bar d_b - \bar d)^2`.
    Raises ``ValueError`` when ``X`` holds NaN or infinity.
    """
    import dask

    X = X.rechunk({1: -1})
    xs = list(X.to_delayed(optimize_graph=False)[:, 0])
    first = dask.delayed(lambda c: c[:1, :], pure=True)(xs[0])
    task = dask.delayed(_chunk_stats, pure=True)
    shift, *parts = dask.compute(first, *[task(x, first) for x in xs])
    parts = [p for p in parts if p[0] > 0]
    if not all(p[5] for p in parts):
        raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
    xp = array_namespace(shift)
    dev = device_of(shift)
    counts = [p[0] for p in parts]
    total = sum(counts)
    means = xp.stack([p[1] for p in parts])
    n_b = xp.asarray(counts, dtype=means.dtype, device=dev)
    d = xp.sum((n_b / total)[:, None] * means, axis=0)
    gap = means - d[None, :]
    m2 = xp.sum(xp.stack([p[2] for p in parts]), axis=0) + xp.sum(n_b[:, None] * gap * gap, axis=0)
    lo = xp.min(xp.stack([p[3] for p in parts]), axis=0)
    hi = xp.max(xp.stack([p[4] for p in parts]), axis=0)
    return shift[0, ...] + d, m2 / total, lo, hi


def _fit_stats(X):
    """``(X, mean, var, min, max, xp)``: validated ``X``, its column statistics (one pass) and their namespace.

    On Dask the statistics are in memory (the chunks' array library), and so is ``xp``.
    """
    X, xp = check_X(X)  # finite: checked here, or (Dask) in the one pass below
    if _is_dask(X):
        mean, var, lo, hi = _dask_column_stats(X)
        return X, mean, var, lo, hi, array_namespace(mean)
    mean, var, lo, hi = compiled(_column_stats, xp)(X)
    return X, mean, var, lo, hi, xp


class _Scaler(Estimator):
    """Shared checks of the two scalers."""

    def _check_fitted(self, attr="n_features_in_"):
        if not hasattr(self, attr):
            raise NotFittedError(f"this {type(self).__name__} instance is not fitted yet; call fit(X) first")

    def _check_input(self, X, name="X"):
        # A JAX tracer (transform under jax.jit) carries no device to compare with the fitted one.
        if is_traced(X) and backend_of(self._fitted_array()) == "jax":
            return X
        return super()._check_input(X, name)

    def fit_transform(self, X, y=None):
        """``fit(X)`` then ``transform(X)``; ``y`` is ignored."""
        return self.fit(X).transform(X)


class StandardScaler(_Scaler):
    r"""Standardise features: subtract the mean, divide by the standard deviation.

    .. math:: z = \frac{x - \mu}{s},\qquad
        \mu = \frac1n\sum_i x_i,\qquad \sigma^2 = \frac1n\sum_i (x_i - \mu)^2,\qquad
        s = \begin{cases} 1 & \text{constant feature} \\ \sigma & \text{otherwise}\end{cases}

    per column, as ``sklearn.preprocessing.StandardScaler`` (population
    variance, divisor :math:`n`).  A feature counts as constant, as in
    scikit-learn, when
    :math:`\sigma^2 \le n\epsilon\sigma^2 + (n\mu\epsilon)^2` with
    :math:`\epsilon` the float64 machine epsilon: its scale is 1, so it is
    only centred.

    Parameters
    ----------
    with_mean : bool, default True
        Centre the data (``transform`` subtracts ``mean_``).
    with_std : bool, default True
        Scale to unit variance (``transform`` divides by ``scale_``).

    Attributes
    ----------
    mean_ : array of shape (n_features,) or None
        Column means; ``None`` when both ``with_mean`` and ``with_std`` are
        False (as scikit-learn).
    var_ : array of shape (n_features,) or None
        Column variances :math:`\sigma^2`; ``None`` without ``with_std``.
    scale_ : array of shape (n_features,) or None
        :math:`s`; ``None`` without ``with_std``.
    n_samples_seen_ : int
    n_features_in_ : int

    Notes
    -----
    Fitted arrays keep the floating dtype of ``X`` (scikit-learn stores
    float64 statistics for float32 data); they are accurate in float32 too,
    also for data far from the origin: the variance is a corrected two-pass
    variance of the data shifted by its first row (:math:`D = X - x_1`,
    exact for clustered data), so :math:`10^8` plus unit noise in float32
    gives the variance of the float32 values to float32 precision, where
    :math:`\overline{x^2} - \bar x^2` gives noise or a negative number.

    On Dask ``fit`` reads every chunk once (one task per chunk; the blocks
    merge by Chan, Golub and LeVeque's update) and the fitted arrays are
    small one-chunk Dask arrays.
    """

    def __init__(self, *, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None):
        """Column means and variances of ``X`` (n_samples, n_features); ``y`` is ignored. Returns ``self``."""
        with_mean = check_bool(self.with_mean, "with_mean")
        with_std = check_bool(self.with_std, "with_std")
        X, mean, var, _, _, xp = _fit_stats(X)
        n, d = X.shape
        mean_ = var_ = scale_ = None
        if with_mean or with_std:
            mean_ = mean
        if with_std:
            var_ = var
            constant = var <= (n * _EPS64) * var + (n * _EPS64 * mean) ** 2
            scale_ = xp.where(constant, xp.ones_like(var), xp.sqrt(var))
        self.mean_ = from_memory_like(mean_, X)
        self.var_ = from_memory_like(var_, X)
        self.scale_ = from_memory_like(scale_, X)
        self.n_samples_seen_ = int(n)
        self.n_features_in_ = int(d)
        return self

    def transform(self, X):
        r""":math:`(x - \mu)/s` (each step only when ``with_mean``/``with_std``), shape (n_samples, n_features)."""
        X, _ = self._check_X(X)
        if self.with_mean and self.mean_ is not None:
            X = X - self.mean_
        if self.with_std and self.scale_ is not None:
            X = X / self.scale_
        return X

    def inverse_transform(self, X):
        r""":math:`z s + \mu` (each step only when ``with_std``/``with_mean``): back to the original units."""
        X, _ = self._check_X(X)
        if self.with_std and self.scale_ is not None:
            X = X * self.scale_
        if self.with_mean and self.mean_ is not None:
            X = X + self.mean_
        return X


def _feature_range(feature_range):
    try:
        lo, hi = feature_range
    except (TypeError, ValueError):
        raise TypeError(f"feature_range must be a pair (min, max) of real numbers; got {feature_range!r}") from None
    lo, hi = check_real(lo, "feature_range[0]"), check_real(hi, "feature_range[1]")
    if not lo < hi:
        raise ValueError(f"feature_range must be (min, max) with min < max; got feature_range={feature_range!r}")
    return lo, hi


class MinMaxScaler(_Scaler):
    r"""Scale every feature to ``feature_range`` by its minimum and maximum on the training data.

    .. math:: z = a + (x - x_{\min})\,s,\qquad
        s = \frac{b - a}{r},\qquad
        r = \begin{cases} 1 & x_{\max} - x_{\min} < 10\,\epsilon \\ x_{\max} - x_{\min} & \text{otherwise}\end{cases}

    for ``feature_range`` :math:`(a, b)` and :math:`\epsilon` the machine
    epsilon of the data's dtype, as ``sklearn.preprocessing.MinMaxScaler``
    (a constant feature maps to :math:`a`).  scikit-learn writes the same
    map as :math:`x s + (a - x_{\min} s)`; subtracting :math:`x_{\min}`
    first keeps the digits of data far from the origin.

    Parameters
    ----------
    feature_range : (float, float), default (0, 1)
        Target interval :math:`(a, b)`, :math:`a < b`.

    Attributes
    ----------
    data_min_, data_max_ : array of shape (n_features,)
        Column minima and maxima.
    data_range_ : array of shape (n_features,)
        ``data_max_ - data_min_``.
    scale_ : array of shape (n_features,)
        :math:`s`.
    min_ : array of shape (n_features,)
        :math:`a - x_{\min} s` (scikit-learn's offset: ``X * scale_ + min_``).
    n_samples_seen_ : int
    n_features_in_ : int

    Notes
    -----
    On Dask ``fit`` reads every chunk once and the fitted arrays are small
    one-chunk Dask arrays.  Unlike scikit-learn there is no ``clip`` option:
    new data outside the training range map outside ``feature_range``.
    """

    def __init__(self, *, feature_range=(0, 1)):
        self.feature_range = feature_range

    def fit(self, X, y=None):
        """Column minima and maxima of ``X`` (n_samples, n_features); ``y`` is ignored. Returns ``self``."""
        lo, hi = _feature_range(self.feature_range)
        X, _, _, data_min, data_max, xp = _fit_stats(X)
        n, d = X.shape
        data_range = data_max - data_min
        eps = xp.finfo(data_range.dtype).eps
        r = xp.where(data_range < 10 * eps, xp.ones_like(data_range), data_range)
        scale = (hi - lo) / r
        self.data_min_ = from_memory_like(data_min, X)
        self.data_max_ = from_memory_like(data_max, X)
        self.data_range_ = from_memory_like(data_range, X)
        self.scale_ = from_memory_like(scale, X)
        self.min_ = from_memory_like(lo - data_min * scale, X)
        self._low = lo
        self.n_samples_seen_ = int(n)
        self.n_features_in_ = int(d)
        return self

    def transform(self, X):
        r""":math:`a + (x - x_{\min})\,s`, shape (n_samples, n_features)."""
        X, _ = self._check_X(X)
        return (X - self.data_min_) * self.scale_ + self._low

    def inverse_transform(self, X):
        r""":math:`(z - a)/s + x_{\min}`: back to the original units."""
        X, _ = self._check_X(X)
        return (X - self._low) / self.scale_ + self.data_min_
