"""Passes over X and peak worker memory of the Dask fits, on data larger than the cluster's memory.

Run from a checkout (the ``portable_ml`` found on ``sys.path`` is measured)::

    python -m benchmarks.dask_streaming --label after --json benchmarks/dask_streaming_after.json
    python -m benchmarks.dask_streaming --plot benchmarks/dask_streaming_*.json --out docs/dask_streaming.png

(as a module: the chunk generator is then pickled by reference and its counter is shared).

A ``LocalCluster`` of two in-process, single-threaded workers, each with a
memory limit (``--worker-mib``, default 64 MiB), fits every estimator on
``--rows`` x 8 float64 generated chunk by chunk on the workers (default
3.2 M rows, 205 MB: three times the cluster's memory).  The chunk generator
counts its calls, so "passes" is how many times each chunk of X was
computed during ``fit`` (the largest count over the chunks), and "peak" is
the most bytes of task results one worker held at once (Dask's managed
memory, spilled bytes included).  Spilling by process memory and pausing
are off (in-process workers share this process); a worker spills to disk
when its managed memory passes 60% of its limit.  Scheduler and worker
warnings logged during the fit are counted too.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time

import numpy as np

D, CHUNK = 8, 50_000
_CALLS: dict = {}
_LOCK = threading.Lock()


def _make(seed, block_id=None, block_info=None):
    # the graph is pickled, even for in-process workers: reach the counter through sys.modules
    import sys

    here = sys.modules[__name__]
    with here._LOCK:
        here._CALLS[block_id[0]] = here._CALLS.get(block_id[0], 0) + 1
    rows = block_info[None]["chunk-shape"][0]
    r = np.random.default_rng([seed, block_id[0]])
    return r.normal(size=(rows, D)) * np.linspace(0.5, 3.0, D) + 7.0


def _data(n):
    import dask.array as da

    return da.map_blocks(_make, 0, chunks=((CHUNK,) * (n // CHUNK), (D,)), dtype=np.float64, meta=np.empty((0, 0)))


def _cases(pml):
    init = np.random.default_rng(5).normal(size=(4, D)) * 2.0 + 7.0
    regression = lambda X: X @ np.linspace(-1.0, 2.0, D) + 0.5 * X[:, 0] * X[:, 1]  # noqa: E731

    def classes(X):
        xp = pml.get_backend("dask").xp
        return xp.astype(X[:, 0] > 7.0, xp.int64) + xp.astype(X[:, 1] - X[:, 2] > 0, xp.int64)

    def binary(X):
        xp = pml.get_backend("dask").xp
        return xp.astype(X[:, 0] + 0.3 * X[:, 1] > 9.0, xp.int64)

    return {
        "LinearRegression": (lambda: pml.models.LinearRegression(), regression),
        "Ridge": (lambda: pml.models.Ridge(alpha=10.0), regression),
        "PCA": (lambda: pml.models.PCA(n_components=3), None),
        "LinearDiscriminantAnalysis": (lambda: pml.models.LinearDiscriminantAnalysis(), classes),
        "KMeans (5 iterations)": (lambda: pml.models.KMeans(n_clusters=4, max_iter=5, tol=0.0,
                                                            init=pml.get_backend("dask").asarray(init)), None),
        "Lasso": (lambda: pml.models.Lasso(alpha=0.1), regression),
        "ElasticNet": (lambda: pml.models.ElasticNet(alpha=0.1, l1_ratio=0.5), regression),
        "GaussianNB": (lambda: pml.models.GaussianNB(), classes),
        "LogisticRegression newton (5 iterations)": (
            lambda: pml.models.LogisticRegression(solver="newton", max_iter=5, tol=0.0), binary),
        "LogisticRegression lbfgs (5 iterations)": (
            lambda: pml.models.LogisticRegression(solver="lbfgs", max_iter=5, tol=0.0), binary),
        "LogisticRegression gd (5 iterations)": (
            lambda: pml.models.LogisticRegression(solver="gd", max_iter=5, tol=0.0), binary),
        "SoftmaxRegression newton (5 iterations)": (
            lambda: pml.models.SoftmaxRegression(solver="newton", max_iter=5, tol=0.0), classes),
    }


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        self.count += 1


def measure(rows, worker_mib, label, only=None):
    import warnings

    import dask
    from distributed import Client, LocalCluster, WorkerPlugin

    import portable_ml as pml

    class Peak(WorkerPlugin):
        name = "peak"

        def setup(self, worker):
            self.worker, self.peak = worker, 0

        def transition(self, key, start, finish, **kwargs):
            self.peak = max(self.peak, self.worker.state.nbytes)

    config = {"distributed.worker.memory.target": 0.6, "distributed.worker.memory.spill": False,
              "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False}
    results = []
    handler = _Warnings()
    logging.getLogger("distributed").addHandler(handler)
    with dask.config.set(config), LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                               memory_limit=worker_mib * 2**20, dashboard_address=None) as lc, \
            Client(lc) as client:
        client.register_plugin(Peak())
        for name, (make, target) in _cases(pml).items():
            if only and not any(o.lower() in name.lower() for o in only):
                continue
            X = _data(rows)
            y = None if target is None else target(X)
            workers = list(lc.workers.values())
            for w in workers:
                w.plugins["peak"].peak = 0
            spilled0 = sum(w.data.spilled_total.disk for w in workers)
            _CALLS.clear()
            handler.count = 0
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est = make().fit(X) if y is None else make().fit(X, y)
            seconds = time.perf_counter() - t0
            fit_passes = max(_CALLS.values())
            _CALLS.clear()
            attrs = {k: v for k, v in vars(est).items() if k.endswith("_") and k != "labels_" and hasattr(v, "dask")}
            client.compute(attrs, sync=True)  # using the model: 0 passes when the attributes are concrete
            results.append({
                "estimator": name, "label": label, "rows": rows, "data_bytes": int(X.nbytes),
                "worker_limit_bytes": worker_mib * 2**20, "fit_passes": fit_passes,
                "attribute_passes": max(_CALLS.values(), default=0),
                "peak_worker_bytes": max(w.plugins["peak"].peak for w in workers),
                "spilled_bytes": sum(w.data.spilled_total.disk for w in workers) - spilled0,
                "warnings": handler.count, "fit_seconds": round(seconds, 2),
            })
            print(json.dumps(results[-1]), flush=True)
    return results


def plot(files, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for f in files for r in json.load(open(f))]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    names = list(dict.fromkeys(r["estimator"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        by = {r["estimator"]: r for r in rows if r["label"] == label}
        xs = np.arange(len(names)) + i * width
        axes[0].bar(xs, [by[n]["fit_passes"] + by[n]["attribute_passes"] if n in by else 0 for n in names],
                    width, label=label)
        axes[1].bar(xs, [by[n]["peak_worker_bytes"] / 2**20 if n in by else 0 for n in names], width, label=label)
    limit = rows[0]["worker_limit_bytes"] / 2**20
    axes[1].axhline(limit, color="k", ls="--", lw=1, label="worker memory limit")
    axes[0].set_ylabel("passes over X (fit + fitted attributes)")
    axes[1].set_ylabel("peak worker memory (MiB)")
    for ax in axes:
        short = [n.replace("LogisticRegression", "Logistic").replace("SoftmaxRegression", "Softmax")
                 .replace("LinearDiscriminantAnalysis", "LDA").replace(" iterations", " it.") for n in names]
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, short, rotation=35, ha="right", fontsize=8)
        ax.legend(fontsize=8)
    fig.suptitle(f"Dask fits on {rows[0]['data_bytes'] / 1e6:.0f} MB of X, 2 workers x {limit:.0f} MiB", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_200_000)
    parser.add_argument("--worker-mib", type=int, default=64)
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--json", help="write the measurements here")
    parser.add_argument("--only", nargs="+", help="measure only the estimators whose names contain one of these")
    parser.add_argument("--plot", nargs="+", help="JSON files to draw (no measuring)")
    parser.add_argument("--out", default="dask_streaming.png")
    args = parser.parse_args()
    if args.plot:
        plot(args.plot, args.out)
        return
    results = measure(args.rows, args.worker_mib, args.label, args.only)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
