"""Portable random numbers: the same seed gives the same values on every backend.

By default draws are made on the host with NumPy's PCG64 in float64 and then
cast and placed on the generator's backend and device, so a seed means the
same numbers everywhere (up to the final cast).  ``native=True`` draws on the
device instead (``jax.random``, ``torch.Generator``, ``cupy.random``; the
backends whose ``Backend.native_random`` is true, through their
``native_generator``/``native_draw``): faster for large draws on a GPU,
reproducible per backend, but not across backends.

Inside ``jax.jit`` a stateful generator cannot be used; functions that need
randomness there take an explicit JAX key, e.g. ``rng.key()``.
"""

from __future__ import annotations

import math

import numpy as np

from ._xp import array_namespace
from ._validate import check_bool, check_int, check_probabilities, check_real, check_seed, check_shape, is_array
from .backend import Backend, get_backend

__all__ = ["Generator", "default_rng"]


def _shape(shape, name="shape"):
    return check_shape(shape, name)


class Generator:
    """Random generator bound to a backend and device.

    Parameters
    ----------
    backend : str or Backend, optional
        Where draws are placed (default: :func:`portable_ml.get_backend`).
    seed : int, numpy.random.SeedSequence or None
        ``None`` takes fresh entropy from the OS.
    native : bool
        Draw on the device with the backend's own generator.
    """

    def __init__(self, backend=None, seed=None, *, native=False):
        self.backend = backend if isinstance(backend, Backend) else get_backend(backend)
        seed = check_seed(seed)
        self._seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self._host = np.random.Generator(np.random.PCG64(self._seq))
        self.native = bool(native) and self.backend.native_random
        self._native_state = self.backend.native_generator(self._native_seed()) if self.native else None

    def __repr__(self):
        return f"Generator({self.backend!r}, native={self.native})"

    @property
    def device(self):
        return self.backend.device

    # ------------------------------------------------------------ helpers
    def _dtype(self, dtype):
        """``dtype`` (``None``, a name or a dtype object) as a real floating dtype of the backend."""
        if dtype is None:
            return self.backend.float_dtype
        xp, name = self.backend.xp, self.backend.name
        out = getattr(xp, dtype, None) if isinstance(dtype, str) else dtype
        try:
            ok = out is not None and xp.isdtype(out, "real floating")
        except Exception:  # not a dtype of this backend
            ok = False
        if not ok:
            raise ValueError(f"dtype must be a real floating dtype of the {name} backend "
                             f"(e.g. 'float32' or 'float64'); got dtype={dtype!r}")
        return out

    def _place(self, host, dtype=None):
        return self.backend.asarray(host, dtype=dtype)

    def _native_seed(self):
        return int(self._seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))

    def _native_draw(self, kind, shape, dtype, a, b):
        return self.backend.native_draw(self._native_state, kind, shape, dtype, a, b)

    # ------------------------------------------------------------ draws
    def normal(self, shape, mean=0.0, std=1.0, dtype=None):
        """Normal draws :math:`\\mathcal N(\\text{mean}, \\text{std}^2)` of ``shape``.

        ``shape`` is an integer or a tuple of integers >= 0; ``mean`` finite,
        ``std >= 0`` finite; ``dtype`` a real floating dtype (or its name).
        """
        shape, dtype = _shape(shape), self._dtype(dtype)
        mean = check_real(mean, "mean")
        std = check_real(std, "std", low=0.0)
        if self.native:
            return self._native_draw("normal", shape, dtype, mean, std)
        return self._place(self._host.normal(mean, std, size=shape), dtype)

    def uniform(self, shape, low=0.0, high=1.0, dtype=None):
        """Uniform draws on :math:`[\\text{low}, \\text{high})` of ``shape``; finite ``low <= high``."""
        shape, dtype = _shape(shape), self._dtype(dtype)
        low, high = check_real(low, "low"), check_real(high, "high")
        if low > high:
            raise ValueError(f"low must not exceed high; got low={low!r}, high={high!r}")
        if self.native:
            return self._native_draw("uniform", shape, dtype, low, high)
        return self._place(self._host.uniform(low, high, size=shape), dtype)

    def bernoulli(self, p, shape):
        """Boolean draws, True with probability ``p`` (a number or array broadcastable to ``shape``)."""
        shape = _shape(shape)
        if is_array(p):
            check_probabilities(p, "p", array_namespace(p))
        else:
            p = check_real(p, "p", low=0.0, high=1.0)
        if self.native:
            u = self._native_draw("uniform", shape, self.backend.float_dtype, 0.0, 1.0)
            return u < p
        p = self.backend.to_numpy(p) if is_array(p) else p
        return self._place(self._host.random(size=shape) < p)

    def integers(self, low, high, shape):
        """Integers uniform on ``[low, high)`` (host draw, the same on every backend); ``low < high``."""
        low, high, shape = check_int(low, "low"), check_int(high, "high"), _shape(shape)
        if low >= high:
            raise ValueError(f"low must be less than high; got low={low}, high={high}")
        return self._place(self._host.integers(low, high, size=shape))

    def permutation(self, n):
        """A random permutation of ``range(n)`` (``n >= 0`` an integer) as an integer array."""
        return self._place(self._host.permutation(check_int(n, "n", low=0)))

    def choice(self, n, size, replace=False):
        """``size`` indices drawn from ``range(n)`` (without replacement by default)."""
        n, shape, replace = check_int(n, "n", low=0), _shape(size, "size"), check_bool(replace, "replace")
        total = math.prod(shape)
        if not replace and total > n:
            raise ValueError(f"cannot draw size={size} without replacement from n={n}")
        if n == 0 and total:
            raise ValueError(f"cannot draw size={size} from n=0 (an empty range)")
        return self._place(self._host.choice(n, size=shape, replace=replace))

    def split(self):
        """A new, statistically independent generator on the same backend and device."""
        return Generator(self.backend, self._seq.spawn(1)[0], native=self.native)

    def key(self):
        """A fresh ``jax.random`` key derived from this generator, for use under ``jax.jit``."""
        import jax

        return jax.random.key(int(self._host.integers(0, 2**62)))

    def numpy(self):
        """The host ``numpy.random.Generator`` behind the portable draws."""
        return self._host


def default_rng(seed=None, backend=None, device=None, *, native=False):
    """``Generator(get_backend(backend, device), seed)``."""
    return Generator(get_backend(backend, device), seed, native=native)
