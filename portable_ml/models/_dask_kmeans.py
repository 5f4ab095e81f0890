r"""k-means on Dask: every Lloyd iteration and every k-means++ step is one pass over the chunks.

The in-memory algorithm (``cluster.py``) keeps per-sample arrays (labels,
distances to the nearest centre) between steps.  On Dask those would have to
be persisted (memory the user did not ask for) or recomputed from ``X``
inside ever-growing graphs.  Here each step is instead one ``dask.compute``
of one task per row chunk, each returning a few small arrays; the merge of
those and the choice of the next centres run in memory.  Per-sample state is
recomputed inside the chunk's task from the small centres:

* Lloyd: the chunk assigns its rows to the current *and* the previous
  centres, so "no label changed" is counted without keeping labels; it
  returns its per-cluster counts and sums (the M-step), its ``k`` farthest
  rows (for empty clusters: the global ``k`` farthest are among them), and
  its inertia.
* k-means++: the chunk recomputes :math:`D(x)^2` to the centres chosen so
  far and returns, for every candidate, :math:`\sum \min(D^2, \|x - c_t\|^2)`
  over its rows -- the candidate potentials, and at the same time the chunk
  totals of the next step's :math:`D^2`, which locate the next candidates
  (inverse-CDF sampling: the chunk by the running total of the chunk totals,
  then the row inside it, which reads only the chunks that hold a candidate).

Graph keys are tokens of the inputs (``dask.delayed(pure=True)``), so
resubmitting a step never changes the task behind a key.
"""

from __future__ import annotations

from .._xp import array_namespace

__all__ = ["dask_kmeans_init", "dask_lloyd", "dask_var_stats"]


def _blocks(X):
    X = X.rechunk({1: -1})
    xs = list(X.to_delayed(optimize_graph=False)[:, 0])
    offsets, start = [], 0
    for c in X.chunks[0]:
        offsets.append(start)
        start += c
    return xs, offsets, list(X.chunks[0])


def _compute(fn, xs, *args):
    import dask

    task = dask.delayed(fn, pure=True)
    return dask.compute(*[task(x, *args) for x in xs])


def _sq(x, C, *, xp):
    r""":math:`\|x_i - c_j\|^2` (rows of ``x``, rows of ``C``), clamped at 0."""
    from ..distances import pairwise_euclidean

    return pairwise_euclidean(x, C, squared=True)


# ------------------------------------------------------------------ per-chunk tasks
def _stats_chunk(x):
    xp = array_namespace(x)
    n = x.shape[0]
    mean = xp.mean(x, axis=0)
    return n, mean, xp.sum((x - mean) ** 2, axis=0), bool(xp.all(xp.isfinite(x)))


def _closest_chunk(x, centers):
    xp = array_namespace(x)
    return xp.sum(xp.min(_sq(x, centers, xp=xp), axis=1))


def _locate_chunk(x, centers, targets):
    """Rows of ``x`` at which the running sum of :math:`D^2` first reaches each of ``targets``."""
    xp = array_namespace(x)
    cum = xp.cumulative_sum(xp.min(_sq(x, centers, xp=xp), axis=1))
    idx = xp.clip(xp.searchsorted(cum, targets), 0, x.shape[0] - 1)
    return xp.take(x, idx, axis=0)


def _potentials_chunk(x, centers, cands):
    xp = array_namespace(x)
    closest = xp.min(_sq(x, centers, xp=xp), axis=1)
    return xp.sum(xp.minimum(closest[:, None], _sq(x, cands, xp=xp)), axis=0)  # (T,)


def _rows_chunk(x, idx):
    return array_namespace(x).take(x, idx, axis=0)


def _lloyd_chunk(x, offset, centers, prev, m):
    xp = array_namespace(x)
    k = centers.shape[0]
    D = _sq(x, centers, xp=xp)
    labels = xp.argmin(D, axis=1)
    closest = xp.min(D, axis=1)
    A = xp.astype(labels[:, None] == xp.arange(k)[None, :], x.dtype)
    changed = x.shape[0] if prev is None else xp.sum(xp.astype(labels != xp.argmin(_sq(x, prev, xp=xp), axis=1),
                                                                  xp.int64))
    order = xp.argsort(closest, descending=True, stable=True)[:m]
    return (xp.sum(A, axis=0), xp.matrix_transpose(A) @ x, changed, xp.sum(closest),
            xp.take(closest, order), order + offset, xp.take(x, order, axis=0))


# ------------------------------------------------------------------ steps
def dask_var_stats(X):
    """``(mean per-feature variance, all finite)`` of Dask ``X`` in one pass (Chan's merge of chunk moments)."""
    xs, _, _ = _blocks(X)
    parts = _compute(_stats_chunk, xs)
    xp = array_namespace(parts[0][1])
    n = sum(p[0] for p in parts)
    mean = sum(p[0] * p[1] for p in parts) / n
    m2 = sum(p[2] + p[0] * (p[1] - mean) ** 2 for p in parts)
    return xp.asarray(xp.mean(m2 / n)), all(p[3] for p in parts)


def _rows(X, idx):
    """Rows ``idx`` (host ints) of Dask ``X``, in that order, reading only the chunks that hold them."""
    import dask

    xs, offsets, sizes = _blocks(X)
    picks = []
    for i in idx:
        b = max(j for j, o in enumerate(offsets) if o <= i)
        picks.append((b, i - offsets[b]))
    task = dask.delayed(_rows_chunk, pure=True)
    got = dask.compute(*[task(xs[b], [r]) for b, r in picks])
    return array_namespace(got[0]).concat(list(got), axis=0)


def _host_ints(a):
    return [int(v) for v in (a.compute() if hasattr(a, "compute") else a)]


def dask_kmeans_init(X, k, rng, kind):
    """Initial centres (in memory) for Dask ``X``: ``"random"`` rows or greedy k-means++, with the
    same draws from ``rng`` as :func:`portable_ml.models.kmeans_plusplus` and ``KMeans`` in memory."""
    import math

    import dask

    n = X.shape[0]
    if kind == "random":
        return _rows(X, _host_ints(rng.choice(n, k)))
    T = 2 + int(math.log(k))
    xs, offsets, sizes = _blocks(X)
    centers = _rows(X, _host_ints(rng.integers(0, n, (1,))))
    xp = array_namespace(centers)
    totals = xp.stack(list(_compute(_closest_chunk, xs, centers)))
    for _ in range(1, k):
        u = rng.uniform((T,), dtype=X.dtype)
        u = u.compute() if hasattr(u, "compute") else u
        ends = xp.cumulative_sum(totals)
        v = u * ends[-1]
        blk = xp.clip(xp.searchsorted(ends, v), 0, len(xs) - 1)
        starts = ends - totals
        # the candidates' rows, chunk by chunk (only the chunks that hold one)
        task = dask.delayed(_locate_chunk, pure=True)
        wanted = sorted({int(b) for b in blk})
        found = dask.compute(*[task(xs[b], centers, v[blk == b] - starts[b]) for b in wanted])
        by_block = dict(zip(wanted, found))
        seen = {b: 0 for b in wanted}
        rows = []
        for b in (int(b) for b in blk):  # T candidates, in draw order
            rows.append(by_block[b][seen[b]:seen[b] + 1, :])
            seen[b] += 1
        cands = xp.concat(rows, axis=0)
        pots = xp.stack(list(_compute(_potentials_chunk, xs, centers, cands)))  # (B, T)
        best = int(xp.argmin(xp.sum(pots, axis=0)))
        totals = pots[:, best]
        centers = xp.concat([centers, cands[best:best + 1, :]], axis=0)
    return centers


def dask_lloyd(X, centers, prev, tol):
    """One Lloyd iteration over Dask ``X`` from in-memory ``centers`` (``prev``: the previous ones, or
    None): ``(new centres, done, any empty, inertia of the assignment to centers)``, as ``lloyd_step``."""
    xs, offsets, _ = _blocks(X)
    k, n = centers.shape[0], X.shape[0]
    m = min(k, n)
    task_args = [(x, o) for x, o in zip(xs, offsets)]
    import dask

    task = dask.delayed(_lloyd_chunk, pure=True)
    parts = dask.compute(*[task(x, o, centers, prev, m) for x, o in task_args])
    xp = array_namespace(parts[0][0])
    counts = sum(p[0] for p in parts)
    sums = sum(p[1] for p in parts)
    changed = sum(int(p[2]) for p in parts)
    inertia = sum(p[3] for p in parts)
    empty = counts == 0
    new = sums / xp.where(empty, xp.ones_like(counts), counts)[:, None]
    any_empty = bool(xp.any(empty))
    if any_empty:  # the r-th empty cluster takes the r-th farthest sample (ties: lower index first)
        far_d = xp.concat([p[4] for p in parts])
        far_x = xp.concat([p[6] for p in parts], axis=0)
        order = xp.argsort(far_d, descending=True, stable=True)[:m]
        rank = xp.clip(xp.cumulative_sum(xp.astype(empty, xp.int64)) - 1, 0, m - 1)
        relocated = xp.take(xp.take(far_x, order, axis=0), rank, axis=0)
        new = xp.where(empty[:, None], relocated, new)
    shift = xp.sum((new - centers) ** 2)
    done = bool(shift <= tol) or changed == 0
    return new, done, any_empty, inertia
