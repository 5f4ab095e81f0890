"""The benchmark suite: our functions against the references, on every backend.

It lives in the source tree, not in the wheel (it needs scikit-learn, SciPy
and optax for its references).  ``python -m benchmarks`` from a checkout, or
``portable-ml bench`` where ``portable_ml`` is imported from a checkout (an
editable install), times, on
each selected backend, activations and losses (forward and gradient), the
Adam update, ROC-AUC, pairwise distances, KMeans, PCA, logistic regression,
an MLP training epoch and the per-call overhead at tiny sizes, each against a
reference measured in the same run: the formula sheets' handwritten NumPy,
scikit-learn, or hand-written JAX + optax under ``jax.jit``.  Every result
is a ratio, ours / reference.

>>> import benchmarks                                                       # doctest: +SKIP
>>> report = benchmarks.run(["numpy"], profile="tiny", only="losses.mse")  # doctest: +SKIP
>>> print(benchmarks.format_table(report))                                # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
import sys

from .report import GROUPS, format_table, summary, to_json, to_markdown
from .runner import MALLOC_ENV, default_backends, ensure_malloc_env, environment, load_warning, run
from .suites import PROFILES, cases

__all__ = [
    "run",
    "cases",
    "default_backends",
    "environment",
    "format_table",
    "to_markdown",
    "to_json",
    "summary",
    "add_arguments",
    "main",
    "GROUPS",
    "PROFILES",
    "MALLOC_ENV",
    "ensure_malloc_env",
]


def add_arguments(parser):
    """The options of ``portable-ml bench`` / ``python -m benchmarks``."""
    parser.add_argument("--backends", help="comma-separated backends (default: " "cupy, numpy, jax, torch as available; "
                        "dask and array_api_strict only when named)")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (under a minute)")
    parser.add_argument("--only", metavar="PATTERN",
                        help="only cases of group PATTERN, or whose 'id[size]' contains PATTERN or matches it "
                             "as a glob (comma-separated; e.g. 'models', 'losses.*', 'kmeans', '*[n=1e7]')")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                        help="floating dtype of the inputs (default float64)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("--markdown", metavar="FILE", help="also write the Markdown report to FILE")
    parser.add_argument("--save", metavar="DIR", help="also write DIR/results.md and DIR/results.json")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    parser.add_argument("--no-reexec", action="store_true",
                        help="do not re-execute with the glibc malloc settings when they are missing")
    parser.add_argument("--profile", choices=tuple(PROFILES), help=argparse.SUPPRESS)  # "tiny": tests
    return parser


def _progress(res):
    t = "-" if res.ratio is None else f"{res.ratio:.2f}"
    print(f"  {res.backend:<8} {res.id} [{res.size}]: {res.status} {t} ({res.wall_s} s)", file=sys.stderr, flush=True)


def main(args, *, reexec_argv=None):
    """Run the suite for parsed ``args``; returns the exit status.

    ``reexec_argv``: the command line that re-runs this very command (without
    the interpreter); given, the process re-executes itself with
    :data:`MALLOC_ENV` unless ``--no-reexec``.
    """
    if reexec_argv is not None and not args.no_reexec:
        ensure_malloc_env(reexec_argv)
    warning = load_warning()
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()] if args.backends else None
    profile = args.profile or ("quick" if args.quick else "full")
    report = run(backends, profile=profile, dtype=args.dtype, only=args.only, memory=not args.no_memory,
                 progress=_progress)
    print(to_json(report) if args.json else format_table(report))
    md = to_markdown(report)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(md + "\n")
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        with open(os.path.join(args.save, "results.md"), "w", encoding="utf-8") as f:
            f.write(md + "\n")
        with open(os.path.join(args.save, "results.json"), "w", encoding="utf-8") as f:
            f.write(to_json(report) + "\n")
    broken = [r for r in report["results"] if r["status"] in ("error", "mismatch")]
    return 1 if broken else 0
