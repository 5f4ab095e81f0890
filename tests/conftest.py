"""Test configuration.

The ``backend``, ``xp`` and ``float_dtype`` fixtures come from this library's
own pytest plugin (``portable_ml.testing.pytest_plugin``), as they do for
users.  Here we make JAX see four CPU devices, so device placement is
tested without a GPU (this must happen before JAX is imported), and give
each xdist worker one thread.
"""

import os

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
