r"""Weight initialisers driven by :class:`portable_ml.random.Generator`.

Every initialiser has the signature ``init(rng, fan_in, fan_out, *, dtype=None)``
and returns an array of shape ``(fan_in, fan_out)`` on the generator's backend
and device (``dtype`` a floating dtype of that backend or its name; default
the backend's float dtype).  Because the draws come from ``rng`` they are the
same on every backend for the same seed.

====================  ==========================================================
initialiser           distribution
====================  ==========================================================
``zeros``             all zeros
``small_random``      :math:`\mathcal N(0, \text{scale}^2)`
``xavier_uniform``    :math:`U(-a, a),\ a = \sqrt{6/(n_\text{in}+n_\text{out})}`
``xavier_normal``     :math:`\mathcal N(0, 2/(n_\text{in}+n_\text{out}))`
``he_normal``         :math:`\mathcal N(0, 2/n_\text{fan})`
``he_uniform``        :math:`U(-a, a),\ a = \sqrt{6/n_\text{fan}}`
``lecun_normal``      :math:`\mathcal N(0, 1/n_\text{in})`
``orthogonal``        :math:`g\,Q` from the QR decomposition of a normal matrix
====================  ==========================================================

The normal initialisers are *not* truncated (Keras' ``glorot_normal`` and
``he_normal`` are); they follow ``torch.nn.init.xavier_normal_`` /
``kaiming_normal_`` and the formula sheets.
"""

from __future__ import annotations

import math
import numbers

from .._validate import check_real
from ..random import Generator

__all__ = [
    "zeros",
    "small_random",
    "xavier_uniform",
    "xavier_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "orthogonal",
]


def _check_rng(rng):
    if not isinstance(rng, Generator):
        raise TypeError(
            f"rng must be a portable_ml.random.Generator (e.g. pml.get_backend('numpy').rng(0)); "
            f"got {type(rng).__name__}"
        )


def _check_fan(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {name}={value!r}")
    return int(value)


def _dtype(rng, dtype):
    xp = rng.backend.xp
    dt = rng.backend.float_dtype if dtype is None else (getattr(xp, dtype, None) if isinstance(dtype, str) else dtype)
    try:
        ok = dt is not None and xp.isdtype(dt, "real floating")
    except Exception:
        ok = False
    if not ok:
        raise TypeError(f"dtype must be a real floating dtype of the {rng.backend.name} backend; got {dtype!r}")
    return dt


def _prepare(rng, fan_in, fan_out, dtype):
    _check_rng(rng)
    return _check_fan(fan_in, "fan_in"), _check_fan(fan_out, "fan_out"), _dtype(rng, dtype)


def _fan(fan_in, fan_out, mode):
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    raise ValueError(f"mode must be 'fan_in' or 'fan_out'; got mode={mode!r}")


def zeros(rng, fan_in, fan_out, *, dtype=None):
    """All-zeros weights of shape ``(fan_in, fan_out)`` (used for biases).

    ``rng`` only chooses the backend, device and default dtype; nothing is drawn.
    """
    fan_in, fan_out, dt = _prepare(rng, fan_in, fan_out, dtype)
    return rng.backend.zeros((fan_in, fan_out), dtype=dt)


def small_random(rng, fan_in, fan_out, *, scale=0.01, dtype=None):
    r"""Small normal weights, the formula sheets' ``np.random.randn(n_in, n_out) * 0.01``.

    .. math:: W_{ij} \sim \mathcal N(0, \text{scale}^2)

    Parameters
    ----------
    rng : portable_ml.random.Generator
    fan_in, fan_out : int
        Number of inputs and outputs of the layer; the result has shape ``(fan_in, fan_out)``.
    scale : float
        Standard deviation (positive).
    dtype : dtype or str, optional
        Floating dtype of the rng's backend (default: its float dtype).
    """
    fan_in, fan_out, dt = _prepare(rng, fan_in, fan_out, dtype)
    scale = check_real(scale, "scale", low=0.0, low_open=True)
    return rng.normal((fan_in, fan_out), 0.0, float(scale), dtype=dt)


def xavier_uniform(rng, fan_in, fan_out, *, dtype=None):
    r"""Glorot/Xavier uniform initialisation (for tanh and sigmoid layers).

    .. math:: W_{ij} \sim U(-a, a),\quad a = \sqrt{\frac{6}{n_\text{in} + n_\text{out}}},
              \qquad \operatorname{Var} W_{ij} = \frac{2}{n_\text{in} + n_\text{out}}

    Same distribution as ``torch.nn.init.xavier_uniform_`` and
    ``jax.nn.initializers.glorot_uniform``.  Shape ``(fan_in, fan_out)``.
    """
    fan_in, fan_out, dt = _prepare(rng, fan_in, fan_out, dtype)
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform((fan_in, fan_out), -a, a, dtype=dt)


def xavier_normal(rng, fan_in, fan_out, *, dtype=None):
    r"""Glorot/Xavier normal initialisation (untruncated, as ``torch.nn.init.xavier_normal_``).

    .. math:: W_{ij} \sim \mathcal N\!\left(0, \frac{2}{n_\text{in} + n_\text{out}}\right)

    Shape ``(fan_in, fan_out)``.
    """
    fan_in, fan_out, dt = _prepare(rng, fan_in, fan_out, dtype)
    return rng.normal((fan_in, fan_out), 0.0, math.sqrt(2.0 / (fan_in + fan_out)), dtype=dt)


def he_normal(rng, fan_in, fan_out, *, mode="fan_in", dtype=None):
    r"""He/Kaiming normal initialisation (for ReLU layers; untruncated).

    .. math:: W_{ij} \sim \mathcal N\!\left(0, \frac{2}{n_\text{fan}}\right),
              \quad n_\text{fan} = n_\text{in}\ (\texttt{mode="fan\_in"})\ \text{or}\ n_\text{out}

    As ``torch.nn.init.kaiming_normal_(nonlinearity="relu", mode=mode)``.
    Shape ``(fan_in, fan_out)``.
    """
    fan_in, fan_out, dt = _prepare(rng, fan_in, fan_out, dtype)
    fan = _fan(fan_in, fan_out, mode)
    return rng.normal((fan_in, fan_out), 0.0, math.sqrt(2.0 / fan), dtype=dt)


def he_uniform(rng, fan_in, fan_out, *, mode="fan_in", dtype=None):
    r"""He/Kaiming uniform initialisation.

    .. math:: W_{ij} \sim U(-a, a),\quad a = \sqrt{\frac{6}{n_\text{fan}}},
              \qquad \operatorname{Var} W_{ij} = \frac{2}{n_\text{fan}}

    ``n_fan`` is ``fan_in`` (default) or ``fan_out`` by ``mode``, as
    ``torch.nn.init.kaiming_uniform_(nonlinearity="relu")``.  Shape ``(fan_in, fan_out)``.
    """
    fan_in, fan_out, dt = _prepare(rng, fan_in, fan_out, dtype)
    a = math.sqrt(6.0 / _fan(fan_in, fan_out, mode))
    return rng.uniform((fan_in, fan_out), -a, a, dtype=dt)


def lecun_normal(rng, fan_in, fan_out, *, dtype=None):
    r"""LeCun normal initialisation (for SELU networks; untruncated).

    .. math:: W_{ij} \sim \mathcal N\!\left(0, \frac{1}{n_\text{in}}\right)

    Shape ``(fan_in, fan_out)``.
    """
    fan_in, fan_out, dt = _prepare(rng, fan_in, fan_out, dtype)
    return rng.normal((fan_in, fan_out), 0.0, math.sqrt(1.0 / fan_in), dtype=dt)


def orthogonal(rng, shape, *, gain=1.0, dtype=None):
    r"""(Semi-)orthogonal initialisation (Saxe et al., 2014).

    The array is viewed as a matrix of ``rows = prod(shape[:-1])`` by
    ``cols = shape[-1]`` (columns along the last axis, as
    ``jax.nn.initializers.orthogonal``).  A standard normal matrix
    :math:`A` of shape ``(max(rows, cols), min(rows, cols))`` is factored
    :math:`A = QR`; the signs of :math:`Q`'s columns are fixed by
    :math:`\operatorname{sign}(\operatorname{diag} R)` so that :math:`Q` is
    Haar-distributed (as ``torch.nn.init.orthogonal_``), and the result is
    :math:`g\,Q` (transposed when ``rows < cols``).  Hence

    .. math:: W^\top W = g^2 I \ (\text{rows} \ge \text{cols}), \qquad
              W W^\top = g^2 I \ (\text{rows} < \text{cols}).

    Parameters
    ----------
    rng : portable_ml.random.Generator
    shape : tuple of int
        At least 2-D.
    gain : float
        Scale factor :math:`g`.
    dtype : dtype or str, optional
        Floating dtype of the rng's backend (default: its float dtype).
        The QR factorisation runs on the backend in that dtype.
    """
    _check_rng(rng)
    gain = check_real(gain, "gain")
    dt = _dtype(rng, dtype)
    if isinstance(shape, numbers.Integral) or len(tuple(shape)) < 2:
        raise ValueError(f"shape must have at least 2 dimensions for an orthogonal matrix; got shape={shape!r}")
    shape = tuple(_check_fan(s, "shape entries") for s in shape)
    rows, cols = math.prod(shape[:-1]), shape[-1]
    xp = rng.backend.xp
    a = rng.normal((max(rows, cols), min(rows, cols)), dtype=dt)
    q, r = xp.linalg.qr(a)
    d = xp.linalg.diagonal(r)
    q = q * xp.where(d < 0, -xp.ones_like(d), xp.ones_like(d))
    if rows < cols:
        q = xp.matrix_transpose(q)
    return xp.reshape(q * gain, shape)
