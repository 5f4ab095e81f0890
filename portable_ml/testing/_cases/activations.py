"""Registry cases for :mod:`portable_ml.activations`."""

from ... import activations as A
from ..registry import Case, normal


def _x(r):
    return (normal(r, 3, 7, scale=3.0),)


def _x_and_cotangent(r):
    return (normal(r, 4, 6, scale=3.0), normal(r, 4, 6))


# (function name, keyword options, registry suffix); inputs are N(0, 3^2), never at a kink
_ELEMENTWISE = [
    ("sigmoid", {}, ""),
    ("tanh", {}, ""),
    ("relu", {}, ""),
    ("leaky_relu", {"alpha": 0.1}, ""),
    ("elu", {"alpha": 1.5}, ""),
    ("selu", {}, ""),
    ("gelu", {}, ""),
    ("gelu", {"approximate": False}, "[approximate=False]"),
    ("swish", {}, ""),
    ("silu", {}, ""),
    ("mish", {}, ""),
    ("softplus", {}, ""),
]

CASES = [
    Case(f"activations.{name}{grad}{suffix}", getattr(A, name + grad), _x, kwargs=kw, grad_argnums=(0,))
    for name, kw, suffix in _ELEMENTWISE
    for grad in ("", "_grad")
] + [
    Case("activations.softmax", A.softmax, lambda r: (normal(r, 4, 6, scale=3.0),), kwargs={"axis": 0},
         grad_argnums=(0,)),
    Case("activations.log_softmax", A.log_softmax, lambda r: (normal(r, 4, 6, scale=3.0),), grad_argnums=(0,)),
    Case("activations.softmax_vjp", A.softmax_vjp, _x_and_cotangent, grad_argnums=(0, 1)),
    Case("activations.log_softmax_vjp", A.log_softmax_vjp, _x_and_cotangent, kwargs={"axis": 0},
         grad_argnums=(0, 1)),
]
