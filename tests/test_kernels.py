"""The backend layer's native kernels (``portable_ml._kernels``) against the portable formulas and references.

Every kernel has two implementations on each backend that offers it: the
native one and the array-API formula (taken by every other backend, by
arrays the kernel declines, and on NumPy when SciPy is absent).  Both are
checked here against independent references (SciPy's ``expit``/``log_expit``,
``1/cosh^2`` and ``logaddexp`` in float64, 40-digit mpmath in the tails), on
every NumPy path (SciPy's ufuncs for small arrays, the vectorised formulas,
in one block and in many, without SciPy), and on torch and JAX.
"""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from portable_ml import _kernels as K
from portable_ml import _numerics as _n
from portable_ml import _xp
from portable_ml import activations as A
from portable_ml import losses as L
from portable_ml.testing import assert_close

sps = pytest.importorskip("scipy.special")  # the references (imported before any test hides SciPy)

EXTREMES = np.array([-1e4, -1e3, -745.0, -720.0, -709.0, -100.0, -40.0, -30.0, -1.2784645, -1e-8, 0.0, 1e-300,
                     1e-8, 0.5, 20.0, 30.0, 37.0, 40.0, 89.0, 100.0, 360.0, 400.0, 710.0, 1e3, 1e4])


def _x(n=3000, seed=0):
    return np.concatenate([np.random.default_rng(seed).normal(0, 4, n), EXTREMES])


def _labels(x, seed=1):
    g = np.random.default_rng(seed)
    y = (g.random(x.shape) < 0.5).astype(float)
    y[::7] = g.random(y[::7].shape)  # soft labels too
    return y


# name -> (public function of the arrays, portable formula, float64 reference)
def _sig(x):
    return sps.expit(x)


def _log_sig(x):
    return sps.log_expit(x)


def _sech2(x):
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(x) ** 2


def _log_cosh(r):
    # log(cosh r) in 80-bit long double (|r| - log 2 beyond 30), and near 0, where it cancels,
    # the series r^2/2 - r^4/12 + r^6/45 - 17 r^8/2520
    a = np.abs(r).astype(np.longdouble)
    big = np.where(a > 30, a - np.log(np.longdouble(2)), np.log(np.cosh(np.minimum(a, 30))))  # e^-60 beyond 30
    small = a**2 / 2 - a**4 / 12 + a**6 / 45 - 17 * a**8 / 2520
    return np.asarray(np.where(a < 1e-2, small, big), dtype=np.float64)


UNARY = {
    "sigmoid": (A.sigmoid, _n.sigmoid, _sig),
    "sigmoid_grad": (A.sigmoid_grad, A._sigmoid_prime, lambda x: _sig(x) * _sig(-x)),
    "log_sigmoid": (A.log_sigmoid, _n.log_sigmoid, _log_sig),
    "softplus": (A.softplus, _n.softplus, lambda x: -_log_sig(-x)),
    "swish": (A.swish, A._swish, lambda x: x * _sig(x)),
    "swish_grad": (A.swish_grad, A._swish_grad, lambda x: _sig(x) * (1 + x * _sig(-x))),
    "tanh_grad": (A.tanh_grad, A._sech2, _sech2),
    "sign": (lambda x: _xp.sign(x, _xp.array_namespace(x)), _xp._sign_where, np.sign),
}
BINARY = {
    "log_cosh": (lambda y, p: L.log_cosh(y, p, reduction="none"), L._log_cosh, lambda y, p: _log_cosh(p - y)),
    "bce_logits": (lambda y, z: L.binary_cross_entropy_with_logits(y, z, reduction="none"), L._bce_logits,
                   lambda y, z: y * -_log_sig(z) + (1 - y) * -_log_sig(-z)),
    "bce_logits_grad": (lambda y, z: L.binary_cross_entropy_with_logits_grad(y, z, reduction="sum"),
                        L._bce_logits_grad, lambda y, z: (1 - y) * _sig(z) - y * _sig(-z)),
}


def test_the_table_names_every_kernel_once():
    assert set(K.KERNEL_NAMES) == set(UNARY) | set(BINARY)
    table = K._numpy_table()[1]
    assert set(table) == set(K.KERNEL_NAMES)


@pytest.fixture(params=["scipy-small", "vectorised", "blocked", "no-scipy"])
def numpy_path(request, monkeypatch):
    """Each way the NumPy kernels can run: SciPy ufuncs below SMALL elements, the vectorised formulas in
    one block and in many, and every size without SciPy (its import made to fail)."""
    K._reset()
    if request.param == "scipy-small":
        pytest.importorskip("scipy")
        monkeypatch.setattr(K, "SMALL", 10**9)
    elif request.param == "vectorised":
        monkeypatch.setattr(K, "SMALL", 0)
    elif request.param == "blocked":
        monkeypatch.setattr(K, "SMALL", 0)
        monkeypatch.setattr(K, "BLOCK", 97)  # many blocks and a short last one
    else:
        monkeypatch.setitem(sys.modules, "scipy", None)  # `import scipy.special` raises ImportError
        monkeypatch.setitem(sys.modules, "scipy.special", None)
    yield request.param
    K._reset()


def _atol(name, dtype):
    # sigma(z) - y with soft labels y ~ sigma(z) cancels (the result's own condition): a few ulp of 1 there
    return 4 * np.finfo(dtype).eps if name == "bce_logits_grad" else np.finfo(dtype).tiny


def _tol(dtype):
    # a few ulp: the kernels and the formulas are the same stable expressions, rounded differently
    return {"float64": 1e-14, "float32": 4e-6}[np.dtype(dtype).name]


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_unary_kernels_agree_with_the_formula_and_the_reference(name, dtype, numpy_path):
    public, portable, reference = UNARY[name]
    x = _x().astype(dtype).reshape(-1, 1)[::-1]  # 2-D and not contiguous: kernels take any layout
    if numpy_path == "no-scipy":
        assert K._table(xp=np)[1][name] is not None and K._scipy_special() is None
    out = public(x)
    assert type(out) is np.ndarray and out.dtype == dtype and out.shape == x.shape
    assert np.all(np.isfinite(out))
    assert_close(out, portable(x, xp=np), rtol=_tol(dtype), atol=np.finfo(dtype).tiny)
    with np.errstate(under="ignore"):
        want = reference(x.astype(np.float64)).astype(dtype)
    keep = np.abs(x[:, 0] + 1.2784645) > 0.05 if name == "swish_grad" else slice(None)  # the zero of swish'
    assert_close(out[keep], want[keep], rtol=_tol(dtype), atol=np.finfo(dtype).tiny)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_binary_kernels_agree_with_the_formula_and_the_reference(name, dtype, numpy_path):
    public, portable, reference = BINARY[name]
    z = _x().astype(dtype)
    y = _labels(z).astype(dtype) if name != "log_cosh" else np.random.default_rng(2).normal(0, 1, z.shape).astype(dtype)
    out = public(y, z)
    assert type(out) is np.ndarray and out.dtype == dtype and out.shape == z.shape
    assert np.all(np.isfinite(out))
    assert_close(out, portable(y, z, xp=np), rtol=_tol(dtype), atol=_atol(name, dtype))
    want = reference(y.astype(np.float64), z.astype(np.float64)).astype(dtype)
    assert_close(out, want, rtol=_tol(dtype), atol=_atol(name, dtype))


def _mp(f, x):
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(40):
        return np.array([float(f(mpmath, mpmath.mpf(float(v)))) for v in x])


@pytest.mark.parametrize("name", ["sigmoid", "sigmoid_grad", "softplus", "log_sigmoid", "swish", "tanh_grad"])
def test_numpy_kernels_keep_relative_precision_in_the_tails(name, numpy_path):
    """Against 40-digit mpmath at the extremes (where 1 - tanh^2, s(1 - s) or log1p(exp(x)) fail)."""
    sig = lambda m, t: 1 / (1 + m.exp(-t))  # noqa: E731
    exact = {"sigmoid": sig, "sigmoid_grad": lambda m, t: sig(m, t) * sig(m, -t),
             "softplus": lambda m, t: m.log1p(m.exp(t)), "log_sigmoid": lambda m, t: -m.log1p(m.exp(-t)),
             "swish": lambda m, t: t * sig(m, t), "tanh_grad": lambda m, t: m.sech(t) ** 2}[name]
    x = EXTREMES
    want = _mp(exact, x)
    out = UNARY[name][0](x)
    normal = np.abs(want) >= np.finfo(np.float64).tiny  # subnormal results carry fewer digits
    assert_close(out[normal], want[normal], rtol=8 * np.finfo(np.float64).eps, atol=0)
    assert_close(out, want, rtol=8 * np.finfo(np.float64).eps, atol=np.finfo(np.float64).tiny)


def test_numpy_swish_below_minus_708_takes_the_formula(numpy_path):
    """x / (1 + exp(-x)) overflows there while x sigma(x) (e.g. -720 e^-720) is still a normal number."""
    x = np.array([-712.0, -710.0, 1.0, 3.0])
    assert K._table(xp=np)[1]["swish"](x) is None
    out = A.swish(x)
    # (exp(-712) is subnormal, with 47 significant bits: 1e-13 relative)
    assert_close(out, _mp(lambda m, t: t / (1 + m.exp(-t)), x), rtol=1e-13, atol=0)
    assert out[0] < 0


def test_numpy_kernels_leave_other_arrays_to_the_formula():
    """float16, 0-d arrays and ndarray subclasses take the array-API formula (and keep their type)."""
    assert K.kernel(np, "sigmoid", np.ones(3, np.float16)) is None
    assert K.kernel(np, "sigmoid", np.asarray(0.5)) is None
    assert K.kernel(np, "sigmoid", np.ones(3).view(np.matrix)) is None
    assert K.kernel(np, "sigmoid", np.ones(3)) is not None
    assert K.kernel(np, "no_such_kernel", np.ones(3)) is None
    assert np.asarray(A.sigmoid(np.asarray(0.5))) == _sig(0.5)
    h = A.softplus(np.asarray([-30.0, 0.0, 30.0], np.float16))
    assert h.dtype == np.float16


def test_native_calls_the_formula_where_there_is_no_kernel():
    import array_api_strict as xps

    x = xps.asarray([-3.0, 0.0, 3.0])
    calls = []

    def portable(v, *, xp):
        calls.append(xp)
        return v

    assert K.native("sigmoid", portable, x, xp=xps) is x and calls == [xps]


def test_importing_the_package_imports_no_scipy_and_first_use_does():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import portable_ml, portable_ml.activations, portable_ml.losses
        before = "scipy" in sys.modules
        portable_ml.activations.sigmoid(np.ones(3))
        print(before, "scipy.special" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


# ------------------------------------------------------------------ torch and JAX
def _to(backend, a):
    return backend.asarray(a)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_kernels_on_every_backend_agree_with_the_formula(backend, float_dtype, name):
    """The native kernel where the backend has one (torch, jax.nn), the formula elsewhere: both within a few
    ulp of the NumPy float64 reference, the extremes included, and both finite."""
    public, portable, reference = UNARY[name]
    xp = backend.xp
    host = _x(300)
    x = xp.asarray(_to(backend, host), dtype=float_dtype)
    out = public(x)
    assert out.dtype == float_dtype
    got = np.asarray(backend.to_numpy(out), dtype=np.float64)
    formula = np.asarray(backend.to_numpy(portable(x, xp=xp)), dtype=np.float64)
    host_d = np.asarray(backend.to_numpy(x), dtype=np.float64)
    want = reference(host_d)
    f32 = "32" in str(float_dtype)
    tol = 4e-6 if f32 else 1e-14
    tiny = np.finfo(np.float32 if f32 else np.float64).tiny
    keep = np.abs(host_d + 1.2784645) > 0.05 if name == "swish_grad" else np.ones(host_d.shape, bool)
    if backend.name == "jax" and name.startswith("swish"):
        keep &= host_d > -708  # XLA flushes the subnormal exp(-|x|) there to 0 (formula and jax.nn alike)
    assert np.all(np.isfinite(got))
    assert_close(got[keep], formula[keep], rtol=tol, atol=tiny)
    assert_close(got[keep], want[keep], rtol=tol, atol=tiny)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_kernels_on_every_backend_agree_with_the_formula(backend, float_dtype, name):
    public, portable, reference = BINARY[name]
    xp = backend.xp
    zh = _x(300)
    yh = _labels(zh) if name != "log_cosh" else np.random.default_rng(2).normal(0, 1, zh.shape)
    y, z = (xp.asarray(_to(backend, a), dtype=float_dtype) for a in (yh, zh))
    out = public(y, z)
    assert out.dtype == float_dtype
    got = np.asarray(backend.to_numpy(out), dtype=np.float64)
    formula = np.asarray(backend.to_numpy(portable(y, z, xp=xp)), dtype=np.float64)
    f32 = "32" in str(float_dtype)
    tol = 4e-6 if f32 else 1e-14
    tiny = np.finfo(np.float32 if f32 else np.float64).tiny
    want = reference(*(np.asarray(backend.to_numpy(a), dtype=np.float64) for a in (y, z)))
    if name == "bce_logits_grad":
        tiny = 4 * (1.2e-7 if f32 else 2.3e-16)  # soft labels y ~ sigma(z): the result's own cancellation
    assert np.all(np.isfinite(got))
    assert_close(got, formula, rtol=tol, atol=tiny)
    assert_close(got, want, rtol=tol, atol=tiny)


def test_torch_kernels_are_differentiable_and_batch():
    """The torch kernels under autograd and torch.func.vmap: the derivative of each forward kernel is the
    library's own gradient function."""
    torch = pytest.importorskip("torch")
    x = torch.linspace(-30.0, 30.0, 41, dtype=torch.float64, requires_grad=True)
    for fwd, grad in ((A.sigmoid, A.sigmoid_grad), (A.softplus, A.sigmoid), (A.swish, A.swish_grad),
                      (A.log_sigmoid, lambda v: A.sigmoid(-v))):
        (g,) = torch.autograd.grad(fwd(x).sum(), x)
        # (torch's derivative of logsigmoid is good to 1e-16 absolutely, not relatively, in the right tail)
        assert_close(g.detach().numpy(), grad(x.detach()).numpy(), rtol=1e-13, atol=1e-15)
    v = torch.func.vmap(A.tanh_grad)(x.detach().reshape(41, 1))
    assert_close(v.numpy()[:, 0], A.tanh_grad(x.detach()).numpy(), rtol=0, atol=0)
    y = (torch.arange(41) % 2).to(torch.float64)
    (g,) = torch.autograd.grad(L.binary_cross_entropy_with_logits(y, x, reduction="sum"), x)
    assert_close(g.numpy(), L.binary_cross_entropy_with_logits_grad(y, x.detach(), reduction="sum").numpy(),
                 rtol=1e-13, atol=1e-300)


def test_jax_kernels_under_jit_and_grad():
    jax = pytest.importorskip("jax")
    if not jax.config.jax_enable_x64:
        pytest.skip("needs JAX's x64 mode (--pml-jax-x64=on)")
    jnp = jax.numpy
    x = jnp.linspace(-30.0, 30.0, 41)
    for fwd, grad in ((A.sigmoid, A.sigmoid_grad), (A.softplus, A.sigmoid), (A.swish, A.swish_grad)):
        assert_close(np.asarray(jax.jit(fwd)(x)), np.asarray(fwd(x)), rtol=1e-15, atol=0)
        g = jax.vmap(jax.grad(fwd))(x)
        assert_close(np.asarray(g), np.asarray(grad(x)), rtol=1e-13, atol=1e-300 if fwd is not A.swish else 1e-15)
    assert float(jax.grad(A.softplus)(0.0)) == 0.5  # the tie at 0 split evenly, as the formula does
