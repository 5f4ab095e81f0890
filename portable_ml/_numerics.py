"""Ground layer: numerically stable building blocks shared by the formulas.

Each helper takes ``xp`` (the namespace of its input) as a keyword; none
imports an array library.
"""

from __future__ import annotations

__all__ = ["logsumexp", "softplus", "log_sigmoid", "sigmoid", "xlogy"]


def logsumexp(x, *, axis=-1, keepdims=False, xp):
    r"""Stable :math:`\log\sum_i e^{x_i}` along ``axis``.

    .. math:: \operatorname{lse}(x) = m + \log\sum_i e^{x_i - m},\quad m = \max_i x_i

    The shift ``m`` is taken where it is finite, so rows of ``-inf`` give
    ``-inf`` and never NaN.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def softplus(x, *, xp):
    r"""Stable :math:`\log(1 + e^{x})` = ``logaddexp(0, x)``; exact for large ``|x|``."""
    return xp.logaddexp(xp.zeros_like(x), x)


def log_sigmoid(x, *, xp):
    r"""Stable :math:`\log\sigma(x) = -\operatorname{softplus}(-x)`."""
    return -softplus(-x, xp=xp)


def sigmoid(x, *, xp):
    r"""Stable logistic :math:`\sigma(x) = 1/(1+e^{-x})`.

    With :math:`e = e^{-|x|}` it is :math:`1/(1+e)` for :math:`x \ge 0` and
    :math:`e/(1+e)` otherwise: ``exp`` never overflows, and small values keep
    full relative precision (as ``scipy.special.expit`` does).
    """
    e = xp.exp(-xp.abs(x))
    pos = 1.0 / (1.0 + e)
    return xp.where(x >= 0, pos, e * pos)


def xlogy(x, y, *, xp):
    r""":math:`x \log y` with the convention :math:`0 \log y = 0` (also for ``y = 0``)."""
    safe_y = xp.where(x == 0, xp.ones_like(y), y)
    return xp.where(x == 0, xp.zeros_like(x * y), x * xp.log(safe_y))
