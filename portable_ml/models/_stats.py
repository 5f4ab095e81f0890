r"""Sufficient statistics in one pass: group counts, group means and a scatter factor.

For data :math:`Z` (n, p), optionally grouped by a one-hot :math:`G` (n, k)
(one group when absent), the closed-form fits (least squares, ridge, PCA,
LDA) need only

.. math::
    n_g = \sum_i G_{ig},\qquad
    \mu_g = \frac{1}{n_g}\sum_i G_{ig}\, z_i,\qquad
    R^\top R = \sum_g \sum_{i \in g} (z_i - \mu_g)(z_i - \mu_g)^\top

where :math:`R` is an upper-triangular factor of the pooled within-group
scatter (the :math:`R` of a QR decomposition of the centred rows).  Keeping
the factor instead of the scatter matrix keeps the accuracy of an SVD of the
data: the singular values and right singular vectors of the centred data are
those of :math:`R`, and the cross products with targets are columns of it.

The data are read once, in row blocks :math:`b`: each block gives its own
:math:`n_{bg}`, :math:`\mu_{bg}` and :math:`R_b` (Householder QR of the rows
centred by the *block* means, so no cancellation), and the blocks merge by
Chan, Golub and LeVeque's parallel update, in factored form:

.. math::
    R^\top R = \sum_b R_b^\top R_b
        + \sum_b\sum_g n_{bg}\,(\mu_{bg} - \mu_g)(\mu_{bg} - \mu_g)^\top
    \quad\Longrightarrow\quad
    R = \operatorname{qr}\begin{pmatrix} R_1 \\ \vdots \\ R_B \\
        \sqrt{n_{bg}}\,(\mu_{bg} - \mu_g)^\top \end{pmatrix}

(a tall-and-skinny QR of the stacked small factors).  The blocks are:

* Dask: the row chunks, each reduced by one task, all in one ``dask.compute``
  (:func:`dask_moments`); the per-block results are small, and the merge runs
  in memory on them.  Labels are discovered in the same pass.
* JAX arrays sharded along the rows: the shards (``blocks`` = their number),
  so the compiled program factors each shard on its device and only the small
  per-shard factors cross devices, never ``X``.
* Anything else: one block.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

from array_api_compat import is_dask_array

from .._xp import array_namespace, device_of

__all__ = ["Moments", "block_moments", "merge_moments", "moments", "row_blocks", "dask_moments",
           "dask_class_variances", "class_moments", "merge_class_moments"]


class Moments(NamedTuple):
    """``count`` (k,), ``mean`` (k, p) and ``factor`` (r, p) with ``factor.T @ factor`` the pooled
    within-group scatter (uncentred when the moments were taken with ``center=False``)."""

    count: object
    mean: object
    factor: object


def _qr_r(A, *, xp):
    if is_dask_array(A):
        # Dask's QR takes 2-D arrays with one column of blocks: factor each
        # (small) block on its own.  Fits stream through dask_moments instead;
        # this path serves the functional forms called on a Dask array.
        A2 = xp.reshape(A, (-1,) + tuple(A.shape[-2:]))
        R = xp.stack([xp.linalg.qr(A2[b, ...].rechunk(-1))[1] for b in range(A2.shape[0])])
        return xp.reshape(R, tuple(A.shape[:-2]) + tuple(R.shape[-2:]))
    return xp.linalg.qr(A)[1]


def block_moments(Z, G=None, *, center=True, xp):
    """Per-block moments of ``Z`` (B, m, p), grouped by ``G`` (B, m, k) or one group.

    Returns ``count`` (B, k), ``mean`` (B, k, p) and ``factor`` (B, min(m, p), p).
    """
    m = Z.shape[-2]
    if G is None:
        count = xp.full(tuple(Z.shape[:-2]) + (1,), m, dtype=Z.dtype, device=device_of(Z))
        mean = xp.mean(Z, axis=-2, keepdims=True)
        E = Z - mean if center else Z
    else:
        count = xp.sum(G, axis=-2)
        sums = xp.matmul(xp.matrix_transpose(G), Z)
        mean = sums / xp.where(count > 0, count, xp.ones_like(count))[..., None]
        E = Z - xp.matmul(G, mean) if center else Z
    return Moments(count, mean, _qr_r(E, xp=xp))


def merge_moments(count, mean, factor_rows, *, center=True, xp):
    r"""Merge block moments: ``count`` (B, k), ``mean`` (B, k, p), ``factor_rows`` (sum of the
    blocks' factor rows, p) stacked.  Returns :class:`Moments` of all the rows (see the module notes)."""
    B, k, p = mean.shape
    total = xp.sum(count, axis=0)
    mu = xp.sum(count[..., None] * mean, axis=0) / xp.where(total > 0, total, xp.ones_like(total))[:, None]
    if B == 1:
        return Moments(total, mu, factor_rows)
    rows = [factor_rows]
    if center:
        rows.append(xp.reshape(xp.sqrt(count)[..., None] * (mean - mu[None, ...]), (B * k, p)))
    return Moments(total, mu, _qr_r(xp.concat(rows, axis=0), xp=xp))


def moments(Z, G=None, *, center=True, blocks=1, xp):
    """:class:`Moments` of in-memory ``Z`` (n, p) grouped by one-hot ``G`` (n, k), in ``blocks``
    equal row blocks (``n`` divisible by ``blocks``).  Traceable; ``blocks`` is static."""
    n, p = Z.shape
    Zb = xp.reshape(Z, (blocks, n // blocks, p))
    Gb = None if G is None else xp.reshape(G, (blocks, n // blocks, G.shape[1]))
    bm = block_moments(Zb, Gb, center=center, xp=xp)
    r = bm.factor.shape[1]
    return merge_moments(bm.count, bm.mean, xp.reshape(bm.factor, (blocks * r, p)), center=center, xp=xp)


def row_blocks(X):
    """Number of row shards of a JAX array sharded along axis 0 (1 for anything else).

    Used as the static ``blocks`` of :func:`moments`, so that each shard is
    factored where it lives.  1 when the rows do not split evenly.
    """
    jax = sys.modules.get("jax")
    if jax is None or not isinstance(X, jax.Array) or isinstance(X, jax.core.Tracer):
        return 1
    try:
        rows = X.sharding.shard_shape(tuple(X.shape))[0]
    except Exception:  # not a JAX sharding we can ask
        return 1
    n = X.shape[0]
    return n // rows if 0 < rows < n and n % rows == 0 else 1


# ------------------------------------------------------------------ Dask: one pass over the chunks
def _chunk_moments(x, y, labels, center):
    """Everything one row chunk contributes: (labels found, count, mean, factor, X finite, y finite)."""
    xp = array_namespace(x)
    if x.shape[0] == 0:
        return None
    finite_x = xp.all(xp.isfinite(x))
    finite_y = xp.all(xp.isfinite(y)) if y is not None else finite_x
    z = x if y is None else xp.concat([x, xp.reshape(y, (y.shape[0], -1))], axis=1)
    found, G = None, None
    if labels is not None:
        found = xp.sort(xp.unique_values(labels))
        G = xp.astype(labels[:, None] == found[None, :], z.dtype)[None, ...]
    bm = block_moments(z[None, ...], G, center=center, xp=xp)
    return found, bm.count[0, ...], bm.mean[0, ...], bm.factor[0, ...], finite_x, finite_y


def dask_moments(X, Y=None, labels=None, *, center=True):
    """One pass over Dask ``X`` (n, d), with targets ``Y`` (n, t) and/or ``labels`` (n,).

    Every row chunk of ``X`` (and the matching rows of ``Y``/``labels``) is read
    by exactly one task, which returns its small block moments; all tasks run
    in one ``dask.compute`` and nothing is persisted.  The merge runs in memory.

    Returns ``(classes, moments, finite_X, finite_Y)``: the sorted distinct
    labels (``None`` without ``labels``), :class:`Moments` of ``[X, Y]``
    grouped by label, in memory (the chunks' array library), and two Python
    bools.
    """
    import dask

    X = X.rechunk({1: -1})
    rows = X.chunks[0]
    xs = X.to_delayed(optimize_graph=False)[:, 0]
    ys = ls = [None] * len(xs)
    if Y is not None:
        Y = Y.rechunk({0: rows, 1: -1}) if Y.ndim == 2 else Y.rechunk({0: rows})
        ys = Y.to_delayed(optimize_graph=False)
        ys = ys[:, 0] if Y.ndim == 2 else ys
    if labels is not None:
        ls = labels.rechunk({0: rows}).to_delayed(optimize_graph=False)
    task = dask.delayed(_chunk_moments, pure=True)
    parts = [p for p in dask.compute(*[task(x, y, lab, center) for x, y, lab in zip(xs, ys, ls)]) if p is not None]
    xp = array_namespace(parts[0][2])
    finite_x = all(bool(p[4]) for p in parts)
    finite_y = all(bool(p[5]) for p in parts)
    dtype = parts[0][2].dtype
    classes = None
    if labels is not None:
        classes = xp.sort(xp.unique_values(xp.concat([p[0] for p in parts])))
        onehots = [xp.astype(p[0][:, None] == classes[None, :], dtype) for p in parts]  # (k_b, k)
        counts = xp.stack([p[1] @ P for p, P in zip(parts, onehots)])
        means = xp.stack([xp.matrix_transpose(P) @ p[2] for p, P in zip(parts, onehots)])
    else:
        counts = xp.stack([p[1] for p in parts])
        means = xp.stack([p[2] for p in parts])
    rows_r = xp.concat([p[3] for p in parts], axis=0)
    return classes, merge_moments(counts, means, rows_r, center=center, xp=xp), finite_x, finite_y


def class_moments(X, G, sample_weight=None, *, xp):
    r"""Per-group (weighted) counts (k,), feature means (k, d) and sums of squared deviations (k, d)
    of ``X`` (n, d) grouped by the one-hot ``G`` (n, k), two passes in memory:

    .. math::
        n_c = \sum_i s_i G_{ic},\quad \mu_c = \frac{1}{n_c}\sum_i s_i G_{ic} x_i,\quad
        M_c = \sum_i s_i G_{ic} (x_i - \mu_c)^2

    (:math:`s_i = 1` without weights).  An empty group has count, mean and
    :math:`M` zero.  Traceable.
    """
    Gw = G if sample_weight is None else G * sample_weight[:, None]
    count = xp.sum(Gw, axis=0)
    mean = (Gw.T @ X) / xp.where(count > 0, count, xp.ones_like(count))[:, None]
    R = X - G @ mean
    return count, mean, Gw.T @ (R * R)


def merge_class_moments(counts, means, m2s, *, xp):
    r"""Chan, Golub and LeVeque's merge of per-block class moments, feature by feature.

    ``counts`` (B, k), ``means`` and ``m2s`` (B, k, d), e.g. from :func:`class_moments`:

    .. math::
        n_c = \sum_b n_{bc},\quad \mu_c = \frac{1}{n_c}\sum_b n_{bc}\mu_{bc},\quad
        M_c = \sum_b M_{bc} + \sum_b n_{bc}(\mu_{bc} - \mu_c)^2

    Returns ``(count (k,), mean (k, d), m2 (k, d))``; a group empty in every
    block keeps zeros.  The same update serves Dask's chunks and
    ``GaussianNB.partial_fit``'s batches.
    """
    count = xp.sum(counts, axis=0)
    safe = xp.where(count > 0, count, xp.ones_like(count))
    mean = xp.sum(counts[..., None] * means, axis=0) / safe[:, None]
    m2 = xp.sum(m2s, axis=0) + xp.sum(counts[..., None] * (means - mean[None, ...]) ** 2, axis=0)
    return count, mean, m2


def _chunk_class_variances(x, labels, w=None):
    """One row chunk's (labels found, count (k_b,), mean (k_b, d), squared deviations (k_b, d), finite,
    and -- with weights ``w`` -- the unweighted count, mean and squared deviations of all its rows)."""
    xp = array_namespace(x)
    if x.shape[0] == 0:
        return None
    found = xp.sort(xp.unique_values(labels))
    G = xp.astype(labels[:, None] == found[None, :], x.dtype)
    count, mean, m2 = class_moments(x, G, w, xp=xp)
    plain = None if w is None else class_moments(x, xp.ones((x.shape[0], 1), dtype=x.dtype), xp=xp)
    return found, count, mean, m2, xp.all(xp.isfinite(x)), plain


def dask_class_variances(X, labels, sample_weight=None):
    r"""Per-class counts, feature means and feature sums of squared deviations of Dask ``X`` (n, d)
    grouped by ``labels`` (n,), in one pass over the row chunks.

    Each chunk gives its class counts :math:`n_{bc}`, means :math:`\mu_{bc}` and sums of squared
    deviations from them :math:`M_{bc}` (two passes over the chunk, in memory); the chunks merge
    by Chan, Golub and LeVeque's update, feature by feature:

    .. math::
        n_c = \sum_b n_{bc},\quad \mu_c = \frac{1}{n_c}\sum_b n_{bc}\mu_{bc},\quad
        M_c = \sum_b M_{bc} + \sum_b n_{bc}(\mu_{bc} - \mu_c)^2

    Returns ``(classes, count (k,), mean (k, d), m2 (k, d), finite)``, in memory, ``finite`` a
    Python bool.  All tasks run in one ``dask.compute``; nothing is persisted.

    With ``sample_weight`` (a Dask array (n,)) the counts, means and deviations are weighted
    (:func:`class_moments`), and a sixth item is returned: the unweighted ``(count (1,), mean (1, d),
    m2 (1, d))`` of all rows, from the same pass.
    """
    import dask

    X = X.rechunk({1: -1})
    xs = X.to_delayed(optimize_graph=False)[:, 0]
    ls = labels.rechunk({0: X.chunks[0]}).to_delayed(optimize_graph=False)
    ws = [None] * len(xs) if sample_weight is None else \
        sample_weight.rechunk({0: X.chunks[0]}).to_delayed(optimize_graph=False)
    task = dask.delayed(_chunk_class_variances, pure=True)
    parts = [p for p in dask.compute(*[task(x, lab, w) for x, lab, w in zip(xs, ls, ws)]) if p is not None]
    xp = array_namespace(parts[0][2])
    classes = xp.sort(xp.unique_values(xp.concat([p[0] for p in parts])))
    onehots = [xp.astype(p[0][:, None] == classes[None, :], parts[0][2].dtype) for p in parts]  # (k_b, k)
    counts = xp.stack([p[1] @ P for p, P in zip(parts, onehots)])  # (B, k)
    means = xp.stack([P.T @ p[2] for p, P in zip(parts, onehots)])  # (B, k, d)
    m2s = xp.stack([P.T @ p[3] for p, P in zip(parts, onehots)])
    count, mean, m2 = merge_class_moments(counts, means, m2s, xp=xp)
    finite = all(bool(p[4]) for p in parts)
    if sample_weight is None:
        return classes, count, mean, m2, finite
    plain = merge_class_moments(*(xp.stack([p[5][i] for p in parts]) for i in range(3)), xp=xp)
    return classes, count, mean, m2, finite, plain


def from_memory_like(tree, X):
    """Small in-memory results onto the backend of Dask ``X`` (one-chunk ``dask.array``s); else unchanged."""
    from ..tree import tree_map

    if type(X).__module__.split(".")[0] != "dask":
        return tree
    import dask.array as da

    return tree_map(lambda a: da.from_array(a, chunks=tuple(a.shape)) if hasattr(a, "shape") else a, tree)
