"""portable_ml inside CuPy / CUDA pipelines (these tests need a CUDA GPU; they skip elsewhere).

* ``to_backend`` between CuPy, JAX on CUDA and PyTorch on CUDA goes through
  DLPack and does not copy: the result points at the same device memory
  (CuPy ``x.data.ptr``, torch ``x.data_ptr()``, JAX
  ``x.unsafe_buffer_pointer()``).
* With two or more GPUs, every registered function called on CuPy arrays
  living on GPU 1, inside ``with cupy.cuda.Device(1):`` (CuPy's own rule for
  work on a non-default GPU), returns its results on GPU 1; so do fitted
  estimators' attributes.

``ci/gpu.sh`` runs the whole suite, these tests included, on a GPU machine.
"""

from __future__ import annotations

import numpy as np
import pytest

import portable_ml as pml
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close
from portable_ml.testing.registry import cases, inputs
from portable_ml.tree import tree_leaves

from .helpers import place_all

pytestmark = pytest.mark.backends("cupy")  # the plugin skips these where no CUDA device works

GPU_LIBS = ("cupy", "torch", "jax")


def _gpu_backend(name):
    """``name`` on CUDA device 0, or skip when that library has no CUDA here."""
    try:
        return pml.get_backend(name, device="cuda:0")
    except (ValueError, RuntimeError) as exc:
        pytest.skip(f"{name} has no CUDA device here: {exc}")


def _pointer(x):
    name = backend_of(x)
    if name == "cupy":
        return x.data.ptr
    if name == "torch":
        return x.data_ptr()
    if name == "jax":
        return x.unsafe_buffer_pointer()
    raise TypeError(name)


@pytest.mark.parametrize("dst", GPU_LIBS)
@pytest.mark.parametrize("src", GPU_LIBS)
def test_to_backend_between_gpu_libraries_is_zero_copy(backend, src, dst):
    if src == dst:
        pytest.skip("same library")
    source = _gpu_backend(src)
    target = _gpu_backend(dst)
    host = np.random.default_rng(0).normal(size=(64, 33)).astype(np.float32)
    x = source.asarray(host)
    y = pml.to_backend(x, dst, device="cuda:0")
    assert backend_of(y) == dst
    assert _pointer(y) == _pointer(x), f"{src} -> {dst} copied the data (DLPack should share it)"
    np.testing.assert_array_equal(target.to_numpy(y), host)
    # pytrees move leaf by leaf, each without a copy
    tree = pml.to_backend({"a": x, "b": [x]}, dst, device="cuda:0")
    assert {_pointer(leaf) for leaf in tree_leaves(tree)} == {_pointer(x)}


def test_to_backend_onto_another_gpu_copies_there(backend):
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs 2 GPUs")
    x = pml.get_backend("cupy", "cuda:0").asarray(np.arange(10.0))
    y = pml.to_backend(x, "cupy", device="cuda:1")
    assert y.device.id == 1 and x.device.id == 0
    np.testing.assert_array_equal(y.get(), np.arange(10.0))


@pytest.fixture
def gpu1(backend):
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs 2 GPUs")
    return pml.get_backend("cupy", device="cuda:1")


CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_results_stay_on_gpu_1(case, gpu1):
    import cupy

    with cupy.cuda.Device(1):
        args = place_all(gpu1, *inputs(case))
        out = case.fn(*args, **case.kwargs)
        ref = case.fn(*inputs(case), **case.kwargs)
    for leaf in tree_leaves(out):
        if backend_of(leaf) == "cupy":
            assert leaf.device.id == 1, f"{case.name}: result on GPU {leaf.device.id}, inputs on GPU 1"
    assert_close(out, ref, rtol=case.rtol.get("float64"), atol=case.atol.get("float64"), err_msg=case.name)


@pytest.mark.parametrize("make", [
    lambda m: m.LogisticRegression(alpha=0.01),
    lambda m: m.KMeans(n_clusters=3, seed=0),
    lambda m: m.PCA(n_components=2),
    lambda m: m.Ridge(alpha=1.0),
], ids=["LogisticRegression", "KMeans", "PCA", "Ridge"])
def test_fitted_attributes_stay_on_gpu_1(make, gpu1):
    import cupy

    X, y = pml.datasets.make_classification(300, 5, seed=0)
    with cupy.cuda.Device(1):
        Xg, yg = gpu1.asarray(X), gpu1.asarray(y)
        est = make(pml.models)
        est.fit(Xg, yg)
    fitted = {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}
    arrays = [v for v in tree_leaves(list(fitted.values())) if backend_of(v) == "cupy"]
    assert arrays, f"{type(est).__name__} has no fitted CuPy arrays: {sorted(fitted)}"
    assert {a.device.id for a in arrays} == {1}

