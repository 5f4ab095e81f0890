"""Test configuration.

The ``backend``, ``xp`` and ``float_dtype`` fixtures come from this library's
own pytest plugin (``portable_ml.testing.pytest_plugin``), as they do for
users.  Here we make JAX see four CPU devices, so device placement is
tested without a GPU (this must happen before JAX is imported), and give
each xdist worker one thread.
"""

import os

import pytest

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per xdist worker: the workers already fill the cores, and
    # oversubscribed BLAS / torch thread pools make tiny operations very slow.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest_plugins = ["pytester"]


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        try:
            from threadpoolctl import threadpool_limits
        except ModuleNotFoundError:
            return
        config._pml_thread_limits = threadpool_limits(1)  # NumPy's BLAS, already loaded


@pytest.fixture(scope="session")
def _array_libraries_loaded():
    from portable_ml.backend import available_backends, get_backend

    for name in available_backends():
        get_backend(name)


@pytest.fixture
def pytester(_array_libraries_loaded, pytester):
    """``pytester`` whose runs leave the array libraries loaded.

    ``pytester`` removes, when its test ends (and when each in-process run
    ends), the modules imported meanwhile; importing torch or array_api_strict
    a second time in one process breaks them (arrays of the first copy meet
    the second).  So every usable backend is imported before ``pytester``
    starts.
    """
    return pytester
