"""Invariants every registered public function keeps, on every backend.

Driven by ``portable_ml.testing.registry``: for each case the result keeps
the input's backend, floating dtype and device, agrees with the float64
NumPy run, and on JAX it is equal under ``jax.jit``, differentiable under
``jax.grad`` where the case says so, and batches under ``jax.vmap``.
"""

import numpy as np
import pytest

from portable_ml.backend import backend_of, get_backend
from portable_ml.testing import assert_close, dtype_name
from portable_ml.testing.registry import cases, inputs
from portable_ml.tree import tree_leaves

from .helpers import other_device, place

CASES = cases()
IDS = [c.name for c in CASES]


def _run(case, backend, dtype=None):
    args = place(backend, *inputs(case), dtype=dtype)
    args = args if isinstance(args, list) else [args]
    return case.fn(*args, **case.kwargs), args


def _tol(case, dtype):
    return case.rtol.get(dtype), case.atol.get(dtype)


def _float_leaves(tree):
    return [x for x in tree_leaves(tree) if backend_of(x) is not None and "float" in str(x.dtype)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_numpy_float64_and_keeps_dtype(case, backend, float_dtype):
    name = dtype_name(float_dtype)
    out, _ = _run(case, backend, dtype=name)
    ref, _ = _run(case, get_backend("numpy"))
    for leaf in tree_leaves(out):
        assert backend_of(leaf) == backend.name, f"{case.name} returned a {backend_of(leaf)} array"
    for leaf in _float_leaves(out):
        assert dtype_name(leaf.dtype) == name, f"{case.name}: dtype {leaf.dtype}, want {name}"
    rtol, atol = _tol(case, name)
    assert_close(out, ref, rtol=rtol, atol=atol, err_msg=case.name)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keeps_device(case, backend):
    be = other_device(backend)
    if be is None:
        pytest.skip(f"{backend.name} has a single device here")
    out, _ = _run(case, be)
    from array_api_compat import device

    for leaf in tree_leaves(out):
        if backend_of(leaf) is not None:
            assert device(leaf) == be.device, f"{case.name}: result on {device(leaf)}, input on {be.device}"


@pytest.fixture(scope="module")
def jax_backend(request):
    if "jax" not in request.config._pml_backends:
        pytest.skip("jax not selected with --pml-backends")
    pytest.importorskip("jax")
    return get_backend("jax")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jit_equals_eager(case, jax_backend):
    import jax

    args = place(jax_backend, *inputs(case))
    args = args if isinstance(args, list) else [args]
    arr_pos = [i for i, a in enumerate(args) if backend_of(a) == "jax"]

    def f(*arrs):
        full = list(args)
        for i, a in zip(arr_pos, arrs):
            full[i] = a
        return case.fn(*full, **case.kwargs)

    eager = f(*[args[i] for i in arr_pos])
    jitted = jax.jit(f)(*[args[i] for i in arr_pos])
    assert_close(jitted, eager, rtol=1e-12, atol=1e-14, err_msg=case.name)


@pytest.mark.parametrize("case", [c for c in CASES if c.grad_argnums], ids=[c.name for c in CASES if c.grad_argnums])
def test_grad_is_finite_and_matches_differences(case, jax_backend):
    import jax
    import jax.numpy as jnp

    args = place(jax_backend, *inputs(case))
    args = args if isinstance(args, list) else [args]

    def scalar(*a):
        return sum(jnp.sum(leaf) for leaf in tree_leaves(case.fn(*a, **case.kwargs)) if jnp.issubdtype(leaf.dtype, jnp.floating))

    grads = jax.grad(scalar, argnums=case.grad_argnums)(*args)
    for g, i in zip(grads, case.grad_argnums):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)), f"{case.name}: non-finite gradient for argument {i}"
        # one directional central difference as an independent check
        x = np.asarray(args[i])
        v = np.random.default_rng(1).normal(size=x.shape)
        eps = 1e-6
        plus = list(args)
        minus = list(args)
        plus[i] = jnp.asarray(x + eps * v)
        minus[i] = jnp.asarray(x - eps * v)
        fd = (float(scalar(*plus)) - float(scalar(*minus))) / (2 * eps)
        assert np.isclose(np.sum(g * v), fd, rtol=1e-5, atol=1e-6), f"{case.name}: grad·v {np.sum(g * v)} vs {fd}"


@pytest.mark.parametrize("case", [c for c in CASES if c.vmap], ids=[c.name for c in CASES if c.vmap])
def test_vmap_equals_loop(case, jax_backend):
    import jax
    import jax.numpy as jnp

    batch = [inputs(case, seed=s) for s in range(3)]
    arr_pos = [i for i, a in enumerate(batch[0]) if isinstance(a, np.ndarray)]

    def f(*arrs):
        full = list(batch[0])
        for i, a in zip(arr_pos, arrs):
            full[i] = a
        return case.fn(*full, **case.kwargs)

    stacked = [jnp.asarray(np.stack([b[i] for b in batch])) for i in arr_pos]
    out = jax.vmap(f)(*stacked)
    loop = [f(*[jnp.asarray(b[i]) for i in arr_pos]) for b in batch]
    want = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *loop)
    assert_close(out, want, rtol=1e-12, atol=1e-14, err_msg=case.name)
