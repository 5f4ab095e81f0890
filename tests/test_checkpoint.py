"""Checkpoints: any pytree, any backend in, any backend out; damaged files refused."""

import zipfile
from typing import NamedTuple

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import checkpoint
from portable_ml.backend import backend_of
from portable_ml.checkpoint import CheckpointError


class AdamState(NamedTuple):
    count: object
    mu: object


def make_tree(backend):
    rng = np.random.default_rng(0)
    a = backend.asarray
    return {
        "params": [{"W": a(rng.normal(size=(3, 2)), dtype="float32"), "b": a(rng.normal(size=2))}],
        "state": AdamState(a(np.array(7)), {"m": a(rng.normal(size=(4,)))}),
        "mask": a(np.array([True, False])),
        "meta": {"epoch": 3, "lr": 0.01, "name": "run", "none": None, "shape": (1, 2)},
    }


def test_round_trip_onto_every_backend(backend, tmp_path):
    src = make_tree(pml.get_backend("numpy"))
    path = checkpoint.save(tmp_path / "ckpt.pmlz", src)
    out = checkpoint.load(path, backend=backend.name)
    assert backend_of(out["params"][0]["W"]) == backend.name
    assert str(out["params"][0]["W"].dtype).endswith("float32")
    np.testing.assert_array_equal(backend.to_numpy(out["params"][0]["W"]), src["params"][0]["W"])
    np.testing.assert_array_equal(backend.to_numpy(out["mask"]), [True, False])
    assert out["state"]._fields == ("count", "mu") and int(backend.to_numpy(out["state"].count)) == 7
    assert out["meta"] == {"epoch": 3, "lr": 0.01, "name": "run", "none": None, "shape": (1, 2)}


def test_saved_from_every_backend(backend, tmp_path):
    tree = make_tree(backend)
    path = checkpoint.save(tmp_path / "c.pmlz", tree)
    out = checkpoint.load(path, backend="numpy")
    np.testing.assert_array_equal(out["params"][0]["b"], backend.to_numpy(tree["params"][0]["b"]))


def test_load_onto_a_device(tmp_path):
    path = checkpoint.save(tmp_path / "c.pmlz", {"w": np.ones(3)})
    out = checkpoint.load(path, backend="array_api_strict", device="device1")
    assert "device1" in repr(out["w"].device)


def _rewrite_member(path, name, mutate):
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[name] = mutate(members[name])
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)


def test_tampered_array_is_refused(tmp_path):
    path = checkpoint.save(tmp_path / "c.pmlz", {"w": np.arange(10.0)})
    _rewrite_member(path, "arrays/0.npy", lambda b: b[:-8] + np.float64(99).tobytes())
    with pytest.raises(CheckpointError, match="SHA-256"):
        checkpoint.load(path)


def test_truncated_file_is_refused(tmp_path):
    path = checkpoint.save(tmp_path / "c.pmlz", {"w": np.arange(1000.0)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|damaged"):
        checkpoint.load(path)


def test_foreign_files_are_refused(tmp_path):
    p = tmp_path / "x.pmlz"
    p.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        checkpoint.load(p)
    np.savez(tmp_path / "y.npz", a=np.ones(2))
    with pytest.raises(CheckpointError, match="manifest"):
        checkpoint.load(tmp_path / "y.npz")


def test_missing_member_is_refused(tmp_path):
    path = checkpoint.save(tmp_path / "c.pmlz", {"w": np.ones(2), "v": np.ones(3)})
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "arrays/1.npy"}
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    with pytest.raises(CheckpointError, match="missing"):
        checkpoint.load(path)


def test_unsupported_leaves_are_type_errors(tmp_path):
    with pytest.raises(TypeError, match="leaf of type"):
        checkpoint.save(tmp_path / "c.pmlz", {"f": lambda: 0})
    with pytest.raises(TypeError, match="dtype"):
        checkpoint.save(tmp_path / "c.pmlz", {"o": np.array(["a"], dtype=object)})
