"""Distances and kernels against SciPy and scikit-learn, on every backend.

References are computed in float64 from the *cast* inputs (so input rounding
does not count against us); tolerances are per dtype and explained where
they are looser than ``assert_close``'s defaults.
"""

import functools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import portable_ml as pml
from portable_ml import distances as D
from portable_ml.testing import assert_close, dtype_name

from .helpers import optional_module, place, place_all, second_backend, tol

ssd = optional_module("scipy.spatial.distance")
skp = optional_module("sklearn.metrics.pairwise")


# float32: a few roundings per term plus a length-d sum; GEMM forms lose a
# little more to cancellation in ||a||^2 + ||b||^2 - 2 a.b.
# tolerance classes (tests/helpers.tol): elementwise and short reductions are "accurate"; the
# GEMM forms (|a|^2 + |b|^2 - 2ab) lose a few float32 ulp: "reduction"
TOL, GEMM_TOL = "accurate", "reduction"


def _cast(x, dtype):
    """Host float64 copy of ``x`` after rounding to ``dtype`` (the values our function sees)."""
    return np.asarray(x, dtype=dtype).astype(np.float64)


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + np.eye(d)


def _dense_to_numpy(backend, x):
    return np.asarray(backend.to_numpy(x))


# ------------------------------------------------------------ vector distances
VECTOR = {
    "euclidean": (D.euclidean, ssd.euclidean),
    "manhattan": (D.manhattan, ssd.cityblock),
    "minkowski_p3": (functools.partial(D.minkowski, p=3), functools.partial(ssd.minkowski, p=3)),
    "minkowski_p0.5": (functools.partial(D.minkowski, p=0.5), functools.partial(ssd.minkowski, p=0.5)),
    "minkowski_inf": (functools.partial(D.minkowski, p=math.inf), ssd.chebyshev),
    "cosine_distance": (D.cosine_distance, ssd.cosine),
    "cosine_similarity": (D.cosine_similarity, lambda u, v: 1.0 - ssd.cosine(u, v)),
    "chebyshev": (D.chebyshev, ssd.chebyshev),
    "canberra": (D.canberra, ssd.canberra),
    "braycurtis": (D.braycurtis, ssd.braycurtis),
    "correlation": (D.correlation, ssd.correlation),
}


@pytest.mark.parametrize("name", list(VECTOR))
def test_vector_distance_matches_scipy(backend, float_dtype, name):
    ours, ref = VECTOR[name]
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 9)), rng.normal(size=(6, 9))
    ca, cb = _cast(a, dt), _cast(b, dt)
    # 1-D inputs give a 0-d array
    out = ours(*place_all(backend, a[0], b[0], dtype=dt))
    assert tuple(out.shape) == () and dtype_name(out.dtype) == dt
    assert_close(out, np.float64(ref(ca[0], cb[0])), **tol(TOL, dt))
    # 2-D inputs give one value per row
    out = ours(*place_all(backend, a, b, dtype=dt))
    assert tuple(out.shape) == (6,) and dtype_name(out.dtype) == dt
    assert_close(out, np.array([ref(u, v) for u, v in zip(ca, cb)]), **tol(TOL, dt))


def test_mahalanobis_matches_scipy(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(1)
    a, b, S = rng.normal(size=(7, 5)), rng.normal(size=(7, 5)), _spd(rng, 5)
    ca, cb, cS = _cast(a, dt), _cast(b, dt), _cast(S, dt)
    VI = np.linalg.inv(cS)  # the reference only: ours solves
    want = np.array([ssd.mahalanobis(u, v, VI) for u, v in zip(ca, cb)])
    tl = {"float32": {"rtol": 5e-5, "atol": 1e-6}, "float64": tol(TOL, "float64")}[dt]  # Cholesky + solve
    out = D.mahalanobis(*place_all(backend, a, b, S, dtype=dt))
    assert tuple(out.shape) == (7,) and dtype_name(out.dtype) == dt
    assert_close(out, want, **tl)
    out0 = D.mahalanobis(*place_all(backend, a[0], b[0], S, dtype=dt))
    assert tuple(out0.shape) == ()
    assert_close(out0, want[0], **tl)


def test_mahalanobis_identity_covariance_is_euclidean(backend):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    out = D.mahalanobis(*place_all(backend, a, b, np.eye(3)))
    assert_close(out, np.linalg.norm(a - b, axis=1))
    # a non-symmetric Sigma is read as its symmetric part, the same on every backend
    S = _spd(rng, 3)
    skew = np.array([[0.0, 0.3, -0.2], [-0.3, 0.0, 0.1], [0.2, -0.1, 0.0]])
    got = D.mahalanobis(*place_all(backend, a, b, S + skew))
    assert_close(got, np.array([ssd.mahalanobis(u, v, np.linalg.inv(S)) for u, v in zip(a, b)]), rtol=1e-10)


def test_hamming_matches_scipy(backend, float_dtype):
    rng = np.random.default_rng(3)
    dt = dtype_name(float_dtype)
    a, b = rng.integers(0, 3, size=(5, 12)), rng.integers(0, 3, size=(5, 12))
    want = np.array([ssd.hamming(u, v) for u, v in zip(a, b)])
    # integer codes: the backend's default float
    out = D.hamming(*place_all(backend, a, b))
    assert tuple(out.shape) == (5,) and "float" in dtype_name(out.dtype)
    assert_close(out, want, rtol=1e-6)
    # float codes keep their dtype; booleans work too
    out = D.hamming(*place_all(backend, a.astype(float), b.astype(float), dtype=dt))
    assert dtype_name(out.dtype) == dt
    assert_close(out, want, **tol(TOL, dt))
    out = D.hamming(*place_all(backend, a[0] > 0, b[0] > 0))
    assert_close(out, ssd.hamming(a[0] > 0, b[0] > 0), rtol=1e-6)


def test_degenerate_vectors_give_exact_values(backend, float_dtype):
    dt = dtype_name(float_dtype)
    a = np.array([1.5, -2.0, 3.0])
    z = np.zeros(3)
    pa, pz = place_all(backend, a, z, dtype=dt)
    assert float(backend.to_numpy(D.euclidean(pa, pa))) == 0.0
    assert float(backend.to_numpy(D.minkowski(pa, pa, p=3))) == 0.0
    assert float(backend.to_numpy(D.mahalanobis(pa, pa, place(backend, np.eye(3), dtype=dt)))) == 0.0
    # zero vectors: similarity 0, distance 1 (scikit-learn's convention; SciPy gives NaN)
    assert float(backend.to_numpy(D.cosine_similarity(pa, pz))) == 0.0
    assert float(backend.to_numpy(D.cosine_distance(pz, pz))) == 1.0
    # parallel vectors stay within [-1, 1]
    s = backend.to_numpy(D.cosine_similarity(pa, place(backend, -3.0 * a, dtype=dt)))
    assert -1.0 <= float(s) <= -1.0 + 1e-6


def test_minkowski_does_not_overflow_or_underflow(backend, float_dtype):
    dt = dtype_name(float_dtype)
    for scale in (1e30, 1e-30):
        a = np.array([scale, scale, 0.0])
        out = D.minkowski(*place_all(backend, a, np.zeros(3), dtype=dt), p=4)
        assert_close(out, scale * 2.0 ** 0.25, rtol=1e-6)
        out = D.minkowski(*place_all(backend, a, np.zeros(3), dtype=dt), p=math.inf)
        assert_close(out, np.float64(np.asarray(scale, dtype=dt)), rtol=0)


# ------------------------------------------------------------ pairwise forms
def _sigmoid(A, B):
    return skp.sigmoid_kernel(A, B, gamma=0.3, coef0=0.2)


PAIRWISE = {
    "euclidean": (D.pairwise_euclidean, lambda A, B: ssd.cdist(A, B), GEMM_TOL),
    "euclidean_sklearn": (D.pairwise_euclidean, skp.deferred("euclidean_distances"), GEMM_TOL),
    "sqeuclidean": (functools.partial(D.pairwise_euclidean, squared=True),
                    lambda A, B: ssd.cdist(A, B, "sqeuclidean"), GEMM_TOL),
    "manhattan": (D.pairwise_manhattan, skp.deferred("manhattan_distances"), TOL),
    "cityblock": (D.pairwise_manhattan, lambda A, B: ssd.cdist(A, B, "cityblock"), TOL),
    "cosine": (D.pairwise_cosine_similarity, skp.deferred("cosine_similarity"), TOL),
    "linear": (D.linear_kernel, skp.deferred("linear_kernel"), TOL),
    "polynomial": (functools.partial(D.polynomial_kernel, degree=3, gamma=0.4, coef0=0.7),
                   functools.partial(skp.deferred("polynomial_kernel"), degree=3, gamma=0.4, coef0=0.7), TOL),
    "polynomial_defaults": (D.polynomial_kernel,
                            functools.partial(skp.deferred("polynomial_kernel"), degree=3, gamma=1.0, coef0=1.0), TOL),
    # RBF: sklearn's gamma = 1 / (2 sigma^2)
    "rbf": (functools.partial(D.rbf_kernel, sigma=1.7),
            functools.partial(skp.deferred("rbf_kernel"), gamma=1.0 / (2 * 1.7**2)), GEMM_TOL),
    "rbf_defaults": (D.rbf_kernel, functools.partial(skp.deferred("rbf_kernel"), gamma=0.5), GEMM_TOL),
    # sigmoid: sklearn's gamma is our alpha
    "sigmoid": (functools.partial(D.sigmoid_kernel, alpha=0.3, coef0=0.2), _sigmoid, TOL),
    "sigmoid_defaults": (D.sigmoid_kernel, functools.partial(skp.deferred("sigmoid_kernel"), gamma=0.01, coef0=0.0), TOL),
}


@pytest.mark.parametrize("self_case", [False, True], ids=["A-B", "A-A"])
@pytest.mark.parametrize("name", list(PAIRWISE))
def test_pairwise_matches_references(backend, float_dtype, name, self_case):
    ours, ref, cls = PAIRWISE[name]
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(4)
    A, B = rng.normal(size=(9, 5)), rng.normal(size=(6, 5))
    cA, cB = _cast(A, dt), _cast(B, dt)
    if self_case:
        out, want = ours(place(backend, A, dtype=dt)), ref(cA, cA)
        n, m = 9, 9
    else:
        out, want = ours(*place_all(backend, A, B, dtype=dt)), ref(cA, cB)
        n, m = 9, 6
    assert tuple(out.shape) == (n, m) and dtype_name(out.dtype) == dt
    assert_close(out, want, **tol(cls, dt))


def test_pairwise_integer_inputs_are_promoted(backend):
    A = np.arange(12).reshape(4, 3)
    out = D.pairwise_euclidean(place(backend, A))
    assert "float" in dtype_name(out.dtype)
    assert_close(out, ssd.cdist(A, A), rtol=1e-6, atol=1e-6)


def _near_duplicates(rng, n, d, offset):
    """Rows close together, far from the origin, with exact and near duplicates."""
    X = offset + 1e-2 * rng.normal(size=(n, d))
    X[7] = X[2]
    X[8] = X[3] + 1e-3
    return X.astype(np.float32)


def test_pairwise_euclidean_is_never_negative_far_from_origin(backend):
    rng = np.random.default_rng(5)
    X = _near_duplicates(rng, 40, 8, offset=1e3)
    Y = (X[:25] + np.float32(1e-3) * rng.normal(size=(25, 8)).astype(np.float32)).astype(np.float32)
    pX, pY = place_all(backend, X, Y)
    for squared in (False, True):
        for out, ref in ((D.pairwise_euclidean(pX, squared=squared), ssd.cdist(X, X)),
                         (D.pairwise_euclidean(pX, pY, squared=squared), ssd.cdist(X, Y))):
            got = _dense_to_numpy(backend, out)
            assert got.dtype == np.float32
            assert np.all(np.isfinite(got)) and np.all(got >= 0), "negative or non-finite distance"
            if squared:
                ref = ref**2
            # Centring keeps the cancellation error at eps * spread^2, not eps * offset^2
            # (which here would be ~0.5 in the squared distances: pure noise).
            np.testing.assert_allclose(got, ref, atol=3e-5 if not squared else 1e-8, rtol=1e-3)
        diag = np.diag(_dense_to_numpy(backend, D.pairwise_euclidean(pX, squared=squared)))
        assert np.all(diag == 0.0), "diagonal of X vs X must be exactly 0"
    # B is A: the same exact-zero diagonal as B=None; RBF diagonal exactly 1
    assert np.all(np.diag(_dense_to_numpy(backend, D.pairwise_euclidean(pX, pX))) == 0.0)
    assert np.all(np.diag(_dense_to_numpy(backend, D.rbf_kernel(pX))) == 1.0)


def test_pairwise_manhattan_in_blocks(backend, float_dtype, monkeypatch):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(6)
    A, B = rng.normal(size=(13, 5)), rng.normal(size=(7, 5))
    monkeypatch.setattr(D, "_BLOCK_ELEMENTS", 64)  # rows per block = 64 // (7*5) -> 1..2, many blocks
    out = D.pairwise_manhattan(*place_all(backend, A, B, dtype=dt))
    assert tuple(out.shape) == (13, 7)
    assert_close(out, ssd.cdist(_cast(A, dt), _cast(B, dt), "cityblock"), **tol(TOL, dt))
    out = D.pairwise_manhattan(place(backend, A, dtype=dt))
    assert_close(out, ssd.cdist(_cast(A, dt), _cast(A, dt), "cityblock"), **tol(TOL, dt))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 6)),
                  elements=st.floats(-1e4, 1e4, width=32)))
def test_pairwise_euclidean_properties(X):
    out = np.asarray(D.pairwise_euclidean(X))
    sq = np.asarray(D.pairwise_euclidean(X, squared=True))
    for M in (out, sq):
        assert np.all(np.isfinite(M)) and np.all(M >= 0)
        assert np.all(np.diag(M) == 0)
    # agrees with the direct difference up to the GEMM form's cancellation error
    spread = np.max(np.abs(X - X.mean(axis=0))) if X.size else 0.0
    ref = ssd.cdist(X.astype(np.float64), X.astype(np.float64))
    assert np.all(np.abs(out - ref) <= 1e-2 * spread + 1e-3 * ref + 1e-6)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e3, 1e3)))
def test_vector_distances_triangle_inequality(P):
    a, b, c = P
    for f in (D.euclidean, D.manhattan, functools.partial(D.minkowski, p=3)):
        assert float(f(a, c)) <= float(f(a, b)) + float(f(b, c)) + 1e-9 * (1 + np.abs(P).max())
        assert float(f(a, b)) == pytest.approx(float(f(b, a)), rel=1e-12, abs=1e-12)


def test_nan_propagates(backend):
    # masks that guard sqrt/log against zeros must not turn NaN into 0
    a = np.array([[1.0, np.nan, 2.0], [0.5, 1.0, -1.0]])
    b = np.array([[0.0, 1.0, 1.0], [np.nan, 0.0, 0.0]])
    pa, pb, pS = place_all(backend, a, b, np.eye(3))
    fns = [D.euclidean, D.manhattan, functools.partial(D.minkowski, p=3), D.cosine_similarity,
           D.cosine_distance]
    if backend.name != "dask":  # Dask's triangular solve (SciPy, check_finite) raises on NaN instead
        fns.append(lambda u, v: D.mahalanobis(u, v, pS))
    if backend.name == "jax":
        import jax

        fns += [jax.jit(f) for f in fns]
    for fn in fns:
        assert np.all(np.isnan(_dense_to_numpy(backend, fn(pa, pb)))), fn
    for fn in (D.pairwise_euclidean, D.pairwise_manhattan, D.pairwise_cosine_similarity, D.rbf_kernel):
        out = _dense_to_numpy(backend, fn(pa, pb))
        assert np.all(np.isnan(out[0, :])) and np.all(np.isnan(out[:, 1])), fn.__name__


# ------------------------------------------------------------------ gradients
@pytest.mark.backends("jax")
def test_gradients_match_analytic_forms(backend):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(7)
    a, b, S = rng.normal(size=4), rng.normal(size=4), _spd(rng, 4)
    diff = a - b
    g = jax.grad(D.euclidean)(jnp.asarray(a), jnp.asarray(b))
    assert_close(g, diff / np.linalg.norm(diff), rtol=1e-12)
    g = jax.grad(D.mahalanobis)(jnp.asarray(a), jnp.asarray(b), jnp.asarray(S))
    z = np.linalg.solve(S, diff)
    assert_close(g, z / np.sqrt(diff @ z), rtol=1e-10)
    g = jax.grad(lambda x: D.minkowski(x, jnp.asarray(b), p=3))(jnp.asarray(a))
    d3 = np.sum(np.abs(diff) ** 3) ** (1 / 3)
    assert_close(g, np.sign(diff) * (np.abs(diff) / d3) ** 2, rtol=1e-12)
    s = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    g = jax.grad(D.cosine_similarity)(jnp.asarray(a), jnp.asarray(b))
    assert_close(g, b / (np.linalg.norm(a) * np.linalg.norm(b)) - s * a / (a @ a), rtol=1e-10)
    # RBF Gram matrix: d/dA sum_ij K_ij = -sum_j K_ij (a_i - b_j) / sigma^2
    A, B = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    K = np.exp(-ssd.cdist(A, B, "sqeuclidean") / (2 * 1.3**2))
    want = -(K.sum(1)[:, None] * A - K @ B) / 1.3**2
    g = jax.grad(lambda X: jnp.sum(D.rbf_kernel(X, jnp.asarray(B), sigma=1.3)))(jnp.asarray(A))
    assert_close(g, want, rtol=1e-9, atol=1e-12)


@pytest.mark.backends("jax")
def test_gradient_at_zero_distance_is_finite(backend):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(8)
    a = jnp.asarray(rng.normal(size=4))
    g = jax.grad(D.euclidean)(a, a)
    assert np.all(np.asarray(g) == 0.0)
    X = rng.normal(size=(6, 3))
    X[4] = X[1]  # an off-diagonal zero distance too
    g = jax.grad(lambda X: jnp.sum(D.pairwise_euclidean(X)))(jnp.asarray(X))
    assert np.all(np.isfinite(np.asarray(g)))
    # analytic: d/dx_i sum_{j,k} D_jk = 2 sum_{j: D_ij > 0} (x_i - x_j) / D_ij
    Dm = ssd.cdist(X, X)
    W = np.where(Dm > 0, 1.0 / np.where(Dm > 0, Dm, 1.0), 0.0)
    assert_close(g, 2 * (W.sum(1)[:, None] * X - W @ X), rtol=1e-7, atol=1e-7)
    for fn in (D.pairwise_euclidean, D.pairwise_cosine_similarity, D.rbf_kernel):
        gz = jax.grad(lambda X: jnp.sum(fn(X, X)))(jnp.zeros((3, 2)))
        assert np.all(np.isfinite(np.asarray(gz))), fn.__name__


@pytest.mark.backends("torch")
def test_torch_autograd_at_zero_distance_is_finite(backend):
    import torch

    X = torch.tensor(np.random.default_rng(9).normal(size=(5, 3)), requires_grad=True)
    (D.pairwise_euclidean(X).sum() + D.euclidean(X[0], X[0]) + D.cosine_distance(X[1], X[1])).backward()
    assert torch.all(torch.isfinite(X.grad))


# ------------------------------------------------------------------ bad input
def test_bad_shapes_raise(backend):
    rng = np.random.default_rng(10)
    a3, a4 = place_all(backend, rng.normal(size=3), rng.normal(size=4))
    with pytest.raises(ValueError, match="same shape"):
        D.euclidean(a3, a4)
    with pytest.raises(ValueError, match="same shape"):
        D.hamming(a3, a4)
    cube = place(backend, rng.normal(size=(2, 2, 2)))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        D.manhattan(cube, cube)
    with pytest.raises(ValueError, match="must not be empty"):
        D.cosine_similarity(*place_all(backend, np.zeros(0), np.zeros(0)))
    A, B = place_all(backend, rng.normal(size=(4, 3)), rng.normal(size=(5, 2)))
    for fn in (D.pairwise_euclidean, D.pairwise_manhattan, D.pairwise_cosine_similarity, D.linear_kernel,
               D.polynomial_kernel, D.rbf_kernel, D.sigmoid_kernel):
        with pytest.raises(ValueError, match="same number of features"):
            fn(A, B)
        with pytest.raises(ValueError, match="A must be 2-D"):
            fn(a3)
    with pytest.raises(ValueError, match=r"Sigma must have shape \(3, 3\)"):
        D.mahalanobis(a3, a3, place(backend, np.eye(2)))


def test_bad_options_raise():
    a = np.ones(3)
    with pytest.raises(ValueError, match="p must be positive"):
        D.minkowski(a, a, p=0)
    with pytest.raises(ValueError, match="sigma must be positive"):
        D.rbf_kernel(np.ones((2, 2)), sigma=0.0)
    with pytest.raises(ValueError, match="degree must be an integer >= 0"):
        D.polynomial_kernel(np.ones((2, 2)), degree=-1)


@pytest.mark.skip_backends(dask="lazy: values are not inspected before compute")
def test_non_positive_definite_covariance_raises(backend):
    a, b = place_all(backend, np.ones(3), np.zeros(3))
    for S in (np.diag([1.0, -1.0, 1.0]), np.zeros((3, 3))):
        with pytest.raises(ValueError, match="Sigma must be symmetric positive definite"):
            D.mahalanobis(a, b, place(backend, S))


@pytest.mark.backends("jax")
def test_non_positive_definite_covariance_gives_nan_under_jit(backend):
    import jax

    # traced values cannot be inspected: NaN, as jax.scipy gives
    out = jax.jit(D.mahalanobis)(*place_all(backend, np.ones(3), np.zeros(3), np.diag([1.0, -1.0, 1.0])))
    assert np.isnan(float(out))


def test_mixed_backends_raise():
    strict = second_backend()
    with pytest.raises(TypeError, match="different backends"):
        D.euclidean(np.ones(3), strict.asarray(np.ones(3)))


# ------------------------------------------------- accuracy at the extremes (issue 12)
def _np(backend, x):
    return np.asarray(backend.to_numpy(x), dtype=np.float64)


def test_pairwise_euclidean_is_never_nan_for_huge_float32(backend):
    A = np.array([[1e30, -1e30, 1], [3e29, 1, -2]], dtype=np.float32)
    out = _np(backend, D.pairwise_euclidean(backend.asarray(A)))
    ref = ssd.cdist(A.astype(np.float64), A.astype(np.float64))
    assert np.all(np.isfinite(out))
    assert_close(out, ref, rtol=1e-6, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy says the true 1.5e60 overflows float32
        sq = _np(backend, D.pairwise_euclidean(backend.asarray(A), squared=True))
    assert np.all(~np.isnan(sq)) and sq[0, 0] == 0.0 and np.isinf(sq[0, 1])  # 1.5e60 overflows float32


_NEAR_ROWS = np.array([[1e30, 0.5, 1e4], [1e30, -3.0, 0.0], [0.5, 1.0, 2.0]])


def test_pairwise_euclidean_resolves_near_rows_far_from_the_centre(backend):
    """The GEMM form cannot see a distance of 1e4 next to norms of 1e30: those pairs are recomputed."""
    if backend.name == "dask":
        pytest.skip("lazy arrays: the correction pass needs concrete values (documented)")
    A = backend.asarray(_NEAR_ROWS)
    ref = ssd.cdist(_NEAR_ROWS, _NEAR_ROWS)
    assert ref[0, 1] == pytest.approx(1.00000006e4, rel=1e-8)
    assert_close(_np(backend, D.pairwise_euclidean(A)), ref, rtol=1e-12, atol=0)
    B = backend.asarray(_NEAR_ROWS[::-1].copy())
    assert_close(_np(backend, D.pairwise_euclidean(A, B)), ssd.cdist(_NEAR_ROWS, _NEAR_ROWS[::-1]), rtol=1e-12, atol=0)
    K = _np(backend, D.rbf_kernel(A, sigma=1e3))
    assert_close(K, np.exp(-(ref**2) / 2e6), rtol=1e-12, atol=1e-300)
    assert K[0, 1] < 1e-20  # was 1.0


def _data_with_duplicates(rng, n, d, dtype):
    X = rng.normal(size=(n, d)) + 50.0  # off-centre, as real features often are
    X[7] = X[3]
    X[11] = X[3]
    return X.astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pairwise_euclidean_matches_a_float64_reference_and_duplicates_are_exactly_zero(backend, dtype):
    """float32 within 1e-6 relative of float64 cdist (as scikit-learn's upcasting gives); duplicates exactly 0."""
    rng = np.random.default_rng(5)
    X = _data_with_duplicates(rng, 40, 16, dtype)
    Y = np.concatenate([X[:5], rng.normal(size=(20, 16)).astype(dtype) + 50.0])
    ref_xx = ssd.cdist(X.astype(np.float64), X.astype(np.float64))
    ref_xy = ssd.cdist(X.astype(np.float64), Y.astype(np.float64))
    rtol = 1e-6 if dtype == "float32" else 1e-12
    for out, ref in ((D.pairwise_euclidean(backend.asarray(X)), ref_xx),
                     (D.pairwise_euclidean(backend.asarray(X), backend.asarray(Y)), ref_xy)):
        assert dtype_name(out.dtype) == dtype
        got = _np(backend, out)
        if backend.name == "dask":  # lazy: the GEMM form only (no correction pass), see the docstring
            assert_close(got, ref, rtol=rtol, atol=1e-6 if dtype == "float64" else 1e-3)
        else:
            assert_close(got, ref, rtol=rtol, atol=0)
            assert np.all(got[ref == 0] == 0.0)


def test_vector_distances_scale_instead_of_overflowing(backend):
    f32 = "float32"
    a, b = backend.asarray(np.array([1e30, 0.0]), dtype=f32), backend.asarray(np.array([-1e30, 0.0]), dtype=f32)
    assert _np(backend, D.euclidean(a, b)) == pytest.approx(2e30, rel=1e-6)
    tiny = backend.asarray(np.array([1e-30, 1e-30]), dtype=f32)
    assert _np(backend, D.euclidean(tiny, tiny * 0)) == pytest.approx(math.sqrt(2) * 1e-30, rel=1e-6)
    for scale in (1e30, 1e-30):
        u = backend.asarray(np.array([scale, scale]), dtype=f32)
        v = backend.asarray(np.array([scale, 0.0]), dtype=f32)
        assert _np(backend, D.cosine_similarity(u, v)) == pytest.approx(1 / math.sqrt(2), rel=1e-6)
        assert _np(backend, D.cosine_distance(u, v)) == pytest.approx(1 - 1 / math.sqrt(2), rel=1e-6)


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_pairwise_cosine_similarity_extreme_float32_rows(backend, scale):
    # found by tests/test_fuzz.py: the row norms under- or overflowed in float32 (0 for 1e-30 rows)
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    want = 1.0 - ssd.cdist(A, B, "cosine")
    got = D.pairwise_cosine_similarity(backend.asarray(A * scale, dtype="float32"),
                                       backend.asarray(B * scale, dtype="float32"))
    assert_close(got, want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------- SciPy's other metrics and pairwise_distances (issue 16)
def test_seuclidean_weighted_minkowski_and_jensenshannon_match_scipy(backend, float_dtype):
    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(20)
    a, b = rng.normal(size=(6, 9)), rng.normal(size=(6, 9))
    V, w = rng.uniform(0.2, 3.0, 9), rng.uniform(0.0, 2.0, 9)
    w[3] = 0.0  # a feature left out
    ca, cb, cV, cw = (_cast(x, dt) for x in (a, b, V, w))
    out = D.seuclidean(*place_all(backend, a, b, V, dtype=dt))
    assert tuple(out.shape) == (6,) and dtype_name(out.dtype) == dt
    assert_close(out, np.array([ssd.seuclidean(u, v, cV) for u, v in zip(ca, cb)]), **tol(TOL, dt))
    assert_close(D.seuclidean(*place_all(backend, a[0], b[0], V, dtype=dt)), ssd.seuclidean(ca[0], cb[0], cV),
                 **tol(TOL, dt))
    for p in (1, 2, 3, 0.5, math.inf):
        out = D.minkowski(*place_all(backend, a, b, w, dtype=dt), p=p)
        assert_close(out, np.array([ssd.minkowski(u, v, p=p, w=cw) for u, v in zip(ca, cb)]), **tol(TOL, dt),
                     err_msg=f"p={p}")
    P, Q = rng.uniform(0.0, 2.0, size=(6, 9)), rng.uniform(0.0, 2.0, size=(6, 9))
    P[0, :4] = 0.0  # zeros contribute 0
    cP, cQ = _cast(P, dt), _cast(Q, dt)
    for base in (None, 2.0):
        out = D.jensenshannon(*place_all(backend, P, Q, dtype=dt), base=base)
        assert tuple(out.shape) == (6,) and dtype_name(out.dtype) == dt
        assert_close(out, np.array([ssd.jensenshannon(u, v, base=base) for u, v in zip(cP, cQ)]), **tol(TOL, dt))
    zero = D.jensenshannon(*place_all(backend, P[1], 3.0 * P[1], dtype=dt))  # the same distribution, rescaled
    assert float(backend.to_numpy(zero)) < 1e-3


# metric name -> (options, scikit-learn options where they differ); V and VI are given where
# scikit-learn needs them for A-B (it computes defaults only for B=None)
_PW_METRICS = ["euclidean", "l2", "sqeuclidean", "manhattan", "cityblock", "l1", "cosine", "correlation",
               "chebyshev", "canberra", "braycurtis", "minkowski", "minkowski_p3", "minkowski_w", "seuclidean",
               "seuclidean_V", "mahalanobis", "mahalanobis_VI", "hamming", "jensenshannon"]


def _pw_options(name, rng, d, dt):
    if name == "minkowski_p3":
        return "minkowski", {"p": 3}
    if name == "minkowski_w":
        return "minkowski", {"p": 1.5, "w": rng.uniform(0.1, 2.0, d)}
    if name == "seuclidean_V":
        return "seuclidean", {"V": rng.uniform(0.5, 2.0, d)}
    if name == "mahalanobis_VI":
        return "mahalanobis", {"VI": _spd(rng, d)}
    return name, {}


@pytest.mark.parametrize("self_case", [False, True], ids=["A-B", "A-A"])
@pytest.mark.parametrize("name", _PW_METRICS)
def test_pairwise_distances_matches_sklearn(backend, float_dtype, name, self_case):
    sk_pairwise = pytest.importorskip("sklearn.metrics").pairwise_distances

    dt = dtype_name(float_dtype)
    rng = np.random.default_rng(21)
    A, B = rng.normal(size=(9, 4)), rng.normal(size=(6, 4))
    metric, opts = _pw_options(name, rng, 4, dt)
    if metric == "jensenshannon":
        A, B = np.abs(A), np.abs(B)
    if metric == "hamming":
        A, B = np.round(A), np.round(B)  # some equal entries
    cA, cB = _cast(A, dt), _cast(B, dt)
    copts = {k: _cast(v, dt) for k, v in opts.items()}
    if self_case:
        out = D.pairwise_distances(place(backend, A, dtype=dt), metric=metric,
                                   **{k: place(backend, v, dtype=dt) for k, v in opts.items()})
        refB, m = None, 9
    else:
        out = D.pairwise_distances(*place_all(backend, A, B, dtype=dt), metric=metric,
                                   **{k: place(backend, v, dtype=dt) for k, v in opts.items()})
        refB, m = cB, 6
    if metric == "seuclidean" and not opts and not self_case:  # scikit-learn asks for V: SciPy's default
        want = ssd.cdist(cA, cB, "seuclidean")
    elif metric == "mahalanobis" and not opts and not self_case:
        want = ssd.cdist(cA, cB, "mahalanobis")
    elif metric == "jensenshannon":
        want = ssd.cdist(cA, cA if refB is None else refB, "jensenshannon")
    else:
        want = sk_pairwise(cA, refB, metric=metric, **copts)
    assert tuple(out.shape) == (9, m) and dtype_name(out.dtype) == dt
    cls = GEMM_TOL if metric in ("euclidean", "l2", "sqeuclidean", "seuclidean", "mahalanobis") or (
        metric == "minkowski" and opts.get("p", 2) == 2) else "reduction"
    assert_close(out, want, **tol(cls, dt))
    if self_case:
        assert np.all(np.diag(_np(backend, out)) == 0.0), "the diagonal of A vs A must be exactly 0"


@pytest.mark.parametrize("metric", ["chebyshev", "canberra", "braycurtis", "minkowski", "hamming"])
def test_pairwise_distances_in_blocks(backend, metric, monkeypatch):
    rng = np.random.default_rng(22)
    A, B = rng.normal(size=(13, 5)), rng.normal(size=(7, 5))
    monkeypatch.setattr(D, "_BLOCK_ELEMENTS", 64)  # 1-2 rows per block: many blocks
    kw = {"p": 3} if metric == "minkowski" else {}
    out = D.pairwise_distances(*place_all(backend, A, B), metric=metric, **kw)
    assert_close(out, ssd.cdist(A, B, metric, **kw), rtol=1e-12, atol=1e-14)


@pytest.mark.backends("jax")
def test_new_distances_gradients_match_jax_and_are_finite_at_zero(backend):
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(23)
    a, b, V = (jnp.asarray(x) for x in (rng.normal(size=5), rng.normal(size=5), rng.uniform(0.5, 2, 5)))
    # seuclidean: d/da = (a - b) / (V d)
    g = jax.grad(D.seuclidean)(a, b, V)
    assert_close(g, np.asarray((a - b) / (V * D.seuclidean(a, b, V))), rtol=1e-12)
    # canberra: sign(a - b)/(|a| + |b|) - |a - b| sign(a)/(|a| + |b|)^2
    den = jnp.abs(a) + jnp.abs(b)
    want = jnp.sign(a - b) / den - jnp.abs(a - b) * jnp.sign(a) / den**2
    assert_close(jax.grad(D.canberra)(a, b), np.asarray(want), rtol=1e-12)
    # at a zero distance the gradients are finite (0 for the square-root forms)
    P = jnp.asarray(rng.uniform(0.1, 1.0, 5))
    for f, args in ((D.jensenshannon, (P, P)), (D.seuclidean, (a, a, V)), (D.correlation, (a, 2.0 * a + 1.0))):
        assert np.all(np.isfinite(np.asarray(jax.grad(f)(*args)))), f.__name__
    A = jnp.asarray(rng.normal(size=(4, 3)))
    for metric in ("correlation", "chebyshev", "canberra", "seuclidean", "jensenshannon", "cosine"):
        X = jnp.abs(A) if metric == "jensenshannon" else A
        g = jax.grad(lambda x, m=metric: jnp.sum(D.pairwise_distances(x, metric=m)))(X)
        assert np.all(np.isfinite(np.asarray(g))), metric


def test_new_distances_bad_input_raises(backend):
    rng = np.random.default_rng(24)
    a, b = place_all(backend, rng.normal(size=(3, 4)), rng.normal(size=(3, 4)))
    with pytest.raises(ValueError, match=r"V must have shape \(4,\)"):
        D.seuclidean(a, b, place(backend, np.ones(3)))
    with pytest.raises(ValueError, match=r"w must have shape \(4,\)"):
        D.minkowski(a, b, place(backend, np.ones(5)), p=3)
    with pytest.raises(ValueError, match="same shape"):
        D.chebyshev(a, place(backend, rng.normal(size=(3, 5))))
    with pytest.raises(ValueError, match="metric must be one of"):
        D.pairwise_distances(a, metric="nope")
    with pytest.raises(ValueError, match="w applies to metric='minkowski' only"):
        D.pairwise_distances(a, metric="euclidean", w=place(backend, np.ones(4)))
    with pytest.raises(ValueError, match="p must be positive"):
        D.pairwise_distances(a, metric="minkowski", p=-1)
    with pytest.raises(ValueError, match=r"VI must have shape \(4, 4\)"):
        D.pairwise_distances(a, metric="mahalanobis", VI=place(backend, np.eye(3)))
    with pytest.raises(ValueError, match="same number of features"):
        D.pairwise_distances(a, place(backend, rng.normal(size=(2, 5))), metric="canberra")


@pytest.mark.skip_backends(dask="lazy: values are not inspected before compute")
def test_new_distances_bad_values_raise(backend):
    a = place(backend, np.ones((2, 3)))
    with pytest.raises(ValueError, match="V must hold positive variances"):
        D.seuclidean(a, a, place(backend, np.array([1.0, 0.0, 1.0])))
    with pytest.raises(ValueError, match="w must hold non-negative weights"):
        D.minkowski(a, a, place(backend, np.array([1.0, -1.0, 1.0])), p=3)
    with pytest.raises(ValueError, match="p must hold non-negative values"):
        D.jensenshannon(place(backend, np.array([0.5, -0.5, 1.0])), place(backend, np.ones(3)))
    with pytest.raises(ValueError, match="positive sum"):
        D.jensenshannon(place(backend, np.zeros(3)), place(backend, np.ones(3)))
    with pytest.raises(ValueError, match="A must hold non-negative values"):
        D.pairwise_distances(place(backend, -np.ones((2, 3))), metric="jensenshannon")
