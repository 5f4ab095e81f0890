"""The registry of public functions, with example inputs.

Every public formula is listed here once, as a :class:`Case`: the function,
a maker of example inputs (host NumPy float64 arrays and Python values),
keyword options, and which arguments are differentiable.  The invariant
tests (namespace, dtype and device kept; equal under ``jax.jit``,
``jax.grad``, ``jax.vmap``) and ``portable-ml conformance`` walk it.

Cases live in ``portable_ml/testing/_cases/<family>.py``, each module
exporting ``CASES``; a new family adds a module there.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Callable

import numpy as np

__all__ = ["Case", "cases", "case", "inputs"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One public function with example inputs.

    Attributes
    ----------
    name : str
        ``"family.function"``, e.g. ``"losses.huber"``.
    fn : callable
        The function (or a small wrapper binding a factory, e.g. an optimizer).
    make_args : callable
        ``make_args(rng) -> tuple`` of positional arguments: NumPy arrays
        (float64 arrays are cast to the dtype under test; integer and bool
        arrays are kept) and Python values (passed unchanged, static under jit).
    kwargs : dict
        Keyword options (static under jit).
    grad_argnums : tuple of int
        Positional arguments with respect to which the (summed) output is
        differentiable; empty for non-differentiable functions.
    vmap : bool
        Whether the function is expected to batch under ``jax.vmap`` over a
        new leading axis of every array argument.
    rtol : dict
        Per-dtype relative tolerance overrides vs the float64 NumPy run,
        e.g. ``{"float32": 1e-4}``.
    """

    name: str
    fn: Callable
    make_args: Callable[[np.random.Generator], tuple]
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad_argnums: tuple = ()
    vmap: bool = True
    rtol: dict = dataclasses.field(default_factory=dict)
    atol: dict = dataclasses.field(default_factory=dict)

    @property
    def family(self):
        return self.name.split(".", 1)[0]

    def __repr__(self):
        return f"Case({self.name})"


_CACHE: list = []


def cases():
    """All registered cases, sorted by name."""
    if not _CACHE:
        from . import _cases

        found = []
        for mod in pkgutil.iter_modules(_cases.__path__):
            module = importlib.import_module(f"{_cases.__name__}.{mod.name}")
            found.extend(getattr(module, "CASES", ()))
        names = [c.name for c in found]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise RuntimeError(f"duplicate registry names: {sorted(dupes)}")
        _CACHE.extend(sorted(found, key=lambda c: c.name))
    return list(_CACHE)


def case(name):
    """The case called ``name``."""
    for c in cases():
        if c.name == name:
            return c
    raise KeyError(name)


def inputs(c: Case, seed: int = 0):
    """Example positional arguments of case ``c`` (host NumPy / Python values)."""
    return tuple(c.make_args(np.random.default_rng(seed)))


# ------------------------------------------------------------ input makers
# Small helpers for the ``_cases`` modules: each returns a host array.

def normal(rng, *shape, scale=1.0):
    return rng.normal(0.0, scale, size=shape)


def positive(rng, *shape, low=0.1, high=2.0):
    return rng.uniform(low, high, size=shape)


def unit(rng, *shape):
    """Values in (0, 1), away from the ends."""
    return rng.uniform(0.05, 0.95, size=shape)


def simplex(rng, *shape):
    """Rows (last axis) on the probability simplex, all entries > 0."""
    p = rng.uniform(0.1, 1.0, size=shape)
    return p / p.sum(axis=-1, keepdims=True)


def labels(rng, n, k):
    """Integer labels in [0, k), every class present when n >= k."""
    y = rng.integers(0, k, size=n)
    y[: min(n, k)] = np.arange(min(n, k))
    return rng.permutation(y).astype(np.int64)


def one_hot(rng, n, k):
    return np.eye(k)[labels(rng, n, k)]


def binary(rng, n):
    """0/1 floats with both classes present."""
    return labels(rng, n, 2).astype(np.float64)


def pm1(rng, n):
    """-1/+1 floats with both signs present."""
    return 2.0 * binary(rng, n) - 1.0


def spd(rng, d):
    """A well-conditioned symmetric positive-definite matrix."""
    a = rng.normal(size=(d, d))
    return a @ a.T / d + np.eye(d)

