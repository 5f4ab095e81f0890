r"""Learning-rate schedules: closures from a step count to a rate.

Each factory checks its hyperparameters eagerly and returns
``schedule(step) -> rate``.  ``step`` is a non-negative Python number or an
integer array (usually 0-d, e.g. an optimizer's step count; any shape is
mapped elementwise), also a traced one under ``jax.jit``: no schedule has a
Python ``if`` on the step.

Return type
    A Python ``int``/``float`` step gives a Python ``float`` (plain ``math``).
    An array step gives an array of the step's shape, backend and device, in
    the most precise floating dtype of that device (``float64`` where
    supported), so the rate never limits a float64 computation; optimizers
    cast it to the parameters' dtype.

Each formula is written once, against a tiny set of elementwise functions
that is either :mod:`math` (Python steps) or the step's array namespace.

>>> from portable_ml import schedules
>>> lr = schedules.warmup_cosine(10, 100, lr_max=1e-3)
>>> lr(5), lr(10), lr(100)
(0.0005, 0.001, 1e-06)
"""

from __future__ import annotations

import math
import numbers

from ._xp import array_namespace, device_of, widest_float_dtype

__all__ = [
    "constant",
    "step_decay",
    "exponential_decay",
    "time_based_decay",
    "cosine_annealing",
    "warmup_cosine",
    "cyclical",
    "warm_restarts",
]


# ------------------------------------------------------------ the two "maths"
class _PyMath:
    """Elementwise functions on Python floats (the schedule of a Python step)."""

    pi = math.pi
    exp = staticmethod(math.exp)
    cos = staticmethod(math.cos)
    abs = staticmethod(abs)
    minimum = staticmethod(min)
    maximum = staticmethod(max)

    @staticmethod
    def floor(x):
        return float(math.floor(x))

    @staticmethod
    def remainder(x, y):
        return x % y

    @staticmethod
    def pow(x, y):
        return x**y

    @staticmethod
    def where(cond, a, b):
        return a if cond else b

    @staticmethod
    def const(value, like):
        return float(value)


class _ArrayMath:
    """The same functions from an array namespace; constants become 0-d arrays."""

    def __init__(self, xp):
        self.xp = xp

    def __getattr__(self, name):
        return getattr(self.xp, name)

    def const(self, value, like):
        return self.xp.asarray(value, dtype=like.dtype, device=device_of(like))


_PY = _PyMath()


def _step(count):
    """``(t, m)``: the step as a float (Python or widest-float array) and its maths."""
    if isinstance(count, bool):
        raise TypeError(f"step must be an int or an integer array; got {count!r}")
    if isinstance(count, numbers.Real):
        if not count >= 0:
            raise ValueError(f"step must be non-negative; got step={count!r}")
        return float(count), _PY
    try:
        xp = array_namespace(count)
    except TypeError:
        raise TypeError(
            f"step must be an int or an integer array; got {type(count).__name__}"
        ) from None
    if not (xp.isdtype(count.dtype, "integral") or xp.isdtype(count.dtype, "real floating")):
        raise TypeError(f"step must be an int or an integer array; got dtype {count.dtype}")
    return xp.astype(count, widest_float_dtype(xp, count)), _ArrayMath(xp)


# ------------------------------------------------------------ checks
def _check(value, name, *, low=0.0, strict=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    ok = value > low if strict else value >= low
    if not (ok and math.isfinite(value)):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name} must be finite and {bound}; got {name}={value!r}")


def _check_range(lr_min, lr_max):
    _check(lr_min, "lr_min")
    _check(lr_max, "lr_max")
    if lr_min > lr_max:
        raise ValueError(f"lr_min must not exceed lr_max; got lr_min={lr_min!r}, lr_max={lr_max!r}")


def _named(fn, name, **params):
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name}({', '.join(f'{k}={v!r}' for k, v in params.items())}) at ``step``."
    return fn


# ------------------------------------------------------------ schedules
def constant(value):
    r"""A constant rate.

    .. math:: \eta_t = \eta

    Parameters
    ----------
    value : float
        The rate, ``>= 0``.

    Returns
    -------
    schedule : callable
        ``schedule(step)``; an array step gives an array of its shape.
    """
    _check(value, "value")

    def schedule(step):
        t, m = _step(step)
        return m.const(value, t) + 0.0 * t

    return _named(schedule, "constant", value=value)


def step_decay(lr0=0.1, *, drop=0.5, step=10):
    r"""Step decay: the rate drops by a factor ``drop`` every ``step`` steps.

    .. math:: \eta_t = \eta_0 \, d^{\lfloor t / s \rfloor}

    Parameters
    ----------
    lr0 : float
        Initial rate :math:`\eta_0 \ge 0`.
    drop : float
        Factor :math:`d > 0` applied at each drop.
    step : int
        Steps :math:`s > 0` between drops.
    """
    _check(lr0, "lr0")
    _check(drop, "drop", strict=True)
    _check(step, "step", strict=True)

    def schedule(count):
        t, m = _step(count)
        return lr0 * m.pow(m.const(drop, t), m.floor(t / step))

    return _named(schedule, "step_decay", lr0=lr0, drop=drop, step=step)


def exponential_decay(lr0=0.1, *, k=0.01):
    r"""Exponential decay.

    .. math:: \eta_t = \eta_0 \, e^{-k t}

    Parameters
    ----------
    lr0 : float
        Initial rate :math:`\eta_0 \ge 0`.
    k : float
        Decay constant :math:`k \ge 0`.
    """
    _check(lr0, "lr0")
    _check(k, "k")

    def schedule(step):
        t, m = _step(step)
        return lr0 * m.exp(-k * t)

    return _named(schedule, "exponential_decay", lr0=lr0, k=k)


def time_based_decay(lr0, decay_rate):
    r"""Time-based (inverse-time) decay.

    .. math:: \eta_t = \frac{\eta_0}{1 + d\,t}

    Parameters
    ----------
    lr0 : float
        Initial rate :math:`\eta_0 \ge 0`.
    decay_rate : float
        :math:`d \ge 0`.
    """
    _check(lr0, "lr0")
    _check(decay_rate, "decay_rate")

    def schedule(step):
        t, m = _step(step)
        return lr0 / (1.0 + decay_rate * t)

    return _named(schedule, "time_based_decay", lr0=lr0, decay_rate=decay_rate)


def _cosine(t, T, lr_min, lr_max, m):
    """Cosine from ``lr_max`` at ``t = 0`` to ``lr_min`` at ``t = T``, held after."""
    t = m.minimum(t, m.const(T, t))
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + m.cos(m.pi * t / T))


def cosine_annealing(T, *, lr_min=1e-6, lr_max=0.1):
    r"""Cosine annealing from ``lr_max`` to ``lr_min`` over ``T`` steps.

    .. math::
        \eta_t = \eta_{\min} + \tfrac12(\eta_{\max} - \eta_{\min})
                 \bigl(1 + \cos(\pi \min(t, T) / T)\bigr)

    The rate holds ``lr_min`` for :math:`t \ge T`, as
    ``optax.cosine_decay_schedule(lr_max, T, alpha=lr_min / lr_max)`` does.

    Parameters
    ----------
    T : int
        Length of the decay, ``> 0``.
    lr_min, lr_max : float
        Final and initial rates, ``0 <= lr_min <= lr_max``.
    """
    _check(T, "T", strict=True)
    _check_range(lr_min, lr_max)

    def schedule(step):
        t, m = _step(step)
        return _cosine(t, T, lr_min, lr_max, m)

    return _named(schedule, "cosine_annealing", T=T, lr_min=lr_min, lr_max=lr_max)


def warmup_cosine(T_warmup, T_total, *, lr_max=1e-3, lr_min=1e-6):
    r"""Linear warm-up from 0 to ``lr_max``, then cosine decay to ``lr_min``.

    .. math::
        \eta_t = \begin{cases}
            \eta_{\max}\, t / T_w & t < T_w \\
            \eta_{\min} + \tfrac12(\eta_{\max} - \eta_{\min})
            \bigl(1 + \cos(\pi \min(t - T_w, T - T_w) / (T - T_w))\bigr) & t \ge T_w
        \end{cases}

    with :math:`T_w` = ``T_warmup`` and :math:`T` = ``T_total`` (warm-up
    included); ``lr_min`` is held for :math:`t \ge T`.  This is
    ``optax.warmup_cosine_decay_schedule(0.0, lr_max, T_warmup, T_total, lr_min)``.

    Parameters
    ----------
    T_warmup : int
        Warm-up steps, ``>= 0`` (0: no warm-up).
    T_total : int
        Total steps, ``> T_warmup``.
    lr_max, lr_min : float
        Peak and final rates, ``0 <= lr_min <= lr_max``.
    """
    _check(T_warmup, "T_warmup")
    _check(T_total, "T_total", strict=True)
    if not T_total > T_warmup:
        raise ValueError(f"T_total must exceed T_warmup; got T_warmup={T_warmup!r}, T_total={T_total!r}")
    _check_range(lr_min, lr_max)
    T_decay = T_total - T_warmup
    W = max(T_warmup, 1)  # the warm-up branch is unused when T_warmup == 0

    def schedule(step):
        t, m = _step(step)
        warm = lr_max * t / W
        decay = _cosine(m.maximum(t - T_warmup, m.const(0.0, t)), T_decay, lr_min, lr_max, m)
        return m.where(t < T_warmup, warm, decay)

    return _named(schedule, "warmup_cosine", T_warmup=T_warmup, T_total=T_total, lr_max=lr_max, lr_min=lr_min)


def cyclical(step_size, *, lr_min=1e-4, lr_max=1e-2):
    r"""Triangular cyclical learning rate (Smith, 2017).

    .. math::
        c = \lfloor 1 + t / (2s) \rfloor,\quad x = |t/s - 2c + 1|,\quad
        \eta_t = \eta_{\min} + (\eta_{\max} - \eta_{\min}) \max(0, 1 - x)

    The rate climbs from ``lr_min`` to ``lr_max`` in ``step_size`` steps and
    back down in as many.

    Parameters
    ----------
    step_size : int
        Half-period :math:`s > 0`.
    lr_min, lr_max : float
        ``0 <= lr_min <= lr_max``.
    """
    _check(step_size, "step_size", strict=True)
    _check_range(lr_min, lr_max)

    def schedule(step):
        t, m = _step(step)
        cycle = m.floor(1.0 + t / (2 * step_size))
        x = m.abs(t / step_size - 2.0 * cycle + 1.0)
        return lr_min + (lr_max - lr_min) * m.maximum(m.const(0.0, t), 1.0 - x)

    return _named(schedule, "cyclical", step_size=step_size, lr_min=lr_min, lr_max=lr_max)


def warm_restarts(lr0, T_0, *, factor=0.5):
    r"""Warm restarts, the formula sheet's rule: decay within a cycle, restart every ``T_0``.

    .. math:: \eta_t = \eta_0 \, f^{\,t \bmod T_0}

    Parameters
    ----------
    lr0 : float
        Rate at the start of every cycle, ``>= 0``.
    T_0 : int
        Cycle length, ``> 0``.
    factor : float
        Per-step factor :math:`f > 0` within a cycle.
    """
    _check(lr0, "lr0")
    _check(T_0, "T_0", strict=True)
    _check(factor, "factor", strict=True)

    def schedule(step):
        t, m = _step(step)
        return lr0 * m.pow(m.const(factor, t), m.remainder(t, m.const(T_0, t)))

    return _named(schedule, "warm_restarts", lr0=lr0, T_0=T_0, factor=factor)
