"""pytest plugin: run a test on every array backend.

Registered through the ``pytest11`` entry point, so installing portable_ml is
enough.  It changes nothing in a test suite that does not ask for it: no array
library is imported when pytest starts, JAX's settings are left alone, and the
fixtures below are ordinary pytest fixtures, so a project's own fixture or
``@pytest.mark.parametrize`` of the same name wins by pytest's usual rules.

Fixtures
--------
``backend``
    A :class:`portable_ml.Backend`, parametrised over every backend this
    library knows (ids ``numpy``, ``jax``, ...).
``xp``
    The array-API namespace of ``backend``.
``float_dtype``
    A floating dtype of ``backend``: float32, then float64.

::

    def test_my_softmax(xp):
        x = xp.asarray([[1.0, 2.0], [3.0, 5.0]])
        s = my_softmax(x)
        assert_close(xp.sum(s, axis=-1), xp.ones(2, dtype=x.dtype))

Backends that are not installed (or CuPy without a working CUDA device) are
deselected, with one summary line per backend giving the reason; a backend
named explicitly in ``--pml-backends`` but unusable, or whose import fails
(e.g. ``jax`` without ``jaxlib``), is skipped with the reason instead.

Options
-------
``--pml-backends=numpy,jax`` (or ``PML_BACKENDS``)
    Which backends to run (default: every backend this library knows).
``--pml-jax-x64=fixture|on|off`` (ini ``pml_jax_x64``)
    JAX's 64-bit mode.  ``fixture`` (default): enabled only while a test runs
    on JAX through these fixtures, and restored afterwards, so float64 tests
    mean float64 and every other test sees JAX's own default.  ``on``: enabled
    for the whole session when pytest starts (imports JAX then), whether or not
    jax is among the selected backends.  ``off``:
    never; float64 cases on JAX are skipped.
ini ``pml_deviations``
    A folder with ``<backend>.toml`` or ``<backend>/deviations.toml`` files
    listing known deviations; matching tests are marked expected-to-fail with
    the reason.  An entry matches by ``test`` (a glob on the node id or the
    test name with its parameters) or, for tests parametrised by a registry
    case (``portable_ml.testing.registry``), by ``case`` (a glob on the case
    name, optionally limited to ``dtypes``).

Marks: ``@pytest.mark.backends("numpy", "jax")`` limits a test to those
backends; ``@pytest.mark.skip_backends(dask="lazy shapes")`` skips some with a
reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import sys

import pytest

# This module is loaded by every pytest session of an environment where portable_ml is
# installed: portable_ml.backend imports no array library (NumPy included) until a backend
# is used, so each array library is imported the first time one of its tests runs.
from ..backend import BACKENDS, backend_class, get_backend

_X64_MODES = ("fixture", "on", "off")


class _BackendParam(str):
    """A backend name that came from this plugin's ``backend`` parameters.

    Tells our parametrisation apart from a project's own ``backend``
    parameters, which this plugin never filters or marks.
    """

    __slots__ = ()


def pytest_addoption(parser):
    group = parser.getgroup("portable_ml")
    group.addoption("--pml-backends", default=None,
                    help="comma-separated backends to test (default: all known; "
                         "those not installed are deselected with the reason)")
    group.addoption("--pml-jax-x64", default=None, choices=_X64_MODES,
                    help="JAX 64-bit mode: 'fixture' (default) only while a test runs on JAX through the "
                         "backend/xp/float_dtype fixtures; 'on' for the whole session; 'off' never")
    parser.addini("pml_deviations", "folder holding <backend>/deviations.toml known-deviation lists",
                  default="")
    parser.addini("pml_jax_x64", "JAX 64-bit mode: fixture (default), on or off", default="fixture")


def _backends_option(config):
    return config.getoption("--pml-backends") or os.environ.get("PML_BACKENDS")


def selected_backends(config):
    opt = _backends_option(config)
    if not opt or opt == "all":
        return list(BACKENDS)
    names = [n.strip() for n in opt.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise pytest.UsageError(f"--pml-backends: unknown backend(s) {unknown}; known: {', '.join(BACKENDS)}")
    return names


def _x64_mode(config):
    mode = config.getoption("--pml-jax-x64") or config.getini("pml_jax_x64") or "fixture"
    if mode not in _X64_MODES:
        raise pytest.UsageError(f"pml_jax_x64: expected one of {', '.join(_X64_MODES)}; got {mode!r}")
    return mode


def _findable(module):
    try:
        return module in sys.modules or importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run only on these backends")
    config.addinivalue_line("markers", "skip_backends(**reasons): skip on these backends, with reasons")
    config._pml_backends = selected_backends(config)
    config._pml_explicit = bool(_backends_option(config)) and _backends_option(config) != "all"
    config._pml_x64 = _x64_mode(config)
    config._pml_unusable = {}  # backend -> reason, filled the first time a backend is needed
    config._pml_not_run = {}  # backend -> [number of deselected tests, reason]
    config._pml_deviations = _load_deviations(config)
    if config._pml_x64 == "on" and _findable("jax"):
        # Asked for explicitly (the project's own suite does): the whole session in x64, whichever
        # backends run -- tests that take JAX as their reference need it with --pml-backends=numpy too.
        try:
            import jax

            jax.config.update("jax_enable_x64", True)
        except Exception as exc:  # a broken install: its tests skip with this reason
            config._pml_unusable["jax"] = f"import failed: {type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ fixtures
@pytest.fixture(params=[pytest.param(_BackendParam(n), id=n) for n in BACKENDS])
def backend(request):
    """A :class:`portable_ml.Backend`, one per backend.

    While a JAX test runs, JAX is in x64 mode (``--pml-jax-x64=fixture``) and
    float32 matrix products are full precision (:func:`_jax_full_matmul_precision`).
    """
    name = str(request.param)
    skip = request.node.get_closest_marker("skip_backends")
    if skip is not None and name in skip.kwargs:
        pytest.skip(f"{name}: {skip.kwargs[name]}")
    be = _backend_or_skip(request.config, name)
    if name != "jax":
        yield be
        return
    with contextlib.ExitStack() as stack:
        if getattr(request.config, "_pml_x64", "fixture") == "fixture":
            from .conformance import _jax_x64

            stack.enter_context(_jax_x64())
        stack.enter_context(_jax_full_matmul_precision())
        yield be


def _jax_full_matmul_precision():
    """Full float32 matrix products while a JAX test runs, unless the user chose a precision.

    On NVIDIA GPUs since Ampere, JAX's default precision for float32 ``dot``
    is TF32 (a 10-bit mantissa); CuPy and PyTorch multiply in full float32.
    Tests compare with float64 references at float32 tolerances, so they run
    under ``jax.default_matmul_precision("highest")``; a precision the user set
    (``JAX_DEFAULT_MATMUL_PRECISION`` or ``jax.config``) is kept.  Scoped to
    the test like the x64 mode; on CPUs it changes nothing.
    """
    import jax

    if jax.config.jax_default_matmul_precision is not None:
        return contextlib.nullcontext()
    return jax.default_matmul_precision("highest")


@pytest.fixture
def xp(backend):
    """The array-API namespace of ``backend``."""
    return backend.xp


@pytest.fixture(params=["float32", "float64"])
def float_dtype(request, backend):
    """A floating dtype of ``backend``: float32, then float64."""
    if request.param == "float64" and getattr(backend, "name", None) == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip("jax: float64 needs JAX's x64 mode, which is off (see --pml-jax-x64)")
    return getattr(backend.xp, request.param)


def _install_problem(name):
    """Why ``name`` cannot run here without importing it, or ``None`` (CuPy is probed)."""
    cls = backend_class(name)
    why = cls.unusable()
    if why == "not installed":
        hint = f"pip install 'portable-ml[{cls.extra}]'"
        if name == "torch":
            hint = ("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu "
                    "(the CPU build)")
        return f"not installed ({hint})"
    if why is not None:  # CuPy installed, no working CUDA device
        return "CuPy is installed but no CUDA device works"
    return None


def _backend_or_skip(config, name):
    """``get_backend(name)``, or a skip naming why it cannot run here."""
    unusable = getattr(config, "_pml_unusable", {})
    why = unusable.get(name)
    if why is None:
        why = _install_problem(name)
        if why is None:
            try:
                return get_backend(name)
            except Exception as exc:  # e.g. jax without jaxlib: a skip reason, not an error
                why = f"{type(exc).__name__}: {exc}"
        unusable[name] = why
    pytest.skip(f"backend {name} unusable here: {why}")


# ------------------------------------------------------------ collection
def _load_deviations(config):
    folder = config.getini("pml_deviations")
    if not folder:
        return {}
    from .conformance import load_deviations

    try:
        return load_deviations(pathlib.Path(config.rootpath, folder))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _item_backend(item):
    """The backend an item runs on through this plugin's ``backend`` fixture, else ``None``."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    name = callspec.params.get("backend")
    return str(name) if isinstance(name, _BackendParam) else None


def _item_case(item):
    """``(case name, dtype name or None)`` of an item parametrised by a registry case, else ``None``."""
    case = item.callspec.params.get("case")
    name = getattr(case, "name", None)
    if not isinstance(name, str) or type(case).__name__ != "Case":
        return None
    ids = item.callspec.id.split("-")
    return name, next((d for d in ("float16", "bfloat16", "float32", "float64") if d in ids), None)


def _deviation_marks(entry, item):
    """Whether known-deviation ``entry`` marks ``item``: by registry case (``case``) or by test (``test``)."""
    from .conformance import case_deviation, deviation_matches

    if "case" in entry:
        found = _item_case(item)
        return found is not None and case_deviation([entry], *found) is not None
    return deviation_matches(entry["test"], item.nodeid) or deviation_matches(entry["test"], item.name)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Keep the selected backends; drop unusable ones with one line each; mark known deviations."""
    selected = set(config._pml_backends)
    explicit = config._pml_explicit
    devs = config._pml_deviations
    problems = {}
    keep, drop = [], []
    for item in items:
        name = _item_backend(item)
        if name is None:
            keep.append(item)
            continue
        mark = item.get_closest_marker("backends")
        if name not in selected or (mark is not None and name not in mark.args):
            drop.append(item)
            continue
        if not explicit:
            if name not in problems:  # probed once per backend, only when a test needs it
                problems[name] = config._pml_unusable.get(name) or _install_problem(name)
            if problems[name]:
                drop.append(item)
                entry = config._pml_not_run.setdefault(name, [0, problems[name]])
                entry[0] += 1
                continue
        keep.append(item)
        for entry in devs.get(name, ()):
            if _deviation_marks(entry, item):
                item.add_marker(pytest.mark.xfail(reason=f"known {name} deviation: {entry['reason']}",
                                                  strict=entry.get("strict", True)))
                break
    if drop:
        items[:] = keep
        config.hook.pytest_deselected(items=drop)
    if hasattr(config, "workeroutput"):  # an xdist worker: tell the controller
        config.workeroutput["pml_not_run"] = dict(config._pml_not_run)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist controller: collect the workers' counts of deselected unusable-backend tests."""
    got = getattr(node, "workeroutput", {}).get("pml_not_run") or {}
    not_run = getattr(node.config, "_pml_not_run", None)
    if not_run is not None:
        for name, (count, why) in got.items():  # every worker collected the same tests
            not_run[name] = [max(count, not_run.get(name, [0])[0]), why]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for name, (count, why) in sorted(getattr(config, "_pml_not_run", {}).items()):
        tests = "test" if count == 1 else "tests"
        terminalreporter.write_line(f"portable_ml: {count} {name} {tests} deselected, backend {name} "
                                    f"unusable here: {why}")
