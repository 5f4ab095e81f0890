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


# Memory: eager JAX compiles and caches one small executable per operation, shape and
# dtype; over the ~1400 JAX tests of this suite that grows a process by 3-4 GB.  When
# a process passes PML_TEST_RSS_LIMIT_MB (default 1200) after a test, JAX's caches are
# cleared and freed memory is handed back to the system (glibc's malloc_trim), which
# brings it back to a few hundred MB.  PML_RSS_LOG=FILE appends
# "<nodeid>\t<RSS MiB>\t<peak RSS MiB>" after each test to FILE.<worker>.
_RSS_LIMIT_MB = float(os.environ.get("PML_TEST_RSS_LIMIT_MB", "1200"))
_RSS_LOG = os.environ.get("PML_RSS_LOG")


def _rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return 0.0


def _release_memory():
    import gc
    import sys

    jax = sys.modules.get("jax")
    if jax is not None:
        jax.clear_caches()
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def pytest_runtest_logfinish(nodeid, location):
    rss = _rss_mb()
    if rss > _RSS_LIMIT_MB:
        _release_memory()
    if _RSS_LOG:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with open(f"{_RSS_LOG}.{os.environ.get('PYTEST_XDIST_WORKER', 'main')}", "a") as f:
            f.write(f"{nodeid}\t{rss:.0f}\t{peak:.0f}\n")


def pytest_addoption(parser):
    parser.addoption("--fuzz-examples", type=int, default=None,
                     help="Hypothesis examples per public function in tests/test_fuzz.py "
                          "(default: PML_FUZZ_EXAMPLES or 12)")
