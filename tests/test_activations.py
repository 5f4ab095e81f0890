"""What is specific to the activations; the rest is generated from the registry.

Values and gradients on every backend and dtype against independent
references (``scipy.special`` / NumPy closed forms, PyTorch for softsign),
the link of each ``*_grad`` to its function, the axis sweep of the softmax
family and the extreme inputs are facts of
``portable_ml/testing/_cases/activations.py`` and tested by
``tests/test_invariants.py``.  Here: float64 accuracy to a few ulp on a
dense grid (50-digit ``mpmath`` for GELU: ``jax.nn.gelu``'s ``1 + tanh`` /
``1 + erf`` cancel for x < -5), kink conventions, tail gradients, the
softmax VJP against central differences, properties, and errors.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.array_api import make_strategies_namespace

import portable_ml as pml
from portable_ml import activations as A
from portable_ml.testing import assert_close
from portable_ml.testing.registry import case as registry_case

from .helpers import optional_module, place, second_backend

sps = optional_module("scipy.special")


@pytest.fixture(scope="module")
def jax64():
    jax = pytest.importorskip("jax")
    if not jax.config.jax_enable_x64:
        pytest.skip("the jax.nn references need JAX's x64 mode (--pml-jax-x64=on)")
    return jax


@pytest.fixture(scope="module")
def mpmath():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    return mp


# ------------------------------------------------------------------ accuracy
def _mp_vec(f):
    def ref(x):
        return np.array([float(f(v)) for v in np.ravel(x)]).reshape(np.shape(x))

    return ref


def _gelu_mp(mp, approximate):
    if approximate:  # (1 + tanh u) / 2 = 1 / (1 + exp(-2u)): the same number, without cancellation
        return _mp_vec(lambda v: mp.mpf(float(v)) / (1 + mp.exp(-2 * mp.sqrt(2 / mp.pi) * (
            mp.mpf(float(v)) + mp.mpf(0.044715) * mp.mpf(float(v)) ** 3))))
    return _mp_vec(lambda v: mp.mpf(float(v)) / 2 * mp.erfc(-mp.mpf(float(v)) / mp.sqrt(2)))


ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "gelu[approximate=False]",
               "swish", "silu", "mish", "softplus", "softsign", "relu6", "celu", "hard_sigmoid", "hard_tanh",
               "hard_swish", "log_sigmoid"]

# Random points, a grid through every kink (0 included) and the tails, and the extremes.
EXTREMES = np.array([-1e4, -1e3, -100.0, -30.0, 30.0, 100.0, 1e3, 1e4])
X_HOST = np.concatenate([
    np.random.default_rng(0).normal(scale=4.0, size=150),
    np.linspace(-12.0, 12.0, 49),
    EXTREMES,
])


@pytest.mark.parametrize("key", ELEMENTWISE)
def test_float64_values_within_a_few_ulp_of_the_reference(key, request):
    """A few ulp times the condition number (x^2 in the GELU tails, where erfc(-x/sqrt 2) and
    exp(2u) amplify the rounding of their argument), on a dense grid; GELU against 50-digit mpmath."""
    c = registry_case(f"activations.{key}")
    if key.startswith("gelu"):
        want = _gelu_mp(request.getfixturevalue("mpmath"), c.kwargs.get("approximate", True))(X_HOST)
    else:
        missing = c.reference.missing()
        if missing:
            pytest.skip(f"the reference ({c.reference.source}) needs {missing}")
        want = c.reference.fn(X_HOST, **c.kwargs)
    out = np.asarray(c.fn(X_HOST, **c.kwargs))
    assert np.all(np.isfinite(out)), f"{key}: non-finite output at {X_HOST[~np.isfinite(out)]}"
    cond = 1.0 + X_HOST**2 if key.startswith("gelu") else 1.0
    bad = np.abs(out - want) > 8 * np.finfo(np.float64).eps * cond * np.abs(want)
    assert not bad.any(), f"{key}: at x={X_HOST[bad]} got {out[bad]}, want {want[bad]}"


def test_gelu_agrees_with_jax_nn_where_jax_is_accurate(jax64):
    """jax.nn.gelu cancels for x << 0: agree to 1e-12 relative on x > -3, and absolutely everywhere."""
    import jax.numpy as jnp

    x = X_HOST
    for approximate in (True, False):
        ours = A.gelu(x, approximate=approximate)
        jref = np.asarray(jax64.nn.gelu(jnp.asarray(x), approximate=approximate))
        assert_close(ours[x > -3], jref[x > -3], rtol=1e-12, atol=0)
        assert_close(ours, jref, rtol=0, atol=1e-14)


def test_softsign_matches_jax_nn_soft_sign_and_its_grad(jax64):
    """softsign = jax.nn.soft_sign, softsign_grad = its jax.grad; the limits +-1 and 0 at +-inf."""
    jnp = jax64.numpy
    x = X_HOST
    assert_close(A.softsign(x), np.asarray(jax64.nn.soft_sign(jnp.asarray(x))), rtol=1e-15, atol=0)
    want = np.asarray(jax64.vmap(jax64.grad(jax64.nn.soft_sign))(jnp.asarray(x)))
    # jax's derivative ((1 + |x|) - |x|) / (1 + |x|)^2 cancels for large |x|: relative agreement near 0 only
    assert_close(A.softsign_grad(x)[np.abs(x) < 10], want[np.abs(x) < 10], rtol=1e-14, atol=0)
    assert_close(A.softsign_grad(x), want, rtol=0, atol=1e-15)
    inf = np.array([np.inf, -np.inf])
    np.testing.assert_array_equal(A.softsign(inf), [1.0, -1.0])
    np.testing.assert_array_equal(A.softsign_grad(inf), [0.0, 0.0])


def _grad_name(key):
    """The registry name of the gradient of elementwise ``key``: ``gelu[approximate=False]`` ->
    ``activations.gelu_grad[approximate=False]``."""
    name, bracket, rest = key.partition("[")
    return f"activations.{name}_grad{bracket}{rest}"


def _jax_grad(jax, key, x):
    import jax.numpy as jnp

    kw = {"leaky_relu": {"negative_slope": 0.1}, "elu": {"alpha": 1.5}}.get(key, {})
    return np.asarray(jax.vmap(jax.grad(lambda v: getattr(jax.nn, key)(v, **kw)))(jnp.asarray(x)))


def test_tail_gradients_keep_relative_precision():
    """sigmoid' and tanh' far in the tails, where s(1-s) and 1-tanh^2 would round to 0."""
    x = np.array([-40.0, -20.0, 20.0, 40.0])
    assert_close(A.sigmoid_grad(x), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))) ** 2, rtol=1e-14)
    assert_close(A.tanh_grad(x), 1 / np.cosh(x) ** 2, rtol=1e-14)
    assert np.all(A.sigmoid_grad(x) > 0) and np.all(A.tanh_grad(x) > 0)


def test_kink_conventions_match_jax_nn(jax64):
    import jax.numpy as jnp

    zero = np.zeros(1)
    for key in ("relu", "leaky_relu", "elu", "selu"):
        c = registry_case(f"activations.{key}_grad")
        assert_close(c.fn(zero, **c.kwargs), _jax_grad(jax64, key, zero), rtol=0, atol=0, err_msg=key)
    assert float(A.relu_grad(zero)[0]) == float(np.asarray(jax64.grad(jax64.nn.relu)(jnp.asarray(0.0)))) == 0.0


# ------------------------------------------------------------------ softmax family
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_vjp_matches_central_differences(which, backend):
    fn, vjp = getattr(A, which), getattr(A, which + "_vjp")
    r = np.random.default_rng(5)
    host, g_host, v_host = r.normal(size=(3, 4)), r.normal(size=(3, 4)), r.normal(size=(3, 4))
    x, g = place(backend, host, dtype="float64"), place(backend, g_host, dtype="float64")
    eps = 1e-6

    def inner(z):  # <g, f(z)>
        return float(np.sum(g_host * backend.to_numpy(fn(place(backend, z, dtype="float64")))))

    fd = (inner(host + eps * v_host) - inner(host - eps * v_host)) / (2 * eps)
    got = float(np.sum(backend.to_numpy(vjp(x, g)) * v_host))
    assert math.isclose(got, fd, rel_tol=1e-7, abs_tol=1e-9)


# ------------------------------------------------------------------ dtypes and errors
def test_integer_input_is_promoted_to_the_default_float(backend):
    x = backend.asarray(np.array([-2, 0, 3]))
    for fn in (A.relu, A.sigmoid, A.relu_grad):
        out = fn(x)
        assert out.dtype == backend.float_dtype
    assert_close(A.relu(x), np.array([0.0, 0.0, 3.0]))


def test_bad_input_raises(backend):
    xp = backend.xp
    x = backend.asarray(np.ones((2, 3)))
    with pytest.raises(ValueError, match="at least one axis"):
        A.softmax(backend.asarray(np.asarray(1.0)))
    with pytest.raises(ValueError, match="axis=2 is out of range"):
        A.log_softmax(x, axis=2)
    with pytest.raises(ValueError, match="cotangent must have the shape of x"):
        A.softmax_vjp(x, xp.ones((3, 2), dtype=x.dtype))
    with pytest.raises(TypeError, match="at least one array"):
        A.sigmoid(0.5)


def test_mixed_backends_raise():
    pytest.importorskip("array_api_strict")
    a = pml.get_backend("numpy").asarray(np.ones((2, 3)))
    b = second_backend().asarray(np.ones((2, 3)))
    with pytest.raises(TypeError, match="different backends"):
        A.softmax_vjp(a, b)


# ------------------------------------------------------------------ properties
NAMESPACES = ["numpy", "array_api_strict"]


@pytest.mark.parametrize("ns", NAMESPACES)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_softmax_properties(ns, data):
    be = pml.get_backend(ns)
    xps = make_strategies_namespace(be.xp)
    x = data.draw(xps.arrays(dtype=data.draw(st.sampled_from([be.xp.float32, be.xp.float64])),
                             shape=xps.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
                             elements={"min_value": -1e4, "max_value": 1e4}))
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    s, ls = be.to_numpy(A.softmax(x, axis=axis)), be.to_numpy(A.log_softmax(x, axis=axis))
    tol = 1e-5 if s.dtype == np.float32 else 1e-12
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=0, atol=tol * s.shape[axis])
    assert np.all(ls <= 0)
    np.testing.assert_allclose(np.exp(ls.astype(np.float64)), s, rtol=0, atol=4 * tol)


@pytest.mark.parametrize("ns", NAMESPACES)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_elementwise_finite_and_monotone_gates(ns, data):
    be = pml.get_backend(ns)
    xps = make_strategies_namespace(be.xp)
    x = data.draw(xps.arrays(dtype=data.draw(st.sampled_from([be.xp.float32, be.xp.float64])),
                             shape=xps.array_shapes(min_dims=1, max_dims=2, max_side=8),
                             elements={"min_value": -1e4, "max_value": 1e4}))
    for key in ELEMENTWISE:
        f, df = registry_case(f"activations.{key}"), registry_case(_grad_name(key))
        out, g = be.to_numpy(f.fn(x, **f.kwargs)), be.to_numpy(df.fn(x, **df.kwargs))
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(g)), key
    s = be.to_numpy(A.sigmoid(x))
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(be.to_numpy(A.softplus(x)) >= be.to_numpy(A.relu(x)))


def test_docstring_examples_run():
    import doctest

    res = doctest.testmod(A, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


# ------------------------------------------------- extremes and foreign input (issue 12)
@pytest.mark.parametrize("approximate", [True, False])
def test_gelu_grad_at_infinity_is_its_limit(backend, approximate, jax64):
    """f'(+inf) = 1, f'(-inf) = 0 (jax.grad of jax.nn.gelu gives NaN at inf; its values at ±60 are the limits)."""
    jnp = jax64.numpy
    ref = jax64.vmap(jax64.grad(lambda v: jax64.nn.gelu(v, approximate=approximate)))(jnp.asarray([60.0, -60.0]))
    np.testing.assert_array_equal(np.asarray(ref), [1.0, 0.0])
    out = A.gelu_grad(backend.asarray(np.array([np.inf, -np.inf, 60.0, -60.0])), approximate=approximate)
    np.testing.assert_array_equal(np.asarray(backend.to_numpy(out)), [1.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("fn", [A.sigmoid, A.gelu, A.softmax, A.relu, A.tanh_grad])
def test_complex_input_raises_type_error_naming_x(fn):
    """sigmoid(100j) was 0.5: the imaginary part was dropped silently."""
    with pytest.raises(TypeError, match=r"x must be a real .*complex"):
        fn(np.array([0 + 100j]))


@pytest.mark.parametrize("shape, axis", [((0,), -1), ((3, 0), -1), ((0, 3), -1), ((0, 3), 0)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_an_empty_array_is_empty_as_jax_nn(backend, shape, axis, name, jax64):
    x = np.zeros(shape)
    ref = np.asarray(getattr(jax64.nn, name)(jax64.numpy.asarray(x), axis=axis))
    out = getattr(A, name)(backend.asarray(x), axis=axis)
    assert tuple(out.shape) == ref.shape == shape


@pytest.mark.parametrize("axis", [(1, 2), (0, -1), (0, 1, 2)])
def test_softmax_over_a_tuple_of_axes_matches_scipy(backend, axis):
    x = np.random.default_rng(9).normal(size=(2, 3, 4)) * 5
    assert_close(A.softmax(backend.asarray(x), axis=axis), sps.softmax(x, axis=axis))
    assert_close(A.log_softmax(backend.asarray(x), axis=axis), sps.log_softmax(x, axis=axis))
    g = np.random.default_rng(10).normal(size=x.shape)
    # the VJP over the axes equals the explicit Jacobian product on the flattened block
    s = sps.softmax(x, axis=axis)
    want = s * (g - np.sum(g * s, axis=axis, keepdims=True))
    assert_close(A.softmax_vjp(backend.asarray(x), backend.asarray(g), axis=axis), want)


def test_softmax_axis_errors_name_the_axis():
    with pytest.raises(ValueError, match=r"axis=3 is out of range for an array of 2 dimensions"):
        A.softmax(np.zeros((2, 3)), axis=(1, 3))
    with pytest.raises(ValueError, match=r"axis must not repeat an axis; got axis=\(1, -1\)"):
        A.softmax(np.zeros((2, 3)), axis=(1, -1))


# ------------------------------------------------------------------ jax.nn's and Keras's newer activations
#: ours -> (jax.nn name, jax.nn options); the kinks of each are in X_HOST's grid or listed here
JAX_NN = {"relu6": ("relu6", {}), "hard_sigmoid": ("hard_sigmoid", {}), "hard_tanh": ("hard_tanh", {}),
          "hard_swish": ("hard_swish", {}), "hard_silu": ("hard_silu", {}), "celu": ("celu", {"alpha": 1.5}),
          "log_sigmoid": ("log_sigmoid", {})}
KINKS = np.array([-6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0])


@pytest.mark.parametrize("name", sorted(JAX_NN))
def test_matches_jax_nn_and_its_grad_including_the_kinks(name, jax64):
    """Values = jax.nn's, and *_grad = jax.grad of jax.nn's function everywhere, the kinks included
    (relu6' = 0 at 0 and 6, hard_sigmoid' = 0 at +-3, hard_tanh' = 1 at +-1, hard_swish' = 1 at 3)."""
    jnp = jax64.numpy
    jname, kw = JAX_NN[name]
    x = np.concatenate([X_HOST, KINKS])
    ref = getattr(jax64.nn, jname)
    # (celu: jax's expm1(x / alpha) and ours round differently by an ulp of 1 near 0)
    assert_close(getattr(A, name)(x, **kw), np.asarray(ref(jnp.asarray(x), **kw)), rtol=1e-14, atol=2e-16)
    want = np.asarray(jax64.vmap(jax64.grad(lambda v: ref(v, **kw)))(jnp.asarray(x)))
    assert_close(getattr(A, name + "_grad")(x, **kw), want, rtol=1e-14, atol=2e-16)


def test_torch_agrees_on_the_hard_activations_and_celu():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.concatenate([X_HOST, KINKS])
    t = torch.as_tensor(x)
    assert_close(A.relu6(x), F.relu6(t).numpy(), rtol=0, atol=0)
    assert_close(A.hard_sigmoid(x), F.hardsigmoid(t).numpy(), rtol=1e-15, atol=1e-300)
    assert_close(A.hard_tanh(x), F.hardtanh(t).numpy(), rtol=0, atol=0)
    assert_close(A.hard_swish(x), F.hardswish(t).numpy(), rtol=1e-15, atol=1e-300)
    assert_close(A.celu(x, alpha=1.5), F.celu(t, alpha=1.5).numpy(), rtol=1e-14, atol=1e-300)
    assert_close(A.log_sigmoid(x), F.logsigmoid(t).numpy(), rtol=1e-14, atol=1e-300)
    assert_close(A.glu(x[:200].reshape(4, 50)), F.glu(t[:200].reshape(4, 50)).numpy(), rtol=1e-15)


def test_keras_relu_options():
    """Keras's relu(x, max_value=c, threshold=t): x at or above t passes (not shifted), c caps."""
    x = np.array([-3.0, -1.5, -1.0, -0.5, 0.0, 0.5, 2.0, 4.0, 7.0, np.nan])
    np.testing.assert_array_equal(A.relu(x, threshold=-1.0), [0.0, 0.0, -1.0, -0.5, 0.0, 0.5, 2.0, 4.0, 7.0, np.nan])
    np.testing.assert_array_equal(A.relu(x, max_value=6.0), np.r_[np.clip(x[:-1], 0, 6), np.nan])
    np.testing.assert_array_equal(A.relu(x, max_value=6.0), A.relu6(x))
    np.testing.assert_array_equal(A.relu(x, threshold=0.5, max_value=3.0),
                                  [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 2.0, 3.0, 3.0, np.nan])
    np.testing.assert_array_equal(A.relu_grad(x, threshold=0.5, max_value=3.0),
                                  [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="max_value"):
        A.relu(x, max_value=-1.0)
    with pytest.raises(TypeError, match="threshold"):
        A.relu(x, threshold="0")
    with pytest.raises(TypeError, match="threshold"):
        A.relu_grad(x, threshold=True)


def test_logit_log1mexp_logsumexp_against_scipy_and_jax(jax64):
    jnp = jax64.numpy
    p = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 101), [2.0**-1000, 0.5, 1 - 2.0**-53]])
    assert_close(A.logit(p), sps.logit(p), rtol=1e-14)
    assert_close(A.logit_grad(p), np.asarray(jax64.vmap(jax64.grad(jax64.scipy.special.logit))(jnp.asarray(p))),
                 rtol=1e-12)
    np.testing.assert_array_equal(A.logit(np.array([0.0, 1.0])), [-np.inf, np.inf])
    x = np.concatenate([np.geomspace(1e-300, 1e4, 200), [np.log(2.0)], [np.inf]])
    assert_close(A.log1mexp(x), np.asarray(jax64.nn.log1mexp(jnp.asarray(x))), rtol=2e-15, atol=0)
    want = np.asarray(jax64.vmap(jax64.grad(jax64.nn.log1mexp))(jnp.asarray(x[:-1])))
    assert_close(A.log1mexp_grad(x[:-1]), want, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(A.log1mexp(np.array([0.0])), [-np.inf])
    z = np.random.default_rng(3).normal(scale=30.0, size=(4, 5, 6))
    for axis in (-1, 0, (0, 2)):
        assert_close(A.logsumexp(z, axis=axis), sps.logsumexp(z, axis=axis), rtol=1e-15)
        assert_close(A.logsumexp(z, axis=axis, keepdims=True), sps.logsumexp(z, axis=axis, keepdims=True),
                     rtol=1e-15)
    np.testing.assert_array_equal(A.logsumexp(np.full((2, 3), -np.inf)), [-np.inf, -np.inf])


def test_domain_errors_name_the_argument(backend):
    if backend.name == "dask":
        pytest.skip("value checks do not compute lazy (Dask) input; the checks of the options still run")
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]; got values in \[-0.5, 1.0\]"):
        A.logit(backend.asarray(np.array([-0.5, 0.2, 1.0])))
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        A.logit_grad(backend.asarray(np.array([0.5, 1.5])))
    with pytest.raises(ValueError, match="x must be non-negative"):
        A.log1mexp(backend.asarray(np.array([1.0, -2.0])))
    with pytest.raises(ValueError, match="alpha"):
        A.celu(backend.asarray(np.ones(3)), alpha=0.0)


def test_softmax_where_matches_jax_nn(backend, jax64):
    """jax.nn.softmax / log_softmax with ``where``: excluded entries 0 (resp. -inf), a slice with nothing
    included all 0 (resp. -inf), never NaN; the VJPs equal jax.grad through the masked functions."""
    jnp = jax64.numpy
    r = np.random.default_rng(4)
    x, g = r.normal(scale=3.0, size=(4, 6)), r.normal(size=(4, 6))
    mask = r.random((4, 6)) < 0.6
    mask[2] = False
    xb, gb, mb = place(backend, x, dtype="float64"), place(backend, g, dtype="float64"), backend.asarray(mask)
    for axis in (-1, 0):
        want = np.asarray(jax64.nn.softmax(x, axis=axis, where=mask))
        assert_close(A.softmax(xb, axis=axis, where=mb), want, rtol=1e-14, atol=1e-300)
        assert_close(A.log_softmax(xb, axis=axis, where=mb), np.asarray(jax64.nn.log_softmax(x, axis=axis, where=mask)),
                     rtol=1e-14, atol=1e-300)
        vjp = jax64.grad(lambda z: jnp.sum(jax64.nn.softmax(z, axis=axis, where=mask) * g))(jnp.asarray(x))
        assert_close(A.softmax_vjp(xb, gb, axis=axis, where=mb), np.asarray(vjp), rtol=1e-12, atol=1e-14)
        lvjp = jax64.grad(lambda z: jnp.sum(jnp.where(mask, jax64.nn.log_softmax(z, axis=axis, where=mask), 0) * g))(
            jnp.asarray(x))
        assert_close(A.log_softmax_vjp(xb, gb, axis=axis, where=mb), np.asarray(lvjp), rtol=1e-12, atol=1e-14)
    row = place(backend, np.ones((1, 6)), dtype="float64")
    np.testing.assert_array_equal(backend.to_numpy(A.softmax(row, where=backend.asarray(np.zeros((1, 6), bool)))), 0.0)
    assert_close(A.softmax(xb, where=backend.asarray(np.ones(6, bool))), A.softmax(xb), rtol=0, atol=0)  # broadcast
    with pytest.raises(TypeError, match="where must be a boolean array"):
        A.softmax(xb, where=xb)
    with pytest.raises(ValueError, match="where must broadcast to the shape of x"):
        A.softmax(xb, where=backend.asarray(np.ones((3,), bool)))


def test_glu_and_its_vjp(backend, jax64):
    jnp = jax64.numpy
    r = np.random.default_rng(6)
    x = r.normal(scale=3.0, size=(4, 6))
    xb = place(backend, x, dtype="float64")
    for axis in (-1, 0):
        want = np.asarray(jax64.nn.glu(jnp.asarray(x), axis=axis))
        assert_close(A.glu(xb, axis=axis), want, rtol=1e-14, atol=1e-300)
        g = r.normal(size=want.shape)
        vjp = jax64.grad(lambda z: jnp.sum(jax64.nn.glu(z, axis=axis) * g))(jnp.asarray(x))
        assert_close(A.glu_vjp(xb, place(backend, g, dtype="float64"), axis=axis), np.asarray(vjp), rtol=1e-13,
                     atol=1e-300)
    with pytest.raises(ValueError, match="length must be even; got 3"):
        A.glu(place(backend, np.ones((2, 3)), dtype="float64"))
    with pytest.raises(ValueError, match="cotangent must have the shape of glu"):
        A.glu_vjp(xb, xb)
