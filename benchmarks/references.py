"""The references our functions are timed against.

*Handwritten NumPy* is the formula sheets' own code: one expression per
formula, written the way a practitioner writes it, with no validation and no
dispatch.  Each function takes the array module as ``np`` (NumPy by
default), so the very same code, handed ``jax.numpy`` and put under
``jax.jit``, is the handwritten JAX reference.

The JAX training references are what a JAX user writes by hand: a loss in
``jax.numpy``, ``jax.grad`` for the gradients, an ``optax`` optimizer, the
whole step under ``jax.jit``.

The scikit-learn references are imported where they are used (in the suites).
"""

from __future__ import annotations

import math

import numpy

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "COMPILED_NAMES",
    "compiled",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "roc_auc",
    "euclidean",
    "pairwise_euclidean",
    "adam_init",
    "adam_step",
    "kmeans_lloyd",
    "pca_svd",
    "mlp_init_like",
    "mlp_epoch",
    "jax_mlp_epoch",
    "jax_adam_step",
]


# ------------------------------------------------------------ activations
def sigmoid(x, np=numpy):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x, np=numpy):
    s = 1 / (1 + np.exp(-x))
    return s * (1 - s)


def tanh(x, np=numpy):
    return np.tanh(x)


def tanh_grad(x, np=numpy):
    return 1 - np.tanh(x) ** 2


def relu(x, np=numpy):
    return np.maximum(0, x)


def relu_grad(x, np=numpy):
    return (x > 0).astype(x.dtype)


_C = math.sqrt(2 / math.pi)


def gelu(x, np=numpy):
    return 0.5 * x * (1 + np.tanh(_C * (x + 0.044715 * x**3)))


def gelu_grad(x, np=numpy):
    t = np.tanh(_C * (x + 0.044715 * x**3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * _C * (1 + 3 * 0.044715 * x**2)


def softplus(x, np=numpy):
    return np.log1p(np.exp(x))


def softplus_grad(x, np=numpy):
    return 1 / (1 + np.exp(-x))


def swish(x, np=numpy):
    return x / (1 + np.exp(-x))


def swish_grad(x, np=numpy):
    s = 1 / (1 + np.exp(-x))
    return s * (1 + x * (1 - s))


#: name -> (forward, derivative), each ``f(x, np)``
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "gelu": (gelu, gelu_grad),
    "softplus": (softplus, softplus_grad),
    "swish": (swish, swish_grad),
}


# ------------------------------------------------------------ losses (mean reduction)
def mse(y, p, np=numpy):
    return np.mean((y - p) ** 2)


def mse_grad(y, p, np=numpy):
    return 2 * (p - y) / y.size


def mae(y, p, np=numpy):
    return np.mean(np.abs(y - p))


def mae_grad(y, p, np=numpy):
    return np.sign(p - y) / y.size


def huber(y, p, delta=1.0, np=numpy):
    r = p - y
    a = np.abs(r)
    return np.mean(np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta)))


def huber_grad(y, p, delta=1.0, np=numpy):
    r = p - y
    return np.where(np.abs(r) <= delta, r, delta * np.sign(r)) / y.size


def log_cosh(y, p, np=numpy):
    return np.mean(np.log(np.cosh(p - y)))


def log_cosh_grad(y, p, np=numpy):
    return np.tanh(p - y) / y.size


def bce_with_logits(y, z, np=numpy):
    return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))


def bce_with_logits_grad(y, z, np=numpy):
    return (1 / (1 + np.exp(-z)) - y) / y.size


#: our name -> (forward, derivative w.r.t. the prediction), each ``f(y, p, np)``
LOSSES = {
    "mse": (mse, mse_grad),
    "mae": (mae, mae_grad),
    "huber": (huber, huber_grad),
    "log_cosh": (log_cosh, log_cosh_grad),
    "binary_cross_entropy_with_logits": (bce_with_logits, bce_with_logits_grad),
}


# ------------------------------------------------------------ compiled, numerically stable references
# What a user who cares about speed *and* stability calls instead: SciPy's
# ufuncs on NumPy, ``jax.nn`` (jitted) on JAX, PyTorch's native functions on
# torch.  Each builder takes the backend's module and returns ``f(x)`` or
# ``f(y, p)`` (mean reduction for the losses).
_LN2 = math.log(2.0)


def _scipy_special():
    import scipy.special

    return scipy.special


def _numpy_compiled(name, grad):
    if name == "tanh":  # no library offers a compiled sech^2: NumPy's tanh ufunc is the reference
        return (numpy.tanh, lambda x: 1 - numpy.tanh(x) ** 2)[grad], "NumPy ufuncs (tanh)"
    sp = _scipy_special()
    expit, log_expit = sp.expit, sp.log_expit
    table = {
        "sigmoid": (expit, lambda x: expit(x) * expit(-x)),
        "softplus": (lambda x: -log_expit(-x), expit),
        "swish": (lambda x: x * expit(x), lambda x: (lambda s: s * (1 + x * (1 - s)))(expit(x))),
        "log_cosh": (lambda y, p: numpy.mean(numpy.logaddexp(p - y, y - p) - _LN2),
                     lambda y, p: numpy.tanh(p - y) / y.size),
        "binary_cross_entropy_with_logits": (lambda y, z: numpy.mean(-log_expit(-z) - y * z),
                                             lambda y, z: (expit(z) - y) / y.size),
    }
    return table[name][grad], "SciPy / NumPy ufuncs (expit, log_expit, logaddexp)"


def _jax_compiled(name, grad):
    import jax
    import jax.numpy as jnp

    nn = jax.nn
    table = {
        "sigmoid": (nn.sigmoid, lambda x: nn.sigmoid(x) * nn.sigmoid(-x)),
        "tanh": (jnp.tanh, jax.vmap(jax.grad(jnp.tanh))),  # jax's derivative of tanh: 1 - tanh^2
        "softplus": (nn.softplus, nn.sigmoid),
        "swish": (nn.silu, lambda x: (lambda s: s * (1 + x * (1 - s)))(nn.sigmoid(x))),
        "log_cosh": (lambda y, p: jnp.mean(jnp.logaddexp(p - y, y - p) - _LN2),
                     lambda y, p: jnp.tanh(p - y) / y.size),
        "binary_cross_entropy_with_logits": (lambda y, z: jnp.mean(-y * nn.log_sigmoid(z) - (1 - y) * nn.log_sigmoid(-z)),
                                             lambda y, z: (nn.sigmoid(z) - y) / y.size),
    }
    return jax.jit(table[name][grad]), "jax.nn (jit)"


def _torch_compiled(name, grad):
    import torch
    import torch.nn.functional as F

    table = {
        "sigmoid": (torch.sigmoid, lambda x: torch.sigmoid(x) * torch.sigmoid(-x)),
        # autograd's own derivative kernel of tanh, (1 - t^2) g
        "tanh": (torch.tanh, lambda x: torch.ops.aten.tanh_backward(torch.ones_like(x), torch.tanh(x))),
        "softplus": (lambda x: -F.logsigmoid(-x), torch.sigmoid),
        "swish": (F.silu, lambda x: (lambda s: s * (1 + x * (1 - s)))(torch.sigmoid(x))),
        "log_cosh": (lambda y, p: torch.mean(torch.logaddexp(p - y, y - p) - _LN2),
                     lambda y, p: torch.tanh(p - y) / y.numel()),
        "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits,
                                             lambda y, z: (torch.sigmoid(z) - y) / y.numel()),
    }
    f = table[name][grad]
    if name == "binary_cross_entropy_with_logits" and not grad:
        return (lambda y, z: f(z, y)), "PyTorch native"
    return f, "PyTorch native (torch.sigmoid, F.logsigmoid, F.silu, ...)"


#: the functions with a compiled reference (issue "Faster than what users would pick instead")
COMPILED_NAMES = ("sigmoid", "tanh", "softplus", "swish", "log_cosh", "binary_cross_entropy_with_logits")
_COMPILED = {"numpy": _numpy_compiled, "jax": _jax_compiled, "torch": _torch_compiled}


def compiled(backend, name, grad):
    """``(f, label)``: the compiled stable reference of ``name`` (``grad``: its derivative) on ``backend``.

    ``None`` where the backend has none; ``ImportError`` where its library
    (SciPy on NumPy) is not installed.
    """
    make = _COMPILED.get(backend)
    return None if make is None or name not in COMPILED_NAMES else make(name, grad)


def softmax_cross_entropy(y, logits, np=numpy):
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(y * logp).sum(axis=-1).mean()


def softmax_cross_entropy_grad(y, logits, np=numpy):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True) - y) / logits.shape[0]


# ------------------------------------------------------------ metrics and distances
def roc_auc(y, s, np=numpy):
    """Exact ROC-AUC with ties: one sort, cumulative sums, the trapezoid rule."""
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[s[1:] != s[:-1], True]  # last element of each run of tied scores
    tps = np.cumsum(y)[last]
    fps = np.cumsum(1 - y)[last]
    tpr = np.r_[0, tps] / tps[-1]
    fpr = np.r_[0, fps] / fps[-1]
    return np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1])) / 2


def euclidean(a, b, np=numpy):
    return np.sqrt(np.sum((a - b) ** 2))


def pairwise_euclidean(A, B, np=numpy):
    """The GEMM form ‖a‖² + ‖b‖² − 2 a·b, clamped at zero."""
    d2 = (A**2).sum(axis=1)[:, None] + (B**2).sum(axis=1)[None, :] - 2 * A @ B.T
    return np.sqrt(np.maximum(d2, 0))


# ------------------------------------------------------------ optimizers
def _map(f, *trees):
    """``f`` over the leaves of nested dicts / lists (what a handwritten loop does)."""
    t = trees[0]
    if isinstance(t, dict):
        return {k: _map(f, *(x[k] for x in trees)) for k in t}
    if isinstance(t, (list, tuple)):
        return type(t)(_map(f, *xs) for xs in zip(*trees))
    return f(*trees)


def adam_init(params, np=numpy):
    return {"m": _map(np.zeros_like, params), "v": _map(np.zeros_like, params), "t": 0}


def adam_step(params, grads, state, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, np=numpy):
    """One Adam step, as on the sheet: moments, bias correction, update."""
    t = state["t"] + 1
    m = _map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
    v = _map(lambda v, g: b2 * v + (1 - b2) * g * g, state["v"], grads)
    c1, c2 = 1 - b1**t, 1 - b2**t
    params = _map(lambda p, m, v: p - lr * (m / c1) / (np.sqrt(v / c2) + eps), params, m, v)
    return params, {"m": m, "v": v, "t": t}


def jax_adam_step(lr=1e-3):
    """A jitted ``(params, grads, state) -> (params, state)`` step of ``optax.adam``."""
    import jax
    import optax

    opt = optax.adam(lr)

    @jax.jit
    def step(params, grads, state):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return opt.init, step


# ------------------------------------------------------------ models
def kmeans_lloyd(X, C, iters, np=numpy):
    """``iters`` Lloyd iterations: GEMM distances, arg-min, one-hot means."""
    k = C.shape[0]
    xx = (X**2).sum(axis=1)[:, None]
    for _ in range(iters):
        d2 = xx - 2 * X @ C.T + (C**2).sum(axis=1)[None, :]
        labels = d2.argmin(axis=1)
        onehot = (labels[:, None] == np.arange(k)).astype(X.dtype)
        counts = onehot.sum(axis=0)
        C = np.where(counts[:, None] > 0, onehot.T @ X / np.maximum(counts, 1)[:, None], C)
    d2 = xx - 2 * X @ C.T + (C**2).sum(axis=1)[None, :]
    return C, np.maximum(d2.min(axis=1), 0).sum()


def pca_svd(X, n_components, np=numpy):
    """Centre, thin SVD, keep the leading components and their variances."""
    mean = X.mean(axis=0)
    U, S, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return Vt[:n_components], S[:n_components] ** 2 / (X.shape[0] - 1)


def mlp_epoch(params, state, batches, lr=1e-3, np=numpy):
    """One epoch of mini-batch Adam on a ReLU MLP with a softmax cross-entropy head.

    ``params`` is a list of ``{"W", "b"}``, ``batches`` a list of ``(x, y_onehot)``;
    backprop is the sheet's chain rule.
    """
    for x, y in batches:
        acts, zs = [x], []
        for layer in params[:-1]:
            z = acts[-1] @ layer["W"] + layer["b"]
            zs.append(z)
            acts.append(np.maximum(z, 0))
        z = acts[-1] @ params[-1]["W"] + params[-1]["b"]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        delta = (e / e.sum(axis=1, keepdims=True) - y) / x.shape[0]
        grads = [None] * len(params)
        for l in range(len(params) - 1, -1, -1):
            grads[l] = {"W": acts[l].T @ delta, "b": delta.sum(axis=0)}
            if l:
                delta = (delta @ params[l]["W"].T) * (zs[l - 1] > 0)
        params, state = adam_step(params, grads, state, lr=lr, np=np)
    return params, state


def jax_mlp_epoch(lr=1e-3):
    """``(init, epoch)`` of the same MLP in JAX: ``jax.grad`` + ``optax.adam``, jitted step."""
    import jax
    import jax.numpy as jnp
    import optax

    opt = optax.adam(lr)

    def loss(params, x, y):
        a = x
        for layer in params[:-1]:
            a = jax.nn.relu(a @ layer["W"] + layer["b"])
        z = a @ params[-1]["W"] + params[-1]["b"]
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(z), axis=-1))

    @jax.jit
    def step(params, state, x, y):
        grads = jax.grad(loss)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    def epoch(params, state, batches):
        for x, y in batches:
            params, state = step(params, state, x, y)
        return params, state

    return opt.init, epoch


def mlp_init_like(params):
    """Host copies of an MLP's parameters (so both sides start from the same point)."""
    return [{"W": numpy.asarray(p["W"]), "b": numpy.asarray(p["b"])} for p in params]
