r"""Regularisation and normalisation: weight penalties, max-norm, dropout,
batch and layer normalisation with analytic backward passes, early stopping.

Every array function follows the namespace, dtype and device of its inputs
and runs unchanged under ``jax.jit``, ``jax.grad`` and ``jax.vmap``.  The
penalties accept pytrees (nested ``dict`` / ``list`` / ``tuple`` of arrays):
the penalty sums over every leaf and the gradient is a pytree of the same
structure.

Randomness (:func:`dropout`) comes either from a
:class:`portable_ml.random.Generator` (same seed, same mask on every backend)
or, inside ``jax.jit``, from an explicit JAX PRNG key.  This module imports
no array library and not the backend selector: the generator is used through
its ``bernoulli`` method only, and JAX is used only when the caller already
handed us a JAX key.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any, NamedTuple

from . import _numerics as _n
from ._xp import (
    as_array0d,
    array_namespace,
    as_float,
    check_nonempty,
    check_positive,
    check_same_shape,
    float_dtype,
    sign,
)
from ._validate import check_bool, check_real
from .tree import tree_leaves, tree_map

__all__ = [
    "l1_penalty",
    "l1_penalty_grad",
    "l2_penalty",
    "l2_penalty_grad",
    "elastic_net_penalty",
    "elastic_net_penalty_grad",
    "max_norm",
    "dropout",
    "batch_norm",
    "batch_norm_backward",
    "BatchNormCache",
    "BatchNormRunningCache",
    "BatchNormInferenceCache",
    "layer_norm",
    "layer_norm_backward",
    "LayerNormCache",
    "EarlyStopping",
]


# ------------------------------------------------------------------ helpers
def _check_strength(value, name):
    """A penalty strength: a non-negative real number, or an array (unchecked, may be traced)."""
    if isinstance(value, numbers.Real):
        check_positive(value, name, strict=False)
        return
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(f"{name} must be a non-negative real number or a 0-d array; got {type(value).__name__}")


def _tree_arrays(tree, name):
    """Leaves of ``tree`` and their common namespace; a clear error for empty trees."""
    leaves = tree_leaves(tree)
    if not leaves:
        raise ValueError(f"{name} must hold at least one array; got an empty pytree {tree!r}")
    return leaves, array_namespace(*leaves)


def _tree_sum(fn, tree, name):
    r"""(:math:`\sum_{\text{leaves}} \sum_i fn(w)_i`, dtype, xp) over the float-promoted leaves."""
    leaves, xp = _tree_arrays(tree, name)
    dtype = float_dtype(xp, *leaves)
    total = None
    for leaf in leaves:
        s = xp.sum(fn(as_float(leaf, xp, dtype), xp=xp))
        total = s if total is None else total + s
    return total, dtype, xp


def _coef(value, like, *, xp):
    """A strength as a factor that keeps ``like``'s dtype (numbers stay Python numbers)."""
    return value if isinstance(value, numbers.Real) else as_float(value, xp, like.dtype)


def _leafwise(fn, tree, name):
    """``tree_map`` of ``fn(leaf_as_float, xp)``, the namespace found once."""
    _, xp = _tree_arrays(tree, name)

    def one(leaf):
        return fn(as_float(leaf, xp, float_dtype(xp, leaf)), xp)

    return tree_map(one, tree)


def _abs(w, *, xp):
    return xp.abs(w)


def _square(w, *, xp):
    return w * w


# ---------------------------------------------------------------- penalties
def l1_penalty(w, lam):
    r"""L1 (lasso) penalty :math:`\lambda \sum_i |w_i|`, summed over every leaf.

    Parameters
    ----------
    w : array or pytree of arrays
        Weights; any shapes, one backend and device.
    lam : float or 0-d array
        Strength :math:`\lambda \ge 0`.

    Returns
    -------
    array of shape ()
        The penalty, in the promoted floating dtype of the leaves.

    Notes
    -----
    .. math:: R(w) = \lambda \sum_i |w_i|, \qquad
              \frac{\partial R}{\partial w_i} = \lambda \operatorname{sign}(w_i)

    See :func:`l1_penalty_grad` for the subgradient at 0.

    Raises
    ------
    ValueError
        If ``lam`` is negative or NaN, or ``w`` holds no array.
    TypeError
        If the leaves mix backends.

    Examples
    --------
    >>> import numpy as np
    >>> float(l1_penalty({"W": np.array([1.0, -2.0]), "b": np.array([0.5])}, 0.5))
    1.75
    """
    _check_strength(lam, "lam")
    total, _, xp = _tree_sum(_abs, w, "w")
    return as_array0d(_coef(lam, total, xp=xp) * total, xp)


def l1_penalty_grad(w, lam):
    r"""Gradient of :func:`l1_penalty`: :math:`\lambda \operatorname{sign}(w)`, leafwise.

    At :math:`w_i = 0`, where :math:`|w|` has no derivative, the subgradient
    0 is returned (``sign(0) = 0``), the element of the subdifferential
    :math:`[-\lambda, \lambda]` of least magnitude.

    .. math:: \frac{\partial}{\partial w_i} \lambda \sum_j |w_j| = \lambda \operatorname{sign}(w_i)

    Returns a pytree with the structure of ``w``; each leaf keeps its
    floating dtype (integer leaves are promoted).
    """
    _check_strength(lam, "lam")
    return _leafwise(lambda x, xp: _coef(lam, x, xp=xp) * sign(x, xp), w, "w")


def l2_penalty(w, lam):
    r"""L2 (ridge / weight-decay) penalty :math:`\lambda \sum_i w_i^2`, summed over every leaf.

    Note the convention: no factor :math:`\tfrac12` (as on the formula
    sheets); the gradient is therefore :math:`2\lambda w`.

    Parameters
    ----------
    w : array or pytree of arrays
    lam : float or 0-d array
        Strength :math:`\lambda \ge 0`.

    Returns
    -------
    array of shape ()

    Notes
    -----
    .. math:: R(w) = \lambda \sum_i w_i^2, \qquad \frac{\partial R}{\partial w_i} = 2 \lambda w_i

    Examples
    --------
    >>> import numpy as np
    >>> float(l2_penalty([np.array([1.0, -2.0]), np.array([[3.0]])], 0.5))
    7.0
    """
    _check_strength(lam, "lam")
    total, _, xp = _tree_sum(_square, w, "w")
    return as_array0d(_coef(lam, total, xp=xp) * total, xp)


def l2_penalty_grad(w, lam):
    r"""Gradient of :func:`l2_penalty`: :math:`2 \lambda w`, leafwise (a pytree like ``w``).

    .. math:: \frac{\partial}{\partial w_i} \lambda \sum_j w_j^2 = 2 \lambda w_i
    """
    _check_strength(lam, "lam")
    return _leafwise(lambda x, xp: (2 * _coef(lam, x, xp=xp)) * x, w, "w")


def elastic_net_penalty(w, l1, l2):
    r"""Elastic-net penalty :math:`\lambda_1 \sum_i |w_i| + \lambda_2 \sum_i w_i^2`.

    It is exactly ``l1_penalty(w, l1) + l2_penalty(w, l2)``: the L2 part has
    no factor :math:`\tfrac12`.  (scikit-learn's ``ElasticNet`` objective
    writes :math:`\alpha\rho\|w\|_1 + \tfrac{\alpha(1-\rho)}{2}\|w\|_2^2`;
    that is ``l1 = alpha * l1_ratio``, ``l2 = alpha * (1 - l1_ratio) / 2``.)

    Parameters
    ----------
    w : array or pytree of arrays
    l1, l2 : float or 0-d array
        Non-negative strengths :math:`\lambda_1, \lambda_2`.

    Returns
    -------
    array of shape ()

    Notes
    -----
    .. math:: R(w) = \lambda_1 \sum_i |w_i| + \lambda_2 \sum_i w_i^2, \qquad
              \frac{\partial R}{\partial w_i} = \lambda_1 \operatorname{sign}(w_i) + 2\lambda_2 w_i
    """
    _check_strength(l1, "l1")
    _check_strength(l2, "l2")
    s1, _, xp = _tree_sum(_abs, w, "w")
    s2, _, _ = _tree_sum(_square, w, "w")
    return as_array0d(_coef(l1, s1, xp=xp) * s1 + _coef(l2, s2, xp=xp) * s2, xp)


def elastic_net_penalty_grad(w, l1, l2):
    r"""Gradient of :func:`elastic_net_penalty`, leafwise (subgradient 0 of the L1 part at 0).

    .. math:: \frac{\partial R}{\partial w_i} = \lambda_1 \operatorname{sign}(w_i) + 2\lambda_2 w_i
    """
    _check_strength(l1, "l1")
    _check_strength(l2, "l2")
    return _leafwise(
        lambda x, xp: _coef(l1, x, xp=xp) * sign(x, xp) + (2 * _coef(l2, x, xp=xp)) * x, w, "w"
    )


# ----------------------------------------------------------------- max-norm
def max_norm(W, *, c=3.0, axis=0):
    r"""Max-norm constraint: rescale the slices of ``W`` whose L2 norm exceeds ``c``.

    The norm is taken along ``axis`` (default 0: each column of a
    ``(fan_in, fan_out)`` weight matrix, i.e. the incoming weights of each
    unit).  Slices with norm at most ``c`` (zero slices included) are
    returned unchanged, bit for bit.

    Parameters
    ----------
    W : array of shape (..., )
        At least 1-D.
    c : float
        Maximum norm, positive.
    axis : int or tuple of int
        Axis (axes) along which the norm is taken.

    Returns
    -------
    array of the shape and floating dtype of ``W``

    Notes
    -----
    .. math:: W_{:,j} \leftarrow W_{:,j} \cdot \min\!\left(1, \frac{c}{\|W_{:,j}\|_2}\right)

    Unlike Keras' ``MaxNorm`` (which divides by ``norm + 1e-7``) there is no
    fudge term: the rescaled slices have norm ``c`` up to rounding.  The
    division is guarded (a double ``where``), so zero slices give no warning
    and ``jax.grad`` stays finite.

    Raises
    ------
    ValueError
        If ``c`` is not positive, or ``W`` is 0-d.

    Examples
    --------
    >>> import numpy as np
    >>> max_norm(np.array([[3.0, 0.3], [4.0, 0.4]]), c=1.0)
    array([[0.6, 0.3],
           [0.8, 0.4]])
    """
    check_positive(c, "c")
    xp = array_namespace(W)
    W = as_float(W, xp, float_dtype(xp, W))
    if W.ndim == 0:
        raise ValueError(f"W must be at least 1-D; got a 0-d array of shape {tuple(W.shape)}")
    # norms scaled by the slice's max |W| (as hypot does): no overflow or underflow of W^2
    m = _n.max_abs_scale(W, axis=axis, keepdims=True, xp=xp)
    U = W / m
    sq = xp.sum(U * U, axis=axis, keepdims=True)  # (||W|| / m)^2, in [1, size] (or 0)
    cm = c / m
    over = sq > cm * cm
    # the square root only where used: its gradient at a zero slice would be inf
    safe = xp.sqrt(xp.where(over, sq, xp.ones_like(sq)))
    scale = xp.where(over, cm / safe, xp.ones_like(sq))
    return W * scale


# ------------------------------------------------------------------ dropout
def _is_jax_key(rng):
    """True for a JAX PRNG key (typed or legacy ``uint32[2]``); never imports JAX."""
    jax = sys.modules.get("jax")
    if jax is None or not isinstance(rng, jax.Array):
        return False
    return jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key) or (
        str(rng.dtype) == "uint32" and tuple(rng.shape) == (2,)
    )


def dropout(x, p, rng, *, training=True):
    r"""Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p).

    Parameters
    ----------
    x : array
        Activations, any shape.
    p : float
        Drop probability, :math:`0 \le p < 1` (a Python number: static under ``jax.jit``).
    rng : portable_ml.random.Generator or JAX PRNG key
        Source of the mask.  A :class:`~portable_ml.random.Generator` draws
        the mask on the host (same seed, same mask on every backend) and
        places it on its own backend and device, which must be those of
        ``x``.  A JAX key (``jax.random.key`` or a legacy ``PRNGKey``) is
        used with ``jax.random.bernoulli``; it works inside ``jax.jit`` and
        requires ``x`` to be a JAX array.  (A generator used inside
        ``jax.jit`` would bake one fixed mask into the compiled function;
        pass a key there.)
    training : bool
        When False, dropout is the identity.

    Returns
    -------
    array of the shape of ``x``
        ``x`` itself when ``training`` is False or ``p == 0``; otherwise a
        new array in ``x``'s floating dtype.

    Notes
    -----
    With a mask :math:`m_i \sim \operatorname{Bernoulli}(1-p)`:

    .. math:: y_i = \frac{m_i\, x_i}{1-p}, \qquad \mathbb E[y_i] = x_i, \qquad
              \frac{\partial y_i}{\partial x_i} = \frac{m_i}{1-p}

    The scaling at training time means nothing needs rescaling at inference.

    Raises
    ------
    ValueError
        If ``p`` is outside :math:`[0, 1)`.
    TypeError
        If ``p`` is not a real number, ``rng`` is neither a generator nor a
        JAX key, a key is used with a non-JAX ``x``, or the generator's
        backend/device differs from ``x``'s.

    Examples
    --------
    >>> import portable_ml as pml
    >>> be = pml.get_backend("numpy")
    >>> y = dropout(be.xp.ones(8), 0.5, be.rng(0))   # entries are 0.0 or 2.0
    >>> dropout(y, 0.5, be.rng(0), training=False) is y
    True
    """
    if not isinstance(p, numbers.Real) or isinstance(p, bool):
        raise TypeError(f"p must be a real number in [0, 1); got p={p!r} ({type(p).__name__})")
    if not 0 <= p < 1:
        raise ValueError(f"p must lie in [0, 1); got p={p!r}")
    xp = array_namespace(x)
    if not training or p == 0:
        return x
    keep = 1.0 - float(p)
    shape = tuple(x.shape)
    if callable(getattr(rng, "bernoulli", None)):
        mask = rng.bernoulli(keep, shape)
        try:
            array_namespace(x, mask)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"dropout: the generator {rng!r} draws on another backend or device than x "
                f"({type(x).__module__}.{type(x).__name__}); bind it to x's backend and device, "
                "e.g. portable_ml.get_backend(name, device).rng(seed)"
            ) from exc
    elif _is_jax_key(rng):
        import jax

        if not isinstance(x, jax.Array):
            raise TypeError(
                f"dropout with a JAX key needs a JAX array x; got {type(x).__module__}.{type(x).__name__}. "
                "Use a portable_ml.random.Generator for other backends"
            )
        mask = jax.random.bernoulli(rng, keep, shape)
    else:
        raise TypeError(
            "rng must be a portable_ml.random.Generator or a JAX PRNG key; "
            f"got {type(rng).__module__}.{type(rng).__name__}"
        )
    x = as_float(x, xp, float_dtype(xp, x))
    return xp.where(mask, x / keep, xp.zeros_like(x))


# ------------------------------------------------------------ normalisation
class BatchNormCache(NamedTuple):
    r"""What :func:`batch_norm` computed in training mode (without running statistics).

    The first three fields keep their positions (``cache[0]`` is ``xhat``,
    ``cache[2]`` is ``inv_std``); the batch statistics come after them.
    Every field is an array (so the cache is a pytree that ``jax.jit``,
    ``jax.vmap`` and ``torch.func.vmap`` can return).

    Fields: ``xhat`` (the shape of ``x``), the normalised input :math:`\hat x`;
    ``gamma`` (``x.shape[1:]``), the scale the backward pass needs;
    ``inv_std`` (``(1, *x.shape[1:])``), :math:`1/\sqrt{\sigma^2_B + \epsilon}`;
    ``mean`` and ``var`` (``x.shape[1:]``), the batch mean :math:`\mu_B` and
    the biased batch variance :math:`\sigma^2_B` (the sheet's :math:`\mu`,
    :math:`\sigma^2`).
    """

    xhat: Any
    gamma: Any
    inv_std: Any
    mean: Any
    var: Any


class BatchNormRunningCache(NamedTuple):
    r"""What :func:`batch_norm` computed in training mode with running statistics.

    The fields of :class:`BatchNormCache`, then ``running_mean`` and
    ``running_var``: the *updated* running statistics (arrays of shape
    ``x.shape[1:]``), to pass to the next call.
    """

    xhat: Any
    gamma: Any
    inv_std: Any
    mean: Any
    var: Any
    running_mean: Any
    running_var: Any


class BatchNormInferenceCache(NamedTuple):
    r"""What :func:`batch_norm` computed in inference mode (``training=False``).

    The fields of :class:`BatchNormRunningCache`; ``mean`` and ``var`` are
    the running statistics the input was normalised with, and
    ``running_mean`` / ``running_var`` are those statistics unchanged (so
    that code reading the running statistics from the cache works in both
    modes).  Its type tells :func:`batch_norm_backward` that the statistics
    were constants: the backward pass is then the affine one.
    """

    xhat: Any
    gamma: Any
    inv_std: Any
    mean: Any
    var: Any
    running_mean: Any
    running_var: Any


class LayerNormCache(NamedTuple):
    """What :func:`layer_norm_backward` needs: normalised input, scale, inverse std."""

    xhat: Any
    gamma: Any
    inv_std: Any


def _norm_inputs(x, gamma, beta, eps, feature_shape_of, extra=()):
    check_positive(eps, "eps")
    given = [a for a, _ in extra if a is not None]
    xp = array_namespace(x, gamma, beta, *given)
    dtype = float_dtype(xp, x, gamma, beta, *given)
    x, gamma, beta = (as_float(a, xp, dtype) for a in (x, gamma, beta))
    if x.ndim == 0:
        raise ValueError(f"x must be at least 1-D; got a 0-d array of shape {tuple(x.shape)}")
    check_nonempty(x, "x")
    want = feature_shape_of(x)
    stats = tuple(None if a is None else as_float(a, xp, dtype, name) for a, name in extra)
    for a, name in ((gamma, "gamma"), (beta, "beta"), *zip(stats, (name for _, name in extra))):
        if a is not None and tuple(a.shape) != want:
            raise ValueError(
                f"{name} must have shape {want} (the feature shape of x, x.shape={tuple(x.shape)}); "
                f"got {name}.shape={tuple(a.shape)}"
            )
    return (xp, x, gamma, beta, *stats)


def _moments(x, axis, *, xp):
    r"""(mean, biased variance, x - mean) along ``axis`` (keepdims), by the corrected two-pass algorithm.

    With a first mean :math:`m`, the shifted data :math:`x - m` and its mean
    :math:`d` (zero in exact arithmetic, the rounding error of :math:`m`
    otherwise), :math:`\mu = m + d` and :math:`\sigma^2 = \overline{(x - m - d)^2}`
    (Chan, Golub & LeVeque 1983).  Where the data sit on a large offset
    (1e8 + noise in float32) ``x - m`` is exact and the variance keeps its
    accuracy, where the one-pass :math:`\overline{x^2} - \mu^2` loses every
    digit and the plain two-pass one adds :math:`d^2`.
    """
    m = xp.mean(x, axis=axis, keepdims=True)
    xs = x - m
    d = xp.mean(xs, axis=axis, keepdims=True)
    xc = xs - d
    return m + d, xp.mean(xc * xc, axis=axis, keepdims=True), xc


def _normalise(x, axis, eps, *, xp):
    """(xhat, inv_std) with the biased variance along ``axis`` (corrected two-pass, keepdims)."""
    _, var, xc = _moments(x, axis, xp=xp)
    inv_std = 1.0 / xp.sqrt(var + eps)
    return xc * inv_std, inv_std


def batch_norm(x, gamma, beta, *, eps=1e-5, running_mean=None, running_var=None, momentum=0.1, training=True):
    r"""Batch normalisation over the batch axis 0, with optional running statistics and an inference mode.

    Parameters
    ----------
    x : array of shape (n_samples, n_features) or (n_samples, ...)
    gamma, beta : arrays of shape ``x.shape[1:]``
        Scale and shift (for 2-D ``x``: shape ``(n_features,)``).
    eps : float
        Positive constant added to the variance; makes zero-variance
        features finite (they map to ``beta``).
    running_mean, running_var : arrays of shape ``x.shape[1:]``, optional
        Running statistics (both or neither).  In training mode they are
        updated (the new ones are returned in the cache, the inputs are
        not modified); in inference mode they normalise ``x`` and are
        required.
    momentum : float in [0, 1], default 0.1
        Weight of the current batch in the running averages (PyTorch's
        convention: ``new = (1 - momentum) * old + momentum * batch``;
        Keras's ``momentum=0.99`` is PyTorch's ``0.01``).
    training : bool, default True
        ``True``: normalise with the batch statistics; ``False``: with the
        running statistics (inference).

    Returns
    -------
    y : array of the shape of ``x``
    cache : BatchNormCache, BatchNormRunningCache or BatchNormInferenceCache
        NamedTuple of arrays for :func:`batch_norm_backward` (a pytree: fine
        to return from ``jax.jit``): ``(xhat, gamma, inv_std, mean, var)``,
        the normalised input, the scale, :math:`1/\sqrt{\sigma^2+\epsilon}`
        and the mean and variance ``x`` was normalised with (the batch's in
        training mode); with running statistics (:class:`BatchNormRunningCache`
        in training, :class:`BatchNormInferenceCache` in inference) also
        ``running_mean, running_var``: the updated ones in training, the
        given ones in inference.  Read them as ``cache.running_mean``,
        ``cache.running_var``.

    Notes
    -----
    Training mode: statistics over the batch, with the *biased* variance
    (as the formula sheets and ``torch.nn.functional.batch_norm(training=True)``
    normalise):

    .. math::
        \mu_B = \frac1N \sum_n x_n, \quad
        \sigma^2_B = \frac1N \sum_n (x_n - \mu_B)^2, \quad
        \hat x_n = \frac{x_n - \mu_B}{\sqrt{\sigma^2_B + \epsilon}}, \quad
        y_n = \gamma \hat x_n + \beta

    computed by the corrected two-pass algorithm (accurate for data on a
    large offset).  The running statistics are updated as PyTorch does, the
    variance with Bessel's correction (the *unbiased* batch variance):

    .. math::
        \hat\mu \leftarrow (1 - m)\,\hat\mu + m\,\mu_B, \qquad
        \hat\sigma^2 \leftarrow (1 - m)\,\hat\sigma^2 + m\,\frac{N}{N - 1}\,\sigma^2_B

    Inference mode: :math:`y_n = \gamma\,(x_n - \hat\mu)/\sqrt{\hat\sigma^2 + \epsilon} + \beta`,
    an affine map of ``x``.

    Only axis 0 is reduced: for feature maps ``(N, C, H, W)`` normalised per
    channel, move ``C`` last and flatten the other axes into the batch first.
    PyTorch's ``momentum=None`` (a cumulative average) is not offered: it
    needs a batch counter, which is the caller's state.

    Raises
    ------
    ValueError
        If ``x`` is 0-d or empty, ``gamma``/``beta``/the running statistics
        do not have shape ``x.shape[1:]``, ``eps`` is not positive,
        ``momentum`` is outside [0, 1], only one running statistic is given,
        ``training=False`` comes without running statistics, or the running
        statistics are updated from a single sample (its unbiased variance
        is undefined; PyTorch refuses it too).
    TypeError
        If ``training`` is not a bool.

    Examples
    --------
    >>> import numpy as np
    >>> import portable_ml as pml
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> y, cache = pml.regularization.batch_norm(x, np.ones(2), np.zeros(2),
    ...                                          running_mean=np.zeros(2), running_var=np.ones(2))
    >>> cache.mean, cache.var
    (array([2., 4.]), array([1., 4.]))
    >>> cache.running_mean, cache.running_var
    (array([0.2, 0.4]), array([1.1, 1.7]))
    """
    training = check_bool(training, "training")
    momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
    if (running_mean is None) != (running_var is None):
        given, missing = ("running_mean", "running_var") if running_var is None else ("running_var", "running_mean")
        raise ValueError(f"batch_norm: {given} was given without {missing}; pass both running statistics or neither")
    xp, x, gamma, beta, rm, rv = _norm_inputs(
        x, gamma, beta, eps, lambda a: tuple(a.shape[1:]),
        extra=((running_mean, "running_mean"), (running_var, "running_var")),
    )
    if not training:
        if rm is None:
            raise ValueError(
                "batch_norm(training=False) normalises with the running statistics: pass running_mean and "
                "running_var (or training=True to use the batch statistics)"
            )
        inv_std = 1.0 / xp.sqrt(rv + eps)[None, ...]
        xhat = (x - rm[None, ...]) * inv_std
        return gamma * xhat + beta, BatchNormInferenceCache(xhat, gamma, inv_std, rm, rv, rm, rv)
    n = x.shape[0]
    if rm is not None and n < 2:
        raise ValueError(
            f"batch_norm: updating the running statistics needs at least 2 samples (the unbiased batch "
            f"variance divides by n - 1); got x.shape={tuple(x.shape)}"
        )
    mean, var, xc = _moments(x, 0, xp=xp)
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = xc * inv_std
    mean, var = mean[0, ...], var[0, ...]
    y = gamma * xhat + beta
    if rm is None:
        return y, BatchNormCache(xhat, gamma, inv_std, mean, var)
    rm = (1.0 - momentum) * rm + momentum * mean
    rv = (1.0 - momentum) * rv + (momentum * n / (n - 1)) * var
    return y, BatchNormRunningCache(xhat, gamma, inv_std, mean, var, rm, rv)


def batch_norm_backward(dy, cache):
    r"""Analytic backward pass of :func:`batch_norm`: ``(dx, dgamma, dbeta)``.

    Parameters
    ----------
    dy : array of the shape of ``x``
        Cotangent :math:`\partial L / \partial y`.
    cache : BatchNormCache, BatchNormRunningCache or BatchNormInferenceCache
        The second output of :func:`batch_norm`; its type says which mode
        ran.

    Returns
    -------
    dx : array of the shape of ``x``
    dgamma, dbeta : arrays of the shape of ``gamma``

    Notes
    -----
    Training mode, with :math:`s = 1/\sqrt{\sigma^2_B+\epsilon}` and sums
    over the batch:

    .. math::
        \frac{\partial L}{\partial \beta} = \sum_n dy_n, \quad
        \frac{\partial L}{\partial \gamma} = \sum_n dy_n\, \hat x_n, \quad
        \frac{\partial L}{\partial x_n} = \frac{\gamma s}{N}
            \Big(N\, dy_n - \sum_m dy_m - \hat x_n \sum_m dy_m \hat x_m\Big)

    (the compact form: the mean and variance paths folded in, reusing
    ``dbeta`` and ``dgamma``).  Inference mode (the running statistics are
    constants, :math:`s = 1/\sqrt{\hat\sigma^2+\epsilon}`): the same
    :math:`\partial L/\partial\beta`, :math:`\partial L/\partial\gamma` and
    :math:`\partial L/\partial x_n = \gamma\, s\, dy_n`.  The running
    statistics get no gradient (they are buffers, as in PyTorch).
    """
    if not isinstance(cache, (BatchNormCache, BatchNormRunningCache, BatchNormInferenceCache)):
        raise TypeError(
            "cache must be the BatchNormCache, BatchNormRunningCache or BatchNormInferenceCache returned by "
            "batch_norm; "
            f"got {type(cache).__module__}.{type(cache).__name__}"
        )
    xhat, gamma, inv_std = cache.xhat, cache.gamma, cache.inv_std
    xp = array_namespace(dy, xhat, gamma, inv_std)
    dy = as_float(dy, xp, xhat.dtype)
    check_same_shape(dy, xhat, "dy", "x")
    dbeta = xp.sum(dy, axis=0)
    dgamma = xp.sum(dy * xhat, axis=0)
    if isinstance(cache, BatchNormInferenceCache):
        return (gamma * inv_std) * dy, dgamma, dbeta
    n = xhat.shape[0]
    dx = (gamma * inv_std / n) * (n * dy - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def layer_norm(x, gamma, beta, *, eps=1e-5):
    r"""Layer normalisation: normalise each sample over its last axis.

    Parameters
    ----------
    x : array of shape (..., d)
    gamma, beta : arrays of shape (d,)
    eps : float
        Positive constant added to the variance (constant rows map to ``beta``).

    Returns
    -------
    y : array of the shape of ``x``
    cache : LayerNormCache
        NamedTuple ``(xhat, gamma, inv_std)`` for :func:`layer_norm_backward`.

    Notes
    -----
    Over the last axis, biased variance (as ``torch.nn.functional.layer_norm``):

    .. math::
        \mu = \frac1d \sum_j x_j, \quad
        \sigma^2 = \frac1d \sum_j (x_j - \mu)^2, \quad
        \hat x_j = \frac{x_j - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad
        y_j = \gamma_j \hat x_j + \beta_j

    Raises
    ------
    ValueError
        If ``x`` is 0-d or empty, ``gamma``/``beta`` do not have shape
        ``(x.shape[-1],)``, or ``eps`` is not positive.
    """
    xp, x, gamma, beta = _norm_inputs(x, gamma, beta, eps, lambda a: tuple(a.shape[-1:]))
    xhat, inv_std = _normalise(x, -1, eps, xp=xp)
    return gamma * xhat + beta, LayerNormCache(xhat, gamma, inv_std)


def layer_norm_backward(dy, cache):
    r"""Analytic backward pass of :func:`layer_norm`: ``(dx, dgamma, dbeta)``.

    Parameters
    ----------
    dy : array of the shape of ``x``
    cache : LayerNormCache

    Returns
    -------
    dx : array of the shape of ``x``
    dgamma, dbeta : arrays of shape (d,)
        Summed over every leading axis of ``x``.

    Notes
    -----
    With :math:`g_j = \gamma_j\, dy_j` and sums over the last axis (length
    :math:`d`), per sample:

    .. math::
        \frac{\partial L}{\partial x_j} = \frac{s}{d}
            \Big(d\, g_j - \sum_k g_k - \hat x_j \sum_k g_k \hat x_k\Big), \quad
        \frac{\partial L}{\partial \gamma_j} = \sum_{\text{samples}} dy_j \hat x_j, \quad
        \frac{\partial L}{\partial \beta_j} = \sum_{\text{samples}} dy_j
    """
    xp = array_namespace(dy, *cache)
    xhat, gamma, inv_std = cache
    dy = as_float(dy, xp, xhat.dtype)
    check_same_shape(dy, xhat, "dy", "x")
    d = xhat.shape[-1]
    g = dy * gamma
    dx = (inv_std / d) * (
        d * g - xp.sum(g, axis=-1, keepdims=True) - xhat * xp.sum(g * xhat, axis=-1, keepdims=True)
    )
    dgamma = xp.sum(xp.reshape(dy * xhat, (-1, d)), axis=0)
    dbeta = xp.sum(xp.reshape(dy, (-1, d)), axis=0)
    return dx, dgamma, dbeta


# ----------------------------------------------------------- early stopping
class EarlyStopping:
    r"""Stop training when a monitored value (lower is better) stops improving.

    Parameters
    ----------
    patience : int
        Number of updates in a row without improvement after which
        :meth:`update` returns True; at least 1.
    min_delta : float
        Non-negative margin: a value improves only when it is below
        ``best - min_delta``.

    Attributes
    ----------
    best : float
        The value at the last improvement (``inf`` before the first
        update); with ``min_delta=0`` the lowest value seen.
    wait : int
        Updates in a row without improvement.
    stopped : bool
        Whether the last :meth:`update` said to stop.

    Notes
    -----
    A host-side object: :meth:`update` reads its value with ``float()``, so
    a 0-d device array is synchronised to the host there (by design; call
    it once per epoch, not inside a jitted step).  NaN never improves.

    Examples
    --------
    >>> es = EarlyStopping(2, min_delta=0.1)
    >>> [es.update(v) for v in (1.0, 0.95, 0.5, 0.45, 0.44)]
    [False, False, False, False, True]
    >>> es.best
    0.5
    """

    def __init__(self, patience, *, min_delta=0.0):
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1; got patience={patience!r}")
        if not isinstance(min_delta, numbers.Real):
            raise TypeError(f"min_delta must be a real number; got {type(min_delta).__name__}")
        check_positive(min_delta, "min_delta", strict=False)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best = float("inf")
        self.wait = 0
        self.stopped = False

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
                f"best={self.best}, wait={self.wait})")

    def update(self, value):
        """Record ``value``; return True when training should stop."""
        value = float(value)
        if value < self.best - self.min_delta:
            self.best = value
            self.wait = 0
        else:
            self.wait += 1
        self.stopped = self.wait >= self.patience
        return self.stopped
