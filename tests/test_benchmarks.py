"""Smoke test of the benchmark suite: every case runs on NumPy at tiny sizes and the report is well formed.

No timing is asserted: timings on a shared CI machine say nothing.
"""

import json
import os

import numpy as np
import pytest

from portable_ml import cli

benchmarks = cli._benchmarks()  # the suite of this checkout (benchmarks/, not in the wheel)
_harness, runner, suites = benchmarks._harness, benchmarks.runner, benchmarks.suites

pytestmark = pytest.mark.slow  # the slow tier: run with -m slow (ci/test.sh does)

STATUSES = {"ok", "skipped", "error", "mismatch"}


@pytest.fixture(scope="module")
def report():
    return benchmarks.run(["numpy"], profile="tiny")


def test_every_case_is_reported_once(report):
    keys = [(r["id"], r["size"], r["backend"]) for r in report["results"]]
    assert len(keys) == len(set(keys))
    expected = {(i, c.size) for c in suites.cases("tiny") for i in (c.ids or [c.id])}
    assert {(i, s) for i, s, _ in keys} == expected
    groups = {r["group"] for r in report["results"]}
    assert groups <= set(benchmarks.GROUPS)
    for needed in ("elementwise", "optimizers", "metrics", "distances", "models", "training", "overhead"):
        assert any(c.group == needed for c in suites.cases("tiny"))


def test_results_are_consistent(report):
    for r in report["results"]:
        assert r["status"] in STATUSES, r
        # a case that ran must agree with its reference, and a broken case is a bug
        assert r["status"] in ("ok", "skipped"), f"{r['id']}: {r['status']}: {r['note']}"
        if r["status"] == "skipped":
            assert "not available" in r["note"] or "not installed" in r["note"]
            continue
        assert r["backend"] == "numpy" and r["dtype"] == "float64"
        assert r["reference"]
        assert r["ours_s"] > 0 and r["ref_s"] > 0 and r["repeats"] >= 1
        assert r["ratio"] == pytest.approx(r["ours_s"] / r["ref_s"])
        if r["target"] is not None:
            assert r["met"] is (r["ratio"] <= r["target"])
        else:
            assert r["met"] is None
        assert r["unit"] == ("us" if r["group"] == "overhead" else "s")


def test_targets_follow_the_issue(report):
    by_id = {r["id"]: r for r in report["results"]}
    targets = {
        "metrics.roc_auc.vs_sklearn": 1.0,
        "distances.pairwise_euclidean.vs_sklearn": 1.0,
        "losses.mse.forward": 1.1,
        "activations.relu.grad": 1.1,
        "activations.sigmoid.grad": None,  # handwritten 1/(1+exp(-x)): compared, without a target
        "activations.sigmoid.grad.vs_compiled": 1.1,
        "losses.binary_cross_entropy_with_logits.forward.vs_compiled": 1.1,
        "models.pca.vs_sklearn": 1.0,
        "models.kmeans.vs_sklearn": 1.5,
        "models.logistic_regression.vs_sklearn": 1.0,
        "overhead.activations.sigmoid": 2.0,
        "overhead.losses.mse": 2.0,
    }
    for case, target in targets.items():
        if by_id[case]["status"] == "ok":
            assert by_id[case]["target"] == target
    # every scikit-learn row that ran carries a target, hence a verdict
    for r in report["results"]:
        if "scikit-learn" in r["reference"] and r["status"] == "ok":
            assert r["target"] is not None and r["met"] is not None, r["id"]


def test_compiled_references_cover_the_issue_list(report):
    # sigmoid, tanh, softplus, swish, log_cosh, bce with logits: forward and gradient against SciPy on NumPy
    # (tanh: NumPy's ufunc, there is no compiled sech^2); the target is on these rows, not the handwritten ones
    rows = [r for r in report["results"] if r["id"].endswith(".vs_compiled")]
    names = {r["id"].split(".")[1] for r in rows}
    assert names == {"sigmoid", "tanh", "softplus", "swish", "log_cosh", "binary_cross_entropy_with_logits"}
    assert {r["id"].split(".")[2] for r in rows} == {"forward", "grad"}
    by_id = {r["id"]: r for r in report["results"]}
    for r in rows:
        assert r["status"] == "ok", r
        assert r["reference"].startswith("NumPy ufuncs" if ".tanh." in r["id"] else "SciPy")
        assert r["target"] == 1.1
        assert by_id[r["id"].removesuffix(".vs_compiled")]["target"] is None


def test_pca_cases_cover_tall_and_wide_shapes():
    shapes = [c.size for c in suites.cases("full") if c.id == "models.pca"]
    assert shapes == ["100000x100 k=10", "2000x5000 k=10", "10000x2000 k=5"]


def test_big_cases_report_peak_memory_on_numpy(report):
    measured = [r for r in report["results"] if r["status"] == "ok" and r["ours_peak"] is not None]
    for r in measured:
        assert r["ours_peak"] >= 0 and r["ref_peak"] >= 0
    # the softmax cross-entropy gradient allocates at least its (n, k) result
    ce = [r for r in measured if r["id"] == "losses.softmax_cross_entropy.grad"]
    for r in ce:
        assert r["ours_peak"] >= 64 * 10 * 8 and r["ref_peak"] >= 64 * 10 * 8


def test_meta_records_the_environment(report):
    m = report["meta"]
    assert m["profile"] == "tiny" and m["backends"] == ["numpy"] and m["dtype"] == "float64"
    assert set(benchmarks.MALLOC_ENV) <= set(m["env"])
    assert isinstance(m["malloc_env_set"], bool) and m["versions"]["numpy"] == np.__version__
    assert m["wall_s"] >= 0


def test_outputs(report, tmp_path):
    text = benchmarks.format_table(report)
    assert "targets met:" in text and "== Activations and losses" in text
    md = benchmarks.to_markdown(report)
    assert md.startswith("# Benchmark results")
    assert "## Ratios at a glance" in md and "**Targets met:" in md
    assert "| case | numpy |" in md
    assert json.loads(benchmarks.to_json(report)) == json.loads(json.dumps(report))


def test_cli_bench_writes_the_reports(tmp_path, capsys):
    md = tmp_path / "r.md"
    rc = cli.main(["bench", "--backends", "numpy", "--profile", "tiny", "--only", "losses.mse.*,overhead.losses.mse",
                   "--json", "--markdown", str(md), "--save", str(tmp_path / "out"), "--no-memory"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    ids = {r["id"] for r in out["results"]}
    assert ids == {"losses.mse.forward", "losses.mse.grad", "overhead.losses.mse", "overhead.losses.mse_grad"} or \
        all(r["status"] == "skipped" for r in out["results"])
    assert md.read_text().startswith("# Benchmark results")
    assert (tmp_path / "out" / "results.md").is_file()
    assert json.loads((tmp_path / "out" / "results.json").read_text())["meta"]["profile"] == "tiny"


def test_only_patterns():
    case = suites.Case("losses.huber.grad", "elementwise", "n=1e6", build=None)
    assert runner._selected(case, None)
    assert runner._selected(case, "huber")
    assert runner._selected(case, "losses.*")
    assert runner._selected(case, "mse,huber.grad")
    assert runner._selected(case, "*[n=1e6]")
    assert runner._selected(case, "elementwise")
    assert not runner._selected(case, "activations.*")
    assert not runner._selected(case, "1e7")


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="nope"):
        benchmarks.run(["nope"], profile="tiny")
    with pytest.raises(ValueError, match="profile"):
        benchmarks.run(["numpy"], profile="huge")


def test_malloc_env_reexec(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execve", lambda *a: calls.append(a))
    for k, v in benchmarks.MALLOC_ENV.items():
        monkeypatch.setenv(k, v)
    benchmarks.ensure_malloc_env(["-m", "benchmarks"])
    assert calls == []  # already set: nothing to do
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.delenv("PORTABLE_ML_BENCH_REEXEC", raising=False)
    benchmarks.ensure_malloc_env(["-m", "benchmarks", "--quick"])
    (exe, argv, env), = calls
    assert argv[1:] == ["-m", "benchmarks", "--quick"]
    assert all(env[k] == v for k, v in benchmarks.MALLOC_ENV.items())
    calls.clear()
    monkeypatch.setenv("PORTABLE_ML_BENCH_REEXEC", "1")  # exec'd once already: never loop
    benchmarks.ensure_malloc_env(["-m", "benchmarks"])
    assert calls == []


def test_harness_medians_and_memory():
    timer = _harness.Timer(repeats=3, min_repeats=3, budget_s=0.01, batch_s=0.001)
    t_a, t_b, reps, verdict = _harness.measure_pair(
        lambda: np.ones(10), lambda: np.zeros(10), sync_ours=lambda x: x, sync_ref=lambda x: x, timer=timer,
        check=lambda a, b: float(a.sum() - b.sum()))
    assert reps == 3 and t_a > 0 and t_b > 0 and verdict == 10.0
    *_, verdict = _harness.measure_pair(lambda: 1, lambda: 2, sync_ours=lambda x: x, sync_ref=lambda x: x,
                                        timer=timer, check=lambda a, b: 1 / 0)
    assert isinstance(verdict, ZeroDivisionError)
    peak = _harness.peak_memory(lambda: np.ones(10**6) * 2, lambda x: x, "numpy")
    assert 8 * 10**6 <= peak <= 3 * 8 * 10**6
    assert _harness.peak_memory(lambda: 1, lambda x: x, "something-else") is None


def test_cli_bench_without_a_checkout_says_where_the_suite_is(monkeypatch, capsys):
    # installed from a wheel, portable_ml has no benchmarks/ beside it: a clear message, exit status 2
    monkeypatch.setattr(cli, "_benchmarks", lambda: None)
    assert cli.main(["bench", "--quick", "--backends", "numpy"]) == 2
    err = capsys.readouterr().err
    assert "source tree (benchmarks/)" in err and "python -m benchmarks" in err
