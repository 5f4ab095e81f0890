"""Registry cases for :mod:`portable_ml.activations`.

References: float64 NumPy / ``scipy.special`` transcriptions of the formulas
(written in their stable forms: ``expit``, ``logaddexp``, ``erfc``), PyTorch
for softsign; every ``*_grad`` is linked to its function (checked against its
central differences) and has its own closed-form reference.
"""

import math

import numpy as np

from ... import activations as A
from ..registry import Case, Reference, normal

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SCIPY = ("scipy.special",)


def _x(r):
    return (normal(r, 3, 7, scale=3.0),)


def _x_and_cotangent(r):
    return (normal(r, 4, 6, scale=3.0), normal(r, 4, 6))


#: the tails, tiny magnitudes and the kink at 0 (the references follow jax.nn there), exact in float32
_EXTREME_X = np.array([-1e4, -1e3, -100.0, -30.0, -1e-30, 0.0, 1e-30, 30.0, 100.0, 1e3, 1e4])


def _extreme_x():
    return (_EXTREME_X,)


def _extreme_logits():
    x = np.array([[1e4, -1e4, 0.0, 1e4, -3.0], [-1e4, -1e4, -1e4, -1e4, -1e4], [1.0, 2.0, 3.0, 4.0, 5.0],
                  [-1e4, 1e3, 0.0, -1.0, 1e3]])
    return (x, np.linspace(-1.0, 1.0, x.size).reshape(x.shape))


# ------------------------------------------------------------------ references (float64 host)
def _expit(x):
    from scipy.special import expit

    return expit(x)


def _sech2(x):
    """sech^2 x = 4 e^{-2|x|} / (1 + e^{-2|x|})^2, without overflow."""
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def _softplus(x):
    return np.logaddexp(0.0, x)


def _gelu(x, approximate=True):
    from scipy.special import erfc

    if approximate:  # x (1 + tanh u) / 2 = x expit(2u): no cancellation for x << 0
        return x * _expit(2.0 * _SQRT_2_OVER_PI * (x + 0.044715 * x**3))
    return 0.5 * x * erfc(-x / math.sqrt(2.0))


def _gelu_grad(x, approximate=True):
    from scipy.special import erfc

    if approximate:
        u2 = 2.0 * _SQRT_2_OVER_PI * (x + 0.044715 * x**3)
        du2 = 2.0 * _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x**2)
        return _expit(u2) + x * du2 * _expit(u2) * _expit(-u2)
    return 0.5 * erfc(-x / math.sqrt(2.0)) + x * np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)


def _selu(x):
    return A.SELU_SCALE * np.where(x > 0, x, A.SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def _torch_softsign(x):
    import torch

    return torch.nn.functional.softsign(torch.as_tensor(x)).numpy()


# name -> (options, value reference, gradient reference, modules the references need, source)
_ELEMENTWISE = {
    "sigmoid": ({}, _expit, lambda x: _expit(x) * _expit(-x), _SCIPY, "scipy.special.expit"),
    "tanh": ({}, np.tanh, _sech2, (), "NumPy float64"),
    "relu": ({}, lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float), (), "NumPy float64"),
    "leaky_relu": ({"alpha": 0.1}, lambda x, alpha: np.where(x >= 0, x, alpha * x),
                   lambda x, alpha: np.where(x >= 0, 1.0, alpha), (), "NumPy float64"),
    "elu": ({"alpha": 1.5}, lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
            lambda x, alpha: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0))), (), "NumPy float64"),
    "selu": ({}, _selu, lambda x: A.SELU_SCALE * np.where(x > 0, 1.0, A.SELU_ALPHA * np.exp(np.minimum(x, 0.0))),
             (), "NumPy float64"),
    "gelu": ({}, _gelu, _gelu_grad, _SCIPY, "scipy.special (expit form)"),
    "gelu[approximate=False]": ({"approximate": False}, _gelu, _gelu_grad, _SCIPY, "scipy.special.erfc"),
    "swish": ({}, lambda x: x * _expit(x), lambda x: _expit(x) + x * _expit(x) * _expit(-x), _SCIPY,
              "scipy.special.expit"),
    "silu": ({}, lambda x: x * _expit(x), lambda x: _expit(x) + x * _expit(x) * _expit(-x), _SCIPY,
             "scipy.special.expit"),
    "mish": ({}, lambda x: x * np.tanh(_softplus(x)),
             lambda x: np.tanh(_softplus(x)) + x * _sech2(_softplus(x)) * _expit(x), _SCIPY, "NumPy float64"),
    "softplus": ({}, _softplus, _expit, _SCIPY, "numpy.logaddexp"),
    "softsign": ({}, _torch_softsign, lambda x: 1.0 / (1.0 + np.abs(x)) ** 2, ("torch",),
                 "torch.nn.functional.softsign"),
}


def _elementwise(key):
    kw, ref, gref, needs, source = _ELEMENTWISE[key]
    name, _, suffix = key.partition("[")
    suffix = f"[{suffix}" if suffix else ""
    fn_name = f"activations.{name}{suffix}"
    return [
        Case(fn_name, getattr(A, name), _x, kwargs=kw, grad_argnums=(0,), extremes=_extreme_x,
             tol="accurate", reference=Reference(ref, source, needs)),
        Case(f"activations.{name}_grad{suffix}", getattr(A, name + "_grad"), _x, kwargs=kw, grad_argnums=(0,),
             extremes=_extreme_x, tol="accurate", grad_of=fn_name, reference=Reference(gref, "closed form, NumPy float64", needs)),
    ]


# ------------------------------------------------------------------ the softmax family
def _softmax(x, axis=-1):
    from scipy.special import softmax

    return softmax(x, axis=axis)


def _log_softmax(x, axis=-1):
    from scipy.special import log_softmax

    return log_softmax(x, axis=axis)


def _softmax_vjp(x, g, axis=-1):
    s = _softmax(x, axis=axis)
    return s * (g - np.sum(g * s, axis=axis, keepdims=True))


def _log_softmax_vjp(x, g, axis=-1):
    return g - _softmax(x, axis=axis) * np.sum(g, axis=axis, keepdims=True)


_AXES = ({"axis": -1}, {"axis": 0}, {"axis": (0, 1)})

CASES = [c for key in _ELEMENTWISE for c in _elementwise(key)] + [
    Case("activations.softmax", A.softmax, lambda r: (normal(r, 4, 6, scale=3.0),), kwargs={"axis": 0},
         grad_argnums=(0,), extremes=lambda: _extreme_logits()[:1], sweep=_AXES, tol="accurate",
         reference=Reference(_softmax, "scipy.special.softmax", _SCIPY)),
    Case("activations.log_softmax", A.log_softmax, lambda r: (normal(r, 4, 6, scale=3.0),), grad_argnums=(0,),
         extremes=lambda: _extreme_logits()[:1], sweep=_AXES, tol="accurate",
         reference=Reference(_log_softmax, "scipy.special.log_softmax", _SCIPY)),
    Case("activations.softmax_vjp", A.softmax_vjp, _x_and_cotangent, grad_argnums=(0, 1), extremes=_extreme_logits,
         sweep=_AXES, tol="accurate", reference=Reference(_softmax_vjp, "s (g - <g, s>), scipy.special.softmax", _SCIPY)),
    Case("activations.log_softmax_vjp", A.log_softmax_vjp, _x_and_cotangent, kwargs={"axis": 0},
         grad_argnums=(0, 1), extremes=_extreme_logits, sweep=_AXES, tol="accurate",
         reference=Reference(_log_softmax_vjp, "g - s sum(g), scipy.special.softmax", _SCIPY)),
]
