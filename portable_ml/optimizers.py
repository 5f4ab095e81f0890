r"""Optimizers in optax's functional style, on every array backend.

A :class:`GradientTransformation` is a pair of pure functions::

    state = opt.init(params)
    updates, state = opt.update(grads, state, params)
    params = apply_updates(params, updates)

States are immutable ``NamedTuple`` s of arrays on the parameters' backend and
device (step counts are 0-d ``int32`` arrays, as in optax), so ``update``
runs unchanged under ``jax.jit``.  ``params`` and ``grads`` are pytrees
(nested ``dict`` / ``list`` / ``tuple`` of arrays, or any JAX pytree).

The optimizers are chains of small transforms, as in optax's ``alias.py``;
their numbers equal optax's same-named transforms with the same arguments:

==============  ==========================================================
``sgd``         ``chain(trace(momentum, nesterov), scale_by_learning_rate)``
``adagrad``     ``chain(scale_by_rss, scale_by_learning_rate)``
``rmsprop``     ``chain(scale_by_rms | scale_by_stddev, scale_by_learning_rate, trace)``
``adam``        ``chain(scale_by_adam, scale_by_learning_rate)``
``adamw``       ``chain(scale_by_adam, add_decayed_weights, scale_by_learning_rate)``
==============  ==========================================================

``learning_rate`` is a non-negative number or a schedule ``step -> rate``
(see :mod:`portable_ml.schedules`), called with the 0-d integer step count
(0 at the first update).  Scheduled rates are cast to each gradient's dtype,
and bias corrections are computed in the widest float of the device before
the cast, as optax does.

Nesterov momentum follows optax (and PyTorch): the "look-ahead" is a
reparametrisation, :math:`u_t = -\eta\,(g_t + \mu\,m_t)` with
:math:`m_t = g_t + \mu\,m_{t-1}`, so the gradient is taken at the current
parameters rather than at the look-ahead point as on the formula sheets'
NAG; the iterates are the same up to that change of variables.

>>> import numpy
>>> from portable_ml import optimizers as optim
>>> params = {"w": numpy.ones(3)}
>>> opt = optim.adam(0.1)
>>> state = opt.init(params)
>>> updates, state = opt.update({"w": numpy.full(3, 2.0)}, state, params)
>>> optim.apply_updates(params, updates)["w"]
array([0.9, 0.9, 0.9])
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, NamedTuple

from . import gradients as _gradients
from ._validate import check_bool, check_real, check_tree_like
from ._xp import _is_single_device, array_namespace, device_of, is_traced, widest_float_dtype
from .tree import tree_leaves, tree_map, tree_zeros_like

__all__ = [
    "GradientTransformation",
    "EmptyState",
    "ScaleByScheduleState",
    "ScaleByRssState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByAdamState",
    "TraceState",
    "WeightDecaySchedule",
    "identity",
    "chain",
    "scale",
    "scale_by_schedule",
    "scale_by_learning_rate",
    "scale_by_rss",
    "scale_by_rms",
    "scale_by_stddev",
    "scale_by_adam",
    "trace",
    "add_decayed_weights",
    "clip",
    "clip_by_global_norm",
    "sgd",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "apply_updates",
    "Optimizer",
]


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``init(params) -> state`` and
    ``update(updates, state, params=None) -> (updates, state)``."""

    init: Callable[[Any], Any]
    update: Callable[..., tuple]


class EmptyState(NamedTuple):
    """The state of a stateless transformation."""


class ScaleByScheduleState(NamedTuple):
    count: Any  # 0-d int32


class ScaleByRssState(NamedTuple):
    sum_of_squares: Any


class ScaleByRmsState(NamedTuple):
    nu: Any


class ScaleByRmsWithCountState(NamedTuple):
    count: Any
    nu: Any


class ScaleByRStdDevState(NamedTuple):
    mu: Any
    nu: Any


class ScaleByRStdDevWithCountState(NamedTuple):
    count: Any
    mu: Any
    nu: Any


class ScaleByAdamState(NamedTuple):
    count: Any
    mu: Any
    nu: Any


class TraceState(NamedTuple):
    trace: Any


class WeightDecaySchedule(NamedTuple):
    count: Any


# ------------------------------------------------------------ checks
def _check_real(value, name, *, low=None, high=None, low_open=False, high_open=False):
    """Eager check of a hyperparameter: a finite real number, or an array (values checked when concrete)."""
    return check_real(value, name, low=low, high=high, low_open=low_open, high_open=high_open, arrays=True)


def _check_grads(updates, ref, ref_name):
    """``updates`` must match ``ref`` (the parameters, or a state tree built from them): structure,
    leaf shapes and array library; else a ``ValueError``/``TypeError`` naming the leaf."""
    if ref is not None:
        check_tree_like(updates, ref, "grads", ref_name)


_STATE = "the optimizer state (built by init(params))"


def _check_decay(value, name):
    _check_real(value, name, low=0.0, high=1.0, high_open=True)


def _check_rate(value, name="learning_rate"):
    if callable(value):
        return
    _check_real(value, name, low=0.0)


# ------------------------------------------------------------ small helpers
def _namespace(tree):
    """Namespace of a tree's leaves (``None`` for a tree without leaves)."""
    leaves = tree_leaves(tree)
    return array_namespace(*leaves) if leaves else None


def _full(params, value):
    return tree_map(lambda p: array_namespace(p).full_like(p, value), params)


def _zero_count(params):
    """0-d int32 step counter on the backend and device of ``params``.

    On JAX the counter is placed like the moment buffers (``zeros_like`` of
    the leaves): uncommitted when the first leaf is uncommitted, else
    committed to its device or, for a sharded leaf, replicated over its mesh
    (:func:`device_of`).  A state of mixed commitment would make a jitted
    step compile twice: once for ``init``'s state, once for its own output.
    """
    leaves = tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array to place the step count on; got an empty tree")
    xp = array_namespace(*leaves)
    if not is_traced(leaves[0]) and getattr(leaves[0], "committed", None) is False:
        return xp.zeros((), dtype=xp.int32)
    dev = device_of(leaves[0])
    if dev is not None and not _is_single_device(dev) and not getattr(dev, "is_fully_replicated", False):
        dev = None  # a sharding that cannot hold a scalar: the default placement
    return xp.zeros((), dtype=xp.int32, device=dev)


def _increment(count):
    """``count + 1``, saturating at the dtype's maximum (optax's ``safe_increment``)."""
    xp = array_namespace(count)
    return xp.where(count < xp.iinfo(count.dtype).max, count + 1, count)


def _bias_correction(tree, decay, count):
    r"""``tree / (1 - decay**count)``, the factor in the device's widest float, then cast."""
    xp = array_namespace(count)
    wide = widest_float_dtype(xp, count)
    base = xp.asarray(decay, dtype=wide, device=device_of(count))
    factor = 1.0 - xp.pow(base, xp.astype(count, wide))
    return tree_map(lambda t: t / xp.astype(factor, t.dtype), tree)


def _scalar_as(value, like, xp):
    """A (Python or 0-d array) scalar as a 0-d array of ``like``'s dtype and device."""
    if hasattr(value, "dtype"):
        return value if value.dtype == like.dtype else xp.astype(value, like.dtype)
    return xp.asarray(value, dtype=like.dtype, device=device_of(like))


# ------------------------------------------------------------ combinators
def identity():
    """The transformation that leaves updates unchanged."""

    def init(params):
        return EmptyState()

    def update(updates, state, params=None):
        return updates, state

    return GradientTransformation(init, update)


def chain(*transforms):
    r"""Apply ``transforms`` in sequence; the state is the tuple of their states.

    Any object with optax's ``init``/``update`` protocol may take part,
    including optax's own transformations (with JAX arrays).
    """
    for i, t in enumerate(transforms):
        if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
            raise TypeError(f"chain: argument {i} is not a gradient transformation (init, update); got {t!r}")

    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(updates, state, params=None):
        if len(state) != len(transforms):
            raise ValueError(f"chain: expected a state of {len(transforms)} entries; got {len(state)}")
        _check_grads(updates, params, "params")
        new_state = []
        for t, s in zip(transforms, state):
            updates, s = t.update(updates, s, params)
            new_state.append(s)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


# ------------------------------------------------------------ learning rate
def scale(step_size):
    r"""Multiply updates by a fixed ``step_size``: :math:`u \leftarrow s\,u`."""
    _check_real(step_size, "step_size")

    def update(updates, state, params=None):
        return tree_map(lambda g: step_size * g, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_schedule(step_size_fn):
    r"""Multiply updates by ``step_size_fn(count)``: :math:`u \leftarrow s(t)\,u`.

    The state holds the step count ``t`` (0-d int32, 0 at the first update);
    the scheduled value is cast to each update's dtype.
    """
    if not callable(step_size_fn):
        raise TypeError(f"step_size_fn must be callable; got {type(step_size_fn).__name__}")

    def init(params):
        return ScaleByScheduleState(count=_zero_count(params))

    def update(updates, state, params=None):
        s = step_size_fn(state.count)
        xp = _namespace(updates)
        updates = tree_map(lambda g: _scalar_as(s, g, xp) * g, updates)
        return updates, ScaleByScheduleState(count=_increment(state.count))

    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate, *, flip_sign=True):
    r"""Multiply updates by :math:`-\eta` (or :math:`\eta` with ``flip_sign=False``).

    ``learning_rate`` is a number :math:`\ge 0` or a schedule ``step -> rate``.
    """
    _check_rate(learning_rate)
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * learning_rate(count))
    return scale(sign * learning_rate)


# ------------------------------------------------------------ preconditioners
def scale_by_rss(*, initial_accumulator_value=0.1, eps=1e-7):
    r"""Divide by the root of the sum of all squared gradients so far (Adagrad).

    .. math::
        G_t = G_{t-1} + g_t^2,\quad G_0 = a,\qquad
        u_t = \begin{cases} g_t / \sqrt{G_t + \epsilon} & G_t > 0 \\ 0 & G_t = 0 \end{cases}
    """
    _check_real(initial_accumulator_value, "initial_accumulator_value", low=0.0)
    _check_real(eps, "eps", low=0.0)

    def init(params):
        return ScaleByRssState(sum_of_squares=_full(params, initial_accumulator_value))

    def update(updates, state, params=None):
        _check_grads(updates, state.sum_of_squares, _STATE)
        xp = _namespace(updates)
        sos = tree_map(lambda g, t: g * g + t, updates, state.sum_of_squares)

        def step(g, t):
            # the factor is 0 where G_t is not positive (also NaN), then multiplies g, as in
            # optax: a NaN gradient gives a NaN update instead of silently freezing the parameter
            pos = t > 0
            return xp.where(pos, 1.0 / xp.sqrt(xp.where(pos, t + eps, xp.ones_like(t))), xp.zeros_like(t)) * g

        return tree_map(step, updates, sos), ScaleByRssState(sum_of_squares=sos)

    return GradientTransformation(init, update)


def _ema(g, t, decay):
    return (1 - decay) * g + decay * t


def _ema_sq(g, t, decay):
    return (1 - decay) * (g * g) + decay * t


def _rsqrt_scale(g, v, eps, eps_in_sqrt, xp):
    return g / (xp.sqrt(v + eps) if eps_in_sqrt else xp.sqrt(v) + eps)


def scale_by_rms(*, decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True, bias_correction=False):
    r"""Divide by the root of an exponential moving average of squared gradients (RMSProp).

    .. math::
        v_t = \rho\,v_{t-1} + (1 - \rho)\,g_t^2,\quad v_0 = v_{\mathrm{init}},\qquad
        u_t = \frac{g_t}{\sqrt{\hat v_t + \epsilon}}

    (:math:`\sqrt{\hat v_t} + \epsilon` with ``eps_in_sqrt=False``), where
    :math:`\hat v_t = v_t / (1 - \rho^t)` with ``bias_correction`` and
    :math:`v_t` otherwise.
    """
    _check_decay(decay, "decay")
    _check_real(eps, "eps", low=0.0)
    _check_real(initial_scale, "initial_scale", low=0.0)

    def init(params):
        nu = _full(params, initial_scale)
        return ScaleByRmsWithCountState(_zero_count(params), nu) if bias_correction else ScaleByRmsState(nu)

    def update(updates, state, params=None):
        _check_grads(updates, state.nu, _STATE)
        xp = _namespace(updates)
        nu = tree_map(lambda g, t: _ema_sq(g, t, decay), updates, state.nu)
        if bias_correction:
            count = _increment(state.count)
            nu_hat = _bias_correction(nu, decay, count)
        else:
            nu_hat = nu
        updates = tree_map(lambda g, v: _rsqrt_scale(g, v, eps, eps_in_sqrt, xp), updates, nu_hat)
        return updates, (ScaleByRmsWithCountState(count, nu) if bias_correction else ScaleByRmsState(nu))

    return GradientTransformation(init, update)


def scale_by_stddev(*, decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True, bias_correction=False):
    r"""Divide by the root of a centred moving variance of gradients (centred RMSProp).

    .. math::
        m_t = \rho\,m_{t-1} + (1 - \rho)\,g_t,\quad
        v_t = \rho\,v_{t-1} + (1 - \rho)\,g_t^2,\qquad
        u_t = \frac{g_t}{\sqrt{\hat v_t - \hat m_t^2 + \epsilon}}

    with the same ``eps_in_sqrt`` and ``bias_correction`` options as
    :func:`scale_by_rms`.
    """
    _check_decay(decay, "decay")
    _check_real(eps, "eps", low=0.0)
    _check_real(initial_scale, "initial_scale", low=0.0)

    def init(params):
        mu, nu = tree_zeros_like(params), _full(params, initial_scale)
        if bias_correction:
            return ScaleByRStdDevWithCountState(_zero_count(params), mu, nu)
        return ScaleByRStdDevState(mu, nu)

    def update(updates, state, params=None):
        _check_grads(updates, state.nu, _STATE)
        xp = _namespace(updates)
        mu = tree_map(lambda g, t: _ema(g, t, decay), updates, state.mu)
        nu = tree_map(lambda g, t: _ema_sq(g, t, decay), updates, state.nu)
        if bias_correction:
            count = _increment(state.count)
            mu_hat, nu_hat = _bias_correction(mu, decay, count), _bias_correction(nu, decay, count)
        else:
            mu_hat, nu_hat = mu, nu
        updates = tree_map(lambda g, m, v: _rsqrt_scale(g, v - m * m, eps, eps_in_sqrt, xp),
                           updates, mu_hat, nu_hat)
        if bias_correction:
            return updates, ScaleByRStdDevWithCountState(count, mu, nu)
        return updates, ScaleByRStdDevState(mu, nu)

    return GradientTransformation(init, update)


def scale_by_adam(*, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=False):
    r"""Rescale updates by Adam's bias-corrected moment estimates.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2,\\
        \hat m_t = \frac{m_t}{1 - \beta_1^t},\quad
        \hat v_t = \frac{v_t}{1 - \beta_2^t},\qquad
        u_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon}

    with :math:`t` counted from 1.  With ``nesterov=True`` (NAdam),
    :math:`\hat m_t = \beta_1 m_t / (1 - \beta_1^{t+1}) + (1 - \beta_1) g_t / (1 - \beta_1^t)`.
    The moments keep the parameters' dtype.
    """
    _check_decay(b1, "b1")
    _check_decay(b2, "b2")
    _check_real(eps, "eps", low=0.0)
    _check_real(eps_root, "eps_root", low=0.0)

    def init(params):
        return ScaleByAdamState(count=_zero_count(params), mu=tree_zeros_like(params), nu=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.mu, _STATE)
        xp = _namespace(updates)
        mu = tree_map(lambda g, t: _ema(g, t, b1), updates, state.mu)
        nu = tree_map(lambda g, t: _ema_sq(g, t, b2), updates, state.nu)
        count = _increment(state.count)
        if nesterov:
            mu_hat = tree_map(lambda m, g: b1 * m + (1 - b1) * g,
                              _bias_correction(mu, b1, _increment(count)),
                              _bias_correction(updates, b1, count))
        else:
            mu_hat = _bias_correction(mu, b1, count)
        nu_hat = _bias_correction(nu, b2, count)
        if eps_root:
            updates = tree_map(lambda m, v: m / (xp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        else:  # the default: no pass over the moments to add a zero
            updates = tree_map(lambda m, v: m / (xp.sqrt(v) + eps), mu_hat, nu_hat)
        nu = tree_map(lambda v, old: v if v.dtype == old.dtype else xp.astype(v, old.dtype), nu, state.nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def trace(decay, *, nesterov=False):
    r"""Momentum: a decaying sum of past updates.

    .. math::
        m_t = g_t + \mu\,m_{t-1},\qquad
        u_t = \begin{cases} g_t + \mu\,m_t & \text{Nesterov} \\ m_t & \text{otherwise} \end{cases}
    """
    _check_decay(decay, "decay")
    nesterov = check_bool(nesterov, "nesterov")

    def init(params):
        return TraceState(trace=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.trace, _STATE)
        new = tree_map(lambda g, t: g + decay * t, updates, state.trace)
        out = tree_map(lambda g, t: g + decay * t, updates, new) if nesterov else new
        return out, TraceState(trace=new)

    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay=0.0, *, mask=None):
    r"""Add the parameters scaled by ``weight_decay``: :math:`u \leftarrow u + \lambda\,\theta`.

    Parameters
    ----------
    weight_decay : float or callable
        :math:`\lambda \ge 0`, or a schedule ``step -> rate`` (then the state
        counts steps).
    mask : pytree of bool or callable, optional
        ``True`` where weight decay applies: a tree of Python bools with the
        structure of the parameters, or a function ``params -> such a tree``
        (e.g. to skip biases).  ``None`` applies it everywhere.

    ``update`` needs ``params``; without them it raises ``ValueError``.
    """
    _check_rate(weight_decay, "weight_decay")
    if mask is not None and not callable(mask) and not tree_leaves(mask):
        raise ValueError("mask must be a pytree of bools with the structure of params, or a callable")

    def init(params):
        return WeightDecaySchedule(count=_zero_count(params)) if callable(weight_decay) else EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("add_decayed_weights needs the parameters: call update(updates, state, params)")
        _check_grads(updates, params, "params")
        if callable(weight_decay):
            s, new_state = weight_decay(state.count), WeightDecaySchedule(count=_increment(state.count))
        else:
            s, new_state = weight_decay, state
            if isinstance(s, numbers.Real) and s == 0:
                return updates, new_state
        xp = _namespace(updates)

        def decayed(g, p):
            return g + (_scalar_as(s, g, xp) if hasattr(s, "dtype") else s) * p

        if mask is None:
            return tree_map(decayed, updates, params), new_state
        m = mask(params) if callable(mask) else mask
        for leaf in tree_leaves(m):
            if not isinstance(leaf, bool):
                raise TypeError(f"mask leaves must be Python bools; got {type(leaf).__name__}")
        return tree_map(lambda g, p, keep: decayed(g, p) if keep else g, updates, params, m), new_state

    return GradientTransformation(init, update)


# ------------------------------------------------------------ clipping
def clip(max_delta):
    r"""Clip every update elementwise to :math:`[-\delta, \delta]`."""
    _check_real(max_delta, "max_delta", low=0.0)

    def update(updates, state, params=None):
        xp = _namespace(updates)
        return tree_map(lambda g: xp.clip(g, -max_delta, max_delta), updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def clip_by_global_norm(max_norm):
    r"""Rescale all updates together when their global norm exceeds ``max_norm``.

    .. math::
        \|g\| = \sqrt{\textstyle\sum_\ell \sum_i g_{\ell i}^2},\qquad
        u = \begin{cases} g & \|g\| < c \\ g\,c / \|g\| & \text{otherwise} \end{cases}
    """
    _check_real(max_norm, "max_norm", low=0.0, low_open=True)

    def update(updates, state, params=None):
        if not tree_leaves(updates):
            return updates, state
        return _gradients.clip_by_global_norm(updates, max_norm)[0], state

    return GradientTransformation(lambda params: EmptyState(), update)


# ------------------------------------------------------------ optimizers
def sgd(learning_rate, *, momentum=None, nesterov=False):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    .. math::
        u_t = -\eta_t\,g_t \quad\text{(plain)},\qquad
        m_t = g_t + \mu\,m_{t-1},\;
        u_t = -\eta_t \begin{cases} g_t + \mu\,m_t & \text{Nesterov} \\ m_t & \text{otherwise} \end{cases}

    Equals ``optax.sgd(learning_rate, momentum, nesterov)``; ``momentum`` and
    ``nesterov`` are keyword-only here (only ``learning_rate`` is positional).

    Parameters
    ----------
    learning_rate : float or callable
        :math:`\eta \ge 0` or a schedule.
    momentum : float, optional
        :math:`\mu \in [0, 1)`; ``None`` for plain SGD.
    nesterov : bool
        Nesterov momentum; it needs ``momentum`` (optax would silently ignore it).
    """
    nesterov = check_bool(nesterov, "nesterov")
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum; got momentum=None")
    if momentum is not None:
        _check_decay(momentum, "momentum")
    _check_rate(learning_rate)
    first = trace(momentum, nesterov=nesterov) if momentum is not None else identity()
    return chain(first, scale_by_learning_rate(learning_rate))


def adagrad(learning_rate, *, initial_accumulator_value=0.1, eps=1e-7):
    r"""Adagrad: per-coordinate rates from the sum of squared gradients.

    .. math::
        G_t = a + \sum_{s \le t} g_s^2,\qquad
        u_t = -\eta_t\, \frac{g_t}{\sqrt{G_t + \epsilon}}

    Equals ``optax.adagrad`` with the same arguments (note optax's ``eps``
    sits inside the square root and the accumulator starts at ``0.1``).
    """
    return chain(scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
                 scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate, *, decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True, centered=False,
            momentum=None, nesterov=False, bias_correction=False):
    r"""RMSProp, optionally centred and with momentum.

    .. math::
        v_t = \rho\,v_{t-1} + (1 - \rho)\,g_t^2,\qquad
        u_t = -\eta_t\,\frac{g_t}{\sqrt{v_t + \epsilon}}

    (centred: :math:`\sqrt{v_t - m_t^2 + \epsilon}` with
    :math:`m_t = \rho\,m_{t-1} + (1 - \rho)\,g_t`); with ``momentum`` the
    scaled step then goes through :func:`trace`.  As in optax, ``eps`` is
    inside the square root by default (``eps_in_sqrt=False`` gives PyTorch's
    :math:`\sqrt{v_t} + \epsilon`).  Equals ``optax.rmsprop`` with the same
    arguments.
    """
    nesterov = check_bool(nesterov, "nesterov")
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum; got momentum=None")
    if momentum is not None:
        _check_decay(momentum, "momentum")
    _check_rate(learning_rate)
    opts = dict(decay=decay, eps=eps, initial_scale=initial_scale, eps_in_sqrt=eps_in_sqrt,
                bias_correction=bias_correction)
    return chain(
        scale_by_stddev(**opts) if centered else scale_by_rms(**opts),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov=nesterov) if momentum is not None else identity(),
    )


def adam(learning_rate=1e-3, *, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=False):
    r"""Adam (Kingma & Ba, 2015).

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2,\\
        u_t = -\eta_t\,\frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon}

    ``nesterov=True`` gives NAdam.  Equals ``optax.adam`` with the same arguments.
    """
    return chain(scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


def adamw(learning_rate=1e-3, *, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, weight_decay=1e-4, mask=None,
          nesterov=False):
    r"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019).

    .. math:: u_t = -\eta_t\,\bigl(\mathrm{adam}_t + \lambda\,\theta_{t-1}\bigr)

    where :math:`\mathrm{adam}_t` is :func:`scale_by_adam`'s step; the decay
    is scaled by the learning rate, as in optax and PyTorch.  ``mask`` is
    passed to :func:`add_decayed_weights`.  Equals ``optax.adamw`` with the
    same arguments.
    """
    return chain(scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
                 add_decayed_weights(weight_decay, mask=mask),
                 scale_by_learning_rate(learning_rate))


def apply_updates(params, updates):
    r"""``params + updates`` leafwise, each result in its parameter's dtype."""

    def add(p, u):
        out = p + u
        return out if out.dtype == p.dtype else array_namespace(out).astype(out, p.dtype)

    check_tree_like(updates, params, "updates", "params")
    return tree_map(add, params, updates)


class Optimizer:
    """A stateful convenience wrapper for plain training loops.

    >>> opt = Optimizer(adam(1e-2), params)          # doctest: +SKIP
    >>> for x, y in batches:                          # doctest: +SKIP
    ...     params = opt.step(grad_fn(opt.params, x, y))

    Parameters
    ----------
    opt : GradientTransformation
        The transformation to apply.
    params : pytree
        Initial parameters; ``opt.init(params)`` gives the initial state.
    jit : callable, optional
        A compiler for the pure step ``(grads, state, params) -> (params,
        state)``, e.g. ``jax.jit`` or ``Backend.jit``.

    Attributes
    ----------
    params, state
        The current parameters and optimizer state.
    """

    def __init__(self, opt, params, *, jit=None):
        self.opt = opt
        self.params = params
        self.state = opt.init(params)

        def pure_step(grads, state, params):
            updates, state = opt.update(grads, state, params)
            return apply_updates(params, updates), state

        self._step = jit(pure_step) if jit is not None else pure_step

    def step(self, grads):
        """Apply one update from ``grads``; returns the new parameters."""
        self.params, self.state = self._step(grads, self.state, self.params)
        return self.params

    def __repr__(self):
        return f"Optimizer(params with {len(tree_leaves(self.params))} arrays)"
