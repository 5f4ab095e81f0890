"""What is specific to the losses; the rest is generated from the registry.

Values on every backend and dtype for every reduction against independent
references (``torch.nn.functional``, SciPy, float64 NumPy transcriptions),
each ``*_grad`` against its loss (central differences, ``jax.grad``), and
the extreme inputs (finite, and equal on every backend) are facts of
``portable_ml/testing/_cases/losses.py`` and tested by
``tests/test_invariants.py``.  Here: identities between losses, torch's
other conventions (batchmean KL, variance shapes), exact values at the
extremes, relative precision in the tails, errors, and properties.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.array_api import make_strategies_namespace

import portable_ml as pml
from portable_ml import losses as L
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all, second_backend

sps = optional_module("scipy.special")


ALL = ("mean", "sum", "none")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _simplex(r, shape=(7, 4)):
    p = r.uniform(0.05, 1.0, size=shape)
    return p / p.sum(-1, keepdims=True)


def _two_simplex(r):
    return _simplex(r), _simplex(r)


def _bin_logits(r):
    return (r.uniform(size=(6, 5)) < 0.5).astype(float), r.normal(scale=3.0, size=(6, 5))


def test_log_cosh_within_a_few_ulp_of_mpmath():
    """log cosh r to 4e-15 relative against 50-digit mpmath, from tiny to huge residuals."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    r = np.concatenate([np.random.default_rng(0).normal(scale=3.0, size=60), [1e-8, 0.5, 30.0, 700.0, 1e4]])
    want = np.array([float(mpmath.log(mpmath.cosh(mpmath.mpf(float(v))))) for v in r])
    assert_close(L.log_cosh(np.zeros_like(r), r, reduction="none"), want, rtol=4e-15, atol=0)


def test_kl_matches_torch_batchmean_and_scipy_entropy(torch):
    p, q = _two_simplex(np.random.default_rng(2))
    want = torch.nn.functional.kl_div(torch.log(torch.as_tensor(q)), torch.as_tensor(p), reduction="batchmean")
    assert_close(L.kl_divergence(p, q), want.numpy(), rtol=1e-12)
    entropy = pytest.importorskip("scipy.stats").entropy

    assert_close(L.kl_divergence(p, q, reduction="none"), entropy(p, q, axis=-1), rtol=1e-12)


def test_focal_equals_sigmoid_focal_through_sigmoid():
    y, z = _bin_logits(np.random.default_rng(3))
    z = np.clip(z, -8, 8)  # keep sigmoid(z) away from the clip bounds
    for kw in ({}, {"alpha": None, "gamma": 0.5}, {"alpha": 0.7, "gamma": 0.0}):
        assert_close(L.focal(y, sps.expit(z), **kw), L.sigmoid_focal(y, z, **kw), rtol=1e-12)
        assert_close(L.focal_grad(y, sps.expit(z), **kw) * sps.expit(z) * sps.expit(-z),
                     L.sigmoid_focal_grad(y, z, **kw), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("var_shape", [(6, 5), (6,), (6, 1)])
def test_gaussian_nll_var_shapes_match_torch(var_shape, backend, torch):
    r = np.random.default_rng(4)
    y, mean = r.normal(size=(6, 5)), r.normal(size=(6, 5))
    var = r.uniform(0.0, 2.0, size=var_shape)
    var.flat[0] = 0.0  # clamped at eps
    args = place_all(backend, y, mean, var, dtype="float64")
    t = torch.as_tensor
    for reduction in ALL:
        want = torch.nn.functional.gaussian_nll_loss(t(mean), t(y), t(var), reduction=reduction).numpy()
        assert_close(L.gaussian_nll(*args, reduction=reduction), want, rtol=1e-12)


# ------------------------------------------------------------------ extreme inputs
BIG = 1e4


def test_extreme_values_are_exact(backend, float_dtype):
    name = dtype_name(float_dtype)

    def on(*a):
        return place_all(backend, *a, dtype=name)

    none = {"reduction": "none"}
    y, z = on(np.array([1.0, 0.0, 1.0, 0.0]), np.array([BIG, -BIG, -BIG, BIG]))
    assert_close(L.binary_cross_entropy_with_logits(y, z, **none), np.array([0.0, 0.0, BIG, BIG]))
    assert_close(L.logistic_loss(2 * y - 1, z, **none), np.array([0.0, 0.0, BIG, BIG]))
    lab, logits = on(np.array([0, 1]), np.array([[BIG, -BIG], [BIG, -BIG]]))
    assert_close(L.sparse_softmax_cross_entropy(lab, logits, **none), np.array([0.0, 2 * BIG]))
    a, b = on(np.array([0.0, 0.0]), np.array([BIG, -0.5]))
    assert_close(L.log_cosh(a, b, **none), np.array([BIG - math.log(2), math.log(math.cosh(0.5))]))
    # the clip: -log(eps) at p = 0, and a zero gradient where it is active
    t, p = on(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    bce = backend.to_numpy(L.binary_cross_entropy(t, p, **none))
    assert bce[0] == pytest.approx(-math.log(1e-15), rel=1e-6)
    assert bce[1] == pytest.approx(-math.log1p(-(1 - max(1e-15, np.finfo(name).eps / 2))), rel=1e-6)
    assert np.all(backend.to_numpy(L.binary_cross_entropy_grad(t, p)) == 0)


def test_js_gradient_is_minus_inf_where_q_vanishes_under_positive_p():
    p = np.array([[0.5, 0.5, 0.0]])
    q = np.array([[0.0, 0.5, 0.0]])
    g = L.js_divergence_grad(p, q, reduction="sum")
    assert g[0, 0] == -np.inf and g[0, 1] == 0.0 and g[0, 2] == pytest.approx(0.5 * math.log(2))
    assert np.isfinite(L.js_divergence(p, q))


# ------------------------------------------------------------------ bad input
def _a(backend, x):
    x = np.asarray(x)
    return place(backend, x, dtype="float64" if x.dtype.kind == "f" else None)


# (id, call on host inputs, error, message) -- one unrelated bad input each
_Z4, _O3, _P34 = np.zeros(4), np.ones(3), np.full((3, 4), 0.25)
BAD_INPUTS = [
    ("shapes differ", lambda a: L.mse(a(_Z4), a(_O3)), ValueError,
     r"y_true and y_pred must have the same shape.*\(4,\).*\(3,\)"),
    ("empty", lambda a: L.mae(a(np.zeros(0)), a(np.zeros(0))), ValueError, "must not be empty"),
    ("reduction unknown", lambda a: L.huber(a(_Z4), a(_Z4), reduction="avg"), ValueError, "reduction must be one of"),
    ("rmse reduction", lambda a: L.rmse(a(_Z4), a(_Z4), reduction="sum"), ValueError,
     r"reduction must be one of \('mean',\)"),
    ("huber delta", lambda a: L.huber(a(_Z4), a(_Z4), delta=0.0), ValueError, "delta must be positive"),
    ("bce eps", lambda a: L.binary_cross_entropy(a(_Z4), a(_Z4), eps=0.0), ValueError,
     r"eps must be finite and in \(0, 0.5\)"),
    ("focal gamma", lambda a: L.focal(a(_Z4), a(np.full(4, 0.5)), gamma=-1.0), ValueError,
     "gamma must be non-negative"),
    ("contrastive margin", lambda a: L.contrastive(a(_Z4), a(_Z4), margin=-1.0), ValueError,
     "margin must be positive"),
    ("one-hot classes", lambda a: L.categorical_cross_entropy(a(np.eye(3)), a(_P34)), ValueError,
     "y_onehot rows have 3 classes but p has 4"),
    ("one-hot classes vs logits", lambda a: L.softmax_cross_entropy(a(np.eye(3)), a(_P34)), ValueError,
     "y_onehot rows have 3 classes but logits has 4"),
    ("no class axis", lambda a: L.kl_divergence(a(0.5), a(0.5)), ValueError, "must have a class axis"),
    ("labels shape", lambda a: L.sparse_categorical_cross_entropy(a(np.array([0, 1])), a(_P34)), ValueError,
     r"labels must have shape p.shape\[:-1\] = \(3,\)"),
    ("float labels", lambda a: L.sparse_softmax_cross_entropy(a(np.array([0.0, 1.0, 2.0])), a(_P34)), TypeError,
     "labels must be an array of integer class indices"),
    ("var shape", lambda a: L.gaussian_nll(a(np.zeros((3, 4))), a(np.zeros((3, 4))), a(np.ones((4,)))), ValueError,
     "gaussian|var must have the shape of mean"),
    ("mean shape", lambda a: L.gaussian_nll(a(np.zeros(3)), a(np.zeros(4)), a(np.ones(4))), ValueError,
     "y_true and mean must broadcast together"),
]


@pytest.mark.parametrize("call, error, match", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises(backend, call, error, match):
    with pytest.raises(error, match=match):
        call(lambda x: _a(backend, x))


@pytest.mark.skip_backends(dask="value checks are skipped on lazy arrays", jax="JAX arrays are not inspected eagerly")
def test_bad_values_raise_on_eager_backends(backend):
    def a(x):
        return place(backend, np.asarray(x), dtype="float64" if np.asarray(x).dtype.kind == "f" else None)

    probs, logits = a(np.full((3, 4), 0.25)), a(np.zeros((3, 4)))
    for fn, args in [(L.sparse_categorical_cross_entropy, (a(np.array([0, 4, 1])), probs)),
                     (L.sparse_softmax_cross_entropy, (a(np.array([0, -1, 1])), logits)),
                     (L.nll, (logits, a(np.array([0, 1, 7]))))]:
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
            fn(*args)
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
            getattr(L, fn.__name__ + "_grad")(*args)
    for fn in (L.hinge, L.squared_hinge, L.logistic_loss, L.hinge_grad):
        with pytest.raises(ValueError, match="y_pm1 must hold labels -1 and \\+1 only"):
            fn(a(np.array([0.0, 1.0, 1.0])), a(np.zeros(3)))
    with pytest.raises(ValueError, match="var must be non-negative"):
        L.gaussian_nll(a(np.zeros(3)), a(np.zeros(3)), a(np.array([1.0, -1.0, 1.0])))


def test_mixed_backends_raise():
    pytest.importorskip("array_api_strict")
    a = pml.get_backend("numpy").asarray(np.ones(3))
    b = second_backend().asarray(np.ones(3))
    with pytest.raises(TypeError, match="different backends"):
        L.mse(a, b)


def test_integer_targets_promote_to_the_prediction_dtype(backend):
    labels = backend.asarray(np.array([0, 1, 1]))
    p32 = place(backend, np.array([0.2, 0.7, 0.9]), dtype="float32")
    assert dtype_name(L.binary_cross_entropy(labels, p32).dtype) == "float32"
    assert dtype_name(L.mse(labels, labels).dtype) == dtype_name(backend.float_dtype)


# ------------------------------------------------------------------ properties
NAMESPACES = ["numpy", "array_api_strict"]


def _draw_pair(data, be, *, lo=-50.0, hi=50.0):
    xps = make_strategies_namespace(be.xp)
    dtype = data.draw(st.sampled_from([be.xp.float32, be.xp.float64]))
    shape = data.draw(xps.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=6))
    elems = {"min_value": lo, "max_value": hi}
    return (data.draw(xps.arrays(dtype, shape, elements=elems)), data.draw(xps.arrays(dtype, shape, elements=elems)))


@pytest.mark.parametrize("ns", NAMESPACES)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_regression_losses_nonnegative_and_zero_at_perfect_prediction(ns, data):
    be = second_backend(ns)
    y, p = _draw_pair(data, be)
    for fn in (L.mse, L.rmse, L.mae, L.huber, L.log_cosh):
        assert float(fn(y, p)) >= 0
        assert float(fn(y, y)) == 0.0
    y01 = be.xp.astype(y > 0, y.dtype)
    assert float(L.binary_cross_entropy_with_logits(y01, p)) >= 0
    assert float(L.sigmoid_focal(y01, p)) >= 0
    assert float(L.contrastive(be.xp.abs(p), y01)) >= 0
    ypm = 2.0 * y01 - 1.0
    for fn in (L.hinge, L.squared_hinge, L.logistic_loss):
        assert float(fn(ypm, p)) >= 0
    for fn in (L.hinge, L.squared_hinge):  # a confident right score is a perfect prediction
        assert float(fn(ypm, 2.0 * ypm)) == 0.0
    assert float(L.contrastive(y01 * 0.0 + (1.0 - y01) * 2.0, y01)) == 0.0


@pytest.mark.parametrize("ns", NAMESPACES)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_distribution_losses_nonnegative_and_zero_at_perfect_prediction(ns, data):
    be = second_backend(ns)
    xp = be.xp
    a, b = _draw_pair(data, be, lo=0.0, hi=10.0)
    eps32 = 1e-6 if a.dtype == xp.float32 else 1e-12
    p = (a + 1e-3) / xp.sum(a + 1e-3, axis=-1, keepdims=True)
    q = (b + 1e-3) / xp.sum(b + 1e-3, axis=-1, keepdims=True)
    assert float(L.kl_divergence(p, q)) >= -eps32 and float(L.js_divergence(p, q)) >= -eps32
    assert float(L.kl_divergence(p, p)) == 0.0 and float(L.js_divergence(p, p)) == 0.0
    assert float(L.softmax_cross_entropy(p, b)) >= 0 and float(L.categorical_cross_entropy(p, q)) >= 0
    k = p.shape[-1]
    labels = xp.argmax(p, axis=-1)
    onehot = xp.astype(xp.expand_dims(labels, axis=-1) == xp.arange(k), p.dtype)
    assert float(L.categorical_cross_entropy(onehot, onehot)) == 0.0
    assert float(L.sparse_categorical_cross_entropy(labels, onehot)) == 0.0
    assert float(L.sparse_softmax_cross_entropy(labels, b)) >= 0
    assert float(L.nll(pml.activations.log_softmax(b), labels)) >= 0


def test_docstring_examples_run():
    import doctest

    res = doctest.testmod(L, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


# ------------------------------------------------- accuracy at the extremes (issue 12)
def _np(backend, x):
    return np.asarray(backend.to_numpy(x), dtype=np.float64)


@pytest.mark.parametrize("logits, dtype", [([[1e4, 1e4]], "float32"), ([[1e8, 1e8]], "float32"),
                                           ([[1e30, 1e30, -1e30]], "float64")])
def test_sparse_softmax_cross_entropy_of_huge_equal_logits_is_log_2(backend, logits, dtype):
    """Gather after the shift: lse(z) - z_c never cancels at the scale of max z."""
    z = backend.asarray(np.array(logits), dtype=dtype)
    out = L.sparse_softmax_cross_entropy(backend.asarray(np.array([0])), z)
    assert dtype_name(out.dtype) == dtype
    rtol = 2 * float(np.finfo(dtype).eps)
    assert _np(backend, out) == pytest.approx(math.log(2.0), rel=rtol)
    # and the one-hot form agrees
    onehot = backend.asarray(np.eye(len(logits[0]))[:1], dtype=dtype)
    assert _np(backend, L.softmax_cross_entropy(onehot, z)) == pytest.approx(math.log(2.0), rel=rtol)


def _softplus_ld(z):
    z = np.asarray(z, dtype=np.longdouble)
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid_ld(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=np.longdouble)))


_LOGITS = np.array([30.0, 35.0, 40.0, 100.0, 700.0, -30.0, -35.0, -700.0, 0.5])


def _ulp_close(out, ref, ulps=4):
    ref = np.asarray(ref, dtype=np.longdouble)
    err = np.abs(np.asarray(out, dtype=np.longdouble) - ref)
    assert np.all(err <= ulps * np.finfo(np.float64).eps * np.abs(ref) + 1e-300), (out, ref)


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_bce_with_logits_keeps_relative_precision_in_the_tails(backend, y):
    """y softplus(-z) + (1 - y) softplus(z): at y = 1, z = 35 the loss is e^-35, not 0."""
    yy = np.full_like(_LOGITS, y)
    ref = y * _softplus_ld(-_LOGITS) + (1 - y) * _softplus_ld(_LOGITS)
    out = L.binary_cross_entropy_with_logits(backend.asarray(yy), backend.asarray(_LOGITS), reduction="none")
    _ulp_close(_np(backend, out), ref)
    ref_g = (1 - y) * _sigmoid_ld(_LOGITS) - y * _sigmoid_ld(-_LOGITS)
    g = L.binary_cross_entropy_with_logits_grad(backend.asarray(yy), backend.asarray(_LOGITS), reduction="sum")
    _ulp_close(_np(backend, g), ref_g)


def test_bce_with_logits_at_y1_z35_reproduction():
    out = L.binary_cross_entropy_with_logits(np.array([1.0]), np.array([35.0]))
    assert float(out) == pytest.approx(math.exp(-35.0), rel=1e-15)
    out = L.binary_cross_entropy_with_logits(np.array([1.0]), np.array([30.0]))
    assert float(out) == pytest.approx(float(_softplus_ld(-30.0)), rel=1e-15)


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_sigmoid_focal_keeps_relative_precision_in_the_tails(backend, y):
    alpha, gamma = 0.25, 2.0
    z = _LOGITS[np.abs(_LOGITS) < 200]  # q^gamma * ce underflows float64 beyond
    yy = np.full_like(z, y)
    q = y * _sigmoid_ld(-z) + (1 - y) * _sigmoid_ld(z)
    ce = y * _softplus_ld(-z) + (1 - y) * _softplus_ld(z)
    a = alpha * y + (1 - alpha) * (1 - y)
    ref = a * q**2 * ce
    out = L.sigmoid_focal(backend.asarray(yy), backend.asarray(z), reduction="none")
    _ulp_close(_np(backend, out), ref, ulps=8)
    s, sn = _sigmoid_ld(z), _sigmoid_ld(-z)
    ref_g = a * (q**2 * ((1 - y) * s - y * sn) + 2 * q * (1 - 2 * y) * s * sn * ce)
    g = L.sigmoid_focal_grad(backend.asarray(yy), backend.asarray(z), reduction="sum")
    _ulp_close(_np(backend, g), ref_g, ulps=16)


def test_float32_losses_scale_instead_of_overflowing(backend):
    f32 = "float32"
    zero, big = backend.asarray(np.zeros(1), dtype=f32), backend.asarray(np.array([1e20]), dtype=f32)
    assert _np(backend, L.rmse(zero, big)) == pytest.approx(1e20, rel=1e-6)
    y2, p2 = np.array([0.0, 0.0]), np.array([3e20, 4e20])
    assert _np(backend, L.rmse(backend.asarray(y2, dtype=f32), backend.asarray(p2, dtype=f32))) == pytest.approx(
        np.sqrt(np.mean(p2**2)), rel=1e-6)
    # a dissimilar pair far apart costs 0, not 0 * inf
    out = L.contrastive(big, backend.asarray(np.zeros(1), dtype=f32))
    assert _np(backend, out) == 0.0
    # (mu - y)^2 / var = 1e30 is representable although (mu - y)^2 is not
    e30 = backend.asarray(np.array([1e30]), dtype=f32)
    out = L.gaussian_nll(zero, e30, e30)
    want = 0.5 * (math.log(np.float32(1e30)) + float(np.float32(1e30)))
    assert _np(backend, out) == pytest.approx(want, rel=1e-6)


def test_rmse_grad_of_a_tiny_residual_is_its_sign(backend):
    out = L.rmse_grad(backend.asarray(np.zeros(1)), backend.asarray(np.array([1e-300])))
    assert _np(backend, out) == pytest.approx([1.0], rel=1e-15)
    out = L.rmse_grad(backend.asarray(np.zeros(2)), backend.asarray(np.array([1e-300, -1e-300])))
    assert _np(backend, out) == pytest.approx([0.5, -0.5], rel=1e-15)  # r / (n L), L = 1e-300


@pytest.mark.parametrize("fn", [L.mse, L.binary_cross_entropy_with_logits])
def test_complex_input_raises_type_error_naming_the_argument(fn):
    with pytest.raises(TypeError, match=r"y_true must be a real .*complex"):
        fn(np.array([1.0 + 1j]), np.array([0.5]))
    with pytest.raises(TypeError, match=r"(y_pred|logits) must be a real .*complex"):
        fn(np.array([1.0]), np.array([0.5 + 0j]))
