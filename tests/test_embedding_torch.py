"""portable_ml inside a PyTorch pipeline.

* ``torch.compile(fullgraph=True)``: a training step (MLP forward and
  analytic backward, our Adam, metrics) compiles as one graph and equals the
  eager loop; the functions that used to break the graph (value checks that
  read ``.item()``, an ``importlib`` look-up) have no graph break.
* ``torch.func``: ``vmap`` over an ensemble of parameters and ``grad`` of
  our forward losses (which equals our analytic gradients).
* Value checks are decided on the value that reaches them: they still run
  on concrete labels closed over by a ``torch.func.vmap``-ed function, and
  are skipped on batched (or compiling) values instead of raising "data-
  dependent control flow".

Every registered function is also run under ``torch.func.vmap`` /
``torch.func.grad`` and (elementwise families) ``torch.compile`` by
``tests/test_invariants.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import portable_ml as pml
from portable_ml import optimizers as optim
from portable_ml.testing import assert_close

pytestmark = pytest.mark.slow  # the slow tier: run with -m slow (ci/test.sh does)


@pytest.fixture(scope="module")
def torch(request):
    if "torch" not in request.config._pml_backends:
        pytest.skip("torch not selected with --pml-backends")
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def be(torch):
    return pml.get_backend("torch")


NET = pml.nn.MLP([2, 16, 16, 3], activation="tanh", output="softmax")


def _data(be, n=64, seed=0):
    X, y = pml.datasets.make_blobs(n, centers=3, n_features=2, seed=seed, backend="torch", dtype="float64")
    return X, y, be.xp.astype(y[:, None] == be.xp.arange(3), X.dtype)


def _graph_breaks(torch, fn, *args):
    torch._dynamo.reset()
    return torch._dynamo.explain(fn)(*args).graph_break_count


# ------------------------------------------------------------------ torch.compile
def test_functions_that_broke_the_graph_have_no_graph_break(torch, be):
    """Were 5 (sparse_softmax_cross_entropy), 7 (roc_auc: .item() in validation) and
    4 (MLP.loss_and_grads: importlib.import_module) graph breaks."""
    X, y, Y = _data(be)
    params = NET.init(be.rng(0), dtype=X.dtype)
    logits = NET.logits(params, X)
    scores = logits[:, 0]
    binary = be.xp.astype(y == 0, be.xp.int64)
    assert _graph_breaks(torch, pml.losses.sparse_softmax_cross_entropy, y, logits) == 0
    assert _graph_breaks(torch, pml.metrics.roc_auc, binary, scores) == 0
    assert _graph_breaks(torch, lambda p, x, t: NET.loss_and_grads(p, x, t), params, X, Y) == 0


def test_compiled_training_step_equals_eager_loop(torch, be):
    X, y, Y = _data(be)
    opt = optim.adam(0.05)

    def step(params, state, x, t, labels):
        loss, grads = NET.loss_and_grads(params, x, t)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        logits = NET.logits(params, x)
        metrics = {"loss": loss, "ce": pml.losses.sparse_softmax_cross_entropy(labels, logits),
                   "acc": pml.metrics.accuracy(labels, be.xp.argmax(logits, axis=-1))}
        return params, state, metrics

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="eager")
    p_eager = p_comp = NET.init(be.rng(1), dtype=X.dtype)
    s_eager = s_comp = opt.init(p_eager)
    for _ in range(5):
        p_eager, s_eager, m_eager = step(p_eager, s_eager, X, Y, y)
        p_comp, s_comp, m_comp = compiled(p_comp, s_comp, X, Y, y)
        assert_close(m_comp, m_eager, rtol=1e-12, atol=1e-14)
    assert_close(p_comp, p_eager, rtol=1e-12, atol=1e-14)
    assert float(m_eager["loss"]) < float(step(NET.init(be.rng(1), dtype=X.dtype), opt.init(p_eager), X, Y, y)[2]["loss"])


# ------------------------------------------------------------------ torch.func
def test_func_grad_of_our_loss_equals_our_analytic_gradients(torch, be):
    X, y, Y = _data(be)
    params = NET.init(be.rng(2), dtype=X.dtype)

    def loss(p):
        return pml.losses.sparse_softmax_cross_entropy(y, NET.logits(p, X))

    auto = torch.func.grad(loss)(params)
    value, analytic = NET.loss_and_grads(params, X, Y)
    assert_close(value, loss(params), rtol=1e-12)
    assert_close(auto, analytic, rtol=1e-10, atol=1e-12)


def test_func_vmap_over_an_ensemble_equals_one_by_one(torch, be):
    X, y, Y = _data(be)
    members = [NET.init(be.rng(s), dtype=X.dtype) for s in range(3)]
    stacked = pml.tree.tree_map(lambda *p: torch.stack(p), *members)

    def member(p):
        loss, grads = NET.loss_and_grads(p, X, Y)
        return loss, grads, pml.losses.sparse_softmax_cross_entropy(y, NET.logits(p, X))

    batched = torch.func.vmap(member)(stacked)
    one_by_one = pml.tree.tree_map(lambda *v: torch.stack(v), *[member(p) for p in members])
    assert_close(batched, one_by_one, rtol=1e-12, atol=1e-14)


def test_value_checks_are_decided_on_the_values_that_reach_them(torch, be):
    logits = be.asarray(np.random.default_rng(0).normal(size=(3, 4, 5)))
    bad = be.asarray(np.array([0, 1, 7, 2]))  # 7 is out of range for 5 classes
    fn = pml.losses.sparse_softmax_cross_entropy
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\); got values in \[0, 7\]"):
        fn(bad, logits[0])  # eager
    # labels closed over by a vmapped function are concrete: their check still runs
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\)"):
        torch.func.vmap(lambda z: fn(bad, z))(logits)
    # batched labels cannot be read inside vmap: the check is skipped (no "data-dependent control flow")
    good = be.asarray(np.array([[0, 1, 4, 2], [3, 3, 0, 1], [4, 2, 2, 0]]))
    out = torch.func.vmap(fn)(good, logits)
    assert_close(out, torch.stack([fn(good[i], logits[i]) for i in range(3)]), rtol=1e-12)
    # under torch.compile the check is skipped too (a read would be a graph break)
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="eager")
    assert_close(compiled(good[0], logits[0]), fn(good[0], logits[0]), rtol=1e-12)


@pytest.mark.parametrize("name", ["losses.mae_grad", "regularization.l1_penalty_grad",
                                  "regularization.elastic_net_penalty_grad"])
def test_sign_based_gradients_batch_under_vmap_with_numpy_sign_semantics(torch, be, name):
    """array-api-compat's torch ``sign`` writes through a boolean mask, which vmap refuses,
    and torch.sign(nan) is 0 where NumPy gives nan."""
    w = np.array([[-2.0, -0.0, 0.0, 3.0, np.nan, -np.inf], [1.0, -1.0, 0.0, 2.0, -3.0, np.inf]])
    if name == "losses.mae_grad":
        fn = lambda v: pml.losses.mae_grad(be.xp.zeros_like(v), v)  # noqa: E731  d/dp mean|p - y| = sign(p)/n
        want = np.sign(w) / w.shape[1]
    elif name == "regularization.l1_penalty_grad":
        fn = lambda v: pml.regularization.l1_penalty_grad(v, 0.5)  # noqa: E731
        want = 0.5 * np.sign(w)
    else:
        fn = lambda v: pml.regularization.elastic_net_penalty_grad(v, 0.5, 0.25)  # noqa: E731
        want = 0.5 * np.sign(w) + 2 * 0.25 * w
    got = torch.func.vmap(fn)(be.asarray(w))
    np.testing.assert_array_equal(got.numpy(), want)  # (NaN compares equal to NaN here)
    np.testing.assert_array_equal(np.stack([fn(be.asarray(row)).numpy() for row in w]), want)  # eager
