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


def build_parser():
    parser = argparse.ArgumentParser(prog="portable-ml", description=__doc__)
    parser.add_argument("--version", action="version", version=f"portable_ml {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="backends, versions and devices")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # unknown backend / device: say what is there
        print(f"portable-ml: error: {exc}", file=sys.stderr)
        return 2

