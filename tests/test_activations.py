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
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.array_api import make_strategies_namespace

import portable_ml as pml
from portable_ml import activations as A
from portable_ml.testing import assert_close
from portable_ml.testing.registry import case as registry_case

from .helpers import place


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
               "swish", "silu", "mish", "softplus", "softsign"]

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
    b = pml.get_backend("array_api_strict").asarray(np.ones((2, 3)))
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
