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
sign               :math:`\operatorname{sign} x` (NaN for NaN)  ``x``
log_cosh           :math:`\log\cosh(p - y)`                    ``y, p``
bce_logits         :math:`y\zeta(-z) + (1-y)\zeta(z)`          ``y, z``
bce_logits_grad    :math:`(1-y)\sigma(z) - y\sigma(-z)`        ``y, z``
=================  ==========================================  =============================

Backends:

- **NumPy** (plain float32/float64 ndarrays): ``numpy.sign``; for the others the same stable formulas as
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
  :math:`10^{-18}` relative), ``F.silu``, and short compositions of natives
  for the gradients, ``tanh_grad`` and the BCE (one eager op costs a pass
  over memory, so each is written with as few as keep its precision).
  Under ``torch.autograd`` these differentiate with torch's own rules
  (``torch.sigmoid``'s is :math:`s(1-s)`, good to :math:`10^{-16}`
  absolutely in the tails); the library's ``*_grad`` functions stay exact.
- **JAX**: ``jax.numpy.sign``; ``jax.nn.log_sigmoid``, ``softplus``, ``silu`` (accurate to a few
  ulp over the whole range, the extremes included, and so are their
  derivatives under ``jax.grad``; ``jax.nn.sigmoid``'s is not, see
  :func:`_jax_table`).  Under ``jax.jit`` XLA fuses the portable formulas
  anyway, so the gain on JAX is small.
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

#: NumPy kernels work through their arrays in blocks of this many elements (cache-sized temporaries).
BLOCK = 65536

KERNEL_NAMES = ("sigmoid", "sigmoid_grad", "log_sigmoid", "softplus", "swish", "swish_grad", "tanh_grad", "sign",
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
    empty_like = np.empty_like
    clip = getattr(getattr(np, "_core", None), "umath", None)
    clip = getattr(clip, "clip", np.clip)  # the ufunc itself (np.clip's wrapper costs microseconds a call)
    # |x| beyond which sech^2 x is 0 in the dtype; cosh stays finite up to it
    tanh_clip = {4: 60.0, 8: 400.0}

    def accepts(x):
        # 0-d arrays take the portable formula: NumPy's ufuncs turn them into scalars
        return type(x) is ndarray and x.dtype.kind == "f" and x.dtype.itemsize in (4, 8) and x.ndim > 0

    def run(body, n_scratch, *arrays):
        """``body(out, *arrays, *scratch)`` over blocks of :data:`BLOCK` elements; a new array.

        Every pass of a body then works on data in the cache, and only the
        inputs and the result travel to and from memory (as numexpr does).
        A body returns ``False`` to decline (then ``None`` is returned).
        """
        first = arrays[-1]
        if not n_scratch or first.size <= BLOCK:  # one block (without temporaries, blocks only add calls)
            out = empty_like(first)
            if body(out, *arrays, *[empty_like(first) for _ in range(n_scratch)]) is False:
                return None
            return out
        out = np.empty(first.shape, dtype=first.dtype)
        flat_out = out.reshape(-1)
        flats = [a.reshape(-1) for a in arrays]
        n = flat_out.shape[0]
        b = BLOCK
        scratch = [np.empty(b, dtype=first.dtype) for _ in range(n_scratch)]
        for i in range(0, n, b):
            j = min(i + b, n)
            m = j - i
            part = [s[:m] for s in scratch] if m < b else scratch
            if body(flat_out[i:j], *[f[i:j] for f in flats], *part) is False:
                return None
        return out

    def _inv_one_plus_exp(o):
        """``o = 1 / (1 + exp(o))`` (under ``errstate(over="ignore")``: ``exp`` may overflow to inf, and
        then the result is 0, which is exact)."""
        np.exp(o, out=o)
        o += 1.0
        np.reciprocal(o, out=o)

    def _log1p_exp_neg_abs(o, x):
        """``o = log1p(exp(-|x|))``."""
        np.abs(x, out=o)
        np.negative(o, out=o)
        np.exp(o, out=o)
        np.log1p(o, out=o)

    def sigmoid_body(o, x):
        np.negative(x, out=o)
        _inv_one_plus_exp(o)

    def sigmoid(x):
        if sp is not None and x.size < SMALL:
            return sp.expit(x)
        with errstate(over="ignore"):
            return run(sigmoid_body, 0, x)

    def sigmoid_grad_body(o, x, d):
        # e / (1 + e)^2, e = exp(-|x|): never overflows
        np.abs(x, out=o)
        np.negative(o, out=o)
        np.exp(o, out=o)
        np.add(o, 1.0, out=d)
        np.multiply(d, d, out=d)
        np.divide(o, d, out=o)

    def softplus_body(o, x, s):
        _log1p_exp_neg_abs(o, x)
        np.maximum(x, 0.0, out=s)
        o += s

    def softplus(x):
        if sp is not None and x.size < SMALL:
            return np.negative(sp.log_expit(np.negative(x)))
        return run(softplus_body, 1, x)

    def log_sigmoid_body(o, x, s):
        _log1p_exp_neg_abs(o, x)
        np.minimum(x, 0.0, out=s)
        np.subtract(s, o, out=o)

    def log_sigmoid(x):
        if sp is not None and x.size < SMALL:
            return sp.log_expit(x)
        return run(log_sigmoid_body, 1, x)

    def swish_body(o, x):
        # x / (1 + exp(-x)); below x = -708 exp(-x) overflows while x sigma(x) is still a normal
        # number: such arrays are declined, and take the portable formula
        if np.minimum.reduce(x, axis=None) < -708.0:
            return False
        np.negative(x, out=o)
        np.exp(o, out=o)
        o += 1.0
        np.divide(x, o, out=o)

    def swish(x):
        if sp is not None and x.size < SMALL:
            return x * sp.expit(x) if np.minimum.reduce(x, axis=None) >= -708.0 else None
        return run(swish_body, 0, x)

    def swish_grad_body(o, x, d, num):
        # (numerator + x e / d) / d, e = exp(-|x|), d = 1 + e, numerator = 1 (x >= 0) or e (x < 0)
        np.abs(x, out=o)
        np.negative(o, out=o)
        np.exp(o, out=o)
        np.add(o, 1.0, out=d)
        np.subtract(1.0, o, out=num)
        np.multiply(num, x >= 0, out=num)
        num += o
        np.multiply(o, x, out=o)
        np.divide(o, d, out=o)
        o += num
        np.divide(o, d, out=o)

    def tanh_grad_body(o, x):
        # sech^2 = (1 / cosh)^2, of x clipped where sech^2 is 0 anyway: no overflow, a few ulp
        lim = tanh_clip[x.dtype.itemsize]
        clip(x, -lim, lim, out=o)
        np.cosh(o, out=o)
        np.reciprocal(o, out=o)
        np.multiply(o, o, out=o)

    def log_cosh_body(o, y, p, a):
        # log1p(2 sinh^2(a/2)) + (|r| - a), a = min(|r|, 20): see losses.log_cosh
        np.subtract(p, y, out=o)
        np.abs(o, out=o)
        np.minimum(o, 20.0, out=a)
        o -= a
        a *= 0.5
        np.sinh(a, out=a)
        np.multiply(a, a, out=a)
        a *= 2.0
        np.log1p(a, out=a)
        o += a

    def bce_body(o, y, z, pos, t):
        # y max(-z, 0) + (1 - y) max(z, 0) + log1p(exp(-|z|)): every term >= 0, no cancellation
        _log1p_exp_neg_abs(o, z)
        np.maximum(z, 0.0, out=pos)
        np.subtract(pos, z, out=t)   # max(-z, 0), exactly
        t *= y
        o += t
        np.subtract(1.0, y, out=t)
        t *= pos
        o += t

    def bce_grad_body(o, y, z, t, w):
        # (1 - y) / (1 + exp(-z)) - y / (1 + exp(z)): sigma(z) and sigma(-z) each to a few ulp
        np.negative(z, out=o)
        _inv_one_plus_exp(o)
        np.copyto(t, z)
        _inv_one_plus_exp(t)
        t *= y
        np.subtract(1.0, y, out=w)
        o *= w
        o -= t

    def bce_grad(y, z):
        if sp is not None and y.size < SMALL:
            return (1.0 - y) * sp.expit(z) - y * sp.expit(-z)
        with errstate(over="ignore"):
            return run(bce_grad_body, 2, y, z)

    return accepts, {
        "sigmoid": sigmoid,
        "sign": np.sign,
        "sigmoid_grad": lambda x: run(sigmoid_grad_body, 1, x),
        "log_sigmoid": log_sigmoid,
        "softplus": softplus,
        "swish": swish,
        "swish_grad": lambda x: run(swish_grad_body, 2, x),
        "tanh_grad": lambda x: run(tanh_grad_body, 0, x),
        "log_cosh": lambda y, p: run(log_cosh_body, 1, y, p),
        "bce_logits": lambda y, z: run(bce_body, 2, y, z),
        "bce_logits_grad": bce_grad,
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

    def sigmoid_grad(x):
        return torch.sigmoid(x) * torch.sigmoid(-x)  # each factor to a few ulp: no cancellation

    def swish_grad(x):
        return torch.sigmoid(x) * (1.0 + x * torch.sigmoid(-x))

    def tanh_grad(x):
        # sech^2 = (1 / cosh)^2 of x clipped where sech^2 is 0 anyway: no overflow, a few ulp
        lim = 400.0 if x.dtype == torch.float64 else 60.0
        return torch.square(torch.reciprocal(torch.cosh(torch.clamp(x, -lim, lim))))

    def bce_logits(y, z):
        # y softplus(-z) + (1 - y) softplus(z), each term to full relative precision (the native
        # F.binary_cross_entropy_with_logits, (1 - y) z - log_sigmoid(z), cancels at y = 0, z << 0)
        return torch.lerp(softplus(z), softplus(-z), y)

    def bce_logits_grad(y, z):
        # (1 - y) sigma(z) - y sigma(-z): torch.lerp computes end - (end - start)(1 - w) for w >= 1/2,
        # so hard labels give sigma(z) or -sigma(-z) exactly, never sigma(z) - 1
        return torch.lerp(torch.sigmoid(z), -torch.sigmoid(-z), y)

    return accepts, {"sigmoid": torch.sigmoid, "log_sigmoid": F.logsigmoid, "softplus": softplus,
                     "swish": F.silu, "sigmoid_grad": sigmoid_grad, "swish_grad": swish_grad,
                     "tanh_grad": tanh_grad, "bce_logits": bce_logits, "bce_logits_grad": bce_logits_grad}


# ------------------------------------------------------------------ JAX
def _jax_table():
    nn = sys.modules["jax"].nn

    def accepts(x):
        return True  # jax arrays and tracers of any floating dtype: the jax.nn functions handle them all

    # Not jax.nn.sigmoid: its derivative under jax.grad is s (1 - s), which loses the relative precision of
    # sigma'(x) beyond |x| ~ 10 (0 beyond 37), where the formula's derivative keeps it; under jit XLA fuses
    # the formula to about the cost of lax.logistic anyway.
    return accepts, {"log_sigmoid": nn.log_sigmoid, "softplus": nn.softplus, "swish": nn.silu,
                     "sign": sys.modules["jax"].numpy.sign}


_MAKERS = (("numpy", _numpy_table), ("torch", _torch_table), ("jax", _jax_table))


def _table(*, xp):
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
        entry = _table(xp=xp)
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
