"""portable_ml inside a JAX pipeline.

* The registry that drives ``tests/test_invariants.py`` (``jax.jit``,
  ``jax.grad``, ``jax.vmap`` against eager, on every registered function)
  covers every public function: each name in a public module's ``__all__``
  is registered or excluded below with its reason.
* Training loops: our analytic MLP backprop + our Adam with a schedule run
  under ``jax.lax.scan`` (and ``vmap`` over an ensemble) exactly as the
  eager Python loop does.
* Our optimizers on the pytrees JAX users have (NamedTuples, registered
  dataclasses, ``flax.struct`` where flax is installed) equal optax's; the
  optax adapters compose both ways.
* No hidden host syncs: a jitted training step (loss, gradients, optimizer
  update, metrics) runs under ``jax.transfer_guard("disallow")``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from typing import NamedTuple

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import optimizers as optim
from portable_ml import schedules
from portable_ml.interop import from_optax, to_optax
from portable_ml.testing import assert_close
from portable_ml.testing.registry import cases, tolerance

pytestmark = pytest.mark.slow  # the slow tier: run with -m slow (ci/test.sh does)

# ------------------------------------------------------------------ registry coverage
#: Public modules whose functions are array formulas (or build them) and so must be in the registry.
PUBLIC_MODULES = ("activations", "losses", "regularization", "optimizers", "schedules", "gradients",
                  "metrics", "distances", "probability", "nn", "models", "datasets", "interop", "preprocessing",
                  "autodiff")

_HOST_ESTIMATOR = ("an estimator: fit runs eager, host-side loops (convergence checks and class discovery "
                   "read values by contract); its numeric core is registered as pure functions")
_INITIALISER = ("an initialiser: draws from a pml.random.Generator (a host-side, stateful object) and "
                "creates parameters; under jax.jit parameters are inputs, not created inside the trace")
_DATASET = ("a dataset generator: draws from a seed on the host and places the result; it has no array "
            "input to transform")

#: Public names that are deliberately not in the registry, with the reason.  A new public function
#: fails ``test_registry_covers_every_public_function`` until it is registered or listed here.
EXCLUDED = {
    # host-side objects by contract
    "regularization.EarlyStopping": "host-side by contract: update() returns a Python bool (a host read)",
    "gradients.check_gradient": "returns Python values (ok, max_rel_error) by contract: one host read",
    # initialisers take an rng
    **{f"nn.{n}": _INITIALISER for n in ("zeros", "small_random", "xavier_uniform", "xavier_normal",
                                         "he_normal", "he_uniform", "lecun_normal", "orthogonal")},
    # (nn.MLP is covered by its pure methods, nn.MLP.apply[...] and nn.MLP.loss_and_grads[...];
    # MLP.init takes an rng like the initialisers)
    # datasets
    **{f"datasets.{n}": _DATASET for n in ("make_blobs", "make_moons", "make_classification",
                                           "make_regression")},
    # estimators and their errors
    **{f"models.{n}": _HOST_ESTIMATOR for n in ("LinearRegression", "Ridge", "Lasso", "ElasticNet",
                                                "LogisticRegression", "SoftmaxRegression", "KMeans", "PCA",
                                                "MiniBatchKMeans", "LinearDiscriminantAnalysis", "GaussianNB", "MLPClassifier",
                                                "MLPRegressor", "CalibratedClassifier", "OneVsRestClassifier",
                                                "LinearSVC")},
    "models.NotFittedError": "an exception type",
    "models.ConvergenceWarning": "a warning type",
    "models.kmeans_plusplus": "k-means++ seeding draws from a pml.random.Generator on the host (like the "
                              "initialisers); the Lloyd iteration it seeds is registered",
    # host-side data handling, tested against scikit-learn in tests/test_datasets.py
    **{f"datasets.{n}": "splits or iterates host-chosen rows (index draws on the host, like the "
                        "initialisers); tested on every backend in tests/test_datasets.py"
       for n in ("minibatches", "resample", "train_test_split")},
    # optax's building blocks: each is a stage of a registered alias, tested through it and on its
    # own against optax in tests/test_optimizers_optax.py
    **{f"optimizers.{n}": "a building block of a registered optimizer; tested against optax in "
                          "tests/test_optimizers_optax.py"
       for n in ("add_noise", "clip_by_block_rms", "scale_by_adadelta", "scale_by_adamax", "scale_by_amsgrad",
                 "scale_by_belief", "scale_by_factored_rms", "scale_by_lion", "scale_by_param_block_rms",
                 "scale_by_radam", "scale_by_trust_ratio", "scale_by_yogi", "skip_not_finite")},
    **{f"preprocessing.{n}": "a transformer: fit reads statistics eagerly like the estimators; tested "
                             "against scikit-learn on every backend in tests/test_preprocessing.py"
       for n in ("StandardScaler", "MinMaxScaler")},
    "optimizers.MultiSteps": "the class behind the registered multi_steps; tested against optax.MultiSteps "
                             "in tests/test_optimizers_optax.py",
    # program transformations, not formulas: they take functions; tested against jax.grad and central
    # differences on every backend in tests/test_autodiff.py (on JAX arrays they are jax.grad & co.)
    **{f"autodiff.{n}": "a program transformation (takes a function), not a formula; tested against jax.grad "
                        "on every backend in tests/test_autodiff.py"
       for n in ("grad", "value_and_grad", "vjp", "jacobian", "primitive", "custom_vjp", "defvjp")},
    "autodiff.supported_operations": "returns the names of the operations with a VJP rule (host data)",
    "autodiff.Tracer": "the traced-array type of autodiff (an implementation type users meet, not a formula)",
    "autodiff.TracingNamespace": "the namespace of traced arrays (an implementation type, not a formula)",
    # adapters (tested in this file)
    "interop.to_optax": "wraps a transformation's (init, update) in optax's container type; tested "
                        "against optax in tests/test_embedding_jax.py",
    "interop.from_optax": "wraps an optax transformation in ours; tested against optax in "
                          "tests/test_embedding_jax.py",
}


def _is_record_type(obj):
    """A NamedTuple type (optimizer states, caches, solver states, results): data, not a function.

    Their instances are pytrees that the registered functions take and return, so they are
    exercised through those functions.
    """
    return isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def _public(module_name):
    mod = importlib.import_module(f"portable_ml.{module_name}")
    names = getattr(mod, "__all__", None)
    assert names is not None, f"portable_ml.{module_name} must declare __all__"
    for n in names:
        assert hasattr(mod, n), f"portable_ml.{module_name}.__all__ lists {n!r}, which it does not define"
    return {f"{module_name}.{n}": getattr(mod, n) for n in names if callable(getattr(mod, n))}


def _registered(qualname, registered):
    """``"losses.huber"`` is covered by a case named ``losses.huber``, ``losses.huber[...]`` or
    ``nn.MLP.apply...`` (a method of a public class)."""
    return any(r == qualname or r.startswith(qualname + "[") or r.startswith(qualname + ".")
               for r in registered)


def test_registry_covers_every_public_function():
    registered = {c.name for c in cases()}
    public = {}
    for m in PUBLIC_MODULES:
        public.update(_public(m))
    missing = sorted(q for q, obj in public.items()
                     if not _registered(q, registered) and q not in EXCLUDED and not _is_record_type(obj))
    assert not missing, ("public functions with no registry Case (add one in portable_ml/testing/_cases/"
                         f"<family>.py, or an exclusion with its reason here): {missing}")
    stale = sorted(q for q in EXCLUDED if q not in public or _registered(q, registered))
    assert not stale, f"exclusions that are no longer public, or are registered after all: {stale}"
    # every case names a public function (a variant adds "[...]" or "_..."): no typo hides a gap
    orphans = sorted(r for r in registered if not r.startswith("_")
                     and not any(r == q or r.startswith((q + "[", q + ".", q + "_")) for q in public))
    assert not orphans, f"registry cases naming no public function: {orphans}"


# ------------------------------------------------------------------ JAX fixtures
@pytest.fixture(scope="module")
def jax(request):
    if "jax" not in request.config._pml_backends:
        pytest.skip("jax not selected with --pml-backends")
    return pytest.importorskip("jax")


@pytest.fixture(scope="module")
def optax():
    return pytest.importorskip("optax")


@pytest.fixture(scope="module")
def dtype(jax):
    return jax.numpy.float64 if jax.config.jax_enable_x64 else jax.numpy.float32


def _rtol(dtype):
    return tolerance("accurate", np.dtype(dtype).name)[0]


@pytest.fixture(scope="module")
def moons(jax, dtype):
    X, y = pml.datasets.make_moons(256, noise=0.15, seed=0, backend="jax", dtype=dtype)
    return X, jax.numpy.astype(y, dtype)[:, None]


NET = pml.nn.MLP([2, 16, 16, 1], activation="tanh", output="sigmoid")


def _init_params(seed, dtype):
    return NET.init(pml.get_backend("jax").rng(seed), dtype=dtype)


# ------------------------------------------------------------------ lax.scan over training
def _train_step(opt):
    def step(carry, batch):
        params, state = carry
        x, y = batch
        loss, grads = NET.loss_and_grads(params, x, y)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        acc = pml.metrics.accuracy(y[:, 0], pml.activations.sigmoid(NET.logits(params, x))[:, 0] > 0.5)
        return (params, state), (loss, acc)

    return step


def _batches(X, y, n_steps, batch):
    """Cyclic mini-batches stacked on a leading axis: (n_steps, batch, ...)."""
    idx = (np.arange(n_steps * batch) % X.shape[0]).reshape(n_steps, batch)
    return X[idx], y[idx]


def test_lax_scan_training_loop_equals_python_loop(jax, dtype, moons):
    X, y = moons
    n_steps = 50
    opt = optim.chain(optim.clip_by_global_norm(5.0),
                      optim.adam(schedules.warmup_cosine(5, n_steps, lr_max=0.05, lr_min=1e-3)))
    params = _init_params(0, dtype)
    step = _train_step(opt)
    xs = _batches(X, y, n_steps, 64)

    carry = (params, opt.init(params))
    eager_losses, eager_accs = [], []
    for t in range(n_steps):  # the eager loop a NumPy user would write
        carry, (loss, acc) = step(carry, (xs[0][t], xs[1][t]))
        eager_losses.append(loss)
        eager_accs.append(acc)

    @jax.jit
    def train(params, xs):
        return jax.lax.scan(step, (params, opt.init(params)), xs)

    (scan_params, scan_state), (losses, accs) = train(params, xs)
    rtol = 1e3 * _rtol(dtype)  # 50 steps of reassociated float arithmetic (XLA fuses the scan body)
    assert_close(scan_params, carry[0], rtol=rtol, atol=rtol)
    assert_close(scan_state, carry[1], rtol=rtol, atol=rtol)
    assert_close(losses, jax.numpy.stack(eager_losses), rtol=rtol)
    assert_close(accs, jax.numpy.stack(eager_accs))
    assert float(losses[-1]) < 0.5 * float(losses[0]), "the loop should learn"
    assert int(scan_state[1][0].count) == n_steps


def test_vmap_of_scan_trains_an_ensemble(jax, dtype, moons):
    """Three networks from three seeds trained at once: vmap over the params of a scanned loop."""
    X, y = moons
    opt = optim.adam(0.02)
    step = _train_step(opt)
    xs = _batches(X, y, 20, 64)
    inits = [_init_params(s, dtype) for s in range(3)]

    def train(params):
        return jax.lax.scan(step, (params, opt.init(params)), xs)[0][0]

    stacked = jax.tree_util.tree_map(lambda *p: jax.numpy.stack(p), *inits)
    ensemble = jax.jit(jax.vmap(train))(stacked)
    one_by_one = jax.tree_util.tree_map(lambda *p: jax.numpy.stack(p), *[jax.jit(train)(p) for p in inits])
    assert_close(ensemble, one_by_one, rtol=1e3 * _rtol(dtype), atol=1e3 * _rtol(dtype))


def test_our_loss_gradients_agree_with_jax_grad_inside_a_training_loop(jax, dtype, moons):
    """jax.grad of our forward losses and our analytic gradients drive the same scanned training."""
    X, y = moons
    opt = optim.sgd(0.5, momentum=0.9)

    def loss_fn(params, x, y):
        return pml.losses.binary_cross_entropy_with_logits(y, NET.logits(params, x))

    def autodiff_step(carry, batch):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, state = opt.update(grads, state, params)
        return (optim.apply_updates(params, updates), state), loss

    def analytic_step(carry, batch):
        (params, state), (loss, _) = _train_step(opt)(carry, batch)
        return (params, state), loss

    params = _init_params(1, dtype)
    xs = _batches(X, y, 30, 64)
    run = jax.jit(lambda step, p: jax.lax.scan(step, (p, opt.init(p)), xs), static_argnums=0)
    (p_auto, _), l_auto = run(autodiff_step, params)
    (p_ana, _), l_ana = run(analytic_step, params)
    assert_close(l_ana, l_auto, rtol=1e3 * _rtol(dtype))
    assert_close(p_ana, p_auto, rtol=1e3 * _rtol(dtype), atol=1e3 * _rtol(dtype))


# ------------------------------------------------------------------ pytrees JAX users have
class Linear(NamedTuple):
    W: object
    b: object


class Params(NamedTuple):
    encoder: Linear
    scale: object
    heads: dict


@functools.cache
def _register_dataclass(jax):
    @dataclasses.dataclass(frozen=True)
    class DataParams:
        W: object
        b: object
        note: str = dataclasses.field(default="meta", metadata=dict(static=True))

    return jax.tree_util.register_dataclass(DataParams, data_fields=["W", "b"], meta_fields=["note"])


@functools.cache
def _flax_struct(jax):
    struct = pytest.importorskip("flax.struct", reason="flax is not installed (the registered-dataclass "
                                 "case covers the same custom-pytree path)")

    @struct.dataclass
    class FlaxParams:
        W: object
        b: object
        note: str = struct.field(pytree_node=False, default="meta")

    return FlaxParams


def _make_tree(kind, jax, rng, dtype):
    def arr(*shape):
        return jax.numpy.asarray(rng.normal(size=shape), dtype=dtype)

    if kind == "namedtuple":
        return Params(Linear(arr(3, 4), arr(4)), arr(), {"a": arr(2), "b": [arr(3, 1)]})
    cls = _register_dataclass(jax) if kind == "register_dataclass" else _flax_struct(jax)
    return {"layer": cls(arr(3, 4), arr(4)), "extra": (arr(5),)}


OPTAX_PAIRS = {
    "adam": (lambda: optim.adam(0.01), lambda o: o.adam(0.01)),
    "adamw": (lambda: optim.adamw(0.01, weight_decay=0.1), lambda o: o.adamw(0.01, weight_decay=0.1)),
    "sgd_nesterov": (lambda: optim.sgd(0.05, momentum=0.9, nesterov=True),
                     lambda o: o.sgd(0.05, momentum=0.9, nesterov=True)),
    "rmsprop": (lambda: optim.rmsprop(0.01), lambda o: o.rmsprop(0.01)),
}


@pytest.mark.parametrize("kind", ["namedtuple", "register_dataclass", "flax_struct"])
@pytest.mark.parametrize("name", sorted(OPTAX_PAIRS))
def test_optimizers_on_custom_pytrees_equal_optax(jax, optax, dtype, kind, name):
    ours, theirs = OPTAX_PAIRS[name][0](), OPTAX_PAIRS[name][1](optax)
    rng = np.random.default_rng(0)
    params = _make_tree(kind, jax, rng, dtype)
    grads_seq = [_make_tree(kind, jax, rng, dtype) for _ in range(5)]

    def run(tx, apply, params):
        state = tx.init(params)
        for g in grads_seq:
            updates, state = tx.update(g, state, params)
            params = apply(params, updates)
        return params, state

    ours_params, ours_state = jax.jit(lambda p: run(ours, optim.apply_updates, p))(params)
    ref_params, _ = jax.jit(lambda p: run(theirs, optax.apply_updates, p))(params)
    assert type(ours_params) is type(ref_params)  # the container type is kept
    assert jax.tree_util.tree_structure(ours_params) == jax.tree_util.tree_structure(params)
    assert_close(ours_params, ref_params, rtol=10 * _rtol(dtype), atol=10 * _rtol(dtype))
    # the state is itself a pytree JAX can carry (through scan, checkpointing, donation)
    leaves = jax.tree_util.tree_leaves(ours_state)
    assert leaves and all(isinstance(x, jax.Array) for x in leaves)
    # pml.tree sees JAX's structure, so our tree utilities agree with jax.tree_util
    assert len(pml.tree.tree_leaves(params)) == len(jax.tree_util.tree_leaves(params))
    assert pml.tree.tree_structure(params) == jax.tree_util.tree_structure(params)


# ------------------------------------------------------------------ optax adapters
def _grad_stream(jax, dtype, n=12):
    rng = np.random.default_rng(3)
    params = {"w": jax.numpy.asarray(rng.normal(size=(4, 3)), dtype=dtype),
              "b": [jax.numpy.asarray(rng.normal(size=3), dtype=dtype)]}
    grads = [jax.tree_util.tree_map(lambda p: jax.numpy.asarray(5 * rng.normal(size=p.shape), dtype=dtype), params)
             for _ in range(n)]
    return params, grads


def _run(tx, params, grads, apply):
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = apply(params, updates)
    return params, state


def test_to_optax_inside_optax_chain_equals_optax(jax, optax, dtype):
    params, grads = _grad_stream(jax, dtype)
    ours = optax.chain(optax.clip_by_global_norm(1.0), to_optax(optim.adam(1e-3)))
    ref = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    assert isinstance(to_optax(optim.adam(1e-3)), optax.GradientTransformation)
    got = jax.jit(lambda p: _run(ours, p, grads, optax.apply_updates))(params)
    want = jax.jit(lambda p: _run(ref, p, grads, optax.apply_updates))(params)
    assert_close(got[0], want[0], rtol=10 * _rtol(dtype), atol=10 * _rtol(dtype))
    # optax's wrappers accept it too: MultiSteps accumulates 3 gradients per update
    acc = optax.MultiSteps(to_optax(optim.adam(1e-2)), every_k_schedule=3)
    acc_ref = optax.MultiSteps(optax.adam(1e-2), every_k_schedule=3)
    got = jax.jit(lambda p: _run(acc, p, grads, optax.apply_updates)[0])(params)
    want = jax.jit(lambda p: _run(acc_ref, p, grads, optax.apply_updates)[0])(params)
    assert_close(got, want, rtol=10 * _rtol(dtype), atol=10 * _rtol(dtype))


def test_from_optax_inside_our_chain_equals_ours(jax, optax, dtype):
    params, grads = _grad_stream(jax, dtype)
    mixed = optim.chain(optim.clip_by_global_norm(1.0), from_optax(optax.adam(1e-3)))
    ours = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3))
    assert isinstance(from_optax(optax.adam(1e-3)), optim.GradientTransformation)
    got = jax.jit(lambda p: _run(mixed, p, grads, optim.apply_updates))(params)
    want = jax.jit(lambda p: _run(ours, p, grads, optim.apply_updates))(params)
    assert_close(got[0], want[0], rtol=10 * _rtol(dtype), atol=10 * _rtol(dtype))
    # ... and the stateful wrapper drives it
    o = optim.Optimizer(from_optax(optax.sgd(0.1, momentum=0.9)), params, jit=jax.jit)
    for g in grads:
        o.step(g)
    want = _run(optim.sgd(0.1, momentum=0.9), params, grads, optim.apply_updates)[0]
    assert_close(o.params, want, rtol=10 * _rtol(dtype), atol=10 * _rtol(dtype))


def test_adapters_round_trip_and_reject_non_transformations(optax):
    opt = optim.adam(0.1)
    back = from_optax(to_optax(opt))
    assert back.init is opt.init
    params = {"w": np.ones(3)}
    u1, _ = back.update({"w": np.full(3, 2.0)}, back.init(params), params)
    u2, _ = opt.update({"w": np.full(3, 2.0)}, opt.init(params), params)
    np.testing.assert_array_equal(u1["w"], u2["w"])  # the adapters add no arithmetic (NumPy stays NumPy)
    assert isinstance(u1["w"], np.ndarray)
    with pytest.raises(TypeError, match="transform must be a gradient transformation"):
        to_optax(lambda g: g)
    with pytest.raises(TypeError, match="transform must be a gradient transformation"):
        from_optax(object())


# ------------------------------------------------------------------ no hidden host syncs
def test_jitted_training_step_has_no_host_transfers(jax, dtype, moons):
    X, y = moons
    opt = optim.adamw(schedules.warmup_cosine(2, 20, lr_max=0.05), weight_decay=1e-3)

    @jax.jit
    def train_step(params, state, x, y):
        loss, grads = NET.loss_and_grads(params, x, y)
        grads, gnorm = pml.gradients.clip_by_global_norm(grads, 1.0)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        p = NET.apply(params, x)[:, 0]
        metrics = {
            "loss": loss,
            "grad_norm": gnorm,
            "accuracy": pml.metrics.accuracy(y[:, 0], p > 0.5),
            "f1": pml.metrics.f1(y[:, 0], p > 0.5),
            "roc_auc": pml.metrics.roc_auc(y[:, 0], p),
            "log_loss": pml.metrics.log_loss(y[:, 0], p),
        }
        return params, state, metrics

    params = _init_params(0, dtype)
    state = opt.init(params)
    X, y = jax.device_put((X, y))
    train_step(params, state, X, y)  # compile outside the guard
    history = []
    with jax.transfer_guard("disallow"):
        for _ in range(5):
            params, state, metrics = train_step(params, state, X, y)
            history.append(metrics)  # kept on the device: reading them would be a transfer
        # the guard is live: an implicit host-to-device transfer is refused
        with pytest.raises(Exception, match="Disallowed host-to-device"):
            train_step(params, state, np.asarray(X), y)
    losses = [float(m["loss"]) for m in history]
    assert losses[-1] < losses[0]
    assert 0.0 <= float(history[-1]["roc_auc"]) <= 1.0
    # On the CPU a device-to-host read is zero-copy and the guard does not report it (on a GPU it
    # does).  What makes it impossible on any device: the step is traced, so a host read inside it
    # would fail at trace time, and the traced program contains no host callback.
    jaxpr = jax.make_jaxpr(train_step)(params, state, X, y)
    assert not [p for p in _primitives(jaxpr.jaxpr) if "callback" in p or p in ("outfeed", "infeed")]


def _primitives(jaxpr):
    """Names of every primitive in a jaxpr, including those inside sub-jaxprs (jit, scan, cond...)."""
    out = set()
    for eqn in jaxpr.eqns:
        out.add(eqn.primitive.name)
        for v in eqn.params.values():
            for sub in v if isinstance(v, (list, tuple)) else (v,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    out |= _primitives(inner)
    return out


# ------------------------------------------------------------------ value checks inside traces
def test_value_checks_on_closed_over_concrete_arrays_inside_jit(jax, dtype):
    """Inside jax.jit an operation on a concrete array the function closes over is traced too:
    fixed validation labels, a fixed prior, labels held by a lax.scan body, jit(grad)."""
    jnp = jax.numpy
    labels = jnp.asarray([0, 2, 1, 2])
    zeros = jnp.zeros((4, 3), dtype)
    ce = pml.losses.sparse_softmax_cross_entropy
    # the reproduction: the eager call worked, the jitted one raised TracerBoolConversionError
    assert_close(jax.jit(lambda z: ce(labels, z))(zeros), ce(labels, zeros), rtol=_rtol(dtype))
    assert_close(ce(labels, zeros), np.log(3.0), rtol=_rtol(dtype))
    prior = jnp.asarray([0.2, 0.3, 0.5], dtype)
    p = jnp.asarray([[0.1, 0.6, 0.3], [0.3, 0.3, 0.4]], dtype)
    kl = jax.jit(lambda q: pml.probability.kl_divergence(q, jnp.broadcast_to(prior, q.shape)))(p)
    ref = np.sum(np.asarray(p, np.float64) * np.log(np.asarray(p, np.float64) / np.asarray(prior, np.float64)), -1)
    assert_close(kl, ref, rtol=1e3 * _rtol(dtype))
    # jit(grad) with the labels closed over equals the softmax - one-hot gradient
    g = jax.jit(jax.grad(lambda z: ce(labels, z)))(zeros)
    assert_close(g, (np.full((4, 3), 1 / 3) - np.eye(3)[np.asarray(labels)]) / 4, rtol=1e2 * _rtol(dtype),
                 atol=_rtol(dtype))
    # a scan body holding the labels, with metrics that check them
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(5, 4, 3)), dtype)

    def body(c, z):
        pred = jnp.argmax(z, axis=-1)
        return c, (ce(labels, z), pml.metrics.f1(labels, pred, average="macro", num_classes=3),
                   pml.metrics.confusion_matrix(labels, pred, num_classes=3))

    _, (losses, f1s, cms) = jax.jit(lambda zs: jax.lax.scan(body, 0, zs))(logits)
    for t in range(5):
        want = body(0, logits[t])[1]
        assert_close((losses[t], f1s[t], cms[t]), want, rtol=1e2 * _rtol(dtype))
    # eager calls still validate; inside a trace an unreadable check is skipped, as JAX itself does
    bad = jnp.asarray([0, 2, 1, 7])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\); got values in \[0, 7\]"):
        ce(bad, zeros)
    jax.jit(lambda z: ce(bad, z))(zeros)
    # a class count cannot be inferred from traced labels, closed over or not: a clear error
    with pytest.raises(ValueError, match="num_classes must be given when the labels are traced"):
        jax.jit(lambda z: pml.metrics.confusion_matrix(labels, jnp.argmax(z, -1)))(zeros)


# ------------------------------------------------------------------ compilations of a jitted step
def _placements(jax):
    """Parameters uncommitted, committed to one device, and sharded over a mesh of all devices."""
    jnp = jax.numpy
    base = {"w": jnp.ones((4, 2)), "b": jnp.zeros(2)}
    out = {"uncommitted": base, "committed": jax.device_put(base, jax.devices()[-1])}
    if len(jax.devices()) >= 2:
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.array(jax.devices()[:2]), ("d",))
        out["sharded"] = {"w": jax.device_put(base["w"], NamedSharding(mesh, PartitionSpec("d"))),
                          "b": jax.device_put(base["b"], NamedSharding(mesh, PartitionSpec()))}
    return out


def _compilations(jax, tx, apply, params, steps=3):
    @jax.jit
    def step(p, s):
        updates, s = tx.update(jax.tree_util.tree_map(lambda x: 2 * x, p), s, p)
        return apply(p, updates), s

    state = tx.init(params)
    for _ in range(steps):
        params, state = step(params, state)
    return step._cache_size()


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop", "sgd_nesterov"])
def test_jitted_step_with_our_optimizer_compiles_once(jax, optax, name):
    """``init`` returned a committed step count next to uncommitted moments: a second compilation.
    The state now follows the parameters' placement; optax's (an uncommitted count) compiles once
    only for uncommitted parameters."""
    ours, theirs = OPTAX_PAIRS[name][0](), OPTAX_PAIRS[name][1](optax)
    for where, params in _placements(jax).items():
        assert _compilations(jax, ours, optim.apply_updates, params) == 1, where
        state = jax.tree_util.tree_leaves(ours.init(params))
        assert len({x.committed for x in state}) == 1, f"{where}: mixed commitment in the state"
    assert _compilations(jax, theirs, optax.apply_updates, _placements(jax)["uncommitted"]) == 1


# ------------------------------------------------------------------ fitted estimators inside jit
def _fitted_estimators(jax, dtype):
    X, y = pml.datasets.make_classification(120, 4, n_informative=3, n_redundant=0, n_classes=3, seed=2,
                                            backend="jax", dtype=dtype)
    yr = X @ jax.numpy.asarray([1.0, -2.0, 0.5, 3.0], dtype)
    m = pml.models
    return X, {
        "LinearRegression": m.LinearRegression().fit(X, yr), "Ridge": m.Ridge().fit(X, yr),
        "Lasso": m.Lasso(alpha=0.01).fit(X, yr), "LogisticRegression": m.LogisticRegression().fit(X, y > 0),
        "SoftmaxRegression": m.SoftmaxRegression().fit(X, y), "GaussianNB": m.GaussianNB().fit(X, y),
        "LinearDiscriminantAnalysis": m.LinearDiscriminantAnalysis().fit(X, y),
        "KMeans": m.KMeans(n_clusters=3, seed=0).fit(X), "PCA": m.PCA(n_components=2).fit(X),
        "MiniBatchKMeans": m.MiniBatchKMeans(n_clusters=3, batch_size=32, seed=0).fit(X),
        "MLPClassifier": m.MLPClassifier(hidden_layer_sizes=(8,), epochs=2, seed=0).fit(X, y),
        "LinearSVC": m.LinearSVC(alpha=0.1).fit(X, y),
    }


def test_fitted_estimators_predict_inside_jit_and_vmap(jax, dtype):
    """A fitted model's inference methods run on traced ``X`` (a user's jitted pipeline): the
    device check that guards eager calls has no placement to read from a tracer and stands aside,
    and the results equal the eager ones (under ``jit`` and, row by row, under ``vmap``)."""
    X, fitted = _fitted_estimators(jax, dtype)
    checked = 0
    for name, est in fitted.items():
        for method in ("predict", "predict_proba", "decision_function", "transform"):
            if not hasattr(est, method):
                continue
            f = getattr(est, method)
            eager = f(X)
            assert_close(jax.jit(f)(X), eager, rtol=1e2 * _rtol(dtype), atol=1e2 * _rtol(dtype),
                         err_msg=f"{name}.{method} under jit")
            rows = jax.vmap(lambda x: f(x[None, :])[0])(X)
            assert_close(rows, eager, rtol=1e2 * _rtol(dtype), atol=1e2 * _rtol(dtype),
                         err_msg=f"{name}.{method} under vmap")
            checked += 1
    assert checked >= 19
