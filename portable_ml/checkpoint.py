"""Checkpoints: save a pytree of arrays from any backend, load it onto any backend.

Format (``.pmlz``, a zip archive; the extension is not enforced):

* ``manifest.json`` — format version, library version, the tree's structure
  (dicts, lists, tuples, named tuples, ``None``, Python numbers and strings),
  and for every array leaf its file name, dtype, shape and SHA-256;
* ``arrays/<i>.npy`` — one NumPy ``.npy`` file per array leaf, read back with
  ``allow_pickle=False``.

Loading never executes code (no pickle; named tuples come back as
``collections.namedtuple`` classes with the saved field names).  A truncated
file, a changed array, a missing member or a manifest that does not describe
the arrays raises :class:`CheckpointError` naming what is wrong.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import zipfile

import numpy as np

from . import __version__
from .backend import backend_of, get_backend, to_numpy

__all__ = ["save", "load", "CheckpointError", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_MANIFEST = "manifest.json"


class CheckpointError(ValueError):
    """The file is not a valid, intact portable_ml checkpoint."""


def _encode(node, arrays):
    if node is None:
        return {"t": "none"}
    if backend_of(node) is not None:
        host = np.array(to_numpy(node), order="C", copy=None)  # (ascontiguousarray would make 0-d 1-d)
        if host.dtype.kind not in "biufc":
            raise TypeError(f"cannot checkpoint arrays of dtype {host.dtype} (numbers and booleans only)")
        arrays.append(host)
        return {"t": "array", "i": len(arrays) - 1}
    if isinstance(node, bool):
        return {"t": "bool", "v": node}
    if isinstance(node, int):
        return {"t": "int", "v": node}
    if isinstance(node, float):
        return {"t": "float", "v": repr(node)}
    if isinstance(node, str):
        return {"t": "str", "v": node}
    if isinstance(node, dict):
        keys = list(node)
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"checkpoint dict keys must be strings; got {keys!r}")
        return {"t": "dict", "v": {k: _encode(node[k], arrays) for k in keys}}
    if isinstance(node, tuple) and hasattr(type(node), "_fields"):
        return {"t": "namedtuple", "name": type(node).__name__, "fields": list(node._fields),
                "v": [_encode(c, arrays) for c in node]}
    if isinstance(node, (list, tuple)):
        return {"t": type(node).__name__, "v": [_encode(c, arrays) for c in node]}
    raise TypeError(f"cannot checkpoint a leaf of type {type(node).__name__}; "
                    "use arrays, dict/list/tuple/NamedTuple, None, numbers or strings")


def save(path, tree):
    """Write ``tree`` (a pytree of arrays of any backend) to ``path``.

    Arrays are copied to the host; dtypes and shapes are kept exactly.
    Returns the path written.
    """
    arrays = []
    structure = _encode(tree, arrays)
    entries = []
    buffers = []
    for i, arr in enumerate(arrays):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, arr, allow_pickle=False)
        data = buf.getvalue()
        buffers.append(data)
        entries.append({"file": f"arrays/{i}.npy", "dtype": arr.dtype.str, "shape": list(arr.shape),
                        "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format": "portable_ml.checkpoint", "version": FORMAT_VERSION,
                "library_version": __version__, "tree": structure, "arrays": entries}
    tmp = f"{os.fspath(path)}.tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(_MANIFEST, json.dumps(manifest, sort_keys=True))
        for entry, data in zip(entries, buffers):
            zf.writestr(entry["file"], data)
    os.replace(tmp, path)
    return path


def _read_manifest(zf, path):
    try:
        manifest = json.loads(zf.read(_MANIFEST))
    except KeyError:
        raise CheckpointError(f"{path}: no {_MANIFEST}; not a portable_ml checkpoint") from None
    except (ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: unreadable manifest ({exc})") from None
    if manifest.get("format") != "portable_ml.checkpoint":
        raise CheckpointError(f"{path}: not a portable_ml checkpoint")
    if manifest.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {manifest.get('version')!r}; "
                              f"this library reads version {FORMAT_VERSION}")
    return manifest


def _read_array(zf, entry, path):
    name = entry["file"]
    try:
        data = zf.read(name)
    except KeyError:
        raise CheckpointError(f"{path}: member {name} is missing") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: member {name} is damaged ({exc})") from None
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise CheckpointError(f"{path}: member {name} does not match its recorded SHA-256 "
                              "(the file was changed or damaged)")
    arr = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    if arr.dtype.str != entry["dtype"] or list(arr.shape) != entry["shape"]:
        raise CheckpointError(f"{path}: member {name} is {arr.dtype.str}{list(arr.shape)}, "
                              f"manifest says {entry['dtype']}{entry['shape']}")
    return arr


def _decode(node, leaves):
    t = node["t"]
    if t == "none":
        return None
    if t == "array":
        return leaves[node["i"]]
    if t in ("bool", "int", "str"):
        return node["v"]
    if t == "float":
        return float(node["v"])
    if t == "dict":
        return {k: _decode(v, leaves) for k, v in node["v"].items()}
    if t == "list":
        return [_decode(v, leaves) for v in node["v"]]
    if t == "tuple":
        return tuple(_decode(v, leaves) for v in node["v"])
    if t == "namedtuple":
        cls = collections.namedtuple(node["name"], node["fields"])
        return cls(*[_decode(v, leaves) for v in node["v"]])
    raise CheckpointError(f"unknown node type {t!r} in manifest")


def load(path, backend=None, device=None):
    """Read a checkpoint written by :func:`save` onto ``backend`` / ``device``.

    ``backend`` and ``device`` are as for :func:`portable_ml.get_backend`
    (default: the current default backend).  Raises :class:`CheckpointError`
    for a truncated, altered or foreign file.
    """
    be = get_backend(backend, device)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint archive ({exc}); truncated or not a checkpoint") from None
    with zf:
        bad = zf.testzip()
        if bad is not None:
            raise CheckpointError(f"{path}: member {bad} fails its CRC check (damaged file)")
        manifest = _read_manifest(zf, path)
        host = [_read_array(zf, e, path) for e in manifest["arrays"]]
    leaves = [be.asarray(a) for a in host]
    try:
        return _decode(manifest["tree"], leaves)
    except (KeyError, IndexError, TypeError) as exc:
        raise CheckpointError(f"{path}: manifest tree is inconsistent ({exc!r})") from None
