"""Cases for ``portable_ml.regularization``.

Penalties are registered on a small pytree (a dict holding an array and a
list) so that the invariants cover the pytree path.  ``EarlyStopping`` is a
host-side object (its ``update`` returns a Python bool by contract), not an
array function, so it has no case; ``tests/test_regularization.py`` covers it.

``dropout`` takes its randomness as an argument, which the registry's input
makers cannot express portably (a JAX key works only with JAX arrays).  The
case therefore binds a :class:`portable_ml.random.Generator` with a fixed
seed to the backend and device of ``x`` inside a small wrapper: the mask is
drawn on the host from the (static) shape, so every backend, the float64
NumPy run, ``jax.jit``, ``jax.grad`` and ``jax.vmap`` all see the same mask.
Dropout with an explicit JAX key under ``jax.jit`` is tested in
``tests/test_regularization.py``.
"""

import numpy as np

from ... import regularization as R
from ..._xp import array_namespace, device_of
from ..registry import Case, Reference, normal, positive


def _tree(a, b):
    return {"W": a, "b": [b]}


def _pen(fn):
    def wrapped(a, b, *strengths):
        return fn(_tree(a, b), *strengths)

    wrapped.__name__ = fn.__name__
    return wrapped


def _weights(r):
    return normal(r, 5, 3), normal(r, 3)


def _dropout_seeded(x, p):
    from ...backend import backend_of, get_backend

    name = backend_of(x)
    try:
        be = get_backend(name, device_of(x))
    except Exception:  # tracers carry no device: the default one is right under jit
        be = get_backend(name)
    return R.dropout(x, p, be.rng(0))


def _max_norm_input(r):
    # columns with norms well below, near and well above c = 3
    return (normal(r, 6, 4) * [0.3, 1.0, 2.5, 4.0],)


def _bn_inputs(r):
    return normal(r, 8, 4, scale=2.0) + [0.0, 5.0, -3.0, 1.0], positive(r, 4), normal(r, 4)


def _ln_inputs(r):
    return normal(r, 3, 2, 5, scale=2.0) + 1.5, positive(r, 5), normal(r, 5)


def _bn_backward(dy, x, gamma, beta):
    return R.batch_norm_backward(dy, R.batch_norm(x, gamma, beta)[1])


def _bn_running_inputs(r):
    return (*_bn_inputs(r), normal(r, 4), positive(r, 4))


def _bn_extremes():
    """A zero-variance feature, two on offsets of +-1e8 with small noise (multiples of 8, exact in float32)."""
    k = np.array([-2.0, 1.0, 0.0, 2.0, -1.0, 1.0, 0.0, -1.0])
    x = np.stack([1e8 + 8.0 * k, np.full(8, 3.0), 0.25 * k + 0.5, -1e8 + 8.0 * k[::-1]], axis=1)
    return (x, np.full(4, 1.5), np.full(4, 0.25), np.array([1e8, 3.0, 0.5, -1e8]), np.array([128.0, 0.0, 1.0, 64.0]))


# torch's float64 batch variance on the +-1e8 offsets is off by ~1e-10 relative (beyond the float64 tolerance);
# ours is exact there: tests/test_batch_norm_running.py checks the extremes against exact values instead.
def _bn_running(x, gamma, beta, running_mean, running_var, **kw):
    """y, the statistics and the new running statistics of ``batch_norm``, joined into one 1-D array."""
    y, c = R.batch_norm(x, gamma, beta, running_mean=running_mean, running_var=running_var, **kw)
    xp = array_namespace(y)
    return xp.concat([xp.reshape(y, (-1,)), c.mean, c.var, c.running_mean, c.running_var])


def _bn_running_torch(x, gamma, beta, running_mean, running_var, momentum=0.1, training=True, eps=1e-5):
    import torch
    import torch.nn.functional as F

    t = [torch.tensor(a, dtype=torch.float64) for a in (x, gamma, beta, running_mean, running_var)]
    rm, rv = t[3].clone(), t[4].clone()  # updated in place by torch
    y = F.batch_norm(t[0], rm, rv, t[1], t[2], training=training, momentum=momentum, eps=eps)
    mean, var = (t[0].mean(0), t[0].var(0, unbiased=False)) if training else (t[3], t[4])
    return torch.cat([y.reshape(-1), mean, var, rm, rv]).numpy()


def _bn_backward_running(dy, x, gamma, beta, running_mean, running_var, **kw):
    cache = R.batch_norm(x, gamma, beta, running_mean=running_mean, running_var=running_var, **kw)[1]
    return R.batch_norm_backward(dy, cache)


def _ln_backward(dy, x, gamma, beta):
    return R.layer_norm_backward(dy, R.layer_norm(x, gamma, beta)[1])


CASES = [
    Case("regularization.l1_penalty", _pen(R.l1_penalty), lambda r: (*_weights(r), 0.3), grad_argnums=(0, 1)),
    Case("regularization.l1_penalty_grad", _pen(R.l1_penalty_grad), lambda r: (*_weights(r), 0.3),
         grad_argnums=(0, 1)),
    Case("regularization.l2_penalty", _pen(R.l2_penalty), lambda r: (*_weights(r), 0.3), grad_argnums=(0, 1)),
    Case("regularization.l2_penalty_grad", _pen(R.l2_penalty_grad), lambda r: (*_weights(r), 0.3),
         grad_argnums=(0, 1)),
    Case("regularization.elastic_net_penalty", _pen(R.elastic_net_penalty), lambda r: (*_weights(r), 0.2, 0.7),
         grad_argnums=(0, 1)),
    Case("regularization.elastic_net_penalty_grad", _pen(R.elastic_net_penalty_grad),
         lambda r: (*_weights(r), 0.2, 0.7), grad_argnums=(0, 1)),
    Case("regularization.max_norm", R.max_norm, _max_norm_input, kwargs={"c": 3.0}, grad_argnums=(0,)),
    Case("regularization.dropout", _dropout_seeded, lambda r: (normal(r, 4, 5), 0.3), grad_argnums=(0,)),
    Case("regularization.batch_norm", R.batch_norm, _bn_inputs, grad_argnums=(0, 1, 2)),
    Case("regularization.batch_norm_backward", _bn_backward,
         lambda r: (normal(r, 8, 4), *_bn_inputs(r)), grad_argnums=(0, 1, 2)),
    Case("regularization.batch_norm[running]", _bn_running, _bn_running_inputs, kwargs={"momentum": 0.3},
         sweep=({"training": False}, {"momentum": 0.0}, {"momentum": 1.0, "eps": 1e-3}), grad_argnums=(0, 1, 2),
         extremes=_bn_extremes,
         reference=Reference(_bn_running_torch, "torch.nn.functional.batch_norm (running statistics updated)",
                             ("torch",), at_extremes=False)),
    Case("regularization.batch_norm_backward[running]", _bn_backward_running,
         lambda r: (normal(r, 8, 4), *_bn_running_inputs(r)), sweep=({"training": False},),
         grad_argnums=(0, 1, 2)),
    Case("regularization.layer_norm", R.layer_norm, _ln_inputs, grad_argnums=(0, 1, 2)),
    Case("regularization.layer_norm_backward", _ln_backward,
         lambda r: (normal(r, 3, 2, 5), *_ln_inputs(r)), grad_argnums=(0, 1, 2)),
]
