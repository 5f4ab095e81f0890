"""Losses on every backend, float32 and float64, against independent references.

Values: ``torch.nn.functional`` (mse, l1, huber, bce, bce-with-logits,
cross_entropy, nll_loss, gaussian_nll_loss), SciPy (KL via ``rel_entr``, JS
via ``jensenshannon``), 50-digit ``mpmath`` (log-cosh), and float64 NumPy
transcriptions of the sheet formulas (hinge, squared hinge, logistic, focal,
torchvision's sigmoid focal, contrastive). Gradients: ``jax.grad`` of our
forward functions and central differences, for every reduction.
"""

import math
import types

import numpy as np
import pytest
import scipy.special as sps
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.array_api import make_strategies_namespace
from scipy.spatial.distance import jensenshannon

import portable_ml as pml
from portable_ml import losses as L
from portable_ml.testing import assert_close, dtype_name

from .helpers import place

torch = pytest.importorskip("torch")
F = torch.nn.functional
mpmath = pytest.importorskip("mpmath")

ALL = ("mean", "sum", "none")


@pytest.fixture(scope="module")
def jax64():
    jax = pytest.importorskip("jax")
    if not jax.config.jax_enable_x64:
        pytest.skip("the jax.grad references need JAX's x64 mode (--pml-jax-x64=on)")
    return jax


# ------------------------------------------------------------------ inputs
def _reg(r):
    return r.normal(size=(6, 5)), r.normal(size=(6, 5))


def _bin_probs(r):
    return (r.uniform(size=(6, 5)) < 0.5).astype(float), r.uniform(0.02, 0.98, size=(6, 5))


def _bin_logits(r):
    return (r.uniform(size=(6, 5)) < 0.5).astype(float), r.normal(scale=3.0, size=(6, 5))


def _soft_logits(r):
    return r.uniform(size=(6, 5)), r.normal(scale=3.0, size=(6, 5))


def _pm1(r):
    return np.where(r.uniform(size=(6, 5)) < 0.5, -1.0, 1.0), r.normal(scale=1.5, size=(6, 5))


def _simplex(r, shape=(7, 4)):
    p = r.uniform(0.05, 1.0, size=shape)
    return p / p.sum(-1, keepdims=True)


def _labels(r, n=7, k=4):
    return r.permutation(np.arange(n) % k).astype(np.int64)


def _onehot_probs(r):
    return np.eye(4)[_labels(r)], _simplex(r)


def _soft_targets_logits(r):
    return _simplex(r), r.normal(scale=3.0, size=(7, 4))


def _labels_probs(r):
    return _labels(r), _simplex(r)


def _labels_logits(r):
    return _labels(r), r.normal(scale=3.0, size=(7, 4))


def _two_simplex(r):
    return _simplex(r), _simplex(r)


def _logprobs_labels(r):
    return np.log(_simplex(r)), _labels(r)


def _pairs(r):
    return r.uniform(0.0, 2.5, size=(6, 5)), (r.uniform(size=(6, 5)) < 0.5).astype(float)


def _gauss(r):
    return r.normal(size=(6, 5)), r.normal(size=(6, 5)), r.uniform(0.1, 2.0, size=(6, 5))


# ------------------------------------------------------------------ references
def _t(a):
    return torch.as_tensor(a)


def _np_reduce(v, reduction):
    return {"mean": np.mean, "sum": np.sum}.get(reduction, lambda a: a)(v)


def _torch_ref(fn, swap=False, **fixed):
    """Reference from a torch.nn.functional loss taking (input, target)."""

    def ref(args, reduction, **kw):
        y, p = args
        inp, tgt = (_t(p), _t(y))
        return fn(inp, tgt, reduction=reduction, **fixed, **kw).numpy()

    return ref


def _per_item(f):
    """Reference from a float64 NumPy per-item formula, reduced in NumPy."""

    def ref(args, reduction, **kw):
        return _np_reduce(f(*args, **kw), reduction)

    return ref


def _log_cosh_mp(y, p):
    mpmath.mp.dps = 50
    r = p - y
    return np.array([float(mpmath.log(mpmath.cosh(mpmath.mpf(float(v))))) for v in r.ravel()]).reshape(r.shape)


def _focal_np(y, p, alpha=0.25, gamma=2.0, eps=None):
    p_t = np.where(y == 1, p, 1 - p)
    a_t = np.where(y == 1, alpha, 1 - alpha)
    return -a_t * (1 - p_t) ** gamma * np.log(p_t)


def _torchvision_sigmoid_focal_np(y, z, alpha=0.25, gamma=2.0):
    # torchvision.ops.sigmoid_focal_loss, transcribed
    p = sps.expit(z)
    ce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def _nll_ref(args, reduction):
    lp, labels = args
    return F.nll_loss(_t(lp), _t(labels), reduction=reduction).numpy()


def _sparse_ref(log_first):
    def ref(args, reduction, **kw):
        labels, x = args
        x = torch.log(_t(x)) if log_first else _t(x)
        fn = F.nll_loss if log_first else F.cross_entropy
        return fn(x, _t(labels), reduction=reduction).numpy()

    return ref


def _cce_ref(args, reduction, **kw):
    y, p = args
    return F.nll_loss(torch.log(_t(p)), _t(y.argmax(-1)), reduction=reduction).numpy()


def _gauss_ref(args, reduction, full=False, eps=1e-6):
    y, mean, var = args
    return F.gaussian_nll_loss(_t(mean), _t(y), _t(var), full=full, eps=eps, reduction=reduction).numpy()


def case(fn, make, ref, pred=1, kw=None, reductions=ALL, rtol64=1e-12):
    return types.SimpleNamespace(fn=getattr(L, fn), grad=getattr(L, fn + "_grad"), make=make, ref=ref,
                                 pred=pred, kw=kw or {}, reductions=reductions, rtol64=rtol64)


LOSSES = {
    "mse": case("mse", _reg, _torch_ref(F.mse_loss)),
    "rmse": case("rmse", _reg, lambda a, reduction: np.sqrt(F.mse_loss(_t(a[1]), _t(a[0])).numpy()),
                 reductions=("mean",)),
    "mae": case("mae", _reg, _torch_ref(F.l1_loss)),
    "huber": case("huber", _reg, _torch_ref(F.huber_loss), kw={"delta": 0.6}),
    "log_cosh": case("log_cosh", lambda r: (r.normal(size=(6, 5)), r.normal(scale=3.0, size=(6, 5))),
                     _per_item(_log_cosh_mp), rtol64=4e-15),
    "binary_cross_entropy": case("binary_cross_entropy", _bin_probs, _torch_ref(F.binary_cross_entropy)),
    "binary_cross_entropy_with_logits": case("binary_cross_entropy_with_logits", _soft_logits,
                                             _torch_ref(F.binary_cross_entropy_with_logits)),
    "hinge": case("hinge", _pm1, _per_item(lambda y, s: np.maximum(0, 1 - y * s))),
    "squared_hinge": case("squared_hinge", _pm1, _per_item(lambda y, s: np.maximum(0, 1 - y * s) ** 2)),
    "logistic_loss": case("logistic_loss", _pm1, _per_item(lambda y, s: np.logaddexp(0, -y * s))),
    "focal": case("focal", _bin_probs, _per_item(_focal_np), kw={"alpha": 0.4, "gamma": 1.5}),
    "sigmoid_focal": case("sigmoid_focal", _bin_logits, _per_item(_torchvision_sigmoid_focal_np),
                          kw={"alpha": 0.3, "gamma": 2.0}),
    "categorical_cross_entropy": case("categorical_cross_entropy", _onehot_probs, _cce_ref),
    "softmax_cross_entropy": case("softmax_cross_entropy", _soft_targets_logits, _torch_ref(F.cross_entropy)),
    "sparse_categorical_cross_entropy": case("sparse_categorical_cross_entropy", _labels_probs, _sparse_ref(True)),
    "sparse_softmax_cross_entropy": case("sparse_softmax_cross_entropy", _labels_logits, _sparse_ref(False)),
    "kl_divergence": case("kl_divergence", _two_simplex,
                          lambda a, reduction: _np_reduce(sps.rel_entr(*a).sum(-1), reduction)),
    "js_divergence": case("js_divergence", _two_simplex,
                          lambda a, reduction: _np_reduce(jensenshannon(*a, axis=-1) ** 2, reduction)),
    "nll": case("nll", _logprobs_labels, _nll_ref, pred=0),
    "contrastive": case("contrastive", _pairs, _per_item(
        lambda d, y, margin=1.0: y * d**2 + (1 - y) * np.maximum(0, margin - d) ** 2), pred=0, kw={"margin": 1.2}),
    "gaussian_nll": case("gaussian_nll", _gauss, _gauss_ref, kw={"full": True, "eps": 0.2}),
}
KEYS = list(LOSSES)


def _host(key, seed=0):
    return LOSSES[key].make(np.random.default_rng(seed))


def _place_args(backend, host, dtype):
    """Float arrays to ``dtype`` on ``backend``; the float64 host copies hold exactly the placed values."""
    exact = tuple(np.asarray(a, dtype=dtype).astype(np.float64) if a.dtype.kind == "f" else a for a in host)
    return place_all(backend, exact, dtype), exact


def place_all(backend, arrays, dtype):
    out = place(backend, *arrays, dtype=dtype)
    return tuple(out) if isinstance(out, list) else (out,)


def _tol(name, c):
    return {"rtol": c.rtol64, "atol": 1e-14} if name == "float64" else {"rtol": 5e-5, "atol": 2e-6}


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("key", KEYS)
def test_value_matches_reference(key, backend, float_dtype):
    c = LOSSES[key]
    name = dtype_name(float_dtype)
    args, exact = _place_args(backend, _host(key), name)
    for reduction in c.reductions:
        out = c.fn(*args, **c.kw, reduction=reduction)
        assert pml.backend.backend_of(out) == backend.name
        assert dtype_name(out.dtype) == name, f"{key}: dtype {out.dtype}"
        want = c.ref(exact, reduction, **c.kw)
        assert tuple(out.shape) == np.shape(want), f"{key} {reduction}: shape {tuple(out.shape)}"
        assert_close(out, want, **_tol(name, c), err_msg=f"{key} reduction={reduction}")


def test_kl_matches_torch_batchmean_and_scipy_entropy():
    p, q = _two_simplex(np.random.default_rng(2))
    assert_close(L.kl_divergence(p, q), F.kl_div(torch.log(_t(q)), _t(p), reduction="batchmean").numpy(), rtol=1e-12)
    from scipy.stats import entropy

    assert_close(L.kl_divergence(p, q, reduction="none"), entropy(p, q, axis=-1), rtol=1e-12)


def test_focal_equals_sigmoid_focal_through_sigmoid():
    y, z = _bin_logits(np.random.default_rng(3))
    z = np.clip(z, -8, 8)  # keep sigmoid(z) away from the clip bounds
    for kw in ({}, {"alpha": None, "gamma": 0.5}, {"alpha": 0.7, "gamma": 0.0}):
        assert_close(L.focal(y, sps.expit(z), **kw), L.sigmoid_focal(y, z, **kw), rtol=1e-12)
        assert_close(L.focal_grad(y, sps.expit(z), **kw) * sps.expit(z) * sps.expit(-z),
                     L.sigmoid_focal_grad(y, z, **kw), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("var_shape", [(6, 5), (6,), (6, 1)])
def test_gaussian_nll_var_shapes_match_torch(var_shape, backend):
    r = np.random.default_rng(4)
    y, mean = r.normal(size=(6, 5)), r.normal(size=(6, 5))
    var = r.uniform(0.0, 2.0, size=var_shape)
    var.flat[0] = 0.0  # clamped at eps
    args = place_all(backend, (y, mean, var), "float64")
    for reduction in ALL:
        want = F.gaussian_nll_loss(_t(mean), _t(y), _t(var), reduction=reduction).numpy()
        assert_close(L.gaussian_nll(*args, reduction=reduction), want, rtol=1e-12)


# ------------------------------------------------------------------ gradients
def _jax_grad_of_ours(jax, key, exact, reduction):
    import jax.numpy as jnp

    c = LOSSES[key]
    args = [jnp.asarray(a) for a in exact]

    def total(pred):
        full = list(args)
        full[c.pred] = pred
        return jnp.sum(c.fn(*full, **c.kw, reduction=reduction))

    return np.asarray(jax.grad(total)(args[c.pred]))


@pytest.mark.parametrize("key", KEYS)
def test_grad_matches_jax_grad(key, backend, float_dtype, jax64):
    c = LOSSES[key]
    name = dtype_name(float_dtype)
    args, exact = _place_args(backend, _host(key), name)
    n_items = None
    for reduction in c.reductions:
        g = c.grad(*args, **c.kw, reduction=reduction)
        assert dtype_name(g.dtype) == name and pml.backend.backend_of(g) == backend.name
        assert tuple(g.shape) == tuple(args[c.pred].shape)
        want = _jax_grad_of_ours(jax64, key, exact, reduction)
        assert_close(g, want, **_tol(name, c), err_msg=f"{key}_grad reduction={reduction}")
        if reduction == "mean" and "none" in c.reductions:
            n_items = np.asarray(backend.to_numpy(c.fn(*args, **c.kw, reduction="none"))).size or 1
            g_mean = backend.to_numpy(g)
        elif n_items is not None:  # "sum" and "none" give n x the "mean" gradient
            assert_close(g, g_mean * n_items, **_tol(name, c), err_msg=f"{key}_grad {reduction} vs mean")


@pytest.mark.parametrize("key", KEYS)
def test_grad_matches_central_differences(key, backend):
    c = LOSSES[key]
    host = _host(key, seed=5)
    args = list(place_all(backend, host, "float64"))
    v = np.random.default_rng(6).normal(size=host[c.pred].shape)
    eps = 1e-6
    for reduction in c.reductions:
        def total(pred):
            full = list(args)
            full[c.pred] = place(backend, pred, dtype="float64")
            return float(np.sum(backend.to_numpy(c.fn(*full, **c.kw, reduction=reduction))))

        fd = (total(host[c.pred] + eps * v) - total(host[c.pred] - eps * v)) / (2 * eps)
        got = float(np.sum(backend.to_numpy(c.grad(*args, **c.kw, reduction=reduction)) * v))
        assert math.isclose(got, fd, rel_tol=1e-6, abs_tol=1e-8), f"{key} {reduction}: {got} vs {fd}"


# ------------------------------------------------------------------ extreme inputs
BIG = 1e4
_EXTREME = {
    # zero residuals, and huge ones for log-cosh
    "mse": (np.zeros(4), np.zeros(4)),
    "rmse": (np.ones(4), np.ones(4)),
    "mae": (np.ones(4), np.ones(4)),
    "huber": (np.array([0.0, 0.0, BIG, -BIG]), np.array([0.0, BIG, 0.0, BIG])),
    "log_cosh": (np.array([0.0, 0.0, BIG, -BIG, 1e-20]), np.array([0.0, BIG, -BIG, BIG, 0.0])),
    # probabilities exactly 0 and 1, right and wrong
    "binary_cross_entropy": (np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0, 1.0])),
    "focal": (np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0, 1.0])),
    # logits at +-1e4, right and wrong
    "binary_cross_entropy_with_logits": (np.array([1.0, 0.0, 1.0, 0.0]), np.array([BIG, -BIG, -BIG, BIG])),
    "sigmoid_focal": (np.array([1.0, 0.0, 1.0, 0.0]), np.array([BIG, -BIG, -BIG, BIG])),
    "hinge": (np.array([1.0, -1.0, 1.0, -1.0]), np.array([BIG, -BIG, -BIG, BIG])),
    "squared_hinge": (np.array([1.0, -1.0, 1.0, -1.0]), np.array([BIG, -BIG, -BIG, BIG])),
    "logistic_loss": (np.array([1.0, -1.0, 1.0, -1.0]), np.array([BIG, -BIG, -BIG, BIG])),
    "categorical_cross_entropy": (np.eye(3)[[0, 1, 2]], np.array([[1.0, 0, 0], [1.0, 0, 0], [0.5, 0.5, 0]])),
    "softmax_cross_entropy": (np.eye(3)[[0, 1, 2]], np.array([[BIG, -BIG, 0], [BIG, -BIG, -BIG], [0, 0, -BIG]])),
    "sparse_categorical_cross_entropy": (np.array([0, 1, 2]), np.array([[1.0, 0, 0], [1.0, 0, 0], [0.5, 0.5, 0]])),
    "sparse_softmax_cross_entropy": (np.array([0, 1, 2]), np.array([[BIG, -BIG, 0], [BIG, -BIG, -BIG], [0, 0, -BIG]])),
    "kl_divergence": (np.array([[1.0, 0, 0], [0.5, 0.5, 0]]), np.array([[0.0, 1, 0], [1.0, 0, 0]])),
    "js_divergence": (np.array([[1.0, 0, 0], [0.5, 0.5, 0]]), np.array([[0.2, 0.8, 0.0], [1e-300, 0.5, 0.5]])),
    "nll": (np.array([[0.0, -BIG, -np.inf], [-BIG, 0.0, -BIG]]), np.array([0, 2])),
    "contrastive": (np.array([0.0, 0.0, BIG, BIG]), np.array([1.0, 0.0, 1.0, 0.0])),
    "gaussian_nll": (np.zeros(4), np.array([0.0, 0.0, BIG, -BIG]), np.array([0.0, 1.0, 0.0, BIG])),
}


@pytest.mark.parametrize("key", KEYS)
def test_extreme_inputs_give_finite_values_and_gradients(key, backend, float_dtype):
    c = LOSSES[key]
    name = dtype_name(float_dtype)
    host = _EXTREME[key]
    if key == "js_divergence" and name == "float32":
        host = (host[0], np.array([[0.2, 0.8, 0.0], [1e-30, 0.5, 0.5]]))
    args = place_all(backend, host, name)
    for reduction in c.reductions:
        v = backend.to_numpy(c.fn(*args, **c.kw, reduction=reduction))
        g = backend.to_numpy(c.grad(*args, **c.kw, reduction=reduction))
        assert np.all(np.isfinite(v)), f"{key} {reduction}: {v}"
        assert np.all(np.isfinite(g)), f"{key}_grad {reduction}: {g}"


def test_extreme_values_are_exact(backend, float_dtype):
    name = dtype_name(float_dtype)

    def on(*a):
        return place_all(backend, a, name)

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
def test_bad_input_raises(backend):
    xp = backend.xp

    def a(x):
        return place(backend, np.asarray(x), dtype="float64" if np.asarray(x).dtype.kind == "f" else None)

    y, p = a(np.zeros(4)), a(np.ones(3))
    with pytest.raises(ValueError, match=r"y_true and y_pred must have the same shape.*\(4,\).*\(3,\)"):
        L.mse(y, p)
    with pytest.raises(ValueError, match="must not be empty"):
        L.mae(a(np.zeros(0)), a(np.zeros(0)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.huber(y, y, reduction="avg")
    with pytest.raises(ValueError, match=r"reduction must be one of \('mean',\)"):
        L.rmse(y, y, reduction="sum")
    with pytest.raises(ValueError, match="delta must be positive"):
        L.huber(y, y, delta=0.0)
    with pytest.raises(ValueError, match=r"eps must be finite and in \(0, 0.5\)"):
        L.binary_cross_entropy(y, y, eps=0.0)
    with pytest.raises(ValueError, match="gamma must be non-negative"):
        L.focal(y, a(np.full(4, 0.5)), gamma=-1.0)
    with pytest.raises(ValueError, match="margin must be positive"):
        L.contrastive(y, y, margin=-1.0)
    onehot, probs = a(np.eye(3)), a(np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="y_onehot rows have 3 classes but p has 4"):
        L.categorical_cross_entropy(onehot, probs)
    with pytest.raises(ValueError, match="y_onehot rows have 3 classes but logits has 4"):
        L.softmax_cross_entropy(onehot, probs)
    with pytest.raises(ValueError, match="must have a class axis"):
        L.kl_divergence(a(np.asarray(0.5)), a(np.asarray(0.5)))
    with pytest.raises(ValueError, match=r"labels must have shape p.shape\[:-1\] = \(3,\)"):
        L.sparse_categorical_cross_entropy(a(np.array([0, 1])), probs)
    with pytest.raises(TypeError, match="labels must be an array of integer class indices"):
        L.sparse_softmax_cross_entropy(a(np.array([0.0, 1.0, 2.0])), probs)
    with pytest.raises(ValueError, match="gaussian|var must have the shape of mean"):
        L.gaussian_nll(a(np.zeros((3, 4))), a(np.zeros((3, 4))), a(np.ones((4,))))
    with pytest.raises(ValueError, match="y_true and mean must have the same shape"):
        L.gaussian_nll(a(np.zeros(3)), a(np.zeros(4)), a(np.ones(4)))
    assert xp is backend.xp


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
    b = pml.get_backend("array_api_strict").asarray(np.ones(3))
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
    be = pml.get_backend(ns)
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
    be = pml.get_backend(ns)
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
