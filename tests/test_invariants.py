"""Invariants every registered public function keeps, on every backend.

Generated from ``portable_ml.testing.registry`` (each function's facts in one
place).  For each case:

* on every backend and floating dtype, for every swept option and for the
  typical and the extreme inputs: the result keeps the input's backend,
  floating dtype and device, and agrees with the float64 NumPy run (at the
  extremes: with the NumPy run in the same dtype, as clips there depend on it);
* the float64 NumPy run agrees with the case's independent reference (SciPy,
  PyTorch, a float64 NumPy formula...), for every swept option, typical and
  extreme inputs; without the reference's library only that test is skipped;
* a ``*_grad`` equals the gradient of the function it is registered as the
  gradient of: central differences (NumPy), and ``jax.grad`` of our own
  function where JAX is installed;
* on Dask the result stays a lazy graph where the case says so.

Then every mode a user embeds it in, each on every case whose capabilities
claim it (one dtype: the registry's inputs as placed):

* JAX: ``jax.jit`` with traced inputs; ``jax.jit`` with every input closed
  over and a ``jax.lax.scan`` body holding the non-float inputs (fixed
  labels, a fixed prior -- inside a trace an operation on a concrete array
  is traced too); ``jax.grad`` (against central differences) and
  ``jax.jit(jax.grad)`` with the other inputs closed over; ``jax.vmap``.
* PyTorch: ``torch.func.vmap`` and ``torch.func.grad`` (against
  ``torch.autograd``); ``torch.compile(fullgraph=True)`` -- no graph break.

Known deviations are listed by case name in
``portable_ml/testing/deviations/<backend>.toml``; the pytest plugin marks the
matching tests expected-to-fail.
"""

import numpy as np
import pytest

from portable_ml.backend import backend_of, get_backend
from portable_ml.testing import assert_close, dtype_name
from portable_ml.testing.registry import cases, extreme_inputs, gradient_cases, inputs
from portable_ml.tree import tree_leaves

from .helpers import other_device, place_all

CASES = cases()
IDS = [c.name for c in CASES]


def _ids(selected):
    return [c.name for c in selected]


def _rounded(args, dtype):
    """Float64 host copies holding exactly the values a ``dtype`` run sees."""
    if dtype is None:
        return args
    return tuple(a.astype(dtype).astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                 for a in args)


def _run(case, backend, dtype=None, args=None, kwargs=None):
    args = place_all(backend, *(inputs(case) if args is None else args), dtype=dtype)
    return case.fn(*args, **(case.kwargs if kwargs is None else kwargs)), args


def _float_leaves(tree):
    return [x for x in tree_leaves(tree) if backend_of(x) is not None and "float" in str(x.dtype)]


def _input_sets(case):
    """``[(label, host args)]``: the typical inputs, then the extreme ones where the case has them."""
    ext = extreme_inputs(case)
    return [("typical", inputs(case))] + ([("extreme", ext)] if ext is not None else [])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_numpy_float64_and_keeps_dtype(case, backend, float_dtype):
    name = dtype_name(float_dtype)
    numpy = get_backend("numpy")
    rtol, atol = case.tolerance(name)
    for label, host in _input_sets(case):
        for kw in case.options:
            what = f"{case.name} ({label} inputs, options {kw})"
            out, _ = _run(case, backend, dtype=name, args=host, kwargs=kw)
            # extremes against NumPy in the same dtype: clips and limits there depend on the dtype (eps)
            ref, _ = (_run(case, numpy, args=_rounded(host, name), kwargs=kw) if label == "typical"
                      else _run(case, numpy, dtype=name, args=host, kwargs=kw))
            for leaf in tree_leaves(out):
                assert backend_of(leaf) == backend.name, f"{what} returned a {backend_of(leaf)} array"
            for leaf in _float_leaves(out):
                assert dtype_name(leaf.dtype) == name, f"{what}: dtype {leaf.dtype}, want {name}"
                if label == "extreme":
                    assert np.all(np.isfinite(backend.to_numpy(leaf))), f"{what}: not finite: {leaf}"
            assert_close(out, ref, rtol=rtol, atol=atol, err_msg=what)


_REF_CASES = [c for c in CASES if c.reference is not None]


@pytest.mark.parametrize("case", _REF_CASES, ids=_ids(_REF_CASES))
def test_numpy_float64_matches_reference(case):
    missing = case.reference.missing()
    if missing:
        pytest.skip(f"the reference of {case.name} ({case.reference.source}) needs {missing}")
    rtol, atol = case.tolerance("float64")
    sets = _input_sets(case) if case.reference.at_extremes else _input_sets(case)[:1]
    for label, host in sets:
        for kw in case.options:
            out = case.fn(*host, **kw)
            want = case.reference.fn(*host, **kw)
            assert np.shape(out) == np.shape(want), f"{case.name} {kw}: shape {np.shape(out)} vs {np.shape(want)}"
            assert_close(out, np.asarray(want, dtype=np.float64), rtol=rtol, atol=atol,
                         err_msg=f"{case.name} ({label} inputs, options {kw}) vs {case.reference.source}")


_GRAD_OF = gradient_cases()
_GRAD_OF_IDS = [g.name for g, _ in _GRAD_OF]


def _summed(f, host, wrt, kw):
    def total(x):
        full = list(host)
        full[wrt] = x
        return float(np.sum(np.asarray(f(*full, **kw), dtype=np.float64)))

    return total


@pytest.mark.parametrize("grad_case, case", _GRAD_OF, ids=_GRAD_OF_IDS)
def test_gradient_matches_central_differences_of_its_function(grad_case, case):
    """``f_grad(args)`` = d/dx sum f(args) along a random direction, for every swept option."""
    host = inputs(grad_case, seed=5)
    x = host[grad_case.wrt]
    v = np.random.default_rng(6).normal(size=x.shape)
    eps = 1e-6
    for kw in grad_case.options:
        total = _summed(case.fn, host, grad_case.wrt, kw)
        fd = (total(x + eps * v) - total(x - eps * v)) / (2 * eps)
        got = float(np.sum(np.asarray(grad_case.fn(*host, **kw)) * v))
        assert np.isclose(got, fd, rtol=1e-6, atol=1e-8), f"{grad_case.name} {kw}: <grad, v> = {got}, differences {fd}"


@pytest.mark.parametrize("grad_case, case", _GRAD_OF, ids=_GRAD_OF_IDS)
def test_gradient_matches_jax_grad_of_its_function(grad_case, case):
    jax = pytest.importorskip("jax")
    if not jax.config.jax_enable_x64:
        pytest.skip("needs JAX's x64 mode (--pml-jax-x64=on)")
    import jax.numpy as jnp

    # typical inputs only: the extremes sit on kinks and clips, where the conventions are our own
    rtol, atol = grad_case.tolerance("float64")
    host = inputs(grad_case)
    args = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in host]
    for kw in grad_case.options:
        def total(x, kw=kw):
            full = list(args)
            full[grad_case.wrt] = x
            return jnp.sum(case.fn(*full, **kw))

        want = np.asarray(jax.grad(total)(args[grad_case.wrt]))
        assert_close(grad_case.fn(*host, **kw), want, rtol=rtol, atol=atol, err_msg=f"{grad_case.name} {kw}")


_LAZY = [c for c in CASES if c.capabilities.lazy_dask]


@pytest.mark.parametrize("case", _LAZY, ids=_ids(_LAZY))
def test_dask_result_stays_lazy(case, request):
    """On Dask nothing is computed before ``compute``: no scheduler run, every array leaf a Dask array."""
    if "dask" not in request.config._pml_backends:
        pytest.skip("dask not selected with --pml-backends")
    pytest.importorskip("dask")
    from dask.callbacks import Callback

    runs = []
    with Callback(start=lambda dsk: runs.append(len(dsk))):
        out, _ = _run(case, get_backend("dask"))
    assert not runs, f"{case.name} computed {len(runs)} Dask graph(s) before compute"
    for leaf in tree_leaves(out):
        assert backend_of(leaf) in (None, "dask"), f"{case.name} returned a {backend_of(leaf)} array"


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


_GRAD_CASES = [c for c in CASES if c.capabilities.grad and c.grad_argnums]
_VMAP_CASES = [c for c in CASES if c.capabilities.vmap]
_JIT_CASES = [c for c in CASES if c.capabilities.jit]
_COMPILE_CASES = [c for c in CASES if c.capabilities.compile]


@pytest.fixture(scope="module")
def jax_backend(request):
    if "jax" not in request.config._pml_backends:
        pytest.skip("jax not selected with --pml-backends")
    pytest.importorskip("jax")
    return get_backend("jax")


@pytest.mark.slow
@pytest.mark.parametrize("case", _JIT_CASES, ids=_ids(_JIT_CASES))
def test_jit_equals_eager(case, jax_backend):
    import jax

    args = list(place_all(jax_backend, *inputs(case)))
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
@pytest.mark.parametrize("case", _GRAD_CASES, ids=_ids(_GRAD_CASES))
def test_grad_is_finite_and_matches_differences(case, jax_backend):
    import jax
    import jax.numpy as jnp

    args = list(place_all(jax_backend, *inputs(case)))

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
@pytest.mark.parametrize("case", _VMAP_CASES, ids=_ids(_VMAP_CASES))
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
@pytest.mark.parametrize("case", _JIT_CASES, ids=_ids(_JIT_CASES))
def test_closed_over_inputs_under_jit_and_scan(case, jax_backend):
    """Concrete inputs the traced function closes over: value checks must not read them."""
    import jax
    import jax.numpy as jnp

    batch = [inputs(case, seed=s) for s in range(2)]
    fpos = _float_positions(batch[0])
    fixed = list(place_all(jax_backend, *batch[0]))

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
@pytest.mark.parametrize("case", _VMAP_CASES, ids=_ids(_VMAP_CASES))
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


@pytest.mark.slow
@pytest.mark.parametrize("case", _GRAD_CASES, ids=_ids(_GRAD_CASES))
def test_torch_func_grad_equals_autograd(case, torch_backend):
    import torch

    args = list(place_all(torch_backend, *inputs(case)))
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


@pytest.mark.slow
@pytest.mark.parametrize("case", _COMPILE_CASES, ids=_ids(_COMPILE_CASES))
def test_torch_compile_fullgraph(case, torch_backend):
    import torch

    args = list(place_all(torch_backend, *inputs(case)))
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


# ------------------------------------------------------------------ the support-matrix page
def test_support_matrix_page_is_up_to_date():
    """docs/support-matrix.md is generated from the registry; regenerate it when a fact changes."""
    import pathlib

    from portable_ml.testing.registry import support_matrix_markdown

    page = pathlib.Path(__file__).resolve().parents[1] / "docs" / "support-matrix.md"
    if not page.is_file():
        pytest.skip("no docs/ folder here (installed package)")
    assert page.read_text(encoding="utf-8") == support_matrix_markdown() + "\n", (
        "docs/support-matrix.md is out of date: python -m portable_ml.testing.registry --matrix docs/support-matrix.md")


# ------------------------------------------------------------------ known deviations, by case
def test_case_deviation_matches_case_names_and_dtypes():
    from portable_ml.testing.conformance import case_deviation

    entries = [{"case": "losses.huber*", "dtypes": ["float32"], "reason": "f32 only"},
               {"case": "metrics.f1", "reason": "any dtype"},
               {"test": "tests/test_invariants.py::*", "reason": "a test entry never matches a case"}]
    assert case_deviation(entries, "losses.huber_grad", "float32") == "f32 only"
    assert case_deviation(entries, "losses.huber", "float64") is None
    assert case_deviation(entries, "losses.huber", None) == "f32 only"
    assert case_deviation(entries, "metrics.f1", "float64") == "any dtype"
    assert case_deviation(entries, "metrics.f1_score", "float64") is None
    assert case_deviation(entries, "tests/test_invariants.py::x", None) is None


def test_deviation_lists_name_registered_cases():
    """Every shipped ``case`` entry matches at least one registered case (a renamed case would cut the link)."""
    from portable_ml.testing.conformance import deviation_matches, load_deviations

    names = [c.name for c in CASES]
    for backend, entries in load_deviations().items():
        for e in entries:
            assert "case" in e, f"{backend}: shipped deviations are keyed by case, got {e}"
            assert any(deviation_matches(e["case"], n) for n in names), f"{backend}: {e['case']} names no case"


def test_plugin_marks_registry_tests_by_case(pytester):
    """A ``case`` entry marks every test parametrised by that registry case (and dtype), whatever its name."""
    pytester.makeini("[pytest]\npml_deviations = devs\n")
    (pytester.path / "devs").mkdir()
    (pytester.path / "devs" / "numpy.toml").write_text(
        '[[deviation]]\ncase = "losses.mse"\ndtypes = ["float32"]\nreason = "made up for the test"\n')
    pytester.makepyfile('''
        import pytest
        from portable_ml.testing.registry import case

        CASES = [case("losses.mse"), case("losses.mae")]

        @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
        def test_any_name(case, backend, float_dtype):
            assert not (case.name == "losses.mse" and "float32" in str(float_dtype))
    ''')
    res = pytester.runpytest("--pml-backends=numpy", "-p", "no:cacheprovider", "-rx")
    res.assert_outcomes(passed=3, xfailed=1)
    res.stdout.fnmatch_lines(["*known numpy deviation: made up for the test*"])


def test_gradient_links_come_from_the_decorator_once():
    """``grad_of`` is read off ``@differentiable`` at the definition, variants included; a case that
    states it as well is refused (one fact, one place)."""
    from portable_ml.testing.registry import Case, _link_gradients

    f = Case("losses.mse[v]", lambda: None, lambda r: ())
    g = Case("losses.mse_grad[v]", lambda: None, lambda r: ())
    h = Case("probability.g_grad[mu]", lambda: None, lambda r: (), grad_of="probability.g", wrt=1)
    links = {"losses.mse_grad": ("losses.mse", 1)}
    linked = _link_gradients([f, g, h], links)
    assert [(c.grad_of, c.wrt) for c in linked] == [(None, 0), ("losses.mse[v]", 1), ("probability.g", 1)]
    with pytest.raises(RuntimeError, match="stated by @differentiable"):
        _link_gradients([Case("losses.mse_grad", lambda: None, lambda r: (), grad_of="losses.mse")], links)
