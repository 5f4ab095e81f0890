r"""Learning-rate schedules: closures from a step count to a rate.

Each factory checks its hyperparameters eagerly (step counts such as ``T``
are integers, rates finite reals; see :mod:`portable_ml._validate`) and
returns ``schedule(step) -> rate``.  ``step`` is a non-negative Python int or an
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

from ._validate import check_int, check_real, is_array
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
    """``(t, m)``: the step as a float (Python or widest-float array) and its maths.

    A Python step must be an integer ``>= 0`` (``True`` and floats such as
    ``2.5`` raise ``TypeError``); an array step must have an integer dtype.
    """
    if not is_array(count):  # Python and NumPy integers
        return float(check_int(count, "step", low=0)), _PY
    xp = array_namespace(count)
    if not xp.isdtype(count.dtype, "integral"):
        raise TypeError(f"step must be an int or an integer array; got an array of dtype {count.dtype}")
    return xp.astype(count, widest_float_dtype(xp, count)), _ArrayMath(xp)


# ------------------------------------------------------------ checks
def _check(value, name, *, low=0.0, strict=False, high=None):
    """A finite real hyperparameter ``>= low`` (``> low`` if ``strict``), ``<= high`` if given."""
    return check_real(value, name, low=low, low_open=strict, high=high)


def _check_steps(value, name, *, low=1):
    """A step count: an integer ``>= low`` (``2.5`` raises ``TypeError``, as in optax's ``int`` steps)."""
    return check_int(value, name, low=low)


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
        Factor :math:`0 < d \le 1` applied at each drop (a decay: ``d > 1``
        would grow the rate, and raises).
    step : int
        Steps :math:`s \ge 1` between drops, an integer.
    """
    _check(lr0, "lr0")
    _check(drop, "drop", strict=True, high=1.0)
    step = _check_steps(step, "step")

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
        Length of the decay, an integer ``>= 1`` (optax's ``decay_steps``).
    lr_min, lr_max : float
        Final and initial rates, ``0 <= lr_min <= lr_max``.
    """
    T = _check_steps(T, "T")
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
        Warm-up steps, an integer ``>= 0`` (0: no warm-up).
    T_total : int
        Total steps, an integer ``> T_warmup``.
    lr_max, lr_min : float
        Peak and final rates, ``0 <= lr_min <= lr_max``.
    """
    T_warmup = _check_steps(T_warmup, "T_warmup", low=0)
    T_total = _check_steps(T_total, "T_total")
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
        Half-period :math:`s \ge 1`, an integer.
    lr_min, lr_max : float
        ``0 <= lr_min <= lr_max``.
    """
    step_size = _check_steps(step_size, "step_size")
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
        Cycle length, an integer ``>= 1``.
    factor : float
        Per-step factor :math:`0 < f \le 1` within a cycle: the rate decays
        from ``lr0`` and restarts (``f > 1`` would grow it, and raises).
    """
    _check(lr0, "lr0")
    T_0 = _check_steps(T_0, "T_0")
    _check(factor, "factor", strict=True, high=1.0)

    def schedule(step):
        t, m = _step(step)
        return lr0 * m.pow(m.const(factor, t), m.remainder(t, m.const(T_0, t)))

    return _named(schedule, "warm_restarts", lr0=lr0, T_0=T_0, factor=factor)
