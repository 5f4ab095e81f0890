"""Ground layer: numerically stable building blocks shared by the formulas.

Each helper takes ``xp`` (the namespace of its input) as a keyword; none
imports an array library.
"""

from __future__ import annotations

import math

from array_api_compat import device as _device
from array_api_compat import size

__all__ = ["logsumexp", "softmax", "log_softmax", "softplus", "log_sigmoid", "sigmoid", "xlogy", "erf", "erfc"]


def logsumexp(x, *, axis=-1, keepdims=False, xp):
    r"""Stable :math:`\log\sum_i e^{x_i}` along ``axis``.

    .. math:: \operatorname{lse}(x) = m + \log\sum_i e^{x_i - m},\quad m = \max_i x_i

    The shift ``m`` is taken where it is finite, so rows of ``-inf`` give
    ``-inf`` and never NaN.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    total = xp.sum(xp.exp(x - m), axis=axis, keepdims=True)
    nonzero = total > 0  # all -inf: log 0 = -inf, set directly (no divide-by-zero warning)
    out = xp.where(nonzero, xp.log(xp.where(nonzero, total, xp.ones_like(total))) + m,
                   xp.full_like(total, -math.inf))
    return out if keepdims else xp.squeeze(out, axis=axis)


def _shift_by_max(x, axis, *, xp):
    """``x - max(x)`` along ``axis``; the shift is taken only where it is finite.

    An empty ``x`` is returned as it is (its maximum is undefined, and there
    is nothing to shift), so softmax of an empty array is empty, as ``jax.nn``.
    """
    if size(x) == 0:
        return x
    m = xp.max(x, axis=axis, keepdims=True)
    return x - xp.where(xp.isfinite(m), m, xp.zeros_like(m))


def _exclude(x, where, *, xp):
    """``x`` with the entries outside the boolean mask ``where`` (broadcast to ``x``) set to ``-inf``."""
    return xp.where(where, x, xp.asarray(-math.inf, dtype=x.dtype, device=_device(x)))


def softmax(x, *, axis=-1, where=None, xp):
    r"""Stable softmax :math:`e^{x_i - m} / \sum_j e^{x_j - m}`, :math:`m = \max_j x_j`, along ``axis``.

    With a boolean mask ``where``, over the included entries only: excluded
    entries are 0, and a slice with nothing included is all 0 (never NaN).
    """
    if where is None:
        e = xp.exp(_shift_by_max(x, axis, xp=xp))
        return e / xp.sum(e, axis=axis, keepdims=True)
    e = xp.exp(_shift_by_max(_exclude(x, where, xp=xp), axis, xp=xp))  # the shift skips all -inf slices
    total = xp.sum(e, axis=axis, keepdims=True)
    return e / xp.where(total > 0, total, xp.ones_like(total))


def log_softmax(x, *, axis=-1, where=None, xp):
    r"""Stable log-softmax :math:`(x_i - m) - \log\sum_j e^{x_j - m}` along ``axis`` (never ``log(softmax)``).

    With a boolean mask ``where``, over the included entries only: excluded
    entries (and slices with nothing included) are :math:`-\infty`.
    """
    if where is not None:
        x = _exclude(x, where, xp=xp)
    z = _shift_by_max(x, axis, xp=xp)
    if size(x) == 0:
        return z
    total = xp.sum(xp.exp(z), axis=axis, keepdims=True)
    if where is None:
        return z - xp.log(total)
    return z - xp.log(xp.where(total > 0, total, xp.ones_like(total)))  # -inf - 0 where all excluded


def softplus(x, *, xp):
    r"""Stable :math:`\log(1 + e^{x}) = \max(x, 0) + \log(1 + e^{-|x|})`; exact for large ``|x|``.

    The same evaluation as ``logaddexp(0, x)``, written out: NumPy's
    ``logaddexp`` is about ten times slower than ``exp`` + ``log1p``.
    :math:`-|x|` is taken as :math:`\min(x, -x)` so that ``jax.grad`` at 0
    is 1/2 = :math:`\sigma(0)`, as for ``logaddexp`` (JAX splits ties of
    ``maximum``/``minimum`` evenly but gives ``abs`` the slope 1 at 0).
    """
    return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(xp.minimum(x, -x)))  # (a 0.0 scalar would break torch.compile)


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
    return logistic_numerator(x, e, xp=xp) / (1.0 + e)


def logistic_numerator(x, e, *, xp):
    r"""1 where :math:`x \ge 0`, else :math:`e = e^{-|x|}`: then :math:`\sigma(x)` = numerator / (1 + e).

    Selected by arithmetic rather than ``where``: NumPy's ``where`` is
    branchy and costs several times an ``exp`` on inputs of mixed signs.
    """
    return e + xp.astype(x >= 0, x.dtype) * (1.0 - e)


def xlogy(x, y, *, xp):
    r""":math:`x \log y` with the convention :math:`0 \log y = 0` (also for ``y = 0``)."""
    safe_y = xp.where(x == 0, xp.ones_like(y), y)
    return xp.where(x == 0, xp.zeros_like(x * y), x * xp.log(safe_y))


# ------------------------------------------------------------------ erf, erfc
# W. J. Cody, "Rational Chebyshev approximations for the error function",
# Math. Comp. 23 (1969) 631-638; coefficients of his SPECFUN routine CALERF,
# good to about 18 significant digits, so the float64 results are within a
# few ulp (relative, also in the erfc tail) and float32 is rounding-limited.
_ERF_SMALL = 0.46875  # |x| <= this: erf = x A(x^2) / B(x^2)
_ERF_MID = 4.0        # up to this: erfc = exp(-x^2) C(x) / D(x); beyond: asymptotic P/Q in 1/x^2
_ERFC_ZERO = 27.5     # erfc(x) underflows to 0 in float64 beyond ~26.6; inputs are clamped here
_ERF_A = (0.185777706184603153, 3.16112374387056560, 113.864154151050156,
          377.485237685302021, 3209.37758913846947)
_ERF_B = (1.0, 23.6012909523441209, 244.024637934444173, 1282.61652607737228,
          2844.23683343917062)
_ERF_C = (2.15311535474403846e-8, 0.564188496988670089, 8.88314979438837594,
          66.1191906371416295, 298.635138197400131, 881.952221241769090,
          1712.04761263407058, 2051.07837782607147, 1230.33935479799725)
_ERF_D = (1.0, 15.7449261107098347, 117.693950891312499, 537.181101862009858,
          1621.38957456669019, 3290.79923573345963, 4362.61909014324716,
          3439.36767414372164, 1230.33935480374942)
_ERF_P = (0.0163153871373020978, 0.305326634961232344, 0.360344899949804439,
          0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4)
_ERF_Q = (1.0, 2.56852019228982242, 1.87295284992346047, 0.527905102951428412,
          0.0605183413124413191, 2.33520497626869185e-3)
_INV_SQRT_PI = 0.56418958354775628695


def rel_entr(p, q, *, xp):
    r"""Elementwise :math:`p \log(p/q)` with SciPy's ``rel_entr`` conventions.

    0 where ``p == 0``; ``inf`` where ``p > 0`` and ``q == 0``; NaN for
    negative or NaN inputs.  Where :math:`1/2 < p/q < 2`,
    :math:`\log(p/q) = \operatorname{log1p}((p - q)/q)` with :math:`p - q`
    exact (Sterbenz), so terms of nearly equal distributions — whose sum
    cancels to second order — keep full relative precision; elsewhere
    :math:`\log(p/q)` of the correctly rounded ratio.
    """
    both = (p > 0) & (q > 0)
    ps = xp.where(both, p, 1.0)
    qs = xp.where(both, q, 1.0)
    r = ps / qs
    near = (r > 0.5) & (r < 2.0)
    log_r = xp.where(near, xp.log1p(xp.where(near, (ps - qs) / qs, 0.0)), xp.log(r))  # log1p(-1) never evaluated
    edge = xp.where(p == 0, 0.0, xp.where((p > 0) & (q == 0), math.inf, xp.full_like(ps, math.nan)))
    return xp.where(both, ps * log_r, edge)


def _horner(coeffs, t):
    """Polynomial with ``coeffs`` (highest degree first) at ``t``."""
    acc = coeffs[0] * t + coeffs[1]
    for c in coeffs[2:]:
        acc = acc * t + c
    return acc


def _erf_small(x):
    """erf(x) for |x| <= 0.46875 (callers clamp ``x`` into that range)."""
    t = x * x
    return x * _horner(_ERF_A, t) / _horner(_ERF_B, t)


def _erfc_abs(x, *, xp):
    """erfc(|x|) for |x| > 0.46875 (finite, garbage-free for every input)."""
    y = xp.clip(xp.abs(x), _ERF_SMALL, _ERFC_ZERO)
    ym = xp.clip(y, None, _ERF_MID)
    yb = xp.clip(y, _ERF_MID, None)
    z = 1.0 / (yb * yb)
    mid = _horner(_ERF_C, ym) / _horner(_ERF_D, ym)
    big = (_INV_SQRT_PI - z * _horner(_ERF_P, z) / _horner(_ERF_Q, z)) / yb
    # exp(-y^2) with y^2 split as s^2 + (y - s)(y + s), s = y rounded down to 1/16:
    # s^2 is exact, so the rounding of y^2 is not amplified by exp.
    s = xp.trunc(y * 16.0) / 16.0
    return xp.exp(-s * s) * xp.exp(-(y - s) * (y + s)) * xp.where(y <= _ERF_MID, mid, big)


def erf(x, *, xp):
    r"""Error function :math:`\operatorname{erf}(x) = \frac{2}{\sqrt\pi}\int_0^x e^{-t^2}\,dt`.

    Cody's rational Chebyshev approximations (three ranges), written with
    array-API operations only: accurate to a few ulp in float64, and free of
    overflow or NaN for every input (``erf(±inf) = ±1``). The derivative is
    :math:`\tfrac{2}{\sqrt\pi} e^{-x^2}`.
    """
    small = xp.abs(x) <= _ERF_SMALL
    xs = xp.clip(x, -_ERF_SMALL, _ERF_SMALL)
    tail = 1.0 - _erfc_abs(x, xp=xp)
    return xp.where(small, _erf_small(xs), xp.where(x < 0, -tail, tail))


def erfc(x, *, xp):
    r"""Complementary error function :math:`\operatorname{erfc}(x) = 1 - \operatorname{erf}(x)`.

    Computed directly (not as ``1 - erf``), so it keeps full relative
    precision in the right tail, e.g. ``erfc(10) = 2.09e-45``; ``erfc(x)``
    underflows to 0 beyond :math:`x \approx 26.6` in float64.
    """
    small = xp.abs(x) <= _ERF_SMALL
    xs = xp.clip(x, -_ERF_SMALL, _ERF_SMALL)
    tail = _erfc_abs(x, xp=xp)
    return xp.where(small, 1.0 - _erf_small(xs), xp.where(x < 0, 2.0 - tail, tail))


def max_abs_scale(x, *, axis=None, keepdims=False, xp):
    r"""Scale factor :math:`s = \max_i |x_i|` for overflow-free norms (as ``hypot`` does).

    Dividing by ``s`` before squaring and multiplying back after the square
    root keeps :math:`\sqrt{\sum_i x_i^2} = s \sqrt{\sum_i (x_i/s)^2}` finite
    and normal whenever the answer is. ``s`` is 1 where the maximum is 0 or
    not finite (an inf or NaN then propagates as it would unscaled).
    """
    s = xp.max(xp.abs(x), axis=axis, keepdims=keepdims)
    ok = xp.isfinite(s) & (s > 0)
    return xp.where(ok, s, xp.ones_like(s))


# ------------------------------------------------------------------ log-gamma
# Lanczos approximation, g = 7, n = 9 (Numerical Recipes 3rd ed. / Godfrey's
# coefficients): relative error below 1e-15 for x >= 1/2.
_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def gammaln_ge_half(x, *, xp):
    r""":math:`\log\Gamma(x)` for :math:`x \ge 1/2` (Lanczos, ``g = 7``).

    :math:`\log\Gamma(x) = \tfrac12\log 2\pi + (x - \tfrac12)\log t - t + \log A(x)`,
    :math:`t = x + g - \tfrac12`, :math:`A(x) = c_0 + \sum_{i\ge1} c_i/(x - 1 + i)`.
    Inputs below 1/2 are the caller's business (no reflection here).
    """
    z = x - 1.0
    a = xp.full_like(x, _LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], start=1):
        a = a + c / (z + float(i))
    t = z + (_LANCZOS_G + 0.5)
    return _HALF_LOG_2PI + (z + 0.5) * xp.log(t) - t + xp.log(a)
