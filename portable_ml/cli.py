"""Command line: ``portable-ml`` (also ``python -m portable_ml``)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys

from . import __version__
from .backend import BACKENDS, _installed, available_backends, cupy_works, get_backend

_DISTS = {
    "numpy": "numpy",
    "array_api_strict": "array-api-strict",
    "jax": "jax",
    "torch": "torch",
    "dask": "dask",
    "cupy": ("cupy-cuda13x", "cupy-cuda12x", "cupy"),
}


def _version(name):
    dists = _DISTS[name]
    for dist in (dists,) if isinstance(dists, str) else dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _short(obj):
    """``array_api_strict.Device('device1')`` -> ``device1``; ``torch.float32`` -> ``float32``."""
    text = str(obj)
    if text.endswith("')") and "('" in text:
        text = text[text.index("('") + 2:-2]
    return text.rsplit(".", 1)[-1]


def backend_info():
    """One dict per known backend: installed, usable, version, devices, default float."""
    usable = set(available_backends())
    rows = []
    for name in BACKENDS:
        row = {"backend": name, "installed": _installed(name), "usable": name in usable,
               "version": _version(name), "devices": [], "float_dtype": None, "note": ""}
        if name == "cupy" and row["installed"] and not cupy_works():
            row["note"] = "no working CUDA device"
        if row["usable"]:
            try:
                be = get_backend(name)
                row["devices"] = [_short(d) for d in be.devices()]
                row["float_dtype"] = _short(be.float_dtype)
            except Exception as exc:  # report, never crash `info`
                row["usable"], row["note"] = False, f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def format_table(rows, columns):
    """A plain-text table of ``rows`` (dicts) with the given ``columns``."""
    text = [[str(r.get(c, "")) if r.get(c) is not None else "-" for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in text)) if text else len(c) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(t, widths)) for t in text]
    return "\n".join(out)


def cmd_info(args):
    rows = backend_info()
    if args.json:
        print(json.dumps({"portable_ml": __version__, "python": sys.version.split()[0],
                          "cuda_usable": cupy_works(), "backends": rows}, indent=2))
        return 0
    print(f"portable_ml {__version__} on Python {sys.version.split()[0]}")
    for r in rows:
        r["devices"] = ", ".join(r["devices"]) if r["devices"] else ""
        r["installed"] = "yes" if r["installed"] else "no"
        r["usable"] = "yes" if r["usable"] else "no"
    print(format_table(rows, ["backend", "installed", "usable", "version", "float_dtype", "devices", "note"]))
    print(f"CUDA usable through CuPy: {'yes' if cupy_works() else 'no'}")
    return 0


def conformance_matrix(backends=None, dtype="float64", family=None, deviations_dir="backends", progress=None):
    """Rows ``{"function", <backend>: cell}`` for every registered public function.

    A cell is ``"pass"``, ``"deviation: <reason>"``, ``"FAIL: ..."`` or
    ``"ERROR: ..."``; pass and fail cells carry the max relative error against
    the float64 NumPy run.
    """
    import fnmatch

    import numpy as np

    from .testing.conformance import check_conformance
    from .testing.registry import cases, inputs

    backends = backends or available_backends()
    if dtype == "float64" and "jax" in backends:
        import jax

        jax.config.update("jax_enable_x64", True)
    from .testing.conformance import load_deviations

    devs = {b: [(e["test"], e["reason"]) for e in entries]
            for b, entries in load_deviations(deviations_dir).items()}
    rows = []
    for case in cases():
        if case.name.startswith("_") and family != case.family:
            continue  # private ground helpers: only when asked for by family
        if family and case.family != family:
            continue
        args = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in inputs(case)]
        known = {}
        for b in backends:
            node = f"tests/test_invariants.py::test_matches_numpy_float64_and_keeps_dtype[{b}-{dtype}-{case.name}]"
            for glob, reason in devs.get(b, ()):
                if fnmatch.fnmatchcase(node, glob):
                    known[b] = reason
        report = check_conformance(case.fn, *args, backends=backends, kwargs=case.kwargs,
                                   rtol=case.rtol.get(dtype), atol=case.atol.get(dtype),
                                   repeats=1, deviations=known)
        row = {"function": case.name}
        for r in report.results:
            if r.status == "pass":
                row[r.backend] = f"pass ({r.max_rel_error:.1g})"
            elif r.status == "deviation":
                row[r.backend] = f"deviation: {r.message}"
            else:
                row[r.backend] = f"{r.status.upper()}: {r.message}"
        rows.append(row)
        if progress:
            progress(case.name)
    return rows


def _markdown(rows, columns):
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(esc(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def cmd_conformance(args):
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else available_backends()
    for b in backends:
        get_backend(b)  # unknown or unusable: a clear error listing what is available
    tick = (lambda name: print(".", end="", file=sys.stderr, flush=True)) if not args.json else None
    rows = conformance_matrix(backends, dtype=args.dtype, family=args.family,
                              deviations_dir=args.deviations, progress=tick)
    if tick:
        print(file=sys.stderr)
    cols = ["function", *backends]
    if args.json:
        print(json.dumps({"dtype": args.dtype, "rows": rows}, indent=2))
    else:
        print(format_table(rows, cols))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"# Conformance matrix ({args.dtype})\n\n"
                    "Every registered public function on every backend, compared with a float64 NumPy run; "
                    "the number is the largest relative error.\n\n")
            f.write(_markdown(rows, cols) + "\n")
    failed = [r["function"] for r in rows if any(str(v).startswith(("FAIL", "ERROR")) for v in r.values())]
    return 1 if failed else 0


def _benchmarks():
    from . import benchmarks

    return benchmarks


def cmd_bench(args):
    # re-executed with the glibc malloc settings only when run from the command line itself
    from_cli = sys.argv[1:2] == ["bench"]
    return _benchmarks().main(args, reexec_argv=["-m", "portable_ml", *sys.argv[1:]] if from_cli else None)


def cmd_demo(args):
    from .demo import MODELS, run_demo, summarize, write_figure

    backends = [b.strip() for b in args.backend.split(",")] if args.backend else available_backends()
    for b in backends:
        get_backend(b, args.device)  # unknown backend or device: a clear error listing what exists
    say = (lambda name: print(f"training on {name} ...", file=sys.stderr, flush=True)) if not args.json else None
    n, epochs = (600, 60) if args.quick else (2000, 30)
    rows, fitted = run_demo(backends, args.device, seed=args.seed, n_samples=n, epochs=epochs, progress=say)
    spread = summarize(rows)
    if args.json:
        print(json.dumps({"rows": rows, "max_spread": spread}, indent=2))
    else:
        table = []
        for model, metric in MODELS:
            row = {"model": model, "metric": metric}
            for r in rows:
                if r["model"] == model:
                    row[r["backend"]] = f"{r['value']:.4f} ({r['seconds'] * 1e3:.0f} ms)"
            row["max spread"] = f"{spread.get(model, 0.0):.1e}"
            table.append(row)
        print(format_table(table, ["model", "metric", *backends, "max spread"]))
        print("each cell: metric (fit + evaluation time; JAX includes compilation); "
              "max spread: largest difference of the metric across backends")
    if args.plot:
        write_figure(fitted[backends[0]], args.plot)
        if not args.json:
            print(f"figure written to {args.plot}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="portable-ml", description=__doc__)
    parser.add_argument("--version", action="version", version=f"portable_ml {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="backends, versions and devices")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("demo", help="train models on synthetic data on every backend and compare")
    p.add_argument("--backend", help="backend name or comma-separated names (default: all available)")
    p.add_argument("--device", help="device, e.g. cpu:1 or cuda:0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smaller data and fewer epochs")
    p.add_argument("--plot", metavar="PNG", help="also write a figure (decision boundary, loss curve, ROC)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("conformance", help="function x backend conformance matrix of the public API")
    p.add_argument("--backends", help="comma-separated backends (default: all available)")
    p.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    p.add_argument("--family", help="only this family (losses, metrics, ...)")
    p.add_argument("--deviations", default="backends", help="folder of known-deviation lists")
    p.add_argument("--markdown", metavar="FILE", help="also write the matrix as Markdown")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_conformance)
    p = sub.add_parser("bench", help="benchmark suite: ours / reference time ratios per backend")
    _benchmarks().add_arguments(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # unknown backend / device: say what is there
        print(f"portable-ml: error: {exc}", file=sys.stderr)
        return 2

