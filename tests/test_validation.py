"""The one validation vocabulary (``portable_ml._validate``) and the reproductions it fixes.

First the vocabulary itself (integers, reals, bools, choices, axes, shapes,
seeds, array values, pytrees), then every reproduction of issue 12's
"Foreign inputs" and "Options" sections at exactly its input: Python lists
given to formulas, arrays of a second backend, probabilities out of range,
options of the wrong type, and the raw solver errors of the models.
"""

import math
import warnings

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import _validate as V
from portable_ml import activations as A
from portable_ml import distances as D
from portable_ml import losses as L
from portable_ml import metrics as MT
from portable_ml import models as M
from portable_ml import probability as P
from portable_ml._xp import check_positive
from portable_ml.testing import assert_close

from .helpers import place, place_all

ARRAY_MSG = (r"expected an array \(NumPy, CuPy, JAX, PyTorch, Dask or array-api-strict\); got {kind} — "
             r"wrap it with numpy.asarray or Backend.asarray")


# ================================================================== the vocabulary
class TestCheckInt:
    @pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), np.array(3)])
    def test_integers_pass_as_python_ints(self, value):
        out = V.check_int(value, "n", low=0)
        assert out == 3 and type(out) is int

    @pytest.mark.parametrize("value, match", [
        (True, "n must be an integer; got the bool True"),
        (np.bool_(False), "n must be an integer; got the bool False"),
        (2.5, "n must be an integer; got float 2.5"),
        (2.0, "n must be an integer; got float 2.0"),
        ("3", "n must be an integer; got str"),
        (None, "n must be an integer; got NoneType"),
        (np.array([1, 2]), "n must be an integer; got ndarray"),
    ])
    def test_non_integers_raise_type_error(self, value, match):
        with pytest.raises(TypeError, match=match):
            V.check_int(value, "n")

    def test_bounds(self):
        with pytest.raises(ValueError, match="n must be an integer >= 1; got n=0"):
            V.check_int(0, "n", low=1)
        with pytest.raises(ValueError, match=r"n must be an integer in \[1, 4\]; got n=5"):
            V.check_int(5, "n", low=1, high=4)
        assert V.check_int(-3, "n") == -3

    def test_torch_and_jax_scalars(self):
        torch = pytest.importorskip("torch")
        assert V.check_int(torch.tensor(4), "n") == 4
        with pytest.raises(TypeError, match="n must be an integer"):
            V.check_int(torch.tensor(4.0), "n")


class TestCheckReal:
    @pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.int64(1)])
    def test_numbers_pass_as_python_floats(self, value):
        out = V.check_real(value, "x", low=0.0, high=1.0)
        assert out == float(value) and type(out) is float

    @pytest.mark.parametrize("value, match", [
        (True, "x must be a real number; got the bool True"),
        ("0.1", "x must be a real number; got '0.1'"),
        (None, "x must be a real number; got NoneType"),
        (1j, r"x must be a real number; got 1j"),
        ([0.1], "x must be a real number; got list"),
    ])
    def test_non_reals_raise_type_error(self, value, match):
        with pytest.raises(TypeError, match=match):
            V.check_real(value, "x")

    @pytest.mark.parametrize("value, kwargs, match", [
        (math.nan, {}, "x must be finite; got x=nan"),
        (math.inf, {}, "x must be finite; got x=inf"),
        (-1.0, {"low": 0.0}, "x must be non-negative and finite; got x=-1.0"),
        (0.0, {"low": 0.0, "low_open": True}, "x must be positive and finite; got x=0.0"),
        (1.0, {"low": 0.0, "high": 1.0, "high_open": True}, r"x must be finite and in \[0, 1\); got x=1.0"),
        (2.0, {"high": 1.0}, "x must be finite and <= 1; got x=2.0"),
        (math.nan, {"finite": False, "low": 0.0}, "x must be non-negative; got x=nan"),
    ])
    def test_values_out_of_bounds_raise_value_error(self, value, kwargs, match):
        with pytest.raises(ValueError, match=match):
            V.check_real(value, "x", **kwargs)

    def test_infinity_allowed_when_asked(self):
        assert V.check_real(math.inf, "x", low=0.0, finite=False) == math.inf

    def test_arrays_checked_when_concrete_and_passed_through(self, xp):
        a = xp.asarray(0.5)
        assert V.check_real(a, "lr", low=0.0, arrays=True) is a
        with pytest.raises(TypeError, match="lr must be a real number; got"):
            V.check_real(a, "lr", low=0.0)
        if pml.backend.backend_of(a) != "dask":
            with pytest.raises(ValueError, match=r"lr must be non-negative and finite; got values in \[-1.0, -1.0\]"):
                V.check_real(xp.asarray(-1.0), "lr", low=0.0, arrays=True)

    def test_traced_arrays_pass_unchecked(self):
        jax = pytest.importorskip("jax")
        out = jax.jit(lambda v: V.check_real(v, "lr", low=0.0, arrays=True) * 2)(jax.numpy.asarray(-1.0))
        assert float(out) == -2.0


def test_check_bool_and_choice():
    assert V.check_bool(np.bool_(True), "flag") is True
    for bad in (1, "no", None, 0.0):
        with pytest.raises(TypeError, match="flag must be True or False; got"):
            V.check_bool(bad, "flag")
    assert V.check_choice("mean", "reduction", ("mean", "sum")) == "mean"
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum'; got reduction='avg'"):
        V.check_choice("avg", "reduction", ("mean", "sum"))
    # compared by type: 1 is not True
    with pytest.raises(ValueError, match="approximate must be one of True, False; got approximate=1"):
        V.check_choice(1, "approximate", (True, False))


def test_check_axis():
    assert V.check_axis(-1, 3) == 2 and V.check_axis(np.int64(1), 3) == 1
    assert V.check_axis((0, -1), 3, allow_tuple=True) == (0, 2)
    assert V.check_axis(None, 3, allow_none=True) is None
    with pytest.raises(TypeError, match="axis must be an integer; got 1.5"):
        V.check_axis(1.5, 3)
    with pytest.raises(TypeError, match="axis must be an integer; got True"):
        V.check_axis(True, 3)
    with pytest.raises(TypeError, match="axis must be an integer; got"):
        V.check_axis((0, 1), 3)
    with pytest.raises(ValueError, match=r"axis=5 is out of range for an array of 3 dimensions \(valid: -3 to 2\)"):
        V.check_axis(5, 3)
    with pytest.raises(ValueError, match="axis must not repeat an axis"):
        V.check_axis((1, -2), 3, allow_tuple=True)
    with pytest.raises(ValueError, match="out of range for a 0-d array"):
        V.check_axis(0, 0)


def test_check_shape_and_seed():
    assert V.check_shape(3) == (3,) and V.check_shape((2, np.int64(0))) == (2, 0) and V.check_shape([]) == ()
    with pytest.raises(TypeError, match=r"shape must contain integers only; got shape=\(2.5,\)"):
        V.check_shape((2.5,))
    with pytest.raises(ValueError, match=r"shape must not contain negative sizes; got shape=\(2, -1\)"):
        V.check_shape((2, -1))
    with pytest.raises(TypeError, match="shape must be an integer or a tuple of integers; got '3'"):
        V.check_shape("3")
    assert V.check_seed(None) is None and V.check_seed(7) == 7 and V.check_seed([1, 2]) == [1, 2]
    seq = np.random.SeedSequence(3)
    assert V.check_seed(seq) is seq
    with pytest.raises(ValueError, match="seed must be an integer >= 0; got seed=-1"):
        V.check_seed(-1)


@pytest.mark.skip_backends(dask="lazy: values are not inspected")
def test_check_values_on_concrete_arrays(backend):
    x = place(backend, np.array([0.0, 0.5, 1.0, np.nan]))
    V.check_probabilities(x, "p", backend.xp)  # NaN passes (it propagates)
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]; got values in \[-0.5, 2.0\]"):
        V.check_probabilities(place(backend, np.array([-0.5, 2.0])), "p", backend.xp)
    V.check_values(place(backend, np.zeros((0, 3))), "d", backend.xp, low=0)  # empty: nothing to check


def test_check_values_skips_traced_and_lazy_arrays():
    jax = pytest.importorskip("jax")
    f = jax.jit(lambda p: (V.check_probabilities(p, "p", jax.numpy), p * 2)[1])
    assert float(f(jax.numpy.asarray(3.0))) == 6.0
    da = pytest.importorskip("dask.array")
    V.check_probabilities(da.from_array(np.array([3.0])), "p", pml.get_backend("dask").xp)


class TestCheckTreeLike:
    def test_matching_trees_pass(self, xp):
        t = {"a": xp.ones(2), "b": [xp.zeros(3), None]}
        V.check_tree_like(t, t, "grads", "params")

    def test_structure_shape_and_backend(self):
        torch = pytest.importorskip("torch")
        ref = {"a": np.ones(2), "b": [np.zeros(3)]}
        with pytest.raises(ValueError, match="grads must have the tree structure of params"):
            V.check_tree_like({"a": np.ones(2)}, ref, "grads", "params")
        with pytest.raises(ValueError, match=r"grads leaf 'b/0' has shape \(2,\), but the matching leaf of params "
                                             r"has shape \(3,\)"):
            V.check_tree_like({"a": np.ones(2), "b": [np.zeros(2)]}, ref, "grads", "params")
        with pytest.raises(TypeError, match=r"grads leaf 'a' is a torch array \(Tensor\), but the matching leaf of "
                                            r"params is a numpy array \(ndarray\)"):
            V.check_tree_like({"a": torch.ones(2), "b": [np.zeros(3)]}, ref, "grads", "params")
        with pytest.raises(TypeError, match="grads leaf 'a': expected an array .* got str"):
            V.check_tree_like({"a": "1.0", "b": [np.zeros(3)]}, {"a": np.ones(2), "b": [np.zeros(3)]},
                              "grads", "params")


@pytest.mark.parametrize("value, exc, match", [
    (True, TypeError, "x must be a real number; got the bool True"),   # used to pass (True > 0)
    ("1", TypeError, "x must be a real number or an array; got '1'"),  # used to raise str > int
    (math.nan, ValueError, "x must be positive; got x=nan"),
    (0, ValueError, "x must be positive; got x=0"),
])
def test_check_positive_delegates_to_the_vocabulary(value, exc, match):
    with pytest.raises(exc, match=match):
        check_positive(value, "x")


def test_check_positive_keeps_accepting_infinity_and_arrays():
    check_positive(math.inf, "x")
    check_positive(np.asarray(2.0), "x")
    check_positive(0.0, "x", strict=False)


# ================================================================== foreign inputs to formulas
@pytest.mark.parametrize("call, name, kind", [
    (lambda: D.euclidean([1.0, 2.0], np.ones(2)), "a", "list"),
    (lambda: D.euclidean(np.ones(2), (1.0, 2.0)), "b", "tuple"),
    (lambda: A.sigmoid([1.0]), "x", "list"),
    (lambda: A.softmax([[1.0, 2.0]]), "x", "list"),
    (lambda: L.mse(np.ones(2), [1.0, 2.0]), "y_pred", "list"),
    (lambda: P.kl_divergence(np.ones(2) / 2, (0.5, 0.5)), "q", "tuple"),
    (lambda: P.entropy([0.5, 0.5]), "p", "list"),
    (lambda: MT.r2([1.0, 2.0], np.ones(2)), "y_true", "list"),
])
def test_python_lists_to_formulas_name_the_argument(call, name, kind):
    """Formulas take arrays: a list is a TypeError naming the argument (not the 'cannot be mixed' error)."""
    with pytest.raises(TypeError, match=rf"^{name} \(argument of \w+\): " + ARRAY_MSG.format(kind=kind)) as info:
        call()
    assert "cannot be mixed" not in str(info.value)


def test_mixing_error_only_for_real_arrays_of_two_backends():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"arrays from different backends cannot be mixed: got numpy \(ndarray\), "
                                        r"torch \(Tensor\); move them to one backend first"):
        L.mse(np.ones(2), torch.ones(2))


def test_mahalanobis_refuses_a_sigma_of_another_backend():
    torch = pytest.importorskip("torch")
    a, b = np.array([1.0, 2.0]), np.array([0.0, 0.0])
    with pytest.raises(TypeError, match=r"arrays from different backends cannot be mixed: got numpy \(ndarray\), "
                                        r"torch \(Tensor\)"):
        D.mahalanobis(a, b, torch.eye(2, dtype=torch.float64))
    sp_mahalanobis = pytest.importorskip("scipy.spatial.distance").mahalanobis

    assert_close(D.mahalanobis(a, b, np.eye(2) * 4.0), np.asarray(sp_mahalanobis(a, b, np.eye(2) / 4.0)))


# ================================================================== option and value checks in formulas
@pytest.mark.skip_backends(dask="lazy: values are not inspected before compute")
def test_probabilities_out_of_range_raise(backend):
    a = lambda *xs: place_all(backend, *(np.asarray(x, dtype=np.float64) for x in xs))  # noqa: E731
    # binary_cross_entropy([1.], [1.5]) used to clip silently to 9.99e-16
    with pytest.raises(ValueError, match=r"y_pred must hold probabilities in \[0, 1\]; got values in \[1.5, 1.5\]"):
        L.binary_cross_entropy(*a([1.0], [1.5]))
    with pytest.raises(ValueError, match=r"y_pred must hold probabilities in \[0, 1\]"):
        L.binary_cross_entropy_grad(*a([1.0], [-0.5]))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]; got values in \[1.5, 1.5\]"):
        L.focal(*a([1.0], [1.5]))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        L.focal_grad(*a([1.0], [1.5]))
    # negative probabilities used to pass CE and KL
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]; got values in \[-0.2, 1.2\]"):
        L.categorical_cross_entropy(*a([[1.0, 0.0]], [[1.2, -0.2]]))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        L.sparse_categorical_cross_entropy(place(backend, np.array([0])), place(backend, np.array([[1.2, -0.2]])))
    with pytest.raises(ValueError, match=r"q must hold probabilities in \[0, 1\]; got values in \[-0.2, 1.2\]"):
        L.kl_divergence(*a([[0.5, 0.5]], [[1.2, -0.2]]))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        L.kl_divergence_grad(*a([[-0.5, 1.5]], [[0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"p must hold probabilities in \[0, 1\]"):
        L.js_divergence(*a([[-0.5, 1.5]], [[0.5, 0.5]]))
    # negative distances in contrastive
    with pytest.raises(ValueError, match=r"d must hold non-negative distances; got values in \[-1.0, 1.0\]"):
        L.contrastive(*a([-1.0, 1.0], [1.0, 0.0]))
    # positive log-probabilities in perplexity
    with pytest.raises(ValueError, match="log_probs must hold log-probabilities"):
        P.perplexity(place(backend, np.array([0.1, -2.0])))
    # valid inputs still agree with a float64 NumPy reference
    y, p = np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.2, 1.0])
    ref = -np.mean(y * np.log(np.clip(p, 1e-15, 1 - 1e-15)) + (1 - y) * np.log1p(-np.clip(p, 1e-15, 1 - 1e-15)))
    assert_close(L.binary_cross_entropy(*a(y, p)), np.asarray(ref), rtol=1e-6)


def test_value_checks_stay_out_of_traced_code():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    out = jax.jit(L.binary_cross_entropy)(jnp.asarray([1.0]), jnp.asarray([0.5]))
    assert_close(out, np.asarray(math.log(2.0)), rtol=1e-6)
    g = jax.grad(lambda d: L.contrastive(d, jnp.asarray([1.0, 0.0])))(jnp.asarray([0.3, 0.4]))
    assert_close(g, np.array([0.3, -0.6]), rtol=1e-6)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: D.polynomial_kernel(np.ones((2, 2)), degree=2.5), TypeError, "degree must be an integer; got float 2.5"),
    (lambda: D.polynomial_kernel(np.ones((2, 2)), gamma="1"), TypeError, "gamma must be a real number"),
    (lambda: L.focal(np.ones(1), np.full(1, 0.5), alpha=math.nan), ValueError, "alpha must be finite and <= 1"),
    (lambda: L.focal(np.ones(1), np.full(1, 0.5), alpha="0.2"), TypeError, "alpha must be a real number; got '0.2'"),
    (lambda: L.sigmoid_focal(np.ones(1), np.zeros(1), alpha=math.nan), ValueError, "alpha must be finite"),
    (lambda: pml.nn.orthogonal(pml.get_backend("numpy").rng(0), (3, 3), gain=math.nan), ValueError,
     "gain must be finite; got gain=nan"),
    (lambda: A.gelu(np.ones(2), approximate="no"), TypeError, "approximate must be True or False; got 'no'"),
    (lambda: A.gelu_grad(np.ones(2), approximate=1), TypeError, "approximate must be True or False; got 1"),
    (lambda: A.softmax(np.ones((2, 2)), axis=1.5), TypeError, "axis must be an integer or a tuple of integers; got 1.5"),
    (lambda: A.log_softmax(np.ones((2, 2)), axis=2), ValueError, "axis=2 is out of range for an array of 2"),
    (lambda: L.binary_cross_entropy(np.ones(1), np.full(1, 0.5), eps="1e-7"), TypeError,
     "eps must be a real number; got '1e-7'"),
    (lambda: L.huber(np.ones(1), np.ones(1), delta="1"), TypeError, "delta must be a real number or an array; got '1'"),
    (lambda: A.leaky_relu(np.ones(1), alpha="0.1"), TypeError, "alpha must be a real number or an array; got '0.1'"),
    (lambda: A.elu(np.ones(1), alpha="1"), TypeError, "alpha must be a real number or an array; got '1'"),
    (lambda: pml.regularization.max_norm(np.ones((2, 2)), c="3"), TypeError,
     "c must be a real number or an array; got '3'"),
    (lambda: P.entropy(np.ones(3) / 3, base="e"), TypeError, "base must be a real number; got 'e'"),
    (lambda: P.entropy(np.ones(3) / 3, axis=5), ValueError, "axis=5 is out of range"),
    (lambda: P.gaussian_pdf(np.zeros((4, 3)), np.zeros(4)), ValueError,
     r"x and mu must have broadcastable shapes; got x.shape=\(4, 3\) and mu.shape=\(4,\)"),
])
def test_bad_options_give_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_polynomial_kernel_integer_degree_matches_scikit_learn():
    polynomial_kernel = pytest.importorskip("sklearn.metrics.pairwise").polynomial_kernel

    X = np.random.default_rng(0).normal(size=(5, 3))
    assert_close(D.polynomial_kernel(X, degree=np.int64(2), gamma=0.5, coef0=-1.0),
                 polynomial_kernel(X, degree=2, gamma=0.5, coef0=-1.0))


# ================================================================== models: raw solver errors
def test_ridge_alpha_zero_with_a_constant_column_matches_scikit_learn(backend):
    SkRidge = pytest.importorskip("sklearn.linear_model").Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    X[:, 1] = 5.0  # constant column: X_c^T X_c is singular
    y = X @ np.array([1.0, 2.0, 3.0]) + rng.normal(size=30)
    m = M.Ridge(alpha=0).fit(*place_all(backend, X, y))
    ref = SkRidge(alpha=0).fit(X, y)
    tol = {"rtol": 1e-5, "atol": 1e-5} if backend.float_dtype != backend.xp.float64 else {"rtol": 1e-9, "atol": 1e-9}
    assert_close(m.coef_, ref.coef_, **tol)
    assert_close(m.intercept_, np.asarray(ref.intercept_), **tol)


def test_normal_equations_on_collinear_float32_data_agree_on_every_backend(backend):
    """NumPy used to raise LinAlgError and JAX to return NaN: now the minimum-norm solution everywhere."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    X[:, 2] = 2.0 * X[:, 0]
    y = (X @ np.array([1.0, 2.0, 3.0], dtype=np.float32) + 0.1).astype(np.float32)
    ref = np.linalg.lstsq(np.c_[X.astype(np.float64), np.ones(50)], y.astype(np.float64), rcond=None)[0]
    m = M.LinearRegression(solver="normal").fit(*place_all(backend, X, y))
    assert_close(m.coef_, ref[:3].astype(np.float32), rtol=1e-4, atol=1e-4)
    assert_close(m.intercept_, np.asarray(ref[3], dtype=np.float32), rtol=1e-4, atol=1e-4)


def test_normal_equations_equal_lstsq_on_full_rank_data(backend):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 4)), rng.normal(size=40)
    a = M.LinearRegression(solver="normal").fit(*place_all(backend, X, y))
    b = M.LinearRegression(solver="lstsq").fit(*place_all(backend, X, y))
    f64 = backend.float_dtype == backend.xp.float64
    assert_close(a.coef_, b.coef_, rtol=1e-9 if f64 else 1e-4, atol=1e-9 if f64 else 1e-4)


def test_softmax_regression_on_huge_features():
    """X * 1e30 used to raise LinAlgError (the Hessian was numerically singular).  The penalty is then
    negligible, so the fit equals the unpenalised fit on X, scaled by 1e-30."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.ConvergenceWarning)  # the absolute gradient tol is out of reach at 1e30
        big = M.SoftmaxRegression().fit(X * 1e30, y)
    ref = M.SoftmaxRegression(alpha=0.0).fit(X, y)
    assert_close(big.coef_ * 1e30, ref.coef_, rtol=1e-6, atol=1e-8)
    assert_close(big.intercept_, ref.intercept_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(big.predict(X * 1e30), ref.predict(X))


@pytest.mark.parametrize("est", [
    M.LinearRegression(solver="gd", max_iter=2.5), M.Lasso(max_iter=2.5), M.ElasticNet(max_iter=2.5),
    M.LogisticRegression(max_iter=2.5), M.SoftmaxRegression(max_iter=2.5), M.KMeans(n_clusters=2, max_iter=2.5),
    M.KMeans(n_clusters=2, n_init=True), M.MLPClassifier(epochs=2.5), M.MLPRegressor(batch_size=8.0),
], ids=lambda e: repr(e))
def test_iteration_counts_must_be_integers(est):
    """max_iter=2.5 used to pass the check and then fail inside range()."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2)), np.arange(20) % 2
    with pytest.raises(TypeError, match=r"(max_iter|n_init|epochs|batch_size) must be an integer; got"):
        est.fit(X) if isinstance(est, M.KMeans) else est.fit(X, y)
