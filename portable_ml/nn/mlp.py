r"""A multi-layer perceptron with functional parameters and analytic backprop."""

from __future__ import annotations

import numbers

from .. import autodiff as _autodiff
from .. import losses as _losses_module
from .._validate import check_array
from .._xp import array_namespace, as_float, float_dtype
from ..random import Generator
from . import init as _init
from ._common import activations_module
from .layers import _backward

__all__ = ["MLP"]

_OUTPUTS = ("sigmoid", "softmax", "identity")
_HE = ("relu", "leaky_relu")
_LECUN = ("selu",)


def _losses():
    # a plain module reference (no importlib call): torch.compile traces through it without a graph break
    return _losses_module


class MLP:
    r"""Multi-layer perceptron: dense layers, one hidden activation, an output head.

    .. math::
        a_0 = x,\qquad z_l = a_{l-1} W_l + b_l,\qquad a_l = f(z_l)\ (l < L),\qquad
        \hat y = g(z_L)

    with :math:`f` the hidden ``activation`` and :math:`g` the ``output``
    (sigmoid, softmax or identity).  The model holds only its architecture;
    parameters are a plain pytree — a list of ``{"W": (d_{l-1}, d_l), "b": (d_l,)}``
    dicts — passed to every method, so ``init``, ``apply`` and
    ``loss_and_grads`` are pure functions that run under ``jax.jit``, and
    training needs no autodiff framework (the gradients are the chain rule
    written out).

    The loss follows the output, each a mean over samples:

    ============  =================================================  ======================================
    ``output``    loss :math:`L` (``pml.losses``)                     :math:`\partial L/\partial z_L`
    ============  =================================================  ======================================
    sigmoid       ``binary_cross_entropy_with_logits`` (mean over     :math:`(\sigma(z_L) - y)/(n k)`
                  all :math:`n k` elements)
    softmax       ``softmax_cross_entropy``, one-hot ``y`` (sum       :math:`(\operatorname{softmax}(z_L) - y)/n`
                  over classes, mean over samples)
    identity      ``mse`` (mean over all elements)                    :math:`2 (z_L - y)/(n k)`
    ============  =================================================  ======================================

    Both cross-entropies are computed from the logits :math:`z_L`, so they
    never overflow or take ``log(0)``.  Backward, for :math:`l = L, \dots, 1`:

    .. math::
        \frac{\partial L}{\partial W_l} = a_{l-1}^\top \delta_l,\quad
        \frac{\partial L}{\partial b_l} = \textstyle\sum_n \delta_l,\quad
        \delta_{l-1} = (\delta_l W_l^\top) \odot f'(z_{l-1}),\qquad
        \delta_L = \frac{\partial L}{\partial z_L}

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(d_in, hidden_1, ..., d_out)``, at least two entries.
    activation : str or callable
        Hidden activation, a name in :mod:`portable_ml.activations` with a
        ``*_grad`` (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ...),
        or a user layer: a function ``h = f(z)`` of the pre-activations
        (shape (n, d_l) in and out; it may mix the units of a row, e.g. a
        normalisation) written with the array namespace of its argument.
        A callable is differentiated by :mod:`portable_ml.autodiff`.
    output : {"sigmoid", "softmax", "identity"}
        Output head (and so the default loss).
    loss : callable, optional
        A user loss ``loss(y, y_hat) -> 0-d array`` of the targets and the
        network output :math:`\hat y = g(z_L)` (probabilities for the
        sigmoid and softmax heads, raw values for identity), written with
        the array namespace of its arguments (``pml.namespace(y, y_hat)``);
        replaces the loss of the table above.  :meth:`loss_and_grads` then
        differentiates it with :func:`portable_ml.autodiff.value_and_grad`
        (``jax.value_and_grad`` on JAX).

    Examples
    --------
    >>> import portable_ml as pml
    >>> X, y = pml.datasets.make_moons(200, noise=0.1, seed=0)
    >>> net = pml.nn.MLP([2, 16, 1], activation="tanh", output="sigmoid")
    >>> params = net.init(pml.get_backend("numpy").rng(0))
    >>> loss, grads = net.loss_and_grads(params, X, y[:, None] * 1.0)
    """

    def __init__(self, layer_sizes, *, activation="relu", output="sigmoid", loss=None):
        sizes = tuple(layer_sizes)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
            raise ValueError(f"layer_sizes must be at least two positive integers (d_in, ..., d_out); "
                             f"got layer_sizes={layer_sizes!r}")
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {_OUTPUTS}; got output={output!r}")
        if output == "softmax" and sizes[-1] < 2:
            raise ValueError(f"a softmax output needs at least 2 units; got layer_sizes={layer_sizes!r}")
        acts = activations_module()
        if loss is not None and not callable(loss):
            raise TypeError(f"loss must be None or a callable loss(y, y_hat); got {type(loss).__name__}")
        if callable(activation) and not isinstance(activation, str):
            f, fprime = activation, None  # a user layer: differentiated by portable_ml.autodiff
        elif not isinstance(activation, str):
            raise TypeError(f"activation must be the name of an activation or a callable; "
                            f"got {type(activation).__name__}")
        else:
            f, fprime = getattr(acts, activation, None), getattr(acts, activation + "_grad", None)
            if activation.startswith("_") or not callable(f) or not callable(fprime):
                raise ValueError(f"activation={activation!r} is not an elementwise activation with a *_grad "
                                 "in portable_ml.activations (e.g. 'relu', 'tanh', 'sigmoid')")
            # one node with the analytic *_grad when differentiated by portable_ml.autodiff (a user loss)
            f = _autodiff.primitive(f)
        self.layer_sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self.output = output
        self.loss = loss
        self._f, self._fprime = f, fprime

    def __repr__(self):
        act = self.activation if isinstance(self.activation, str) else getattr(self.activation, "__name__", "f")
        extra = "" if self.loss is None else f", loss={getattr(self.loss, '__name__', 'loss')}"
        return f"MLP({list(self.layer_sizes)}, activation={act!r}, output={self.output!r}{extra})"

    def __eq__(self, other):
        # Equal architectures are interchangeable: ``jax.jit`` (which hashes a
        # static ``net`` argument) then reuses one compiled step across fits.
        if type(other) is not type(self):
            return NotImplemented
        return ((self.layer_sizes, self.activation, self.output, self.loss)
                == (other.layer_sizes, other.activation, other.output, other.loss))

    def __hash__(self):
        return hash((type(self), self.layer_sizes, self.activation, self.output, self.loss))

    @property
    def num_layers(self):
        return len(self.layer_sizes) - 1

    # ------------------------------------------------------------ parameters
    def init(self, rng, *, dtype=None):
        """Fresh parameters: a list of ``{"W": (d_in, d_out), "b": (d_out,)}`` dicts.

        Hidden layers use :func:`~portable_ml.nn.he_normal` for ReLU-family
        activations (``relu``, ``leaky_relu``), :func:`~portable_ml.nn.lecun_normal`
        for ``selu`` and :func:`~portable_ml.nn.xavier_uniform` otherwise; the
        output layer uses ``xavier_uniform``; biases start at zero.  Arrays are
        on ``rng``'s backend and device, in ``dtype`` (default its float dtype),
        and the same seed gives the same parameters on every backend.
        """
        if not isinstance(rng, Generator):
            raise TypeError(f"rng must be a portable_ml.random.Generator; got {type(rng).__name__}")
        if self.activation in _HE:
            hidden = _init.he_normal
        elif self.activation in _LECUN:
            hidden = _init.lecun_normal
        else:
            hidden = _init.xavier_uniform
        params = []
        for i, (d_in, d_out) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:])):
            init = _init.xavier_uniform if i == self.num_layers - 1 else hidden
            W = init(rng, d_in, d_out, dtype=dtype)
            b = rng.backend.zeros((d_out,), dtype=W.dtype)
            params.append({"W": W, "b": b})
        return params

    def _check_params(self, params):
        if not isinstance(params, (list, tuple)) or len(params) != self.num_layers:
            raise ValueError(f"params must be a list of {self.num_layers} {{'W', 'b'}} dicts "
                             f"(from MLP.init); got {type(params).__name__} of length "
                             f"{len(params) if hasattr(params, '__len__') else '?'}")
        for i, (layer, d_in, d_out) in enumerate(zip(params, self.layer_sizes[:-1], self.layer_sizes[1:])):
            W, b = check_array(layer["W"], f"params[{i}]['W']"), check_array(layer["b"], f"params[{i}]['b']")
            if tuple(W.shape) != (d_in, d_out) or tuple(b.shape) != (d_out,):
                raise ValueError(f"params[{i}] must hold W of shape {(d_in, d_out)} and b of shape {(d_out,)}; "
                                 f"got W.shape={tuple(W.shape)}, b.shape={tuple(b.shape)}")

    def _prepare(self, params, x, y=None):
        self._check_params(params)
        leaves = [t for layer in params for t in (layer["W"], layer["b"])]
        xp = array_namespace(x, y, *leaves)
        dtype = float_dtype(xp, x, *leaves)
        x = as_float(x, xp, dtype)
        if x.ndim < 1 or x.shape[-1] != self.layer_sizes[0]:
            raise ValueError(f"x must have shape (..., {self.layer_sizes[0]}); got x.shape={tuple(x.shape)}")
        params = [{"W": as_float(p["W"], xp, dtype), "b": as_float(p["b"], xp, dtype)} for p in params]
        return xp, dtype, params, x

    def _forward(self, params, x, xp):
        """Inputs of each layer and the pre-activations z_l."""
        inputs, zs, h = [], [], x
        for i, layer in enumerate(params):
            z = xp.matmul(h, layer["W"]) + layer["b"]
            inputs.append(h)
            zs.append(z)
            if i < len(params) - 1:
                h = self._f(z)
        return inputs, zs

    def _head(self, z):
        acts = activations_module()
        if self.output == "sigmoid":
            return acts.sigmoid(z)
        if self.output == "softmax":
            return acts.softmax(z, axis=-1)
        return z

    # ------------------------------------------------------------ functional API
    def logits(self, params, x):
        """Output pre-activations :math:`z_L`, shape (..., d_out)."""
        xp, _, params, x = self._prepare(params, x)
        return self._forward(params, x, xp)[1][-1]

    def apply(self, params, x):
        r"""Network output :math:`\hat y = g(z_L)` for inputs ``x`` of shape (..., d_in).

        Probabilities for the sigmoid and softmax heads, raw values for identity;
        shape (..., d_out).
        """
        xp, _, params, x = self._prepare(params, x)
        return self._head(self._forward(params, x, xp)[1][-1])

    def loss_and_grads(self, params, x, y):
        r"""Mean loss and its gradient w.r.t. every parameter, by analytic backprop.

        Parameters
        ----------
        params : list of dict
            As returned by :meth:`init`.
        x : array of shape (n, d_in)
            Inputs (any leading batch axes are allowed and averaged over).
        y : array of shape (n, d_out)
            Targets with the output's shape: 0/1 (or soft) labels for sigmoid,
            one-hot rows for softmax, values for identity.

        Returns
        -------
        loss : 0-d array
            The loss of the output head (table in the class docstring).
        grads : list of dict
            Same structure as ``params``: ``{"W": dL/dW_l, "b": dL/db_l}``.

        Raises
        ------
        ValueError
            If ``y`` does not have the output's shape, or ``x``/``params`` have the wrong shapes.
        """
        xp, dtype, params, x = self._prepare(params, x, y)
        y = as_float(y, xp, dtype)
        if self.loss is not None or self._fprime is None:
            return self._autodiff_loss_and_grads(params, x, y)
        inputs, zs = self._forward(params, x, xp)
        logits = zs[-1]
        if tuple(y.shape) != tuple(logits.shape):
            raise ValueError(f"y must have the output's shape {tuple(logits.shape)} "
                             f"(one-hot rows for a softmax output); got y.shape={tuple(y.shape)}")
        losses = _losses()  # the output delta is the head loss's own analytic gradient w.r.t. the logits
        loss_fn, loss_grad = {
            "sigmoid": (losses.binary_cross_entropy_with_logits, losses.binary_cross_entropy_with_logits_grad),
            "softmax": (losses.softmax_cross_entropy, losses.softmax_cross_entropy_grad),
        }.get(self.output, (losses.mse, losses.mse_grad))
        loss, delta = loss_fn(y, logits), loss_grad(y, logits)
        grads = [None] * len(params)
        for i in range(len(params) - 1, -1, -1):
            W = params[i]["W"]
            if i < len(params) - 1:
                delta = delta * self._fprime(zs[i])
            dx, dW, db = _backward(delta, inputs[i], W, xp=xp, need_dx=i > 0)
            grads[i] = {"W": dW, "b": db}
            delta = dx
        return loss, grads

    def _autodiff_loss_and_grads(self, params, x, y):
        """``loss_and_grads`` for a user loss or layer: reverse-mode autodiff of the forward pass."""
        def objective(p):
            xp = array_namespace(x, y, *[t for layer in p for t in (layer["W"], layer["b"])])
            logits = self._forward(p, x, xp)[1][-1]
            if tuple(y.shape) != tuple(logits.shape):
                raise ValueError(f"y must have the output's shape {tuple(logits.shape)} "
                                 f"(one-hot rows for a softmax output); got y.shape={tuple(y.shape)}")
            if self.loss is not None:
                return self.loss(y, self._head(logits))
            losses = _losses()
            if self.output == "sigmoid":
                return _autodiff.primitive(losses.binary_cross_entropy_with_logits)(y, logits)
            if self.output == "softmax":
                return _autodiff.primitive(losses.softmax_cross_entropy)(y, logits)
            return _autodiff.primitive(losses.mse)(y, logits)

        return _autodiff.value_and_grad(objective)(params)
