"""Cases for ``portable_ml.gradients``.

The pytree functions are registered through wrappers that build a small
nested tree (a dict holding an array and a list) from array arguments, so
the invariants cover the pytree path.  ``check_gradient`` returns Python
values by contract (``(bool, float)``, one host read), so it cannot run under
``jax.jit`` and has no case; ``tests/test_gradients.py`` covers it.
"""

from ... import gradients as G
from ..._xp import array_namespace
from ..registry import Case, normal


def _tree(a, b):
    return {"w": a, "layers": [b]}


def _smooth(z):
    xp = array_namespace(z)
    return xp.sum(xp.sin(z) * z) + 0.5 * xp.sum(z * z * z)


def _numerical_gradient(x, eps):
    return G.numerical_gradient(_smooth, x, eps=eps)


def _numerical_gradient_one_sided(x, eps):
    return G.numerical_gradient(_smooth, x, eps=eps, method="forward")


def _vector_field(z):
    xp = array_namespace(z)
    return xp.stack([xp.sum(z * xp.sin(z), axis=-1), xp.prod(z, axis=-1) + xp.sum(z * z, axis=-1)], axis=-1)


def _numerical_jacobian(x, eps):
    return G.numerical_jacobian(_vector_field, x, eps=eps)


def _coupled(z):
    """Every second derivative nonzero (the off-diagonal ones of ``_smooth`` are 0, where only the
    rounding noise of the difference quotient would be compared)."""
    xp = array_namespace(z)
    return xp.sum(xp.sin(z)) * xp.sum(z) + 0.5 * xp.sum(z * z * z)


def _numerical_hessian(x, eps):
    return G.numerical_hessian(_coupled, x, eps=eps)


def _grads(r):
    return normal(r, 4, 3), normal(r, 3)


CASES = [
    # float32 vs float64: the difference quotient amplifies float32 rounding of f by 1/h
    Case("gradients.numerical_gradient", _numerical_gradient, lambda r: (normal(r, 2, 3), 1e-3),
         grad_argnums=(0,), tol="solver"),
    Case("gradients.clip_by_value", lambda a, b, lo, hi: G.clip_by_value(_tree(a, b), lo, hi),
         lambda r: (*_grads(r), -0.5, 0.5), grad_argnums=(0, 1)),
    Case("gradients.clip_by_global_norm", lambda a, b, c: G.clip_by_global_norm(_tree(a, b), c),
         lambda r: (*_grads(r), 1.5), grad_argnums=(0, 1)),
    Case("gradients.global_norm", lambda a, b: G.global_norm(_tree(a, b)), _grads, grad_argnums=(0, 1)),
    Case("gradients.grad_norms", lambda a, b: G.grad_norms(_tree(a, b)), _grads, grad_argnums=(0, 1)),
    Case("gradients.grad_stats", lambda a, b: G.grad_stats(_tree(a, b)), _grads, grad_argnums=(0, 1)),
    # one-sided differences: error O(h), float32 rounding amplified by 1/h as for the central ones
    Case("gradients.numerical_gradient[method=forward]", _numerical_gradient_one_sided,
         lambda r: (normal(r, 2, 3), 1e-3), grad_argnums=(0,), tol="solver"),
    Case("gradients.numerical_jacobian", _numerical_jacobian, lambda r: (normal(r, 2, 3), 1e-3), grad_argnums=(0,),
         tol="solver"),
    Case("gradients.numerical_hessian", _numerical_hessian, lambda r: (normal(r, 2, 3), 0.05), grad_argnums=(0,),
         tol="solver"),
]
