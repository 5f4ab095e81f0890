"""Data-parallel training on several JAX devices.

``tests/conftest.py`` gives JAX four simulated CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``).  The batch is
sharded over them with a ``Mesh`` / ``NamedSharding``, the parameters are
replicated, and the jitted step (our formulas, unchanged) is compiled by XLA
into per-device work plus all-reduces of the gradient sums.  The results
equal the single-device run, the parameters stay replicated, per-sample
outputs stay sharded, and the compiled program never gathers the batch.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import optimizers as optim
from portable_ml.testing import assert_close
from portable_ml.testing.registry import tolerance

pytestmark = pytest.mark.slow  # the slow tier: run with -m slow (ci/test.sh does)

N_DEVICES = 4


@pytest.fixture(scope="module")
def jax(request):
    if "jax" not in request.config._pml_backends:
        pytest.skip("jax not selected with --pml-backends")
    return pytest.importorskip("jax")


@pytest.fixture(scope="module")
def devices(jax):
    """N_DEVICES devices of one platform: the default one (GPUs) if it has enough, else the CPU."""
    for devs in (jax.devices(), jax.devices("cpu")):
        if len(devs) >= N_DEVICES:
            return devs[:N_DEVICES]
    pytest.skip(f"needs {N_DEVICES} JAX devices (XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{N_DEVICES} before JAX is imported); have {len(jax.devices('cpu'))} CPU devices")


@pytest.fixture(scope="module")
def mesh(devices):
    from jax.sharding import Mesh

    return Mesh(np.array(devices), ("data",))


@pytest.fixture(scope="module")
def shardings(jax, mesh):
    from jax.sharding import NamedSharding, PartitionSpec as P

    return NamedSharding(mesh, P("data")), NamedSharding(mesh, P())


@pytest.fixture(scope="module")
def dtype(jax):
    return jax.numpy.float64 if jax.config.jax_enable_x64 else jax.numpy.float32


def _rtol(dtype):
    # the sharded program sums per-device partial sums: the same numbers in another order
    return tolerance("reduction", np.dtype(dtype).name)[0]


def _collectives(compiled_text):
    return set(re.findall(r"\b(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)\b",
                          compiled_text))


def _check_data_parallel(jax, step_fn, args):
    """The compiled step reduces across devices and never gathers the (sharded) batch."""
    hlo = jax.jit(step_fn).lower(*args).compile().as_text()
    found = _collectives(hlo)
    assert "all-reduce" in found, f"expected gradient all-reduces in the sharded program; found {found}"
    assert "all-gather" not in found, "the batch was gathered onto every device"


# ------------------------------------------------------------------ the MLP
def _mlp_setup(jax, dtype, n=512):
    X, y = pml.datasets.make_moons(n, noise=0.15, seed=1, backend="jax", dtype=dtype)
    y = jax.numpy.astype(y, dtype)[:, None]
    net = pml.nn.MLP([2, 32, 32, 1], activation="tanh", output="sigmoid")
    params = net.init(pml.get_backend("jax").rng(0), dtype=dtype)
    return net, params, X, y


def test_mlp_data_parallel_training_equals_single_device(jax, dtype, mesh, shardings):
    sharded, replicated = shardings
    net, params, X, y = _mlp_setup(jax, dtype)
    opt = optim.adam(0.02)

    def step(params, state, x, y):  # the MLP estimators' step, plus the per-sample outputs
        params, state, loss = pml.models.mlp_train_step(params, state, x, y, net=net, optimizer=opt, alpha=1e-3)
        return params, state, loss, net.apply(params, x)

    def train(params, x, y, n_steps=15):
        state = opt.init(params)
        f = jax.jit(step)
        losses = []
        for _ in range(n_steps):
            params, state, loss, out = f(params, state, x, y)
            losses.append(loss)
        return params, state, jax.numpy.stack(losses), out

    one = mesh.devices.flat[0]
    single = train(jax.device_put(params, one), jax.device_put(X, one), jax.device_put(y, one))
    p_rep = jax.device_put(params, replicated)
    X_sh, y_sh = jax.device_put(X, sharded), jax.device_put(y, sharded)
    assert len(X_sh.addressable_shards) == N_DEVICES
    assert {s.data.shape for s in X_sh.addressable_shards} == {(X.shape[0] // N_DEVICES, 2)}
    multi = train(p_rep, X_sh, y_sh)

    assert_close(multi[0], single[0], rtol=_rtol(dtype), atol=_rtol(dtype))
    assert_close(multi[2], single[2], rtol=_rtol(dtype))
    assert_close(multi[3], single[3], rtol=_rtol(dtype), atol=_rtol(dtype))
    assert single[2][-1] < 0.7 * single[2][0], "the run should learn"
    # parameters and optimizer state stay replicated; per-sample outputs stay sharded over the batch
    for leaf in jax.tree_util.tree_leaves((multi[0], multi[1])):
        assert leaf.sharding.is_fully_replicated, leaf.sharding
    assert multi[3].sharding.is_equivalent_to(sharded, multi[3].ndim)
    opt_state = opt.init(p_rep)
    _check_data_parallel(jax, step, (p_rep, opt_state, X_sh, y_sh))


def test_mlp_scan_epoch_over_sharded_minibatches(jax, dtype, mesh):
    """A whole epoch as one lax.scan over mini-batches, each mini-batch sharded over the devices."""
    from jax.sharding import NamedSharding, PartitionSpec as P

    net, params, X, y = _mlp_setup(jax, dtype)
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(0.3, momentum=0.9))
    n_batches = 8
    xs = (X.reshape(n_batches, -1, 2), y.reshape(n_batches, -1, 1))

    @jax.jit
    def epoch(params, xs):
        def body(carry, batch):
            params, state = carry
            loss, grads = net.loss_and_grads(params, *batch)
            updates, state = opt.update(grads, state, params)
            return (optim.apply_updates(params, updates), state), loss

        return jax.lax.scan(body, (params, opt.init(params)), xs)

    one = mesh.devices.flat[0]
    single = epoch(jax.device_put(params, one), jax.device_put(xs, one))
    batch_sharded = NamedSharding(mesh, P(None, "data"))  # (batches, samples, features): split samples
    multi = epoch(jax.device_put(params, NamedSharding(mesh, P())), jax.device_put(xs, batch_sharded))
    assert_close(multi, single, rtol=_rtol(dtype), atol=_rtol(dtype))


# ------------------------------------------------------------------ logistic regression
def _classification(jax, dtype, n=512):
    X, y = pml.datasets.make_classification(n, 5, n_informative=3, seed=2, backend="jax", dtype=dtype)
    return X, jax.numpy.astype(y, dtype)


@pytest.mark.parametrize("solver", ["newton", "gd", "lbfgs"])
def test_logistic_steps_data_parallel_equal_single_device(jax, dtype, mesh, shardings, solver):
    from portable_ml import models

    sharded, replicated = shardings
    X, y = _classification(jax, dtype)
    alpha = 0.05
    theta0 = jax.numpy.zeros(X.shape[1] + 1, dtype=dtype)
    if solver == "newton":
        def step(theta, X, y):
            return models.logistic_newton_step(theta, X, y, alpha)
    elif solver == "gd":
        def step(theta, X, y):
            return models.logistic_gd_step(theta, X, y, alpha, 0.5)
    else:
        theta0 = models.lbfgs_init_state(theta0, X, y, alpha, memory=5)

        def step(state, X, y):
            return models.lbfgs_step(state, X, y, alpha)

    def run(theta, X, y, n_steps=8):
        f = jax.jit(step)
        for _ in range(n_steps):
            theta = f(theta, X, y)
        return theta

    one = mesh.devices.flat[0]
    single = run(jax.device_put(theta0, one), jax.device_put(X, one), jax.device_put(y, one))
    args = (jax.device_put(theta0, replicated), jax.device_put(X, sharded), jax.device_put(y, sharded))
    multi = run(*args)
    assert_close(multi, single, rtol=_rtol(dtype), atol=_rtol(dtype))
    for leaf in jax.tree_util.tree_leaves(multi):
        assert leaf.sharding.is_fully_replicated
    _check_data_parallel(jax, step, args)
    grad = models.logistic_grad(single if solver != "lbfgs" else single.theta, X, y, alpha)
    if solver == "newton":
        assert float(jax.numpy.max(jax.numpy.abs(grad))) < 1e-6, "Newton should have converged"


# ------------------------------------------------------------------ estimators on sharded input
ESTIMATORS = {
    "LogisticRegression": lambda m: m.LogisticRegression(alpha=0.01),
    "SoftmaxRegression": lambda m: m.SoftmaxRegression(alpha=0.1),
    "Ridge": lambda m: m.Ridge(alpha=1.0),
    "PCA": lambda m: m.PCA(n_components=2),
    "KMeans": lambda m: m.KMeans(n_clusters=2, seed=0),
    "MiniBatchKMeans": lambda m: m.MiniBatchKMeans(n_clusters=2, seed=0, max_iter=20, batch_size=64),
    "LinearSVC": lambda m: m.LinearSVC(alpha=0.01),
    "GaussianNB": lambda m: m.GaussianNB(),
    "LinearDiscriminantAnalysis": lambda m: m.LinearDiscriminantAnalysis(),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimators_fit_on_sharded_input(jax, dtype, mesh, shardings, name):
    """Fitted parameters come back replicated over the mesh, per-sample results sharded like X."""
    sharded, _ = shardings
    X, y = _classification(jax, dtype, n=400)
    one = mesh.devices.flat[0]
    ref = ESTIMATORS[name](pml.models).fit(jax.device_put(X, one), jax.device_put(y, one))
    est = ESTIMATORS[name](pml.models).fit(jax.device_put(X, sharded), jax.device_put(y, sharded))
    fitted = {k: v for k, v in vars(est).items() if k.endswith("_") and hasattr(v, "sharding")}
    want = {k: v for k, v in vars(ref).items() if k.endswith("_") and hasattr(v, "sharding")}
    assert fitted.keys() == want.keys() and fitted
    assert_close(fitted, want, rtol=1e3 * _rtol(dtype), atol=1e3 * _rtol(dtype), err_msg=name)
    for k, v in fitted.items():
        if k != "labels_":  # per-sample
            assert v.sharding.is_fully_replicated, f"{name}.{k}: {v.sharding}"
    method = "predict" if hasattr(est, "predict") else "transform"
    out = getattr(est, method)(jax.device_put(X, sharded))
    assert out.sharding.is_equivalent_to(sharded, out.ndim) if out.ndim == 1 else not out.sharding.is_fully_replicated


def test_new_arrays_follow_a_sharded_input_replicated(jax, mesh, shardings):
    """The placement rule behind the above: arrays created from a sharded input are replicated
    over its devices (a parameter cannot take the batch's partitioning)."""
    from portable_ml._xp import device_of

    sharded, replicated = shardings
    X = jax.device_put(jax.numpy.ones((8, 3)), sharded)
    dev = device_of(X)
    assert dev.is_fully_replicated and dev.device_set == sharded.device_set
    be = pml.get_backend("jax", device=dev)
    w = be.asarray(np.arange(3.0))
    assert w.sharding.is_equivalent_to(replicated, 1)
    assert be.rng(0).normal((5,)).sharding.is_fully_replicated
    assert pml.losses.mse(X, 2 * X).sharding.is_fully_replicated
    with pytest.raises(ValueError, match="does not belong"):
        pml.get_backend("numpy", device=dev)


# ------------------------------------------------------------------ closed-form fits: no gathers of X
def _all_gathers(hlo):
    """(dtype, shape) of the result of every all-gather instruction in a compiled module's text."""
    found = re.findall(r"=\s*(\w+)\[([\d,]*)\][^=\n]*?\sall-gather(?:-start)?\(", hlo)
    return [(dt, tuple(int(s) for s in shape.split(",") if s)) for dt, shape in found]


def _recording_compiled(monkeypatch, modules):
    """Replace ``compiled`` in ``modules`` by a wrapper that records every jitted call (function, arguments)."""
    from portable_ml.models import _base

    calls = []

    def spy(fn, xp):
        jitted = _base.compiled(fn, xp)
        if jitted is fn:
            return fn

        def call(*args, **kwargs):
            calls.append((fn.__name__, jitted, args, kwargs))
            return jitted(*args, **kwargs)

        return call

    for module in modules:
        monkeypatch.setattr(module, "compiled", spy)
    return calls


CLOSED_FORMS = {
    "LinearRegression[lstsq]": lambda m: m.LinearRegression(),
    "LinearRegression[normal]": lambda m: m.LinearRegression(solver="normal"),
    "Ridge": lambda m: m.Ridge(alpha=1.0),
    "PCA": lambda m: m.PCA(n_components=3),
    "LinearDiscriminantAnalysis": lambda m: m.LinearDiscriminantAnalysis(),
}


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_closed_form_fits_reduce_per_shard_statistics(jax, dtype, mesh, shardings, monkeypatch, name):
    """On row-sharded X every compiled module of the fit factors each shard where it lives and moves
    only per-shard statistics (a few rows per shard) between devices: no all-gather of anything the
    size of X (or of a column of it).  The fit equals the single-device one."""
    from portable_ml.models import decomposition, discriminant, linear

    sharded, _ = shardings
    n = 4000
    X, y = pml.datasets.make_classification(n, 6, n_informative=4, n_redundant=0, n_classes=3, seed=3,
                                            backend="jax", dtype=dtype)
    target = y if name == "LinearDiscriminantAnalysis" else X @ jax.numpy.linspace(-1.0, 1.0, 6, dtype=dtype) + y
    one = mesh.devices.flat[0]
    ref = CLOSED_FORMS[name](pml.models).fit(jax.device_put(X, one), jax.device_put(target, one))
    calls = _recording_compiled(monkeypatch, (linear, decomposition, discriminant))
    X_sh, t_sh = jax.device_put(X, sharded), jax.device_put(target, sharded)
    est = CLOSED_FORMS[name](pml.models).fit(X_sh, t_sh)
    assert calls, "the fit compiled nothing"
    scanned = set()
    for fn_name, jitted, args, kwargs in calls:
        hlo = jitted.lower(*args, **kwargs).compile().as_text()
        gathers = _all_gathers(hlo)
        big = [g for g in gathers if max(g[1], default=0) >= n // N_DEVICES]
        assert not big, f"{name}: {fn_name} all-gathers X-sized arrays {big}"
        scanned.add(fn_name)
        if any(a is X_sh for a in args):
            assert "all-reduce" in _collectives(hlo) or gathers, f"{fn_name} never combined the shards"
    assert any(any(a is X_sh for a in args) for _, _, args, _ in calls), "no compiled module read the sharded X"
    fitted = {k: v for k, v in vars(est).items() if k.endswith("_") and hasattr(v, "sharding")}
    want = {k: v for k, v in vars(ref).items() if k.endswith("_") and hasattr(v, "sharding")}
    assert fitted.keys() == want.keys()
    assert_close(fitted, want, rtol=1e2 * _rtol(dtype), atol=1e2 * _rtol(dtype), err_msg=name)


# ------------------------------------------------------------------ every module a fit compiles
@pytest.fixture
def compiled_modules(jax, monkeypatch):
    """Record the optimised HLO text of every XLA executable built from here on -- jitted calls and
    the eager operations JAX compiles one by one alike.  The in-memory caches are cleared first so
    nothing compiled by an earlier test is missed."""
    compiler = pytest.importorskip("jax._src.compiler")
    build = getattr(compiler, "backend_compile_and_load", None)
    if build is None:
        pytest.skip("this JAX has no jax._src.compiler.backend_compile_and_load to observe")
    texts = []

    def spy(*args, **kwargs):
        exe = build(*args, **kwargs)
        texts.append("\n".join(m.to_string() for m in exe.hlo_modules()))
        return exe

    monkeypatch.setattr(compiler, "backend_compile_and_load", spy)
    jax.clear_caches()
    from portable_ml.models import _base

    monkeypatch.setattr(_base, "_JIT_CACHE", {})
    yield texts
    jax.clear_caches()


def _module_name(hlo):
    m = re.search(r"HloModule\s+(\S+?)[,\s]", hlo)
    return m.group(1) if m else "?"


def _big_gathers(texts, n):
    """``(module, dtype, shape)`` of every all-gather in ``texts`` with an axis of ``n / N_DEVICES`` or more."""
    return [(_module_name(t), *g) for t in texts for g in _all_gathers(t) if max(g[1], default=0) >= n // N_DEVICES]


def _collective_counts(texts):
    counts = {}
    for t in texts:
        for c in re.findall(r"\s(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)(?:-start)?\(", t):
            counts[c] = counts.get(c, 0) + 1
    return counts


CLASSIFIERS = {
    "LogisticRegression[newton]": lambda m: m.LogisticRegression(alpha=0.01),
    "LogisticRegression[lbfgs]": lambda m: m.LogisticRegression(alpha=0.01, solver="lbfgs"),
    "SoftmaxRegression": lambda m: m.SoftmaxRegression(alpha=0.1),
    "GaussianNB": lambda m: m.GaussianNB(),
    "LinearDiscriminantAnalysis": lambda m: m.LinearDiscriminantAnalysis(),
}


@pytest.mark.parametrize("name,labels", [(name, "int") for name in CLASSIFIERS]
                         + [("GaussianNB", "float"), ("GaussianNB", "fraction")])
def test_classifier_fits_never_gather_y(jax, dtype, mesh, shardings, compiled_modules, name, labels):
    """Label discovery on row-sharded ``y`` uses reductions (range and a presence count, or per-shard
    distinct values merged small): no compiled module of the fit -- jitted or eager -- all-gathers
    anything of the size of ``y`` or ``X``, and the fit equals the single-device one."""
    sharded, _ = shardings
    n = 4000
    X, y = pml.datasets.make_classification(n, 5, n_informative=3, n_redundant=0,
                                            n_classes=2 if "Logistic" in name else 3, seed=4,
                                            backend="jax", dtype=dtype)
    y = {"int": lambda v: jax.numpy.astype(v, jax.numpy.int32) * 3 - 2,  # labels -2, 1, 4: a sparse range
         "float": lambda v: jax.numpy.astype(v, dtype),
         "fraction": lambda v: jax.numpy.astype(v, dtype) * 0.5 + 0.25}[labels](y)
    one = mesh.devices.flat[0]
    ref = CLASSIFIERS[name](pml.models).fit(jax.device_put(X, one), jax.device_put(y, one))
    compiled_modules.clear()
    est = CLASSIFIERS[name](pml.models).fit(jax.device_put(X, sharded), jax.device_put(y, sharded))
    assert compiled_modules, "nothing was compiled"
    assert not _big_gathers(compiled_modules, n), f"{name}: X- or y-sized all-gathers"
    assert "all-reduce" in _collective_counts(compiled_modules)
    assert_close(est.classes_, ref.classes_)
    assert est.classes_.sharding.is_fully_replicated
    fitted = {k: v for k, v in vars(est).items() if k.endswith("_") and hasattr(v, "sharding")}
    want = {k: v for k, v in vars(ref).items() if k.endswith("_") and hasattr(v, "sharding")}
    assert_close(fitted, want, rtol=1e3 * _rtol(dtype), atol=1e3 * _rtol(dtype), err_msg=name)
    pred = est.predict(jax.device_put(X, sharded))
    assert pred.sharding.is_equivalent_to(sharded, 1)
    assert_close(pred, ref.predict(jax.device_put(X, one)))


# ------------------------------------------------------------------ row-wise densities and distances
@pytest.mark.parametrize("fn", ["mvn_logpdf", "mvn_pdf", "mahalanobis"])
def test_mvn_and_mahalanobis_keep_rows_sharded(jax, dtype, mesh, shardings, fn):
    """On row-sharded ``x`` the Gaussian log-density, density and Mahalanobis distance work on each
    row where it lives: the compiled program has no all-gather, the result is row-sharded (not
    replicated), and it equals SciPy's."""
    scipy_stats = pytest.importorskip("scipy.stats")
    cdist = pytest.importorskip("scipy.spatial.distance").cdist

    sharded, replicated = shardings
    rng = np.random.default_rng(7)
    n, d = 4000, 3
    x_np = rng.normal(size=(n, d))
    mu_np = rng.normal(size=d)
    A = rng.normal(size=(d, d))
    S_np = A @ A.T + d * np.eye(d)
    f = {"mvn_logpdf": pml.probability.mvn_logpdf, "mvn_pdf": pml.probability.mvn_pdf,
         "mahalanobis": pml.distances.mahalanobis}[fn]
    x = jax.device_put(jax.numpy.asarray(x_np, dtype=dtype), sharded)
    mu, S = (jax.device_put(jax.numpy.asarray(v, dtype=dtype), replicated) for v in (mu_np, S_np))
    if fn == "mahalanobis":  # a and b of one shape: both row-sharded
        mu = jax.device_put(jax.numpy.asarray(np.broadcast_to(mu_np, (n, d)), dtype=dtype), sharded)
    hlo = jax.jit(f).lower(x, mu, S).compile().as_text()
    assert not _all_gathers(hlo), f"{fn} gathers: {_all_gathers(hlo)}"
    for out in (f(x, mu, S), jax.jit(f)(x, mu, S)):
        assert out.sharding.is_equivalent_to(sharded, 1) and not out.sharding.is_fully_replicated, out.sharding
        if fn == "mahalanobis":
            want = cdist(x_np, mu_np[None, :], "mahalanobis", VI=np.linalg.inv(S_np))[:, 0]
        else:
            want = getattr(scipy_stats.multivariate_normal(mu_np, S_np), fn[4:])(x_np)
        assert_close(out, want, rtol=1e2 * _rtol(dtype), atol=1e-12)


# ------------------------------------------------------------------ k-means
@pytest.mark.parametrize("case", ["k-means++", "random", "empty-cluster"])
def test_kmeans_fit_never_gathers_the_samples(jax, dtype, mesh, shardings, compiled_modules, case):
    """k-means++ seeding on row-sharded X samples by inverse CDF from per-shard cumulative sums plus
    shard offsets (no cumulative sum over all n), and an empty cluster is moved to the farthest
    samples by argmax reductions (no argsort over all n): no compiled module of the fit all-gathers
    anything X-sized, and the fit picks the same centres as on one device for the same seed."""
    sharded, replicated = shardings
    n = 4000
    X, _ = pml.datasets.make_blobs(n, 3, centers=4, seed=5, backend="jax", dtype=dtype)
    if case == "empty-cluster":  # the last initial centre is far from every sample: its cluster is empty
        init = np.concatenate([np.asarray(X[:3]), np.full((1, 3), 1e3)])
        make = lambda: pml.models.KMeans(n_clusters=4, init=jax.device_put(jax.numpy.asarray(init, dtype=dtype),  # noqa: E731
                                                                             place), max_iter=50)
    else:
        make = lambda: pml.models.KMeans(n_clusters=4, init=case, seed=3, n_init=2, max_iter=50)  # noqa: E731
    one = mesh.devices.flat[0]
    place = one
    ref = make().fit(jax.device_put(X, one))
    place = replicated
    compiled_modules.clear()
    est = make().fit(jax.device_put(X, sharded))
    assert compiled_modules, "nothing was compiled"
    assert not _big_gathers(compiled_modules, n), f"KMeans[{case}]: X-sized all-gathers {_big_gathers(compiled_modules, n)}"
    assert_close(est.cluster_centers_, ref.cluster_centers_, rtol=1e2 * _rtol(dtype), atol=1e2 * _rtol(dtype))
    assert_close(est.inertia_, ref.inertia_, rtol=1e2 * _rtol(dtype))
    assert est.n_iter_ == ref.n_iter_
    assert_close(est.labels_, ref.labels_)
    assert est.labels_.sharding.is_equivalent_to(sharded, 1)
    assert est.cluster_centers_.sharding.is_fully_replicated
