"""Running the suite: backends, cases, the environment the figures were taken in."""

from __future__ import annotations

import datetime
import gc
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import time

from ._harness import Result, Timer, measure, peak_memory
from .suites import PROFILES, Context, Unavailable, cases

__all__ = ["run", "default_backends", "environment", "load_warning", "MALLOC_ENV", "ensure_malloc_env", "TIMERS"]

#: glibc settings for the benchmark process: keep freed memory instead of
#: returning it to the OS after every large temporary (otherwise each fresh
#: large array pays for page faults, which swamps the formulas' own cost).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "1073741824", "MALLOC_TRIM_THRESHOLD_": "4294967296"}

#: timing effort per profile
TIMERS = {
    "full": Timer(repeats=7, min_repeats=3, budget_s=1.5),
    "quick": Timer(repeats=3, min_repeats=1, budget_s=0.05),
    "tiny": Timer(repeats=1, min_repeats=1, budget_s=0.0, batch_s=0.0),
}

_DEFAULT = ("cupy", "numpy", "jax", "torch")  # dask and array_api_strict: on request only
_DISTS = ("numpy", "scipy", "scikit-learn", "jax", "jaxlib", "optax", "torch", "dask", "array-api-strict",
          "array-api-compat", "array-api-extra", "cupy-cuda12x", "cupy-cuda13x")


def default_backends():
    """Backends timed when none are named: CuPy (with a GPU), NumPy, JAX, PyTorch, as installed."""
    from portable_ml.backend import available_backends

    usable = available_backends()
    return [b for b in _DEFAULT if b in usable]


def ensure_malloc_env(argv):
    """Re-execute this process with :data:`MALLOC_ENV` set, if it is not.

    glibc reads these variables once, at start-up, so they cannot be set from
    inside a running process.  ``argv`` is the command line to run again
    (without the interpreter).  Returns only when nothing had to be done.
    """
    if all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()):
        return
    if os.environ.get("PORTABLE_ML_BENCH_REEXEC"):  # exec'd once already: do not loop
        return
    env = {**os.environ, **MALLOC_ENV, "PORTABLE_ML_BENCH_REEXEC": "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)


def _selected(case, only):
    if not only:
        return True
    keys = [f"{i}[{case.size}]" for i in (case.ids or [case.id])]
    pats = [p.strip() for p in only.split(",") if p.strip()]
    return any(p == case.group or any(_glob(p).fullmatch(k) if any(c in p for c in "*?") else p in k for k in keys)
               for p in pats)


def _glob(pattern):
    """``*`` and ``?`` as in a shell; everything else literal (sizes contain brackets)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


def _memory_kind(backend):
    """Which allocator statistics see this backend's arrays (``None``: none we can read)."""
    name, dev = backend.name, backend.device
    if name == "numpy":
        return "numpy"
    if name == "cupy":
        return "cupy"
    if name == "torch" and getattr(dev, "type", "cpu") == "cuda":
        return "torch-cuda"
    if name == "jax" and getattr(dev, "platform", "cpu") == "gpu":
        return "jax-gpu"
    return None


def _identity(x):
    return x


def _short_error(exc):
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return text if len(text) <= 200 else text[:197] + "..."


def run_case(case, ctx, timer, *, memory=True):
    """Build, time, check and (for big cases) measure the memory of one case.

    Returns one :class:`Result` per reference of the case (our function is
    timed once, against all of them).
    """
    def result(rid=None):
        return Result(id=rid or case.id, group=case.group, backend=ctx.name, dtype=ctx.dtype, size=case.size,
                      unit=case.unit)

    def failed(status, note):
        rows = [result(i) for i in (case.ids or [case.id])]
        for res in rows:
            res.status, res.note = status, note
        return rows

    try:
        built = case.build(ctx)
    except Unavailable as exc:
        return failed("skipped", str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken case is reported, the suite goes on
        return failed("error", _short_error(exc))
    pairs = built if isinstance(built, list) else [built]
    first = pairs[0]
    built_ids = {p.id or case.id for p in pairs}
    skipped = failed("skipped", first.unavailable or "reference not available")
    skipped = [r for r in skipped if r.id not in built_ids]  # e.g. scikit-learn not installed
    results = [result(p.id) for p in pairs]
    for res, p in zip(results, pairs):
        res.reference, res.target = p.reference, p.target
    sync_ours = first.sync_ours or ctx.sync
    sync_refs = [p.sync_ref or _identity for p in pairs]
    try:
        t_ours, t_refs, repeats, verdicts = measure(
            first.ours, [p.ref for p in pairs], sync_ours=sync_ours, sync_refs=sync_refs, timer=timer,
            checks=[p.check for p in pairs])
    except Exception as exc:  # noqa: BLE001
        for res in results:
            res.status, res.note = "error", _short_error(exc)
        return results + skipped
    scale = 1e6 if case.unit == "us" else 1.0
    kind = _memory_kind(ctx.backend)
    ours_peak = None
    for i, (res, p, t_ref, verdict) in enumerate(zip(results, pairs, t_refs, verdicts)):
        res.repeats = repeats
        res.ours_s, res.ref_s = t_ours * scale, t_ref * scale
        res.ratio = t_ours / t_ref if t_ref > 0 else None
        if p.bytes and t_ours > 0:
            res.gbps = p.bytes / t_ours / 1e9
        notes = []
        if isinstance(verdict, Exception):
            res.status = "mismatch"
            notes.append(f"check failed: {_short_error(verdict)}")
        elif verdict is not None:
            res.max_err = float(verdict)
            if not res.max_err <= p.tol:
                res.status = "mismatch"
                notes.append(f"results differ: error {res.max_err:.2g} > tolerance {p.tol:.0e}")
        if memory and p.memory and kind is not None:
            try:
                if ours_peak is None:
                    ours_peak = peak_memory(first.ours, sync_ours, kind)
                res.ours_peak = ours_peak
                res.ref_peak = peak_memory(p.ref, sync_refs[i], "numpy" if p.host_ref else kind)
            except Exception as exc:  # noqa: BLE001
                notes.append(f"memory not measured: {_short_error(exc)}")
        note = p.note() if callable(p.note) else p.note
        res.note = "; ".join(n for n in (note, *notes) if n)
        if res.target is not None and res.ratio is not None and res.status == "ok":
            res.met = res.ratio <= res.target
    return results + skipped


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isdir(os.path.join(root, ".git")):
        return None
    try:
        out = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _blas():
    try:
        import threadpoolctl
    except ImportError:
        return []
    return [{k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def load_warning(load=None, cores=None):
    """A warning when the 1-minute load average exceeds the core count, else ``None``.

    Other processes then compete for the CPU and the timings (and so the
    ratios) are unreliable.
    """
    if load is None:
        avg = _loadavg()
        load = avg[0] if avg else None
    cores = cores or os.cpu_count()
    if load is None or not cores or load <= cores:
        return None
    return (f"load average {load:.2f} over the last minute exceeds the {cores} CPU cores: "
            "other processes compete for the CPU, so the timings and ratios are unreliable")


def environment():
    """Where and how the figures were taken (versions, CPU, BLAS, allocator settings, load)."""
    from portable_ml import __version__

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "portable_ml": __version__,
        "commit": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "versions": {d: v for d in _DISTS if (v := _version(d))},
        "env": {k: os.environ.get(k) for k in (*MALLOC_ENV, "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                "OMP_NUM_THREADS", "XLA_FLAGS")},
        "malloc_env_set": all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()),
        "blas": _blas(),
        "load_start": _loadavg(),
    }


def run(backends=None, *, profile="full", dtype="float64", only=None, memory=True, progress=None, seed=0):
    """Run the suite and return the report: ``{"meta": {...}, "results": [row, ...]}``.

    Parameters
    ----------
    backends : list of str, optional
        Backend names; default :func:`default_backends`.
    profile : {"full", "quick", "tiny"}
        Problem sizes and timing effort (``"tiny"`` is for the test suite).
    dtype : {"float64", "float32"}
        Floating dtype of every input (JAX runs with x64 enabled for float64).
    only : str, optional
        Comma-separated patterns: a case runs when ``"<id>[<size>]"`` contains
        one of them, or matches it as a glob (``"losses.*"``).
    memory : bool
        Measure peak memory of the big cases (one extra untimed call per side).
    progress : callable, optional
        Called with each finished :class:`Result`.
    """
    from portable_ml.backend import get_backend

    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}; expected one of {', '.join(PROFILES)}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype={dtype!r}; expected 'float32' or 'float64'")
    backends = list(backends) if backends else default_backends()
    bes = [get_backend(b) for b in backends]  # unknown / unusable: a clear error first
    if dtype == "float64" and "jax" in backends:
        import jax

        jax.config.update("jax_enable_x64", True)
    meta = environment()
    meta.update(profile=profile, dtype=dtype, only=only, backends=backends,
                devices={be.name: str(be.device) for be in bes})
    timer = TIMERS[profile]
    start = time.perf_counter()
    results = []
    for be in bes:
        ctx = Context(be, dtype, PROFILES[profile], seed=seed)
        for case in cases(PROFILES[profile]):
            if not _selected(case, only):
                continue
            t0 = time.perf_counter()
            rows = run_case(case, ctx, timer, memory=memory)
            gc.collect()
            for res in rows:
                res.wall_s = round((time.perf_counter() - t0) / len(rows), 2)
                results.append(res)
                if progress is not None:
                    progress(res)
    meta["wall_s"] = round(time.perf_counter() - start, 1)
    meta["load_end"] = _loadavg()
    peak = max((a[0] for a in (meta["load_start"], meta["load_end"]) if a), default=None)
    meta["load_warning"] = load_warning(peak, meta["cores"]) if peak is not None else None
    return {"meta": meta, "results": [r.to_dict() for r in results]}
