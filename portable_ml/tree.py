"""Pytrees: nested ``dict`` / ``list`` / ``tuple`` (incl. ``NamedTuple``) of arrays.

The semantics are JAX's:

* containers are ``dict`` (keys visited in sorted order), ``OrderedDict``
  (insertion order), ``defaultdict`` (sorted order), ``list``, ``tuple`` and
  named tuples -- the exact types, as in JAX: a subclass of ``dict`` or
  ``list`` is a leaf, like any other object;
* ``None`` is an empty subtree (not a leaf);
* when JAX has been imported, types registered with ``jax.tree_util``
  (``flax.struct`` dataclasses, ``jax.tree_util.register_dataclass``,
  ``jax.tree_util.Partial``, ...) are containers too, flattened one level at
  a time through JAX's registry.  This module never imports JAX itself.

One pure-Python walker does the work with or without JAX, so results and
error messages do not depend on whether JAX has been imported.  The walker is
iterative: trees of any depth work (JAX's own C++ walker fails with a
``SystemError`` at a few thousand levels), and a container that contains
itself raises a ``ValueError`` naming the path where the cycle closes.
``tree_flatten`` returns this module's own treedef; it compares equal to
``jax.tree_util.tree_structure`` of the same tree.

:func:`tree_map` follows ``jax.tree_util.tree_map``: every further tree must
have the first tree's structure, where a leaf of the first tree may stand for
a whole subtree of the others (the subtree is passed to ``f``).
"""

from __future__ import annotations

import collections
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

# node kinds of a treedef entry
_LEAF, _NONE, _DICT, _ODICT, _DDICT, _LIST, _TUPLE, _NT, _CUSTOM = (
    "leaf", "none", "dict", "OrderedDict", "defaultdict", "list", "tuple", "namedtuple", "custom")

# modules whose array types (objects with .shape and .dtype) are always leaves;
# lets the walker skip asking JAX's registry about every array
_ARRAY_MODULES = frozenset({"numpy", "jax", "jaxlib", "torch", "cupy", "dask", "array_api_strict"})
_LEAF_TYPES = {int, float, complex, bool, str, bytes}


def _jtu():
    jax = sys.modules.get("jax")
    tu = None if jax is None else getattr(jax, "tree_util", None)
    return tu


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _sorted_keys(node):
    try:
        return sorted(node)
    except TypeError:
        kinds = sorted({type(k).__name__ for k in node})
        raise TypeError(
            "pytree dict keys must be mutually sortable (they fix the leaf order); "
            f"got keys of types {', '.join(kinds)}"
        ) from None


def _known_leaf(t):
    if t in _LEAF_TYPES:
        return True
    if t.__module__.partition(".")[0] in _ARRAY_MODULES and hasattr(t, "shape") and hasattr(t, "dtype"):
        _LEAF_TYPES.add(t)
        return True
    return False


def _split(node, jtu, with_keys=False):
    """``(kind, aux, children, keys)`` for a container node, ``None`` for a leaf.

    ``aux`` is what, besides the number of children, must agree for two
    nodes to have the same structure; ``keys`` (for paths) only when asked.
    """
    t = type(node)
    if t is dict:
        keys = _sorted_keys(node)
        return _DICT, tuple(keys), [node[k] for k in keys], keys
    if t is list:
        return _LIST, None, node, range(len(node)) if with_keys else None
    if t is tuple:
        return _TUPLE, None, node, range(len(node)) if with_keys else None
    if node is None:
        return _NONE, None, (), ()
    if _known_leaf(t):
        return None
    if t is collections.OrderedDict:
        keys = list(node)
        return _ODICT, tuple(keys), [node[k] for k in keys], keys
    if t is collections.defaultdict:
        keys = _sorted_keys(node)
        return _DDICT, (node.default_factory, tuple(keys)), [node[k] for k in keys], keys
    if _is_namedtuple(node):
        return _NT, t, node, t._fields
    if jtu is None:
        return None
    # a type JAX may know: flatten it one level through JAX's registry
    children, td = jtu.tree_flatten(node, is_leaf=lambda x: x is not node)
    if td.num_nodes == 1 and td.num_leaves == 1:
        return None  # a leaf for JAX
    keys = None
    if with_keys:
        pairs = jtu.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
        keys = [_key_str(p[0]) if len(p) == 1 else "/".join(_key_str(k) for k in p) for p, _ in pairs]
    return _CUSTOM, (td, t.__name__), children, keys


def _path_str(link):
    """``"a/0/W"`` from a ``(key, parent_link)`` chain; ``"the root"`` for the root."""
    keys = []
    while link is not None:
        keys.append(str(link[0]))
        link = link[1]
    return "/".join(reversed(keys)) if keys else "the root"


_LEAF_NODE = (_LEAF, None, 0)
_EXIT = object()


def _walk(tree, jtu, with_keys=False):
    """Pre-order walk: ``(nodes, leaves, leaf_links)``.

    ``nodes`` is the flat pre-order list of ``(kind, aux, n_children)``;
    iterative, with a set of the containers on the current path to detect
    a container that contains itself.  ``leaf_links`` (the path of each
    leaf) only ``with_keys``.
    """
    if with_keys:
        return _walk_with_keys(tree, jtu)
    nodes, leaves = [], []
    on_path = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if node is _EXIT:
            on_path.discard(stack.pop())
            continue
        if type(node) in _LEAF_TYPES:
            nodes.append(_LEAF_NODE)
            leaves.append(node)
            continue
        split = _split(node, jtu)
        if split is None:
            nodes.append(_LEAF_NODE)
            leaves.append(node)
            continue
        kind, aux, children, _ = split
        nodes.append((kind, aux, len(children)))
        if not children:
            continue
        ident = id(node)
        if ident in on_path:
            _walk_with_keys(tree, jtu)  # again, keeping the paths for the message
        on_path.add(ident)
        stack.append(ident)
        stack.append(_EXIT)
        stack.extend(reversed(children))
    return nodes, leaves, None


def _walk_with_keys(tree, jtu):
    nodes, leaves, links = [], [], []
    on_path = set()
    stack = [(tree, None)]
    while stack:
        node, link = stack.pop()
        if node is _EXIT:
            on_path.discard(link)
            continue
        split = _split(node, jtu, with_keys=True)
        if split is None:
            nodes.append(_LEAF_NODE)
            leaves.append(node)
            links.append(link)
            continue
        kind, aux, children, keys = split
        nodes.append((kind, aux, len(children)))
        if not children:
            continue
        ident = id(node)
        if ident in on_path:
            raise ValueError(f"the pytree contains itself: the container at {_path_str(link)} "
                             "is one of its own ancestors")
        on_path.add(ident)
        stack.append((_EXIT, ident))
        stack.extend((c, (k, link)) for k, c in zip(reversed(list(keys)), reversed(children)))
    return nodes, leaves, links


def _describe(kind, aux, n):
    if kind == _NONE:
        return "None"
    if kind in (_DICT, _ODICT):
        return f"a {kind} with keys {list(aux)!r}"
    if kind == _DDICT:
        return f"a defaultdict with keys {list(aux[1])!r}"
    if kind in (_LIST, _TUPLE):
        return f"a {kind} of length {n}"
    if kind == _NT:
        return f"a {aux.__name__} (named tuple)"
    if kind == _CUSTOM:
        return f"a {aux[1]} pytree node {aux[0]!r}"
    return "a leaf"


def _describe_value(x, jtu):
    split = _split(x, jtu)
    if split is None:
        return f"a leaf of type {type(x).__name__}"
    kind, aux, children, _ = split
    return _describe(kind, aux, len(children))


class _Hole:
    """Placeholder leaf used to compare with a ``jax.tree_util.PyTreeDef``."""

    __slots__ = ()


def _repr_tree(nodes):
    """JAX-like text of a structure, built iteratively."""
    out = []
    for kind, aux, n in reversed(nodes):
        if kind == _LEAF:
            out.append("*")
            continue
        if kind == _NONE:
            out.append("None")
            continue
        kids = [out.pop() for _ in range(n)]
        if kind in (_DICT, _ODICT, _DDICT):
            keys = aux[1] if kind == _DDICT else aux
            body = "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(keys, kids)) + "}"
            out.append(body if kind == _DICT else f"{kind}({body})")
        elif kind == _LIST:
            out.append("[" + ", ".join(kids) + "]")
        elif kind == _TUPLE:
            out.append("(" + ", ".join(kids) + ("," if n == 1 else "") + ")")
        elif kind == _NT:
            out.append(f"{aux.__name__}(" + ", ".join(f"{f}={v}" for f, v in zip(aux._fields, kids)) + ")")
        else:
            out.append(f"{aux[1]}[" + ", ".join(kids) + "]")
    return out[0]


class _TreeDef:
    """Structure of a pytree: a flat pre-order list of its nodes.

    Compared, hashed, printed and rebuilt without recursion, so a tree of any
    depth works.  Equality with a ``jax.tree_util.PyTreeDef`` compares with
    JAX's own structure of the same tree.
    """

    __slots__ = ("_nodes", "num_leaves")

    def __init__(self, nodes, num_leaves):
        self._nodes = tuple(nodes)
        self.num_leaves = num_leaves

    @property
    def num_nodes(self):
        return len(self._nodes)

    def unflatten(self, leaves):
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"tree structure expects {self.num_leaves} leaves; got {len(leaves)}")
        stack = []
        i = len(leaves)
        for kind, aux, n in reversed(self._nodes):
            if kind == _LEAF:
                i -= 1
                stack.append(leaves[i])
                continue
            if n:
                kids = stack[:-n - 1:-1]  # the last n, first child first
                del stack[-n:]
            else:
                kids = []
            if kind == _DICT:
                stack.append(dict(zip(aux, kids)))
            elif kind == _LIST:
                stack.append(kids)
            elif kind == _TUPLE:
                stack.append(tuple(kids))
            elif kind == _NONE:
                stack.append(None)
            elif kind == _NT:
                stack.append(aux(*kids))
            elif kind == _ODICT:
                stack.append(collections.OrderedDict(zip(aux, kids)))
            elif kind == _DDICT:
                stack.append(collections.defaultdict(aux[0], zip(aux[1], kids)))
            else:
                stack.append(aux[0].unflatten(kids))
        return stack[0]

    def flatten_up_to(self, tree, what="tree"):
        """The subtrees of ``tree`` at this structure's leaves (``tree`` must extend it)."""
        jtu = _jtu()
        out = []
        stack = [tree]
        for kind, aux, n in self._nodes:
            x = stack.pop()
            if kind == _LEAF:
                out.append(x)
                continue
            split = _split(x, jtu)
            if split is None or split[0] != kind or split[1] != aux or len(split[2]) != n:
                self._mismatch(tree, what, jtu)
            stack.extend(reversed(split[2]))
        return out

    def _mismatch(self, tree, what, jtu):
        """Raise the error of :meth:`flatten_up_to`, naming the first path where ``tree`` differs."""
        stack = [(tree, None)]
        for kind, aux, n in self._nodes:
            x, link = stack.pop()
            if kind == _LEAF:
                continue
            split = _split(x, jtu, with_keys=True)
            if split is None or split[0] != kind or split[1] != aux or len(split[2]) != n:
                raise ValueError(f"{what} has a different structure at {_path_str(link)}: expected "
                                 f"{_describe(kind, aux, n)}, got {_describe_value(x, jtu)}")
            _, _, children, keys = split
            stack.extend((c, (k, link)) for k, c in zip(reversed(list(keys)), reversed(children)))
        raise AssertionError("unreachable: no mismatch found")  # pragma: no cover

    def __eq__(self, other):
        if isinstance(other, _TreeDef):
            return self._nodes == other._nodes
        jtu = _jtu()
        if jtu is not None and isinstance(other, jtu.PyTreeDef):
            # rebuild JAX's structure with placeholder leaves and walk it with ours: JAX
            # only handles a treedef it made itself, never our (possibly deeper) one
            return self == tree_structure(other.unflatten([_Hole()] * other.num_leaves))
        return NotImplemented

    def __hash__(self):
        return hash(self._nodes)

    def __repr__(self):
        return f"TreeDef({_repr_tree(self._nodes)})"


def tree_flatten(tree):
    """``(leaves, treedef)``; ``treedef.unflatten(leaves)`` rebuilds the tree."""
    nodes, leaves, _ = _walk(tree, _jtu())
    return leaves, _TreeDef(nodes, len(leaves))


def tree_unflatten(treedef, leaves):
    """Inverse of :func:`tree_flatten` (also takes a ``jax.tree_util.PyTreeDef``)."""
    return treedef.unflatten(leaves)


def tree_structure(tree):
    """The ``treedef`` of ``tree``."""
    return tree_flatten(tree)[1]


def tree_leaves(tree):
    """The leaves of ``tree`` in canonical order (dict keys sorted)."""
    return _walk(tree, _jtu())[1]


def tree_map(f, tree, *rest):
    """``f`` applied leafwise: ``f(x, *ys)`` for each leaf ``x`` of ``tree``.

    Each tree of ``rest`` must have ``tree``'s structure; where ``tree`` has
    a leaf, the others may hold a whole subtree, which is passed to ``f``
    (as in ``jax.tree_util.tree_map``).
    """
    leaves, treedef = tree_flatten(tree)
    others = [treedef.flatten_up_to(r, f"tree_map: tree {i + 2} (rest[{i}])") for i, r in enumerate(rest)]
    return treedef.unflatten([f(*xs) for xs in zip(leaves, *others)])


def tree_zeros_like(tree):
    """A tree of zeros with the shapes, dtypes, backends and devices of ``tree``."""
    from ._xp import array_namespace

    return tree_map(lambda x: array_namespace(x).zeros_like(x), tree)


def _key_str(k):
    for attr in ("key", "idx", "name"):  # jax DictKey / SequenceKey / GetAttrKey / FlattenedIndexKey
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def tree_leaves_with_path(tree):
    """``[(path, leaf), ...]`` with ``path`` like ``"layers/0/W"``."""
    _, leaves, links = _walk(tree, _jtu(), with_keys=True)
    return [("" if link is None else _path_str(link), leaf) for link, leaf in zip(links, leaves)]
