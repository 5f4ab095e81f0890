"""Pytrees: nested ``dict`` / ``list`` / ``tuple`` (incl. ``NamedTuple``) of arrays.

The semantics are JAX's: dict keys are visited in sorted order, ``None`` is
an empty subtree (not a leaf), and everything that is not a container is a
leaf.  When JAX has been imported, its ``tree_util`` is used, so custom JAX
pytree nodes (``flax.struct`` dataclasses, optax states) work as in JAX;
otherwise a small pure-Python walker with the same semantics is used, so
this module never imports JAX itself.
"""

from __future__ import annotations

import sys

__all__ = [
    "tree_map",
    "tree_leaves",
    "tree_flatten",
    "tree_unflatten",
    "tree_structure",
    "tree_zeros_like",
    "tree_leaves_with_path",
]


def _jtu():
    jax = sys.modules.get("jax")
    return None if jax is None else jax.tree_util


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _children(node):
    """(keys, children, rebuild) for a container node, or None for a leaf."""
    if isinstance(node, dict):
        keys = sorted(node)
        return keys, [node[k] for k in keys], lambda vals, t=type(node), ks=keys: t(zip(ks, vals))
    if _is_namedtuple(node):
        return list(node._fields), list(node), lambda vals, t=type(node): t(*vals)
    if isinstance(node, (list, tuple)):
        return list(range(len(node))), list(node), lambda vals, t=type(node): t(vals)
    return None


class _TreeDef:
    """Structure of a pytree (pure-Python fallback for ``jax.tree_util.PyTreeDef``)."""

    __slots__ = ("_build", "num_leaves", "_repr")

    def __init__(self, build, num_leaves, rep):
        self._build, self.num_leaves, self._repr = build, num_leaves, rep

    def unflatten(self, leaves):
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"tree structure expects {self.num_leaves} leaves; got {len(leaves)}")
        return self._build(iter(leaves))

    def __eq__(self, other):
        return isinstance(other, _TreeDef) and self._repr == other._repr

    def __hash__(self):
        return hash(self._repr)

    def __repr__(self):
        return f"TreeDef({self._repr})"


def _flatten(node, leaves):
    if node is None:
        return (lambda it: None), "None"
    kids = _children(node)
    if kids is None:
        leaves.append(node)
        return (lambda it: next(it)), "*"
    keys, children, rebuild = kids
    parts = [_flatten(c, leaves) for c in children]
    builders = [p[0] for p in parts]
    rep = (type(node).__name__, tuple(keys), tuple(p[1] for p in parts))
    return (lambda it: rebuild([b(it) for b in builders])), rep


def tree_flatten(tree):
    """``(leaves, treedef)``; ``treedef.unflatten(leaves)`` rebuilds the tree."""
    jtu = _jtu()
    if jtu is not None:
        return jtu.tree_flatten(tree)
    leaves = []
    build, rep = _flatten(tree, leaves)
    return leaves, _TreeDef(build, len(leaves), rep)


def tree_unflatten(treedef, leaves):
    """Inverse of :func:`tree_flatten`."""
    return treedef.unflatten(leaves)


def tree_structure(tree):
    """The ``treedef`` of ``tree``."""
    return tree_flatten(tree)[1]


def tree_leaves(tree):
    """The leaves of ``tree`` in canonical order (dict keys sorted)."""
    return tree_flatten(tree)[0]


def tree_map(f, tree, *rest):
    """Apply ``f`` leafwise; ``rest`` must have the structure of ``tree``."""
    jtu = _jtu()
    if jtu is not None:
        return jtu.tree_map(f, tree, *rest)
    leaves, treedef = tree_flatten(tree)
    others = []
    for i, r in enumerate(rest):
        r_leaves, r_def = tree_flatten(r)
        if r_def != treedef:
            raise ValueError(
                f"tree_map: tree {i + 1} has a different structure: {r_def!r} vs {treedef!r}"
            )
        others.append(r_leaves)
    return treedef.unflatten(f(*xs) for xs in zip(leaves, *others))


def tree_zeros_like(tree):
    """A tree of zeros with the shapes, dtypes, backends and devices of ``tree``."""
    from ._xp import array_namespace

    return tree_map(lambda x: array_namespace(x).zeros_like(x), tree)


def _key_str(k):
    for attr in ("key", "idx", "name"):  # jax DictKey / SequenceKey / GetAttrKey
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def tree_leaves_with_path(tree):
    """``[(path, leaf), ...]`` with ``path`` like ``"layers/0/W"``."""
    jtu = _jtu()
    if jtu is not None:
        pairs = jtu.tree_flatten_with_path(tree)[0]
        return [("/".join(_key_str(k) for k in path), leaf) for path, leaf in pairs]
    out = []

    def walk(node, prefix):
        if node is None:
            return
        kids = _children(node)
        if kids is None:
            out.append(("/".join(prefix), node))
            return
        for k, c in zip(kids[0], kids[1]):
            walk(c, prefix + [str(k)])

    walk(tree, [])
    return out
