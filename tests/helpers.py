"""Shared test helpers (not fixtures): placing inputs, simulated devices."""

import numpy as np

from portable_ml import get_backend


def _place_one(backend, a, dtype):
    if isinstance(a, np.ndarray):
        dt = dtype if (dtype is not None and a.dtype.kind == "f") else None
        return backend.asarray(a, dtype=dt)
    return a


def place_all(backend, *arrays, dtype=None):
    """Host arrays onto ``backend`` as a tuple (always); float64 arrays cast to ``dtype`` (a name).

    Other values (Python numbers, ``None``) pass unchanged.
    """
    return tuple(_place_one(backend, a, dtype) for a in arrays)


def place(backend, array, *, dtype=None):
    """One host array onto ``backend`` (see :func:`place_all` for several), returned as an array."""
    return _place_one(backend, array, dtype)


def second_backend(name="array_api_strict"):
    """Backend ``name`` for a test that mixes two backends; the test is skipped where it is not installed."""
    import pytest

    from portable_ml.backend import backend_class

    pytest.importorskip(backend_class(name).module)
    return get_backend(name)


def other_device(backend):
    """A non-default device of ``backend`` where one exists (to prove results stay there)."""
    if backend.name == "array_api_strict":
        return get_backend(backend.name, "device1")
    if backend.name == "jax":
        import jax

        if len(jax.devices()) > 1:
            return get_backend("jax", "cpu:1")
    return None


class optional_module:
    """A reference library imported on first use inside a test.

    ``skm = optional_module("sklearn.metrics")`` at module level, then
    ``skm.f1_score(...)`` in a test: where the library is missing, that test
    is skipped (``pytest.importorskip``), never the whole module.
    ``skm.deferred("f1_score")`` is a callable for tables built at import
    time (the import waits for the call).
    """

    def __init__(self, name):
        self._name = name

    def _module(self):
        import pytest

        return pytest.importorskip(self._name)

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self._module(), attr)

    def deferred(self, attr):
        def call(*args, **kwargs):
            return getattr(self._module(), attr)(*args, **kwargs)

        call.__name__ = attr
        return call


def tol(cls, dtype):
    """``{"rtol", "atol"}`` of tolerance class ``cls`` for ``dtype``: the suite's one tolerance policy
    (``portable_ml.testing.registry.tolerance``, over ``portable_ml.testing.default_tolerance``)."""
    from portable_ml.testing.registry import tolerance

    rtol, atol = tolerance(cls, dtype)
    return {"rtol": rtol, "atol": atol}
