"""The user-facing testing tools: assert_close and the pytest plugin."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from portable_ml.cli import main
from portable_ml.testing import assert_close, default_tolerance

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_assert_close_across_backends(backend):
    x = backend.asarray(np.linspace(0, 1, 5))
    assert_close(x, np.linspace(0, 1, 5))


def test_assert_close_reports_the_worst_element():
    a = np.array([1.0, 2.0, 3.5])
    with pytest.raises(AssertionError, match=r"1 of 3 elements not close.*worst at \(2,\)"):
        assert_close(a, np.array([1.0, 2.0, 3.0]))


def test_assert_close_dtype_aware_defaults():
    assert default_tolerance(np.float32(1), np.float64(1))[0] > default_tolerance(np.float64(1))[0]
    assert_close(np.float32(1.0) + np.float32(1e-6), np.float64(1.0))
    with pytest.raises(AssertionError):
        assert_close(np.float64(1.0) + 1e-6, np.float64(1.0))


def test_assert_close_shapes_nan_and_trees():
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close(np.ones(2), np.ones(3))
    with pytest.raises(AssertionError, match="NaN positions"):
        assert_close(np.array([np.nan]), np.array([1.0]))
    assert_close({"a": [np.inf, 1.0]}, {"a": [np.inf, 1.0]})


def _readme_plugin_example():
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    return re.search(r"<!-- plugin-example -->\n```python\n(.*?)^```", text, re.S | re.M).group(1)


def test_readme_plugin_example_runs_on_every_backend(pytester):
    """The README's ten-line user test file, run as a user would."""
    pytester.makepyfile(test_mine=_readme_plugin_example())
    names = ["numpy", "array_api_strict"] + (["torch"] if importlib.util.find_spec("torch") else [])
    res = pytester.runpytest(f"--pml-backends={','.join(names)}", "-v")
    res.assert_outcomes(passed=len(names))
    res.stdout.fnmatch_lines(["*test_rows_sum_to_one?numpy?*PASSED*", "*array_api_strict*PASSED*"])


def test_plugin_applies_deviation_lists(pytester):
    pytester.makeini("[pytest]\npml_deviations = devs\n")
    pytester.mkdir("devs")
    pytester.mkdir("devs/array_api_strict")
    (pytester.path / "devs/array_api_strict/deviations.toml").write_text(
        '[[deviation]]\ntest = "test_fails_on_strict*"\nreason = "strict has no frobnicate"\n'
    )
    pytester.makepyfile(
        """
        def test_fails_on_strict(backend):
            assert backend.name != "array_api_strict"
        """
    )
    res = pytester.runpytest("--pml-backends=numpy,array_api_strict", "-rx")
    res.assert_outcomes(passed=1, xfailed=1)
    res.stdout.fnmatch_lines(["*known array_api_strict deviation: strict has no frobnicate*"])


def test_plugin_rejects_unknown_backend(pytester):
    pytester.makepyfile("def test_x(xp): pass")
    res = pytester.runpytest("--pml-backends=tensorflow")
    assert res.ret != 0
    res.stderr.fnmatch_lines(["*unknown backend*tensorflow*"])


def test_cli_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "numpy" in out and "backend" in out


def test_cli_info_json(capsys):
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {r["backend"]: r for r in data["backends"]}
    assert names["numpy"]["usable"] and names["numpy"]["devices"] == ["cpu"]


def _softmax(x):
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    e = xp.exp(x - xp.max(x))
    return e / xp.sum(e)


def test_check_conformance_passes_a_portable_function():
    from portable_ml.testing import check_conformance

    x = np.random.default_rng(0).normal(size=6).astype(np.float32)
    rep = check_conformance(_softmax, x, backends=["numpy", "array_api_strict"])
    assert rep.ok, str(rep)
    assert rep["numpy"].dtype_kept and rep["numpy"].device_kept
    assert 0 < rep["numpy"].max_abs_error < 1e-6  # float32 vs the float64 reference
    assert "array_api_strict" in str(rep)


@pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")
def test_check_conformance_catches_a_numpy_only_function():
    from portable_ml.testing import check_conformance

    rep = check_conformance(lambda x: np.exp(x), np.ones(3), backends=["numpy", "array_api_strict", "torch"])
    assert rep["numpy"].status == "pass"
    assert rep["array_api_strict"].status == "fail" and not rep["array_api_strict"].device_kept
    assert not rep.ok
    rep2 = check_conformance(lambda x: np.exp(x), np.ones(3), backends=["array_api_strict"],
                             deviations={"array_api_strict": "uses NumPy directly"})
    assert rep2.ok and rep2["array_api_strict"].status == "deviation"


def test_check_conformance_reports_dtype_changes():
    from portable_ml.testing import check_conformance

    def upcast(x):
        import array_api_compat

        xp = array_api_compat.array_namespace(x)
        return xp.astype(x, xp.float64)

    rep = check_conformance(upcast, np.ones(3, dtype=np.float32), backends=["numpy"])
    assert rep["numpy"].status == "fail" and rep["numpy"].dtype_kept is False


def test_cli_conformance_markdown(tmp_path, capsys):
    out = tmp_path / "conf.md"
    assert main(["conformance", "--family", "_numerics", "--backends", "numpy,array_api_strict",
                 "--markdown", str(out)]) == 0
    text = out.read_text()
    assert "| _numerics.softplus | pass" in text
    assert "_numerics.logsumexp" in capsys.readouterr().out


def test_cli_unknown_backend_is_a_clear_error(capsys):
    assert main(["conformance", "--backends", "tensorflow"]) == 2
    assert "available here" in capsys.readouterr().err


# --------------------------------------------------------- deviation reader
DEVIATIONS = '[[deviation]]\ntest = "test_a*"\nreason = "why not"\nstrict = false\n'


def _write_deviations(folder):
    (folder / "jax").mkdir()
    (folder / "jax" / "deviations.toml").write_text(DEVIATIONS)


def test_deviation_reader_uses_tomllib_or_its_tomli_backport(tmp_path):
    from portable_ml.testing.conformance import _toml_module, load_deviations

    _write_deviations(tmp_path)
    assert _toml_module().__name__ == ("tomllib" if sys.version_info >= (3, 11) else "tomli")
    assert load_deviations(tmp_path) == {"jax": [{"test": "test_a*", "reason": "why not", "strict": False}]}


def test_deviation_reader_falls_back_to_tomli(tmp_path, monkeypatch):
    """Python 3.10 has no tomllib: the reader takes tomli, or says what to install."""
    from portable_ml.testing.conformance import load_deviations

    _write_deviations(tmp_path)
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib now fails, as on 3.10
    if importlib.util.find_spec("tomli") is None:
        with pytest.raises(ModuleNotFoundError, match="pip install tomli"):
            load_deviations(tmp_path)
    else:
        assert load_deviations(tmp_path)["jax"][0]["reason"] == "why not"


# ------------------------------------------------ conformance without pytest
CONFORMANCE_SCRIPT = """
import json, sys
import numpy as np
import jax, jax.numpy as jnp
from portable_ml.testing import check_conformance


def softmax(x):
    import array_api_compat

    xp = array_api_compat.array_namespace(x)
    e = xp.exp(x - xp.max(x))
    return e / xp.sum(e)


x = np.random.default_rng(0).normal(size=6)
out = {}
for dtype in ("float64", "float32"):
    rep = check_conformance(softmax, x.astype(dtype), backends=["numpy", "jax"])
    out[dtype] = rep["jax"].__dict__ | {"table": str(rep)}
out["x64_after"] = bool(jax.config.jax_enable_x64)
out["default_after"] = str(jnp.ones(3).dtype)
out["pytest_loaded"] = "pytest" in sys.modules
print(json.dumps(out))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_check_conformance_outside_pytest_runs_jax_float64_with_x64_on_and_restores_it():
    """The reported input: a correct softmax on float64, in a plain process where x64 is off."""
    from portable_ml.testing.conformance import _X64_NOTE

    env = {k: v for k, v in os.environ.items() if k not in ("JAX_ENABLE_X64", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(ROOT)
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", CONFORMANCE_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=300, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    f64, f32 = got["float64"], got["float32"]
    assert f64["status"] == "pass" and f64["dtype_kept"], f64
    assert f64["max_abs_error"] < 1e-15, f64  # float64 against the float64 NumPy reference
    assert f64["message"] == _X64_NOTE and "x64" in f64["table"]
    assert f32["status"] == "pass" and f32["dtype_kept"] and f32["message"] == "", f32  # float32: x64 untouched
    assert 0 < f32["max_abs_error"] < 1e-6
    assert got["x64_after"] is False and got["default_after"] == "float32"
    assert got["pytest_loaded"] is False
