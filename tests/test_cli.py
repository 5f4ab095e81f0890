"""`portable-ml` command line: conformance, info, demo, bench, --help, and why a backend is unusable."""

import io
import json
import pathlib
import re
import sys

import pytest

import portable_ml
from portable_ml import backend as pml_backend
from portable_ml import cli
from portable_ml.testing import conformance
from portable_ml.testing.registry import cases

benchmarks = cli._benchmarks()  # the suite of this checkout (benchmarks/, not in the wheel)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ------------------------------------------------------------ conformance
def test_conformance_unknown_family_lists_the_families(capsys):
    assert cli.main(["conformance", "--family", "nope", "--backends", "numpy"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    expected = sorted({c.name.split(".", 1)[0] for c in cases()})
    assert "losses" in expected and "metrics" in expected
    assert f"valid families: {', '.join(expected)}" in err
    assert "'nope'" in err


def test_conformance_missing_deviations_folder_is_an_error(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    assert cli.main(["conformance", "--family", "_numerics", "--backends", "numpy",
                     "--deviations", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err
    with pytest.raises(ValueError, match="does not exist"):
        conformance.load_deviations(missing)


def test_deviation_lists_ship_with_the_package():
    # one source of truth: the package's folder, read by the CLI by default and by this repository's pytest runs
    folder = conformance.DEVIATIONS_DIR
    assert folder.parent == pathlib.Path(conformance.__file__).resolve().parent
    assert sorted(p.stem for p in folder.glob("*.toml")) == sorted(portable_ml.BACKENDS)
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert (ROOT / ini["pml_deviations"]).resolve() == folder
    assert not list((ROOT / "backends").glob("*/deviations.toml"))  # no second copy
    pkg_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "deviations/*.toml" in pkg_data["portable_ml.testing"]
    assert set(conformance.load_deviations()) == set(portable_ml.BACKENDS)


def test_both_deviation_layouts_are_read(tmp_path):
    (tmp_path / "numpy.toml").write_text('[[deviation]]\ntest = "a*"\nreason = "flat layout"\n')
    (tmp_path / "jax").mkdir()
    (tmp_path / "jax" / "deviations.toml").write_text('[[deviation]]\ntest = "b*"\nreason = "folder layout"\n')
    got = conformance.load_deviations(tmp_path)
    assert got == {"numpy": [{"test": "a*", "reason": "flat layout"}],
                   "jax": [{"test": "b*", "reason": "folder layout"}]}
    (tmp_path / "dask.toml").write_text('[[deviation]]\ntest = "c*"\n')
    with pytest.raises(ValueError, match="needs 'reason' and 'case'.* or 'test'"):
        conformance.load_deviations(tmp_path)


def test_conformance_uses_the_shipped_deviations_by_default(tmp_path, monkeypatch):
    (tmp_path / "numpy.toml").write_text(
        '[[deviation]]\ncase = "distances.euclidean"\nreason = "made up for the test"\n'
        '[[deviation]]\ncase = "distances.manhattan"\ndtypes = ["float32"]\nreason = "float32 only"\n')
    monkeypatch.setattr(conformance, "DEVIATIONS_DIR", tmp_path)
    seen = {}
    real = conformance.check_conformance

    def spy(fn, *args, deviations=None, **kw):
        seen[fn.__name__] = deviations
        return real(fn, *args, deviations=deviations, **kw)

    monkeypatch.setattr(conformance, "check_conformance", spy)
    rows = cli.conformance_matrix(["numpy"], family="distances")
    assert seen["euclidean"] == {"numpy": "made up for the test"}
    assert seen["manhattan"] == {}
    assert {r["function"] for r in rows} >= {"distances.euclidean", "distances.manhattan"}


@pytest.mark.parametrize("pattern, name, expected", [
    ("*[numpy-float64-distances.euclidean]", "t.py::f[numpy-float64-distances.euclidean]", True),
    ("*[numpy-float64-distances.euclidean]", "t.py::f[numpy-float64-distances.manhattan]", False),
    ("tests/test_losses.py::test_value[*-jax-*]", "tests/test_losses.py::test_value[mse-jax-float32]", True),
    ("tests/test_losses.py::test_value[*-jax-*]", "tests/test_losses.py::test_valuej", False),  # a class in fnmatch
    ("test_?[jax]", "test_a[jax]", True),
    ("test_?[jax]", "test_[jax]", False),
])
def test_deviation_patterns_take_brackets_literally(pattern, name, expected):
    assert conformance.deviation_matches(pattern, name) is expected


def test_progress_in_a_log_counts_and_estimates():
    clock = iter(range(1000))
    stream = io.StringIO()
    progress = cli.Progress(stream=stream, clock=lambda: float(next(clock)))  # 1 s per call
    for done in range(1, 217):
        progress(done, 216, f"f{done}")
    lines = stream.getvalue().splitlines()
    assert 10 <= len(lines) <= 11  # every tenth of the way, not 216 dots
    assert lines[-1] == "[216/216] ETA 0 s  f216"
    half = [ln for ln in lines if ln.startswith("[108/216]")]
    assert half == ["[108/216] ETA 1 min 48 s  f108"]  # 108 s for 108 functions: 108 s to go


def test_progress_on_a_terminal_rewrites_one_line():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    clock = iter(range(100))
    stream = Tty()
    progress = cli.Progress(stream=stream, clock=lambda: float(next(clock)))
    for done in range(1, 4):
        progress(done, 3, "longer-name" if done == 1 else "x")
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "\r[2/3] ETA 1 s  x" in text
    assert "\r[3/3] ETA 0 s  x" + " " * (len("[2/3] ETA 1 s  x") - len("[3/3] ETA 0 s  x")) in text


def test_conformance_closes_with_a_summary(capsys):
    assert cli.main(["conformance", "--family", "_numerics", "--backends", "numpy,array_api_strict"]) == 0
    out, err = capsys.readouterr()
    n = len([c for c in cases() if c.family == "_numerics"])
    assert f"[{n}/{n}] ETA 0 s" in err and "." * 5 not in err
    last = out.strip().splitlines()[-1]
    assert last == (f"passed: {n} functions x 2 backends = {2 * n} checks: {2 * n} pass, "
                    "0 known deviation(s), 0 fail, 0 error")


def test_conformance_summary_counts_failures(monkeypatch, capsys):
    rows = [{"function": "a.f", "numpy": "pass (0)", "array_api_strict": "FAIL: values differ"},
            {"function": "a.g", "numpy": "deviation: known", "array_api_strict": "ERROR: TypeError: boom"}]
    monkeypatch.setattr(cli, "conformance_matrix", lambda *a, **k: rows)
    assert cli.main(["conformance", "--backends", "numpy,array_api_strict", "--json"]) == 1
    s = json.loads(capsys.readouterr().out)["summary"]
    assert (s["pass"], s["deviation"], s["fail"], s["error"]) == (1, 1, 1, 1)
    assert cli.main(["conformance", "--backends", "numpy,array_api_strict"]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-3:] == [
        "FAILED: 2 functions x 2 backends = 4 checks: 1 pass, 1 known deviation(s), 1 fail, 1 error",
        "  a.f on array_api_strict: FAIL: values differ",
        "  a.g on array_api_strict: ERROR: TypeError: boom"]


# ------------------------------------------------------------ info and backend reasons
def _pretend(monkeypatch, missing=(), installed=()):
    real = pml_backend._installed

    def fake(name):
        if name in missing:
            return False
        return True if name in installed else real(name)

    monkeypatch.setattr(pml_backend, "_installed", fake)  # the backend classes and the CLI both ask it


def test_info_gives_an_install_hint_per_missing_backend(monkeypatch, capsys):
    _pretend(monkeypatch, missing=("jax", "torch", "dask", "array_api_strict"))
    monkeypatch.setattr(pml_backend, "_cupy_ok", False)
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    hints = out[out.index("to install:"):]
    assert "jax               pip install 'portable-ml[jax]'" in hints
    assert "dask              pip install 'portable-ml[dask]'" in hints
    assert "array_api_strict  pip install 'portable-ml[strict]'" in hints
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in hints
    assert "numpy " not in hints  # installed: no hint
    assert cli.main(["info", "--json"]) == 0
    rows = {r["backend"]: r for r in json.loads(capsys.readouterr().out)["backends"]}
    assert rows["jax"]["hint"] == "pip install 'portable-ml[jax]'" and rows["jax"]["note"] == "not installed"
    assert rows["numpy"]["hint"] is None and rows["numpy"]["usable"]


def test_cupy_not_installed_vs_no_device(monkeypatch, capsys):
    _pretend(monkeypatch, missing=("cupy",))
    assert pml_backend.unusable_reason("cupy") == "not installed"
    with pytest.raises(ValueError, match=r"'cupy' is not installed \(pip install 'portable-ml\[cupy-cuda12\]'\)"):
        portable_ml.get_backend("cupy")

    _pretend(monkeypatch, installed=("cupy",))
    monkeypatch.setattr(pml_backend, "_cupy_ok", False)  # CuPy imports, no GPU works
    assert pml_backend.unusable_reason("cupy") == "no working CUDA device"
    with pytest.raises(ValueError, match="CuPy is installed but no working CUDA device"):
        portable_ml.get_backend("cupy")
    assert cli.main(["info", "--json"]) == 0
    row = {r["backend"]: r for r in json.loads(capsys.readouterr().out)["backends"]}["cupy"]
    assert row["installed"] and not row["usable"] and row["note"] == "no working CUDA device"
    assert "GPU" in row["hint"]


def test_unusable_reason_of_usable_and_unknown_backends():
    assert pml_backend.unusable_reason("numpy") is None
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'"):
        pml_backend.unusable_reason("tensorflow")


# ------------------------------------------------------------ --help
@pytest.mark.parametrize("command", [[], ["info"], ["demo"], ["conformance"], ["bench"]])
def test_help_has_no_rst_markup(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: portable-ml")
    assert "``" not in out and not re.search(r":(func|class|data|mod):`", out)


# ------------------------------------------------------------ demo
def test_demo_plot_without_matplotlib_stops_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # find_spec -> None, import fails
    png = tmp_path / "f.png"
    assert cli.main(["demo", "--quick", "--backend", "numpy", "--plot", str(png)]) == 2
    out, err = capsys.readouterr()
    assert "pip install 'portable-ml[plot]'" in err and "training on" not in err
    assert out == "" and not png.exists()


def test_demo_summarize_compares_within_a_dtype():
    from portable_ml.demo import MODELS, summarize

    def rows(backend, dtype, value):
        return [{"backend": backend, "dtype": dtype, "model": m, "metric": k, "value": value, "seconds": 0.1}
                for m, k in MODELS]

    one = summarize(rows("numpy", "float64", 0.5))
    assert one == {}  # one backend: nothing to compare
    mixed = summarize(rows("numpy", "float64", 0.5) + rows("dask", "float64", 0.5 + 2e-12)
                      + rows("torch", "float32", 0.5 + 3e-5))
    assert set(mixed) == {"float64"}  # torch alone in float32: its rounding is not a spread
    assert mixed["float64"]["PCA"] == pytest.approx(2e-12, rel=1e-3)
    both = summarize(rows("numpy", "float64", 0.5) + rows("torch", "float32", 0.25)
                     + rows("jax", "float32", 0.75))
    assert both == {"float32": {m: 0.5 for m, _ in MODELS}}


def test_demo_with_one_backend_has_no_spread(capsys):
    assert cli.main(["demo", "--quick", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "spread" not in out
    assert "numpy (float64)" in out.splitlines()[0]


# ------------------------------------------------------------ bench
@pytest.fixture(scope="module")
def small_report():
    return benchmarks.run(["numpy"], profile="tiny", only="models.kmeans,metrics.roc_auc,losses.mse.forward",
                          memory=False)


@pytest.mark.parametrize("width", [100, 72, 50])
def test_bench_table_fits_the_width(small_report, width):
    text = benchmarks.format_table(small_report, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    flat = " ".join(text.split())
    for r in small_report["results"]:
        assert r["id"] in text
        for word in r["note"].split():  # nothing lost, only wrapped
            assert word in flat


def test_bench_table_default_width_is_at_most_100(small_report, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    assert max(len(line) for line in benchmarks.format_table(small_report).splitlines()) <= 100
    monkeypatch.setenv("COLUMNS", "80")
    assert max(len(line) for line in benchmarks.format_table(small_report).splitlines()) <= 80


def test_bench_reports_missing_scikit_learn_as_skipped(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")] + ["sklearn"]:
        monkeypatch.setitem(sys.modules, name, None)
    report = benchmarks.run(["numpy"], profile="tiny", only="models.kmeans,metrics.roc_auc", memory=False)
    by_id = {r["id"]: r for r in report["results"]}
    assert set(by_id) == {"models.kmeans.vs_sklearn", "models.kmeans.vs_numpy",
                          "metrics.roc_auc.vs_sklearn", "metrics.roc_auc.vs_numpy"}
    for rid in ("models.kmeans.vs_sklearn", "metrics.roc_auc.vs_sklearn"):
        assert by_id[rid]["status"] == "skipped"
        assert "scikit-learn is not installed (pip install scikit-learn)" in by_id[rid]["note"]
    assert by_id["models.kmeans.vs_numpy"]["status"] == "ok"
    text = benchmarks.format_table(report, width=100)
    assert "skipped (reference skipped: scikit-learn is not installed (pip install scikit-learn)): 2:" in text
    assert "Skipped (not available in this installation)" in benchmarks.to_markdown(report)


def test_bench_reports_missing_optax_as_skipped(monkeypatch):
    pytest.importorskip("jax")
    monkeypatch.setitem(sys.modules, "optax", None)
    report = benchmarks.run(["jax"], profile="tiny", only="optimizers.adam.update", memory=False)
    (row,) = report["results"]
    assert row["status"] == "skipped" and "optax is not installed (pip install optax)" in row["note"]


def test_load_warning():
    assert benchmarks.runner.load_warning(1.5, 2) is None
    msg = benchmarks.runner.load_warning(3.25, 2)
    assert msg.startswith("load average 3.25 over the last minute exceeds the 2 CPU cores")


def test_bench_warns_when_the_load_is_high(monkeypatch, capsys):
    monkeypatch.setattr(benchmarks.runner.os, "getloadavg", lambda: (64.0, 1.0, 1.0))
    monkeypatch.setattr(benchmarks.runner.os, "cpu_count", lambda: 4)
    assert cli.main(["bench", "--backends", "numpy", "--profile", "tiny", "--only", "losses.mse.forward",
                     "--no-memory", "--no-reexec"]) == 0
    out, err = capsys.readouterr()
    assert "warning: load average 64.00 over the last minute exceeds the 4 CPU cores" in err
    assert "WARNING: load average 64.00" in out
