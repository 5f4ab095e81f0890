"""Gradient utilities, on every backend: finite differences vs analytic and
``jax.grad``; clipping and norms vs optax (``clip``, ``clip_by_global_norm``,
``tree.norm``) and float64 NumPy."""

import warnings
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portable_ml as pml
from portable_ml import gradients as G
from portable_ml._xp import array_namespace
from portable_ml.testing import assert_close, dtype_name

from .helpers import place


def _f(z):
    xp = array_namespace(z)
    return xp.sum(xp.sin(z) * z) + 0.5 * xp.sum(z * z * z)


def _df(z):
    xp = array_namespace(z)
    return xp.sin(z) + z * xp.cos(z) + 1.5 * z * z


def _host_tree(seed=0, scale=1.0):
    r = np.random.default_rng(seed)
    return {"w": scale * r.normal(size=(4, 3)),
            "layers": [{"W": scale * r.normal(size=(3, 2)), "b": scale * r.normal(size=2)}]}


def _on(backend, tree, dtype=None):
    return pml.tree.tree_map(lambda a: place(backend, a, dtype=dtype), tree)


# ------------------------------------------------------- finite differences
def test_numerical_gradient_matches_analytic(backend, float_dtype):
    name = dtype_name(float_dtype)
    x_host = np.random.default_rng(1).normal(size=(3, 4))
    x = place(backend, x_host, dtype=name)
    before = backend.to_numpy(x).copy()
    eps, tol = (1e-3, 5e-3) if name == "float32" else (1e-5, 1e-8)
    g = G.numerical_gradient(_f, x, eps=eps)
    assert pml.backend.backend_of(g) == backend.name
    assert dtype_name(g.dtype) == name and tuple(g.shape) == (3, 4)
    want = np.sin(x_host) + x_host * np.cos(x_host) + 1.5 * x_host**2
    assert_close(g, want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(backend.to_numpy(x), before)  # no in-place writes


def test_numerical_gradient_matches_jax_grad_and_runs_under_jit():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 3)))
    want = jax.grad(_f)(x)
    eager = G.numerical_gradient(_f, x)
    assert_close(eager, want, rtol=1e-8, atol=1e-9)
    jitted = jax.jit(lambda z: G.numerical_gradient(_f, z))(x)
    assert_close(jitted, want, rtol=1e-8, atol=1e-9)


def test_numerical_gradient_accepts_python_number_results_and_int_input(backend):
    x = backend.asarray(np.array([1, 2, 3]))
    g = G.numerical_gradient(lambda z: float(backend.xp.sum(z * z)), x, eps=1e-3)
    assert backend.xp.isdtype(g.dtype, "real floating")
    # torch promotes integers to float32, where the difference quotient with h = 1e-3 keeps ~4 digits
    assert_close(g, np.array([2.0, 4.0, 6.0]), rtol=1e-6 if dtype_name(g.dtype) == "float64" else 2e-4)


def test_numerical_gradient_of_a_0d_input(backend):
    x = backend.asarray(np.asarray(0.7))
    g = G.numerical_gradient(lambda z: backend.xp.exp(z), x)
    assert tuple(g.shape) == ()
    assert_close(g, np.exp(0.7), rtol=1e-9)


def test_numerical_gradient_bad_input():
    with pytest.raises(ValueError, match="eps must be positive"):
        G.numerical_gradient(_f, np.ones(3), eps=0.0)
    with pytest.raises(ValueError, match="x must not be empty"):
        G.numerical_gradient(_f, np.ones((0, 2)))
    with pytest.raises(ValueError, match="f must return a scalar"):
        G.numerical_gradient(lambda z: z * 2, np.ones(3))
    with pytest.raises(ValueError, match="eps=1e-08 vanishes"):
        G.numerical_gradient(_f, np.array([1e10, 1.0]), eps=1e-8)


def test_check_gradient(backend):
    x = place(backend, np.random.default_rng(3).normal(size=5))
    ok, err = G.check_gradient(_f, _df, x)
    assert ok is True and isinstance(err, float) and err < 1e-8
    ok, err = G.check_gradient(_f, lambda z: 1.01 * _df(z), x)
    assert ok is False and err == pytest.approx(0.01 / 1.01, rel=1e-5)
    # a wrong sign in one coordinate gives a relative error of 2
    ok, err = G.check_gradient(_f, lambda z: _df(z) * backend.asarray(np.array([1.0, 1, -1, 1, 1])), x)
    assert ok is False and err == pytest.approx(2.0, rel=1e-6)
    # zero gradient (f(z) = sum z^2 at z = 0) is exact: relative error 0, not 0/0
    zero = backend.asarray(np.zeros(3))
    assert G.check_gradient(lambda z: backend.xp.sum(z * z), lambda z: 2 * z, zero) == (True, 0.0)


def test_check_gradient_in_float32(backend):
    x = place(backend, np.random.default_rng(4).normal(size=6), dtype="float32")
    ok, err = G.check_gradient(_f, _df, x, eps=1e-2, tol=1e-2)
    assert ok and err < 1e-2


def test_check_gradient_fails_on_nan_and_bad_shape():
    x = np.ones(3)
    ok, err = G.check_gradient(_f, lambda z: z * np.nan, x)
    assert ok is False and np.isnan(err)
    with pytest.raises(ValueError, match=r"grad_f\(x\) must have the shape of x, \(3,\); got \(2,\)"):
        G.check_gradient(_f, lambda z: z[:2], x)
    with pytest.raises(ValueError, match="tol must be non-negative"):
        G.check_gradient(_f, _df, x, tol=-1.0)


# -------------------------------------------------------------- clipping
def test_clip_by_value_matches_numpy_and_optax_clip(backend, float_dtype):
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    name = dtype_name(float_dtype)
    host = _host_tree(5)
    got = G.clip_by_value(_on(backend, host, name), -0.5, 0.8)
    assert pml.tree.tree_structure(got) == pml.tree.tree_structure(host)
    for leaf in pml.tree.tree_leaves(got):
        assert dtype_name(leaf.dtype) == name and pml.backend.backend_of(leaf) == backend.name
    assert_close(got, pml.tree.tree_map(lambda a: np.clip(a, -0.5, 0.8).astype(name), host), rtol=0, atol=0)
    sym = G.clip_by_value(_on(backend, host, name), -0.6, 0.6)
    tx = optax.clip(0.6)
    want, _ = tx.update(pml.tree.tree_map(lambda a: jnp.asarray(a, dtype=name), host), tx.init(None))
    assert_close(sym, want, rtol=0, atol=0)


def test_clip_by_value_bad_bounds():
    with pytest.raises(ValueError, match="lo must not exceed hi"):
        G.clip_by_value(np.ones(2), 1.0, -1.0)
    with pytest.raises(ValueError, match="hi must be a real number"):
        G.clip_by_value(np.ones(2), 0.0, float("nan"))
    with pytest.raises(ValueError, match="g must hold at least one array"):
        G.clip_by_value({}, -1.0, 1.0)


def _optax_norm_and_clip(host, name, max_norm):
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    tree = pml.tree.tree_map(lambda a: jnp.asarray(a, dtype=name), host)
    tx = optax.clip_by_global_norm(max_norm)
    clipped, _ = tx.update(tree, tx.init(tree))
    return optax.tree.norm(tree), clipped


@pytest.mark.parametrize("max_norm", [0.5, 100.0], ids=["clipped", "unclipped"])
def test_clip_by_global_norm_matches_optax(backend, float_dtype, max_norm):
    name = dtype_name(float_dtype)
    host = _host_tree(6, scale=2.0)
    clipped, norm = G.clip_by_global_norm(_on(backend, host, name), max_norm)
    want_norm, want = _optax_norm_and_clip(host, name, max_norm)
    # on JAX the same operations in the same order: equal to the last bit
    tol = {"rtol": 0, "atol": 0} if backend.name == "jax" else {}
    assert_close(norm, want_norm, **tol)
    assert_close(clipped, want, **tol)
    assert dtype_name(norm.dtype) == name and norm.shape == ()
    ref_norm = np.sqrt(sum((a * a).sum() for a in pml.tree.tree_leaves(host)))
    assert_close(norm, ref_norm, rtol=2e-6 if name == "float32" else 1e-14)
    assert_close(G.global_norm(clipped), min(ref_norm, max_norm), rtol=2e-6 if name == "float32" else 1e-14)


def test_global_norm_and_grad_norms_match_optax_and_numpy(backend, float_dtype):
    name = dtype_name(float_dtype)
    host = _host_tree(7)
    tree = _on(backend, host, name)
    want_norm, _ = _optax_norm_and_clip(host, name, 1.0)
    got = G.global_norm(tree)
    assert_close(got, want_norm, **({"rtol": 0, "atol": 0} if backend.name == "jax" else {}))
    norms = G.grad_norms(tree)
    assert list(norms) == ["layers/0/W", "layers/0/b", "w"]
    want = {"w": host["w"], "layers/0/W": host["layers"][0]["W"], "layers/0/b": host["layers"][0]["b"]}
    for k, v in norms.items():
        assert v.shape == () and dtype_name(v.dtype) == name and pml.backend.backend_of(v) == backend.name
        assert_close(v, np.linalg.norm(want[k]), rtol=2e-6 if name == "float32" else 1e-14, err_msg=k)
    total = np.sqrt(sum(float(v) ** 2 for v in norms.values()))
    assert_close(got, total, rtol=2e-6 if name == "float32" else 1e-14)


def test_zero_gradients_are_left_alone_without_warnings(backend):
    tree = {"a": backend.asarray(np.zeros(3)), "b": backend.asarray(np.zeros((2, 2)))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clipped, norm = G.clip_by_global_norm(tree, 1.0)
        assert_close(clipped, {"a": np.zeros(3), "b": np.zeros((2, 2))}, rtol=0, atol=0)
        assert_close(norm, 0.0, rtol=0, atol=0)


def test_mixed_precision_leaves():
    host = {"a": np.array([3.0], dtype=np.float32), "b": np.array([4.0])}
    clipped, norm = G.clip_by_global_norm(host, 1.0)
    assert norm.dtype == np.float64 and float(norm) == 5.0
    assert clipped["a"].dtype == np.float32 and clipped["b"].dtype == np.float64
    np.testing.assert_allclose(clipped["a"], [0.6], rtol=1e-7)


class _State(NamedTuple):
    mu: object
    nu: object


def test_grad_norms_paths():
    tree = {"w": np.ones(4), "layers": [{"W": np.ones((2, 2))}, _State(np.ones(1), np.ones(9))]}
    got = G.grad_norms(tree)
    assert sorted(got) == ["layers/0/W", "layers/1/mu", "layers/1/nu", "w"]
    assert [float(got[k]) for k in ("w", "layers/0/W", "layers/1/mu", "layers/1/nu")] == [2.0, 2.0, 1.0, 3.0]
    assert list(G.grad_norms(np.ones(4))) == [""]
    with pytest.raises(ValueError, match="same path 'a/b'"):
        G.grad_norms({"a/b": np.ones(1), "a": {"b": np.ones(1)}})


def test_norm_functions_bad_input():
    with pytest.raises(ValueError, match="max_norm must be positive"):
        G.clip_by_global_norm({"a": np.ones(2)}, 0.0)
    with pytest.raises(ValueError, match="grads must hold at least one array"):
        G.global_norm({"a": [], "b": None})
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="different backends"):
        G.global_norm([np.ones(2), torch.ones(2)])


def test_clipping_under_jit_and_grad():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    tree = _on(pml.get_backend("jax"), _host_tree(8, scale=3.0))
    f = jax.jit(lambda t: G.clip_by_global_norm(t, 1.0))
    assert_close(f(tree), G.clip_by_global_norm(tree, 1.0), rtol=1e-15, atol=1e-15)
    # d||g|| / dg = g / ||g|| (jax.grad of our global norm), and finite at zero
    g = jax.grad(G.global_norm)(tree)
    n = float(G.global_norm(tree))
    assert_close(g, pml.tree.tree_map(lambda a: a / n, tree), rtol=1e-14)
    zeros = pml.tree.tree_map(jnp.zeros_like, tree)
    gz = jax.grad(lambda t: sum(jnp.sum(x) for x in pml.tree.tree_leaves(G.clip_by_global_norm(t, 1.0)[0])))(zeros)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in pml.tree.tree_leaves(gz))


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(1e-3, 1e3), max_norm=st.floats(1e-2, 1e2), seed=st.integers(0, 2**16))
def test_clip_by_global_norm_properties(scale, max_norm, seed):
    """The clipped norm never exceeds max_norm, and clipping only scales (direction kept)."""
    host = _host_tree(seed, scale=scale)
    clipped, norm = G.clip_by_global_norm(host, max_norm)
    new = float(G.global_norm(clipped))
    assert new <= max_norm * (1 + 1e-12)
    factor = min(1.0, max_norm / float(norm))
    for a, b in zip(pml.tree.tree_leaves(clipped), pml.tree.tree_leaves(host)):
        np.testing.assert_allclose(a, b * factor, rtol=1e-12)


def test_check_gradient_defaults_follow_the_dtype(backend, float_dtype):
    """The exact gradient of sum(x^2) passes with the defaults in float32 too (was ok=False, 0.019)."""
    name = dtype_name(float_dtype)
    x = place(backend, np.random.default_rng(11).normal(size=7), dtype=name)
    ok, err = G.check_gradient(lambda z: backend.xp.sum(z * z), lambda z: 2 * z, x)
    assert ok is True, err
    assert err < (2.4e-3 if name == "float32" else 1e-5)
    # and a 1 % error is still caught in both dtypes
    ok, err = G.check_gradient(lambda z: backend.xp.sum(z * z), lambda z: 2.02 * z, x)
    assert ok is False and err == pytest.approx(0.02 / 2.02, rel=1e-2)


# ------------------------------------------------------- Jacobians, Hessians, one-sided differences, statistics
def _field(z):
    xp = array_namespace(z)
    return xp.stack([xp.sum(z * xp.sin(z)), xp.prod(z) + xp.sum(z * z), xp.sum(xp.exp(0.3 * z))])


@pytest.mark.parametrize("method", ["forward", "backward"])
def test_one_sided_differences_are_first_order(backend, method):
    """Error O(h): halving h halves the error (central is O(h^2)); the same n + 1 evaluations on every backend."""
    x = place(backend, np.array([0.3, -1.2, 2.0]), dtype="float64")
    want = backend.to_numpy(_df(x))
    errs = [np.max(np.abs(backend.to_numpy(G.numerical_gradient(_f, x, eps=h, method=method)) - want))
            for h in (1e-3, 5e-4)]
    assert 1.7 < errs[0] / errs[1] < 2.3, errs
    calls = []
    G.numerical_gradient(lambda z: (calls.append(1), _f(z))[1], x, method=method)
    assert len(calls) == 4


def test_numerical_jacobian_and_hessian_match_jax(backend, float_dtype):
    """jax.jacobian / jax.hessian layouts (output shape + input shape), on every backend."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x_host = np.random.default_rng(3).normal(size=(2, 2))
    name = dtype_name(float_dtype)
    x = place(backend, x_host, dtype=name)
    eps_j, eps_h = (1e-5, 1e-4) if name == "float64" else (1e-2, 5e-2)
    tol = 1e-8 if name == "float64" else 2e-2
    with jax.enable_x64(True):
        J_ref = np.asarray(jax.jacobian(_field)(jnp.asarray(x_host)))
        H_ref = np.asarray(jax.hessian(_f)(jnp.asarray(x_host)))
    J = G.numerical_jacobian(_field, x, eps=eps_j)
    H = G.numerical_hessian(_f, x, eps=eps_h)
    assert J.shape == (3, 2, 2) and H.shape == (2, 2, 2, 2)
    assert J.dtype == float_dtype and H.dtype == float_dtype
    assert_close(J, J_ref, rtol=tol, atol=tol)
    assert_close(H, H_ref, rtol=10 * tol if name == "float32" else 1e-6, atol=10 * tol if name == "float32" else 1e-6)
    Hn = backend.to_numpy(H).reshape(4, 4)
    np.testing.assert_array_equal(Hn, Hn.T)  # mirrored, exactly symmetric


def test_jacobian_hessian_and_methods_bad_input():
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="method must be one of"):
        G.numerical_gradient(_f, x, method="centre")
    with pytest.raises(TypeError, match=r"f\(x\): expected an array"):
        G.numerical_jacobian(lambda z: [1.0, 2.0], x)
    with pytest.raises(ValueError, match="f must return arrays of one shape"):
        G.numerical_jacobian(lambda z: z[: int(z[0] > 1.0) + 1], x)
    with pytest.raises(ValueError, match="f must return a scalar"):
        G.numerical_hessian(lambda z: z, x)
    with pytest.raises(ValueError, match="eps"):
        G.numerical_hessian(_f, x, eps=0.0)


def test_grad_stats_match_numpy_and_stay_accurate_for_tiny_and_huge_leaves(backend, float_dtype):
    host = _host_tree(seed=4)
    name = dtype_name(float_dtype)
    for scale in (1.0, 1e-30, 1e30):
        tree = _on(backend, pml.tree.tree_map(lambda a: a * scale, host), dtype=name)
        stats = G.grad_stats(tree)
        assert sorted(stats) == ["layers/0/W", "layers/0/b", "w"]
        for path, leaf in (("w", host["w"]), ("layers/0/W", host["layers"][0]["W"]),
                           ("layers/0/b", host["layers"][0]["b"])):
            v = leaf * scale
            want = {"mean": v.mean(), "std": v.std(), "max_abs": np.abs(v).max(), "norm": np.linalg.norm(v)}
            got = stats[path]
            assert sorted(got) == sorted(want)
            for k in want:
                assert got[k].shape == () and got[k].dtype == float_dtype
                assert_close(got[k], want[k], rtol=1e-5 if name == "float32" else 1e-12, atol=0, err_msg=f"{path} {k}")


def test_grad_stats_bad_input():
    with pytest.raises(ValueError, match="at least one array"):
        G.grad_stats({})
    with pytest.raises(TypeError, match="every leaf of grads"):
        G.grad_stats({"w": [1.0, 2.0]})
    with pytest.raises(ValueError, match="must not be empty"):
        G.grad_stats({"w": np.zeros(0)})
