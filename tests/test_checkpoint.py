"""Checkpoints: any pytree, any backend in, any backend out; damaged files refused."""

import zipfile
from typing import NamedTuple

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import checkpoint, losses, optimizers
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


def _train(params, state, opt, X, y, steps):
    """Plain logistic-regression steps with our loss gradient and optimizer."""
    from portable_ml.activations import sigmoid

    xp = pml.namespace(X)
    for _ in range(steps):
        z = X @ params["w"] + params["b"]
        dz = losses.binary_cross_entropy_with_logits_grad(y, z)
        grads = {"w": X.mT @ dz, "b": xp.sum(dz)}
        updates, state = opt.update(grads, state, params)
        params = optimizers.apply_updates(params, updates)
    return params, state, sigmoid(X @ params["w"] + params["b"])


@pytest.mark.parametrize(("first", "second"), [("numpy", "torch"), ("torch", "jax"), ("jax", "array_api_strict"),
                                                ("array_api_strict", "numpy")])
def test_train_on_one_backend_resume_on_another(first, second, tmp_path):
    usable = pml.available_backends()
    if first not in usable or second not in usable:
        pytest.skip("backend not installed")
    rng = np.random.default_rng(0)
    Xh = rng.normal(size=(64, 3))
    yh = (Xh @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.float64)
    opt = optimizers.adam(0.05)

    def start(name):
        be = pml.get_backend(name)
        params = {"w": be.asarray(np.zeros(3), dtype="float64"), "b": be.asarray(np.array(0.0), dtype="float64")}
        return be, params, opt.init(params)

    # reference: 20 uninterrupted steps on NumPy
    be, p, s = start("numpy")
    ref, _, _ = _train(p, s, opt, be.asarray(Xh), be.asarray(yh), 20)

    be1, p, s = start(first)
    p, s, _ = _train(p, s, opt, be1.asarray(Xh, dtype="float64"), be1.asarray(yh, dtype="float64"), 10)
    checkpoint.save(tmp_path / "run.pmlz", {"params": p, "opt_state": s, "step": 10})

    restored = checkpoint.load(tmp_path / "run.pmlz", backend=second)
    be2 = pml.get_backend(second)
    assert restored["step"] == 10 and backend_of(restored["params"]["w"]) == second
    p2, _, _ = _train(restored["params"], restored["opt_state"], opt, be2.asarray(Xh, dtype="float64"),
                      be2.asarray(yh, dtype="float64"), 10)
    np.testing.assert_allclose(be2.to_numpy(p2["w"]), ref["w"], rtol=1e-10)
