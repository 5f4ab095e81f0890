"""Cases for ``pml.schedules``: each schedule at an integer-array step.

A schedule's only array input is an integer step, so each case also takes a
float array ``x`` and returns ``schedule(step)`` cast to ``x``'s dtype times
``x``, with a trailing axis for ``x`` (what an optimizer does with a rate): the float-dtype invariant then
has a dtype to follow, and the step is traced under ``jit`` and ``vmap``.
"""

import numpy as np

from ... import schedules as S
from ..._xp import array_namespace
from ..registry import Case, normal


def _scaled(schedule):
    def run(step, x):
        xp = array_namespace(step, x)
        rate = schedule(step)  # a Python float for a Python int step (a list is refused by the schedule)
        rate = xp.asarray(rate, dtype=x.dtype) if isinstance(rate, float) else xp.astype(rate, x.dtype)
        return xp.expand_dims(rate, axis=-1) * x  # steps of any shape: one row of rates times x per step

    return run


def _args(r):
    return (np.asarray(r.integers(0, 40)), normal(r, 3))


_SCHEDULES = {
    "constant": S.constant(0.01),
    "step_decay": S.step_decay(0.1, drop=0.5, step=7),
    "exponential_decay": S.exponential_decay(0.1, k=0.05),
    "time_based_decay": S.time_based_decay(0.1, 0.2),
    "cosine_annealing": S.cosine_annealing(30, lr_min=1e-3, lr_max=0.1),
    "warmup_cosine": S.warmup_cosine(5, 30, lr_max=0.1, lr_min=1e-3),
    "cyclical": S.cyclical(6, lr_min=1e-3, lr_max=0.1),
    "warm_restarts": S.warm_restarts(0.1, 8, factor=0.7),
    "warmup_cosine_from_nonzero": S.warmup_cosine(5, 30, lr_max=0.1, lr_min=1e-3, lr_init=0.02),
    "polynomial_schedule": S.polynomial_schedule(0.1, 1e-3, 2.0, 25, transition_begin=5),
    "linear_schedule": S.linear_schedule(0.1, 0.0, 30, transition_begin=3),
    "piecewise_constant_schedule": S.piecewise_constant_schedule(0.1, {10: 0.5, 25: 0.1}),
    "join_schedules": S.join_schedules([S.constant(0.01), S.linear_schedule(0.01, 0.1, 10)], [7]),
    "sgdr_schedule": S.sgdr_schedule([dict(init_value=0.0, peak_value=0.1, warmup_steps=3, decay_steps=12),
                                      dict(init_value=0.05, peak_value=0.08, warmup_steps=0, decay_steps=30)]),
    "cosine_onecycle_schedule": S.cosine_onecycle_schedule(35, 0.1),
}

CASES = [Case(f"schedules.{name}", _scaled(s), _args) for name, s in _SCHEDULES.items()]
