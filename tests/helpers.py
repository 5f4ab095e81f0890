"""Shared test helpers (not fixtures): placing inputs, simulated devices."""

import numpy as np

from portable_ml import get_backend


def place(backend, *arrays, dtype=None):
    """Host arrays onto ``backend``; float64 arrays are cast to ``dtype`` (a name)."""
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            dt = dtype if (dtype is not None and a.dtype.kind == "f") else None
            out.append(backend.asarray(a, dtype=dt))
        else:
            out.append(a)
    return out if len(out) != 1 else out[0]


def other_device(backend):
    """A non-default device of ``backend`` where one exists (to prove results stay there)."""
    if backend.name == "array_api_strict":
        return get_backend(backend.name, "device1")
    if backend.name == "jax":
        import jax

        if len(jax.devices()) > 1:
            return get_backend("jax", "cpu:1")
    return None
