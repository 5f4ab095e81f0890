r"""k-means clustering: k-means++ seeding and Lloyd iterations.

Everything is dense linear algebra: squared distances by the GEMM form
(:func:`portable_ml.distances.pairwise_euclidean`, centred and clamped at 0)

.. math:: \|x - c\|^2 = \|x\|^2 - 2 x^\top c + \|c\|^2,

assignments by ``argmin``, and the update by a one-hot matrix
:math:`A \in \{0,1\}^{n\times k}`: :math:`C = \operatorname{diag}(A^\top 1)^{-1} A^\top X`.
There is no loop over clusters and no boolean-mask indexing, so one Lloyd
step (:func:`lloyd_step`) is a pure function that runs under ``jax.jit`` and
decomposes into per-chunk partial sums on Dask.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .._validate import check_int
from .._xp import array_namespace, check_positive, device_of
from ..backend import backend_of
from ..distances import pairwise_euclidean
from ._base import (
    Estimator,
    NotFittedError,
    _is_dask,
    _is_jax,
    check_X,
    compiled,
    computed,
    is_true,
    rng_for,
    settle,
    warn_not_converged,
)

__all__ = ["KMeans", "MiniBatchKMeans", "LloydResult", "lloyd_step", "kmeans_plusplus"]


# ------------------------------------------------------------------ pure cores
def _sq_dist(A, B):
    return pairwise_euclidean(A, B, squared=True)


def _one_hot(idx, k, dtype, *, xp):
    """(len(idx), k) matrix with a 1 at column idx[i] of row i."""
    return xp.astype(idx[:, None] == xp.arange(k, device=device_of(idx))[None, :], dtype)


class LloydResult(NamedTuple):
    """One Lloyd step: new ``centers`` (k, d); ``labels`` (n,), ``inertia`` (0-d) of the
    assignment to the *previous* centres; ``center_shift`` (0-d) = :math:`\\sum\\|c^+ - c\\|^2`."""

    centers: object
    labels: object
    inertia: object
    center_shift: object


def lloyd_step(X, centers):
    r"""One Lloyd iteration: assign every sample to its nearest centre, then move the centres.

    .. math::
        \ell_i = \arg\min_j \|x_i - c_j\|^2,\qquad
        c_j^+ = \frac{\sum_{i:\ell_i = j} x_i}{|\{i:\ell_i = j\}|}

    computed as :math:`A^\top X / A^\top 1` with the one-hot assignment
    matrix :math:`A`.  **Empty clusters** are moved to the samples farthest
    from their current centre: the :math:`r`-th empty cluster (in index order)
    takes the :math:`r`-th farthest sample, as scikit-learn relocates them.
    This costs one ``argsort`` of the :math:`n` distances per step; on Dask,
    whose ``argsort`` gathers them into one chunk, :math:`k` chunk-wise
    ``argmax`` reductions instead.

    Returns a :class:`LloydResult`.
    """
    return _lloyd_step(X, centers, by_argmax=_is_dask(X))


def _lloyd_step(X, centers, *, by_argmax):
    """:func:`lloyd_step`; ``by_argmax`` picks the farthest samples by ``k`` argmax reductions
    instead of one argsort (Dask chunks, and JAX arrays sharded by rows, where a sort gathers all n)."""
    xp = array_namespace(X, centers)
    n, k = X.shape[0], centers.shape[0]
    d2 = _sq_dist(X, centers)
    labels = xp.argmin(d2, axis=1)
    closest = xp.min(d2, axis=1)
    A = _one_hot(labels, k, X.dtype, xp=xp)
    counts = xp.sum(A, axis=0)
    empty = counts == 0
    means = (A.T @ X) / xp.where(empty, xp.ones_like(counts), counts)[:, None]
    # relocation of empty clusters to the farthest samples (at most k of them can be needed)
    m = min(k, n)
    order = _farthest(closest, m, by_argmax=by_argmax, xp=xp)
    rank = xp.cumulative_sum(xp.astype(empty, labels.dtype)) - 1  # rank among the empty ones
    rank = xp.clip(rank, 0, m - 1)
    far = xp.sum(xp.where(rank[:, None] == xp.arange(m, device=device_of(X))[None, :],
                          order[None, :], xp.zeros_like(order)[None, :]), axis=1)
    new = xp.where(empty[:, None], _one_hot(far, n, X.dtype, xp=xp) @ X, means)
    shift = xp.sum((new - centers) ** 2)
    return LloydResult(new, labels, xp.sum(closest), shift)


def _farthest(d, m, *, xp, by_argmax=False):
    """Indices of the ``m`` largest entries of the 1-D ``d``, largest first (ties: lower index first).

    One stable ``argsort`` where the data are in memory.  Dask's ``argsort``
    gathers all ``n`` values into one chunk, and so does XLA's sort of a JAX
    array sharded by rows, so there (``by_argmax``) the ``m`` (= k, small)
    largest are picked by ``m`` successive ``argmax`` reductions, each
    chunk- or shard-wise (``argmax`` returns the first maximum: the same order).
    """
    if not by_argmax:
        return xp.argsort(d, descending=True, stable=True)[:m]
    idx = xp.arange(d.shape[0], device=device_of(d))
    low = xp.asarray(-xp.inf, dtype=d.dtype, device=device_of(d))
    picked = []
    for _ in range(m):
        i = xp.argmax(d)
        picked.append(i)
        d = xp.where(idx == i, low, d)
    return xp.stack(picked)


def _index_dtype(X, *, xp):
    """The integer dtype ``argmin`` returns on ``X``'s backend."""
    return xp.__array_namespace_info__().default_dtypes(device=device_of(X))["indexing"]


def _assign(X, centers):
    xp = array_namespace(X, centers)
    d2 = _sq_dist(X, centers)
    return xp.argmin(d2, axis=1), xp.sum(xp.min(d2, axis=1))


def _assign_blocks(X, centers, *, rows):
    """:func:`_assign` over blocks of ``rows`` rows (eager backends): the temporaries of
    :func:`portable_ml.distances.pairwise_euclidean` (a centred copy, norms, the (rows, k)
    distances) are those of one block, so the peak memory is the labels' O(n) beyond ``X``."""
    xp = array_namespace(X, centers)
    n = X.shape[0]
    if rows >= n:
        return _assign(X, centers)
    labels, total = [], None
    for i in range(0, n, rows):
        lab, part = _assign(X[i:min(i + rows, n), :], centers)
        labels.append(lab)
        total = part if total is None else total + part
    return xp.concat(labels), total


def _mean_var_blocks(X, *, xp, rows):
    """Mean over the features of the per-feature variance, :math:`\\sum_{ij}(x_{ij}-\\bar x_j)^2/(nd)`,
    summed over blocks of ``rows`` rows (two-pass, as ``var``; temporaries of one block)."""
    n = X.shape[0]
    mu = xp.mean(X, axis=0)
    total = None
    for i in range(0, n, rows):
        part = xp.sum((X[i:min(i + rows, n), :] - mu) ** 2)
        total = part if total is None else total + part
    return total / (n * X.shape[1])


def _lloyd_iteration(X, centers, prev_labels, tol, *, by_argmax=False):
    """Step plus the convergence flag: centre shift <= tol, or labels unchanged."""
    xp = array_namespace(X, centers)
    res = _lloyd_step(X, centers, by_argmax=by_argmax or _is_dask(X))
    done = (res.center_shift <= tol) | xp.all(res.labels == prev_labels)
    return res, done


def _lloyd_fast_step(X, centers, prev_labels, tol, eye, ones):
    r"""One Lloyd iteration for the usual case of no empty cluster: ``(centers, labels, shift, done, any_empty)``.

    A Lloyd step as :func:`lloyd_step` when every cluster keeps a sample,
    without preparing the relocation (an ``argsort`` of the n distances and a
    (k, n) product, about half the cost of a step) and without the inertia
    (``fit`` computes it once, at the end); ``fit`` redoes the step with
    :func:`_lloyd_iteration` when a cluster came out empty.  Per iteration
    there are two passes over ``X``, both matrix products, and a few over
    (n, k) arrays:

    * the assignment minimises :math:`\|c\|^2 - 2 x^\top c` (the distance
      less the constant :math:`\|x\|^2`, as scikit-learn's Lloyd does):
      one GEMM :math:`X (-2C^\top)` plus a broadcast row, then ``argmin``;
    * the one-hot matrix is a row gather of the (k, k) identity ``eye`` (a
      table look-up, several times cheaper than a comparison and a cast), the
      counts a matrix-vector product with ``ones`` (n,), and the sums the
      GEMM :math:`A^\top X`.
    """
    xp = array_namespace(X, centers)
    D = X @ (xp.matrix_transpose(centers) * -2.0) + xp.sum(centers * centers, axis=1)[None, :]
    labels = xp.argmin(D, axis=1)
    A = xp.take(eye, labels, axis=0)
    counts = ones @ A
    empty = counts == 0
    new = (xp.matrix_transpose(A) @ X) / xp.where(empty, xp.ones_like(counts), counts)[:, None]
    shift = xp.sum((new - centers) ** 2)
    done = (shift <= tol) | xp.all(labels == prev_labels)
    return new, labels, shift, done, xp.any(empty)


#: rows per block of the host loop's Lloyd step: 2**16 entries of X (512 KiB in float64), so a
#: block of X and its (rows, k) distances stay in cache between the two products
_BLOCK_ENTRIES = 2**16


def _lloyd_fast_step_blocks(X, centers, prev_labels, tol, eye, ones, *, rows, pool=None, workers=1):
    """:func:`_lloyd_fast_step` over blocks of ``rows`` rows of ``X`` (eager backends).

    Each block is assigned and summed while it is in cache: the distance
    products, ``argmin`` and one-hot gather of a block touch a few hundred
    KiB instead of (n, k) arrays that spill to memory, which is what a whole-array
    step costs on NumPy (twice the time for n = 200 000, k = 8).  ``ones``
    has ``rows`` entries.  With a thread ``pool`` (a
    ``concurrent.futures`` executor) the blocks are cut into one contiguous
    range per worker, each range summed on its own thread (NumPy and torch
    release the GIL in these kernels), and the per-range partial sums added
    in range order, so the result does not depend on the scheduling;
    ``workers`` is the pool's size.  Same
    results as :func:`_lloyd_fast_step` up to the order of the sums.
    """
    xp = array_namespace(X, centers)
    n = X.shape[0]
    if rows >= n:
        return _lloyd_fast_step(X, centers, prev_labels, tol, eye, ones[:n])
    Ct = xp.matrix_transpose(centers) * -2.0
    c2 = xp.sum(centers * centers, axis=1)[None, :]

    def blocks(lo, hi):
        sums = counts = None
        labels = []
        for i in range(lo, hi, rows):
            x = X[i:min(i + rows, hi), :]
            lab = xp.argmin(x @ Ct + c2, axis=1)
            A = xp.take(eye, lab, axis=0)
            cnt = ones[:x.shape[0]] @ A
            part = xp.matrix_transpose(A) @ x
            sums, counts = (part, cnt) if sums is None else (sums + part, counts + cnt)
            labels.append(lab)
        return sums, counts, labels

    workers = workers if pool is not None else 1
    n_blocks = -(-n // rows)
    per = -(-n_blocks // workers) * rows
    bounds = [(lo, min(n, lo + per)) for lo in range(0, n, per)]
    if pool is None or len(bounds) == 1:
        parts = [blocks(lo, hi) for lo, hi in bounds]
    else:
        parts = list(pool.map(lambda b: blocks(*b), bounds))
    sums, counts = parts[0][0], parts[0][1]
    for p in parts[1:]:
        sums, counts = sums + p[0], counts + p[1]
    labels = xp.concat([lab for p in parts for lab in p[2]])
    empty = counts == 0
    new = sums / xp.where(empty, xp.ones_like(counts), counts)[:, None]
    shift = xp.sum((new - centers) ** 2)
    done = (shift <= tol) | xp.all(labels == prev_labels)
    return new, labels, shift, done, xp.any(empty)


def _host_threads():
    """CPU cores this process may run on (the workers of the host loop's pool)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class _OneThreadKernels:
    """Context manager: the BLAS / OpenMP libraries of ``X``'s backend run one thread each.

    The host loop runs its own threads, one per core, over ranges of rows,
    and each calls many small products (a block of rows times ``k``
    centres).  A multithreaded BLAS inside each would only add wake-ups and
    spin-waits (on a loaded machine, ten times the run time); scikit-learn's
    KMeans limits BLAS to one thread for the same reason.  NumPy's BLAS is
    limited with ``threadpoolctl`` where it is installed (else left as it is);
    torch by ``torch.set_num_threads`` (restored on exit).  Nothing changes
    for an ``X`` of one block (``_BLOCK_ENTRIES`` entries or fewer).
    """

    def __init__(self, X):
        self.X = X
        self._undo = []

    def __enter__(self):
        mod = type(self.X).__module__
        if math.prod(self.X.shape) <= _BLOCK_ENTRIES:  # one block: no pool, and too small for BLAS threads
            return self
        if mod.startswith("torch"):
            import torch

            before = torch.get_num_threads()
            torch.set_num_threads(1)
            self._undo.append(lambda: torch.set_num_threads(before))
        elif mod.startswith("numpy") or mod.startswith("array_api_strict"):
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:  # optional: without it the BLAS keeps its own threads
                return self
            lim = threadpool_limits(limits=1, user_api="blas")
            self._undo.append(lim.restore_original_limits)
        return self

    def __exit__(self, *exc):
        while self._undo:
            self._undo.pop()()
        return False


def _lloyd_loop(X, centers, tol, *, max_iter, by_argmax):
    """JAX: every Lloyd iteration of one run in one compiled ``lax.while_loop``: ``(centers, n_iter, converged)``.

    The body is :func:`_lloyd_fast_step`, and the full step with relocation of
    empty clusters (:func:`_lloyd_iteration`) under ``lax.cond`` only when a
    cluster came out empty -- the same sequence of steps as the host loop of
    the other backends, with no host round trip per iteration.
    """
    import jax

    xp = array_namespace(X, centers)
    n, k = X.shape[0], centers.shape[0]
    eye = xp.eye(k, dtype=X.dtype, device=device_of(X))
    ones = xp.ones((n,), dtype=X.dtype, device=device_of(X))
    labels0 = xp.full((n,), -1, dtype=_index_dtype(X, xp=xp), device=device_of(X))

    def cond(state):
        it, _, _, done = state
        return (it < max_iter) & ~done

    def body(state):
        it, c, prev, _ = state
        new, labels, _, done, any_empty = _lloyd_fast_step(X, c, prev, tol, eye, ones)

        def full(_):
            res, d = _lloyd_iteration(X, c, prev, tol, by_argmax=by_argmax)
            return res.centers, res.labels, d

        new, labels, done = jax.lax.cond(any_empty, full, lambda _: (new, labels, done), None)
        return it + 1, new, labels, done

    it, c, _, done = jax.lax.while_loop(cond, body, (0, centers, labels0, xp.asarray(False)))
    return c, it, done


def _bound_slack(X):
    """Relative slack of the bounds: a few rounding errors of a d-term sum of squares."""
    return 4.0 * (X.shape[1] + 16) * float(array_namespace(X).finfo(X.dtype).eps)


def _row_dist(x, c, *, xp):
    """Row-wise Euclidean distance :math:`\\|x_i - c_i\\|` by direct differences (no cancellation)."""
    return xp.sqrt(xp.sum((x - c) ** 2, axis=1))


def _put(mask, vals, old, *, xp, pos=None):
    """``old`` with the entries where ``mask`` is true replaced, in order, by ``vals`` (no in-place write).

    ``pos`` (optional, :func:`_slots` of ``mask``) saves the cumulative sum when several arrays
    are written through one mask."""
    m = vals.shape[0]
    if m == 0:
        return old
    pos = _slots(mask, m, xp=xp) if pos is None else pos
    if old.ndim == 1:
        return xp.where(mask, xp.take(vals, pos), old)
    return xp.where(mask[:, None], xp.take(vals, pos, axis=0), old)


def _slots(mask, m, *, xp):
    """For each entry of ``mask``, the index among the ``m`` true ones of the last true entry up to it."""
    return xp.clip(xp.cumulative_sum(xp.astype(mask, _index_dtype(mask, xp=xp))) - 1, 0, m - 1)


def _rows_where(mask, *, xp):
    """Indices of the true entries of the 1-D ``mask`` (eager backends only: a data-dependent shape)."""
    return xp.nonzero(mask)[0]


def _nearest_two(x, C, c2, slack, *, xp):
    """Labels, exact distance to the nearest centre and a lower bound of the distance to the second.

    The labels minimise :math:`\\|c\\|^2 - 2x^\\top c`, the criterion of the
    Lloyd step, so they agree with it; the second distance comes from the same
    GEMM form, lowered by a bound on its rounding error.
    """
    k = C.shape[0]
    D = x @ (xp.matrix_transpose(C) * -2.0) + c2[None, :]
    lab = xp.argmin(D, axis=1)
    u = _row_dist(x, xp.take(C, lab, axis=0), xp=xp) * (1.0 + slack)
    if k == 1:
        return lab, u, xp.full_like(u, xp.inf)
    x2 = xp.sum(x * x, axis=1)
    first = lab[:, None] == xp.arange(k, device=device_of(x))[None, :]
    D2 = xp.min(xp.where(first, xp.asarray(xp.inf, dtype=D.dtype, device=device_of(x)), D), axis=1)
    err = slack * (x2 + xp.max(c2))
    return lab, u, xp.sqrt(xp.clip(D2 + x2 - err, 0.0, None))


def _half_gaps(C, slack, *, xp):
    """:math:`s_j = \\tfrac12 \\min_{j' \\ne j} \\|c_j - c_{j'}\\|`, lowered by the rounding slack (inf for k = 1)."""
    k = C.shape[0]
    D = xp.sqrt(xp.sum((C[:, None, :] - C[None, :, :]) ** 2, axis=2))
    eye = xp.eye(k, dtype=xp.bool, device=device_of(C))
    D = xp.where(eye, xp.asarray(xp.inf, dtype=C.dtype, device=device_of(C)), D)
    return 0.5 * xp.min(D, axis=1) * (1.0 - slack)


def _hamerly_loop(X, centers, tol, *, max_iter):
    r"""Hamerly's accelerated k-means on an eager backend: ``(centers, n_iter, converged)``.

    The same sequence of centres as the Lloyd host loop (the same labels at
    every iteration, the same updates and stopping rule), with fewer distance
    computations.  Each sample keeps an upper bound :math:`u_i \ge \|x_i -
    c_{a_i}\|` on the distance to its centre and a lower bound :math:`l_i \le
    \min_{j \ne a_i}\|x_i - c_j\|` on the distance to every other one.  By the
    triangle inequality the label cannot change while :math:`u_i \le
    \max(l_i, s_{a_i})` with :math:`s_j = \tfrac12\min_{j'\ne j}\|c_j -
    c_{j'}\|`; only the other samples get their distance to :math:`c_{a_i}`
    recomputed (tightening :math:`u_i`) and, if the test still fails, the
    distances to all :math:`k` centres.  When the centres move by
    :math:`p_j = \|c_j^+ - c_j\|`: :math:`u_i \mathrel{+}= p_{a_i}` and
    :math:`l_i \mathrel{-}= \max_{j \ne a_i} p_j`.  The cluster sums are
    updated by the samples whose label changed only.  Bounds carry a relative
    slack of a few rounding errors, so a skip is never decided by rounding.

    The skipped samples are selected by boolean masks (``nonzero``): a
    data-dependent shape, hence eager backends only (NumPy, torch,
    array-api-strict).  An empty cluster takes the full Lloyd step (relocation
    to the farthest samples); the bounds then follow the relocated centres'
    moves like any other.
    """
    xp = array_namespace(X, centers)
    n, k = X.shape[0], centers.shape[0]
    dev = device_of(X)
    slack = _bound_slack(X)
    ar = xp.arange(k, device=dev)
    prev = xp.full((n,), -1, dtype=_index_dtype(X, xp=xp), device=dev)
    state = None  # (labels, u, l, sums, counts) valid for `centers`
    rows = max(256, _BLOCK_ENTRIES // X.shape[1])
    for it in range(1, max_iter + 1):
        c2 = xp.sum(centers * centers, axis=1)
        if state is None:  # the first pass: every distance, by blocks of rows (temporaries of one block)
            parts, sums, counts = [], 0.0, 0.0
            for lo in range(0, n, rows):
                x = X[lo:min(lo + rows, n), :]
                part = _nearest_two(x, centers, c2, slack, xp=xp)
                A = _one_hot(part[0], k, X.dtype, xp=xp)
                sums, counts = sums + xp.matrix_transpose(A) @ x, counts + xp.sum(A, axis=0)
                parts.append(part)
            lab, u, low = (xp.concat([p[i] for p in parts]) for i in range(3))
        else:
            lab, u, low, sums, counts = state
            bound = xp.maximum(xp.take(_half_gaps(centers, slack, xp=xp), lab), low)
            m1 = u > bound
            if is_true(xp.any(m1)):
                i1 = _rows_where(m1, xp=xp)
                x1, lab1 = xp.take(X, i1, axis=0), xp.take(lab, i1)
                u1 = _row_dist(x1, xp.take(centers, lab1, axis=0), xp=xp) * (1.0 + slack)
                m2 = u1 > xp.take(bound, i1)
                low1 = xp.take(low, i1)
                if is_true(xp.any(m2)):
                    i2 = _rows_where(m2, xp=xp)
                    x2, old2 = xp.take(x1, i2, axis=0), xp.take(lab1, i2)
                    lab2, u2, low2 = _nearest_two(x2, centers, c2, slack, xp=xp)
                    moved = lab2 != old2
                    if is_true(xp.any(moved)):
                        im = _rows_where(moved, xp=xp)
                        xm = xp.take(x2, im, axis=0)
                        delta = (xp.astype(xp.take(lab2, im)[:, None] == ar[None, :], X.dtype)
                                 - xp.astype(xp.take(old2, im)[:, None] == ar[None, :], X.dtype))
                        sums = sums + xp.matrix_transpose(delta) @ xm
                        counts = counts + xp.sum(delta, axis=0)
                    pos = _slots(m2, lab2.shape[0], xp=xp)
                    lab1, u1, low1 = (_put(m2, lab2, lab1, xp=xp, pos=pos), _put(m2, u2, u1, xp=xp, pos=pos),
                                      _put(m2, low2, low1, xp=xp, pos=pos))
                pos = _slots(m1, lab1.shape[0], xp=xp)
                lab, u, low = (_put(m1, lab1, lab, xp=xp, pos=pos), _put(m1, u1, u, xp=xp, pos=pos),
                               _put(m1, low1, low, xp=xp, pos=pos))
        if is_true(xp.any(counts == 0)):  # relocation of empty clusters: the full Lloyd step
            res, done = _lloyd_iteration(X, centers, prev, tol)
            new, seen = res.centers, res.labels
        else:
            new, seen = sums / counts[:, None], lab
            done = (xp.sum((new - centers) ** 2) <= tol) | xp.all(lab == prev)
        if is_true(done):
            return new, it, True
        # the bounds follow the centres' moves (relocations included); sums and counts describe `lab`
        p = xp.sqrt(xp.sum((new - centers) ** 2, axis=1)) * (1.0 + slack)
        far = xp.argmax(p)
        p1 = xp.max(p)
        p2 = xp.max(xp.where(ar == far, xp.zeros_like(p), p)) if k > 1 else p1
        u = u + xp.take(p, lab)
        low = low - xp.where(lab == far, p2, p1)
        centers, prev, state = new, seen, (lab, u, low, sums, counts)
    return centers, max_iter, False


def kmeans_plusplus(X, n_clusters, rng, *, n_local_trials=None):
    r"""Greedy k-means++ seeding (Arthur & Vassilvitskii; scikit-learn's variant).

    The first centre is a uniformly drawn sample.  Each further centre:
    draw ``n_local_trials`` candidates (default :math:`2 + \lfloor\ln k\rfloor`)
    with probability proportional to :math:`D(x)^2`, the squared distance to
    the nearest centre so far (inverse-CDF sampling: ``searchsorted`` on the
    cumulative sum), and keep the candidate that lowers the potential
    :math:`\sum_x D(x)^2` most.  Candidates are selected with one-hot
    products, not fancy indexing, so this also runs on Dask.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    n_clusters : int
    rng : portable_ml.random.Generator
        Uniform draws (the same on every backend for a seed).
    n_local_trials : int, optional

    Returns
    -------
    centers : array of shape (n_clusters, n_features)

    Notes
    -----
    Eager: a Python loop over the ``k`` centres (each step depends on the
    previous one); every step is vectorised over the samples.
    """
    xp = array_namespace(X)
    if rng.backend.name != backend_of(X):
        raise TypeError(f"rng must draw on X's backend ({backend_of(X)}); got a generator of {rng.backend.name}")
    n = X.shape[0]
    T = n_local_trials if n_local_trials is not None else 2 + int(math.log(n_clusters))
    dev = device_of(X)
    first = xp.asarray(rng.integers(0, n, (1,)), device=dev)
    chosen = _one_hot(first, n, X.dtype, xp=xp) @ X  # (1, d)
    closest = _sq_dist(X, chosen)[:, 0]
    centers = [chosen]
    blocks = _row_blocks(X)
    for _ in range(1, n_clusters):
        u = xp.asarray(rng.uniform((T,), dtype=X.dtype), device=dev)
        if blocks == 1:
            cum = xp.cumulative_sum(closest)
            cand = xp.clip(xp.searchsorted(cum, u * cum[-1]), 0, n - 1)
        else:
            cand = _inverse_cdf_by_blocks(closest, u, blocks, xp=xp)
        cand_X = _one_hot(cand, n, X.dtype, xp=xp) @ X  # (T, d)
        d_cand = xp.minimum(closest[None, :], _sq_dist(cand_X, X))  # (T, n)
        pots = xp.sum(d_cand, axis=1)
        best = xp.argmin(pots)
        pick = xp.astype(xp.arange(T, device=dev) == best, X.dtype)  # (T,)
        closest = pick @ d_cand
        chosen = pick[None, :] @ cand_X
        centers.append(chosen)
        closest, chosen = settle((closest, chosen))
    return xp.concat(centers, axis=0)


def _row_blocks(X):
    """Number of row shards of a JAX ``X`` partitioned by rows over several devices, else 1."""
    sharding = getattr(X, "sharding", None)
    if sharding is None or _is_dask(X) or getattr(sharding, "is_fully_replicated", True):
        return 1
    try:
        rows = sharding.shard_shape(tuple(X.shape))[0]
    except Exception:  # tracers and shardings without a static shard shape
        return 1
    return X.shape[0] // rows if rows and X.shape[0] % rows == 0 else 1


def _inverse_cdf_by_blocks(w, u, blocks, *, xp):
    r"""Inverse-CDF draws from the weights ``w`` (n,) for the uniforms ``u`` (T,) in :math:`[0, 1)`,
    without a cumulative sum over all ``n``.

    With :math:`C_i = \sum_{j \le i} w_j` and :math:`W = C_{n-1}`, the draw for
    :math:`u_t` is :math:`\#\{i : C_i < u_t W\}` (``searchsorted`` on the
    left, clipped to ``n - 1``).  ``w`` is cut into ``blocks`` equal blocks
    of rows (the shards of a row-sharded array): each block's cumulative sum
    is local, the block totals (``blocks`` numbers) give each block's offset,
    and the count is a sum over all blocks -- a reduction.  The same
    distribution as one cumulative sum; the partial sums differ only in
    rounding.
    """
    n = w.shape[0]
    cum = xp.cumulative_sum(xp.reshape(w, (blocks, n // blocks)), axis=1)  # (blocks, n / blocks), local
    totals = cum[:, -1]
    cum = cum + (xp.cumulative_sum(totals) - totals)[:, None]
    target = u * xp.sum(totals)
    below = xp.astype(cum[None, :, :] < target[:, None, None], _index_dtype(w, xp=xp))
    return xp.clip(xp.sum(below, axis=(1, 2)), 0, n - 1)


# ------------------------------------------------------------------ estimator
class KMeans(Estimator):
    r"""k-means clustering (Lloyd's algorithm with k-means++ seeding).

    Minimises the inertia :math:`\sum_i \min_j \|x_i - c_j\|^2`.

    Parameters
    ----------
    n_clusters : int
        Number of clusters, :math:`1 \le k \le n`.
    init : {"k-means++", "random"} or array of shape (n_clusters, n_features), default "k-means++"
        Greedy k-means++ (:func:`kmeans_plusplus`), ``k`` distinct samples drawn
        uniformly, or the given centres (then ``n_init`` is 1).
    n_init : int, default 1
        Runs from different seeds; the one with the lowest inertia is kept.
    max_iter : int, default 300
    tol : float, default 1e-4
        Relative tolerance, as in scikit-learn: stop when
        :math:`\sum_j\|c_j^+ - c_j\|^2 \le \mathrm{tol}\cdot\overline{\operatorname{var}}(X)`
        (the mean per-feature variance) or when no label changed.  Checked on
        the host once per iteration.  On NumPy and torch the iterations run
        on one thread per core over ranges of rows, with the BLAS limited to
        one thread meanwhile (see ``_OneThreadKernels``).
    algorithm : {"lloyd", "elkan"}, default "lloyd"
        scikit-learn's names.  ``"elkan"`` runs an accelerated iteration that
        uses the triangle inequality to skip distance computations -- Hamerly's
        variant of Elkan's algorithm (one upper and one lower bound per sample,
        see ``_hamerly_loop``) -- on NumPy, torch and array-api-strict, where
        the samples to recompute can be selected by a boolean mask.  It gives
        the same labels, centres, inertia and ``n_iter_`` as ``"lloyd"`` from
        the same initial centres (up to rounding in the order of the sums).
        On JAX (the compiled loop, where shapes must be static), on Dask
        (lazy chunks) and on row-sharded JAX arrays ``"elkan"`` runs the Lloyd
        iteration; as scikit-learn documents, both give the same result.
    seed : int or None
        Seed of the :class:`portable_ml.random.Generator` used for seeding
        (the same centres on every backend for a given seed).

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
    labels_ : array of shape (n_samples,)
        Nearest final centre of each training sample.
    inertia_ : 0-d array
        Sum of squared distances to the nearest final centre.
    n_iter_ : int
        Lloyd (or Hamerly) iterations of the kept run.
    n_features_in_ : int

    Notes
    -----
    Empty clusters are moved to the farthest samples (see :func:`lloyd_step`).
    As in scikit-learn, a final assignment step makes ``labels_`` and
    ``inertia_`` consistent with ``cluster_centers_``.

    On Dask every k-means++ step and every Lloyd iteration is one pass over
    the chunks of ``X`` (one task per chunk, see ``models._dask_kmeans``);
    nothing is persisted.  ``cluster_centers_`` and ``inertia_`` end as small
    computed arrays; ``labels_``, one label per sample, stays lazy (computing
    it reads ``X`` once, as ``predict(X)`` does).
    """

    def __init__(self, *, n_clusters=8, init="k-means++", n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd",
                 seed=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.algorithm = algorithm
        self.seed = seed

    def _check_params(self, X):
        k = self.n_clusters
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"n_clusters must be a positive int; got n_clusters={k!r}")
        if k > X.shape[0]:
            raise ValueError(f"n_clusters={k} must not exceed n_samples={X.shape[0]}")
        check_int(self.n_init, "n_init", low=1)
        check_int(self.max_iter, "max_iter", low=1)
        check_positive(self.tol, "tol", strict=False)
        if self.algorithm not in ("lloyd", "elkan"):
            raise ValueError(f"algorithm must be 'lloyd' or 'elkan'; got algorithm={self.algorithm!r}")
        if isinstance(self.init, str):
            if self.init not in ("k-means++", "random"):
                raise ValueError(f"init must be 'k-means++', 'random' or an array of centres; got {self.init!r}")
        elif tuple(self.init.shape) != (k, X.shape[1]):
            raise ValueError(f"init array must have shape (n_clusters, n_features) = {(k, X.shape[1])}; "
                             f"got {tuple(self.init.shape)}")

    def _initial_centers(self, X, rng, xp):
        if not isinstance(self.init, str):
            array_namespace(X, self.init)  # same backend and device, or a clear error
            return xp.astype(self.init, X.dtype)
        if self.init == "random":
            idx = xp.asarray(rng.choice(X.shape[0], self.n_clusters), device=device_of(X))
            return _one_hot(idx, X.shape[0], X.dtype, xp=xp) @ X
        return kmeans_plusplus(X, self.n_clusters, rng)

    def fit(self, X, y=None):
        """Cluster ``X`` (n_samples, n_features); ``y`` is ignored."""
        X, xp = check_X(X)  # finiteness: here, or on Dask in the first pass
        self._check_params(X)
        if _is_dask(X):
            return self._fit_dask(X, xp)
        rng = rng_for(X, self.seed)
        by_argmax = _row_blocks(X) > 1  # row-sharded: farthest samples by argmax reductions, no sort over n
        if _is_jax(xp) or by_argmax:
            tol = settle(self.tol * xp.mean(xp.var(X, axis=0)))
        else:  # by blocks of rows: no temporary the size of X
            tol = self.tol * _mean_var_blocks(X, rows=max(256, _BLOCK_ENTRIES // X.shape[1]), xp=xp)
        n_init = self.n_init if isinstance(self.init, str) else 1
        best = None
        for _ in range(n_init):
            centers = self._initial_centers(X, rng, xp)
            if _is_jax(xp):  # the whole loop compiled: no host round trip per iteration
                centers, it, done = compiled(_lloyd_loop, xp)(X, centers, tol, max_iter=self.max_iter,
                                                              by_argmax=by_argmax)
                it, converged = int(it), is_true(done)
            elif self.algorithm == "elkan" and not by_argmax:  # eager, in memory: bounds skip distances
                with _OneThreadKernels(X):  # small products on the selected rows: one BLAS thread
                    centers, it, converged = _hamerly_loop(X, centers, tol, max_iter=self.max_iter)
            else:
                with _OneThreadKernels(X):
                    centers, it, converged = self._host_loop(X, centers, tol, xp, by_argmax)
            if not converged:
                warn_not_converged("KMeans", self.max_iter, "centre shift above tol")
            if _is_jax(xp):
                labels, inertia = compiled(_assign, xp)(X, centers)
            else:
                with _OneThreadKernels(X):
                    labels, inertia = settle(_assign(X, centers) if _is_dask(X) or by_argmax else
                                             _assign_blocks(X, centers, rows=max(256, _BLOCK_ENTRIES // X.shape[1])))
            if best is None or is_true(inertia < best[2]):
                best = (centers, labels, inertia, it)
        self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_ = best
        self.n_features_in_ = int(X.shape[1])
        return self

    def _host_loop(self, X, centers, tol, xp, by_argmax):
        """Lloyd iterations driven from the host (one read of the convergence flags per iteration)."""
        n, k = X.shape[0], centers.shape[0]
        # Dask (lloyd_step, settle) and row-sharded arrays take the whole-array step: no Python blocks
        rows = n if by_argmax or _is_dask(X) else max(256, _BLOCK_ENTRIES // X.shape[1])
        eye = xp.eye(k, dtype=X.dtype, device=device_of(X))
        ones = xp.ones((min(rows, n),), dtype=X.dtype, device=device_of(X))
        labels = xp.full((n,), -1, dtype=_index_dtype(X, xp=xp), device=device_of(X))
        workers = min(_host_threads(), -(-n // rows))
        pool = None
        if workers > 1 and not _is_dask(X):
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(workers)
        try:
            for it in range(1, self.max_iter + 1):
                new, new_labels, _, done, any_empty = settle(_lloyd_fast_step_blocks(
                    X, centers, labels, tol, eye, ones, rows=rows, pool=pool, workers=workers))
                if is_true(any_empty):  # relocate the empty clusters: the full step
                    res, done = settle(_lloyd_iteration(X, centers, labels, tol, by_argmax=by_argmax))
                    new, new_labels = res.centers, res.labels
                centers, labels = new, new_labels
                if is_true(done):
                    return centers, it, True
            return centers, self.max_iter, False
        finally:
            if pool is not None:
                pool.shutdown()

    def _fit_dask(self, X, xp):
        """Dask: one pass over the chunks per Lloyd iteration and per k-means++ step (``_dask_kmeans``)."""
        from ._dask_kmeans import dask_kmeans_init, dask_lloyd, dask_var_stats
        from ._stats import from_memory_like

        rng = rng_for(X, self.seed)
        mean_var, finite = dask_var_stats(X)
        if not finite:
            raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
        tol = self.tol * mean_var
        mem = array_namespace(mean_var)
        n_init = self.n_init if isinstance(self.init, str) else 1
        best = None
        for _ in range(n_init):
            if isinstance(self.init, str):
                centers = dask_kmeans_init(X, self.n_clusters, rng, self.init)
            else:
                init = self.init.compute() if _is_dask(self.init) else self.init
                centers = mem.astype(mem.asarray(init), mean_var.dtype)
            prev = None
            for it in range(1, self.max_iter + 1):
                new, done, _, _ = dask_lloyd(X, centers, prev, tol)
                prev, centers = centers, new
                if done:
                    break
            else:
                warn_not_converged("KMeans", self.max_iter, "centre shift above tol")
            inertia = dask_lloyd(X, centers, None, tol)[3]
            if best is None or bool(inertia < best[1]):
                best = (centers, inertia, it)
        centers, inertia, self.n_iter_ = best
        self.cluster_centers_, self.inertia_ = from_memory_like((centers, inertia), X)
        self.n_features_in_ = int(X.shape[1])
        # per sample: the nearest final centre, lazily (computing it reads X once, as predict(X) does)
        self.labels_ = compiled(_assign, xp)(X, self.cluster_centers_)[0]
        return self

    def _check_fitted(self, attr="cluster_centers_"):
        if not hasattr(self, attr):
            raise NotFittedError(f"this {type(self).__name__} instance is not fitted yet; call fit(X) first")

    def predict(self, X):
        """Index of the nearest centre for each row of ``X``."""
        X, xp = self._check_X(X)
        return xp.argmin(_sq_dist(X, self.cluster_centers_), axis=1)

    def fit_predict(self, X, y=None):
        """``fit(X).labels_``."""
        return self.fit(X).labels_

    def transform(self, X):
        """Euclidean distances to every centre, shape (n_samples, n_clusters)."""
        X, xp = self._check_X(X)
        return xp.sqrt(_sq_dist(X, self.cluster_centers_))

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def score(self, X, y=None):
        """Negative inertia of ``X`` w.r.t. the fitted centres (0-d array), as in scikit-learn."""
        X, xp = self._check_X(X)
        return -xp.sum(xp.min(_sq_dist(X, self.cluster_centers_), axis=1))


# ------------------------------------------------------------------ mini-batch k-means
def _minibatch_step(Xb, centers, counts):
    r"""One mini-batch k-means update (scikit-learn's ``_mini_batch_step`` without reassignment).

    Every sample of the batch is assigned to its nearest centre; centre
    :math:`j`, with :math:`n_j` samples of the batch, sum :math:`S_j` and
    running count :math:`W_j`, moves to

    .. math:: c_j^+ = \frac{W_j c_j + S_j}{W_j + n_j}
              = c_j + (\bar x_j - c_j)\,\frac{n_j}{W_j + n_j},\qquad W_j^+ = W_j + n_j

    (unchanged where :math:`n_j = 0`).  Returns ``(centers, counts, labels,
    inertia)``, the inertia of the batch w.r.t. the *previous* centres.  Pure
    and traceable: one-hot products, no masks.
    """
    xp = array_namespace(Xb, centers)
    k = centers.shape[0]
    d2 = _sq_dist(Xb, centers)
    labels = xp.argmin(d2, axis=1)
    A = _one_hot(labels, k, Xb.dtype, xp=xp)
    nb = xp.sum(A, axis=0)
    S = xp.matrix_transpose(A) @ Xb
    W = counts + nb
    moved = (centers * counts[:, None] + S) / xp.where(W > 0, W, xp.ones_like(W))[:, None]
    new = xp.where((nb > 0)[:, None], moved, centers)
    return new, W, labels, xp.sum(xp.min(d2, axis=1))


def _reassign(Xb, centers, counts, ratio, rng, *, xp):
    """scikit-learn's low-count reassignment (host-side: the number of centres moved is read back).

    Centres with :math:`W_j < \\text{ratio}\\cdot\\max W` -- at most
    :math:`\\lfloor b/2\\rfloor` of them, the lowest counts -- move to distinct
    samples of the batch drawn uniformly (``rng.choice``), in index order; their
    counts become the smallest count among the centres that stay.
    """
    b, k = Xb.shape[0], centers.shape[0]
    low = counts < ratio * xp.max(counts)
    cap = int(0.5 * b)
    if is_true(xp.sum(xp.astype(low, _index_dtype(counts, xp=xp))) > cap):  # keep the `cap` lowest counts only
        order = xp.argsort(counts, stable=True)
        rank = xp.argsort(order, stable=True)
        low = low & (rank < cap)
    n_re = int(xp.sum(xp.astype(low, _index_dtype(counts, xp=xp))))  # host read: how many centres move
    if n_re:
        idx = xp.asarray(rng.choice(b, n_re), device=device_of(Xb))
        centers = _put(low, xp.take(Xb, idx, axis=0), centers, xp=xp)
    inf = xp.asarray(xp.inf, dtype=counts.dtype, device=device_of(counts))
    floor = xp.min(xp.where(low, inf, counts))  # inf when every centre moved (ratio > 1): counts kept then
    return centers, xp.where(low & (floor < inf), floor, counts)


class MiniBatchKMeans(KMeans):
    r"""k-means on mini-batches (Sculley 2010; scikit-learn's ``MiniBatchKMeans``).

    Each step draws ``batch_size`` samples with replacement, assigns them to
    the nearest centre and moves each centre towards the mean of its samples
    with a per-centre learning rate :math:`n_j / W_j` (``_minibatch_step``):

    .. math:: c_j \leftarrow c_j + (\bar x_j - c_j)\,\frac{n_j}{W_j},\qquad W_j \leftarrow W_j + n_j

    where :math:`W_j` counts the samples centre :math:`j` has received.

    Parameters
    ----------
    n_clusters : int, default 8
    init : {"k-means++", "random"} or array of shape (n_clusters, n_features), default "k-means++"
        Seeding on ``init_size`` = ``min(3 * batch_size, n_samples)`` rows
        drawn with replacement (at least ``3 * n_clusters``), as scikit-learn.
    max_iter : int, default 100
        Passes over the data: at most ``max_iter * n_samples // batch_size`` steps.
    batch_size : int, default 1024
        Capped at ``n_samples``.
    tol : float, default 0.0
        Stop when :math:`\sum_j \|c_j^+ - c_j\|^2 \le \mathrm{tol}\cdot
        \overline{\operatorname{var}}(X)` (0 disables it).
    max_no_improvement : int or None, default 10
        Stop after this many steps without improvement of the exponentially
        weighted average of the mean batch inertia (weight
        :math:`\min(1, 2b/(n+1))`; the first step, the inertia of the
        initial centres, is left out).  ``None`` disables it.
    n_init : int or "auto", default "auto"
        Seedings tried (1 for k-means++, 3 for "random", 1 for an array);
        the one with the lowest inertia on a validation draw of
        ``init_size`` rows is kept.
    reassignment_ratio : float, default 0.01
        Every :math:`10k` samples (and whenever a centre has count 0), centres
        with :math:`W_j < \text{ratio}\cdot\max_j W_j` move to random samples of
        the batch and get the smallest remaining count.
    seed : int or None
        Seed of the :class:`portable_ml.random.Generator`: the batches, the
        seeding and the reassignments are host draws, the same on every
        backend for a seed.

    Attributes
    ----------
    cluster_centers_, labels_, inertia_, n_features_in_
        As :class:`KMeans`; ``labels_`` and ``inertia_`` are for the whole
        ``X`` given to ``fit`` (the last batch for ``partial_fit``).
    n_iter_ : int
        Passes over the data: :math:`\lceil \text{n\_steps\_}\cdot b / n\rceil`.
    n_steps_ : int
        Mini-batch steps taken.

    Notes
    -----
    ``fit`` and ``partial_fit`` are host loops (batch draws, convergence
    checks and reassignments read a few numbers per step); the update itself
    is a pure function.  On Dask each drawn batch is computed into memory
    (``batch_size`` rows) and the centres live in memory during the fit;
    ``cluster_centers_`` ends as a one-chunk Dask array and ``labels_`` stays
    lazy, as for :class:`KMeans`.  scikit-learn's ``sample_weight``,
    ``init_size`` and ``compute_labels`` options are not offered.
    """

    def __init__(self, *, n_clusters=8, init="k-means++", max_iter=100, batch_size=1024, tol=0.0,
                 max_no_improvement=10, n_init="auto", reassignment_ratio=0.01, seed=None):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.seed = seed

    def _check_params(self, X):
        k = self.n_clusters
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"n_clusters must be a positive int; got n_clusters={k!r}")
        if k > X.shape[0]:
            raise ValueError(f"n_clusters={k} must not exceed n_samples={X.shape[0]}")
        check_int(self.max_iter, "max_iter", low=1)
        check_int(self.batch_size, "batch_size", low=1)
        check_positive(self.tol, "tol", strict=False)
        if self.max_no_improvement is not None:
            check_int(self.max_no_improvement, "max_no_improvement", low=0)
        if not (isinstance(self.n_init, str) and self.n_init == "auto"):
            check_int(self.n_init, "n_init", low=1)
        check_positive(self.reassignment_ratio, "reassignment_ratio", strict=False)
        if isinstance(self.init, str):
            if self.init not in ("k-means++", "random"):
                raise ValueError(f"init must be 'k-means++', 'random' or an array of centres; got {self.init!r}")
        elif tuple(self.init.shape) != (k, X.shape[1]):
            raise ValueError(f"init array must have shape (n_clusters, n_features) = {(k, X.shape[1])}; "
                             f"got {tuple(self.init.shape)}")

    def _n_inits(self):
        if not isinstance(self.init, str):
            return 1
        if self.n_init == "auto":
            return 1 if self.init == "k-means++" else 3
        return self.n_init

    def _sizes(self, n):
        b = min(self.batch_size, n)
        init_size = 3 * b if 3 * b >= self.n_clusters else 3 * self.n_clusters
        return b, min(init_size, n)

    @staticmethod
    def _in_memory(X, xp):
        """``(X, xp)`` of a Dask ``X`` computed into memory (batches and subsamples only); else unchanged."""
        if not _is_dask(X):
            return X, xp
        X = computed(X)[0]
        return X, array_namespace(X)

    def _seeding(self, X, xp, rng, init_size):
        """Initial centres on ``init_size`` rows drawn with replacement (scikit-learn's ``_init_centroids``)."""
        if not isinstance(self.init, str):
            if _is_dask(X):  # the centres live in memory during the fit (on Dask's chunk library)
                init = self.init.compute() if _is_dask(self.init) else self.init
                return array_namespace(init).astype(init, X.dtype)
            array_namespace(X, self.init)  # same backend and device, or a clear error
            return xp.astype(self.init, X.dtype)
        idx = rng.integers(0, X.shape[0], (init_size,))
        sub, mem = self._in_memory(xp.take(X, xp.asarray(idx, device=device_of(X)), axis=0), xp)
        if self.init == "random":
            pick = mem.asarray(rng.choice(init_size, self.n_clusters), device=device_of(sub))
            return mem.take(sub, pick, axis=0)
        return kmeans_plusplus(sub, self.n_clusters, rng)

    def _random_reassign(self, counts, xp):
        """scikit-learn's schedule: every ``10 k`` samples, or whenever a centre has count 0."""
        self._n_since_last_reassign += self._batch_size
        if is_true(xp.any(counts == 0)) or self._n_since_last_reassign >= 10 * self.n_clusters:
            self._n_since_last_reassign = 0
            return True
        return False

    def _step(self, Xb, centers, counts, rng, xp):
        reassign = self._random_reassign(counts, xp)
        new, counts, _, inertia = compiled(_minibatch_step, xp)(Xb, centers, counts)
        if reassign and self.reassignment_ratio > 0:
            new, counts = _reassign(Xb, new, counts, self.reassignment_ratio, rng, xp=xp)
        return new, counts, inertia

    def fit(self, X, y=None):
        """Cluster ``X`` (n_samples, n_features) by mini-batch steps; ``y`` is ignored."""
        X, xp = check_X(X)
        self._check_params(X)
        n = X.shape[0]
        self._batch_size, init_size = self._sizes(n)
        b = self._batch_size
        dev = device_of(X)
        rng = self._host_rng(X)
        # validation rows for choosing among several seedings (drawn first, as scikit-learn)
        valid_idx = rng.integers(0, n, (init_size,))
        X_valid, mem = self._in_memory(xp.take(X, xp.asarray(valid_idx, device=dev), axis=0), xp)
        best = None
        for _ in range(self._n_inits()):
            centers = self._seeding(X, xp, rng, init_size)
            inertia = _assign(X_valid, centers)[1]
            if best is None or is_true(inertia < best[1]):
                best = (centers, inertia)
        centers = best[0]
        counts = mem.zeros((self.n_clusters,), dtype=centers.dtype, device=device_of(centers))
        tol = 0.0
        if _is_dask(X):  # one pass: finiteness (check_X leaves it to the first pass) and the variance
            from ._dask_kmeans import dask_var_stats

            mean_var, finite = dask_var_stats(X)
            if not finite:
                raise ValueError("X contains NaN or infinity; remove or impute them before fitting")
            tol = self.tol * mean_var
        elif self.tol > 0:
            tol = self.tol * xp.mean(xp.var(X, axis=0))
        self._n_since_last_reassign = 0
        ewa = ewa_min = None
        no_improvement = 0
        alpha = min(1.0, b * 2.0 / (n + 1))
        n_steps = (self.max_iter * n) // b
        step_fn = compiled(_minibatch_step, mem)
        i = 0
        for i in range(n_steps):
            idx = xp.asarray(rng.integers(0, n, (b,)), device=dev)
            Xb = self._in_memory(xp.take(X, idx, axis=0), xp)[0]
            reassign = self._random_reassign(counts, mem)
            new, counts, _, batch_inertia = step_fn(Xb, centers, counts)
            if reassign and self.reassignment_ratio > 0:
                new, counts = _reassign(Xb, new, counts, self.reassignment_ratio, rng, xp=mem)
            shift = mem.sum((new - centers) ** 2) if self.tol > 0 else None
            centers = new
            # early stopping (scikit-learn's _mini_batch_convergence); step 1 is the initial centres' inertia
            if i == 0:
                continue
            batch_inertia = batch_inertia / b
            ewa = batch_inertia if ewa is None else ewa * (1 - alpha) + batch_inertia * alpha
            if self.tol > 0 and is_true(shift <= tol):
                break
            if ewa_min is None or is_true(ewa < ewa_min):
                no_improvement, ewa_min = 0, ewa
            else:
                no_improvement += 1
            if self.max_no_improvement is not None and no_improvement >= self.max_no_improvement:
                break
        self._counts, self._rng = counts, rng
        self.n_steps_ = i + 1
        self.n_iter_ = -(-((i + 1) * b) // n)
        self._publish(X, xp, centers)
        self.labels_, self.inertia_ = self._labels_inertia(X, xp)
        return self

    def partial_fit(self, X, y=None):
        """One mini-batch step on the batch ``X``; the first call also seeds the centres from it."""
        X, xp = check_X(X, check_finite="always")  # a batch: checked at once, also on Dask
        if not hasattr(self, "_counts"):
            self._check_params(X)
            self._batch_size, init_size = self._sizes(X.shape[0])
            self._rng = self._host_rng(X)
            centers = self._seeding(X, xp, self._rng, init_size)
            mem = array_namespace(centers)
            self._counts = mem.zeros((self.n_clusters,), dtype=centers.dtype, device=device_of(centers))
            self.n_steps_ = 0
            self._n_since_last_reassign = 0
            self.n_features_in_ = int(X.shape[1])
        else:
            X, xp = check_X(self._check_input(X), n_features=self.n_features_in_, check_finite="always")
            self._batch_size = min(self.batch_size, X.shape[0])  # this batch's size (the reassignment clock)
            centers = self._centers_mem
        Xb, mem = self._in_memory(X, xp)
        new, self._counts, _ = self._step(Xb, centers, self._counts, self._rng, mem)
        self._publish(X, xp, new)
        self.labels_, self.inertia_ = self._labels_inertia(X, xp)
        self.n_steps_ += 1
        return self

    def _host_rng(self, X):
        """The generator of the host draws: on ``X``'s backend, or on its chunks' library for Dask."""
        if _is_dask(X):
            return rng_for(computed(X[:1, :])[0], self.seed)
        return rng_for(X, self.seed)

    def _publish(self, X, xp, centers):
        self._centers_mem = centers
        if _is_dask(X):
            from ._stats import from_memory_like

            centers = from_memory_like(centers, X)
        self.cluster_centers_ = centers
        self.n_features_in_ = int(X.shape[1])

    def _labels_inertia(self, X, xp):
        if _is_dask(X):
            labels, inertia = compiled(_assign, xp)(X, self.cluster_centers_)
            return labels, settle(inertia)
        if _is_jax(xp):
            return compiled(_assign, xp)(X, self.cluster_centers_)
        return _assign_blocks(X, self.cluster_centers_, rows=max(256, _BLOCK_ENTRIES // X.shape[1]))
