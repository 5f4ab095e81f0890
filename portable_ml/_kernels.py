r"""Backend layer: native elementwise kernels for a few hot formulas.

A formula is written once, against the array API; for a handful of
elementwise functions whose array-API expression is much slower than what a
backend offers natively, this module maps ``(backend, kernel name)`` to that
native implementation, in the manner of SciPy's
``scipy/special/_support_alternative_backends.py`` (a NumPy function, per
backend a native one, and the generic array-API expression as the fallback).
Formulas reach it through one helper, :func:`native`::

    return native("sigmoid", _n.sigmoid, x, xp=xp)

which calls the backend's kernel where there is one for these arrays and the
portable formula otherwise, so that the formula itself is still written
once and the formula modules never import an array library.

The kernels (each elementwise, arrays of one floating dtype in and out):

=================  ==========================================  =============================
name               value                                       arguments
=================  ==========================================  =============================
sigmoid            :math:`\sigma(x)`                           ``x``
sigmoid_grad       :math:`\sigma(x)\sigma(-x)`                 ``x``
log_sigmoid        :math:`\log\sigma(x)`                       ``x``
softplus           :math:`\log(1 + e^x)`                       ``x``
swish              :math:`x\sigma(x)`                          ``x``
swish_grad         :math:`\sigma(x)(1 + x\sigma(-x))`          ``x``
tanh_grad          :math:`\operatorname{sech}^2 x`             ``x``
log_cosh           :math:`\log\cosh(p - y)`                    ``y, p``
bce_logits         :math:`y\zeta(-z) + (1-y)\zeta(z)`          ``y, z``
bce_logits_grad    :math:`(1-y)\sigma(z) - y\sigma(-z)`        ``y, z``
=================  ==========================================  =============================

Backends:

- **NumPy** (plain float32/float64 ndarrays): the same stable formulas as
  the portable ones, written with NumPy ufuncs into reused buffers (one
  allocation where the portable expression makes eight) and, where an
  ``exp`` may overflow harmlessly to ``inf``, under ``errstate``.  NumPy's
  ``exp``/``log1p``/``tanh`` are vectorised, and several times faster than
  SciPy's scalar-loop ufuncs (``expit`` costs about ten ``exp``,
  ``log_expit`` about forty); SciPy's ``expit``/``log_expit`` serve only
  small arrays (below :data:`SMALL`), where one ufunc call beats six.
  SciPy is optional: imported on first use, and without it every size
  takes the NumPy formulas.
- **torch**: ``torch.sigmoid``, ``F.logsigmoid``, ``F.softplus`` (with a
  threshold of 40, beyond which :math:`\log(1+e^x) = x` to within
  :math:`10^{-18}` relative), ``F.silu``.
- **JAX**: ``jax.nn.sigmoid``, ``log_sigmoid``, ``softplus``, ``silu``
  (accurate to a few ulp over the whole range, the extremes included).
- Everything else (array-api-strict, Dask, CuPy, traced ``autodiff``
  values, other dtypes, NumPy subclasses): the portable formula.  CuPy
  kernels (``ElementwiseKernel``) are left for when a GPU can test them.
"""

from __future__ import annotations

import sys

import array_api_compat as _compat

__all__ = ["kernel", "native", "SMALL", "KERNEL_NAMES"]

#: Below this many elements NumPy arrays take SciPy's ufuncs, where they exist (per-call cost);
#: from it on the vectorised NumPy formulas (per-element cost).
SMALL = 1024

KERNEL_NAMES = ("sigmoid", "sigmoid_grad", "log_sigmoid", "softplus", "swish", "swish_grad", "tanh_grad",
                "log_cosh", "bce_logits", "bce_logits_grad")

#: namespace name -> (accepts(x) -> bool, {kernel name: function}) or None (no kernels)
_TABLES = {}


# ------------------------------------------------------------------ NumPy
def _scipy_special():
    """``scipy.special``, or ``None`` when SciPy is not installed (it is optional)."""
    try:
        import scipy.special
    except ImportError:
        return None
    return scipy.special


def _numpy_table():
    np = sys.modules["numpy"]
    sp = _scipy_special()
    ndarray = np.ndarray
    errstate = np.errstate
    # |x| beyond which sech^2 x is 0 in the dtype; cosh stays finite up to it
    tanh_clip = {4: 60.0, 8: 400.0}

    def accepts(x):
        # 0-d arrays take the portable formula: NumPy's ufuncs turn them into scalars
        return type(x) is ndarray and x.dtype.kind == "f" and x.dtype.itemsize in (4, 8) and x.ndim > 0

    def _inv_one_plus_exp(t):
        """``1 / (1 + exp(t))``, in place in the new array ``t`` (call under ``errstate(over="ignore")``:
        ``exp`` may overflow to inf, and then the result is 0, which is exact)."""
        np.exp(t, out=t)
        t += 1.0
        return np.reciprocal(t, out=t)

    def sigmoid(x):
        if sp is not None and x.size < SMALL:
            return sp.expit(x)
        with errstate(over="ignore"):
            return _inv_one_plus_exp(np.negative(x))

    def sigmoid_grad(x):
        e = np.abs(x)
        np.negative(e, out=e)
        np.exp(e, out=e)             # e = exp(-|x|): never overflows
        d = e + 1.0
        np.multiply(d, d, out=d)
        return np.divide(e, d, out=e)

    def _log1p_exp_neg_abs(x):
        """``log1p(exp(-|x|))``, a new array."""
        t = np.abs(x)
        np.negative(t, out=t)
        np.exp(t, out=t)
        return np.log1p(t, out=t)

    def softplus(x):
        if sp is not None and x.size < SMALL:
            return np.negative(sp.log_expit(np.negative(x)))
        t = _log1p_exp_neg_abs(x)
        t += np.maximum(x, 0.0)
        return t

    def log_sigmoid(x):
        if sp is not None and x.size < SMALL:
            return sp.log_expit(x)
        t = _log1p_exp_neg_abs(x)
        return np.subtract(np.minimum(x, 0.0), t, out=t)

    def swish(x):
        # x / (1 + exp(-x)); below x = -708 exp(-x) overflows (or expit(x) is subnormal) while
        # x sigma(x) is still a normal number: such arrays take the portable formula (None)
        if np.minimum.reduce(x, axis=None) < -708.0:
            return None
        if sp is not None and x.size < SMALL:
            return x * sp.expit(x)
        t = np.negative(x)
        np.exp(t, out=t)
        t += 1.0
        return np.divide(x, t, out=t)

    def swish_grad(x):
        # (numerator + x e / d) / d, e = exp(-|x|), d = 1 + e, numerator = 1 (x >= 0) or e (x < 0)
        e = np.abs(x)
        np.negative(e, out=e)
        np.exp(e, out=e)
        d = e + 1.0
        num = np.where(x >= 0, 1.0, e) if x.size < SMALL else e + (x >= 0) * (1.0 - e)
        np.multiply(e, x, out=e)
        np.divide(e, d, out=e)
        e += num
        return np.divide(e, d, out=e)

    def tanh_grad(x):
        # sech^2 = (1 / cosh)^2, cosh of |x| clipped where sech^2 is 0 anyway: no overflow, a few ulp
        lim = tanh_clip[x.dtype.itemsize]
        c = x.clip(-lim, lim)
        np.cosh(c, out=c)
        np.reciprocal(c, out=c)
        return np.multiply(c, c, out=c)

    def log_cosh(y, p):
        # log1p(2 sinh^2(a/2)) + (|r| - a), a = min(|r|, 20): see losses.log_cosh
        r = np.subtract(p, y)
        np.abs(r, out=r)
        a = np.minimum(r, 20.0)
        r -= a
        np.multiply(a, 0.5, out=a)
        np.sinh(a, out=a)
        np.multiply(a, a, out=a)
        a *= 2.0
        np.log1p(a, out=a)
        a += r
        return a

    def bce_logits(y, z):
        # y max(-z, 0) + (1 - y) max(z, 0) + log1p(exp(-|z|)): every term >= 0, no cancellation
        s = _log1p_exp_neg_abs(z)
        pos = np.maximum(z, 0.0)
        neg = pos - z                # max(-z, 0), exactly
        np.multiply(neg, y, out=neg)
        s += neg
        np.subtract(1.0, y, out=neg)
        np.multiply(pos, neg, out=pos)
        s += pos
        return s

    def bce_logits_grad(y, z):
        # (1 - y) / (1 + exp(-z)) - y / (1 + exp(z)): sigma(z) and sigma(-z) each to a few ulp
        with errstate(over="ignore"):
            s = _inv_one_plus_exp(np.negative(z))
            t = np.exp(z)
            t += 1.0
            np.reciprocal(t, out=t)
        np.multiply(t, y, out=t)
        w = np.subtract(1.0, y)
        np.multiply(s, w, out=s)
        return np.subtract(s, t, out=s)

    return accepts, {
        "sigmoid": sigmoid, "sigmoid_grad": sigmoid_grad, "log_sigmoid": log_sigmoid, "softplus": softplus,
        "swish": swish, "swish_grad": swish_grad, "tanh_grad": tanh_grad, "log_cosh": log_cosh,
        "bce_logits": bce_logits, "bce_logits_grad": bce_logits_grad,
    }


# ------------------------------------------------------------------ torch
def _torch_table():
    torch = sys.modules["torch"]
    F = torch.nn.functional

    def accepts(x):
        return x.dtype.is_floating_point

    def softplus(x):
        # log1p(exp(x)) up to x = 40, x beyond: exp(-40)/40 < 1e-18 relative (F.softplus's default
        # threshold 20 loses 1e-10, float64's tolerance)
        return F.softplus(x, beta=1.0, threshold=40.0)

    return accepts, {"sigmoid": torch.sigmoid, "log_sigmoid": F.logsigmoid, "softplus": softplus,
                     "swish": F.silu}


# ------------------------------------------------------------------ JAX
def _jax_table():
    nn = sys.modules["jax"].nn

    def accepts(x):
        return True  # jax arrays and tracers of any floating dtype: the jax.nn functions handle them all

    return accepts, {"sigmoid": nn.sigmoid, "log_sigmoid": nn.log_sigmoid, "softplus": nn.softplus,
                     "swish": nn.silu}


_MAKERS = (("numpy", _numpy_table), ("torch", _torch_table), ("jax", _jax_table))


def _table(xp):
    name = xp.__name__
    try:
        return _TABLES[name]
    except KeyError:
        pass
    make = next((m for k, m in _MAKERS if getattr(_compat, f"is_{k}_namespace")(xp)), None)
    entry = _TABLES[name] = make() if make is not None else None
    return entry


def kernel(xp, name, x):
    """The native kernel ``name`` of the backend of ``xp`` for array ``x``, or ``None``.

    ``None`` where the backend has no such kernel, or not for ``x`` (on NumPy:
    other than a plain float32/float64 ndarray).
    """
    entry = _TABLES.get(xp.__name__, False)
    if entry is False:
        entry = _table(xp)
    if entry is None:
        return None
    accepts, table = entry
    f = table.get(name)
    return f if f is not None and accepts(x) else None


def native(name, portable, *arrays, xp):
    """``kernel(xp, name, arrays[-1])(*arrays)`` where the backend has the kernel, else ``portable(*arrays, xp=xp)``.

    A kernel returns ``None`` for values it would not compute to full
    precision (NumPy's ``swish`` below -708); the portable formula takes those.

    The arrays are of one floating dtype and shape (the formula's own,
    already checked); ``portable`` is the formula's array-API expression of
    the same value.
    """
    k = kernel(xp, name, arrays[-1])
    if k is not None:
        out = k(*arrays)
        if out is not None:  # a kernel may decline values it cannot take exactly
            return out
    return portable(*arrays, xp=xp)


def _reset():
    """Forget the tables (tests: after making SciPy unimportable, or restoring it)."""
    _TABLES.clear()
