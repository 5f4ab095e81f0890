"""Distances between vectors, pairwise distance matrices and kernel (Gram) matrices.

Vector distances (:func:`euclidean`, :func:`manhattan`, :func:`minkowski`,
:func:`mahalanobis`, :func:`hamming`, :func:`cosine_similarity`,
:func:`cosine_distance`) take two arrays of equal shape: 1-D inputs give a 0-d
array, 2-D inputs of shape (n, d) give one value per row, shape (n,).

Pairwise functions and kernels take ``A`` of shape (n, d) and ``B`` of shape
(m, d) (``B=None`` means ``B = A``) and return an (n, m) matrix.  They are
written in GEMM form where the formula allows, so that peak memory stays at a
few (n, m) arrays; each docstring states its peak.

Every function is written once against the array namespace of its inputs and
runs under ``jax.jit``, ``jax.grad`` and ``jax.vmap``: square roots are
gradient-safe (the gradient at a zero distance is 0, never NaN) and nothing
writes in place.
"""

from __future__ import annotations

import math

import array_api_compat as _compat
import array_api_extra as _xpx

from . import _numerics as _n
from ._validate import check_int, check_real
from ._xp import (
    array_namespace,
    as_array0d,
    as_float,
    check_ndim,
    check_nonempty,
    check_positive,
    check_same_shape,
    device_of,
    float_dtype,
    is_concrete,
    is_single_device,
    value_check,
    widest_float_dtype,
)

__all__ = [
    "euclidean",
    "manhattan",
    "minkowski",
    "mahalanobis",
    "hamming",
    "cosine_similarity",
    "cosine_distance",
    "pairwise_euclidean",
    "pairwise_manhattan",
    "pairwise_cosine_similarity",
    "pairwise_distances",
    "chebyshev",
    "canberra",
    "braycurtis",
    "correlation",
    "seuclidean",
    "jensenshannon",
    "linear_kernel",
    "polynomial_kernel",
    "rbf_kernel",
    "sigmoid_kernel",
]

# Largest broadcast temporary of pairwise_manhattan, in elements, when n*m is smaller.
_BLOCK_ELEMENTS = 2**22


# ------------------------------------------------------------------ helpers
def _safe_sqrt(s, *, xp, keep=None):
    r""":math:`\sqrt{\max(s, 0)}`, exactly 0 where :math:`s \le 0` (or ``keep`` is False).

    Gradient-safe on JAX and PyTorch: where the result is 0 its gradient is
    0, never NaN — ``sqrt`` only ever sees values :math:`\ge` the smallest
    normal number and the zeros come from multiplying by a 0/1 mask.  (A mask product
    rather than ``where``: NumPy's ``where`` costs several times a multiply
    on large pairwise matrices.)
    """
    if not _differentiable(xp=xp):
        # no gradient to guard (NumPy, CuPy, Dask, array-api-strict): clamp and take the
        # root, two passes over a pairwise matrix instead of six; NaN propagates through maximum
        out = xp.sqrt(xp.maximum(s, 0.0))
        return out if keep is None else out * xp.astype(keep, s.dtype)
    pos = ~(s <= 0)  # True for NaN, which must propagate, not become 0
    if keep is not None:
        pos = pos & keep
    return xp.sqrt(xp.maximum(s, xp.finfo(s.dtype).smallest_normal)) * xp.astype(pos, s.dtype)


def _differentiable(*, xp):
    """True for namespaces with automatic differentiation (JAX, PyTorch)."""
    return _compat.is_jax_namespace(xp) or _compat.is_torch_namespace(xp)


def _vector_pair(a, b):
    """Namespace and the two float arrays of a vector distance, validated."""
    xp = array_namespace(a, b)
    dtype = float_dtype(xp, a, b)
    a, b = as_float(a, xp, dtype, "a"), as_float(b, xp, dtype, "b")
    check_ndim(a, "a", (1, 2))
    check_same_shape(a, b, "a", "b")
    check_nonempty(a, "a")
    return xp, a, b


def _matrix_pair(A, B):
    """Namespace, float ``A`` (n, d) and ``B`` (m, d), and whether ``B`` is ``A``."""
    same = B is None or B is A
    xp = array_namespace(A, B)
    dtype = float_dtype(xp, A, B)
    A = as_float(A, xp, dtype, "A")
    check_ndim(A, "A", 2)
    check_nonempty(A, "A")
    if same:
        A = _dask_output_blocks(A, A, same=True)[0]
        return xp, A, A, True
    B = as_float(B, xp, dtype, "B")
    check_ndim(B, "B", 2)
    check_nonempty(B, "B")
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"A and B must have the same number of features (columns); got A.shape={tuple(A.shape)} "
            f"and B.shape={tuple(B.shape)}"
        )
    A, B = _dask_output_blocks(A, B)
    return xp, A, B, False


def _dask_output_blocks(A, B, same=False):
    """Dask only: row chunks of ``A`` and ``B`` such that one (n, m) output block fits a worker.

    An output block has (rows of an ``A`` chunk) x (rows of a ``B`` chunk)
    entries.  Where that passes ``array.chunk-size`` bytes (Dask's own target,
    128 MiB by default) and the two input chunks together (a block no larger
    than its inputs is never the problem), ``A``'s row chunks are cut down,
    keeping ``B``'s; if
    that left fewer than 64 rows of ``A`` per block (or ``B`` is ``A``), both
    are cut to about square blocks.  Other arrays pass unchanged.
    """
    if type(A).__module__.split(".")[0] != "dask":
        return A, B
    import dask
    from dask.utils import parse_bytes

    a, b = max(A.chunks[0]), max(B.chunks[0])
    limit = max(1, parse_bytes(dask.config.get("array.chunk-size")) // A.dtype.itemsize, (a + b) * A.shape[1])
    if a * b <= limit:
        return A, B
    if same or b * 64 > limit:
        side = max(1, int(limit**0.5))
        a, b = min(a, side), min(b, side)
    else:
        a = limit // b
    A = A.rechunk({0: a}) if max(A.chunks[0]) > a else A
    if same:
        return A, A
    return A, (B.rechunk({0: b}) if max(B.chunks[0]) > b else B)


def _off_diagonal(n, like, *, xp):
    """Boolean (n, n) mask, False on the diagonal, on the device of ``like``."""
    r = xp.arange(n, device=device_of(like))
    return r[:, None] != r[None, :]


def _cholesky(Sigma, name, *, xp):
    """Lower Cholesky factor of the symmetric part of ``Sigma``, with a clear error if not PD.

    ``Sigma`` is symmetrised first, ``(Sigma + Sigma^T)/2`` (exact for a
    symmetric input), so every backend reads the same matrix.  Backends that
    raise on a failed factorisation (NumPy, torch, array-api-strict) have the
    error re-raised as ``ValueError``; where it returns NaN instead (JAX,
    CuPy) the factor is checked on concrete inputs.  Traced (``jax.jit``) and
    lazy (Dask) inputs are not inspected: a non-PD matrix gives NaN there, as
    in JAX itself.
    """
    S = (Sigma + xp.matrix_transpose(Sigma)) * 0.5
    msg = f"{name} must be symmetric positive definite; its Cholesky factorisation failed"
    try:
        F = xp.linalg.cholesky(S)
    except (ValueError, RuntimeError) as exc:  # numpy.linalg.LinAlgError, torch's LinAlgError
        raise ValueError(f"{msg} ({exc})") from exc
    # array-api-compat 1.16 hands back Dask's *upper* factor U = L^T.  Whichever
    # triangle F holds, tril(F) + triu(F, 1)^T is L (a d x d copy, negligible).
    L = xp.tril(F) + xp.matrix_transpose(xp.triu(F, k=1))
    value_check(xp.all(xp.isfinite(xp.linalg.diagonal(L))), msg)
    return L


def _check_covariance(Sigma, d, name):
    check_ndim(Sigma, name, 2)
    if tuple(Sigma.shape) != (d, d):
        raise ValueError(
            f"{name} must have shape ({d}, {d}) to match {d} features; got {name}.shape={tuple(Sigma.shape)}"
        )


def _mahalanobis_sq(diff, L, *, xp):
    r"""Squared Mahalanobis norms of the rows of ``diff`` (n, d) given ``L L^T = \Sigma``.

    :math:`\|L^{-1} x\|^2` with :math:`L^{-1}` from one solve against the identity
    (:math:`\Sigma^{-1}` is never formed); non-negative by construction.  The rows
    are then mapped by a matrix product, :math:`Z = \mathrm{diff}\,L^{-T}`, which
    works on each row where it lives: on row-partitioned (sharded) input the
    result stays partitioned by rows, where a solve with ``n`` right-hand sides
    would gather them.
    """
    d = L.shape[-1]
    L_inv = xp.linalg.solve(L, xp.eye(d, dtype=L.dtype, device=device_of(L)))  # (d, d)
    Z = diff @ xp.matrix_transpose(L_inv)  # (n, d)
    return xp.sum(Z * Z, axis=-1)


# ---------------------------------------------------------- vector distances
def euclidean(a, b):
    r"""Euclidean distance.

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)
        Points; equal shapes.

    Returns
    -------
    array of shape () or (n,)
        The distance (per row for 2-D inputs), in the floating dtype of the inputs.

    Notes
    -----
    .. math:: d(a, b) = \|a - b\|_2 = \sqrt{\textstyle\sum_i (a_i - b_i)^2},
       \qquad \frac{\partial d}{\partial a} = \frac{a - b}{d(a, b)}

    The gradient at :math:`a = b` is taken as 0 (never NaN).

    Examples
    --------
    >>> import numpy as np
    >>> float(euclidean(np.array([0.0, 0.0]), np.array([3.0, 4.0])))
    5.0
    """
    xp, a, b = _vector_pair(a, b)
    return as_array0d(_euclidean_rows(a - b, xp=xp), xp)


def manhattan(a, b):
    r"""Manhattan (city-block, L1) distance.

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)

    Returns
    -------
    array of shape () or (n,)

    Notes
    -----
    .. math:: d(a, b) = \textstyle\sum_i |a_i - b_i|,
       \qquad \frac{\partial d}{\partial a_i} = \operatorname{sign}(a_i - b_i)

    Examples
    --------
    >>> import numpy as np
    >>> float(manhattan(np.array([0.0, 0.0]), np.array([3.0, -4.0])))
    7.0
    """
    xp, a, b = _vector_pair(a, b)
    return as_array0d(xp.sum(xp.abs(a - b), axis=-1), xp)


def minkowski(a, b, w=None, *, p=2):
    r"""Minkowski distance of order ``p``, optionally weighted (as ``scipy.spatial.distance.minkowski``).

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)
    w : array of shape (d,), optional
        Non-negative weights of the features (SciPy's ``w``); default all 1.
    p : float, default 2
        Order, ``p > 0`` (``p = 1`` Manhattan, ``p = 2`` Euclidean,
        ``p = math.inf`` Chebyshev).  For ``p < 1`` it is not a metric, but
        is computed as SciPy does.

    Returns
    -------
    array of shape () or (n,)

    Raises
    ------
    ValueError
        If ``p <= 0``, ``w`` has the wrong shape or (concrete inputs) a negative entry.

    Notes
    -----
    .. math:: d_p(a, b) = \Big(\textstyle\sum_i w_i |a_i - b_i|^p\Big)^{1/p},
       \qquad \frac{\partial d_p}{\partial a_i}
       = \operatorname{sign}(a_i - b_i)\Big(\frac{|a_i - b_i|}{d_p}\Big)^{p-1}

    Computed as :math:`m\,(\sum_i (|a_i - b_i|/m)^p)^{1/p}` with
    :math:`m = \max_i |a_i - b_i|`, so :math:`|a_i - b_i|^p` never
    overflows or underflows.  ``p = inf`` gives :math:`\max_i |a_i - b_i|`
    (over the features with :math:`w_i > 0`).  Weights enter as SciPy's do,
    by scaling: :math:`d_p` of :math:`w_i^{1/p}(a_i - b_i)` (for ``p = inf``,
    :math:`[w_i \ne 0]`).

    Examples
    --------
    >>> import numpy as np
    >>> float(minkowski(np.array([0.0, 0.0]), np.array([3.0, 4.0]), p=1))
    7.0
    """
    check_positive(p, "p")
    if w is not None:
        array_namespace(a, b, w)  # w must come from the backend of a and b
    xp, a, b = _vector_pair(a, b)
    diff = a - b
    if w is not None:
        diff = diff * _root_weights(w, diff, p, xp=xp)
    return as_array0d(_minkowski_rows(diff, p, xp=xp), xp)


def _root_weights(w, like, p, *, xp):
    r""":math:`w^{1/p}` (``p = inf``: :math:`[w \ne 0]`) for non-negative (d,) weights, in ``like``'s dtype."""
    w = as_float(w, xp, float_dtype(xp, like, w), "w")
    d = like.shape[-1]
    if w.ndim != 1 or w.shape[0] != d:
        raise ValueError(f"w must have shape ({d},) to match {d} features; got w.shape={tuple(w.shape)}")
    value_check(xp.all(w >= 0), "w must hold non-negative weights; got a negative entry (or NaN)")
    if p == math.inf:
        return xp.astype(w != 0, w.dtype)
    if p == 1:
        return w
    if p == 2:
        return xp.sqrt(w)
    return w ** (1.0 / p)


def _minkowski_rows(diff, p, *, xp):
    """Minkowski norm of order ``p`` of ``diff`` over the last axis (scaled by max |diff_i|)."""
    ad = xp.abs(diff)
    if p == 1:
        return xp.sum(ad, axis=-1)
    m = xp.max(ad, axis=-1)
    if p == math.inf:
        return m
    nz = m != 0  # (NaN propagates)
    m_safe = xp.where(nz, m, 1.0)
    s = xp.sum((ad / xp.expand_dims(m_safe, axis=-1)) ** p, axis=-1)  # >= 1 where nz
    return xp.where(nz, m_safe * xp.where(nz, s, 1.0) ** (1.0 / p), 0.0)


def mahalanobis(a, b, Sigma):
    r"""Mahalanobis distance under covariance ``Sigma``, by Cholesky and solve.

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)
    Sigma : array of shape (d, d)
        Symmetric positive-definite covariance (symmetrised as
        :math:`(\Sigma + \Sigma^T)/2` before use).

    Returns
    -------
    array of shape () or (n,)

    Raises
    ------
    ValueError
        If ``Sigma`` has the wrong shape or is not positive definite.  The
        latter is checked on concrete inputs only: under ``jax.jit`` and on
        Dask a non-PD ``Sigma`` gives NaN.

    Notes
    -----
    .. math:: d(a, b) = \sqrt{(a - b)^T \Sigma^{-1} (a - b)} = \|L^{-1}(a - b)\|_2,
       \quad \Sigma = L L^T,
       \qquad \frac{\partial d}{\partial a} = \frac{\Sigma^{-1}(a - b)}{d}

    :math:`\Sigma^{-1}` is never formed: :math:`z = L^{-1}(a - b)` with the
    triangular :math:`L^{-1}` from a linear solve, so the squared distance
    :math:`z^T z` is never negative; rows are mapped by a matrix product, so
    row-sharded inputs give a row-sharded result.  Cost :math:`O(d^3 + n d^2)`.

    Examples
    --------
    >>> import numpy as np
    >>> float(mahalanobis(np.array([2.0, 0.0]), np.array([0.0, 0.0]), np.diag([4.0, 1.0])))
    1.0
    """
    array_namespace(a, b, Sigma)  # Sigma must come from the backend of a and b
    xp, a, b = _vector_pair(a, b)
    Sigma = as_float(Sigma, xp, float_dtype(xp, a, Sigma))
    _check_covariance(Sigma, a.shape[-1], "Sigma")
    L = _cholesky(Sigma, "Sigma", xp=xp)
    diff = a - b
    rows = diff if diff.ndim == 2 else xp.expand_dims(diff, axis=0)
    out = _safe_sqrt(_mahalanobis_sq(rows, L, xp=xp), xp=xp)
    return out if diff.ndim == 2 else xp.reshape(out, ())


def hamming(a, b):
    r"""Hamming distance: the fraction of entries that differ (as ``scipy.spatial.distance.hamming``).

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)
        Any dtype (booleans, integer codes, floats).

    Returns
    -------
    array of shape () or (n,)
        Floating (the inputs' floating dtype, else the backend's default float).

    Notes
    -----
    .. math:: d(a, b) = \frac{1}{d}\textstyle\sum_i [a_i \ne b_i]

    Piecewise constant, so not differentiable.

    Examples
    --------
    >>> import numpy as np
    >>> float(hamming(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])))
    0.5
    """
    xp = array_namespace(a, b)
    dtype = float_dtype(xp, a, b)
    check_ndim(a, "a", (1, 2))
    check_same_shape(a, b, "a", "b")
    check_nonempty(a, "a")
    if a.dtype != b.dtype:  # compare in one dtype (array-api-strict refuses mixed kinds)
        a, b = as_float(a, xp, dtype), as_float(b, xp, dtype)
    return as_array0d(xp.mean(xp.astype(a != b, dtype), axis=-1), xp)


def cosine_similarity(a, b):
    r"""Cosine of the angle between ``a`` and ``b``.

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)

    Returns
    -------
    array of shape () or (n,)
        Values in :math:`[-1, 1]` (clipped against rounding).  A zero vector
        has similarity 0 with everything (scikit-learn's convention; SciPy
        returns NaN).

    Notes
    -----
    .. math:: s(a, b) = \frac{a \cdot b}{\|a\|\,\|b\|},
       \qquad \frac{\partial s}{\partial a} = \frac{b}{\|a\|\|b\|} - s\,\frac{a}{\|a\|^2}

    Examples
    --------
    >>> import numpy as np
    >>> float(cosine_similarity(np.array([1.0, 0.0]), np.array([1.0, 1.0])))  # doctest: +ELLIPSIS
    0.7071...
    """
    xp, a, b = _vector_pair(a, b)
    return as_array0d(_cosine(a, b, xp=xp), xp)


def _cosine(a, b, *, xp):
    # the cosine does not change when a or b is scaled: dividing each by its
    # max |entry| keeps the squares and products away from overflow and underflow
    a = a / _n.max_abs_scale(a, axis=-1, keepdims=True, xp=xp)
    b = b / _n.max_abs_scale(b, axis=-1, keepdims=True, xp=xp)
    na = _safe_sqrt(xp.sum(a * a, axis=-1), xp=xp)
    nb = _safe_sqrt(xp.sum(b * b, axis=-1), xp=xp)
    denom = na * nb
    nz = denom != 0  # (NaN propagates)
    s = xp.sum(a * b, axis=-1) / xp.where(nz, denom, 1.0)
    return xp.clip(xp.where(nz, s, 0.0), -1.0, 1.0)


def cosine_distance(a, b):
    r"""Cosine distance, :math:`1 - s(a, b)` (as ``scipy.spatial.distance.cosine``).

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)

    Returns
    -------
    array of shape () or (n,)
        Values in :math:`[0, 2]`; 1 when either vector is zero (SciPy returns NaN).

    Notes
    -----
    .. math:: d(a, b) = 1 - \frac{a \cdot b}{\|a\|\,\|b\|},
       \qquad \frac{\partial d}{\partial a} = -\frac{\partial s}{\partial a}

    Examples
    --------
    >>> import numpy as np
    >>> float(cosine_distance(np.array([1.0, 0.0]), np.array([0.0, 2.0])))
    1.0
    """
    xp, a, b = _vector_pair(a, b)
    return as_array0d(1.0 - _cosine(a, b, xp=xp), xp)


def chebyshev(a, b):
    r"""Chebyshev (:math:`L_\infty`) distance (as ``scipy.spatial.distance.chebyshev``).

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)

    Returns
    -------
    array of shape () or (n,)

    Notes
    -----
    .. math:: d(a, b) = \max_i |a_i - b_i|,
       \qquad \frac{\partial d}{\partial a_i} = \operatorname{sign}(a_i - b_i)\,[i = \arg\max_j |a_j - b_j|]

    (a subgradient where several entries tie for the maximum).  The same as
    ``minkowski(a, b, p=math.inf)``.

    Examples
    --------
    >>> import numpy as np
    >>> float(chebyshev(np.array([0.0, 0.0]), np.array([3.0, -4.0])))
    4.0
    """
    xp, a, b = _vector_pair(a, b)
    return as_array0d(_chebyshev_rows(a, b, xp=xp), xp)


def _chebyshev_rows(u, v, *, xp):
    return xp.max(xp.abs(u - v), axis=-1)


def canberra(a, b):
    r"""Canberra distance (as ``scipy.spatial.distance.canberra``).

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)

    Returns
    -------
    array of shape () or (n,)

    Notes
    -----
    .. math:: d(a, b) = \sum_i \frac{|a_i - b_i|}{|a_i| + |b_i|},
       \qquad \frac{\partial d}{\partial a_i}
       = \frac{\operatorname{sign}(a_i - b_i)}{|a_i| + |b_i|}
         - \frac{|a_i - b_i|\operatorname{sign}(a_i)}{(|a_i| + |b_i|)^2}

    A term with :math:`a_i = b_i = 0` counts 0 (SciPy's convention); its
    gradient is 0, never NaN.

    Examples
    --------
    >>> import numpy as np
    >>> float(canberra(np.array([1.0, 0.0]), np.array([3.0, 0.0])))
    0.5
    """
    xp, a, b = _vector_pair(a, b)
    return as_array0d(_canberra_rows(a, b, xp=xp), xp)


def _canberra_rows(u, v, *, xp):
    num = xp.abs(u - v)
    den = xp.abs(u) + xp.abs(v)
    nz = den != 0  # (NaN propagates)
    return xp.sum(xp.where(nz, num / xp.where(nz, den, 1.0), 0.0), axis=-1)


def braycurtis(a, b):
    r"""Bray–Curtis dissimilarity (as ``scipy.spatial.distance.braycurtis``).

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)
        Usually non-negative (counts, abundances); then the result is in :math:`[0, 1]`.

    Returns
    -------
    array of shape () or (n,)
        0 for two zero vectors (SciPy returns NaN there); ``inf`` where
        :math:`\sum_i |a_i + b_i| = 0` but :math:`a \ne b` (as SciPy).

    Notes
    -----
    .. math:: d(a, b) = \frac{\sum_i |a_i - b_i|}{\sum_i |a_i + b_i|},
       \qquad \frac{\partial d}{\partial a_i}
       = \frac{\operatorname{sign}(a_i - b_i) - d\,\operatorname{sign}(a_i + b_i)}{\sum_j |a_j + b_j|}

    Examples
    --------
    >>> import numpy as np
    >>> float(braycurtis(np.array([1.0, 2.0]), np.array([3.0, 2.0])))
    0.25
    """
    xp, a, b = _vector_pair(a, b)
    return as_array0d(_braycurtis_rows(a, b, xp=xp), xp)


def _braycurtis_rows(u, v, *, xp):
    num = xp.sum(xp.abs(u - v), axis=-1)
    den = xp.sum(xp.abs(u + v), axis=-1)
    nz = den != 0  # (NaN propagates)
    edge = xp.where(num == 0, xp.zeros_like(num), xp.full_like(num, math.inf))  # 0/0 -> 0, x/0 -> inf
    return xp.where(nz, num / xp.where(nz, den, 1.0), edge)


def correlation(a, b):
    r"""Correlation distance, :math:`1 - r` (as ``scipy.spatial.distance.correlation``).

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)

    Returns
    -------
    array of shape () or (n,)
        In :math:`[0, 2]`; 1 where either vector is constant (SciPy returns NaN).

    Notes
    -----
    The cosine distance of the centred vectors:

    .. math:: d(a, b) = 1 - \frac{(a - \bar a)\cdot(b - \bar b)}{\|a - \bar a\|\,\|b - \bar b\|},
       \qquad \frac{\partial d}{\partial a} = -\Big(I - \tfrac1d \mathbf 1\mathbf 1^\top\Big)
       \Big(\frac{\tilde b}{\|\tilde a\|\|\tilde b\|} - (1 - d)\frac{\tilde a}{\|\tilde a\|^2}\Big)

    with :math:`\tilde a = a - \bar a`, :math:`\tilde b = b - \bar b`.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(correlation(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]))), 12)
    2.0
    """
    xp, a, b = _vector_pair(a, b)
    a = a - xp.mean(a, axis=-1, keepdims=True)
    b = b - xp.mean(b, axis=-1, keepdims=True)
    return as_array0d(1.0 - _cosine(a, b, xp=xp), xp)


def seuclidean(a, b, V):
    r"""Standardised Euclidean distance (as ``scipy.spatial.distance.seuclidean``).

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)
    V : array of shape (d,)
        Positive per-feature variances.

    Returns
    -------
    array of shape () or (n,)

    Raises
    ------
    ValueError
        If ``V`` has the wrong shape, or (on concrete inputs) an entry that is not positive.

    Notes
    -----
    .. math:: d(a, b) = \sqrt{\textstyle\sum_i (a_i - b_i)^2 / V_i},
       \qquad \frac{\partial d}{\partial a_i} = \frac{a_i - b_i}{V_i\, d},
       \qquad \frac{\partial d}{\partial V_i} = -\frac{(a_i - b_i)^2}{2 V_i^2 d}

    The Euclidean distance of :math:`(a - b)/\sqrt V`, scaled as
    :func:`euclidean` is (no overflow or underflow of the squares).

    Examples
    --------
    >>> import numpy as np
    >>> float(seuclidean(np.array([2.0, 0.0]), np.array([0.0, 3.0]), np.array([4.0, 9.0])))  # doctest: +ELLIPSIS
    1.4142...
    """
    array_namespace(a, b, V)  # V must come from the backend of a and b
    xp, a, b = _vector_pair(a, b)
    V = _check_variances(V, a, xp=xp)
    return as_array0d(_euclidean_rows((a - b) / xp.sqrt(V), xp=xp), xp)


def _check_variances(V, like, *, xp):
    """``V`` as a positive (d,) float array of ``like``'s dtype (``d`` = ``like.shape[-1]``)."""
    V = as_float(V, xp, float_dtype(xp, like, V), "V")
    d = like.shape[-1]
    if V.ndim != 1 or V.shape[0] != d:
        raise ValueError(f"V must have shape ({d},) to match {d} features; got V.shape={tuple(V.shape)}")
    value_check(xp.all(V > 0), "V must hold positive variances; got an entry <= 0 (or NaN)")
    return V


def _euclidean_rows(d, *, xp):
    """``||d||_2`` over the last axis, scaled by max |d_i| (as hypot does): finite and normal whenever it is."""
    s = _n.max_abs_scale(d, axis=-1, keepdims=True, xp=xp)
    u = d / s
    return _safe_sqrt(xp.sum(u * u, axis=-1), xp=xp) * xp.squeeze(s, axis=-1)


def jensenshannon(p, q, *, base=None):
    r"""Jensen–Shannon distance (as ``scipy.spatial.distance.jensenshannon``).

    Parameters
    ----------
    p, q : array of shape (k,) or (n, k)
        Non-negative weights of two distributions (per row); each row is
        divided by its sum first, as SciPy does.
    base : float, optional
        Logarithm base of the divergence; default ``e``.

    Returns
    -------
    array of shape () or (n,)
        In :math:`[0, \sqrt{\log_b 2}]`.

    Raises
    ------
    ValueError
        (Concrete inputs) a negative entry, or a row that sums to 0.

    Notes
    -----
    .. math:: d(p, q) = \sqrt{\tfrac12 D_{KL}(p\,\|\,m) + \tfrac12 D_{KL}(q\,\|\,m)},
       \quad m = \tfrac12(p + q),

    the square root of :func:`portable_ml.probability.js_divergence` of the
    normalised rows.  With :math:`JS = d^2`,
    :math:`\partial d/\partial p_i = \tfrac{1}{4 d}\log(p_i/m_i)` for
    normalised :math:`p` (then projected by the normalisation); the gradient
    at :math:`p = q` is 0 (never NaN).

    Examples
    --------
    >>> import numpy as np
    >>> float(jensenshannon(np.array([1.0, 0.0]), np.array([0.0, 1.0]), base=2))
    1.0
    """
    from .probability import _check_base, _distribution_pair

    _check_base(base)
    xp, p, q = _distribution_pair(p, q)
    check_ndim(p, "p", (1, 2))
    return as_array0d(_jensenshannon_rows(_normalise_rows(p, "p", xp=xp), _normalise_rows(q, "q", xp=xp),
                                          base, xp=xp), xp)


def _normalise_rows(p, name, *, xp):
    total = xp.sum(p, axis=-1, keepdims=True)
    value_check(xp.all(total > 0), f"{name} must have a positive sum along its last axis (a row of zeros "
                                   "is no distribution)")
    return p / xp.where(total > 0, total, 1.0)


def _jensenshannon_rows(p, q, base, *, xp):
    m = (p + q) * 0.5
    js = xp.sum(_n.rel_entr(p, m, xp=xp) + _n.rel_entr(q, m, xp=xp), axis=-1) * 0.5
    if base is not None:
        js = js / math.log(base)
    return _safe_sqrt(js, xp=xp)


# ------------------------------------------------------------ pairwise forms
def _sq_distances(A, B, same, *, xp):
    r"""Squared distances in GEMM form, :math:`\|a\|^2 + \|b\|^2 - 2 a\cdot b`, unclamped.

    The rows are first centred on a common point (distances do not change),
    so the cancellation error of the GEMM form scales with the spread of the
    data, not with its distance from the origin.  The norms ride along in the
    GEMM itself, :math:`[-2a_i, \|a_i\|^2, 1] \cdot [b_j, 1, \|b_j\|^2]`,
    so the (n, m) result is written once, by the GEMM, with no elementwise
    pass over it.  Also returns :math:`\max_i \|a_i - c\|^2 + \max_j \|b_j - c\|^2`,
    the scale of the rounding error of every entry.
    """
    c = xp.mean(A, axis=0) if same else (xp.mean(A, axis=0) + xp.mean(B, axis=0)) * 0.5
    A = A - c
    B = A if same else B - c
    a2 = xp.sum(A * A, axis=1, keepdims=True)
    b2 = a2 if same else xp.sum(B * B, axis=1, keepdims=True)
    left = xp.concat([A * -2.0, a2, xp.ones_like(a2)], axis=1)
    right = xp.concat([B, xp.ones_like(b2), b2], axis=1)
    return left @ xp.matrix_transpose(right), xp.max(a2) + xp.max(b2)


def _unit_operands(A, B, same, *, xp):
    r"""``A / s``, ``B / s`` in the working dtype, and the scale ``s``.

    The working dtype is the widest the device offers (float32 inputs are
    computed in float64 where it exists, as scikit-learn does); ``s`` is
    the power of 2 nearest below :math:`\max |A|, |B|`, so that the
    scaling is exact and no square or norm overflows or underflows.
    """
    wide = widest_float_dtype(xp, A)
    if xp.finfo(wide).bits > xp.finfo(A.dtype).bits:
        A = xp.astype(A, wide)
        B = A if same else xp.astype(B, wide)
    m = xp.max(xp.abs(A)) if same else xp.maximum(xp.max(xp.abs(A)), xp.max(xp.abs(B)))
    ok = xp.isfinite(m) & (m > 0)
    s = xp.where(ok, 2.0 ** xp.floor(xp.log2(xp.where(ok, m, 1.0))), 1.0)
    return A / s, (A / s if same else B / s), s


def _is_sharded(x):
    try:
        dev = _compat.device(x)
    except Exception:  # noqa: BLE001 (no placement to ask: not sharded)
        return False
    return dev is not None and not is_single_device(dev)


def _correct_small(D2, A, B, bound, *, xp):
    r"""Recompute, as :math:`\sum_k (a_{ik} - b_{jk})^2`, the entries the GEMM form cannot resolve.

    The GEMM form's absolute error is about :math:`\epsilon` times ``bound``;
    entries below :math:`\sqrt\epsilon` times ``bound`` (near and identical
    rows, far from the centre) are recomputed directly from the rows, so
    that identical rows give exactly 0 and near rows their full relative
    precision.  Only on concrete arrays on one device (the set of such
    entries is data dependent): under ``jax.jit``, on Dask and for JAX arrays
    sharded over several devices the GEMM form is returned.
    """
    if not (is_concrete(D2) and is_concrete(A) and is_concrete(B)) or _is_sharded(D2):
        return D2
    flag = D2 <= math.sqrt(float(xp.finfo(D2.dtype).eps)) * bound
    if not bool(xp.any(flag)):  # the common case: cheaper than nonzero
        return D2
    rows, cols = xp.nonzero(flag)
    k = int(rows.shape[0])
    if k == 0:
        return D2
    step = max(1, _BLOCK_ELEMENTS // max(1, A.shape[1]))
    exact = [
        xp.sum((xp.take(A, rows[i:min(i + step, k)], axis=0) - xp.take(B, cols[i:min(i + step, k)], axis=0)) ** 2,
               axis=1)
        for i in range(0, k, step)
    ]
    return _xpx.at(D2)[flag].set(exact[0] if len(exact) == 1 else xp.concat(exact))


def _pairwise_sq(A, B, same, *, xp):
    """Squared distances over ``s**2`` (working dtype, corrected, unclamped), and ``s``."""
    A, B, s = _unit_operands(A, B, same, xp=xp)
    D2, bound = _sq_distances(A, B, same, xp=xp)
    return _correct_small(D2, A, B, bound, xp=xp), s


def _clamped_sq_distances(A, B, same, *, xp):
    """Squared distances clamped at 0, with an exact-zero diagonal for X vs X, in ``A``'s dtype."""
    D2, s = _pairwise_sq(A, B, same, xp=xp)
    D2 = xp.maximum(D2, 0.0)
    if same:
        D2 = D2 * xp.astype(_off_diagonal(D2.shape[0], D2, xp=xp), D2.dtype)
    return _as_dtype((D2 * s) * s, A.dtype, xp=xp)


def _as_dtype(x, dtype, *, xp):
    """``x`` in ``dtype``, without the copy ``astype`` makes when it already is."""
    return x if x.dtype == dtype else xp.astype(x, dtype)


def pairwise_euclidean(A, B=None, *, squared=False):
    r"""Matrix of Euclidean distances between the rows of ``A`` and ``B``.

    Parameters
    ----------
    A : array of shape (n, d)
    B : array of shape (m, d), optional
        Default (or ``B is A``): ``A`` itself; the diagonal is then exactly 0.
    squared : bool, default False
        Return squared distances.

    Returns
    -------
    array of shape (n, m)
        Never negative and never NaN for finite inputs.

    Notes
    -----
    GEMM form (as ``sklearn.metrics.pairwise.euclidean_distances``):

    .. math:: D_{ij}^2 = \|a_i\|^2 + \|b_j\|^2 - 2\,a_i \cdot b_j,
       \qquad D_{ij} = \sqrt{\max(D_{ij}^2, 0)},
       \qquad \frac{\partial D_{ij}}{\partial a_i} = \frac{a_i - b_j}{D_{ij}}

    Rounding can make :math:`D^2_{ij}` slightly negative; it is clamped at 0.
    Accuracy, in four steps:

    - float32 inputs are computed in float64 where the device has it (as
      scikit-learn does), and the result cast back;
    - the rows are divided by a power of 2 near :math:`\max|A|, |B|` (exact;
      the result is scaled back), so no norm overflows or underflows and
      finite input never gives NaN;
    - they are centred on a common point :math:`c`, so the absolute error of
      :math:`D^2` is about :math:`\epsilon \max_i\|a_i - c\|^2`, not
      :math:`\epsilon \max_i\|a_i\|^2`;
    - entries below :math:`\sqrt\epsilon` times that bound (near or identical
      rows) are recomputed directly as :math:`\sum_k (a_{ik} - b_{jk})^2`:
      identical rows give exactly 0 and near rows full relative precision.
      This pass needs concrete values: under ``jax.jit``/``jax.grad`` and
      on Dask it is skipped and such entries keep the GEMM form's absolute
      error (about :math:`\sqrt{\epsilon}` times the spread of the data).

    So float32 results are within about 1e-7 relative of a float64
    reference. The gradient at a zero distance is 0 (never NaN).

    Memory: three (n, m) floating arrays at peak, the result included (four
    on backends without NumPy's reuse of temporaries), plus (n, m) boolean
    masks; float32 inputs computed in float64 need twice that; never an
    (n, m, d) array (the direct pass works on blocks of near pairs).

    Examples
    --------
    >>> import numpy as np
    >>> pairwise_euclidean(np.array([[0.0, 0.0], [3.0, 4.0]]))
    array([[0., 5.],
           [5., 0.]])
    """
    xp, A, B, same = _matrix_pair(A, B)
    if squared:
        return _clamped_sq_distances(A, B, same, xp=xp)
    D2, s = _pairwise_sq(A, B, same, xp=xp)
    keep = _off_diagonal(D2.shape[0], D2, xp=xp) if same else None
    return _as_dtype(_safe_sqrt(D2, xp=xp, keep=keep) * s, A.dtype, xp=xp)


def pairwise_manhattan(A, B=None):
    r"""Matrix of Manhattan (L1) distances between the rows of ``A`` and ``B``.

    Parameters
    ----------
    A : array of shape (n, d)
    B : array of shape (m, d), optional
        Default: ``A`` itself.

    Returns
    -------
    array of shape (n, m)

    Notes
    -----
    .. math:: D_{ij} = \textstyle\sum_k |a_{ik} - b_{jk}|,
       \qquad \frac{\partial D_{ij}}{\partial a_{ik}} = \operatorname{sign}(a_{ik} - b_{jk})

    There is no GEMM form, so :math:`|a_{ik} - b_{jk}|` is broadcast over
    blocks of rows of ``A``, each block's (rows, m, d) temporaries holding at
    most :math:`\max(n m, 2^{22})` elements.  Peak memory: about two such
    temporaries plus two (n, m) arrays (the blocks and their concatenation) —
    never the full (n, m, d) array unless it is that small.  The loop runs
    over blocks, not samples; there are about :math:`d` blocks at most.
    """
    xp, A, B, _ = _matrix_pair(A, B)
    return _blocked(A, B, lambda u, v: xp.sum(xp.abs(u - v), axis=-1), xp=xp)


def _unit_rows(X, *, xp):
    # each row divided by its max |entry| first: the direction is unchanged and
    # the squares neither overflow nor underflow (rows of 1e30 or 1e-30 in float32)
    X = X / _n.max_abs_scale(X, axis=1, keepdims=True, xp=xp)
    norms = _safe_sqrt(xp.sum(X * X, axis=1), xp=xp)
    return X / xp.where(norms != 0, norms, 1.0)[:, None]


def pairwise_cosine_similarity(A, B=None):
    r"""Matrix of cosine similarities between the rows of ``A`` and ``B``.

    Parameters
    ----------
    A : array of shape (n, d)
    B : array of shape (m, d), optional
        Default: ``A`` itself.

    Returns
    -------
    array of shape (n, m)
        In :math:`[-1, 1]`; zero rows give 0 (as
        ``sklearn.metrics.pairwise.cosine_similarity``).

    Notes
    -----
    .. math:: S_{ij} = \frac{a_i \cdot b_j}{\|a_i\|\,\|b_j\|} = \hat a_i \cdot \hat b_j

    The rows are normalised first, then one GEMM.  Memory: the result and
    one (n, m) temporary (the clip).
    """
    xp, A, B, same = _matrix_pair(A, B)
    An = _unit_rows(A, xp=xp)
    Bn = An if same else _unit_rows(B, xp=xp)
    return xp.clip(An @ xp.matrix_transpose(Bn), -1.0, 1.0)


#: ``pairwise_distances`` metric names (scikit-learn's, which are SciPy's ``cdist`` names plus aliases)
_METRIC_ALIASES = {"l2": "euclidean", "l1": "manhattan", "cityblock": "manhattan"}
PAIRWISE_METRICS = ("euclidean", "l2", "sqeuclidean", "manhattan", "cityblock", "l1", "cosine", "correlation",
                    "chebyshev", "canberra", "braycurtis", "minkowski", "seuclidean", "mahalanobis", "hamming",
                    "jensenshannon")


def _blocked(A, B, rows_fn, *, xp):
    """``rows_fn(A[i:j, None, :], B[None, :, :])`` over blocks of rows of ``A``, concatenated.

    Each block's (rows, m, d) temporaries hold at most :math:`\\max(n m, 2^{22})` elements
    (:data:`_BLOCK_ELEMENTS`); there are about :math:`d` blocks at most.
    """
    n, d = A.shape
    m = B.shape[0]
    rows = max(1, max(n * m, _BLOCK_ELEMENTS) // (m * d))
    if rows >= n:
        return rows_fn(A[:, None, :], B[None, :, :])
    blocks = [rows_fn(A[i:min(i + rows, n), None, :], B[None, :, :]) for i in range(0, n, rows)]
    return xp.concat(blocks, axis=0)


def _stacked_rows(A, B, same, *, xp):
    return A if same else xp.concat([A, B], axis=0)


def pairwise_distances(A, B=None, *, metric="euclidean", p=2, w=None, V=None, VI=None, base=None):
    r"""Matrix of distances between the rows of ``A`` and ``B``, by metric name.

    The metric names are scikit-learn's (``sklearn.metrics.pairwise_distances``),
    which are SciPy's ``cdist`` names plus the aliases ``"l1"``, ``"l2"``
    and ``"manhattan"``; each entry equals the vector function of the same
    name (:func:`euclidean`, :func:`canberra`, ...) on a pair of rows.

    Parameters
    ----------
    A : array of shape (n, d)
    B : array of shape (m, d), optional
        Default: ``A`` itself.
    metric : str, default "euclidean"
        One of ``"euclidean"`` (``"l2"``), ``"sqeuclidean"``, ``"manhattan"``
        (``"cityblock"``, ``"l1"``), ``"cosine"``, ``"correlation"``,
        ``"chebyshev"``, ``"canberra"``, ``"braycurtis"``, ``"minkowski"``,
        ``"seuclidean"``, ``"mahalanobis"``, ``"hamming"``, ``"jensenshannon"``.
    p : float, default 2
        Order of ``"minkowski"``.
    w : array of shape (d,), optional
        Weights of ``"minkowski"`` (SciPy's ``w``).
    V : array of shape (d,), optional
        Variances of ``"seuclidean"``; default the per-feature variance
        (``ddof=1``) of the rows of ``A`` (``B=None``, as scikit-learn), else
        of the rows of ``A`` and ``B`` stacked (as SciPy's ``cdist``;
        scikit-learn asks for ``V`` then).
    VI : array of shape (d, d), optional
        Inverse covariance of ``"mahalanobis"`` (SciPy's ``VI``); default
        the inverse of the covariance of the rows, taken as for ``V``
        (then applied by a Cholesky solve, never inverted).
    base : float, optional
        Logarithm base of ``"jensenshannon"``.

    The metric-specific arrays ``w``, ``V``, ``VI`` are keyword-only, like
    the ``**kwds`` SciPy and scikit-learn pass them in.

    Returns
    -------
    array of shape (n, m)
        With ``B=None`` the diagonal is exactly 0 for every metric.

    Raises
    ------
    ValueError
        For an unknown ``metric``, or an option of the wrong shape or value.

    Notes
    -----
    GEMM forms where the metric has one: ``euclidean``/``sqeuclidean``
    (:func:`pairwise_euclidean`), ``cosine`` (:math:`1 - \hat a_i\cdot\hat b_j`),
    ``correlation`` (the cosine distance of row-centred data), ``seuclidean``
    (Euclidean of :math:`x/\sqrt V`), ``mahalanobis`` (Euclidean of
    :math:`x L` with :math:`L L^\top = V^{-1}`) and ``minkowski`` with
    ``p = 2``.  The others (``manhattan``, ``chebyshev``, ``canberra``,
    ``braycurtis``, ``minkowski`` of other orders, ``hamming``,
    ``jensenshannon``) broadcast :math:`a_i` against :math:`b_j` in blocks of
    rows of ``A``, each block's (rows, m, d) temporaries at most
    :math:`\max(n m, 2^{22})` elements -- never the whole (n, m, d) array
    unless it is that small.  Gradients (``jax.grad``, ``torch.func``)
    flow through every form except ``hamming``.

    Examples
    --------
    >>> import numpy as np
    >>> pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), metric="chebyshev")
    array([[0., 4.],
           [4., 0.]])
    """
    if not isinstance(metric, str) or metric not in PAIRWISE_METRICS:
        raise ValueError(f"metric must be one of {list(PAIRWISE_METRICS)}; got metric={metric!r}")
    metric = _METRIC_ALIASES.get(metric, metric)
    if metric == "minkowski":
        check_positive(p, "p")
    if metric == "jensenshannon":
        from .probability import _check_base

        _check_base(base)
    given = {"w": w, "V": V, "VI": VI}
    wants = {"minkowski": "w", "seuclidean": "V", "mahalanobis": "VI"}
    for name, value in given.items():
        if value is not None and wants.get(metric) != name:
            raise ValueError(f"{name} applies to metric={[m for m, o in wants.items() if o == name][0]!r} only; "
                             f"got {name} with metric={metric!r}")
    extra = tuple(v for v in (w, V, VI) if v is not None)
    if extra:
        array_namespace(A, *extra) if B is None else array_namespace(A, B, *extra)
    xp, A, B, same = _matrix_pair(A, B)
    if metric == "euclidean":
        return pairwise_euclidean(A, None if same else B)
    if metric == "sqeuclidean":
        return pairwise_euclidean(A, None if same else B, squared=True)
    if metric == "manhattan":
        return pairwise_manhattan(A, None if same else B)
    if metric == "cosine":
        return _zero_diagonal(1.0 - pairwise_cosine_similarity(A, None if same else B), same, xp=xp)
    if metric == "correlation":
        Ac = A - xp.mean(A, axis=1, keepdims=True)
        Bc = Ac if same else B - xp.mean(B, axis=1, keepdims=True)
        return _zero_diagonal(1.0 - pairwise_cosine_similarity(Ac, None if same else Bc), same, xp=xp)
    if metric == "seuclidean":
        if V is None:
            V = xp.var(_stacked_rows(A, B, same, xp=xp), axis=0, correction=1)
        V = _check_variances(V, A, xp=xp)
        s = xp.sqrt(V)
        return pairwise_euclidean(A / s, None if same else B / s)
    if metric == "mahalanobis":
        if VI is None:  # x L^{-T} with L L^T = Sigma: (a - b)^T Sigma^{-1} (a - b) = ||(a - b) L^{-T}||^2
            X = _stacked_rows(A, B, same, xp=xp)
            Xc = X - xp.mean(X, axis=0)
            L = _cholesky(xp.matrix_transpose(Xc) @ Xc / (X.shape[0] - 1), "the covariance of A and B", xp=xp)
            d = L.shape[0]
            T = xp.matrix_transpose(xp.linalg.solve(L, xp.eye(d, dtype=L.dtype, device=device_of(L))))
        else:  # (a - b)^T VI (a - b) = ||(a - b) L||^2 with L L^T = VI
            VI = as_float(VI, xp, float_dtype(xp, A, VI), "VI")
            _check_covariance(VI, A.shape[1], "VI")
            T = _cholesky(VI, "VI", xp=xp)
        return pairwise_euclidean(A @ T, None if same else B @ T)
    if metric == "minkowski":
        if w is not None:
            r = _root_weights(w, A, p, xp=xp)
            A, B = A * r, (A * r if same else B * r)
        if p == 2:
            return pairwise_euclidean(A, None if same else B)
        if p == 1:
            return pairwise_manhattan(A, None if same else B)
        return _blocked(A, B, lambda u, v: _minkowski_rows(u - v, p, xp=xp), xp=xp)
    if metric == "chebyshev":
        return _blocked(A, B, lambda u, v: _chebyshev_rows(u, v, xp=xp), xp=xp)
    if metric == "canberra":
        return _blocked(A, B, lambda u, v: _canberra_rows(u, v, xp=xp), xp=xp)
    if metric == "braycurtis":
        return _blocked(A, B, lambda u, v: _braycurtis_rows(u, v, xp=xp), xp=xp)
    if metric == "hamming":
        return _blocked(A, B, lambda u, v: xp.mean(xp.astype(u != v, A.dtype), axis=-1), xp=xp)
    # jensenshannon
    from .probability import _check_nonnegative

    _check_nonnegative(A, "A", xp=xp)
    An = _normalise_rows(A, "A", xp=xp)
    if not same:
        _check_nonnegative(B, "B", xp=xp)
    Bn = An if same else _normalise_rows(B, "B", xp=xp)
    D = _blocked(An, Bn, lambda u, v: _jensenshannon_rows(u, v, base, xp=xp), xp=xp)
    return _zero_diagonal(D, same, xp=xp)


def _zero_diagonal(D, same, *, xp):
    """``D`` with an exactly zero diagonal where ``B`` is ``A`` (a mask product: gradient-safe)."""
    return D * xp.astype(_off_diagonal(D.shape[0], D, xp=xp), D.dtype) if same else D


# ------------------------------------------------------------------- kernels
def linear_kernel(A, B=None):
    r"""Linear kernel (Gram matrix of inner products).

    Parameters
    ----------
    A : array of shape (n, d)
    B : array of shape (m, d), optional
        Default: ``A`` itself.

    Returns
    -------
    array of shape (n, m)

    Notes
    -----
    .. math:: K_{ij} = a_i \cdot b_j, \qquad K = A B^T

    Memory: the result only.
    """
    xp, A, B, _ = _matrix_pair(A, B)
    return A @ xp.matrix_transpose(B)


def polynomial_kernel(A, B=None, *, degree=3, gamma=1.0, coef0=1.0):
    r"""Polynomial kernel.

    Parameters
    ----------
    A : array of shape (n, d)
    B : array of shape (m, d), optional
        Default: ``A`` itself.
    degree : int, default 3
        A non-negative integer (a fractional power of a negative base is NaN).
    gamma, coef0 : float, default 1.0
        Same meaning as in ``sklearn.metrics.pairwise.polynomial_kernel``
        (whose ``gamma`` defaults to ``1/d`` instead).

    Returns
    -------
    array of shape (n, m)

    Notes
    -----
    .. math:: K_{ij} = (\gamma\, a_i \cdot b_j + c_0)^{p},
       \qquad \frac{\partial K_{ij}}{\partial a_i} = p\,\gamma\,(\gamma\, a_i\cdot b_j + c_0)^{p-1} b_j

    Memory: the result and one (n, m) temporary.
    """
    degree = check_int(degree, "degree", low=0)
    gamma, coef0 = check_real(gamma, "gamma"), check_real(coef0, "coef0")
    xp, A, B, _ = _matrix_pair(A, B)
    return ((A @ xp.matrix_transpose(B)) * gamma + coef0) ** degree


def rbf_kernel(A, B=None, *, sigma=1.0):
    r"""Gaussian (RBF) kernel.

    Parameters
    ----------
    A : array of shape (n, d)
    B : array of shape (m, d), optional
        Default: ``A`` itself (the diagonal is then exactly 1).
    sigma : float, default 1.0
        Bandwidth, positive.  scikit-learn's ``rbf_kernel`` uses
        :math:`\gamma = 1/(2\sigma^2)`.

    Returns
    -------
    array of shape (n, m)
        In :math:`[0, 1]`.

    Notes
    -----
    .. math:: K_{ij} = \exp\!\Big(-\frac{\|a_i - b_j\|^2}{2\sigma^2}\Big),
       \qquad \frac{\partial K_{ij}}{\partial a_i} = -\frac{K_{ij}}{\sigma^2}(a_i - b_j)

    The squared distances are :func:`pairwise_euclidean`'s (GEMM form,
    clamped at 0).  Memory: at most three (n, m) arrays at peak, the result included.
    """
    check_positive(sigma, "sigma")
    xp, A, B, same = _matrix_pair(A, B)
    return xp.exp(_clamped_sq_distances(A, B, same, xp=xp) * (-0.5 / sigma**2))


def sigmoid_kernel(A, B=None, *, alpha=0.01, coef0=0.0):
    r"""Sigmoid (hyperbolic tangent) kernel.

    Parameters
    ----------
    A : array of shape (n, d)
    B : array of shape (m, d), optional
        Default: ``A`` itself.
    alpha : float, default 0.01
        Slope; scikit-learn's ``sigmoid_kernel`` calls it ``gamma``.
    coef0 : float, default 0.0

    Returns
    -------
    array of shape (n, m)

    Notes
    -----
    .. math:: K_{ij} = \tanh(\alpha\, a_i \cdot b_j + c_0),
       \qquad \frac{\partial K_{ij}}{\partial a_i} = \alpha\,(1 - K_{ij}^2)\, b_j

    Memory: the result and one (n, m) temporary.
    """
    xp, A, B, _ = _matrix_pair(A, B)
    return xp.tanh((A @ xp.matrix_transpose(B)) * alpha + coef0)
