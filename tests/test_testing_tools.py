"""The user-facing testing tools: assert_close and the pytest plugin."""

import json

import numpy as np
import pytest

from portable_ml.cli import main
from portable_ml.testing import assert_close, default_tolerance


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
    res = pytester.runpytest("--pml-backends=numpy,array_api_strict,torch", "-v")
    res.assert_outcomes(passed=3)
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
