"""Ground layer: the one vocabulary for validating arguments.

Every public function checks its options eagerly, at its boundary, with the
functions here, so that the same mistake gives the same kind of error
everywhere and the message always names the argument, what was expected and
what came:

==========================  ============================================  ==========
check                       accepts                                       raises
==========================  ============================================  ==========
:func:`check_int`           ``int``, NumPy integers, 0-d integer arrays   TypeError for ``bool``, floats
                            (anything with ``__index__``), within bounds  (also ``2.0``), strings;
                                                                          ValueError out of bounds
:func:`check_real`          ``int``/``float`` and NumPy scalars, finite,  TypeError for ``bool``,
                            within bounds (open or closed)                strings, ``None``, complex;
                                                                          ValueError for NaN, inf,
                                                                          out of bounds
:func:`check_bool`          ``True``/``False`` (and NumPy bools)          TypeError otherwise
:func:`check_choice`        one of a fixed set of values                  ValueError otherwise
:func:`check_axis`          an axis (or tuple of axes) of an ``ndim``     TypeError/ValueError
:func:`check_shape`         a shape: an integer or a sequence of them     TypeError/ValueError
:func:`check_seed`          ``None``, an integer >= 0 (or a sequence),    TypeError/ValueError
                            a NumPy ``SeedSequence``/``Generator``
:func:`check_array`         an array of a supported library               TypeError (a list, ...)
:func:`check_values`        array values within bounds (concrete arrays)  ValueError
:func:`check_probabilities` array values in [0, 1] (concrete arrays)      ValueError
:func:`check_tree_like`     a pytree with another's structure, leaf       ValueError (structure,
                            shapes and backend                            shapes), TypeError (backend)
==========================  ============================================  ==========

Value checks of arrays (:func:`check_values`) run only on concrete arrays
(NumPy, CuPy, PyTorch, array-api-strict, eager JAX): traced JAX arrays and
lazy Dask arrays pass unchecked, so every function stays traceable.  NaN
passes value checks (it propagates to the result, as in NumPy).

Rule for non-arrays in array arguments: formulas take arrays only.  A
Python list (or tuple, string, ...) where an array is expected raises
``TypeError`` naming the argument and suggesting ``numpy.asarray`` or
``Backend.asarray`` -- formulas never guess a backend for plain data.  Only
real arrays of two different libraries raise the "cannot be mixed" error.
(The estimators in :mod:`portable_ml.models` accept array-likes, as
scikit-learn does; see :mod:`portable_ml.models._base`.)

Nothing here imports NumPy or an array library.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys

import array_api_compat as _compat

__all__ = [
    "SUPPORTED_ARRAYS",
    "is_array",
    "backend_label",
    "check_array",
    "namespace_error",
    "check_int",
    "check_real",
    "check_bool",
    "check_choice",
    "check_axis",
    "check_shape",
    "check_seed",
    "check_values",
    "check_probabilities",
    "check_tree_like",
]

SUPPORTED_ARRAYS = "NumPy, CuPy, JAX, PyTorch, Dask or array-api-strict"


# ------------------------------------------------------------------ arrays
def is_array(x):
    """True for an array of a supported library (not for Python or NumPy scalars)."""
    return x is not None and not isinstance(x, (numbers.Number, str)) and _compat.is_array_api_obj(x)


def backend_label(x):
    """Short name of the library of array ``x``: ``"numpy"``, ``"torch"``, ``"jax"``, ..."""
    while type(x).__module__ == "portable_ml.autodiff":  # a tracer: the library of the array it wraps
        x = x.value
    mod = type(x).__module__.split(".")[0]
    return {"jaxlib": "jax", "builtins": "Python"}.get(mod, mod)


def _type_name(x):
    return type(x).__name__


def _not_an_array(x, name):
    return TypeError(
        f"{name}: expected an array ({SUPPORTED_ARRAYS}); got {_type_name(x)} — "
        "wrap it with numpy.asarray or Backend.asarray"
    )


def check_array(x, name):
    """Raise ``TypeError`` unless ``x`` is an array of a supported library; returns ``x``."""
    if not is_array(x):
        raise _not_an_array(x, name)
    return x


def _argument_name(obj, skip=2, depth=4):
    """Name under which ``obj`` was passed to the nearest ``portable_ml`` function up the stack.

    Only used on the error path of :func:`namespace_error`, so that
    ``array_namespace(*arrays)`` (which receives no names) can still say
    which argument was not an array.  Returns ``None`` when not found.
    """
    try:
        frame = sys._getframe(skip)
    except ValueError:
        return None
    found = None
    for _ in range(depth):  # the outermost public function that received obj, else a private helper
        if frame is None:
            break
        module = frame.f_globals.get("__name__", "")
        if module.startswith("portable_ml") and module not in ("portable_ml._xp", __name__):
            code = frame.f_code
            n = code.co_argcount + code.co_kwonlyargcount
            var = next((v for v in code.co_varnames[:n] if frame.f_locals.get(v) is obj), None)
            if var is not None:
                found = f"{var} (argument of {code.co_name})"
                if not code.co_name.startswith("_"):
                    return found
        frame = frame.f_back
    return found


def namespace_error(xs):
    """The ``TypeError`` for arrays ``xs`` that have no common namespace.

    A non-array among them (a list, a tuple, an unsupported object) is
    reported as such, naming the argument; otherwise the arrays come from
    different libraries and the error lists them.
    """
    for i, x in enumerate(xs):
        if not is_array(x):
            return _not_an_array(x, _argument_name(x, skip=3) or f"argument {i + 1}")
    kinds = sorted({f"{backend_label(x)} ({_type_name(x)})" for x in xs})
    return TypeError(
        "arrays from different backends cannot be mixed: got " + ", ".join(kinds)
        + "; move them to one backend first with portable_ml.to_backend"
    )


# ------------------------------------------------------------------ scalars
def _is_bool(value):
    """Python and NumPy booleans (``numpy.bool_`` is not a ``bool`` subclass)."""
    return isinstance(value, bool) or (type(value).__name__ in ("bool_", "bool") and hasattr(value, "dtype"))


def _interval(low, high, low_open, high_open):
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"


def _bounds_text(low, high, low_open, high_open):
    if high is None and low is not None:
        return f"> {low:g}" if low_open else f">= {low:g}"
    if low is None and high is not None:
        return f"< {high:g}" if high_open else f"<= {high:g}"
    return "in " + _interval(low, high, low_open, high_open)


def _real_text(low, high, low_open, high_open, finite):
    """'positive and finite', 'non-negative', 'finite and in [0, 1)', ... for messages."""
    if low == 0 and high is None:
        bound = "positive" if low_open else "non-negative"
    elif (low, high) == (None, None):
        bound = None
    else:
        bound = _bounds_text(low, high, low_open, high_open)
    if finite:
        if bound is None:
            return "finite"
        return f"{bound} and finite" if low == 0 and high is None else f"finite and {bound}"
    return bound or "a number (not NaN)"


def check_int(value, name, *, low=None, high=None):
    """``value`` as a Python ``int``, checked to lie in ``[low, high]``.

    Accepts what Python accepts as an index (``int``, NumPy integers, 0-d
    integer arrays); rejects ``bool`` and every float, also ``2.0``
    (``TypeError``).
    """
    if _is_bool(value):
        raise TypeError(f"{name} must be an integer; got the bool {bool(value)!r}")
    try:
        out = operator.index(value)
    except TypeError:
        got = f"{_type_name(value)} {value!r}" if isinstance(value, numbers.Number) else _type_name(value)
        raise TypeError(f"{name} must be an integer; got {got}") from None
    if (low is not None and out < low) or (high is not None and out > high):
        raise ValueError(f"{name} must be an integer {_bounds_text(low, high, False, False)}; got {name}={out!r}")
    return out


def _check_array_scalar(value, name, low, high, low_open, high_open, finite):
    from ._xp import array_namespace, value_check

    xp = array_namespace(value)
    if not xp.isdtype(value.dtype, ("integral", "real floating")):
        raise TypeError(f"{name} must be a real number or an array of real numbers; got dtype {value.dtype}")
    if not math.prod(value.shape):
        return value
    bad = xp.isnan(value) if xp.isdtype(value.dtype, "real floating") else xp.zeros(value.shape, dtype=xp.bool)
    if finite and xp.isdtype(value.dtype, "real floating"):
        bad = bad | xp.isinf(value)
    if low is not None:
        bad = bad | ((value <= low) if low_open else (value < low))
    if high is not None:
        bad = bad | ((value >= high) if high_open else (value > high))
    value_check(~xp.any(bad), lambda: f"{name} must be {_real_text(low, high, low_open, high_open, finite)}; "
                f"got values in [{float(xp.min(value))}, {float(xp.max(value))}]")
    return value


def check_real(value, name, *, low=None, high=None, low_open=False, high_open=False, finite=True,
               arrays=False):
    """``value`` as a Python ``float``, checked: not NaN, finite (unless ``finite=False``), within bounds.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``.
    ``bool``, strings, ``None`` and complex numbers raise ``TypeError``.
    With ``arrays=True`` an array (e.g. a 0-d learning rate) is also
    accepted, returned unchanged and its values checked when concrete.
    """
    if _is_bool(value):
        raise TypeError(f"{name} must be a real number; got the bool {bool(value)!r}")
    if arrays and is_array(value):
        return _check_array_scalar(value, name, low, high, low_open, high_open, finite)
    if not isinstance(value, numbers.Real):
        want = "a real number or an array" if arrays else "a real number"
        got = repr(value) if isinstance(value, (str, complex)) else _type_name(value)
        raise TypeError(f"{name} must be {want}; got {got}")
    out = float(value)
    ok = not math.isnan(out) and (not finite or math.isfinite(out))
    if ok and low is not None:
        ok = out > low if low_open else out >= low
    if ok and high is not None:
        ok = out < high if high_open else out <= high
    if not ok:
        raise ValueError(f"{name} must be {_real_text(low, high, low_open, high_open, finite)}; "
                         f"got {name}={value!r}")
    return out


def check_bool(value, name):
    """``value`` as a Python ``bool``; anything but ``True``/``False`` raises ``TypeError``."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_choice(value, name, choices):
    """``value`` if it is one of ``choices`` (compared by type and value), else ``ValueError``."""
    for c in choices:
        if value is c or (type(value) is type(c) and value == c):
            return value
    raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {name}={value!r}")


def check_axis(axis, ndim, name="axis", *, allow_tuple=False, allow_none=False):
    """``axis`` normalised to ``[0, ndim)`` (a tuple of such for a tuple of axes).

    ``None`` passes when ``allow_none``; tuples (distinct axes) when
    ``allow_tuple``.  Non-integers raise ``TypeError``, out-of-range or
    repeated axes ``ValueError``.
    """
    if axis is None and allow_none:
        return None
    if allow_tuple and isinstance(axis, (tuple, list)):
        out = tuple(check_axis(a, ndim, name) for a in axis)
        if len(set(out)) != len(out):
            raise ValueError(f"{name} must not repeat an axis; got {name}={axis!r}")
        return out
    want = "an integer" + (" or a tuple of integers" if allow_tuple else "") + (" or None" if allow_none else "")
    if _is_bool(axis) or isinstance(axis, (float, str)) or axis is None:
        raise TypeError(f"{name} must be {want}; got {axis!r}")
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name} must be {want}; got {_type_name(axis)}") from None
    if not -ndim <= a < ndim:
        raise ValueError(f"{name}={a} is out of range for an array of {ndim} dimension{'s' * (ndim != 1)} "
                         f"(valid: {-ndim} to {ndim - 1})" if ndim else
                         f"{name}={a} is out of range for a 0-d array (it has no axes)")
    return a % ndim


def check_shape(shape, name="shape"):
    """``shape`` (an integer or a sequence of integers) as a tuple of non-negative ``int``."""
    if isinstance(shape, (str, bytes)) or _is_bool(shape):
        raise TypeError(f"{name} must be an integer or a tuple of integers; got {shape!r}")
    try:
        return (check_int(shape, name, low=0),)
    except TypeError:
        pass
    try:
        entries = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be an integer or a tuple of integers; got {_type_name(shape)}") from None
    out = []
    for s in entries:
        try:
            out.append(operator.index(s) if not _is_bool(s) else None)
        except TypeError:
            out.append(None)
        if out[-1] is None:
            raise TypeError(f"{name} must contain integers only; got {name}={shape!r}")
        if out[-1] < 0:
            raise ValueError(f"{name} must not contain negative sizes; got {name}={shape!r}")
    return tuple(out)


def check_seed(seed, name="seed"):
    """A random seed: ``None``, an integer ``>= 0``, a sequence of them, or a NumPy
    ``SeedSequence``/``Generator`` (passed through unchanged)."""
    if seed is None or hasattr(seed, "generate_state") or hasattr(seed, "bit_generator"):
        return seed
    if isinstance(seed, (list, tuple)):
        return [check_int(s, f"{name} entries", low=0) for s in seed]
    return check_int(seed, name, low=0)


# ------------------------------------------------------------------ array values
def check_values(x, name, xp, *, low=None, high=None, what=None):
    """Raise ``ValueError`` if a concrete array ``x`` has values outside ``[low, high]``.

    Values being traced, batched or compiled and lazy (Dask) arrays are not
    inspected (decided on the computed predicate); NaN passes.
    ``what`` describes the expected values in the message (default: the
    interval).
    """
    from ._xp import value_check

    if not math.prod(x.shape):
        return
    bad = None
    if low is not None:
        bad = x < low
    if high is not None:
        bad = (x > high) if bad is None else bad | (x > high)
    if bad is not None:
        want = what or _interval(low, high, False, False)
        value_check(~xp.any(bad), lambda: f"{name} must hold {want}; got values in [{float(xp.min(x))}, {float(xp.max(x))}]")


def check_probabilities(x, name, xp):
    """Concrete ``x`` must hold probabilities: values in ``[0, 1]`` (NaN passes)."""
    check_values(x, name, xp, low=0, high=1, what="probabilities in [0, 1]")


# ------------------------------------------------------------------ pytrees
def _leaf_path(tree, index):
    from .tree import tree_leaves_with_path

    try:
        path = tree_leaves_with_path(tree)[index][0]
    except Exception:
        return f"leaf {index}"
    return f"leaf {path!r}" if path else "the leaf"


def check_tree_like(tree, ref, name, ref_name, *, shapes=True):
    """Check that pytree ``tree`` matches ``ref``: structure, leaf backends, leaf shapes.

    Raises ``ValueError`` (different structure or leaf shape) or
    ``TypeError`` (a leaf from another array library than the matching
    leaf of ``ref``), naming the leaf by its path.  Leaves that are not
    arrays (Python numbers) are compared by structure only.
    """
    from .tree import tree_flatten

    leaves, treedef = tree_flatten(tree)
    ref_leaves, ref_def = tree_flatten(ref)
    if treedef != ref_def:
        raise ValueError(f"{name} must have the tree structure of {ref_name}; got {treedef} and {ref_def}")
    for i, (a, b) in enumerate(zip(leaves, ref_leaves)):
        if not (is_array(a) and is_array(b)):
            if is_array(b) and not isinstance(a, numbers.Number):
                raise _not_an_array(a, f"{name} {_leaf_path(tree, i)}")
            continue
        la, lb = backend_label(a), backend_label(b)
        if la != lb:
            raise TypeError(
                f"{name} {_leaf_path(tree, i)} is a {la} array ({_type_name(a)}), but the matching leaf of "
                f"{ref_name} is a {lb} array ({_type_name(b)}); move them to one backend first with "
                "portable_ml.to_backend"
            )
        if shapes and tuple(a.shape) != tuple(b.shape):
            raise ValueError(
                f"{name} {_leaf_path(tree, i)} has shape {tuple(a.shape)}, but the matching leaf of {ref_name} "
                f"has shape {tuple(b.shape)}"
            )
