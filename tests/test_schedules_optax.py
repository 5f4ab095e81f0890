"""The optax schedules of issue 16 against optax itself (JAX, x64), at Python and array steps on every backend."""

import numpy as np
import pytest

from portable_ml import schedules as S
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close

optax = pytest.importorskip("optax")
jax = pytest.importorskip("jax")
jnp = jax.numpy

STEPS = np.arange(0, 70)
SGDR = [dict(init_value=0.0, peak_value=1.0, warmup_steps=3, decay_steps=10, end_value=0.1),
        dict(init_value=0.5, peak_value=0.8, warmup_steps=0, decay_steps=15, exponent=2.0),
        dict(init_value=0.1, peak_value=0.3, warmup_steps=5, decay_steps=20)]

PAIRS = {
    "polynomial": (S.polynomial_schedule(1.0, 0.1, 2.0, 20, transition_begin=5),
                   optax.polynomial_schedule(1.0, 0.1, 2.0, 20, 5)),
    "polynomial_growing": (S.polynomial_schedule(-0.5, 2.0, 0.5, 33), optax.polynomial_schedule(-0.5, 2.0, 0.5, 33)),
    "polynomial_constant": (S.polynomial_schedule(1.0, 0.1, 2.0, 0), optax.polynomial_schedule(1.0, 0.1, 2.0, 0)),
    "linear": (S.linear_schedule(0.0, 1.0, 10, transition_begin=3), optax.linear_schedule(0.0, 1.0, 10, 3)),
    # optax schedule_test: linear from 10 to 20 over 4 steps
    "linear_optax_case": (S.linear_schedule(10.0, 20.0, 4), optax.linear_schedule(10.0, 20.0, 4)),
    "piecewise_constant": (S.piecewise_constant_schedule(0.1, {10: 0.5, 5: 2.0, 30: 0.0}),
                           optax.piecewise_constant_schedule(0.1, {10: 0.5, 5: 2.0, 30: 0.0})),
    # optax schedule_test: init 0.1, {3: 2., 6: 0.5}
    "piecewise_optax_case": (S.piecewise_constant_schedule(0.1, {3: 2.0, 6: 0.5}),
                             optax.piecewise_constant_schedule(0.1, {3: 2.0, 6: 0.5})),
    "piecewise_none": (S.piecewise_constant_schedule(0.3), optax.piecewise_constant_schedule(0.3)),
    "join": (S.join_schedules([S.constant(0.1), S.linear_schedule(0.1, 0.0, 10), S.constant(0.5)], [7, 20]),
             optax.join_schedules([optax.constant_schedule(0.1), optax.linear_schedule(0.1, 0.0, 10),
                                   optax.constant_schedule(0.5)], [7, 20])),
    "sgdr": (S.sgdr_schedule(SGDR), optax.sgdr_schedule(SGDR)),
    "onecycle": (S.cosine_onecycle_schedule(40, 0.5), optax.cosine_onecycle_schedule(40, 0.5)),
    "onecycle_options": (S.cosine_onecycle_schedule(7, 0.5, pct_start=0.1, div_factor=4.0, final_div_factor=10.0),
                         optax.cosine_onecycle_schedule(7, 0.5, 0.1, 4.0, 10.0)),
    "onecycle_no_rise": (S.cosine_onecycle_schedule(9, 1.0, pct_start=0.0), optax.cosine_onecycle_schedule(9, 1.0, 0.0)),
    "warmup_cosine_from_nonzero": (S.warmup_cosine(5, 30, lr_max=0.1, lr_min=0.01, lr_init=0.02),
                                   optax.warmup_cosine_decay_schedule(0.02, 0.1, 5, 30, 0.01)),
}


def _optax(ref):
    with jax.enable_x64(True):
        return np.asarray([float(ref(jnp.asarray(t))) for t in STEPS])


@pytest.mark.parametrize("name", list(PAIRS))
def test_python_steps_match_optax(name):
    ours, ref = PAIRS[name]
    got = [ours(int(t)) for t in STEPS]
    assert all(isinstance(v, float) for v in got)
    np.testing.assert_allclose(got, _optax(ref), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(PAIRS))
def test_array_steps_match_optax(name, xp):
    ours, ref = PAIRS[name]
    want = _optax(ref)
    got = ours(xp.asarray(STEPS, dtype=xp.int32))
    assert backend_of(got) == backend_of(xp.asarray(0))
    assert_close(got, want, rtol=1e-12, atol=1e-15)
    assert_close(ours(xp.asarray(12, dtype=xp.int32)), np.asarray(want[12]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["polynomial", "join", "sgdr", "onecycle", "warmup_cosine_from_nonzero"])
def test_under_jit(name):
    ours, _ = PAIRS[name]
    f = jax.jit(ours)
    for t in (0, 4, 17, 45):
        assert_close(f(jnp.asarray(t, dtype=jnp.int32)), np.asarray(ours(t)), rtol=1e-6)


def test_keras_warmup_from_a_nonzero_start():
    """Keras CosineDecay(initial_learning_rate=a, decay_steps=D, alpha, warmup_target=p, warmup_steps=W), its formula
    written out: linear a -> p over W steps, then p * ((1 - alpha) * 0.5 * (1 + cos(pi * min(t-W, D) / D)) + alpha)."""
    a, p, W, D, alpha = 0.01, 0.1, 8, 40, 0.05

    def keras(t):
        if t < W:
            return a + (p - a) * t / W
        c = min(t - W, D)
        return p * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * c / D)) + alpha)

    ours = S.warmup_cosine(W, W + D, lr_max=p, lr_min=alpha * p, lr_init=a)
    np.testing.assert_allclose([ours(t) for t in range(80)], [keras(t) for t in range(80)], rtol=1e-12)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: S.polynomial_schedule(1.0, 0.0, 1.0, -1), ValueError, "transition_steps"),
    (lambda: S.polynomial_schedule(1.0, 0.0, 1.0, 2.5), TypeError, "transition_steps"),
    (lambda: S.polynomial_schedule(1.0, 0.0, 1.0, 5, transition_begin=-2), ValueError, "transition_begin"),
    (lambda: S.polynomial_schedule("1", 0.0, 1.0, 5), TypeError, "init_value"),
    (lambda: S.linear_schedule(1.0, float("nan"), 5), ValueError, "end_value"),
    (lambda: S.piecewise_constant_schedule(0.1, {5: -1.0}), ValueError, "boundaries_and_scales value"),
    (lambda: S.piecewise_constant_schedule(0.1, [(5, 1.0)]), TypeError, "boundaries_and_scales must be a dict"),
    (lambda: S.join_schedules([S.constant(0.1)], [3]), ValueError, "boundaries must hold one step fewer"),
    (lambda: S.join_schedules([S.constant(0.1), 0.2], [3]), TypeError, r"schedules\[1\] must be callable"),
    (lambda: S.sgdr_schedule([dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=5)]), ValueError,
     "decay_steps must exceed warmup_steps"),
    (lambda: S.sgdr_schedule([dict(init_value=0.0, peak_value=1.0, decay_steps=5)]), ValueError, "missing"),
    (lambda: S.sgdr_schedule([]), ValueError, "at least one cycle"),
    (lambda: S.cosine_onecycle_schedule(0, 0.1), ValueError, "transition_steps"),
    (lambda: S.cosine_onecycle_schedule(10, 0.1, pct_start=1.5), ValueError, "pct_start"),
    (lambda: S.cosine_onecycle_schedule(10, 0.1, div_factor=0.0), ValueError, "div_factor"),
    (lambda: S.warmup_cosine(5, 10, lr_init=-0.1), ValueError, "lr_init"),
])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_steps():
    s = S.join_schedules([S.constant(0.1), S.constant(0.2)], [3])
    with pytest.raises(ValueError, match="step"):
        s(-1)
    with pytest.raises(TypeError, match="step"):
        S.cosine_onecycle_schedule(10, 0.1)(2.5)
