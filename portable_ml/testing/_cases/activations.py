"""Registry cases for :mod:`portable_ml.activations`.

References: float64 NumPy / ``scipy.special`` transcriptions of the formulas
(written in their stable forms: ``expit``, ``logaddexp``, ``erfc``), PyTorch
for softsign; every ``*_grad`` is linked to its function (checked against its
central differences) and has its own closed-form reference.
"""

import math

import numpy as np

from ... import activations as A
from ..registry import Case, Reference, normal, positive, unit

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


def _squareplus(x, b):  # (x + r)/2, and b/(2(r - x)) where x < 0 (no cancellation), r = hypot(x, sqrt b)
    r = np.hypot(x, np.sqrt(b))
    return np.where(x < 0, b / (2.0 * (r - np.minimum(x, 0.0))), (x + r) / 2.0)


def _squareplus_grad(x, b):
    r = np.hypot(x, np.sqrt(b))
    return np.where(x < 0, b / (2.0 * r * (r - np.minimum(x, 0.0))), (1.0 + x / r) / 2.0)


def _selu(x):
    return A.SELU_SCALE * np.where(x > 0, x, A.SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def _torch_softsign(x):
    import torch

    return torch.nn.functional.softsign(torch.as_tensor(x)).numpy()


def _expit_neg(x):
    return _expit(-x)


def _log_expit(x):
    from scipy.special import log_expit

    return log_expit(x)


def _hard_sigmoid(x):
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _hard_swish_grad(x):
    return np.where(x <= -3.0, 0.0, np.where(x >= 3.0, 1.0, (2.0 * x + 3.0) / 6.0))


def _relu_opts(x, max_value=None, threshold=0.0):
    out = np.where(x >= threshold, x, 0.0)
    return out if max_value is None else np.minimum(out, max_value)


def _relu_opts_grad(x, max_value=None, threshold=0.0):
    inside = x > threshold
    return (inside if max_value is None else inside & (x < max_value)).astype(float)


def _logit(p):
    from scipy.special import logit

    return logit(p)


def _log1mexp(x):  # log(1 - e^{-x}) = log(-expm1(-x)), accurate in float64 for every x > 0 used here
    return np.log(-np.expm1(-x))


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
    "relu[max_value=2.5]": ({"max_value": 2.5}, _relu_opts, _relu_opts_grad, (), "Keras relu, NumPy float64"),
    "relu[threshold=-1.5]": ({"threshold": -1.5, "max_value": 4.0}, _relu_opts, _relu_opts_grad, (),
                             "Keras relu, NumPy float64"),
    "relu6": ({}, lambda x: np.clip(x, 0.0, 6.0), lambda x: ((x > 0) & (x < 6)).astype(float), (), "NumPy float64"),
    "celu": ({"alpha": 1.5}, lambda x, alpha: np.maximum(x, 0.0) + alpha * np.expm1(np.minimum(x, 0.0) / alpha),
             lambda x, alpha: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / alpha)), (), "NumPy float64"),
    "squareplus": ({"b": 4.0}, _squareplus, _squareplus_grad, (), "jax.nn.squareplus, NumPy float64 (stable form)"),
    "hard_sigmoid": ({}, _hard_sigmoid, lambda x: ((x > -3) & (x < 3)) / 6.0, (), "NumPy float64"),
    "hard_tanh": ({}, lambda x: np.clip(x, -1.0, 1.0), lambda x: ((x >= -1) & (x <= 1)).astype(float), (),
                  "NumPy float64"),
    "hard_swish": ({}, lambda x: x * _hard_sigmoid(x), _hard_swish_grad, (), "NumPy float64"),
    "hard_silu": ({}, lambda x: x * _hard_sigmoid(x), _hard_swish_grad, (), "NumPy float64"),
    "log_sigmoid": ({}, _log_expit, _expit_neg, _SCIPY, "scipy.special.log_expit"),
}

#: elementwise functions of a restricted domain: name -> (inputs, extreme inputs, value ref, grad ref, needs, source)
_DOMAIN = {
    "logit": (lambda r: (unit(r, 3, 7),),
              lambda: (np.array([2.0**-100, 2.0**-30, 0.25, 0.5, 0.75, 1.0 - 2.0**-24]),),
              _logit, lambda p: 1.0 / (p * (1.0 - p)), _SCIPY, "scipy.special.logit"),
    "log1mexp": (lambda r: (positive(r, 3, 7, low=0.05, high=6.0),),
                 lambda: (np.array([2.0**-100, 2.0**-30, 0.5, 0.75, 1.0, 30.0, 100.0, 1e3, 1e4]),),
                 _log1mexp, lambda x: np.exp(-x) / -np.expm1(-x), (), "NumPy float64 (log of -expm1)"),
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
             extremes=_extreme_x, tol="accurate", reference=Reference(gref, "closed form, NumPy float64", needs)),
    ]


def _domain(name):
    make, extremes, ref, gref, needs, source = _DOMAIN[name]
    return [
        Case(f"activations.{name}", getattr(A, name), make, grad_argnums=(0,), extremes=extremes, tol="accurate",
             reference=Reference(ref, source, needs)),
        Case(f"activations.{name}_grad", getattr(A, name + "_grad"), make, grad_argnums=(0,), extremes=extremes,
             tol="accurate",
             reference=Reference(gref, "closed form, NumPy float64", needs)),
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


def _with_mask(r):
    x = normal(r, 4, 6, scale=3.0)
    mask = r.random((4, 6)) < 0.7
    mask[1, :] = False  # a slice with nothing included
    return x, mask


def _softmax_where(x, mask):
    return A.softmax(x, where=mask)


def _log_softmax_where_finite(x, mask):  # the excluded -inf entries replaced by 0 (a differentiable output)
    from ... import _xp

    xp = _xp.array_namespace(x)
    out = A.log_softmax(x, where=mask)
    return xp.where(mask, out, xp.zeros_like(out))


def _softmax_where_ref(x, mask):
    xm = np.where(mask, x, -np.inf)
    m = xm.max(axis=-1, keepdims=True)
    e = np.exp(xm - np.where(np.isfinite(m), m, 0.0))  # exp(-inf) = 0 at the excluded entries
    total = e.sum(axis=-1, keepdims=True)
    return e / np.where(total > 0, total, 1.0)


def _log_softmax_where_ref(x, mask):
    s = _softmax_where_ref(x, mask)
    with np.errstate(divide="ignore"):
        return np.where(mask, np.log(np.where(mask, s, 1.0)), 0.0)


def _glu(x, axis=-1):
    a, b = np.split(x, 2, axis=axis)
    return a * _expit(b)


def _glu_vjp(x, g, axis=-1):
    a, b = np.split(x, 2, axis=axis)
    s = _expit(b)
    return np.concatenate([g * s, g * a * s * _expit(-b)], axis=axis)


def _logsumexp(x, axis=-1, keepdims=False):
    from scipy.special import logsumexp

    return logsumexp(x, axis=axis, keepdims=keepdims)

CASES = [c for key in _ELEMENTWISE for c in _elementwise(key)] + [c for key in _DOMAIN for c in _domain(key)] + [
    Case("activations.softmax[where]", _softmax_where, _with_mask, grad_argnums=(0,), tol="accurate",
         reference=Reference(_softmax_where_ref, "NumPy float64 (masked, jax.nn.softmax's where)")),
    Case("activations.log_softmax[where]", _log_softmax_where_finite, _with_mask, grad_argnums=(0,),
         tol="accurate", reference=Reference(_log_softmax_where_ref, "NumPy float64 (masked)")),
    Case("activations.glu", A.glu, lambda r: (normal(r, 4, 8, scale=3.0),), grad_argnums=(0,),
         extremes=lambda: (_extreme_logits()[0][:, :4],), sweep=({"axis": 0},), tol="accurate",
         reference=Reference(_glu, "NumPy float64, scipy.special.expit", _SCIPY)),
    Case("activations.glu_vjp", A.glu_vjp, lambda r: (normal(r, 4, 6, scale=3.0), normal(r, 4, 3)),
         grad_argnums=(0, 1), tol="accurate", reference=Reference(_glu_vjp, "closed form, NumPy float64", _SCIPY)),
    Case("activations.logsumexp", A.logsumexp, lambda r: (normal(r, 4, 6, scale=3.0),), grad_argnums=(0,),
         extremes=lambda: _extreme_logits()[:1], sweep=({"axis": 0}, {"axis": (0, 1)}, {"keepdims": True}),
         tol="accurate", reference=Reference(_logsumexp, "scipy.special.logsumexp", _SCIPY)),
    Case("activations.logsumexp_grad", A.logsumexp_grad, lambda r: (normal(r, 4, 6, scale=3.0),), grad_argnums=(0,),
         extremes=lambda: _extreme_logits()[:1], sweep=({"axis": 0}, {"axis": (0, 1)}), tol="accurate",
         reference=Reference(_softmax, "scipy.special.softmax", _SCIPY)),

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
