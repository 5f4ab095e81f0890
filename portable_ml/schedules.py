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
    "polynomial_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "join_schedules",
    "sgdr_schedule",
    "cosine_onecycle_schedule",
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
    def logical_and(a, b):
        return a and b

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
        # full_like, not asarray(device=...): on JAX an uncommitted step stays uncommitted, so a
        # rate stored in an optimizer state (inject_hyperparams) is placed like the other leaves
        return self.xp.full_like(like, value)


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


def warmup_cosine(T_warmup, T_total, *, lr_max=1e-3, lr_min=1e-6, lr_init=0.0):
    r"""Linear warm-up from ``lr_init`` (default 0) to ``lr_max``, then cosine decay to ``lr_min``.

    .. math::
        \eta_t = \begin{cases}
            \eta_0 + (\eta_{\max} - \eta_0)\, t / T_w & t < T_w \\
            \eta_{\min} + \tfrac12(\eta_{\max} - \eta_{\min})
            \bigl(1 + \cos(\pi \min(t - T_w, T - T_w) / (T - T_w))\bigr) & t \ge T_w
        \end{cases}

    with :math:`T_w` = ``T_warmup`` and :math:`T` = ``T_total`` (warm-up
    included) and :math:`\eta_0` = ``lr_init``; ``lr_min`` is held for
    :math:`t \ge T`.  This is
    ``optax.warmup_cosine_decay_schedule(lr_init, lr_max, T_warmup, T_total, lr_min)``.
    A non-zero ``lr_init`` is Keras's warm-up from ``initial_learning_rate``
    to ``warmup_target`` (``keras.optimizers.schedules.CosineDecay(lr_init,
    T_total - T_warmup, alpha=lr_min / lr_max, warmup_target=lr_max,
    warmup_steps=T_warmup)``; Keras counts ``decay_steps`` after the warm-up).

    Parameters
    ----------
    T_warmup : int
        Warm-up steps, an integer ``>= 0`` (0: no warm-up).
    T_total : int
        Total steps, an integer ``> T_warmup``.
    lr_max, lr_min : float
        Peak and final rates, ``0 <= lr_min <= lr_max``.
    lr_init : float
        Rate at step 0, where the warm-up starts, ``>= 0``.
    """
    T_warmup = _check_steps(T_warmup, "T_warmup", low=0)
    T_total = _check_steps(T_total, "T_total")
    if not T_total > T_warmup:
        raise ValueError(f"T_total must exceed T_warmup; got T_warmup={T_warmup!r}, T_total={T_total!r}")
    _check_range(lr_min, lr_max)
    _check(lr_init, "lr_init")
    T_decay = T_total - T_warmup
    W = max(T_warmup, 1)  # the warm-up branch is unused when T_warmup == 0

    def schedule(step):
        t, m = _step(step)
        warm = lr_init + (lr_max - lr_init) * t / W if lr_init else lr_max * t / W
        decay = _cosine(m.maximum(t - T_warmup, m.const(0.0, t)), T_decay, lr_min, lr_max, m)
        return m.where(t < T_warmup, warm, decay)

    return _named(schedule, "warmup_cosine", T_warmup=T_warmup, T_total=T_total, lr_max=lr_max, lr_min=lr_min,
                  lr_init=lr_init)


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


# ------------------------------------------------------------ optax's schedules
def _check_value(value, name):
    """A finite real rate (of any sign: optax's values may be negative, e.g. a scale)."""
    return check_real(value, name)


def _clip(t, low, high, m):
    return m.minimum(m.maximum(t, m.const(low, t)), m.const(high, t))


def polynomial_schedule(init_value, end_value, power, transition_steps, *, transition_begin=0):
    r"""Polynomial decay from ``init_value`` to ``end_value`` over ``transition_steps`` steps.

    .. math::
        c = \mathrm{clip}(t - t_0, 0, T),\qquad
        \eta_t = (\eta_{\mathrm{init}} - \eta_{\mathrm{end}})\,(1 - c / T)^{p} + \eta_{\mathrm{end}}

    with :math:`t_0` = ``transition_begin`` (the rate holds ``init_value``
    before it) and :math:`T` = ``transition_steps``; ``end_value`` holds after
    :math:`t_0 + T`.  ``transition_steps=0`` gives the constant
    ``init_value``, as in optax.  Equals ``optax.polynomial_schedule``;
    where optax logs and falls back to 0 for a negative ``transition_begin``,
    this raises ``ValueError``.

    Parameters
    ----------
    init_value, end_value : float
        Rates at the start and the end of the transition.
    power : float
        Exponent :math:`p` (1: linear).
    transition_steps : int
        :math:`T \ge 0`.
    transition_begin : int
        :math:`t_0 \ge 0`.
    """
    _check_value(init_value, "init_value")
    _check_value(end_value, "end_value")
    _check_value(power, "power")
    transition_steps = _check_steps(transition_steps, "transition_steps", low=0)
    transition_begin = _check_steps(transition_begin, "transition_begin", low=0)

    def schedule(step):
        t, m = _step(step)
        if transition_steps == 0:
            return m.const(init_value, t) + 0.0 * t
        c = _clip(t - transition_begin, 0.0, transition_steps, m)
        frac = 1.0 - c / transition_steps
        return (init_value - end_value) * m.pow(frac, m.const(power, t)) + end_value

    return _named(schedule, "polynomial_schedule", init_value=init_value, end_value=end_value, power=power,
                  transition_steps=transition_steps, transition_begin=transition_begin)


def linear_schedule(init_value, end_value, transition_steps, *, transition_begin=0):
    r"""Linear interpolation from ``init_value`` to ``end_value`` over ``transition_steps`` steps.

    .. math:: \eta_t = \eta_{\mathrm{init}} + (\eta_{\mathrm{end}} - \eta_{\mathrm{init}})\,
              \mathrm{clip}(t - t_0, 0, T) / T

    :func:`polynomial_schedule` with ``power=1``.  Equals ``optax.linear_schedule``.
    A linear warm-up from a non-zero rate (Keras's ``initial_learning_rate``
    up to ``warmup_target``) is ``linear_schedule(lr_start, lr_peak, T_w)``.
    """
    _check_value(init_value, "init_value")
    _check_value(end_value, "end_value")
    transition_steps = _check_steps(transition_steps, "transition_steps", low=0)
    transition_begin = _check_steps(transition_begin, "transition_begin", low=0)
    inner = polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin=transition_begin)

    def schedule(step):
        return inner(step)

    return _named(schedule, "linear_schedule", init_value=init_value, end_value=end_value,
                  transition_steps=transition_steps, transition_begin=transition_begin)


def piecewise_constant_schedule(init_value, boundaries_and_scales=None):
    r"""A constant rate multiplied by ``scale`` at each boundary step.

    .. math:: \eta_t = \eta_{\mathrm{init}} \prod_{b \le t} s_b

    ``boundaries_and_scales`` maps integer steps :math:`b \ge 0` to factors
    :math:`s_b \ge 0`; the factor applies from step :math:`b` on.  Equals
    ``optax.piecewise_constant_schedule``.
    """
    _check_value(init_value, "init_value")
    pairs = []
    if boundaries_and_scales is not None:
        if not isinstance(boundaries_and_scales, dict):
            raise TypeError(f"boundaries_and_scales must be a dict {{step: scale}} or None; got "
                            f"{type(boundaries_and_scales).__name__}")
        for b, s in boundaries_and_scales.items():
            pairs.append((check_int(b, "boundaries_and_scales key", low=0),
                          check_real(s, "boundaries_and_scales value", low=0.0)))
        pairs.sort()

    def schedule(step):
        t, m = _step(step)
        v = m.const(init_value, t) + 0.0 * t
        for b, s in pairs:
            v = m.where(t < b, v, v * s)
        return v

    return _named(schedule, "piecewise_constant_schedule", init_value=init_value,
                  boundaries_and_scales=boundaries_and_scales)


def join_schedules(schedules, boundaries):
    r"""Run ``schedules[i]`` between ``boundaries[i-1]`` and ``boundaries[i]``, each from its own step 0.

    .. math:: \eta_t = s_i(t - b_{i-1})\quad\text{for } b_{i-1} \le t < b_i \quad (b_{-1} = 0)

    Equals ``optax.join_schedules``.  Each schedule is called only with
    steps :math:`\ge 0`.
    """
    schedules = list(schedules)
    if not schedules:
        raise ValueError("schedules must hold at least one schedule; got none")
    for i, s in enumerate(schedules):
        if not callable(s):
            raise TypeError(f"schedules[{i}] must be callable (step -> rate); got {type(s).__name__}")
    boundaries = [check_int(b, "boundaries", low=0) for b in boundaries]
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(f"boundaries must hold one step fewer than schedules; got {len(boundaries)} boundaries "
                         f"for {len(schedules)} schedules")

    def schedule(step):
        if not is_array(step):
            t = check_int(step, "step", low=0)
            out, start = schedules[0], 0
            for b, s in zip(boundaries, schedules[1:]):
                if t >= b:
                    out, start = s, b
            return out(t - start)
        _step(step)  # checks the dtype
        xp = array_namespace(step)
        out = schedules[0](step)
        for b, s in zip(boundaries, schedules[1:]):
            out = xp.where(step < b, out, s(xp.maximum(step - b, xp.zeros_like(step))))
        return out

    return _named(schedule, "join_schedules", boundaries=boundaries)


def _cosine_decay(init_value, decay_steps, alpha, exponent, t, m):
    """optax's ``cosine_decay_schedule`` at float step ``t``."""
    c = m.minimum(t, m.const(decay_steps, t))
    cos = 0.5 * (1.0 + m.cos(m.pi * c / decay_steps))
    return init_value * ((1.0 - alpha) * m.pow(cos, m.const(exponent, t)) + alpha)


def _warmup_cosine_decay(init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0):
    """optax's ``warmup_cosine_decay_schedule`` (the pieces of :func:`sgdr_schedule`)."""
    _check_value(init_value, "init_value")
    _check_value(peak_value, "peak_value")
    warmup_steps = _check_steps(warmup_steps, "warmup_steps", low=0)
    decay_steps = _check_steps(decay_steps, "decay_steps")
    _check_value(end_value, "end_value")
    _check_value(exponent, "exponent")
    if not decay_steps > warmup_steps:
        raise ValueError(f"decay_steps must exceed warmup_steps; got warmup_steps={warmup_steps!r}, "
                         f"decay_steps={decay_steps!r}")
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    W = max(warmup_steps, 1)

    def schedule(step):
        t, m = _step(step)
        warm = init_value + (peak_value - init_value) * _clip(t, 0.0, W, m) / W
        after = m.maximum(t - warmup_steps, m.const(0.0, t))
        return m.where(t < warmup_steps, warm,
                       _cosine_decay(peak_value, decay_steps - warmup_steps, alpha, exponent, after, m))

    return schedule


def sgdr_schedule(cosine_kwargs):
    r"""SGDR (Loshchilov & Hutter, 2017): warm restarts of warm-up + cosine cycles, joined end to end.

    Each entry of ``cosine_kwargs`` holds the arguments of one cycle, with
    optax's ``warmup_cosine_decay_schedule`` names: ``init_value``,
    ``peak_value``, ``warmup_steps``, ``decay_steps`` (the cycle's length,
    warm-up included), ``end_value=0.0``, ``exponent=1.0``.  In a cycle,

    .. math::
        \eta_t = \begin{cases}
            \eta_{\mathrm{init}} + (\eta_{\mathrm{peak}} - \eta_{\mathrm{init}})\, t / W & t < W \\
            \eta_{\mathrm{peak}}\bigl((1 - \alpha) \bigl[\tfrac12(1 + \cos(\pi \tfrac{t - W}{D - W}))\bigr]^{e}
            + \alpha\bigr) & t \ge W
        \end{cases}

    with :math:`\alpha = \eta_{\mathrm{end}} / \eta_{\mathrm{peak}}`.  Equals ``optax.sgdr_schedule``.
    """
    cycles = list(cosine_kwargs)
    if not cycles:
        raise ValueError("cosine_kwargs must hold at least one cycle; got none")
    schedules, boundaries, step = [], [], 0
    allowed = {"init_value", "peak_value", "warmup_steps", "decay_steps", "end_value", "exponent"}
    for i, kw in enumerate(cycles):
        if not isinstance(kw, dict):
            raise TypeError(f"cosine_kwargs[{i}] must be a dict of warmup_cosine_decay_schedule arguments; got "
                            f"{type(kw).__name__}")
        unknown = set(kw) - allowed
        missing = {"init_value", "peak_value", "warmup_steps", "decay_steps"} - set(kw)
        if unknown or missing:
            raise ValueError(f"cosine_kwargs[{i}] must have the keys {sorted(allowed)} (end_value and exponent "
                             f"optional); got unknown {sorted(unknown)}, missing {sorted(missing)}")
        schedules.append(_warmup_cosine_decay(**kw))
        step += kw["decay_steps"]
        boundaries.append(step)
    inner = join_schedules(schedules, boundaries[:-1])

    def schedule(step):
        return inner(step)

    return _named(schedule, "sgdr_schedule", cosine_kwargs=cycles)


def cosine_onecycle_schedule(transition_steps, peak_value, *, pct_start=0.3, div_factor=25.0,
                             final_div_factor=1e4):
    r"""One-cycle policy (Smith & Topin, 2018) with cosine ramps.

    From :math:`\eta_0 = \eta_{\mathrm{peak}} / d` up to ``peak_value`` over the first
    ``int(pct_start * transition_steps)`` steps, then down to
    :math:`\eta_0 / f` at ``transition_steps`` (held after), each ramp

    .. math:: \eta = b + \tfrac12 (a - b)\,\bigl(1 + \cos(\pi\,p)\bigr)

    from :math:`a` to :math:`b` with :math:`p` the fraction of the ramp done.
    Equals ``optax.cosine_onecycle_schedule`` (``torch.optim.lr_scheduler.OneCycleLR``
    with ``anneal_strategy="cos"`` and ``three_phase=False``, up to its
    off-by-one in the step count).

    Parameters
    ----------
    transition_steps : int
        Length of the cycle, ``>= 1``.
    peak_value : float
        Highest rate.
    pct_start : float
        Fraction of the cycle spent increasing, in [0, 1].
    div_factor, final_div_factor : float
        :math:`d, f > 0`.
    """
    transition_steps = _check_steps(transition_steps, "transition_steps")
    _check_value(peak_value, "peak_value")
    pct_start = check_real(pct_start, "pct_start", low=0.0, high=1.0)
    div_factor = _check(div_factor, "div_factor", strict=True)
    final_div_factor = _check(final_div_factor, "final_div_factor", strict=True)
    scales = {int(pct_start * transition_steps): div_factor,
              int(transition_steps): 1.0 / (div_factor * final_div_factor)}
    bounds = [0] + sorted(scales)
    values = [peak_value / div_factor]
    for b in sorted(scales):
        values.append(values[-1] * scales[b])

    def schedule(step):
        t, m = _step(step)
        out = m.const(0.0, t) + 0.0 * t
        for i in range(len(bounds) - 1):
            lo, hi = bounds[i], bounds[i + 1]
            pct = (t - lo) / max(hi - lo, 1)
            interp = values[i + 1] + (values[i] - values[i + 1]) / 2.0 * (m.cos(m.pi * pct) + 1.0)
            inside = (lo <= t < hi) if m is _PY else m.logical_and(t >= lo, t < hi)
            out = out + m.where(inside, interp, m.const(0.0, t))
        return out + m.where(t >= bounds[-1], m.const(values[-1], t), m.const(0.0, t))

    return _named(schedule, "cosine_onecycle_schedule", transition_steps=transition_steps, peak_value=peak_value,
                  pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor)
