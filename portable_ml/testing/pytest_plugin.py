"""pytest plugin: run a test on every array backend.

Registered through the ``pytest11`` entry point, so installing portable_ml is
enough.  A test that asks for ``backend`` (a :class:`portable_ml.Backend`) or
``xp`` (its array-API namespace) runs once per backend, with readable ids::

    def test_my_softmax(xp):
        x = xp.asarray([[1.0, 2.0], [3.0, 5.0]])
        s = my_softmax(x)
        assert_close(xp.sum(s, axis=-1), xp.ones(2, dtype=x.dtype))

Options
-------
``--pml-backends=numpy,jax``
    Which backends to run (default: every backend this library knows; those
    not usable here are skipped with the reason, e.g. CuPy without a GPU).
``--pml-jax-x64=on|off``
    Enable JAX's 64-bit mode (default on, so float64 tests mean float64).
ini ``pml_deviations``
    A folder with ``<backend>/deviations.toml`` files listing known
    deviations; matching tests are marked expected-to-fail with the reason.

Marks: ``@pytest.mark.backends("numpy", "jax")`` limits a test to those
backends; ``@pytest.mark.skip_backends(dask="lazy shapes")`` skips some with a
reason.  The ``float_dtype`` fixture runs a test in float32 and float64.
"""

from __future__ import annotations

import fnmatch
import os
import pathlib

import pytest

from ..backend import BACKENDS, available_backends, get_backend
from .conformance import load_deviations

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: deviation lists are not read
    tomllib = None


def pytest_addoption(parser):
    group = parser.getgroup("portable_ml")
    group.addoption("--pml-backends", default=None,
                    help="comma-separated backends to test (default: all known; unusable ones skip)")
    group.addoption("--pml-jax-x64", default="on", choices=("on", "off"),
                    help="enable JAX 64-bit mode for the session (default: on)")
    parser.addini("pml_deviations", "folder holding <backend>/deviations.toml known-deviation lists",
                  default="")


def selected_backends(config):
    opt = config.getoption("--pml-backends") or os.environ.get("PML_BACKENDS")
    if not opt or opt == "all":
        return list(BACKENDS)
    names = [n.strip() for n in opt.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise pytest.UsageError(f"--pml-backends: unknown backend(s) {unknown}; known: {', '.join(BACKENDS)}")
    return names


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run only on these backends")
    config.addinivalue_line("markers", "skip_backends(**reasons): skip on these backends, with reasons")
    config._pml_backends = selected_backends(config)
    config._pml_usable = set(available_backends())
    if "jax" in config._pml_backends and "jax" in config._pml_usable and config.getoption("--pml-jax-x64") == "on":
        import jax

        jax.config.update("jax_enable_x64", True)
    config._pml_deviations = _load_deviations(config)


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        names = list(metafunc.config._pml_backends)
        mark = metafunc.definition.get_closest_marker("backends")
        if mark is not None:
            names = [n for n in names if n in mark.args]
        metafunc.parametrize("backend", names, indirect=True, ids=names)
    if "float_dtype" in metafunc.fixturenames:
        metafunc.parametrize("float_dtype", ["float32", "float64"], indirect=True)


@pytest.fixture
def backend(request):
    """A :class:`portable_ml.Backend`, one per selected backend."""
    name = request.param
    skip = request.node.get_closest_marker("skip_backends")
    if skip is not None and name in skip.kwargs:
        pytest.skip(f"{name}: {skip.kwargs[name]}")
    if name not in request.config._pml_usable:
        why = "no working CUDA device" if name == "cupy" else "not installed"
        pytest.skip(f"backend {name} unusable here: {why}")
    return get_backend(name)


@pytest.fixture
def xp(backend):
    """The array-API namespace of ``backend``."""
    return backend.xp


@pytest.fixture
def float_dtype(request, backend):
    """A floating dtype of ``backend``: float32, then float64."""
    return getattr(backend.xp, request.param)


# ------------------------------------------------------------ deviation lists
def _load_deviations(config):
    folder = config.getini("pml_deviations")
    if not folder or tomllib is None:
        return {}
    try:
        return load_deviations(pathlib.Path(config.rootpath, folder))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _item_backend(item):
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    name = callspec.params.get("backend")
    if isinstance(name, str):
        return name
    return getattr(name, "name", None)


def pytest_collection_modifyitems(config, items):
    devs = getattr(config, "_pml_deviations", {})
    if not devs:
        return
    for item in items:
        name = _item_backend(item)
        for entry in devs.get(name, ()):
            if fnmatch.fnmatchcase(item.nodeid, entry["test"]) or fnmatch.fnmatchcase(item.name, entry["test"]):
                item.add_marker(pytest.mark.xfail(reason=f"known {name} deviation: {entry['reason']}",
                                                  strict=entry.get("strict", True)))
                break
