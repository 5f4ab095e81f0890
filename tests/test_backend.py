"""Backend selection, devices, transfers and namespaces."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import portable_ml as pml
from portable_ml.backend import backend_of, to_numpy

from .helpers import other_device

USABLE = pml.available_backends()


def run_py(code, **env):
    """Run ``code`` in a fresh interpreter; return its stdout."""
    full_env = {**os.environ, **env}
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env=full_env, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


# ------------------------------------------------------------------ selection
def test_available_backends_in_preference_order():
    assert USABLE, "at least numpy must be usable"
    order = [n for n in pml.BACKENDS if n in USABLE]
    assert USABLE == order
    assert "numpy" in USABLE


def test_cupy_listed_only_when_a_device_works():
    assert ("cupy" in USABLE) == pml.backend.cupy_works()


def test_default_is_numpy(monkeypatch):
    monkeypatch.delenv("PORTABLE_ML_BACKEND", raising=False)
    assert pml.get_backend().name == "numpy"


def test_env_var_selects_backend(monkeypatch):
    monkeypatch.setenv("PORTABLE_ML_BACKEND", "array_api_strict")
    assert pml.get_backend().name == "array_api_strict"


def test_env_var_with_device(monkeypatch):
    monkeypatch.setenv("PORTABLE_ML_BACKEND", "array_api_strict@device1")
    be = pml.get_backend()
    assert be.name == "array_api_strict" and "device1" in repr(be.device)


def test_use_backend_is_context_local_and_nests(monkeypatch):
    monkeypatch.setenv("PORTABLE_ML_BACKEND", "numpy")
    with pml.use_backend("array_api_strict"):
        assert pml.get_backend().name == "array_api_strict"
        with pml.use_backend("numpy"):
            assert pml.get_backend().name == "numpy"
        assert pml.get_backend().name == "array_api_strict"
    assert pml.get_backend().name == "numpy"


def test_use_backend_does_not_leak_across_threads(monkeypatch):
    import threading

    monkeypatch.delenv("PORTABLE_ML_BACKEND", raising=False)
    seen = []
    with pml.use_backend("array_api_strict"):
        t = threading.Thread(target=lambda: seen.append(pml.get_backend().name))
        t.start()
        t.join()
    assert seen == ["numpy"]


def test_auto_prefers_gpu():
    be = pml.get_backend("auto")
    if pml.backend.cupy_works():
        assert be.name == "cupy"
    else:
        assert be.name in ("jax", "numpy")
        if be.name == "jax":
            assert be.device.platform == "gpu"


def test_unknown_backend_message_lists_available():
    with pytest.raises(ValueError, match="unknown backend 'tensorflow'.*available here: .*numpy"):
        pml.get_backend("tensorflow")


@pytest.mark.skipif(pml.backend.cupy_works(), reason="a GPU works here")
def test_cupy_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="cupy"):
        pml.get_backend("cupy")


@pytest.mark.parametrize("bad", ["gpu", "cuda:1", "tpu", 3])
def test_numpy_has_only_cpu(bad):
    with pytest.raises(ValueError, match="device"):
        pml.get_backend("numpy", bad)


def test_backend_attributes(backend):
    xp = backend.xp
    assert backend.name in pml.BACKENDS
    assert hasattr(xp, "asarray") and hasattr(xp, "linspace")
    x = backend.asarray([1.0, 2.0])
    assert backend_of(x) == backend.name
    assert x.dtype == backend.float_dtype or backend.name == "torch"
    np.testing.assert_array_equal(backend.to_numpy(x), [1.0, 2.0])
    assert backend.jit(lambda a: a + 1) is not None
    assert backend.synchronize(x) is x
    assert backend.rng(0).backend is backend


def test_asarray_dtype_by_name(backend):
    x = backend.asarray(np.arange(3), dtype="float32")
    assert x.dtype == backend.xp.float32


# ------------------------------------------------------------------ devices
@pytest.mark.backends("jax")
def test_jax_device_placement_on_simulated_cpus(backend):
    import jax

    if len(jax.devices()) < 4:
        pytest.skip("needs XLA_FLAGS=--xla_force_host_platform_device_count=4 before JAX import")
    for i in range(4):
        be = pml.get_backend("jax", device=f"cpu:{i}")
        x = be.asarray(np.ones(3))
        assert x.devices() == {jax.devices()[i]}
        assert be.rng(0).normal(3).devices() == {jax.devices()[i]}
    be = pml.get_backend("jax", device=2)
    assert be.device == jax.devices()[2]
    assert pml.get_backend("jax", device=jax.devices()[3]).device == jax.devices()[3]
    with pytest.raises(ValueError, match="4 device"):
        pml.get_backend("jax", device="cpu:7")
    with pytest.raises(ValueError, match="gpu"):
        pml.get_backend("jax", device="gpu")


def test_jax_devices_in_a_fresh_process():
    if "jax" not in USABLE:
        pytest.skip("jax not installed")
    out = run_py(
        """
        import numpy as np, portable_ml as pml
        be = pml.get_backend("jax", device="cpu:3")
        x = be.asarray(np.arange(4.0))
        print(len(be.devices()), list(x.devices())[0].id)
        """,
        XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
    )
    assert out == "4 3"


@pytest.mark.backends("array_api_strict")
def test_strict_device_placement(backend):
    be = pml.get_backend("array_api_strict", "device1")
    x = be.asarray([1.0, 2.0])
    assert x.device == be.device
    assert be.rng(1).uniform(4).device == be.device
    assert pml.get_backend("array_api_strict", 1).device == be.device


@pytest.mark.backends("torch")
def test_torch_devices(backend):
    import torch

    assert pml.get_backend("torch", "cpu").device == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            pml.get_backend("torch", "cuda:0")


# ------------------------------------------------------------------ transfers
PAIRS = [(a, b) for a in pml.BACKENDS for b in pml.BACKENDS]


@pytest.mark.parametrize(("src", "dst"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_to_backend_round_trip(src, dst):
    if src not in USABLE or dst not in USABLE:
        pytest.skip(f"{src} or {dst} unusable here")
    host = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    x = pml.get_backend(src).asarray(host)
    y = pml.to_backend(x, dst)
    assert backend_of(y) == dst
    assert str(y.dtype).endswith("float32")
    z = pml.to_backend(y, src)
    np.testing.assert_array_equal(to_numpy(z), host)


def test_to_backend_on_pytrees_and_devices():
    tree = {"w": np.ones((2, 2)), "layers": [np.zeros(3), (np.arange(2.0), None)], "lr": 0.1}
    out = pml.to_backend(tree, "array_api_strict", device="device1")
    assert out["lr"] == 0.1 and out["layers"][1][1] is None
    assert backend_of(out["layers"][1][0]) == "array_api_strict"
    assert "device1" in repr(out["w"].device)
    back = pml.to_backend(out, "numpy")
    np.testing.assert_array_equal(back["layers"][1][0], [0.0, 1.0])


# ------------------------------------------------------------------ namespace
def test_namespace_of_one_backend(backend):
    a, b = backend.asarray([1.0]), backend.asarray([2.0])
    assert pml.namespace(a, b) is not None


def test_namespace_mixed_backends_is_type_error():
    import array_api_strict

    with pytest.raises(TypeError, match="different backends.*numpy.*array_api_strict|different backends"):
        pml.namespace(np.ones(2), array_api_strict.ones(2))


def test_namespace_mixed_devices_is_value_error():
    import array_api_strict as xs

    a = xs.ones(2)
    b = xs.ones(2, device=xs.Device("device1"))
    with pytest.raises(ValueError, match="different devices"):
        pml.namespace(a, b)


def test_namespace_mixed_jax_devices():
    if "jax" not in USABLE:
        pytest.skip("jax not installed")
    import jax

    if len(jax.devices()) < 2:
        pytest.skip("one JAX device")
    a = pml.get_backend("jax", "cpu:0").asarray([1.0])
    b = pml.get_backend("jax", "cpu:1").asarray([1.0])
    with pytest.raises(ValueError, match="different devices"):
        pml.namespace(a, b)


def test_namespace_needs_an_array():
    with pytest.raises(TypeError, match="at least one array"):
        pml.namespace(1.0, None)


def test_other_device_helper_really_moves(backend):
    be = other_device(backend)
    if be is None:
        pytest.skip("one device")
    assert be.device != backend.device


# ------------------------------------------------------------------ laziness
def test_import_loads_no_optional_backend():
    out = run_py(
        """
        import sys, portable_ml as pml
        import portable_ml.backend, portable_ml.random, portable_ml.tree, portable_ml.testing
        pml.get_backend("numpy").rng(0).normal(3)
        before = sorted(m for m in ("jax", "torch", "cupy", "dask", "array_api_strict") if m in sys.modules)
        pml.available_backends()
        after = sorted(m for m in ("jax", "torch", "cupy", "dask", "array_api_strict") if m in sys.modules)
        print(before, after)
        """
    )
    before, after = out.split("] [")
    assert before == "["
    # Listing the usable backends asks the CUDA driver through CuPy where CuPy is installed:
    # the one import that tells whether a GPU works. Nothing else is imported.
    assert after in ("]", "'cupy']")


def test_formula_modules_import_no_optional_backend():
    out = run_py(
        """
        import sys, pkgutil, importlib, portable_ml
        skip = {"cli", "__main__", "testing", "backend", "random"}
        for m in pkgutil.iter_modules(portable_ml.__path__):
            if m.name not in skip:
                importlib.import_module("portable_ml." + m.name)
        print(sorted(m for m in ("jax", "torch", "cupy", "dask") if m in sys.modules))
        """
    )
    assert out == "[]"


# ------------------------------------------------------------------ backend objects and their registry
def test_one_registered_class_per_backend_name():
    from portable_ml.testing import pytest_plugin

    assert pytest_plugin.BACKENDS is pml.BACKENDS  # the plugin reads the same table
    assert pml.BACKENDS == ("cupy", "jax", "torch", "numpy", "array_api_strict", "dask")
    classes = [pml.backend.backend_class(n) for n in pml.BACKENDS]
    assert len(set(classes)) == len(classes)
    for name, cls in zip(pml.BACKENDS, classes):
        assert issubclass(cls, pml.Backend) and cls.name == name and cls.extra and cls.install_hint
        assert (name in USABLE) == (cls.unusable() is None)
    for name in USABLE:
        assert type(pml.get_backend(name)) is pml.backend.backend_class(name)
    with pytest.raises(ValueError, match=r"^unknown backend 'tensorflow'; known backends: cupy, jax, torch, numpy"):
        pml.backend.backend_class("tensorflow")
    with pytest.raises(TypeError, match=r"use get_backend\(name, device\)"):
        pml.Backend()


@pytest.mark.parametrize(("name", "device", "message"), [
    ("numpy", "gpu", "backend 'numpy' has only the 'cpu' device; got device='gpu'"),
    ("numpy", 3, "backend 'numpy' has only the 'cpu' device; got device=3"),
    ("numpy", "tpu", "unknown device 'tpu' for backend 'numpy'; available: cpu"),
    ("numpy", "cpu:x", "device index must be an integer; got device='cpu:x'"),
    ("dask", "cuda:0", "backend 'dask' has only the 'cpu' device; got device='cuda:0'"),
    ("array_api_strict", "device9", ("unknown device 'device9' for backend 'array_api_strict'; available: "
                                     "array_api_strict.Device('CPU_DEVICE'), array_api_strict.Device('device1')")),
    ("array_api_strict", 9, "backend 'array_api_strict' has "),
    ("jax", "tpu:0", "unknown device 'tpu:0' for backend 'jax'; available: cpu:0"),
    ("jax", 99, "backend 'jax' has "),
    ("torch", "xpu", "unknown device 'xpu' for backend 'torch'; available: cpu"),
])
def test_device_errors_name_the_backend_and_what_came(name, device, message):
    if name not in USABLE:
        pytest.skip(f"{name} not usable here")
    with pytest.raises(ValueError) as err:
        pml.get_backend(name, device)
    assert str(err.value).startswith(message), str(err.value)
    assert repr(device) in str(err.value)


def test_native_devices_are_checked_by_their_backend():
    with pytest.raises(ValueError, match=r"^device <object object at 0x\w+> does not belong to backend 'numpy'; "
                                         r"available: cpu$"):
        pml.get_backend("numpy", object())
    if "torch" in USABLE and "jax" in USABLE:
        import jax
        import torch

        assert pml.get_backend("torch", torch.device("cpu")).device == torch.device("cpu")
        with pytest.raises(ValueError, match="does not belong to backend 'torch'"):
            pml.get_backend("torch", jax.devices()[0])


def test_a_new_backend_is_one_class(monkeypatch):
    """Defining a subclass registers it: selection, placement, ownership and the host copy follow."""
    monkeypatch.setattr(pml.backend, "_CLASSES", dict(pml.backend._CLASSES))
    monkeypatch.setattr(pml.backend, "_cache", {})

    class Boxed:  # a stand-in array type of a library this test invents
        def __init__(self, data):
            self.data = data

    class BoxedBackend(pml.Backend):
        name = "boxed"
        module = "numpy"
        namespace_module = "array_api_compat.numpy"
        extra = "boxed"

        @classmethod
        def owns(cls, x):
            return isinstance(x, Boxed)

        def _put(self, obj, dtype):
            return Boxed(np.asarray(obj, dtype=dtype))

        @staticmethod
        def to_host(x):
            return np.asarray(x.data)

    assert pml.backend.backend_class("boxed") is BoxedBackend
    assert "boxed" in pml.available_backends()
    be = pml.get_backend("boxed")
    assert type(be) is BoxedBackend and be.device == "cpu" and be.devices() == ["cpu"]
    box = be.asarray([1.0, 2.0], dtype="float32")
    assert isinstance(box, Boxed) and box.data.dtype == np.float32
    assert backend_of(box) == "boxed"
    np.testing.assert_array_equal(to_numpy({"w": [box]})["w"][0], [1.0, 2.0])
    back = pml.to_backend(box, "numpy")  # from the new backend through the host
    assert backend_of(back) == "numpy" and back.dtype == np.float32
    assert not be.native_random and not be.rng(0, native=True).native  # draws made on the host
    monkeypatch.setattr(pml.backend, "_installed", lambda name: name != "boxed")
    assert "boxed" not in pml.available_backends()
    with pytest.raises(ValueError, match=r"backend 'boxed' is not installed \(pip install 'portable-ml\[boxed\]'\)"):
        pml.get_backend("boxed", "cpu")


@pytest.mark.parametrize("name", ["numpy", "array_api_strict", "dask"])
def test_host_backends_draw_on_the_host_even_when_native_is_asked(name):
    if name not in USABLE:
        pytest.skip(f"{name} not usable here")
    be = pml.get_backend(name)
    g = be.rng(5, native=True)
    assert not g.native
    np.testing.assert_array_equal(be.to_numpy(g.normal(4)), np.random.default_rng(np.random.SeedSequence(5))
                                  .normal(0.0, 1.0, size=4))


def test_backend_and_plugin_import_no_array_library_not_even_numpy():
    out = run_py(
        """
        import sys
        import portable_ml.backend as b, portable_ml.testing.pytest_plugin
        b.unusable_reason("jax"), [b.backend_class(n).install_hint for n in b.BACKENDS]  # (CuPy's probe imports it)
        print(sorted(m for m in ("numpy", "jax", "torch", "cupy", "dask", "array_api_strict", "array_api_compat")
                     if m in sys.modules))
        """
    )
    assert out == "[]"
