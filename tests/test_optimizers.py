"""Optimizers against optax, on every backend, in float32 and float64.

The reference is optax itself, run on JAX (CPU, x64) with the same
hyperparameters, the same nested parameter tree and the same fresh random
gradients at each of 20 steps.  Scheduled learning rates use our schedules on
both sides (optax calls them with its own int32 step counts), and once
optax's own schedule, so the whole optax pipeline is the reference.
"""

import dataclasses
import functools
import warnings
from typing import NamedTuple

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import optimizers as O
from portable_ml import schedules as S
from portable_ml.backend import backend_of
from portable_ml.gradients import global_norm
from portable_ml.testing import assert_close, dtype_name
from portable_ml.testing.registry import tolerance
from portable_ml.tree import tree_flatten, tree_leaves, tree_map

from .helpers import other_device

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
jnp = jax.numpy

N_STEPS = 20
# Per dtype: (rtol, atol).  Parameters are O(1); float32 runs accumulate a
# few ulps per step over 20 steps (measured ~1e-6 worst case).
TOL = "accurate"  # tolerance class (portable_ml.testing.registry.tolerance)


def _host_tree(rng):
    """A dict of lists of dicts of arrays, and a 0-d leaf."""
    return {"layers": [{"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}], "scale": rng.normal(size=())}


def _problem(dtype):
    rng = np.random.default_rng(1234)
    params = tree_map(lambda x: np.asarray(x, dtype), _host_tree(rng))
    grads = [tree_map(lambda x: np.asarray(rng.normal(size=x.shape), dtype), params) for _ in range(N_STEPS)]
    return params, grads


def _no_bias(params):
    return {"layers": [{"W": True, "b": False}], "scale": True}


SCHED = S.warmup_cosine(5, 20, lr_max=0.05, lr_min=1e-4)

# name -> (ours, optax) factories with the same arguments; together they cover
# every transformation, option and default, with constant and scheduled rates
CONFIGS = {
    "sgd": (lambda: O.sgd(0.1), lambda: optax.sgd(0.1)),
    "sgd_nesterov_scheduled": (lambda: O.sgd(S.exponential_decay(0.1, k=0.05), momentum=0.9, nesterov=True),
                               lambda: optax.sgd(S.exponential_decay(0.1, k=0.05), 0.9, True)),
    "adagrad": (lambda: O.adagrad(0.1), lambda: optax.adagrad(0.1)),
    "rmsprop": (lambda: O.rmsprop(0.01), lambda: optax.rmsprop(0.01)),
    "rmsprop_centered_nesterov": (
        lambda: O.rmsprop(SCHED, decay=0.8, centered=True, momentum=0.9, nesterov=True),
        lambda: optax.rmsprop(SCHED, decay=0.8, centered=True, momentum=0.9, nesterov=True)),
    "rmsprop_torchlike": (lambda: O.rmsprop(0.01, eps_in_sqrt=False, bias_correction=True, initial_scale=0.1),
                          lambda: optax.rmsprop(0.01, eps_in_sqrt=False, bias_correction=True, initial_scale=0.1)),
    "adam": (lambda: O.adam(), lambda: optax.adam(1e-3)),
    "adam_scheduled": (lambda: O.adam(SCHED), lambda: optax.adam(SCHED)),
    # optax's warmup_cosine_decay_schedule returns float32 rates even with x64,
    # so here float64 agrees only to float32 precision (see OVERRIDE_TOL)
    "adam_optax_schedule": (
        lambda: O.adam(S.warmup_cosine(5, 20, lr_max=0.05, lr_min=1e-4)),
        lambda: optax.adam(optax.warmup_cosine_decay_schedule(0.0, 0.05, 5, 20, 1e-4))),
    "nadam": (lambda: O.adam(0.01, b1=0.8, b2=0.99, eps_root=1e-8, nesterov=True),
              lambda: optax.adam(0.01, b1=0.8, b2=0.99, eps_root=1e-8, nesterov=True)),
    "adamw": (lambda: O.adamw(0.01), lambda: optax.adamw(0.01)),
    "adamw_scheduled_masked": (lambda: O.adamw(SCHED, weight_decay=0.1, mask=_no_bias),
                               lambda: optax.adamw(SCHED, weight_decay=0.1, mask=_no_bias)),
    "clip_by_global_norm_adam": (lambda: O.chain(O.clip_by_global_norm(1.0), O.adam(0.01)),
                                 lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.01))),
    "clip_sgd_momentum": (lambda: O.chain(O.clip(0.3), O.sgd(0.1, momentum=0.5)),
                          lambda: optax.chain(optax.clip(0.3), optax.sgd(0.1, 0.5))),
    "unclipped_decayed_weights_scheduled": (
        lambda: O.chain(O.clip_by_global_norm(100.0),
                        O.add_decayed_weights(S.cosine_annealing(15, lr_min=0.0, lr_max=0.1)), O.sgd(0.1)),
        lambda: optax.chain(optax.clip_by_global_norm(100.0),
                            optax.add_decayed_weights(S.cosine_annealing(15, lr_min=0.0, lr_max=0.1)),
                            optax.sgd(0.1))),
}


OVERRIDE_TOL = {("adam_optax_schedule", "float64"): (1e-6, 1e-8)}


def _settle(tree):
    """Dask: compute a tree's lazy leaves together, so graphs stay short (a no-op elsewhere)."""
    leaves, treedef = tree_flatten(tree)
    if not any(backend_of(x) == "dask" for x in leaves):
        return tree
    import dask

    return treedef.unflatten(dask.persist(*leaves))


def _run(opt, params, grads, put, apply):
    p = put(params)
    state = opt.init(p)
    for i, g in enumerate(grads):
        updates, state = opt.update(put(g), state, p)
        p = apply(p, updates)
        if i % 5 == 4:
            p, state = _settle((p, state))
    return _settle((p, state, updates))


@functools.lru_cache(maxsize=None)
def _optax_result(name, dtype):
    params, grads = _problem(dtype)
    put = functools.partial(tree_map, jnp.asarray)
    out = _run(CONFIGS[name][1](), params, grads, put, optax.apply_updates)
    return jax.tree_util.tree_map(np.asarray, out)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_optax(name, backend, float_dtype):
    dt = dtype_name(float_dtype)
    params, grads = _problem(dt)
    put = functools.partial(tree_map, backend.asarray)
    got_p, got_s, got_u = _run(CONFIGS[name][0](), params, grads, put, O.apply_updates)
    want_p, want_s, want_u = _optax_result(name, dt)
    rtol, atol = OVERRIDE_TOL.get((name, dt), tolerance(TOL, dt))
    assert_close(got_p, want_p, rtol=rtol, atol=atol, err_msg=f"{name} params")
    assert_close(got_u, want_u, rtol=rtol, atol=atol, err_msg=f"{name} last updates")
    # The state holds the same numbers in the same order (counts included; for
    # masked adamw optax wraps the state, so its leaves are compared as lists).
    got_leaves, want_leaves = tree_leaves(got_s), tree_leaves(want_s)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        assert backend_of(g) == backend.name, f"{name}: state leaf is {type(g).__name__}"
        assert dtype_name(g.dtype) == dtype_name(w.dtype)
        assert_close(g, w, rtol=rtol, atol=atol, err_msg=f"{name} state")
    for leaf in tree_leaves(got_p):
        assert dtype_name(leaf.dtype) == dt


def test_count_is_a_0d_int32_array_on_the_backend(backend):
    params = {"w": backend.asarray(np.ones(3))}
    state = O.adam(0.1).init(params)
    count = state[0].count
    assert backend_of(count) == backend.name and tuple(count.shape) == () and dtype_name(count.dtype) == "int32"
    _, state = O.adam(0.1).update(params, state, params)
    assert int(backend.to_numpy(state[0].count)) == 1


def test_count_saturates_instead_of_overflowing(xp):
    opt = O.scale_by_schedule(lambda count: 1.0)
    top = xp.iinfo(xp.int32).max
    _, state = opt.update({"w": xp.ones(2)}, O.ScaleByScheduleState(xp.asarray(top, dtype=xp.int32)))
    assert int(state.count) == top


def test_state_and_updates_stay_on_the_params_device(backend):
    be = other_device(backend)
    if be is None:
        pytest.skip(f"{backend.name} has a single device here")
    from array_api_compat import device

    params, grads = _problem("float64")
    put = functools.partial(tree_map, be.asarray)
    for name in ("adam_scheduled", "rmsprop_centered_nesterov", "clip_by_global_norm_adam",
                 "unclipped_decayed_weights_scheduled", "adagrad"):
        p, state, updates = _run(CONFIGS[name][0](), params, grads[:3], put, O.apply_updates)
        for leaf in tree_leaves((p, state, updates)):
            assert device(leaf) == be.device, f"{name}: a leaf on {device(leaf)}, params on {be.device}"


@pytest.mark.backends("jax")
@pytest.mark.parametrize("name", ["sgd_nesterov_scheduled", "adagrad", "rmsprop_centered_nesterov",
                                  "adamw_scheduled_masked", "clip_by_global_norm_adam", "unclipped_decayed_weights_scheduled"])
def test_jitted_update_equals_eager(name, backend):
    params, grads = _problem("float64")
    opt = CONFIGS[name][0]()
    put = functools.partial(tree_map, backend.asarray)
    eager = _run(opt, params, grads[:6], put, O.apply_updates)
    jitted = _run(O.GradientTransformation(jax.jit(opt.init), jax.jit(opt.update)), params, grads[:6], put,
                  jax.jit(O.apply_updates))
    assert_close(jitted, eager, rtol=1e-13, atol=1e-15)


@pytest.mark.backends("jax")
def test_training_step_under_jit_and_scan(backend):
    """A whole jitted loop (``lax.scan`` over steps) equals the eager loop."""
    params, grads = _problem("float64")
    opt = O.adam(SCHED)
    put = functools.partial(tree_map, backend.asarray)
    eager_p, _, _ = _run(opt, params, grads, put, O.apply_updates)

    def body(carry, g):
        p, s = carry
        u, s = opt.update(g, s, p)
        return (O.apply_updates(p, u), s), None

    p0 = put(params)
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[put(g) for g in grads])
    (scan_p, _), _ = jax.jit(lambda p, gs: jax.lax.scan(body, (p, opt.init(p)), gs))(p0, stacked)
    assert_close(scan_p, eager_p, rtol=1e-12, atol=1e-14)


class Params(NamedTuple):
    w: object
    b: object


@functools.partial(jax.tree_util.register_dataclass, data_fields=["kernel", "bias"], meta_fields=[])
@dataclasses.dataclass
class Dense:
    kernel: object
    bias: object


@pytest.mark.backends("jax")
def test_accepts_jax_pytrees(backend):
    """NamedTuples and registered dataclasses (flax.struct-like) work as in optax."""
    rng = np.random.default_rng(0)
    params = {"dense": Dense(jnp.asarray(rng.normal(size=(3, 2))), jnp.asarray(rng.normal(size=2))),
              "head": Params(jnp.asarray(rng.normal(size=2)), jnp.asarray(0.5))}
    grads = jax.tree_util.tree_map(lambda x: jnp.asarray(rng.normal(size=x.shape)), params)
    ours, theirs = O.adamw(0.1, weight_decay=0.01), optax.adamw(0.1, weight_decay=0.01)
    u1, s1 = ours.update(grads, ours.init(params), params)
    u2, s2 = theirs.update(grads, theirs.init(params), params)
    assert isinstance(u1["dense"], Dense) and isinstance(u1["head"], Params)
    assert_close(O.apply_updates(params, u1), optax.apply_updates(params, u2), rtol=1e-12)
    assert_close(tree_leaves(s1), tree_leaves(s2), rtol=1e-12)


@pytest.mark.backends("jax")
def test_composes_with_optax_transformations(backend):
    """Our transformations sit inside ``optax.chain`` and optax's inside ours."""
    params, grads = _problem("float64")
    put = functools.partial(tree_map, jnp.asarray)
    want, _, _ = _run(optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.01)), params, grads[:5], put,
                      optax.apply_updates)
    mixed1 = optax.chain(O.clip_by_global_norm(1.0), optax.adam(0.01))
    mixed2 = O.chain(optax.clip_by_global_norm(1.0), O.adam(0.01))
    for opt in (mixed1, mixed2):
        got, _, _ = _run(opt, params, grads[:5], put, O.apply_updates)
        assert_close(got, want, rtol=1e-12)


def test_optimizer_wrapper_equals_functional_loop(backend):
    params, grads = _problem("float64")
    put = functools.partial(tree_map, backend.asarray)
    want, _, _ = _run(O.adam(SCHED), params, grads[:5], put, O.apply_updates)
    opt = O.Optimizer(O.adam(SCHED), put(params), jit=backend.jit)
    for g in grads[:5]:
        out = opt.step(put(g))
    assert out is opt.params
    assert_close(opt.params, want, rtol=1e-12, atol=1e-14)
    assert int(backend.to_numpy(opt.state[0].count)) == 5


# ------------------------------------------------------------ clipping edges
def test_clip_by_global_norm_of_zero_gradients_is_zero(xp):
    """No 0/0: the unused branch never divides by a zero norm (warnings are errors here)."""
    zeros = {"a": xp.zeros(3), "b": [xp.zeros((2, 2))]}
    updates, _ = O.clip_by_global_norm(1.0).update(zeros, O.EmptyState())
    assert_close(updates, tree_map(np.zeros_like, {"a": np.zeros(3), "b": [np.zeros((2, 2))]}))


def test_clip_by_global_norm_scales_to_max_norm(xp, float_dtype):
    g = {"a": xp.asarray([3.0, 0.0], dtype=float_dtype), "b": xp.asarray([[4.0]], dtype=float_dtype)}
    updates, _ = O.clip_by_global_norm(2.0).update(g, O.EmptyState())
    assert_close(updates, {"a": np.asarray([1.2, 0.0]), "b": np.asarray([[1.6]])})
    assert updates["a"].dtype == float_dtype
    assert_close(global_norm(updates), np.asarray(2.0))


def test_adagrad_zero_accumulator_gives_zero_update(xp):
    opt = O.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0)
    params = {"w": xp.asarray([1.0, 2.0])}
    g = {"w": xp.asarray([0.0, 3.0])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        updates, _ = opt.update(g, opt.init(params), params)
    assert_close(updates, {"w": np.asarray([0.0, -0.1])})


def test_apply_updates_keeps_params_dtype(xp):
    p = {"w": xp.ones(3, dtype=xp.float32)}
    u = {"w": xp.ones(3, dtype=xp.float64)}
    out = O.apply_updates(p, u)
    assert out["w"].dtype == xp.float32
    assert_close(out, {"w": np.full(3, 2.0, dtype=np.float32)})


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("make, exc, match", [
    (lambda: O.sgd(-0.1), ValueError, "learning_rate must be non-negative and finite; got learning_rate=-0.1"),
    (lambda: O.sgd(float("nan")), ValueError, "learning_rate"),
    (lambda: O.sgd("0.1"), TypeError, "learning_rate must be a real number or an array; got '0.1'"),
    (lambda: O.sgd(True), TypeError, "learning_rate must be a real number; got the bool True"),
    (lambda: O.sgd(0.1, momentum=1.0), ValueError, r"momentum must be finite and in \[0, 1\)"),
    # the reproduction: the error blames momentum (it used to blame trace's "decay")
    (lambda: O.sgd(0.1, momentum=1.5), ValueError, r"momentum must be finite and in \[0, 1\); got momentum=1.5"),
    (lambda: O.sgd(0.1, momentum=-0.5), ValueError, "momentum"),
    (lambda: O.sgd(0.1, momentum="0.9"), TypeError, "momentum must be a real number"),
    (lambda: O.rmsprop(0.1, momentum=1.5), ValueError, "momentum must be finite"),
    (lambda: O.sgd(0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov must be True or False"),
    (lambda: O.adam(eps="1e-8"), TypeError, "eps must be a real number"),
    (lambda: O.sgd(0.1, nesterov=True), ValueError, "nesterov=True needs a momentum"),
    (lambda: O.adam(b1=1.0), ValueError, r"b1 must be finite and in \[0, 1\); got b1=1.0"),
    (lambda: O.adam(b1=-0.1), ValueError, "b1"),
    (lambda: O.adam(b2=1.5), ValueError, "b2"),
    (lambda: O.adam(eps=-1e-8), ValueError, "eps"),
    (lambda: O.adamw(weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda: O.adagrad(0.1, initial_accumulator_value=-1.0), ValueError, "initial_accumulator_value"),
    (lambda: O.rmsprop(0.1, decay=1.0), ValueError, "decay"),
    (lambda: O.rmsprop(0.1, nesterov=True), ValueError, "nesterov"),
    (lambda: O.clip(-1.0), ValueError, "max_delta"),
    (lambda: O.clip_by_global_norm(0.0), ValueError, "max_norm must be positive and finite; got max_norm=0.0"),
    (lambda: O.chain(O.sgd(0.1), "adam"), TypeError, "argument 1 is not a gradient transformation"),
    (lambda: O.scale_by_schedule(0.1), TypeError, "step_size_fn must be callable"),
])
def test_bad_hyperparameters_raise_eagerly(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# ------------------------------------------------------------ grads that do not match the params
def _np_params():
    return {"w": np.ones(3), "b": np.zeros(2)}


@pytest.mark.parametrize("make", [lambda: O.sgd(0.1), lambda: O.sgd(0.1, momentum=0.9), lambda: O.adam(0.1),
                                  lambda: O.adagrad(0.1), lambda: O.rmsprop(0.1, centered=True),
                                  lambda: O.adamw(0.1)])
def test_grads_of_another_backend_are_refused(make):
    torch = pytest.importorskip("torch")
    params = _np_params()
    opt = make()
    state = opt.init(params)
    # one foreign leaf in a multi-leaf tree, and an all-foreign tree
    for grads in ({"w": np.ones(3), "b": torch.ones(2)}, {"w": torch.ones(3), "b": torch.ones(2)}):
        with pytest.raises(TypeError, match=r"grads leaf '\w' is a torch array \(Tensor\), but the matching leaf of "
                                            r"params is a numpy array .*to_backend"):
            opt.update(grads, state, params)


def test_numpy_grads_for_jax_params_are_refused():
    jnp = pytest.importorskip("jax.numpy")
    params = {"w": jnp.ones(3)}
    opt = O.adam(0.1)
    state = opt.init(params)
    with pytest.raises(TypeError, match="grads leaf 'w' is a numpy array .* jax array"):
        opt.update({"w": np.ones(3)}, state, params)
    # without params, the state (built from the params) is the reference
    with pytest.raises(TypeError, match="grads leaf 'w' is a numpy array .* optimizer state"):
        opt.update({"w": np.ones(3)}, state)


def test_grads_with_a_wrong_leaf_shape(xp):
    params = {"w": xp.ones(3), "b": xp.zeros(2)}
    for opt in (O.sgd(0.1), O.adam(0.1)):
        state = opt.init(params)
        with pytest.raises(ValueError, match=r"grads leaf 'b' has shape \(3,\), but the matching leaf of params "
                                             r"has shape \(2,\)"):
            opt.update({"w": xp.ones(3), "b": xp.ones(3)}, state, params)
    with pytest.raises(ValueError, match=r"updates leaf 'w' has shape \(1, 3\)"):
        O.apply_updates(params, {"w": xp.ones((1, 3)), "b": xp.zeros(2)})


def test_grads_with_another_tree_structure(xp):
    # on JAX this used to leak jax.tree_util's raw error
    params = {"w": xp.ones(3), "b": xp.zeros(2)}
    opt = O.adam(0.1)
    state = opt.init(params)
    with pytest.raises(ValueError, match="grads must have the tree structure of params"):
        opt.update({"w": xp.ones(3)}, state, params)
    with pytest.raises(ValueError, match="grads must have the tree structure of the optimizer state"):
        opt.update({"w": xp.ones(3), "b": xp.zeros(2), "c": xp.zeros(1)}, state)


def test_checks_do_not_break_jit():
    jax = pytest.importorskip("jax")
    params = {"w": jax.numpy.ones(3)}
    opt = O.adam(0.1)
    step = jax.jit(lambda g, s, p: opt.update(g, s, p))
    updates, _ = step({"w": jax.numpy.full(3, 2.0)}, opt.init(params), params)
    assert_close(updates["w"], np.full(3, -0.1), rtol=1e-6)


def test_decayed_weights_needs_params(xp):
    g = {"w": xp.ones(2)}
    opt = O.adamw(0.1)
    with pytest.raises(ValueError, match="needs the parameters"):
        opt.update(g, opt.init(g))


def test_init_on_empty_params_needs_an_array():
    with pytest.raises(ValueError, match="at least one array"):
        O.adam(0.1).init({})


def test_mixed_backends_in_one_tree():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="different backends"):
        O.adam(0.1).init({"a": np.ones(2), "b": torch.ones(2)})


def test_mismatched_grads_structure(xp):
    params = {"w": xp.ones(2), "b": xp.ones(1)}
    opt = O.sgd(0.1, momentum=0.9)
    with pytest.raises((ValueError, TypeError)):
        opt.update({"w": xp.ones(2)}, opt.init(params), params)


# ------------------------------------------------------------ end to end
# Adam with a warm-up + cosine schedule drives two convex problems to their
# known optimum.  Adam is no Newton method: after 200 steps the iterate is
# within ~5e-4 of the optimum, and the objective within ~1e-7 of its minimum.
STEPS = 200
E2E_SCHEDULE = S.warmup_cosine(20, STEPS, lr_max=0.2, lr_min=0.0)


def _minimise(backend, dtype, grad_fn, w0):
    opt = O.Optimizer(O.adam(E2E_SCHEDULE), {"w": backend.asarray(w0, dtype=dtype)}, jit=backend.jit)
    for i in range(STEPS):
        opt.step({"w": grad_fn(opt.params["w"])})
        if i % 10 == 9:
            opt.params, opt.state = _settle((opt.params, opt.state))
    return backend.to_numpy(opt.params["w"]).astype(np.float64)


def test_adam_warmup_cosine_minimises_a_quadratic(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5))
    A_host = a @ a.T / 5 + np.eye(5)
    c_host = rng.normal(size=5)
    A, c = backend.asarray(A_host, dtype=dt), backend.asarray(c_host, dtype=dt)
    w = _minimise(backend, dt, lambda w: A @ (w - c), np.zeros(5))
    np.testing.assert_allclose(w, c_host, atol=2e-3)
    gap = 0.5 * (w - c_host) @ A_host @ (w - c_host)  # f(w) - f(c)
    assert gap < 1e-6


def test_adam_warmup_cosine_fits_logistic_regression(backend, float_dtype):
    """Mean log-loss + (alpha/2)|w|^2 (intercept free), gradient by hand, vs scikit-learn."""
    LogisticRegression = pytest.importorskip("sklearn.linear_model").LogisticRegression

    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(5)
    n, d, alpha = 200, 3, 0.05
    X_host = rng.normal(size=(n, d))
    y_host = (X_host @ np.array([1.5, -2.0, 0.5]) + 0.3 + rng.normal(size=n) > 0).astype(float)
    ref = LogisticRegression(C=1.0 / (n * alpha), tol=1e-12, max_iter=10_000).fit(X_host, y_host)
    want = np.concatenate([ref.coef_.ravel(), ref.intercept_])
    X1_host = np.hstack([X_host, np.ones((n, 1))])
    pen_host = np.r_[np.full(d, alpha), 0.0]

    xp = backend.xp
    X1, y = backend.asarray(X1_host, dtype=dt), backend.asarray(y_host, dtype=dt)
    X1T = xp.permute_dims(X1, (1, 0))
    pen = backend.asarray(pen_host, dtype=dt)

    def grad(w):
        p = 1.0 / (1.0 + xp.exp(-(X1 @ w)))
        return X1T @ (p - y) / n + pen * w

    def objective(w):
        z = X1_host @ w
        return np.mean(np.logaddexp(0.0, z) - y_host * z) + 0.5 * np.sum(pen_host * w * w)

    w = _minimise(backend, dt, grad, np.zeros(d + 1))
    np.testing.assert_allclose(w, want, atol=2e-3)
    assert objective(w) - objective(want) < 1e-7


def test_adagrad_propagates_a_nan_gradient_as_optax(xp):
    """A NaN gradient gives a NaN update (optax's 0 * NaN), and later steps follow optax too."""
    grads = [np.array([np.nan, 1.0]), np.array([0.5, 2.0]), np.array([1.0, -1.0])]
    opt, ref = O.adagrad(0.1), optax.adagrad(0.1)
    params = {"w": xp.asarray([1.0, 2.0])}
    state, rstate = opt.init(params), ref.init({"w": jnp.asarray([1.0, 2.0])})
    for g in grads:
        updates, state = opt.update({"w": xp.asarray(g)}, state, params)
        rupdates, rstate = ref.update({"w": jnp.asarray(g)}, rstate)
        want = np.asarray(rupdates["w"])
        got = pml.backend.to_numpy(updates["w"])  # CuPy refuses np.asarray
        np.testing.assert_array_equal(np.isnan(np.asarray(got, dtype=np.float64)), np.isnan(want))
        assert_close({"w": np.nan_to_num(np.asarray(got, dtype=np.float64), nan=7.0)},
                     {"w": np.nan_to_num(want, nan=7.0)}, rtol=1e-6)  # optax's rsqrt vs our 1/sqrt
