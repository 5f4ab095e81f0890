"""``batch_norm`` with running statistics and an inference mode, on every backend.

References: ``torch.nn.functional.batch_norm`` (training with the running
statistics updated in place, and eval), a float64 NumPy implementation of the
same formulas, exact values for data on large offsets, ``jax.grad`` /
``jax.vjp`` for the backward passes.
"""

import warnings

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import regularization as R
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place_all, tol

torch = optional_module("torch")


def _inputs(seed, n=16, d=5):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, d)) * r.uniform(0.5, 3.0, size=d) + r.normal(size=d) * 4
    return x, r.uniform(0.5, 2.0, d), r.normal(size=d), r.normal(size=d), r.uniform(0.5, 2.0, d)


def _numpy_bn(x, gamma, beta, rm, rv, *, momentum=0.1, training=True, eps=1e-5):
    """float64 NumPy: (y, mean, var, new running mean, new running var)."""
    if training:
        n = x.shape[0]
        mean, var = x.mean(0), x.var(0)
        new_rm = (1 - momentum) * rm + momentum * mean
        new_rv = (1 - momentum) * rv + momentum * var * n / (n - 1)
    else:
        mean, var, new_rm, new_rv = rm, rv, rm, rv
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, mean, var, new_rm, new_rv


def _torch_bn(x, gamma, beta, rm, rv, *, momentum=0.1, training=True, eps=1e-5):
    F = torch.nn.functional
    t = [torch.tensor(a, dtype=torch.float64) for a in (x, gamma, beta)]
    rm_t, rv_t = torch.tensor(rm, dtype=torch.float64), torch.tensor(rv, dtype=torch.float64)
    y = F.batch_norm(t[0], rm_t, rv_t, t[1], t[2], training=training, momentum=momentum, eps=eps)
    return y.numpy(), rm_t.numpy(), rv_t.numpy()


@pytest.mark.parametrize("momentum", [0.1, 0.37, 0.0, 1.0])
def test_training_updates_running_stats_like_torch(backend, float_dtype, momentum):
    """Three steps of training, the running statistics carried from one to the next."""
    name = dtype_name(float_dtype)
    x, gamma, beta, rm, rv = _inputs(0)
    rm_ref, rv_ref = rm.copy(), rv.copy()
    rm_b, rv_b = place_all(backend, rm, rv, dtype=name)
    for step in range(3):
        xs = x + step * 0.5 * np.random.default_rng(step).normal(size=x.shape)
        xb, gb, bb = place_all(backend, xs, gamma, beta, dtype=name)
        y, cache = R.batch_norm(xb, gb, bb, running_mean=rm_b, running_var=rv_b, momentum=momentum, eps=1e-4)
        assert isinstance(cache, R.BatchNormRunningCache)
        for leaf in pml.tree.tree_leaves((y, cache)):
            assert pml.backend.backend_of(leaf) == backend.name and dtype_name(leaf.dtype) == name
        y_t, rm_t, rv_t = _torch_bn(xs, gamma, beta, rm_ref, rv_ref, momentum=momentum, eps=1e-4)
        want = _numpy_bn(xs, gamma, beta, rm_ref, rv_ref, momentum=momentum, eps=1e-4)
        np.testing.assert_allclose(want[0], y_t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(want[3], rm_t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(want[4], rv_t, rtol=1e-12, atol=1e-12)
        assert_close((y, cache.mean, cache.var, cache.running_mean, cache.running_var), want,
                     **tol("reduction", float_dtype))
        assert tuple(cache.mean.shape) == (5,) and tuple(cache.inv_std.shape) == (1, 5)
        rm_ref, rv_ref = rm_t, rv_t
        rm_b, rv_b = cache.running_mean, cache.running_var


def test_inference_uses_running_stats_like_torch(backend, float_dtype):
    name = dtype_name(float_dtype)
    x, gamma, beta, rm, rv = _inputs(1, n=9, d=3)
    y, cache = R.batch_norm(*place_all(backend, x, gamma, beta, dtype=name), training=False,
                            running_mean=place_all(backend, rm, dtype=name)[0],
                            running_var=place_all(backend, rv, dtype=name)[0], eps=1e-3)
    assert isinstance(cache, R.BatchNormInferenceCache)
    y_t, rm_t, rv_t = _torch_bn(x, gamma, beta, rm, rv, training=False, eps=1e-3)
    np.testing.assert_array_equal(rm_t, rm)  # eval leaves them alone
    want = _numpy_bn(x, gamma, beta, rm, rv, training=False, eps=1e-3)
    np.testing.assert_allclose(want[0], y_t, rtol=1e-12, atol=1e-12)
    assert_close((y, cache.mean, cache.var, cache.running_mean, cache.running_var), want, **tol("default", float_dtype))


def test_inputs_are_not_modified():
    x, gamma, beta, rm, rv = _inputs(2)
    copies = [a.copy() for a in (x, gamma, beta, rm, rv)]
    R.batch_norm(x, gamma, beta, running_mean=rm, running_var=rv, momentum=0.5)
    for a, c in zip((x, gamma, beta, rm, rv), copies):
        np.testing.assert_array_equal(a, c)


def test_existing_two_value_form_still_works(backend):
    x, gamma, beta, _, _ = _inputs(3)
    xb, gb, bb = place_all(backend, x, gamma, beta)
    y, cache = R.batch_norm(xb, gb, bb)
    assert type(cache) is R.BatchNormCache and len(cache) == 5  # no running statistics asked for, none returned
    xhat, g, inv_std = cache[0], cache[1], cache[2]  # the first three fields keep their positions
    assert_close(xhat, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))
    assert_close(cache.mean, x.mean(0))
    assert_close(cache.var, x.var(0))
    assert_close(inv_std, 1 / np.sqrt(x.var(0) + 1e-5)[None, :])
    assert_close(y, g * xhat + bb)


def _jax_loss(mode, dy, eps):
    import jax.numpy as jnp

    def loss(x, gamma, beta, rm, rv):
        y, _ = R.batch_norm(x, gamma, beta, running_mean=rm, running_var=rv, training=mode == "training", eps=eps)
        return jnp.sum(dy * y)

    return loss


@pytest.mark.parametrize("mode", ["training", "inference"])
def test_backward_matches_jax_grad(backend, float_dtype, mode):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    name = dtype_name(float_dtype)
    x, gamma, beta, rm, rv = _inputs(4, n=12, d=4)
    dy = np.random.default_rng(5).normal(size=x.shape)
    args = place_all(backend, x, gamma, beta, rm, rv, dtype=name)
    _, cache = R.batch_norm(*args[:3], running_mean=args[3], running_var=args[4], training=mode == "training",
                            eps=1e-3)
    dx, dgamma, dbeta = R.batch_norm_backward(place_all(backend, dy, dtype=name)[0], cache)
    for g, shape in ((dx, x.shape), (dgamma, (4,)), (dbeta, (4,))):
        assert tuple(g.shape) == shape and dtype_name(g.dtype) == name
        assert pml.backend.backend_of(g) == backend.name
    j = [jnp.asarray(a, dtype=jnp.float64) for a in (x, gamma, beta, rm, rv)]
    want = jax.grad(_jax_loss(mode, jnp.asarray(dy), 1e-3), argnums=(0, 1, 2))(*j)
    t = {"rtol": 2e-4, "atol": 2e-4} if name == "float32" else {"rtol": 1e-9, "atol": 1e-11}
    assert_close((dx, dgamma, dbeta), tuple(np.asarray(w) for w in want), **t)
    if mode == "inference":  # the affine form, written out
        s = gamma / np.sqrt(rv + 1e-3)
        assert_close(dx, dy * s, **t)


def test_jit_keeps_the_cache_type_and_backward_runs_on_it():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    x, gamma, beta, rm, rv = (jnp.asarray(a) for a in _inputs(6))
    for training, kind in ((True, R.BatchNormRunningCache), (False, R.BatchNormInferenceCache)):
        f = jax.jit(lambda *a, training=training: R.batch_norm(*a[:3], running_mean=a[3], running_var=a[4],
                                                                training=training, momentum=0.2))
        y, cache = f(x, gamma, beta, rm, rv)
        y0, cache0 = R.batch_norm(x, gamma, beta, running_mean=rm, running_var=rv, training=training, momentum=0.2)
        assert type(cache) is kind
        assert_close((y, cache), (y0, cache0), rtol=1e-6, atol=1e-7)
        dy = jnp.ones_like(x)
        back = jax.jit(R.batch_norm_backward)(dy, cache)
        assert_close(back, R.batch_norm_backward(dy, cache0), rtol=1e-6, atol=1e-7)


def test_large_offsets_in_float32_are_accurate(backend):
    """1e8 + small noise in float32: the corrected two-pass variance is exact (the plain one adds the
    squared rounding error of the mean, up to 16 here, the one-pass one loses every digit)."""
    r = np.random.default_rng(7)
    k = r.integers(-3, 4, size=(64, 3)).astype(np.float64)
    x = np.array([1e8, -1e8, 3e7], dtype=np.float32).astype(np.float64) + 8.0 * k  # exact in float32
    assert np.array_equal(x.astype(np.float32).astype(np.float64), x)
    gamma, beta = np.ones(3), np.zeros(3)
    rm, rv = np.array([1e8, -1e8, 3e7]), np.full(3, 50.0)
    var = 64.0 * k.var(0)  # exact
    y, cache = R.batch_norm(*place_all(backend, x, gamma, beta, rm, rv, dtype="float32")[:3],
                            running_mean=place_all(backend, rm, dtype="float32")[0],
                            running_var=place_all(backend, rv, dtype="float32")[0])
    xhat = 8.0 * (k - k.mean(0)) / np.sqrt(var + 1e-5)
    assert_close(cache.var, var, rtol=1e-6)
    assert_close(y, xhat, rtol=1e-5, atol=1e-5)
    assert_close(cache.mean, x.mean(0), rtol=1e-7)
    assert_close(cache.running_var, 0.9 * 50.0 + 0.1 * var * 64 / 63, rtol=1e-6)


def test_zero_variance_feature_is_finite(backend):
    x = np.ones((6, 3)) * np.array([0.1, 2.0, -7.0])
    x[:, 1] += np.linspace(-1, 1, 6)
    gamma, beta, rm, rv = np.full(3, 1.5), np.array([0.25, -0.5, 1.0]), np.zeros(3), np.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, cache = R.batch_norm(*place_all(backend, x, gamma, beta), running_mean=place_all(backend, rm)[0],
                                running_var=place_all(backend, rv)[0])
        grads = R.batch_norm_backward(place_all(backend, np.ones((6, 3)))[0], cache)
    y = backend.to_numpy(y)
    assert np.all(np.isfinite(y)) and all(np.all(np.isfinite(backend.to_numpy(g))) for g in grads)
    np.testing.assert_allclose(y[:, [0, 2]], np.broadcast_to(beta[[0, 2]], (6, 2)), atol=1e-7)
    rv_new = backend.to_numpy(cache.running_var)
    np.testing.assert_allclose(rv_new[[0, 2]], 0.9, atol=1e-12)  # the zero batch variance pulls it down


@pytest.mark.parametrize("call, error, match", [
    (lambda a: R.batch_norm(*a[:3], training=False), ValueError, "training=False.*running_mean and running_var"),
    (lambda a: R.batch_norm(*a[:3], running_mean=a[3]), ValueError, "running_mean was given without running_var"),
    (lambda a: R.batch_norm(*a[:3], running_var=a[4]), ValueError, "running_var was given without running_mean"),
    (lambda a: R.batch_norm(*a[:3], running_mean=a[3][:2], running_var=a[4]), ValueError,
     r"running_mean must have shape \(5,\)"),
    (lambda a: R.batch_norm(*a[:3], running_mean=a[3], running_var=a[4], momentum=1.5), ValueError, "momentum"),
    (lambda a: R.batch_norm(*a[:3], running_mean=a[3], running_var=a[4], momentum="0.1"), TypeError, "momentum"),
    (lambda a: R.batch_norm(*a[:3], training=1), TypeError, "training must be True or False"),
    (lambda a: R.batch_norm(a[0][:1], a[1], a[2], running_mean=a[3], running_var=a[4]), ValueError,
     "at least 2 samples"),
    (lambda a: R.batch_norm_backward(a[0], (a[0], a[1], a[2])), TypeError, "BatchNormCache"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(_inputs(8))


def test_single_sample_inference_is_fine():
    x, gamma, beta, rm, rv = _inputs(9)
    y, _ = R.batch_norm(x[:1], gamma, beta, running_mean=rm, running_var=rv, training=False)
    np.testing.assert_allclose(y, _numpy_bn(x[:1], gamma, beta, rm, rv, training=False)[0], rtol=1e-12)


@pytest.mark.parametrize("mode", ["plain", "running", "inference"])
def test_every_cache_is_a_pytree_of_arrays_for_jax_and_torch_vmap(mode):
    """No ``None`` fields: ``torch.func.vmap`` and ``jax.vmap`` can return each kind of cache."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    x, gamma, beta, rm, rv = _inputs(10, n=6, d=3)
    xs = np.stack([x, 2 * x + 1])

    def kw(rm_, rv_):
        return {} if mode == "plain" else {"running_mean": rm_, "running_var": rv_, "training": mode != "inference"}

    def f(xb, g, b, rm_, rv_):
        return R.batch_norm(xb, g, b, **kw(rm_, rv_))

    loop = [R.batch_norm(xi, gamma, beta, **kw(rm, rv)) for xi in xs]
    j = jax.vmap(f, in_axes=(0, None, None, None, None))(*(jnp.asarray(a) for a in (xs, gamma, beta, rm, rv)))
    t = torch.func.vmap(f, in_dims=(0, None, None, None, None))(*(torch.tensor(a) for a in (xs, gamma, beta, rm, rv)))
    for out in (j, t):
        assert type(out[1]) is type(loop[0][1])
        for i in range(2):
            got = pml.tree.tree_map(lambda a, i=i: np.asarray(a)[i], out)
            assert_close(got, loop[i], rtol=1e-12, atol=1e-12)
