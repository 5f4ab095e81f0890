"""The pytest plugin in other people's projects: it changes nothing unasked.

Most runs here are subprocesses (``runpytest_subprocess``): this suite itself
runs with JAX's x64 mode on and JAX imported, which an in-process run would
inherit.  ``PYTHONPATH`` points the subprocess at this checkout.
"""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

import portable_ml
from portable_ml import backend as pml_backend
from portable_ml.testing import pytest_plugin

pytestmark = pytest.mark.slow  # the slow tier: run with -m slow (ci/test.sh does)

ROOT = pathlib.Path(__file__).resolve().parents[1]
HAS_JAX = importlib.util.find_spec("jax") is not None
OUTCOME = re.compile(r"^(\S+::\S+) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)\b", re.M)


@pytest.fixture
def subproc_env(monkeypatch):
    """A subprocess environment that imports this checkout and sets no JAX or backend option."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep))
    for var in ("JAX_ENABLE_X64", "JAX_DEFAULT_MATMUL_PRECISION", "PML_BACKENDS", "PYTEST_ADDOPTS",
                "PYTEST_XDIST_WORKER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")


def outcomes(result):
    """``{nodeid: outcome}`` from a ``-v`` run."""
    return dict(OUTCOME.findall(result.stdout.str()))


FOREIGN_CONFTEST = """
import pytest


@pytest.fixture(params=["left", "right"])
def backend(request):
    return request.param


@pytest.fixture
def xp():
    return "my-xp"


@pytest.fixture(params=["half", "single"])
def float_dtype(request):
    return request.param
"""

FOREIGN_TESTS = """
import pytest


def test_own_backend_fixture(backend):
    assert backend in ("left", "right")


def test_own_plain_xp(xp):
    assert xp == "my-xp"


def test_own_float_dtype(float_dtype, backend):
    assert float_dtype in ("half", "single")


@pytest.mark.parametrize("backend", ["a", "b", "c"])
def test_own_parametrize(backend):
    assert backend in "abc"


@pytest.mark.parametrize("float_dtype", ["bf16"])
def test_own_parametrize_float_dtype(float_dtype):
    assert float_dtype == "bf16"
"""

PLAIN_CONFTEST = """
import pytest


@pytest.fixture
def backend():
    return "plain"


@pytest.fixture
def float_dtype():
    return "plain-dtype"
"""

PLAIN_TESTS = """
def test_plain_backend_runs_once(backend, float_dtype):
    assert (backend, float_dtype) == ("plain", "plain-dtype")
"""

JAX_DEFAULT_TEST = """
import jax
import jax.numpy as jnp


def test_jax_default_is_float32():
    assert jnp.ones(3).dtype == jnp.float32
    assert not jax.config.jax_enable_x64
"""


def _foreign_project(pytester, with_jax):
    pytester.makeconftest(FOREIGN_CONFTEST)
    pytester.makepyfile(test_foreign=FOREIGN_TESTS)
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(PLAIN_CONFTEST)
    (sub / "test_plain.py").write_text(PLAIN_TESTS)
    if with_jax:
        pytester.makepyfile(test_jax_default=JAX_DEFAULT_TEST)


@pytest.mark.parametrize("with_jax", [pytest.param(True, marks=pytest.mark.skipif(not HAS_JAX, reason="no jax")),
                                      False], ids=["with-jax-test", "no-jax"])
def test_foreign_project_outcomes_identical_with_and_without_plugin(pytester, subproc_env, with_jax):
    """Own ``backend``/``xp``/``float_dtype`` fixtures and parametrisations win; JAX keeps float32."""
    _foreign_project(pytester, with_jax)
    with_plugin = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", "-p", "no:xdist")
    without = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", "-p", "no:xdist",
                                            "-p", "no:portable_ml")
    got, want = outcomes(with_plugin), outcomes(without)
    # 2 + 1 + 4 + 3 + 1 from test_foreign, 1 plain, 1 JAX default
    assert len(want) == 12 + with_jax, without.stdout.str()
    assert set(want.values()) == {"PASSED"}, without.stdout.str()
    assert got == want, with_plugin.stdout.str()
    assert with_plugin.ret == without.ret == 0
    assert "sub/test_plain.py::test_plain_backend_runs_once PASSED" in with_plugin.stdout.str()


def test_plugin_imports_no_array_library_for_a_test_that_asks_for_none(pytester, subproc_env):
    pytester.makepyfile(
        """
        import sys

        LIBS = {"jax", "jaxlib", "torch", "cupy", "dask", "array_api_strict"}


        def test_nothing_imported(request):
            assert request.config.pluginmanager.has_plugin("portable_ml")
            assert not LIBS & set(sys.modules), sorted(LIBS & set(sys.modules))
        """
    )
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    res.assert_outcomes(passed=1)


def test_numpy_only_tests_import_no_other_array_library(pytester, subproc_env):
    pytester.makepyfile(
        """
        import sys


        def test_on_numpy(xp, float_dtype):
            x = xp.ones(3, dtype=float_dtype)
            assert float(xp.sum(x)) == 3.0
            assert not {"jax", "torch", "cupy"} & set(sys.modules)
        """
    )
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "--pml-backends=numpy")
    res.assert_outcomes(passed=2)


BROKEN_JAX = 'raise ImportError("jax requires jaxlib to be installed")\n'


@pytest.mark.parametrize("x64", ["fixture", "on"])
def test_broken_jax_install_is_a_skip_reason_not_an_internal_error(pytester, subproc_env, monkeypatch, x64):
    """A ``jax`` package without ``jaxlib``: JAX tests skip with the import error, the rest run."""
    fake = pytester.mkdir("fake_site")
    (fake / "jax").mkdir()
    (fake / "jax" / "__init__.py").write_text(BROKEN_JAX)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake), os.environ["PYTHONPATH"]]))
    pytester.makepyfile(
        """
        def test_any(backend):
            assert backend.name in ("jax", "numpy")


        def test_plain():
            pass
        """
    )
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-rs",
                                        "--pml-backends=jax,numpy", f"--pml-jax-x64={x64}")
    assert "INTERNALERROR" not in res.stdout.str() + res.stderr.str()
    res.assert_outcomes(passed=2, skipped=1)
    res.stdout.fnmatch_lines(["*backend jax unusable here:*ImportError: jax requires jaxlib to be installed*"])


X64_TESTS = """
import numpy as np
import jax
import jax.numpy as jnp
import pytest

double = jax.jit(lambda x: x * 2)


def test_a_plain_test_before():
    assert jnp.ones(3).dtype == jnp.float32
    assert jax.config.jax_default_matmul_precision is None
    assert double(jnp.ones(2)).dtype == jnp.float32


def test_b_through_the_fixtures(backend, float_dtype):
    x = backend.asarray(np.ones(2), dtype=float_dtype)
    assert x.dtype == float_dtype
    if backend.name == "jax":
        assert jax.config.jax_enable_x64
        assert jax.config.jax_default_matmul_precision == "highest"
        assert double(x).dtype == float_dtype  # the jitted function traced again per dtype
        assert jnp.ones(3).dtype == jnp.float64
    else:
        assert not jax.config.jax_enable_x64
        assert jax.config.jax_default_matmul_precision is None


def test_c_plain_test_after():
    assert not jax.config.jax_enable_x64
    assert jax.config.jax_default_matmul_precision is None
    assert jnp.ones(3).dtype == jnp.float32
    assert double(jnp.ones(2)).dtype == jnp.float32  # the x64 trace is not reused
"""


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_jax_x64_only_while_a_test_runs_on_jax_through_the_fixtures(pytester, subproc_env):
    pytester.makepyfile(test_x64=X64_TESTS)
    res = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly",
                                        "--pml-backends=jax,numpy")
    res.assert_outcomes(passed=6)
    order = [k.split("::")[1] for k in outcomes(res)]
    assert order == ["test_a_plain_test_before", "test_b_through_the_fixtures[jax-float32]",
                     "test_b_through_the_fixtures[jax-float64]", "test_b_through_the_fixtures[numpy-float32]",
                     "test_b_through_the_fixtures[numpy-float64]", "test_c_plain_test_after"]


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_jax_x64_opt_in_for_the_session_and_opt_out(pytester, subproc_env):
    pytester.makepyfile(
        """
        import jax.numpy as jnp


        def test_session_default():
            assert jnp.ones(3).dtype == jnp.float64


        def test_fixture(xp, float_dtype):
            assert xp.ones(3, dtype=float_dtype).dtype == float_dtype
        """
    )
    pytester.makeini("[pytest]\npml_jax_x64 = on\n")
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "--pml-backends=jax")
    res.assert_outcomes(passed=3)
    off = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "--pml-backends=jax", "-rs",
                                        "--pml-jax-x64=off", "-k", "fixture")
    off.assert_outcomes(passed=1, skipped=1)
    off.stdout.fnmatch_lines(["*float64 needs JAX's x64 mode, which is off*"])


def test_backends_and_skip_backends_marks(pytester):
    pytester.makepyfile(
        """
        import pytest


        @pytest.mark.backends("numpy")
        def test_only_numpy(backend):
            assert backend.name == "numpy"


        @pytest.mark.skip_backends(array_api_strict="no frobnicate there")
        def test_not_strict(xp):
            pass
        """
    )
    res = pytester.runpytest("--pml-backends=numpy,array_api_strict", "-rs", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=2, skipped=1, deselected=9)  # 6 backends x 2 tests, 3 kept
    res.stdout.fnmatch_lines(["*array_api_strict: no frobnicate there*"])


def test_unusable_backend_is_deselected_with_one_line_unless_asked_for(pytester, monkeypatch):
    """An uninstalled backend: one summary line by default; named in --pml-backends, a skip with the reason."""
    real = pml_backend._installed
    monkeypatch.setattr(pml_backend, "_installed", lambda name: name != "torch" and real(name))
    pytester.makepyfile(
        """
        import pytest


        @pytest.mark.parametrize("k", range(3))
        def test_each(backend, k):
            pass
        """
    )
    res = pytester.runpytest("--pml-backends=numpy,torch", "-rs", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=3, skipped=3)
    res.stdout.fnmatch_lines(["*backend torch unusable here: not installed (pip install torch==2.13.0 "
                              "--index-url https://download.pytorch.org/whl/cpu*"])
    res = pytester.runpytest("-p", "no:cacheprovider", "--pml-backends=all")  # the default set
    assert res.ret == 0
    res.stdout.fnmatch_lines(["portable_ml: 3 torch tests deselected, backend torch unusable here: not installed*"])
    assert "torch]" not in res.stdout.str()


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_uninstalled_backend_summary_reaches_the_xdist_controller(pytester, subproc_env):
    pytester.makepyfile("def test_x(xp):\n    pass\n")
    res = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "--pml-backends=all")
    assert res.ret == 0
    res.stdout.fnmatch_lines(["portable_ml: 1 cupy test deselected, backend cupy unusable here: not installed "
                              "(pip install 'portable-ml[cupy-cuda12]')"])


def test_plugin_backend_names_are_the_library_s():
    assert pytest_plugin.BACKENDS == portable_ml.BACKENDS


def test_importing_the_plugin_imports_no_array_library_not_even_numpy():
    code = ("import sys; import portable_ml.testing.pytest_plugin; "
            "print(sorted(m for m in ('numpy', 'jax', 'torch', 'cupy', 'dask', 'array_api_strict', "
            "'array_api_compat') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.backends("jax")
def test_jax_float32_products_are_full_precision_while_a_test_runs(backend):
    """JAX multiplies float32 in TF32 on NVIDIA GPUs by default; the fixture asks for full float32."""
    import jax

    assert jax.config.jax_default_matmul_precision == "highest"
    x = backend.xp.ones((4, 4), dtype=backend.xp.float32)
    hlo = jax.jit(lambda a: a @ a).lower(x).as_text()
    assert re.search(r"dot_general.*precision = \[HIGHEST, HIGHEST\]", hlo), hlo


@pytest.mark.skipif(not HAS_JAX, reason="jax is not installed")
def test_a_matmul_precision_the_user_chose_is_kept(pytester, subproc_env, monkeypatch):
    monkeypatch.setenv("JAX_DEFAULT_MATMUL_PRECISION", "bfloat16")
    pytester.makepyfile(
        """
        import jax


        def test_user_precision(backend):
            assert jax.config.jax_default_matmul_precision == "bfloat16"
        """
    )
    res = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "--pml-backends=jax")
    res.assert_outcomes(passed=1)
