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

from ._validate import check_array, check_choice
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
    "numerical_jacobian",
    "numerical_hessian",
    "check_gradient",
    "clip_by_value",
    "clip_by_global_norm",
    "global_norm",
    "grad_norms",
    "grad_stats",
]


# ------------------------------------------------------- finite differences
def _scalar(value, like, *, xp):
    """``f``'s result as a 0-d array of ``like``'s dtype and device."""
    if isinstance(value, numbers.Number):
        return xp.asarray(value, dtype=like.dtype, device=device_of(like))
    if tuple(getattr(value, "shape", ())) != ():
        raise ValueError(f"f must return a scalar (a 0-d array or a number); got shape {tuple(value.shape)}")
    return as_float(value, xp, like.dtype)


_METHODS = ("central", "forward", "backward")


def _difference_setup(x, eps, method, name="x"):
    """``(xp, x, n, index, steps)``: the checked point, its coordinates and the steps actually taken."""
    check_positive(eps, "eps")
    check_choice(method, "method", _METHODS)
    xp = array_namespace(x)
    x = as_float(x, xp, float_dtype(xp, x))
    n = size(x)
    if n is None:
        raise ValueError(f"{name} must have a known size; got shape {tuple(x.shape)}")
    check_nonempty(x, name)
    hi = x + eps if method != "backward" else x
    lo = x - eps if method != "forward" else x
    steps = hi - lo
    value_check(
        ~xp.any(steps == 0),
        f"eps={eps!r} vanishes next to the magnitude of some elements of x in {x.dtype}; use a larger eps",
    )
    index = xp.reshape(xp.arange(n, device=device_of(x)), tuple(x.shape))
    return xp, x, n, index, steps


def _differences(f, x, eps, method, n, index, result, *, xp):
    """``[result(f(x + h_i)) - result(f(x - h_i))]`` per coordinate (one side at ``x`` for the one-sided
    methods, whose ``f(x)`` is evaluated once)."""
    centre = result(f(x)) if method != "central" else None
    diffs = []
    for i in range(n):
        step = eps * xp.astype(index == i, x.dtype)
        up = result(f(x + step)) if method != "backward" else centre
        down = result(f(x - step)) if method != "forward" else centre
        diffs.append(up - down)
    return diffs


def numerical_gradient(f, x, *, eps=1e-5, method="central"):
    r"""Gradient of a scalar function by finite differences.

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
    method : {"central", "forward", "backward"}, default "central"
        Central differences (error :math:`O(h^2)`, :math:`2n` calls of
        ``f``) or one-sided ones (error :math:`O(h)`, :math:`n + 1` calls).

    Returns
    -------
    array of the shape and floating dtype of ``x``

    Notes
    -----
    .. math:: \frac{\partial f}{\partial x_i} \approx
              \frac{f(x + h e_i) - f(x - h e_i)}{(x_i + h) - (x_i - h)}
              \ \text{(central)},\quad
              \frac{f(x + h e_i) - f(x)}{(x_i + h) - x_i}\ \text{(forward)},\quad
              \frac{f(x) - f(x - h e_i)}{x_i - (x_i - h)}\ \text{(backward)}

    The denominator is the step actually taken in floating point (the
    classic correction that removes the error of representing
    :math:`x_i \pm h`); the central truncation error is :math:`O(h^2)`, the
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
    xp, x, n, index, steps = _difference_setup(x, eps, method)
    diffs = _differences(f, x, eps, method, n, index, lambda v: _scalar(v, x, xp=xp), xp=xp)
    return xp.reshape(xp.stack(diffs), tuple(x.shape)) / steps


def numerical_jacobian(f, x, *, eps=1e-5, method="central"):
    r"""Jacobian of an array function by finite differences (``jax.jacobian``'s layout).

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of any fixed shape :math:`S`, for arrays shaped like ``x``.
    x : array of shape :math:`X`
    eps : float
        Step :math:`h > 0`.
    method : {"central", "forward", "backward"}, default "central"
        As in :func:`numerical_gradient`.

    Returns
    -------
    array of shape :math:`S + X`: ``J[..., j] = d f(x)[...] / d x[j]``

    Notes
    -----
    .. math:: J_{k i} = \frac{\partial f_k}{\partial x_i} \approx
              \frac{f_k(x + h e_i) - f_k(x - h e_i)}{(x_i + h) - (x_i - h)}

    (one-sided variants as in :func:`numerical_gradient`).  ``f`` is
    evaluated :math:`2n` times (:math:`n + 1` one-sided): a testing tool
    for small ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> J = numerical_jacobian(lambda z: z * z, np.array([1.0, 3.0]))
    >>> np.round(J, 6)
    array([[2., 0.],
           [0., 6.]])
    """
    xp, x, n, index, steps = _difference_setup(x, eps, method)
    out_shape = []

    def result(v):
        v = as_float(check_array(v, "f(x)"), xp, x.dtype)
        if not out_shape:
            out_shape.append(tuple(v.shape))
        elif tuple(v.shape) != out_shape[0]:
            raise ValueError(f"f must return arrays of one shape; got {out_shape[0]} and {tuple(v.shape)}")
        return v

    diffs = _differences(f, x, eps, method, n, index, result, xp=xp)
    J = xp.stack(diffs, axis=-1) / xp.reshape(steps, (n,))  # (*S, n)
    return xp.reshape(J, out_shape[0] + tuple(x.shape))


def numerical_hessian(f, x, *, eps=1e-4):
    r"""Hessian of a scalar function by central differences (``jax.hessian``'s layout).

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``, for arrays shaped like ``x``.
    x : array of shape :math:`X`
    eps : float, default 1e-4
        Step :math:`h > 0` (the error is :math:`O(h^2)` truncation plus
        :math:`O(\varepsilon_{\text{mach}} |f| / h^2)` rounding: about
        :math:`\varepsilon_{\text{mach}}^{1/4}` balances them).

    Returns
    -------
    array of shape :math:`X + X`, symmetric

    Notes
    -----
    .. math:: H_{ij} \approx \frac{f(x + h_i e_i + h_j e_j) - f(x + h_i e_i - h_j e_j)
              - f(x - h_i e_i + h_j e_j) + f(x - h_i e_i - h_j e_j)}{4 h_i h_j}

    with :math:`2h_i = (x_i + h) - (x_i - h)` the step actually taken; on the
    diagonal this is :math:`(f(x + 2h e_i) - 2f(x) + f(x - 2h e_i)) / (4h^2)`.
    The :math:`i \le j` entries are evaluated (:math:`2n(n+1)` calls of
    ``f``) and mirrored: a testing tool for small ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> H = numerical_hessian(lambda z: (z[0] ** 2) * z[1], np.array([1.0, 2.0]))
    >>> np.round(H, 5)
    array([[4., 2.],
           [2., 0.]])
    """
    xp, x, n, index, steps = _difference_setup(x, eps, "central")
    half = xp.reshape(steps, (n,)) / 2.0
    units = [eps * xp.astype(index == i, x.dtype) for i in range(n)]

    def F(z):
        return _scalar(f(z), x, xp=xp)

    rows = [[None] * n for _ in range(n)]
    for i in range(n):
        for j in range(i, n):
            num = (F(x + units[i] + units[j]) - F(x + units[i] - units[j])
                   - F(x - units[i] + units[j]) + F(x - units[i] - units[j]))
            rows[i][j] = rows[j][i] = num / (4.0 * half[i] * half[j])
    H = xp.stack([xp.stack(r) for r in rows])
    return xp.reshape(H, tuple(x.shape) + tuple(x.shape))


def _check_defaults(dtype, *, xp):
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
    default_eps, default_tol = _check_defaults(x.dtype, xp=xp)
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


def _sum_of_squares(leaves, *, xp):
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
    return as_array0d(xp.sqrt(_sum_of_squares(leaves, xp=xp)), xp)


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
    sq = _sum_of_squares(leaves, xp=xp)
    norm = xp.sqrt(sq)
    keep = norm < max_norm
    # equal to ``norm`` where it is used; the square root of 1 elsewhere keeps
    # 0/0 (and sqrt's infinite slope at 0, under jax.grad) out of the other branch
    safe = xp.sqrt(xp.where(keep, xp.ones_like(sq), sq))

    def clip(t):
        n = safe if safe.dtype == t.dtype else xp.astype(safe, t.dtype)
        return xp.where(keep, t, (t / n) * max_norm)

    return tree_map(clip, grads), as_array0d(norm, xp)


def grad_stats(grads):
    r"""Summary statistics of each leaf of a gradient pytree, keyed by the leaf's path (as :func:`grad_norms`).

    Parameters
    ----------
    grads : array or pytree of arrays

    Returns
    -------
    dict of str to dict of str to array of shape ()
        ``{path: {"mean", "std", "max_abs", "norm"}}``: arrays on the
        leaves' device (nothing is read back to the host, so it runs under
        ``jax.jit``), for logging or exploding/vanishing-gradient checks.

    Notes
    -----
    .. math:: \bar g = \frac1m\sum_i g_i,\quad
              s = \sqrt{\tfrac1m\textstyle\sum_i (g_i - \bar g)^2},\quad
              \max_i |g_i|,\quad \|g\|_2

    (the population standard deviation, ``numpy.std``'s default), the last two
    computed on :math:`g / \max_i |g_i|` and scaled back, so that they neither
    underflow for tiny gradients nor overflow for huge ones.

    Raises
    ------
    ValueError
        If ``grads`` holds no array, a leaf is empty, or two leaves have the same path.

    Examples
    --------
    >>> import numpy as np
    >>> s = grad_stats({"w": np.array([3.0, -4.0])})["w"]
    >>> {k: float(v) for k, v in s.items()}
    {'mean': -0.5, 'std': 3.5, 'max_abs': 4.0, 'norm': 5.0}
    """
    _, xp = _tree_namespace(grads)
    out = {}
    for path, leaf in tree_leaves_with_path(grads):
        if path in out:
            raise ValueError(f"two leaves of grads have the same path {path!r}; rename a key containing '/'")
        check_nonempty(leaf, f"grads leaf {path!r}")
        g = as_float(leaf, xp, float_dtype(xp, leaf))
        big = xp.max(xp.abs(g))
        scale = xp.where(big > 0, big, xp.ones_like(big))
        u = g / scale  # |u| <= 1: the squares neither underflow (tiny gradients) nor overflow
        mean_u = xp.mean(u)
        out[path] = {"mean": as_array0d(xp.mean(g), xp),
                     "std": as_array0d(scale * xp.sqrt(xp.mean((u - mean_u) ** 2)), xp),
                     "max_abs": as_array0d(big, xp), "norm": as_array0d(scale * xp.sqrt(xp.sum(u * u)), xp)}
    return out


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
