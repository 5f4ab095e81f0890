"""Pytrees: builtin containers, NamedTuples, and JAX's own pytrees."""

import collections
import json
import os
import subprocess
import sys
from typing import NamedTuple

import numpy as np
import pytest

from portable_ml import tree as T


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
    assert T.tree_structure(back) == td and hash(T.tree_structure(back)) == hash(td)
    assert td.num_leaves == 5
    with pytest.raises(ValueError, match="expects 5 leaves; got 4"):
        td.unflatten(leaves[:4])


def test_zeros_like(backend):
    tree = {"w": backend.asarray(np.ones((2, 2))), "b": [backend.asarray(np.ones(3))]}
    z = T.tree_zeros_like(tree)
    np.testing.assert_array_equal(backend.to_numpy(z["b"][0]), np.zeros(3))
    assert z["w"].dtype == tree["w"].dtype


def test_paths():
    tree = {"w": 1, "layers": [{"W": 2, "b": 3}], "s": State(4, None)}
    assert T.tree_leaves_with_path(tree) == [("layers/0/W", 2), ("layers/0/b", 3), ("s/count", 4), ("w", 1)]
    assert T.tree_leaves_with_path(7) == [("", 7)]


def test_mismatched_structures_raise_naming_the_path():
    with pytest.raises(ValueError, match=r"tree 2 \(rest\[0\]\) has a different structure at the root: "
                                         r"expected a dict with keys \['a'\], got a dict with keys \['a', 'b'\]"):
        T.tree_map(lambda a, b: a, {"a": 1}, {"a": 1, "b": 2})
    with pytest.raises(ValueError, match=r"tree 3 \(rest\[1\]\) .* at a/1: expected a dict with keys \['b'\], "
                                         r"got a dict with keys \['c'\]"):
        T.tree_map(lambda *a: a[0], {"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}, {"a": [1, {"c": 2}]})
    with pytest.raises(ValueError, match="at x: expected a tuple of length 2, got a list of length 2"):
        T.tree_map(lambda a, b: a, {"x": (1, 2)}, {"x": [1, 2]})
    with pytest.raises(ValueError, match="at 0: expected None, got a leaf of type int"):
        T.tree_map(lambda a, b: a, [None], [3])


def test_unsortable_dict_keys_are_a_clear_type_error():
    with pytest.raises(TypeError, match="dict keys must be mutually sortable.*int, str"):
        T.tree_leaves({1: 2, "a": 3})


def test_a_tree_that_contains_itself_is_a_value_error():
    loop = [1, {"k": []}]
    loop[1]["k"].append(loop)
    with pytest.raises(ValueError, match=r"contains itself: the container at 1/k/0 is one of its own ancestors"):
        T.tree_leaves(loop)
    shared = [1.0]
    assert T.tree_leaves([shared, shared, {"a": shared}]) == [1.0, 1.0, 1.0]  # shared, not cyclic


def _deep(n):
    t = np.arange(3.0)
    for i in range(n):
        t = [t] if i % 3 else ({"k": t} if i % 2 else (t, None))
    return t


def test_a_5000_deep_tree_works():
    tree = _deep(5000)
    leaves, td = T.tree_flatten(tree)
    assert len(leaves) == 1 and td.num_nodes == 5000 + 1 + sum(1 for i in range(5000) if i % 3 == 0 and i % 2 == 0)
    out = T.tree_map(lambda x: x + 1, tree)
    assert T.tree_structure(out) == td
    np.testing.assert_array_equal(T.tree_leaves(out)[0], [1.0, 2.0, 3.0])
    assert T.tree_map(lambda x, y: x * y, tree, out) is not None
    path, leaf = T.tree_leaves_with_path(tree)[0]
    assert path.count("/") == 4999 and leaf is leaves[0]
    assert repr(td).startswith("TreeDef(") and hash(td) == hash(T.tree_structure(out))


# --------------------------------------------------- the same with and without JAX
_CASES = """
import collections, json, sys
import numpy as np
from portable_ml import tree as T

def deep(n):
    t = 1.0
    for _ in range(n):
        t = [t, {"a": 2.0, "n": None}]
    return t

loop = [1]
loop.append(loop)
cases = {
    "dict_keys": lambda: T.tree_map(lambda a, b: a, {"a": 1}, {"a": 1, "b": 2}),
    "list_len": lambda: T.tree_map(lambda a, b: a, [1, 2], [1, 2, 3]),
    "types": lambda: T.tree_map(lambda a, b: a, (1, 2), [1, 2]),
    "nested": lambda: T.tree_map(lambda a, b: a, {"x": [1, {"y": None}]}, {"x": [1, {"y": 2}]}),
    "unsortable": lambda: T.tree_leaves({1: 2, "a": 3}),
    "unflatten": lambda: T.tree_unflatten(T.tree_structure([1, 2]), [1]),
    "cycle": lambda: T.tree_leaves(loop),
    "deep_leaves": lambda: len(T.tree_leaves(deep(5000))),
    "deep_map": lambda: T.tree_leaves(T.tree_map(lambda x, y: x + y, deep(5000), deep(5000)))[:2],
    "deep_paths": lambda: len(T.tree_leaves_with_path(deep(5000))[-1][0]),
    "deep_repr": lambda: len(repr(T.tree_structure(deep(5000)))),
    "prefix": lambda: T.tree_map(lambda x, y: [x, y], {"a": 1, "b": None}, {"a": [2, (3,)], "b": None}),
    "subclass_leaf": lambda: T.tree_leaves([type("D", (dict,), {})(a=1), collections.OrderedDict(b=1, a=2)]),
    "defaultdict": lambda: T.tree_leaves(collections.defaultdict(list, {"b": 1, "a": [2]})),
    "repr": lambda: repr(T.tree_structure({"a": [1, (2,)], "n": None, "o": collections.OrderedDict(z=1)})),
}
out = {}
for name, f in cases.items():
    try:
        out[name] = ["ok", repr(f())]
    except Exception as exc:
        out[name] = [type(exc).__name__, str(exc)]
assert ("jax" in sys.modules) == (sys.argv[1] == "jax"), sorted(m for m in sys.modules if m.startswith("jax"))
print(json.dumps(out))
"""


def _run_cases(with_jax):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    code = ("import jax\n" if with_jax else "") + _CASES
    proc = subprocess.run([sys.executable, "-c", code, "jax" if with_jax else "none"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=os.path.dirname(os.path.dirname(T.__file__)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_same_results_and_messages_with_and_without_jax():
    pytest.importorskip("jax")
    without, with_jax = _run_cases(False), _run_cases(True)
    assert with_jax == without
    assert without["deep_leaves"] == ["ok", "5001"]
    assert without["deep_map"] == ["ok", "[2.0, 4.0]"]
    assert without["cycle"][0] == "ValueError" and "contains itself" in without["cycle"][1]
    assert without["unsortable"][0] == "TypeError"
    assert without["nested"] == ["ValueError", "tree_map: tree 2 (rest[0]) has a different structure at x/1/y: "
                                               "expected None, got a leaf of type int"]
    assert without["prefix"] == ["ok", "{'a': [1, [2, (3,)]], 'b': None}"]
    assert without["subclass_leaf"] == ["ok", "[{'a': 1}, 1, 2]"]
    assert without["defaultdict"] == ["ok", "[2, 1]"]


# --------------------------------------------------------------- agreement with JAX
def test_semantics_match_jax():
    """Leaf order, leaf/container decisions and prefix mapping as in jax.tree_util."""
    jax = pytest.importorskip("jax")
    D = type("D", (dict,), {})
    L = type("L", (list,), {})
    dd = collections.defaultdict(list, {"z": 1, "y": [2, None]})
    tree = {"b": [np.ones(2), (np.zeros(3), None)], "a": np.arange(3.0), "s": State(np.array(1.0), {"w": 5}),
            "o": collections.OrderedDict([("q", 1), ("p", 2)]), "d": D(x=1), "l": L([1]), "dd": dd,
            "t": type("T", (tuple,), {})((1, 2)), "e": [], "n": None, "p": jax.tree_util.Partial(max, 1.5)}
    ours = T.tree_leaves(tree)
    theirs = jax.tree_util.tree_leaves(tree)
    assert [id(x) for x in ours] == [id(x) for x in theirs]
    assert T.tree_structure(tree) == jax.tree_util.tree_structure(tree)
    assert T.tree_structure(tree) != jax.tree_util.tree_structure({**tree, "e": [1]})
    back = T.tree_unflatten(T.tree_structure(tree), ours)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(tree)
    assert type(back["o"]) is collections.OrderedDict and list(back["o"]) == ["q", "p"]
    assert back["dd"].default_factory is list and back["d"] is tree["d"]
    ours_paths = [p for p, _ in T.tree_leaves_with_path(tree)]
    theirs_paths = ["/".join(T._key_str(k) for k in p) for p, _ in jax.tree_util.tree_leaves_with_path(tree)]
    assert ours_paths == theirs_paths
    first, second = {"a": 1, "b": [2, 3]}, {"a": {"x": (4, 5)}, "b": [6, [7]]}
    assert T.tree_map(lambda x, y: (x, y), first, second) == jax.tree_util.tree_map(lambda x, y: (x, y), first, second)


def test_deep_structures_compare_with_jax_without_recursing_into_it():
    jax = pytest.importorskip("jax")
    shallow, deep = _deep(150), _deep(5000)
    assert T.tree_structure(shallow) == jax.tree_util.tree_structure(shallow)
    assert T.tree_structure(deep) != jax.tree_util.tree_structure(shallow)  # not handed to JAX's walker
    assert not T.tree_structure(_deep(151)) == jax.tree_util.tree_structure(shallow)
    assert T.tree_structure(deep) == T.tree_structure(T.tree_map(lambda x: x, deep))


def test_registered_jax_nodes_are_containers():
    jax = pytest.importorskip("jax")
    import dataclasses

    @dataclasses.dataclass
    class Layer:
        W: object
        b: object
        name: str = "dense"

    jax.tree_util.register_dataclass(Layer, data_fields=["W", "b"], meta_fields=["name"])
    tree = {"layer": Layer(np.ones((2, 2)), None, "first"), "extra": [Layer(np.zeros(1), np.ones(3))]}
    assert [id(x) for x in T.tree_leaves(tree)] == [id(x) for x in jax.tree_util.tree_leaves(tree)]
    assert T.tree_structure(tree) == jax.tree_util.tree_structure(tree)
    out = T.tree_map(lambda x: x + 1, tree)
    assert isinstance(out["layer"], Layer) and out["layer"].name == "first" and out["layer"].b is None
    np.testing.assert_array_equal(out["extra"][0].b, [2.0, 2.0, 2.0])
    assert [p for p, _ in T.tree_leaves_with_path(tree)] == ["extra/0/W", "extra/0/b", "layer/W"]
    other = {"layer": Layer(np.ones((2, 2)), None, "second"), "extra": [Layer(np.zeros(1), np.ones(3))]}
    assert T.tree_structure(other) != T.tree_structure(tree)  # meta fields are part of the structure
    with pytest.raises(ValueError, match="at layer: expected a Layer pytree node"):
        T.tree_map(lambda a, b: a, tree, other)


def test_under_jit_and_grad():
    jax = pytest.importorskip("jax")
    params = {"w": jax.numpy.ones(3), "b": [jax.numpy.zeros(()), None]}

    def loss(p):
        return sum(jax.numpy.sum(x ** 2) for x in T.tree_leaves(T.tree_map(lambda x: 2 * x + 1, p)))

    g = jax.jit(jax.grad(loss))(params)
    assert T.tree_structure(g) == T.tree_structure(params) and g["b"][1] is None
    np.testing.assert_allclose(np.asarray(g["w"]), 4 * (2 * np.ones(3) + 1))
