"""The optimizers and wrappers of issue 16 against optax, on every backend, in float32 and float64.

The reference is optax itself, run on JAX (CPU, x64) with the same
arguments (defaults included), the same nested parameter tree and the same
fresh random gradients at each of 12 steps; parameters, last updates and
every state leaf are compared.  Then: NaN/inf gradients give what optax
gives, cases ported from optax's own tests (``alias_test.py``,
``_accumulation_test.py``, ``lookahead_test.py``, ``_masking_test.py``),
``sgd(dampening=)`` against ``torch.optim.SGD``, the noise of ``noisy_sgd``,
jitted steps that compile once, and bad arguments.
"""

import functools

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import optimizers as O
from portable_ml import schedules as S
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name
from portable_ml.tree import tree_flatten, tree_leaves, tree_map

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
jnp = jax.numpy

N_STEPS = 12
# float32: Adam-type steps divide by small second moments, so ulp-level differences in the
# moments (summation order, fused operations) reach ~1e-5 absolute in the parameters over 12 steps
TOL = {"float32": (1e-4, 1e-5), "float64": (1e-11, 1e-13)}


def _host_tree(rng):
    """A dict of lists of dicts of arrays, a 0-d leaf, and a matrix Adafactor factors (min_dim_size_to_factor=3)."""
    return {"layers": [{"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}], "scale": rng.normal(size=()),
            "M": rng.normal(size=(3, 5, 2))}


def _problem(dtype, n=N_STEPS, seed=1234):
    rng = np.random.default_rng(seed)
    params = tree_map(lambda x: np.asarray(x, dtype), _host_tree(rng))
    grads = [tree_map(lambda x: np.asarray(rng.normal(size=x.shape), dtype), params) for _ in range(n)]
    return params, grads


def _no_bias(params):
    return {"layers": [{"W": True, "b": False}], "scale": True, "M": True}


MASK = {"layers": [{"W": True, "b": False}], "scale": False, "M": True}
PREFIX_MASK = {"layers": True, "scale": False, "M": True}
SCHED = S.warmup_cosine(3, 12, lr_max=0.05, lr_min=1e-4)
OPTAX_SCHED = optax.warmup_cosine_decay_schedule(0.0, 0.05, 3, 12, 1e-4)


def _f64(dt):
    return jnp.float64 if dt == "float64" else jnp.float32


# name -> (ours, optax) factories with the same arguments; a factory takes the dtype name (some
# optax defaults are dtype-dependent: MultiSteps accumulates in float32 unless told otherwise)
CONFIGS = {
    "nadam": (lambda dt: O.nadam(0.01), lambda dt: optax.nadam(0.01)),
    "nadam_options": (lambda dt: O.nadam(SCHED, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8),
                      lambda dt: optax.nadam(SCHED, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-8)),
    "radam": (lambda dt: O.radam(0.01), lambda dt: optax.radam(0.01)),
    # b2 = 0.9: rho_t crosses the threshold within the run, so both branches are taken
    "radam_rectified": (lambda dt: O.radam(SCHED, b2=0.9, threshold=4.0, nesterov=True, eps_root=1e-8),
                        lambda dt: optax.radam(SCHED, b2=0.9, threshold=4.0, nesterov=True, eps_root=1e-8)),
    "adamax": (lambda dt: O.adamax(0.01), lambda dt: optax.adamax(0.01)),
    "adamax_options": (lambda dt: O.adamax(SCHED, b1=0.5, b2=0.9, eps=1e-3),
                       lambda dt: optax.adamax(SCHED, b1=0.5, b2=0.9, eps=1e-3)),
    "adabelief": (lambda dt: O.adabelief(0.01), lambda dt: optax.adabelief(0.01)),
    "adabelief_nesterov": (lambda dt: O.adabelief(SCHED, b1=0.8, eps=1e-8, eps_root=1e-10, nesterov=True),
                           lambda dt: optax.adabelief(SCHED, b1=0.8, eps=1e-8, eps_root=1e-10, nesterov=True)),
    "amsgrad": (lambda dt: O.amsgrad(0.01), lambda dt: optax.amsgrad(0.01)),
    "amsgrad_uncorrected": (
        lambda dt: O.amsgrad(0.01, b2=0.9, eps_root=1e-8, bias_correction_mu=False, bias_correction_nu=False),
        lambda dt: optax.amsgrad(0.01, b2=0.9, eps_root=1e-8, bias_correction_mu=False, bias_correction_nu=False)),
    "adam_amsgrad": (lambda dt: O.adam(0.01, amsgrad=True), lambda dt: optax.amsgrad(0.01)),
    "yogi": (lambda dt: O.yogi(0.01), lambda dt: optax.yogi(0.01)),
    "yogi_options": (lambda dt: O.yogi(SCHED, b1=0.5, b2=0.9, eps=1e-6),
                     lambda dt: optax.yogi(SCHED, b1=0.5, b2=0.9, eps=1e-6)),
    "lion": (lambda dt: O.lion(0.01), lambda dt: optax.lion(0.01)),
    "lion_masked": (lambda dt: O.lion(SCHED, b1=0.5, b2=0.9, weight_decay=0.1, mask=_no_bias),
                    lambda dt: optax.lion(SCHED, b1=0.5, b2=0.9, weight_decay=0.1, mask=_no_bias)),
    "lamb": (lambda dt: O.lamb(0.01), lambda dt: optax.lamb(0.01)),
    "lamb_decay": (lambda dt: O.lamb(SCHED, eps=1e-8, weight_decay=0.1, mask=_no_bias),
                   lambda dt: optax.lamb(SCHED, eps=1e-8, weight_decay=0.1, mask=_no_bias)),
    "lars": (lambda dt: O.lars(0.1), lambda dt: optax.lars(0.1)),
    "lars_masked": (
        lambda dt: O.lars(SCHED, weight_decay=0.1, weight_decay_mask=_no_bias, trust_coefficient=0.01, eps=1e-6,
                          trust_ratio_mask=MASK, momentum=0.5, nesterov=True),
        lambda dt: optax.lars(SCHED, weight_decay=0.1, weight_decay_mask=_no_bias, trust_coefficient=0.01, eps=1e-6,
                              trust_ratio_mask=MASK, momentum=0.5, nesterov=True)),
    "adadelta_rate": (lambda dt: O.adadelta(0.5), lambda dt: optax.adadelta(0.5)),
    # our default rate None is 1 (a descent); optax's None skips the sign flip too
    "adadelta_default": (lambda dt: O.adadelta(), lambda dt: optax.adadelta(1.0)),
    "adadelta_decay": (lambda dt: O.adadelta(SCHED, rho=0.8, eps=1e-4, weight_decay=0.1, weight_decay_mask=_no_bias),
                       lambda dt: optax.adadelta(SCHED, rho=0.8, eps=1e-4, weight_decay=0.1,
                                                 weight_decay_mask=_no_bias)),
    "adafactor": (lambda dt: O.adafactor(), lambda dt: optax.adafactor()),
    "adafactor_factored": (
        lambda dt: O.adafactor(0.01, min_dim_size_to_factor=3, decay_rate=0.7,
                               clipping_threshold=0.5, momentum=0.9, dtype_momentum=dt, weight_decay_rate=0.01,
                               weight_decay_mask=_no_bias),
        lambda dt: optax.adafactor(0.01, min_dim_size_to_factor=3, decay_rate=0.7,
                                   clipping_threshold=0.5, momentum=0.9, dtype_momentum=_f64(dt),
                                   weight_decay_rate=0.01, weight_decay_mask=_no_bias)),
    "adafactor_plain": (
        lambda dt: O.adafactor(SCHED, multiply_by_parameter_scale=False, clipping_threshold=None, factored=False),
        lambda dt: optax.adafactor(OPTAX_SCHED, multiply_by_parameter_scale=False, clipping_threshold=None,
                                   factored=False)),
    "sgd_dampening_off": (lambda dt: O.sgd(0.1, momentum=0.9, dampening=0.0), lambda dt: optax.sgd(0.1, 0.9)),
    # optax accumulates in float32 by default (also for float64 parameters); ours in the gradients' dtype
    "multi_steps": (lambda dt: O.multi_steps(O.adam(0.1), 3, accumulator_dtype="float32"),
                    lambda dt: optax.MultiSteps(optax.adam(0.1), 3).gradient_transformation()),
    "multi_steps_default_dtype": (
        lambda dt: O.multi_steps(O.adamw(SCHED, weight_decay=0.1), 2),
        lambda dt: optax.MultiSteps(optax.adamw(SCHED, weight_decay=0.1), 2,
                                    accumulator_dtype=_f64(dt)).gradient_transformation()),
    "multi_steps_sum_schedule": (
        lambda dt: O.multi_steps(O.sgd(0.1, momentum=0.9), lambda s: 1 + s % 3, use_grad_mean=False,
                                 accumulator_dtype="float32"),
        lambda dt: optax.MultiSteps(optax.sgd(0.1, 0.9), lambda s: 1 + s % 3, use_grad_mean=False)
        .gradient_transformation()),
    "multi_steps_skip": (
        lambda dt: O.multi_steps(O.adam(0.1), 2, should_skip_update_fn=O.skip_not_finite, accumulator_dtype="float32"),
        lambda dt: optax.MultiSteps(optax.adam(0.1), 2, should_skip_update_fn=optax.skip_not_finite)
        .gradient_transformation()),
    "apply_every": (lambda dt: O.chain(O.apply_every(3), O.sgd(0.1)),
                    lambda dt: optax.chain(optax.apply_every(3), optax.sgd(0.1))),
    "apply_every_default": (lambda dt: O.chain(O.apply_every(), O.adam(0.1)),
                            lambda dt: optax.chain(optax.apply_every(), optax.adam(0.1))),
    "masked": (lambda dt: O.masked(O.adam(0.1), MASK), lambda dt: optax.masked(optax.adam(0.1), MASK)),
    "masked_prefix": (lambda dt: O.masked(O.sgd(0.1, momentum=0.9), PREFIX_MASK),
                      lambda dt: optax.masked(optax.sgd(0.1, 0.9), PREFIX_MASK)),
    "masked_fn_needs_params": (lambda dt: O.chain(O.masked(O.adamw(0.1, weight_decay=0.5), _no_bias), O.sgd(0.1)),
                               lambda dt: optax.chain(optax.masked(optax.adamw(0.1, weight_decay=0.5), _no_bias),
                                                      optax.sgd(0.1))),
    "ema": (lambda dt: O.ema(0.9), lambda dt: optax.ema(0.9)),
    "ema_raw": (lambda dt: O.ema(0.5, debias=False, accumulator_dtype=dt),
                lambda dt: optax.ema(0.5, debias=False, accumulator_dtype=_f64(dt))),
    "inject_hyperparams_adam": (
        lambda dt: O.inject_hyperparams(O.adam)(learning_rate=SCHED, b1=0.8),
        lambda dt: optax.inject_hyperparams(optax.adam)(learning_rate=SCHED, b1=0.8)),
    "inject_hyperparams_sgd": (
        lambda dt: O.inject_hyperparams(O.sgd, static_args="nesterov")(0.1, momentum=0.9, nesterov=True),
        lambda dt: optax.inject_hyperparams(optax.sgd, static_args="nesterov")(0.1, momentum=0.9, nesterov=True)),
}

# Adafactor: optax computes its decay rate in float32 with XLA's pow, whose last bit differs from a
# correctly rounded one at some steps (t = 4 for decay_rate=0.8); that one float32 ulp
# (6e-8 relative) reaches the float64 results, so float64 agrees to ~1e-8 there.
OVERRIDE_TOL = {("adafactor", "float64"): (1e-7, 1e-9), ("adafactor_factored", "float64"): (1e-7, 1e-9),
                ("adafactor_plain", "float64"): (1e-7, 1e-9)}
# optax's states that hold Python placeholders or differ in container only: compared as leaf lists
STATE_UNCOMPARED = {"inject_hyperparams_adam", "inject_hyperparams_sgd"}


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
    updates = None
    for i, g in enumerate(grads):
        updates, state = opt.update(put(g), state, p)
        p = apply(p, updates)
        if i % 4 == 3:
            p, state = _settle((p, state))
    return _settle((p, state, updates))


@functools.lru_cache(maxsize=None)
def _optax_result(name, dtype, nonfinite=False):
    params, grads = _nonfinite_problem(dtype) if nonfinite else _problem(dtype)
    put = functools.partial(tree_map, jnp.asarray)
    with jax.enable_x64(True):  # float64 references also when no JAX backend switched x64 on
        opt = CONFIGS[name][1](dtype)
        opt = optax.GradientTransformation(opt.init, jax.jit(opt.update))  # the reference, compiled once
        out = _run(opt, params, grads, put, jax.jit(optax.apply_updates))
        return jax.tree_util.tree_map(np.asarray, out)


def _numeric_leaves(tree):
    return [x for x in tree_leaves(tree) if hasattr(x, "dtype")]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_matches_optax(name, backend, float_dtype):
    dt = dtype_name(float_dtype)
    params, grads = _problem(dt)
    put = functools.partial(tree_map, backend.asarray)
    got_p, got_s, got_u = _run(CONFIGS[name][0](dt), params, grads, put, O.apply_updates)
    want_p, want_s, want_u = _optax_result(name, dt)
    rtol, atol = OVERRIDE_TOL.get((name, dt), TOL[dt])
    assert_close(got_p, want_p, rtol=rtol, atol=atol, err_msg=f"{name} params")
    assert_close(got_u, want_u, rtol=rtol, atol=atol, err_msg=f"{name} last updates")
    for leaf in tree_leaves(got_p):
        assert dtype_name(leaf.dtype) == dt
    got_leaves, want_leaves = _numeric_leaves(got_s), _numeric_leaves(want_s)
    for g in got_leaves:
        assert backend_of(g) == backend.name, f"{name}: state leaf is {type(g).__name__}"
    if name in STATE_UNCOMPARED:
        return
    assert len(got_leaves) == len(want_leaves), f"{name}: {len(got_leaves)} state leaves, optax {len(want_leaves)}"
    for g, w in zip(got_leaves, want_leaves):
        assert dtype_name(g.dtype) == dtype_name(w.dtype), f"{name}: state dtype {g.dtype} vs {w.dtype}"
        assert_close(g, w, rtol=rtol, atol=atol, err_msg=f"{name} state")


def test_inject_hyperparams_state_holds_the_current_values(xp):
    """``state.hyperparams`` as optax's: the scheduled rate at the last step, the constants as given."""
    params, grads = _problem("float64", n=4)
    put = functools.partial(tree_map, xp.asarray)
    opt = O.inject_hyperparams(O.adam)(learning_rate=SCHED, b1=0.8)
    _, state, _ = _run(opt, params, grads, put, O.apply_updates)
    ref = optax.inject_hyperparams(optax.adam)(learning_rate=SCHED, b1=0.8)
    with jax.enable_x64(True):
        _, want, _ = _run(ref, params, grads, functools.partial(tree_map, jnp.asarray), optax.apply_updates)
        want = jax.tree_util.tree_map(np.asarray, want)
    assert sorted(state.hyperparams) == sorted(want.hyperparams)
    for k in want.hyperparams:
        assert_close(state.hyperparams[k], np.asarray(want.hyperparams[k]), rtol=1e-12, err_msg=k)
    assert int(pml.backend.to_numpy(state.count)) == 4
    # changing a hyperparameter in the state changes the next step (the point of the wrapper)
    p = put(params)
    st = opt.init(p)
    st.hyperparams["learning_rate"] = xp.asarray(0.0, dtype=xp.float64)
    u, _ = O.inject_hyperparams(O.adam)(learning_rate=0.1, b1=0.8).update(put(grads[0]), st, p)
    assert_close(u, tree_map(np.zeros_like, params))


# ------------------------------------------------------------ non-finite gradients
def _nonfinite_problem(dtype):
    params, grads = _problem(dtype, n=6)
    grads[1]["layers"][0]["b"] = grads[1]["layers"][0]["b"].copy()
    grads[1]["layers"][0]["b"][1] = np.nan
    grads[3]["M"] = grads[3]["M"].copy()
    grads[3]["M"][0, 0, 0] = np.inf
    # (not in the 0-d leaf: JAX multiplies a 0-d False by a 0-d inf to 0, but to NaN in arrays of any
    # other shape, and optax's flag products inherit that quirk)
    grads[4]["layers"][0]["W"] = grads[4]["layers"][0]["W"].copy()
    grads[4]["layers"][0]["W"][2, 1] = -np.inf
    return params, grads


NONFINITE = ["nadam", "radam", "adamax", "adabelief", "amsgrad", "yogi", "lion", "lamb", "lars", "adadelta_rate",
             "adafactor_factored", "multi_steps", "multi_steps_skip", "apply_every", "masked", "ema",
             "inject_hyperparams_adam"]


@pytest.mark.parametrize("name", NONFINITE)
def test_nonfinite_gradients_as_optax(name, backend):
    """NaN and ±inf gradients propagate (or are skipped) exactly where optax's do."""
    params, grads = _nonfinite_problem("float64")
    put = functools.partial(tree_map, backend.asarray)
    with np.errstate(all="ignore"):
        got = _run(CONFIGS[name][0]("float64"), params, grads, put, O.apply_updates)
    want = _optax_result(name, "float64", nonfinite=True)
    for g, w in zip(_numeric_leaves(got), _numeric_leaves(want)):
        g = np.asarray(pml.backend.to_numpy(g), dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{name}: NaN pattern")
        np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w), err_msg=f"{name}: +inf pattern")
        np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w), err_msg=f"{name}: -inf pattern")
        fin = np.isfinite(w)
        rtol, atol = OVERRIDE_TOL.get((name, "float64"), TOL["float64"])
        np.testing.assert_allclose(g[fin], w[fin], rtol=max(rtol, 1e-10), atol=atol, err_msg=name)


# ------------------------------------------------------------ optax's own test cases
def test_ema_cases_from_optax(xp):
    """optax ``_accumulation_test.test_ema`` / ``test_ema_debias``."""
    values, d = [5.0, 7.0], 0.9
    ema = O.ema(d, debias=False)
    state = ema.init(xp.asarray(values[0]))
    mean, state = ema.update(xp.asarray(values[0]), state)
    assert_close(mean, np.asarray((1 - d) * values[0]), rtol=1e-12)
    mean, _ = ema.update(xp.asarray(values[1]), state)
    assert_close(mean, np.asarray((1 - d) * (values[1] + d * values[0])), rtol=1e-12)
    ema = O.ema(d)
    state = ema.init(xp.asarray(values[0]))
    mean, state = ema.update(xp.asarray(values[0]), state)
    assert_close(mean, np.asarray(values[0]), rtol=1e-12)
    mean, state = ema.update(xp.asarray(values[1]), state)
    raw = (1 - d) * values[1] + d * (1 - d) * values[0]
    assert_close(mean, np.asarray(raw / (1 - d**2)), rtol=1e-12)
    assert_close(state.ema, np.asarray(raw), rtol=1e-12)  # the state is not debiased


def test_ema_of_parameters_is_polyak_averaging(xp):
    """The EMA of a parameter sequence equals the debiased weighted mean, by hand in float64."""
    rng = np.random.default_rng(0)
    seq = rng.normal(size=(6, 3))
    avg = O.ema(0.8)
    state = avg.init({"w": xp.asarray(seq[0])})
    for t in range(6):
        out, state = avg.update({"w": xp.asarray(seq[t])}, state)
    w = 0.2 * 0.8 ** np.arange(5, -1, -1)
    assert_close(out["w"], (w[:, None] * seq).sum(0) / (1 - 0.8**6), rtol=1e-12)


def test_skip_not_finite_cases_from_optax(xp):
    step = xp.zeros((), dtype=xp.int32)
    for bad in (float("inf"), -float("inf"), float("nan")):
        skip, st = O.skip_not_finite([xp.asarray(bad), xp.zeros(())], step, None)
        assert bool(skip) and bool(st["should_skip"]) and int(st["num_not_finite"]) == 1
    skip, st = O.skip_not_finite([xp.asarray(11.0), xp.zeros(())], step, None)
    assert not bool(skip) and int(st["num_not_finite"]) == 0


def test_multi_steps_cases_from_optax(xp):
    """``test_multi_steps_computes_mean`` and ``test_multi_steps_every_k_schedule``."""
    ms = O.MultiSteps(O.scale(1.0), 4, use_grad_mean=True)
    params = {"a": xp.zeros(())}
    state = ms.init(params)
    assert not bool(ms.has_updated(state))
    for i in (1, 2, 3):
        _, state = ms.update({"a": xp.asarray(float(i))}, state, params)
        assert not bool(ms.has_updated(state))
    new, state = ms.update({"a": xp.asarray(4.0)}, state, params)
    assert bool(ms.has_updated(state))
    assert_close(new["a"], np.asarray(2.5))

    ms = O.MultiSteps(O.sgd(1e-4), lambda step: xp.where(step < 2, xp.ones_like(step), 3))
    init, update = ms.gradient_transformation()
    state = init(params)
    grad = {"a": xp.zeros(())}
    for _ in range(2):
        _, state = update(grad, state, params)
        assert bool(ms.has_updated(state))
    for _ in range(3):
        for _ in range(2):
            _, state = update(grad, state, params)
            assert not bool(ms.has_updated(state))
        _, state = update(grad, state, params)
        assert bool(ms.has_updated(state))


def test_multi_steps_equals_one_big_batch(backend):
    """k mini-batch gradients averaged = the full-batch gradient: the inner optimizer sees the same steps."""
    params, grads = _problem("float64", n=8)
    put = functools.partial(tree_map, backend.asarray)
    got, _, _ = _run(O.multi_steps(O.adam(0.1), 2), params, grads, put, O.apply_updates)
    merged = [tree_map(lambda a, b: (a + b) / 2, grads[i], grads[i + 1]) for i in range(0, 8, 2)]
    want, _, _ = _run(O.adam(0.1), params, merged, put, O.apply_updates)
    assert_close(got, want, rtol=1e-12, atol=1e-14)


def _scaled_sgd(step):
    """optax ``lookahead_test._test_optimizer``: updates = step * grads, with a state."""
    return O.chain(O.scale(step), O.trace(0.0))


@pytest.mark.parametrize("sync_period, slow_step_size, want", [
    (3, 1 / 3, (1.0, -1.0)),  # test_lookahead: x 3 -> 2 -> 1 -> 2 (sync) -> 1 -> 0 -> 1 (sync)
    (1, 0.5, (1.0, -1.0)), (1, 0.0, (3.0, -3.0)), (1, 1.0, (-1.0, 1.0)), (2, 1.0, (-1.0, 1.0)),  # edge cases
])
def test_lookahead_cases_from_optax(xp, sync_period, slow_step_size, want):
    step = -0.5 if sync_period == 3 else -1.0
    n = 2 * sync_period if sync_period == 3 else 2
    opt = O.lookahead(_scaled_sgd(step), sync_period, slow_step_size)
    params = O.LookaheadParams.init_synced({"x": xp.asarray(3.0), "y": xp.asarray(-3.0)})
    grads = {"x": xp.asarray(2.0), "y": xp.asarray(-2.0)}
    state = opt.init(params)
    for _ in range(n):
        updates, state = opt.update(grads, state, params)
        params = O.apply_updates(params, updates)
    assert_close(params.slow, {"x": np.asarray(want[0]), "y": np.asarray(want[1])}, rtol=1e-12)


@pytest.mark.parametrize("reset_state", [False, True])
def test_lookahead_state_reset_from_optax(xp, reset_state):
    fast = O.sgd(0.5, momentum=0.9)
    opt = O.lookahead(fast, 3, 0.5, reset_state=reset_state)
    p0 = {"x": xp.asarray(3.0), "y": xp.asarray(-3.0)}
    grads = {"x": xp.asarray(2.0), "y": xp.asarray(-2.0)}
    params = O.LookaheadParams.init_synced(p0)
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update(grads, state, params)
        params = O.apply_updates(params, updates)
    if reset_state:
        want = fast.init(p0)
    else:
        want = fast.init(p0)
        p = p0
        for _ in range(3):
            u, want = fast.update(grads, want, p)
            p = O.apply_updates(p, u)
    assert_close(tree_leaves(state.fast_state), tree_leaves(want), rtol=1e-12)


def test_lookahead_matches_optax(xp):
    params, grads = _problem("float64", n=7)
    ours = O.lookahead(O.adam(0.1), 3, 0.4, reset_state=True)
    theirs = optax.lookahead(optax.adam(0.1), 3, 0.4, reset_state=True)
    got, _, _ = _run(ours, O.LookaheadParams.init_synced(params), grads, functools.partial(tree_map, xp.asarray),
                     O.apply_updates)
    with jax.enable_x64(True):
        want, _, _ = _run(theirs, optax.LookaheadParams.init_synced(params), grads,
                          functools.partial(tree_map, jnp.asarray), optax.apply_updates)
        want = jax.tree_util.tree_map(np.asarray, tuple(want))
    assert_close(tuple(got), tuple(jax.tree_util.tree_map(np.asarray, tuple(want))), rtol=1e-11, atol=1e-13)


def test_masked_inner_sees_only_the_selected_leaves(xp):
    """optax ``_masking_test``: the inner state has placeholders where the mask is false."""
    params = {"a": xp.ones(2), "b": [xp.ones(3), xp.ones(())]}
    opt = O.masked(O.adam(0.1), {"a": True, "b": [False, True]})
    state = opt.init(params)
    mu = state.inner_state[0].mu
    assert isinstance(mu["b"][0], O.MaskedNode)
    assert len(tree_leaves(mu)) == 2
    updates, _ = opt.update(tree_map(lambda p: 2 * p, params), state, params)
    assert_close(updates["b"][0], np.full(3, 2.0))  # passed through unchanged
    assert_close(updates["a"], np.full(2, -0.1), rtol=1e-6)


def test_apply_every_emits_the_sum(xp):
    """optax ``transform_test.test_apply_every``: k = 4, sgd(1) on constant gradients."""
    params = {"w": xp.zeros(2)}
    opt = O.chain(O.apply_every(4), O.sgd(1.0))
    state = opt.init(params)
    for i in range(8):
        updates, state = opt.update({"w": xp.ones(2)}, state, params)
        assert_close(updates["w"], np.full(2, -4.0 if i % 4 == 3 else 0.0))


# ------------------------------------------------------------ sgd(dampening=) = torch.optim.SGD
@pytest.mark.parametrize("momentum, dampening", [(0.9, 0.5), (0.5, 0.9), (0.9, 0.9), (0.3, 1.0)])
def test_sgd_dampening_matches_torch(backend, float_dtype, momentum, dampening):
    torch = pytest.importorskip("torch")
    dt = dtype_name(float_dtype)
    params, grads = _problem(dt, n=8)
    put = functools.partial(tree_map, backend.asarray)
    got, _, _ = _run(O.sgd(0.05, momentum=momentum, dampening=dampening), params, grads, put, O.apply_updates)
    leaves, treedef = tree_flatten(params)
    tp = [torch.nn.Parameter(torch.tensor(x)) for x in leaves]
    topt = torch.optim.SGD(tp, lr=0.05, momentum=momentum, dampening=dampening)
    for g in grads:
        for p, x in zip(tp, tree_leaves(g)):
            p.grad = torch.tensor(x)
        topt.step()
    want = treedef.unflatten([p.detach().numpy() for p in tp])
    rtol, atol = TOL[dt]
    assert_close(got, want, rtol=rtol, atol=atol)


def test_sgd_dampening_is_the_sheets_moving_average_after_step_one(xp):
    """v_t = b v_{t-1} + (1 - b) g_t from v_1 = g_1 (PyTorch's buffer), by hand."""
    b, lr = 0.8, 0.1
    gs = [1.0, 2.0, -1.0, 0.5]
    opt = O.sgd(lr, momentum=b, dampening=b)
    params = {"w": xp.asarray(0.0)}
    state = opt.init(params)
    v = None
    for g in gs:
        v = g if v is None else b * v + (1 - b) * g
        u, state = opt.update({"w": xp.asarray(g)}, state, params)
        assert_close(u["w"], np.asarray(-lr * v), rtol=1e-12)


# ------------------------------------------------------------ noisy_sgd
def test_noisy_sgd_without_noise_is_sgd(xp):
    params, grads = _problem("float64", n=4)
    put = functools.partial(tree_map, xp.asarray)
    got, _, _ = _run(O.noisy_sgd(0.1, eta=0.0), params, grads, put, O.apply_updates)
    want, _, _ = _run(O.sgd(0.1), params, grads, put, O.apply_updates)
    assert_close(got, want, rtol=1e-14)


def test_noisy_sgd_noise_statistics_and_reproducibility(backend):
    """The noise at step t is N(0, eta / t^gamma): moments of 40 000 draws; the same draws on every backend."""
    eta, gamma, n = 0.3, 0.55, 40_000
    opt = O.noisy_sgd(1.0, eta=eta, gamma=gamma, key=7)
    params = {"a": backend.asarray(np.zeros(n)), "b": backend.asarray(np.zeros((2, 3)))}
    zeros = tree_map(lambda p: p * 0.0, params)
    state = opt.init(params)
    draws = []
    for t in (1, 2, 3):
        u, state = opt.update(zeros, state, params)
        z = -np.asarray(pml.backend.to_numpy(u["a"]), dtype=np.float64) / np.sqrt(eta / t**gamma)
        draws.append(z)
        assert abs(z.mean()) < 4 / np.sqrt(n)
        assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
        assert abs(np.mean(z**4) - 3) < 0.15  # Gaussian kurtosis
    assert abs(np.corrcoef(draws[0], draws[1])[0, 1]) < 4 / np.sqrt(n)  # fresh draws at each step
    # the same numbers on NumPy (the draws are integer arithmetic, then a float64 Box-Muller)
    ref = O.noisy_sgd(1.0, eta=eta, gamma=gamma, key=7)
    np_params = tree_map(lambda p: np.asarray(pml.backend.to_numpy(p)), params)
    s = ref.init(np_params)
    u_np, _ = ref.update(tree_map(np.zeros_like, np_params), s, np_params)
    assert_close(-draws[0] * np.sqrt(eta), u_np["a"], rtol=1e-12, atol=1e-14)
    # another key, other draws
    other = O.noisy_sgd(1.0, eta=eta, gamma=gamma, key=8)
    u2, _ = other.update(zeros, other.init(params), params)
    assert abs(np.corrcoef(np.asarray(pml.backend.to_numpy(u2["a"])), draws[0])[0, 1]) < 4 / np.sqrt(n)


# ------------------------------------------------------------ jit
JITTED = ["radam_rectified", "lars_masked", "adafactor_factored", "multi_steps_skip", "multi_steps_sum_schedule",
          "masked_prefix", "inject_hyperparams_adam", "apply_every", "ema_raw", "lion_masked"]


@pytest.mark.backends("jax")
@pytest.mark.parametrize("name", JITTED)
def test_jitted_update_equals_eager(name, backend):
    params, grads = _problem("float64", n=6)
    opt = CONFIGS[name][0]("float64")
    put = functools.partial(tree_map, backend.asarray)
    eager = _run(opt, params, grads, put, O.apply_updates)
    jitted = _run(O.GradientTransformation(jax.jit(opt.init), jax.jit(opt.update)), params, grads, put,
                  jax.jit(O.apply_updates))
    assert_close(jitted, eager, rtol=1e-13, atol=1e-15)


def _placements():
    base = {"w": jnp.ones((4, 2)), "b": jnp.zeros(2)}
    return {"uncommitted": base, "committed": jax.device_put(base, jax.devices()[-1])}


@pytest.mark.backends("jax")
@pytest.mark.parametrize("make", [
    lambda: O.radam(0.1), lambda: O.lion(0.1), lambda: O.adafactor(0.1, min_dim_size_to_factor=2),
    lambda: O.noisy_sgd(0.1, key=3), lambda: O.multi_steps(O.adam(0.1), 2),
    lambda: O.inject_hyperparams(O.adam)(learning_rate=SCHED), lambda: O.masked(O.adam(0.1), {"w": True, "b": False}),
    lambda: O.sgd(0.1, momentum=0.9, dampening=0.5), lambda: O.chain(O.apply_every(2), O.ema(0.9)),
], ids=["radam", "lion", "adafactor", "noisy_sgd", "multi_steps", "inject_hyperparams", "masked", "sgd_dampening",
        "apply_every_ema"])
def test_jitted_step_compiles_once(backend, make):
    """``init``'s state is uniformly committed like the parameters: a jitted step compiles once."""
    opt = make()
    for where, params in _placements().items():
        @jax.jit
        def step(p, s):
            u, s = opt.update(jax.tree_util.tree_map(lambda x: 2 * x, p), s, p)
            return O.apply_updates(p, u), s

        state = opt.init(params)
        assert len({x.committed for x in jax.tree_util.tree_leaves(state)}) == 1, f"{where}: mixed commitment"
        p = params
        for _ in range(3):
            p, state = step(p, state)
        assert step._cache_size() == 1, where


# ------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("make, exc, match", [
    (lambda: O.sgd(0.1, momentum=0.9, dampening=1.5), ValueError, r"dampening must be .*got dampening=1.5"),
    (lambda: O.sgd(0.1, momentum=0.9, dampening="0.5"), TypeError, "dampening must be a real number"),
    (lambda: O.sgd(0.1, dampening=0.5), ValueError, "dampening needs a momentum"),
    (lambda: O.sgd(0.1, momentum=0.9, nesterov=True, dampening=0.5), ValueError, "nesterov=True needs dampening=0"),
    (lambda: O.adam(0.1, amsgrad="yes"), TypeError, "amsgrad must be True or False"),
    (lambda: O.adam(0.1, amsgrad=True, nesterov=True), ValueError, "amsgrad=True cannot be combined"),
    (lambda: O.nadam(-0.1), ValueError, "learning_rate must be non-negative"),
    (lambda: O.radam(0.1, b2=1.0), ValueError, r"b2 must be finite and in \[0, 1\)"),
    (lambda: O.radam(0.1, threshold="5"), TypeError, "threshold must be a real number"),
    (lambda: O.adamax(0.1, eps=-1.0), ValueError, "eps"),
    (lambda: O.adabelief(0.1, eps_root=-1.0), ValueError, "eps_root"),
    (lambda: O.amsgrad(0.1, bias_correction_mu=1), TypeError, "bias_correction_mu must be True or False"),
    (lambda: O.yogi(0.1, b1=1.2), ValueError, "b1"),
    (lambda: O.lion(0.1, weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda: O.lamb(None), TypeError, "learning_rate"),
    (lambda: O.lars(0.1, trust_coefficient=-1.0), ValueError, "trust_coefficient"),
    (lambda: O.lars(0.1, momentum=1.0), ValueError, "decay"),
    (lambda: O.adadelta(0.1, rho=1.0), ValueError, "rho"),
    (lambda: O.adafactor(decay_offset=-1), ValueError, "step_offset"),
    (lambda: O.adafactor(min_dim_size_to_factor=1.5), TypeError, "min_dim_size_to_factor"),
    (lambda: O.adafactor(clipping_threshold=0.0), ValueError, "threshold must be positive"),
    (lambda: O.adafactor(momentum=0.9, dtype_momentum="int8"), ValueError, "accumulator_dtype"),
    (lambda: O.noisy_sgd(0.1, eta=-1.0), ValueError, "eta"),
    (lambda: O.noisy_sgd(0.1, key=1.5), TypeError, "key"),
    (lambda: O.ema(1.0), ValueError, "decay"),
    (lambda: O.ema(0.9, debias=None), TypeError, "debias must be True or False"),
    (lambda: O.apply_every(0), ValueError, "k must be"),
    (lambda: O.apply_every(2.5), TypeError, "k must be an int"),
    (lambda: O.masked("adam", {"w": True}), TypeError, "inner must be a gradient transformation"),
    (lambda: O.masked(O.adam(0.1), {}), ValueError, "mask must be"),
    (lambda: O.multi_steps(O.adam(0.1), 0), ValueError, "every_k_schedule"),
    (lambda: O.multi_steps(None, 2), TypeError, "opt must be a gradient transformation"),
    (lambda: O.multi_steps(O.adam(0.1), 2, use_grad_mean="yes"), TypeError, "use_grad_mean"),
    (lambda: O.multi_steps(O.adam(0.1), 2, should_skip_update_fn=3), TypeError, "should_skip_update_fn"),
    (lambda: O.lookahead(O.adam(0.1), 0, 0.5), ValueError, "sync_period"),
    (lambda: O.lookahead(O.adam(0.1), 2, 1.5), ValueError, "slow_step_size"),
    (lambda: O.inject_hyperparams(O.adam, static_args="nope"), ValueError, "static_args"),
    (lambda: O.inject_hyperparams(O.adam)(b3=0.5), TypeError, "adam: .*b3"),
    (lambda: O.inject_hyperparams(O.adam)(learning_rate=-1.0), ValueError, "learning_rate"),
])
def test_bad_arguments_raise_eagerly(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_wrappers_refuse_bad_inputs_at_update(xp):
    params = {"w": xp.ones(3), "b": xp.zeros(2)}
    opt = O.masked(O.adam(0.1), {"w": True, "c": False})
    with pytest.raises(ValueError, match="mask"):
        opt.init(params)
    opt = O.masked(O.adam(0.1), {"w": True, "b": 1})
    with pytest.raises(TypeError, match="mask leaves must be Python bools"):
        opt.init(params)
    la = O.lookahead(O.adam(0.1), 2, 0.5)
    with pytest.raises(TypeError, match="LookaheadParams"):
        la.update(params, la.init(params), params)
    for opt in (O.lamb(0.1), O.adafactor(), O.lars(0.1)):
        with pytest.raises(ValueError, match="needs the parameters"):
            opt.update(params, opt.init(params))
    ms = O.multi_steps(O.adam(0.1), 2)
    with pytest.raises(ValueError, match=r"grads leaf 'b' has shape \(3,\)"):
        ms.update({"w": xp.ones(3), "b": xp.ones(3)}, ms.init(params), params)
