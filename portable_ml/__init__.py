"""portable_ml: machine-learning formulas written once against the Python array
API, running unchanged on NumPy, CuPy, JAX, PyTorch, Dask and array-api-strict.

>>> import portable_ml as pml
>>> pml.available_backends()          # doctest: +SKIP
['jax', 'torch', 'numpy', 'array_api_strict', 'dask']

Families of formulas are submodules (``pml.losses``, ``pml.metrics``, ...),
imported on first access so that ``import portable_ml`` stays cheap and
imports no optional array library.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "Backend",
    "available_backends",
    "get_backend",
    "namespace",
    "to_backend",
    "use_backend",
    "__version__",
]

_SUBMODULES = frozenset({
    "activations", "backend", "checkpoint", "cli", "datasets", "demo", "distances", "gradients",
    "interop", "losses", "metrics", "models", "nn", "optimizers", "plot", "preprocessing", "probability",
    "random", "regularization", "schedules", "testing", "tree", "autodiff",
})


# From portable_ml.backend, which imports NumPy: loaded on first use, so that importing
# the pytest plugin (portable_ml.testing.pytest_plugin) costs a pytest session nothing.
_BACKEND_NAMES = frozenset({
    "BACKENDS", "Backend", "available_backends", "get_backend", "namespace", "to_backend", "use_backend",
})


def __getattr__(name):
    if name in _BACKEND_NAMES:
        from . import backend

        value = globals()[name] = getattr(backend, name)
        return value
    if name in _SUBMODULES:
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                raise AttributeError(f"module 'portable_ml' has no attribute {name!r}") from None
            raise
    raise AttributeError(f"module 'portable_ml' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | _BACKEND_NAMES)
