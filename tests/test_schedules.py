"""Learning-rate schedules against the formula sheets, written here in plain Python.

Each schedule is checked at many steps with Python-int steps (Python float
results), with integer-array steps on every backend (0-d and 1-D, array
results of the widest float on the step's device), under ``jax.jit`` with a
traced step, and against optax's equivalent schedule where optax has one.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portable_ml import schedules as S
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name
from portable_ml.testing.registry import tolerance

STEPS = list(range(0, 120)) + [150, 199, 200, 201, 1000, 12345]


# ------------------------------------------------------------ the sheets' formulas
def sheet_constant(t, value):
    return value


def sheet_step_decay(t, lr0, drop, step):
    return lr0 * drop ** math.floor(t / step)


def sheet_exponential_decay(t, lr0, k):
    return lr0 * math.exp(-k * t)


def sheet_time_based_decay(t, lr0, decay_rate):
    return lr0 / (1 + decay_rate * t)


def sheet_cosine_annealing(t, T, lr_min, lr_max):
    if t >= T:
        return lr_min
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t / T))


def sheet_warmup_cosine(t, T_warmup, T_total, lr_max, lr_min):
    if t < T_warmup:
        return lr_max * t / T_warmup
    return sheet_cosine_annealing(t - T_warmup, T_total - T_warmup, lr_min, lr_max)


def sheet_cyclical(t, step_size, lr_min, lr_max):
    cycle = math.floor(1 + t / (2 * step_size))
    x = abs(t / step_size - 2 * cycle + 1)
    return lr_min + (lr_max - lr_min) * max(0.0, 1 - x)


def sheet_warm_restarts(t, lr0, T_0, factor):
    return lr0 * factor ** (t % T_0)


# (schedule, its sheet formula as a function of t)
SCHEDULES = {
    "constant": (S.constant(0.03), lambda t: sheet_constant(t, 0.03)),
    "step_decay_default": (S.step_decay(), lambda t: sheet_step_decay(t, 0.1, 0.5, 10)),
    "step_decay": (S.step_decay(0.2, drop=0.7, step=13), lambda t: sheet_step_decay(t, 0.2, 0.7, 13)),
    "exponential_decay_default": (S.exponential_decay(), lambda t: sheet_exponential_decay(t, 0.1, 0.01)),
    "exponential_decay": (S.exponential_decay(0.5, k=0.003), lambda t: sheet_exponential_decay(t, 0.5, 0.003)),
    "time_based_decay": (S.time_based_decay(0.1, 0.05), lambda t: sheet_time_based_decay(t, 0.1, 0.05)),
    "cosine_annealing_default": (S.cosine_annealing(100), lambda t: sheet_cosine_annealing(t, 100, 1e-6, 0.1)),
    "cosine_annealing": (S.cosine_annealing(37, lr_min=0.01, lr_max=0.3),
                         lambda t: sheet_cosine_annealing(t, 37, 0.01, 0.3)),
    "warmup_cosine_default": (S.warmup_cosine(10, 200), lambda t: sheet_warmup_cosine(t, 10, 200, 1e-3, 1e-6)),
    "warmup_cosine": (S.warmup_cosine(7, 50, lr_max=0.2, lr_min=0.02),
                      lambda t: sheet_warmup_cosine(t, 7, 50, 0.2, 0.02)),
    "warmup_cosine_no_warmup": (S.warmup_cosine(0, 30, lr_max=0.1, lr_min=0.0),
                                lambda t: sheet_cosine_annealing(t, 30, 0.0, 0.1)),
    "cyclical_default": (S.cyclical(8), lambda t: sheet_cyclical(t, 8, 1e-4, 1e-2)),
    "cyclical": (S.cyclical(5, lr_min=0.001, lr_max=0.1), lambda t: sheet_cyclical(t, 5, 0.001, 0.1)),
    "warm_restarts_default": (S.warm_restarts(0.1, 10), lambda t: sheet_warm_restarts(t, 0.1, 10, 0.5)),
    "warm_restarts": (S.warm_restarts(0.05, 7, factor=0.9), lambda t: sheet_warm_restarts(t, 0.05, 7, 0.9)),
}
NAMES = list(SCHEDULES)
# The same formulas in float64, but the libraries' cos/exp/pow differ by an ulp,
# and XLA turns division by a constant into multiplication by its reciprocal;
# cancellations amplify that (1 + cos(x) near x = pi; t/s - 2c + 1 at t ~ 1e4),
# so agreement is to ~1e-12 relative / 1e-13 absolute, not to the last ulp.
RTOL, ATOL = tolerance("accurate", "float64")


@pytest.mark.parametrize("name", NAMES)
def test_python_int_steps_give_the_sheet_values_as_floats(name):
    schedule, sheet = SCHEDULES[name]
    got = [schedule(t) for t in STEPS]
    assert all(type(v) is float for v in got)
    np.testing.assert_allclose(got, [sheet(t) for t in STEPS], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_array_steps_on_every_backend(name, backend):
    xp = backend.xp
    schedule, sheet = SCHEDULES[name]
    want = np.asarray([sheet(t) for t in STEPS])
    # a 1-D array of steps maps elementwise
    for int_dtype in ("int32", "int64"):
        steps = backend.asarray(np.asarray(STEPS), dtype=int_dtype)
        out = schedule(steps)
        assert backend_of(out) == backend.name
        assert tuple(out.shape) == (len(STEPS),)
        assert dtype_name(out.dtype) == "float64"  # the widest float of every CPU backend here
        assert_close(out, want, rtol=RTOL, atol=ATOL)
    # 0-d steps, as an optimizer's count is
    for t in (0, 9, 10, 57, 1000):
        out = schedule(xp.asarray(t, dtype=xp.int32))
        assert tuple(out.shape) == ()
        assert_close(out, np.asarray(sheet(t)), rtol=RTOL, atol=ATOL)


@pytest.mark.backends("jax")
@pytest.mark.parametrize("name", NAMES)
def test_traced_steps_under_jit_and_vmap(name, backend):
    import jax
    import jax.numpy as jnp

    schedule, sheet = SCHEDULES[name]
    want = np.asarray([sheet(t) for t in STEPS])
    steps = jnp.asarray(STEPS, dtype=jnp.int32)
    jitted = jax.jit(schedule)
    got = np.asarray([jitted(s) for s in steps[:40]] + list(jax.jit(jax.vmap(schedule))(steps[40:])))
    assert_close(got, want, rtol=RTOL, atol=ATOL)


def test_float32_only_device_gives_float32_rates():
    """array-api-strict's ``no_float64`` device: the rate uses the widest float it has."""
    strict = pytest.importorskip("array_api_strict")
    step = strict.asarray(25, dtype=strict.int32, device=strict.Device("no_float64"))
    out = S.warmup_cosine(10, 100, lr_max=0.1)(step)
    assert out.dtype == strict.float32 and out.device == step.device
    np.testing.assert_allclose(float(out), sheet_warmup_cosine(25, 10, 100, 0.1, 1e-6), rtol=1e-6)


# ------------------------------------------------------------ optax's equivalents
def _optax_pairs(optax):
    # (ours, optax's, rtol): optax's step and warm-up schedules compute in
    # float32 even with x64 enabled, so those agree to float32 precision.
    # (optax.exponential_decay is left out: it raises a float32-rounded
    # decay rate to the power t, which drifts by ~t * 6e-8.)
    return {
        "constant": (S.constant(0.03), optax.constant_schedule(0.03), 1e-15),
        "step_decay": (S.step_decay(0.2, drop=0.7, step=13),
                       optax.exponential_decay(0.2, transition_steps=13, decay_rate=0.7, staircase=True), 5e-7),
        "cosine_annealing": (S.cosine_annealing(37, lr_min=0.01, lr_max=0.3),
                             optax.cosine_decay_schedule(0.3, 37, alpha=0.01 / 0.3), 1e-13),
        "warmup_cosine": (S.warmup_cosine(7, 50, lr_max=0.2, lr_min=0.02),
                          optax.warmup_cosine_decay_schedule(0.0, 0.2, 7, 50, 0.02), 5e-7),
    }


@pytest.mark.parametrize("name", ["constant", "step_decay", "cosine_annealing", "warmup_cosine"])
def test_equals_optax_schedules(name):
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    ours, theirs, rtol = _optax_pairs(optax)[name]
    steps = jnp.asarray(STEPS, dtype=jnp.int32)
    want = np.asarray([float(theirs(s)) for s in steps])
    np.testing.assert_allclose([ours(t) for t in STEPS], want, rtol=rtol, atol=ATOL)
    np.testing.assert_allclose(np.asarray(ours(steps)), want, rtol=rtol, atol=ATOL)


# ------------------------------------------------------------ properties
@settings(max_examples=30, deadline=None)
@given(t=st.integers(0, 10**6), T=st.integers(1, 500), T_w=st.integers(0, 100),
       lo=st.floats(0.0, 0.01), span=st.floats(0.0, 1.0), s=st.integers(1, 50))
def test_bounded_schedules_stay_in_range(t, T, T_w, lo, span, s):
    hi = lo + span
    for sched in (S.cosine_annealing(T, lr_min=lo, lr_max=hi), S.warmup_cosine(T_w, T_w + T, lr_max=hi, lr_min=lo),
                  S.cyclical(s, lr_min=lo, lr_max=hi)):
        v = sched(t)
        assert (0.0 if sched.__name__ == "warmup_cosine" else lo) - 1e-15 <= v <= hi + 1e-15
    # the cosine schedules hold lr_min from the end of the decay on
    assert S.cosine_annealing(T, lr_min=lo, lr_max=hi)(T + t) == lo
    assert S.warmup_cosine(T_w, T_w + T, lr_max=hi, lr_min=lo)(T_w + T + t) == lo


@settings(max_examples=30, deadline=None)
@given(t=st.integers(0, 10**5), dt=st.integers(1, 1000))
def test_decays_are_non_increasing(t, dt):
    for sched in (S.step_decay(), S.exponential_decay(), S.time_based_decay(0.1, 0.01),
                  S.cosine_annealing(500), S.warmup_cosine(10, 500)):
        if sched.__name__ == "warmup_cosine" and t < 10:
            continue
        assert sched(t + dt) <= sched(t)


def test_cyclical_is_periodic_and_peaks_at_odd_multiples_of_the_step_size():
    sched = S.cyclical(6, lr_min=0.01, lr_max=0.1)
    assert sched(0) == 0.01 and sched(6) == 0.1 and sched(12) == 0.01 and sched(18) == 0.1
    np.testing.assert_allclose([sched(t) for t in range(50)], [sched(t + 12) for t in range(50)], rtol=1e-14)


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("make, exc, match", [
    (lambda: S.constant(-0.1), ValueError, "value must be non-negative and finite"),
    (lambda: S.constant("0.1"), TypeError, "value must be a real number"),
    (lambda: S.step_decay(-1.0), ValueError, "lr0"),
    (lambda: S.step_decay(drop=0.0), ValueError, r"drop must be finite and in \(0, 1\]"),
    (lambda: S.step_decay(drop=1.5), ValueError, r"drop must be finite and in \(0, 1\]; got drop=1.5"),
    (lambda: S.step_decay(step=0), ValueError, "step must be an integer >= 1; got step=0"),
    (lambda: S.step_decay(step=2.5), TypeError, "step must be an integer; got float 2.5"),
    (lambda: S.exponential_decay(k=-0.1), ValueError, "k must be"),
    (lambda: S.time_based_decay(0.1, -1.0), ValueError, "decay_rate"),
    (lambda: S.cosine_annealing(0), ValueError, "T must be an integer >= 1"),
    (lambda: S.cosine_annealing(T=2.5), TypeError, "T must be an integer; got float 2.5"),
    (lambda: S.cosine_annealing(100.0), TypeError, "T must be an integer; got float 100.0"),
    (lambda: S.cosine_annealing(True), TypeError, "T must be an integer; got the bool True"),
    (lambda: S.cosine_annealing(10, lr_min=float("nan")), ValueError, "lr_min must be non-negative and finite; got lr_min=nan"),
    (lambda: S.cosine_annealing(10, lr_min=0.2, lr_max=0.1), ValueError, "lr_min must not exceed lr_max"),
    (lambda: S.warmup_cosine(10, 10), ValueError, "T_total must exceed T_warmup"),
    (lambda: S.warmup_cosine(-1, 10), ValueError, "T_warmup must be an integer >= 0"),
    (lambda: S.warmup_cosine(1.5, 10), TypeError, "T_warmup must be an integer; got float 1.5"),
    (lambda: S.warmup_cosine(1, 10.5), TypeError, "T_total must be an integer; got float 10.5"),
    (lambda: S.warmup_cosine(1, 10, lr_max=float("inf")), ValueError, "lr_max"),
    (lambda: S.cyclical(0), ValueError, "step_size must be an integer >= 1"),
    (lambda: S.cyclical(2.5), TypeError, "step_size must be an integer; got float 2.5"),
    (lambda: S.warm_restarts(0.1, 0), ValueError, "T_0 must be an integer >= 1"),
    (lambda: S.warm_restarts(0.1, 7.5), TypeError, "T_0 must be an integer; got float 7.5"),
    (lambda: S.warm_restarts(0.1, 5, factor=0.0), ValueError, "factor"),
    # the sheet's rule lr0 * factor**(t mod T_0) is a decay within each cycle: factor > 1 would grow
    (lambda: S.warm_restarts(0.1, 5, factor=2.0), ValueError, r"factor must be finite and in \(0, 1\]; got factor=2.0"),
    (lambda: S.exponential_decay(k="0.1"), TypeError, "k must be a real number; got '0.1'"),
    (lambda: S.time_based_decay(True, 0.1), TypeError, "lr0 must be a real number; got the bool True"),
])
def test_bad_hyperparameters_raise_eagerly(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_steps(xp):
    sched = S.cosine_annealing(10)
    with pytest.raises(ValueError, match="step must be an integer >= 0; got step=-1"):
        sched(-1)
    with pytest.raises(TypeError, match="got an array of dtype"):
        sched(xp.asarray(True))
    with pytest.raises(TypeError, match="step must be an integer; got str"):
        sched("3")
    with pytest.raises(TypeError, match="step must be an integer; got the bool True"):
        sched(True)
    # float steps: an optimizer's step count is an integer (optax counts in int32)
    with pytest.raises(TypeError, match="step must be an integer; got float 2.5"):
        sched(2.5)
    with pytest.raises(TypeError, match="step must be an int or an integer array; got an array of dtype"):
        sched(xp.asarray(2.5))


def test_warm_restarts_factor_one_is_constant_within_cycles():
    sched = S.warm_restarts(0.1, 4, factor=1.0)
    assert [sched(t) for t in range(9)] == [0.1] * 9


def test_integer_like_hyperparameters_are_accepted_as_ints():
    sched = S.cosine_annealing(np.int64(10), lr_min=0.0, lr_max=1.0)
    assert sched(5) == pytest.approx(0.5) and sched(np.int32(10)) == 0.0
