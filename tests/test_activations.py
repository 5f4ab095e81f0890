"""Activations on every backend, float32 and float64, against independent references.

Values: ``scipy.special`` (expit, softmax, log_softmax), NumPy, ``jax.nn``,
and 50-digit ``mpmath`` for GELU (``jax.nn.gelu``'s ``1 + tanh`` / ``1 + erf``
cancel for x < -5, so there we only hold it to an absolute tolerance).
Gradients: ``jax.grad`` of the ``jax.nn`` functions, ``jax.vjp`` for the
softmax family, and central differences of our own forward functions.
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
from portable_ml.testing import assert_close, dtype_name

from .helpers import place

mpmath = pytest.importorskip("mpmath")


@pytest.fixture(scope="module")
def jax64():
    jax = pytest.importorskip("jax")
    if not jax.config.jax_enable_x64:
        pytest.skip("the jax.nn references need JAX's x64 mode (--pml-jax-x64=on)")
    return jax


# ------------------------------------------------------------------ references
def _mp_vec(f):
    def ref(x):
        return np.array([float(f(mpmath.mpf(float(v)))) for v in np.ravel(x)]).reshape(np.shape(x))

    return ref


mpmath.mp.dps = 50
# (1 + tanh u) / 2 = 1 / (1 + exp(-2u)): the same number, without cancellation even at 50 digits
_gelu_tanh_mp = _mp_vec(lambda v: v / (1 + mpmath.exp(-2 * mpmath.sqrt(2 / mpmath.pi) * (v + mpmath.mpf(0.044715) * v**3))))
_gelu_erf_mp = _mp_vec(lambda v: v / 2 * mpmath.erfc(-v / mpmath.sqrt(2)))


def _jnn(name, **kw):
    """A jax.nn (or jax.numpy) function with options bound, as a float64 host function."""

    def fn(x):
        import jax
        import jax.numpy as jnp

        f = getattr(jax.nn, name, None) or getattr(jnp, name)
        return f(x, **kw)

    return fn


# id -> (our function, our gradient, options, value reference on float64 host arrays, jax reference for grads)
ELEMENTWISE = {
    "sigmoid": (A.sigmoid, A.sigmoid_grad, {}, sps.expit, _jnn("sigmoid")),
    "tanh": (A.tanh, A.tanh_grad, {}, np.tanh, _jnn("tanh")),
    "relu": (A.relu, A.relu_grad, {}, lambda x: np.maximum(x, 0.0), _jnn("relu")),
    "leaky_relu": (A.leaky_relu, A.leaky_relu_grad, {"alpha": 0.1},
                   lambda x: np.where(x >= 0, x, 0.1 * x), _jnn("leaky_relu", negative_slope=0.1)),
    "elu": (A.elu, A.elu_grad, {"alpha": 1.5}, None, _jnn("elu", alpha=1.5)),
    "selu": (A.selu, A.selu_grad, {}, None, _jnn("selu")),
    "gelu_tanh": (A.gelu, A.gelu_grad, {}, _gelu_tanh_mp, _jnn("gelu", approximate=True)),
    "gelu_erf": (A.gelu, A.gelu_grad, {"approximate": False}, _gelu_erf_mp, _jnn("gelu", approximate=False)),
    "swish": (A.swish, A.swish_grad, {}, None, _jnn("swish")),
    "silu": (A.silu, A.silu_grad, {}, None, _jnn("silu")),
    "mish": (A.mish, A.mish_grad, {}, None, _jnn("mish")),
    "softplus": (A.softplus, A.softplus_grad, {}, lambda x: np.logaddexp(0.0, x), _jnn("softplus")),
}
IDS = list(ELEMENTWISE)

# Random points, a grid through every kink (0 included) and the tails, and the extremes.
EXTREMES = np.array([-1e4, -1e3, -100.0, -30.0, 30.0, 100.0, 1e3, 1e4])
X_HOST = np.concatenate([
    np.random.default_rng(0).normal(scale=4.0, size=150),
    np.linspace(-12.0, 12.0, 49),
    EXTREMES,
])


def _on(backend, x, dtype):
    """``x`` on ``backend`` in ``dtype`` plus the float64 host copy of exactly those values."""
    host = np.asarray(x, dtype=dtype).astype(np.float64)
    return place(backend, host, dtype=dtype), host


def _reference(key, x):
    _, _, _, ref, jref = ELEMENTWISE[key]
    if ref is not None:
        return ref(x)
    import jax.numpy as jnp

    return np.asarray(jref(jnp.asarray(x)))


def _jax_grad(key, x):
    import jax
    import jax.numpy as jnp

    return np.asarray(jax.vmap(jax.grad(ELEMENTWISE[key][4]))(jnp.asarray(x)))


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("key", IDS)
def test_value_matches_reference(key, backend, float_dtype, jax64):
    fn, _, kw, _, _ = ELEMENTWISE[key]
    name = dtype_name(float_dtype)
    x, host = _on(backend, X_HOST, name)
    out = fn(x, **kw)
    assert pml.backend.backend_of(out) == backend.name
    assert dtype_name(out.dtype) == name
    want = _reference(key, host)
    out_np = backend.to_numpy(out)
    assert np.all(np.isfinite(out_np)), f"{key}: non-finite output at {host[~np.isfinite(out_np)]}"
    if name == "float32":
        assert_close(out, want, err_msg=key)
        return
    # float64: a few ulp times the condition number, which is x^2 in the GELU tails
    # (erfc(-x/sqrt 2) and exp(2u) there amplify the rounding of their argument)
    cond = 1.0 + host**2 if key.startswith("gelu") else 1.0
    err = np.abs(out_np - want)
    bad = err > 8 * np.finfo(np.float64).eps * cond * np.abs(want)
    assert not bad.any(), f"{key}: at x={host[bad]} got {out_np[bad]}, want {want[bad]}"


def test_gelu_agrees_with_jax_nn_where_jax_is_accurate(jax64):
    """jax.nn.gelu cancels for x << 0: agree to 1e-12 relative on x > -3, and absolutely everywhere."""
    import jax.numpy as jnp

    x = X_HOST
    for approximate in (True, False):
        ours = A.gelu(x, approximate=approximate)
        jref = np.asarray(jax64.nn.gelu(jnp.asarray(x), approximate=approximate))
        assert_close(ours[x > -3], jref[x > -3], rtol=1e-12, atol=0)
        assert_close(ours, jref, rtol=0, atol=1e-14)


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("key", IDS)
def test_grad_matches_jax_grad(key, backend, float_dtype, jax64):
    _, grad, kw, _, _ = ELEMENTWISE[key]
    name = dtype_name(float_dtype)
    x, host = _on(backend, X_HOST, name)
    g = grad(x, **kw)
    assert dtype_name(g.dtype) == name and pml.backend.backend_of(g) == backend.name
    g_np = backend.to_numpy(g)
    assert np.all(np.isfinite(g_np)), f"{key}_grad: non-finite at {host[~np.isfinite(g_np)]}"
    want = _jax_grad(key, host)
    # jax.grad of the cancelling jax.nn.gelu forms is accurate in absolute terms only
    rtol, atol = (1e-12, 1e-14) if name == "float64" else (2e-5, 1e-6)
    assert_close(g, want, rtol=rtol, atol=atol, err_msg=f"{key}_grad")


@pytest.mark.parametrize("key", IDS)
def test_grad_matches_central_differences(key, backend):
    fn, grad, kw, _, _ = ELEMENTWISE[key]
    host = np.random.default_rng(1).normal(scale=3.0, size=64)
    host = host[np.abs(host) > 1e-3]  # away from the kinks at 0
    h = 1e-6 * np.maximum(1.0, np.abs(host))
    x, xp_, xm = (place(backend, a, dtype="float64") for a in (host, host + h, host - h))
    fd = (backend.to_numpy(fn(xp_, **kw)) - backend.to_numpy(fn(xm, **kw))) / (2 * h)
    assert_close(grad(x, **kw), fd, rtol=1e-6, atol=1e-8, err_msg=f"{key}_grad")


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
        _, grad, kw, _, _ = ELEMENTWISE[key]
        assert_close(grad(zero, **kw), _jax_grad(key, zero), rtol=0, atol=0, err_msg=key)
    assert float(A.relu_grad(zero)[0]) == float(np.asarray(jax64.grad(jax64.nn.relu)(jnp.asarray(0.0)))) == 0.0


# ------------------------------------------------------------------ softmax family
def _logits(backend, dtype):
    r = np.random.default_rng(3)
    host = r.normal(scale=3.0, size=(6, 5))
    host[0] = [1e4, -1e4, 0.0, 1e4, -3.0]  # extreme spread, ties at the top
    host[1] = -1e4
    return _on(backend, host, dtype)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_and_log_softmax_match_scipy(backend, float_dtype, axis):
    name = dtype_name(float_dtype)
    x, host = _logits(backend, name)
    s, ls = A.softmax(x, axis=axis), A.log_softmax(x, axis=axis)
    for out in (s, ls):
        assert dtype_name(out.dtype) == name and pml.backend.backend_of(out) == backend.name
        assert np.all(np.isfinite(backend.to_numpy(out)))
    assert_close(s, sps.softmax(host, axis=axis))
    assert_close(ls, sps.log_softmax(host, axis=axis))
    assert_close(backend.xp.sum(s, axis=axis), np.ones(host.shape[1 if axis == 0 else 0]))


@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_vjp_matches_jax_vjp(which, backend, float_dtype, jax64):
    import jax.numpy as jnp

    name = dtype_name(float_dtype)
    x, host = _logits(backend, name)
    g_host = np.asarray(np.random.default_rng(4).normal(size=host.shape), dtype=name).astype(np.float64)
    g = place(backend, g_host, dtype=name)
    for axis in (-1, 0):
        ours = getattr(A, which + "_vjp")(x, g, axis=axis)
        assert dtype_name(ours.dtype) == name
        _, vjp = jax64.vjp(lambda z: getattr(jax64.nn, which)(z, axis=axis), jnp.asarray(host))
        want = np.asarray(vjp(jnp.asarray(g_host))[0])
        assert_close(ours, want, rtol=1e-12 if name == "float64" else 2e-5,
                     atol=1e-13 if name == "float64" else 2e-6, err_msg=f"{which} axis={axis}")


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
    for key, (fn, grad, kw, _, _) in ELEMENTWISE.items():
        out, g = be.to_numpy(fn(x, **kw)), be.to_numpy(grad(x, **kw))
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
