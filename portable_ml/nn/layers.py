r"""Dense (fully connected) layer: forward pass and analytic backward pass.

Conventions (the formula sheets' chain rule, with row-vector samples)::

    z = x W + b          x: (..., d_in)   W: (d_in, d_out)   b: (d_out,)
    a = f(z)             z, a: (..., d_out)

``dense_backward`` takes :math:`\delta = \partial L/\partial a` (the gradient
arriving from the layer above) and returns the gradients with respect to the
layer's input and parameters.  Leading axes of ``x`` are batch axes: the
parameter gradients sum over all of them.
"""

from __future__ import annotations

from .._xp import array_namespace, as_float, check_ndim, float_dtype
from ._common import resolve_activation, resolve_activation_grad

__all__ = ["dense_forward", "dense_backward"]


def _check_dense(x, W, b):
    check_ndim(W, "W", 2)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (..., d_in); got a 0-D array")
    if x.shape[-1] != W.shape[0]:
        raise ValueError(
            f"x and W do not chain: x.shape[-1]={x.shape[-1]} must equal W.shape[0]={W.shape[0]} "
            f"(x.shape={tuple(x.shape)}, W.shape={tuple(W.shape)})"
        )
    if b is not None and tuple(b.shape) != (W.shape[1],):
        raise ValueError(f"b must have shape (d_out,) = ({W.shape[1]},); got b.shape={tuple(b.shape)}")


def dense_forward(x, W, b, *, activation=None):
    r"""Forward pass of a dense layer.

    .. math:: z = x W + b, \qquad a = f(z)

    Parameters
    ----------
    x : array of shape (..., d_in)
        Inputs, one sample per row (any number of leading batch axes).
    W : array of shape (d_in, d_out)
        Weights.
    b : array of shape (d_out,) or None
        Bias (``None`` for a layer without bias).
    activation : callable, str or None
        :math:`f`: a function of ``z``, the name of a function in
        :mod:`portable_ml.activations` (``"relu"``, ``"tanh"``, ``"softmax"``, ...),
        or ``None`` / ``"identity"`` for :math:`a = z`.

    Returns
    -------
    a : array of shape (..., d_out)
        Activations :math:`f(z)`.
    z : array of shape (..., d_out)
        Pre-activations, needed by :func:`dense_backward`.

    Raises
    ------
    ValueError
        If ``W`` is not 2-D or the shapes of ``x``, ``W`` and ``b`` do not chain.
    """
    f = resolve_activation(activation)
    xp = array_namespace(x, W, b)
    dtype = float_dtype(xp, x, W, b)
    x, W = as_float(x, xp, dtype), as_float(W, xp, dtype)
    b = None if b is None else as_float(b, xp, dtype)
    _check_dense(x, W, b)
    z = xp.matmul(x, W)
    if b is not None:
        z = z + b
    return (z if f is None else f(z)), z


def dense_backward(delta, x, W, z, *, activation_grad=None):
    r"""Backward pass of a dense layer: gradients of the loss w.r.t. input, weights and bias.

    With :math:`\delta = \partial L/\partial a` for :math:`a = f(z)`,
    :math:`z = xW + b`, the chain rule gives

    .. math::
        \frac{\partial L}{\partial z} = \delta \odot f'(z), \qquad
        \frac{\partial L}{\partial W} = x^\top \frac{\partial L}{\partial z}, \qquad
        \frac{\partial L}{\partial b} = \sum_{n} \frac{\partial L}{\partial z_{n}}, \qquad
        \frac{\partial L}{\partial x} = \frac{\partial L}{\partial z} W^\top

    where the sums (and the product :math:`x^\top \partial L/\partial z`) run
    over every leading batch axis.  If the upstream gradient is already
    :math:`\partial L/\partial z` (e.g. the fused :math:`(p - y)/n` of a
    softmax or sigmoid output with cross-entropy, or a softmax layer whose
    ``softmax_vjp`` you applied), leave ``activation_grad=None``.

    Parameters
    ----------
    delta : array of shape (..., d_out)
        :math:`\partial L/\partial a`, the gradient arriving from above.
    x : array of shape (..., d_in)
        The layer's input in the forward pass.
    W : array of shape (d_in, d_out)
        The layer's weights.
    z : array of shape (..., d_out) or None
        Pre-activations from :func:`dense_forward` (unused, may be ``None``,
        when ``activation_grad`` is ``None``).
    activation_grad : callable, str or None
        :math:`f'`, applied elementwise to ``z``: a callable, or an activation
        name (``"relu"`` or ``"relu_grad"`` both resolve to
        ``pml.activations.relu_grad``); ``None`` for the identity.

    Returns
    -------
    dx : array of shape (..., d_in)
    dW : array of shape (d_in, d_out)
    db : array of shape (d_out,)

    Raises
    ------
    ValueError
        If the shapes do not chain, or ``softmax`` is given as ``activation_grad``
        (not elementwise: use ``pml.activations.softmax_vjp`` first).
    """
    fprime = resolve_activation_grad(activation_grad)
    if fprime is not None and z is None:
        raise ValueError("z (the pre-activations) is required when activation_grad is given")
    use_z = z if fprime is not None else None
    xp = array_namespace(delta, x, W, use_z)
    dtype = float_dtype(xp, delta, x, W, use_z)
    delta, x, W = (as_float(t, xp, dtype) for t in (delta, x, W))
    _check_dense(x, W, None)
    out_shape = tuple(x.shape[:-1]) + (W.shape[1],)
    if tuple(delta.shape) != out_shape:
        raise ValueError(f"delta must have the layer output's shape {out_shape}; got delta.shape={tuple(delta.shape)}")
    if fprime is not None:
        z = as_float(z, xp, dtype)
        if tuple(z.shape) != out_shape:
            raise ValueError(f"z must have the layer output's shape {out_shape}; got z.shape={tuple(z.shape)}")
        dz = delta * fprime(z)
    else:
        dz = delta
    return _backward(dz, x, W, xp=xp, need_dx=True)


def _backward(dz, x, W, *, xp, need_dx):
    """(dx, dW, db) from dL/dz; ``dx`` is None when not needed (first layer of a network)."""
    d_in, d_out = W.shape
    if x.ndim == 2:
        x2, dz2 = x, dz
    else:
        x2, dz2 = xp.reshape(x, (-1, d_in)), xp.reshape(dz, (-1, d_out))
    dW = xp.matmul(xp.matrix_transpose(x2), dz2)
    db = xp.sum(dz2, axis=0)
    dx = xp.matmul(dz, xp.matrix_transpose(W)) if need_dx else None
    return dx, dW, db
