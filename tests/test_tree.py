"""Pytrees: builtin containers, NamedTuples, and JAX's own pytrees."""

from typing import NamedTuple

import numpy as np
import pytest

from portable_ml import tree as T
from portable_ml.tree import _flatten, _TreeDef


class State(NamedTuple):
    count: object
    mu: object


TREE = {"b": [np.ones(2), (np.zeros(3), None)], "a": np.arange(3.0), "s": State(np.array(1.0), {"w": np.ones(1)})}


def test_leaves_in_sorted_key_order():
    leaves = T.tree_leaves(TREE)
    assert [l.shape for l in leaves] == [(3,), (2,), (3,), (), (1,)]


def test_map_keeps_structure_and_types():
    out = T.tree_map(lambda x: x + 1, TREE)
    assert isinstance(out["s"], State) and isinstance(out["b"][1], tuple) and out["b"][1][1] is None
    np.testing.assert_array_equal(out["a"], [1.0, 2.0, 3.0])


def test_map_over_several_trees():
    out = T.tree_map(lambda x, y: x * y, TREE, TREE)
    np.testing.assert_array_equal(out["a"], [0.0, 1.0, 4.0])


def test_flatten_unflatten_round_trip():
    leaves, td = T.tree_flatten(TREE)
    back = T.tree_unflatten(td, leaves)
    assert T.tree_structure(back) == td


def test_zeros_like(backend):
    tree = {"w": backend.asarray(np.ones((2, 2))), "b": [backend.asarray(np.ones(3))]}
    z = T.tree_zeros_like(tree)
    np.testing.assert_array_equal(backend.to_numpy(z["b"][0]), np.zeros(3))
    assert z["w"].dtype == tree["w"].dtype


def test_paths():
    tree = {"w": 1, "layers": [{"W": 2, "b": 3}]}
    assert T.tree_leaves_with_path(tree) == [("layers/0/W", 2), ("layers/0/b", 3), ("w", 1)]


def test_pure_python_fallback_matches_jax():
    """Without JAX the fallback walker must give JAX's leaf order and structure."""
    jax = pytest.importorskip("jax")
    leaves = []
    build, _ = _flatten(TREE, leaves)
    td = _TreeDef(build, len(leaves), "x")
    assert [id(x) for x in leaves] == [id(x) for x in jax.tree_util.tree_leaves(TREE)]
    assert T.tree_structure(td.unflatten(leaves)) == jax.tree_util.tree_structure(TREE)


def test_mismatched_structures_raise():
    with pytest.raises(ValueError):
        T.tree_map(lambda a, b: a, {"a": 1}, {"a": 1, "b": 2})
