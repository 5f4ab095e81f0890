"""Command line: ``portable-ml`` (also ``python -m portable_ml``)."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import time

from . import __version__
from ._table import format_table, markdown_table
from .backend import (
    BACKENDS,
    available_backends,
    backend_class,
    cupy_works,
    get_backend,
    unusable_reason,
)

#: ``--help`` text: plain, without the docstrings' reStructuredText markup.
DESCRIPTION = ("portable_ml: machine-learning formulas written once against the Python array API, "
               "run on NumPy, CuPy, JAX, PyTorch, Dask and array-api-strict. "
               "Also runs as 'python -m portable_ml'.")


def _version(name):
    for dist in backend_class(name).distributions:
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
    """One dict per known backend: installed, usable, version, devices, default float, install hint."""
    rows = []
    for name in BACKENDS:
        why = unusable_reason(name)
        row = {"backend": name, "installed": backend_class(name).installed(), "usable": why is None,
               "version": _version(name), "devices": [], "float_dtype": None, "note": why or "", "hint": None}
        if why == "not installed":
            row["hint"] = backend_class(name).install_hint
        elif why is not None:  # CuPy without a working GPU
            row["hint"] = "needs an NVIDIA GPU with a working CUDA driver"
        if row["usable"]:
            try:
                be = get_backend(name)
                row["devices"] = [_short(d) for d in be.devices()]
                row["float_dtype"] = _short(be.float_dtype)
            except Exception as exc:  # report, never crash `info`
                row["usable"], row["note"] = False, f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def cmd_info(args):
    rows = backend_info()
    if args.json:
        print(json.dumps({"portable_ml": __version__, "python": sys.version.split()[0],
                          "cuda_usable": cupy_works(), "backends": rows}, indent=2))
        return 0
    print(f"portable_ml {__version__} on Python {sys.version.split()[0]}")
    hints = [(r["backend"], r["hint"]) for r in rows if r["hint"]]
    for r in rows:
        r["devices"] = ", ".join(r["devices"]) if r["devices"] else ""
        r["installed"] = "yes" if r["installed"] else "no"
        r["usable"] = "yes" if r["usable"] else "no"
    print(format_table(rows, ["backend", "installed", "usable", "version", "float_dtype", "devices", "note"]))
    print(f"CUDA usable through CuPy: {'yes' if cupy_works() else 'no'}")
    if hints:
        print("to install:")
        width = max(len(b) for b, _ in hints)
        for b, hint in hints:
            print(f"  {b.ljust(width)}  {hint}")
    return 0


def families():
    """The function families of the conformance registry (``losses``, ``metrics``, ...)."""
    from .testing.registry import cases

    return sorted({c.family for c in cases()})


def conformance_matrix(backends=None, dtype="float64", family=None, deviations_dir=None, progress=None):
    """Rows ``{"function", <backend>: cell}`` for every registered public function.

    A cell is ``"pass"``, ``"deviation: <reason>"``, ``"FAIL: ..."`` or
    ``"ERROR: ..."``; pass and fail cells carry the max relative error against
    the float64 NumPy run.  ``family`` (one of :func:`families`) limits the
    rows; ``deviations_dir`` is a folder of known-deviation lists (default:
    the lists shipped with the package).  ``progress(done, total, name)`` is
    called after each function.
    """
    import numpy as np

    from .testing import conformance
    from .testing.registry import cases, inputs

    if family is not None and family not in families():
        raise ValueError(f"--family {family!r} is not a family; valid families: {', '.join(families())}")
    devs = conformance.load_deviations(deviations_dir)
    backends = backends or available_backends()
    if dtype == "float64" and "jax" in backends:
        import jax

        jax.config.update("jax_enable_x64", True)
    # private ground helpers (``_numerics``) only when asked for by family
    selected = [c for c in cases() if (c.family == family if family else not c.name.startswith("_"))]
    rows = []
    for done, case in enumerate(selected, 1):
        args = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in inputs(case)]
        known = {b: why for b in backends if (why := conformance.case_deviation(devs.get(b, ()), case.name, dtype))}
        report = conformance.check_conformance(case.fn, *args, backends=backends, kwargs=case.kwargs,
                                   rtol=case.tolerance(dtype)[0], atol=case.tolerance(dtype)[1],
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
            progress(done, len(selected), case.name)
    return rows


def conformance_summary(rows, backends):
    """Cell counts ``{"functions", "backends", "pass", "deviation", "fail", "error", "failed": [...]}``."""
    out = {"functions": len(rows), "backends": list(backends), "pass": 0, "deviation": 0, "fail": 0, "error": 0,
           "failed": []}
    for r in rows:
        for b in backends:
            cell = str(r.get(b, ""))
            kind = cell.split(":", 1)[0].split(" ", 1)[0].lower()
            if kind in out:
                out[kind] += 1
            if kind in ("fail", "error"):
                out["failed"].append(f"{r['function']} on {b}: {cell}")
    return out


def format_summary(s):
    cells = s["functions"] * len(s["backends"])
    verdict = "FAILED" if s["fail"] or s["error"] else "passed"
    lines = [f"{verdict}: {s['functions']} functions x {len(s['backends'])} backends = {cells} checks: "
             f"{s['pass']} pass, {s['deviation']} known deviation(s), {s['fail']} fail, {s['error']} error"]
    lines += [f"  {f}" for f in s["failed"]]
    return "\n".join(lines)


def _duration(seconds):
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


class Progress:
    """``[37/216] ETA 12 s  losses.huber`` on ``stream`` (stderr).

    On a terminal the line is rewritten in place after every step; in a log
    (not a terminal) a line is written at every tenth of the way and at the
    end, so a CI log gets ten lines rather than hundreds.
    """

    def __init__(self, stream=None, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.start = clock()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._tenth = 0
        self._width = 0

    def __call__(self, done, total, name=""):
        elapsed = self.clock() - self.start
        eta = elapsed / done * (total - done) if done else float("nan")
        text = f"[{done}/{total}] ETA {_duration(eta) if done else '?'}  {name}"
        if self.tty:
            text = text[:shutil.get_terminal_size().columns - 1]  # one screen line, rewritten in place
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            if done == total:
                self.stream.write("\n")
        else:
            tenth = done * 10 // total if total else 10
            if tenth > self._tenth or done == total:
                self._tenth = tenth
                self.stream.write(text + "\n")
        self.stream.flush()


def cmd_conformance(args):
    backends = [b.strip() for b in args.backends.split(",")] if args.backends else available_backends()
    for b in backends:
        get_backend(b)  # unknown or unusable: a clear error listing what is available
    progress = Progress() if not args.json else None
    rows = conformance_matrix(backends, dtype=args.dtype, family=args.family,
                              deviations_dir=args.deviations, progress=progress)
    cols = ["function", *backends]
    summary = conformance_summary(rows, backends)
    if args.json:
        print(json.dumps({"dtype": args.dtype, "rows": rows, "summary": summary}, indent=2))
    else:
        print(format_table(rows, cols))
        print(format_summary(summary))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"# Conformance matrix ({args.dtype})\n\n"
                    "Every registered public function on every backend, compared with a float64 NumPy run; "
                    "the number is the largest relative error.\n\n")
            f.write(markdown_table(rows, cols) + "\n")
    return 1 if summary["fail"] or summary["error"] else 0


#: why ``portable-ml bench`` cannot run from an installed wheel
BENCH_NEEDS_CHECKOUT = (
    "portable-ml bench runs the benchmark suite, which lives in the source tree (benchmarks/), not in the "
    "installed package: in a checkout of the project, install it with `pip install -e \".[test]\"` and run "
    "`portable-ml bench` or `python -m benchmarks` there")


def _benchmarks():
    """The ``benchmarks`` package of the checkout ``portable_ml`` is imported from, or ``None``.

    The suite is not shipped in the wheel; with an editable install (or when
    run from the source tree) it is found next to the package.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not (os.path.isfile(os.path.join(root, "benchmarks", "suites.py"))
            and os.path.isfile(os.path.join(root, "pyproject.toml"))):
        return None
    if root not in sys.path:
        sys.path.insert(0, root)
    import benchmarks

    return benchmarks


def cmd_bench(args):
    bench = _benchmarks()
    # re-executed with the glibc malloc settings only when run from the command line itself
    from_cli = sys.argv[1:2] == ["bench"]
    return bench.main(args, reexec_argv=["-m", "portable_ml", *sys.argv[1:]] if from_cli else None)


def demo_table(rows, backends):
    """The demo's table: a column per backend, headed with its dtype; a spread column per shared dtype."""
    from .demo import MODELS, summarize

    spread = summarize(rows)  # {dtype: {model: spread}}, for dtypes that two or more backends computed in
    dtypes = {r["backend"]: r["dtype"] for r in rows}
    heads = {b: f"{b} ({dtypes[b]})" for b in backends}
    table = []
    for model, metric in MODELS:
        row = {"model": model, "metric": metric}
        for r in rows:
            if r["model"] == model:
                row[heads[r["backend"]]] = f"{r['value']:.4f} ({r['seconds'] * 1e3:.0f} ms)"
        for dt, per_model in spread.items():
            row[f"spread {dt}"] = f"{per_model[model]:.1e}"
        table.append(row)
    text = format_table(table, ["model", "metric", *heads.values(), *(f"spread {dt}" for dt in spread)])
    note = "each cell: metric (fit + evaluation time; JAX includes compilation)"
    if spread:
        note += "; spread <dtype>: largest difference of the metric across the backends computing in that dtype"
    return text + "\n" + note


def cmd_demo(args):
    from .demo import run_demo, summarize, write_figure

    if args.plot and importlib.util.find_spec("matplotlib") is None:
        print("portable-ml: error: --plot needs matplotlib, which is not installed: "
              "pip install 'portable-ml[plot]'", file=sys.stderr)
        return 2
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
        print(demo_table(rows, backends))
    if args.plot:
        write_figure(fitted[backends[0]], args.plot)
        if not args.json:
            print(f"figure written to {args.plot}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="portable-ml", description=DESCRIPTION)
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
    p.add_argument("--family", help="only this family (losses, metrics, ...; a wrong name lists them)")
    p.add_argument("--deviations", metavar="DIR",
                   help="folder of known-deviation lists, <backend>.toml each "
                        "(default: the lists shipped with portable_ml)")
    p.add_argument("--markdown", metavar="FILE", help="also write the matrix as Markdown")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_conformance)
    p = sub.add_parser("bench", help="benchmark suite: ours / reference time ratios per backend "
                                     "(from a source checkout)")
    bench = _benchmarks()
    if bench is not None:
        bench.add_arguments(p)
    else:  # installed from a wheel: main() answers with BENCH_NEEDS_CHECKOUT
        p.description = BENCH_NEEDS_CHECKOUT
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"] and _benchmarks() is None:  # the suite is not installed: say where it is
        print(f"portable-ml: error: {BENCH_NEEDS_CHECKOUT}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # unknown backend / device: say what is there
        print(f"portable-ml: error: {exc}", file=sys.stderr)
        return 2

