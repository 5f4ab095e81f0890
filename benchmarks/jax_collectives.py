"""The collectives each estimator's fit compiles on row-sharded JAX input.

Run from a checkout (the ``portable_ml`` found on ``sys.path`` is measured)::

    python -m benchmarks.jax_collectives --out benchmarks/jax_collectives.md

Four CPU devices are simulated (``XLA_FLAGS=--xla_force_host_platform_device_count=4``,
set here before JAX is imported).  Every estimator is fitted on ``X`` (and
``y``) sharded by rows over the four devices, in float64; the optimised HLO
of every executable built during the fit (jitted calls and eager operations
alike) is read, and its collectives counted by kind.  An all-gather is "of
X's size" when one of its axes is at least ``n / 4`` long: the fit would then
hold a quarter or more of the rows on one device.  ``tests/test_multidevice.py``
asserts there are none; this script lists what remains (all-reduces of
per-shard statistics, and gathers of small per-shard factors).
"""

from __future__ import annotations

import argparse
import os
import re

N_DEVICES = 4
_KINDS = ("all-reduce", "all-gather", "all-to-all", "collective-permute", "reduce-scatter")


def _estimators(models, init):
    return {
        "LinearRegression (lstsq)": (lambda: models.LinearRegression(), "reg"),
        "LinearRegression (normal)": (lambda: models.LinearRegression(solver="normal"), "reg"),
        "Ridge": (lambda: models.Ridge(alpha=1.0), "reg"),
        "Lasso": (lambda: models.Lasso(alpha=0.01), "reg"),
        "ElasticNet": (lambda: models.ElasticNet(alpha=0.01), "reg"),
        "PCA": (lambda: models.PCA(n_components=3), None),
        "KMeans (k-means++)": (lambda: models.KMeans(n_clusters=4, seed=0), None),
        "KMeans (given centres)": (lambda: models.KMeans(n_clusters=4, init=init), None),
        "LinearDiscriminantAnalysis": (lambda: models.LinearDiscriminantAnalysis(), "multi"),
        "GaussianNB": (lambda: models.GaussianNB(), "multi"),
        "LogisticRegression (newton)": (lambda: models.LogisticRegression(alpha=0.01), "binary"),
        "LogisticRegression (lbfgs)": (lambda: models.LogisticRegression(alpha=0.01, solver="lbfgs"), "binary"),
        "LogisticRegression (gd)": (lambda: models.LogisticRegression(alpha=0.01, solver="gd", max_iter=50),
                                    "binary"),
        "SoftmaxRegression (newton)": (lambda: models.SoftmaxRegression(alpha=0.1), "multi"),
    }


def _shape(text):
    return tuple(int(v) for v in text.split(",") if v)


def measure(n=4000, d=6):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={N_DEVICES}").strip()
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from jax._src import compiler
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    import portable_ml as pml
    from portable_ml.models import _base

    mesh = Mesh(np.array(jax.devices()[:N_DEVICES]), ("data",))
    rows, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    build, texts = compiler.backend_compile_and_load, []

    def spy(*args, **kwargs):
        exe = build(*args, **kwargs)
        texts.append("\n".join(m.to_string() for m in exe.hlo_modules()))
        return exe

    compiler.backend_compile_and_load = spy
    X, y_multi = pml.datasets.make_classification(n, d, n_informative=3, n_redundant=0, n_classes=3, seed=4,
                                                  backend="jax")
    Xs = jax.device_put(X, rows)
    targets = {"reg": X @ jax.numpy.linspace(-1.0, 2.0, d), "multi": y_multi,
               "binary": jax.numpy.astype(y_multi > 0, jax.numpy.int64)}
    init = jax.device_put(X[:4], replicated)
    results = []
    try:
        for name, (make, target) in _estimators(pml.models, init).items():
            jax.clear_caches()
            _base._JIT_CACHE.clear()
            texts.clear()
            est = make()
            est.fit(Xs) if target is None else est.fit(Xs, jax.device_put(targets[target], rows))
            counts = dict.fromkeys(_KINDS, 0)
            gathers = []
            for t in texts:
                for kind in re.findall(r"\s(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)"
                                       r"(?:-start)?\(", t):
                    counts[kind] += 1
                gathers += [(dt, _shape(s)) for dt, s in re.findall(r"=\s*(\w+)\[([\d,]*)\][^=\n]*\sall-gather"
                                                                    r"(?:-start)?\(", t)]
            big = [g for g in gathers if max(g[1], default=0) >= n // N_DEVICES]
            results.append({"estimator": name, "modules": len(texts), **counts,
                            "largest_gather": max(gathers, key=lambda g: int(np.prod(g[1])), default=None),
                            "x_sized_gathers": len(big)})
            print(results[-1], flush=True)
    finally:
        compiler.backend_compile_and_load = build
    return results, n, d


def markdown(results, n, d):
    from portable_ml._table import markdown_table

    head = ["estimator", "modules compiled", *_KINDS, "largest all-gather", "X-sized all-gathers"]
    body = [dict(zip(head, [r["estimator"], r["modules"], *(r[k] for k in _KINDS),
                            "none" if r["largest_gather"] is None
                            else f"{r['largest_gather'][0]}[{','.join(map(str, r['largest_gather'][1]))}]",
                            r["x_sized_gathers"]])) for r in results]
    return (f"# Collectives of the sharded JAX fits\n\nMeasured by `python -m benchmarks.jax_collectives` (see its "
            f"docstring): {n} x {d} float64 rows sharded over {N_DEVICES} simulated CPU devices; counts are "
            "collective instructions in the optimised HLO of every executable the fit compiled (a loop body "
            "counts once, however many times it runs).\n\n" + markdown_table(body, head) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--out", help="write the Markdown table here")
    args = parser.parse_args()
    results, n, d = measure(args.rows)
    text = markdown(results, n, d)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
