"""Probability and information theory against SciPy and scikit-learn, on every backend.

References are computed in float64 from the *cast* inputs, so input rounding
does not count against the float32 results.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra import numpy as hnp

import portable_ml as pml
from portable_ml import probability as P
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all, second_backend, tol

sps = optional_module("scipy.special")
st = optional_module("scipy.stats")
jensenshannon = optional_module("scipy.spatial.distance").deferred("jensenshannon")
skm = optional_module("sklearn.metrics")


TOL = "accurate"  # tolerance class (tests/helpers.tol)
# Cholesky, triangular solves and a log-determinant: a few more roundings in float32.
LINALG_TOL = "reduction"


def _cast(x, dtype):
    return np.asarray(x, dtype=dtype).astype(np.float64)


def _simplex(rng, *shape, zeros=0):
    p = rng.uniform(0.05, 1.0, size=shape)
    if zeros:
        flat = p.reshape(-1, shape[-1])
        for row in flat:
            row[rng.choice(shape[-1], zeros, replace=False)] = 0.0
    return p / p.sum(axis=-1, keepdims=True)


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + np.eye(d)


def _np(backend, x):
    return np.asarray(backend.to_numpy(x))


# ------------------------------------------------------------- Gaussians
def test_gaussian_matches_scipy_norm(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(0)
    x, mu, sigma = rng.normal(size=20) * 3, rng.normal(size=20), rng.uniform(0.3, 2.0, size=20)
    cx, cm, cs = _cast(x, dt), _cast(mu, dt), _cast(sigma, dt)
    px, pm, ps = place_all(backend, x, mu, sigma, dtype=dt)
    tl = {"float32": {"rtol": 5e-5, "atol": 1e-7}, "float64": tol(TOL, "float64")}[dt]  # |z|^2 eps in exp
    for ours, ref in ((P.gaussian_pdf, st.norm.pdf), (P.gaussian_logpdf, st.norm.logpdf)):
        out = ours(px, pm, ps)  # array parameters, positional
        assert dtype_name(out.dtype) == dt and tuple(out.shape) == (20,)
        assert_close(out, ref(cx, cm, cs), **tl)
        assert_close(ours(px, 0.5, 2.0), ref(cx, 0.5, 2.0), **tl)  # Python scalars
        assert_close(ours(px), ref(cx), **tl)  # defaults: standard normal
    # far tails: finite log-density, pdf underflows cleanly to 0
    far = place(backend, np.array([1e3, -1e3]), dtype=dt)
    assert_close(P.gaussian_logpdf(far), st.norm.logpdf([1e3, -1e3]), **tl)
    assert np.all(_np(backend, P.gaussian_pdf(far)) == 0.0)


def test_gaussian_broadcasts(backend):
    rng = np.random.default_rng(1)
    x, mu, sigma = rng.normal(size=(4, 1)), rng.normal(size=(3,)), rng.uniform(0.5, 1.5, size=(3,))
    out = P.gaussian_logpdf(*place_all(backend, x, mu, sigma))
    assert tuple(out.shape) == (4, 3)
    assert_close(out, st.norm.logpdf(x, mu, sigma))


@pytest.mark.parametrize("batched", [True, False], ids=["x(n,d)", "x(d,)"])
def test_mvn_matches_scipy(backend, float_dtype, batched):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(2)
    d = 4
    x, mu, S = rng.normal(size=(7, d)), rng.normal(size=d), _spd(rng, d)
    if not batched:
        x = x[0]
    ref = st.multivariate_normal(_cast(mu, dt), _cast(S, dt))
    px, pm, pS = place_all(backend, x, mu, S, dtype=dt)
    for ours, want in ((P.mvn_logpdf, ref.logpdf(_cast(x, dt))), (P.mvn_pdf, ref.pdf(_cast(x, dt)))):
        out = ours(px, pm, pS)
        assert dtype_name(out.dtype) == dt
        assert tuple(out.shape) == ((7,) if batched else ())
        assert_close(out, np.asarray(want), **tol(LINALG_TOL, dt))


def test_mvn_diagonal_covariance_is_product_of_normals(backend):
    rng = np.random.default_rng(3)
    x, mu, s = rng.normal(size=(5, 3)), rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)
    out = P.mvn_logpdf(*place_all(backend, x, mu, np.diag(s**2)))
    assert_close(out, st.norm.logpdf(x, mu, s).sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, None, (0, 1)])
def test_gaussian_mle(backend, float_dtype, axis):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(4)
    x = 5.0 + 2.0 * rng.normal(size=(30, 4))
    mean, var = P.gaussian_mle(place(backend, x, dtype=dt), axis=axis)
    cx = _cast(x, dt)
    tl = {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float64": tol(TOL, "float64")}[dt]
    assert_close(mean, np.mean(cx, axis=axis), **tl)
    assert_close(var, np.var(cx, axis=axis, ddof=0), **tl)
    if axis == 0:
        loc, scale = st.norm.fit(cx[:, 0])  # SciPy's MLE: biased standard deviation
        assert_close(mean[0], loc, **tl)
        assert_close(var[0], scale**2, **tl)


def test_gaussian_mle_is_stable_far_from_zero(backend):
    # the two-pass variance: E[x^2] - E[x]^2 would lose every digit here
    x = 1e8 + np.array([1.0, 2.0, 3.0, 4.0])
    mean, var = P.gaussian_mle(place(backend, x))
    assert_close(var, 1.25, rtol=1e-12)


# ------------------------------------------------------ information theory
@pytest.mark.parametrize("base", [None, 2])
def test_entropy_matches_scipy(backend, float_dtype, base):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(5)
    p = _simplex(rng, 4, 6, zeros=2)  # zeros contribute 0
    cp = _cast(p, dt)
    out = P.entropy(place(backend, p, dtype=dt), base=base)
    assert dtype_name(out.dtype) == dt and tuple(out.shape) == (4,)
    # SciPy renormalises; on the cast values that moves the result by ~eps only
    assert_close(out, st.entropy(cp, base=base, axis=-1), **tol(TOL, dt))
    out0 = P.entropy(place(backend, p.T, dtype=dt), base=base, axis=0)
    assert_close(out0, st.entropy(cp.T, base=base, axis=0), **tol(TOL, dt))


def test_entropy_is_not_renormalised(backend):
    out = P.entropy(place(backend, np.array([0.5, 0.5, 0.5])))
    assert_close(out, 1.5 * math.log(2.0))


def _rel_entr_sum(p, q, axis=-1):
    return sps.rel_entr(p, q).sum(axis=axis)


@pytest.mark.parametrize("base", [None, 2])
def test_kl_js_cross_entropy_match_scipy(backend, float_dtype, base):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(6)
    p, q = _simplex(rng, 5, 7, zeros=2), _simplex(rng, 5, 7)
    cp, cq = _cast(p, dt), _cast(q, dt)
    pp, pq = place_all(backend, p, q, dtype=dt)
    log_b = 1.0 if base is None else math.log(base)
    kl = P.kl_divergence(pp, pq, base=base)
    assert dtype_name(kl.dtype) == dt and tuple(kl.shape) == (5,)
    assert_close(kl, _rel_entr_sum(cp, cq) / log_b, **tol(TOL, dt))  # no renormalisation
    if dt == "float64":
        assert_close(kl, st.entropy(p, q, base=base, axis=-1), rtol=1e-12)
    js = P.js_divergence(pp, pq, base=base)
    m = 0.5 * (cp + cq)
    assert_close(js, 0.5 * (_rel_entr_sum(cp, m) + _rel_entr_sum(cq, m)) / log_b, **tol(TOL, dt))
    if dt == "float64":
        assert_close(js, jensenshannon(p, q, base=base, axis=-1) ** 2, rtol=1e-10)
    ce = P.cross_entropy(pp, pq, base=base)
    assert_close(ce, -np.sum(sps.xlogy(cp, cq), axis=-1) / log_b, **tol(TOL, dt))
    # H(p, q) = H(p) + KL(p || q)
    assert_close(ce, P.entropy(pp, base=base) + kl, **tol(TOL, dt))


def test_kl_takes_axis_and_refuses_implicit_broadcasting(backend):
    rng = np.random.default_rng(7)
    p, q = _simplex(rng, 3, 5), _simplex(rng, 5)
    qq = np.broadcast_to(q, p.shape).copy()
    out = P.kl_divergence(*place_all(backend, p, qq))
    assert_close(out, _rel_entr_sum(p, q[None, :]))
    out = P.js_divergence(*place_all(backend, p.T, qq.T), axis=0)
    assert_close(out, jensenshannon(p.T, q[:, None], axis=0) ** 2)
    # (5, 4) against (4,): a batch against one distribution is refused, not broadcast silently
    a, b = _simplex(rng, 5, 4), _simplex(rng, 4)
    for f in (P.cross_entropy, P.kl_divergence, P.js_divergence):
        with pytest.raises(ValueError, match=r"p and q must have the same shape; got p.shape=\(5, 4\) and "
                                             r"q.shape=\(4,\)"):
            f(*place_all(backend, a, b))


def test_zero_probabilities(backend):
    p = np.array([[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]])
    q = np.array([[0.0, 0.5, 0.5], [0.5, 0.25, 0.25]])
    pp, pq = place_all(backend, p, q)
    kl = _np(backend, P.kl_divergence(pp, pq))
    assert np.isinf(kl[0]) and kl[0] > 0  # q = 0 where p > 0, as SciPy
    assert_close(kl[1], st.entropy(p[1], q[1]))
    ce = _np(backend, P.cross_entropy(pp, pq))
    assert np.isposinf(ce[0]) and np.isfinite(ce[1])
    assert_close(P.js_divergence(pp, pq), jensenshannon(p, q, axis=-1) ** 2)  # always finite
    assert_close(P.entropy(pp), st.entropy(p, axis=-1))


@pytest.mark.parametrize("delta", [1e-3, 1e-4])
def test_kl_of_nearly_equal_distributions_keeps_precision(backend, delta):
    # KL is second order in p - q while its terms are first order; log1p keeps
    # each term exact enough that float32 gets the small divergence right.
    rng = np.random.default_rng(8)
    p = rng.dirichlet(np.ones(50))
    q = p * (1 + delta * rng.normal(size=50))
    q /= q.sum()
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    want = _rel_entr_sum(p32.astype(np.float64), q32.astype(np.float64))
    out = P.kl_divergence(*place_all(backend, p32, q32))
    assert_close(out, want, rtol=2e-3, atol=0)


def test_mutual_information(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(9)
    counts = rng.integers(0, 20, size=(2, 4, 5)).astype(np.float64)
    counts[0, 1, 2] = 0.0
    joint = counts / counts.sum(axis=(-2, -1), keepdims=True)
    out = P.mutual_information(place(backend, joint, dtype=dt))
    assert tuple(out.shape) == (2,) and dtype_name(out.dtype) == dt
    want = np.array([skm.mutual_info_score(None, None, contingency=c) for c in counts])
    tl = {"float32": {"rtol": 1e-4, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-13}}[dt]
    assert_close(out, want, **tl)
    # I(X;Y) = H(X) + H(Y) - H(X, Y)
    j = _cast(joint[0], dt)
    h = st.entropy(j.sum(1)) + st.entropy(j.sum(0)) - st.entropy(j.ravel())
    assert_close(P.mutual_information(place(backend, joint[0], dtype=dt), base=2), h / math.log(2), **tl)
    # independent variables: zero
    indep = np.outer([0.2, 0.3, 0.5], [0.1, 0.6, 0.3])
    assert abs(float(_np(backend, P.mutual_information(place(backend, indep))))) < 1e-15


def test_perplexity(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(10)
    lp = np.log(rng.uniform(0.05, 1.0, size=(3, 12)))
    out = P.perplexity(place(backend, lp, dtype=dt))
    assert tuple(out.shape) == () and dtype_name(out.dtype) == dt
    assert_close(out, np.exp(-np.mean(_cast(lp, dt))), **tol(TOL, dt))
    per_row = P.perplexity(place(backend, lp, dtype=dt), axis=-1)
    assert_close(per_row, np.exp(-np.mean(_cast(lp, dt), axis=-1)), **tol(TOL, dt))
    # a uniform model over k outcomes has perplexity k
    assert_close(P.perplexity(place(backend, np.full(7, -math.log(5.0)), dtype=dt)), 5.0, **tol(TOL, dt))


def test_bernoulli_logpmf_matches_scipy(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(11)
    x = rng.integers(0, 2, size=12)
    p = rng.uniform(0.01, 0.99, size=12)
    p[:4] = [0.0, 0.0, 1.0, 1.0]
    x[:4] = [0, 1, 0, 1]
    want = st.bernoulli.logpmf(x, _cast(p, dt))  # 0, -inf, -inf, 0 at the edges
    for xs in (x, x.astype(np.float64), x.astype(bool)):
        out = P.bernoulli_logpmf(*place_all(backend, xs, p, dtype=dt))
        assert dtype_name(out.dtype) == dt
        assert_close(out, want, **tol(TOL, dt))


def test_categorical_logpmf_matches_scipy(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(12)
    k = 5
    p = _simplex(rng, 8, k)
    x = rng.integers(0, k, size=8)
    cp = _cast(p, dt)
    out = P.categorical_logpmf(*place_all(backend, x, p, dtype=dt))
    assert tuple(out.shape) == (8,) and dtype_name(out.dtype) == dt
    assert_close(out, np.log(cp[np.arange(8), x]), **tol(TOL, dt))
    if dt == "float64":  # SciPy wants rows summing to 1 within 1e-15: only the float64 inputs do
        assert_close(out, np.array([st.multinomial.logpmf(np.eye(k)[c], 1, row) for c, row in zip(x, p)]),
                     rtol=1e-12)
    # one distribution for all samples; a zero-probability class gives -inf
    one = np.array([0.5, 0.0, 0.25, 0.25, 0.0])
    got = _np(backend, P.categorical_logpmf(*place_all(backend, x, one, dtype=dt)))
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(got, np.log(one[x]), rtol=1e-6)


def test_nan_propagates(backend):
    # masks that guard log against zeros must not turn NaN into 0 or -inf
    p = np.array([0.5, np.nan, 0.5])
    q = np.array([0.25, 0.5, 0.25])
    pp, pq = place_all(backend, p, q)
    label = place(backend, np.array([1]))
    for out in (P.entropy(pp), P.cross_entropy(pp, pq), P.cross_entropy(pq, pp), P.kl_divergence(pp, pq),
                P.kl_divergence(pq, pp), P.js_divergence(pp, pq), P.categorical_logpmf(label, pp)):
        assert np.all(np.isnan(_np(backend, out)))
    for x in (np.zeros(3), np.ones(3)):  # elementwise: only the NaN entry
        out = _np(backend, P.bernoulli_logpmf(place(backend, x), pp))
        np.testing.assert_array_equal(np.isnan(out), np.isnan(p))


# ---------------------------------------------------------------- gradients
@pytest.mark.backends("jax")
def test_gradients_match_analytic_forms(backend):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(13)
    x, mu, s = rng.normal(size=5), rng.normal(size=5), rng.uniform(0.5, 2.0, size=5)
    z = (x - mu) / s
    g = jax.grad(lambda *a: jnp.sum(P.gaussian_logpdf(*a)), argnums=(0, 1, 2))(*map(jnp.asarray, (x, mu, s)))
    assert_close(g, (-z / s, z / s, (z**2 - 1) / s), rtol=1e-12)
    # MVN: d/dx = -Sigma^-1 (x - mu); d/dSigma = (Sigma^-1 d d^T Sigma^-1 - Sigma^-1) / 2
    S = _spd(rng, 4)
    xv, mv = rng.normal(size=4), rng.normal(size=4)
    Si = np.linalg.inv(S)
    w = Si @ (xv - mv)
    gx, gS = jax.grad(P.mvn_logpdf, argnums=(0, 2))(jnp.asarray(xv), jnp.asarray(mv), jnp.asarray(S))
    assert_close(gx, -w, rtol=1e-10)
    assert_close(gS, 0.5 * (np.outer(w, w) - Si), rtol=1e-9, atol=1e-12)
    # KL: d/dq = -p/q; JS: d/dp = log(p/m)/2; entropy: -log p - 1
    p, q = _simplex(rng, 6), _simplex(rng, 6)
    assert_close(jax.grad(P.kl_divergence, argnums=1)(jnp.asarray(p), jnp.asarray(q)), -p / q, rtol=1e-12)
    assert_close(jax.grad(P.js_divergence)(jnp.asarray(p), jnp.asarray(q)), 0.5 * np.log(2 * p / (p + q)),
                 rtol=1e-9, atol=1e-12)
    assert_close(jax.grad(P.entropy)(jnp.asarray(p)), -np.log(p) - 1, rtol=1e-12)
    # categorical: 1/p at the observed class, 0 elsewhere
    g = jax.grad(lambda p: P.categorical_logpmf(jnp.asarray(2), p))(jnp.asarray(p))
    assert_close(g, np.eye(6)[2] / p, rtol=1e-12)


@pytest.mark.backends("jax")
def test_gradients_at_zero_probabilities_are_finite(backend):
    import jax
    import jax.numpy as jnp

    p = jnp.asarray([0.5, 0.5, 0.0])
    q = jnp.asarray([0.25, 0.25, 0.5])
    edge = jnp.asarray([0.0, 1.0])
    for fn, args in ((P.entropy, (p,)), (P.kl_divergence, (p, q)), (P.js_divergence, (p, q)),
                     (P.cross_entropy, (p, q)), (P.bernoulli_logpmf, (edge, edge)),
                     (P.mutual_information, (jnp.asarray([[0.5, 0.0], [0.0, 0.5]]),))):
        g = jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=tuple(range(len(args))))(*args)
        assert all(np.all(np.isfinite(np.asarray(gi))) for gi in g), fn.__name__


@pytest.mark.backends("torch")
def test_torch_autograd_at_zero_probabilities_is_finite(backend):
    import torch

    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64, requires_grad=True)
    (P.entropy(p) + P.kl_divergence(p, q) + P.js_divergence(p, q)).backward()
    assert torch.all(torch.isfinite(p.grad)) and torch.all(torch.isfinite(q.grad))


# ---------------------------------------------------------------- bad input
def test_bad_shapes_raise(backend):
    rng = np.random.default_rng(14)
    S = _spd(rng, 3)
    with pytest.raises(ValueError, match=r"Sigma must have shape \(3, 3\)"):
        P.mvn_logpdf(*place_all(backend, np.zeros(3), np.zeros(3), np.eye(2)))
    with pytest.raises(ValueError, match=r"mu must have shape \(3,\)"):
        P.mvn_logpdf(*place_all(backend, np.zeros((2, 3)), np.zeros(2), S))
    with pytest.raises(ValueError, match="x must be 1-D or 2-D"):
        P.mvn_pdf(*place_all(backend, np.zeros((2, 2, 3)), np.zeros(3), S))
    with pytest.raises(ValueError, match="same shape"):
        P.kl_divergence(*place_all(backend, _simplex(rng, 4), _simplex(rng, 5)))
    with pytest.raises(ValueError, match=r"x and mu must have broadcastable shapes; got x.shape=\(4, 3\) and "
                                         r"mu.shape=\(4,\)"):
        P.gaussian_pdf(*place_all(backend, np.zeros((4, 3)), np.zeros(4)))
    with pytest.raises(ValueError, match="mu and sigma must have broadcastable shapes"):
        P.gaussian_logpdf(*place_all(backend, np.zeros((4, 3)), np.zeros(3), np.ones(4)))
    with pytest.raises(ValueError, match="broadcastable"):
        P.categorical_logpmf(*place_all(backend, np.zeros(3, dtype=np.int64), _simplex(rng, 4, 5)))
    with pytest.raises(ValueError, match="joint must be at least 2-D"):
        P.mutual_information(place(backend, _simplex(rng, 4)))
    with pytest.raises(ValueError, match="must not be empty"):
        P.entropy(place(backend, np.zeros((2, 0))))
    with pytest.raises(TypeError, match="integer class indices"):
        P.categorical_logpmf(*place_all(backend, np.zeros(3), _simplex(rng, 3, 4)))


@pytest.mark.skip_backends(dask="lazy: values are not inspected before compute")
def test_bad_values_raise_on_concrete_inputs(backend):
    rng = np.random.default_rng(15)
    with pytest.raises(ValueError, match="Sigma must be symmetric positive definite"):
        P.mvn_logpdf(*place_all(backend, np.zeros(3), np.zeros(3), np.diag([1.0, 0.0, -1.0])))
    with pytest.raises(ValueError, match="sigma must be positive"):
        P.gaussian_pdf(*place_all(backend, np.zeros(3), np.zeros(3), np.array([1.0, 0.0, 1.0])))
    with pytest.raises(ValueError, match=r"p must hold non-negative values; got values in \[-0.1, 0.6\]"):
        P.entropy(place(backend, np.array([0.5, -0.1, 0.6])))
    with pytest.raises(ValueError, match="q must hold non-negative values"):
        P.kl_divergence(*place_all(backend, _simplex(rng, 3), np.array([0.5, -0.1, 0.6])))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        P.bernoulli_logpmf(*place_all(backend, np.array([0, 1]), np.array([0.5, 1.5])))
    with pytest.raises(ValueError, match="x must hold outcomes 0 or 1"):
        P.bernoulli_logpmf(*place_all(backend, np.array([0, 2]), np.array([0.5, 0.5])))
    with pytest.raises(ValueError, match=r"x must lie in \[0, 4\)"):
        P.categorical_logpmf(*place_all(backend, np.array([0, 4]), _simplex(rng, 2, 4)))
    with pytest.raises(ValueError, match=r"log_probs must hold log-probabilities \(values <= 0\); "
                                         r"got values in \[-1.0, 0.5\]"):
        P.perplexity(place(backend, np.array([0.5, -1.0])))


def test_bad_options_raise():
    with pytest.raises(ValueError, match="sigma must be positive"):
        P.gaussian_logpdf(np.zeros(2), 0.0, -1.0)
    with pytest.raises(ValueError, match="base must be positive and not 1"):
        P.entropy(np.array([0.5, 0.5]), base=1)
    with pytest.raises(ValueError, match="axis=2 is out of range for an array of 2 dimensions"):
        P.gaussian_mle(np.zeros((3, 2)), axis=2)
    with pytest.raises(TypeError, match="base must be a real number; got 'e'"):
        P.entropy(np.array([0.5, 0.5]), base="e")
    with pytest.raises(TypeError, match="base must be a real number; got the bool True"):
        P.kl_divergence(np.array([0.5, 0.5]), np.array([0.5, 0.5]), base=True)
    with pytest.raises(ValueError, match="base must be positive and finite; got base=-2.0"):
        P.entropy(np.array([0.5, 0.5]), base=-2.0)
    with pytest.raises(ValueError, match="axis=5 is out of range for an array of 1 dimension"):
        P.entropy(np.ones(3) / 3, axis=5)
    with pytest.raises(TypeError, match="axis must be an integer; got 1.5"):
        P.cross_entropy(np.ones((2, 3)) / 3, np.ones((2, 3)) / 3, axis=1.5)


@pytest.mark.backends("numpy", "jax", "torch")
def test_axis_out_of_range_is_clear_on_every_backend(backend):
    """perplexity(axis=5) used to leak JAX's IndexError (NumPy: AxisError)."""
    lp = place(backend, np.log(np.full((2, 3), 1 / 3)))
    with pytest.raises(ValueError, match="axis=5 is out of range for an array of 2 dimensions"):
        P.perplexity(lp, axis=5)
    with pytest.raises(ValueError, match="axis=-3 is out of range"):
        P.perplexity(lp, axis=(0, -3))
    assert_close(P.perplexity(lp, axis=(0, 1)), np.asarray(3.0))
    with pytest.raises(TypeError, match="different backends"):
        P.kl_divergence(np.ones(2) / 2, second_backend().asarray(np.ones(2) / 2))


# ---------------------------------------------------------------- properties
_rows = hnp.arrays(np.float64, hst.tuples(hst.integers(1, 4), hst.integers(2, 8)),
                   elements=hst.floats(0.0, 1.0))


def _normalise(w):
    w = w + 1e-3  # no all-zero rows
    return w / w.sum(axis=-1, keepdims=True)


@settings(max_examples=30, deadline=None)
@given(_rows, hst.randoms(use_true_random=False))
def test_information_inequalities(w, r):
    p = _normalise(w)
    q = _normalise(np.asarray([r.random() for _ in range(w.size)]).reshape(w.shape))
    k = p.shape[-1]
    h = np.asarray(P.entropy(p))
    assert np.all(h >= -1e-12) and np.all(h <= math.log(k) + 1e-12)
    assert np.all(np.asarray(P.kl_divergence(p, q)) >= -1e-12)  # Gibbs
    js = np.asarray(P.js_divergence(p, q))
    assert np.all(js >= -1e-12) and np.all(js <= math.log(2) + 1e-12)
    assert np.all(np.asarray(P.cross_entropy(p, q)) >= h - 1e-12)
    assert_close(P.js_divergence(p, q), P.js_divergence(q, p), rtol=1e-12, atol=1e-15)  # symmetric


# ------------------------------------------- score functions, exponential, Poisson
def test_bernoulli_logpmf_grad_matches_jax_grad_and_edges(backend, float_dtype):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(21)
    x = rng.integers(0, 2, size=10).astype(np.float64)
    p = rng.uniform(0.05, 0.95, size=10)
    want = np.asarray(jax.grad(lambda q: jnp.sum(P.bernoulli_logpmf(jnp.asarray(x), q)))(jnp.asarray(_cast(p, dt))))
    out = P.bernoulli_logpmf_grad(*place_all(backend, x, p, dtype=dt))
    assert dtype_name(out.dtype) == dt
    assert_close(out, want, **tol(TOL, dt))
    # the observed outcome certain: finite score; impossible: infinite (no NaN, no warning)
    edge = P.bernoulli_logpmf_grad(*place_all(backend, np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0, 1.0])))
    np.testing.assert_array_equal(_np(backend, edge), [1.0, -1.0, np.inf, -np.inf])


def test_bernoulli_logpmf_grad_has_mean_zero():
    # a score has expectation 0: p * (1/p) + (1 - p) * (-1/(1 - p)) = 0
    p = np.linspace(0.05, 0.95, 7)
    g1, g0 = P.bernoulli_logpmf_grad(np.ones(7), p), P.bernoulli_logpmf_grad(np.zeros(7), p)
    np.testing.assert_allclose(p * g1 + (1 - p) * g0, 0.0, atol=1e-13)


def test_gaussian_logpdf_grad_matches_jax_grad(backend, float_dtype):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(22)
    x, mu, sigma = rng.normal(size=(4, 3)) * 2, rng.normal(size=3), rng.uniform(0.3, 2.0, size=(4, 1))
    cast = [jnp.asarray(_cast(v, dt)) for v in (x, mu, sigma)]
    # elementwise scores: the gradient with respect to a broadcast copy of each parameter
    full = [jnp.broadcast_to(v, (4, 3)) for v in cast]
    want = jax.grad(lambda m, s: jnp.sum(P.gaussian_logpdf(full[0], m, s)), argnums=(0, 1))(full[1], full[2])
    d_mu, d_sigma = P.gaussian_logpdf_grad(*place_all(backend, x, mu, sigma, dtype=dt))
    for got, w in zip((d_mu, d_sigma), want):
        assert tuple(got.shape) == (4, 3) and dtype_name(got.dtype) == dt
        assert_close(got, np.asarray(w), **tol(TOL, dt))
    # Python-number parameters, as gaussian_logpdf takes them
    d_mu, d_sigma = P.gaussian_logpdf_grad(place(backend, np.array([1.0, -2.0])), 0.0, 2.0)
    assert_close(d_mu, np.array([0.25, -0.5]), **tol(TOL, "float64"))
    assert_close(d_sigma, np.array([-0.375, 0.0]), **tol(TOL, "float64"))


def test_gaussian_logpdf_grad_rejects_bad_sigma():
    with pytest.raises(ValueError, match="sigma must be positive"):
        P.gaussian_logpdf_grad(np.zeros(3), 0.0, np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="sigma"):
        P.gaussian_logpdf_grad(np.zeros(3), 0.0, -1.0)


def test_exponential_logpdf_matches_scipy(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(23)
    x = rng.exponential(2.0, size=12)
    x[:3] = [0.0, -1.0, -1e-30]  # the support starts at 0; density 0 (log -inf) below it
    rate = rng.uniform(0.1, 5.0, size=12)
    want = st.expon.logpdf(_cast(x, dt), scale=1.0 / _cast(rate, dt))
    out = P.exponential_logpdf(*place_all(backend, x, rate, dtype=dt))
    assert dtype_name(out.dtype) == dt
    assert_close(out, want, **tol(TOL, dt))
    out = P.exponential_logpdf(*place_all(backend, x, np.array(2.0), dtype=dt))  # one rate, broadcast
    assert_close(out, st.expon.logpdf(_cast(x, dt), scale=0.5), **tol(TOL, dt))


def test_exponential_logpdf_rejects_bad_rate_and_shapes():
    with pytest.raises(ValueError, match="rate must be positive"):
        P.exponential_logpdf(np.ones(3), np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="broadcastable"):
        P.exponential_logpdf(np.ones(3), np.ones(4))


def test_poisson_logpmf_matches_scipy(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(24)
    mu = rng.uniform(0.01, 30.0, size=40)
    k = rng.poisson(mu)
    k[:3] = [0, 0, 1]
    mu[:3] = [0.0, 1e-3, 0.0]  # mu = 0: P(0) = 1, P(k > 0) = 0
    want = st.poisson.logpmf(k, _cast(mu, dt))
    for ks in (k, k.astype(np.float64), k.astype(np.int32)):
        out = P.poisson_logpmf(*place_all(backend, ks, mu, dtype=dt))
        assert dtype_name(out.dtype) == dt
        assert_close(out, want, **tol(TOL, dt))


def test_poisson_logpmf_large_counts_float64():
    # log k! by the Lanczos approximation: against SciPy's gammaln up to counts of 1e6
    k = np.array([0, 1, 2, 10, 170, 171, 1000, 123456, 10 ** 6])
    mu = np.array([0.5, 1.0, 3.0, 12.0, 160.0, 180.0, 990.0, 123000.0, 10.0 ** 6])
    np.testing.assert_allclose(P.poisson_logpmf(k, mu), st.poisson.logpmf(k, mu), rtol=1e-9)
    np.testing.assert_array_equal(P.poisson_logpmf(np.array([0, 1]), np.array([1.0, 1.0])), [-1.0, -1.0])


def test_poisson_logpmf_rejects_bad_counts_and_means():
    with pytest.raises(ValueError, match="k must hold integer counts"):
        P.poisson_logpmf(np.array([0.5, 1.0]), np.ones(2))
    with pytest.raises(ValueError, match="k must hold non-negative"):
        P.poisson_logpmf(np.array([-1, 1]), np.ones(2))
    with pytest.raises(ValueError, match="mu must hold non-negative"):
        P.poisson_logpmf(np.array([1, 1]), np.array([1.0, -0.5]))
    with pytest.raises(TypeError, match="k must hold integer counts"):
        P.poisson_logpmf(np.array([True, False]), np.ones(2))


def test_poisson_and_exponential_gradients_match_their_scores():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    k = jnp.asarray(np.array([0, 1, 4, 9]))
    mu = jnp.asarray(np.array([0.5, 2.0, 4.0, 7.5]))
    g = jax.grad(lambda m: jnp.sum(P.poisson_logpmf(k, m)))(mu)
    np.testing.assert_allclose(np.asarray(g), np.asarray(k) / np.asarray(mu) - 1.0, rtol=1e-12)
    x, rate = jnp.asarray(np.array([0.0, 0.5, 3.0])), jnp.asarray(np.array([1.0, 2.0, 0.25]))
    g = jax.grad(lambda r: jnp.sum(P.exponential_logpdf(x, r)))(rate)
    np.testing.assert_allclose(np.asarray(g), 1.0 / np.asarray(rate) - np.asarray(x), rtol=1e-12)
