"""Data preparation (``pml.preprocessing``) against scikit-learn, on every backend."""

import functools

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import preprocessing as P
from portable_ml.backend import backend_of
from portable_ml.models import NotFittedError
from portable_ml.testing import assert_close, dtype_name
from portable_ml.testing.registry import tolerance

from .helpers import optional_module, other_device, place

skp = optional_module("sklearn.preprocessing")
sk_compute_class_weight = optional_module("sklearn.utils.class_weight").deferred("compute_class_weight")
from .test_models_common import assert_fitted_on


def _tol(float_dtype):
    return tolerance("accurate", float_dtype)[0]


def _fresh(n, d, seed=None):
    """A fresh random design (a new seed every run unless given), float64 on the host."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.1, 10.0, size=d)
    return rng.normal(rng.uniform(-5, 5, size=d), scales, size=(n, d))


# ------------------------------------------------------------------ one_hot
def test_one_hot_is_an_identity_row_per_label(backend):
    rng = np.random.default_rng()
    y = rng.integers(0, 5, size=(4, 3))
    Y = P.one_hot(place(backend, y), 5)
    assert backend_of(Y) == backend.name and Y.dtype == backend.float_dtype
    assert tuple(Y.shape) == (4, 3, 5)
    np.testing.assert_array_equal(backend.to_numpy(Y), np.eye(5)[y])
    # dtype: a dtype object or a name, floating, integer or boolean
    for dt in ("float32", backend.xp.int32, "bool"):
        Z = P.one_hot(place(backend, y[0]), 5, dtype=dt)
        want = getattr(backend.xp, dt) if isinstance(dt, str) else dt
        assert Z.dtype == want
        np.testing.assert_array_equal(backend.to_numpy(Z).astype(np.float64), np.eye(5)[y[0]])
    # a 0-d label gives one row
    np.testing.assert_array_equal(backend.to_numpy(P.one_hot(place(backend, np.asarray(2)), 3)), [0.0, 0.0, 1.0])


def test_one_hot_stays_on_the_device(backend):
    be = other_device(backend)
    if be is None:
        pytest.skip("one device")
    from array_api_compat import device

    y = be.asarray(np.array([0, 2, 1]))
    assert device(P.one_hot(y, 3)) == be.device


def test_one_hot_under_jit_and_vmap_is_jax_nn_one_hot():
    jax = pytest.importorskip("jax")
    y = jax.numpy.asarray(np.random.default_rng().integers(0, 4, size=9))
    f = jax.jit(functools.partial(P.one_hot, num_classes=4))
    np.testing.assert_array_equal(np.asarray(f(y)), np.asarray(jax.nn.one_hot(y, 4)))
    g = jax.jit(P.one_hot, static_argnums=1)
    np.testing.assert_array_equal(np.asarray(g(y, 4)), np.asarray(jax.nn.one_hot(y, 4)))
    v = jax.vmap(lambda t: P.one_hot(t, 4))(jax.numpy.reshape(y, (3, 3)))
    np.testing.assert_array_equal(np.asarray(v), np.asarray(jax.nn.one_hot(y, 4)).reshape(3, 3, 4))
    # traced: no value check (an out-of-range label gives zeros, as jax.nn.one_hot)
    np.testing.assert_array_equal(np.asarray(f(jax.numpy.asarray([5, -1, 1]))), [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]])


def test_one_hot_bad_inputs(backend):
    y = place(backend, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="labels must hold integer class indices; got dtype"):
        P.one_hot(place(backend, np.array([0.0, 1.0])), 2)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1; got num_classes=0"):
        P.one_hot(y, 0)
    with pytest.raises(TypeError, match="num_classes must be an integer; got float 3.0"):
        P.one_hot(y, 3.0)
    with pytest.raises(TypeError, match="labels: expected an array"):
        P.one_hot([0, 1], 2)
    with pytest.raises(TypeError, match="dtype must be a real floating, integer or boolean dtype"):
        P.one_hot(y, 3, dtype="complex128" if backend.name != "dask" else "not-a-dtype")


@pytest.mark.skip_backends(dask="lazy: the label range is not read (no value check)")
def test_one_hot_labels_out_of_range(backend):
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\); got values in \[0, 2\]"):
        P.one_hot(place(backend, np.array([0, 1, 2])), 2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\); got values in \[-1, 1\]"):
        P.one_hot(place(backend, np.array([0, -1, 1])), 3)


# ------------------------------------------------------------------ StandardScaler
@pytest.mark.parametrize("with_mean,with_std", [(True, True), (False, True), (True, False), (False, False)])
def test_standard_scaler_matches_sklearn(backend, float_dtype, with_mean, with_std):
    name = dtype_name(float_dtype)
    X = _fresh(40, 4)
    X[:, 1] = 3.25  # a constant column: scale 1
    Xn = X.astype(name)
    Xb = place(backend, X, dtype=name)
    s = P.StandardScaler(with_mean=with_mean, with_std=with_std).fit(Xb)
    ref = skp.StandardScaler(with_mean=with_mean, with_std=with_std).fit(Xn.astype(np.float64))
    tol = _tol(float_dtype)
    for attr in ("mean_", "var_", "scale_"):
        got, want = getattr(s, attr), getattr(ref, attr)
        assert (got is None) == (want is None), attr
        if want is not None:
            assert backend_of(got) == backend.name and got.dtype == float_dtype
            assert_close(got, want, rtol=tol, atol=tol, err_msg=attr)
    if with_std:
        assert backend.to_numpy(s.scale_)[1] == 1.0
    assert s.n_samples_seen_ == 40 and s.n_features_in_ == 4
    if with_mean or with_std:
        assert_fitted_on(s, backend, float_dtype)
    Xnew = _fresh(7, 4)
    Xnew_b = place(backend, Xnew, dtype=name)
    Z = s.transform(Xnew_b)
    assert backend_of(Z) == backend.name and Z.dtype == float_dtype
    assert_close(Z, ref.transform(Xnew.astype(name).astype(np.float64)), rtol=10 * tol, atol=10 * tol)
    assert_close(s.inverse_transform(Z), Xnew.astype(name), rtol=10 * tol, atol=10 * tol)
    assert_close(P.StandardScaler(with_mean=with_mean, with_std=with_std).fit_transform(Xb),
                 ref.transform(Xn.astype(np.float64)), rtol=10 * tol, atol=10 * tol)


def test_standard_scaler_large_offset_float32(backend):
    """1e8 + noise in float32: the variance of the float32 values to float32 precision."""
    rng = np.random.default_rng()
    X = (1e8 + rng.normal(0.0, [1.0, 50.0, 2000.0], size=(500, 3))).astype(np.float32)
    X64 = X.astype(np.float64)  # the float64 reference sees exactly the float32 values
    s = P.StandardScaler().fit(place(backend, X))
    ref = skp.StandardScaler().fit(X64)
    assert s.var_.dtype == backend.xp.float32
    # a noise of std 1 is below float32's spacing at 1e8 (8): rounding leaves few distinct values
    assert_close(s.var_, ref.var_, rtol=1e-5, atol=1e-3)
    assert_close(s.mean_, ref.mean_, rtol=1e-7)  # within half a float32 spacing (4) of 1e8
    assert_close(s.scale_, ref.scale_, rtol=1e-5, atol=1e-3)
    # the textbook one-pass formula in float32 is off by orders of magnitude here
    naive = (X * X).mean(axis=0) - X.mean(axis=0) ** 2
    assert np.max(np.abs(naive - ref.var_) / ref.var_.clip(1.0)) > 1.0
    Z = s.transform(place(backend, X))
    # float32 holds the mean to within half a spacing (4): the standardised values to 4/std
    assert_close(Z[:, 1:], ref.transform(X64)[:, 1:], atol=4.0 / ref.scale_[1:].min() + 1e-5)


def test_standard_scaler_constant_and_single_sample(backend, float_dtype):
    name = dtype_name(float_dtype)
    X = np.array([[1.0, -2.0, 1e8]])
    s = P.StandardScaler().fit(place(backend, X, dtype=name))
    ref = skp.StandardScaler().fit(X.astype(name).astype(np.float64))
    np.testing.assert_array_equal(backend.to_numpy(s.var_), ref.var_)
    np.testing.assert_array_equal(backend.to_numpy(s.scale_), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(backend.to_numpy(s.transform(place(backend, X, dtype=name))), [[0.0, 0.0, 0.0]])
    # a constant column far from zero: exactly zero variance, scale 1, centred to 0
    Xc = np.full((30, 2), 123456.789)
    Xc[:, 1] = np.linspace(0, 1, 30)
    s = P.StandardScaler().fit(place(backend, Xc, dtype=name))
    assert backend.to_numpy(s.var_)[0] == 0.0 and backend.to_numpy(s.scale_)[0] == 1.0
    np.testing.assert_array_equal(backend.to_numpy(s.transform(place(backend, Xc, dtype=name)))[:, 0], 0.0)


def test_near_constant_feature_is_constant_as_in_sklearn():
    # variance at rounding level of the mean: scikit-learn's bound n*eps*var + (n*mean*eps)^2 calls it constant
    X = np.array([[1.0], [1.0 + 2**-52], [1.0], [1.0]])
    s, ref = P.StandardScaler().fit(X), skp.StandardScaler().fit(X)
    np.testing.assert_array_equal(s.scale_, ref.scale_)
    assert s.scale_[0] == 1.0


def test_scalers_integer_input_and_array_likes():
    X = np.arange(12).reshape(6, 2)
    s = P.StandardScaler().fit(X)
    assert s.mean_.dtype == np.float64
    assert_close(s.transform(X.tolist()), skp.StandardScaler().fit_transform(X))
    m = P.MinMaxScaler().fit(X.tolist())
    assert_close(m.transform(X), skp.MinMaxScaler().fit_transform(X))


# ------------------------------------------------------------------ MinMaxScaler
@pytest.mark.parametrize("feature_range", [(0, 1), (-1.0, 2.5)])
def test_minmax_scaler_matches_sklearn(backend, float_dtype, feature_range):
    name = dtype_name(float_dtype)
    X = _fresh(30, 4)
    X[:, 2] = -7.5  # constant: range 0, maps to feature_range[0]
    Xn = X.astype(name)
    Xb = place(backend, X, dtype=name)
    m = P.MinMaxScaler(feature_range=feature_range).fit(Xb)
    ref = skp.MinMaxScaler(feature_range=feature_range).fit(Xn)
    tol = _tol(float_dtype)
    for attr in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        assert_close(getattr(m, attr), getattr(ref, attr), rtol=tol, atol=tol, err_msg=attr)
    assert_fitted_on(m, backend, float_dtype)
    assert m.n_samples_seen_ == 30 and m.n_features_in_ == 4
    Z = m.transform(Xb)
    assert backend_of(Z) == backend.name and Z.dtype == float_dtype
    assert_close(Z, ref.transform(Xn), rtol=10 * tol, atol=10 * tol)
    zn = backend.to_numpy(Z)
    assert zn.min() >= feature_range[0] - 10 * tol and zn.max() <= feature_range[1] + 10 * tol
    np.testing.assert_allclose(zn[:, 2], feature_range[0])
    Xnew = place(backend, _fresh(5, 4), dtype=name)
    assert_close(m.transform(Xnew), ref.transform(backend.to_numpy(Xnew)), rtol=10 * tol, atol=10 * tol)
    assert_close(m.inverse_transform(m.transform(Xnew)), Xnew, rtol=10 * tol, atol=100 * tol)
    assert_close(P.MinMaxScaler(feature_range=feature_range).fit_transform(Xb), ref.transform(Xn),
                 rtol=10 * tol, atol=10 * tol)


def test_minmax_scaler_large_offset_float32(backend):
    rng = np.random.default_rng()
    X = (1e8 + rng.uniform(-3000.0, 3000.0, size=(200, 2))).astype(np.float32)
    m = P.MinMaxScaler().fit(place(backend, X))
    ref = skp.MinMaxScaler().fit(X.astype(np.float64))
    Z = m.transform(place(backend, X))
    # x - x_min is exact in float32 here: the result is the float64 reference to float32 rounding
    assert_close(Z, ref.transform(X.astype(np.float64)), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ scalers on Dask and JAX
def _counting_dask(X, chunks):
    """A Dask array whose chunks count how often they are computed."""
    da = pytest.importorskip("dask.array")
    calls = []

    def load(block, block_info=None):
        calls.append(block_info[None]["chunk-location"])
        return block

    return da.from_array(X, chunks=chunks).map_blocks(load, dtype=X.dtype), calls


@pytest.mark.parametrize("Scaler", [P.StandardScaler, P.MinMaxScaler])
def test_scalers_read_every_dask_chunk_once(Scaler):
    X = _fresh(103, 3)
    X[:, 0] += 1e6
    Xd, calls = _counting_dask(X, (20, 3))
    s = Scaler().fit(Xd)
    assert sorted(calls) == [(i, 0) for i in range(6)]  # one pass: every chunk once
    ref = (skp.StandardScaler if Scaler is P.StandardScaler else skp.MinMaxScaler)().fit(X)
    for attr in ("mean_", "var_", "scale_") if Scaler is P.StandardScaler else ("data_min_", "scale_", "min_"):
        assert backend_of(getattr(s, attr)) == "dask"
        assert_close(getattr(s, attr), getattr(ref, attr), rtol=1e-12, atol=1e-12, err_msg=attr)
    if Scaler is P.StandardScaler:  # the merged chunks give the correctly rounded mean
        exact = X.astype(np.longdouble).mean(axis=0)
        err = np.abs(s.mean_.compute().astype(np.longdouble) - exact)
        assert np.all(err <= 2 * np.spacing(np.abs(X).max(axis=0))), err
    calls.clear()
    Z = s.transform(Xd)
    assert backend_of(Z) == "dask" and not calls  # lazy
    # column 0 sits at 1e6, where scikit-learn's mean (and its MinMaxScaler's X * scale_ + min_) is a
    # few spacings of 1e6 off: compare with the exact map (long double) to the rounding of the fitted
    # offset (half a spacing of 1e6), scaled
    L = X.astype(np.longdouble)
    if Scaler is P.StandardScaler:
        exact = (L - L.mean(axis=0)) / np.sqrt(((L - L.mean(axis=0)) ** 2).mean(axis=0))
        atol = np.spacing(1e6) / ref.scale_
    else:
        exact = (L - L.min(axis=0)) / (L.max(axis=0) - L.min(axis=0))
        atol = np.spacing(1e6) * ref.scale_
    err = np.abs(Z.compute().astype(np.longdouble) - exact)
    assert np.all(err <= atol + 1e-14 * (1 + np.abs(exact))), err.max(axis=0)


def test_scalers_refuse_nan_on_dask_in_the_same_pass():
    X = _fresh(50, 2)
    X[33, 1] = np.nan
    Xd, calls = _counting_dask(X, (10, 2))
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        P.StandardScaler().fit(Xd)
    assert len(calls) == 5


def test_scaler_transform_under_jax_jit():
    jax = pytest.importorskip("jax")
    X = jax.numpy.asarray(_fresh(20, 3).astype(np.float32))
    for s in (P.StandardScaler().fit(X), P.MinMaxScaler(feature_range=(-1, 1)).fit(X)):
        f = jax.jit(s.transform)
        assert_close(f(X), s.transform(X), rtol=1e-6, atol=1e-6)
        assert_close(jax.jit(s.inverse_transform)(f(X)), X, rtol=1e-5, atol=1e-4)


def test_scalers_stay_on_the_device(backend):
    be = other_device(backend)
    if be is None:
        pytest.skip("one device")
    from array_api_compat import device

    X = be.asarray(_fresh(12, 3))
    for s in (P.StandardScaler().fit(X), P.MinMaxScaler().fit(X)):
        assert_fitted_on(s, be)  # every fitted array on be.device
        assert device(s.transform(X)) == be.device and device(s.inverse_transform(X)) == be.device
        with pytest.raises(ValueError, match="was fitted on device"):
            s.transform(backend.asarray(_fresh(2, 3)))


# ------------------------------------------------------------------ scaler errors
def test_scaler_bad_inputs(backend):
    X = place(backend, _fresh(10, 3))
    for Scaler in (P.StandardScaler, P.MinMaxScaler):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            Scaler().transform(X)
        with pytest.raises(ValueError, match=r"X must be a 2-D array of shape \(n_samples, n_features\); got shape"):
            Scaler().fit(X[:, 0])
        with pytest.raises(ValueError, match=r"X must not be empty; got shape \(0, 3\)"):
            Scaler().fit(X[:0, :])
        s = Scaler().fit(X)
        with pytest.raises(ValueError, match="X has 2 features, but the estimator was fitted with 3 features"):
            s.transform(X[:, :2])
        with pytest.raises(ValueError, match="X has 2 features"):
            s.inverse_transform(X[:, :2])
        if backend.name != "numpy":
            with pytest.raises(TypeError, match=f"fitted on {backend.name} arrays, but X is a numpy array"):
                s.transform(np.zeros((2, 3)))
    if backend.name != "dask":  # Dask: finiteness is read in fit's one pass (tested above)
        Xnan = place(backend, np.array([[1.0, np.nan], [2.0, 3.0]]))
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            P.StandardScaler().fit(Xnan)
    with pytest.raises(TypeError, match="with_mean must be True or False; got 1"):
        P.StandardScaler(with_mean=1).fit(X)
    with pytest.raises(TypeError, match="with_std must be True or False; got 'yes'"):
        P.StandardScaler(with_std="yes").fit(X)
    with pytest.raises(ValueError, match=r"feature_range must be \(min, max\) with min < max; got feature_range=\(1, 0\)"):
        P.MinMaxScaler(feature_range=(1, 0)).fit(X)
    with pytest.raises(TypeError, match="feature_range must be a pair"):
        P.MinMaxScaler(feature_range=1.0).fit(X)
    with pytest.raises(ValueError, match="feature_range\\[1\\] must be finite"):
        P.MinMaxScaler(feature_range=(0, float("inf"))).fit(X)


def test_scalers_follow_estimator_conventions():
    s = P.StandardScaler(with_mean=False)
    assert s.get_params() == {"with_mean": False, "with_std": True}
    assert repr(s) == "StandardScaler(with_mean=False)"
    m = P.MinMaxScaler().set_params(feature_range=(2, 3))
    assert m.feature_range == (2, 3)
    with pytest.raises(ValueError, match="invalid parameter 'copy' for MinMaxScaler"):
        m.set_params(copy=False)
    with pytest.raises(TypeError):
        P.StandardScaler(True)  # keyword-only


# ------------------------------------------------------------------ polynomial_features
@pytest.mark.parametrize("degree,interaction_only,include_bias", [
    (2, False, True), (3, False, False), (3, True, True), (2, True, False), (1, False, True), (0, False, True),
    (5, True, False),
])
def test_polynomial_features_match_sklearn(backend, float_dtype, degree, interaction_only, include_bias):
    name = dtype_name(float_dtype)
    X = np.random.default_rng().uniform(-2.0, 2.0, size=(9, 4))
    Xn = X.astype(name)
    out = P.polynomial_features(place(backend, X, dtype=name), degree=degree, interaction_only=interaction_only,
                                include_bias=include_bias)
    ref = skp.PolynomialFeatures(degree, interaction_only=interaction_only, include_bias=include_bias).fit_transform(
        Xn.astype(np.float64))
    assert backend_of(out) == backend.name and out.dtype == float_dtype
    assert tuple(out.shape) == ref.shape
    assert_close(out, ref, rtol=_tol(float_dtype), atol=_tol(float_dtype))


def test_polynomial_features_integer_input_and_device(backend):
    X = np.arange(6).reshape(3, 2)
    out = P.polynomial_features(place(backend, X))
    assert out.dtype == backend.float_dtype
    np.testing.assert_array_equal(backend.to_numpy(out), skp.PolynomialFeatures(2).fit_transform(X))
    be = other_device(backend)
    if be is not None:
        from array_api_compat import device

        assert device(P.polynomial_features(be.asarray(X * 1.0), degree=3)) == be.device


def test_polynomial_features_jit_grad_vmap():
    jax = pytest.importorskip("jax")
    X = jax.numpy.asarray(np.random.default_rng().normal(size=(5, 3)).astype(np.float32))
    f = jax.jit(functools.partial(P.polynomial_features, degree=3))
    assert_close(f(X), skp.PolynomialFeatures(3).fit_transform(np.asarray(X, dtype=np.float64)), rtol=1e-5, atol=1e-5)
    # d/dx_j of sum of all degree-<=2 products, against the same sum differentiated by hand
    g = jax.grad(lambda x: P.polynomial_features(x).sum())(X)
    s = np.asarray(X, dtype=np.float64).sum(axis=1, keepdims=True)
    want = 1.0 + np.asarray(X, dtype=np.float64) + s  # d/dx_j [sum_i x_i + sum_{i<=k} x_i x_k]
    assert_close(g, want, rtol=1e-5, atol=1e-5)
    v = jax.vmap(functools.partial(P.polynomial_features, degree=2))(jax.numpy.stack([X, 2 * X]))
    assert_close(v[1], P.polynomial_features(2 * X), rtol=1e-6)


def test_polynomial_features_bad_inputs(backend):
    X = place(backend, np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"X must be 2-D; got an array of shape \(3,\)"):
        P.polynomial_features(X[:, 0])
    with pytest.raises(ValueError, match="X must have at least one feature"):
        P.polynomial_features(X[:, :0])
    with pytest.raises(ValueError, match="degree must be an integer >= 0; got degree=-1"):
        P.polynomial_features(X, degree=-1)
    with pytest.raises(TypeError, match="degree must be an integer; got float 2.0"):
        P.polynomial_features(X, degree=2.0)
    with pytest.raises(ValueError, match="degree=0 with include_bias=False would give no columns"):
        P.polynomial_features(X, degree=0, include_bias=False)
    with pytest.raises(TypeError, match="interaction_only must be True or False"):
        P.polynomial_features(X, interaction_only=None)
    with pytest.raises(TypeError, match="X: expected an array"):
        P.polynomial_features([[1.0, 2.0]])
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        P.polynomial_features(X, 3)


# ------------------------------------------------------------------ compute_class_weight
def test_compute_class_weight_matches_sklearn(backend):
    rng = np.random.default_rng()
    k = int(rng.integers(2, 6))
    y = rng.integers(0, k, size=int(rng.integers(20, 60)))
    y[:k] = np.arange(k)  # every class present
    w = P.compute_class_weight(place(backend, y))
    want = sk_compute_class_weight("balanced", classes=np.arange(k), y=y)
    assert backend_of(w) == backend.name and w.dtype == backend.float_dtype
    assert_close(w, want, rtol=1e-6 if backend.float_dtype == backend.xp.float32 else 1e-14)
    # the weighted classes each carry n / k
    assert_close(w, want, rtol=1e-6)
    assert_close(P.compute_class_weight(place(backend, y), num_classes=k), want, rtol=1e-6)
    np.testing.assert_allclose(np.bincount(y) * backend.to_numpy(w), y.size / k, rtol=1e-6)


def test_compute_class_weight_bad_inputs(backend):
    y = place(backend, np.array([0, 1, 1, 3]))
    if backend.name != "dask":  # value checks read concrete (not lazy) labels only
        with pytest.raises(ValueError, match="y has no sample of class 2 of num_classes=4"):
            P.compute_class_weight(y)
        with pytest.raises(ValueError, match=r"y must lie in \[0, 3\); got values in \[0, 3\]"):
            P.compute_class_weight(y, num_classes=3)
    with pytest.raises(TypeError, match="y must hold integer class indices; got dtype"):
        P.compute_class_weight(place(backend, np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match=r"y must be 1-D; got an array of shape \(2, 2\)"):
        P.compute_class_weight(place(backend, np.zeros((2, 2), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"y must not be empty"):
        P.compute_class_weight(place(backend, np.zeros(0, dtype=np.int64)))
    with pytest.raises(TypeError, match="num_classes must be an integer"):
        P.compute_class_weight(y, num_classes="4")


def test_compute_class_weight_under_jit():
    jax = pytest.importorskip("jax")
    y = np.array([0, 2, 2, 1, 2, 0, 2])
    f = jax.jit(functools.partial(P.compute_class_weight, num_classes=3))
    assert_close(f(jax.numpy.asarray(y)), sk_compute_class_weight("balanced", classes=np.arange(3), y=y), rtol=1e-6)
    # traced: an absent class gets weight 0 (no value check inside jit)
    assert_close(jax.jit(functools.partial(P.compute_class_weight, num_classes=4))(jax.numpy.asarray(y)),
                 np.r_[sk_compute_class_weight("balanced", classes=np.arange(3), y=y) * 3 / 4, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="num_classes must be given when y is traced"):
        jax.jit(P.compute_class_weight)(jax.numpy.asarray(y))


def test_preprocessing_is_lazy_submodule():
    assert pml.preprocessing is P
    assert "preprocessing" in dir(pml)


def test_docstring_examples():
    import doctest

    res = doctest.testmod(P, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
