"""Ground layer: namespace, device and dtype lookup, validation, reductions.

Every public formula starts by calling :func:`array_namespace` once on its
array arguments and passes ``xp`` down to private helpers.  Nothing here
imports NumPy or any array library: the namespace always comes from the
inputs.
"""

from __future__ import annotations

import numbers
import sys

import array_api_compat as _compat
from array_api_compat import is_lazy_array, size  # noqa: F401  (re-export)

__all__ = [
    "array_namespace",
    "device_of",
    "is_concrete",
    "size",
    "float_dtype",
    "widest_float_dtype",
    "as_float",
    "scalar_like",
    "check_same_shape",
    "check_ndim",
    "check_nonempty",
    "check_labels",
    "check_reduction",
    "check_positive",
    "reduce",
    "reduction_scale",
]

_SCALARS = (numbers.Number, bool)


def _is_array(x):
    return x is not None and not isinstance(x, (_SCALARS, str))


def _backend_label(x):
    mod = type(x).__module__.split(".")[0]
    return {"jaxlib": "jax", "array_api_strict": "array_api_strict"}.get(mod, mod)


def array_namespace(*arrays):
    """Array-API namespace of ``arrays`` (``None`` and Python scalars skipped).

    Raises
    ------
    TypeError
        If the arrays come from different array libraries, or none is an array.
    ValueError
        If the arrays live on different devices.
    """
    xs = [x for x in arrays if _is_array(x)]
    if not xs:
        raise TypeError("expected at least one array argument, got only Python scalars or None")
    try:
        xp = _compat.array_namespace(*xs)
    except TypeError as exc:  # a non-array (list, ...) or two array libraries: say which
        from ._validate import namespace_error

        raise namespace_error(xs) from exc
    if len(xs) > 1:
        _check_same_device(xs)
    return xp


def _check_same_device(xs):
    first = None
    for x in xs:
        try:
            d = _compat.device(x)
        except Exception:  # tracers and sharded arrays: the backend checks itself
            return
        if d is None or not _is_single_device(d):  # tracers report no device
            return
        if first is None:
            first = d
        elif d != first:
            raise ValueError(
                f"arrays live on different devices: {first!r} and {d!r}; "
                "move them to one device first with portable_ml.to_backend"
            )


def _is_single_device(d):
    # JAX returns a Sharding for distributed arrays; those are compared by JAX itself.
    return "Sharding" not in type(d).__name__


def device_of(x):
    """The device of array ``x``: where new arrays derived from it are created.

    For a JAX array sharded over several devices with a ``NamedSharding``,
    this is the *replicated* sharding over the same mesh: new arrays of other
    shapes (parameters, scalars, d x d matrices) cannot take the batch's
    partitioning, and replicating them is what data parallelism wants.
    Under ``jax.jit`` (tracers carry no placement) and on every other
    backend it is ``array_api_compat.device(x)``.
    """
    d = _compat.device(x)
    if d is None or _is_single_device(d):
        return d
    mesh = getattr(d, "mesh", None)
    if mesh is None or getattr(d, "is_fully_replicated", False):
        return d
    sharding = sys.modules["jax"].sharding
    return sharding.NamedSharding(mesh, sharding.PartitionSpec(), memory_kind=getattr(d, "memory_kind", None))


def is_concrete(x):
    """True when ``x`` holds values we may inspect cheaply (not traced, not lazy).

    Eager JAX arrays are concrete; JAX tracers (under ``jit``, ``grad``,
    ``vmap``) and Dask arrays are not.
    """
    if _compat.is_jax_array(x):
        return not isinstance(x, sys.modules["jax"].core.Tracer)
    return not is_lazy_array(x)


def float_dtype(xp, *arrays):
    """Floating dtype of a formula's result.

    The promoted floating dtype of the floating inputs; integer and boolean
    inputs contribute nothing, and when no input is floating the namespace's
    default floating dtype (on the first array's device) is used.
    """
    floats = [x.dtype for x in arrays if _is_array(x) and xp.isdtype(x.dtype, "real floating")]
    if floats:
        return floats[0] if len(floats) == 1 else xp.result_type(*floats)
    arrs = [x for x in arrays if _is_array(x)]
    info = xp.__array_namespace_info__()
    if arrs:
        try:
            return info.default_dtypes(device=device_of(arrs[0]))["real floating"]
        except Exception:
            pass
    return info.default_dtypes()["real floating"]


_WIDEST = {}


def widest_float_dtype(xp, like=None):
    """The most precise real floating dtype ``xp`` offers on the device of ``like``.

    ``float64`` where the device supports it (not on JAX without x64, nor on
    array-api-strict's ``no_float64`` device), else ``float32``.  Meant for
    scalars that steer a computation (learning rates, bias corrections), so
    that they never limit its precision; cast the result to the data's dtype.
    """
    dev = None
    if _is_array(like):
        try:
            dev = device_of(like)
        except Exception:  # tracers: the default device decides
            dev = None
        if dev is not None and not _is_single_device(dev):
            dev = None
    info = xp.__array_namespace_info__()
    # Cached: ``dtypes()`` is slow on JAX.  The default float is in the key
    # because it follows JAX's x64 switch.
    key = (xp.__name__, dev, info.default_dtypes()["real floating"])
    try:
        return _WIDEST[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable device
        key = None
    try:
        dts = info.dtypes(kind="real floating", device=dev)
    except Exception:
        dts = info.dtypes(kind="real floating")
    out = dts.get("float64", dts.get("float32"))
    if key is not None:
        _WIDEST[key] = out
    return out


def as_float(x, xp, dtype):
    """``x`` (array or Python number) as an array of floating ``dtype``."""
    if _is_array(x):
        return x if x.dtype == dtype else xp.astype(x, dtype)
    return xp.asarray(x, dtype=dtype)


def scalar_like(value, like, xp):
    """0-d array holding ``value`` with the dtype and device of ``like``."""
    return xp.asarray(value, dtype=like.dtype, device=device_of(like))


# ---------------------------------------------------------------- validation
def _shape(x):
    return tuple(x.shape)


def check_same_shape(a, b, name_a, name_b):
    if _shape(a) != _shape(b):
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape; got {name_a}.shape={_shape(a)} "
            f"and {name_b}.shape={_shape(b)}"
        )


def check_ndim(x, name, ndims):
    """Raise unless ``x.ndim`` is one of ``ndims`` (an int or a tuple of ints)."""
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.ndim not in allowed:
        want = " or ".join(f"{n}-D" for n in allowed)
        raise ValueError(f"{name} must be {want}; got an array of shape {_shape(x)} ({x.ndim}-D)")


def check_nonempty(x, name):
    if any(s == 0 for s in x.shape):
        raise ValueError(f"{name} must not be empty; got an array of shape {_shape(x)}")


def check_labels(labels, num_classes, name, xp):
    """Integer class labels in ``[0, num_classes)``; values checked when concrete."""
    if not xp.isdtype(labels.dtype, "integral"):
        raise TypeError(f"{name} must hold integer class indices; got dtype {labels.dtype}")
    if is_concrete(labels) and size(labels):
        lo, hi = xp.min(labels), xp.max(labels)
        if bool(lo < 0) or bool(hi >= num_classes):
            raise ValueError(
                f"{name} must lie in [0, {num_classes}); got values in [{int(lo)}, {int(hi)}]"
            )


_REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}; got {reduction!r}")


def check_positive(value, name, *, strict=True):
    """``value > 0`` (``>= 0`` unless ``strict``): :func:`portable_ml._validate.check_real` (inf allowed)."""
    from ._validate import check_real

    check_real(value, name, low=0.0, low_open=strict, finite=False, arrays=True)


# ---------------------------------------------------------------- reductions
def reduce(values, reduction, xp):
    """Apply ``reduction`` to per-item losses: mean or sum over all, or none."""
    if reduction == "mean":
        return xp.mean(values)
    if reduction == "sum":
        return xp.sum(values)
    return values


def reduction_scale(values, reduction):
    """Factor that turns d(sum of items)/dx into d(reduced loss)/dx."""
    if reduction == "mean":
        n = size(values)
        return 1.0 / n if n else 0.0
    return 1.0
