"""Portable random numbers: same seed, same values, every backend."""

import numpy as np
import pytest

import portable_ml as pml
from portable_ml.random import Generator
from portable_ml.testing import assert_close


def draws(backend, seed=7):
    g = backend.rng(seed)
    return {
        "normal": backend.to_numpy(g.normal((50,), mean=1.0, std=2.0, dtype="float64")),
        "uniform": backend.to_numpy(g.uniform(30, low=-1.0, high=3.0, dtype="float64")),
        "bernoulli": backend.to_numpy(g.bernoulli(0.3, (40,))),
        "permutation": backend.to_numpy(g.permutation(20)),
        "choice": backend.to_numpy(g.choice(100, 10)),
        "integers": backend.to_numpy(g.integers(0, 5, (8,))),
    }


def test_same_seed_same_values_as_numpy(backend):
    got, want = draws(backend), draws(pml.get_backend("numpy"))
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_float32_draws_are_the_cast_float64_draws(backend):
    a = backend.to_numpy(backend.rng(3).normal((16,), dtype="float32"))
    b = pml.get_backend("numpy").rng(3).normal((16,), dtype="float64")
    np.testing.assert_array_equal(a, b.astype(np.float32))


def test_default_dtype_is_backend_float(backend):
    x = backend.rng(0).normal(4)
    assert x.dtype == backend.float_dtype


def test_reproducible_and_seed_sensitive(backend):
    a = backend.to_numpy(backend.rng(11).normal(10))
    b = backend.to_numpy(backend.rng(11).normal(10))
    c = backend.to_numpy(backend.rng(12).normal(10))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_split_is_deterministic_and_independent(backend):
    g1, g2 = backend.rng(5), backend.rng(5)
    c1, c2 = g1.split(), g2.split()
    np.testing.assert_array_equal(backend.to_numpy(c1.normal(5)), backend.to_numpy(c2.normal(5)))
    parent = backend.to_numpy(g1.normal(5))
    child = backend.to_numpy(g1.split().normal(5))
    assert not np.array_equal(parent, child)


def test_statistics(backend):
    g = backend.rng(0)
    x = backend.to_numpy(g.normal(20000, mean=2.0, std=3.0, dtype="float64"))
    assert abs(x.mean() - 2.0) < 0.1 and abs(x.std() - 3.0) < 0.1
    u = backend.to_numpy(g.uniform(20000, low=1.0, high=2.0, dtype="float64"))
    assert u.min() >= 1.0 and u.max() < 2.0
    b = backend.to_numpy(g.bernoulli(0.25, 20000))
    assert b.dtype == bool and abs(b.mean() - 0.25) < 0.02
    p = backend.to_numpy(g.permutation(50))
    np.testing.assert_array_equal(np.sort(p), np.arange(50))
    c = backend.to_numpy(g.choice(30, 30))
    np.testing.assert_array_equal(np.sort(c), np.arange(30))


def test_choice_without_replacement_too_many():
    with pytest.raises(ValueError, match="without replacement"):
        pml.get_backend("numpy").rng(0).choice(3, 5)


@pytest.mark.backends("jax", "torch", "cupy")
def test_native_draws(backend):
    g = Generator(backend, 4, native=True)
    assert g.native
    x = g.normal((4000,), mean=1.0, std=0.5)
    assert pml.backend.backend_of(x) == backend.name
    xs = backend.to_numpy(x)
    assert abs(xs.mean() - 1.0) < 0.05
    again = backend.to_numpy(Generator(backend, 4, native=True).normal((4000,), mean=1.0, std=0.5))
    np.testing.assert_array_equal(xs, again)
    u = backend.to_numpy(g.uniform(1000, low=-2.0, high=-1.0))
    assert u.min() >= -2.0 and u.max() <= -1.0
    assert backend.to_numpy(g.bernoulli(0.5, 100)).dtype == bool


@pytest.mark.backends("jax")
def test_native_jax_on_a_chosen_device(backend):
    import jax

    if len(jax.devices()) < 2:
        pytest.skip("one JAX device")
    be = pml.get_backend("jax", "cpu:1")
    x = Generator(be, 0, native=True).normal(3)
    assert x.devices() == {jax.devices()[1]}


@pytest.mark.backends("jax")
def test_key_for_jit(backend):
    import jax

    k = backend.rng(0).key()
    assert jax.jit(lambda key: jax.random.normal(key, (3,)))(k).shape == (3,)


# ------------------------------------------------------------------ bad options: clear errors, no silent nonsense
def _rng():
    return pml.get_backend("numpy").rng(0)


@pytest.mark.parametrize("draw, exc, match", [
    # normal((2.5,)) used to return 2 draws
    (lambda g: g.normal((2.5,)), TypeError, r"shape must contain integers only; got shape=\(2.5,\)"),
    (lambda g: g.normal(2.5), TypeError, "shape must contain integers only|shape must be an integer"),
    # bernoulli(1.5) used to be all True
    (lambda g: g.bernoulli(1.5, (3,)), ValueError, r"p must be finite and in \[0, 1\]; got p=1.5"),
    (lambda g: g.bernoulli(np.array([0.2, -0.1]), (2,)), ValueError, r"p must hold probabilities in \[0, 1\]"),
    # permutation(-1) used to be []
    (lambda g: g.permutation(-1), ValueError, "n must be an integer >= 0; got n=-1"),
    (lambda g: g.permutation(3.0), TypeError, "n must be an integer; got float 3.0"),
    # normal(dtype="int64") used to return integers
    (lambda g: g.normal((3,), dtype="int64"), ValueError, "dtype must be a real floating dtype of the numpy backend"),
    (lambda g: g.uniform((3,), dtype="bogus"), ValueError, "dtype must be a real floating dtype .* got dtype='bogus'"),
    (lambda g: g.normal((-2,)), ValueError, r"shape must not contain negative sizes; got shape=\(-2,\)"),
    (lambda g: g.normal(3, std=-1), ValueError, "std must be non-negative and finite; got std=-1"),
    (lambda g: g.normal(3, mean=float("nan")), ValueError, "mean must be finite"),
    (lambda g: g.uniform(3, low=2.0, high=1.0), ValueError, "low must not exceed high; got low=2.0, high=1.0"),
    (lambda g: g.uniform(3, high=float("inf")), ValueError, "high must be finite; got high=inf"),
    (lambda g: g.uniform(3, low="0"), TypeError, "low must be a real number; got '0'"),
    (lambda g: g.integers(5, 5, 3), ValueError, "low must be less than high"),
    (lambda g: g.choice(5, 2, replace="no"), TypeError, "replace must be True or False"),
    (lambda g: g.choice(0, 1, replace=True), ValueError, "from n=0"),
])
def test_bad_draw_options(draw, exc, match):
    with pytest.raises(exc, match=match):
        draw(_rng())


@pytest.mark.parametrize("seed, exc, match", [
    (-1, ValueError, "seed must be an integer >= 0; got seed=-1"),
    (1.5, TypeError, "seed must be an integer; got float 1.5"),
    ("7", TypeError, "seed must be an integer; got str"),
    ([1, -2], ValueError, "seed entries must be an integer >= 0"),
])
def test_bad_seeds(seed, exc, match):
    with pytest.raises(exc, match=match):
        pml.get_backend("numpy").rng(seed)


def test_valid_edge_options_still_work(backend):
    g = backend.rng(1)
    assert backend.to_numpy(g.normal((2, 0))).shape == (2, 0)
    assert backend.to_numpy(g.uniform(4, low=1.0, high=1.0)).tolist() == [1.0] * 4
    assert backend.to_numpy(g.normal(3, std=0.0, mean=2.0)).tolist() == [2.0] * 3
    assert backend.to_numpy(g.permutation(np.int64(0))).shape == (0,)
    assert backend.to_numpy(g.bernoulli(1.0, 3)).tolist() == [True] * 3
    np.testing.assert_array_equal(backend.to_numpy(backend.rng([1, 2]).normal(3)),
                                  pml.get_backend("numpy").rng([1, 2]).normal(3).astype(backend.to_numpy(g.normal(1)).dtype))
