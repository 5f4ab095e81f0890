"""portable_ml.autodiff: reverse-mode gradients over the array API, checked against jax.grad.

Every corpus function is written once against the namespace of its arguments
(``pml.namespace``) and differentiated on every backend; the reference is
``jax.grad`` in float64 (x64 mode) on the same host data, and, independently,
central differences of the NumPy float64 function.  On JAX, ``autodiff.grad``
*is* ``jax.grad``: those runs check the deferral.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import array_api_compat
import numpy as np
import pytest

import portable_ml as pml
from portable_ml import autodiff as ad
from portable_ml.backend import to_numpy
from portable_ml.testing import assert_close
from portable_ml.testing.conformance import _jax_x64
from portable_ml.testing.registry import cases, gradient_cases, inputs

jax = pytest.importorskip("jax")
jnp = jax.numpy


# ------------------------------------------------------------------ the corpus
def _ns(*a):
    return pml.namespace(*a)


def elementwise(x):
    xp = _ns(x)
    y = (xp.exp(x) * xp.sin(x) + xp.log1p(x * x) + xp.sqrt(x * x + 1.0) + xp.tanh(x) + xp.abs(x)
         + xp.expm1(0.5 * x) + xp.cosh(0.3 * x) - xp.sinh(0.2 * x) + xp.atan(x) + xp.asinh(x)
         + 1.0 / (2.0 + x * x) + x ** 3 + 2.0 ** x + xp.square(x) + xp.log(xp.cos(x) + 2.0)
         + xp.reciprocal(x * x + 3.0) + xp.tan(0.1 * x) + xp.log2(x * x + 1.0) + xp.log10(x * x + 2.0)
         + xp.asin(0.1 * xp.tanh(x)) + xp.acos(0.2 * xp.tanh(x)) + xp.atanh(0.5 * xp.tanh(x))
         + xp.acosh(x * x + 1.5) - (-x) + (+x))
    return xp.sum(y)


def binary(x, y):
    xp = _ns(x, y)
    return xp.sum(xp.maximum(x, y) * 2.0 + xp.minimum(x, 0.3 * y) + xp.logaddexp(x, y) + xp.atan2(x, y)
                  + xp.hypot(x, y) + xp.where(x > y, x * y, x - y) + xp.clip(x, -0.5, 0.7)
                  + xp.pow(xp.abs(x) + 1.0, y) + xp.divide(x, y * y + 1.0) + xp.multiply(x, y)
                  + xp.subtract(x, y) + xp.add(x, 1.0) + xp.remainder(x, 0.7 + 0 * y))


def broadcasting(a, b):
    xp = _ns(a, b)  # a (3, 1), b (4,): every binary rule sums its cotangent back to the shape
    return xp.sum((a * b - b / (a * a + 1.0)) ** 2) + xp.mean(a + b)


def products(a, b, c):
    xp = _ns(a, b, c)
    t = xp.tensordot(a, b, axes=([1, 2], [1, 0]))  # (2, 5)
    v = xp.matmul(c, xp.sum(b, axis=(0, 1)))  # (5, 5) @ (5,) -> (5,)
    w = a[0, 0, :] @ b[:, 0, :]  # (4,) @ (4, 5)
    return xp.sum(t * t) + xp.sum(v) + xp.sum(w ** 2) + xp.sum(xp.vecdot(c, c)) + xp.sum(c.T @ c.mT)


def reductions(x):
    xp = _ns(x)
    return (xp.sum(xp.mean(x, axis=0) ** 2) + xp.sum(xp.max(x, axis=1)) - xp.min(x) + xp.var(x)
            + xp.sum(xp.std(x, axis=0, correction=1)) + xp.prod(x[0, :3] + 3.0)
            + xp.sum(xp.sum(x, axis=1, keepdims=True) * x) + xp.max(xp.mean(x, axis=(0, 1), keepdims=True)))


def cumulative(x):
    xp = _ns(x)
    return xp.sum(xp.cumulative_sum(x, axis=1) ** 2) + xp.sum(xp.cumulative_sum(x[:, 0] * 1.5))


def shapes(x):
    xp = _ns(x)  # x (2, 3, 4)
    y = xp.reshape(x, (6, 4))
    z = xp.permute_dims(x, (2, 0, 1))
    e = xp.expand_dims(x, axis=1)
    s = xp.squeeze(e, axis=1)
    f = xp.flip(x, axis=2)
    c = xp.concat([y, y[:2, :] * 2.0], axis=0)
    st = xp.stack([x[0, ...], x[1, ...] ** 2], axis=-1)
    b = xp.broadcast_to(x[:, :1, :], (2, 3, 4))
    m = xp.moveaxis(x, 0, -1)
    return (xp.sum(y[:, 1] * 3.0) + xp.sum(z[1, ...] ** 2) + xp.sum(s * f) + xp.sum(c ** 2) + xp.sum(st ** 3)
            + xp.sum(b * x) + xp.sum(m[..., 1] ** 2) + xp.sum(xp.tril(y[:4, :]) ** 2) + xp.sum(xp.triu(y[:4, :])))


def indexing(x):
    xp = _ns(x)  # x (5, 4)
    idx = xp.asarray([0, 2, 2, 4], device=array_api_compat.device(x))
    return (xp.sum(x[1:, ::2] ** 2) + xp.sum(x[-1, :]) + xp.sum(x[1::2, 1] * 3.0) + xp.sum(x[None, ..., 0] ** 3)
            + xp.sum(xp.take(x, idx, axis=0) ** 2) + xp.sum(x[:, idx[:3]] * 0.5) + x[2, 3] * x[0, 1])


def gather_rows(x, labels):
    xp = _ns(x)
    return xp.sum(xp.take_along_axis(x, labels[:, None], axis=1) ** 2)


def linalg(a, b):
    xp = _ns(a, b)
    spd = a @ a.mT + 4.0 * xp.eye(4, dtype=a.dtype, device=array_api_compat.device(a))
    L = xp.linalg.cholesky(spd)
    X = xp.linalg.solve(spd, b)
    v = xp.linalg.solve(spd, b[:, 0])
    return (xp.sum(L ** 2) + xp.sum(X * b) + xp.sum(v) + xp.sum(xp.linalg.inv(spd)) + xp.linalg.det(spd) * 1e-3
            + xp.sum(xp.linalg.vector_norm(b, axis=0)) + xp.sum(xp.linalg.diagonal(L)))


def cholesky_solve(a, b):
    xp = _ns(a, b)
    spd = a @ a.mT + 4.0 * xp.eye(4, dtype=a.dtype, device=array_api_compat.device(a))
    F = xp.linalg.cholesky(spd)
    L = xp.tril(F) + xp.triu(F, k=1).mT  # array-api-compat hands back Dask's upper factor: either way, L
    return xp.sum(L ** 3) + xp.sum(xp.linalg.solve(spd, b) ** 2)


def casting(x):
    xp = _ns(x)
    y = xp.astype(x, xp.float32) if x.dtype == xp.float64 else xp.astype(x, xp.float64)
    return xp.sum(xp.astype(y * y, x.dtype)) + xp.sum(xp.floor(x) * x) + xp.sum(xp.astype(xp.argmax(x, axis=0), x.dtype) * x[0, :])


def logsumexp_rows(x):
    xp = _ns(x)
    m = xp.max(x, axis=-1, keepdims=True)
    return xp.sum(xp.log(xp.sum(xp.exp(x - m), axis=-1)) + xp.squeeze(m, axis=-1))


# worked examples: the losses people write
def logistic_regression(w, X, y):
    xp = _ns(w, X, y)
    z = X @ w
    return xp.mean(xp.logaddexp(xp.zeros_like(z), z) - y * z) + 0.01 * xp.sum(w * w)


def ridge(w, b, X, y):
    xp = _ns(w, X)
    r = X @ w + b - y
    return xp.mean(r * r) + 0.1 * xp.sum(w * w)


def user_and_library(w, X, y):
    # a user loss composing library formulas with user code
    xp = _ns(w, X)
    z = X @ w
    p = pml.activations.sigmoid(z)
    return (pml.losses.binary_cross_entropy(y, p) + 0.5 * pml.losses.huber(y, z, delta=0.5)
            + xp.mean(pml.activations.softplus(z) * pml.activations.gelu(z)))


def custom_layer_mlp(params, X, y):
    # a two-layer network with a user layer: layer normalisation, then a swish-like activation
    xp = _ns(X, params["W1"])  # the namespace of the traced arguments (of X alone: NumPy's)
    h = X @ params["W1"] + params["b1"]
    mu = xp.mean(h, axis=-1, keepdims=True)
    h = (h - mu) / xp.sqrt(xp.var(h, axis=-1, keepdims=True) + 1e-5) * params["gain"]
    h = h * pml.activations.sigmoid(1.702 * h)
    logits = h @ params["W2"]
    return pml.losses.softmax_cross_entropy(y, logits)


def _weights(xp, x, shape, lo=-1.0, hi=2.0):
    """A fixed weight array of ``shape`` (makes the test functions' outputs sensitive to every entry)."""
    return xp.reshape(xp.linspace(lo, hi, math.prod(shape), dtype=x.dtype), shape)


def sorting(x):
    xp = _ns(x)  # x (3, 5)
    return (xp.sum(xp.sort(x, axis=1) * _weights(xp, x, (3, 5)))
            + xp.sum(xp.sort(x, axis=0, descending=True)[0, :] ** 2))


def eigh(a):
    xp = _ns(a)  # a (4, 4): eigen-decomposition of its symmetric part; U enters squared (sign-invariant)
    w, U = xp.linalg.eigh((a + a.mT) * 0.5)
    return (xp.sum(w * _weights(xp, a, (4,))) + xp.sum(U * U * _weights(xp, a, (4, 4), 0.5, 3.0))
            + xp.sum(xp.linalg.eigvalsh(a @ a.mT + 1.0) ** 2))


def svd(b):
    xp = _ns(b)  # b (5, 3): tall and, transposed, wide; U and Vh enter squared (sign-invariant)
    total = xp.sum(xp.linalg.svdvals(b) ** 3)
    for m in (b, b.mT):
        U, s, Vh = xp.linalg.svd(m, full_matrices=False)
        total = total + (xp.sum(U * U * _weights(xp, b, tuple(U.shape))) + xp.sum(s * _weights(xp, b, (3,), 1.0, 2.0))
                         + xp.sum(Vh * Vh * _weights(xp, b, tuple(Vh.shape), -2.0, 1.0)))
    return total


def qr(b):
    xp = _ns(b)  # b (5, 3) and its square top; Q and R enter squared (sign-invariant)
    total = 0.0
    for m in (b, b[:3, :]):
        Q, R = xp.linalg.qr(m)
        total = total + xp.sum(Q * Q * _weights(xp, b, tuple(Q.shape))) + xp.sum(R * R * _weights(xp, b, (3, 3)))
    return total + xp.sum(xp.linalg.qr(b)[1] ** 2 * _weights(xp, b, (3, 3), 0.0, 1.0))


def _n(r, *shape, scale=1.0):
    return r.normal(size=shape) * scale


def _onehot(r, n, k):
    return np.eye(k)[r.integers(0, k, n)]


#: id -> (function, make_args(rng) -> host float64 arrays (ints kept), argnums, {backend: why not})
CORPUS = {
    "elementwise": (elementwise, lambda r: (_n(r, 3, 4),), 0, {}),
    "binary": (binary, lambda r: (_n(r, 3, 4), _n(r, 3, 4)), (0, 1), {}),
    "broadcasting": (broadcasting, lambda r: (_n(r, 3, 1), _n(r, 4)), (0, 1), {}),
    "products": (products, lambda r: (_n(r, 2, 3, 4), _n(r, 4, 3, 5), _n(r, 5, 5)), (0, 1, 2), {}),
    "reductions": (reductions, lambda r: (_n(r, 4, 5),), 0, {}),
    "cumulative": (cumulative, lambda r: (_n(r, 3, 4),), 0, {}),
    "shapes": (shapes, lambda r: (_n(r, 2, 3, 4),), 0, {}),
    "indexing": (indexing, lambda r: (_n(r, 5, 4),), 0, {}),
    "gather_rows": (gather_rows, lambda r: (_n(r, 4, 3), r.integers(0, 3, 4)), 0,
                    {"dask": "Dask has no take_along_axis"}),
    "linalg": (linalg, lambda r: (_n(r, 4, 4), _n(r, 4, 2)), (0, 1), {"dask": "Dask has no linalg.det"}),
    "cholesky_solve": (cholesky_solve, lambda r: (_n(r, 4, 4), _n(r, 4, 2)), (0, 1), {}),
    "casting": (casting, lambda r: (_n(r, 3, 4),), 0, {}),
    "logsumexp_rows": (logsumexp_rows, lambda r: (_n(r, 3, 5, scale=3.0),), 0, {}),
    "logistic_regression": (logistic_regression, lambda r: (_n(r, 3), _n(r, 20, 3), 1.0 * (r.random(20) < 0.5)),
                            0, {}),
    "ridge": (ridge, lambda r: (_n(r, 3), _n(r, 1), _n(r, 20, 3), _n(r, 20)), (0, 1), {}),
    "user_and_library": (user_and_library, lambda r: (_n(r, 3), _n(r, 20, 3), 1.0 * (r.random(20) < 0.5)), 0, {}),
    "sorting": (sorting, lambda r: (_n(r, 3, 5),), 0, {"dask": "Dask has no sort"}),
    "eigh": (eigh, lambda r: (_n(r, 4, 4),), 0, {"dask": "Dask has no linalg.eigh"}),
    "svd": (svd, lambda r: (_n(r, 5, 3),), 0,
            {"dask": "array-api-compat's Dask svdvals calls svd(full_matrices=True), which Dask refuses"}),
    "qr": (qr, lambda r: (_n(r, 5, 3),), 0, {}),
    "custom_layer_mlp": (custom_layer_mlp,
                         lambda r: ({"W1": _n(r, 3, 8, scale=0.5), "b1": _n(r, 8, scale=0.1), "gain": 1.0 + _n(r, 8),
                                     "W2": _n(r, 8, 4, scale=0.5)}, _n(r, 16, 3), _onehot(r, 16, 4)), 0, {}),
}


@functools.lru_cache(maxsize=None)
def _host_args(name, seed=0):
    return CORPUS[name][1](np.random.default_rng(seed))


def _to(backend, tree, dtype):
    def conv(a):
        if isinstance(a, np.ndarray):
            return backend.asarray(a.astype(dtype) if a.dtype.kind == "f" else a)
        return a
    return pml.tree.tree_map(conv, tree)


def _jax_reference(fn, args, argnums):
    key = (fn, tuple(id(a) for a in pml.tree.tree_leaves(args)), argnums)
    if key not in _REFERENCES:
        _REFERENCES[key] = (args, _jax_reference_now(fn, args, argnums))  # args kept alive: ids stay theirs
    return _REFERENCES[key][1]


_REFERENCES = {}


def _jax_reference_now(fn, args, argnums):
    """jax.grad of ``fn`` at the float64 host ``args``, in x64 mode, as NumPy."""
    with _jax_x64():
        jargs = pml.tree.tree_map(lambda a: jnp.asarray(a) if isinstance(a, np.ndarray) else a, args)
        g = jax.grad(fn, argnums=argnums)(*jargs)
        return pml.tree.tree_map(np.asarray, g)


def _central(fn, args, argnums, h=1e-6):
    """Central differences of ``fn`` (NumPy float64) with respect to every leaf of ``args[argnums]``."""
    nums = (argnums,) if isinstance(argnums, int) else argnums
    out = []
    for i in nums:
        leaves, treedef = pml.tree.tree_flatten(args[i])
        grads = []
        for j, leaf in enumerate(leaves):
            g = np.zeros_like(leaf)
            for k in np.ndindex(leaf.shape):
                def at(step):
                    new = [lv.copy() for lv in leaves]
                    new[j][k] += step
                    a = list(args)
                    a[i] = pml.tree.tree_unflatten(treedef, new)
                    return float(fn(*a))
                g[k] = (at(h) - at(-h)) / (2 * h)
            grads.append(g)
        out.append(pml.tree.tree_unflatten(treedef, grads))
    return out[0] if isinstance(argnums, int) else tuple(out)


_TOL = {"float64": (1e-9, 1e-10), "float32": (2e-4, 2e-5)}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_matches_jax_grad(name, backend, float_dtype):
    fn, _, argnums, skips = CORPUS[name]
    if backend.name in skips:
        pytest.skip(skips[backend.name])
    host = _host_args(name)
    dname = "float64" if "64" in str(float_dtype) else "float32"
    ref = _jax_reference(fn, host, argnums)
    args = _to(backend, host, dname)
    got = ad.grad(fn, argnums=argnums)(*args)
    for g, a in zip(pml.tree.tree_leaves(got), pml.tree.tree_leaves([args[i] for i in
                                                                      ((argnums,) if isinstance(argnums, int)
                                                                       else argnums)])):
        assert pml.backend.backend_of(g) == pml.backend.backend_of(a)
        assert g.dtype == a.dtype and tuple(g.shape) == tuple(a.shape)
    rtol, atol = _TOL[dname]
    scale = max(1.0, max(float(np.max(np.abs(r))) for r in pml.tree.tree_leaves(ref)))
    assert_close(got, ref, rtol=rtol, atol=atol * scale, err_msg=f"{name} on {backend.name} {dname}")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_matches_central_differences(name):
    if name == "casting":
        pytest.skip("rounds through float32: central differences of it are noise at float64 tolerances")
    fn, _, argnums, _ = CORPUS[name]
    host = _host_args(name, seed=1)
    got = ad.grad(fn, argnums=argnums)(*host)
    assert_close(got, _central(fn, host, argnums), rtol=1e-5, atol=1e-6, err_msg=name)


def test_value_and_grad_value_is_the_function_value(backend):
    host = _host_args("custom_layer_mlp")
    args = _to(backend, host, "float64")
    value, g = ad.value_and_grad(custom_layer_mlp)(*args)
    assert_close(value, custom_layer_mlp(*host), rtol=1e-12)
    assert tuple(value.shape) == ()
    assert pml.backend.backend_of(value) == backend.name
    assert sorted(g) == ["W1", "W2", "b1", "gain"]


# ------------------------------------------------------------------ every public formula
def _summed(c):
    def total(*a):
        out = c.fn(*a, **c.kwargs)
        s = 0.0
        for leaf in pml.tree.tree_leaves(out):
            if hasattr(leaf, "dtype") and pml.namespace(leaf).isdtype(leaf.dtype, "real floating"):
                s = s + pml.namespace(leaf).sum(leaf)
        return s
    return total


#: differentiable registry cases that autodiff does not trace, with the reason
UNSUPPORTED = {
    "distances.pairwise_euclidean[self]": "writes through array_api_extra.at(..., copy=None) in place",
    "distances.pairwise_euclidean[squared]": "writes through array_api_extra.at(..., copy=None) in place",
    "distances.rbf_kernel[self]": "writes through array_api_extra.at(..., copy=None) in place",
}

_DIFFERENTIABLE = [c for c in cases() if c.grad_argnums and c.capabilities.grad]


@functools.lru_cache(maxsize=None)
def _registry_reference(name):
    c = next(c for c in _DIFFERENTIABLE if c.name == name)
    return _jax_reference(_summed(c), inputs(c), tuple(c.grad_argnums))


#: cases whose unsupported step is skipped on lazy (Dask) input: differentiable there
_EAGER_ONLY = {"distances.pairwise_euclidean[squared]", "distances.rbf_kernel[self]"}


def _check_registry_case(c, backend):
    if c.name in UNSUPPORTED and not (backend.name == "dask" and c.name in _EAGER_ONLY):
        with pytest.raises((NotImplementedError, TypeError)):
            ad.grad(_summed(c), argnums=tuple(c.grad_argnums))(*_to(backend, inputs(c), "float64"))
        return
    ref = _registry_reference(c.name)
    got = ad.grad(_summed(c), argnums=tuple(c.grad_argnums))(*_to(backend, inputs(c), "float64"))
    scale = max([1.0] + [float(np.max(np.abs(r))) for r in pml.tree.tree_leaves(ref) if np.size(r)])
    assert_close(got, ref, rtol=1e-7, atol=1e-9 * scale, err_msg=c.name)


@pytest.mark.parametrize("c", _DIFFERENTIABLE, ids=lambda c: c.name)
def test_every_public_formula_numpy(c):
    from portable_ml.backend import get_backend

    _check_registry_case(c, get_backend("numpy"))


@pytest.mark.slow
@pytest.mark.parametrize("c", [c for c in _DIFFERENTIABLE if c.family in ("activations", "losses", "regularization",
                                                                          "distances", "probability", "metrics",
                                                                          "gradients", "nn")],
                         ids=lambda c: c.name)
def test_every_public_formula_other_backends(c, backend):
    if backend.name in ("numpy", "jax"):
        pytest.skip("numpy: the fast tier; jax: deferred to jax.grad")
    if c.name == "distances.pairwise_euclidean[self]" and backend.name == "dask":
        pytest.skip("lazy: the zero diagonal is not patched, and sqrt's derivative there is infinite (as in JAX)")
    if c.name == "regularization.dropout":
        pytest.skip("the dropout mask comes from the backend's own random stream: no shared reference")
    _check_registry_case(c, backend)


# ------------------------------------------------------------------ analytic rules of public formulas
def test_formula_rules_agree_with_registry():
    """The library's formula -> analytic-gradient table is the registry's grad_of links, no more, no less
    (the registry reads them off the same decorators: this checks every link has a registered gradient case)."""
    table = {(f"{fam}.{fn}", f"{fam}.{g}", wrt) for fam, fn, g, wrt in ad._formula_table()}
    links = set()
    for gc, fc in gradient_cases():
        if "[" in gc.name:  # a variant of an already linked pair
            continue
        links.add((fc.name, gc.name, gc.wrt))
    assert table == links


_GRAD_OF = {fc.name: gc.name for gc, fc in gradient_cases() if "[" not in gc.name}
_PRIMITIVE_CASES = [fc for gc, fc in gradient_cases() if "[" not in gc.name] + [
    c for c in cases() if c.name in ("activations.softmax", "activations.log_softmax", "activations.glu")]


@pytest.mark.parametrize("c", _PRIMITIVE_CASES, ids=lambda c: c.name)
def test_public_formula_is_one_node_with_its_analytic_gradient(c, backend):
    """Calling a linked public formula on traced arrays records ONE node (VJP: its ``*_grad``/``*_vjp``),
    with the gradient of its body traced operation by operation."""
    if backend.name == "jax":
        pytest.skip("deferred to jax.grad")
    fam, name = c.name.split(".")
    fn = getattr(getattr(pml, fam), name)
    link = fn.__pml_grad__[1]
    assert ad.primitive(fn) is fn
    assert link.startswith(fn.__name__) or f"{fam}.{link}" == _GRAD_OF.get(c.name)  # (silu is swish)
    wrt = c.grad_argnums[0]
    args = _to(backend, inputs(c), "float64")

    trace_len, rules = [], []

    def public(*a):
        xp = pml.namespace(*[x for x in a if hasattr(x, "shape")])
        out = xp.sum(fn(*a, **c.kwargs) * 1.5)
        trace_len.append(len(a[wrt]._trace.nodes))
        rules.append(a[wrt]._trace.nodes[1].rule.name)
        return out

    def body(*a):  # the formula's own body, traced through (its inner library calls still intercepted)
        xp = pml.namespace(*[x for x in a if hasattr(x, "shape")])
        out = xp.sum(fn.__wrapped__(*a, **c.kwargs) * 1.5)
        trace_len.append(len(a[wrt]._trace.nodes))
        return out

    got = ad.grad(public, argnums=wrt)(*args)
    assert trace_len[0] <= 4  # the leaf, the formula, * 1.5, sum
    want = ad.grad(body, argnums=wrt)(*args)
    assert rules == [f"{fam}.{fn.__name__}"]  # the node is the formula, pulled back by its analytic gradient
    assert_close(got, want, rtol=1e-9, atol=1e-12, err_msg=c.name)


def test_formula_is_traced_through_when_another_argument_is_differentiated():
    r = np.random.default_rng(2)
    y, p = r.normal(size=(6, 3)), r.normal(size=(6, 3))
    lens = []

    def f(y, p):
        out = pml.losses.huber(y, p, delta=0.7)
        lens.append(len(p._trace.nodes))
        return out

    g = ad.grad(f, argnums=(0, 1))(y, p)
    assert lens[0] > 3  # both arguments traced: the body, not one node
    with _jax_x64():
        ref = jax.grad(lambda a, b: pml.losses.huber(a, b, delta=0.7), argnums=(0, 1))(jnp.asarray(y), jnp.asarray(p))
    assert_close(g, tuple(np.asarray(x) for x in ref), rtol=1e-10, atol=1e-12)


def test_second_derivative_through_an_intercepted_formula():
    x = np.linspace(-2.0, 2.0, 8)  # (softplus_grad's own formula has a kink at 0 for a second derivative)
    h = ad.grad(lambda t: _ns(t).sum(ad.grad(lambda u: _ns(u).sum(pml.activations.softplus(u)))(t)))(x)
    with _jax_x64():
        ref = jax.grad(lambda t: jnp.sum(jax.grad(lambda u: jnp.sum(jax.nn.softplus(u)))(t)))(jnp.asarray(x))
    assert_close(h, np.asarray(ref), rtol=1e-10, atol=1e-12)


def test_primitive_refuses_a_formula_without_a_linked_gradient():
    with pytest.raises(ValueError, match="custom_vjp"):
        ad.primitive(pml.metrics.r2)


def test_user_loss_calling_a_library_loss_is_one_node():
    r = np.random.default_rng(3)
    X, Y = r.normal(size=(16, 4)), np.eye(3)[r.integers(0, 3, 16)]
    W = r.normal(size=(4, 3))
    lens = []

    def loss(w):
        out = pml.losses.softmax_cross_entropy(Y, X @ w)
        lens.append(len(w._trace.nodes))
        return out

    g = ad.grad(loss)(W)
    assert lens == [3]  # the leaf, X @ w, the loss
    with _jax_x64():
        ref = jax.grad(lambda w: jnp.mean(-jnp.sum(jnp.asarray(Y) * jax.nn.log_softmax(jnp.asarray(X) @ w), -1)))(
            jnp.asarray(W))
    assert_close(g, np.asarray(ref), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ pytrees, argnums, aux
class Params(NamedTuple):
    w: object
    b: object


def test_pytrees_and_argnums(backend):
    r = np.random.default_rng(3)
    host = ({"layers": [Params(r.normal(size=(3, 2)), r.normal(size=2))], "scale": r.normal(size=())},
            r.normal(size=(5, 3)))

    def f(p, x):
        xp = _ns(x, p["scale"])
        layer = p["layers"][0]
        return xp.sum(xp.tanh(x @ layer.w + layer.b) * p["scale"]) + xp.sum(x ** 2)

    args = _to(backend, host, "float64")
    g = ad.grad(f)(*args)
    assert isinstance(g["layers"][0], Params)
    ref = _jax_reference(f, host, 0)
    assert_close(g, ref, rtol=1e-10, atol=1e-12)
    g0, g1 = ad.grad(f, argnums=(0, 1))(*args)
    assert_close((g0, g1), _jax_reference(f, host, (0, 1)), rtol=1e-10, atol=1e-12)
    (v, aux), g = ad.value_and_grad(lambda p, x: (f(p, x), {"n": x.shape[0], "x": x}), has_aux=True)(*args)
    assert aux["n"] == 5 and type(aux["x"]) is type(args[1])
    g2, aux2 = ad.grad(lambda p, x: (f(p, x), 7), has_aux=True)(*args)
    assert aux2 == 7
    assert_close(g2, ref, rtol=1e-10, atol=1e-12)


def test_vjp_and_jacobian(backend):
    r = np.random.default_rng(4)
    host = (r.normal(size=(3, 4)), r.normal(size=(4,)))

    def f(a, b):
        xp = _ns(a, b)
        return {"y": xp.tanh(a @ b), "z": a * b}

    args = _to(backend, host, "float64")
    out, pull = ad.vjp(f, *args)
    ct_host = {"y": r.normal(size=3), "z": r.normal(size=(3, 4))}
    got = pull(_to(backend, ct_host, "float64"))
    with _jax_x64():
        _, jpull = jax.vjp(f, *[jnp.asarray(a) for a in host])
        want = jpull({k: jnp.asarray(v) for k, v in ct_host.items()})
    assert_close(got, tuple(np.asarray(w) for w in want), rtol=1e-10, atol=1e-12)
    assert_close(out, f(*host), rtol=1e-12)
    with pytest.raises(ValueError, match="structure"):
        pull(_to(backend, {"y": ct_host["y"]}, "float64"))

    def g(a, b):
        return _ns(a).sin(a @ b) * 2.0

    J = ad.jacobian(g, argnums=(0, 1))(*args)
    with _jax_x64():
        Jr = jax.jacrev(g, argnums=(0, 1))(*[jnp.asarray(a) for a in host])
    assert tuple(J[0].shape) == (3, 3, 4) and tuple(J[1].shape) == (3, 4)
    assert_close(J, tuple(np.asarray(j) for j in Jr), rtol=1e-10, atol=1e-12)


def test_jacobian_of_a_pytree_output_matches_jacrev(backend):
    r = np.random.default_rng(5)
    host = ({"w": r.normal(size=(3, 2)), "b": r.normal(size=2)}, r.normal(size=(4, 3)))

    def f(p, x):
        xp = _ns(p["w"], x)
        z = x @ p["w"] + p["b"]
        return {"z": z, "s": xp.sum(xp.tanh(z)), "t": (xp.exp(p["b"]), x * 2.0)}, xp.max(z)

    args = _to(backend, host, "float64")
    J, aux = ad.jacobian(f, argnums=(0, 1), has_aux=True)(*args)
    with _jax_x64():
        Jr, aux_r = jax.jacrev(f, argnums=(0, 1), has_aux=True)(*pml.tree.tree_map(jnp.asarray, host))
    assert pml.tree.tree_structure(J) == pml.tree.tree_structure(pml.tree.tree_map(np.asarray, Jr))
    assert tuple(J["z"][0]["w"].shape) == (4, 2, 3, 2) and tuple(J["s"][1].shape) == (4, 3)
    assert_close(J, pml.tree.tree_map(np.asarray, Jr), rtol=1e-10, atol=1e-12)
    assert_close(aux, np.asarray(aux_r), rtol=1e-12)
    # an output that does not depend on the differentiated argument: zeros of the right shape
    J0 = ad.jacobian(lambda w, x: (_ns(x).sum(x), w * 1.0), argnums=0)(*_to(backend, (host[1][0], host[1]), "float64"))
    assert tuple(J0[0].shape) == (3,) and float(to_numpy(_ns(J0[0]).sum(_ns(J0[0]).abs(J0[0])))) == 0.0


def test_dask_decompositions_stay_lazy():
    da = pytest.importorskip("dask.array")
    import dask

    host = _host_args("qr")
    x = da.from_array(host[0], chunks=-1)

    def refuse(*a, **k):
        raise AssertionError("autodiff computed a Dask graph")

    with dask.config.set(scheduler=refuse):
        g = ad.grad(qr)(x)
        assert isinstance(g, da.Array)
    assert_close(g, _jax_reference(qr, host, 0), rtol=1e-9, atol=1e-11)


# ------------------------------------------------------------------ second derivatives
@pytest.mark.parametrize("fname", ["sin", "exp", "tanh", "log1p", "sqrt", "atan", "cosh"])
def test_second_derivatives_of_elementwise_functions(fname, backend):
    x_host = np.linspace(0.1, 1.5, 7)

    def f(x):
        xp = _ns(x)
        return xp.sum(getattr(xp, fname)(x) * x * x)

    x = backend.asarray(x_host)
    d2 = ad.grad(lambda t: _ns(t).sum(ad.grad(f)(t)))(x)  # sum of the Hessian's (diagonal) rows
    with _jax_x64():
        ref = jax.grad(lambda t: jnp.sum(jax.grad(f)(t)))(jnp.asarray(x_host))
    assert_close(d2, np.asarray(ref), rtol=1e-10, atol=1e-12)


def test_hessian_of_a_small_network():
    host = _host_args("logistic_regression")
    H = ad.jacobian(ad.grad(logistic_regression))(*host)
    with _jax_x64():
        Hr = jax.hessian(logistic_regression)(*[jnp.asarray(a) for a in host])
    assert_close(H, np.asarray(Hr), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ backends: laziness, devices, JAX
def test_dask_stays_lazy(monkeypatch):
    da = pytest.importorskip("dask.array")
    import dask

    host = _host_args("custom_layer_mlp")
    args = pml.tree.tree_map(lambda a: da.from_array(a, chunks=4) if isinstance(a, np.ndarray) else a, host)

    def refuse(*a, **k):
        raise AssertionError("autodiff computed a Dask graph")

    with dask.config.set(scheduler=refuse):
        value, g = ad.value_and_grad(custom_layer_mlp)(*args)
        assert all(isinstance(leaf, da.Array) for leaf in pml.tree.tree_leaves(g))
    assert_close(g, _jax_reference(custom_layer_mlp, host, 0), rtol=1e-9, atol=1e-11)


def test_device_is_kept_on_strict_device1():
    xs = pytest.importorskip("array_api_strict")
    dev = xs.Device("device1")
    host = _host_args("linalg")
    args = [xs.asarray(a, device=dev) for a in host]
    g = ad.grad(linalg, argnums=(0, 1))(*args)
    assert all(leaf.device == dev for leaf in g)
    assert_close(g, _jax_reference(linalg, host, (0, 1)), rtol=1e-9, atol=1e-10)


def test_torch_float32_stays_float32():
    torch = pytest.importorskip("torch")
    host = _host_args("ridge")
    args = [torch.asarray(a, dtype=torch.float32) for a in host]
    g = ad.grad(ridge, argnums=(0, 1))(*args)
    assert all(leaf.dtype == torch.float32 and isinstance(leaf, torch.Tensor) for leaf in g)


def test_jax_defers_to_jax_grad():
    host = _host_args("ridge")
    with _jax_x64():
        args = [jnp.asarray(a) for a in host]
        got = jax.jit(ad.grad(ridge, argnums=(0, 1)))(*args)
        want = jax.grad(ridge, argnums=(0, 1))(*args)
        assert_close(got, want, rtol=0, atol=0)
        v, pull = ad.vjp(lambda w: w * 2.0, args[0])
        assert_close(pull(jnp.ones_like(v))[0], 2.0 * np.ones(3))
        assert_close(ad.jacobian(lambda w: w * 2.0)(args[0]), 2.0 * np.eye(3))


# ------------------------------------------------------------------ errors
def test_negative_and_strided_slices():
    x = np.random.default_rng(2).normal(size=(6, 5))

    def f(t):
        return _ns(t).sum(t[::-2, 1:4:2] ** 2) + _ns(t).sum(t[4:0:-3, -1] * 3.0)

    assert_close(ad.grad(f)(x), _jax_reference(f, (x,), 0), rtol=1e-12, atol=1e-14)


def test_unsupported_operation_is_named():
    x = np.linspace(0.0, 1.0, 5)
    with pytest.raises(NotImplementedError, match="linalg.pinv"):
        ad.grad(lambda t: _ns(t).sum(_ns(t).linalg.pinv(t[None, :] * t[:, None])))(x)
    with pytest.raises(NotImplementedError, match="linalg.qr of a 2x5"):  # wide: no rule, as jax.grad
        ad.grad(lambda t: _ns(t).sum(_ns(t).linalg.qr(_ns(t).stack([t, t * t]))[0]))(x)
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        ad.grad(lambda t: _ns(t).sum(_ns(t).linalg.svd(_ns(t).stack([t, t * t]))[0]))(x)
    with pytest.raises(NotImplementedError, match="boolean masks"):
        ad.grad(lambda t: _ns(t).sum(t[t > 0.5]))(x)


def test_in_place_write_raises_with_a_pointer():
    x = np.linspace(0.0, 1.0, 5)

    def f(t):
        t[0] = 1.0
        return _ns(t).sum(t)

    with pytest.raises(TypeError, match=r"xp\.where.*array_api_extra\.at"):
        ad.grad(f)(x)


def test_write_into_a_copy_is_differentiable():
    xpx = pytest.importorskip("array_api_extra")

    def f(x):
        xp = _ns(x)
        y = xpx.at(x)[1:, 0].set(xp.sin(x[0, 1:]) * 3.0, copy=True)
        y = xpx.at(y)[y > 0.5].set(y[0, 0], copy=True)
        y = xpx.at(y)[::2, 1].set(x[1, 1:] ** 2, copy=True)
        return xp.sum(y ** 2)

    x = np.random.default_rng(1).normal(size=(3, 3))
    assert_close(ad.grad(f)(x), _jax_reference(f, (x,), 0), rtol=1e-12, atol=1e-14)


def test_bad_calls():
    x = np.linspace(0.0, 1.0, 5)
    with pytest.raises(TypeError, match="0-d"):
        ad.grad(lambda t: t * 2.0)(x)
    with pytest.raises(TypeError, match="real floating"):
        ad.grad(lambda t: _ns(t).sum(t))(np.arange(3))
    with pytest.raises(TypeError, match="argnums"):
        ad.grad(lambda t: t, argnums="0")
    with pytest.raises(ValueError, match="out of range"):
        ad.grad(lambda t: t, argnums=2)(x)
    with pytest.raises(TypeError, match="callable"):
        ad.grad(3)
    with pytest.raises(TypeError, match="pair"):
        ad.grad(lambda t: _ns(t).sum(t), has_aux=True)(x)
    with pytest.raises(TypeError, match="numpy"):
        ad.grad(lambda t: float(np.sum(np.asarray(t))))(x)


def test_constant_function_has_zero_gradient_and_no_leak():
    x = np.linspace(0.0, 1.0, 5)
    g = ad.grad(lambda t: _ns(t).sum(x * 2.0))(x)
    assert_close(g, np.zeros(5), rtol=0, atol=0)
    leaked = []
    ad.grad(lambda t: (leaked.append(t), _ns(t).sum(t))[1])(x)
    # a tracer that escaped its trace computes as its value afterwards
    assert_close(_ns(leaked[0]).sum(leaked[0] * 2.0), 2.0 * np.sum(x))


def test_supported_operations_lists_the_rules():
    ops = ad.supported_operations()
    for name in ("add", "matmul", "tensordot", "sum", "reshape", "permute_dims", "take", "where", "concat",
                 "stack", "maximum", "linalg.solve", "linalg.cholesky", "expand_dims", "sort", "linalg.eigh",
                 "linalg.eigvalsh", "linalg.svd", "linalg.svdvals", "linalg.qr"):
        assert name in ops
    assert math.isfinite(len(ops))


# ------------------------------------------------------------------ MLP with a user loss and a user layer
def _norm_swish(z):
    """A user layer: layer normalisation, then x * sigmoid(1.702 x)."""
    xp = pml.namespace(z)
    h = (z - xp.mean(z, axis=-1, keepdims=True)) / xp.sqrt(xp.var(z, axis=-1, keepdims=True) + 1e-5)
    return h * pml.activations.sigmoid(1.702 * h)


def _user_focal(y, p):
    return pml.losses.focal(y, p, gamma=1.5)


def test_mlp_user_loss_equals_the_analytic_default(backend):
    """A user loss equal to the built-in one gives the analytic backprop's loss and gradients."""
    r = np.random.default_rng(5)
    X, Y = r.normal(size=(12, 3)), r.normal(size=(12, 2))
    rng = backend.rng(0)
    plain = pml.nn.MLP([3, 8, 2], activation="tanh", output="identity")
    user = pml.nn.MLP([3, 8, 2], activation="tanh", output="identity", loss=lambda y, p: pml.losses.mse(y, p))
    params = plain.init(rng, dtype=backend.xp.float64) if backend.name != "jax" else None
    if params is None:
        pytest.skip("jax: both are jax.grad / analytic, compared in the other backends")
    X, Y = backend.asarray(X), backend.asarray(Y)
    want = plain.loss_and_grads(params, X, Y)
    got = user.loss_and_grads(params, X, Y)
    assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_mlp_user_layer_matches_jax(backend, float_dtype):
    r = np.random.default_rng(6)
    X, Y = r.normal(size=(16, 3)), np.eye(3)[r.integers(0, 3, 16)]
    net = pml.nn.MLP([3, 8, 8, 3], activation=_norm_swish, output="softmax", loss=_user_focal)
    params_host = pml.tree.tree_map(np.asarray, net.init(pml.get_backend("numpy").rng(0)))

    def loss(p, X, Y):
        return net.loss_and_grads(p, X, Y)[0]

    ref = _jax_reference(loss, (params_host, X, Y), 0)
    dname = "float64" if "64" in str(float_dtype) else "float32"
    value, got = net.loss_and_grads(*_to(backend, (params_host, X, Y), dname))
    assert pml.backend.backend_of(value) == backend.name
    rtol, atol = _TOL[dname]
    assert_close(got, ref, rtol=rtol, atol=atol)


def test_mlp_estimators_train_a_user_loss_on_numpy():
    X, y = pml.datasets.make_moons(300, noise=0.1, seed=0)
    clf = pml.models.MLPClassifier(hidden_layer_sizes=(16,), activation=_norm_swish, loss=_user_focal, epochs=60,
                                   batch_size=32, seed=0, optimizer=pml.optimizers.adam(1e-2))
    clf.fit(X, y)
    curve = np.asarray(clf.loss_curve_)
    assert curve[-1] < 0.5 * curve[0]
    assert float(np.mean(np.asarray(clf.predict(X)) == np.asarray(y))) > 0.95

    Xr = np.random.default_rng(0).normal(size=(200, 2))
    yr = np.sin(Xr[:, 0]) + 0.5 * Xr[:, 1]
    reg = pml.models.MLPRegressor(hidden_layer_sizes=(16,), activation="tanh", epochs=80, seed=0,
                                  loss=lambda Y, P: pml.losses.huber(Y, P, delta=0.5),
                                  optimizer=pml.optimizers.adam(1e-2))
    reg.fit(Xr, yr)
    assert float(np.mean((np.asarray(reg.predict(Xr)) - yr) ** 2)) < 0.05
    with pytest.raises(TypeError, match="loss"):
        pml.nn.MLP([2, 3, 1], loss="mse")


def test_docstring_examples():
    import doctest

    res = doctest.testmod(ad, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted and not res.failed


# ------------------------------------------------------------------ fused dense layer (h @ W + b)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_layer_is_one_node_with_the_gradient_of_jax(backend, dtype):
    """``h @ W + b`` records one node; its gradient (also with the product used elsewhere, a traced or
    constant bias, a 2-D bias, a bias of another dtype, and under a second derivative) is jax.grad's."""
    r = np.random.default_rng(7)
    X, W, b, V = r.normal(size=(9, 4)), r.normal(size=(4, 5)), r.normal(size=5), r.normal(size=(5, 3))
    tol = dict(rtol=2e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    Xb, Wb, bb, Vb = _to(backend, (X, W, b, V), dtype)
    rules = []
    traced = backend.name != "jax"

    def dense(W, b, V, *, shared=False, bias=None):
        xp = _ns(W, b)
        m = xp.matmul(Xb, W)
        z = m + (b if bias is None else bias)
        rules.append(z._node.rule.name if isinstance(z, ad.Tracer) else None)
        out = xp.sum(xp.tanh(z) @ V)
        return out + xp.sum(m * m) if shared else out

    def dense_jax(W, b, V, *, shared=False, bias=None):
        m = jnp.asarray(X) @ W
        z = m + (b if bias is None else bias)
        out = jnp.sum(jnp.tanh(z) @ V)
        return out + jnp.sum(m * m) if shared else out

    with _jax_x64():
        for kw, kw_jax, fused in (({}, {}, True), ({"shared": True}, {"shared": True}, True),
                                  ({"bias": bb[None, :]}, {"bias": jnp.asarray(b)[None, :]}, False),
                                  ({"bias": _to(backend, b, "float64" if dtype == "float32" else "float32")},
                                   {"bias": jnp.asarray(b, dtype="float64" if dtype == "float32" else "float32")},
                                   False)):
            rules.clear()
            got = ad.grad(functools.partial(dense, **kw), argnums=(0, 1, 2))(Wb, bb, Vb)
            want = jax.grad(functools.partial(dense_jax, **kw_jax), argnums=(0, 1, 2))(
                jnp.asarray(W), jnp.asarray(b), jnp.asarray(V))
            if traced:  # (on JAX, autodiff.grad is jax.grad)
                assert (rules[0] == "_matmul_add") is fused, (kw.keys(), rules)
            for g, w, shape in zip(got, want, (W.shape, b.shape, V.shape)):
                assert tuple(g.shape) == shape
                assert_close(to_numpy(g), np.asarray(w), **tol)
        # a constant bias (not differentiated) is fused too; X differentiated instead of W
        def layer(x):
            z = _ns(x).matmul(x, Wb) + bb
            rules.append(z._node.rule.name if isinstance(z, ad.Tracer) else None)
            return _ns(x).sum(z)

        rules.clear()
        gx = ad.grad(layer)(_to(backend, X, dtype))
        assert rules == (["_matmul_add"] if traced else [None]) and tuple(gx.shape) == X.shape
        assert_close(to_numpy(gx), np.broadcast_to(W.sum(1), X.shape), **tol)
        # second derivative through the fused rule
        h = ad.grad(lambda w: _ns(w).sum(ad.grad(lambda u: dense(u, bb, Vb), argnums=0)(w) ** 2))(Wb)
        hj = jax.grad(lambda w: jnp.sum(jax.grad(lambda u: dense_jax(u, jnp.asarray(b), jnp.asarray(V)))(w) ** 2))(
            jnp.asarray(W))
        assert_close(to_numpy(h), np.asarray(hj), **tol)
