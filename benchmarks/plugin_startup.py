"""Start-up cost of the portable_ml pytest plugin in a project that does not use it.

Runs ``python -m pytest`` on a folder holding one empty test, alternately with
the plugin (as installed: the ``pytest11`` entry point) and with
``-p no:portable_ml``, and prints the wall time and the CPU time (user +
system, steadier than wall time on a loaded machine) of each, median and
minimum of ``--repeats`` runs, and their ratios.  Alternating the two keeps a
change in machine load from favouring one side.

    python -m benchmarks.plugin_startup               # 15 runs each
    python -m benchmarks.plugin_startup --repeats 30 --json

The plugin is this checkout's (its folder goes first on ``PYTHONPATH``); the
package must be installed (``pip install -e .``) so that pytest finds the
entry point.

The last line times ``import portable_ml.testing.pytest_plugin`` (with pytest)
in a fresh interpreter and lists the array libraries it imported: none, not
even NumPy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

EMPTY_TEST = "def test_empty():\n    pass\n"
LIBS = ("numpy", "array_api_compat", "jax", "jaxlib", "torch", "cupy", "dask", "array_api_strict", "scipy",
        "sklearn")


def _time_once(cmd, cwd, env):
    """(wall seconds, CPU seconds: user + system) of one run of ``cmd``."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(repeats=15, checkout=ROOT):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PML_", "JAX_"))}
    # this checkout's portable_ml, found through the installed distribution's entry point
    env["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, env.get("PYTHONPATH", "")) if p)
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "test_empty.py"), "w") as f:
            f.write(EMPTY_TEST)
        _time_once(base, tmp, env)  # warm the file-system caches once
        with_plugin, without = [], []
        for _ in range(repeats):
            with_plugin.append(_time_once(base, tmp, env))
            without.append(_time_once(base + ["-p", "no:portable_ml"], tmp, env))
    probe = ("import sys, time; t0 = time.perf_counter(); import portable_ml.testing.pytest_plugin; "
             "print(time.perf_counter() - t0); print(','.join(m for m in %r if m in sys.modules))" % (LIBS,))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    import_s, libs = (out.stdout.splitlines() + [""])[:2]
    res = {"repeats": repeats}
    for i, kind in enumerate(("wall", "cpu")):
        w, wo = [t[i] for t in with_plugin], [t[i] for t in without]
        res[kind] = {
            "with_plugin_median_s": statistics.median(w), "without_plugin_median_s": statistics.median(wo),
            "with_plugin_min_s": min(w), "without_plugin_min_s": min(wo),
            "ratio_median": statistics.median(w) / statistics.median(wo), "ratio_min": min(w) / min(wo),
        }
    res.update(plugin_import_s=float(import_s), libraries_imported_by_plugin=[m for m in libs.split(",") if m],
               load_average_1min=os.getloadavg()[0], cpus=os.cpu_count())
    return res


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plugin_startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="runs of each variant (default 15)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--checkout", default=ROOT, help="source tree whose plugin is timed (default: this one)")
    args = parser.parse_args(argv)
    r = measure(args.repeats, args.checkout)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"empty test, {r['repeats']} runs each (load {r['load_average_1min']:.1f} on {r['cpus']} CPUs)")
    for kind, label in (("wall", "wall time"), ("cpu", "CPU time (user + system)")):
        k = r[kind]
        print(f"  {label}: with the plugin median {k['with_plugin_median_s']:.3f} s (min "
              f"{k['with_plugin_min_s']:.3f}), -p no:portable_ml median {k['without_plugin_median_s']:.3f} s "
              f"(min {k['without_plugin_min_s']:.3f}); ratio of medians {k['ratio_median']:.3f}, "
              f"of minima {k['ratio_min']:.3f}")
    print(f"import portable_ml.testing.pytest_plugin (pytest included): {r['plugin_import_s'] * 1e3:.0f} ms; "
          f"array libraries it imported: {', '.join(r['libraries_imported_by_plugin']) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
