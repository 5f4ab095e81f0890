"""Cross-backend testing tools, for this library's tests and for users' own code.

``assert_close`` compares arrays of any backends with dtype-aware tolerances
and a readable report.  The pytest plugin (``portable_ml.testing.pytest_plugin``,
registered through the ``pytest11`` entry point) gives tests ``backend`` and
``xp`` fixtures parametrised over the installed backends.
"""

from __future__ import annotations

# NumPy and portable_ml.backend are imported inside the functions, so that the pytest
# plugin below this package loads without them.

__all__ = ["assert_close", "default_tolerance", "assert_same_backend", "dtype_name", "check_conformance"]

# (rtol, atol) by the *less precise* floating dtype of the two sides.
_TOL = {
    "float16": (2e-3, 1e-3),
    "bfloat16": (1.6e-2, 1e-2),
    "float32": (2e-5, 1e-6),
    "float64": (1e-10, 1e-12),
}


def dtype_name(dtype):
    """``"float32"`` for a float32 dtype of any backend (NumPy, JAX, torch, strict, ...)."""
    import numpy as np

    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype).rsplit(".", 1)[-1]


def _dtype_name(x):
    return dtype_name(x.dtype) if hasattr(x, "dtype") else type(x).__name__


def default_tolerance(*arrays):
    """``(rtol, atol)`` suited to the least precise floating dtype among ``arrays``."""
    order = ["bfloat16", "float16", "float32", "float64"]
    names = [_dtype_name(a) for a in arrays]
    for name in order:
        if name in names:
            return _TOL[name]
    return (0.0, 0.0) if names and all("int" in n or "bool" in n for n in names) else _TOL["float64"]


def assert_close(actual, desired, rtol=None, atol=None, *, err_msg=""):
    """Assert ``|actual - desired| <= atol + rtol * |desired|`` elementwise.

    ``actual`` and ``desired`` may be arrays of any backends, Python numbers
    or pytrees of them.  Default tolerances follow the less precise floating
    dtype of the two.  On failure the message gives the shapes, dtypes, the
    number of mismatches, the worst absolute and relative errors and where
    they occur.
    """
    from ..tree import tree_leaves_with_path

    a_leaves, d_leaves = tree_leaves_with_path(actual), tree_leaves_with_path(desired)
    if [p for p, _ in a_leaves] != [p for p, _ in d_leaves]:
        raise AssertionError(f"{err_msg}\ntree structures differ: {[p for p, _ in a_leaves]} vs "
                             f"{[p for p, _ in d_leaves]}")
    for (path, a), (_, d) in zip(a_leaves, d_leaves):
        _assert_leaf_close(a, d, rtol, atol, f"{err_msg} [{path}]" if path else err_msg)


def _assert_leaf_close(actual, desired, rtol, atol, err_msg):
    import numpy as np

    from ..backend import backend_of, to_numpy

    drt, dat = default_tolerance(actual, desired)
    rtol = drt if rtol is None else rtol
    atol = dat if atol is None else atol
    a = np.asarray(to_numpy(actual))
    d = np.asarray(to_numpy(desired))
    header = (f"{err_msg}\n actual: {backend_of(actual) or type(actual).__name__} {_dtype_name(actual)} "
              f"shape {a.shape}\n desired: {backend_of(desired) or type(desired).__name__} "
              f"{_dtype_name(desired)} shape {d.shape}\n rtol={rtol:g} atol={atol:g}")
    if a.shape != d.shape:
        raise AssertionError(f"shapes differ{header}")
    if a.dtype == bool or d.dtype == bool or (a.dtype.kind in "iu" and d.dtype.kind in "iu"):
        bad = a != d
        if bad.any():
            idx = np.argwhere(bad)[0]
            raise AssertionError(f"{int(bad.sum())} of {a.size} elements differ, first at {tuple(idx)}: "
                                 f"{a[tuple(idx)]} vs {d[tuple(idx)]}{header}")
        return
    a64, d64 = a.astype(np.float64), d.astype(np.float64)
    nan_a, nan_d = np.isnan(a64), np.isnan(d64)
    if (nan_a != nan_d).any():
        raise AssertionError(f"NaN positions differ: {int(nan_a.sum())} NaN in actual, "
                             f"{int(nan_d.sum())} in desired{header}")
    ok = nan_a | (a64 == d64)  # equal infinities pass
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(ok, 0.0, np.abs(a64 - d64))
        rel = np.where(ok, 0.0, err / np.maximum(np.abs(d64), np.finfo(np.float64).tiny))
        bad = ~ok & ~(err <= atol + rtol * np.abs(d64))
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(bad, err, -1.0)), a.shape) if a.ndim else ()
        raise AssertionError(
            f"{int(bad.sum())} of {a.size} elements not close; max abs error {np.max(err):.3g}, "
            f"max rel error {np.max(rel):.3g}; worst at {tuple(int(i) for i in worst)}: "
            f"actual {a64[worst]!r} vs desired {d64[worst]!r}{header}")


def assert_same_backend(result, like):
    """Every array leaf of ``result`` belongs to the backend of ``like``."""
    from ..backend import backend_of
    from ..tree import tree_leaves

    want = backend_of(like)
    for leaf in tree_leaves(result):
        got = backend_of(leaf)
        if got is not None and got != want:
            raise AssertionError(f"result leaf is a {got} array ({type(leaf).__name__}); expected {want}")


def __getattr__(name):
    if name == "check_conformance":
        from .conformance import check_conformance

        return check_conformance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
