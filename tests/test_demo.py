"""`portable-ml demo`: the README's main command trains the models and agrees across backends."""

import contextlib
import io
import json
import struct

import pytest

from portable_ml.cli import demo_table, main


@pytest.fixture(scope="module")
def three_backends():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["demo", "--quick", "--json", "--backend", "numpy,array_api_strict,torch"]) == 0
    return json.loads(out.getvalue())


def test_demo_metrics_agree_across_backends(three_backends):
    data = three_backends
    models = {r["model"] for r in data["rows"]}
    assert models == {"LogisticRegression", "KMeans", "PCA", "MLPClassifier"}
    assert {r["backend"]: r["dtype"] for r in data["rows"]} == {
        "numpy": "float64", "array_api_strict": "float64", "torch": "float32"}
    acc = {r["backend"]: r["value"] for r in data["rows"] if r["model"] == "MLPClassifier"}
    assert min(acc.values()) >= 0.9
    # spread within a dtype only: torch alone computes in float32, so only float64 has one
    assert set(data["max_spread"]) == {"float64"}
    for model in models:
        vals = [r["value"] for r in data["rows"] if r["model"] == model and r["dtype"] == "float64"]
        assert data["max_spread"]["float64"][model] == max(vals) - min(vals)
        assert data["max_spread"]["float64"][model] < 1e-9
        # float32 torch against float64 NumPy: rounding-level differences, not disagreement
        by = {r["backend"]: r["value"] for r in data["rows"] if r["model"] == model}
        assert abs(by["torch"] - by["numpy"]) < 1e-3


def test_demo_table_shows_dtypes_and_spread_per_dtype(three_backends):
    text = demo_table(three_backends["rows"], ["numpy", "array_api_strict", "torch"])
    head = text.splitlines()[0].split()
    assert head == ["model", "metric", "numpy", "(float64)", "array_api_strict", "(float64)", "torch", "(float32)",
                    "spread", "float64"]  # one spread column: float64, the only dtype two backends share
    assert text.splitlines()[-1].endswith("largest difference of the metric across the backends computing in "
                                          "that dtype")


def test_demo_table_and_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "demo.png"
    assert main(["demo", "--quick", "--backend", "numpy", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "LogisticRegression" in out and "figure written" in out
    assert "spread" not in out  # one backend: nothing to compare
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 360)


def test_demo_unknown_backend_lists_available(capsys):
    assert main(["demo", "--backend", "tensorflow"]) == 2
    assert "available here" in capsys.readouterr().err
