"""Cross-backend conformance: run one function on every backend and compare.

``check_conformance(fn, *args)`` places the same host inputs on each backend,
runs ``fn`` there, and compares every result with a float64 NumPy run of the
same function, reporting the worst absolute and relative errors, whether the
floating dtype and the device were kept, and the time per call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import sys
import time

import numpy as np

from .._table import format_table
from ..backend import BACKENDS, available_backends, backend_of, get_backend, to_numpy
from ..tree import tree_leaves
from . import default_tolerance, dtype_name

__all__ = ["check_conformance", "ConformanceReport", "BackendResult", "load_deviations", "deviation_matches",
           "case_deviation", "DEVIATIONS_DIR"]


@dataclasses.dataclass
class BackendResult:
    """One backend's outcome in a :class:`ConformanceReport`."""

    backend: str
    status: str  # "pass", "fail", "error", "deviation"
    max_abs_error: float = float("nan")
    max_rel_error: float = float("nan")
    dtype_kept: bool | None = None
    device_kept: bool | None = None
    seconds: float = float("nan")
    message: str = ""

    @property
    def ok(self):
        return self.status in ("pass", "deviation")


@dataclasses.dataclass
class ConformanceReport:
    """Per-backend results of :func:`check_conformance`; ``str()`` gives a table."""

    function: str
    results: list

    @property
    def ok(self):
        return all(r.ok for r in self.results)

    def __getitem__(self, backend):
        for r in self.results:
            if r.backend == backend:
                return r
        raise KeyError(backend)

    def rows(self):
        return [dataclasses.asdict(r) for r in self.results]

    def __str__(self):
        rows = []
        for r in self.results:
            rows.append({"backend": r.backend, "status": r.status,
                         "max abs err": f"{r.max_abs_error:.3g}", "max rel err": f"{r.max_rel_error:.3g}",
                         "dtype kept": _yn(r.dtype_kept), "device kept": _yn(r.device_kept),
                         "time": _fmt_time(r.seconds), "note": r.message})
        return f"{self.function}\n" + format_table(rows, list(rows[0]) if rows else ["backend"])


def _yn(v):
    return "-" if v is None else ("yes" if v else "no")


def _fmt_time(s):
    if s != s:  # NaN
        return "-"
    return f"{s * 1e6:.0f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def _errors(actual, desired):
    a = np.asarray(to_numpy(actual), dtype=np.float64)
    d = np.asarray(to_numpy(desired), dtype=np.float64)
    if a.shape != d.shape:
        raise ValueError(f"shape {a.shape} differs from the reference's {d.shape}")
    if a.size == 0:
        return 0.0, 0.0
    same = (a == d) | (np.isnan(a) & np.isnan(d))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        err = np.where(same, 0.0, np.abs(a - d))
        rel = np.where(same, 0.0, err / np.maximum(np.abs(d), np.finfo(np.float64).tiny))
    return float(np.max(err)), float(np.max(rel))


def _leaf_device(x):
    from array_api_compat import device

    try:
        return device(x)
    except Exception:
        return None


def _run_on(be, fn, args, kwargs, repeats):
    placed = [be.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    out = fn(*placed, **kwargs)
    be.synchronize(out)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn(*placed, **kwargs)
        be.synchronize(res)
        times.append(time.perf_counter() - t0)
    return out, placed, float(np.median(times)) if times else float("nan")


@contextlib.contextmanager
def _jax_x64(enable=True):
    """Context manager: JAX's 64-bit mode set to ``enable`` inside, the previous setting restored after.

    The setting is process-wide (``jax.config.update``), so threads started
    inside see it too; jitted functions are cached per setting, so one traced
    under x64 is traced again outside it.  Imports JAX.
    """
    import jax

    before = bool(jax.config.jax_enable_x64)
    if before == enable:
        yield
        return
    jax.config.update("jax_enable_x64", enable)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


#: The note on a JAX result checked with x64 switched on by :func:`check_conformance`.
_X64_NOTE = "checked with JAX x64 mode on (64-bit input; off in this process)"


def _jax_x64_enabled():
    import jax

    return bool(jax.config.jax_enable_x64)


def _needs_x64(args):
    """True when an input is a 64-bit NumPy array, which JAX keeps 64-bit only in x64 mode."""
    return any(isinstance(a, np.ndarray) and a.dtype.itemsize == (16 if a.dtype.kind == "c" else 8)
               and a.dtype.kind in "fiuc" for a in args)


def check_conformance(fn, *args, backends=None, reference="numpy", kwargs=None, rtol=None, atol=None,
                      repeats=3, deviations=None):
    """Run ``fn(*args, **kwargs)`` on every backend and compare with float64 NumPy.

    Parameters
    ----------
    fn : callable
        The function under test; it must accept arrays of any backend.
    *args
        Host inputs: NumPy arrays are placed on each backend with their dtype
        (so pass float32 arrays to test float32); other values pass unchanged.
    backends : list of str, optional
        Default: :func:`portable_ml.available_backends`.
    reference : str
        Backend of the reference run (float64 inputs), default ``"numpy"``.
    rtol, atol : float, optional
        Tolerances; default by the inputs' floating dtype
        (see :func:`portable_ml.testing.default_tolerance`).
    repeats : int
        Timed calls per backend after one warm-up call (median reported).
    deviations : dict, optional
        ``{backend: reason}`` of known deviations: a failure there is
        reported as ``"deviation"`` with the reason.

    Returns
    -------
    ConformanceReport
    """
    kwargs = dict(kwargs or {})
    deviations = dict(deviations or {})
    backends = list(backends) if backends is not None else available_backends()
    ref_args = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
    ref_be = get_backend(reference)
    ref_out = fn(*[ref_be.asarray(a) if isinstance(a, np.ndarray) else a for a in ref_args], **kwargs)
    float_inputs = [a for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    in_dtype = dtype_name(float_inputs[0].dtype) if float_inputs else None
    d_rtol, d_atol = default_tolerance(*float_inputs) if float_inputs else default_tolerance(np.float64(0))
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    results = []
    for bname in backends:
        res = BackendResult(bname, "pass")
        note = ""
        try:
            with contextlib.ExitStack() as scope:
                if bname == "jax" and _needs_x64(args) and not _jax_x64_enabled():
                    scope.enter_context(_jax_x64())  # float64 in, float64 out: as users run it
                    note = _X64_NOTE
                be = get_backend(bname)
                out, placed, secs = _run_on(be, fn, args, kwargs, repeats)
                res.seconds = secs
                leaves, ref_leaves = tree_leaves(out), tree_leaves(ref_out)
                if len(leaves) != len(ref_leaves):
                    raise ValueError(f"{len(leaves)} outputs vs the reference's {len(ref_leaves)}")
                errs = [_errors(a, d) for a, d in zip(leaves, ref_leaves)]
                res.max_abs_error = max((e[0] for e in errs), default=0.0)
                res.max_rel_error = max((e[1] for e in errs), default=0.0)
                arr_leaves = [x for x in leaves if backend_of(x) is not None]
                floats = [x for x in arr_leaves if "float" in dtype_name(x.dtype)]
                res.dtype_kept = in_dtype is None or all(dtype_name(x.dtype) == in_dtype for x in floats)
                res.device_kept = all(backend_of(x) == bname and _leaf_device(x) == be.device for x in arr_leaves)
                close = all(
                    np.allclose(np.asarray(to_numpy(a), np.float64), np.asarray(to_numpy(d), np.float64),
                                rtol=rtol, atol=atol, equal_nan=True)
                    for a, d in zip(leaves, ref_leaves))
                if not (close and res.dtype_kept and res.device_kept):
                    res.status = "fail"
                    res.message = "; ".join(m for m, bad in (
                        ("values differ", not close), ("dtype changed", not res.dtype_kept),
                        ("left the backend/device", not res.device_kept)) if bad)
        except Exception as exc:  # report the failure for this backend, go on with the others
            res.status, res.message = "error", f"{type(exc).__name__}: {exc}"[:200]
        if not res.ok and bname in deviations:
            res.status, res.message = "deviation", deviations[bname]
        if note:
            res.message = f"{res.message}; {note}" if res.message else note
        results.append(res)
    return ConformanceReport(name, results)


def deviation_matches(pattern, name):
    """Whether a known-deviation pattern (``case`` or ``test``) matches ``name``.

    ``*`` matches any run of characters and ``?`` one character; brackets are
    literal (pytest ids are full of them: ``test_value[jax-float32]``), unlike
    :func:`fnmatch.fnmatchcase`, where ``[...]`` is a character class.
    """
    import re

    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, name, flags=re.DOTALL) is not None


def case_deviation(entries, name, dtype=None):
    """The reason of the first of ``entries`` (one backend's list) that marks registry case ``name``.

    An entry marks a case by ``case``, a glob on registry case names
    (``"losses.huber*"``), optionally limited to ``dtypes``
    (``["float32"]``); ``dtype=None`` matches any.  ``None`` when no entry
    marks it.  Entries with a ``test`` pattern instead (users' own test
    suites, matched on node ids by the pytest plugin) never match a case.
    """
    for e in entries:
        pattern = e.get("case")
        if pattern is None or not deviation_matches(pattern, name):
            continue
        dtypes = e.get("dtypes")
        if dtype is None or not dtypes or dtype in dtypes:
            return e["reason"]
    return None


#: The known-deviation lists shipped with the package: ``<backend>.toml`` each.
DEVIATIONS_DIR = pathlib.Path(__file__).resolve().parent / "deviations"


def _toml_module():
    """The TOML reader: ``tomllib`` (Python >= 3.11), else the ``tomli`` package it came from."""
    try:
        import tomllib
    except ModuleNotFoundError:
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                f"reading deviation lists needs tomllib (Python >= 3.11) or the 'tomli' package on Python "
                f"{sys.version_info.major}.{sys.version_info.minor}: pip install tomli") from None
    return tomllib


def load_deviations(folder=None):
    """``{backend: [{"case": glob, "reason": ...}, ...]}`` from a folder of known-deviation lists.

    An entry names a registry case (``case``: a glob on case names such as
    ``"losses.huber*"``, optionally with ``dtypes = ["float32"]``) -- what the
    lists shipped with the package use; the registry-driven tests,
    ``portable-ml conformance`` and the support matrix look entries up by
    case.  A user's own list may name tests instead (``test``: a glob on the
    pytest node id or the test name with its parameters), for the pytest
    plugin.

    A backend's list is ``folder/<backend>.toml`` (the layout of the lists
    shipped with the package, :data:`DEVIATIONS_DIR`, the default) or
    ``folder/<backend>/deviations.toml``; a backend without a file has no
    known deviations.  A folder that does not exist is a ``ValueError``.
    """
    tomllib = _toml_module()
    root = DEVIATIONS_DIR if folder is None else pathlib.Path(folder)
    if not root.is_dir():
        raise ValueError(f"deviations: folder {str(root)!r} does not exist; expected a folder of "
                         "<backend>.toml known-deviation lists")
    out = {}
    for name in BACKENDS:
        for path in (root / f"{name}.toml", root / name / "deviations.toml"):
            if path.is_file():
                break
        else:
            continue
        with open(path, "rb") as f:
            entries = tomllib.load(f).get("deviation", [])
        for e in entries:
            if not (e.get("case") or e.get("test")) or not e.get("reason"):
                raise ValueError(f"{path}: every [[deviation]] needs 'reason' and 'case' (a registry case "
                                 f"name glob) or 'test' (a pytest node id glob); got {sorted(e)}")
            if "dtypes" in e and not (isinstance(e["dtypes"], list) and all(isinstance(d, str) for d in e["dtypes"])):
                raise ValueError(f"{path}: 'dtypes' must be a list of dtype names; got {e['dtypes']!r}")
        out[name] = entries
    return out
