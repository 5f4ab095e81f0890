"""The distribution losses' options: ``axis`` (class axis), ``ignore_index`` (torch) and ``where`` (optax).

References: ``torch.nn.functional.cross_entropy``/``nll_loss`` on ``(N, C, d)``
inputs with ``ignore_index`` (values and autograd gradients), optax's
``softmax_cross_entropy``/``softmax_cross_entropy_with_integer_labels`` with
``axis`` and ``where`` (their own test cases, ported), and ``jax.grad``.
The registry cases (``portable_ml/testing/_cases/losses.py``) sweep the same
options through the invariant tests on every backend.
"""

import numpy as np
import pytest

from portable_ml import losses as L
from portable_ml.testing import assert_close, dtype_name

from .helpers import place_all

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _ncd(seed, n=4, k=5, d=3, frac=0.3):
    r = np.random.default_rng(seed)
    z = r.normal(0, 2.0, size=(n, k, d))
    lab = r.integers(0, k, size=(n, d))
    lab[r.uniform(size=(n, d)) < frac] = -100
    lab[0, 0], lab[1, 1] = -100, 2
    return lab, z


def _torch_grad(fn, x, *args, **kw):
    t = torch.tensor(x, requires_grad=True)
    fn(t, *args, **kw).sum().backward()
    return t.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_sparse_softmax_ignore_index_on_ncd_matches_torch(backend, float_dtype, reduction, smoothing):
    lab, z = _ncd(0)
    kw = dict(axis=1, ignore_index=-100, label_smoothing=smoothing, reduction=reduction)
    want = F.cross_entropy(torch.tensor(z), torch.tensor(lab), ignore_index=-100, label_smoothing=smoothing,
                           reduction=reduction).numpy()
    gwant = _torch_grad(F.cross_entropy, z, torch.tensor(lab), ignore_index=-100, label_smoothing=smoothing,
                        reduction=reduction)
    a = place_all(backend, lab, z, dtype=dtype_name(float_dtype))
    rtol = 1e-5 if dtype_name(float_dtype) == "float32" else 1e-12
    assert_close(L.sparse_softmax_cross_entropy(*a, **kw), want, rtol=rtol, atol=rtol)
    assert_close(L.sparse_softmax_cross_entropy_grad(*a, **kw), gwant, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_and_sparse_probabilities_ignore_index_on_ncd_match_torch(backend, reduction):
    lab, z = _ncd(1)
    lp = F.log_softmax(torch.tensor(z), dim=1).numpy()
    p = np.exp(lp)
    want = F.nll_loss(torch.tensor(lp), torch.tensor(lab), ignore_index=-100, reduction=reduction).numpy()
    gwant = _torch_grad(F.nll_loss, lp, torch.tensor(lab), ignore_index=-100, reduction=reduction)
    a_lp, a_lab, a_p = place_all(backend, lp, lab, p)
    kw = dict(axis=1, ignore_index=-100, reduction=reduction)
    assert_close(L.nll(a_lp, a_lab, **kw), want, rtol=1e-12, atol=1e-12)
    assert_close(L.nll_grad(a_lp, a_lab, **kw), gwant, rtol=1e-12, atol=1e-12)
    assert_close(L.sparse_categorical_cross_entropy(a_lab, a_p, **kw), want, rtol=1e-12, atol=1e-12)
    # d(-log p_c)/dp = -1/p_c = (d/d log p) / p
    assert_close(L.sparse_categorical_cross_entropy_grad(a_lab, a_p, **kw), gwant / p, rtol=1e-12, atol=1e-12)


def test_ignore_index_in_range_equals_dropping_the_rows():
    r = np.random.default_rng(2)
    z, lab = r.normal(size=(10, 4)), np.asarray([0, 1, 2, 3, 1, 1, 0, 2, 1, 3])
    keep = lab != 1
    for fn in (L.sparse_softmax_cross_entropy, L.sparse_softmax_cross_entropy_grad):
        full = fn(lab, z, ignore_index=1)
        part = fn(lab[keep], z[keep])
        if full.ndim:  # gradient: the dropped rows are 0, the others those of the kept rows alone
            assert_close(full[keep], part, rtol=1e-12)
            assert np.all(full[~keep] == 0)
        else:
            assert_close(full, part, rtol=1e-12)


def test_all_ignored_gives_zero_and_a_zero_gradient(backend):
    lab, z = _ncd(3)
    lab = np.full_like(lab, -100)
    a = place_all(backend, lab, z)
    for fn in (L.sparse_softmax_cross_entropy, L.sparse_softmax_cross_entropy_grad):
        out = backend.to_numpy(fn(*a, axis=1, ignore_index=-100))
        assert np.all(out == 0), fn.__name__
    # torch's convention differs there (0/0): documented
    assert np.isnan(F.cross_entropy(torch.tensor(z), torch.tensor(lab)).item())
    w = place_all(backend, np.ones(4))[0]
    assert float(L.sparse_softmax_cross_entropy(*a, axis=1, ignore_index=-100, sample_weight=w)) == 0.0


def test_ignore_index_out_of_range_is_trace_safe_under_jit():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    lab, z = _ncd(4)
    f = jax.jit(lambda l, x: L.sparse_softmax_cross_entropy(l, x, axis=1, ignore_index=-100))
    g = jax.jit(jax.grad(lambda x, l: L.sparse_softmax_cross_entropy(l, x, axis=1, ignore_index=-100)))
    want = F.cross_entropy(torch.tensor(z), torch.tensor(lab)).numpy()
    assert_close(np.asarray(f(jnp.asarray(lab), jnp.asarray(z))), want, rtol=1e-5, atol=1e-6)
    gj = np.asarray(g(jnp.asarray(z), jnp.asarray(lab)))
    assert np.all(np.isfinite(gj))
    assert_close(gj, L.sparse_softmax_cross_entropy_grad(lab, z, axis=1, ignore_index=-100), rtol=1e-5, atol=1e-6)


def test_weights_with_ignore_index_match_torch_class_weights():
    lab, z = _ncd(5)
    cw = np.asarray([0.5, 1.0, 2.0, 0.3, 1.7])
    safe = np.where(lab == -100, 0, lab)
    lab2, z2 = lab.reshape(-1), np.moveaxis(z, 1, -1).reshape(-1, 5)  # one sample per position
    want = F.cross_entropy(torch.tensor(z2), torch.tensor(lab2), weight=torch.tensor(cw)).numpy()
    got = L.sparse_softmax_cross_entropy(lab2, z2, ignore_index=-100, sample_weight=cw[safe.reshape(-1)])
    assert_close(got, want, rtol=1e-12)
    g = L.sparse_softmax_cross_entropy_grad(lab2, z2, ignore_index=-100, sample_weight=cw[safe.reshape(-1)])
    assert_close(g, _torch_grad(F.cross_entropy, z2, torch.tensor(lab2), weight=torch.tensor(cw)), rtol=1e-10,
                 atol=1e-14)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "categorical_cross_entropy", "kl_divergence",
                                  "js_divergence"])
@pytest.mark.parametrize("axis", [0, 1, 2, -2])
def test_axis_equals_moving_the_class_axis_last(backend, name, axis):
    # optax's test_axis: shape (4, 5, 6), targets on the simplex along the class axis
    r = np.random.default_rng(6)
    shape = (4, 5, 6)
    k = shape[axis]
    y_last = r.dirichlet(np.ones(k), size=shape[:axis % 3] + shape[axis % 3 + 1:])
    x_last = r.normal(size=y_last.shape) if name == "softmax_cross_entropy" else r.dirichlet(np.ones(k), y_last.shape[:-1])
    y, x = np.moveaxis(y_last, -1, axis), np.moveaxis(x_last, -1, axis)
    fn, grad = getattr(L, name), getattr(L, name + "_grad")
    a = place_all(backend, y, x)
    for reduction in ("mean", "none"):
        assert_close(fn(*a, axis=axis, reduction=reduction), fn(y_last, x_last, reduction=reduction), rtol=1e-12)
        assert_close(grad(*a, axis=axis, reduction=reduction),
                     np.moveaxis(grad(y_last, x_last, reduction=reduction), -1, axis), rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_sparse_axis_equals_optax_layout(axis):
    # optax's SoftmaxCrossEntropyWithIntegerLabelsTest.test_axis
    r = np.random.default_rng(7)
    shape = (4, 5, 6)
    z = r.normal(size=shape)
    lab = r.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1:])
    for name in ("sparse_softmax_cross_entropy", "sparse_softmax_cross_entropy_grad"):
        fn = getattr(L, name)
        got = fn(lab, z, axis=axis, reduction="none")
        want = fn(lab, np.moveaxis(z, axis, -1), reduction="none")
        assert_close(got, np.moveaxis(want, -1, axis) if name.endswith("grad") else want, rtol=1e-12)


# ------------------------------------------------------------------ optax's where, ported
_YS = np.array([[10.0, 1.0, -2.0], [1.0, 4.0, 0.2]])
_TS = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def _optax():
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    if not jax.config.jax_enable_x64:
        pytest.skip("needs JAX's x64 mode for a float64 comparison")
    return optax


def test_where_per_logit_mask_rows_with_nothing_are_zero(backend):
    where = np.array([[1, 0, 0], [0, 0, 0]]).astype(bool)
    a = place_all(backend, _TS, _YS, where)
    out = backend.to_numpy(L.softmax_cross_entropy(a[0], a[1], where=a[2], reduction="none"))
    assert np.all(np.where(np.any(where, -1), 0.0, out) == 0)
    lab = place_all(backend, np.array([1, 0]))[0]
    out = backend.to_numpy(L.sparse_softmax_cross_entropy(lab, a[1], where=a[2], reduction="none"))
    assert np.all(np.where(np.any(where, -1), 0.0, out) == 0)
    # the mean counts only the rows with an included entry; nothing included at all gives 0
    assert_close(L.softmax_cross_entropy(a[0], a[1], where=a[2]), out[0] * 0 + float(
        L.softmax_cross_entropy(_TS, _YS, where=where, reduction="sum")), rtol=1e-12)
    assert float(L.softmax_cross_entropy(a[0], a[1], where=a[2] & False)) == 0.0


@pytest.mark.parametrize("size", [5, 10])
def test_where_equals_dropping_the_entries(size):
    r = np.random.default_rng(size)
    preds, targets = r.normal(size=size), r.dirichlet(np.ones(size))
    mask = r.integers(0, 2, size=size).astype(bool)
    mask[:2] = True
    assert_close(L.softmax_cross_entropy(targets, preds, where=mask),
                 L.softmax_cross_entropy(targets[mask], preds[mask]), rtol=1e-12)
    g = L.softmax_cross_entropy_grad(targets, preds, where=mask)
    assert np.all(g[~mask] == 0)
    assert_close(g[mask], L.softmax_cross_entropy_grad(targets[mask], preds[mask]), rtol=1e-12)


def test_where_matches_optax_and_jax_grad():
    optax = _optax()
    import jax
    import jax.numpy as jnp

    r = np.random.default_rng(8)
    z, y = r.normal(size=(6, 4)), r.dirichlet(np.ones(4), size=6)
    lab = r.integers(0, 4, size=6)
    entries = r.uniform(size=(6, 4)) < 0.6
    entries[np.arange(6), lab] = True
    entries[2] = False
    rows = np.array([True, False, True, True, False, True])
    for w in (entries, rows):
        assert_close(L.softmax_cross_entropy(y, z, where=w, reduction="none"),
                     optax.losses.softmax_cross_entropy(z, y, where=w), rtol=1e-12, atol=1e-15)
        assert_close(L.sparse_softmax_cross_entropy(lab, z, where=w, reduction="none"),
                     optax.losses.softmax_cross_entropy_with_integer_labels(z, lab, where=w), rtol=1e-12,
                     atol=1e-15)
        for reduction in ("mean", "sum", "none"):
            for fn, t in ((L.softmax_cross_entropy, y), (L.sparse_softmax_cross_entropy, lab)):
                want = jax.grad(lambda x: jnp.sum(fn(jnp.asarray(t), x, where=jnp.asarray(w),
                                                     reduction=reduction)))(jnp.asarray(z))
                assert np.all(np.isfinite(np.asarray(want)))
                got = getattr(L, fn.__name__ + "_grad")(t, z, where=w, reduction=reduction)
                assert_close(got, np.asarray(want), rtol=1e-12, atol=1e-15)


def test_sparse_where_with_the_label_excluded_is_the_one_hot_form():
    r = np.random.default_rng(9)
    z, lab = r.normal(size=(5, 4)), np.array([0, 1, 2, 3, 0])
    w = r.uniform(size=(5, 4)) < 0.5
    w[:, 0] = False  # rows 0 and 4 exclude their own class
    w[:, 1] = True
    onehot = np.eye(4)[lab]
    for red in ("mean", "none"):
        assert_close(L.sparse_softmax_cross_entropy(lab, z, where=w, reduction=red),
                     L.softmax_cross_entropy(onehot, z, where=w, reduction=red), rtol=1e-12)
        assert_close(L.sparse_softmax_cross_entropy_grad(lab, z, where=w, reduction=red),
                     L.softmax_cross_entropy_grad(onehot, z, where=w, reduction=red), rtol=1e-12)


# ------------------------------------------------------------------ bad options
@pytest.mark.parametrize("call, error, match", [
    (lambda: L.nll(np.zeros((2, 3)), np.array([0, 1]), ignore_index=1.5), TypeError, "ignore_index must be an integer"),
    (lambda: L.nll(np.zeros((2, 3)), np.array([0, 1]), ignore_index=True), TypeError, "ignore_index"),
    (lambda: L.nll(np.zeros((2, 3)), np.array([0, -7]), ignore_index=-100), ValueError,
     r"labels \(other than ignore_index=-100\) must lie in \[0, 3\)"),
    (lambda: L.nll(np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=int), axis=1), ValueError,
     r"labels must have shape log_probs.shape without the class axis 1 = \(2, 4\)"),
    (lambda: L.softmax_cross_entropy(np.eye(3), np.eye(3), axis=2), ValueError, "axis=2 is out of range"),
    (lambda: L.js_divergence(np.eye(3), np.eye(3), axis=0.0), TypeError, "axis must be an integer"),
    (lambda: L.softmax_cross_entropy(np.eye(3), np.eye(3), where=np.ones((3, 3))), TypeError,
     "where must be a boolean array"),
    (lambda: L.softmax_cross_entropy(np.eye(3), np.eye(3), where=[True, False, True]), TypeError,
     r"where \(argument of softmax_cross_entropy\): expected an array"),
    (lambda: L.sparse_softmax_cross_entropy(np.array([0, 1, 2]), np.eye(3), where=np.ones(2, bool)), ValueError,
     r"where must have logits's shape \(3, 3\)"),
])
def test_bad_options_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_gradient_with_class_axis_and_masks_is_jax_grad(reduction):
    jax = pytest.importorskip("jax")
    if not jax.config.jax_enable_x64:
        pytest.skip("needs JAX's x64 mode")
    import jax.numpy as jnp

    lab, z = _ncd(10)
    sw = np.random.default_rng(11).uniform(0.2, 2.0, size=4)
    w = np.random.default_rng(12).uniform(size=z.shape) < 0.7
    for name, kw in (("sparse_softmax_cross_entropy", dict(axis=1, ignore_index=-100)),
                     ("sparse_softmax_cross_entropy", dict(axis=1, ignore_index=-100, where=w)),
                     ("nll", dict(axis=1, ignore_index=-100))):
        fn, grad = getattr(L, name), getattr(L, name + "_grad")
        args = (z, lab) if name == "nll" else (lab, z)
        wrt = 0 if name == "nll" else 1
        jkw = {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}

        def total(x, args=args, wrt=wrt, fn=fn, jkw=jkw):
            a = [jnp.asarray(v) for v in args]
            a[wrt] = x
            return jnp.sum(fn(*a, sample_weight=jnp.asarray(sw), reduction=reduction, **jkw))

        want = np.asarray(jax.grad(total)(jnp.asarray(z)))
        got = grad(*args, sample_weight=sw, reduction=reduction, **kw)
        assert_close(got, want, rtol=1e-12, atol=1e-15, err_msg=f"{name} {sorted(kw)}")
