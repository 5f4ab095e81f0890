"""`portable-ml demo`: the README's main command trains the models and agrees across backends."""

import json
import struct

import pytest

from portable_ml.cli import main


def test_demo_metrics_agree_across_backends(capsys):
    assert main(["demo", "--quick", "--json", "--backend", "numpy,array_api_strict,torch"]) == 0
    data = json.loads(capsys.readouterr().out)
    models = {r["model"] for r in data["rows"]}
    assert models == {"LogisticRegression", "KMeans", "PCA", "MLPClassifier"}
    acc = {r["backend"]: r["value"] for r in data["rows"] if r["model"] == "MLPClassifier"}
    assert min(acc.values()) >= 0.9
    assert max(data["max_spread"].values()) < 1e-3  # float32 torch vs float64 numpy


def test_demo_table_and_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "demo.png"
    assert main(["demo", "--quick", "--backend", "numpy", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "LogisticRegression" in out and "max spread" in out and "figure written" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 360)


def test_demo_unknown_backend_lists_available(capsys):
    assert main(["demo", "--backend", "tensorflow"]) == 2
    assert "available here" in capsys.readouterr().err
