"""What is measured: each case pits one of our functions against a reference.

A case is built lazily (its inputs exist only while it runs) for one
backend, and yields a :class:`Pair`: our call, the reference call, how to
check that they computed the same thing, and the target ratio, if the
project has one for it.

References, by backend:

* **numpy** — the formula sheets' handwritten NumPy code
  (:mod:`benchmarks.references`) or scikit-learn;
* **jax** — our function under ``jax.jit`` against the same handwritten
  formula written with ``jax.numpy`` under ``jax.jit``, and for optimizer and
  training steps against ``optax`` with ``jax.grad`` (jitted); scikit-learn
  where the NumPy backend is compared with scikit-learn;
* **torch, dask, array_api_strict, cupy** — the handwritten NumPy code on the
  host (so the ratio says how that backend fares against plain NumPy), or
  scikit-learn.

Targets: NumPy-backend ratios against handwritten NumPy ≤ 1.1; the
elementwise functions against their compiled, numerically stable references
(SciPy ufuncs, ``jax.nn``, PyTorch natives) ≤ 1.1 on every backend; per-call
cost of activations and losses at n = 10 on NumPy ≤ 2× handwritten NumPy;
every scikit-learn row: ROC-AUC, pairwise euclidean, PCA, logistic
regression ≤ 1.0, KMeans ≤ 1.5 on NumPy and ≤ 1.0 elsewhere; JAX optimizer
and training steps against hand-written JAX + optax ≤ 1.05.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import warnings
from typing import Any, Callable

import numpy as np

from . import references as ref

__all__ = ["Case", "Pair", "Profile", "PROFILES", "Unavailable", "cases"]


class Unavailable(Exception):
    """A reference library (scikit-learn, SciPy, optax) is not installed: the case is skipped."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """Problem sizes of one run mode."""

    name: str
    elementwise_n: tuple
    ce: tuple  # (n_samples, n_classes)
    adam: tuple  # layer widths (d0, d1, d2): params W1 (d0, d1), b1, W2 (d1, d2), b2
    roc_n: int
    pairwise: tuple  # (n, m, d)
    kmeans: tuple  # (n, d, k, iterations)
    pca: tuple  # ((n, d, n_components), ...): tall, wide, k << d
    logreg: tuple  # (n, d)
    mlp: tuple  # (n_samples, layer sizes, batch size)
    overhead_n: int = 10
    linear: tuple = (20_000, 200)  # (n, d) of the linear models and the softmax regression


PROFILES = {
    "full": Profile("full", (10**6, 10**7), (10**5, 1000), (1000, 5000, 1000), 10**6,
                    (10_000, 10_000, 64), (200_000, 16, 8, 50),
                    ((100_000, 100, 10), (2000, 5000, 10), (10_000, 2000, 5)), (100_000, 50),
                    (32_768, (64, 256, 256, 10), 256)),
    "quick": Profile("quick", (10**5,), (10**4, 100), (500, 1000, 500), 10**5,
                     (2000, 2000, 64), (10_000, 16, 8, 10),
                     ((5000, 50, 10), (500, 1000, 10), (2000, 600, 3)), (5000, 20),
                     (2048, (64, 128, 10), 256), linear=(5000, 50)),
    # for the test suite: checks that every case runs and the report is well formed
    "tiny": Profile("tiny", (1000,), (64, 10), (20, 30, 10), 1000, (60, 50, 8), (400, 4, 3, 5),
                    ((300, 12, 3), (40, 80, 3)), (300, 5), (256, (8, 16, 3), 64), linear=(300, 6)),
}


@dataclasses.dataclass
class Pair:
    """Our call and the reference call of one case, ready to time."""

    ours: Callable[[], Any]
    ref: Callable[[], Any]
    reference: str
    sync_ours: Callable | None = None  # default: the backend's synchronize
    sync_ref: Callable | None = None  # default: nothing (host NumPy / scikit-learn)
    host_ref: bool = True  # the reference allocates on the host (tracemalloc sees it)
    check: Callable[[Any, Any], float] | None = None  # -> max relative error
    tol: float | None = None
    target: float | None = None
    memory: bool = False
    note: str | Callable[[], str] = ""  # a callable is asked after the timing
    bytes: int | None = None  # least memory traffic of one call (inputs read + result written)
    id: str | None = None  # the result's id, where a case has several references
    unavailable: str = ""  # why other references of the case are missing (reported as skipped)


@dataclasses.dataclass
class Case:
    """A benchmark, named ``group/id`` at a ``size``, built for one backend on demand."""

    id: str
    group: str
    size: str
    build: Callable[["Context"], "Pair | list[Pair]"]  # several pairs: ours (the first's) vs each reference
    unit: str = "s"
    ids: list | None = None  # the ids of its results, where it has several references


class Context:
    """One backend, one dtype, one profile: puts host data on the backend."""

    def __init__(self, backend, dtype, profile, seed=0):
        self.backend = backend
        self.name = backend.name
        self.dtype = dtype
        self.profile = profile
        self.seed = seed

    @property
    def is_jax(self):
        return self.name == "jax"

    def rng(self, salt=0):
        return np.random.default_rng([self.seed, salt])

    def put(self, tree):
        """Host NumPy arrays (or pytrees of them) as arrays of this backend."""
        from portable_ml.tree import tree_map

        return tree_map(self.backend.asarray, tree)

    def jit(self, fn):
        return self.backend.jit(fn)

    def sync(self, out):
        return self.backend.synchronize(out)

    def to_numpy(self, out):
        return self.backend.to_numpy(out)

    def tol(self, float64=1e-9, float32=1e-4):
        return float64 if self.dtype == "float64" else float32


# ------------------------------------------------------------ helpers
def _ours(module, name):
    """``portable_ml.<module>.<name>``."""
    return getattr(importlib.import_module(f"portable_ml.{module}"), name)


_DIST = {"sklearn": "scikit-learn"}  # import name -> the name pip installs


def _need(module):
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        dist = _DIST.get(top, top)
        raise Unavailable(f"reference skipped: {dist} is not installed (pip install {dist})") from None


def _rel_err(a, b):
    """Normwise relative error of ``a`` against ``b`` (pytrees: the worst leaf)."""
    from portable_ml.backend import to_numpy
    from portable_ml.tree import tree_leaves

    def host(v):  # CuPy refuses np.asarray: copy to the host explicitly
        return np.asarray(to_numpy(v) if hasattr(v, "__dlpack__") else v, dtype=np.float64)

    worst = 0.0
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        x, y = host(x), host(y)
        scale = max(float(np.max(np.abs(y))) if y.size else 0.0, np.finfo(np.float64).tiny)
        worst = max(worst, float(np.max(np.abs(x - y))) / scale if y.size else 0.0)
    return worst


def _quiet(fn):
    """``fn`` with warnings silenced (fixed-iteration fits warn that they did not converge)."""

    def call():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()

    return call


def _jnp_sync(out):
    import jax

    return jax.block_until_ready(out)


def _handwritten(ctx, fn, *host_args, jax_args=None):
    """The handwritten reference: jitted ``jax.numpy`` on JAX, else NumPy on the host.

    Returns ``(call, name, sync, host)``.
    """
    if ctx.is_jax and jax_args is not None:
        import jax
        import jax.numpy as jnp

        f = jax.jit(functools.partial(fn, np=jnp))
        return (lambda: f(*jax_args)), "JAX (handwritten, jit)", _jnp_sync, False
    return (lambda: fn(*host_args)), "NumPy (handwritten)", None, True


#: targets of the scikit-learn rows (issue "Faster than what users would pick instead"); the
#: NumPy target holds on every backend unless one is named
_SKLEARN_TARGETS = {"pca": 1.0, "kmeans": {"numpy": 1.5}, "logistic_regression": 1.0, "softmax_regression": 1.0,
                    "linear_regression": 1.0, "ridge": 1.0, "lasso": 1.5, "elastic_net": 1.5,
                    "mlp_classifier": {"numpy": 1.0}}


def _numpy_target(ctx, value=1.1):
    return value if ctx.name == "numpy" else None


def _time_pair(ctx, ours_fn, ours_args, ref_fn, host_args, *, check=True, memory=False, note=""):
    """A Pair of ``ours_fn(*ours_args)`` (jitted on JAX) against a handwritten formula."""
    f = ctx.jit(ours_fn)
    call, name, sync, host = _handwritten(ctx, ref_fn, *host_args, jax_args=ours_args)
    return Pair(
        ours=lambda: f(*ours_args), ref=call, reference=name, sync_ref=sync, host_ref=host,
        check=_rel_err if check else None, tol=ctx.tol(), target=_numpy_target(ctx),
        memory=memory, note=note,
    )


def _fmt(n):
    """``10**7`` -> ``1e7``; other sizes as written."""
    if isinstance(n, int) and n >= 10**4:
        e = len(str(n)) - 1
        if n == 10**e:
            return f"1e{e}"
    return str(n)


# ------------------------------------------------------------ elementwise
def _with_compiled(ctx, pair, name, grad, args):
    """``pair`` (against handwritten code) and, for the functions that have one, the compiled reference.

    The compiled, numerically stable reference (SciPy ufuncs, ``jax.nn``,
    PyTorch natives; target 1.1) gets the id ``<case>.vs_compiled``; where
    its library is missing the row is reported as skipped.
    """
    if name not in ref.COMPILED_NAMES:
        return pair
    try:
        made = ref.compiled(ctx.name, name, grad)
    except ImportError as exc:
        pair.unavailable = f"reference skipped: {exc.name or exc} is not installed"
        return [pair]
    if made is None:
        pair.unavailable = f"no compiled reference on {ctx.name}"
        return [pair]
    f, label = made
    # the handwritten formula (often unstable: log1p(exp(x)) overflows, 1 - tanh^2 rounds to 0) stays for
    # comparison, without a target; the target is against the compiled, stable reference
    pair.target = None
    other = Pair(pair.ours, lambda: f(*args), label, sync_ref=ctx.sync, host_ref=ctx.name == "numpy",
                 check=_rel_err, tol=pair.tol, target=1.1, memory=pair.memory, bytes=pair.bytes,
                 id=f"{pair.id}.vs_compiled")
    return [pair, other]


def _compiled_ids(base, name):
    return [base, f"{base}.vs_compiled"] if name in ref.COMPILED_NAMES else None


def _activation(name, kind, n):
    base = f"activations.{name}.{kind}"

    def build(ctx):
        f = _ours("activations", name if kind == "forward" else f"{name}_grad")
        x = ctx.rng(1).normal(0, 2, n).astype(ctx.dtype)
        xb = ctx.put(x)
        pair = _time_pair(ctx, f, (xb,), ref.ACTIVATIONS[name][kind == "grad"], (x,), memory=n >= 10**7)
        pair.bytes, pair.id = 2 * x.nbytes, base
        return _with_compiled(ctx, pair, name, kind == "grad", (xb,))

    return Case(base, "elementwise", f"n={_fmt(n)}", build, ids=_compiled_ids(base, name))


def _loss_inputs(ctx, name, n):
    g = ctx.rng(2)
    if name == "binary_cross_entropy_with_logits":
        y = (g.random(n) < 0.5).astype(ctx.dtype)
        p = g.normal(0, 3, n).astype(ctx.dtype)
    else:
        y = g.normal(0, 1, n).astype(ctx.dtype)
        p = (y + g.normal(0, 1.5, n)).astype(ctx.dtype)
    return y, p


def _loss(name, kind, n):
    base = f"losses.{name}.{kind}"

    def build(ctx):
        f = _ours("losses", name if kind == "forward" else f"{name}_grad")
        y, p = _loss_inputs(ctx, name, n)
        yb, pb = ctx.put(y), ctx.put(p)
        pair = _time_pair(ctx, f, (yb, pb), ref.LOSSES[name][kind == "grad"], (y, p), memory=n >= 10**7)
        pair.bytes, pair.id = (3 if kind == "grad" else 2) * p.nbytes, base
        return _with_compiled(ctx, pair, name, kind == "grad", (yb, pb))

    return Case(base, "elementwise", f"n={_fmt(n)}", build, ids=_compiled_ids(base, name))


def _softmax_ce(kind, n, k):
    def build(ctx):
        f = _ours("losses", "softmax_cross_entropy" + ("_grad" if kind == "grad" else ""))
        g = ctx.rng(3)
        logits = g.normal(0, 3, (n, k)).astype(ctx.dtype)
        y = np.zeros((n, k), ctx.dtype)
        y[np.arange(n), g.integers(0, k, n)] = 1
        r = ref.softmax_cross_entropy_grad if kind == "grad" else ref.softmax_cross_entropy
        pair = _time_pair(ctx, f, (ctx.put(y), ctx.put(logits)), r, (y, logits), memory=True)
        pair.bytes = (3 if kind == "grad" else 2) * logits.nbytes
        return pair

    return Case(f"losses.softmax_cross_entropy.{kind}", "elementwise", f"{_fmt(n)}x{k}", build)


# ------------------------------------------------------------ optimizers
def _adam_tree(ctx, widths):
    d0, d1, d2 = widths
    g = ctx.rng(4)

    def layer(a, b):
        return {"W": g.normal(0, 0.05, (a, b)).astype(ctx.dtype), "b": np.zeros(b, ctx.dtype)}

    params = {"layer1": layer(d0, d1), "layer2": layer(d1, d2)}
    grads = {k: {n: g.normal(0, 1, v.shape).astype(ctx.dtype) for n, v in p.items()} for k, p in params.items()}
    return params, grads


def _adam(widths):
    d0, d1, d2 = widths
    n_params = d0 * d1 + d1 + d1 * d2 + d2

    def build(ctx):
        adam = _ours("optimizers", "adam")
        apply_updates = _ours("optimizers", "apply_updates")
        params, grads = _adam_tree(ctx, widths)
        p, gr = ctx.put(params), ctx.put(grads)
        opt = adam(1e-3)
        state = opt.init(p)

        def step(params, grads, state):
            updates, state = opt.update(grads, state, params)
            return apply_updates(params, updates), state

        f = ctx.jit(step)
        ours = lambda: f(p, gr, state)  # noqa: E731
        if ctx.is_jax:
            _need("optax")
            init, jstep = ref.jax_adam_step(1e-3)
            jstate = init(p)
            return Pair(ours, lambda: jstep(p, gr, jstate), "optax (jit)", sync_ref=_jnp_sync, host_ref=False,
                        check=lambda a, b: _rel_err(a[0], b[0]), tol=ctx.tol(1e-12, 1e-5), target=1.05,
                        memory=True)
        rstate = ref.adam_init(params)
        return Pair(ours, lambda: ref.adam_step(params, grads, rstate), "NumPy (handwritten)",
                    check=lambda a, b: _rel_err(a[0], b[0]), tol=ctx.tol(1e-12, 1e-5),
                    target=_numpy_target(ctx), memory=True)

    return Case("optimizers.adam.update", "optimizers", f"{_fmt(n_params)} params", build)


# ------------------------------------------------------------ metrics and distances
def _roc_inputs(ctx, n):
    g = ctx.rng(5)
    y = (g.random(n) < 0.3).astype(np.int64)
    s = np.round(g.normal(0, 1, n) + y, 3).astype(ctx.dtype)  # rounded: many tied scores
    return y, s


def _with_sklearn(pairs, make):
    """``pairs`` with the scikit-learn reference ``make()`` first, when scikit-learn is installed.

    Without scikit-learn the first pair records why (``unavailable``): the
    runner reports the missing reference's result as skipped with that reason.
    """
    try:
        return [make(), *pairs]
    except Unavailable as exc:
        pairs[0].unavailable = str(exc)
        return pairs


def _roc(n):
    def build(ctx):
        f = _ours("metrics", "roc_auc")
        y, s = _roc_inputs(ctx, n)
        yb, sb = ctx.put(y), ctx.put(s)
        fj = ctx.jit(f)
        ours = lambda: fj(yb, sb)  # noqa: E731
        tol = 1e-12 if ctx.dtype == "float64" else 1e-6

        def sklearn():
            metrics = _need("sklearn.metrics")
            return Pair(ours, lambda: metrics.roc_auc_score(y, s), "scikit-learn roc_auc_score", check=_rel_err,
                        tol=tol, target=1.0, memory=True, id="metrics.roc_auc.vs_sklearn")

        return _with_sklearn([Pair(ours, lambda: ref.roc_auc(y, s), "NumPy (handwritten)", check=_rel_err, tol=tol,
                                   target=_numpy_target(ctx), memory=True, id="metrics.roc_auc.vs_numpy")], sklearn)

    return Case("metrics.roc_auc", "metrics", f"n={_fmt(n)}", build,
                ids=["metrics.roc_auc.vs_sklearn", "metrics.roc_auc.vs_numpy"])


def _pairwise(shape):
    n, m, d = shape
    base = "distances.pairwise_euclidean"

    def build(ctx):
        f = _ours("distances", "pairwise_euclidean")
        g = ctx.rng(6)
        A = g.normal(0, 1, (n, d)).astype(ctx.dtype)
        B = g.normal(0, 1, (m, d)).astype(ctx.dtype)
        Ab, Bb = ctx.put(A), ctx.put(B)
        fj = ctx.jit(f)
        ours = lambda: fj(Ab, Bb)  # noqa: E731
        tol = ctx.tol(1e-9, 1e-3)  # the GEMM form loses digits where points are close

        def sklearn():
            pairwise = _need("sklearn.metrics.pairwise")
            note = "scikit-learn upcasts float32 blocks to float64" if ctx.dtype == "float32" else ""
            return Pair(ours, lambda: pairwise.euclidean_distances(A, B), "scikit-learn euclidean_distances",
                        check=_rel_err, tol=tol, target=1.0, memory=True, note=note,
                        id=f"{base}.vs_sklearn")

        call, name, sync, host = _handwritten(ctx, ref.pairwise_euclidean, A, B, jax_args=(Ab, Bb))
        return _with_sklearn([Pair(ours, call, name, sync_ref=sync, host_ref=host, check=_rel_err, tol=tol,
                                   target=_numpy_target(ctx), memory=True, id=f"{base}.vs_numpy")], sklearn)

    return Case(base, "distances", f"{n}x{m}x{d}", build, ids=[f"{base}.vs_sklearn", f"{base}.vs_numpy"])


# ------------------------------------------------------------ models
def _kmeans(shape):
    n, d, k, iters = shape

    def build(ctx):
        KMeans = _ours("models", "KMeans")
        g = ctx.rng(7)
        X = g.normal(0, 1, (n, d)).astype(ctx.dtype)  # no cluster structure: Lloyd runs all iterations
        C0 = X[g.choice(n, k, replace=False)].copy()
        Xb, C0b = ctx.put(X), ctx.put(C0)
        model = KMeans(n_clusters=k, init=C0b, n_init=1, max_iter=iters, tol=0.0)
        ours = _quiet(lambda: model.fit(Xb))
        sync_ours = lambda m: (ctx.sync(m.cluster_centers_), m)[1]  # noqa: E731

        def sklearn():
            cluster = _need("sklearn.cluster")
            sk = cluster.KMeans(n_clusters=k, init=C0, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd")
            return Pair(ours, _quiet(lambda: sk.fit(X)), "scikit-learn KMeans (lloyd)", sync_ours=sync_ours,
                        check=lambda a, b: _kmeans_check(ctx, a, b.inertia_, b.n_iter_, iters),
                        tol=1e-3, target=_SKLEARN_TARGETS["kmeans"].get(ctx.name, 1.0), memory=True,
                        id="models.kmeans.vs_sklearn",
                        note=f"same initial centres; max_iter={iters}, tol=0, n_init=1")

        return _with_sklearn([
            Pair(ours, lambda: ref.kmeans_lloyd(X, C0, iters), "NumPy (handwritten Lloyd)",
                 sync_ours=sync_ours, check=lambda a, b: _kmeans_check(ctx, a, b[1], iters, iters),
                 tol=1e-3, target=_numpy_target(ctx), memory=True, id="models.kmeans.vs_numpy",
                 note=f"{iters} Lloyd iterations from the same centres")], sklearn)

    return Case("models.kmeans", "models", f"{n}x{d} k={k} it={iters}", build,
                ids=["models.kmeans.vs_sklearn", "models.kmeans.vs_numpy"])


def _kmeans_check(ctx, model, ref_inertia, ref_iters, iters):
    """Inertia agreement (Lloyd on unstructured data may swap a few points late on)."""
    if int(model.n_iter_) != iters or int(ref_iters) != iters:
        return float("inf")  # not the same amount of work
    return abs(float(ctx.to_numpy(model.inertia_)) - float(ref_inertia)) / abs(float(ref_inertia))


def _pca(shape):
    n, d, c = shape

    def build(ctx):
        PCA = _ours("models", "PCA")
        g = ctx.rng(8)
        # rank-r signal with a geometrically decaying spectrum plus a little noise: what PCA is for
        # (and what lets scikit-learn's randomized solver reach the exact explained variances)
        r = min(n, d, 50)
        X = ((g.normal(0, 1, (n, r)) * (10.0 * 0.8 ** np.arange(r))) @ g.normal(0, 1, (r, d))
             + 0.01 * g.normal(0, 1, (n, d))).astype(ctx.dtype)
        Xb = ctx.put(X)
        model = PCA(n_components=c)
        ours = lambda: model.fit(Xb)  # noqa: E731
        sync_ours = lambda m: (ctx.sync(m.components_), m)[1]  # noqa: E731
        tol = ctx.tol(1e-8, 1e-3)

        def check(a, ev):
            return _rel_err(ctx.to_numpy(a.explained_variance_), ev)

        def sklearn():
            decomposition = _need("sklearn.decomposition")
            sk = decomposition.PCA(n_components=c)
            fitted = []

            def fit():
                fitted[:] = [sk.fit(X)]
                return fitted[0]

            return Pair(ours, fit, "scikit-learn PCA", sync_ours=sync_ours,
                        check=lambda a, b: check(a, b.explained_variance_), tol=tol,
                        target=_SKLEARN_TARGETS["pca"], memory=True, id="models.pca.vs_sklearn",
                        note=lambda: f"scikit-learn chose svd_solver={getattr(fitted[0], '_fit_svd_solver', '?')!r}")

        return _with_sklearn([
            Pair(ours, lambda: ref.pca_svd(X, c), "NumPy (handwritten SVD)", sync_ours=sync_ours,
                 check=lambda a, b: check(a, b[1]), tol=tol, target=_numpy_target(ctx), memory=True,
                 id="models.pca.vs_numpy")], sklearn)

    return Case("models.pca", "models", f"{n}x{d} k={c}", build, ids=["models.pca.vs_sklearn", "models.pca.vs_numpy"])


def _logreg_data(ctx, n, d):
    g = ctx.rng(9)
    X = g.normal(0, 1, (n, d))
    w = g.normal(0, 1, d) / np.sqrt(d) * 3
    y = (g.random(n) < 1 / (1 + np.exp(-(X @ w + 0.5)))).astype(np.int64)
    return X.astype(ctx.dtype), y


def _logreg_objective(X, y, w, b, alpha):
    z = X.astype(np.float64) @ np.asarray(w, np.float64).ravel() + float(np.asarray(b).ravel()[0])
    return float(np.mean(np.logaddexp(0, z) - y * z) + alpha / 2 * np.sum(np.asarray(w, np.float64) ** 2))


def _logreg(shape, solver=None):
    n, d = shape

    def build(ctx):
        LogisticRegression = _ours("models", "LogisticRegression")
        linear_model = _need("sklearn.linear_model")
        X, y = _logreg_data(ctx, n, d)
        Xb, yb = ctx.put(X), ctx.put(y)
        alpha, tol = 1.0 / n, 1e-6  # scikit-learn's C = 1 / (n * alpha) = 1
        model = LogisticRegression(alpha=alpha, tol=tol, max_iter=1000, **({"solver": solver} if solver else {}))
        sk = linear_model.LogisticRegression(C=1.0 / (n * alpha), tol=tol, max_iter=1000)
        ours = _quiet(lambda: model.fit(Xb, yb))
        sync_ours = lambda m: (ctx.sync(m.coef_), m)[1]  # noqa: E731

        def check(a, b):
            ja = _logreg_objective(X, y, ctx.to_numpy(a.coef_), ctx.to_numpy(a.intercept_), alpha)
            jb = _logreg_objective(X, y, b.coef_, b.intercept_, alpha)
            return (ja - jb) / abs(jb)  # > 0: ours stopped at a worse objective

        return Pair(ours, _quiet(lambda: sk.fit(X, y)), "scikit-learn LogisticRegression (lbfgs)", sync_ours=sync_ours,
                    check=check, tol=1e-6, target=_SKLEARN_TARGETS["logistic_regression"], memory=True,
                    note=lambda: f"ours: solver={model.solver!r}, {model.n_iter_} iterations; "
                                 f"scikit-learn: {int(sk.n_iter_[0])}; C = 1/(n alpha) = 1, tol={tol} both; "
                                 "error = relative objective gap (negative: ours lower)")

    name = "logistic_regression" if solver is None else f"logistic_regression_{solver}"
    return Case(f"models.{name}.vs_sklearn", "models", f"{n}x{d}", build)


def _softmax_objective(X, y, W, b, alpha):
    Z = X.astype(np.float64) @ np.asarray(W, np.float64).T + np.asarray(b, np.float64).ravel()
    m = Z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - Z[np.arange(len(y)), y]) + alpha / 2 * np.sum(np.asarray(W, np.float64) ** 2))


def _softmax(shape, k=5):
    n, d = shape

    def build(ctx):
        SoftmaxRegression = _ours("models", "SoftmaxRegression")
        linear_model = _need("sklearn.linear_model")
        g = ctx.rng(12)
        X = g.normal(0, 1, (n, d))
        Z = X @ (g.normal(0, 1, (d, k)) * 2 / np.sqrt(d))
        y = (Z + g.gumbel(size=(n, k))).argmax(axis=1)
        X = X.astype(ctx.dtype)
        Xb, yb = ctx.put(X), ctx.put(y)
        alpha, tol = 1.0 / n, 1e-6
        model = SoftmaxRegression(alpha=alpha, tol=tol, max_iter=1000)
        sk = linear_model.LogisticRegression(C=1.0 / (n * alpha), tol=tol, max_iter=1000)
        ours = _quiet(lambda: model.fit(Xb, yb))
        sync_ours = lambda m: (ctx.sync(m.coef_), m)[1]  # noqa: E731

        def check(a, b):
            ja = _softmax_objective(X, y, ctx.to_numpy(a.coef_), ctx.to_numpy(a.intercept_), alpha)
            jb = _softmax_objective(X, y, b.coef_, b.intercept_, alpha)
            return (ja - jb) / abs(jb)

        return Pair(ours, _quiet(lambda: sk.fit(X, y)), "scikit-learn LogisticRegression (lbfgs, multinomial)",
                    sync_ours=sync_ours, check=check, tol=1e-6, target=_SKLEARN_TARGETS["softmax_regression"],
                    memory=True,
                    note=lambda: f"ours: solver={model.solver!r}, {model.n_iter_} iterations; scikit-learn: "
                                 f"{int(np.max(sk.n_iter_))}; {k} classes, C = 1/(n alpha) = 1, tol={tol} both; "
                                 "error = relative objective gap (negative: ours lower)")

    return Case("models.softmax_regression.vs_sklearn", "models", f"{n}x{d} k={k}", build)


#: linear models against scikit-learn: ours, scikit-learn's, the coefficient tolerance (iterative
#: solvers stop at their own tolerances: scikit-learn's default tol=1e-4 duality gap, ours 1e-4)
_LINEAR_MODELS = {
    "linear_regression": ("LinearRegression", {}, "LinearRegression", {}, 1e-8),
    "ridge": ("Ridge", {"alpha": 0.01}, "Ridge", {"alpha": 0.01}, 1e-8),
    "lasso": ("Lasso", {"alpha": 0.01}, "Lasso", {"alpha": 0.01}, 1e-3),
    "elastic_net": ("ElasticNet", {"alpha": 0.01, "l1_ratio": 0.5}, "ElasticNet", {"alpha": 0.01, "l1_ratio": 0.5},
                    1e-3),
}


def _linear(name, shape):
    n, d = shape
    ours_name, ours_kw, sk_name, sk_kw, tol = _LINEAR_MODELS[name]

    def build(ctx):
        Model = _ours("models", ours_name)
        linear_model = _need("sklearn.linear_model")
        g = ctx.rng(13)
        X = g.normal(0, 1, (n, d))
        w = g.normal(0, 1, d) * (g.random(d) < 0.2)  # a sparse truth: the l1 models have work to do
        y = (X @ w + 0.5 + g.normal(0, 1, n)).astype(ctx.dtype)
        X = X.astype(ctx.dtype)
        Xb, yb = ctx.put(X), ctx.put(y)
        model = Model(**ours_kw)
        sk = getattr(linear_model, sk_name)(**sk_kw)
        ours = _quiet(lambda: model.fit(Xb, yb))
        sync_ours = lambda m: (ctx.sync(m.coef_), m)[1]  # noqa: E731

        def check(a, b):
            return _rel_err(np.r_[ctx.to_numpy(a.coef_).ravel(), ctx.to_numpy(a.intercept_).ravel()],
                            np.r_[b.coef_.ravel(), np.ravel(b.intercept_)])

        opts = ", ".join(f"{k}={v}" for k, v in ours_kw.items()) or "defaults"
        return Pair(ours, _quiet(lambda: sk.fit(X, y)), f"scikit-learn {sk_name}", sync_ours=sync_ours,
                    check=check, tol=tol if ctx.dtype == "float64" else max(tol, 1e-4),
                    target=_SKLEARN_TARGETS[name], memory=True,
                    note=f"{opts} both; error = relative error of [coef, intercept] against scikit-learn's")

    return Case(f"models.{name}.vs_sklearn", "models", f"{n}x{d}", build)


# ------------------------------------------------------------ training
def _mlp(spec):
    n, sizes, batch = spec

    def build(ctx):
        MLP = _ours("nn", "MLP")
        adam = _ours("optimizers", "adam")
        apply_updates = _ours("optimizers", "apply_updates")
        g = ctx.rng(10)
        X = g.normal(0, 1, (n, sizes[0])).astype(ctx.dtype)
        Y = np.eye(sizes[-1], dtype=ctx.dtype)[g.integers(0, sizes[-1], n)]
        net = MLP(list(sizes), activation="relu", output="softmax")
        params = net.init(ctx.backend.rng(0), dtype=getattr(ctx.backend.xp, ctx.dtype))
        host = ref.mlp_init_like(ctx.to_numpy(params))
        opt = adam(1e-3)
        state = opt.init(params)
        batches = [(ctx.put(X[i:i + batch]), ctx.put(Y[i:i + batch])) for i in range(0, n, batch)]

        def step(params, state, x, y):
            _, grads = net.loss_and_grads(params, x, y)
            updates, state = opt.update(grads, state, params)
            return apply_updates(params, updates), state

        f = ctx.jit(step)

        def ours():
            p, s = params, state
            for x, y in batches:
                p, s = f(p, s, x, y)
            return p

        check = lambda a, b: _rel_err(ctx.to_numpy(a), b[0])  # noqa: E731
        tol = ctx.tol(1e-9, 1e-3)
        if ctx.is_jax:
            _need("optax")
            init, epoch = ref.jax_mlp_epoch(1e-3)
            jstate = init(params)
            return Pair(ours, lambda: epoch(params, jstate, batches), "JAX + optax (jax.grad, jit)",
                        sync_ref=_jnp_sync, host_ref=False, check=check, tol=tol, target=1.05,
                        note=f"{len(batches)} jitted steps of batch {batch}")
        hb = [(X[i:i + batch], Y[i:i + batch]) for i in range(0, n, batch)]
        rstate = ref.adam_init(host)
        return Pair(ours, lambda: ref.mlp_epoch(host, rstate, hb), "NumPy (handwritten backprop + Adam)",
                    check=check, tol=tol, target=_numpy_target(ctx),
                    note=f"{len(batches)} steps of batch {batch}")

    return Case("nn.mlp.train_epoch", "training", f"{n}x{sizes[0]} {'-'.join(map(str, sizes))}", build)


def _mlp_autodiff(spec):
    """The MLP epoch with gradients from ``autodiff.value_and_grad`` against the analytic backprop."""
    n, sizes, batch = spec

    def build(ctx):
        MLP = _ours("nn", "MLP")
        adam = _ours("optimizers", "adam")
        apply_updates = _ours("optimizers", "apply_updates")
        value_and_grad = _ours("autodiff", "value_and_grad")
        g = ctx.rng(10)
        X = g.normal(0, 1, (n, sizes[0])).astype(ctx.dtype)
        Y = np.eye(sizes[-1], dtype=ctx.dtype)[g.integers(0, sizes[-1], n)]
        net = MLP(list(sizes), activation="relu", output="softmax")
        params = net.init(ctx.backend.rng(0), dtype=getattr(ctx.backend.xp, ctx.dtype))
        opt = adam(1e-3)
        state = opt.init(params)
        batches = [(ctx.put(X[i:i + batch]), ctx.put(Y[i:i + batch])) for i in range(0, n, batch)]

        # what a user writes: the forward pass and a library loss, taken as one operation with its
        # analytic gradient (autodiff.primitive; traced through op by op it costs about 2x more here)
        sce = _ours("autodiff", "primitive")(_ours("losses", "softmax_cross_entropy"))

        def loss(params, x, y):
            return sce(y, net.logits(params, x))

        grad_fn = value_and_grad(loss)

        def traced_step(params, state, x, y):
            _, grads = grad_fn(params, x, y)
            updates, state = opt.update(grads, state, params)
            return apply_updates(params, updates), state

        def analytic_step(params, state, x, y):
            _, grads = net.loss_and_grads(params, x, y)
            updates, state = opt.update(grads, state, params)
            return apply_updates(params, updates), state

        def epoch(step):
            def run():
                p, s = params, state
                for x, y in batches:
                    p, s = step(p, s, x, y)
                return p
            return run

        check = lambda a, b: _rel_err(ctx.to_numpy(a), ctx.to_numpy(b))  # noqa: E731
        return Pair(epoch(ctx.jit(traced_step)), epoch(ctx.jit(analytic_step)),
                    "portable_ml analytic backprop (MLP.loss_and_grads)", sync_ref=ctx.sync, host_ref=False,
                    check=check, tol=ctx.tol(1e-9, 1e-4), target=1.5 if ctx.name == "numpy" else None,
                    memory=True, note=f"{len(batches)} steps of batch {batch}; ours: autodiff.value_and_grad")

    return Case("autodiff.mlp.train_epoch", "training", f"{n}x{sizes[0]} {'-'.join(map(str, sizes))}", build)


def _mlp_estimator(spec):
    n, sizes, batch = spec
    base = "models.mlp_classifier.fit_epoch"

    def build(ctx):
        MLPClassifier = _ours("models", "MLPClassifier")
        MLP = _ours("nn", "MLP")
        adam = _ours("optimizers", "adam")
        g = ctx.rng(11)
        X = g.normal(0, 1, (n, sizes[0])).astype(ctx.dtype)
        labels = g.integers(0, sizes[-1], n)
        Y = np.eye(sizes[-1], dtype=ctx.dtype)[labels]
        Xb, yb = ctx.put(X), ctx.put(labels)
        est = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", optimizer=adam(1e-3),
                            epochs=1, batch_size=batch, seed=0)
        ours = _quiet(lambda: est.fit(Xb, yb))
        sync_ours = lambda m: (ctx.sync(m.params_), m)[1]  # noqa: E731

        def check(m, _):  # different initial weights and sample order: only a sane fit is checked
            return 0.0 if np.all(np.isfinite(ctx.to_numpy(m.loss_curve_))) else float("inf")

        def sklearn():
            neural_network = _need("sklearn.neural_network")
            sk = neural_network.MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu",
                                              solver="adam", learning_rate_init=1e-3, batch_size=batch,
                                              max_iter=1, alpha=0.0, shuffle=True, random_state=0)
            return Pair(ours, _quiet(lambda: sk.fit(X, labels)), "scikit-learn MLPClassifier (adam)",
                        sync_ours=sync_ours, check=lambda m, r: check(m, r) if np.isfinite(r.loss_) else np.inf,
                        tol=0.0, target=_SKLEARN_TARGETS["mlp_classifier"].get(ctx.name), id=f"{base}.vs_sklearn",
                        note="one epoch (max_iter=1) of the same network, batch, Adam step and no L2 penalty; "
                             "scikit-learn also computes the epoch's loss")

        params = MLP(list(sizes), activation="relu", output="softmax").init(
            ctx.backend.rng(0), dtype=getattr(ctx.backend.xp, ctx.dtype))
        perm = np.random.default_rng(0).permutation(n)
        note = f"fit(epochs=1): validation, label encoding, initialisation, {-(-n // batch)} shuffled batches"
        if ctx.is_jax:
            import jax.numpy as jnp

            _need("optax")
            init, epoch = ref.jax_mlp_epoch(1e-3)
            jstate, Yb, pb = init(params), ctx.put(Y), ctx.put(perm)

            def jax_ref():
                batches = [(jnp.take(Xb, pb[i:i + batch], axis=0), jnp.take(Yb, pb[i:i + batch], axis=0))
                           for i in range(0, n, batch)]
                return epoch(params, jstate, batches)

            return _with_sklearn([Pair(ours, jax_ref, "JAX + optax (jax.grad, jit)", sync_ours=sync_ours,
                                       sync_ref=_jnp_sync, host_ref=False, check=check, tol=0.0, target=1.05,
                                       note=note, id=base)], sklearn)
        host = ref.mlp_init_like(ctx.to_numpy(params))
        rstate = ref.adam_init(host)

        def numpy_ref():
            batches = [(X[perm[i:i + batch]], Y[perm[i:i + batch]]) for i in range(0, n, batch)]
            return ref.mlp_epoch(host, rstate, batches)

        return _with_sklearn([Pair(ours, numpy_ref, "NumPy (handwritten backprop + Adam)", sync_ours=sync_ours,
                                   check=check, tol=0.0, target=_numpy_target(ctx), note=note, id=base)], sklearn)

    return Case(base, "training", f"{n}x{sizes[0]} {'-'.join(map(str, sizes))}", build,
                ids=[f"{base}.vs_sklearn", base])


# ------------------------------------------------------------ per-call overhead
def _overhead(label, module, name, make, reference):
    def build(ctx):
        f = _ours(module, name)
        host = make(ctx)
        pair = _time_pair(ctx, f, tuple(ctx.put(a) for a in host), reference, host)
        # per-call cost of the elementwise losses and activations: at most twice handwritten NumPy
        pair.target = 2.0 if ctx.name == "numpy" and module in ("activations", "losses") else None
        return pair

    return Case(f"overhead.{label}", "overhead", "n=10", build, unit="us")


def _overhead_cases(n):
    def vec(ctx, salt=11):
        return (ctx.rng(salt).normal(0, 1, n).astype(ctx.dtype),)

    def two(ctx):
        g = ctx.rng(12)
        return g.normal(0, 1, n).astype(ctx.dtype), g.normal(0, 1, n).astype(ctx.dtype)

    def labels(ctx):
        g = ctx.rng(13)
        return (g.random(n) < 0.5).astype(ctx.dtype), g.normal(0, 1, n).astype(ctx.dtype)

    def ce(ctx):
        g = ctx.rng(14)
        y = np.eye(5, dtype=ctx.dtype)[g.integers(0, 5, 2)]
        return y, g.normal(0, 1, (2, 5)).astype(ctx.dtype)

    return [
        _overhead("activations.sigmoid", "activations", "sigmoid", vec, ref.sigmoid),
        _overhead("activations.relu", "activations", "relu", vec, ref.relu),
        _overhead("activations.gelu_grad", "activations", "gelu_grad", vec, ref.gelu_grad),
        _overhead("losses.mse", "losses", "mse", two, ref.mse),
        _overhead("losses.mse_grad", "losses", "mse_grad", two, ref.mse_grad),
        _overhead("losses.huber", "losses", "huber", two, ref.huber),
        _overhead("losses.binary_cross_entropy_with_logits", "losses", "binary_cross_entropy_with_logits",
                  labels, ref.bce_with_logits),
        _overhead("losses.softmax_cross_entropy", "losses", "softmax_cross_entropy", ce,
                  ref.softmax_cross_entropy),
        _overhead("distances.euclidean", "distances", "euclidean", two, ref.euclidean),
    ]


# ------------------------------------------------------------ the suite
def cases(profile):
    """Every case of ``profile`` (a :class:`Profile` or its name), in report order."""
    p = PROFILES[profile] if isinstance(profile, str) else profile
    out = []
    for n in p.elementwise_n:
        for name in ref.ACTIVATIONS:
            out += [_activation(name, "forward", n), _activation(name, "grad", n)]
        for name in ref.LOSSES:
            out += [_loss(name, "forward", n), _loss(name, "grad", n)]
    out += [_softmax_ce("forward", *p.ce), _softmax_ce("grad", *p.ce)]
    out += [_adam(p.adam)]
    out += [_roc(p.roc_n), _pairwise(p.pairwise), _kmeans(p.kmeans), *(_pca(s) for s in p.pca)]
    out += [_logreg(p.logreg), _logreg(p.logreg, "lbfgs"), _softmax(p.linear)]
    out += [_linear(name, p.linear) for name in _LINEAR_MODELS]
    out += [_mlp(p.mlp), _mlp_autodiff(p.mlp), _mlp_estimator(p.mlp)]
    out += _overhead_cases(p.overhead_n)
    return out
