"""Ground layer: namespace, device and dtype lookup, validation, reductions.

Every public formula starts by calling :func:`array_namespace` once on its
array arguments and passes ``xp`` down to private helpers.  Nothing here
imports NumPy or any array library at import time: the namespace always
comes from the inputs.  :func:`native` (from :mod:`portable_ml._kernels`)
hands formulas a backend's native elementwise kernels, so that formula
modules need not import them.
"""

from __future__ import annotations

import numbers
import sys

import array_api_compat as _compat
from array_api_compat import is_lazy_array, size  # noqa: F401  (re-export)

from ._kernels import kernel, native  # noqa: F401  (the backend layer's kernel table, re-exported)

__all__ = [
    "array_namespace",
    "device_of",
    "is_traced",
    "is_single_device",
    "is_concrete",
    "concrete_bool",
    "value_check",
    "size",
    "float_dtype",
    "widest_float_dtype",
    "as_float",
    "scalar_like",
    "check_same_shape",
    "check_ndim",
    "check_nonempty",
    "check_labels",
    "infer_num_classes",
    "check_class_elements",
    "MAX_INFERRED_CLASSES",
    "MAX_CLASS_ELEMENTS",
    "check_reduction",
    "check_positive",
    "reduce",
    "as_array0d",
    "reduction_scale",
    "kernel",
    "native",
    "clip",
]

_SCALARS = (numbers.Number, bool)
#: namespace of one array, by its type (array-api-compat decides by type alone)
_NAMESPACE_OF_TYPE = {}
#: array types whose arrays all live on one device (NumPy's): no device comparison needed
_ONE_DEVICE_TYPES = set()


def _is_array(x):
    if type(x) in _NAMESPACE_OF_TYPE:  # a known array type: skips the slow ABC check of numbers.Number
        return True
    return x is not None and not isinstance(x, (_SCALARS, str))


def _backend_label(x):
    mod = type(x).__module__.split(".")[0]
    return {"jaxlib": "jax", "array_api_strict": "array_api_strict"}.get(mod, mod)


def array_namespace(*arrays):
    """Array-API namespace of ``arrays`` (``None`` and Python scalars skipped).

    Fast path: the namespace is looked up once per array type and cached, so
    a call on arrays of one known type costs a dictionary lookup (plus, off
    NumPy, the device comparison).

    Raises
    ------
    TypeError
        If the arrays come from different array libraries, or none is an array.
    ValueError
        If the arrays live on different devices.
    """
    if len(arrays) == 1:
        xp = _NAMESPACE_OF_TYPE.get(type(arrays[0]))
        if xp is not None:
            return xp
    elif len(arrays) == 2 and type(arrays[0]) is type(arrays[1]) and type(arrays[0]) in _ONE_DEVICE_TYPES:
        return _NAMESPACE_OF_TYPE[type(arrays[0])]  # two arrays of one single-device type (NumPy): the common case
    elif arrays:
        t = type(arrays[0])
        xp = _NAMESPACE_OF_TYPE.get(t)
        if xp is not None and all(type(x) is t or x is None or not _is_array(x) for x in arrays[1:]):
            if t not in _ONE_DEVICE_TYPES:
                _check_same_device([x for x in arrays if _is_array(x)])
            return xp
    xs = [x for x in arrays if _is_array(x)]
    if not xs:
        raise TypeError("expected at least one array argument, got only Python scalars or None")
    if _TRACING is not None and any(isinstance(x, _TRACING[0]) for x in xs):
        return _TRACING[1](xs)  # arrays being differentiated by portable_ml.autodiff
    try:
        xp = _compat.array_namespace(*xs)
    except TypeError as exc:  # a non-array (list, ...) or two array libraries: say which
        from ._validate import namespace_error

        raise namespace_error(xs) from exc
    if len(xs) > 1:
        _check_same_device(xs)
    elif len(xs) == 1 and type(xs[0]) is type(arrays[0]):
        _NAMESPACE_OF_TYPE[type(xs[0])] = xp
        if _compat.is_numpy_namespace(xp):
            _ONE_DEVICE_TYPES.add(type(xs[0]))
            global _NDARRAY
            if type(xs[0]) is sys.modules["numpy"].ndarray:
                _NDARRAY = type(xs[0])
    return xp


#: ``(Tracer, namespace_of)``, set when :mod:`portable_ml.autodiff` is imported: the namespace of
#: arrays that include its tracers is its tracing namespace
_TRACING = None

_NDARRAY = None  # numpy.ndarray, once a formula has seen one (this module does not import NumPy)


def _is_ndarray(x):
    """``x`` is a plain NumPy ndarray (no subclass)."""
    return type(x) is _NDARRAY and _NDARRAY is not None


def clip(x, lo, hi, *, xp):
    """``xp.clip(x, lo, hi)`` for Python-number bounds.

    On a NumPy ndarray the ndarray method (array-api-compat's ``clip`` wrapper
    costs about ten times as much per call); the result is the same.
    """
    if _is_ndarray(x) and x.ndim and (lo is not None or hi is not None):
        if (lo is None or hi is None) and x.dtype.kind == "f" and type(lo if hi is None else hi) in (float, int):
            # one bound: the ufunc itself (``ndarray.clip`` costs a microsecond more a call); NaN propagates
            # as in clip, and a Python-number bound keeps the dtype of ``x``
            numpy = sys.modules["numpy"]
            return numpy.maximum(x, lo) if hi is None else numpy.minimum(x, hi)
        return x.clip(lo, hi)
    return xp.clip(x, lo, hi)


def _check_same_device(xs):
    first = None
    for x in xs:
        try:
            d = _compat.device(x)
        except Exception:  # tracers and sharded arrays: the backend checks itself
            return
        if d is None or not is_single_device(d):  # tracers report no device
            return
        if first is None:
            first = d
        elif d != first:
            raise ValueError(
                f"arrays live on different devices: {first!r} and {d!r}; "
                "move them to one device first with portable_ml.to_backend"
            )


def is_single_device(d):
    """Whether device ``d`` is one device (not a JAX ``Sharding`` over several, which JAX compares itself)."""
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
    if d is None or is_single_device(d):
        return d
    mesh = getattr(d, "mesh", None)
    if mesh is None or getattr(d, "is_fully_replicated", False):
        return d
    sharding = sys.modules["jax"].sharding
    return sharding.NamedSharding(mesh, sharding.PartitionSpec(), memory_kind=getattr(d, "memory_kind", None))


def _jax_tracer_type():
    jax = sys.modules.get("jax")
    core = getattr(jax, "core", None)
    return getattr(core, "Tracer", None)


def _torch_unreadable(x, torch):
    """A torch tensor whose values cannot be read now.

    Under ``torch.compile`` (Dynamo traces the function: a read is a graph
    break, or an error with ``fullgraph=True``), inside ``torch.func``
    transforms (``vmap``'s batched and ``grad``'s tracking wrappers refuse
    data-dependent control flow), and fake or meta tensors (no values).
    """
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and compiler.is_compiling():
        return True
    functorch = getattr(torch._C, "_functorch", None)
    if functorch is not None and functorch.is_functorch_wrapped_tensor(x):
        return True
    if x.device.type == "meta":
        return True
    fake = sys.modules.get("torch._subclasses.fake_tensor")
    return fake is not None and isinstance(x, fake.FakeTensor)


def is_traced(x):
    """True when ``x`` is a value being traced, batched or compiled (not lazy data).

    A JAX tracer (under ``jit``, ``grad``, ``vmap``, ``lax.scan`` ... --
    including a value computed inside ``jit`` from a concrete array the
    function closes over), or a torch tensor being compiled by
    ``torch.compile`` or transformed by ``torch.func``, or a fake/meta tensor.
    """
    tracer = _jax_tracer_type()
    if tracer is not None and isinstance(x, tracer):
        return True
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor) and _torch_unreadable(x, torch)


def is_concrete(x):
    """True when the values of ``x`` may be read on the host now, cheaply and legally.

    False for a traced value (:func:`is_traced`) and for a lazy (Dask)
    array; Python scalars and eager arrays (NumPy, CuPy, eager JAX and
    torch, array-api-strict) are concrete.

    Decide on the value that reaches a check (use :func:`concrete_bool` or
    :func:`value_check` on the computed predicate), not on an argument:
    inside a trace, an operation on a concrete argument is traced too.
    """
    if x is None or isinstance(x, _SCALARS):
        return True
    if _TRACING is not None and isinstance(x, _TRACING[0]):
        return is_concrete(x.value)  # an autodiff tracer: readable when the array it wraps is
    if is_traced(x):
        return False
    if _compat.is_jax_array(x) or _compat.is_torch_array(x):
        return True  # array-api-compat calls every JAX array lazy; eager ones are not
    return not is_lazy_array(x)


def concrete_bool(pred):
    """``bool(pred)`` when its value can be read now, else ``None`` (unknown).

    ``pred`` is a computed predicate (a Python bool or a 0-d boolean array,
    e.g. ``xp.all(y >= 0)``); ``None`` when it is traced, batched, being
    compiled or lazy (see :func:`is_concrete`), so that value checks are
    skipped exactly where reading it would break the caller's transform.
    """
    if isinstance(pred, bool):
        return pred
    return bool(pred) if is_concrete(pred) else None


def value_check(ok, message, error=ValueError):
    """Raise ``error(message)`` when the predicate ``ok`` is known to be false.

    ``ok`` is computed as an array (``xp.all(...)``) and read only when
    :func:`concrete_bool` can read it; a traced, batched, compiling or lazy
    predicate passes (the function computes on, as JAX itself does).
    ``message`` is a string or a callable returning one, called only on
    failure (so that it may read values, e.g. the offending minimum).
    """
    if concrete_bool(ok) is False:
        raise error(message() if callable(message) else message)


#: (namespace name, dtype) -> whether it is a real floating dtype
_REAL_FLOAT = {}


def _is_real_float(dtype, *, xp):
    """``xp.isdtype(dtype, "real floating")``, cached per namespace and dtype."""
    if dtype is None:
        return False
    try:
        key = (xp.__name__, dtype)
        return _REAL_FLOAT[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable dtype object
        return xp.isdtype(dtype, "real floating")
    try:
        ok = _REAL_FLOAT[key] = bool(xp.isdtype(dtype, "real floating"))
    except Exception:  # not a dtype of this namespace
        return False
    return ok


def float_dtype(xp, *arrays):
    """Floating dtype of a formula's result.

    The promoted floating dtype of the floating inputs; integer and boolean
    inputs contribute nothing, and when no input is floating the namespace's
    default floating dtype (on the first array's device) is used.
    """
    if len(arrays) <= 2 and type(arrays[0]) in _NAMESPACE_OF_TYPE:  # fast path: one dtype, real floating
        dt = arrays[0].dtype
        if (len(arrays) == 1 or (type(arrays[1]) is type(arrays[0]) and arrays[1].dtype == dt)) \
                and _is_real_float(dt, xp=xp):
            return dt
    floats = [x.dtype for x in arrays if _is_array(x) and _is_real_float(x.dtype, xp=xp)]
    if len(floats) == 2 and floats[0] == floats[1]:
        return floats[0]
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
        if dev is not None and not is_single_device(dev):
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


def as_float(x, xp, dtype, name=None):
    """``x`` (array or Python number) as an array of floating ``dtype``.

    Complex input raises ``TypeError`` (naming ``name``) instead of silently
    dropping its imaginary part.
    """
    if getattr(x, "dtype", None) == dtype and _is_array(x):  # fast path: already of the (real) dtype
        return x
    if _is_array(x) and hasattr(x, "dtype") and xp.isdtype(x.dtype, "complex floating"):
        raise TypeError(f"{name or 'the input'} must be a real (floating, integer or boolean) array; "
                        f"got complex dtype {x.dtype}; pass its real part or modulus explicitly")
    if isinstance(x, complex):
        raise TypeError(f"{name or 'the input'} must be a real number; got {x!r}")
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
    if 0 in x.shape:
        raise ValueError(f"{name} must not be empty; got an array of shape {_shape(x)}")


def check_labels(labels, num_classes, name, xp):
    """Integer class labels in ``[0, num_classes)``; values checked when concrete."""
    if not xp.isdtype(labels.dtype, "integral"):
        raise TypeError(f"{name} must hold integer class indices; got dtype {labels.dtype}")
    if size(labels):
        lo, hi = xp.min(labels), xp.max(labels)
        value_check(
            (lo >= 0) & (hi < num_classes),
            lambda: f"{name} must lie in [0, {num_classes}); got values in [{int(lo)}, {int(hi)}]",
        )


#: The largest class count inferred from labels as ``max(label) + 1`` when
#: ``num_classes`` is not given: class indices are meant to be compact, so a
#: larger label is taken for a mistake (a stray id, an unencoded label)
#: rather than allocating per-class arrays for it.  Pass ``num_classes=``
#: to go beyond.
MAX_INFERRED_CLASSES = 2**16

#: The largest number of elements of one array whose size a class count
#: sets (a (num_classes, num_classes) confusion matrix, (n_samples,
#: num_classes) one-hot encodings): 2**31 elements, 16 GiB in float64.
#: Beyond it a ``ValueError`` is raised before anything is allocated (JAX
#: aborts the process on a failed allocation; NumPy and torch raise raw
#: allocator errors).
MAX_CLASS_ELEMENTS = 2**31


def infer_num_classes(largest, name):
    """``largest + 1`` (at least 1) for labels whose largest value is ``largest`` (a host int).

    Raises ``ValueError`` naming ``name`` when it exceeds
    :data:`MAX_INFERRED_CLASSES`.
    """
    k = max(int(largest) + 1, 1)
    if k > MAX_INFERRED_CLASSES:
        raise ValueError(
            f"{name} holds the class index {int(largest)}: inferring num_classes={k} from the largest "
            f"label exceeds the limit of {MAX_INFERRED_CLASSES} classes; encode the labels as "
            "0..k-1, or pass num_classes= explicitly"
        )
    return k


_COMPACT = "class indices must be compact (0..k-1): check the labels and num_classes"


def check_class_elements(num_classes, shape, what, name="num_classes", hint=_COMPACT):
    """Refuse a class count that would make ``what`` (an array of ``shape``) too large.

    ``shape`` is the array's shape (Python ints); raises ``ValueError`` naming
    ``name`` (and ending with ``hint``) when it holds more than
    :data:`MAX_CLASS_ELEMENTS` elements.
    """
    n = 1
    for s in shape:
        if s is None or s != s:  # an unknown (Dask) length: nothing to bound yet
            return
        n *= int(s)
    if n > MAX_CLASS_ELEMENTS:
        raise ValueError(
            f"{name}={num_classes} would need {what} of shape {tuple(int(s) for s in shape)} "
            f"({n} elements, above the limit of {MAX_CLASS_ELEMENTS}); {hint}"
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
def as_array0d(x, xp):
    """``x`` as an array of ``xp``: a NumPy scalar (``np.float64``) becomes a 0-d array.

    NumPy's reductions, and its arithmetic on 0-d arrays, return scalars; the
    library's rule is that every result is an array of the input's backend
    (0-d for a reduction).  Every other namespace already returns 0-d arrays,
    and ``x`` is returned unchanged there.
    """
    if _compat.is_numpy_namespace(xp):
        return sys.modules["numpy"].asarray(x)  # no copy for an ndarray; not the compat wrapper (per-call cost)
    return x


def reduce(values, reduction, xp):
    """Apply ``reduction`` to per-item losses: mean or sum over all (a 0-d array), or none."""
    if reduction == "none":
        return values
    if _is_ndarray(values) and values.dtype.kind == "f" and values.dtype.itemsize in (4, 8) and values.size:
        # NumPy fast path: np.mean is this very pairwise sum divided by the count, without the wrappers
        numpy = sys.modules["numpy"]
        total = numpy.add.reduce(values, axis=None)
        return numpy.asarray(total / values.size if reduction == "mean" else total)
    if reduction == "mean":
        return as_array0d(xp.mean(values), xp)
    if reduction == "sum":
        return as_array0d(xp.sum(values), xp)
    return values


def reduction_scale(values, reduction):
    """Factor that turns d(sum of items)/dx into d(reduced loss)/dx."""
    if reduction == "mean":
        n = size(values)
        return 1.0 / n if n else 0.0
    return 1.0


# ---------------------------------------------------------------- elementwise
def sign(x, xp):
    """``sign(x)`` as NumPy defines it (-1, 0 or 1; NaN for NaN).

    The backend's own ``sign`` where :mod:`portable_ml._kernels` has it (NumPy, JAX: one pass), else
    :func:`_sign_where`.
    """
    return native("sign", _sign_where, x, xp=xp)


def _sign_where(x, *, xp):
    """:func:`sign` by two ``where``: it batches under ``torch.func.vmap``, where array-api-compat's torch
    ``sign`` writes through a boolean mask (a data-dependent shape), keeps NaN where ``torch.sign``
    returns 0, and uses only operations that autodiff's tracing namespace records."""
    one = xp.ones_like(x)
    return xp.where(x > 0, one, xp.where(x < 0, -one, x - x))

