"""``sample_weight=`` on every loss and its gradient.

Semantics (one helper in ``portable_ml.losses``): the weight ``w_i`` of sample
``i`` (the first axis) multiplies its items; ``"sum"`` is ``sum W l``,
``"mean"`` is ``sum W l / sum W`` (scikit-learn's weighted mean; with one
item per sample ``sum w_i l_i / sum w_i``), ``"none"`` is ``W l``. Checked
for every loss of the registry (weighted gradients against central
differences of the weighted loss), and against scikit-learn's weighted
metrics and torch's class-weighted cross-entropy.
"""

import numpy as np
import pytest

from portable_ml import losses as L
from portable_ml.testing import assert_close
from portable_ml.testing.registry import cases

from .helpers import place_all

CASES = [c for c in cases() if c.family == "losses"]  # gradient links filled in by the registry

# cases whose options leave positions out (ignore_index, where): the weighted mean counts only the others
# (tests/test_losses_options.py checks it against torch's class weights with ignore_index)
LOSSES = [c for c in CASES if c.grad_of is None and "ignore_index" not in c.kwargs and "[where]" not in c.name]
GRADS = {c.grad_of: c for c in CASES if c.grad_of is not None}


def _setup(case, seed=0):
    r = np.random.default_rng(seed)
    args = list(case.make_args(r))
    kw = {k: v for k, v in case.kwargs.items() if k != "reduction"}
    wrt = GRADS[case.name].wrt
    n = np.shape(args[wrt])[0]
    return args, kw, wrt, r.uniform(0.2, 2.0, size=n)


@pytest.mark.parametrize("case", LOSSES, ids=[c.name for c in LOSSES])
def test_weighted_reductions_follow_the_definition(case):
    args, kw, wrt, w = _setup(case)
    if case.name == "losses.rmse":
        assert_close(case.fn(*args, sample_weight=w, **kw),
                     np.sqrt(L.mse(*args, sample_weight=w)), rtol=1e-12)
        return
    items = np.asarray(case.fn(*args, reduction="none", **kw))
    wb = w.reshape((-1,) + (1,) * (items.ndim - 1))
    assert_close(case.fn(*args, sample_weight=w, reduction="none", **kw), wb * items, rtol=1e-12)
    assert_close(case.fn(*args, sample_weight=w, reduction="sum", **kw), np.sum(wb * items), rtol=1e-12)
    mean = np.sum(wb * items) / (w.sum() * (items.size // items.shape[0]))
    assert_close(case.fn(*args, sample_weight=w, reduction="mean", **kw), mean, rtol=1e-12)
    # unit weights change nothing
    assert_close(case.fn(*args, sample_weight=np.ones_like(w), **kw), case.fn(*args, **kw), rtol=1e-12)


@pytest.mark.parametrize("case", LOSSES, ids=[c.name for c in LOSSES])
def test_weighted_gradient_is_the_gradient_of_the_weighted_loss(case):
    args, kw, wrt, w = _setup(case, seed=1)
    grad = GRADS[case.name].fn
    reductions = ("mean",) if case.name == "losses.rmse" else ("mean", "sum", "none")
    x0 = np.asarray(args[wrt], dtype=np.float64)
    h = 1e-6
    for reduction in reductions:
        g = np.asarray(grad(*args, sample_weight=w, reduction=reduction, **kw))
        assert g.shape == x0.shape

        def f(x):
            a = list(args)
            a[wrt] = x
            return np.sum(np.asarray(case.fn(*a, sample_weight=w, reduction=reduction, **kw)))

        num = np.empty_like(x0)
        for i in np.ndindex(x0.shape):
            e = np.zeros_like(x0)
            e[i] = h
            num[i] = (f(x0 + e) - f(x0 - e)) / (2 * h)
        assert_close(g, num, rtol=2e-6, atol=2e-7)


def test_matches_sklearn_weighted_metrics(backend):
    sk = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(2)
    w = r.uniform(0.1, 3.0, size=12)

    def on(*a):
        return place_all(backend, *a, dtype="float64")

    y, p = r.normal(size=(12, 3)), r.normal(size=(12, 3))
    yb, pb, wb = on(y, p, w)
    assert_close(L.mse(yb, pb, sample_weight=wb), sk.mean_squared_error(y, p, sample_weight=w), rtol=1e-12)
    assert_close(L.mae(yb, pb, sample_weight=wb), sk.mean_absolute_error(y, p, sample_weight=w), rtol=1e-12)
    assert_close(L.rmse(yb, pb, sample_weight=wb), np.sqrt(sk.mean_squared_error(y, p, sample_weight=w)),
                 rtol=1e-12)
    ya, pa = np.abs(y), np.abs(p)
    assert_close(L.mean_squared_log_error(*on(ya, pa), sample_weight=wb),
                 sk.mean_squared_log_error(ya, pa, sample_weight=w), rtol=1e-12)
    # binary log loss of P(y = 1)
    yl, pl = (r.uniform(size=12) < 0.5).astype(float), r.uniform(0.05, 0.95, size=12)
    assert_close(L.binary_cross_entropy(*on(yl, pl), sample_weight=wb),
                 sk.log_loss(yl, pl, sample_weight=w), rtol=1e-12)
    # multiclass log loss, one-hot and integer labels
    labels = np.arange(12) % 4
    probs = r.uniform(0.05, 1.0, size=(12, 4))
    probs /= probs.sum(-1, keepdims=True)
    want = sk.log_loss(labels, probs, sample_weight=w)
    assert_close(L.categorical_cross_entropy(*on(np.eye(4)[labels], probs), sample_weight=wb), want, rtol=1e-12)
    lab = backend.asarray(labels)
    assert_close(L.sparse_categorical_cross_entropy(lab, on(probs)[0], sample_weight=wb), want, rtol=1e-12)


def test_class_weights_are_torch_cross_entropy_weight(backend):
    """torch's ``weight=`` (one per class) is ``sample_weight = weight[labels]``, mean over the weight sum."""
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(3)
    labels, z, cw = np.arange(10) % 4, r.normal(size=(10, 4)), r.uniform(0.2, 2.0, size=4)
    zb, wb = place_all(backend, z, cw[labels], dtype="float64")
    lab = backend.asarray(labels)
    T = torch.as_tensor
    for reduction in ("mean", "sum", "none"):
        want = torch.nn.functional.cross_entropy(T(z), T(labels), weight=T(cw), reduction=reduction).numpy()
        assert_close(L.sparse_softmax_cross_entropy(lab, zb, sample_weight=wb, reduction=reduction), want,
                     rtol=1e-12)
        lp = torch.log_softmax(T(z), -1)
        want = torch.nn.functional.nll_loss(lp, T(labels), weight=T(cw), reduction=reduction).numpy()
        assert_close(L.nll(place_all(backend, lp.numpy(), dtype="float64")[0], lab, sample_weight=wb,
                           reduction=reduction), want, rtol=1e-12)


def test_weighted_loss_and_gradient_under_jax_jit():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    r = np.random.default_rng(4)
    y, p, w = r.normal(size=(5, 2)), r.normal(size=(5, 2)), r.uniform(0.5, 2.0, size=5)
    a = [jnp.asarray(v, jnp.float32) for v in (y, p, w)]
    f = jax.jit(lambda y_, p_, w_: L.huber(y_, p_, sample_weight=w_))
    assert_close(np.asarray(f(*a)), L.huber(y, p, sample_weight=w), rtol=1e-5)
    assert_close(np.asarray(jax.grad(f, argnums=1)(*a)), L.huber_grad(y, p, sample_weight=w), rtol=1e-5)


BAD = [
    ("shape", lambda: L.mse(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3)), ValueError,
     r"sample_weight must have shape \(n_samples,\) = \(4,\)"),
    ("2-d", lambda: L.mse(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones((4, 2))), ValueError,
     "sample_weight must have shape"),
    ("negative", lambda: L.mae_grad(np.zeros(3), np.zeros(3), sample_weight=np.array([1.0, -1.0, 1.0])),
     ValueError, "sample_weight.*non-negative weights"),
    ("no sample axis", lambda: L.softmax_cross_entropy(np.eye(3)[0], np.zeros(3), sample_weight=np.ones(1)),
     ValueError, "sample_weight needs a sample axis"),
    ("reduction", lambda: L.mse(np.zeros(3), np.zeros(3), sample_weight=np.ones(3), reduction="avg"), ValueError,
     "reduction"),
    ("rmse reduction", lambda: L.rmse(np.zeros(3), np.zeros(3), sample_weight=np.ones(3), reduction="sum"),
     ValueError, "reduction"),
    ("complex", lambda: L.mse(np.zeros(3), np.zeros(3), sample_weight=np.ones(3) * 1j), TypeError,
     "sample_weight must be a real"),
    ("broadcast mean", lambda: L.gaussian_nll_grad(np.zeros((4, 3)), np.zeros((4, 1)), np.ones((4, 1)),
                                                   sample_weight=np.ones(4)), ValueError,
     "needs mean of the broadcast shape"),
]


@pytest.mark.parametrize("call, error, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_sample_weight_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_mixed_backends_raise():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        L.mse(np.zeros(3), np.zeros(3), sample_weight=torch.ones(3, dtype=torch.float64))
