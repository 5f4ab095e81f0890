"""Estimator conventions shared by every model, on every backend.

Fitted attributes live on the input's backend and device (array-api-strict
``device1``, JAX ``cpu:1``); ``get_params``/``set_params``/``repr``; clear
errors for bad input and for use before ``fit``.  Also the shared fixture and
helpers of the other ``test_models_*`` files.
"""

import warnings

import numpy as np
import pytest

from portable_ml import models as M
from portable_ml.backend import backend_of
from portable_ml.testing import dtype_name
from portable_ml.tree import tree_leaves_with_path

from .helpers import other_device, place, second_backend


# ------------------------------------------------------------------ shared by the model tests
@pytest.fixture(autouse=True, scope="module")
def torch_single_thread(request):
    """Tiny matrices on 2 shared cores: torch's thread pool only adds sync overhead (ms per op)."""
    if "torch" not in getattr(request.config, "_pml_backends", ()):
        yield
        return
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fitted_arrays(model):
    """The fitted array attributes (public names ending in ``_``; pytrees of arrays walked)."""
    out = {}
    for k, v in vars(model).items():
        if k.endswith("_") and not k.startswith("_") and (isinstance(v, (list, tuple, dict)) or backend_of(v)):
            for path, leaf in tree_leaves_with_path(v):
                if backend_of(leaf) is not None:
                    out[f"{k}/{path}" if path else k] = leaf
    return out


def assert_fitted_on(model, backend, dtype=None):
    """Every fitted array is on ``backend`` (and its device); floating ones have ``dtype``."""
    from array_api_compat import device

    arrays = fitted_arrays(model)
    assert arrays, f"{type(model).__name__} has no fitted arrays"
    for name, a in arrays.items():
        assert backend_of(a) == backend.name, f"{name} is a {backend_of(a)} array, want {backend.name}"
        if backend.name in ("array_api_strict", "jax"):
            assert device(a) == backend.device, f"{name} on {device(a)}, want {backend.device}"
        if dtype is not None and backend.xp.isdtype(a.dtype, "real floating"):
            assert dtype_name(a.dtype) == dtype_name(dtype), f"{name} has dtype {a.dtype}, want {dtype}"


def blobs(n=90, d=3, k=3, seed=0, spread=6.0):
    """Well-separated Gaussian blobs: X (n, d), integer labels (n,)."""
    rng = np.random.default_rng(seed)
    centres = spread * rng.normal(size=(k, d))
    y = np.arange(n) % k
    return centres[y] + rng.normal(size=(n, d)), y


def regression(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.5
    return X, X @ rng.normal(size=d) + 0.3 * rng.normal(size=n) + 1.5


# every estimator, with data that suits it
def _estimators():
    Xr, yr = regression()
    Xc, yc = blobs()
    yb = (yc > 0).astype(np.int64)
    return [
        (M.LinearRegression(), Xr, yr),
        (M.LinearRegression(solver="gd", max_iter=2000), Xr, yr),
        (M.Ridge(alpha=0.5), Xr, yr),
        (M.Lasso(alpha=0.05), Xr, yr),
        (M.ElasticNet(alpha=0.05), Xr, yr),
        (M.LogisticRegression(alpha=0.1), Xc, yb),
        (M.SoftmaxRegression(alpha=0.1), Xc, yc),
        (M.KMeans(n_clusters=3, seed=0), Xc, None),
        (M.KMeans(n_clusters=3, seed=0, algorithm="elkan"), Xc, None),
        (M.MiniBatchKMeans(n_clusters=3, batch_size=32, seed=0), Xc, None),
        (M.PCA(n_components=2), Xc, None),
        (M.LinearDiscriminantAnalysis(), Xc, yc),
        (M.GaussianNB(), Xc, yc),
        (M.MLPClassifier(hidden_layer_sizes=(8,), epochs=2, seed=0), Xc, yc),
        (M.MLPRegressor(hidden_layer_sizes=(8,), epochs=2, seed=0), Xr, yr),
        (M.LinearSVC(alpha=0.1), Xc, yc),
        (M.LinearSVC(alpha=0.1, loss="hinge"), Xc, yb),
    ]


ESTIMATORS = _estimators()
IDS = [f"{type(e).__name__}{'-gd' if getattr(e, 'solver', '') == 'gd' else ''}"
       f"{'-hinge' if getattr(e, 'loss', '') == 'hinge' else ''}"
       f"{'-elkan' if getattr(e, 'algorithm', '') == 'elkan' else ''}" for e, _, _ in ESTIMATORS]


def _fit(est, backend, X, y):
    Xb = place(backend, X)
    if y is None:
        return est.fit(Xb), Xb
    return est.fit(Xb, place(backend, y)), Xb


def _use(model, X):
    """Every prediction-like method the model has, on X."""
    out = {}
    for meth in ("predict", "predict_proba", "predict_log_proba", "decision_function", "transform"):
        if hasattr(model, meth):
            out[meth] = getattr(model, meth)(X)
    return out


# ------------------------------------------------------------------ device placement
@pytest.mark.parametrize("idx", range(len(ESTIMATORS)), ids=IDS)
def test_fitted_attributes_and_outputs_stay_on_device(backend, idx):
    """Fitted attributes and predictions stay on X's backend and device (a non-default one where possible)."""
    be = other_device(backend) or backend
    est, X, y = ESTIMATORS[idx]
    est = type(est)(**est.get_params())
    model, Xb = _fit(est, be, X, y)
    assert_fitted_on(model, be, Xb.dtype)
    for name, out in _use(model, Xb).items():
        assert backend_of(out) == be.name, name
        if be.name in ("array_api_strict", "jax"):
            from array_api_compat import device

            assert device(out) == be.device, f"{name}: {device(out)} vs {be.device}"
    if y is not None:
        s = model.score(Xb, place(be, y))
        assert backend_of(s) == be.name and tuple(s.shape) == ()


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("idx", range(len(ESTIMATORS)), ids=IDS)
def test_get_set_params_round_trip(idx):
    est = ESTIMATORS[idx][0]
    params = est.get_params()
    clone = type(est)(**params)
    assert clone.get_params() == params
    assert repr(clone) == repr(est)
    name = next(iter(params))
    assert clone.set_params(**{name: params[name]}) is clone
    with pytest.raises(ValueError, match="invalid parameter 'not_a_param'"):
        clone.set_params(not_a_param=1)


def test_params_are_stored_unchanged_and_keyword_only():
    init = np.zeros((2, 2))
    km = M.KMeans(n_clusters=2, init=init, tol=0.0)
    assert km.get_params()["init"] is init and km.tol == 0.0
    with pytest.raises(TypeError):
        M.Ridge(2.0)  # keyword-only
    assert repr(M.Ridge()) == "Ridge()"
    assert repr(M.Ridge(alpha=2.0)) == "Ridge(alpha=2.0)"
    r = M.Lasso().set_params(alpha=0.3, max_iter=50)
    assert (r.alpha, r.max_iter) == (0.3, 50)
    # hyperparameters are validated by fit, not by __init__
    bad = M.Ridge(alpha=-1.0)
    with pytest.raises(ValueError, match="alpha must be non-negative"):
        bad.fit(np.ones((3, 2)), np.ones(3))


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("idx", range(len(ESTIMATORS)), ids=IDS)
def test_predict_before_fit_raises_not_fitted(idx):
    est = type(ESTIMATORS[idx][0])(**ESTIMATORS[idx][0].get_params())
    X = ESTIMATORS[idx][1]
    meth = "transform" if isinstance(est, M.PCA) else "predict"
    with pytest.raises(M.NotFittedError, match="not fitted yet"):
        getattr(est, meth)(X)
    assert issubclass(M.NotFittedError, ValueError) and issubclass(M.NotFittedError, AttributeError)


@pytest.mark.parametrize("idx", range(len(ESTIMATORS)), ids=IDS)
def test_bad_input_raises(backend, idx):
    est, X, y = ESTIMATORS[idx]
    est = type(est)(**est.get_params())
    Xnan = X.copy()
    Xnan[3, 1] = np.nan
    args = () if y is None else (place(backend, y),)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        est.fit(place(backend, Xnan), *args)
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        est.fit(place(backend, X[:, 0]), *args)
    with pytest.raises(ValueError, match="must not be empty"):
        est.fit(place(backend, X[:0]), *(() if y is None else (place(backend, y[:0]),)))
    if y is not None:
        with pytest.raises(ValueError, match="inconsistent numbers of samples: X has 90 rows, y has 89|"
                                             "inconsistent numbers of samples: X has 60 rows, y has 59"):
            est.fit(place(backend, X), place(backend, y[:-1]))
    model, _ = _fit(est, backend, X, y)
    with pytest.raises(ValueError, match=f"has {X.shape[1] + 1} features, but the estimator was fitted with "
                                         f"{X.shape[1]} features"):
        getattr(model, "transform" if isinstance(model, M.PCA) else "predict")(
            place(backend, np.ones((2, X.shape[1] + 1))))


@pytest.mark.parametrize("cls", [M.LogisticRegression, M.SoftmaxRegression, M.LinearDiscriminantAnalysis])
def test_one_class_only_raises(backend, cls):
    X, _ = blobs(n=12)
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        cls().fit(place(backend, X), place(backend, np.zeros(12, dtype=np.int64)))


def test_logistic_regression_is_binary(backend):
    X, y = blobs(n=12)
    with pytest.raises(ValueError, match="LogisticRegression is binary; y has 3 classes"):
        M.LogisticRegression().fit(place(backend, X), place(backend, y))


def test_kmeans_more_clusters_than_samples(backend):
    X, _ = blobs(n=5)
    with pytest.raises(ValueError, match="n_clusters=6 must not exceed n_samples=5"):
        M.KMeans(n_clusters=6).fit(place(backend, X))


def test_mixed_backends_raise():
    pytest.importorskip("torch")
    from portable_ml import get_backend

    X, y = regression()
    with pytest.raises(TypeError, match="different backends cannot be mixed"):
        M.Ridge().fit(X, get_backend("torch").asarray(y))


@pytest.mark.parametrize("kwargs, match", [
    ({"solver": "qr"}, "solver must be 'lstsq', 'normal' or 'gd'"),
])
def test_bad_hyperparameters(kwargs, match):
    X, y = regression()
    with pytest.raises(ValueError, match=match):
        M.LinearRegression(**kwargs).fit(X, y)


@pytest.mark.parametrize("est, match", [
    (M.LogisticRegression(solver="sag"), "solver must be one of"),
    (M.LogisticRegression(alpha=-1.0), "alpha must be non-negative"),
    (M.ElasticNet(l1_ratio=1.5), r"l1_ratio must lie in \[0, 1\]"),
    (M.KMeans(n_clusters=0), "n_clusters must be a positive int"),
    (M.KMeans(n_clusters=2, init="farthest"), "init must be 'k-means\\+\\+', 'random' or an array"),
    (M.PCA(n_components=9), r"n_components must be None, an int in \[1, min\(n_samples, n_features\)\]"),
    (M.GaussianNB(priors=[0.5, 0.6, 0.1]), "priors must be non-negative and sum to 1"),
])
def test_bad_hyperparameters_are_named(est, match):
    X, y = blobs(n=30)
    args = () if isinstance(est, (M.KMeans, M.PCA)) else ((y > 0).astype(int),) \
        if isinstance(est, M.LogisticRegression) else (y,)
    with pytest.raises(ValueError, match=match):
        est.fit(X, *args)


def test_python_lists_are_accepted():
    """Lists go to the default backend (NumPy), as scikit-learn accepts them."""
    X, y = regression(n=10, d=2)
    m = M.LinearRegression().fit(X.tolist(), y.tolist())
    assert backend_of(m.coef_) == "numpy"
    np.testing.assert_allclose(m.predict(X.tolist()), M.LinearRegression().fit(X, y).predict(X))


def test_convergence_warning_is_a_user_warning():
    X, y = regression()
    with pytest.warns(M.ConvergenceWarning, match="did not converge in max_iter=2"):
        M.Lasso(alpha=0.01, max_iter=2, tol=1e-12).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.Lasso(alpha=0.01).fit(X, y)


# ------------------------------------------------------------------ one rule for foreign X after fit
@pytest.mark.parametrize("idx", range(len(ESTIMATORS)), ids=IDS)
def test_fitted_on_numpy_called_on_torch_raises(idx):
    """Every estimator: fitted on NumPy, called on a torch X -> one clear TypeError (no silent torch
    result, no raw torch error); array-likes go to the fitted backend."""
    torch = pytest.importorskip("torch")
    est, X, y = ESTIMATORS[idx]
    est = type(est)(**est.get_params())
    model = est.fit(X) if y is None else est.fit(X, y)
    name = type(model).__name__
    for meth, out in _use(model, X).items():
        with pytest.raises(TypeError, match=rf"this {name} was fitted on numpy arrays, but X is a torch array "
                                            r"\(Tensor\); move it first with portable_ml.to_backend\(X, 'numpy'\)"):
            getattr(model, meth)(torch.asarray(X))
        got = getattr(model, meth)(X.tolist())
        assert backend_of(got) == "numpy"
        np.testing.assert_array_equal(got, out)
    if not hasattr(model, "score"):
        return
    with pytest.raises(TypeError, match=f"this {name} was fitted on numpy arrays"):
        model.score(torch.asarray(X), None if y is None else torch.asarray(y))


def test_fitted_on_torch_takes_lists_on_torch():
    torch = pytest.importorskip("torch")
    from portable_ml import get_backend

    X, y = regression()
    be = get_backend("torch")
    m = M.Ridge().fit(be.asarray(X), be.asarray(y))
    assert backend_of(m.predict(X.tolist())) == "torch"
    with pytest.raises(TypeError, match="this Ridge was fitted on torch arrays, but X is a numpy array"):
        m.predict(X)


def test_pca_inverse_transform_refuses_foreign_z():
    torch = pytest.importorskip("torch")
    X, _ = blobs()
    pca = M.PCA(n_components=2).fit(X)
    Z = pca.transform(X)
    with pytest.raises(TypeError, match="this PCA was fitted on numpy arrays, but Z is a torch array"):
        pca.inverse_transform(torch.asarray(Z))
    np.testing.assert_allclose(pca.inverse_transform(Z.tolist()), pca.inverse_transform(Z))


def test_fitted_on_one_device_called_on_another():
    from portable_ml import get_backend

    be = second_backend()
    other = other_device(be)
    if other is None:
        pytest.skip("array-api-strict has no second device here")
    X, y = regression()
    m = M.Ridge().fit(other.asarray(X), other.asarray(y))
    with pytest.raises(ValueError, match="this Ridge was fitted on device .* but X is on device"):
        m.predict(be.asarray(X))
