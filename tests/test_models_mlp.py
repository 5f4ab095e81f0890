"""MLPClassifier / MLPRegressor on every backend: accuracy on moons, reproducibility, early stopping, progress."""

import sys

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import models as M
from portable_ml import optimizers as O
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close

from .helpers import place
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
    Xb, yb = place(backend, X, labels)
    for opt in (O.sgd(0.05, momentum=0.9), O.chain(O.clip_by_global_norm(1.0), O.adam(5e-3))):
        m = M.MLPClassifier(hidden_layer_sizes=(16, 8), optimizer=opt, epochs=30, batch_size=32, seed=3).fit(Xb, yb)
        assert_close(m.classes_, np.array([10, 20, 30]))
        assert float(backend.to_numpy(m.score(Xb, yb))) >= 0.97
        assert m.predict_proba(Xb).shape == (150, 3)


def test_mlp_regressor_fits_a_smooth_function(backend):
    rng = np.random.default_rng(2)
    X = rng.uniform(-2, 2, size=(400, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    Xb, yb = place(backend, X, y)
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
