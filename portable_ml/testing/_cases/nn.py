"""Cases for the neural-network blocks (``portable_ml.nn``)."""

import functools

import numpy as np

from ...nn import MLP, dense_backward, dense_forward, multi_head_attention, scaled_dot_product_attention
from ..registry import Case, normal, one_hot



def _dense(r):
    return normal(r, 6, 4), normal(r, 4, 3, scale=0.5), normal(r, 3, scale=0.1)


def _dense_backward_args(r):
    x, W, b = _dense(r)
    return normal(r, 6, 3), x, W, x @ W + b


def _mask(r, n_q, n_k):
    m = r.random((n_q, n_k)) < 0.7
    m[:, 0] = True
    m[1] = False  # a query that may attend to nothing: zero weights and output, finite gradients
    return m


def _sdpa_args(r):
    return normal(r, 2, 4, 3), normal(r, 2, 5, 3), normal(r, 2, 5, 2), _mask(r, 4, 5)


def _mha_args(r):
    h, d_model, d_head = 2, 4, 3
    return (normal(r, 3, d_model), normal(r, 5, d_model), normal(r, 5, d_model),
            normal(r, h, d_model, d_head, scale=0.5), normal(r, h, d_model, d_head, scale=0.5),
            normal(r, h, d_model, d_head, scale=0.5), normal(r, h * d_head, d_model, scale=0.5), h, _mask(r, 3, 5))


# A fixed small network per output head; its parameters are flat positional arrays
# so that the registry places, casts and batches them like any other input.
_ARCH = {
    "sigmoid": ((3, 5, 2), "tanh"),
    "softmax": ((3, 5, 4, 3), "relu"),
    "identity": ((3, 4, 2), "sigmoid"),
}


@functools.lru_cache(maxsize=None)
def _mlp(head):  # built on first use, so collecting the registry needs no activations module
    sizes, activation = _ARCH[head]
    return MLP(sizes, activation=activation, output=head)


def _params(flat):
    return [{"W": W, "b": b} for W, b in zip(flat[0::2], flat[1::2])]


def _mlp_args(head):
    sizes = _ARCH[head][0]

    def make(r):
        n, k = 6, sizes[-1]
        if head == "sigmoid":
            y = (r.random((n, k)) < 0.5).astype(np.float64)
        elif head == "softmax":
            y = one_hot(r, n, k)
        else:
            y = normal(r, n, k)
        flat = []
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            flat += [normal(r, d_in, d_out, scale=1 / np.sqrt(d_in)), normal(r, d_out, scale=0.1)]
        return (normal(r, n, sizes[0]), y, *flat)

    return make


def _mlp_apply(head):
    def fn(x, y, *flat):
        return _mlp(head).apply(_params(flat), x)

    fn.__name__ = f"mlp_{head}_apply"
    return fn


def _mlp_loss_and_grads(head):
    def fn(x, y, *flat):
        return _mlp(head).loss_and_grads(_params(flat), x, y)

    fn.__name__ = f"mlp_{head}_loss_and_grads"
    return fn


CASES = [
    Case("nn.dense_forward", dense_forward, _dense, kwargs={"activation": "tanh"}, grad_argnums=(0, 1, 2)),
    Case("nn.dense_forward[identity]", dense_forward, _dense, grad_argnums=(0, 1, 2)),
    Case("nn.dense_backward", dense_backward, _dense_backward_args, kwargs={"activation_grad": "tanh"},
         grad_argnums=(0, 1, 2, 3)),
    Case("nn.scaled_dot_product_attention", scaled_dot_product_attention, _sdpa_args, grad_argnums=(0, 1, 2),
         tol="reduction"),
    Case("nn.multi_head_attention", multi_head_attention, _mha_args, grad_argnums=(0, 1, 2, 3, 4, 5, 6),
         tol="reduction"),
]
for _head in _ARCH:
    _n_arrays = 2 + 2 * (len(_ARCH[_head][0]) - 1)
    CASES += [
        Case(f"nn.MLP.apply[{_head}]", _mlp_apply(_head), _mlp_args(_head),
             grad_argnums=(0, *range(2, _n_arrays)), tol="reduction"),
        # loss_and_grads is differentiated once more (the sum of the loss and its gradients),
        # which checks that the analytic backward pass is itself smooth and traceable
        Case(f"nn.MLP.loss_and_grads[{_head}]", _mlp_loss_and_grads(_head), _mlp_args(_head),
             grad_argnums=(0, 1, *range(2, _n_arrays)), tol="reduction"),
    ]
