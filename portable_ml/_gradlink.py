"""Links from public formulas to their analytic gradients, declared where each formula is defined.

A formula with an analytic gradient is decorated with the gradient's name::

    @differentiable("mse_grad", wrt=1)
    def mse(y_true, y_pred, *, reduction="mean"): ...

The link is read by :mod:`portable_ml.autodiff` (a call of ``mse`` on arrays
it traces records one operation whose VJP is ``mse_grad``) and checked
against the registry's ``grad_of`` links by the tests.  Three kinds:

``"grad"``
    ``grad(*args, **options)`` is the derivative of the *sum* of the
    formula's output with respect to argument ``wrt`` (elementwise
    activations, losses, score functions); for an unreduced output each
    item depends on its own inputs only.
``"reduction"``
    ``grad(x, axis=axis)`` is the gradient of a reduction along ``axis``
    (``logsumexp``), broadcast back over that axis.
``"vjp"``
    ``grad(x, cotangent, **options)`` is the vector-Jacobian product
    (``softmax_vjp``).

The decorator costs one ``isinstance`` test per positional argument on an
ordinary call; only a call with a traced argument goes to autodiff.  This
module imports nothing but :mod:`portable_ml._xp` (no NumPy, no testing layer).
"""

from __future__ import annotations

import functools

from . import _xp

__all__ = ["differentiable", "linked_formulas"]

_KINDS = ("grad", "reduction", "vjp")

#: set by portable_ml.autodiff when it is imported: ``dispatch(formula, args, kwargs)``
dispatch = None


def differentiable(grad, *, wrt=0, kind="grad"):
    """Declare ``grad`` (a name in the formula's module) as the analytic gradient of the decorated formula.

    Parameters
    ----------
    grad : str
        The name of the gradient function in the same module.
    wrt : int
        The positional argument the gradient is taken with respect to.
    kind : {"grad", "reduction", "vjp"}
        How the gradient is called (see the module docstring).

    Returns
    -------
    callable
        A decorator returning a wrapper with the formula's name, docstring
        and signature (``__wrapped__``) and the link in ``__pml_grad__``.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}; got {kind!r}")
    if not isinstance(grad, str) or not isinstance(wrt, int):
        raise TypeError(f"grad must be a name and wrt an int; got {grad!r}, {wrt!r}")

    def decorate(fn):
        @functools.wraps(fn)
        def formula(*args, **kwargs):
            tracing = _xp._TRACING
            if tracing is not None:
                tracer = tracing[0]
                for a in args:
                    if isinstance(a, tracer):
                        return dispatch(formula, args, kwargs)
            return fn(*args, **kwargs)

        formula.__pml_grad__ = (kind, grad, wrt)
        return formula

    return decorate


def linked_formulas(module):
    """``[(name, formula, gradient_name, kind, wrt)]`` for the public formulas of ``module`` with a link.

    Aliases (``silu = swish``) are listed under their own name, with their
    own gradient's name when the module has ``<alias>_grad`` bound to the
    same gradient.
    """
    out = []
    for name in getattr(module, "__all__", ()):
        fn = getattr(module, name, None)
        link = getattr(fn, "__pml_grad__", None)
        if link is None:
            continue
        kind, gname, wrt = link
        suffix = gname[len(fn.__name__):] if gname.startswith(fn.__name__) else None
        own = f"{name}{suffix}" if suffix else None
        if own is not None and getattr(module, own, None) is getattr(module, gname, None):
            gname = own
        out.append((name, fn, gname, kind, wrt))
    return out
