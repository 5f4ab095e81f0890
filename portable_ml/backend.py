"""Backend selection, device placement and transfers.

This is the placement layer: it decides where *new* arrays go (parameters,
random draws, datasets) and moves arrays between backends.  Formulas never
import it; they follow their inputs.

Optional array libraries (JAX, PyTorch, CuPy, Dask) are imported lazily, the
first time a backend that needs them is asked for.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.util
import os
import sys
import threading

import numpy as np

from ._xp import array_namespace
from .tree import tree_map

__all__ = [
    "BACKENDS",
    "Backend",
    "available_backends",
    "get_backend",
    "use_backend",
    "to_backend",
    "namespace",
    "backend_of",
    "cupy_works",
    "unusable_reason",
]

#: Every backend name this library knows, in preference order.
BACKENDS = ("cupy", "jax", "torch", "numpy", "array_api_strict", "dask")

_MODULES = {
    "cupy": "cupy",
    "jax": "jax",
    "torch": "torch",
    "numpy": "numpy",
    "array_api_strict": "array_api_strict",
    "dask": "dask.array",
}

ENV_VAR = "PORTABLE_ML_BACKEND"
_default = contextvars.ContextVar("portable_ml_backend", default=None)
_lock = threading.Lock()
_cache: dict = {}
_cupy_ok = None


def _installed(name):
    top = _MODULES[name].split(".")[0]
    if top in sys.modules:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def cupy_works():
    """True when CuPy is installed *and* a CUDA device can be used.

    ``import cupy`` succeeds on machines without a GPU or driver; only
    ``cupy.cuda.is_available()`` (which never raises) tells.  The answer is
    cached for the process.
    """
    global _cupy_ok
    if _cupy_ok is None:
        ok = False
        if _installed("cupy"):
            try:
                import cupy

                ok = bool(cupy.cuda.is_available())
            except Exception:
                ok = False
        _cupy_ok = ok
    return _cupy_ok


def unusable_reason(name):
    """Why backend ``name`` cannot be used here, or ``None`` when it can.

    ``"not installed"`` when its library is missing; for CuPy,
    ``"no working CUDA device"`` when CuPy is installed but no GPU (or no
    driver) works.  The pytest plugin's skip reasons use the same words.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
    if not _installed(name):
        return "not installed"
    if name == "cupy" and not cupy_works():
        return "no working CUDA device"
    return None


def available_backends():
    """Names of the usable backends, in preference order (GPU libraries first).

    ``"cupy"`` is listed only when a CUDA device actually works.
    """
    out = []
    for name in BACKENDS:
        if name == "cupy":
            if cupy_works():
                out.append(name)
        elif _installed(name):
            out.append(name)
    return out


def _jax_gpu_devices():
    try:
        import jax

        return jax.devices("gpu")
    except Exception:
        return []


def _auto():
    if cupy_works():
        return "cupy", None
    if _installed("jax") and _jax_gpu_devices():
        return "jax", "gpu"
    return "numpy", None


def _resolve_name(name):
    if name is None:
        ctx = _default.get()
        if ctx is not None:
            return ctx
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            dev = None
            if "@" in env:  # PORTABLE_ML_BACKEND=jax@cpu:1
                env, dev = env.split("@", 1)
            return env, dev
        return "numpy", None
    return name, None


def get_backend(name=None, device=None):
    """A :class:`Backend` by name, optionally pinned to a device.

    Parameters
    ----------
    name : str or Backend, optional
        One of :data:`BACKENDS` or ``"auto"`` (the best available: CuPy on a
        working GPU, then JAX on a GPU, else NumPy).  ``None`` takes the
        :func:`use_backend` default, then the ``PORTABLE_ML_BACKEND``
        environment variable (``name`` or ``name@device``), then ``"numpy"``.
    device : str, int or native device, optional
        ``"cpu"``, ``"gpu"``, ``"gpu:1"``, ``"cuda:0"``, ``"cpu:1"`` (JAX), an
        index, or the backend's own device object.
    """
    if isinstance(name, Backend):
        return name if device is None else get_backend(name.name, device)
    if name is None:
        name, env_device = _resolve_name(None)
        device = env_device if device is None else device
    if name == "auto":
        name, auto_dev = _auto()
        device = auto_dev if device is None else device
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}; "
                         f"available here: {', '.join(available_backends())}")
    why = unusable_reason(name)
    if why == "not installed":
        raise ValueError(f"backend {name!r} is not installed (pip install 'portable-ml[{_extra(name)}]'); "
                         f"available: {', '.join(available_backends())}")
    if why is not None:
        raise ValueError(f"backend {name!r} is not usable here: CuPy is installed but {why}; "
                         f"available: {', '.join(available_backends())}")
    key = (name, _device_key(device))
    with _lock:
        be = _cache.get(key)
        if be is None:
            be = _cache[key] = Backend(name, device)
    return be


def _extra(name):
    return {"array_api_strict": "strict", "cupy": "cupy-cuda12"}.get(name, name)


def _device_key(device):
    if device is None or isinstance(device, (str, int)):
        return device
    return ("native", repr(device))


@contextlib.contextmanager
def use_backend(name, device=None):
    """Context manager setting the default backend (context-local).

    >>> with use_backend("jax", device="cpu:1"):
    ...     rng = get_backend().rng(0)   # doctest: +SKIP
    """
    be = get_backend(name, device)  # validate eagerly
    token = _default.set((be.name, device))
    try:
        yield be
    finally:
        _default.reset(token)


# --------------------------------------------------------------- the Backend
class Backend:
    """One array library on one device.

    Attributes
    ----------
    name : str
        Backend name (one of :data:`BACKENDS`).
    xp : module
        Its array-API namespace (compat wrappers for NumPy, PyTorch, CuPy and
        Dask; ``jax.numpy`` and ``array_api_strict`` themselves).
    device : object
        The native device new arrays go to.
    """

    def __init__(self, name, device=None):
        self.name = name
        self.xp = _load_namespace(name)
        self.device = _parse_device(name, device, self.xp)

    def __repr__(self):
        return f"Backend({self.name!r}, device={self.device!r})"

    # ------------------------------------------------------------ arrays
    @property
    def float_dtype(self):
        """Default floating dtype (float32 for PyTorch and for JAX without x64)."""
        info = self.xp.__array_namespace_info__()
        try:
            return info.default_dtypes(device=self.device)["real floating"]
        except Exception:
            return info.default_dtypes()["real floating"]

    def asarray(self, obj, dtype=None):
        """``obj`` (Python data, NumPy or any backend's array) on this backend and device.

        ``dtype`` is a dtype of this backend or its name (``"float32"``).
        """
        if isinstance(dtype, str):
            dtype = getattr(self.xp, dtype)
        if self.name == "jax":
            return self._jax_put(obj, dtype)
        if _is_foreign(obj, self.name):
            obj = _dlpack_or_host(obj, self)
        xp = self.xp
        if self.name == "cupy":
            import cupy

            with cupy.cuda.Device(self.device.id):
                if isinstance(obj, cupy.ndarray) and obj.device.id != self.device.id:
                    # asarray would keep it on its own GPU; ndarray.copy copies onto the current one
                    obj = obj.copy()
                return xp.asarray(obj, dtype=dtype)
        if self.name == "dask":
            return xp.asarray(np.asarray(obj), dtype=dtype)
        return xp.asarray(obj, dtype=dtype, device=self.device)

    def _jax_put(self, obj, dtype):
        import jax

        if _is_foreign(obj, "jax"):
            obj = _dlpack_or_host(obj, self)
        arr = jax.numpy.asarray(obj, dtype=dtype)
        return jax.device_put(arr, self.device)

    def to_numpy(self, x):
        """Host ``numpy.ndarray`` of ``x`` (any backend; pytrees map leafwise)."""
        return to_numpy(x)

    def zeros(self, shape, dtype=None):
        dtype = self.float_dtype if dtype is None else dtype
        return self.asarray(np.zeros(shape), dtype=dtype)

    # ------------------------------------------------------------ misc
    def rng(self, seed=None, *, native=False):
        """A :class:`portable_ml.random.Generator` bound to this backend and device."""
        from .random import Generator

        return Generator(self, seed, native=native)

    def jit(self, fn, **kwargs):
        """``jax.jit(fn)`` on JAX; ``fn`` itself elsewhere."""
        if self.name == "jax":
            import jax

            return jax.jit(fn, **kwargs)
        return fn

    def synchronize(self, x=None):
        """Wait for queued device work (and for ``x``, if given) before reading clocks."""
        if self.name == "jax":
            import jax

            if x is not None:
                jax.block_until_ready(x)
            else:
                jax.effects_barrier()
        elif self.name == "cupy":
            import cupy

            cupy.cuda.Device(self.device.id).synchronize()
        elif self.name == "torch" and getattr(self.device, "type", "cpu") == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        elif self.name == "dask" and x is not None:
            tree_map(lambda a: a.persist() if hasattr(a, "persist") else a, x)
        return x

    def devices(self):
        """Devices this backend can place arrays on."""
        return _list_devices(self.name, self.xp)


def _load_namespace(name):
    if name == "numpy":
        import array_api_compat.numpy as xp
    elif name == "torch":
        import array_api_compat.torch as xp
    elif name == "cupy":
        import array_api_compat.cupy as xp
    elif name == "dask":
        import array_api_compat.dask.array as xp
    elif name == "jax":
        import jax.numpy as xp
    elif name == "array_api_strict":
        import array_api_strict as xp
    else:  # pragma: no cover - guarded by get_backend
        raise ValueError(name)
    return xp


def _list_devices(name, xp):
    if name == "jax":
        import jax

        return jax.devices()
    if name == "torch":
        import torch

        return [torch.device("cpu")] + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    if name == "cupy":
        import cupy

        return [cupy.cuda.Device(i) for i in range(cupy.cuda.runtime.getDeviceCount())]
    if name == "array_api_strict":
        return list(xp.__array_namespace_info__().devices())
    return ["cpu"]


def _split_device(device):
    """'cuda:1' -> ('cuda', 1); 'gpu' -> ('gpu', None); 3 -> (None, 3)."""
    if isinstance(device, int):
        return None, device
    text = device.strip().lower()
    if ":" in text:
        kind, idx = text.split(":", 1)
        if not idx.isdigit():
            raise ValueError(f"device index must be an integer; got device={device!r}")
        return kind, int(idx)
    return text, None


def _parse_device(name, device, xp):
    devs_text = lambda: ", ".join(map(str, _list_devices(name, xp)))  # noqa: E731
    if device is None:
        if name == "jax":
            import jax

            return jax.devices()[0]
        if name == "cupy":
            import cupy

            return cupy.cuda.Device(0)
        if name == "torch":
            import torch

            return torch.device("cpu")
        if name == "array_api_strict":
            return xp.__array_namespace_info__().default_device()
        return "cpu"
    if not isinstance(device, (str, int)):
        return _check_native(name, device, xp)
    kind, idx = _split_device(device)
    if kind is not None and kind not in ("cpu", "gpu", "cuda") and name != "array_api_strict":
        raise ValueError(f"unknown device {device!r} for backend {name!r}; available: {devs_text()}")
    if name in ("numpy", "dask"):
        if kind in (None, "cpu") and idx in (None, 0):
            return "cpu"
        raise ValueError(f"backend {name!r} has only the 'cpu' device; got device={device!r}")
    if name == "array_api_strict":
        devs = list(xp.__array_namespace_info__().devices())
        if kind is None:
            return _pick(devs, idx, device, name)
        for d in devs:
            if str(device).lower() in (repr(d).lower(), getattr(d, "_device", "").lower()):
                return d
        if kind == "cpu" and idx in (None, 0):
            return xp.__array_namespace_info__().default_device()
        raise ValueError(f"unknown device {device!r} for backend {name!r}; available: {devs_text()}")
    if name == "jax":
        import jax

        if kind is None:
            return _pick(jax.devices(), idx, device, name)
        platform = "cpu" if kind == "cpu" else "gpu"
        try:
            devs = jax.devices(platform)
        except RuntimeError:
            raise ValueError(f"JAX has no {platform} device here; available: {devs_text()}") from None
        return _pick(devs, idx or 0, device, name)
    if name == "torch":
        import torch

        if kind == "cpu":
            return torch.device("cpu")
        n = torch.cuda.device_count()
        i = idx or 0
        if i >= n:
            raise ValueError(f"torch has {n} CUDA device(s); got device={device!r}; available: {devs_text()}")
        return torch.device("cuda", i)
    if name == "cupy":
        import cupy

        if kind == "cpu":
            raise ValueError("backend 'cupy' has no CPU device; use 'numpy' for host arrays")
        n = cupy.cuda.runtime.getDeviceCount()
        i = idx or 0
        if i >= n:
            raise ValueError(f"CuPy sees {n} CUDA device(s); got device={device!r}")
        return cupy.cuda.Device(i)
    raise ValueError(f"unknown device {device!r} for backend {name!r}")  # pragma: no cover


def _is_jax_sharding(device):
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(device, jax.sharding.Sharding)


def _pick(devs, idx, device, name):
    idx = 0 if idx is None else idx
    if not 0 <= idx < len(devs):
        raise ValueError(f"backend {name!r} has {len(devs)} device(s) "
                         f"({', '.join(map(str, devs))}); got device={device!r}")
    return devs[idx]


def _check_native(name, device, xp):
    if device in _list_devices(name, xp):
        return device
    if name == "jax" and _is_jax_sharding(device) and device.device_set <= set(_list_devices(name, xp)):
        return device  # a Sharding over JAX devices: new arrays are placed (replicated or split) by it
    raise ValueError(f"device {device!r} does not belong to backend {name!r}; "
                     f"available: {', '.join(map(str, _list_devices(name, xp)))}")


# --------------------------------------------------------------- transfers
def backend_of(x):
    """Name of the backend that owns array ``x`` (``None`` for non-arrays)."""
    mod = type(x).__module__
    top = mod.split(".")[0]
    if top == "numpy" and isinstance(x, np.ndarray):
        return "numpy"
    if top in ("jax", "jaxlib"):
        return "jax"
    if top == "torch":
        return "torch"
    if top == "cupy":
        return "cupy"
    if top == "dask":
        return "dask"
    if top == "array_api_strict":
        return "array_api_strict"
    if isinstance(x, np.generic):
        return "numpy"
    return None


def _is_foreign(obj, name):
    b = backend_of(obj)
    return b is not None and b != name


def _on_gpu(x):
    b = backend_of(x)
    if b == "cupy":
        return True
    if b == "torch":
        return x.device.type == "cuda"
    if b == "jax":
        try:
            return any(d.platform == "gpu" for d in x.devices())
        except Exception:
            return False
    return False


def to_numpy(x):
    """Host ``numpy.ndarray`` of an array of any backend (pytrees map leafwise)."""
    return tree_map(_leaf_to_numpy, x)


def _leaf_to_numpy(x):
    b = backend_of(x)
    if b is None or b == "numpy":
        return np.asarray(x)
    if b == "torch":
        return x.detach().cpu().numpy()
    if b == "cupy":
        return x.get()
    if b == "dask":
        return np.asarray(x.compute())
    if b == "array_api_strict":
        return np.array(np.from_dlpack(x), copy=True)
    return np.array(x)  # jax: a writable host copy


def _dlpack_or_host(x, target):
    """``x`` in a form ``target`` can ingest: DLPack between GPU arrays, else host NumPy."""
    if _on_gpu(x) and target.name in ("cupy", "torch", "jax"):
        try:
            return target.xp.from_dlpack(x)
        except Exception:
            pass
    return _leaf_to_numpy(x)


def to_backend(x, backend, device=None):
    """The same values as arrays of ``backend`` on ``device``.

    Works on pytrees (containers are kept, every array leaf moved).  Between
    GPU libraries (CuPy, PyTorch-CUDA, JAX-CUDA) the data moves through
    DLPack without a host copy; otherwise through a host NumPy array.
    Non-array leaves (Python numbers, strings, ``None``) are left alone.
    """
    be = get_backend(backend, device)

    def move(leaf):
        if backend_of(leaf) is None:
            return leaf
        return be.asarray(leaf)

    return tree_map(move, x)


def namespace(*arrays):
    """Array-API namespace of ``arrays``.

    Raises ``TypeError`` when they mix backends and ``ValueError`` when they
    mix devices, each naming what was found.
    """
    return array_namespace(*arrays)
