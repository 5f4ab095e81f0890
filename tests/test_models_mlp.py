"""MLPClassifier / MLPRegressor on every backend: accuracy on moons, reproducibility, early stopping, progress."""

import sys

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import models as M
from portable_ml import optimizers as O
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close

from .helpers import place, place_all
from .test_models_common import assert_fitted_on, blobs, torch_single_thread  # noqa: F401


def _moons_model(**kw):
    return M.MLPClassifier(hidden_layer_sizes=(32,), activation="tanh", optimizer=O.adam(1e-2), epochs=40,
                           batch_size=64, seed=0, **kw)


def test_mlp_classifier_learns_moons(backend):
    X, y = pml.datasets.make_moons(1000, noise=0.1, seed=0, backend=backend.name, device=backend.device)
    m = _moons_model().fit(X, y)
    acc = float(backend.to_numpy(m.score(X, y)))
    assert acc >= 0.95, f"accuracy {acc}"
    assert_fitted_on(m, backend, X.dtype)
    assert all(backend_of(a) == backend.name for layer in m.params_ for a in layer.values())
    curve = backend.to_numpy(m.loss_curve_)
    assert curve.shape == (40,) and m.n_iter_ == 40 and curve[-1] < 0.3 * curve[0]
    P = backend.to_numpy(m.predict_proba(X))
    assert P.shape == (1000, 2)
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(backend.to_numpy(m.predict(X)), P.argmax(1))
    # the same seed trains the same network on every backend (host-drawn init and shuffles)
    ref = _moons_model().fit(backend.to_numpy(X), backend.to_numpy(y))
    assert_close(m.loss_curve_, ref.loss_curve_, rtol=1e-6, atol=1e-8)


def test_mlp_multiclass_labels_and_optimizers(backend):
    X, y = blobs(n=150, d=2, k=3, seed=1)
    labels = np.array([10, 20, 30])[y]
    Xb, yb = place_all(backend, X, labels)
    for opt in (O.sgd(0.05, momentum=0.9), O.chain(O.clip_by_global_norm(1.0), O.adam(5e-3))):
        m = M.MLPClassifier(hidden_layer_sizes=(16, 8), optimizer=opt, epochs=30, batch_size=32, seed=3).fit(Xb, yb)
        assert_close(m.classes_, np.array([10, 20, 30]))
        assert float(backend.to_numpy(m.score(Xb, yb))) >= 0.97
        assert m.predict_proba(Xb).shape == (150, 3)


def test_mlp_regressor_fits_a_smooth_function(backend):
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, size=(400, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    Xb, yb = place_all(backend, X, y)
    m = M.MLPRegressor(hidden_layer_sizes=(32,), activation="tanh", optimizer=O.adam(1e-2), epochs=60,
                       batch_size=32, seed=0).fit(Xb, yb)
    assert m.predict(Xb).shape == (400,)
    assert float(backend.to_numpy(m.score(Xb, yb))) > 0.97
    Y2 = place(backend, np.stack([y, -y], axis=1))
    m2 = M.MLPRegressor(hidden_layer_sizes=(16,), epochs=2, seed=0).fit(Xb, Y2)
    assert m2.predict(Xb).shape == (400, 2)


def test_early_stopping_keeps_the_best_epoch(backend):
    X, y = pml.datasets.make_moons(300, noise=0.3, seed=1, backend=backend.name, device=backend.device)
    m = M.MLPClassifier(hidden_layer_sizes=(64,), optimizer=O.adam(5e-2), epochs=200, batch_size=16, seed=0,
                        early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, tol=0.0).fit(X, y)
    assert m.n_iter_ < 200
    val = backend.to_numpy(m.validation_loss_curve_)
    assert val.shape == (m.n_iter_,) and m.loss_curve_.shape == (m.n_iter_,)
    assert m.best_epoch_ == int(np.argmin(val)) + 1 and m.n_iter_ == m.best_epoch_ + 3
    # the kept parameters are the best epoch's: their validation loss is the minimum
    assert float(backend.to_numpy(m.score(X, y))) > 0.8


def test_train_step_is_backprop_plus_the_update():
    """mlp_train_step with plain SGD moves the parameters by -lr * jax.grad(loss + alpha/2 ||W||^2)."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    net = pml.nn.MLP([2, 5, 3], activation="tanh", output="softmax")
    params = net.init(pml.get_backend("jax").rng(0), dtype=jnp.float64)
    X, y = blobs(n=20, d=2, k=3)
    Y = jnp.asarray(np.eye(3)[y])
    X = jnp.asarray(X)
    opt = O.sgd(0.1)

    def objective(p):
        return net.loss_and_grads(p, X, Y)[0] + 0.5 * 0.01 * sum(jnp.sum(layer["W"] ** 2) for layer in p)

    new, _, loss = jax.jit(M.mlp_train_step, static_argnames=("net", "optimizer", "alpha"))(
        params, opt.init(params), X, Y, net=net, optimizer=opt, alpha=0.01)
    g = jax.jit(jax.grad(objective))(params)
    want = jax.tree_util.tree_map(lambda p, d: p - 0.1 * d, params, g)
    assert_close(new, want, rtol=1e-12, atol=1e-14)
    assert_close(loss, jax.jit(lambda p: net.loss_and_grads(p, X, Y)[0])(params), rtol=1e-14)


def test_verbose_progress(capsys, monkeypatch):
    X, y = blobs(n=40, d=2, k=2)
    pytest.importorskip("tqdm")
    M.MLPClassifier(hidden_layer_sizes=(4,), epochs=3, seed=0, verbose=True).fit(X, y)
    assert "MLPClassifier" in capsys.readouterr().err  # a tqdm bar on stderr
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    M.MLPClassifier(hidden_layer_sizes=(4,), epochs=3, seed=0, verbose=True).fit(X, y)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("MLPClassifier: epoch 1/3 loss ") and lines[-1].startswith("MLPClassifier: epoch 3/3")


def test_mlp_bad_parameters():
    X, y = blobs(n=20, d=2, k=2)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be positive ints"):
        M.MLPClassifier(hidden_layer_sizes=(8, 0)).fit(X, y)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1; got epochs=0"):
        M.MLPRegressor(epochs=0).fit(X, y * 1.0)
    with pytest.raises(ValueError, match=r"validation_fraction must lie in \(0, 1\)"):
        M.MLPClassifier(early_stopping=True, validation_fraction=1.0).fit(X, y)
    with pytest.raises(M.NotFittedError):
        M.MLPClassifier().predict_proba(X)


# ------------------------------------------------------------------ warm_start and partial_fit
def _params_close(a, b, **tol):
    for la, lb in zip(a.params_, b.params_):
        assert_close(la["W"], lb["W"], **tol)
        assert_close(la["b"], lb["b"], **tol)


def _data(backend, *, k=3, n=90, dtype="float64"):
    X, y = blobs(n=n, d=3, k=k, seed=4)
    rng = np.random.default_rng(5)
    t = np.stack([X[:, 0] - X[:, 1], np.sin(X[:, 2])], axis=1) + 0.01 * rng.normal(size=(n, 2))
    return place_all(backend, X, y, t, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_warm_start_continues_the_fit(backend, dtype):
    """Warm-started fits of k and m epochs with plain SGD (no optimizer state) give one fit of k + m
    epochs: same parameters, same batches (the shuffles go on), the loss curve goes on."""
    X, y, T = _data(backend, dtype=dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for Est, target in ((M.MLPClassifier, y), (M.MLPRegressor, T)):
        kw = dict(hidden_layer_sizes=(6, 5), activation="tanh", optimizer=O.sgd(0.05), batch_size=16, seed=2)
        once = Est(epochs=5, **kw).fit(X, target)
        warm = Est(epochs=2, warm_start=True, **kw).fit(X, target)
        warm.epochs = 3
        warm.fit(X, target)
        assert warm.n_iter_ == 3 and warm.loss_curve_.shape == (5,)
        _params_close(warm, once, **tol)
        assert_close(warm.loss_curve_, once.loss_curve_, **tol)
        assert_fitted_on(warm, backend, X.dtype)
        # without warm_start a second fit starts over: the same as a fresh fit
        cold = Est(epochs=2, **kw).fit(X, target)
        cold.epochs = 3
        cold.fit(X, target)
        _params_close(cold, Est(epochs=3, **kw).fit(X, target), **tol)


def test_warm_start_starts_from_the_fitted_weights(backend):
    """A warm-started fit with a zero step leaves the previous weights exactly; a cold one draws new ones."""
    X, y, T = _data(backend)
    for Est, target in ((M.MLPClassifier, y), (M.MLPRegressor, T)):
        first = Est(hidden_layer_sizes=(7,), optimizer=O.adam(1e-2), epochs=3, seed=1).fit(X, target)
        before = [{k: backend.to_numpy(a) for k, a in layer.items()} for layer in first.params_]
        first.set_params(optimizer=O.sgd(0.0), warm_start=True, seed=99).fit(X, target)
        for layer, old in zip(first.params_, before):
            np.testing.assert_array_equal(backend.to_numpy(layer["W"]), old["W"])
            np.testing.assert_array_equal(backend.to_numpy(layer["b"]), old["b"])
        first.set_params(warm_start=False).fit(X, target)  # seed 99: new initial weights, not moved by sgd(0)
        assert not np.array_equal(backend.to_numpy(first.params_[0]["W"]), before[0]["W"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_partial_fit_equals_fit(backend, dtype):
    """k calls of partial_fit = fit with epochs=k, with Adam (its state is kept between calls) and shuffling."""
    X, y, T = _data(backend, dtype=dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    kw = dict(hidden_layer_sizes=(8,), optimizer=O.adam(1e-2), batch_size=20, seed=3)
    for Est, target, extra in ((M.MLPClassifier, y, {"classes": np.arange(3)}), (M.MLPRegressor, T, {})):
        once = Est(epochs=4, **kw).fit(X, target)
        inc = Est(**kw)
        for i in range(4):
            inc.partial_fit(X, target, **(extra if i == 0 else {}))
            assert inc.n_iter_ == 1 and inc.loss_curve_.shape == (i + 1,)
        _params_close(inc, once, **tol)
        assert_close(inc.loss_curve_, once.loss_curve_, **tol)
        # partial_fit after fit continues it (and a fresh optimizer state: fit keeps none for partial_fit's)
        again = Est(epochs=3, **kw).fit(X, target).partial_fit(X, target)
        assert again.loss_curve_.shape == (4,)
    # later batches may lack classes; classes of a first call are all the labels
    clf = M.MLPClassifier(hidden_layer_sizes=(4,), epochs=1, seed=0)
    clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert_close(clf.classes_, np.arange(4))
    assert clf.predict_proba(X).shape == (90, 4)
    keep = backend.to_numpy(y) < 2
    clf.partial_fit(*place_all(backend, backend.to_numpy(X)[keep], backend.to_numpy(y)[keep], dtype=dtype))


def test_warm_start_and_partial_fit_errors():
    X, y = blobs(n=60, d=3, k=3, seed=0)
    y2 = np.where(y == 2, 5, y)
    clf = M.MLPClassifier(hidden_layer_sizes=(4,), epochs=2, seed=0, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the same classes as in the "
                                         r"previous call to fit. Previously got \[0 1 2\], `y` has \[0 1 5\]"):
        clf.fit(X, y2)
    with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the same classes"):
        clf.fit(X, np.minimum(y, 1))
    with pytest.raises(ValueError, match=r"`y` has classes not in self.classes_"):
        clf.partial_fit(X, y2)
    with pytest.raises(ValueError, match=r"layer sizes \[3, 4, 3\].*needs \[3, 5, 3\].*hidden_layer_sizes"):
        clf.set_params(hidden_layer_sizes=(5,)).fit(X, y)
    with pytest.raises(ValueError, match=r"layer sizes \[3, 4, 3\].*needs \[2, 4, 3\]"):
        clf.set_params(hidden_layer_sizes=(4,)).fit(X[:, :2], y)
    with pytest.raises(ValueError, match="continue the fitted network MLP"):
        clf.set_params(activation="tanh").fit(X, y)
    clf.set_params(warm_start=False).fit(X, y2)  # starting over accepts anything
    with pytest.raises(ValueError, match="classes must be given on the first call to partial_fit"):
        M.MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match=r"`y` has classes not in classes \(given on the first call"):
        M.MLPClassifier().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="classes must be a 1-D array of at least 2 labels"):
        M.MLPClassifier().partial_fit(X, np.zeros(60, dtype=int), classes=[0, 0])
    with pytest.raises(TypeError, match="warm_start"):
        M.MLPClassifier(warm_start="yes").fit(X, y)
    reg = M.MLPRegressor(hidden_layer_sizes=(4,), epochs=2, seed=0).fit(X, X[:, 0])
    with pytest.raises(ValueError, match=r"needs \[3, 4, 2\].*number of outputs"):
        reg.partial_fit(X, X[:, :2])
    pytest.importorskip("torch")
    import torch

    with pytest.raises(ValueError, match="parameters are numpy arrays; X is a torch array"):
        reg.partial_fit(torch.asarray(X), torch.asarray(X[:, 0]))
