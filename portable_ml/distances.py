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

from ._validate import check_int, check_real
from ._xp import (
    array_namespace,
    as_float,
    check_ndim,
    check_nonempty,
    check_positive,
    check_same_shape,
    device_of,
    float_dtype,
    is_concrete,
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
    if not _differentiable(xp):
        # no gradient to guard (NumPy, CuPy, Dask, array-api-strict): clamp and take the
        # root, two passes over a pairwise matrix instead of six; NaN propagates through maximum
        out = xp.sqrt(xp.maximum(s, 0.0))
        return out if keep is None else out * xp.astype(keep, s.dtype)
    pos = ~(s <= 0)  # True for NaN, which must propagate, not become 0
    if keep is not None:
        pos = pos & keep
    return xp.sqrt(xp.maximum(s, xp.finfo(s.dtype).smallest_normal)) * xp.astype(pos, s.dtype)


def _differentiable(xp):
    """True for namespaces with automatic differentiation (JAX, PyTorch)."""
    return _compat.is_jax_namespace(xp) or _compat.is_torch_namespace(xp)


def _vector_pair(a, b):
    """Namespace and the two float arrays of a vector distance, validated."""
    xp = array_namespace(a, b)
    dtype = float_dtype(xp, a, b)
    a, b = as_float(a, xp, dtype), as_float(b, xp, dtype)
    check_ndim(a, "a", (1, 2))
    check_same_shape(a, b, "a", "b")
    check_nonempty(a, "a")
    return xp, a, b


def _matrix_pair(A, B):
    """Namespace, float ``A`` (n, d) and ``B`` (m, d), and whether ``B`` is ``A``."""
    same = B is None or B is A
    xp = array_namespace(A, B)
    dtype = float_dtype(xp, A, B)
    A = as_float(A, xp, dtype)
    check_ndim(A, "A", 2)
    check_nonempty(A, "A")
    if same:
        A = _dask_output_blocks(A, A, same=True)[0]
        return xp, A, A, True
    B = as_float(B, xp, dtype)
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
    if is_concrete(L) and not bool(xp.all(xp.isfinite(xp.linalg.diagonal(L)))):
        raise ValueError(msg)
    return L


def _check_covariance(Sigma, d, name):
    check_ndim(Sigma, name, 2)
    if tuple(Sigma.shape) != (d, d):
        raise ValueError(
            f"{name} must have shape ({d}, {d}) to match {d} features; got {name}.shape={tuple(Sigma.shape)}"
        )


def _mahalanobis_sq(diff, L, *, xp):
    r"""Squared Mahalanobis norms of the rows of ``diff`` (n, d) given ``L L^T = \Sigma``.

    :math:`\|L^{-1} x\|^2` by a solve, never an inverse; non-negative by construction.
    """
    Z = xp.linalg.solve(L, xp.matrix_transpose(diff))  # (d, n)
    return xp.sum(Z * Z, axis=0)


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
    d = a - b
    return _safe_sqrt(xp.sum(d * d, axis=-1), xp=xp)


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
    return xp.sum(xp.abs(a - b), axis=-1)


def minkowski(a, b, *, p=2):
    r"""Minkowski distance of order ``p``.

    Parameters
    ----------
    a, b : array of shape (d,) or (n, d)
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
        If ``p <= 0``.

    Notes
    -----
    .. math:: d_p(a, b) = \Big(\textstyle\sum_i |a_i - b_i|^p\Big)^{1/p},
       \qquad \frac{\partial d_p}{\partial a_i}
       = \operatorname{sign}(a_i - b_i)\Big(\frac{|a_i - b_i|}{d_p}\Big)^{p-1}

    Computed as :math:`m\,(\sum_i (|a_i - b_i|/m)^p)^{1/p}` with
    :math:`m = \max_i |a_i - b_i|`, so :math:`|a_i - b_i|^p` never
    overflows or underflows.  ``p = inf`` gives :math:`\max_i |a_i - b_i|`.

    Examples
    --------
    >>> import numpy as np
    >>> float(minkowski(np.array([0.0, 0.0]), np.array([3.0, 4.0]), p=1))
    7.0
    """
    check_positive(p, "p")
    xp, a, b = _vector_pair(a, b)
    ad = xp.abs(a - b)
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

    :math:`\Sigma^{-1}` is never formed: :math:`z = L^{-1}(a - b)` comes from
    a linear solve, so the squared distance :math:`z^T z` is never negative.
    Cost :math:`O(d^3 + n d^2)`.

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
    return xp.mean(xp.astype(a != b, dtype), axis=-1)


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
    return _cosine(a, b, xp=xp)


def _cosine(a, b, *, xp):
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
    return 1.0 - _cosine(a, b, xp=xp)


# ------------------------------------------------------------ pairwise forms
def _sq_distances(A, B, same, *, xp):
    r"""Squared distances in GEMM form, :math:`\|a\|^2 + \|b\|^2 - 2 a\cdot b`, unclamped.

    The rows are first centred on a common point (distances do not change),
    so the cancellation error of the GEMM form scales with the spread of the
    data, not with its distance from the origin.  The norms ride along in the
    GEMM itself, :math:`[-2a_i, \|a_i\|^2, 1] \cdot [b_j, 1, \|b_j\|^2]`,
    so the (n, m) result is written once, by the GEMM, with no elementwise
    pass over it.
    """
    c = xp.mean(A, axis=0) if same else (xp.mean(A, axis=0) + xp.mean(B, axis=0)) * 0.5
    A = A - c
    B = A if same else B - c
    a2 = xp.sum(A * A, axis=1, keepdims=True)
    b2 = a2 if same else xp.sum(B * B, axis=1, keepdims=True)
    left = xp.concat([A * -2.0, a2, xp.ones_like(a2)], axis=1)
    right = xp.concat([B, xp.ones_like(b2), b2], axis=1)
    return left @ xp.matrix_transpose(right)


def _clamped_sq_distances(A, B, same, *, xp):
    """:func:`_sq_distances` clamped at 0, with an exact-zero diagonal for X vs X."""
    D2 = xp.maximum(_sq_distances(A, B, same, xp=xp), 0.0)
    return D2 * xp.astype(_off_diagonal(D2.shape[0], D2, xp=xp), D2.dtype) if same else D2


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
    Rows are centred on a common point first, so the absolute error of
    :math:`D^2` is about :math:`\epsilon \max_i\|a_i - c\|^2` with
    :math:`c` the centre of the data, not :math:`\epsilon \max_i\|a_i\|^2`.
    The gradient at a zero distance is 0 (never NaN).

    Memory: three (n, m) floating arrays at peak, the result included (four
    on backends without NumPy's reuse of temporaries), plus an (n, m)
    boolean mask; never an (n, m, d) array.

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
    D2 = _sq_distances(A, B, same, xp=xp)
    keep = _off_diagonal(D2.shape[0], D2, xp=xp) if same else None
    return _safe_sqrt(D2, xp=xp, keep=keep)


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
    n, d = A.shape
    m = B.shape[0]
    rows = max(1, max(n * m, _BLOCK_ELEMENTS) // (m * d))
    if rows >= n:
        return xp.sum(xp.abs(A[:, None, :] - B[None, :, :]), axis=-1)
    blocks = [
        xp.sum(xp.abs(A[i:min(i + rows, n), None, :] - B[None, :, :]), axis=-1)
        for i in range(0, n, rows)
    ]
    return xp.concat(blocks, axis=0)


def _unit_rows(X, *, xp):
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
