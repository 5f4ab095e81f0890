"""Neural-network blocks: initialisers, dense layers, attention, MLP.

References: float64 NumPy formulas written here, ``torch.nn.functional.scaled_dot_product_attention``,
a loop-over-heads multi-head attention, and ``jax.grad`` for every analytic backward pass.
"""

import functools
import math

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import activations, nn
from portable_ml.backend import backend_of
from portable_ml.testing import assert_close, dtype_name
from portable_ml.testing.registry import tolerance

from .helpers import other_device, place, place_all


# (rtol, atol) vs float64 references, by dtype: matmul/softmax chains in float32
# lose a few ulps per reduction, so float32 gets ~1e-5 relative.
def tol(dtype):
    return tolerance("reduction", dtype)


def host(backend, x):
    return np.asarray(backend.to_numpy(x), dtype=np.float64)


# ============================================================ initialisers
# name -> (function, kwargs, kind, expected variance or bound as a function of fan_in, fan_out)
INITS = {
    "small_random": (nn.small_random, {"scale": 0.05}, "normal", lambda i, o: 0.05 ** 2),
    "xavier_uniform": (nn.xavier_uniform, {}, "uniform", lambda i, o: math.sqrt(6 / (i + o))),
    "xavier_normal": (nn.xavier_normal, {}, "normal", lambda i, o: 2 / (i + o)),
    "he_normal": (nn.he_normal, {}, "normal", lambda i, o: 2 / i),
    "he_normal_fan_out": (nn.he_normal, {"mode": "fan_out"}, "normal", lambda i, o: 2 / o),
    "he_uniform": (nn.he_uniform, {}, "uniform", lambda i, o: math.sqrt(6 / i)),
    "he_uniform_fan_out": (nn.he_uniform, {"mode": "fan_out"}, "uniform", lambda i, o: math.sqrt(6 / o)),
    "lecun_normal": (nn.lecun_normal, {}, "normal", lambda i, o: 1 / i),
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_initialiser_statistics(name):
    fn, kw, kind, expect = INITS[name]
    fan_in, fan_out = 300, 200
    W = fn(pml.get_backend("numpy").rng(0), fan_in, fan_out, **kw)
    assert W.shape == (fan_in, fan_out) and W.dtype == np.float64
    n = W.size
    if kind == "normal":
        var = expect(fan_in, fan_out)
        # sample variance has relative standard error sqrt(2/n) ~ 0.6%: allow 5 sigma
        assert abs(W.var() / var - 1) < 5 * math.sqrt(2 / n), (W.var(), var)
        assert abs(W.mean()) < 5 * math.sqrt(var / n)
        # normal, not truncated: the 3-sigma tail is populated as for a Gaussian (0.27%)
        assert 0.001 < np.mean(np.abs(W) > 3 * math.sqrt(var)) < 0.005
    else:
        a = expect(fan_in, fan_out)
        assert W.min() >= -a and W.max() < a and W.max() > 0.99 * a and W.min() < -0.99 * a
        assert abs(W.var() / (a * a / 3) - 1) < 0.02


def test_zeros():
    W = nn.zeros(pml.get_backend("numpy").rng(0), 3, 4)
    np.testing.assert_array_equal(W, np.zeros((3, 4)))


@pytest.mark.parametrize("name", ["zeros", "small_random", "xavier_uniform", "xavier_normal", "he_normal",
                                  "he_uniform", "lecun_normal"])
def test_initialiser_same_values_every_backend_dtype_and_device(name, backend, float_dtype):
    fn = getattr(nn, name)
    ref = fn(pml.get_backend("numpy").rng(3), 7, 5)
    W = fn(backend.rng(3), 7, 5, dtype=float_dtype)
    assert backend_of(W) == backend.name and W.dtype == float_dtype and tuple(W.shape) == (7, 5)
    np.testing.assert_array_equal(backend.to_numpy(W), ref.astype(dtype_name(float_dtype)))
    # dtype by name and by default
    assert fn(backend.rng(3), 2, 2, dtype=dtype_name(float_dtype)).dtype == float_dtype
    assert fn(backend.rng(3), 2, 2).dtype == backend.float_dtype
    be = other_device(backend)
    if be is not None:
        from array_api_compat import device

        assert device(fn(be.rng(3), 4, 3)) == be.device


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (2, 3, 4)])
def test_orthogonal_is_orthogonal_and_matches_sign_fixed_qr(shape, backend, float_dtype):
    gain = 1.5
    W = nn.orthogonal(backend.rng(1), shape, gain=gain, dtype=float_dtype)
    assert backend_of(W) == backend.name and W.dtype == float_dtype and tuple(W.shape) == shape
    M = host(backend, W).reshape(-1, shape[-1])
    rows, cols = M.shape
    G = M.T @ M if rows >= cols else M @ M.T
    atol = 1e-5 if dtype_name(float_dtype) == "float32" else 1e-13
    np.testing.assert_allclose(G, gain ** 2 * np.eye(min(rows, cols)), atol=atol)
    # independent reference: NumPy's QR of the same normal draws, columns' signs fixed by diag(R)
    a = pml.get_backend("numpy").rng(1).normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    ref = gain * (q if rows >= cols else q.T)
    rtol, atol = (2e-4, 2e-5) if dtype_name(float_dtype) == "float32" else (1e-9, 1e-12)
    np.testing.assert_allclose(M, ref, rtol=rtol, atol=atol)


def test_orthogonal_on_other_device(backend):
    be = other_device(backend)
    if be is None:
        pytest.skip(f"{backend.name} has a single device here")
    from array_api_compat import device

    assert device(nn.orthogonal(be.rng(0), (4, 3))) == be.device


def test_initialiser_bad_input():
    rng = pml.get_backend("numpy").rng(0)
    with pytest.raises(TypeError, match="rng must be a portable_ml.random.Generator"):
        nn.he_normal(np.random.default_rng(0), 3, 4)
    with pytest.raises(ValueError, match="fan_in must be a positive integer"):
        nn.xavier_uniform(rng, 0, 4)
    with pytest.raises(ValueError, match="fan_out must be a positive integer"):
        nn.xavier_normal(rng, 3, 2.5)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        nn.he_normal(rng, 3, 4, mode="avg")
    with pytest.raises(TypeError, match="real floating dtype"):
        nn.lecun_normal(rng, 3, 4, dtype=np.int64)
    with pytest.raises(ValueError, match="scale must be positive"):
        nn.small_random(rng, 3, 4, scale=0.0)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.orthogonal(rng, (5,))


# ============================================================ dense layers
def _tanh(x):
    return pml.namespace(x).tanh(x)


def _tanh_grad(x):
    t = pml.namespace(x).tanh(x)
    return 1 - t * t


def _dense_inputs(seed, batch=(6,), d_in=4, d_out=3):
    r = np.random.default_rng(seed)
    return (r.normal(size=batch + (d_in,)), r.normal(size=(d_in, d_out)), r.normal(size=(d_out,)),
            r.normal(size=batch + (d_out,)))


@pytest.mark.parametrize("batch", [(6,), (2, 5), ()])
def test_dense_forward_matches_numpy(batch, backend, float_dtype):
    x, W, b, _ = _dense_inputs(0, batch)
    xb, Wb, bb = place_all(backend, x, W, b, dtype=dtype_name(float_dtype))
    a, z = nn.dense_forward(xb, Wb, bb, activation=_tanh)
    assert a.dtype == float_dtype and backend_of(a) == backend.name
    rtol, atol = tol(float_dtype)
    assert_close(z, x @ W + b, rtol=rtol, atol=atol)
    assert_close(a, np.tanh(x @ W + b), rtol=rtol, atol=atol)
    a0, z0 = nn.dense_forward(xb, Wb, None)  # no bias, identity
    assert_close(a0, x @ W, rtol=rtol, atol=atol)
    assert_close(z0, x @ W, rtol=rtol, atol=atol)


def _jax_dense_grads(x, W, b, delta, act):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    def loss(x, W, b):
        return jnp.sum(delta * act(x @ W + b))

    return jax.grad(loss, argnums=(0, 1, 2))(*(jnp.asarray(t, dtype=jnp.float64) for t in (x, W, b)))


@pytest.mark.parametrize("batch", [(6,), (2, 5), ()])
def test_dense_backward_matches_jax_grad(batch, backend, float_dtype):
    """delta = dL/da; (dx, dW, db) equal jax.grad of L = sum(delta * tanh(xW + b))."""
    jax = pytest.importorskip("jax")
    x, W, b, delta = _dense_inputs(1, batch)
    want = _jax_dense_grads(x, W, b, delta, jax.numpy.tanh)
    args = place_all(backend, x, W, b, delta, dtype=dtype_name(float_dtype))
    xb, Wb, bb, db_ = args
    _, z = nn.dense_forward(xb, Wb, bb, activation=_tanh)
    got = nn.dense_backward(db_, xb, Wb, z, activation_grad=_tanh_grad)
    rtol, atol = tol(float_dtype)
    for g, w, name in zip(got, want, ("dx", "dW", "db")):
        assert g.dtype == float_dtype, name
        assert_close(g, np.asarray(w), rtol=rtol, atol=atol, err_msg=name)
    # identity activation: z is not needed
    want = _jax_dense_grads(x, W, b, delta, lambda t: t)
    got = nn.dense_backward(db_, xb, Wb, None)
    assert_close(list(got), [np.asarray(w) for w in want], rtol=rtol, atol=atol)


def test_dense_bad_input():
    x, W, b, delta = _dense_inputs(0)
    with pytest.raises(ValueError, match=r"x.shape\[-1\]=4 must equal W.shape\[0\]=3"):
        nn.dense_forward(x, W.T, b)
    with pytest.raises(ValueError, match="W must be 2-D"):
        nn.dense_forward(x, W[None], b)
    with pytest.raises(ValueError, match=r"b must have shape \(d_out,\) = \(3,\)"):
        nn.dense_forward(x, W, b[:2])
    with pytest.raises(ValueError, match="not an activation of portable_ml.activations"):
        nn.dense_forward(x, W, b, activation="no_such_activation")
    with pytest.raises(TypeError, match="activation must be None, a callable or an activation name"):
        nn.dense_forward(x, W, b, activation=3)
    with pytest.raises(ValueError, match=r"delta must have the layer output's shape \(6, 3\)"):
        nn.dense_backward(delta[:5], x, W, None)
    with pytest.raises(ValueError, match="z .* is required when activation_grad is given"):
        nn.dense_backward(delta, x, W, None, activation_grad=_tanh_grad)
    with pytest.raises(ValueError, match="softmax is not elementwise"):
        nn.dense_backward(delta, x, W, delta, activation_grad="softmax")


# ============================================================ attention
def _np_attention(Q, K, V, mask=None):
    """float64 reference: softmax(QK^T/sqrt(d)) V, masked keys excluded, fully masked rows -> 0."""
    logits = Q @ np.swapaxes(K, -1, -2) / math.sqrt(Q.shape[-1])
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    m = np.max(logits, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(logits - m)
    s = e.sum(axis=-1, keepdims=True)
    w = e / np.where(s > 0, s, 1.0)
    return w @ V, w


def _attn_inputs(seed, batch=(2, 3), n_q=5, n_k=7, d_k=8, d_v=6):
    r = np.random.default_rng(seed)
    Q, K, V = r.normal(size=batch + (n_q, d_k)), r.normal(size=batch + (n_k, d_k)), r.normal(size=batch + (n_k, d_v))
    mask = r.random((n_q, n_k)) < 0.7
    mask[:, 0] = True
    mask[2] = False  # one query sees no key at all
    return Q, K, V, mask


def test_sdpa_matches_torch(backend, float_dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    Q, K, V, mask = _attn_inputs(0)
    args = place_all(backend, Q, K, V, mask, dtype=dtype_name(float_dtype))
    out, w = nn.scaled_dot_product_attention(*args)
    assert out.dtype == float_dtype and w.dtype == float_dtype and backend_of(out) == backend.name
    t = [torch.from_numpy(a) for a in (Q, K, V, mask)]
    want = F.scaled_dot_product_attention(t[0], t[1], t[2], attn_mask=t[3]).numpy()
    rtol, atol = tol(float_dtype)
    assert_close(out, want, rtol=rtol, atol=atol)
    assert_close(out, _np_attention(Q, K, V, mask)[0], rtol=rtol, atol=atol)
    assert_close(w, _np_attention(Q, K, V, mask)[1], rtol=rtol, atol=atol)
    # without a mask, torch again
    out, _ = nn.scaled_dot_product_attention(*args[:3])
    assert_close(out, F.scaled_dot_product_attention(t[0], t[1], t[2]).numpy(), rtol=rtol, atol=atol)


def test_sdpa_mask_semantics_and_extremes(backend, float_dtype):
    Q, K, V, mask = _attn_inputs(1, batch=(2,))
    Q = Q * 1e4  # logits ~1e5: the max-shift keeps exp finite
    args = place_all(backend, Q, K, V, mask, dtype=dtype_name(float_dtype))
    out, w = nn.scaled_dot_product_attention(*args)
    o, w = host(backend, out), host(backend, w)
    assert np.all(np.isfinite(o)) and np.all(np.isfinite(w))
    assert np.all(w[..., ~mask] == 0.0)  # masked keys get exactly zero weight
    np.testing.assert_array_equal(w[:, 2], 0.0)  # fully masked query: zero weights ...
    np.testing.assert_array_equal(o[:, 2], 0.0)  # ... and a zero output row, not NaN
    rows = np.delete(w.sum(-1), 2, axis=1)
    np.testing.assert_allclose(rows, 1.0, rtol=1e-5)


def test_sdpa_broadcasts_batch_axes_and_mask(backend):
    r = np.random.default_rng(2)
    Q, K, V = r.normal(size=(3, 1, 4, 5)), r.normal(size=(2, 6, 5)), r.normal(size=(2, 6, 3))
    mask = r.random((3, 1, 4, 6)) < 0.8
    out, w = nn.scaled_dot_product_attention(*place_all(backend, Q, K, V, mask))
    assert tuple(out.shape) == (3, 2, 4, 3) and tuple(w.shape) == (3, 2, 4, 6)
    ref_o, ref_w = _np_attention(Q, K, V, mask)
    assert_close(out, ref_o, rtol=1e-5, atol=1e-6)
    assert_close(w, ref_w, rtol=1e-5, atol=1e-6)


def _mha_inputs(seed, batch=(2,), n_q=5, n_k=6, d_model=8, h=4, d_head=3):
    r = np.random.default_rng(seed)
    Q = r.normal(size=batch + (n_q, d_model))
    K = r.normal(size=batch + (n_k, d_model))
    V = r.normal(size=batch + (n_k, d_model))
    W = [r.normal(size=(h, d_model, d_head)) / math.sqrt(d_model) for _ in range(3)]
    W_O = r.normal(size=(h * d_head, d_model)) / math.sqrt(h * d_head)
    mask = r.random((n_q, n_k)) < 0.7
    mask[:, 0] = True
    return Q, K, V, W[0], W[1], W[2], W_O, h, mask


def _mha_loop_reference(Q, K, V, W_Q, W_K, W_V, W_O, h, mask):
    heads, weights = [], []
    for i in range(h):  # the formula sheet's loop over heads
        o, w = _np_attention(Q @ W_Q[i], K @ W_K[i], V @ W_V[i], mask)
        heads.append(o)
        weights.append(w)
    return np.concatenate(heads, axis=-1) @ W_O, np.stack(weights, axis=-3)


def test_mha_matches_loop_over_heads(backend, float_dtype):
    inputs = _mha_inputs(3)
    args = place_all(backend, *inputs, dtype=dtype_name(float_dtype))
    out, w = nn.multi_head_attention(*args)
    assert out.dtype == float_dtype and backend_of(out) == backend.name
    assert tuple(w.shape) == (2, 4, 5, 6)
    ref_o, ref_w = _mha_loop_reference(*inputs)
    rtol, atol = tol(float_dtype)
    assert_close(out, ref_o, rtol=rtol, atol=atol)
    assert_close(w, ref_w, rtol=rtol, atol=atol)


def test_mha_matches_torch_multi_head_attention():
    """Cross-check the head layout with torch's MultiheadAttention (equal d_head, no biases)."""
    torch = pytest.importorskip("torch")
    Q, K, V, W_Q, W_K, W_V, W_O, h, mask = _mha_inputs(4, batch=(3,), d_head=2)  # torch needs h*d_head = d_model
    d_model, d_head = W_Q.shape[1], W_Q.shape[2]
    # torch packs heads along the output axis of a (h*d_head, d_model) weight applied as x @ W.T
    pack = lambda W: torch.from_numpy(np.concatenate(list(W), axis=1).T.copy())  # noqa: E731
    T = lambda a: torch.from_numpy(a)  # noqa: E731
    out, w = torch.nn.functional.multi_head_attention_forward(
        T(Q).transpose(0, 1), T(K).transpose(0, 1), T(V).transpose(0, 1), d_model, h,
        in_proj_weight=None, in_proj_bias=None, bias_k=None, bias_v=None, add_zero_attn=False,
        dropout_p=0.0, out_proj_weight=T(W_O.T.copy()), out_proj_bias=None, training=False,
        attn_mask=T(~mask), need_weights=True, average_attn_weights=False,
        use_separate_proj_weight=True, q_proj_weight=pack(W_Q), k_proj_weight=pack(W_K), v_proj_weight=pack(W_V))
    got_o, got_w = nn.multi_head_attention(Q, K, V, W_Q, W_K, W_V, W_O, h, mask)
    np.testing.assert_allclose(got_o, out.transpose(0, 1).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_w, w.numpy(), rtol=1e-10, atol=1e-12)


def test_mha_vs_jax_grad_is_finite_with_masked_rows():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    Q, K, V, W_Q, W_K, W_V, W_O, h, mask = _mha_inputs(5)
    mask[1] = False
    K, V, W_K, W_V, W_O, mask = (jnp.asarray(a) for a in (K, V, W_K, W_V, W_O, mask))

    def f(Q, W_Q):
        return jnp.sum(nn.multi_head_attention(Q, K, V, W_Q, W_K, W_V, W_O, h, mask)[0] ** 2)

    gQ, gW = jax.grad(f, argnums=(0, 1))(jnp.asarray(Q), jnp.asarray(W_Q))
    assert np.all(np.isfinite(gQ)) and np.all(np.isfinite(gW))
    np.testing.assert_array_equal(np.asarray(gQ)[:, 1], 0.0)  # a query that attends to nothing has no gradient


def test_attention_bad_input():
    Q, K, V, mask = _attn_inputs(0)
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        nn.scaled_dot_product_attention(Q, K, V, mask.astype(np.float64))
    with pytest.raises(ValueError, match="Q and K must share the feature axis"):
        nn.scaled_dot_product_attention(Q, K[..., :3], V)
    with pytest.raises(ValueError, match="K and V must have the same number of keys"):
        nn.scaled_dot_product_attention(Q, K, V[..., :4, :])
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        nn.scaled_dot_product_attention(Q, K, V, mask[:, :4])
    with pytest.raises(ValueError, match="Q must be at least 2-D"):
        nn.scaled_dot_product_attention(Q[0, 0, 0], K, V)
    args = list(_mha_inputs(0))
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        nn.multi_head_attention(*args[:7], 0)
    with pytest.raises(ValueError, match=r"W_Q must have shape \(num_heads=3"):
        nn.multi_head_attention(*args[:7], 3)
    bad = list(args)
    bad[6] = args[6][:-1]
    with pytest.raises(ValueError, match=r"W_O must have shape \(num_heads \* d_head_v = 12"):
        nn.multi_head_attention(*bad)
    bad = list(args)
    bad[0] = args[0][..., :5]
    with pytest.raises(ValueError, match=r"Q.shape\[-1\]=5 must equal W_Q.shape\[1\]=8"):
        nn.multi_head_attention(*bad)


# ============================================================ dense layers with named activations
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "gelu"])
def test_dense_with_named_activation_matches_jax(name, backend, float_dtype):
    jax = pytest.importorskip("jax")
    x, W, b, delta = _dense_inputs(7)
    act = getattr(jax.nn, name) if name != "tanh" else jax.numpy.tanh
    want_a = np.asarray(act(jax.numpy.asarray(x @ W + b)))
    want = _jax_dense_grads(x, W, b, delta, act)
    xb, Wb, bb, deltab = place_all(backend, x, W, b, delta, dtype=dtype_name(float_dtype))
    a, z = nn.dense_forward(xb, Wb, bb, activation=name)
    rtol, atol = tol(float_dtype)
    assert_close(a, want_a, rtol=rtol, atol=atol)
    for grad_name in (name, name + "_grad"):  # both spellings resolve to pml.activations.<name>_grad
        got = nn.dense_backward(deltab, xb, Wb, z, activation_grad=grad_name)
        assert_close(list(got), [np.asarray(w) for w in want], rtol=rtol, atol=atol)


def test_dense_softmax_layer_via_vjp():
    """A softmax layer: dense_forward applies it by name; its backward goes through softmax_vjp."""
    jax = pytest.importorskip("jax")
    x, W, b, delta = _dense_inputs(8)
    a, z = nn.dense_forward(x, W, b, activation="softmax")
    np.testing.assert_allclose(a.sum(-1), 1.0)
    got = nn.dense_backward(activations.softmax_vjp(z, delta), x, W, None)
    want = _jax_dense_grads(x, W, b, delta, lambda t: jax.nn.softmax(t, axis=-1))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-10, atol=1e-12)


# ============================================================ MLP
def _mlp_problem(seed, output, n=32, sizes=(3, 6, 5, 2)):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, sizes[0]))
    k = sizes[-1]
    if output == "sigmoid":
        y = (r.random((n, k)) < 0.5).astype(np.float64)
    elif output == "softmax":
        y = np.eye(k)[r.integers(0, k, n)]
    else:
        y = r.normal(size=(n, k))
    return x, y


def _jax_mlp_loss(params, x, y, activation, output):
    """An independent float64 JAX forward pass and loss (the formula, not our code)."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    f = jnp.tanh if activation == "tanh" else getattr(jax.nn, activation)
    h = x
    for i, p in enumerate(params):
        z = h @ p["W"] + p["b"]
        h = f(z) if i < len(params) - 1 else z
    if output == "sigmoid":
        return jnp.mean(jax.nn.softplus(h) - y * h)
    if output == "softmax":
        return jnp.mean(-jnp.sum(y * jax.nn.log_softmax(h, axis=-1), axis=-1))
    return jnp.mean((h - y) ** 2)


@functools.lru_cache(maxsize=None)
def _jax_mlp_reference(output, activation, dtype):
    """jax.value_and_grad at the parameters MLP.init draws from seed 0 (identical on every backend
    for a dtype), computed once per (output, activation, dtype) in float64."""
    jax = pytest.importorskip("jax")

    net = nn.MLP((3, 6, 5, 2), activation=activation, output=output)
    params = net.init(pml.get_backend("numpy").rng(0), dtype=dtype)
    params64 = [{k: jax.numpy.asarray(v.astype(np.float64)) for k, v in p.items()} for p in params]
    x, y = _mlp_problem(1, output, sizes=(3, 6, 5, 2))
    return jax.value_and_grad(_jax_mlp_loss)(params64, x, y, activation, output)


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "identity"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_loss_and_grads_match_jax_grad(output, activation, backend, float_dtype):
    jax = pytest.importorskip("jax")
    sizes = (3, 6, 5, 2)
    net = nn.MLP(sizes, activation=activation, output=output)
    params = net.init(backend.rng(0), dtype=float_dtype)
    x, y = _mlp_problem(1, output, sizes=sizes)
    xb, yb = place_all(backend, x, y, dtype=dtype_name(float_dtype))
    loss, grads = net.loss_and_grads(params, xb, yb)
    assert loss.dtype == float_dtype and tuple(loss.shape) == () and backend_of(loss) == backend.name
    want_loss, want_grads = _jax_mlp_reference(output, activation, dtype_name(float_dtype))
    hparams = [{k: host(backend, v) for k, v in p.items()} for p in params]
    ref_params = net.init(pml.get_backend("numpy").rng(0), dtype=dtype_name(float_dtype))
    for hp, rp in zip(hparams, ref_params):  # the cached reference was taken at these very parameters
        np.testing.assert_array_equal(hp["W"], rp["W"])
    rtol, atol = tol(float_dtype)
    assert_close(loss, np.asarray(want_loss), rtol=rtol, atol=atol)
    for g, w, p in zip(grads, want_grads, params):
        assert set(g) == {"W", "b"}
        for key in ("W", "b"):
            assert g[key].dtype == float_dtype and tuple(g[key].shape) == tuple(p[key].shape)
            assert_close(g[key], np.asarray(w[key]), rtol=rtol, atol=atol, err_msg=key)
    # apply: the head on the logits
    out = host(backend, net.apply(params, xb))
    h = x
    for i, p in enumerate(hparams):
        z = h @ p["W"] + p["b"]
        h = (np.maximum(z, 0) if activation == "relu" else np.tanh(z)) if i < len(hparams) - 1 else z
    e = np.exp(h - h.max(-1, keepdims=True))
    want = {"sigmoid": 1 / (1 + np.exp(-h)), "identity": h, "softmax": e / e.sum(-1, keepdims=True)}
    np.testing.assert_allclose(out, want[output], rtol=max(rtol, 1e-9), atol=atol)


def test_mlp_softmax_gradient_holds_for_targets_not_summing_to_one(backend):
    """The output delta is the loss's own gradient (sum_j y_j) softmax(z) - y, not softmax(z) - y: soft
    targets whose rows sum to 0.7 (label mass held back, as in some distillation losses) get the exact
    gradient of the loss that is reported."""
    jax = pytest.importorskip("jax")
    sizes = (3, 6, 4)
    net = nn.MLP(sizes, activation="tanh", output="softmax")
    params = net.init(pml.get_backend("numpy").rng(3), dtype="float64")
    r = np.random.default_rng(4)
    x = r.normal(size=(7, 3))
    y = r.dirichlet(np.ones(4), size=7) * 0.7
    loss, grads = net.loss_and_grads([{k: place(backend, v) for k, v in p.items()} for p in params],
                                     *place_all(backend, x, y))
    p64 = [{k: jax.numpy.asarray(v) for k, v in p.items()} for p in params]
    want_loss, want = jax.value_and_grad(_jax_mlp_loss)(p64, x, y, "tanh", "softmax")
    assert_close(loss, np.asarray(want_loss), rtol=1e-12, atol=1e-14)
    for g, w in zip(grads, want):
        for key in ("W", "b"):
            assert_close(g[key], np.asarray(w[key]), rtol=1e-10, atol=1e-13, err_msg=key)


def test_mlp_init_follows_activation_and_is_portable(backend):
    net = nn.MLP([4, 8, 3], activation="relu", output="softmax")
    params = net.init(backend.rng(2))
    assert [tuple(p["W"].shape) for p in params] == [(4, 8), (8, 3)]
    assert all(p["W"].dtype == backend.float_dtype and backend_of(p["b"]) == backend.name for p in params)
    # hidden layer He-normal, output layer Xavier-uniform, biases zero, drawn in that order from rng
    rng = pml.get_backend("numpy").rng(2)
    want = [nn.he_normal(rng, 4, 8), nn.xavier_uniform(rng, 8, 3)]
    for p, w in zip(params, want):
        np.testing.assert_array_equal(backend.to_numpy(p["W"]), w.astype(backend.to_numpy(p["W"]).dtype))
        np.testing.assert_array_equal(backend.to_numpy(p["b"]), 0.0)
    rng = pml.get_backend("numpy").rng(2)
    p = nn.MLP([4, 8, 3], activation="tanh", output="softmax").init(pml.get_backend("numpy").rng(2))
    np.testing.assert_array_equal(p[0]["W"], nn.xavier_uniform(rng, 4, 8))
    be = other_device(backend)
    if be is not None:
        from array_api_compat import device

        assert all(device(v) == be.device for layer in net.init(be.rng(0)) for v in layer.values())


def test_mlp_jit_equals_eager():
    jax = pytest.importorskip("jax")
    net = nn.MLP([3, 6, 2], activation="tanh", output="softmax")
    be = pml.get_backend("jax")
    params = net.init(be.rng(0), dtype="float64")
    x, y = place_all(be, *_mlp_problem(0, "softmax", sizes=(3, 6, 2)))
    eager = net.loss_and_grads(params, x, y)
    jitted = jax.jit(net.loss_and_grads)(params, x, y)
    assert_close(jitted, eager, rtol=1e-12, atol=1e-14)


def test_mlp_trains_on_moons_with_plain_gradient_descent():
    """No autodiff anywhere: NumPy + the analytic backward pass reach good accuracy."""
    X, y = pml.datasets.make_moons(400, noise=0.1, seed=0)
    Y = y[:, None].astype(np.float64)
    net = nn.MLP([2, 16, 16, 1], activation="tanh", output="sigmoid")
    params = net.init(pml.get_backend("numpy").rng(0))
    first = None
    for _ in range(1500):
        loss, grads = net.loss_and_grads(params, X, Y)
        first = loss if first is None else first
        params = pml.tree.tree_map(lambda p, g: p - 0.5 * g, params, grads)
    acc = np.mean((net.apply(params, X)[:, 0] > 0.5) == y)
    assert loss < 0.1 * first and acc >= 0.97, (float(loss), acc)


def test_mlp_bad_input():
    with pytest.raises(ValueError, match="layer_sizes must be at least two positive integers"):
        nn.MLP([3])
    with pytest.raises(ValueError, match="layer_sizes must be at least two positive integers"):
        nn.MLP([3, 0, 1])
    with pytest.raises(ValueError, match="output must be one of"):
        nn.MLP([3, 1], output="tanh")
    with pytest.raises(ValueError, match="a softmax output needs at least 2 units"):
        nn.MLP([3, 1], output="softmax")
    with pytest.raises(ValueError, match="not an elementwise activation with a \\*_grad"):
        nn.MLP([3, 2], activation="softmax")
    with pytest.raises(TypeError, match="rng must be a portable_ml.random.Generator"):
        nn.MLP([3, 2]).init(0)
    net = nn.MLP([3, 4, 2], output="softmax")
    params = net.init(pml.get_backend("numpy").rng(0))
    x, y = _mlp_problem(0, "softmax", n=5, sizes=(3, 4, 2))
    with pytest.raises(ValueError, match=r"y must have the output's shape \(5, 2\)"):
        net.loss_and_grads(params, x, y.argmax(-1))
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 3\)"):
        net.apply(params, x[:, :2])
    with pytest.raises(ValueError, match=r"params must be a list of 2"):
        net.apply(params[:1], x)
    with pytest.raises(ValueError, match=r"params\[1\] must hold W of shape \(4, 2\)"):
        net.apply([params[0], {"W": params[1]["W"].T, "b": params[1]["b"]}], x)
