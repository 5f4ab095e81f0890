"""Cases for ``pml.optimizers``: three update steps of each transformation.

Each case takes ``(g, p)``, builds a small nested parameter tree from ``p``,
and runs three steps of a quadratic pull towards ``g`` (gradient
``params - g``), returning the last updates.  So every state entry (moments,
step count, traces) takes part, under ``jit``, ``grad`` and ``vmap`` too.
"""

from ... import optimizers as O
from ... import schedules as S
from ..._validate import check_array
from ...tree import tree_map
from ..registry import Case, normal


def _tree(p):
    check_array(p, "p")  # as the optimizers would: a list is not a parameter array
    return {"w": p, "layers": [{"b": 0.5 * p}, 2.0 * p]}


def _steps(opt, n=3):
    def run(g, p):
        params = _tree(p)
        state = opt.init(params)
        updates = None
        for _ in range(n):
            grads = tree_map(lambda x: x - g, params)
            updates, state = opt.update(grads, state, params)
            params = O.apply_updates(params, updates)
        return updates

    return run


def _wrapper(opt, n=3):
    def run(g, p):
        o = O.Optimizer(opt, _tree(p))
        for _ in range(n):
            o.step(tree_map(lambda x: x - g, o.params))
        return o.params

    return run


def _lookahead(opt, n=3):
    def run(g, p):
        params = O.LookaheadParams.init_synced(_tree(p))
        state = opt.init(params)
        for _ in range(n):
            updates, state = opt.update(tree_map(lambda x: x - g, params.fast), state, params)
            params = O.apply_updates(params, updates)
        return params.slow

    return run


def _apply(p, u):
    return O.apply_updates(_tree(p), _tree(u))


def _args(r):
    return (normal(r, 5), normal(r, 5))


_SCHED = S.warmup_cosine(2, 10, lr_max=0.1, lr_min=1e-3)

_OPTS = {
    "sgd": O.sgd(0.1),
    "sgd_momentum": O.sgd(0.1, momentum=0.9),
    "sgd_nesterov_scheduled": O.sgd(S.exponential_decay(0.1, k=0.1), momentum=0.9, nesterov=True),
    "adagrad": O.adagrad(0.1),
    "rmsprop": O.rmsprop(0.01),
    "rmsprop_centered_momentum": O.rmsprop(0.01, centered=True, momentum=0.9),
    "adam": O.adam(0.01),
    "adam_scheduled": O.adam(_SCHED),
    "adamw": O.adamw(0.01, weight_decay=0.1),
    "chain": O.chain(O.clip_by_global_norm(1.0), O.adam(0.01)),
    "clip": O.chain(O.clip(0.5), O.sgd(0.1)),
    "clip_by_global_norm": O.clip_by_global_norm(1.0),
    "add_decayed_weights": O.chain(O.add_decayed_weights(S.constant(0.1)), O.sgd(0.1)),
    # the building blocks the aliases are chained from (public, so registered too)
    "identity": O.identity(),
    "scale": O.scale(-0.1),
    "scale_by_schedule": O.scale_by_schedule(S.exponential_decay(0.1, k=0.1)),
    "scale_by_learning_rate": O.scale_by_learning_rate(S.cosine_annealing(5, lr_min=0.01, lr_max=0.1)),
    "scale_by_rss": O.scale_by_rss(),
    "scale_by_rms": O.scale_by_rms(bias_correction=True),
    "scale_by_stddev": O.scale_by_stddev(initial_scale=1.0),
    "scale_by_adam": O.scale_by_adam(nesterov=True),
    "trace": O.trace(0.9, nesterov=True),
    # optax's other aliases and wrappers (issue 16)
    "nadam": O.nadam(0.01),
    "radam": O.radam(0.01, b2=0.9, threshold=4.0),
    "adamax": O.adamax(0.01),
    "adabelief": O.adabelief(0.01),
    "amsgrad": O.amsgrad(0.01),
    "adam_amsgrad": O.adam(0.01, amsgrad=True),
    "yogi": O.yogi(0.01),
    "lion": O.lion(0.01),
    "lamb": O.lamb(0.01, weight_decay=0.1),
    "lars": O.lars(0.1, weight_decay=0.01),
    "adadelta": O.adadelta(0.5),
    # momentum kept in the parameters' dtype: optax's default float32 accumulator rounds each step to
    # ~1e-7, which the central differences of the gradient check would read as a 3 % error
    "adafactor": O.adafactor(0.01, min_dim_size_to_factor=1, momentum=0.9, dtype_momentum=None),
    "noisy_sgd": O.noisy_sgd(0.1, key=3),
    "sgd_dampening": O.sgd(0.1, momentum=0.9, dampening=0.5),
    "multi_steps": O.multi_steps(O.adam(0.01), 2),
    "apply_every": O.chain(O.apply_every(2), O.sgd(0.1)),
    "masked": O.masked(O.adam(0.01), lambda p: {"w": True, "layers": [{"b": False}, True]}),
    "ema": O.ema(0.9),
    "inject_hyperparams": O.inject_hyperparams(O.adam)(learning_rate=_SCHED, b1=0.8),
}

#: cases whose gradient check is left out, with the reason (none at present)
_NO_GRAD_CHECK = frozenset()

CASES = [Case(f"optimizers.{name}", _steps(opt), _args, grad_argnums=() if name in _NO_GRAD_CHECK else (0, 1))
         for name, opt in _OPTS.items()]
CASES += [
    Case("optimizers.apply_updates", _apply, _args, grad_argnums=(0, 1)),
    Case("optimizers.Optimizer", _wrapper(O.adam(0.05)), _args, grad_argnums=(0, 1)),
    Case("optimizers.lookahead", _lookahead(O.lookahead(O.adam(0.05), 2, 0.5)), _args, grad_argnums=(0, 1)),
]
