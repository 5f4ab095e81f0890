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
``nadam``       ``adam(..., nesterov=True)``
``radam``       ``chain(scale_by_radam, scale_by_learning_rate)``
``adamax``      ``chain(scale_by_adamax, scale_by_learning_rate)``
``adabelief``   ``chain(scale_by_belief, scale_by_learning_rate)``
``amsgrad``     ``chain(scale_by_amsgrad, scale_by_learning_rate)``
``yogi``        ``chain(scale_by_yogi, scale_by_learning_rate)``
``lion``        ``chain(scale_by_lion, add_decayed_weights, scale_by_learning_rate)``
``lamb``        ``chain(scale_by_adam, add_decayed_weights, scale_by_trust_ratio, scale_by_learning_rate)``
``lars``        ``chain(add_decayed_weights, masked(scale_by_trust_ratio), scale_by_learning_rate, trace)``
``adadelta``    ``chain(add_decayed_weights, scale_by_adadelta, scale_by_learning_rate)``
``adafactor``   ``chain(scale_by_factored_rms, clip_by_block_rms, ..., scale(-1))``
``noisy_sgd``   ``chain(add_noise, scale_by_learning_rate)``
==============  ==========================================================

Wrappers, as in optax: :func:`multi_steps` / :class:`MultiSteps` (gradient
accumulation), :func:`apply_every`, :func:`masked`, :func:`lookahead`,
:func:`inject_hyperparams` (hyperparameters in the state) and :func:`ema`
(an exponential moving average, of updates or of parameters).

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

import math
import numbers
from typing import Any, Callable, NamedTuple

from . import gradients as _gradients
from ._validate import check_bool, check_choice, check_int, check_real, check_tree_like
from ._xp import _compat, array_namespace, device_of, is_single_device, is_traced, widest_float_dtype
from ._xp import sign as _xp_sign
from .tree import tree_flatten, tree_leaves, tree_map, tree_structure, tree_zeros_like

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
    "ScaleByBeliefState",
    "ScaleByAdaDeltaState",
    "ScaleByAmsgradState",
    "ScaleByLionState",
    "AddNoiseState",
    "FactoredState",
    "EmaState",
    "DampenedTraceState",
    "ApplyEvery",
    "MaskedState",
    "MaskedNode",
    "MultiStepsState",
    "LookaheadState",
    "LookaheadParams",
    "WrappedScheduleState",
    "InjectHyperparamsState",
    "scale_by_belief",
    "scale_by_adadelta",
    "scale_by_amsgrad",
    "scale_by_radam",
    "scale_by_yogi",
    "scale_by_adamax",
    "scale_by_lion",
    "scale_by_trust_ratio",
    "scale_by_factored_rms",
    "scale_by_param_block_rms",
    "clip_by_block_rms",
    "add_noise",
    "ema",
    "apply_every",
    "masked",
    "MultiSteps",
    "multi_steps",
    "skip_not_finite",
    "lookahead",
    "inject_hyperparams",
    "nadam",
    "radam",
    "adamax",
    "adabelief",
    "amsgrad",
    "yogi",
    "lion",
    "lamb",
    "lars",
    "adadelta",
    "adafactor",
    "noisy_sgd",
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
    """Namespace of a tree's leaves (``None`` for a tree without leaves).

    NumPy's 0-d arithmetic returns NumPy scalars, which :func:`array_namespace`
    takes for Python numbers: a tree of only such leaves (all parameters 0-d)
    is NumPy's.
    """
    leaves = tree_leaves(tree)
    if not leaves:
        return None
    try:
        return array_namespace(*leaves)
    except TypeError:
        if all(type(x).__module__ == "numpy" for x in leaves):
            return _compat.array_namespace(*leaves)
        raise


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
    if dev is not None and not is_single_device(dev) and not getattr(dev, "is_fully_replicated", False):
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


def _scalar_as(value, like, *, xp):
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
        updates = tree_map(lambda g: _scalar_as(s, g, xp=xp) * g, updates)
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


def _adam_moments(updates, state, b1, b2):
    """Adam's moment step: m ← b1·m + (1−b1)·g, v ← b2·v + (1−b2)·g², count + 1."""
    mu = tree_map(lambda g, t: _ema(g, t, b1), updates, state.mu)
    nu = tree_map(lambda g, t: _ema_sq(g, t, b2), updates, state.nu)
    return mu, nu, _increment(state.count)


def _rsqrt_scale(g, v, eps, eps_in_sqrt, *, xp):
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
        updates = tree_map(lambda g, v: _rsqrt_scale(g, v, eps, eps_in_sqrt, xp=xp), updates, nu_hat)
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
        updates = tree_map(lambda g, m, v: _rsqrt_scale(g, v - m * m, eps, eps_in_sqrt, xp=xp),
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
        mu, nu, count = _adam_moments(updates, state, b1, b2)
        if nesterov:
            mu_hat = tree_map(lambda m, g: b1 * m + (1 - b1) * g,
                              _bias_correction(mu, b1, _increment(count)),
                              _bias_correction(updates, b1, count))
        else:
            mu_hat = _bias_correction(mu, b1, count)
        nu_hat = _bias_correction(nu, b2, count)
        if not (isinstance(eps_root, numbers.Real) and eps_root == 0):
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
            return g + (_scalar_as(s, g, xp=xp) if hasattr(s, "dtype") else s) * p

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


# ------------------------------------------------------------ more preconditioners (optax's transform.py)
def _widest(count):
    """``count`` (0-d int array) as the device's widest float, and that namespace."""
    xp = array_namespace(count)
    return xp.astype(count, widest_float_dtype(xp, count)), xp


def _nesterov_mu_hat(mu, updates, b1, count):
    r""":math:`\beta_1 m_t / (1 - \beta_1^{t+1}) + (1 - \beta_1) g_t / (1 - \beta_1^t)` (optax's Nesterov form)."""
    return tree_map(lambda m, g: b1 * m + (1 - b1) * g,
                    _bias_correction(mu, b1, _increment(count)), _bias_correction(updates, b1, count))


class ScaleByBeliefState(NamedTuple):
    count: Any
    mu: Any
    nu: Any


class ScaleByAdaDeltaState(NamedTuple):
    e_g: Any
    e_x: Any


class ScaleByAmsgradState(NamedTuple):
    count: Any
    mu: Any
    nu: Any
    nu_max: Any


class ScaleByLionState(NamedTuple):
    count: Any
    mu: Any


class AddNoiseState(NamedTuple):
    count: Any
    rng_key: Any  # 0-d int32 seed of the counter-based generator


class FactoredState(NamedTuple):
    count: Any
    v_row: Any
    v_col: Any
    v: Any


class EmaState(NamedTuple):
    count: Any
    ema: Any


class DampenedTraceState(NamedTuple):
    count: Any
    trace: Any


def scale_by_belief(*, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, nesterov=False):
    r"""Rescale updates by AdaBelief's moments: the variance of the gradient around its mean.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t,\quad
        s_t = \beta_2 s_{t-1} + (1 - \beta_2) (g_t - m_t)^2 + \epsilon_{\mathrm{root}},\\
        u_t = \frac{m_t / (1 - \beta_1^t)}{\sqrt{s_t / (1 - \beta_2^t)} + \epsilon}

    (``nesterov=True``: the NAdam form of :math:`\hat m_t`, as in :func:`scale_by_adam`).
    Equals ``optax.scale_by_belief``.
    """
    _check_decay(b1, "b1")
    _check_decay(b2, "b2")
    _check_real(eps, "eps", low=0.0)
    _check_real(eps_root, "eps_root", low=0.0)
    nesterov = check_bool(nesterov, "nesterov")

    def init(params):
        return ScaleByBeliefState(count=_zero_count(params), mu=tree_zeros_like(params), nu=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.mu, _STATE)
        xp = _namespace(updates)
        mu = tree_map(lambda g, t: _ema(g, t, b1), updates, state.mu)
        nu = tree_map(lambda g, m, t: _ema_sq(g - m, t, b2) + eps_root, updates, mu, state.nu)
        count = _increment(state.count)
        mu_hat = _nesterov_mu_hat(mu, updates, b1, count) if nesterov else _bias_correction(mu, b1, count)
        nu_hat = _bias_correction(nu, b2, count)
        updates = tree_map(lambda m, v: m / (xp.sqrt(v) + eps), mu_hat, nu_hat)
        return updates, ScaleByBeliefState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def scale_by_adadelta(*, rho=0.9, eps=1e-6):
    r"""Rescale updates as Adadelta: the RMS of past steps over the RMS of gradients.

    .. math::
        E[g^2]_t = \rho E[g^2]_{t-1} + (1 - \rho) g_t^2,\quad
        u_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\, g_t,\quad
        E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1 - \rho) u_t^2

    Equals ``optax.scale_by_adadelta``.
    """
    _check_decay(rho, "rho")
    _check_real(eps, "eps", low=0.0)

    def init(params):
        return ScaleByAdaDeltaState(e_g=tree_zeros_like(params), e_x=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.e_g, _STATE)
        xp = _namespace(updates)
        e_g = tree_map(lambda g, t: _ema_sq(g, t, rho), updates, state.e_g)
        updates = tree_map(lambda g, eg, ex: (xp.sqrt(ex + eps) / xp.sqrt(eg + eps)) * g, updates, e_g, state.e_x)
        e_x = tree_map(lambda u, t: _ema_sq(u, t, rho), updates, state.e_x)
        return updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)

    return GradientTransformation(init, update)


def scale_by_amsgrad(*, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, bias_correction_mu=True,
                     bias_correction_nu=True):
    r"""Rescale updates by AMSGrad: Adam with the running maximum of the (bias-corrected) second moment.

    .. math::
        \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, \hat v_t),\qquad
        u_t = \frac{\hat m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{\mathrm{root}}} + \epsilon}

    with :math:`\hat m_t, \hat v_t` as in :func:`scale_by_adam` (uncorrected
    when ``bias_correction_mu`` / ``bias_correction_nu`` is false).  Equals
    ``optax.scale_by_amsgrad``; the maximum is over the *corrected* moment
    (Keras takes it over the raw one).
    """
    _check_decay(b1, "b1")
    _check_decay(b2, "b2")
    _check_real(eps, "eps", low=0.0)
    _check_real(eps_root, "eps_root", low=0.0)
    bias_correction_mu = check_bool(bias_correction_mu, "bias_correction_mu")
    bias_correction_nu = check_bool(bias_correction_nu, "bias_correction_nu")

    def init(params):
        return ScaleByAmsgradState(count=_zero_count(params), mu=tree_zeros_like(params), nu=tree_zeros_like(params),
                                   nu_max=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.mu, _STATE)
        xp = _namespace(updates)
        mu, nu, count = _adam_moments(updates, state, b1, b2)
        mu_hat = _bias_correction(mu, b1, count) if bias_correction_mu else mu
        nu_eff = _bias_correction(nu, b2, count) if bias_correction_nu else nu
        nu_max = tree_map(xp.maximum, state.nu_max, nu_eff)
        updates = tree_map(lambda m, v: m / (xp.sqrt(v + eps_root) + eps), mu_hat, nu_max)
        return updates, ScaleByAmsgradState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return GradientTransformation(init, update)


def scale_by_radam(*, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, nesterov=False):
    r"""Rectified Adam (Liu et al., 2020): Adam's step rectified by the variance of its adaptive rate.

    .. math::
        \rho_\infty = \frac{2}{1 - \beta_2} - 1,\quad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t},\quad
        r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}},\\
        u_t = \begin{cases} r_t\, \hat m_t / (\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon)
              & \rho_t \ge \text{threshold} \\ \hat m_t & \text{otherwise} \end{cases}

    Equals ``optax.scale_by_radam``.
    """
    _check_decay(b1, "b1")
    _check_decay(b2, "b2")
    _check_real(eps, "eps", low=0.0)
    _check_real(eps_root, "eps_root", low=0.0)
    _check_real(threshold, "threshold")
    nesterov = check_bool(nesterov, "nesterov")
    ro_inf = 2.0 / (1.0 - b2) - 1.0

    def init(params):
        return ScaleByAdamState(count=_zero_count(params), mu=tree_zeros_like(params), nu=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.mu, _STATE)
        xp = _namespace(updates)
        mu, nu, count = _adam_moments(updates, state, b1, b2)
        t, cxp = _widest(count)
        b2t = cxp.pow(cxp.asarray(b2, dtype=t.dtype, device=device_of(t)), t)
        ro = ro_inf - 2 * t * b2t / (1 - b2t)
        # the rectifier's argument is negative while rho_t < 4: that branch is discarded below
        arg = (ro - 4.0) * (ro - 2.0) * ro_inf / ((ro_inf - 4.0) * (ro_inf - 2.0) * ro)
        r = cxp.sqrt(cxp.where(arg > 0, arg, cxp.zeros_like(arg)))
        use = ro >= threshold
        mu_hat = _nesterov_mu_hat(mu, updates, b1, count) if nesterov else _bias_correction(mu, b1, count)
        nu_hat = _bias_correction(nu, b2, count)
        updates = tree_map(
            lambda m, v: xp.where(use, xp.astype(r, m.dtype) * m / (xp.sqrt(v + eps_root) + eps), m),
            mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def scale_by_yogi(*, b1=0.9, b2=0.999, eps=1e-3, eps_root=0.0, initial_accumulator_value=1e-6):
    r"""Rescale updates by Yogi's moments (Zaheer et al., 2018): an additive second-moment update.

    .. math::
        v_t = v_{t-1} - (1 - \beta_2)\,\mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2,\qquad
        u_t = \frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon}

    with both moments starting at ``initial_accumulator_value`` and bias
    corrected as in Adam.  Equals ``optax.scale_by_yogi``.
    """
    _check_decay(b1, "b1")
    _check_decay(b2, "b2")
    _check_real(eps, "eps", low=0.0)
    _check_real(eps_root, "eps_root", low=0.0)
    _check_real(initial_accumulator_value, "initial_accumulator_value", low=0.0)

    def init(params):
        return ScaleByAdamState(count=_zero_count(params), mu=_full(params, initial_accumulator_value),
                                nu=_full(params, initial_accumulator_value))

    def update(updates, state, params=None):
        _check_grads(updates, state.mu, _STATE)
        xp = _namespace(updates)
        mu = tree_map(lambda g, t: _ema(g, t, b1), updates, state.mu)
        nu = tree_map(lambda g, v: v - (1 - b2) * _xp_sign(v - g * g, xp) * (g * g), updates, state.nu)
        count = _increment(state.count)
        mu_hat, nu_hat = _bias_correction(mu, b1, count), _bias_correction(nu, b2, count)
        updates = tree_map(lambda m, v: m / (xp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def scale_by_adamax(*, b1=0.9, b2=0.999, eps=1e-8):
    r"""Rescale updates by AdaMax's moments: Adam with the infinity norm.

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t,\quad
        v_t = \max(|g_t| + \epsilon, \beta_2 v_{t-1}),\qquad
        u_t = \frac{m_t}{(1 - \beta_1^t)\, v_t}

    Equals ``optax.scale_by_adamax``.
    """
    _check_decay(b1, "b1")
    _check_decay(b2, "b2")
    _check_real(eps, "eps", low=0.0)

    def init(params):
        return ScaleByAdamState(count=_zero_count(params), mu=tree_zeros_like(params), nu=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.mu, _STATE)
        xp = _namespace(updates)
        count = _increment(state.count)
        mu = tree_map(lambda g, t: _ema(g, t, b1), updates, state.mu)
        nu = tree_map(lambda g, t: xp.maximum(xp.abs(g) + eps, b2 * t), updates, state.nu)
        updates = tree_map(lambda m, v: m / v, _bias_correction(mu, b1, count), nu)
        return updates, ScaleByAdamState(count=count, mu=mu, nu=nu)

    return GradientTransformation(init, update)


def scale_by_lion(*, b1=0.9, b2=0.99):
    r"""Rescale updates by Lion's sign of an interpolated momentum (Chen et al., 2023).

    .. math::
        u_t = \mathrm{sign}\bigl((1 - \beta_1) g_t + \beta_1 m_{t-1}\bigr),\qquad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t

    Equals ``optax.scale_by_lion`` (its default ``mode="hard"``).
    """
    _check_decay(b1, "b1")
    _check_decay(b2, "b2")

    def init(params):
        return ScaleByLionState(count=_zero_count(params), mu=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.mu, _STATE)
        xp = _namespace(updates)
        new = tree_map(lambda g, m: _xp_sign((1.0 - b1) * g + b1 * m, xp), updates, state.mu)
        mu = tree_map(lambda g, t: _ema(g, t, b2), updates, state.mu)
        return new, ScaleByLionState(count=_increment(state.count), mu=mu)

    return GradientTransformation(init, update)


def _norm(x, *, xp):
    return xp.sqrt(xp.sum(x * x))


def _safe_norm(x, min_norm, *, xp):
    r""":math:`\max(\|x\|, \text{min\_norm})` without a NaN gradient at :math:`x = 0` (optax's ``safe_norm``)."""
    norm = _norm(x, xp=xp)
    small = norm <= min_norm
    masked = _norm(xp.where(small, xp.ones_like(x), x), xp=xp)
    return xp.where(small, xp.asarray(min_norm, dtype=norm.dtype, device=device_of(norm)), masked)


def scale_by_trust_ratio(*, min_norm=0.0, trust_coefficient=1.0, eps=0.0):
    r"""Scale each leaf by its trust ratio (LARS / LAMB).

    .. math::
        u \leftarrow u \cdot \begin{cases}
            c\,\|\theta\| / (\|u\| + \epsilon) & \|\theta\| > 0 \text{ and } \|u\| > 0 \\
            1 & \text{otherwise} \end{cases}

    with both norms at least ``min_norm``.  Needs ``params``.  Equals
    ``optax.scale_by_trust_ratio``.
    """
    _check_real(min_norm, "min_norm", low=0.0)
    _check_real(trust_coefficient, "trust_coefficient", low=0.0)
    _check_real(eps, "eps", low=0.0)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_trust_ratio needs the parameters: call update(updates, state, params)")
        _check_grads(updates, params, "params")
        xp = _namespace(updates)

        def one(u, p):
            pn, un = _safe_norm(p, min_norm, xp=xp), _safe_norm(u, min_norm, xp=xp)
            ratio = trust_coefficient * pn / (un + eps)
            zero = xp.logical_or(pn == 0.0, un == 0.0)
            return u * xp.where(zero, xp.ones_like(ratio), ratio)

        return tree_map(one, updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)


# ------------------------------------------------------------ noise (a counter-based generator)
_M32 = 0xFFFFFFFF


def _i32(c):
    """A 32-bit constant as the int32 with the same bits."""
    return c - (1 << 32) if c >= 1 << 31 else c


def _hash32(x, *, xp):
    """Wellons' ``lowbias32`` integer hash on int32 arrays (wrap-around products, logical shifts)."""
    x = xp.bitwise_xor(x, xp.bitwise_and(xp.bitwise_right_shift(x, 16), 0xFFFF))
    x = x * _i32(0x7FEB352D)
    x = xp.bitwise_xor(x, xp.bitwise_and(xp.bitwise_right_shift(x, 15), 0x1FFFF))
    x = x * _i32(0x846CA68B)
    return xp.bitwise_xor(x, xp.bitwise_and(xp.bitwise_right_shift(x, 16), 0xFFFF))


def _normal_like(leaf, seed, count, index, *, xp):
    """Standard normal draws of ``leaf``'s shape, a pure function of ``(seed, count, index, position)``.

    Each position's 32-bit counter is hashed twice (two streams) into two
    24-bit uniforms on (0, 1), then the Box-Muller transform.
    """
    n = 1
    for d in leaf.shape:
        n *= int(d)
    dev = device_of(leaf)
    pos = xp.arange(max(n, 1), dtype=xp.int32, device=dev)
    seed, count = xp.reshape(seed, (1,)), xp.reshape(count, (1,))  # 1-d: NumPy's 0-d products warn on wrap-around
    base = _hash32(_hash32(seed * _i32(0x9E3779B9) + count, xp=xp) + _i32((index * 0x85EBCA6B) & _M32), xp=xp)
    wide = widest_float_dtype(xp, leaf)
    draws = []
    for stream in (0x27D4EB2F, 0x165667B1):
        h = _hash32(_hash32(pos * _i32(0xC2B2AE35) + base, xp=xp) + _i32(stream), xp=xp)
        bits = xp.bitwise_and(xp.bitwise_right_shift(h, 8), 0xFFFFFF)
        draws.append((xp.astype(bits, wide) + 0.5) / 16777216.0)
    z = xp.sqrt(-2.0 * xp.log(draws[0])) * xp.cos(2.0 * math.pi * draws[1])
    return xp.reshape(xp.astype(z[:n], leaf.dtype), leaf.shape)


def add_noise(eta, gamma, *, key=None):
    r"""Add annealed Gaussian noise to the updates (Neelakantan et al., 2015).

    .. math:: u_t = g_t + \mathcal N\!\bigl(0, \eta / t^{\gamma}\bigr),\quad t = 1, 2, \dots

    ``key`` is an integer seed (``None``: 0).  The draws come from a
    counter-based generator written in array-API integer arithmetic, a pure
    function of (seed, step, leaf, position): the same numbers on every
    backend and under ``jax.jit``, but not ``jax.random``'s, so they differ
    from ``optax.add_noise``'s draws (the distribution is the same).
    """
    _check_real(eta, "eta", low=0.0)
    _check_real(gamma, "gamma", low=0.0)
    seed = 0 if key is None else check_int(key, "key")

    def init(params):
        count = _zero_count(params)
        return AddNoiseState(count=count, rng_key=array_namespace(count).asarray(count + _i32(seed & _M32)))  # placed like it

    def update(updates, state, params=None):
        count = _increment(state.count)
        t, cxp = _widest(count)
        std = cxp.sqrt(eta / cxp.pow(t, cxp.asarray(gamma, dtype=t.dtype, device=device_of(t))))
        xp = _namespace(updates)
        leaves, treedef = tree_flatten(updates)
        noisy = [g + xp.astype(std, g.dtype) * _normal_like(g, state.rng_key, count, i, xp=xp)
                 for i, g in enumerate(leaves)]
        return treedef.unflatten(noisy), AddNoiseState(count=count, rng_key=state.rng_key)

    return GradientTransformation(init, update)


# ------------------------------------------------------------ Adafactor's pieces (optax's factorized.py)
def _factored_dims(shape, factored, min_dim_size_to_factor):
    """The two largest axes ``(d1, d0)`` (second largest, largest) of a leaf worth factoring, else ``None``."""
    if not factored or len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda i: (shape[i], i))  # numpy's stable argsort
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return order[-2], order[-1]


def scale_by_factored_rms(*, factored=True, decay_rate=0.8, step_offset=0, min_dim_size_to_factor=128,
                          epsilon=1e-30):
    r"""Adafactor's preconditioner: a factored (row/column) estimate of the RMS of the gradients.

    With :math:`\hat\beta_t = 1 - (t + 1 - \text{step\_offset})^{-\text{decay\_rate}}` (``t`` from 0),
    a leaf whose two largest axes are both ``>= min_dim_size_to_factor`` keeps
    row and column means of :math:`g^2 + \epsilon`:

    .. math::
        R_t = \hat\beta_t R_{t-1} + (1 - \hat\beta_t)\,\mathrm{mean}_{\text{col}}(g_t^2 + \epsilon),\quad
        C_t = \hat\beta_t C_{t-1} + (1 - \hat\beta_t)\,\mathrm{mean}_{\text{row}}(g_t^2 + \epsilon),\\
        u_t = g_t \,\Bigl(\frac{R_t}{\mathrm{mean}(R_t)}\Bigr)^{-1/2} C_t^{-1/2}

    and any other leaf the full :math:`v_t = \hat\beta_t v_{t-1} + (1 - \hat\beta_t)(g_t^2 + \epsilon)`,
    :math:`u_t = g_t v_t^{-1/2}`.  Equals ``optax.scale_by_factored_rms``
    (its decay rate is computed in float32, as there).
    """
    factored = check_bool(factored, "factored")
    _check_real(decay_rate, "decay_rate", low=0.0)
    step_offset = check_int(step_offset, "step_offset", low=0)
    min_dim_size_to_factor = check_int(min_dim_size_to_factor, "min_dim_size_to_factor", low=0)
    _check_real(epsilon, "epsilon", low=0.0)

    def init(params):
        def one(p):
            # every buffer derived from p (zeros_like of a slice or a reduction): placed like p,
            # committed or not on JAX, so a jitted step compiles once
            xp = array_namespace(p)
            dims = _factored_dims(tuple(p.shape), factored, min_dim_size_to_factor)
            small = xp.zeros_like(xp.reshape(p, (-1,))[:1])
            if dims is None:
                return small, small, xp.zeros_like(p)
            d1, d0 = dims
            return xp.zeros_like(xp.sum(p, axis=d0)), xp.zeros_like(xp.sum(p, axis=d1)), small

        out = [one(p) for p in tree_leaves(params)]
        treedef = tree_structure(params)
        return FactoredState(count=_zero_count(params), v_row=treedef.unflatten([o[0] for o in out]),
                             v_col=treedef.unflatten([o[1] for o in out]), v=treedef.unflatten([o[2] for o in out]))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_factored_rms needs the parameters: call update(updates, state, params)")
        _check_grads(updates, params, "params")
        # optax computes the rate in float32, where pow's last bit differs between libraries (XLA's
        # and NumPy's differ at t = 4): computed in the widest float, then rounded to float32
        t, cxp = _widest(array_namespace(state.count).asarray(state.count - step_offset + 1))
        power = cxp.pow(t, cxp.asarray(-decay_rate, dtype=t.dtype, device=device_of(t)))
        beta = 1.0 - cxp.astype(power, cxp.float32)
        one_minus = 1.0 - beta  # in float32, as optax

        xp = _namespace(params)

        def one(g, vr, vc, v, p):
            b, a = xp.astype(beta, vr.dtype), xp.astype(one_minus, vr.dtype)
            small = xp.zeros_like(vr) if vr.shape == (1,) else xp.zeros_like(v)
            dims = _factored_dims(tuple(p.shape), factored, min_dim_size_to_factor)
            g2 = g * g + epsilon
            if dims is None:
                new_v = xp.astype(b * v + a * g2, p.dtype)
                return g * new_v ** -0.5, small, small, new_v
            d1, d0 = dims
            new_r = xp.astype(b * vr + a * xp.mean(g2, axis=d0), p.dtype)
            new_c = xp.astype(b * vc + a * xp.mean(g2, axis=d1), p.dtype)
            reduced_d1 = d1 - 1 if d1 > d0 else d1
            row_factor = (new_r / xp.mean(new_r, axis=reduced_d1, keepdims=True)) ** -0.5
            col_factor = new_c ** -0.5
            u = g * xp.expand_dims(row_factor, axis=d0) * xp.expand_dims(col_factor, axis=d1)
            return u, new_r, new_c, small

        g_l, treedef = tree_flatten(updates)
        out = [one(*xs) for xs in zip(g_l, tree_leaves(state.v_row), tree_leaves(state.v_col),
                                       tree_leaves(state.v), tree_leaves(params))]
        pick = [treedef.unflatten([o[i] for o in out]) for i in range(4)]
        return pick[0], FactoredState(count=_increment(state.count), v_row=pick[1], v_col=pick[2], v=pick[3])

    return GradientTransformation(init, update)


def _rms(x, *, xp):
    return xp.sqrt(xp.mean(x * x))


def clip_by_block_rms(threshold):
    r"""Clip each leaf to a root-mean-square of at most ``threshold``.

    .. math:: u \leftarrow u / \max\bigl(1, \mathrm{rms}(u) / c\bigr)

    Equals ``optax.clip_by_block_rms``.
    """
    _check_real(threshold, "threshold", low=0.0, low_open=True)

    def update(updates, state, params=None):
        xp = _namespace(updates)
        def clip(u):
            rms = _rms(u, xp=xp)
            return u / xp.maximum(xp.ones_like(rms), rms / threshold)

        return tree_map(clip, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_param_block_rms(*, min_scale=1e-3):
    r"""Scale each leaf by the root-mean-square of its parameter, at least ``min_scale``.

    .. math:: u \leftarrow u \cdot \max\bigl(\mathrm{rms}(\theta), s_{\min}\bigr)

    Needs ``params``.  Equals ``optax.scale_by_param_block_rms``.
    """
    _check_real(min_scale, "min_scale", low=0.0)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("scale_by_param_block_rms needs the parameters: call update(updates, state, params)")
        _check_grads(updates, params, "params")
        xp = _namespace(updates)

        def one(u, p):
            rms = _rms(p, xp=xp)
            small = rms <= min_scale
            safe = _rms(xp.where(small, xp.ones_like(p), p), xp=xp)
            return u * xp.where(small, xp.asarray(min_scale, dtype=rms.dtype, device=device_of(rms)), safe)

        return tree_map(one, updates, params), state

    return GradientTransformation(lambda params: EmptyState(), update)


def ema(decay, *, debias=True, accumulator_dtype=None):
    r"""An exponential moving average of the updates (optax's ``ema``).

    .. math::
        e_t = \beta\, e_{t-1} + (1 - \beta)\, u_t,\qquad
        u_t \leftarrow \begin{cases} e_t / (1 - \beta^t) & \text{debias} \\ e_t & \text{otherwise} \end{cases}

    For an EMA of the *parameters* (Polyak averaging, Keras's ``use_ema``),
    feed the parameters as updates::

        avg = ema(0.999); avg_state = avg.init(params)
        params_ema, avg_state = avg.update(params, avg_state)   # after each step

    ``accumulator_dtype`` (a dtype name such as ``"float32"``, or ``None``
    for the updates' dtype) is the dtype the average is stored in.
    Equals ``optax.ema``.
    """
    _check_decay(decay, "decay")
    debias = check_bool(debias, "debias")
    if accumulator_dtype is not None and not isinstance(accumulator_dtype, str):
        accumulator_dtype = getattr(accumulator_dtype, "name", None) or str(accumulator_dtype)
    if accumulator_dtype is not None:
        check_choice(accumulator_dtype.replace("torch.", ""), "accumulator_dtype", ("float16", "bfloat16", "float32",
                                                                                      "float64"))
        accumulator_dtype = accumulator_dtype.replace("torch.", "")

    def _acc(x, *, xp):
        if accumulator_dtype is None:
            return x
        return xp.astype(x, getattr(xp, accumulator_dtype))

    def init(params):
        def zeros(p):
            xp = array_namespace(p)
            return _acc(xp.zeros_like(p), xp=xp)

        return EmaState(count=_zero_count(params), ema=tree_map(zeros, params))

    def update(updates, state, params=None):
        _check_grads(updates, state.ema, _STATE)
        new = tree_map(lambda g, t: _ema(g, t, decay), updates, state.ema)
        count = _increment(state.count)
        out = _bias_correction(new, decay, count) if debias else new
        xp = _namespace(updates)
        return out, EmaState(count=count, ema=tree_map(lambda e: _acc(e, xp=xp), new))

    return GradientTransformation(init, update)


def _dampened_trace(decay, dampening, nesterov=False):
    r"""PyTorch's momentum buffer: :math:`m_1 = g_1`, :math:`m_t = \mu m_{t-1} + (1 - d) g_t`
    (Nesterov: the update is :math:`g_t + \mu m_t`)."""

    def init(params):
        return DampenedTraceState(count=_zero_count(params), trace=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.trace, _STATE)
        xp = _namespace(updates)
        first = state.count == 0
        new = tree_map(lambda g, t: xp.where(first, g, decay * t + (1 - dampening) * g), updates, state.trace)
        out = tree_map(lambda g, t: g + decay * t, updates, new) if nesterov else new
        return out, DampenedTraceState(count=_increment(state.count), trace=new)

    return GradientTransformation(init, update)


# ------------------------------------------------------------ wrappers (optax's wrappers and accumulation)
class ApplyEvery(NamedTuple):
    count: Any
    grad_acc: Any


class MaskedState(NamedTuple):
    inner_state: Any


class MaskedNode(NamedTuple):
    """Stands in for a leaf that a :func:`masked` transformation does not see."""


class MultiStepsState(NamedTuple):
    mini_step: Any
    gradient_step: Any
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any = ()


class LookaheadState(NamedTuple):
    fast_state: Any
    steps_since_sync: Any


class LookaheadParams(NamedTuple):
    """The fast and slow parameters of :func:`lookahead` (``init_synced`` starts them equal)."""

    fast: Any
    slow: Any

    @classmethod
    def init_synced(cls, params):
        return cls(fast=params, slow=params)


class WrappedScheduleState(NamedTuple):
    count: Any


class InjectHyperparamsState(NamedTuple):
    count: Any
    hyperparams: Any
    hyperparams_states: Any
    inner_state: Any


def _check_transform(t, name):
    if not (callable(getattr(t, "init", None)) and callable(getattr(t, "update", None))):
        raise TypeError(f"{name} must be a gradient transformation (init, update); got {t!r}")


def _select(pred, a, b, *, xp):
    """``a`` where the 0-d bool ``pred`` holds, else ``b``, leafwise, each leaf in ``b``'s dtype."""

    def one(x, y):
        out = xp.where(pred, x, y)
        return out if out.dtype == y.dtype else xp.astype(out, y.dtype)

    return tree_map(one, a, b)


def apply_every(k=1):
    r"""Accumulate updates and emit their sum every ``k`` steps (zeros in between).

    .. math::
        a_t = g_t + [t \bmod k \ne 0]\, a_{t-1},\qquad
        u_t = [t \bmod k = k - 1]\, a_t \quad (t \text{ from } 0)

    Other transformations of a chain still update their state at every step;
    :func:`multi_steps` is the true gradient accumulation.  Equals
    ``optax.apply_every``.
    """
    k = check_int(k, "k", low=1)

    def init(params):
        return ApplyEvery(count=_zero_count(params), grad_acc=tree_zeros_like(params))

    def update(updates, state, params=None):
        _check_grads(updates, state.grad_acc, _STATE)
        xp = _namespace(updates)
        c = state.count % k
        acc = c != 0
        emit = c == k - 1
        # products with the 0/1 flags, not selections: a NaN or inf accumulated propagates as in optax
        grad_acc = tree_map(lambda g, ga: xp.astype(acc, ga.dtype) * ga + g, updates, state.grad_acc)
        out = tree_map(lambda ga: xp.astype(emit, ga.dtype) * ga, grad_acc)
        return out, ApplyEvery(count=xp.asarray(_increment(state.count) % k), grad_acc=grad_acc)

    return GradientTransformation(init, update)


def _resolve_mask(mask, tree):
    m = mask(tree) if callable(mask) else mask
    leaves, treedef = tree_flatten(tree)
    if isinstance(m, bool):
        return [m] * len(leaves)
    flags = _flatten_prefix(m, tree)
    return flags


def _flatten_prefix(mask, tree):
    """One bool per leaf of ``tree``; a bool of ``mask`` may stand for a whole subtree (JAX's prefix rule)."""
    leaves, treedef = tree_flatten(tree)
    try:
        parts = treedef.flatten_up_to(mask, "mask")
    except (ValueError, TypeError):
        parts = None
    if parts is not None and all(isinstance(p, bool) for p in parts):
        return parts
    # the mask is a prefix: map each mask leaf over its subtree
    try:
        expanded = tree_map(lambda m, sub: tree_map(lambda _: m, sub), mask, tree)
    except (ValueError, TypeError) as e:
        raise ValueError(f"mask must be a bool or a pytree of bools with the structure of params (or a prefix of "
                         f"it); {e}") from None
    flags = tree_leaves(expanded)
    for f in flags:
        if not isinstance(f, bool):
            raise TypeError(f"mask leaves must be Python bools; got {type(f).__name__}")
    if len(flags) != len(leaves):
        raise ValueError(f"mask covers {len(flags)} leaves, but params have {len(leaves)}")
    return flags


def _mask_tree(tree, flags):
    """``tree`` with the leaves whose flag is false replaced by :class:`MaskedNode` (no leaves)."""
    leaves, treedef = tree_flatten(tree)
    return treedef.unflatten([x if f else MaskedNode() for x, f in zip(leaves, flags)])


def masked(inner, mask):
    r"""Apply ``inner`` only where ``mask`` is true; other updates pass unchanged.

    ``mask`` is a pytree of Python bools with the structure of the parameters
    (or a prefix of it; a single ``True``/``False`` covers all), or a function
    ``params -> such a tree``.  ``inner`` sees (and keeps state for) only the
    selected leaves; the others are :class:`MaskedNode` placeholders.  Equals
    ``optax.masked``.
    """
    _check_transform(inner, "inner")
    if not callable(mask) and not isinstance(mask, bool) and not tree_leaves(mask):
        raise ValueError("mask must be a bool, a pytree of bools with the structure of params, or a callable")

    def init(params):
        flags = _resolve_mask(mask, params)
        return MaskedState(inner_state=inner.init(_mask_tree(params, flags)))

    def update(updates, state, params=None):
        flags = _resolve_mask(mask, updates)
        sub_params = None if params is None else _mask_tree(params, flags)
        new_sub, inner_state = inner.update(_mask_tree(updates, flags), state.inner_state, sub_params)
        leaves, treedef = tree_flatten(updates)
        it = iter(tree_leaves(new_sub))
        out = treedef.unflatten([next(it) if f else x for x, f in zip(leaves, flags)])
        return out, MaskedState(inner_state=inner_state)

    return GradientTransformation(init, update)


def _resolve_dtype(name, *, xp):
    return getattr(xp, name)


class MultiSteps:
    r"""Gradient accumulation: call ``opt`` once every ``k`` mini-steps on the accumulated gradient.

    .. math::
        \bar g \leftarrow \bar g + (g_t - \bar g) / (j + 1) \;\;\text{(mean; sum: } \bar g + g_t),\qquad
        u_t = \begin{cases} \mathrm{opt}(\bar g) & j = k - 1 \\ 0 & \text{otherwise} \end{cases}

    where :math:`j` is the mini-step within the current group; the inner
    state only advances when an update is emitted.  ``every_k_schedule`` is
    an int or a function of the gradient step (the number of emitted
    updates).  ``should_skip_update_fn(updates, gradient_step, params) ->
    (skip, skip_state)`` may drop a mini-batch (e.g. one with NaN gradients):
    the state then stays as it was and the update is zero.  Equals
    ``optax.MultiSteps`` with the same arguments, except
    ``accumulator_dtype``: ``None`` (our default) accumulates in the
    gradients' dtype; optax's default is float32, also for float64
    parameters.  Pass ``accumulator_dtype="float32"`` to match it there.

    ``MultiSteps(...).gradient_transformation()`` (or :func:`multi_steps`)
    is the ``(init, update)`` pair.
    """

    def __init__(self, opt, every_k_schedule, *, use_grad_mean=True, should_skip_update_fn=None,
                 accumulator_dtype=None):
        _check_transform(opt, "opt")
        if callable(every_k_schedule):
            self._every_k_schedule = every_k_schedule
        else:
            k = check_int(every_k_schedule, "every_k_schedule", low=1)
            self._every_k_schedule = lambda step: k
        self._use_grad_mean = check_bool(use_grad_mean, "use_grad_mean")
        if should_skip_update_fn is not None and not callable(should_skip_update_fn):
            raise TypeError(f"should_skip_update_fn must be callable or None; got "
                            f"{type(should_skip_update_fn).__name__}")
        self._skip = should_skip_update_fn
        if accumulator_dtype is not None:
            accumulator_dtype = check_choice(str(getattr(accumulator_dtype, "name", accumulator_dtype)).replace(
                "torch.", ""), "accumulator_dtype", ("float16", "bfloat16", "float32", "float64"))
        self._acc_dtype = accumulator_dtype
        self._opt = opt

    @property
    def inner_opt(self):
        return self._opt

    def _acc(self, x, xp):
        if self._acc_dtype is None:
            return x
        dt = _resolve_dtype(self._acc_dtype, xp=xp)
        return x if x.dtype == dt else xp.astype(x, dt)

    def init(self, params):
        count = _zero_count(params)
        skip_state = ()
        if self._skip is not None:
            _, skip_state = self._skip(tree_zeros_like(params), count, params)
        return MultiStepsState(mini_step=count, gradient_step=_zero_count(params), inner_opt_state=self._opt.init(params),
                               acc_grads=tree_map(lambda p: self._acc(array_namespace(p).zeros_like(p), array_namespace(p)), params),
                               skip_state=skip_state)

    def update(self, updates, state, params=None):
        _check_grads(updates, state.acc_grads, _STATE)
        k = self._every_k_schedule(state.gradient_step)
        n = state.mini_step
        xp = _namespace(updates)
        if self._use_grad_mean:
            acc = tree_map(lambda g, a: a + (g - a) / xp.astype(n + 1, g.dtype), updates,
                           tree_map(lambda a, g: a if a.dtype == g.dtype else xp.astype(a, g.dtype),
                                    state.acc_grads, updates))
        else:
            acc = tree_map(lambda g, a: g + a, updates, state.acc_grads)
        acc_cast = tree_map(lambda a, g: a if a.dtype == g.dtype else xp.astype(a, g.dtype), acc, updates)
        final, new_inner = self._opt.update(acc_cast, state.inner_opt_state, params)
        emit = n == k - 1
        new_state = MultiStepsState(
            mini_step=xp.asarray(_increment(n) % k),
            gradient_step=xp.where(emit, _increment(state.gradient_step), state.gradient_step),
            inner_opt_state=_select(emit, new_inner, state.inner_opt_state, xp=xp),
            # (1 - emit) * acc as in optax: an inf accumulated turns into NaN at the emission, as there
            acc_grads=tree_map(lambda a: self._acc((1 - xp.astype(emit, a.dtype)) * a, xp), acc),
            skip_state=state.skip_state,
        )
        final = tree_map(lambda u: xp.astype(emit, u.dtype) * u, final)
        if self._skip is None:
            return final, new_state
        skip, skip_state = self._skip(updates, state.gradient_step, params)
        out = tree_map(lambda u: xp.where(skip, xp.zeros_like(u), u), final)
        kept = MultiStepsState(*_select(skip, tuple(state[:4]), tuple(new_state[:4]), xp=xp), skip_state=skip_state)
        return out, kept

    def has_updated(self, state):
        """True (a 0-d bool) right after an update was emitted."""
        xp = array_namespace(state.mini_step)
        return xp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self):
        return GradientTransformation(self.init, self.update)


def multi_steps(opt, every_k_schedule, *, use_grad_mean=True, should_skip_update_fn=None, accumulator_dtype=None):
    """:class:`MultiSteps` as an ``(init, update)`` pair (``optax.MultiSteps(...).gradient_transformation()``)."""
    return MultiSteps(opt, every_k_schedule, use_grad_mean=use_grad_mean, should_skip_update_fn=should_skip_update_fn,
                      accumulator_dtype=accumulator_dtype).gradient_transformation()


def skip_not_finite(updates, gradient_step, params):
    """A ``should_skip_update_fn`` for :class:`MultiSteps`: skip a mini-batch with a NaN or infinite gradient."""
    leaves = tree_leaves(updates)
    xp = array_namespace(*leaves)
    bad = [xp.sum(xp.astype(xp.logical_not(xp.isfinite(g)), xp.int32)) for g in leaves]
    total = bad[0]
    for b in bad[1:]:
        total = total + b
    total = total + 0 * gradient_step
    skip = total > 0
    return skip, {"should_skip": skip, "num_not_finite": total}


def lookahead(fast_optimizer, sync_period, slow_step_size, *, reset_state=False):
    r"""Lookahead (Zhang et al., 2019): every ``sync_period`` steps pull slow weights towards fast ones.

    Parameters are :class:`LookaheadParams` ``(fast, slow)``.  With
    :math:`s` = ``sync_next`` (the last step of a period) and
    :math:`\Delta = \theta^{\mathrm{fast}} + u - \theta^{\mathrm{slow}}`:

    .. math::
        u^{\mathrm{slow}} = \alpha\, s\, \Delta,\qquad
        u^{\mathrm{fast}} = u - s\,(1 - \alpha)\, \Delta

    so after a sync both equal :math:`\theta^{\mathrm{slow}} + \alpha\Delta`.
    ``reset_state`` re-initialises the fast optimizer's state at each sync.
    Evaluate with the slow parameters.  Equals ``optax.lookahead``.
    """
    _check_transform(fast_optimizer, "fast_optimizer")
    sync_period = check_int(sync_period, "sync_period", low=1)
    _check_real(slow_step_size, "slow_step_size", low=0.0, high=1.0)
    reset_state = check_bool(reset_state, "reset_state")

    def init(params):
        fast = getattr(params, "fast", params)
        return LookaheadState(fast_state=fast_optimizer.init(fast), steps_since_sync=_zero_count(fast))

    def update(updates, state, params=None):
        if not isinstance(params, LookaheadParams):
            raise TypeError(f"lookahead needs params as LookaheadParams(fast, slow); got {type(params).__name__}")
        updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast)
        sync = state.steps_since_sync == sync_period - 1
        xp = _namespace(updates)
        diff = tree_map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)

        def s_of(d):
            return xp.astype(sync, d.dtype)

        slow = tree_map(lambda d: slow_step_size * s_of(d) * d, diff)
        fast = tree_map(lambda u, d: u - s_of(d) * (1 - slow_step_size) * d, updates, diff)
        if reset_state:
            def reset(cur, new):  # (1 - s) * current + s * initial, as in optax (a NaN state stays NaN)
                s = xp.astype(sync, cur.dtype)
                return xp.asarray((1 - s) * cur + s * new)

            fast_state = tree_map(reset, fast_state, fast_optimizer.init(params.fast))
        return LookaheadParams(fast=fast, slow=slow), LookaheadState(fast_state,
                                                                     xp.asarray((state.steps_since_sync + 1) % sync_period))

    return GradientTransformation(init, update)


def _widest_param_dtype(params):
    leaves = [x for x in tree_leaves(params)]
    xp = array_namespace(*leaves)
    best = None
    for x in leaves:
        if xp.isdtype(x.dtype, "real floating") and (best is None or xp.finfo(x.dtype).bits > xp.finfo(best).bits):
            best = x.dtype
    return best if best is not None else widest_float_dtype(xp, leaves[0])


def inject_hyperparams(inner_factory, *, static_args=(), hyperparam_dtype=None):
    r"""Make an optimizer's numeric hyperparameters part of its state (optax's ``inject_hyperparams``).

    ``inject_hyperparams(adam)(learning_rate=schedule, b1=0.9)`` behaves as
    ``adam(schedule, b1=0.9)``, but ``state.hyperparams`` holds the current
    value of every numeric argument as a 0-d array (a schedule is evaluated at
    the step count first), so they can be read or changed between steps
    (``state.hyperparams["learning_rate"] = ...``; the state is a NamedTuple
    of a dict) and under ``jax.jit``.  Booleans, strings, transformations and
    the names in ``static_args`` stay Python values.  Hyperparameters are
    stored in ``hyperparam_dtype`` (a dtype name; default: the widest float
    dtype of the parameters).
    """
    import inspect

    if not callable(inner_factory):
        raise TypeError(f"inner_factory must be callable; got {type(inner_factory).__name__}")
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    sig = inspect.signature(inner_factory)
    if not static <= set(sig.parameters):
        raise ValueError(f"static_args must name parameters of inner_factory {sorted(sig.parameters)}; "
                         f"got {sorted(static)}")
    if hyperparam_dtype is not None:
        hyperparam_dtype = check_choice(str(getattr(hyperparam_dtype, "name", hyperparam_dtype)).replace(
            "torch.", ""), "hyperparam_dtype", ("float16", "bfloat16", "float32", "float64"))

    def wrapped(*args, **kwargs):
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{getattr(inner_factory, '__name__', 'inner_factory')}: {e}") from None
        bound.apply_defaults()
        sched, numeric, other = {}, {}, {}
        for name, value in bound.arguments.items():
            if name in static or isinstance(value, bool) or value is None:
                other[name] = value
            elif callable(value) and not hasattr(value, "init"):
                sched[name] = value
            elif isinstance(value, numbers.Real) or (hasattr(value, "dtype") and hasattr(value, "shape")):
                numeric[name] = value
            else:
                other[name] = value
        inner_factory(**bound.arguments)  # checks the arguments eagerly, with the factory's own messages

        def _dtype(params, *, xp):
            return getattr(xp, hyperparam_dtype) if hyperparam_dtype is not None else _widest_param_dtype(params)

        def _as(v, like, dt, *, xp):
            if hasattr(v, "dtype"):
                if xp.isdtype(v.dtype, "real floating") and v.dtype != dt:
                    return xp.astype(v, dt)
                return v
            return xp.asarray(xp.astype(like, dt) * 0 + float(v))  # placed like the step count; ints become floats

        def init(params):
            count = _zero_count(params)
            xp = array_namespace(count)
            dt = _dtype(params, xp=xp)
            hp = {k: _as(v, count, dt, xp=xp) for k, v in numeric.items()}
            hp.update({k: _as(f(count), count, dt, xp=xp) for k, f in sched.items()})
            states = {k: WrappedScheduleState(count=_zero_count(params)) for k in sched}
            return InjectHyperparamsState(count=count, hyperparams=hp, hyperparams_states=states,
                                          inner_state=inner_factory(**other, **hp).init(params))

        def update(updates, state, params=None):
            xp = array_namespace(state.count)
            dt = _dtype(updates if params is None else params, xp=xp)
            hp = {k: _as(v, state.count, dt, xp=xp) for k, v in state.hyperparams.items()}
            hp.update({k: _as(f(state.hyperparams_states[k].count), state.count, dt, xp=xp) for k, f in sched.items()})
            states = {k: WrappedScheduleState(count=_increment(s.count)) for k, s in state.hyperparams_states.items()}
            updates, inner_state = inner_factory(**other, **hp).update(updates, state.inner_state, params)
            return updates, InjectHyperparamsState(count=_increment(state.count), hyperparams=hp,
                                                   hyperparams_states=states, inner_state=inner_state)

        return GradientTransformation(init, update)

    wrapped.__name__ = getattr(inner_factory, "__name__", "wrapped")
    wrapped.__doc__ = inner_factory.__doc__
    return wrapped


# ------------------------------------------------------------ optimizers
def sgd(learning_rate, *, momentum=None, nesterov=False, dampening=0.0):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    .. math::
        u_t = -\eta_t\,g_t \quad\text{(plain)},\qquad
        m_t = g_t + \mu\,m_{t-1},\;
        u_t = -\eta_t \begin{cases} g_t + \mu\,m_t & \text{Nesterov} \\ m_t & \text{otherwise} \end{cases}

    Equals ``optax.sgd(learning_rate, momentum, nesterov)``; ``momentum`` and
    ``nesterov`` are keyword-only here (only ``learning_rate`` is positional).

    With ``dampening`` :math:`d > 0` the momentum buffer is PyTorch's,
    :math:`m_1 = g_1`, :math:`m_t = \mu\,m_{t-1} + (1 - d)\,g_t` (its first
    step is not dampened), and equals ``torch.optim.SGD(lr, momentum,
    dampening)``.  A formula sheet's moving average
    :math:`v_t = \beta v_{t-1} + (1 - \beta) g_t` from :math:`v_0 = 0` is
    ``dampening=momentum=β`` from the second step on; at the first step it
    is :math:`(1-\beta) g_1` there and :math:`g_1` here.

    Parameters
    ----------
    learning_rate : float or callable
        :math:`\eta \ge 0` or a schedule.
    momentum : float, optional
        :math:`\mu \in [0, 1)`; ``None`` for plain SGD.
    nesterov : bool
        Nesterov momentum; it needs ``momentum`` (optax would silently ignore it)
        and no dampening (as PyTorch requires).
    dampening : float
        :math:`d \in [0, 1]`; it needs ``momentum`` when non-zero.
    """
    nesterov = check_bool(nesterov, "nesterov")
    if nesterov and momentum is None:
        raise ValueError("nesterov=True needs a momentum; got momentum=None")
    if momentum is not None:
        _check_decay(momentum, "momentum")
    _check_real(dampening, "dampening", low=0.0, high=1.0)
    # an array dampening (e.g. under inject_hyperparams) takes PyTorch's buffer, which at d = 0 equals trace's
    damped = not (isinstance(dampening, numbers.Real) and dampening == 0)
    if damped and momentum is None:
        raise ValueError(f"dampening needs a momentum; got dampening={dampening!r} and momentum=None")
    if damped and nesterov and isinstance(dampening, numbers.Real):
        raise ValueError(f"nesterov=True needs dampening=0 (as in PyTorch); got dampening={dampening!r}")
    _check_rate(learning_rate)
    if momentum is None:
        first = identity()
    elif damped:
        first = _dampened_trace(momentum, dampening, nesterov)
    else:
        first = trace(momentum, nesterov=nesterov)
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


def adam(learning_rate=1e-3, *, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=False, amsgrad=False):
    r"""Adam (Kingma & Ba, 2015).

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2,\\
        u_t = -\eta_t\,\frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t) + \epsilon_{\mathrm{root}}} + \epsilon}

    ``nesterov=True`` gives NAdam.  Equals ``optax.adam`` with the same arguments.
    ``amsgrad=True`` (Keras's flag) divides by the running maximum of the
    bias-corrected second moment instead, and equals ``optax.amsgrad``
    (see :func:`scale_by_amsgrad`); it cannot be combined with ``nesterov``.
    """
    if check_bool(amsgrad, "amsgrad"):
        if check_bool(nesterov, "nesterov"):
            raise ValueError("amsgrad=True cannot be combined with nesterov=True")
        return _amsgrad(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root)
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


def _lr(learning_rate, *, flip_sign=True):
    """``scale_by_learning_rate``; ``None`` (Adadelta's and Adafactor's default) is a rate of 1."""
    if learning_rate is None:
        return scale(-1.0) if flip_sign else identity()
    return scale_by_learning_rate(learning_rate, flip_sign=flip_sign)


def _decay_mask(mask):
    """optax's ``True`` mask (decay everywhere) is ours ``None``; ``False`` is no decay."""
    if mask is True:
        return None
    return mask


def _decayed(weight_decay, mask):
    if mask is False:
        return identity()
    return add_decayed_weights(weight_decay, mask=_decay_mask(mask))


def nadam(learning_rate=1e-3, *, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0):
    r"""NAdam (Dozat, 2016): :func:`adam` with Nesterov momentum.

    .. math::
        \hat m_t = \frac{\beta_1 m_t}{1 - \beta_1^{t+1}} + \frac{(1 - \beta_1) g_t}{1 - \beta_1^t},\qquad
        u_t = -\eta_t\,\frac{\hat m_t}{\sqrt{\hat v_t + \epsilon_{\mathrm{root}}} + \epsilon}

    Equals ``optax.nadam`` (``= optax.adam(..., nesterov=True)``).
    """
    return adam(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=True)


def radam(learning_rate, *, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, nesterov=False):
    r"""RAdam: :func:`scale_by_radam` then :math:`-\eta_t`.  Equals ``optax.radam``."""
    return chain(scale_by_radam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


def adamax(learning_rate, *, b1=0.9, b2=0.999, eps=1e-8):
    r"""AdaMax: :func:`scale_by_adamax` then :math:`-\eta_t`.

    .. math:: u_t = -\eta_t\,\frac{m_t / (1 - \beta_1^t)}{\max(|g_t| + \epsilon, \beta_2 v_{t-1})}

    Equals ``optax.adamax``.
    """
    return chain(scale_by_adamax(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))


def adabelief(learning_rate, *, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, nesterov=False):
    r"""AdaBelief: :func:`scale_by_belief` then :math:`-\eta_t`.  Equals ``optax.adabelief``."""
    return chain(scale_by_belief(b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


def amsgrad(learning_rate, *, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, bias_correction_mu=True,
            bias_correction_nu=True):
    r"""AMSGrad: :func:`scale_by_amsgrad` then :math:`-\eta_t`.  Equals ``optax.amsgrad``."""
    return chain(scale_by_amsgrad(b1=b1, b2=b2, eps=eps, eps_root=eps_root, bias_correction_mu=bias_correction_mu,
                                  bias_correction_nu=bias_correction_nu),
                 scale_by_learning_rate(learning_rate))


def yogi(learning_rate, *, b1=0.9, b2=0.999, eps=1e-3):
    r"""Yogi: :func:`scale_by_yogi` (moments start at 1e-6) then :math:`-\eta_t`.  Equals ``optax.yogi``."""
    return chain(scale_by_yogi(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))


def lion(learning_rate, *, b1=0.9, b2=0.99, weight_decay=1e-3, mask=None):
    r"""Lion: the sign of an interpolated momentum, plus decoupled weight decay.

    .. math::
        u_t = -\eta_t\,\bigl(\mathrm{sign}((1 - \beta_1) g_t + \beta_1 m_{t-1}) + \lambda\,\theta_{t-1}\bigr),\qquad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t

    Equals ``optax.lion`` (its default ``weight_decay=1e-3``).
    """
    return chain(scale_by_lion(b1=b1, b2=b2), add_decayed_weights(weight_decay, mask=mask),
                 scale_by_learning_rate(learning_rate))


def lamb(learning_rate, *, b1=0.9, b2=0.999, eps=1e-6, eps_root=0.0, weight_decay=0.0, mask=None):
    r"""LAMB (You et al., 2020): Adam's step plus weight decay, scaled per leaf by its trust ratio.

    .. math::
        r_t = \mathrm{adam}_t + \lambda\,\theta_{t-1},\qquad
        u_t = -\eta_t\, \frac{\|\theta_{t-1}\|}{\|r_t\|}\, r_t

    (ratio 1 where a norm is 0).  Equals ``optax.lamb``.
    """
    return chain(scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=eps_root), add_decayed_weights(weight_decay, mask=mask),
                 scale_by_trust_ratio(), scale_by_learning_rate(learning_rate))


def lars(learning_rate, *, weight_decay=0.0, weight_decay_mask=True, trust_coefficient=0.001, eps=0.0,
         trust_ratio_mask=True, momentum=0.9, nesterov=False):
    r"""LARS (You et al., 2017): weight decay, a per-leaf trust ratio, then momentum.

    .. math::
        r_t = g_t + \lambda\,\theta_{t-1},\quad
        s_t = \frac{c\,\|\theta_{t-1}\|}{\|r_t\| + \epsilon}\, r_t,\quad
        m_t = -\eta_t s_t + \mu\, m_{t-1},\quad u_t = m_t

    (Nesterov: :math:`u_t = -\eta_t s_t + \mu m_t`); the masks select the
    leaves that get the decay / the trust ratio.  Equals ``optax.lars``.
    """
    return chain(_decayed(weight_decay, weight_decay_mask),
                 masked(scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps), trust_ratio_mask),
                 scale_by_learning_rate(learning_rate), trace(momentum, nesterov=nesterov))


def adadelta(learning_rate=None, *, rho=0.9, eps=1e-6, weight_decay=0.0, weight_decay_mask=None):
    r"""Adadelta (Zeiler, 2012): weight decay, :func:`scale_by_adadelta`, then :math:`-\eta_t`.

    .. math:: u_t = -\eta_t\,\frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}}\,(g_t + \lambda\theta_{t-1})

    Equals ``optax.adadelta`` for a given ``learning_rate``.  ``None`` (the
    default) means a rate of 1, as in PyTorch; optax's ``None`` skips the
    sign flip as well, so its default steps go *up* the gradient.
    """
    return chain(add_decayed_weights(weight_decay, mask=weight_decay_mask), scale_by_adadelta(rho=rho, eps=eps),
                 _lr(learning_rate))


def adafactor(learning_rate=None, *, min_dim_size_to_factor=128, decay_rate=0.8, decay_offset=0,
              multiply_by_parameter_scale=True, clipping_threshold=1.0, momentum=None, dtype_momentum="float32",
              weight_decay_rate=None, eps=1e-30, factored=True, weight_decay_mask=None):
    r"""Adafactor (Shazeer & Stern, 2018): factored second moments, block-RMS clipping, relative steps.

    The chain, as in optax: :func:`scale_by_factored_rms`, then
    :func:`clip_by_block_rms` (``clipping_threshold``), the learning rate
    (none when ``None``), :func:`scale_by_param_block_rms`
    (``multiply_by_parameter_scale``), :func:`ema` of the step without
    debiasing (``momentum``, stored in ``dtype_momentum``), weight decay
    (``weight_decay_rate``), and :math:`-1`:

    .. math:: u_t = -\eta_t\, \max(\mathrm{rms}(\theta), 10^{-3})\,
              \frac{\tilde g_t}{\max(1, \mathrm{rms}(\tilde g_t) / d)},\quad
              \tilde g_t = \text{factored-RMS-scaled } g_t

    Equals ``optax.adafactor`` with the same arguments.
    """
    multiply_by_parameter_scale = check_bool(multiply_by_parameter_scale, "multiply_by_parameter_scale")
    tx = [scale_by_factored_rms(factored=factored, decay_rate=decay_rate, step_offset=decay_offset,
                                min_dim_size_to_factor=min_dim_size_to_factor, epsilon=eps)]
    if clipping_threshold is not None:
        tx.append(clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        tx.append(scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        tx.append(scale_by_param_block_rms())
    if momentum is not None:
        tx.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        tx.append(add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
    tx.append(scale(-1))
    return chain(*tx)


def noisy_sgd(learning_rate, *, eta=0.01, gamma=0.55, key=None):
    r"""SGD on gradients with annealed Gaussian noise (Neelakantan et al., 2015).

    .. math:: u_t = -\eta_t\,\bigl(g_t + \varepsilon_t\bigr),\quad
              \varepsilon_t \sim \mathcal N\!\bigl(0, \eta / t^{\gamma}\bigr)

    ``key`` is an integer seed (``None``: 0).  The same structure and
    schedule as ``optax.noisy_sgd``; the noise comes from this library's
    counter-based generator (:func:`add_noise`), the same on every backend
    but not ``jax.random``'s draws.
    """
    return chain(add_noise(eta, gamma, key=key), scale_by_learning_rate(learning_rate))


_amsgrad = amsgrad  # for adam(..., amsgrad=True), whose flag shadows the name


def apply_updates(params, updates):
    r"""``params + updates`` leafwise, each result in its parameter's dtype."""

    check_tree_like(updates, params, "updates", "params")
    xp = _namespace(params)

    def add(p, u):
        out = xp.asarray(p + u)  # an array also for 0-d NumPy leaves (whose sum is a NumPy scalar)
        return out if out.dtype == p.dtype else xp.astype(out, p.dtype)

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
