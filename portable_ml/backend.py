"""Backend selection, device placement and transfers.

This is the placement layer: it decides where *new* arrays go (parameters,
random draws, datasets) and moves arrays between backends.  Formulas never
import it; they follow their inputs.

Each array library is one subclass of :class:`Backend` (its module, its
devices, how it places, copies to the host, synchronizes and draws random
numbers); defining the subclass registers it.  The classes are registered in
preference order, which is :data:`BACKENDS`.  Nothing here imports an array
library -- NumPy and array-api-compat included -- until a backend that needs
it is used, so the pytest plugin can read the registry when pytest starts.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.util
import os
import sys
import threading

from .tree import tree_map

__all__ = [
    "BACKENDS",
    "Backend",
    "available_backends",
    "backend_class",
    "get_backend",
    "use_backend",
    "to_backend",
    "namespace",
    "backend_of",
    "cupy_works",
    "unusable_reason",
]

ENV_VAR = "PORTABLE_ML_BACKEND"
_default = contextvars.ContextVar("portable_ml_backend", default=None)
_lock = threading.Lock()
_cache: dict = {}
_cupy_ok = None

#: name -> Backend subclass, in preference order (filled by ``Backend.__init_subclass__``).
_CLASSES: dict = {}


def _installed(name):
    """Whether backend ``name``'s library can be imported (found without importing it)."""
    top = _CLASSES[name].module.split(".")[0]
    if top in sys.modules:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _top_module(x):
    return type(x).__module__.split(".")[0]


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


def _pick(devs, idx, device, name):
    idx = 0 if idx is None else idx
    if not 0 <= idx < len(devs):
        raise ValueError(f"backend {name!r} has {len(devs)} device(s) "
                         f"({', '.join(map(str, devs))}); got device={device!r}")
    return devs[idx]


# --------------------------------------------------------------- the Backend
class Backend:
    """One array library on one device.

    Obtained from :func:`get_backend`; each library is a subclass, and
    defining a subclass with a ``name`` registers it (a new backend is one
    class).

    Attributes
    ----------
    xp : module
        Its array-API namespace (compat wrappers for NumPy, PyTorch, CuPy and
        Dask; ``jax.numpy`` and ``array_api_strict`` themselves).
    device : object
        The native device new arrays go to.
    """

    #: Backend name (one of :data:`BACKENDS`); a subclass that sets it is registered under it.
    name = ""
    #: Module whose presence means the library is installed (and that its namespace needs).
    module: str = ""
    #: Module of its array-API namespace.
    namespace_module: str = ""
    #: Top-level modules of its array types (for :func:`backend_of`).
    array_modules: tuple = ()
    #: ``pip install 'portable-ml[<extra>]'``.
    extra: str = ""
    #: What ``portable-ml info`` suggests when it is missing.
    install_hint: str = ""
    #: Distribution names to read its version from, first found wins.
    distributions: tuple = ()
    #: Device kinds accepted in ``"kind"`` / ``"kind:N"`` strings (``None``: any, checked by the class).
    device_kinds: tuple | None = ("cpu", "gpu", "cuda")
    #: Whether arrays on a GPU can come in through DLPack without a host copy.
    dlpack_from_gpu: bool = False
    #: Whether ``Generator(native=True)`` draws on the device with the library's own generator;
    #: otherwise draws are made on the host (NumPy PCG64) and placed.
    native_random: bool = False
    #: Device for ``get_backend("auto")`` when :meth:`auto_candidate` is true.
    auto_device = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            _CLASSES[cls.name] = cls

    def __init__(self, device=None):
        if not self.name:
            raise TypeError("Backend is the base class of the backends; use get_backend(name, device)")
        self.xp = self.load()
        self.device = self._parse_device(device)

    def __repr__(self):
        return f"Backend({self.name!r}, device={self.device!r})"

    # ------------------------------------------------------------ the library
    @classmethod
    def installed(cls):
        return _installed(cls.name)

    @classmethod
    def unusable(cls):
        """Why this backend cannot be used here, or ``None`` (see :func:`unusable_reason`)."""
        return None if cls.installed() else "not installed"

    @classmethod
    def auto_candidate(cls):
        """Whether ``get_backend("auto")`` takes this backend (a working accelerator)."""
        return False

    @classmethod
    def owns(cls, x):
        """Whether ``x`` is an array of this library."""
        return _top_module(x) in cls.array_modules

    @classmethod
    def on_gpu(cls, x):
        """Whether array ``x`` (of this library) lives on a GPU."""
        return False

    def load(self):
        """The array-API namespace."""
        return importlib.import_module(self.namespace_module)

    # ------------------------------------------------------------ devices
    def default_device(self):
        return "cpu"

    def devices(self):
        """Devices this backend can place arrays on."""
        return ["cpu"]

    def _devices_text(self):
        return ", ".join(map(str, self.devices()))

    def _parse_device(self, device):
        if device is None:
            return self.default_device()
        if not isinstance(device, (str, int)):
            return self._check_native(device)
        kind, idx = _split_device(device)
        if kind is not None and self.device_kinds is not None and kind not in self.device_kinds:
            raise ValueError(f"unknown device {device!r} for backend {self.name!r}; "
                             f"available: {self._devices_text()}")
        return self._select_device(kind, idx, device)

    def _select_device(self, kind, idx, device):
        """The device for ``"kind:idx"`` (``kind`` or ``idx`` may be ``None``); ``device`` as given."""
        if kind in (None, "cpu") and idx in (None, 0):
            return "cpu"
        raise ValueError(f"backend {self.name!r} has only the 'cpu' device; got device={device!r}")

    def _check_native(self, device):
        if device in self.devices():
            return device
        raise ValueError(f"device {device!r} does not belong to backend {self.name!r}; "
                         f"available: {self._devices_text()}")

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
        other = _class_of(obj)
        if other is not None and other is not type(self):
            obj = _dlpack_or_host(obj, other, self)
        return self._put(obj, dtype)

    def _put(self, obj, dtype):
        """``obj`` (Python data, NumPy or this library's array) on ``self.device``."""
        return self.xp.asarray(obj, dtype=dtype, device=self.device)

    @staticmethod
    def to_host(x):
        """Host ``numpy.ndarray`` of one array of this library."""
        import numpy as np

        return np.asarray(x)

    def to_numpy(self, x):
        """Host ``numpy.ndarray`` of ``x`` (any backend; pytrees map leafwise)."""
        return to_numpy(x)

    def zeros(self, shape, dtype=None):
        import numpy as np

        dtype = self.float_dtype if dtype is None else dtype
        return self.asarray(np.zeros(shape), dtype=dtype)

    # ------------------------------------------------------------ misc
    def rng(self, seed=None, *, native=False):
        """A :class:`portable_ml.random.Generator` bound to this backend and device."""
        from .random import Generator  # random builds on this module, not the reverse

        return Generator(self, seed, native=native)

    def jit(self, fn, **kwargs):
        """``jax.jit(fn)`` on JAX; ``fn`` itself elsewhere."""
        return fn

    def synchronize(self, x=None):
        """Wait for queued device work (and for ``x``, if given) before reading clocks."""
        return x

    # ------------------------------------------------------------ native random draws
    def native_generator(self, seed):
        """The library's own random state seeded with ``seed`` (for ``native_random`` backends)."""
        raise NotImplementedError(f"backend {self.name!r} has no native generator")

    def native_draw(self, state, kind, shape, dtype, a, b):
        """``kind`` ``"normal"`` (mean ``a``, std ``b``) or ``"uniform"`` on ``[a, b)`` from ``state``."""
        raise NotImplementedError(f"backend {self.name!r} has no native generator")


class _CupyBackend(Backend):
    name = "cupy"
    module = "cupy"
    namespace_module = "array_api_compat.cupy"
    array_modules = ("cupy",)
    extra = "cupy-cuda12"
    install_hint = "pip install 'portable-ml[cupy-cuda12]' (or [cupy-cuda13]) on a machine with an NVIDIA GPU"
    distributions = ("cupy-cuda13x", "cupy-cuda12x", "cupy")
    dlpack_from_gpu = True
    native_random = True

    @classmethod
    def unusable(cls):
        if not cls.installed():
            return "not installed"
        return None if cupy_works() else "no working CUDA device"

    @classmethod
    def auto_candidate(cls):
        return cupy_works()

    @classmethod
    def on_gpu(cls, x):
        return True

    def default_device(self):
        import cupy

        return cupy.cuda.Device(0)

    def devices(self):
        import cupy

        return [cupy.cuda.Device(i) for i in range(cupy.cuda.runtime.getDeviceCount())]

    def _select_device(self, kind, idx, device):
        import cupy

        if kind == "cpu":
            raise ValueError("backend 'cupy' has no CPU device; use 'numpy' for host arrays")
        n = cupy.cuda.runtime.getDeviceCount()
        i = idx or 0
        if i >= n:
            raise ValueError(f"CuPy sees {n} CUDA device(s); got device={device!r}")
        return cupy.cuda.Device(i)

    def _put(self, obj, dtype):
        import cupy

        with cupy.cuda.Device(self.device.id):
            if isinstance(obj, cupy.ndarray) and obj.device.id != self.device.id:
                # asarray would keep it on its own GPU; ndarray.copy copies onto the current one
                obj = obj.copy()
            return self.xp.asarray(obj, dtype=dtype)

    @staticmethod
    def to_host(x):
        return x.get()

    def synchronize(self, x=None):
        import cupy

        cupy.cuda.Device(self.device.id).synchronize()
        return x

    def native_generator(self, seed):
        import cupy

        with cupy.cuda.Device(self.device.id):
            return cupy.random.default_rng(seed)

    def native_draw(self, state, kind, shape, dtype, a, b):
        import cupy

        with cupy.cuda.Device(self.device.id):
            if kind == "normal":
                return state.standard_normal(shape, dtype=dtype) * b + a
            return state.random(shape, dtype=dtype) * (b - a) + a


def _jax_gpu_devices():
    try:
        import jax

        return jax.devices("gpu")
    except Exception:
        return []


class _JaxBackend(Backend):
    name = "jax"
    module = "jax"
    namespace_module = "jax.numpy"
    array_modules = ("jax", "jaxlib")
    extra = "jax"
    install_hint = "pip install 'portable-ml[jax]'"
    distributions = ("jax",)
    dlpack_from_gpu = True
    native_random = True
    auto_device = "gpu"

    @classmethod
    def auto_candidate(cls):
        return cls.installed() and bool(_jax_gpu_devices())

    @classmethod
    def on_gpu(cls, x):
        try:
            return any(d.platform == "gpu" for d in x.devices())
        except Exception:
            return False

    def default_device(self):
        import jax

        return jax.devices()[0]

    def devices(self):
        import jax

        return jax.devices()

    def _select_device(self, kind, idx, device):
        import jax

        if kind is None:
            return _pick(jax.devices(), idx, device, self.name)
        platform = "cpu" if kind == "cpu" else "gpu"
        try:
            devs = jax.devices(platform)
        except RuntimeError:
            raise ValueError(f"JAX has no {platform} device here; available: {self._devices_text()}") from None
        return _pick(devs, idx or 0, device, self.name)

    def _check_native(self, device):
        import jax

        if isinstance(device, jax.sharding.Sharding) and device.device_set <= set(self.devices()):
            return device  # a Sharding over JAX devices: new arrays are placed (replicated or split) by it
        return super()._check_native(device)

    def _put(self, obj, dtype):
        import jax

        return jax.device_put(self.xp.asarray(obj, dtype=dtype), self.device)

    @staticmethod
    def to_host(x):
        import numpy as np

        return np.array(x)  # a writable host copy

    def jit(self, fn, **kwargs):
        import jax

        return jax.jit(fn, **kwargs)

    def synchronize(self, x=None):
        import jax

        if x is not None:
            jax.block_until_ready(x)
        else:
            jax.effects_barrier()
        return x

    def native_generator(self, seed):
        import jax

        return [jax.random.key(seed)]  # a one-slot list: each draw splits and replaces the key

    def native_draw(self, state, kind, shape, dtype, a, b):
        import jax

        with jax.default_device(self.device):
            state[0], sub = jax.random.split(state[0])
            if kind == "normal":
                return jax.random.normal(sub, shape, dtype) * b + a
            return jax.random.uniform(sub, shape, dtype, minval=a, maxval=b)


class _TorchBackend(Backend):
    name = "torch"
    module = "torch"
    namespace_module = "array_api_compat.torch"
    array_modules = ("torch",)
    extra = "torch"
    install_hint = ("pip install torch --index-url https://download.pytorch.org/whl/cpu  "
                    "(CPU build; with CUDA: pip install 'portable-ml[torch]')")
    distributions = ("torch",)
    dlpack_from_gpu = True
    native_random = True

    @classmethod
    def on_gpu(cls, x):
        return x.device.type == "cuda"

    def default_device(self):
        import torch

        return torch.device("cpu")

    def devices(self):
        import torch

        return [torch.device("cpu")] + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]

    def _select_device(self, kind, idx, device):
        import torch

        if kind == "cpu":
            return torch.device("cpu")
        n = torch.cuda.device_count()
        i = idx or 0
        if i >= n:
            raise ValueError(f"torch has {n} CUDA device(s); got device={device!r}; "
                             f"available: {self._devices_text()}")
        return torch.device("cuda", i)

    @staticmethod
    def to_host(x):
        return x.detach().cpu().numpy()

    def synchronize(self, x=None):
        if getattr(self.device, "type", "cpu") == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        return x

    def native_generator(self, seed):
        import torch

        return torch.Generator(device=self.device).manual_seed(seed)

    def native_draw(self, state, kind, shape, dtype, a, b):
        import torch

        if kind == "normal":
            return torch.randn(shape, generator=state, device=self.device, dtype=dtype) * b + a
        return torch.rand(shape, generator=state, device=self.device, dtype=dtype) * (b - a) + a


class _NumpyBackend(Backend):
    name = "numpy"
    module = "numpy"
    namespace_module = "array_api_compat.numpy"
    array_modules = ("numpy",)
    extra = "numpy"
    install_hint = "pip install numpy"
    distributions = ("numpy",)

    @classmethod
    def owns(cls, x):
        if _top_module(x) != "numpy":
            return False
        import numpy as np

        return isinstance(x, (np.ndarray, np.generic))


class _StrictBackend(Backend):
    name = "array_api_strict"
    module = "array_api_strict"
    namespace_module = "array_api_strict"
    array_modules = ("array_api_strict",)
    extra = "strict"
    install_hint = "pip install 'portable-ml[strict]'"
    distributions = ("array-api-strict",)
    device_kinds = None  # its own device names ("device1", ...) besides "cpu"

    def default_device(self):
        return self.xp.__array_namespace_info__().default_device()

    def devices(self):
        return list(self.xp.__array_namespace_info__().devices())

    def _select_device(self, kind, idx, device):
        devs = self.devices()
        if kind is None:
            return _pick(devs, idx, device, self.name)
        for d in devs:
            if str(device).lower() in (repr(d).lower(), getattr(d, "_device", "").lower()):
                return d
        if kind == "cpu" and idx in (None, 0):
            return self.default_device()
        raise ValueError(f"unknown device {device!r} for backend {self.name!r}; available: {self._devices_text()}")

    @staticmethod
    def to_host(x):
        import numpy as np

        return np.array(np.from_dlpack(x), copy=True)


class _DaskBackend(Backend):
    name = "dask"
    module = "dask.array"
    namespace_module = "array_api_compat.dask.array"
    array_modules = ("dask",)
    extra = "dask"
    install_hint = "pip install 'portable-ml[dask]'"
    distributions = ("dask",)

    def _put(self, obj, dtype):
        import numpy as np

        return self.xp.asarray(np.asarray(obj), dtype=dtype)

    @staticmethod
    def to_host(x):
        import numpy as np

        return np.asarray(x.compute())

    def synchronize(self, x=None):
        if x is not None:
            tree_map(lambda a: a.persist() if hasattr(a, "persist") else a, x)
        return x


#: Every backend name this library knows, in preference order.
BACKENDS = tuple(_CLASSES)


def backend_class(name):
    """The :class:`Backend` subclass registered as ``name``."""
    try:
        return _CLASSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}") from None


# --------------------------------------------------------------- selection
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
    return backend_class(name).unusable()


def available_backends():
    """Names of the usable backends, in preference order (GPU libraries first).

    ``"cupy"`` is listed only when a CUDA device actually works.
    """
    return [name for name, cls in _CLASSES.items() if cls.unusable() is None]


def _auto():
    for name, cls in _CLASSES.items():
        if cls.auto_candidate():
            return name, cls.auto_device
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
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}; "
                         f"available here: {', '.join(available_backends())}")
    cls = _CLASSES[name]
    why = cls.unusable()
    if why == "not installed":
        raise ValueError(f"backend {name!r} is not installed (pip install 'portable-ml[{cls.extra}]'); "
                         f"available: {', '.join(available_backends())}")
    if why is not None:
        raise ValueError(f"backend {name!r} is not usable here: CuPy is installed but {why}; "
                         f"available: {', '.join(available_backends())}")
    key = (name, _device_key(device))
    with _lock:
        be = _cache.get(key)
        if be is None:
            be = _cache[key] = cls(device)
    return be


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


# --------------------------------------------------------------- transfers
def _class_of(x):
    for cls in _CLASSES.values():
        if cls.owns(x):
            return cls
    return None


def backend_of(x):
    """Name of the backend that owns array ``x`` (``None`` for non-arrays)."""
    cls = _class_of(x)
    return None if cls is None else cls.name


def to_numpy(x):
    """Host ``numpy.ndarray`` of an array of any backend (pytrees map leafwise)."""
    return tree_map(_leaf_to_numpy, x)


def _leaf_to_numpy(x):
    cls = _class_of(x)
    return Backend.to_host(x) if cls is None else cls.to_host(x)


def _dlpack_or_host(x, source, target):
    """``x`` (an array of class ``source``) in a form ``target`` can ingest:
    DLPack between GPU arrays, else host NumPy."""
    if target.dlpack_from_gpu and source.on_gpu(x):
        try:
            return target.xp.from_dlpack(x)
        except Exception:
            pass
    return source.to_host(x)


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
    from ._xp import array_namespace

    return array_namespace(*arrays)
