r"""Activation functions and their derivatives.

Every elementwise activation ``f(x)`` has ``f_grad(x)`` = :math:`f'(x)`,
elementwise; ``softmax`` and ``log_softmax`` act on a whole axis and have
vector-Jacobian products ``*_vjp(x, cotangent)``. All derivatives are
analytic and agree with ``jax.grad`` of the forward function (at kinks the
one-sided value noted in each docstring).

Each function finds the array namespace of its input and returns an array of
the same backend, device and floating dtype (integer or boolean input is
promoted to the backend's default float). All are numerically stable for
:math:`|x|` up to :math:`10^4` (and most for any finite input) in float32 and
float64: no overflow warnings, no NaN. Reference behaviour: ``jax.nn`` and
``scipy.special``.
"""

from __future__ import annotations

import math

from ._gradlink import differentiable
from . import _numerics as _n
from ._validate import check_array, check_axis, check_bool, check_real
from ._xp import array_namespace, as_float, clip, float_dtype, native, value_check

__all__ = [
    "sigmoid", "sigmoid_grad",
    "tanh", "tanh_grad",
    "relu", "relu_grad",
    "relu6", "relu6_grad",
    "leaky_relu", "leaky_relu_grad",
    "elu", "elu_grad",
    "selu", "selu_grad",
    "gelu", "gelu_grad",
    "swish", "swish_grad", "silu", "silu_grad",
    "mish", "mish_grad",
    "softplus", "softplus_grad",
    "softsign", "softsign_grad",
    "celu", "celu_grad",
    "squareplus", "squareplus_grad",
    "hard_sigmoid", "hard_sigmoid_grad",
    "hard_tanh", "hard_tanh_grad",
    "hard_swish", "hard_swish_grad", "hard_silu", "hard_silu_grad",
    "log_sigmoid", "log_sigmoid_grad",
    "logit", "logit_grad",
    "log1mexp", "log1mexp_grad",
    "glu", "glu_vjp",
    "logsumexp", "logsumexp_grad",
    "softmax", "softmax_vjp",
    "log_softmax", "log_softmax_vjp",
]

#: SELU constants (Klambauer et al., 2017), as in ``jax.nn.selu`` / ``torch.nn.SELU``.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = 0.044715
# |x| beyond which the GELU gates are exactly 0 or 1 in float64; the gate
# arguments are clamped here so that x**3 and x**2 never overflow.
_GELU_SATURATION = 50.0


def _prepare(x):
    xp = array_namespace(x)  # cached per array type
    dtype = float_dtype(xp, x)
    return xp, (x if getattr(x, "dtype", None) == dtype else as_float(x, xp, dtype, name="x"))


def _sigmoid(x, *, xp):
    r""":math:`\sigma(x)`: the backend's native kernel where it has one (:mod:`portable_ml._kernels`), else
    the stable array-API formula :func:`portable_ml._numerics.sigmoid`; both accurate to a few ulp."""
    return native("sigmoid", _n.sigmoid, x, xp=xp)


def _softplus(x, *, xp):
    r""":math:`\zeta(x) = \log(1 + e^x)`: native kernel or :func:`portable_ml._numerics.softplus`."""
    return native("softplus", _n.softplus, x, xp=xp)


def _sigmoid_prime(x, *, xp):
    """sigma(x) sigma(-x) = e / (1 + e)^2 with e = exp(-|x|): no cancellation, no overflow."""
    e = xp.exp(-xp.abs(x))
    d = 1.0 + e
    return e / (d * d)


def _sech2(x, *, xp):
    """1 - tanh(x)^2 = 4e / (1 + e)^2 with e = exp(-2|x|): accurate in the tails too."""
    e = xp.exp(xp.abs(x) * -2.0)
    d = 1.0 + e
    return (4.0 * e) / (d * d)


# ------------------------------------------------------------------ sigmoid
@differentiable("sigmoid_grad")
def sigmoid(x):
    r"""Logistic sigmoid.

    Parameters
    ----------
    x : array of any shape

    Returns
    -------
    array of the shape and floating dtype of ``x``

    Notes
    -----
    .. math:: \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)\,\sigma(-x)

    Evaluated through :math:`e^{-|x|}`, so ``exp`` never overflows and small
    values keep full relative precision (as ``scipy.special.expit``).

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid(np.asarray([0.0, 1e4, -1e4]))
    array([0.5, 1. , 0. ])
    """
    xp, x = _prepare(x)
    return _sigmoid(x, xp=xp)


def sigmoid_grad(x):
    r""":math:`\sigma'(x) = \sigma(x)\,\sigma(-x) = e^{-|x|} / (1 + e^{-|x|})^2`, elementwise.

    Exact in both tails (never the cancelling ``s * (1 - s)``).
    """
    xp, x = _prepare(x)
    return native("sigmoid_grad", _sigmoid_prime, x, xp=xp)


# ------------------------------------------------------------------ tanh
@differentiable("tanh_grad")
def tanh(x):
    r"""Hyperbolic tangent.

    Notes
    -----
    .. math:: \tanh x = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}, \qquad \tanh'(x) = 1 - \tanh^2 x

    Returns an array of the shape and floating dtype of ``x``.
    """
    xp, x = _prepare(x)
    return xp.tanh(x)


def tanh_grad(x):
    r""":math:`\tanh'(x) = 1 - \tanh^2 x = \operatorname{sech}^2 x`, elementwise.

    Evaluated as :math:`4e/(1+e)^2` with :math:`e = e^{-2|x|}`, so it keeps
    full relative precision where :math:`\tanh x` rounds to :math:`\pm 1`.
    """
    xp, x = _prepare(x)
    return native("tanh_grad", _sech2, x, xp=xp)


# ------------------------------------------------------------------ relu family
def _relu_options(max_value, threshold):
    """``(max_value, threshold)`` checked: ``max_value`` None or a real above ``threshold``."""
    threshold = check_real(threshold, "threshold")
    if max_value is not None:
        max_value = check_real(max_value, "max_value", low=threshold, low_open=True)
    return max_value, threshold


@differentiable("relu_grad")
def relu(x, *, max_value=None, threshold=0.0):
    r"""Rectified linear unit, optionally capped and thresholded (Keras's ``relu``).

    Parameters
    ----------
    x : array of any shape
    max_value : float, optional
        Cap :math:`c`: outputs never exceed it (``max_value=6`` is :func:`relu6`).
    threshold : float, default 0.0
        :math:`t`: inputs below it give 0 (inputs at or above pass unchanged,
        as in Keras; not shifted by :math:`t`).

    Notes
    -----
    .. math:: \operatorname{relu}(x) = \begin{cases} 0 & x < t \\ x & t \le x < c \\ c & x \ge c
              \end{cases}, \qquad
              \operatorname{relu}'(x) = \begin{cases} 1 & t < x < c \\ 0 & \text{otherwise} \end{cases}

    With the defaults, :math:`\max(x, 0)`; the derivative at the kinks is
    taken as 0, as ``jax.nn.relu`` and ``jax.nn.relu6`` do. NaN propagates.
    """
    xp, x = _prepare(x)
    if max_value is None and threshold == 0.0 and not isinstance(threshold, bool):
        return clip(x, 0.0, None, xp=xp)  # the common case, without the option checks
    max_value, threshold = _relu_options(max_value, threshold)
    if threshold == 0.0:
        return clip(x, 0.0, max_value, xp=xp)
    kept = x if max_value is None else clip(x, None, max_value, xp=xp)
    return xp.where(x < threshold, xp.zeros_like(x), kept)  # NaN is not below anything: it propagates


def relu_grad(x, *, max_value=None, threshold=0.0):
    r""":math:`\operatorname{relu}'(x)` of :func:`relu`: 1 where :math:`t < x < c`, else 0 (also at the kinks)."""
    xp, x = _prepare(x)
    max_value, threshold = _relu_options(max_value, threshold)
    inside = x > threshold
    if max_value is not None:
        inside = xp.logical_and(inside, x < max_value)
    return xp.astype(inside, x.dtype)


@differentiable("relu6_grad")
def relu6(x):
    r""":math:`\min(\max(x, 0), 6)` (``jax.nn.relu6``, ``torch.nn.functional.relu6``).

    Notes
    -----
    .. math:: f(x) = \min(\max(x, 0), 6), \qquad f'(x) = \begin{cases} 1 & 0 < x < 6 \\ 0 & \text{otherwise}
              \end{cases}

    The derivative at 0 and 6 is 0, as ``jax.nn.relu6`` takes it.
    """
    xp, x = _prepare(x)
    return clip(x, 0.0, 6.0, xp=xp)


def relu6_grad(x):
    r""":math:`f'(x)` of :func:`relu6`: 1 on :math:`(0, 6)`, else 0."""
    xp, x = _prepare(x)
    return xp.astype(xp.logical_and(x > 0, x < 6.0), x.dtype)


@differentiable("leaky_relu_grad")
def leaky_relu(x, *, alpha=0.01):
    r"""Leaky ReLU.

    Parameters
    ----------
    x : array of any shape
    alpha : float, default 0.01
        Slope for negative inputs (``negative_slope`` of ``jax.nn.leaky_relu``).

    Notes
    -----
    .. math:: f(x) = \begin{cases} x & x \ge 0 \\ \alpha x & x < 0 \end{cases}, \qquad
              f'(x) = \begin{cases} 1 & x \ge 0 \\ \alpha & x < 0 \end{cases}
    """
    xp, x = _prepare(x)
    check_real(alpha, "alpha", arrays=True)
    return xp.where(x >= 0, x, alpha * x)


def leaky_relu_grad(x, *, alpha=0.01):
    r""":math:`f'(x)` of :func:`leaky_relu`: 1 for :math:`x \ge 0`, :math:`\alpha` otherwise."""
    xp, x = _prepare(x)
    check_real(alpha, "alpha")
    return xp.where(x >= 0, xp.ones_like(x), xp.full_like(x, alpha))


def _elu(x, alpha, *, xp):
    # expm1 of min(x, 0): the unused branch never overflows for large x
    return xp.where(x > 0, x, alpha * xp.expm1(clip(x, None, 0.0, xp=xp)))


def _elu_grad(x, alpha, *, xp):
    return xp.where(x > 0, xp.ones_like(x), alpha * xp.exp(clip(x, None, 0.0, xp=xp)))


@differentiable("elu_grad")
def elu(x, *, alpha=1.0):
    r"""Exponential linear unit.

    Parameters
    ----------
    x : array of any shape
    alpha : float, default 1.0

    Notes
    -----
    .. math:: f(x) = \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}, \qquad
              f'(x) = \begin{cases} 1 & x > 0 \\ \alpha e^{x} & x \le 0 \end{cases}

    :math:`e^x - 1` is ``expm1``, exact for small :math:`|x|`.
    """
    xp, x = _prepare(x)
    check_real(alpha, "alpha", arrays=True)
    return _elu(x, alpha, xp=xp)


def elu_grad(x, *, alpha=1.0):
    r""":math:`f'(x)` of :func:`elu`: 1 for :math:`x > 0`, :math:`\alpha e^{x}` otherwise."""
    xp, x = _prepare(x)
    check_real(alpha, "alpha", arrays=True)
    return _elu_grad(x, alpha, xp=xp)


@differentiable("selu_grad")
def selu(x):
    r"""Scaled exponential linear unit (self-normalising).

    Notes
    -----
    .. math:: f(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}, \qquad
              f'(x) = \lambda \begin{cases} 1 & x > 0 \\ \alpha e^{x} & x \le 0 \end{cases}

    with :math:`\alpha \approx 1.6732632` and :math:`\lambda \approx 1.0507010`
    (:data:`SELU_ALPHA`, :data:`SELU_SCALE`), as in ``jax.nn.selu``.
    """
    xp, x = _prepare(x)
    return SELU_SCALE * _elu(x, SELU_ALPHA, xp=xp)


def selu_grad(x):
    r""":math:`f'(x)` of :func:`selu`: :math:`\lambda` for :math:`x > 0`, :math:`\lambda\alpha e^{x}` otherwise."""
    xp, x = _prepare(x)
    return SELU_SCALE * _elu_grad(x, SELU_ALPHA, xp=xp)


# ------------------------------------------------------------------ gelu
def _gelu_tanh_arg(x, *, xp):
    """2u with u = sqrt(2/pi) (x + 0.044715 x^3), from a clamped x (saturated beyond)."""
    xc = clip(x, -_GELU_SATURATION, _GELU_SATURATION, xp=xp)
    return 2.0 * _SQRT_2_OVER_PI * xc * (1.0 + _GELU_C * xc * xc), xc


def _normal_cdf(x, *, xp):
    """Phi(x) = erfc(-x / sqrt 2) / 2, with full relative precision in the left tail."""
    return 0.5 * _n.erfc(-_INV_SQRT_2 * x, xp=xp)


def _normal_pdf(x, *, xp):
    xc = clip(x, -_GELU_SATURATION, _GELU_SATURATION, xp=xp)  # exp(-1250) is already 0
    return _INV_SQRT_2PI * xp.exp(-0.5 * xc * xc)


@differentiable("gelu_grad")
def gelu(x, *, approximate=True):
    r"""Gaussian error linear unit.

    Parameters
    ----------
    x : array of any shape
    approximate : bool, default True
        ``True``: the tanh form (``jax.nn.gelu``'s default, GPT-2/BERT);
        ``False``: the exact form :math:`x\,\Phi(x)` through erf.

    Notes
    -----
    Exact form, with :math:`\Phi` the standard normal CDF and :math:`\varphi` its density:

    .. math:: f(x) = x\,\Phi(x) = \tfrac{x}{2}\bigl(1 + \operatorname{erf}(x/\sqrt2)\bigr), \qquad
              f'(x) = \Phi(x) + x\,\varphi(x)

    Tanh form, with :math:`u = \sqrt{2/\pi}\,(x + 0.044715\,x^3)`:

    .. math:: f(x) = \tfrac{x}{2}\bigl(1 + \tanh u\bigr) = x\,\sigma(2u), \qquad
              f'(x) = \sigma(2u) + 2x\,\sigma(2u)\,\sigma(-2u)\,\sqrt{2/\pi}\,(1 + 3\cdot 0.044715\,x^2)

    Both are evaluated in forms without cancellation for negative :math:`x`
    (:math:`x\,\sigma(2u)` rather than :math:`1 + \tanh u`;
    :math:`\Phi(x) = \tfrac12\operatorname{erfc}(-x/\sqrt2)` rather than
    :math:`1 + \operatorname{erf}`), so they keep relative precision where the
    output is tiny. erf/erfc come from a portable rational approximation
    (:func:`portable_ml._numerics.erfc`), accurate to a few ulp.

    Examples
    --------
    >>> import numpy as np
    >>> gelu(np.asarray([-1.0, 0.0, 1.0]))
    array([-0.15880801,  0.        ,  0.84119199])
    >>> gelu(np.asarray([-1.0, 0.0, 1.0]), approximate=False)
    array([-0.15865525,  0.        ,  0.84134475])
    """
    approximate = check_bool(approximate, "approximate")
    xp, x = _prepare(x)
    if approximate:
        t, _ = _gelu_tanh_arg(x, xp=xp)
        return x * _n.sigmoid(t, xp=xp)
    return x * _normal_cdf(x, xp=xp)


def gelu_grad(x, *, approximate=True):
    r""":math:`f'(x)` of :func:`gelu` (same ``approximate`` switch); formulas in :func:`gelu`."""
    approximate = check_bool(approximate, "approximate")
    xp, x = _prepare(x)
    if approximate:
        t, xc = _gelu_tanh_arg(x, xp=xp)
        dt = 2.0 * _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * xc * xc)
        # xc, not x: beyond the saturation the second term is exactly 0, also at x = ±inf
        return _n.sigmoid(t, xp=xp) + xc * _sigmoid_prime(t, xp=xp) * dt
    xc = clip(x, -_GELU_SATURATION, _GELU_SATURATION, xp=xp)
    return _normal_cdf(x, xp=xp) + xc * _normal_pdf(xc, xp=xp)


# ------------------------------------------------------------------ swish, mish, softplus
@differentiable("swish_grad")
def swish(x):
    r"""Swish / SiLU, :math:`x\,\sigma(x)` (``silu`` is the same function).

    Notes
    -----
    .. math:: f(x) = x\,\sigma(x), \qquad f'(x) = \sigma(x)\bigl(1 + x\,\sigma(-x)\bigr)
    """
    xp, x = _prepare(x)
    return native("swish", _swish, x, xp=xp)


def _swish(x, *, xp):
    return x * _n.sigmoid(x, xp=xp)


def swish_grad(x):
    r""":math:`f'(x) = \sigma(x) + x\,\sigma(x)\,\sigma(-x)` of :func:`swish`."""
    xp, x = _prepare(x)
    return native("swish_grad", _swish_grad, x, xp=xp)


def _swish_grad(x, *, xp):
    # sigma + x sigma' = (numerator + x e / d) / d with e = exp(-|x|), d = 1 + e: one exp
    e = xp.exp(-xp.abs(x))
    d = 1.0 + e
    return (_n.logistic_numerator(x, e, xp=xp) + x * e / d) / d


silu = swish
silu_grad = swish_grad


@differentiable("mish_grad")
def mish(x):
    r"""Mish, :math:`x \tanh(\operatorname{softplus}(x))`.

    Notes
    -----
    .. math:: f(x) = x \tanh\bigl(\zeta(x)\bigr), \quad \zeta(x) = \log(1 + e^{x}), \qquad
              f'(x) = \tanh \zeta(x) + x\,\operatorname{sech}^2\!\zeta(x)\,\sigma(x)
    """
    xp, x = _prepare(x)
    return x * xp.tanh(_n.softplus(x, xp=xp))


def mish_grad(x):
    r""":math:`f'(x) = \tanh\zeta(x) + x\,\operatorname{sech}^2\zeta(x)\,\sigma(x)` of :func:`mish`."""
    xp, x = _prepare(x)
    sp = _n.softplus(x, xp=xp)
    return xp.tanh(sp) + x * _sech2(sp, xp=xp) * _n.sigmoid(x, xp=xp)


@differentiable("softplus_grad")
def softplus(x):
    r"""Softplus, a smooth ReLU.

    Notes
    -----
    .. math:: \zeta(x) = \log(1 + e^{x}), \qquad \zeta'(x) = \sigma(x)

    Evaluated as ``logaddexp(0, x)``: exact for large :math:`|x|`, no overflow.
    """
    xp, x = _prepare(x)
    return _softplus(x, xp=xp)


def softplus_grad(x):
    r""":math:`\zeta'(x) = \sigma(x)`, elementwise."""
    xp, x = _prepare(x)
    return _sigmoid(x, xp=xp)


@differentiable("softsign_grad")
def softsign(x):
    r"""Softsign, :math:`x / (1 + |x|)` (``jax.nn.soft_sign``, ``torch.nn.functional.softsign``).

    Notes
    -----
    .. math:: f(x) = \frac{x}{1 + |x|}, \qquad f'(x) = \frac{1}{(1 + |x|)^2}

    :math:`f(\pm\infty) = \pm 1`, the limit (``inf / inf`` would be NaN).

    Examples
    --------
    >>> import numpy as np
    >>> softsign(np.array([-3.0, 0.0, 1.0, np.inf]))
    array([-0.75,  0.  ,  0.5 ,  1.  ])
    """
    xp, x = _prepare(x)
    inf = xp.isinf(x)
    finite = xp.where(inf, xp.zeros_like(x), x)  # no inf / inf evaluated where the limit is taken
    # +-1 at +-inf: clip gives the sign there (xp.sign is not batchable under torch.func.vmap)
    return xp.where(inf, xp.clip(x, -1.0, 1.0), finite / (1.0 + xp.abs(finite)))


def softsign_grad(x):
    r""":math:`f'(x) = 1 / (1 + |x|)^2` of :func:`softsign`, elementwise (0 at :math:`\pm\infty`)."""
    xp, x = _prepare(x)
    r = 1.0 / (1.0 + xp.abs(x))  # 1/d squared, not 1/d^2: no overflow of d^2 for huge |x|
    return r * r


@differentiable("celu_grad")
def celu(x, *, alpha=1.0):
    r"""Continuously differentiable ELU (Barron, 2017; ``jax.nn.celu``, ``torch.nn.functional.celu``).

    Parameters
    ----------
    x : array of any shape
    alpha : float, default 1.0
        :math:`\alpha > 0`.

    Notes
    -----
    .. math:: f(x) = \max(x, 0) + \alpha\,\bigl(e^{\min(x, 0)/\alpha} - 1\bigr), \qquad
              f'(x) = \begin{cases} 1 & x > 0 \\ e^{x/\alpha} & x \le 0 \end{cases}

    (``expm1`` of :math:`\min(x, 0)/\alpha`: exact near 0, no overflow for large :math:`x`.)
    """
    xp, x = _prepare(x)
    alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
    return clip(x, 0.0, None, xp=xp) + alpha * xp.expm1(clip(x, None, 0.0, xp=xp) / alpha)


def celu_grad(x, *, alpha=1.0):
    r""":math:`f'(x)` of :func:`celu`: 1 for :math:`x > 0`, :math:`e^{x/\alpha}` otherwise."""
    xp, x = _prepare(x)
    alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
    return xp.where(x > 0, xp.ones_like(x), xp.exp(clip(x, None, 0.0, xp=xp) / alpha))


@differentiable("squareplus_grad")
def squareplus(x, *, b=4.0):
    r"""Squareplus (Barron, 2021; ``jax.nn.squareplus``, Keras 3), a softplus made of a square root.

    Parameters
    ----------
    x : array of any shape
    b : float, default 4.0
        Smoothness :math:`b \ge 0` (``b = 0`` is ReLU).

    Notes
    -----
    .. math:: f(x) = \frac{x + \sqrt{x^2 + b}}{2}, \qquad
              f'(x) = \frac12\Bigl(1 + \frac{x}{\sqrt{x^2 + b}}\Bigr)

    With :math:`r = \operatorname{hypot}(x, \sqrt b)` (no overflow of :math:`x^2`), negative :math:`x`
    take :math:`f = b / (2(r - x))`, the same value without the cancellation of :math:`x + r`
    (the direct form loses every digit near :math:`x = -10^4`); :math:`f(\infty) = \infty`, and
    :math:`f(-\infty)` is :math:`f` at the dtype's most negative finite value, a subnormal
    :math:`b/(4\,x_{\max})` (no ``inf - inf`` is evaluated).

    Examples
    --------
    >>> import numpy as np
    >>> squareplus(np.array([-1.5, 0.0, 1.5]))
    array([0.5, 1. , 2. ])
    """
    xp, x = _prepare(x)
    x, r, _, left = _squareplus_terms(x, check_real(b, "b", low=0.0), finite_above=False, xp=xp)
    return xp.where(x < 0, left, 0.5 * clip(x, 0.0, None, xp=xp) + 0.5 * r)


def _squareplus_terms(x, b, *, finite_above, xp):
    r"""``x`` clipped to the finite range (above too if ``finite_above``),
    :math:`r = \operatorname{hypot}(x, \sqrt b)`, ``r`` with 1 where it is 0 (only at :math:`x = 0`,
    :math:`b = 0`), and :math:`b / (2(r - x))` for :math:`x < 0` written as :math:`(b / 2r) / (1 + |x|/r)`
    (no cancellation, no overflow, no ``inf / inf``)."""
    big = float(xp.finfo(x.dtype).max)
    x = clip(x, -big, big if finite_above else None, xp=xp)
    r = xp.hypot(x, xp.full_like(x, math.sqrt(b)))
    safe = xp.where(r > 0, r, xp.ones_like(r))
    return x, r, safe, ((0.5 * b) / safe) / (1.0 - clip(x, None, 0.0, xp=xp) / safe)


def squareplus_grad(x, *, b=4.0):
    r""":math:`f'(x) = \tfrac12(1 + x/r)` of :func:`squareplus`, :math:`r = \sqrt{x^2 + b}`, elementwise.

    Negative :math:`x` take :math:`b / (2r(r - x))` (no cancellation); :math:`\tfrac12` at
    :math:`x = 0` for ``b = 0``; 0 and 1 at :math:`\mp\infty`.
    """
    xp, x = _prepare(x)
    x, _, r, left = _squareplus_terms(x, check_real(b, "b", low=0.0), finite_above=True, xp=xp)  # x/r = 1 at +inf
    return xp.where(x < 0, left / r, 0.5 + 0.5 * (x / r))


# ------------------------------------------------------------------ hard (piecewise-linear) family
@differentiable("hard_sigmoid_grad")
def hard_sigmoid(x):
    r"""Hard sigmoid, :math:`\operatorname{relu6}(x + 3) / 6` (``jax.nn.hard_sigmoid``, Keras 3,
    ``torch.nn.functional.hardsigmoid``).

    Notes
    -----
    .. math:: f(x) = \frac{\min(\max(x + 3, 0), 6)}{6}, \qquad
              f'(x) = \begin{cases} 1/6 & -3 < x < 3 \\ 0 & \text{otherwise} \end{cases}

    Keras 2 used :math:`\operatorname{clip}(0.2x + 0.5, 0, 1)` (see docs/migration.md).
    """
    xp, x = _prepare(x)
    return clip(x + 3.0, 0.0, 6.0, xp=xp) / 6.0


def hard_sigmoid_grad(x):
    r""":math:`f'(x)` of :func:`hard_sigmoid`: :math:`1/6` on :math:`(-3, 3)`, else 0 (as ``jax.grad``)."""
    xp, x = _prepare(x)
    return xp.astype(xp.logical_and(x > -3.0, x < 3.0), x.dtype) / 6.0


@differentiable("hard_tanh_grad")
def hard_tanh(x):
    r"""Hard tanh, :math:`\operatorname{clip}(x, -1, 1)` (``jax.nn.hard_tanh``, ``torch.nn.functional.hardtanh``).

    Notes
    -----
    .. math:: f(x) = \min(\max(x, -1), 1), \qquad
              f'(x) = \begin{cases} 1 & -1 \le x \le 1 \\ 0 & \text{otherwise} \end{cases}

    (1 at :math:`\pm 1`, as ``jax.grad`` of ``jax.nn.hard_tanh``.)
    """
    xp, x = _prepare(x)
    return clip(x, -1.0, 1.0, xp=xp)


def hard_tanh_grad(x):
    r""":math:`f'(x)` of :func:`hard_tanh`: 1 on :math:`[-1, 1]`, else 0."""
    xp, x = _prepare(x)
    return xp.astype(xp.logical_and(x >= -1.0, x <= 1.0), x.dtype)


@differentiable("hard_swish_grad")
def hard_swish(x):
    r"""Hard swish / hard SiLU, :math:`x\,\operatorname{relu6}(x + 3) / 6` (``jax.nn.hard_swish``,
    ``torch.nn.functional.hardswish``; ``hard_silu`` is the same function).

    Notes
    -----
    .. math:: f(x) = x\,h(x),\quad h(x) = \frac{\min(\max(x + 3, 0), 6)}{6}, \qquad
              f'(x) = h(x) + x\,h'(x) = \begin{cases} 0 & x \le -3 \\ (2x + 3)/6 & -3 < x < 3 \\ 1 & x \ge 3
              \end{cases}
    """
    xp, x = _prepare(x)
    return x * (clip(x + 3.0, 0.0, 6.0, xp=xp) / 6.0)


def hard_swish_grad(x):
    r""":math:`f'(x)` of :func:`hard_swish`: 0 for :math:`x \le -3`, :math:`(2x + 3)/6` between, 1 from 3 on."""
    xp, x = _prepare(x)
    inner = xp.astype(xp.logical_and(x > -3.0, x < 3.0), x.dtype)
    return inner * ((2.0 * x + 3.0) / 6.0) + xp.astype(x >= 3.0, x.dtype)


hard_silu = hard_swish
hard_silu_grad = hard_swish_grad


# ------------------------------------------------------------------ logarithmic forms
@differentiable("log_sigmoid_grad")
def log_sigmoid(x):
    r"""Log-sigmoid, :math:`\log\sigma(x) = -\operatorname{softplus}(-x)` (``jax.nn.log_sigmoid``,
    ``scipy.special.log_expit``).

    Notes
    -----
    .. math:: f(x) = \log\sigma(x) = \min(x, 0) - \log(1 + e^{-|x|}), \qquad f'(x) = \sigma(-x)

    Exact for large :math:`|x|` (:math:`f(x) = x` far left, :math:`-e^{-x}` far right), never
    ``log(sigmoid(x))``, which is :math:`-\infty` below about :math:`-745`.

    Examples
    --------
    >>> import numpy as np
    >>> log_sigmoid(np.asarray([-1e4, 0.0, 40.0]))
    array([-1.00000000e+04, -6.93147181e-01, -4.24835426e-18])
    """
    xp, x = _prepare(x)
    return native("log_sigmoid", _n.log_sigmoid, x, xp=xp)


def log_sigmoid_grad(x):
    r""":math:`f'(x) = \sigma(-x) = 1 - \sigma(x)` of :func:`log_sigmoid`, without cancellation."""
    xp, x = _prepare(x)
    return _sigmoid(-x, xp=xp)


def _check_unit_interval(p, name, *, xp):
    value_check(xp.all(xp.logical_and(p >= 0, p <= 1)),
                lambda: f"{name} must lie in [0, 1]; got values in [{float(xp.min(p))}, {float(xp.max(p))}]")


def _open_unit(p, *, xp):
    """The mask of ``0 < p < 1`` and ``p`` with every other entry replaced by 1/2 (a safe argument)."""
    inside = xp.logical_and(p > 0, p < 1)
    return inside, xp.where(inside, p, xp.full_like(p, 0.5))


def _at_bounds(value, inside, p, at0, at1, *, xp):
    """``value`` inside (0, 1), the limits ``at0``/``at1`` at 0 and 1, NaN elsewhere (NaN or out of range)."""
    edge = xp.where(p == 0, xp.full_like(p, at0), xp.where(p == 1, xp.full_like(p, at1), xp.full_like(p, math.nan)))
    return xp.where(inside, value, edge)


@differentiable("logit_grad")
def logit(p):
    r"""Logit, the inverse of :func:`sigmoid` (``scipy.special.logit``).

    Parameters
    ----------
    p : array of probabilities in [0, 1]

    Notes
    -----
    .. math:: f(p) = \log\frac{p}{1 - p} = \log p - \operatorname{log1p}(-p), \qquad
              f'(p) = \frac{1}{p(1 - p)}

    :math:`\pm\infty` at 1 and 0.  Values outside [0, 1] raise ``ValueError``
    on concrete input (inside a trace they give NaN, as SciPy's).
    """
    xp, p = _prepare(p)
    _check_unit_interval(p, "p", xp=xp)
    inside, q = _open_unit(p, xp=xp)
    return _at_bounds(xp.log(q) - xp.log1p(-q), inside, p, -math.inf, math.inf, xp=xp)


def logit_grad(p):
    r""":math:`f'(p) = 1/(p(1 - p))` of :func:`logit` (:math:`+\infty` at 0 and 1)."""
    xp, p = _prepare(p)
    _check_unit_interval(p, "p", xp=xp)
    inside, q = _open_unit(p, xp=xp)
    return _at_bounds(1.0 / (q * (1.0 - q)), inside, p, math.inf, math.inf, xp=xp)


_LOG2 = math.log(2.0)


def _log1mexp_domain(x, *, xp):
    """``x`` where positive, 1 at 0 (the limit is set apart), NaN below 0 and at NaN: no warnings."""
    return xp.where(x > 0, x, xp.where(x == 0, xp.ones_like(x), xp.full_like(x, math.nan)))


@differentiable("log1mexp_grad")
def log1mexp(x):
    r""":math:`\log(1 - e^{-x})` for :math:`x \ge 0` (``jax.nn.log1mexp``; Mächler, 2012).

    Notes
    -----
    .. math:: f(x) = \begin{cases} \log(-\operatorname{expm1}(-x)) & x < \log 2 \\
              \operatorname{log1p}(-e^{-x}) & x \ge \log 2 \end{cases}, \qquad
              f'(x) = \frac{1}{\operatorname{expm1}(x)}

    Each branch where it keeps full relative precision; :math:`f(0) = -\infty`.
    Negative ``x`` raises ``ValueError`` on concrete input (the logarithm of
    a negative number; inside a trace it gives NaN, as ``jax.nn.log1mexp``).
    """
    xp, x = _prepare(x)
    value_check(xp.all(xp.logical_not(x < 0)),
                lambda: f"x must be non-negative (log(1 - exp(-x)) is undefined below 0); got minimum {float(xp.min(x))}")
    safe = _log1mexp_domain(x, xp=xp)
    small = safe < _LOG2
    near = xp.where(small, safe, xp.ones_like(x))  # each branch evaluated only where it is used
    far = xp.where(small, xp.ones_like(x), safe)
    out = xp.where(small, xp.log(-xp.expm1(-near)), xp.log1p(-xp.exp(-far)))
    return xp.where(x == 0, xp.full_like(x, -math.inf), out)


def log1mexp_grad(x):
    r""":math:`f'(x) = 1/\operatorname{expm1}(x)` of :func:`log1mexp` (:math:`+\infty` at 0)."""
    xp, x = _prepare(x)
    value_check(xp.all(xp.logical_not(x < 0)),
                lambda: f"x must be non-negative (log(1 - exp(-x)) is undefined below 0); got minimum {float(xp.min(x))}")
    safe = _log1mexp_domain(x, xp=xp)
    # 1/expm1(x) = e^{-x} / (1 - e^{-x}): no overflow for large x, full precision near 0
    return xp.where(x == 0, xp.full_like(x, math.inf), xp.exp(-safe) / -xp.expm1(-safe))


# ------------------------------------------------------------------ gated linear unit
def _single_axis(x, axis):
    if x.ndim == 0:
        raise ValueError("x must have at least one axis; got a 0-d array")
    return check_axis(axis, x.ndim)


def _halves(x, axis):
    """The two halves of ``x`` along ``axis`` (its length must be even), by basic slicing."""
    n = x.shape[axis]
    if n % 2:
        raise ValueError(f"glu splits x in two along axis {axis}: its length must be even; got {n}")
    before = (slice(None),) * axis
    return x[before + (slice(0, n // 2), ...)], x[before + (slice(n // 2, n), ...)]


@differentiable("glu_vjp", kind="vjp")
def glu(x, *, axis=-1):
    r"""Gated linear unit (Dauphin et al., 2017; ``jax.nn.glu``, ``torch.nn.functional.glu``).

    Parameters
    ----------
    x : array with an even length along ``axis``
    axis : int, default -1

    Returns
    -------
    array of the shape of ``x`` with ``axis`` halved.

    Notes
    -----
    With :math:`x = [a, b]` split in two halves along ``axis``:

    .. math:: \operatorname{glu}(x) = a \odot \sigma(b), \qquad
              \frac{\partial L}{\partial a} = g \odot \sigma(b), \quad
              \frac{\partial L}{\partial b} = g \odot a \odot \sigma(b)\,\sigma(-b)

    for a cotangent :math:`g` (:func:`glu_vjp`).
    """
    xp, x = _prepare(x)
    a, b = _halves(x, _single_axis(x, axis))
    return a * _sigmoid(b, xp=xp)


def glu_vjp(x, cotangent, *, axis=-1):
    r"""Vector-Jacobian product of :func:`glu`: ``cotangent`` has the shape of ``glu(x)``; the result
    that of ``x``.

    Notes
    -----
    .. math:: J^\top g = \bigl[\,g \odot \sigma(b),\; g \odot a \odot \sigma(b)\,\sigma(-b)\,\bigr]
    """
    xp = array_namespace(x, cotangent)
    dtype = float_dtype(xp, x, cotangent)
    x, g = as_float(x, xp, dtype, "x"), as_float(cotangent, xp, dtype, "cotangent")
    ax = _single_axis(x, axis)
    a, b = _halves(x, ax)
    if tuple(g.shape) != tuple(a.shape):
        raise ValueError(f"cotangent must have the shape of glu(x) {tuple(a.shape)}; got {tuple(g.shape)}")
    s = _sigmoid(b, xp=xp)
    return xp.concat([g * s, g * a * _sigmoid_prime(b, xp=xp)], axis=ax)


# ------------------------------------------------------------------ softmax
def _check_axis(x, axis, name="x"):
    """``axis``: an int or a tuple of distinct ints (as SciPy's softmax), each in range for ``x``."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one axis; got a 0-d array")
    check_axis(axis, x.ndim, allow_tuple=True)


def _prepare_vjp(x, cotangent, axis):
    xp = array_namespace(x, cotangent)
    dtype = float_dtype(xp, x, cotangent)
    x, g = as_float(x, xp, dtype, "x"), as_float(cotangent, xp, dtype, "cotangent")
    _check_axis(x, axis)
    if tuple(g.shape) != tuple(x.shape):
        raise ValueError(f"cotangent must have the shape of x {tuple(x.shape)}; got {tuple(g.shape)}")
    return xp, x, g


def _check_where(where, x, *, xp):
    """``where`` (None, or a boolean array broadcastable to ``x``) broadcast to ``x``'s shape."""
    if where is None:
        return None
    check_array(where, "where")
    array_namespace(x, where)  # one library (a clear TypeError for a mix)
    if not xp.isdtype(where.dtype, "bool"):
        raise TypeError(f"where must be a boolean array (True = included); got dtype {where.dtype}")
    try:
        return xp.broadcast_to(where, tuple(x.shape))
    except Exception:
        raise ValueError(f"where must broadcast to the shape of x {tuple(x.shape)}; got {tuple(where.shape)}") from None


@differentiable("softmax_vjp", kind="vjp")
def softmax(x, *, axis=-1, where=None):
    r"""Softmax along ``axis``.

    Parameters
    ----------
    x : array with at least one axis
    axis : int or tuple of ints, default -1
    where : boolean array broadcastable to ``x``, optional
        The entries to include (``jax.nn.softmax``'s ``where``): the others
        are 0, and a slice with nothing included is all 0 (never NaN).

    Returns
    -------
    array of the shape and floating dtype of ``x``; entries along ``axis`` sum to 1.

    Notes
    -----
    .. math:: s_i = \frac{e^{x_i - m}}{\sum_j e^{x_j - m}}, \quad m = \max_j x_j, \qquad
              \frac{\partial s_i}{\partial x_j} = s_i(\delta_{ij} - s_j)

    The shift by the maximum keeps ``exp`` from overflowing. The derivative is
    available as the vector-Jacobian product :func:`softmax_vjp`.

    Examples
    --------
    >>> import numpy as np
    >>> softmax(np.asarray([[1.0, 2.0, 3.0], [0.0, 0.0, 1e4]]))
    array([[0.09003057, 0.24472847, 0.66524096],
           [0.        , 0.        , 1.        ]])
    """
    xp, x = _prepare(x)
    _check_axis(x, axis)
    return _n.softmax(x, axis=axis, where=_check_where(where, x, xp=xp), xp=xp)


def softmax_vjp(x, cotangent, *, axis=-1, where=None):
    r"""Vector-Jacobian product of :func:`softmax`.

    Parameters
    ----------
    x : array with at least one axis
    cotangent : array of the shape of ``x``
        :math:`g = \partial L / \partial s`.
    axis : int or tuple of ints, default -1
    where : boolean array broadcastable to ``x``, optional
        As in :func:`softmax` (excluded entries get a zero gradient).

    Returns
    -------
    array of the shape of ``x``: :math:`\partial L/\partial x`.

    Notes
    -----
    .. math:: (J^\top g)_j = s_j \Bigl(g_j - \sum_i g_i s_i\Bigr)
    """
    xp, x, g = _prepare_vjp(x, cotangent, axis)
    s = _n.softmax(x, axis=axis, where=_check_where(where, x, xp=xp), xp=xp)
    return s * (g - xp.sum(g * s, axis=axis, keepdims=True))


@differentiable("log_softmax_vjp", kind="vjp")
def log_softmax(x, *, axis=-1, where=None):
    r"""Log-softmax along ``axis``.

    Notes
    -----
    .. math:: \ell_i = x_i - \log\sum_j e^{x_j} = (x_i - m) - \log\sum_j e^{x_j - m}, \qquad
              \frac{\partial \ell_i}{\partial x_j} = \delta_{ij} - s_j

    with :math:`s` the softmax. Computed by log-sum-exp, never as
    ``log(softmax(x))``: exact for large logits, always :math:`\le 0`.
    Returns an array of the shape and floating dtype of ``x``.  With a
    boolean mask ``where`` (``jax.nn.log_softmax``'s), over the included
    entries only; the excluded ones are :math:`-\infty`.
    """
    xp, x = _prepare(x)
    _check_axis(x, axis)
    return _n.log_softmax(x, axis=axis, where=_check_where(where, x, xp=xp), xp=xp)


def log_softmax_vjp(x, cotangent, *, axis=-1, where=None):
    r"""Vector-Jacobian product of :func:`log_softmax`.

    Notes
    -----
    .. math:: (J^\top g)_j = g_j - s_j \sum_i g_i

    ``cotangent`` has the shape of ``x``; the result too.  With ``where``,
    the sum runs over the included entries and the excluded ones (constant
    :math:`-\infty` outputs) get a zero gradient.
    """
    xp, x, g = _prepare_vjp(x, cotangent, axis)
    where = _check_where(where, x, xp=xp)
    if where is None:
        return g - _n.softmax(x, axis=axis, xp=xp) * xp.sum(g, axis=axis, keepdims=True)
    g = xp.where(where, g, xp.zeros_like(g))
    return g - _n.softmax(x, axis=axis, where=where, xp=xp) * xp.sum(g, axis=axis, keepdims=True)


@differentiable("logsumexp_grad", kind="reduction")
def logsumexp(x, *, axis=-1, keepdims=False):
    r"""Log-sum-exp along ``axis`` (``scipy.special.logsumexp``, ``jax.nn.logsumexp``).

    Parameters
    ----------
    x : array with at least one axis
    axis : int or tuple of ints, default -1
    keepdims : bool, default False

    Notes
    -----
    .. math:: \operatorname{lse}(x) = m + \log\sum_i e^{x_i - m},\quad m = \max_i x_i, \qquad
              \frac{\partial\,\operatorname{lse}}{\partial x_i} = \operatorname{softmax}(x)_i

    Exact for huge logits; slices of :math:`-\infty` give :math:`-\infty`, never NaN.

    Examples
    --------
    >>> import numpy as np
    >>> logsumexp(np.asarray([[0.0, 1e4], [0.0, 0.0]]))
    array([1.00000000e+04, 6.93147181e-01])
    """
    xp, x = _prepare(x)
    _check_axis(x, axis)
    keepdims = check_bool(keepdims, "keepdims")
    return _n.logsumexp(x, axis=axis, keepdims=keepdims, xp=xp)


def logsumexp_grad(x, *, axis=-1):
    r""":math:`\partial\,\operatorname{lse}(x)/\partial x = \operatorname{softmax}(x)` along ``axis``, the
    gradient of the summed :func:`logsumexp` (shape of ``x``)."""
    xp, x = _prepare(x)
    _check_axis(x, axis)
    return _n.softmax(x, axis=axis, xp=xp)
