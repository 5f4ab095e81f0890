"""Data-parallel training on several JAX devices.

``tests/conftest.py`` gives JAX four simulated CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``).  The batch is
sharded over them with a ``Mesh`` / ``NamedSharding``, the parameters are
replicated, and the jitted step (our formulas, unchanged) is compiled by XLA
into per-device work plus all-reduces of the gradient sums.  The results
equal the single-device run, the parameters stay replicated, per-sample
outputs stay sharded, and the compiled program never gathers the batch.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import optimizers as optim
from portable_ml.testing import assert_close

N_DEVICES = 4


@pytest.fixture(scope="module")
def jax(request):
    if "jax" not in request.config._pml_backends:
        pytest.skip("jax not selected with --pml-backends")
    return pytest.importorskip("jax")


@pytest.fixture(scope="module")
def devices(jax):
    """N_DEVICES devices of one platform: the default one (GPUs) if it has enough, else the CPU."""
    for devs in (jax.devices(), jax.devices("cpu")):
        if len(devs) >= N_DEVICES:
            return devs[:N_DEVICES]
    pytest.skip(f"needs {N_DEVICES} JAX devices (XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{N_DEVICES} before JAX is imported); have {len(jax.devices('cpu'))} CPU devices")


@pytest.fixture(scope="module")
def mesh(devices):
    from jax.sharding import Mesh

    return Mesh(np.array(devices), ("data",))


@pytest.fixture(scope="module")
def shardings(jax, mesh):
    from jax.sharding import NamedSharding, PartitionSpec as P

    return NamedSharding(mesh, P("data")), NamedSharding(mesh, P())


@pytest.fixture(scope="module")
def dtype(jax):
    return jax.numpy.float64 if jax.config.jax_enable_x64 else jax.numpy.float32


def _rtol(dtype):
    # the sharded program sums per-device partial sums: the same numbers in another order
    return 1e-10 if np.dtype(dtype) == np.float64 else 1e-4


def _collectives(compiled_text):
    return set(re.findall(r"\b(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)\b",
                          compiled_text))


def _check_data_parallel(jax, step_fn, args):
    """The compiled step reduces across devices and never gathers the (sharded) batch."""
    hlo = jax.jit(step_fn).lower(*args).compile().as_text()
    found = _collectives(hlo)
    assert "all-reduce" in found, f"expected gradient all-reduces in the sharded program; found {found}"
    assert "all-gather" not in found, "the batch was gathered onto every device"


# ------------------------------------------------------------------ the MLP
def _mlp_setup(jax, dtype, n=512):
    X, y = pml.datasets.make_moons(n, noise=0.15, seed=1, backend="jax", dtype=dtype)
    y = jax.numpy.astype(y, dtype)[:, None]
    net = pml.nn.MLP([2, 32, 32, 1], activation="tanh", output="sigmoid")
    params = net.init(pml.get_backend("jax").rng(0), dtype=dtype)
    return net, params, X, y


def test_mlp_data_parallel_training_equals_single_device(jax, dtype, mesh, shardings):
    sharded, replicated = shardings
    net, params, X, y = _mlp_setup(jax, dtype)
    opt = optim.adam(0.02)

    def step(params, state, x, y):
        loss, grads = net.loss_and_grads(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state, loss, net.apply(params, x)

    def train(params, x, y, n_steps=15):
        state = opt.init(params)
        f = jax.jit(step)
        losses = []
        for _ in range(n_steps):
            params, state, loss, out = f(params, state, x, y)
            losses.append(loss)
        return params, state, jax.numpy.stack(losses), out

    one = mesh.devices.flat[0]
    single = train(jax.device_put(params, one), jax.device_put(X, one), jax.device_put(y, one))
    p_rep = jax.device_put(params, replicated)
    X_sh, y_sh = jax.device_put(X, sharded), jax.device_put(y, sharded)
    assert len(X_sh.addressable_shards) == N_DEVICES
    assert {s.data.shape for s in X_sh.addressable_shards} == {(X.shape[0] // N_DEVICES, 2)}
    multi = train(p_rep, X_sh, y_sh)

    assert_close(multi[0], single[0], rtol=_rtol(dtype), atol=_rtol(dtype))
    assert_close(multi[2], single[2], rtol=_rtol(dtype))
    assert_close(multi[3], single[3], rtol=_rtol(dtype), atol=_rtol(dtype))
    assert single[2][-1] < 0.7 * single[2][0], "the run should learn"
    # parameters and optimizer state stay replicated; per-sample outputs stay sharded over the batch
    for leaf in jax.tree_util.tree_leaves((multi[0], multi[1])):
        assert leaf.sharding.is_fully_replicated, leaf.sharding
    assert multi[3].sharding.is_equivalent_to(sharded, multi[3].ndim)
    opt_state = opt.init(p_rep)
    _check_data_parallel(jax, step, (p_rep, opt_state, X_sh, y_sh))


def test_mlp_scan_epoch_over_sharded_minibatches(jax, dtype, mesh):
    """A whole epoch as one lax.scan over mini-batches, each mini-batch sharded over the devices."""
    from jax.sharding import NamedSharding, PartitionSpec as P

    net, params, X, y = _mlp_setup(jax, dtype)
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(0.3, momentum=0.9))
    n_batches = 8
    xs = (X.reshape(n_batches, -1, 2), y.reshape(n_batches, -1, 1))

    @jax.jit
    def epoch(params, xs):
        def body(carry, batch):
            params, state = carry
            loss, grads = net.loss_and_grads(params, *batch)
            updates, state = opt.update(grads, state, params)
            return (optim.apply_updates(params, updates), state), loss

        return jax.lax.scan(body, (params, opt.init(params)), xs)

    one = mesh.devices.flat[0]
    single = epoch(jax.device_put(params, one), jax.device_put(xs, one))
    batch_sharded = NamedSharding(mesh, P(None, "data"))  # (batches, samples, features): split samples
    multi = epoch(jax.device_put(params, NamedSharding(mesh, P())), jax.device_put(xs, batch_sharded))
    assert_close(multi, single, rtol=_rtol(dtype), atol=_rtol(dtype))
