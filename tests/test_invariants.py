"""Invariants every registered public function keeps, on every backend.

Driven by ``portable_ml.testing.registry``: for each case the result keeps
the input's backend, floating dtype and device, and agrees with the float64
NumPy run.  Then every mode a user embeds it in, each on every case it
applies to (one dtype: the registry's inputs as placed):

* JAX: ``jax.jit`` with traced inputs; ``jax.jit`` with every input closed
  over and a ``jax.lax.scan`` body holding the non-float inputs (fixed
  labels, a fixed prior -- inside a trace an operation on a concrete array
  is traced too); ``jax.grad`` (against central differences) and
  ``jax.jit(jax.grad)`` with the other inputs closed over; ``jax.vmap``.
* PyTorch: ``torch.func.vmap`` and ``torch.func.grad`` (against
  ``torch.autograd``); ``torch.compile(fullgraph=True)`` -- no graph break
  -- for the elementwise families (activations, losses) and the functions
  embedded in training steps.
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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.grad_argnums], ids=[c.name for c in CASES if c.grad_argnums])
def test_grad_is_finite_and_matches_differences(case, jax_backend):
    import jax
    import jax.numpy as jnp

    args = place(jax_backend, *inputs(case))
    args = args if isinstance(args, list) else [args]

    def scalar(*a):
        return sum(jnp.sum(leaf) for leaf in tree_leaves(case.fn(*a, **case.kwargs)) if jnp.issubdtype(leaf.dtype, jnp.floating))

    grads = jax.grad(scalar, argnums=case.grad_argnums)(*args)
    # jit(grad) with the other arguments closed over: their checks see traced values too
    def closed(*diff):
        full = list(args)
        for i, d in zip(case.grad_argnums, diff):
            full[i] = d
        return scalar(*full)

    jitted = jax.jit(jax.grad(closed, argnums=tuple(range(len(case.grad_argnums)))))(
        *[args[i] for i in case.grad_argnums])
    assert_close(jitted, grads, rtol=1e-10, atol=1e-12, err_msg=f"{case.name}: jit(grad) vs grad")
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


@pytest.mark.slow
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


def _float_positions(args):
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_closed_over_inputs_under_jit_and_scan(case, jax_backend):
    """Concrete inputs the traced function closes over: value checks must not read them."""
    import jax
    import jax.numpy as jnp

    batch = [inputs(case, seed=s) for s in range(2)]
    fpos = _float_positions(batch[0])
    fixed = place(jax_backend, *batch[0])
    fixed = fixed if isinstance(fixed, list) else [fixed]

    def call(*floats):
        full = list(fixed)
        for i, a in zip(fpos, floats):
            full[i] = a
        return case.fn(*full, **case.kwargs)

    # the scan carries nothing and scans the float inputs of two seeds; the others stay closed over
    xs = [jnp.asarray(np.stack([b[i] for b in batch])) for i in fpos] or [jnp.arange(2)]

    def body(carry, x):
        return carry, call(*x) if fpos else call()

    @jax.jit
    def run():
        return call(*[fixed[i] for i in fpos]), jax.lax.scan(body, 0, xs)[1]

    closed, scanned = run()
    eager = [call(*[x[k] for x in xs]) if fpos else call() for k in range(2)]
    assert_close(closed, eager[0], rtol=1e-12, atol=1e-14, err_msg=f"{case.name}: jit, closed over")
    want = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *eager)
    assert_close(scanned, want, rtol=1e-10, atol=1e-12, err_msg=f"{case.name}: lax.scan body")


# ------------------------------------------------------------------ PyTorch transforms
@pytest.fixture(scope="module")
def torch_backend(request):
    if "torch" not in request.config._pml_backends:
        pytest.skip("torch not selected with --pml-backends")
    pytest.importorskip("torch")
    return get_backend("torch")


def _torch_scalar(torch, out):
    return sum(leaf.sum() for leaf in tree_leaves(out) if torch.is_tensor(leaf) and leaf.is_floating_point())


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.vmap], ids=[c.name for c in CASES if c.vmap])
def test_torch_func_vmap_equals_loop(case, torch_backend):
    import torch

    batch = [inputs(case, seed=s) for s in range(3)]
    arr_pos = [i for i, a in enumerate(batch[0]) if isinstance(a, np.ndarray)]

    def f(*arrs):
        full = list(batch[0])
        for i, a in zip(arr_pos, arrs):
            full[i] = a
        return case.fn(*full, **case.kwargs)

    stacked = [torch_backend.asarray(np.stack([b[i] for b in batch])) for i in arr_pos]
    out = torch.func.vmap(f)(*stacked)
    loop = [f(*[torch_backend.asarray(b[i]) for i in arr_pos]) for b in batch]
    assert_close(out, _stack_trees(torch, loop), rtol=1e-12, atol=1e-14, err_msg=case.name)


def _stack_trees(torch, trees):
    from portable_ml.tree import tree_map

    return tree_map(lambda *xs: torch.stack(xs), *trees)


_GRAD_CASES = [c for c in CASES if c.grad_argnums]


@pytest.mark.slow
@pytest.mark.parametrize("case", _GRAD_CASES, ids=[c.name for c in _GRAD_CASES])
def test_torch_func_grad_equals_autograd(case, torch_backend):
    import torch

    args = place(torch_backend, *inputs(case))
    args = args if isinstance(args, list) else [args]
    pos = case.grad_argnums

    def closed(*diff):
        full = list(args)
        for i, d in zip(pos, diff):
            full[i] = d
        return _torch_scalar(torch, case.fn(*full, **case.kwargs))

    got = torch.func.grad(closed, argnums=tuple(range(len(pos))))(*[args[i] for i in pos])
    leaves = [args[i].detach().clone().requires_grad_(True) for i in pos]
    out = closed(*leaves)
    if out.requires_grad:
        want = torch.autograd.grad(out, leaves, allow_unused=True, materialize_grads=True)
    else:  # piecewise constant in the inputs (relu_grad, hinge_grad): the gradient is zero
        want = [torch.zeros_like(x) for x in leaves]
    assert_close(list(got), list(want), rtol=1e-10, atol=1e-12, err_msg=case.name)


#: torch.compile(fullgraph=True) is asserted for the elementwise families and for the functions
#: a training step embeds (Dynamo only, ``backend="eager"``: a graph break is what fails).
_COMPILE_FAMILIES = ("activations", "losses")
_COMPILE_EXTRA = ("metrics.roc_auc", "metrics.accuracy", "nn.MLP.loss_and_grads[sigmoid]",
                  "nn.MLP.loss_and_grads[softmax]", "regularization.l1_penalty_grad")
_COMPILE_CASES = [c for c in CASES if c.family in _COMPILE_FAMILIES or c.name in _COMPILE_EXTRA]


@pytest.mark.slow
@pytest.mark.parametrize("case", _COMPILE_CASES, ids=[c.name for c in _COMPILE_CASES])
def test_torch_compile_fullgraph(case, torch_backend):
    import torch

    args = place(torch_backend, *inputs(case))
    args = args if isinstance(args, list) else [args]
    arr_pos = [i for i, a in enumerate(args) if torch.is_tensor(a)]

    def f(*arrs):
        full = list(args)
        for i, a in zip(arr_pos, arrs):
            full[i] = a
        return case.fn(*full, **case.kwargs)

    torch._dynamo.reset()  # one fresh compilation per case (no recompile limit across cases)
    compiled = torch.compile(f, fullgraph=True, backend="eager")
    got = compiled(*[args[i] for i in arr_pos])
    assert_close(got, f(*[args[i] for i in arr_pos]), rtol=1e-12, atol=1e-14, err_msg=case.name)
