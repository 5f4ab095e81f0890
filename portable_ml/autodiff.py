r"""Reverse-mode automatic differentiation over the Python array API.

``grad``, ``value_and_grad``, ``vjp`` and ``jacobian`` in the style of JAX,
for functions written against the array API standard and run on NumPy,
CuPy, PyTorch, array-api-strict or Dask.  On JAX they defer to ``jax.grad``
(``jax.value_and_grad``, ``jax.vjp``, ``jax.jacrev``), so the same user
code differentiates on every backend.

How it works
------------
Each differentiated argument (a pytree of arrays, :mod:`portable_ml.tree`) is
wrapped in a :class:`Tracer`: the real backend array plus a node of a tape.
A tracer's ``__array_namespace__`` (and :func:`portable_ml.backend.namespace`,
which every portable_ml formula calls) returns a *tracing namespace* that
offers the array API functions with a VJP rule; each call computes the
result on the real arrays with the backend's own namespace (so on the same
backend and device) and appends a node to the tape.  The backward pass walks
the tape in reverse creation order (a topological order), calling each
node's VJP rule -- again with the backend's namespace -- and summing the
cotangents of every input, reduced to the input's shape where it was
broadcast.

The VJP rules are written with array API operations, so when the arrays they
receive are tracers of an outer trace the backward pass is itself traced:
``grad(grad(f))`` works (second derivatives; see :func:`grad`).

Writing a differentiable function
---------------------------------
Find the namespace from the (traced) arguments and use only it::

    import portable_ml as pml

    def loss(w, X, y):
        xp = pml.namespace(w, X, y)      # or array_api_compat.array_namespace(w)
        r = X @ w - y
        return xp.mean(r * r) + 0.1 * xp.sum(xp.abs(w))

    g = pml.autodiff.grad(loss)(w, X, y)

Closed-over and non-differentiated arrays (``X``, ``y``) are constants.
Calling an array library directly (``numpy.exp(w)``) bypasses the trace; an
operation without a VJP rule raises ``NotImplementedError`` naming it, and an
in-place write (``w[0] = 1``) raises ``TypeError``.
"""

from __future__ import annotations

import math
import operator
import sys

from . import _gradlink, _xp
from . import tree as _tree
from ._xp import _compat

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "primitive", "custom_vjp", "defvjp", "supported_operations",
           "Tracer", "TracingNamespace"]


# ============================================================ traces and tracers
class _Trace:
    """One differentiation: a tape of nodes, and the namespace of its arrays."""

    _counter = 0

    __slots__ = ("level", "nodes", "base", "active", "ns", "numpy", "cls", "nested")

    def __init__(self, base):
        _Trace._counter += 1
        self.level = _Trace._counter  # later traces (inner ones) have higher levels
        self.nodes = []
        self.base = base
        self.active = True
        self.ns, self.numpy, self.cls = _namespace_info(base)
        # whether an operand of a recorded operation is a tracer of another (outer) trace: only then
        # may the backward pass compute on tracers (second derivatives); else it runs on ``base`` directly
        self.nested = False


_NAMESPACE_INFO = {}


def _namespace_info(base):
    """``(tracing namespace, is NumPy, tracer class)`` of ``base``, made once per namespace.

    The tracing namespace holds no reference to a trace (its functions find the
    trace from their operands), so every trace over ``base`` shares one, with
    the functions it has already looked up.
    """
    entry = _NAMESPACE_INFO.get(id(base))
    if entry is None or entry[0] is not base:
        entry = (base, TracingNamespace(base), _compat.is_numpy_namespace(base), _tracer_class(base))
        _NAMESPACE_INFO[id(base)] = entry
    return entry[1:]


class _Node:
    __slots__ = ("rule", "parents", "vals", "out", "kw")

    def __init__(self, rule, parents, vals, out, kw):
        self.rule = rule
        self.parents = parents
        self.vals = vals
        self.out = out
        self.kw = kw


class Tracer:
    """An array being differentiated: the backend array (``value``) and its tape node.

    Behaves as an array of the array API standard (operators, ``shape``,
    ``dtype``, ``device``, ``ndim``, ``T``, ``mT``, indexing); its
    ``__array_namespace__`` is the tracing namespace.  In-place writes raise
    ``TypeError``.
    """

    __slots__ = ()
    __array_ufunc__ = None  # NumPy defers ``ndarray + tracer`` to ``Tracer.__radd__``
    __array_priority__ = 1000

    def __init__(self, value, node, trace, fresh=False):
        self._value = value
        self._node = node
        self._trace = trace
        self._fresh = fresh  # a private copy (xp.asarray(x, copy=True)): may take x[idx] = v

    @property
    def value(self):
        """The wrapped backend array."""
        return self._value

    # -- metadata
    @property
    def shape(self):
        return tuple(self._value.shape)

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def size(self):
        return _compat.size(self._value)

    @property
    def device(self):
        return _compat.device(self._value)

    def __array_namespace__(self, *, api_version=None):
        return self._trace.ns

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __repr__(self):
        return f"Tracer({self._value!r})"

    # -- reading values (eager backends only; Dask computes, as it does itself)
    def __bool__(self):
        return bool(self._value)

    def __float__(self):
        return float(self._value)

    def __int__(self):
        return int(self._value)

    def __index__(self):
        return operator.index(self._value)

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "a traced array cannot be converted to a NumPy array inside autodiff.grad: call the array's "
            "namespace (xp = array_namespace(x); xp.exp(x)), not numpy, in the function being differentiated")

    # -- in-place writes
    def __setitem__(self, key, value):
        if not self._fresh:
            raise TypeError(
                "in-place writes (x[idx] = v) on a traced array are not differentiable: build a new array "
                "instead, with xp.where(mask, v, x) or array_api_extra.at(x, idx).set(v) (which copies "
                "x first; a copy, xp.asarray(x, copy=True), may be written)")
        new = _set(self, key, value)  # functional: this private copy now names the updated array
        self._value, self._node, self._trace = new._value, new._node, new._trace

    # -- indexing and transposes
    def __getitem__(self, key):
        return _getitem(self, key)

    @property
    def T(self):
        if self.ndim != 2:
            raise ValueError(f"x.T is defined for 2-D arrays (use x.mT or permute_dims); got {self.ndim}-D")
        return _apply(_RULES["permute_dims"], (self,), {"axes": (1, 0)})

    @property
    def mT(self):
        return _apply(_RULES["matrix_transpose"], (self,), {})

    # -- arithmetic (forward through the values' own operators: Python scalars stay weakly typed)
    def __neg__(self):
        return _apply(_RULES["negative"], (self,), {})

    def __pos__(self):
        return self

    def __abs__(self):
        return _apply(_RULES["abs"], (self,), {})

    def __add__(self, other):
        if self._node.rule is _MATMUL:  # h @ W + b: one node (see _matmul_add)
            out = _matmul_add(self, other)
            if out is not None:
                return out
        return _apply(_RULES["add"], (self, other), {})

    def __radd__(self, other):
        return _apply(_RULES["add"], (other, self), {})

    def __sub__(self, other):
        return _apply(_RULES["subtract"], (self, other), {})

    def __rsub__(self, other):
        return _apply(_RULES["subtract"], (other, self), {})

    def __mul__(self, other):
        return _apply(_RULES["multiply"], (self, other), {})

    def __rmul__(self, other):
        return _apply(_RULES["multiply"], (other, self), {})

    def __truediv__(self, other):
        return _apply(_RULES["divide"], (self, other), {})

    def __rtruediv__(self, other):
        return _apply(_RULES["divide"], (other, self), {})

    def __pow__(self, other):
        return _apply(_RULES["pow"], (self, other), {})

    def __rpow__(self, other):
        return _apply(_RULES["pow"], (other, self), {})

    def __matmul__(self, other):
        return _apply(_RULES["matmul"], (self, other), {})

    def __rmatmul__(self, other):
        return _apply(_RULES["matmul"], (other, self), {})

    def __floordiv__(self, other):
        return _apply(_RULES["floor_divide"], (self, other), {})

    def __rfloordiv__(self, other):
        return _apply(_RULES["floor_divide"], (other, self), {})

    def __mod__(self, other):
        return _apply(_RULES["remainder"], (self, other), {})

    def __rmod__(self, other):
        return _apply(_RULES["remainder"], (other, self), {})

    # -- comparisons and logic: not differentiable, plain backend arrays come out
    def __lt__(self, other):
        return _apply(_RULES["less"], (self, other), {})

    def __le__(self, other):
        return _apply(_RULES["less_equal"], (self, other), {})

    def __gt__(self, other):
        return _apply(_RULES["greater"], (self, other), {})

    def __ge__(self, other):
        return _apply(_RULES["greater_equal"], (self, other), {})

    def __eq__(self, other):
        return _apply(_RULES["equal"], (self, other), {})

    def __ne__(self, other):
        return _apply(_RULES["not_equal"], (self, other), {})

    __hash__ = object.__hash__


class _Tracer(Tracer):
    __slots__ = ("_value", "_node", "_trace", "_fresh")


_TRACER_CLASSES = {}


def _new_strict(cls, *args):
    return object.__new__(cls)  # array_api_strict's Array.__new__ refuses to be called


def _tracer_class(base):
    """The tracer class for arrays of namespace ``base``.

    On array-api-strict a subclass of its ``Array``: its operators refuse any
    other right operand, but Python tries a subclass's reflected operator
    first, so ``constant * tracer`` reaches ``Tracer.__rmul__``.
    """
    if not _compat.is_array_api_strict_namespace(base):
        return _Tracer
    cls = _TRACER_CLASSES.get("array_api_strict")
    if cls is None:
        array_type = type(base.asarray(0.0))
        cls = type("_StrictTracer", (Tracer, array_type), {"__slots__": ("_value", "_node", "_trace", "_fresh"),
                                                           "__new__": _new_strict})
        _TRACER_CLASSES["array_api_strict"] = cls
    return cls


def _strip(x):
    """The backend array under any tracers (for aux outputs and errors)."""
    while isinstance(x, Tracer):
        x = x._value
    return x


# ============================================================ rules
class _Rule:
    """An operation: ``fwd(xp, *vals, **kw)`` and ``vjp(xp, g, out, vals, need, **kw)``.

    ``vjp`` returns one cotangent (or ``None``) per positional operand; ``need``
    says which operands are being differentiated.  A rule without ``vjp``
    is not differentiable: its result is a constant (comparisons, ``argmax``,
    ``floor``, new arrays).
    """

    __slots__ = ("name", "fwd", "vjp")

    def __init__(self, name, fwd, vjp=None):
        self.name = name
        self.fwd = fwd
        self.vjp = vjp


_RULES = {}


def defvjp(name, fwd, vjp=None):
    """Register operation ``name`` of the tracing namespace with its VJP rule.

    Parameters
    ----------
    name : str
        The operation's name in the tracing namespace (``"exp"``,
        ``"linalg.solve"``); a name already registered is replaced.
    fwd : callable
        ``fwd(xp, *operands, **options)``: the result, computed with ``xp``
        (the backend's namespace, or an outer trace's one).
    vjp : callable, optional
        ``vjp(xp, g, out, operands, need, **options)`` returning one
        cotangent per operand (``None`` where ``need[i]`` is false or the
        operand is not differentiable), each of the operand's shape or
        broadcastable to it (summed to it).  Written with ``xp`` only, it
        is itself differentiable (second derivatives).  Without ``vjp`` the
        operation is not differentiable (its result is a constant).
    """
    _RULES[name] = _Rule(name, fwd, vjp)


def supported_operations():
    """The names of the operations the tracing namespace differentiates (sorted)."""
    return sorted(n for n, r in _RULES.items() if r.vjp is not None and not n.startswith("_"))


def _top(args):
    """The innermost active tracer among ``args`` (``None`` when there is none)."""
    best = None
    for a in args:
        if isinstance(a, Tracer):
            if not a._trace.active:
                continue
            if best is None or a._trace.level > best._trace.level:
                best = a
    return best


def _ns_of(values, default):
    """Namespace to compute with on ``values``: the innermost tracer's, else ``default``."""
    t = _top(values)
    return t._trace.ns if t is not None else default


def _lower(a, trace):
    """``a`` as an operand below ``trace``: its value if it is a tracer of ``trace``; dead tracers stripped."""
    if isinstance(a, Tracer):
        if a._trace is trace:
            return a._value
        if not a._trace.active:
            return _lower(a._value, trace)
    return a


_FLOAT_DTYPES = {}


def _is_float(dtype, *, xp):
    key = (type(dtype), dtype)  # the type first: dtypes of two libraries are never compared
    try:
        return _FLOAT_DTYPES[key]
    except (KeyError, TypeError):
        pass
    try:
        ok = bool(xp.isdtype(dtype, "real floating"))
    except Exception:
        ok = False
    try:
        _FLOAT_DTYPES[key] = ok
    except TypeError:
        pass
    return ok


def _apply(rule, args, kw, base=None):
    """Run ``rule`` on ``args``: record a node when an operand is traced."""
    top = _top(args)
    if top is None:  # nothing traced: plain computation
        if base is None:
            base = _xp.array_namespace(*[_strip(a) for a in args if hasattr(a, "shape")])
        return rule.fwd(base, *[_strip(a) if isinstance(a, Tracer) else a for a in args], **kw)
    trace = top._trace
    # one pass over the operands: their values below this trace and their nodes on it
    vals, parents, other = [], [], False
    for a in args:
        if isinstance(a, Tracer):
            if a._trace is trace:
                vals.append(a._value)
                parents.append(a._node)
                continue
            a = _lower(a, trace)
            other = other or isinstance(a, Tracer)
        vals.append(a)
        parents.append(None)
    vals = tuple(vals)
    if other:  # an operand of an outer trace: compute on its namespace (and the backward pass too)
        xp = _top(vals)._trace.ns
        trace.nested = True
    else:
        xp = trace.base
    out = rule.fwd(xp, *vals, **kw)
    if isinstance(out, tuple):  # several outputs (linalg.eigh, svd, qr): one node, one projection each
        return _apply_multi(rule, args, vals, out, kw, trace)
    if isinstance(out, Tracer):  # computed on an outer trace's arrays (a closure in a custom rule)
        trace.nested = True
    elif trace.numpy:
        out = _xp.as_array0d(out, xp)
    if rule.vjp is None or not hasattr(out, "dtype") or not _is_float(out.dtype, xp=trace.base):
        return out
    node = _Node(rule, tuple(parents), vals, out, kw)
    trace.nodes.append(node)
    return trace.cls(out, node, trace)


class _Parts:
    """The cotangent of a node with several outputs: one array (or ``None``, a zero) per output."""

    __slots__ = ("parts",)

    def __init__(self, parts):
        self.parts = parts

    def __getitem__(self, i):
        return self.parts[i]

    def add(self, other):
        return _Parts(tuple(b if a is None else a if b is None else a + b for a, b in zip(self.parts, other.parts)))


def _project_vjp(xp, g, out, vals, need, index, n):
    parts = [None] * n
    parts[index] = g
    return (_Parts(tuple(parts)),)


_PROJECT = _Rule("_project", None, _project_vjp)


def _apply_multi(rule, args, vals, out, kw, trace):
    """``rule``'s tuple result ``out`` as tracers, each a projection of one node holding the whole tuple."""
    if rule.vjp is None:
        return out
    parents = tuple(a._node if isinstance(a, Tracer) and a._trace is trace else None for a in args)
    node = _Node(rule, parents, vals, tuple(out), kw)
    trace.nodes.append(node)
    if any(isinstance(o, Tracer) for o in out):
        trace.nested = True
    comps = []
    for i, o in enumerate(out):
        if hasattr(o, "dtype") and _is_float(o.dtype, xp=trace.base):
            proj = _Node(_PROJECT, (node,), (node.out,), o, {"index": i, "n": len(out)})
            trace.nodes.append(proj)
            o = trace.cls(o, proj, trace)
        comps.append(o)
    return type(out)(*comps) if hasattr(out, "_fields") else tuple(comps)


# ------------------------------------------------------------ helpers for rules
def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else ()


def _sum_to(c, shape, *, xp):
    """``c`` summed over the axes it was broadcast along, to ``shape``."""
    cs = _shape(c)
    shape = tuple(shape)
    if cs == shape:
        return c
    lead = len(cs) - len(shape)
    inner = tuple(lead + i for i, s in enumerate(shape) if s == 1 and cs[lead + i] != 1)
    if lead > 0 and not inner:  # broadcast along new leading axes only (a bias): one reduction, no reshape
        return xp.sum(c, axis=tuple(range(lead)))
    axes = tuple(range(lead)) + inner
    if axes:
        c = xp.sum(c, axis=axes, keepdims=True)
    if lead:
        c = xp.reshape(c, tuple(shape))
    return c


def _fit(c, v, *, xp):
    """Cotangent ``c`` for operand ``v``: summed to its shape, cast to its dtype."""
    if c.shape == v.shape and c.dtype == v.dtype:  # the common case
        return c
    c = _sum_to(c, _shape(v), xp=xp)
    if c.dtype != v.dtype:
        c = xp.astype(c, v.dtype)
    return c


def _const(value, like, *, xp):
    return xp.asarray(value, dtype=like.dtype, device=_compat.device(_strip(like)))


def _as_operand(x, like, *, xp):
    """A Python scalar operand as a 0-d array of ``like``'s dtype (for namespace functions)."""
    if hasattr(x, "shape"):
        return x
    return xp.asarray(x, dtype=like.dtype, device=_compat.device(_strip(like)))


def _mT(x, *, xp):
    n = x.ndim
    return xp.permute_dims(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim if ndim else 0 for a in axis))


def _expand_reduced(g, x_shape, axis, keepdims, *, xp):
    """A reduction's cotangent ``g`` reshaped with the reduced axes kept (size 1)."""
    if keepdims:
        return g
    axes = _norm_axes(axis, len(x_shape))
    shape = tuple(1 if i in axes else s for i, s in enumerate(x_shape))
    return xp.reshape(g, shape)


# ------------------------------------------------------------ elementwise unary
def _unary(name, deriv):
    """Elementwise ``name`` whose VJP is ``g * deriv(xp, x, out)``."""
    def fwd(xp, x):
        return getattr(xp, name)(x)

    def vjp(xp, g, out, vals, need):
        return (g * deriv(xp, vals[0], out),)

    defvjp(name, fwd, vjp)


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)

_unary("exp", lambda xp, x, y: y)
_unary("expm1", lambda xp, x, y: y + 1)
_unary("log", lambda xp, x, y: 1 / x)
_unary("log1p", lambda xp, x, y: 1 / (x + 1))
_unary("log2", lambda xp, x, y: 1 / (x * _LN2))
_unary("log10", lambda xp, x, y: 1 / (x * _LN10))
_unary("sqrt", lambda xp, x, y: 0.5 / y)
_unary("square", lambda xp, x, y: 2 * x)
_unary("sin", lambda xp, x, y: xp.cos(x))
_unary("cos", lambda xp, x, y: -xp.sin(x))
_unary("tan", lambda xp, x, y: 1 + y * y)
_unary("sinh", lambda xp, x, y: xp.cosh(x))
_unary("cosh", lambda xp, x, y: xp.sinh(x))
_unary("tanh", lambda xp, x, y: 1 - y * y)
_unary("asin", lambda xp, x, y: 1 / xp.sqrt(1 - x * x))
_unary("acos", lambda xp, x, y: -1 / xp.sqrt(1 - x * x))
_unary("atan", lambda xp, x, y: 1 / (1 + x * x))
_unary("asinh", lambda xp, x, y: 1 / xp.sqrt(x * x + 1))
_unary("acosh", lambda xp, x, y: 1 / xp.sqrt(x * x - 1))
_unary("atanh", lambda xp, x, y: 1 / (1 - x * x))
_unary("reciprocal", lambda xp, x, y: -(y * y))
defvjp("negative", lambda xp, x: -x, lambda xp, g, out, v, need: (-g,))
defvjp("positive", lambda xp, x: x, lambda xp, g, out, v, need: (g,))


def _abs_vjp(xp, g, out, vals, need):
    x = vals[0]
    zero = xp.zeros_like(g)
    return (xp.where(x > 0, g, xp.where(x < 0, -g, zero)),)  # sign(0) = 0, as JAX


defvjp("abs", lambda xp, x: abs(x), _abs_vjp)


# ------------------------------------------------------------ elementwise binary
def _binary(name, op, vjp):
    defvjp(name, op, vjp)


def _add_vjp(xp, g, out, vals, need):
    return g, g


def _sub_vjp(xp, g, out, vals, need):
    return g, (-g if need[1] else None)


def _mul_vjp(xp, g, out, vals, need):
    a, b = vals
    return (g * b if need[0] else None), (g * a if need[1] else None)


def _div_vjp(xp, g, out, vals, need):
    a, b = vals
    gb = g / b
    return gb, (-gb * out if need[1] else None)


def _pow_vjp(xp, g, out, vals, need):
    a, b = vals
    ga = gb = None
    if need[0]:
        if hasattr(b, "shape") or b != 2:
            ga = g * b * a ** (b - 1)
        else:
            ga = g * 2 * a
    if need[1]:
        if hasattr(a, "shape"):
            safe = xp.where(a == 0, xp.ones_like(a), a)
            gb = g * xp.log(safe) * out
            gb = xp.where(a == 0, xp.zeros_like(gb), gb)
        else:  # a Python base: d(a**b)/db = log(a) a**b (0 for a == 0, as JAX)
            gb = g * (math.log(a) if a > 0 else (0.0 if a == 0 else math.nan)) * out
    return ga, gb


def _fwd_op(op, fn_name):
    """Forward through the operator when an operand is a Python scalar, else ``xp.<fn_name>``."""
    def fwd(xp, a, b):
        return op(a, b)

    return fwd


def _choice_vjp(pick_first):
    def vjp(xp, g, out, vals, need):
        a, b = vals
        one, half, zero = (_const(v, g, xp=xp) for v in (1.0, 0.5, 0.0))
        wa = xp.where(pick_first(a, b), one, xp.where(a == b, half, zero))  # ties split evenly, as JAX
        return (g * wa if need[0] else None), (g * (1 - wa) if need[1] else None)

    return vjp


def _minmax_fwd(name):
    def fwd(xp, a, b):
        like = a if hasattr(a, "shape") else b
        return getattr(xp, name)(_as_operand(a, like, xp=xp), _as_operand(b, like, xp=xp))

    return fwd


def _logaddexp_vjp(xp, g, out, vals, need):
    a, b = vals
    return (g * xp.exp(a - out) if need[0] else None), (g * xp.exp(b - out) if need[1] else None)


def _atan2_vjp(xp, g, out, vals, need):
    y, x = vals
    d = x * x + y * y
    return (g * x / d if need[0] else None), (-g * y / d if need[1] else None)


def _hypot_vjp(xp, g, out, vals, need):
    a, b = vals
    return (g * a / out if need[0] else None), (g * b / out if need[1] else None)


def _remainder_vjp(xp, g, out, vals, need):
    a, b = vals
    return g, (-g * xp.floor(a / b) if need[1] else None)


_binary("add", _fwd_op(operator.add, "add"), _add_vjp)
_binary("subtract", _fwd_op(operator.sub, "subtract"), _sub_vjp)
_binary("multiply", _fwd_op(operator.mul, "multiply"), _mul_vjp)
_binary("divide", _fwd_op(operator.truediv, "divide"), _div_vjp)
_binary("pow", _fwd_op(operator.pow, "pow"), _pow_vjp)
_binary("remainder", _fwd_op(operator.mod, "remainder"), _remainder_vjp)
_binary("maximum", _minmax_fwd("maximum"), _choice_vjp(lambda a, b: a > b))
_binary("minimum", _minmax_fwd("minimum"), _choice_vjp(lambda a, b: a < b))
_binary("logaddexp", _minmax_fwd("logaddexp"), _logaddexp_vjp)
_binary("atan2", _minmax_fwd("atan2"), _atan2_vjp)
_binary("hypot", _minmax_fwd("hypot"), _hypot_vjp)
defvjp("floor_divide", _fwd_op(operator.floordiv, "floor_divide"))

# comparisons: constants
for _name, _op in (("less", operator.lt), ("less_equal", operator.le), ("greater", operator.gt),
                   ("greater_equal", operator.ge), ("equal", operator.eq), ("not_equal", operator.ne)):
    defvjp(_name, (lambda op: lambda xp, a, b: op(a, b))(_op))


def _where_fwd(xp, cond, a, b):
    like = a if hasattr(a, "shape") else b
    return xp.where(cond, _as_operand(a, like, xp=xp), _as_operand(b, like, xp=xp))


def _where_vjp(xp, g, out, vals, need):
    cond = vals[0]
    zero = xp.zeros_like(g)
    return None, (xp.where(cond, g, zero) if need[1] else None), (xp.where(cond, zero, g) if need[2] else None)


defvjp("where", _where_fwd, _where_vjp)


def _astype_vjp(xp, g, out, vals, need, dtype, copy=True, device=None):
    return (xp.astype(g, vals[0].dtype),)


def _astype_fwd(xp, x, dtype, copy=True, device=None):
    kw = {} if device is None else {"device": device}
    return xp.astype(x, dtype, copy=copy, **kw)


defvjp("astype", _astype_fwd, _astype_vjp)
defvjp("_identity", lambda xp, x: x, lambda xp, g, out, vals, need: (g,))


# ------------------------------------------------------------ reductions
def _sum_fwd(xp, x, axis=None, keepdims=False, dtype=None):
    kw = {} if dtype is None else {"dtype": dtype}
    return xp.sum(x, axis=axis, keepdims=keepdims, **kw)


def _sum_vjp(xp, g, out, vals, need, axis=None, keepdims=False, dtype=None):
    x = vals[0]
    return (xp.broadcast_to(_expand_reduced(g, _shape(x), axis, keepdims, xp=xp), _shape(x)),)


def _count(shape, axis):
    n = 1
    for a in _norm_axes(axis, len(shape)):
        n *= shape[a]
    return n


def _mean_vjp(xp, g, out, vals, need, axis=None, keepdims=False):
    x = vals[0]
    n = _count(_shape(x), axis)
    return (xp.broadcast_to(_expand_reduced(g, _shape(x), axis, keepdims, xp=xp) / n, _shape(x)),)


def _chooser_vjp(xp, g, out, vals, need, axis=None, keepdims=False):
    x = vals[0]
    ge = _expand_reduced(g, _shape(x), axis, keepdims, xp=xp)
    oe = _expand_reduced(out, _shape(x), axis, keepdims, xp=xp)
    hit = xp.astype(x == oe, g.dtype)
    count = xp.sum(hit, axis=_norm_axes(axis, x.ndim), keepdims=True)
    return (ge * hit / count,)  # ties share the cotangent evenly, as JAX


def _var_parts(x, axis, correction, *, xp):
    n = _count(_shape(x), axis)
    m = xp.mean(x, axis=_norm_axes(axis, x.ndim), keepdims=True)
    return (x - m), (n - correction)


def _var_vjp(xp, g, out, vals, need, axis=None, correction=0.0, keepdims=False):
    x = vals[0]
    d, dof = _var_parts(x, axis, correction, xp=xp)
    return (_expand_reduced(g, _shape(x), axis, keepdims, xp=xp) * (2 / dof) * d,)


def _std_vjp(xp, g, out, vals, need, axis=None, correction=0.0, keepdims=False):
    x = vals[0]
    d, dof = _var_parts(x, axis, correction, xp=xp)
    ge = _expand_reduced(g, _shape(x), axis, keepdims, xp=xp)
    oe = _expand_reduced(out, _shape(x), axis, keepdims, xp=xp)
    return (ge * d / (dof * oe),)


def _prod_vjp(xp, g, out, vals, need, axis=None, keepdims=False, dtype=None):
    x = vals[0]  # out / x: exact where x has no zeros (documented)
    ge = _expand_reduced(g, _shape(x), axis, keepdims, xp=xp)
    oe = _expand_reduced(out, _shape(x), axis, keepdims, xp=xp)
    return (ge * oe / x,)


def _kw_fwd(name):
    def fwd(xp, x, **kw):
        return getattr(xp, name)(x, **{k: v for k, v in kw.items() if v is not None or k == "axis"})

    return fwd


defvjp("sum", _sum_fwd, _sum_vjp)
defvjp("mean", _kw_fwd("mean"), _mean_vjp)
defvjp("max", _kw_fwd("max"), _chooser_vjp)
defvjp("min", _kw_fwd("min"), _chooser_vjp)
defvjp("var", _kw_fwd("var"), _var_vjp)
defvjp("std", _kw_fwd("std"), _std_vjp)
defvjp("prod", _kw_fwd("prod"), _prod_vjp)


def _cumsum_fwd(xp, x, axis=None, dtype=None, include_initial=False):
    if include_initial:
        raise NotImplementedError("autodiff: cumulative_sum(include_initial=True) has no VJP rule")
    if axis is None:
        axis = 0
    kw = {} if dtype is None else {"dtype": dtype}
    return xp.cumulative_sum(x, axis=axis, **kw)


def _cumsum_vjp(xp, g, out, vals, need, axis=None, dtype=None, include_initial=False):
    a = 0 if axis is None else axis
    return (xp.flip(xp.cumulative_sum(xp.flip(g, axis=a), axis=a), axis=a),)


defvjp("cumulative_sum", _cumsum_fwd, _cumsum_vjp)


# ------------------------------------------------------------ shapes
def _reshape_vjp(xp, g, out, vals, need, shape, **kw):
    return (xp.reshape(g, _shape(vals[0])),)


def _inverse_perm(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


def _permute_vjp(xp, g, out, vals, need, axes):
    n = vals[0].ndim
    return (xp.permute_dims(g, _inverse_perm(tuple(a % n for a in axes))),)


def _expand_dims_vjp(xp, g, out, vals, need, axis=0):
    return (xp.reshape(g, _shape(vals[0])),)


def _squeeze_vjp(xp, g, out, vals, need, axis):
    return (xp.reshape(g, _shape(vals[0])),)


def _broadcast_to_vjp(xp, g, out, vals, need, shape):
    return (g,)  # summed to the operand's shape by the backward pass


def _flip_vjp(xp, g, out, vals, need, axis=None):
    return (xp.flip(g, axis=axis),)


def _mT_fwd(xp, x):
    return _mT(x, xp=xp)


def _mT_vjp(xp, g, out, vals, need):
    return (_mT(g, xp=xp),)


defvjp("reshape", lambda xp, x, shape, **kw: xp.reshape(x, shape, **kw), _reshape_vjp)
defvjp("permute_dims", lambda xp, x, axes: xp.permute_dims(x, axes), _permute_vjp)
defvjp("expand_dims", lambda xp, x, axis=0: xp.expand_dims(x, axis=axis), _expand_dims_vjp)
defvjp("squeeze", lambda xp, x, axis: xp.squeeze(x, axis=axis), _squeeze_vjp)
defvjp("broadcast_to", lambda xp, x, shape: xp.broadcast_to(x, shape), _broadcast_to_vjp)
defvjp("flip", lambda xp, x, axis=None: xp.flip(x, axis=axis), _flip_vjp)
defvjp("matrix_transpose", _mT_fwd, _mT_vjp)


def _moveaxis_fwd(xp, x, source, destination):
    return xp.permute_dims(x, _moveaxis_perm(x.ndim, source, destination))


def _moveaxis_perm(n, source, destination):
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [s % n for s in src]
    dst = [d % n for d in dst]
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return tuple(order)


def _moveaxis_vjp(xp, g, out, vals, need, source, destination):
    return (xp.permute_dims(g, _inverse_perm(_moveaxis_perm(vals[0].ndim, source, destination))),)


defvjp("moveaxis", _moveaxis_fwd, _moveaxis_vjp)


def _tril_vjp(xp, g, out, vals, need, k=0):
    return (xp.tril(g, k=k),)


def _triu_vjp(xp, g, out, vals, need, k=0):
    return (xp.triu(g, k=k),)


defvjp("tril", lambda xp, x, k=0: xp.tril(x, k=k), _tril_vjp)
defvjp("triu", lambda xp, x, k=0: xp.triu(x, k=k), _triu_vjp)


def _concat_fwd(xp, *arrays, axis=0):
    like = next(a for a in arrays if hasattr(a, "shape"))
    return xp.concat([_as_operand(a, like, xp=xp) for a in arrays], axis=axis)


def _concat_vjp(xp, g, out, vals, need, axis=0):
    if axis is None:
        pieces, start = [], 0
        for v in vals:
            n = _count(_shape(v), None)
            pieces.append(xp.reshape(g[start:start + n], _shape(v)) if True else None)
            start += n
        return tuple(pieces)
    ax = axis % g.ndim
    pieces, start = [], 0
    for v, nd in zip(vals, need):
        n = _shape(v)[ax]
        if nd:
            idx = (slice(None),) * ax + (slice(start, start + n),) + (Ellipsis,)
            pieces.append(g[idx])
        else:
            pieces.append(None)
        start += n
    return tuple(pieces)


def _stack_fwd(xp, *arrays, axis=0):
    return xp.stack(list(arrays), axis=axis)


def _stack_vjp(xp, g, out, vals, need, axis=0):
    ax = axis % g.ndim
    return tuple((g[(slice(None),) * ax + (i,) + (Ellipsis,)] if nd else None) for i, nd in enumerate(need))


defvjp("concat", _concat_fwd, _concat_vjp)
defvjp("stack", _stack_fwd, _stack_vjp)


# ------------------------------------------------------------ gathers
def _one_hot(indices, n, like, *, xp):
    """``(indices[..., None] == arange(n))`` as ``like``'s dtype (duplicates accumulate when contracted)."""
    dev = _compat.device(_strip(like))
    ar = xp.arange(n, device=dev)
    idx = xp.where(indices < 0, indices + n, indices)
    return xp.astype(xp.expand_dims(idx, axis=-1) == xp.astype(ar, idx.dtype), like.dtype)


def _take_fwd(xp, x, indices, axis=None):
    if axis is None:
        if x.ndim != 1:
            raise ValueError("take: axis is required for arrays of more than one dimension")
        axis = 0
    return xp.take(x, indices, axis=axis)


def _take_vjp(xp, g, out, vals, need, axis=None):
    x, indices = vals
    ax = 0 if axis is None else axis % x.ndim
    n = _shape(x)[ax]
    oh = _one_hot(indices, n, g, xp=xp)  # (k, n)
    gm = _moveaxis_fwd(xp, g, ax, -1)  # (..., k)
    gx = xp.matmul(gm, oh)  # (..., n)
    return xp.permute_dims(gx, _inverse_perm(_moveaxis_perm(x.ndim, ax, -1))), None


def _take_along_fwd(xp, x, indices, axis=-1):
    return xp.take_along_axis(x, indices, axis=axis)


def _take_along_vjp(xp, g, out, vals, need, axis=-1):
    x, indices = vals
    ax = axis % x.ndim
    n = _shape(x)[ax]
    gm = _moveaxis_fwd(xp, g, ax, -1)  # (..., k)
    im = _moveaxis_fwd(xp, indices, ax, -1)
    oh = _one_hot(im, n, g, xp=xp)  # (..., k, n)
    gx = xp.sum(xp.expand_dims(gm, axis=-1) * oh, axis=-2)
    return xp.permute_dims(gx, _inverse_perm(_moveaxis_perm(x.ndim, ax, -1))), None


defvjp("take", _take_fwd, _take_vjp)
defvjp("take_along_axis", _take_along_fwd, _take_along_vjp)


def _normalize_key(key, ndim):
    """``key`` as a tuple of per-axis entries, ``Ellipsis`` expanded; ``None`` kept."""
    if not isinstance(key, tuple):
        key = (key,)
    n_ell = sum(k is Ellipsis for k in key)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis")
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (ndim - used))
        else:
            out.append(k)
    if n_ell == 0:
        out.extend([slice(None)] * (ndim - used))
    return tuple(out)


def _getitem_fwd(xp, x, key):
    return x[key]


def _getitem_vjp(xp, g, out, vals, need, key):
    """Scatter ``g`` back: padding for unit-step slices, a one-hot product for strided ones."""
    x = vals[0]
    shape = _shape(x)
    entries = _normalize_key(key, x.ndim)
    # bring g to one axis per axis of x: drop new axes (None), restore integer-indexed axes
    gshape, gi, axis = [], 0, 0
    for e in entries:
        if e is None:
            gi += 1
            continue
        if isinstance(e, slice):
            gshape.append(_shape(g)[gi])
            gi += 1
        else:
            gshape.append(1)
        axis += 1
    g = xp.reshape(g, tuple(gshape))
    axis = 0
    for e in entries:
        if e is None:
            continue
        n = shape[axis]
        if isinstance(e, slice):
            r = range(*e.indices(n))
            start, step, k = r.start, r.step, len(r)
        else:
            i = operator.index(e)
            i = i + n if i < 0 else i
            start, step, k = i, 1, 1
        if (step == 1 or k <= 1) and not (k == n and start == 0):
            g = _pad_axis(g, axis, start, n - start - k, xp=xp)
        elif step != 1 and k > 1:
            idx = xp.arange(start, start + step * k, step, device=_compat.device(_strip(g)))
            gm = _moveaxis_fwd(xp, g, axis, -1)
            gm = xp.matmul(gm, _one_hot(idx, n, g, xp=xp))
            g = xp.permute_dims(gm, _inverse_perm(_moveaxis_perm(x.ndim, axis, -1)))
        axis += 1
    return (g,)


def _pad_axis(g, axis, before, after, *, xp):
    parts = []
    shp = list(_shape(g))
    dev = _compat.device(_strip(g))
    if before:
        shp[axis] = before
        parts.append(xp.zeros(tuple(shp), dtype=g.dtype, device=dev))
    parts.append(g)
    if after:
        shp[axis] = after
        parts.append(xp.zeros(tuple(shp), dtype=g.dtype, device=dev))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=axis)


defvjp("_getitem", _getitem_fwd, _getitem_vjp)


def _is_basic(k):
    return k is None or k is Ellipsis or isinstance(k, (int, slice)) and not isinstance(k, bool)


def _getitem(x, key):
    entries = key if isinstance(key, tuple) else (key,)
    if all(_is_basic(k) for k in entries):
        return _apply(_RULES["_getitem"], (x,), {"key": key})
    arrays = [(i, k) for i, k in enumerate(entries) if hasattr(k, "shape")]
    if len(arrays) == 1 and all(_is_basic(k) for i, k in enumerate(entries) if i != arrays[0][0]):
        i, idx = arrays[0]
        idx = _strip(idx)
        xp = _xp.array_namespace(idx)
        others = [k for j, k in enumerate(entries) if j != i]
        if xp.isdtype(idx.dtype, "integral") \
                and all(isinstance(k, slice) and k == slice(None) for k in others):
            # x[:, :, idx] is take(x, idx, axis=i)
            return _apply(_RULES["take"], (x, idx), {"axis": i})
    raise NotImplementedError(
        f"autodiff: indexing a traced array with {key!r} has no VJP rule; supported: integers, slices, "
        "None, Ellipsis, and one integer array on one axis (take); boolean masks select a data-dependent "
        "shape: use xp.where(mask, x, 0) instead")


class _ShapeOnly:
    def __init__(self, shape):
        self.shape = tuple(shape)
        self.ndim = len(self.shape)


def _scatter_fwd(xp, v, key, shape):
    return _getitem_vjp(xp, v, None, (_ShapeOnly(shape),), (True,), key=key)[0]


def _scatter_vjp(xp, g, out, vals, need, key, shape):
    return (g[key],)


defvjp("_scatter", _scatter_fwd, _scatter_vjp)


def _set(x, key, value):
    """``x`` with ``x[key] = value``, as a new traced array (for a private copy's ``__setitem__``)."""
    xp = x._trace.ns
    base = x._trace.base
    raw = _strip(key)
    if hasattr(raw, "dtype") and base.isdtype(raw.dtype, "bool"):
        if _shape(raw) != x.shape:
            raise NotImplementedError("autodiff: a boolean-mask write needs a mask of the array's shape")
        v = value if hasattr(value, "shape") else _as_operand(value, x, xp=xp)
        if _shape(v) in ((), x.shape):
            return xp.where(raw, v, x)
        # x[mask] = values (one per True entry, in row-major order): place them by their flat positions
        flat_mask = base.reshape(raw, (-1,))
        n = _shape(flat_mask)[0]
        pos = base.nonzero(flat_mask)[0]
        placed = xp.matmul(xp.reshape(v, (-1,)), _one_hot(pos, n, _strip(x), xp=base))
        return xp.where(raw, xp.reshape(placed, x.shape), x)
    entries = key if isinstance(key, tuple) else (key,)
    if not all(_is_basic(k) for k in entries):
        raise NotImplementedError(f"autodiff: writing x[{key!r}] = v on a traced copy has no rule; supported: "
                                  "integers, slices, None, Ellipsis and boolean masks of x's shape")
    sub = _shape(_strip(x)[key])
    v = value if hasattr(value, "shape") else _as_operand(value, x, xp=xp)
    v = xp.broadcast_to(v, sub)
    dev = _compat.device(_strip(x))
    mask = _scatter_fwd(base, base.ones(sub, dtype=_strip(x).dtype, device=dev), key, x.shape) != 0
    placed = _apply(_RULES["_scatter"], (v,), {"key": key, "shape": x.shape}, base=base)
    return xp.where(mask, placed, x)


# ------------------------------------------------------------ products and linear algebra
def _matmul_fwd(xp, a, b):
    return xp.matmul(a, b)


def _matmul_vjp(xp, g, out, vals, need):
    a, b = vals
    if a.ndim >= 2 and b.ndim >= 2:
        ga = xp.matmul(g, b.T if b.ndim == 2 else _mT(b, xp=xp)) if need[0] else None
        gb = xp.matmul(a.T if a.ndim == 2 else _mT(a, xp=xp), g) if need[1] else None
        return ga, gb
    a2 = xp.expand_dims(a, axis=0) if a.ndim == 1 else a
    b2 = xp.expand_dims(b, axis=-1) if b.ndim == 1 else b
    batch = _broadcast_shapes(_shape(a2)[:-2], _shape(b2)[:-2])
    g2 = xp.reshape(g, batch + (_shape(a2)[-2], _shape(b2)[-1]))
    ga = gb = None
    if need[0]:
        ga = xp.reshape(_sum_to(xp.matmul(g2, _mT(b2, xp=xp)), _shape(a2), xp=xp), _shape(a))
    if need[1]:
        gb = xp.reshape(_sum_to(xp.matmul(_mT(a2, xp=xp), g2), _shape(b2), xp=xp), _shape(b))
    return ga, gb


def _broadcast_shapes(s1, s2):
    n = max(len(s1), len(s2))
    s1 = (1,) * (n - len(s1)) + tuple(s1)
    s2 = (1,) * (n - len(s2)) + tuple(s2)
    return tuple(max(p, q) if 1 in (p, q) else p for p, q in zip(s1, s2))


def _td_axes(axes, na, nb):
    if isinstance(axes, int):
        return list(range(na - axes, na)), list(range(axes))
    ax_a, ax_b = axes
    ax_a = [ax_a] if isinstance(ax_a, int) else list(ax_a)
    ax_b = [ax_b] if isinstance(ax_b, int) else list(ax_b)
    return [i % na for i in ax_a], [i % nb for i in ax_b]


def _tensordot_fwd(xp, a, b, axes=2):
    return xp.tensordot(a, b, axes=axes)


def _tensordot_vjp(xp, g, out, vals, need, axes=2):
    a, b = vals
    ax_a, ax_b = _td_axes(axes, a.ndim, b.ndim)
    a_free = [i for i in range(a.ndim) if i not in ax_a]
    b_free = [i for i in range(b.ndim) if i not in ax_b]
    na = len(a_free)
    ga = gb = None
    if need[0]:
        raw = xp.tensordot(g, b, axes=(list(range(na, g.ndim)), b_free))
        order = a_free + [ax_a[j] for j in sorted(range(len(ax_b)), key=lambda j: ax_b[j])]
        ga = xp.permute_dims(raw, _inverse_perm(order))
    if need[1]:
        raw = xp.tensordot(a, g, axes=(a_free, list(range(na))))
        order = [ax_b[j] for j in sorted(range(len(ax_a)), key=lambda j: ax_a[j])] + b_free
        gb = xp.permute_dims(raw, _inverse_perm(order))
    return ga, gb


def _vecdot_fwd(xp, a, b, axis=-1):
    return xp.vecdot(a, b, axis=axis)


def _vecdot_vjp(xp, g, out, vals, need, axis=-1):
    a, b = vals
    ge = xp.expand_dims(g, axis=axis if axis < 0 else axis)
    return (ge * b if need[0] else None), (ge * a if need[1] else None)


defvjp("matmul", _matmul_fwd, _matmul_vjp)
_MATMUL = _RULES["matmul"]


def _matmul_add_fwd(xp, a, W, b):
    return xp.matmul(a, W) + b


def _matmul_add_vjp(xp, g, out, vals, need):
    a, W, _ = vals
    return (xp.matmul(g, W.T) if need[0] else None, xp.matmul(a.T, g) if need[1] else None,
            xp.sum(g, axis=0) if need[2] else None)


defvjp("_matmul_add", _matmul_add_fwd, _matmul_add_vjp)
_MATMUL_ADD = _RULES["_matmul_add"]


def _matmul_add(m, b):
    """``m + b`` as one node ``a @ W + b`` when ``m = a @ W`` (2-D) is the newest node and ``b`` a bias.

    The layer's backward pass is then one rule (two products and the bias's
    column sum) instead of an addition, its broadcast cotangent summed to
    the bias, and the product.  ``None`` when the pattern does not apply (the
    caller records a plain addition).  The product's own node stays on the
    tape: a cotangent reaches it only if ``m`` is used elsewhere too.
    """
    trace = m._trace
    node = m._node
    if not trace.active or not trace.nodes or trace.nodes[-1] is not node:
        return None
    if isinstance(b, Tracer):
        if b._trace is not trace:
            return None
        bval, bnode = b._value, b._node
    elif hasattr(b, "shape") and hasattr(b, "dtype"):
        bval, bnode = b, None
    else:
        return None
    a, W = node.vals
    out = node.out
    if (getattr(a, "ndim", 0) != 2 or W.ndim != 2 or bval.ndim != 1 or _shape(bval) != _shape(out)[1:]
            or bval.dtype != out.dtype or isinstance(bval, Tracer)):
        return None
    new = _Node(_MATMUL_ADD, (node.parents[0], node.parents[1], bnode), (a, W, bval), out + bval, {})
    trace.nodes.append(new)
    return trace.cls(new.out, new, trace)
defvjp("tensordot", _tensordot_fwd, _tensordot_vjp)
defvjp("vecdot", _vecdot_fwd, _vecdot_vjp)


def _outer_vjp(xp, g, out, vals, need):
    a, b = vals
    return (xp.matmul(g, b) if need[0] else None), (xp.matmul(a, g) if need[1] else None)


defvjp("linalg.outer", lambda xp, a, b: xp.linalg.outer(a, b), _outer_vjp)


def _solve_vjp(xp, g, out, vals, need):
    a, b = vals
    vector = b.ndim == 1
    gb = xp.linalg.solve(_mT(a, xp=xp), g)
    ga = None
    if need[0]:
        if vector:
            ga = -xp.linalg.outer(gb, out)
        else:
            ga = -xp.matmul(gb, _mT(out, xp=xp))
    return ga, (gb if need[1] else None)


def _cholesky_vjp(xp, g, out, vals, need, upper=False):
    if upper:
        raise NotImplementedError("autodiff: linalg.cholesky(upper=True) has no VJP rule")
    L = out
    if _compat.is_dask_array(_strip(out)):  # array-api-compat 1.16 hands back Dask's upper factor L^T
        L, g = _mT(out, xp=xp), _mT(g, xp=xp)
    n = _shape(L)[-1]
    eye = xp.eye(n, dtype=L.dtype, device=_compat.device(_strip(L)))
    phi = xp.tril(xp.matmul(_mT(L, xp=xp), g)) * (1 - 0.5 * eye)  # tril, diagonal halved
    lt = _mT(L, xp=xp)
    x = xp.linalg.solve(lt, phi)  # L^-T phi
    s = _mT(xp.linalg.solve(lt, _mT(x, xp=xp)), xp=xp)  # L^-T phi L^-1
    return (0.5 * (s + _mT(s, xp=xp)),)


def _inv_vjp(xp, g, out, vals, need):
    it = _mT(out, xp=xp)
    return (-xp.matmul(xp.matmul(it, g), it),)


def _det_vjp(xp, g, out, vals, need):
    a = vals[0]
    ge = xp.expand_dims(xp.expand_dims(g * out, axis=-1), axis=-1)
    return (ge * _mT(xp.linalg.inv(a), xp=xp),)


def _vector_norm_fwd(xp, x, axis=None, keepdims=False, ord=2):
    return xp.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)


def _vector_norm_vjp(xp, g, out, vals, need, axis=None, keepdims=False, ord=2):
    if ord != 2:
        raise NotImplementedError(f"autodiff: linalg.vector_norm(ord={ord!r}) has no VJP rule (ord=2 has)")
    x = vals[0]
    ge = _expand_reduced(g, _shape(x), axis, keepdims, xp=xp)
    oe = _expand_reduced(out, _shape(x), axis, keepdims, xp=xp)
    return (ge * x / oe,)


def _diagonal_vjp(xp, g, out, vals, need, offset=0):
    if offset != 0:
        raise NotImplementedError("autodiff: linalg.diagonal(offset != 0) has no VJP rule")
    n = _shape(vals[0])[-1]
    eye = xp.eye(n, dtype=g.dtype, device=_compat.device(_strip(g)))
    return (xp.expand_dims(g, axis=-1) * eye,)


def _trace_vjp(xp, g, out, vals, need, offset=0, dtype=None):
    if offset != 0:
        raise NotImplementedError("autodiff: linalg.trace(offset != 0) has no VJP rule")
    n = _shape(vals[0])[-1]
    eye = xp.eye(n, dtype=g.dtype, device=_compat.device(_strip(g)))
    return (xp.expand_dims(xp.expand_dims(g, axis=-1), axis=-1) * eye,)


defvjp("linalg.diagonal", lambda xp, a, offset=0: xp.linalg.diagonal(a, offset=offset), _diagonal_vjp)
defvjp("linalg.trace", lambda xp, a, offset=0, dtype=None: xp.linalg.trace(a, offset=offset, dtype=dtype),
       _trace_vjp)
defvjp("linalg.solve", lambda xp, a, b: xp.linalg.solve(a, b), _solve_vjp)
defvjp("linalg.cholesky", lambda xp, a, upper=False: xp.linalg.cholesky(a, upper=upper), _cholesky_vjp)
defvjp("linalg.inv", lambda xp, a: xp.linalg.inv(a), _inv_vjp)
defvjp("linalg.det", lambda xp, a: xp.linalg.det(a), _det_vjp)
defvjp("linalg.vector_norm", _vector_norm_fwd, _vector_norm_vjp)
defvjp("linalg.matmul", _matmul_fwd, _matmul_vjp)
defvjp("linalg.tensordot", _tensordot_fwd, _tensordot_vjp)
defvjp("linalg.vecdot", _vecdot_fwd, _vecdot_vjp)
defvjp("linalg.matrix_transpose", _mT_fwd, _mT_vjp)


# ------------------------------------------------------------ sorting and decompositions
def _sort_fwd(xp, x, axis=-1, descending=False, stable=True):
    return xp.sort(x, axis=axis, descending=descending, stable=stable)


def _sort_vjp(xp, g, out, vals, need, axis=-1, descending=False, stable=True):
    """Each cotangent goes back to the position its element came from (ties: in a stable order, as JAX)."""
    x = vals[0]
    idx = xp.argsort(x, axis=axis, descending=descending, stable=True)  # sort(x) = take_along_axis(x, idx)
    if hasattr(xp, "take_along_axis"):
        inv = xp.argsort(idx, axis=axis, stable=True)
        return (xp.take_along_axis(g, inv, axis=axis),)
    return (_take_along_vjp(xp, g, None, (x, idx), (True, False), axis=axis)[0],)


defvjp("sort", _sort_fwd, _sort_vjp)


def _eye(n, like, *, xp):
    return xp.eye(n, dtype=like.dtype, device=_compat.device(_strip(like)))


def _diag_embed(v, *, xp):
    """``(..., n) -> (..., n, n)`` with ``v`` on the diagonal."""
    return xp.expand_dims(v, axis=-1) * _eye(_shape(v)[-1], v, xp=xp)


def _eigh_vjp(xp, g, out, vals, need):
    r"""``A = U diag(w) U^T``: :math:`\bar A = U (\mathrm{diag}(\bar w) + F \circ U^T \bar U) U^T`, symmetrized.

    :math:`F_{ij} = 1/(w_j - w_i)` off the diagonal, 0 on it (infinite for
    repeated eigenvalues, as JAX); the result is symmetrized as JAX's (which
    symmetrizes its input): the gradient over symmetric matrices.
    """
    w, U = out
    gw, gU = g[0], g[1]
    Ut = _mT(U, xp=xp)
    inner = None
    if gU is not None:
        eye = _eye(_shape(w)[-1], w, xp=xp)
        d = xp.expand_dims(w, axis=-2) - xp.expand_dims(w, axis=-1)  # d[i, j] = w_j - w_i
        inner = (1 - eye) / (d + eye) * xp.matmul(Ut, gU)
    if gw is not None:
        inner = _diag_embed(gw, xp=xp) if inner is None else inner + _diag_embed(gw, xp=xp)
    a = xp.matmul(xp.matmul(U, inner), Ut)
    return (0.5 * (a + _mT(a, xp=xp)),)


def _eigvalsh_vjp(xp, g, out, vals, need):
    _, U = xp.linalg.eigh(vals[0])
    return (xp.matmul(U * xp.expand_dims(g, axis=-2), _mT(U, xp=xp)),)


def _svd_fwd(xp, x, full_matrices=True):
    return xp.linalg.svd(x, full_matrices=full_matrices)


def _svd_vjp(xp, g, out, vals, need, full_matrices=True):
    r"""``A = U diag(s) V^T`` (thin): :math:`\bar A = U [\mathrm{diag}(\bar s) + (J + J^T) S + S (K + K^T)] V^T`
    plus the parts outside the span of ``U`` (``m > n``) or ``V`` (``n > m``).

    :math:`J = F \circ U^T \bar U`, :math:`K = F \circ V^T \bar V`,
    :math:`F_{ij} = 1/(s_j^2 - s_i^2)` off the diagonal (infinite for
    repeated singular values, as JAX); :math:`+ (I - UU^T)\bar U S^{-1} V^T`
    and :math:`+ U S^{-1} \bar V^T (I - VV^T)`.
    """
    x = vals[0]
    U, s, Vh = out
    gU, gs, gVh = g[0], g[1], g[2]
    m, n = _shape(x)[-2:]
    k = min(m, n)
    if full_matrices and m != n:
        if gU is not None or gVh is not None:
            raise NotImplementedError(
                "autodiff: linalg.svd(full_matrices=True) of a non-square matrix has no VJP rule for U and Vh "
                "(their extra columns are not unique); use full_matrices=False")
        U, Vh = U[..., :, :k], Vh[..., :k, :]
    sr, sc = xp.expand_dims(s, axis=-2), xp.expand_dims(s, axis=-1)  # s_j along a row, s_i down a column
    inner = None if gs is None else _diag_embed(gs, xp=xp)
    if gU is not None or gVh is not None:
        eye = _eye(k, s, xp=xp)
        F = (1 - eye) / ((sr - sc) * (sr + sc) + eye)
    if gU is not None:
        J = F * xp.matmul(_mT(U, xp=xp), gU)
        t = (J + _mT(J, xp=xp)) * sr
        inner = t if inner is None else inner + t
    if gVh is not None:
        K = F * xp.matmul(Vh, _mT(gVh, xp=xp))
        t = sc * (K + _mT(K, xp=xp))
        inner = t if inner is None else inner + t
    a = xp.matmul(xp.matmul(U, inner), Vh)
    if gU is not None and m > n:
        a = a + xp.matmul((gU - xp.matmul(U, xp.matmul(_mT(U, xp=xp), gU))) / sr, Vh)
    if gVh is not None and n > m:
        a = a + xp.matmul(U, (gVh - xp.matmul(xp.matmul(gVh, _mT(Vh, xp=xp)), Vh)) / sc)
    return (a,)


def _svdvals_vjp(xp, g, out, vals, need):
    U, _, Vh = xp.linalg.svd(vals[0], full_matrices=False)
    return (xp.matmul(U * xp.expand_dims(g, axis=-2), Vh),)


def _qr_fwd(xp, x, mode="reduced"):
    return xp.linalg.qr(x, mode=mode)


def _qr_vjp(xp, g, out, vals, need, mode="reduced"):
    r"""``A = QR`` (``m >= n``): :math:`\bar A = (\bar Q + Q\,\mathrm{copyltu}(M)) R^{-T}`,
    :math:`M = R \bar R^T - \bar Q^T Q`, ``copyltu`` the symmetric matrix of ``M``'s lower triangle."""
    x = vals[0]
    Q, R = out
    gQ, gR = g[0], g[1]
    m, n = _shape(x)[-2:]
    if m < n or (mode == "complete" and m != n):
        raise NotImplementedError(
            f"autodiff: linalg.qr of a {m}x{n} matrix (mode={mode!r}) has no VJP rule: it needs rows >= columns "
            "(and mode='reduced' unless square), as jax.grad")
    M = None
    if gR is not None:
        M = xp.matmul(R, _mT(gR, xp=xp))
    if gQ is not None:
        t = xp.matmul(_mT(gQ, xp=xp), Q)
        M = -t if M is None else M - t
    b = xp.matmul(Q, xp.tril(M) + _mT(xp.tril(M, k=-1), xp=xp))
    if gQ is not None:
        b = b + gQ
    return (_mT(xp.linalg.solve(R, _mT(b, xp=xp)), xp=xp),)  # b R^{-T}


defvjp("linalg.eigh", lambda xp, a: xp.linalg.eigh(a), _eigh_vjp)
defvjp("linalg.eigvalsh", lambda xp, a: xp.linalg.eigvalsh(a), _eigvalsh_vjp)
defvjp("linalg.svd", _svd_fwd, _svd_vjp)
defvjp("linalg.svdvals", lambda xp, a: xp.linalg.svdvals(a), _svdvals_vjp)
defvjp("linalg.qr", _qr_fwd, _qr_vjp)


# ============================================================ the tracing namespace
#: operations whose results never depend differentiably on their operands: computed on the values
_CONSTANT_OPS = frozenset({
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_invert", "bitwise_left_shift", "bitwise_right_shift",
    "isnan", "isinf", "isfinite", "signbit", "sign", "floor", "ceil", "round", "trunc", "floor_divide",
    "argmax", "argmin", "argsort", "nonzero", "searchsorted", "count_nonzero", "all", "any",
    "unique_all", "unique_counts", "unique_inverse", "unique_values",
    "zeros_like", "ones_like", "empty_like", "full_like", "zeros", "ones", "empty", "full", "arange",
    "linspace", "eye", "meshgrid", "tril_indices", "triu_indices",
    "isdtype", "result_type", "can_cast", "finfo", "iinfo", "from_dlpack", "nextafter",
})


class _LinalgNamespace:
    """``xp.linalg`` of a tracing namespace."""

    def __init__(self, parent):
        self._parent = parent

    def __getattr__(self, name):
        rule = _RULES.get(f"linalg.{name}")
        base_linalg = self._parent._base.linalg
        if not hasattr(base_linalg, name):
            raise AttributeError(f"{self._parent._base.__name__}.linalg has no {name!r}")
        if rule is None:
            fn = getattr(base_linalg, name)
            return _unsupported(f"linalg.{name}", fn)
        return lambda *args, **kw: _apply(rule, args, kw, base=self._parent._base)


def _unsupported(name, fn):
    if not callable(fn) or isinstance(fn, type):  # constants and dtypes (NumPy's are classes)
        return fn

    def call(*args, **kw):
        flat = list(args) + list(kw.values())
        flat += [a for x in args if isinstance(x, (list, tuple)) for a in x]
        if _top(flat) is not None:
            raise NotImplementedError(
                f"autodiff: the array API operation {name!r} has no VJP rule (traced operands); "
                f"supported: {', '.join(supported_operations())}; register one with "
                "portable_ml.autodiff.defvjp")
        return fn(*[_strip(a) for a in args], **{k: _strip(v) for k, v in kw.items()})

    return call


class TracingNamespace:
    """The array namespace of a trace's tracers: the backend's namespace, recording each call.

    Operations with a VJP rule record a node; operations whose result is not
    differentiable (comparisons, ``argmax``, ``floor``, new arrays, dtype
    queries) run on the underlying arrays; any other function raises
    ``NotImplementedError`` naming it when given a traced operand.
    """

    def __init__(self, base):
        self._base = base  # no reference to a trace: one namespace serves every trace over ``base``
        self.__name__ = f"portable_ml.autodiff[{getattr(base, '__name__', type(base).__name__)}]"
        self.linalg = _LinalgNamespace(self)

    def __repr__(self):
        return f"<tracing namespace over {self._base.__name__}>"

    def __getattr__(self, name):
        if name.startswith("__") and name != "__array_namespace_info__":
            raise AttributeError(name)
        rule = _RULES.get(name)
        base = self._base
        if not hasattr(base, name):  # what the backend lacks, the tracing namespace lacks too
            raise AttributeError(f"{base.__name__} has no {name!r}")
        if rule is not None:
            fn = (lambda *args, **kw: _apply(rule, args, kw, base=base))
        elif name in _CONSTANT_OPS:
            target = getattr(base, name)

            def fn(*args, **kw):
                t = _top(list(args) + list(kw.values()))
                xp = base if t is None else _ns_of([_lower(a, t._trace) for a in args], t._trace.base)
                f = getattr(xp, name) if xp is not base else target
                return f(*[_lower_any(a) for a in args], **{k: _lower_any(v) for k, v in kw.items()})
        else:
            fn = _unsupported(name, getattr(base, name))
        setattr(self, name, fn)  # cache: later lookups skip __getattr__
        return fn

    # functions with their own signatures
    def asarray(self, obj, /, *, dtype=None, device=None, copy=None):
        if isinstance(obj, Tracer):
            if dtype is not None and dtype != obj.dtype:
                return self.astype(obj, dtype)
            if copy:  # a private copy, which may be written (array_api_extra.at copies, then writes)
                out = _apply(_RULES["_identity"], (obj,), {}, base=self._base)
                if isinstance(out, Tracer):
                    out._fresh = True
                return out
            return obj
        kw = {k: v for k, v in (("dtype", dtype), ("device", device), ("copy", copy)) if v is not None}
        return self._base.asarray(obj, **kw)

    def astype(self, x, dtype, /, *, copy=True, device=None):
        if not isinstance(x, Tracer):
            return self._base.astype(x, dtype, copy=copy) if device is None else \
                self._base.astype(x, dtype, copy=copy, device=device)
        if not _is_float(dtype, xp=self._base):
            return self._base.astype(_lower_any(x), dtype)
        return _apply(_RULES["astype"], (x,), {"dtype": dtype, "copy": copy, "device": device}, base=self._base)

    def concat(self, arrays, /, *, axis=0):
        return _apply(_RULES["concat"], tuple(arrays), {"axis": axis}, base=self._base)

    def stack(self, arrays, /, *, axis=0):
        return _apply(_RULES["stack"], tuple(arrays), {"axis": axis}, base=self._base)

    def clip(self, x, /, min=None, max=None):
        # JAX's clip: minimum(maximum(x, min), max), so ties split the cotangent as there
        out = x
        if min is not None:
            out = self.maximum(out, min)
        if max is not None:
            out = self.minimum(out, max)
        return out if out is not x else _apply(_RULES["_identity"], (x,), {}, base=self._base)

    def take(self, x, indices, /, *, axis=None):
        return _apply(_RULES["take"], (x, _lower_any(indices)), {"axis": axis}, base=self._base)

    def matrix_transpose(self, x, /):
        return _apply(_RULES["matrix_transpose"], (x,), {}, base=self._base)

    def sum(self, x, /, *, axis=None, dtype=None, keepdims=False):
        return _apply(_RULES["sum"], (x,), {"axis": axis, "dtype": dtype, "keepdims": keepdims}, base=self._base)

    def where(self, condition, x1, x2, /):
        return _apply(_RULES["where"], (_lower_any(condition), x1, x2), {}, base=self._base)

    def reshape(self, x, /, shape, *, copy=None):
        kw = {"shape": tuple(shape)}
        if copy is not None:
            kw["copy"] = copy
        return _apply(_RULES["reshape"], (x,), kw, base=self._base)

    def permute_dims(self, x, /, axes):
        return _apply(_RULES["permute_dims"], (x,), {"axes": tuple(axes)}, base=self._base)

    def expand_dims(self, x, /, *, axis=0):
        return _apply(_RULES["expand_dims"], (x,), {"axis": axis}, base=self._base)

    def squeeze(self, x, /, axis):
        return _apply(_RULES["squeeze"], (x,), {"axis": axis}, base=self._base)

    def moveaxis(self, x, source, destination, /):
        return _apply(_RULES["moveaxis"], (x,), {"source": source, "destination": destination}, base=self._base)

    def broadcast_to(self, x, /, shape):
        return _apply(_RULES["broadcast_to"], (x,), {"shape": tuple(shape)}, base=self._base)

    def broadcast_arrays(self, *arrays):
        shape = ()
        for a in arrays:
            shape = _broadcast_shapes(shape, _shape(a))
        return [self.broadcast_to(a, shape) for a in arrays]

    def __array_namespace_info__(self):
        return self._base.__array_namespace_info__()


def _lower_any(a):
    """``a`` with tracers of every active trace unwrapped (for non-differentiable uses)."""
    return _strip(a)


def _tracing_namespace_of(arrays):
    """The hook of :func:`portable_ml._xp.array_namespace` for arrays that include tracers."""
    t = _top(arrays)
    if t is None:
        return _xp.array_namespace(*[_strip(a) for a in arrays])
    return t._trace.ns


# installed once: array_namespace(...) of tracers is their tracing namespace
_xp._TRACING = (Tracer, _tracing_namespace_of)


# ============================================================ the transformations
def _check_argnums(argnums, nargs, name="argnums"):
    single = isinstance(argnums, int) and not isinstance(argnums, bool)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, (tuple, list)) or not nums or \
            not all(isinstance(i, int) and not isinstance(i, bool) for i in nums):
        raise TypeError(f"{name} must be an int or a non-empty tuple of ints; got {argnums!r}")
    out = []
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"{name}={argnums!r} is out of range for a function called with {nargs} "
                             "positional arguments")
        out.append(i % nargs)
    return single, tuple(out)


def _jax_leaves(leaves):
    return bool(leaves) and any(_compat.is_jax_array(x) for x in leaves)


def _flatten(args, argnums):
    """``[(i, leaves, treedef)]`` of the arguments ``argnums``."""
    return [(i, *_tree.tree_flatten(args[i])) for i in argnums]


def _start(args, argnums, what, flat=None):
    """Wrap the leaves of ``args[i]`` (``i`` in ``argnums``) in tracers of a new trace.

    ``flat`` is :func:`_flatten`'s result when the caller has it already.
    """
    if flat is None:
        flat = _flatten(args, argnums)
    all_leaves = [x for _, leaves, _ in flat for x in leaves]
    if not all_leaves:
        raise ValueError(f"{what}: the differentiated arguments hold no arrays")
    for x in all_leaves:
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"{what}: differentiated arguments must be arrays (or pytrees of arrays); "
                            f"got {type(x).__name__}")
    base = _xp.array_namespace(*all_leaves)
    for x in all_leaves:
        if not _is_float(x.dtype, xp=base if not isinstance(x, Tracer) else x._trace.base):
            raise TypeError(f"{what} requires real floating inputs; got an array of dtype {x.dtype} "
                            "(cast it with xp.astype, or leave it out of argnums)")
    trace = _Trace(base)
    trace.nested = any(isinstance(x, Tracer) for x in all_leaves)
    new_args = list(args)
    leaf_nodes = []
    for i, leaves, treedef in flat:
        tracers = []
        for x in leaves:
            node = _Node(None, (), (), x, None)
            trace.nodes.append(node)
            leaf_nodes.append(node)
            tracers.append(trace.cls(x, node, trace))
        new_args[i] = _tree.tree_unflatten(treedef, tracers)
    return trace, new_args, flat, leaf_nodes


def _backward(trace, seeds, leaf_nodes):
    """Cotangents of ``leaf_nodes`` given ``seeds`` ({node: cotangent}) on the tape of ``trace``."""
    ct = dict(seeds)
    # Plain arrays throughout (no outer trace among the operands or the seeds): every rule runs on the
    # backend's namespace, found once instead of per node.
    plain = not trace.nested and not any(isinstance(g, (Tracer, _Parts)) for g in seeds.values())
    base = trace.base
    for node in reversed(trace.nodes):
        rule = node.rule
        if rule is None:  # an input (their cotangents are read below)
            continue
        g = ct.pop(node, None)
        if g is None:
            continue
        vals = node.vals
        if plain:
            xp = base
        elif isinstance(node.out, tuple):  # a node with several outputs: its cotangent is _Parts
            xp = _ns_of(tuple(c for c in g.parts if c is not None) + node.out + vals, base)
        else:
            xp = _ns_of((g, node.out) + vals, base)
        parents = node.parents
        cts = rule.vjp(xp, g, node.out, vals, tuple([p is not None for p in parents]), **node.kw)
        for p, v, c in zip(parents, vals, cts):
            if p is None or c is None:
                continue
            prev = ct.get(p)
            if type(c) is _Parts:
                ct[p] = c if prev is None else prev.add(c)
                continue
            if plain and isinstance(c, Tracer):  # a user VJP closing over an outer trace's arrays
                plain = False
                xp = _ns_of((c,), base)
            if c.shape != v.shape or c.dtype != v.dtype:  # broadcast or promoted: summed and cast back
                c = _fit(c, v, xp=xp)
            ct[p] = c if prev is None else prev + c
    res = []
    for node in leaf_nodes:
        g = ct.get(node)
        if g is None:
            x = node.out
            g = _ns_of((x,), trace.base).zeros_like(x)
        elif trace.numpy:
            g = _xp.as_array0d(g, trace.base)
        res.append(g)
    return res


def _finish(trace, flat, grads, single):
    trees, k = [], 0
    for _, leaves, treedef in flat:
        trees.append(_tree.tree_unflatten(treedef, grads[k:k + len(leaves)]))
        k += len(leaves)
    return trees[0] if single else tuple(trees)


def _unwrap_tree(tree, trace):
    return _tree.tree_map(lambda x: _lower(x, trace) if isinstance(x, Tracer) else x, tree)


def value_and_grad(f, argnums=0, has_aux=False):
    """``f``'s value and its gradient with respect to the arguments ``argnums``, as ``jax.value_and_grad``.

    Parameters
    ----------
    f : callable
        Returns a 0-d real floating array (or, with ``has_aux``, a pair
        ``(value, aux)``).  Written against the namespace of its arguments
        (see the module docstring).
    argnums : int or tuple of int
        The positional arguments (arrays or pytrees of arrays) to
        differentiate.
    has_aux : bool
        Whether ``f`` returns ``(value, aux)``; ``aux`` is returned as is
        (undifferentiated).

    Returns
    -------
    callable
        ``(*args, **kwargs) -> (value, grads)`` (``((value, aux), grads)``
        with ``has_aux``); ``grads`` has the structure of ``args[argnums]``
        (a tuple of them for a tuple ``argnums``), each leaf of its leaf's
        shape, dtype, backend and device.

    Notes
    -----
    On JAX arrays this is ``jax.value_and_grad(f, argnums, has_aux=has_aux)``.
    Second derivatives: the VJP rules are differentiable, so ``grad`` of a
    ``grad`` works (checked for elementwise functions, reductions and
    ``matmul``).
    """
    if not callable(f):
        raise TypeError(f"f must be callable; got {type(f).__name__}")
    if not isinstance(has_aux, bool):
        raise TypeError(f"has_aux must be a bool; got {has_aux!r}")
    _check_argnums(argnums, 10**9)

    def wrapped(*args, **kwargs):
        single, nums = _check_argnums(argnums, len(args))
        flat = _flatten(args, nums)
        if _jax_leaves([x for _, leaves, _ in flat for x in leaves]):
            jax = sys.modules["jax"]
            return jax.value_and_grad(f, argnums, has_aux=has_aux)(*args, **kwargs)
        trace, new_args, flat, leaf_nodes = _start(args, nums, "grad", flat)
        try:
            res = f(*new_args, **kwargs)
        finally:
            trace.active = False
        if has_aux:
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise TypeError("with has_aux=True, f must return a pair (value, aux); "
                                f"got {type(res).__name__}")
            out, aux = res
        else:
            out, aux = res, None
        if not hasattr(out, "shape") or _shape(out) != ():
            raise TypeError("grad requires f to return a 0-d (scalar) real array; got "
                            + (f"shape {_shape(out)}" if hasattr(out, "shape") else type(out).__name__))
        value = _lower(out, trace)
        if not _is_float(value.dtype, xp=trace.base):
            raise TypeError(f"grad requires a real floating output; got dtype {value.dtype}")
        if isinstance(out, Tracer) and out._trace is trace:
            seed = _ns_of((value,), trace.base).ones_like(value)
            grads = _backward(trace, {out._node: seed}, leaf_nodes)
        else:  # f does not depend on the arguments
            grads = _backward(trace, {}, leaf_nodes)
        if trace.numpy:
            value = _xp.as_array0d(value, trace.base)
        trace.nodes = []  # the tape's arrays are freed now, not when the last tracer goes
        g = _finish(trace, flat, grads, single)
        if has_aux:
            return (value, _unwrap_tree(aux, trace)), g
        return value, g

    wrapped.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    wrapped.__doc__ = f.__doc__
    return wrapped


def grad(f, argnums=0, has_aux=False):
    """The gradient of ``f`` with respect to ``argnums``, as ``jax.grad``.

    ``grad(f)(*args)`` is the second element of
    :func:`value_and_grad`'s result (with ``has_aux``, the pair
    ``(grads, aux)``); on JAX arrays it is ``jax.grad(f, argnums,
    has_aux=has_aux)``.  Second derivatives of functions built from the
    supported operations are supported (``grad(grad(f))``).

    Examples
    --------
    >>> import numpy as np
    >>> import portable_ml as pml
    >>> def f(x):
    ...     xp = pml.namespace(x)
    ...     return xp.sum(xp.sin(x) * x)
    >>> pml.autodiff.grad(f)(np.asarray([0.0, 1.0]))   # cos(x) x + sin(x)
    array([0.        , 1.38177329])
    """
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args, **kwargs):
        single, nums = _check_argnums(argnums, len(args))
        leaves = [x for i in nums for x in _tree.tree_leaves(args[i])]
        if _jax_leaves(leaves):
            jax = sys.modules["jax"]
            return jax.grad(f, argnums, has_aux=has_aux)(*args, **kwargs)
        if has_aux:
            (_, aux), g = vg(*args, **kwargs)
            return g, aux
        return vg(*args, **kwargs)[1]

    wrapped.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    wrapped.__doc__ = f.__doc__
    return wrapped


def vjp(f, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)`` as ``jax.vjp``: ``vjp_fn(cotangent)`` pulls a cotangent back.

    Parameters
    ----------
    f : callable
        Returns an array or a pytree of real floating arrays.
    *primals
        The arguments of ``f``, arrays or pytrees of arrays, all
        differentiated.
    has_aux : bool
        Whether ``f`` returns ``(out, aux)``; then ``(out, vjp_fn, aux)``.

    Returns
    -------
    out, vjp_fn
        ``vjp_fn(ct)``, with ``ct`` of the structure and shapes of ``out``,
        returns a tuple with one cotangent per primal (of its structure).
        ``vjp_fn`` may be called several times.
    """
    if not callable(f):
        raise TypeError(f"f must be callable; got {type(f).__name__}")
    if not primals:
        raise TypeError("vjp needs at least one primal argument")
    leaves = [x for p in primals for x in _tree.tree_leaves(p)]
    if _jax_leaves(leaves):
        jax = sys.modules["jax"]
        return jax.vjp(f, *primals, has_aux=has_aux)
    nums = tuple(range(len(primals)))
    trace, new_args, flat, leaf_nodes = _start(primals, nums, "vjp")
    try:
        res = f(*new_args)
    finally:
        trace.active = False
    if has_aux:
        res, aux = res
    out_leaves, out_def = _tree.tree_flatten(res)
    values = [_lower(o, trace) for o in out_leaves]

    def vjp_fn(ct):
        ct_leaves, ct_def = _tree.tree_flatten(ct)
        if ct_def != out_def:
            raise ValueError(f"the cotangent must have the structure of f's output ({out_def}); got {ct_def}")
        seeds = {}
        for o, v, c in zip(out_leaves, values, ct_leaves):
            if _shape(c) != _shape(v):
                raise ValueError(f"cotangent shape {_shape(c)} does not match the output shape {_shape(v)}")
            if isinstance(o, Tracer) and o._trace is trace:
                prev = seeds.get(o._node)
                seeds[o._node] = c if prev is None else prev + c
        grads = _backward(trace, seeds, leaf_nodes)
        trees, k = [], 0
        for _, lv, td in flat:
            trees.append(_tree.tree_unflatten(td, grads[k:k + len(lv)]))
            k += len(lv)
        return tuple(trees)

    out = _tree.tree_unflatten(out_def, values)
    if has_aux:
        return out, vjp_fn, _unwrap_tree(aux, trace)
    return out, vjp_fn


def jacobian(f, argnums=0, has_aux=False):
    """The Jacobian of ``f`` by one VJP per output element, as ``jax.jacrev``.

    Parameters
    ----------
    f : callable
        Returns an array or a pytree of real floating arrays (with
        ``has_aux``, a pair ``(out, aux)``).
    argnums : int or tuple of int
        The positional arguments (arrays or pytrees of arrays) to
        differentiate.
    has_aux : bool
        Whether ``f`` returns ``(out, aux)``; then ``(jacobian, aux)``.

    Returns
    -------
    callable
        ``(*args, **kwargs) -> jacobian``: for one output array, the
        structure of ``args[argnums]`` (a tuple of them for a tuple
        ``argnums``) whose leaf for an input leaf of shape ``I`` has shape
        ``S + I``, ``S`` the output's shape; for a pytree of outputs, that
        pytree with such a structure at each output leaf (as
        ``jax.jacrev``).

    Notes
    -----
    Meant for small outputs: each output element costs one backward pass
    over the one recorded tape.  On JAX arrays this is ``jax.jacrev``.
    """
    if not callable(f):
        raise TypeError(f"f must be callable; got {type(f).__name__}")
    if not isinstance(has_aux, bool):
        raise TypeError(f"has_aux must be a bool; got {has_aux!r}")
    _check_argnums(argnums, 10**9)

    def wrapped(*args, **kwargs):
        single, nums = _check_argnums(argnums, len(args))
        leaves = [x for i in nums for x in _tree.tree_leaves(args[i])]
        if _jax_leaves(leaves):
            jax = sys.modules["jax"]
            return jax.jacrev(f, argnums, has_aux=has_aux)(*args, **kwargs)
        trace, new_args, flat, leaf_nodes = _start(args, nums, "jacobian")
        try:
            res = f(*new_args, **kwargs)
        finally:
            trace.active = False
        if has_aux:
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise TypeError("with has_aux=True, f must return a pair (out, aux); "
                                f"got {type(res).__name__}")
            res, aux = res
        out_leaves, out_def = _tree.tree_flatten(res)
        for o in out_leaves:
            if not hasattr(o, "shape"):
                raise TypeError(f"jacobian requires f to return arrays (or a pytree of arrays); "
                                f"got {type(o).__name__}")
        per_output = []
        for o in out_leaves:
            value = _lower(o, trace)
            xp = _ns_of((value,), trace.base)
            shape = _shape(value)
            m = _count(shape, None)
            traced = isinstance(o, Tracer) and o._trace is trace
            rows = []
            if traced and m:
                flat_eye = xp.eye(m, dtype=value.dtype, device=_compat.device(_strip(value)))
                for i in range(m):
                    seed = xp.reshape(flat_eye[i, ...], shape)
                    rows.append(_backward(trace, {o._node: seed}, leaf_nodes))
            jacs = []
            for j, node in enumerate(leaf_nodes):
                x = node.out
                ishape = _shape(x)
                if rows:
                    jacs.append(xp.reshape(xp.stack([r[j] for r in rows], axis=0), shape + ishape))
                else:  # f's output does not depend on the arguments (or is empty)
                    jacs.append(_ns_of((x,), trace.base).zeros(shape + ishape, dtype=x.dtype,
                                                               device=_compat.device(_strip(x))))
            per_output.append(_finish(trace, flat, jacs, single))
        trace.nodes = []
        jac = _tree.tree_unflatten(out_def, per_output)
        if has_aux:
            return jac, _unwrap_tree(aux, trace)
        return jac

    wrapped.__name__ = f"jacobian({getattr(f, '__name__', 'f')})"
    wrapped.__doc__ = f.__doc__
    return wrapped


# ============================================================ user-defined primitives
def custom_vjp(fn, fn_vjp, *, name=None):
    """``fn`` as one differentiable operation with the VJP ``fn_vjp`` (no tracing through ``fn``).

    Parameters
    ----------
    fn : callable
        ``fn(*arrays, **options)``, computed on the backend arrays.
    fn_vjp : callable
        ``fn_vjp(cotangent, out, *arrays, **options)`` returning one
        cotangent per positional array (``None`` for a non-differentiable
        one), each of that array's shape or broadcastable to it.
    name : str, optional
        Shown in error messages; defaults to ``fn.__name__``.

    Returns
    -------
    callable
        Same signature as ``fn``; on tracers it records a single node, so a
        formula with an analytic gradient costs one call backward.
    """
    label = name or getattr(fn, "__name__", "custom")

    def fwd(xp, *vals, **kw):
        return fn(*vals, **kw)

    def rule_vjp(xp, g, out, vals, need, **kw):
        cts = fn_vjp(g, out, *vals, **kw)
        if not isinstance(cts, (tuple, list)):
            cts = (cts,)
        if len(cts) != len(vals):
            raise ValueError(f"the VJP of {label} returned {len(cts)} cotangents for {len(vals)} arrays")
        return tuple(cts)

    rule = _Rule(label, fwd, rule_vjp)

    def wrapped(*args, **kw):
        if _top(list(args)) is None:
            return fn(*args, **kw)
        return _apply(rule, args, kw)

    wrapped.__name__ = label
    wrapped.__doc__ = fn.__doc__
    return wrapped


# ============================================================ public formulas with analytic gradients
# A public formula declares its analytic gradient where it is defined (``@differentiable("mse_grad", wrt=1)``,
# portable_ml._gradlink); the decorator hands a call with a traced positional argument to
# ``_dispatch_formula``, which records the whole formula as one node whose VJP is that gradient.

def _formula_table():
    """``(family, function, gradient, wrt)`` for every public formula linked to an analytic ``*_grad``.

    Read from the ``@differentiable`` links of the loaded ``portable_ml``
    modules (the formula's top-level module or package is its family); ``*_vjp`` links
    (``softmax``, ``log_softmax``, ``glu``) are left out, as in the
    registry's ``grad_of`` links (``tests/test_autodiff.py`` checks that
    they agree).
    """
    rows = set()
    for fam, mod in _formula_modules():
        for name, fn, gname, kind, wrt in _gradlink.linked_formulas(mod):
            if kind != "vjp":
                rows.add((fam, name, gname, wrt))
    return tuple(sorted(rows))


def _formula_modules():
    """``[(family, module)]``: the loaded ``portable_ml`` modules outside the testing layer."""
    out = []
    for key in sorted(sys.modules):
        if not key.startswith("portable_ml.") or key.startswith("portable_ml.testing"):
            continue
        mod = sys.modules[key]
        if mod is not None:
            out.append((key[len("portable_ml."):].split(".")[0], mod))  # models.svm is in family models
    return out


_FORMULA_RULES = {}


def _formula_rule(formula):
    """``(rule, wrt, accepted options)`` of a linked formula, built on first use."""
    entry = _FORMULA_RULES.get(formula)
    if entry is not None:
        return entry
    kind, gname, wrt = formula.__pml_grad__
    module = sys.modules[formula.__module__]
    gfn = getattr(module, gname)
    family = formula.__module__.split(".")[1] if formula.__module__.count(".") else formula.__module__
    label = f"{family}.{formula.__name__}"  # the registry's name: models.svm's formulas are models.*
    if kind == "reduction":
        vjp, accepts = _reduction_grad_vjp(gfn), frozenset({"axis", "keepdims"})
    else:
        vjp = _grad_vjp(gfn, wrt) if kind == "grad" else _cotangent_vjp(gfn)
        accepts = _keyword_names(gfn)
    entry = (_Rule(label, _call_fwd(formula), vjp), wrt, accepts)
    _FORMULA_RULES[formula] = entry
    return entry


def _keyword_names(fn):
    """The names ``fn`` takes as keywords (``None``: any, it has ``**kwargs``)."""
    import inspect

    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))


def _dispatch_formula(formula, args, kw):
    """A linked formula called with a traced positional argument: one node, or traced through.

    One node when, on the innermost trace, only argument ``wrt`` is traced
    and the gradient takes every option given; otherwise (another array
    differentiated too, an option the gradient lacks) the formula's body is
    traced operation by operation, with the same result.
    """
    raw = formula.__wrapped__
    top = _top(args)
    if top is None:  # only tracers of finished traces
        return raw(*args, **kw)
    trace = top._trace
    rule, wrt, accepts = _formula_rule(formula)
    for i, a in enumerate(args):
        if isinstance(a, Tracer) and a._trace is trace and i != wrt:
            return raw(*args, **kw)
    if wrt >= len(args) or not (isinstance(args[wrt], Tracer) and args[wrt]._trace is trace):
        return raw(*args, **kw)
    if kw:
        if accepts is not None and not accepts.issuperset(kw):
            return raw(*args, **kw)
        for v in kw.values():
            if isinstance(v, Tracer) and v._trace is trace:
                return raw(*args, **kw)
    return _apply(rule, args, kw)


_gradlink.dispatch = _dispatch_formula


def _call_fwd(fn):
    def fwd(xp, *vals, **kw):
        return fn(*vals, **kw)

    return fwd


def _grad_vjp(gfn, wrt):
    """VJP from ``gfn`` = d(sum of the formula's output)/d(argument ``wrt``), with the same options.

    A reduced (0-d) output scales it by the cotangent; an unreduced one
    (``reduction="none"``: one value per item, each depending on its own
    inputs only) multiplies it by the cotangent broadcast over the item's
    trailing axes.
    """
    def vjp(xp, g, out, vals, need, **kw):
        d = gfn(*vals, **kw)
        if g.ndim and g.ndim < d.ndim:
            g = xp.reshape(g, _shape(g) + (1,) * (d.ndim - g.ndim))
        cts = [None] * len(vals)
        cts[wrt] = g * d
        return tuple(cts)

    return vjp


def _reduction_grad_vjp(gfn):
    """VJP of a reduction along ``axis`` (``logsumexp``) from the gradient of its sum."""
    def vjp(xp, g, out, vals, need, axis=-1, keepdims=False):
        x = vals[0]
        return (_expand_reduced(g, _shape(x), axis, keepdims, xp=xp) * gfn(x, axis=axis),) + (None,) * (len(vals) - 1)

    return vjp


def _cotangent_vjp(vfn):
    def vjp(xp, g, out, vals, need, **kw):
        return (vfn(vals[0], g, **kw),) + (None,) * (len(vals) - 1)

    return vjp


def primitive(fn):
    """Public formula ``fn`` as one differentiable operation whose VJP is its analytic ``*_grad``/``*_vjp``.

    Every public formula with an analytic gradient (the ``@differentiable``
    links: each activation with a ``*_grad``, ``logsumexp``, ``softmax``,
    ``log_softmax``, ``glu``, each loss with a ``*_grad``,
    ``probability.bernoulli_logpmf``) is already one operation when called
    on traced arrays, so ``primitive(fn)`` is ``fn`` itself; it is kept to
    check that ``fn`` has such a gradient.  Only the argument the gradient
    differentiates may be traced for the single node; otherwise the formula
    is traced through, with the same gradient.

    Raises
    ------
    ValueError
        If ``fn`` has no analytic gradient linked (wrap it with
        :func:`custom_vjp` instead).
    """
    if getattr(fn, "__pml_grad__", None) is None:
        raise ValueError(f"{getattr(fn, '__name__', fn)!r} has no analytic gradient linked with autodiff; "
                         "wrap it with portable_ml.autodiff.custom_vjp(fn, fn_vjp)")
    return fn
