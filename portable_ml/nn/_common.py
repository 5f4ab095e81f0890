"""Shared helpers of the nn package: activation look-up and shape checks."""

from __future__ import annotations

from .. import activations as _activations

_IDENTITY_NAMES = ("identity", "linear")


def activations_module():
    # a plain module reference (no importlib call): torch.compile traces through it without a graph break
    return _activations


def resolve_activation(activation, name="activation"):
    """``None``/``"identity"`` -> identity, a name -> ``pml.activations.<name>``, a callable -> itself."""
    if activation is None or (isinstance(activation, str) and activation in _IDENTITY_NAMES):
        return None
    if callable(activation):
        return activation
    if isinstance(activation, str):
        fn = getattr(activations_module(), activation, None) if not activation.startswith("_") else None
        if callable(fn) and not activation.endswith(("_grad", "_vjp")):
            return fn
        raise ValueError(f"{name}={activation!r} is not an activation of portable_ml.activations")
    raise TypeError(f"{name} must be None, a callable or an activation name; got {type(activation).__name__}")


def resolve_activation_grad(activation_grad, name="activation_grad"):
    """The elementwise derivative f'(z): a callable, or an activation name (``"relu"`` or ``"relu_grad"``)."""
    if activation_grad is None or (isinstance(activation_grad, str) and activation_grad in _IDENTITY_NAMES):
        return None
    if callable(activation_grad):
        return activation_grad
    if isinstance(activation_grad, str):
        base = activation_grad[: -len("_grad")] if activation_grad.endswith("_grad") else activation_grad
        if base in ("softmax", "log_softmax"):
            raise ValueError(
                f"{name}={activation_grad!r}: {base} is not elementwise, so it has no elementwise derivative; "
                f"turn dL/da into dL/dz with pml.activations.{base}_vjp and pass activation_grad=None"
            )
        fn = getattr(activations_module(), base + "_grad", None) if not base.startswith("_") else None
        if callable(fn):
            return fn
        raise ValueError(f"{name}={activation_grad!r}: portable_ml.activations has no {base}_grad")
    raise TypeError(f"{name} must be None, a callable or an activation name; got {type(activation_grad).__name__}")


def broadcast_shapes(shapes, names):
    """The broadcast of ``shapes`` (tuples of ints), or a ValueError naming the arguments."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(-ndim, 0):
        dims = {s[i] for s in shapes if len(s) >= -i and s[i] != 1}
        dims.discard(None)
        if len(dims) > 1:
            got = ", ".join(f"{n}{tuple(s)}" for n, s in zip(names, shapes))
            raise ValueError(f"shapes do not broadcast: {got}")
        out.append(dims.pop() if dims else 1)
    return tuple(out)
