"""The losses added for breadth (Keras / torch / optax names), torch's target
broadcasting in ``gaussian_nll`` and ``kl_divergence(log_target=True)``.

Values against the references, gradients against central differences and
``jax.grad``, and the extremes are registry facts
(``portable_ml/testing/_cases/losses.py``, run by ``tests/test_invariants.py``).
Here: identities between losses, the other libraries' own implementations
(scikit-learn, optax, torch) where the registry uses a transcription, and errors.
"""

import numpy as np
import pytest

from portable_ml import losses as L
from portable_ml.testing import assert_close

from .helpers import place, place_all

ALL = ("mean", "sum", "none")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _rng(seed):
    return np.random.default_rng(seed)


def test_msle_matches_sklearn(backend):
    mean_squared_log_error = pytest.importorskip("sklearn.metrics").mean_squared_log_error

    r = _rng(0)
    y, p = r.uniform(0, 5, size=(20,)), r.uniform(0, 5, size=(20,))
    assert_close(L.mean_squared_log_error(*place_all(backend, y, p, dtype="float64")),
                 mean_squared_log_error(y, p), rtol=1e-12)


def test_smooth_l1_is_huber_over_beta(backend):
    r = _rng(1)
    y, p = place_all(backend, r.normal(size=(5, 4)), r.normal(scale=2.0, size=(5, 4)), dtype="float64")
    for beta in (0.3, 1.0, 2.5):
        for reduction in ALL:
            assert_close(L.smooth_l1(y, p, beta=beta, reduction=reduction),
                         L.huber(y, p, delta=beta, reduction=reduction) / beta, rtol=1e-12)
            assert_close(L.smooth_l1_grad(y, p, beta=beta, reduction=reduction),
                         L.huber_grad(y, p, delta=beta, reduction=reduction) / beta, rtol=1e-12)


def test_dice_is_tversky_at_one_half_without_smoothing(backend):
    r = _rng(2)
    y = (r.uniform(size=(6, 8)) < 0.5).astype(float)
    y, p = place_all(backend, y, r.uniform(0.05, 0.95, size=(6, 8)), dtype="float64")
    kw = {"smooth": 0.0, "reduction": "none"}
    assert_close(L.dice(y, p, **kw), L.tversky(y, p, alpha=0.5, beta=0.5, **kw), rtol=1e-12)
    assert_close(L.dice_grad(y, p, **kw), L.tversky_grad(y, p, alpha=0.5, beta=0.5, **kw), rtol=1e-12)


def test_categorical_focal_at_gamma_0_is_alpha_times_cross_entropy(backend):
    r = _rng(3)
    p = r.uniform(0.05, 1.0, size=(7, 4))
    p /= p.sum(-1, keepdims=True)
    y, p = place_all(backend, np.eye(4)[r.integers(0, 4, size=7)], p, dtype="float64")
    for reduction in ALL:
        assert_close(L.categorical_focal(y, p, alpha=0.4, gamma=0.0, reduction=reduction),
                     0.4 * L.categorical_cross_entropy(y, p, reduction=reduction), rtol=1e-12)
        assert_close(L.categorical_focal_grad(y, p, alpha=0.4, gamma=0.0, reduction=reduction),
                     0.4 * L.categorical_cross_entropy_grad(y, p, reduction=reduction), rtol=1e-12)


def test_cosine_similarity_loss_matches_optax():
    optax = pytest.importorskip("optax")
    r = _rng(4)
    y, p = r.normal(size=(6, 5)), r.normal(size=(6, 5))
    y[0] = 0.0  # a zero row: clamped norm
    want = np.asarray(optax.cosine_distance(p.astype(np.float32), y.astype(np.float32), epsilon=1e-8))
    assert_close(L.cosine_similarity_loss(y, p, reduction="none"), want.astype(np.float64), rtol=1e-5, atol=1e-6)


def test_cosine_similarity_loss_is_scale_invariant(backend):
    r = _rng(5)
    y, p = place_all(backend, r.normal(size=(4, 3)), r.normal(size=(4, 3)), dtype="float64")
    assert_close(L.cosine_similarity_loss(3.0 * y, 0.5 * p, reduction="none"),
                 L.cosine_similarity_loss(y, p, reduction="none"), rtol=1e-12)
    assert_close(L.cosine_similarity_loss(y, y, reduction="none"), np.zeros(4), atol=1e-14)
    assert_close(L.cosine_similarity_loss(y, -y, reduction="none"), np.full(4, 2.0), rtol=1e-14)


def test_categorical_hinge_is_at_most_multiclass_margin_form():
    """Keras's form: 0 once the true score beats every other score and 0 by the margin."""
    y = np.eye(3)[[0, 1]]
    s = np.array([[3.0, 1.0, 2.0], [-5.0, -1.0, -3.0]])
    # row 0: 1 + 2 - 3 = 0; row 1: M = max(-5, 0, -3) = 0 (the true class's zero), 1 + 0 + 1 = 2
    assert_close(L.categorical_hinge(y, s, reduction="none"), np.array([0.0, 2.0]))


def test_poisson_at_zero_rate_and_count_is_zero(backend):
    y, p = place_all(backend, np.array([0.0, 2.0]), np.array([0.0, 2.0]), dtype="float64")
    assert_close(L.poisson(y, p, reduction="none"), np.array([0.0, 2.0 - 2.0 * np.log(2.0 + 1e-8)]), rtol=1e-14)


def test_multiclass_hinge_margin_and_reductions_match_torch(torch):
    r = _rng(6)
    labels, s = r.integers(0, 5, size=9), r.normal(size=(9, 5))
    for margin in (0.5, 2.0):
        for reduction in ALL:
            want = torch.nn.functional.multi_margin_loss(torch.as_tensor(s), torch.as_tensor(labels),
                                                         margin=margin, reduction=reduction).numpy()
            assert_close(L.multiclass_hinge(labels, s, margin=margin, reduction=reduction), want, rtol=1e-12)


# ------------------------------------------------------------------ gaussian_nll: torch's broadcasting
@pytest.mark.parametrize("y_shape, mean_shape, var_shape", [
    ((1, 3), (2, 3), (2, 3)),   # the target broadcast (it raised before)
    ((3,), (4, 3), (4,)),
    ((4, 1), (4, 3), (4, 3)),
    ((2, 3, 4), (2, 3, 4), (2, 1, 4)),  # one axis of size 1 in the middle, as torch's (n, 1, h, w)
    ((2, 3), (1, 3), (1, 3)),   # the mean broadcast: its gradient sums over the broadcast axis
])
def test_gaussian_nll_broadcasts_like_torch(y_shape, mean_shape, var_shape, backend, torch):
    r = _rng(7)
    y, mean, var = r.normal(size=y_shape), r.normal(size=mean_shape), r.uniform(0.2, 2.0, size=var_shape)
    args = place_all(backend, y, mean, var, dtype="float64")
    for reduction in ALL:
        tm = torch.as_tensor(mean).requires_grad_(True)
        want = torch.nn.functional.gaussian_nll_loss(tm, torch.as_tensor(y), torch.as_tensor(var),
                                                     reduction=reduction)
        assert_close(L.gaussian_nll(*args, reduction=reduction), want.detach().numpy(), rtol=1e-12)
        (want.sum()).backward()
        got = L.gaussian_nll_grad(*args, reduction=reduction)
        assert tuple(got.shape) == mean_shape
        assert_close(got, tm.grad.numpy(), rtol=1e-12)


def test_gaussian_nll_rejects_shapes_torch_rejects():
    with pytest.raises(ValueError, match="y_true and mean must broadcast together"):
        L.gaussian_nll(np.zeros((2, 4)), np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="var must have the shape of mean"):
        L.gaussian_nll(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.ones((1, 1, 4)))


# ------------------------------------------------------------------ kl_divergence(log_target=True)
def test_kl_log_target_matches_torch_and_the_probability_form(backend, torch):
    r = _rng(8)
    p, q = r.uniform(0.05, 1, size=(5, 4)), r.uniform(0.05, 1, size=(5, 4))
    p /= p.sum(-1, keepdims=True)
    q /= q.sum(-1, keepdims=True)
    p[0] = [0.5, 0.5, 0.0, 0.0]  # log p = -inf contributes 0
    with np.errstate(divide="ignore"):
        lp = np.log(p)
    a_lp, a_p, a_q = place_all(backend, lp, p, q, dtype="float64")
    for reduction in ALL:
        got = L.kl_divergence(a_lp, a_q, log_target=True, reduction=reduction)
        assert_close(got, L.kl_divergence(a_p, a_q, reduction=reduction), rtol=1e-12)
        assert_close(L.kl_divergence_grad(a_lp, a_q, log_target=True, reduction=reduction),
                     L.kl_divergence_grad(a_p, a_q, reduction=reduction), rtol=1e-12)
    # torch gives NaN for log p = -inf (0 * -inf): compared on the rows without zeros
    want = torch.nn.functional.kl_div(torch.log(torch.as_tensor(q[1:])), torch.as_tensor(lp[1:]),
                                      reduction="batchmean", log_target=True)
    assert_close(L.kl_divergence(lp[1:], q[1:], log_target=True), want.numpy(), rtol=1e-12)


def test_kl_log_target_under_jax_jit_and_grad():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    r = _rng(9)
    p, q = r.uniform(0.1, 1, size=(3, 4)), r.uniform(0.1, 1, size=(3, 4))
    p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
    lp, q32 = jnp.asarray(np.log(p), jnp.float32), jnp.asarray(q, jnp.float32)
    f = jax.jit(lambda a, b: L.kl_divergence(a, b, log_target=True))
    assert_close(np.asarray(f(lp, q32)), L.kl_divergence(p, q), rtol=1e-5)
    assert_close(np.asarray(jax.grad(f, argnums=1)(lp, q32)), L.kl_divergence_grad(p, q), rtol=1e-5)


# ------------------------------------------------------------------ errors
_P = np.full((3, 4), 0.25)
BAD = [
    ("msle negative", lambda: L.mean_squared_log_error(np.zeros(3), np.array([1.0, -0.5, 2.0])), ValueError,
     "y_pred.*non-negative"),
    ("poisson negative rate", lambda: L.poisson(np.ones(3), np.array([1.0, -0.5, 2.0])), ValueError,
     "y_pred.*non-negative rates"),
    ("poisson eps", lambda: L.poisson(np.ones(3), np.ones(3), eps=0.0), ValueError, "eps must be positive"),
    ("smooth_l1 beta", lambda: L.smooth_l1(np.ones(3), np.ones(3), beta=0.0), ValueError, "beta must be positive"),
    ("dice probabilities", lambda: L.dice(np.ones((2, 3)), np.full((2, 3), 1.5)), ValueError,
     r"p must hold probabilities"),
    ("tversky alpha", lambda: L.tversky(np.ones((2, 3)), np.ones((2, 3)), alpha=-0.1), ValueError,
     "alpha must be non-negative"),
    ("categorical_focal alpha", lambda: L.categorical_focal(np.eye(4)[:3], _P, alpha=1.5), ValueError, "alpha"),
    ("categorical_hinge classes", lambda: L.categorical_hinge(np.eye(3), _P), ValueError,
     "y_onehot rows have 3 classes but scores has 4"),
    ("multiclass_hinge float labels", lambda: L.multiclass_hinge(np.zeros(3), _P), TypeError,
     "labels must be an array of integer class indices"),
    ("multiclass_hinge range", lambda: L.multiclass_hinge(np.array([0, 4, 1]), _P), ValueError,
     r"labels must lie in \[0, 4\)"),
    ("cosine no feature axis", lambda: L.cosine_similarity_loss(np.asarray(1.0), np.asarray(1.0)), ValueError,
     "must have a class axis"),
    ("kl log_target type", lambda: L.kl_divergence(_P, _P, log_target=1), TypeError, "log_target must be a bool"),
    ("kl log_target values", lambda: L.kl_divergence(_P, _P, log_target=True), ValueError,
     r"log-probabilities \(<= 0\)"),
]


@pytest.mark.parametrize("call, error, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------ label_smoothing
def test_label_smoothing_matches_torch(backend, torch):
    r = _rng(10)
    labels, z = np.arange(8) % 4, r.normal(scale=2.0, size=(8, 4))
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    lab = backend.asarray(labels)
    zb, pb, yb = place_all(backend, z, p, np.eye(4)[labels], dtype="float64")
    T = torch.as_tensor
    for a in (0.0, 0.2, 1.0):
        for reduction in ALL:
            want = torch.nn.functional.cross_entropy(T(z), T(labels), label_smoothing=a, reduction=reduction).numpy()
            kw = {"label_smoothing": a, "reduction": reduction}
            assert_close(L.sparse_softmax_cross_entropy(lab, zb, **kw), want, rtol=1e-12)
            assert_close(L.softmax_cross_entropy(yb, zb, **kw), want, rtol=1e-12)
            # cross_entropy applies log_softmax, the identity on normalised log-probabilities
            assert_close(L.sparse_categorical_cross_entropy(lab, pb, **kw), want, rtol=1e-12)
            assert_close(L.categorical_cross_entropy(yb, pb, **kw), want, rtol=1e-12)
            # the gradients of the four agree (chain rule through softmax for the probability forms)
            g_sparse = L.sparse_softmax_cross_entropy_grad(lab, zb, **kw)
            assert_close(L.softmax_cross_entropy_grad(yb, zb, **kw), g_sparse, rtol=1e-12, atol=1e-15)
            for gp in (L.sparse_categorical_cross_entropy_grad(lab, pb, **kw),
                       L.categorical_cross_entropy_grad(yb, pb, **kw)):
                gp = np.asarray(backend.to_numpy(gp))
                jvp = p * (gp - (gp * p).sum(-1, keepdims=True))  # softmax's Jacobian, transposed
                assert_close(jvp, g_sparse, rtol=1e-10, atol=1e-14)


def test_binary_label_smoothing_is_keras_target_smoothing(backend):
    r = _rng(11)
    y, z = (r.uniform(size=(5, 3)) < 0.5).astype(float), r.normal(size=(5, 3))
    p = 1.0 / (1.0 + np.exp(-z))
    ys = y * 0.9 + 0.05  # keras: y * (1 - a) + 0.5 * a
    yb, ysb, zb, pb = place_all(backend, y, ys, z, p, dtype="float64")
    for reduction in ALL:
        kw = {"reduction": reduction}
        assert_close(L.binary_cross_entropy_with_logits(yb, zb, label_smoothing=0.1, **kw),
                     L.binary_cross_entropy_with_logits(ysb, zb, **kw), rtol=1e-12)
        assert_close(L.binary_cross_entropy_with_logits_grad(yb, zb, label_smoothing=0.1, **kw),
                     L.binary_cross_entropy_with_logits_grad(ysb, zb, **kw), rtol=1e-12)
        assert_close(L.binary_cross_entropy(yb, pb, label_smoothing=0.1, **kw),
                     L.binary_cross_entropy(ysb, pb, **kw), rtol=1e-12)
        assert_close(L.binary_cross_entropy_grad(yb, pb, label_smoothing=0.1, **kw),
                     L.binary_cross_entropy_grad(ysb, pb, **kw), rtol=1e-12)


@pytest.mark.parametrize("fn", [L.binary_cross_entropy_with_logits, L.softmax_cross_entropy_grad])
def test_label_smoothing_out_of_range_raises(fn):
    with pytest.raises(ValueError, match="label_smoothing"):
        fn(np.eye(3), np.zeros((3, 3)), label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        L.sparse_softmax_cross_entropy(np.arange(3), np.zeros((3, 3)), label_smoothing=-0.1)
