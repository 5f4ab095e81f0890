r"""Gradient utilities: finite-difference checks, clipping and norms on pytrees.

``numerical_gradient`` and ``check_gradient`` verify analytic gradients on
any backend (no in-place writes, so JAX and array-api-strict arrays work).
The clipping and norm functions take pytrees of gradients (nested ``dict`` /
``list`` / ``tuple`` of arrays, JAX pytrees too) and follow optax's numerics:
``clip_by_global_norm`` gives the same numbers as
``optax.clip_by_global_norm``, ``global_norm`` as ``optax.tree.norm``.
"""

from __future__ import annotations

import numbers

from ._validate import check_array
from ._xp import (
    as_array0d,
    array_namespace,
    as_float,
    check_nonempty,
    check_positive,
    device_of,
    float_dtype,
    size,
    value_check,
)
from .tree import tree_leaves, tree_leaves_with_path, tree_map

__all__ = [
    "numerical_gradient",
    "check_gradient",
    "clip_by_value",
    "clip_by_global_norm",
    "global_norm",
    "grad_norms",
]


# ------------------------------------------------------- finite differences
def _scalar(value, like, xp):
    """``f``'s result as a 0-d array of ``like``'s dtype and device."""
    if isinstance(value, numbers.Number):
        return xp.asarray(value, dtype=like.dtype, device=device_of(like))
    if tuple(getattr(value, "shape", ())) != ():
        raise ValueError(f"f must return a scalar (a 0-d array or a number); got shape {tuple(value.shape)}")
    return as_float(value, xp, like.dtype)


def numerical_gradient(f, x, *, eps=1e-5):
    r"""Gradient of a scalar function by central differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar`` (a 0-d array or a Python number), for arrays
        shaped like ``x``.
    x : array
        Point of evaluation, any shape; integer input is promoted to the
        default float.
    eps : float
        Step :math:`h > 0`.

    Returns
    -------
    array of the shape and floating dtype of ``x``

    Notes
    -----
    .. math:: \frac{\partial f}{\partial x_i} \approx
              \frac{f(x + h e_i) - f(x - h e_i)}{(x_i + h) - (x_i - h)}

    The denominator is the step actually taken in floating point (the
    classic correction that removes the error of representing
    :math:`x_i \pm h`); the truncation error is :math:`O(h^2)`, the
    rounding error about :math:`\varepsilon_{\text{mach}} |f| / h`, so in
    float32 a step near ``1e-3`` is the better choice.

    Cost: ``f`` is an arbitrary Python function, so it is evaluated
    :math:`2n` times (:math:`n` = ``x.size``), one coordinate at a time; each
    perturbed point is a fresh array ``x + h * e_i`` (``e_i`` from a one-hot
    compare; no in-place writes), so it works on every backend and under
    ``jax.jit`` (unrolled).  This is a testing tool for small ``x``.

    Raises
    ------
    ValueError
        If ``eps`` is not positive, ``x`` is empty or of unknown size, ``f``
        does not return a scalar, or (eagerly) ``x + eps == x - eps`` for
        some element (the step vanishes at that magnitude and dtype).

    Examples
    --------
    >>> import numpy as np
    >>> g = numerical_gradient(lambda z: (z * z).sum(), np.array([1.0, -2.0]))
    >>> np.round(g, 6)
    array([ 2., -4.])
    """
    check_positive(eps, "eps")
    xp = array_namespace(x)
    x = as_float(x, xp, float_dtype(xp, x))
    n = size(x)
    if n is None:
        raise ValueError(f"x must have a known size; got shape {tuple(x.shape)}")
    check_nonempty(x, "x")
    steps = (x + eps) - (x - eps)
    value_check(
        ~xp.any(steps == 0),
        f"eps={eps!r} vanishes next to the magnitude of some elements of x in {x.dtype}; use a larger eps",
    )
    index = xp.reshape(xp.arange(n, device=device_of(x)), tuple(x.shape))
    diffs = []
    for i in range(n):
        step = eps * xp.astype(index == i, x.dtype)
        diffs.append(_scalar(f(x + step), x, xp) - _scalar(f(x - step), x, xp))
    return xp.reshape(xp.stack(diffs), tuple(x.shape)) / steps


def _check_defaults(dtype, xp):
    r"""Step and tolerance of :func:`check_gradient` for ``dtype``.

    ``1e-5`` and ``1e-5`` in float64; in narrower dtypes the step that
    balances truncation and rounding, :math:`\varepsilon^{1/3}`, and the
    tolerance :math:`100\,\varepsilon^{2/3}` (the error of central
    differences at that step is about :math:`\varepsilon^{2/3}`): float32
    gets about ``4.9e-3`` and ``2.4e-3``.
    """
    e = float(xp.finfo(dtype).eps)
    if e <= 2.0**-52:
        return 1e-5, 1e-5
    return e ** (1.0 / 3.0), 100.0 * e ** (2.0 / 3.0)


def check_gradient(f, grad_f, x, *, eps=None, tol=None):
    r"""Compare an analytic gradient with central differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``.
    grad_f : callable
        ``grad_f(x) -> array`` of the shape of ``x``, the claimed gradient.
    x : array
        Point of evaluation.
    eps : float, optional
        Finite-difference step (see :func:`numerical_gradient`). Default
        by the dtype of ``x``: ``1e-5`` in float64, :math:`\varepsilon^{1/3}`
        (about ``4.9e-3`` in float32) in narrower dtypes.
    tol : float, optional
        Largest accepted relative error. Default by dtype: ``1e-5`` in
        float64, :math:`100\,\varepsilon^{2/3}` (about ``2.4e-3`` in float32).

    Returns
    -------
    ok : bool
        ``max_rel_error <= tol`` (False when any error is NaN).
    max_rel_error : float
        The largest elementwise relative error (below).

    Notes
    -----
    With :math:`a` the analytic and :math:`g` the numerical gradient:

    .. math:: \text{rel}_i = \frac{|a_i - g_i|}{\max(|a_i|, |g_i|)},
              \qquad \text{rel}_i = 0 \text{ when } a_i = g_i = 0

    The results are Python values by contract, so this function reads the
    error back to the host (one synchronisation) and cannot run inside
    ``jax.jit``.  The defaults follow the dtype, so an exact gradient
    passes in float32 as in float64.  Coordinates where the true gradient is 0 but the difference
    quotient is rounding noise give a relative error of 1: compare such
    functions with :func:`numerical_gradient` and an absolute tolerance.

    Raises
    ------
    ValueError
        If ``grad_f(x)`` does not have the shape of ``x``, or for the reasons
        of :func:`numerical_gradient`.
    """
    xp = array_namespace(x)
    x = as_float(x, xp, float_dtype(xp, x), "x")
    default_eps, default_tol = _check_defaults(x.dtype, xp)
    eps = default_eps if eps is None else eps
    tol = default_tol if tol is None else tol
    check_positive(tol, "tol", strict=False)
    analytic = grad_f(x)
    array_namespace(x, analytic)
    analytic = as_float(analytic, xp, x.dtype)
    if tuple(analytic.shape) != tuple(x.shape):
        raise ValueError(
            f"grad_f(x) must have the shape of x, {tuple(x.shape)}; got {tuple(analytic.shape)}"
        )
    numeric = numerical_gradient(f, x, eps=eps)
    scale = xp.maximum(xp.abs(analytic), xp.abs(numeric))
    zero = scale == 0  # NaN compares unequal, so NaN errors propagate into the max
    rel = xp.where(zero, xp.zeros_like(scale),
                   xp.abs(analytic - numeric) / xp.where(zero, xp.ones_like(scale), scale))
    max_rel = float(xp.max(rel))
    return bool(max_rel <= tol), max_rel


# ------------------------------------------------------- pytree utilities
def _tree_namespace(grads, name="grads"):
    leaves = tree_leaves(grads)
    if not leaves:
        raise ValueError(f"{name} must hold at least one array; got an empty pytree {grads!r}")
    for leaf in leaves:  # a Python list is a pytree node: its numbers would arrive here as leaves
        check_array(leaf, f"every leaf of {name}")
    return leaves, array_namespace(*leaves)


def _check_limit(value, name):
    if isinstance(value, numbers.Real):
        check_positive(value, name)


def clip_by_value(g, lo, hi):
    r"""Clip every element of every leaf of ``g`` to ``[lo, hi]``.

    Parameters
    ----------
    g : array or pytree of arrays
    lo, hi : float
        Bounds with ``lo <= hi``.

    Returns
    -------
    pytree like ``g``; each leaf keeps its dtype

    Notes
    -----
    .. math:: g_i \leftarrow \min(\max(g_i, \text{lo}), \text{hi})

    ``clip_by_value(g, -d, d)`` equals ``optax.clip(d)``.  The derivative
    is 1 inside the interval and 0 outside.

    Raises
    ------
    ValueError
        If ``lo > hi`` or a bound is NaN.
    """
    for v, name in ((lo, "lo"), (hi, "hi")):
        if not isinstance(v, numbers.Real) or v != v:
            raise ValueError(f"{name} must be a real number (not NaN); got {name}={v!r}")
    if lo > hi:
        raise ValueError(f"lo must not exceed hi; got lo={lo!r}, hi={hi!r}")
    _, xp = _tree_namespace(g, "g")
    return tree_map(lambda t: xp.clip(t, lo, hi), g)


def _sum_of_squares(leaves, xp):
    total = None
    for t in leaves:
        s = xp.sum(t * t)
        total = s if total is None else total + s
    return total


def global_norm(grads):
    r"""The L2 norm of all leaves together, as a 0-d array.

    .. math:: \|g\| = \sqrt{\sum_{\text{leaves } \ell} \sum_i g_{\ell,i}^2}

    Computed as ``optax.tree.norm`` does (per-leaf sums of squares added in
    leaf order, then one square root), so the values agree to the last bit
    on JAX; like optax it does not rescale, so squares beyond the dtype's
    range overflow to ``inf``.  The dtype is the promoted dtype of the leaves.

    Raises
    ------
    ValueError
        If ``grads`` holds no array.
    """
    leaves, xp = _tree_namespace(grads)
    return as_array0d(xp.sqrt(_sum_of_squares(leaves, xp)), xp)


def clip_by_global_norm(grads, max_norm):
    r"""Rescale ``grads`` so that their global norm is at most ``max_norm``.

    Parameters
    ----------
    grads : array or pytree of arrays
    max_norm : float
        Positive bound.

    Returns
    -------
    clipped : pytree like ``grads``
    global_norm : array of shape ()
        The norm *before* clipping.

    Notes
    -----
    .. math:: g \leftarrow \begin{cases} g & \|g\| < c \\
              \dfrac{g}{\|g\|}\, c & \text{otherwise} \end{cases}

    Same operations, in the same order, as ``optax.clip_by_global_norm``
    (``(g / norm) * max_norm`` in each leaf's dtype), so the results are
    equal to the last bit on JAX.  The division is guarded, so a zero
    gradient gives no warning and ``jax.grad`` through the clipping stays
    finite.

    Raises
    ------
    ValueError
        If ``max_norm`` is not positive, or ``grads`` holds no array.

    Examples
    --------
    >>> import numpy as np
    >>> clipped, norm = clip_by_global_norm({"w": np.array([3.0]), "b": np.array([4.0])}, 1.0)
    >>> float(norm), clipped["w"], clipped["b"]
    (5.0, array([0.6]), array([0.8]))
    """
    _check_limit(max_norm, "max_norm")
    leaves, xp = _tree_namespace(grads)
    sq = _sum_of_squares(leaves, xp)
    norm = xp.sqrt(sq)
    keep = norm < max_norm
    # equal to ``norm`` where it is used; the square root of 1 elsewhere keeps
    # 0/0 (and sqrt's infinite slope at 0, under jax.grad) out of the other branch
    safe = xp.sqrt(xp.where(keep, xp.ones_like(sq), sq))

    def clip(t):
        n = safe if safe.dtype == t.dtype else xp.astype(safe, t.dtype)
        return xp.where(keep, t, (t / n) * max_norm)

    return tree_map(clip, grads), as_array0d(norm, xp)


def grad_norms(grads):
    r"""The L2 norm of each leaf, keyed by the leaf's path.

    Parameters
    ----------
    grads : array or pytree of arrays

    Returns
    -------
    dict of str to array of shape ()
        ``{"w": ..., "layers/0/W": ...}``: path components joined by ``/``
        (dict keys, sequence indices, NamedTuple field names), in leaf
        order.  A bare array has the path ``""``.

    Notes
    -----
    .. math:: \|g_\ell\| = \sqrt{\textstyle\sum_i g_{\ell,i}^2}

    computed like :func:`global_norm`, so
    ``sqrt(sum(v**2 for v in grad_norms(g).values()))`` is ``global_norm(g)``
    up to rounding.

    Raises
    ------
    ValueError
        If ``grads`` holds no array, or two leaves have the same path
        (e.g. a key ``"a/b"`` next to ``{"a": {"b": ...}}``).

    Examples
    --------
    >>> import numpy as np
    >>> norms = grad_norms({"w": np.ones(4), "layers": [{"W": np.full((2, 2), 0.5)}]})
    >>> {k: float(v) for k, v in norms.items()}
    {'layers/0/W': 1.0, 'w': 2.0}
    """
    _, xp = _tree_namespace(grads)
    out = {}
    for path, leaf in tree_leaves_with_path(grads):
        if path in out:
            raise ValueError(f"two leaves of grads have the same path {path!r}; rename a key containing '/'")
        out[path] = as_array0d(xp.sqrt(xp.sum(leaf * leaf)), xp)
    return out
