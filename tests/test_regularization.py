"""Regularisation and normalisation, on every backend, against independent references.

References: float64 NumPy implementations of the sheet formulas (penalties,
max-norm, normalisation), ``torch.nn.functional.batch_norm`` /
``layer_norm`` (forward), ``jax.grad`` / ``jax.vjp`` and central differences
(gradients and backward passes).
"""

import warnings

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import regularization as R
from portable_ml.testing import assert_close, dtype_name

from .helpers import place, place_all, second_backend, tol

# float32 tolerances: normalisation divides by a std computed in float32, so
# relative errors of a few ulps of the inputs' scale reach ~1e-5 of the output.


def _tol(float_dtype):
    return tol("reduction", float_dtype)


def _host_tree(seed=0):
    r = np.random.default_rng(seed)
    return {"W": r.normal(size=(5, 3)), "layers": [r.normal(size=4), r.normal(size=(2, 2))]}


def _on(backend, tree, dtype):
    return pml.tree.tree_map(lambda a: place(backend, a, dtype=dtype), tree)


def _ref_leaves(tree):
    return pml.tree.tree_leaves(tree)


# ------------------------------------------------------------------ penalties
def test_penalties_match_numpy(backend, float_dtype):
    name = dtype_name(float_dtype)
    host = _host_tree()
    w = _on(backend, host, name)
    leaves = _ref_leaves(host)
    s1 = sum(np.abs(a).sum() for a in leaves)
    s2 = sum((a * a).sum() for a in leaves)
    lam, l1, l2 = 0.37, 0.21, 0.83
    tol = _tol(float_dtype)
    for got, want in [
        (R.l1_penalty(w, lam), lam * s1),
        (R.l2_penalty(w, lam), lam * s2),
        (R.elastic_net_penalty(w, l1, l2), l1 * s1 + l2 * s2),
    ]:
        assert got.shape == () and dtype_name(got.dtype) == name
        assert pml.backend.backend_of(got) == backend.name
        assert_close(got, want, **tol)
    grads = {
        "l1": (R.l1_penalty_grad(w, lam), lambda a: lam * np.sign(a)),
        "l2": (R.l2_penalty_grad(w, lam), lambda a: 2 * lam * a),
        "en": (R.elastic_net_penalty_grad(w, l1, l2), lambda a: l1 * np.sign(a) + 2 * l2 * a),
    }
    for key, (got, ref) in grads.items():
        assert pml.tree.tree_structure(got) == pml.tree.tree_structure(w), key
        for leaf in pml.tree.tree_leaves(got):
            assert dtype_name(leaf.dtype) == name
        assert_close(got, pml.tree.tree_map(ref, host), **tol, err_msg=key)


def test_penalties_on_a_bare_array_and_integer_weights(backend):
    w = backend.asarray(np.array([[1, -2], [0, 3]]))
    got = R.l1_penalty(w, 0.5)
    assert backend.xp.isdtype(got.dtype, "real floating")
    assert_close(got, 3.0)
    assert_close(R.l2_penalty(w, 2), 28.0)
    assert_close(R.l1_penalty_grad(w, 0.5), 0.5 * np.sign(np.array([[1.0, -2.0], [0.0, 3.0]])))


def test_l1_subgradient_is_zero_at_zero(backend):
    w = backend.asarray(np.array([0.0, -0.0, 1.5, -2.0]))
    assert_close(R.l1_penalty_grad(w, 3.0), np.array([0.0, 0.0, 3.0, -3.0]))
    assert_close(R.elastic_net_penalty_grad(w, 3.0, 1.0), np.array([0.0, 0.0, 6.0, -7.0]))


def test_elastic_net_is_l1_plus_l2(backend):
    w = _on(backend, _host_tree(3), None)
    assert_close(R.elastic_net_penalty(w, 0.3, 0.9), R.l1_penalty(w, 0.3) + R.l2_penalty(w, 0.9))


def test_penalty_grads_equal_jax_grad():
    jax = pytest.importorskip("jax")
    w = _on(pml.get_backend("jax"), _host_tree(1), "float64")
    for pen, grad, args in [
        (R.l1_penalty, R.l1_penalty_grad, (0.4,)),
        (R.l2_penalty, R.l2_penalty_grad, (0.4,)),
        (R.elastic_net_penalty, R.elastic_net_penalty_grad, (0.4, 1.3)),
    ]:
        want = jax.grad(lambda t: pen(t, *args))(w)
        assert_close(grad(w, *args), want, rtol=1e-14, atol=0, err_msg=pen.__name__)
        jitted = jax.jit(lambda t: pen(t, *args))(w)
        assert_close(jitted, pen(w, *args), rtol=1e-14, err_msg=pen.__name__)


def test_penalty_strength_may_be_an_array_under_jit():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    w = _on(pml.get_backend("jax"), _host_tree(2), "float32")
    f = jax.jit(lambda t, lam: R.l2_penalty(t, lam))
    got = f(w, jnp.asarray(0.25, dtype=jnp.float64))
    assert got.dtype == jnp.float32
    assert_close(got, R.l2_penalty(w, 0.25))


def test_penalty_bad_input():
    w = {"a": np.ones(3)}
    with pytest.raises(ValueError, match="lam must be non-negative"):
        R.l1_penalty(w, -0.1)
    with pytest.raises(ValueError, match="lam must be non-negative"):
        R.l2_penalty_grad(w, float("nan"))
    with pytest.raises(ValueError, match="l2 must be non-negative"):
        R.elastic_net_penalty(w, 0.1, -1.0)
    with pytest.raises(TypeError, match="lam must be a non-negative real number"):
        R.l2_penalty(w, "0.1")
    with pytest.raises(ValueError, match="w must hold at least one array"):
        R.l2_penalty({}, 0.1)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="different backends"):
        R.l1_penalty({"a": np.ones(2), "b": torch.ones(2)}, 0.1)


# ------------------------------------------------------------------ max-norm
def _max_norm_ref(W, c, axis):
    n = np.sqrt((W * W).sum(axis=axis, keepdims=True))
    return W * np.where(n > c, c / np.where(n > c, n, 1.0), 1.0)


@pytest.mark.parametrize("axis", [0, 1])
def test_max_norm_matches_numpy(backend, float_dtype, axis):
    name = dtype_name(float_dtype)
    r = np.random.default_rng(4)
    W = r.normal(size=(6, 5)) * np.array([0.2, 1.0, 2.0, 3.0, 5.0])
    W = W if axis == 0 else W.T
    got = R.max_norm(place(backend, W, dtype=name), c=2.5, axis=axis)
    assert dtype_name(got.dtype) == name
    assert_close(got, _max_norm_ref(W, 2.5, axis), **_tol(float_dtype))
    norms = np.linalg.norm(backend.to_numpy(got).astype(np.float64), axis=axis)
    assert np.all(norms <= 2.5 * (1 + 1e-6))
    # slices already within the bound are returned bit for bit
    small = np.linalg.norm(W, axis=axis) <= 2.5
    g, w32 = backend.to_numpy(got), W.astype(name)
    np.testing.assert_array_equal(np.compress(small, g, axis=1 - axis), np.compress(small, w32, axis=1 - axis))


def test_max_norm_zero_column_is_finite_and_unchanged(backend):
    W = np.array([[0.0, 3.0, 1e-30], [0.0, 4.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = backend.to_numpy(R.max_norm(backend.asarray(W)))
    np.testing.assert_allclose(got, [[0.0, 1.8, 1e-30], [0.0, 2.4, 0.0]], rtol=1e-15)


def test_max_norm_grad_is_finite_at_zero_column():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    W = jnp.asarray([[0.0, 3.0], [0.0, 4.0]])
    g = jax.grad(lambda w: jnp.sum(R.max_norm(w, c=1.0)))(W)
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_array_equal(np.asarray(g)[:, 0], [1.0, 1.0])


def test_max_norm_bad_input():
    with pytest.raises(ValueError, match="c must be positive"):
        R.max_norm(np.ones((2, 2)), c=0.0)
    with pytest.raises(ValueError, match="at least 1-D"):
        R.max_norm(np.asarray(1.0))


# ------------------------------------------------------------------- dropout
def test_dropout_identity_when_not_training_or_p_zero(backend):
    x = backend.asarray(np.arange(6.0))
    assert R.dropout(x, 0.5, backend.rng(0), training=False) is x
    assert R.dropout(x, 0.0, backend.rng(0)) is x


def test_dropout_keeps_expected_value(backend, float_dtype):
    n, p = 200_000, 0.3
    x = backend.xp.ones(n, dtype=float_dtype, device=backend.device)
    y = R.dropout(x, p, backend.rng(2024))
    assert y.dtype == float_dtype and tuple(y.shape) == (n,)
    h = backend.to_numpy(y).astype(np.float64)
    # kept entries are exactly x / (1 - p); the others exactly 0
    kept = h != 0
    np.testing.assert_array_equal(h[kept], np.float64(np.asarray(1.0, dtype=dtype_name(float_dtype))
                                                      / np.asarray(1 - p, dtype=dtype_name(float_dtype))))
    sigma_mean = np.sqrt(p / (1 - p) / n)  # std of the mean of n inverted-dropout ones
    assert abs(h.mean() - 1.0) < 4 * sigma_mean
    sigma_frac = np.sqrt(p * (1 - p) / n)
    assert abs((~kept).mean() - p) < 4 * sigma_frac


def test_dropout_same_seed_same_values_on_every_backend(backend):
    x = np.random.default_rng(5).normal(size=(7, 9))
    got = R.dropout(place(backend, x), 0.4, backend.rng(17))
    want = R.dropout(x, 0.4, pml.get_backend("numpy").rng(17))
    assert_close(got, want)
    # the formula: kept entries are x / (1 - p), the rest 0
    h = backend.to_numpy(got)
    np.testing.assert_allclose(h, np.where(h != 0, x / 0.6, 0.0), rtol=1e-15)
    again = R.dropout(place(backend, x), 0.4, backend.rng(17))
    assert_close(again, got, rtol=0, atol=0)
    other = backend.to_numpy(R.dropout(place(backend, x), 0.4, backend.rng(18)))
    assert not np.array_equal(other, h)


def test_dropout_with_a_jax_key_under_jit():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(0).normal(size=(64, 32)))
    f = jax.jit(lambda x, key: R.dropout(x, 0.25, key))
    for key in (jax.random.key(3), jax.random.PRNGKey(3)):
        eager = R.dropout(x, 0.25, key)
        jitted = f(x, key)
        assert_close(jitted, eager, rtol=0, atol=0)
        mask = np.asarray(jax.random.bernoulli(key, 0.75, x.shape))
        np.testing.assert_allclose(np.asarray(jitted), np.where(mask, np.asarray(x) / 0.75, 0.0), rtol=1e-15)
        g = jax.jit(jax.grad(lambda x, k: jnp.sum(R.dropout(x, 0.25, k))))(x, key)
        np.testing.assert_allclose(np.asarray(g), mask / 0.75, rtol=1e-15)
    a, b = f(x, jax.random.key(1)), f(x, jax.random.key(2))
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    ones = f(jnp.ones(100_000), jax.random.key(9))
    assert abs(float(jnp.mean(ones)) - 1.0) < 4 * np.sqrt(0.25 / 0.75 / 100_000)


def test_dropout_bad_input():
    x = np.ones(4)
    g = pml.get_backend("numpy").rng(0)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\)"):
        R.dropout(x, 1.0, g)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\)"):
        R.dropout(x, -0.1, g)
    with pytest.raises(TypeError, match="p must be a real number"):
        R.dropout(x, "0.5", g)
    with pytest.raises(TypeError, match="rng must be a portable_ml.random.Generator or a JAX PRNG key"):
        R.dropout(x, 0.5, 42)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="draws on another backend or device than x"):
        R.dropout(torch.ones(4), 0.5, g)
    jax = pytest.importorskip("jax")
    with pytest.raises(TypeError, match="dropout with a JAX key needs a JAX array"):
        R.dropout(x, 0.5, jax.random.key(0))


def test_dropout_generator_on_another_device():
    strict = pml.get_backend("array_api_strict", "device1")
    x = strict.asarray(np.ones(5))
    assert_close(R.dropout(x, 0.5, strict.rng(1)), R.dropout(np.ones(5), 0.5, pml.get_backend("numpy").rng(1)))
    with pytest.raises(ValueError, match="draws on another backend or device than x"):
        R.dropout(x, 0.5, second_backend().rng(1))


# ------------------------------------------------------------- normalisation
def _bn_ref(x, gamma, beta, eps, axis):
    mu = x.mean(axis=axis, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def _norm_inputs(r, shape, d):
    x = r.normal(size=shape) * r.uniform(0.5, 3.0, size=d) + r.normal(size=d) * 4
    return x, r.uniform(0.5, 2.0, size=d), r.normal(size=d)


def _torch_norm(kind, x, gamma, beta, eps):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = [torch.from_numpy(a) for a in (x, gamma, beta)]
    if kind == "batch":
        return F.batch_norm(t[0], None, None, t[1], t[2], training=True, eps=eps).numpy()
    return F.layer_norm(t[0], (x.shape[-1],), t[1], t[2], eps=eps).numpy()


NORMS = {
    # kind: (forward, backward, x shape, feature size, reduced axis)
    "batch": (R.batch_norm, R.batch_norm_backward, (32, 6), 6, 0),
    "layer": (R.layer_norm, R.layer_norm_backward, (4, 5, 6), 6, -1),
}


@pytest.mark.parametrize("kind", list(NORMS))
def test_norm_forward_matches_numpy_and_torch(backend, float_dtype, kind):
    fwd, _, shape, d, axis = NORMS[kind]
    name = dtype_name(float_dtype)
    x, gamma, beta = _norm_inputs(np.random.default_rng(7), shape, d)
    eps = 1e-3
    y, cache = fwd(*place_all(backend, x, gamma, beta, dtype=name), eps=eps)
    assert dtype_name(y.dtype) == name and tuple(y.shape) == shape
    assert all(pml.backend.backend_of(c) == backend.name for c in cache)
    want = _bn_ref(x, gamma, beta, eps, axis)
    assert_close(y, want, **_tol(float_dtype))
    torch_y = _torch_norm(kind, x, gamma, beta, eps)
    np.testing.assert_allclose(want, torch_y, rtol=1e-12, atol=1e-12)
    # normalised activations: zero mean, unit (biased) variance up to eps
    xhat = backend.to_numpy(cache.xhat).astype(np.float64)
    np.testing.assert_allclose(xhat.mean(axis=axis), 0.0, atol=1e-5)


def _vjp_ref(kind, x, gamma, beta, dy, eps):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    fwd = NORMS[kind][0]
    args = [jnp.asarray(a, dtype=jnp.float64) for a in (x, gamma, beta)]
    _, vjp = jax.vjp(lambda *a: fwd(*a, eps=eps)[0], *args)
    return [np.asarray(g) for g in vjp(jnp.asarray(dy, dtype=jnp.float64))]


@pytest.mark.parametrize("kind", list(NORMS))
def test_norm_backward_matches_jax_vjp_and_differences(backend, float_dtype, kind):
    fwd, bwd, shape, d, axis = NORMS[kind]
    name = dtype_name(float_dtype)
    r = np.random.default_rng(11)
    x, gamma, beta = _norm_inputs(r, shape, d)
    dy = r.normal(size=shape)
    eps = 1e-3
    _, cache = fwd(*place_all(backend, x, gamma, beta, dtype=name), eps=eps)
    dx, dgamma, dbeta = bwd(place(backend, dy, dtype=name), cache)
    for g, s in ((dx, shape), (dgamma, (d,)), (dbeta, (d,))):
        assert tuple(g.shape) == s and dtype_name(g.dtype) == name
    want = _vjp_ref(kind, x, gamma, beta, dy, eps)
    tol = {"rtol": 2e-4, "atol": 2e-4} if name == "float32" else {"rtol": 1e-9, "atol": 1e-11}
    assert_close((dx, dgamma, dbeta), tuple(want), **tol)
    # independent check: directional central differences of L = sum(dy * y) in float64 NumPy
    h = 1e-6
    for i, (arg, g) in enumerate(zip((x, gamma, beta), (dx, dgamma, dbeta))):
        v = r.normal(size=arg.shape)
        plus = [x, gamma, beta]
        minus = [x, gamma, beta]
        plus[i], minus[i] = arg + h * v, arg - h * v
        fd = (np.sum(dy * _bn_ref(*plus, eps, axis)) - np.sum(dy * _bn_ref(*minus, eps, axis))) / (2 * h)
        an = np.sum(backend.to_numpy(g).astype(np.float64) * v)
        assert np.isclose(an, fd, rtol=1e-3 if name == "float32" else 1e-6, atol=1e-4), (i, an, fd)


@pytest.mark.parametrize("kind", list(NORMS))
def test_norm_constant_features_are_finite(backend, kind):
    fwd, bwd, shape, d, axis = NORMS[kind]
    x = np.full(shape, 0.1)  # 0.1 is inexact: the mean may differ from it by an ulp
    gamma, beta = np.linspace(0.5, 2.0, d), np.linspace(-1.0, 1.0, d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, cache = fwd(*place_all(backend, x, gamma, beta))
        grads = bwd(place(backend, np.ones(shape)), cache)
        y = backend.to_numpy(y)
        grads = [backend.to_numpy(g) for g in grads]
    assert np.all(np.isfinite(y)) and all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_allclose(y, np.broadcast_to(beta, shape), atol=1e-9)


def test_batch_norm_on_a_single_sample_and_higher_rank(backend):
    x = np.random.default_rng(1).normal(size=(1, 3))
    y, _ = R.batch_norm(*place_all(backend, x, np.ones(3), np.full(3, 0.5)))
    assert_close(y, np.full((1, 3), 0.5))
    x3 = np.random.default_rng(2).normal(size=(10, 2, 3))
    g, b = np.random.default_rng(3).uniform(1, 2, (2, 3)), np.zeros((2, 3))
    y3, _ = R.batch_norm(*place_all(backend, x3, g, b))
    assert_close(y3, _bn_ref(x3, g, b, 1e-5, 0))


@pytest.mark.parametrize("kind", list(NORMS))
def test_norm_bad_input(kind):
    fwd, bwd, shape, d, _ = NORMS[kind]
    x, gamma, beta = _norm_inputs(np.random.default_rng(0), shape, d)
    with pytest.raises(ValueError, match=r"gamma must have shape \(6,\)"):
        fwd(x, gamma[:-1], beta)
    with pytest.raises(ValueError, match=r"beta must have shape \(6,\)"):
        fwd(x, gamma, beta[None])
    with pytest.raises(ValueError, match="eps must be positive"):
        fwd(x, gamma, beta, eps=0.0)
    with pytest.raises(ValueError, match="x must be at least 1-D"):
        fwd(np.asarray(1.0), np.ones(()), np.ones(()))
    with pytest.raises(ValueError, match="x must not be empty"):
        fwd(np.ones((0, 6)), gamma, beta)
    _, cache = fwd(x, gamma, beta)
    with pytest.raises(ValueError, match="dy and x must have the same shape"):
        bwd(np.ones((3, 6)), cache)


# ------------------------------------------------------------ early stopping
def test_early_stopping_counts_non_improving_updates():
    es = R.EarlyStopping(3)
    seq = [5.0, 4.0, 4.0, 4.5, 3.9, 4.0, 4.0, 4.0, 1.0]
    got = [es.update(v) for v in seq]
    assert got == [False, False, False, False, False, False, False, True, False]
    assert es.best == 1.0 and es.wait == 0 and not es.stopped


def test_early_stopping_min_delta():
    es = R.EarlyStopping(2, min_delta=0.1)
    assert [es.update(v) for v in (1.0, 0.95, 0.5, 0.45, 0.44)] == [False, False, False, False, True]
    assert es.best == 0.5 and es.wait == 2 and es.stopped
    # exactly best - min_delta is not an improvement (strictly below is required)
    es = R.EarlyStopping(1, min_delta=0.25)
    es.update(1.0)
    assert es.update(0.75) is True and es.best == 1.0


def test_early_stopping_reads_arrays_and_nan_never_improves(backend):
    es = R.EarlyStopping(2)
    vals = [backend.asarray(np.asarray(v)) for v in (2.0, 1.0, float("nan"), 1.0)]
    assert [es.update(v) for v in vals] == [False, False, False, True]
    assert es.best == 1.0 and isinstance(es.best, float)


def test_early_stopping_bad_arguments():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="patience must be an integer >= 1"):
            R.EarlyStopping(bad)
    with pytest.raises(ValueError, match="min_delta must be non-negative"):
        R.EarlyStopping(2, min_delta=-0.1)
    with pytest.raises(TypeError, match="min_delta must be a real number"):
        R.EarlyStopping(2, min_delta="0.1")


# ------------------------------------------------- accuracy at the extremes (issue 12)
def test_max_norm_scales_instead_of_overflowing(backend):
    W = np.array([[1e20], [1.0]])
    out = R.max_norm(backend.asarray(W, dtype="float32"), c=3.0)
    norm = np.sqrt(1e40 + 1.0)  # float64 reference
    want = W * (3.0 / norm)
    got = np.asarray(backend.to_numpy(out), dtype=np.float64)
    assert got[1, 0] > 0  # was 0 (1e40 overflowed float32 to inf)
    assert_close(got, want, rtol=1e-6, atol=0)
    # tiny columns are left alone (their squares underflow, their norm does not)
    tiny = np.array([[3e-30, 1.0], [4e-30, 0.0]])
    got = np.asarray(backend.to_numpy(R.max_norm(backend.asarray(tiny, dtype="float32"), c=1e-30)), dtype=np.float64)
    assert_close(got[:, 0], np.array([0.6e-30, 0.8e-30]), rtol=1e-6, atol=0)
