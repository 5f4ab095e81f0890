"""portable_ml on a ``dask.distributed`` cluster, on chunked ``dask.array`` input.

A ``LocalCluster`` with two single-threaded workers talks TCP on loopback.
The data are generated chunk by chunk *on the workers* (``map_blocks`` with a
seed per block), so no process ever holds the whole array unless a
computation gathers it.  Every result is compared with the NumPy result on
the same data.

"Never materialised on one worker" is checked at run time by a scheduler
plugin that logs, for every task that finishes, the bytes of its result and
of its inputs: no task may touch more than a couple of chunks' worth of
data.  The task that ``compute()`` uses to hand the final result back to the
client (``finalize-...``) is left out: that is the output the caller asked
for.  As a control, ``roc_auc`` (one global sort) *does* gather the scores
into one task, and the same check sees it.  The log also shows that both
workers ran tasks.  What this does not bound: how many chunks a worker holds
at once (that is the scheduler's business), and the size of the output.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import portable_ml as pml
from portable_ml.testing import assert_close

pytestmark = pytest.mark.slow  # the slow tier: run with -m slow (ci/test.sh does)

pytest.importorskip("dask")
pytest.importorskip("distributed")

N, D, CHUNK = 8000, 6, 500  # 16 row chunks
SMALL = 16 * 1024  # allowance for small operands in a task: parameters, d x d matrices, partial sums


# ------------------------------------------------------------------ the cluster and its task log
def _plugin_class():
    from distributed.diagnostics.plugin import SchedulerPlugin

    class TaskLog(SchedulerPlugin):
        """Records (key, result bytes, input bytes, workers) of every task that finishes."""

        name = "pml-task-log"

        def __init__(self):
            self.records = []

        async def start(self, scheduler):
            self.scheduler = scheduler

        def transition(self, key, start, finish, *args, **kwargs):
            if finish != "memory":
                return
            ts = self.scheduler.tasks.get(key)
            if ts is not None:
                deps = sum(d.nbytes for d in ts.dependencies)
                self.records.append((str(key), ts.nbytes, deps, frozenset(w.address for w in ts.who_has)))

    return TaskLog


@pytest.fixture(scope="module")
def cluster(request):
    if "dask" not in request.config._pml_backends:
        pytest.skip("dask not selected with --pml-backends")
    from distributed import Client, LocalCluster

    log = _plugin_class()()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None,
                      # the scheduler's HTTP endpoint on a free loopback port (not 8787: xdist workers)
                      scheduler_kwargs={"plugins": [log], "dashboard_address": "127.0.0.1:0"}) as lc, Client(lc) as client:
        yield client, log


def _run(cluster, lazy):
    """Compute ``lazy`` (a Dask collection or a tuple of them) on the cluster; (values, task records)."""
    client, log = cluster
    log.records.clear()
    values = client.compute(lazy, sync=True)
    return values, list(log.records)


def _check_chunkwise(records, limit, *, what):
    """No task (but the final hand-back) touched more than ``limit`` bytes; both workers worked."""
    work = _work(records)
    assert work, f"{what}: no task ran on the cluster"
    key, out, deps, _ = max(work, key=lambda r: r[1] + r[2])
    assert out + deps <= limit, (f"{what}: task {key} touched {out + deps} bytes (result {out}, inputs {deps}); "
                                 f"a chunk-wise computation stays under {limit}")
    workers = frozenset().union(*(r[3] for r in work))
    assert len(workers) == 2, f"{what}: tasks ran on {len(workers)} worker(s)"


def _work(records):
    """The records of the computation proper: without the tasks that hand the results back to the
    client (``...finalize...``, possibly fused with the last operations, and ``dict-...`` for a
    dict of results), which hold the output the caller asked for."""
    return [r for r in records if "finalize" not in r[0] and not re.match(r"\(?'?dict-", r[0])]


def _limit(*chunk_bytes, factor=2):
    """A couple of chunks: ``factor`` times the largest chunk involved (input or output), plus small operands."""
    return factor * max(chunk_bytes) + SMALL


# ------------------------------------------------------------------ chunked data, made on the workers
def _blocks(n, d, chunk, seed, make):
    import dask.array as da

    def block(block_id=None, block_info=None):
        rows = block_info[None]["chunk-shape"][0]
        return make(np.random.default_rng([seed, block_id[0]]), rows, d)

    return da.map_blocks(block, chunks=((chunk,) * (n // chunk), (d,)), dtype=np.float64,
                         meta=np.empty((0, 0)))


def _normal(n=N, d=D, chunk=CHUNK, seed=0):
    return _blocks(n, d, chunk, seed, lambda r, rows, d: r.normal(size=(rows, d)))


def _chunk_bytes(x):
    return int(np.prod([max(c) for c in x.chunks])) * x.dtype.itemsize


# ------------------------------------------------------------------ formulas
def test_losses_reduce_chunkwise(cluster):
    X = _normal()
    xp = pml.get_backend("dask").xp
    y, p = X[:, 0], X[:, 1]
    logits = X[:, :4]
    onehot = xp.astype(logits == xp.max(logits, axis=1, keepdims=True), X.dtype)
    lazy = (pml.losses.mse(y, p), pml.losses.huber(y, p, delta=0.5),
            pml.losses.binary_cross_entropy_with_logits(xp.astype(y > 0, X.dtype), p),
            pml.losses.softmax_cross_entropy(onehot, X[:, 2:]),
            pml.losses.huber_grad(y, p, delta=0.5, reduction="none"))
    assert lazy[-1].chunks == y.chunks  # elementwise results keep the chunks
    got, records = _run(cluster, lazy)
    Xn = X.compute()
    yn, pn = Xn[:, 0], Xn[:, 1]
    oh = (Xn[:, :4] == Xn[:, :4].max(axis=1, keepdims=True)).astype(float)
    want = (pml.losses.mse(yn, pn), pml.losses.huber(yn, pn, delta=0.5),
            pml.losses.binary_cross_entropy_with_logits((yn > 0).astype(float), pn),
            pml.losses.softmax_cross_entropy(oh, Xn[:, 2:]),
            pml.losses.huber_grad(yn, pn, delta=0.5, reduction="none"))
    assert_close(tuple(got), want, rtol=1e-12)
    _check_chunkwise(records, _limit(_chunk_bytes(X)), what="losses")


def test_metrics_reduce_chunkwise(cluster):
    X = _normal(seed=1)
    xp = pml.get_backend("dask").xp
    y_true = xp.astype(X[:, 0] > 0, xp.int64)
    y_pred = xp.astype(X[:, 0] + X[:, 1] > 0, xp.int64)
    k3_true = xp.astype(X[:, 2] > 0, xp.int64) + xp.astype(X[:, 3] > 0.5, xp.int64)
    k3_pred = xp.astype(X[:, 2] + 0.3 * X[:, 4] > 0, xp.int64) + xp.astype(X[:, 3] > 0.5, xp.int64)
    prob = pml.activations.sigmoid(2 * X[:, 0] + X[:, 1])
    lazy = (pml.metrics.accuracy(y_true, y_pred), pml.metrics.f1(y_true, y_pred), pml.metrics.mcc(y_true, y_pred),
            pml.metrics.confusion_matrix(k3_true, k3_pred, 3),
            pml.metrics.f1(k3_true, k3_pred, average="macro", num_classes=3),
            pml.metrics.log_loss(y_true, prob), pml.metrics.r2(X[:, 0], X[:, 0] + 0.1 * X[:, 1]),
            pml.metrics.mae(X[:, 0], X[:, 1]))
    got, records = _run(cluster, lazy)
    Xn = X.compute()
    t, pr = (Xn[:, 0] > 0).astype(int), (Xn[:, 0] + Xn[:, 1] > 0).astype(int)
    kt = (Xn[:, 2] > 0).astype(int) + (Xn[:, 3] > 0.5).astype(int)
    kp = (Xn[:, 2] + 0.3 * Xn[:, 4] > 0).astype(int) + (Xn[:, 3] > 0.5).astype(int)
    want = (pml.metrics.accuracy(t, pr), pml.metrics.f1(t, pr), pml.metrics.mcc(t, pr),
            pml.metrics.confusion_matrix(kt, kp, 3), pml.metrics.f1(kt, kp, average="macro", num_classes=3),
            pml.metrics.log_loss(t, pml.activations.sigmoid(2 * Xn[:, 0] + Xn[:, 1])),
            pml.metrics.r2(Xn[:, 0], Xn[:, 0] + 0.1 * Xn[:, 1]), pml.metrics.mae(Xn[:, 0], Xn[:, 1]))
    assert_close(tuple(got), want, rtol=1e-12)
    _check_chunkwise(records, _limit(_chunk_bytes(X)), what="metrics")


def test_roc_auc_is_exact_but_gathers_the_scores(cluster):
    """The control: a global sort does not decompose, and the task log sees the gather."""
    X = _normal(seed=2)
    xp = pml.get_backend("dask").xp
    y, s = xp.astype(X[:, 0] > 0, xp.int64), X[:, 0] + X[:, 1]
    got, records = _run(cluster, pml.metrics.roc_auc(y, s))
    Xn = X.compute()
    assert_close(got, pml.metrics.roc_auc((Xn[:, 0] > 0).astype(int), Xn[:, 0] + Xn[:, 1]), rtol=1e-12)
    with pytest.raises(AssertionError, match="touched"):
        _check_chunkwise(records, _limit(_chunk_bytes(X)), what="roc_auc")
    assert max(out + deps for _, out, deps, _ in _work(records)) >= N * 8, "expected one task holding every score"


def test_pairwise_distances_and_kernels_are_blockwise(cluster):
    A = _normal(seed=3)
    B = _normal(n=600, chunk=200, seed=4)
    D_ = pml.distances.pairwise_euclidean(A, B)
    K = pml.distances.rbf_kernel(A, B, sigma=2.0)
    assert D_.chunks == (A.chunks[0], B.chunks[0]) and K.chunks == D_.chunks
    # nearest neighbour of every row of A: the (n, m) matrix exists only block by block
    lazy = (pml.get_backend("dask").xp.min(D_, axis=1), K[:7, :9])
    got, records = _run(cluster, lazy)
    An, Bn = A.compute(), B.compute()
    want = (pml.distances.pairwise_euclidean(An, Bn).min(axis=1), pml.distances.rbf_kernel(An, Bn, sigma=2.0)[:7, :9])
    assert_close(tuple(got), want, rtol=1e-9, atol=1e-12)
    # The GEMM form contracts [-2a, |a|^2, 1] with [b, 1, |b|^2]: on Dask those are three column
    # chunks, so each output block is the sum of three partial blocks (four blocks at that task).
    limit = _limit(_chunk_bytes(A), _chunk_bytes(D_), factor=4)
    assert limit <= D_.nbytes / 4
    _check_chunkwise(records, limit, what="pairwise")


def test_probability_densities_are_chunkwise(cluster):
    X = _normal(seed=5)
    rng = np.random.default_rng(0)
    mu = rng.normal(size=D)
    a = rng.normal(size=(D, D))
    Sigma = a @ a.T / D + np.eye(D)
    be = pml.get_backend("dask")
    lazy = (pml.probability.mvn_logpdf(X, be.asarray(mu), be.asarray(Sigma)),
            pml.probability.gaussian_logpdf(X[:, 0], 0.5, 2.0))
    assert lazy[0].chunks[0] == X.chunks[0]
    got, records = _run(cluster, lazy)
    Xn = X.compute()
    want = (pml.probability.mvn_logpdf(Xn, mu, Sigma), pml.probability.gaussian_logpdf(Xn[:, 0], 0.5, 2.0))
    assert_close(tuple(got), want, rtol=1e-11)
    _check_chunkwise(records, _limit(_chunk_bytes(X)), what="densities")


# ------------------------------------------------------------------ estimators
# An estimator "decomposes" when its fit is a fixed number of passes of chunk-wise work
# (X^T X, X^T y, per-chunk partial sums, tall-skinny QR) plus small d x d algebra.  Then
# the largest task does not grow with the number of samples: that is what we check, by
# fitting on n and on 2n rows with the same chunks and comparing the largest task.
# Arrays that Dask chunks itself ("auto", e.g. arange(n)) get CHUNK samples per chunk, as the data.
N_SMALL, N_LARGE = 2000, 4000


def _regression(n, seed=0):
    X = _normal(n=n, seed=seed)
    return X, X @ np.linspace(-2.0, 3.0, D) + 0.3 * X[:, 0] * X[:, 1] + 1.5


def _binary(n, seed=0):
    X = _normal(n=n, seed=seed)
    return X, X @ np.linspace(-1.0, 1.0, D) + 0.5 * X[:, 2] ** 2 > 0.4


def _multiclass(n, seed=0):
    X = _normal(n=n, seed=seed)
    xp = pml.get_backend("dask").xp
    return X, xp.astype(X[:, 0] > 0.3, xp.int64) + xp.astype(X[:, 1] - 0.5 * X[:, 2] > 0, xp.int64)


def _blobs(n, seed=0):
    centres = np.array([[4.0, 0, 0, 0, 0, 0], [0, 4.0, 0, 0, 0, 0], [0, 0, 4.0, 0, 0, 0]])

    def make(r, rows, d):
        return centres[r.integers(0, 3, rows)] + r.normal(size=(rows, d))

    return _blocks(n, D, CHUNK, seed, make), None


def _attrs(est):
    names = sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("_"))
    return {k: getattr(est, k) for k in names if hasattr(getattr(est, k), "shape")}


ESTIMATORS = {
    "LinearRegression[lstsq]": (lambda m: m.LinearRegression(), _regression, "predict"),
    "LinearRegression[normal]": (lambda m: m.LinearRegression(solver="normal"), _regression, "predict"),
    "Ridge": (lambda m: m.Ridge(alpha=10.0), _regression, "predict"),
    "Lasso": (lambda m: m.Lasso(alpha=0.05, tol=1e-10, max_iter=5000), _regression, "predict"),
    "PCA": (lambda m: m.PCA(n_components=3), _regression, "transform"),
    "KMeans": (lambda m: m.KMeans(n_clusters=3, seed=0, max_iter=50), _blobs, "predict"),
    "MiniBatchKMeans": (lambda m: m.MiniBatchKMeans(n_clusters=3, seed=0, max_iter=20, batch_size=256), _blobs,
                        "predict"),
    "LinearSVC": (lambda m: m.LinearSVC(alpha=0.01, tol=1e-10), _binary, "decision_function"),
    "LogisticRegression": (lambda m: m.LogisticRegression(alpha=0.01, tol=1e-9), _binary, "predict_proba"),
    "GaussianNB": (lambda m: m.GaussianNB(), _multiclass, "predict_proba"),
    "LinearDiscriminantAnalysis": (lambda m: m.LinearDiscriminantAnalysis(), _multiclass, "predict_proba"),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimator_fits_chunkwise_on_the_cluster(cluster, name):
    import dask

    make, data, method = ESTIMATORS[name]
    peaks = {}
    with dask.config.set({"array.chunk-size": f"{CHUNK * 8}B"}):  # auto chunks: CHUNK samples
        for n in (N_SMALL, N_LARGE):
            X, y = data(n)
            X, y = (X, y) if y is None else dask.persist(X, y)
            client, log = cluster
            log.records.clear()
            est = make(pml.models).fit(X) if y is None else make(pml.models).fit(X, y)
            out = getattr(est, method)(X)
            assert out.chunks[0] == X.chunks[0], f"{name}.{method} should keep X's row chunks"
            fitted, out_values = client.compute((_attrs(est), out[:50]), sync=True)
            work = _work(log.records)
            peaks[n] = _peaks_by_operation(work)
            assert len(frozenset().union(*(r[3] for r in work))) == 2, f"{name}: one worker did everything"
    # the same estimator on NumPy, on the same (large) data
    Xn, yn = X.compute(), (None if y is None else y.compute())
    ref = make(pml.models).fit(Xn) if yn is None else make(pml.models).fit(Xn, yn)
    want = _attrs(ref)
    assert fitted.keys() == want.keys()
    assert_close(fitted, want, rtol=1e-7, atol=1e-9, err_msg=name)
    assert_close(out_values, getattr(ref, method)(Xn[:50]), rtol=1e-7, atol=1e-9, err_msg=name)
    small, large = peaks[N_SMALL], peaks[N_LARGE]
    grown = {op: (small.get(op, 0), b) for op, b in large.items() if b > 1.25 * small.get(op, 0) + GROWTH_SLACK}
    assert not grown, (f"{name}: tasks that grew with the number of samples (bytes at {N_SMALL} and {N_LARGE} "
                       f"rows, same chunks): {grown}; something gathers the samples instead of reducing "
                       "chunk by chunk")


# A reduction combines one small partial result per chunk (a partial sum, a d x d R factor of
# the tall-skinny QR), so with twice the chunks its last task grows by a few KiB: allowed.
GROWTH_SLACK = 8192


def _peaks_by_operation(records):
    """Largest task (result + input bytes) per operation name (the key without its token)."""
    peaks = {}
    for key, out, deps, _ in records:
        op = re.sub(r"-([0-9a-f]{32}|[0-9a-f-]{36}).*", "", key.strip("('"))
        peaks[op] = max(peaks.get(op, 0), out + deps)
    return peaks


def test_lloyd_step_relocates_empty_clusters_chunkwise(cluster):
    """Two centres far from every sample: they take the farthest and second-farthest samples, as on NumPy."""
    X = _normal(n=N_SMALL, seed=7)
    centres = np.array([[0.0] * D, [0.5] * D, [50.0] * D, [-60.0] * D, [0.2, -0.3, 0, 0, 0, 0]])
    import dask

    with dask.config.set({"array.chunk-size": f"{CHUNK * 8}B"}):  # arange(n) chunked like the samples
        res = pml.models.lloyd_step(X, pml.get_backend("dask").asarray(centres))
        got, records = _run(cluster, tuple(res))
    want = pml.models.lloyd_step(X.compute(), centres)
    assert_close(tuple(got), tuple(want), rtol=1e-12)
    assert np.asarray(got[1]).max() < 5 and not np.any(np.isin([2, 3], np.asarray(got[1])))  # 2 and 3 were empty
    # distances in the GEMM form: each (chunk, k) block sums three partial blocks (see the pairwise test)
    _check_chunkwise(records, _limit(_chunk_bytes(X), factor=4), what="lloyd_step")


# ------------------------------------------------------------------ streaming fits: passes over X, memory
# Data larger than the cluster's memory: STREAM_N rows of STREAM_D float64 (~51 MB) against two
# workers of STREAM_LIMIT bytes each.  Spilling by process memory and pausing are off (with in-process
# workers the "process" is this whole test run); a worker spills when its managed memory -- the data
# it holds -- passes 60% of its limit, and that is what must not happen.  Every chunk of X records
# each time it is computed, so the number of passes over X is read off the counter.
STREAM_N, STREAM_D, STREAM_CHUNK = 800_000, 8, 20_000
STREAM_LIMIT = 16 * 2**20


_PASS_COUNTS = {}  # counter name -> {chunk index: computations}; the graph holds only the name
_PASS_LOCK = __import__("threading").Lock()


class _Passes:
    """Counts computations of every row chunk of the generated X (threads of in-process workers)."""

    def __init__(self, name):
        self.name = name
        _PASS_COUNTS[name] = {}

    @property
    def calls(self):
        return _PASS_COUNTS[self.name]

    def reset(self):
        with _PASS_LOCK:
            _PASS_COUNTS[self.name].clear()

    def passes(self, n_chunks):
        """How many times every chunk was read (all the same, or an AssertionError)."""
        counts = {self.calls.get(i, 0) for i in range(n_chunks)}
        assert len(counts) == 1, f"chunks were read unequal numbers of times: {sorted(counts)}"
        return counts.pop()


def _count_and_make(name, seed, block_id=None, block_info=None):
    with _PASS_LOCK:
        calls = _PASS_COUNTS[name]
        calls[block_id[0]] = calls.get(block_id[0], 0) + 1
    rows = block_info[None]["chunk-shape"][0]
    r = np.random.default_rng([seed, block_id[0]])
    return r.normal(size=(rows, STREAM_D)) * np.linspace(0.5, 3.0, STREAM_D) + 7.0


def _streamed(counter, seed=0, n=STREAM_N, chunk=STREAM_CHUNK):
    import dask.array as da

    return da.map_blocks(_count_and_make, counter.name, seed, chunks=((chunk,) * (n // chunk), (STREAM_D,)),
                         dtype=np.float64, meta=np.empty((0, 0)))


def _memory_plugin_class():
    from distributed import WorkerPlugin

    class PeakMemory(WorkerPlugin):
        """Largest managed memory (bytes of task results held) of the worker, after every transition."""

        name = "pml-peak-memory"

        def setup(self, worker):
            self.worker = worker
            self.peak = 0

        def transition(self, key, start, finish, **kwargs):
            self.peak = max(self.peak, self.worker.state.nbytes)

    return PeakMemory


@pytest.fixture(scope="module")
def small_cluster(request):
    if "dask" not in request.config._pml_backends:
        pytest.skip("dask not selected with --pml-backends")
    import dask
    from distributed import Client, LocalCluster

    config = {"distributed.worker.memory.target": 0.6, "distributed.worker.memory.spill": False,
              "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False}
    with dask.config.set(config), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=False, memory_limit=STREAM_LIMIT,
                         dashboard_address=None,
                         scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as lc, Client(lc) as client:
        client.register_plugin(_memory_plugin_class()())
        yield client, lc


def _worker_memory(cluster):
    """(peak managed bytes, bytes spilled to disk) over the workers since the last reset."""
    workers = list(cluster.workers.values())
    peak = max(w.plugins["pml-peak-memory"].peak for w in workers)
    spilled = sum(w.data.spilled_total.disk for w in workers)
    return peak, spilled


def _reset_worker_memory(cluster):
    for w in cluster.workers.values():
        w.plugins["pml-peak-memory"].peak = 0


def _sk_reference(name, X, y):
    """scikit-learn's fit on the in-memory data: {attribute: value} for the attributes compared."""
    decomposition = pytest.importorskip("sklearn.decomposition")
    discriminant_analysis = pytest.importorskip("sklearn.discriminant_analysis")
    linear_model = pytest.importorskip("sklearn.linear_model")
    naive_bayes = pytest.importorskip("sklearn.naive_bayes")

    if name == "PCA":
        ref = decomposition.PCA(n_components=3, svd_solver="full").fit(X)
        return {k: getattr(ref, k) for k in ("mean_", "components_", "explained_variance_", "singular_values_")}
    if name == "LinearDiscriminantAnalysis":
        ref = discriminant_analysis.LinearDiscriminantAnalysis().fit(X, y)
        return {k: getattr(ref, k) for k in ("classes_", "means_", "priors_", "coef_", "intercept_")}
    if name == "GaussianNB":
        ref = naive_bayes.GaussianNB().fit(X, y)
        return {k: getattr(ref, k) for k in ("classes_", "theta_", "var_", "class_prior_", "class_count_",
                                             "epsilon_")}
    if name in ("Lasso", "ElasticNet"):  # coordinate descent to a gap far below ours
        ref = linear_model.ElasticNet(alpha=0.05, l1_ratio=1.0 if name == "Lasso" else 0.3, tol=1e-14,
                                      max_iter=100_000)
    else:
        ref = linear_model.Ridge(alpha=10.0) if name == "Ridge" else linear_model.LinearRegression()
    ref.fit(X, y)
    return {"coef_": ref.coef_, "intercept_": np.asarray(ref.intercept_)}


STREAMING = {
    # estimator, targets made from X (None: unsupervised)
    "LinearRegression[lstsq]": (lambda m: m.LinearRegression(), "regression"),
    "LinearRegression[normal]": (lambda m: m.LinearRegression(solver="normal"), "regression"),
    "Ridge": (lambda m: m.Ridge(alpha=10.0), "regression"),
    "PCA": (lambda m: m.PCA(n_components=3), None),
    "LinearDiscriminantAnalysis": (lambda m: m.LinearDiscriminantAnalysis(), "classes"),
    "GaussianNB": (lambda m: m.GaussianNB(), "classes"),
    # one pass of sufficient statistics, then the iterations on the d x d Gram form in memory
    "Lasso": (lambda m: m.Lasso(alpha=0.05, tol=1e-10, max_iter=10_000), "regression"),
    "ElasticNet": (lambda m: m.ElasticNet(alpha=0.05, l1_ratio=0.3, tol=1e-10, max_iter=10_000), "regression"),
}
# iterative solutions (FISTA against scikit-learn's coordinate descent) agree to the solvers' tolerance
_STREAMING_RTOL = {"Lasso": 1e-7, "ElasticNet": 1e-7}


def _targets(X, kind):
    if kind == "regression":
        return X @ np.linspace(-1.0, 2.0, STREAM_D) + 0.5 * X[:, 0] * X[:, 1]
    xp = pml.get_backend("dask").xp
    return xp.astype(X[:, 0] > 7.0, xp.int64) + xp.astype(X[:, 1] - X[:, 2] > 0, xp.int64)


@pytest.mark.parametrize("name", list(STREAMING))
def test_fit_reads_X_once_within_worker_memory(small_cluster, caplog, name):
    """Closed forms and PCA: one pass over X (labels found in it), no spill, no scheduler warning;
    the fitted attributes are small concrete arrays, so using the model reads nothing of the training data."""
    import logging

    client, lc = small_cluster
    counter = _Passes(name)
    X = _streamed(counter)
    n_chunks = X.numblocks[0]
    assert X.nbytes > 1.5 * 2 * STREAM_LIMIT  # larger than the whole cluster's memory
    make, kind = STREAMING[name]
    y = None if kind is None else _targets(X, kind)
    _reset_worker_memory(lc)
    with caplog.at_level(logging.WARNING, logger="distributed"):
        est = make(pml.models).fit(X) if y is None else make(pml.models).fit(X, y)
    assert counter.passes(n_chunks) == 1, f"{name}.fit read X {counter.passes(n_chunks)} times"
    peak, spilled = _worker_memory(lc)
    assert spilled == 0, f"{name}.fit spilled {spilled} bytes"
    assert peak < 0.6 * STREAM_LIMIT, f"{name}.fit held {peak} bytes on a worker"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warnings, warnings
    # concrete attributes: no graph over the training data remains
    attrs = _attrs(est)
    for key, value in attrs.items():
        keys = {str(k) for k in value.__dask_graph__().keys()}
        assert not any(X.name in k for k in keys), f"{name}.{key} still depends on X"
        assert value.npartitions == 1 or value.ndim == 0
    counter.reset()
    fitted = client.compute(attrs, sync=True)
    head = (est.predict(X[:100]) if hasattr(est, "predict") else est.transform(X[:100])).compute()
    assert counter.calls.keys() <= {0}, "using the fitted model re-read the training data"
    # scikit-learn on the same data, in memory
    Xn = X.compute()
    yn = None if y is None else y.compute()
    want = _sk_reference(name, Xn, yn)
    rtol = _STREAMING_RTOL.get(name, 1e-9)
    assert_close({k: fitted[k] for k in want}, want, rtol=rtol, atol=rtol / 10, err_msg=name)
    pred = (Xn[:100] - want["mean_"]) @ want["components_"].T if name == "PCA" else None
    if name == "LinearDiscriminantAnalysis":
        pred = want["classes_"][np.argmax(Xn[:100] @ want["coef_"].T + want["intercept_"], axis=1)]
    elif name == "GaussianNB":
        GaussianNB = pytest.importorskip("sklearn.naive_bayes").GaussianNB
        pred = GaussianNB().fit(Xn, yn).predict(Xn[:100])
    elif pred is None:
        pred = Xn[:100] @ want["coef_"] + want["intercept_"]
    assert_close(head, pred, rtol=rtol, atol=rtol / 10, err_msg=name)


def test_pairwise_output_blocks_fit_a_worker(cluster):
    """The reported case: A in 100k-row chunks against 3000 rows of B made 2.4 GB output blocks.
    Now each (n, m) block holds at most ``array.chunk-size`` bytes (the graph of that case is only
    built), and a scaled-down run (one 4000 x 1000 block before, 32 MB) with a 1 MiB target runs
    with no task result above the target."""
    import warnings

    import dask
    import dask.array as da
    euclidean_distances = pytest.importorskip("sklearn.metrics.pairwise").euclidean_distances

    A = da.zeros((400_000, 10), chunks=(100_000, 10))
    B = da.zeros((3000, 10), chunks=(3000, 10))
    limit = dask.utils.parse_bytes(dask.config.get("array.chunk-size"))
    for fn in (pml.distances.pairwise_euclidean, pml.distances.rbf_kernel, pml.distances.pairwise_manhattan):
        out = fn(A, B)
        assert max(out.chunks[0]) * max(out.chunks[1]) * 8 <= limit, fn.__name__
    with warnings.catch_warnings():  # a 400k x 400k output has ~10^4 blocks, and Dask says so
        warnings.simplefilter("ignore", dask.array.PerformanceWarning)
        square = pml.distances.pairwise_euclidean(A)
    assert max(square.chunks[0]) * max(square.chunks[1]) * 8 <= limit and square.chunks[0] == square.chunks[1]

    rng = np.random.default_rng(0)
    An, Bn = rng.normal(size=(4_000, 6)), rng.normal(size=(1_000, 6))
    with dask.config.set({"array.chunk-size": "1MiB"}):
        D = pml.distances.pairwise_euclidean(da.from_array(An, chunks=(4_000, 6)), da.from_array(Bn, chunks=(1_000, 6)))
    assert max(D.chunks[0]) * max(D.chunks[1]) * 8 <= 2**20
    got, records = _run(cluster, pml.get_backend("dask").xp.min(D, axis=1))
    assert_close(got, euclidean_distances(An, Bn).min(axis=1), rtol=1e-9, atol=1e-9)
    biggest = max(out for _, out, _, _ in _work(records) if out < An.nbytes)  # the input itself is one task
    assert biggest <= 2**20, f"a task produced {biggest} bytes"


def test_kmeans_reads_X_once_per_iteration(small_cluster, caplog):
    """KMeans on data larger than a worker's memory: one pass for the tolerance (variance) and the
    finiteness check, one per Lloyd iteration, one for the final inertia; k-means++ one pass per centre
    (plus the chunks holding the drawn candidates); no spill and no scheduler warning (no 'different
    run_spec').  Fewer rows than the closed-form test: this one makes about twenty passes."""
    import logging
    import warnings

    SkKMeans = pytest.importorskip("sklearn.cluster").KMeans

    client, lc = small_cluster
    counter = _Passes("kmeans")
    X = _streamed(counter, seed=3, n=STREAM_N // 2, chunk=2 * STREAM_CHUNK)
    n_chunks = X.numblocks[0]
    assert X.nbytes > 1.5 * STREAM_LIMIT
    init = np.random.default_rng(5).normal(size=(4, STREAM_D)) * 2.0 + 7.0
    _reset_worker_memory(lc)
    with caplog.at_level(logging.WARNING, logger="distributed"), warnings.catch_warnings():
        warnings.simplefilter("ignore", pml.models.ConvergenceWarning)
        est = pml.models.KMeans(n_clusters=4, init=pml.get_backend("dask").asarray(init), max_iter=6).fit(X)
        assert counter.passes(n_chunks) == est.n_iter_ + 2
        counter.reset()
        seeded = pml.models.KMeans(n_clusters=4, seed=0, max_iter=3).fit(X)
    most = max(counter.calls.values())
    assert most <= 1 + 1 + 3 + 3 + 1 + seeded.n_iter_ + 1, f"k-means++ and Lloyd read a chunk {most} times"
    assert min(counter.calls.values()) == 1 + 1 + 3 + seeded.n_iter_ + 1
    peak, spilled = _worker_memory(lc)
    assert spilled == 0 and peak < 0.6 * STREAM_LIMIT, (peak, spilled)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for value in (est.cluster_centers_, est.inertia_):
        assert not any(X.name in str(k) for k in value.__dask_graph__().keys())
    Xn = X.compute()
    ref = SkKMeans(4, init=init, n_init=1, max_iter=est.n_iter_, tol=0.0, algorithm="lloyd").fit(Xn)
    assert_close(est.cluster_centers_.compute(), ref.cluster_centers_, rtol=1e-6)
    assert_close(est.inertia_.compute(), ref.inertia_, rtol=1e-6)


@pytest.mark.parametrize("name", ["LogisticRegression", "SoftmaxRegression"])
def test_newton_reads_X_about_once_per_iteration(small_cluster, caplog, name):
    """Newton on Dask: one pass for the classes, one at the start, then one per iteration (the chunks
    return the line-search losses and the loss/gradient/Hessian at the full step together); only a
    shortened step costs another.  No spill, no scheduler warning, small concrete coefficients."""
    import logging

    SkLogistic = pytest.importorskip("sklearn.linear_model").LogisticRegression

    client, lc = small_cluster
    counter = _Passes(name)
    # multinomial Newton (a (d+1)k Hessian per chunk) and its reference are slow here: fewer rows
    rows = STREAM_N // 2 if name == "LogisticRegression" else STREAM_N // 4
    X = _streamed(counter, seed=4, n=rows, chunk=2 * STREAM_CHUNK)
    y = _targets(X, "classes")
    if name == "LogisticRegression":
        y = y > 0
    alpha = 1e-3
    _reset_worker_memory(lc)
    with caplog.at_level(logging.WARNING, logger="distributed"):
        est = getattr(pml.models, name)(alpha=alpha, tol=1e-8).fit(X, y)
    passes = counter.passes(X.numblocks[0])
    assert 2 + est.n_iter_ <= passes <= 2 + est.n_iter_ + 2, (passes, est.n_iter_)
    peak, spilled = _worker_memory(lc)
    assert spilled == 0 and peak < STREAM_LIMIT, (peak, spilled)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for value in (est.coef_, est.intercept_, est.classes_):
        assert not any(X.name in str(k) for k in value.__dask_graph__().keys())
    Xn, yn = X.compute(), y.compute()
    ref = SkLogistic(C=1.0 / (alpha * Xn.shape[0]), solver="newton-cg", tol=1e-10, max_iter=1000).fit(Xn, yn)
    assert_close(est.coef_.compute(), ref.coef_, rtol=1e-4, atol=1e-6)
    assert_close(est.classes_.compute(), ref.classes_)


@pytest.mark.parametrize("name,solver", [("LogisticRegression", "lbfgs"), ("SoftmaxRegression", "lbfgs"),
                                         ("LogisticRegression", "gd")])
def test_first_order_solvers_read_X_once_per_iteration(small_cluster, caplog, name, solver):
    """L-BFGS and gradient descent on Dask: each iteration is one pass over X (one task per chunk
    returning loss and gradient -- and for L-BFGS the line-search losses -- together), plus one pass for
    the classes (and the Gram matrix of gd) and, for L-BFGS, one at the start and one per shortened
    step.  No spill, no scheduler warning, small concrete coefficients equal to the in-memory fit
    (and, if converged, to scikit-learn's).  A few iterations only: the pass count per iteration
    is the point, and each pass regenerates X."""
    import logging
    import warnings

    SkLogistic = pytest.importorskip("sklearn.linear_model").LogisticRegression

    client, lc = small_cluster
    counter = _Passes(f"{name}-{solver}")
    X = _streamed(counter, seed=6, n=STREAM_N // 2, chunk=2 * STREAM_CHUNK)
    assert X.nbytes > 1.5 * STREAM_LIMIT
    y = _targets(X, "classes")
    if name == "LogisticRegression":
        y = y > 0
    alpha = 1e-2
    make = lambda: getattr(pml.models, name)(alpha=alpha, solver=solver, tol=1e-8,  # noqa: E731
                                             max_iter=20 if solver == "lbfgs" else 15)
    _reset_worker_memory(lc)
    with caplog.at_level(logging.WARNING, logger="distributed"), warnings.catch_warnings():
        warnings.simplefilter("ignore", pml.models.ConvergenceWarning)  # gd: a few iterations only
        est = make().fit(X, y)
    passes = counter.passes(X.numblocks[0])
    if solver == "gd":
        assert passes == 1 + est.n_iter_, (passes, est.n_iter_)
    else:
        # a shortened step (data-dependent: here X is far from centred) costs one more pass
        assert 2 + est.n_iter_ <= passes <= 2 + 2 * est.n_iter_, (passes, est.n_iter_)
    peak, spilled = _worker_memory(lc)
    # chunks twice the usual size here: 0.6 of the limit is under four of them, and a loaded machine
    # can leave four chunks read ahead on a worker (seen in CI: 4.03 chunks); six is still streaming
    assert spilled == 0 and peak < 6 * _chunk_bytes(X), (peak, spilled)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for value in (est.coef_, est.intercept_, est.classes_):
        assert not any(X.name in str(k) for k in value.__dask_graph__().keys())
        assert value.npartitions == 1
    Xn, yn = X.compute(), y.compute()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pml.models.ConvergenceWarning)
        mem = make().fit(Xn, yn)
    assert mem.n_iter_ == est.n_iter_
    assert_close(est.coef_.compute(), mem.coef_, rtol=1e-9, atol=1e-12)
    assert_close(est.intercept_.compute(), mem.intercept_, rtol=1e-9, atol=1e-12)
    if solver == "lbfgs" and est.n_iter_ < 20:  # converged
        ref = SkLogistic(C=1.0 / (alpha * Xn.shape[0]), solver="newton-cg", tol=1e-10, max_iter=1000).fit(Xn, yn)
        assert_close(est.coef_.compute(), ref.coef_, rtol=1e-4, atol=1e-5)


def test_mlp_streams_one_chunk_at_a_time(small_cluster, caplog):
    """MLPClassifier on Dask X larger than the cluster: one pass to find the classes, then one pass per
    epoch (chunks in a fresh random order, each computed alone and shuffled within itself); workers hold
    no more than a few chunks, nothing spills, the fitted parameters are small concrete arrays, and the
    model learns what the in-memory fit learns."""
    import logging

    client, lc = small_cluster
    counter = _Passes("mlp")
    rows = STREAM_N // 2
    X = _streamed(counter, seed=5, n=rows, chunk=2 * STREAM_CHUNK)
    assert X.nbytes > 1.5 * STREAM_LIMIT
    y = _targets(X, "classes")
    epochs = 2
    _reset_worker_memory(lc)
    with caplog.at_level(logging.WARNING, logger="distributed"):
        est = pml.models.MLPClassifier(hidden_layer_sizes=(16,), epochs=epochs, batch_size=256, seed=0).fit(X, y)
    assert counter.passes(X.numblocks[0]) == 1 + epochs
    peak, spilled = _worker_memory(lc)
    assert spilled == 0 and peak < 0.6 * STREAM_LIMIT, (peak, spilled)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for leaf in pml.tree.tree_leaves(est.params_):
        assert not any(X.name in str(k) for k in leaf.__dask_graph__().keys())
    curve = est.loss_curve_.compute()
    assert curve.shape == (epochs,) and np.all(np.isfinite(curve)) and curve[1] < curve[0]
    Xn, yn = X[:20_000].compute(), y[:20_000].compute()
    ref = pml.models.MLPClassifier(hidden_layer_sizes=(16,), epochs=epochs, batch_size=256, seed=0).fit(Xn, yn)
    ours, theirs = float(np.mean(est.predict(X[:20_000]).compute() == yn)), float(np.mean(ref.predict(Xn) == yn))
    assert ours > 0.6 and ours > theirs - 0.05, (ours, theirs)  # 3 classes: chance is below 0.5
