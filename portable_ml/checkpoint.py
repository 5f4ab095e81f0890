"""Checkpoints: save a pytree of arrays from any backend, load it onto any backend.

Format (``.pmlz``, a zip archive; the extension is not enforced):

* ``manifest.json`` -- format version, library version, the tree's structure
  (dicts, lists, tuples, named tuples, ``None``, Python numbers and strings),
  and for every array leaf its file name, dtype, shape and SHA-256;
* ``arrays/<i>.npy`` -- one NumPy ``.npy`` file per array leaf (numbers and
  booleans: dtype kinds ``b``, ``i``, ``u``, ``f``, ``c``; C order).

Saving is atomic and durable.  :func:`save` writes a new file next to
``path`` under a name no other file has (on Linux an anonymous file, so a
killed process leaves nothing behind), flushes and ``fsync``\\ s it, renames
it over ``path`` with :func:`os.replace` and ``fsync``\\ s the folder.  So
``path`` always holds either the previous checkpoint or the new one, never a
partial file, also across a crash or power loss; with several processes
saving to one path, every reader sees one complete checkpoint (the last
writer wins); no other file is touched; on any failure the temporary file
is removed.

Loading is total and bounded.  :func:`load` never executes code (no pickle;
named tuples come back as ``collections.namedtuple`` classes with the saved
field names) and raises :class:`CheckpointError` (a ``ValueError``) naming
what is wrong for every truncated, damaged, altered, malformed or hostile
file.  Nothing is decompressed or allocated before its declared size has
been checked against the others and against a bound:

* the manifest is at most 64 MiB (:data:`MAX_MANIFEST_BYTES`);
* every member is listed once, stored or deflated, not encrypted, and its
  compressed bytes lie inside the file;
* an array's ``.npy`` header must give the manifest's dtype and shape, and
  header plus ``shape x itemsize`` bytes must be exactly the member's
  declared size (at most DEFLATE's 1032:1 over its compressed size);
* members are read in 1 MiB pieces and hashed while streamed: one array is
  allocated, at its verified size, and filled in place.

So a load needs the declared array bytes plus a small constant (the
manifest and one piece), whatever the file claims.  ``load`` accepts exactly
what ``save`` writes: the dtype kinds above, C order, each array referenced
once by the tree, no foreign members, tree nodes of the listed kinds.
``save`` refuses trees nested deeper than :data:`MAX_DEPTH` levels and trees
that contain themselves.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import io
import json
import keyword
import math
import os
import secrets
import struct
import zipfile
import zlib

import numpy as np

from . import __version__
from .backend import backend_of, get_backend, to_numpy

__all__ = ["save", "load", "CheckpointError", "FORMAT_VERSION", "MAX_DEPTH", "MAX_MANIFEST_BYTES"]

FORMAT_VERSION = 1
#: deepest nesting of containers that :func:`save` writes (JSON parsers recurse)
MAX_DEPTH = 256
#: largest manifest :func:`load` reads
MAX_MANIFEST_BYTES = 64 * 2**20

_MANIFEST = "manifest.json"
_CHUNK = 2**20
_MAX_NPY_HEADER = 10_000  # numpy's own default bound on an .npy header
_NPY_PREFIX = 12  # magic (6) + version (2) + header length (2 or 4)
_DEFLATE_MAX_RATIO = 1032  # no DEFLATE stream expands more (zlib's documented bound)
_KINDS = "biufc"


class CheckpointError(ValueError):
    """The file is not a valid, intact portable_ml checkpoint."""


# ----------------------------------------------------------------------------- save
_EXIT = object()


def _encode(tree, arrays):
    """The manifest tree of ``tree``; array leaves are appended to ``arrays``.

    Iterative, with the containers on the current path tracked, so a deep or
    self-referential tree is a clear error instead of a ``RecursionError``.
    """
    root = {}
    stack = [(tree, root, "t", 1, None)]  # (node, parent dict/list, slot, depth, (key, parent link))
    on_path = set()
    while stack:
        node, parent, slot, depth, link = stack.pop()
        if node is _EXIT:
            on_path.discard(parent)
            continue
        if node is None:
            out = {"t": "none"}
        elif backend_of(node) is not None:
            host = np.array(to_numpy(node), order="C", copy=None)  # (ascontiguousarray would make 0-d 1-d)
            if host.dtype.kind not in _KINDS or host.dtype.fields is not None:
                raise TypeError(f"cannot checkpoint arrays of dtype {host.dtype} (at {_where(link)}); "
                                "numbers and booleans only")
            arrays.append(host)
            out = {"t": "array", "i": len(arrays) - 1}
        elif isinstance(node, bool):
            out = {"t": "bool", "v": node}
        elif isinstance(node, int):
            out = {"t": "int", "v": int(node)}
        elif isinstance(node, float):
            out = {"t": "float", "v": repr(float(node))}
        elif isinstance(node, str):
            out = {"t": "str", "v": str(node)}
        elif isinstance(node, (dict, list, tuple)):
            if depth > MAX_DEPTH:
                raise ValueError(f"cannot checkpoint a tree nested more than {MAX_DEPTH} containers deep "
                                 f"(at {_where(link)})")
            if id(node) in on_path:
                raise ValueError(f"cannot checkpoint a tree that contains itself: the container at {_where(link)} "
                                 "is one of its own ancestors")
            if isinstance(node, dict):
                keys = list(node)
                if not all(isinstance(k, str) for k in keys):
                    raise TypeError(f"checkpoint dict keys must be strings; got {keys!r} at {_where(link)}")
                children = [(k, node[k]) for k in keys]
                out = {"t": "dict", "v": {}}
            else:
                children = list(enumerate(node))
                out = {"t": "list" if isinstance(node, list) else "tuple", "v": [None] * len(node)}
                if isinstance(node, tuple) and hasattr(type(node), "_fields"):
                    out = {"t": "namedtuple", "name": type(node).__name__, "fields": list(node._fields),
                           "v": out["v"]}
            on_path.add(id(node))
            stack.append((_EXIT, id(node), None, depth, None))
            for key, child in reversed(children):
                stack.append((child, out["v"], key, depth + 1, (key, link)))
        else:
            raise TypeError(f"cannot checkpoint a leaf of type {type(node).__name__} (at {_where(link)}); "
                            "use arrays, dict/list/tuple/NamedTuple, None, numbers or strings")
        parent[slot] = out
    return root["t"]


def _where(link, keep=8):
    """``"a/0/b"`` from a ``(key, parent link)`` chain; long paths are shortened in the middle."""
    keys = []
    while link is not None:
        keys.append(str(link[0]))
        link = link[1]
    keys.reverse()
    if not keys:
        return "the root"
    if len(keys) > 2 * keep:
        keys = keys[:keep] + [f"... ({len(keys)} levels) ..."] + keys[-keep:]
    return "/".join(keys)


class _HashingWriter(io.RawIOBase):
    """Passes writes through to a zip member and hashes them."""

    def __init__(self, raw):
        self._raw, self.sha256 = raw, hashlib.sha256()

    def writable(self):
        return True

    def write(self, data):
        self.sha256.update(data)
        self._raw.write(data)
        return len(data)


def _write_member(zf, name, arr):
    """Stream ``arr`` as an ``.npy`` member; returns its SHA-256 (hex)."""
    with zf.open(name, "w", force_zip64=arr.nbytes + 65536 > zipfile.ZIP64_LIMIT) as raw:
        out = _HashingWriter(raw)
        np.lib.format.write_array(out, arr, allow_pickle=False)
    return out.sha256.hexdigest()


def _write_checkpoint(f, structure, arrays):
    entries = []
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        for i, arr in enumerate(arrays):
            name = f"arrays/{i}.npy"
            digest = _write_member(zf, name, arr)
            entries.append({"file": name, "dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": digest})
        manifest = {"format": "portable_ml.checkpoint", "version": FORMAT_VERSION,
                    "library_version": __version__, "tree": structure, "arrays": entries}
        zf.writestr(_MANIFEST, json.dumps(manifest, sort_keys=True))


def _temp_name(folder, base):
    return os.path.join(folder, f".{base}.{secrets.token_hex(8)}.tmp")


def _open_anonymous(folder):
    """An unnamed file in ``folder`` (Linux ``O_TMPFILE``), or ``None`` where unsupported."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:
        return None  # a file system without O_TMPFILE


def _link_anonymous(fd, folder, base):
    """Give the anonymous file ``fd`` a fresh unique name in ``folder``."""
    while True:
        name = _temp_name(folder, base)
        try:
            os.link(f"/proc/self/fd/{fd}", name)
            return name
        except FileExistsError:
            continue


def _open_named(folder, base):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        name = _temp_name(folder, base)
        try:
            return os.open(name, flags, 0o666), name  # like open(): the mode is 0o666 less the umask
        except FileExistsError:
            continue


def _fsync_folder(folder):
    if os.name == "nt":
        return  # folders cannot be opened (nor synced) on Windows
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder
    finally:
        os.close(fd)


_ANONYMOUS_OK = {}  # st_dev -> whether anonymous files can be linked there


def _anonymous_ok(folder):
    """Whether ``O_TMPFILE`` files can be created and linked in ``folder`` (probed once per device)."""
    try:
        dev = os.stat(folder).st_dev
    except OSError:
        return False
    if dev not in _ANONYMOUS_OK:
        ok = False
        fd = _open_anonymous(folder)
        if fd is not None:
            try:
                os.unlink(_link_anonymous(fd, folder, "probe"))
                ok = True
            except OSError:
                pass  # e.g. EXDEV where /proc belongs to another mount namespace
            finally:
                os.close(fd)
        _ANONYMOUS_OK[dev] = ok
    return _ANONYMOUS_OK[dev]


def _discard(tmp):
    """Remove the temporary ``tmp`` after a failure (it may already be gone)."""
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _replace(tmp, path):
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def _atomic_write(path, write):
    """Write through ``write(file)`` to a new file, then rename it over ``path``.

    The new file is anonymous until complete where the system allows
    (nothing is left behind even if the process is killed), else it has a
    unique hidden name next to ``path`` and is removed on any failure.
    """
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "cannot save a checkpoint over a folder", path)
    fd = _open_anonymous(folder) if _anonymous_ok(folder) else None
    if fd is not None:
        tmp = None
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            try:
                tmp = _link_anonymous(f.fileno(), folder, base)
            except OSError:
                pass  # unexpected here (the probe passed): write a named file instead
        if tmp is not None:
            _replace(tmp, path)
            _fsync_folder(folder)
            return
    fd, tmp = _open_named(folder, base)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _discard(tmp)
        raise
    _replace(tmp, path)
    _fsync_folder(folder)


def save(path, tree):
    """Write ``tree`` (a pytree of arrays of any backend) to ``path``.

    Arrays are copied to the host; dtypes and shapes are kept exactly.  The
    write is atomic and durable (see the module documentation): ``path``
    holds the previous or the new checkpoint, never a partial one, and no
    other file is touched.  Raises ``TypeError`` for leaves that cannot be
    saved and ``ValueError`` for a tree deeper than :data:`MAX_DEPTH` or
    one that contains itself.  Returns ``path``.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"save: path must be a str or os.PathLike naming the file to write; "
                        f"got {type(path).__name__}")
    target = os.fsdecode(os.fspath(path))
    arrays = []
    structure = _encode(tree, arrays)
    _atomic_write(target, lambda f: _write_checkpoint(f, structure, arrays))
    return path


# ----------------------------------------------------------------------------- load
# what zipfile, zlib and numpy raise on a damaged or hostile file
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
           NotImplementedError, struct.error, zlib.error, KeyError, IndexError, OverflowError, TypeError,
           SyntaxError, RecursionError)


class _MemberReader:
    """Reads one zip member in bounded pieces, hashing every byte read."""

    def __init__(self, stream, limit):
        self._stream, self._limit = stream, limit
        self.count = 0
        self.sha256 = hashlib.sha256()

    def read(self, n=-1):
        n = self._limit - self.count if n is None or n < 0 else min(n, self._limit - self.count)
        data = self._stream.read(min(n, _CHUNK)) if n > 0 else b""
        self.count += len(data)
        self.sha256.update(data)
        return data

    def readinto(self, view):
        """Fill ``view`` (a byte memoryview) completely; ``False`` if the member ended first."""
        pos = 0
        while pos < len(view):
            n = self._stream.readinto(view[pos:pos + _CHUNK])
            if not n:
                return False
            self.sha256.update(view[pos:pos + n])
            pos += n
        self.count += pos
        return True


def _open_archive(path):
    if hasattr(path, "read") and hasattr(path, "seek"):
        return path, False
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise CheckpointError(f"load: path must be a str, os.PathLike or binary file naming a checkpoint; "
                              f"got {type(path).__name__}")
    return open(path, "rb"), True  # a missing file or folder stays an OSError: nothing to load


def _members(zf, path, file_size):
    infos = {}
    for info in zf.infolist():
        name = info.filename
        if name in infos:
            raise CheckpointError(f"{path}: member {name} appears twice in the archive")
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{path}: member {name} is encrypted; checkpoints are never encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"{path}: member {name} uses compression method {info.compress_type}; "
                                  "only stored (0) and deflated (8) members are read")
        if info.header_offset + info.compress_size > file_size:
            raise CheckpointError(f"{path}: member {name} claims {info.compress_size} bytes beyond the end "
                                  "of the file (truncated or damaged)")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise CheckpointError(f"{path}: stored member {name} has inconsistent sizes "
                                  f"({info.compress_size} stored, {info.file_size} declared)")
        if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 64:
            raise CheckpointError(f"{path}: member {name} claims {info.file_size} bytes from "
                                  f"{info.compress_size} compressed bytes, more than DEFLATE can expand")
        infos[name] = info
    return infos


def _read_manifest(zf, infos, path):
    info = infos.get(_MANIFEST)
    if info is None:
        raise CheckpointError(f"{path}: no {_MANIFEST}; not a portable_ml checkpoint")
    if info.file_size > MAX_MANIFEST_BYTES:
        raise CheckpointError(f"{path}: {_MANIFEST} declares {info.file_size} bytes; a manifest has at most "
                              f"{MAX_MANIFEST_BYTES} bytes")
    data = bytearray(info.file_size)
    try:
        with zf.open(info) as stream:
            if not _MemberReader(stream, info.file_size).readinto(memoryview(data)) or stream.read(1):
                raise CheckpointError(f"{path}: {_MANIFEST} does not have its declared size (damaged)")
    except CheckpointError:
        raise
    except _DAMAGE as exc:
        raise CheckpointError(f"{path}: {_MANIFEST} is damaged ({exc})") from None
    try:
        manifest = json.loads(data)
    except RecursionError:
        raise CheckpointError(f"{path}: {_MANIFEST} is nested too deeply to parse") from None
    except ValueError as exc:  # also UnicodeDecodeError
        raise CheckpointError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "portable_ml.checkpoint":
        raise CheckpointError(f"{path}: not a portable_ml checkpoint (no portable_ml manifest)")
    version = manifest.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version!r}; "
                              f"this library reads version {FORMAT_VERSION}")
    for key in ("tree", "arrays"):
        if key not in manifest:
            raise CheckpointError(f"{path}: the manifest has no {key!r} entry")
    return manifest


def _is_int(x):
    return type(x) is int


def _check_entries(manifest, infos, path):
    """Validated ``(name, dtype, shape, nbytes, sha256)`` per array; every member accounted for."""
    entries = manifest["arrays"]
    if not isinstance(entries, list):
        raise CheckpointError(f"{path}: manifest 'arrays' must be a list; got {type(entries).__name__}")
    out, seen = [], set()
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise CheckpointError(f"{path}: manifest array {i} must be an object; got {type(e).__name__}")
        missing = [k for k in ("file", "dtype", "shape", "sha256") if k not in e]
        if missing:
            raise CheckpointError(f"{path}: manifest array {i} has no {', '.join(map(repr, missing))}")
        name, dtype_str, shape, digest = e["file"], e["dtype"], e["shape"], e["sha256"]
        if not isinstance(name, str) or name == _MANIFEST:
            raise CheckpointError(f"{path}: manifest array {i} names the member {name!r}")
        if name in seen:
            count = sum(1 for x in entries if isinstance(x, dict) and x.get("file") == name)
            raise CheckpointError(f"{path}: member {name} is listed {count} times in the manifest; "
                                  "each array has its own member")
        seen.add(name)
        if name not in infos:
            raise CheckpointError(f"{path}: member {name} is missing")
        dtype = None
        if isinstance(dtype_str, str) and len(dtype_str) <= 8:
            try:
                dtype = np.dtype(dtype_str)
            except (TypeError, ValueError, SyntaxError):
                dtype = None
        if dtype is None or dtype.kind not in _KINDS or dtype.fields is not None or dtype.str != dtype_str:
            raise CheckpointError(f"{path}: member {name} has dtype {dtype_str!r}; checkpoints hold numbers "
                                  "and booleans only (dtype kinds b, i, u, f, c)")
        if (not isinstance(shape, list) or len(shape) > 64
                or not all(_is_int(d) and d >= 0 for d in shape)):
            raise CheckpointError(f"{path}: member {name} has shape {shape!r}; expected a list of at most "
                                  "64 non-negative integers")
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise CheckpointError(f"{path}: member {name} has no valid SHA-256 in the manifest")
        nbytes = math.prod(shape) * dtype.itemsize
        header = infos[name].file_size - nbytes
        if not _NPY_PREFIX < header <= _NPY_PREFIX + _MAX_NPY_HEADER:
            raise CheckpointError(f"{path}: member {name} declares {infos[name].file_size} bytes, but the "
                                  f"manifest's {dtype.str}{shape} array takes {nbytes} bytes plus an .npy header")
        out.append((name, dtype, tuple(shape), nbytes, digest))
    extra = sorted(set(infos) - seen - {_MANIFEST})
    if extra:
        raise CheckpointError(f"{path}: member {extra[0]} is not described by the manifest")
    return out


def _read_array(zf, info, entry, path):
    name, dtype, shape, nbytes, digest = entry
    try:
        with zf.open(info) as stream:
            reader = _MemberReader(stream, info.file_size - nbytes)
            try:
                version = np.lib.format.read_magic(reader)
                if version == (1, 0):
                    h_shape, fortran, h_dtype = np.lib.format.read_array_header_1_0(
                        reader, max_header_size=_MAX_NPY_HEADER)
                elif version == (2, 0):
                    h_shape, fortran, h_dtype = np.lib.format.read_array_header_2_0(
                        reader, max_header_size=_MAX_NPY_HEADER)
                else:
                    raise CheckpointError(f"{path}: member {name} is .npy format version {version}; "
                                          "expected 1.0 or 2.0")
            except CheckpointError:
                raise
            except _DAMAGE as exc:
                raise CheckpointError(f"{path}: member {name} has no valid .npy header ({exc})") from None
            if h_dtype.str != dtype.str or h_dtype.fields is not None or h_dtype.kind not in _KINDS:
                raise CheckpointError(f"{path}: member {name} holds dtype {h_dtype}, manifest says {dtype.str}")
            if not all(_is_int(d) for d in h_shape) or tuple(h_shape) != shape:
                raise CheckpointError(f"{path}: member {name} has shape {h_shape}, manifest says {list(shape)}")
            if fortran:
                raise CheckpointError(f"{path}: member {name} is stored in Fortran order; save writes C order")
            if reader.count + nbytes != info.file_size:
                raise CheckpointError(f"{path}: member {name} declares {info.file_size} bytes; its header "
                                      f"({reader.count} bytes) and data ({nbytes} bytes) do not add up")
            try:
                arr = np.empty(shape, dtype)
            except MemoryError:
                raise MemoryError(f"{path}: cannot allocate the {nbytes} bytes of member {name} "
                                  f"({dtype.str}{list(shape)})") from None
            complete = reader.readinto(memoryview(arr.reshape(-1).view(np.uint8)))
            if not complete or stream.read(1):
                raise CheckpointError(f"{path}: member {name} does not hold its declared {nbytes} data bytes "
                                      "(truncated or damaged)")
    except CheckpointError:
        raise
    except _DAMAGE as exc:
        raise CheckpointError(f"{path}: member {name} is damaged ({exc})") from None
    if reader.sha256.hexdigest() != digest:
        raise CheckpointError(f"{path}: member {name} does not match its recorded SHA-256 "
                              "(the file was changed or damaged)")
    if dtype.kind == "b" and arr.size and arr.reshape(-1).view(np.uint8).max() > 1:
        raise CheckpointError(f"{path}: boolean member {name} holds bytes other than 0 and 1")
    return arr


def _plan(tree, n_arrays, path):
    """Validate the manifest tree; a post-order program that :func:`_build` runs.

    Iterative, so any depth that the JSON parser accepted is decoded
    without recursion.  Each array index must be used exactly once.
    """
    program = []
    used = [False] * n_arrays
    classes = {}
    stack = [(tree, None)]
    while stack:
        node, link = stack.pop()
        if node is _EXIT:  # a finished container: emit its instruction
            program.append(link)
            continue
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            raise CheckpointError(f"{path}: manifest tree node at {_where(link)} is not a node object")
        t, v = node["t"], node.get("v")
        if t == "none":
            program.append(("value", None))
        elif t == "array":
            i = node.get("i")
            if not _is_int(i) or not 0 <= i < n_arrays:
                raise CheckpointError(f"{path}: manifest tree node at {_where(link)} refers to array {i!r}; "
                                      f"expected an integer index in [0, {n_arrays})")
            if used[i]:
                raise CheckpointError(f"{path}: array {i} is used twice in the manifest tree")
            used[i] = True
            program.append(("array", i))
        elif t in ("bool", "int", "str"):
            expected = {"bool": bool, "int": int, "str": str}[t]
            if type(v) is not expected:
                raise CheckpointError(f"{path}: manifest tree node at {_where(link)} is a {t} "
                                      f"holding {type(v).__name__}")
            program.append(("value", v))
        elif t == "float":
            try:
                if not isinstance(v, str) or len(v) > 64:
                    raise ValueError
                program.append(("value", float(v)))
            except ValueError:
                raise CheckpointError(f"{path}: manifest tree node at {_where(link)} is a float "
                                      f"holding {v!r}") from None
        elif t in ("dict", "list", "tuple", "namedtuple"):
            if t == "dict":
                if not isinstance(v, dict):
                    raise CheckpointError(f"{path}: manifest dict node at {_where(link)} holds {type(v).__name__}, "
                                          "not an object")
                keys, children = tuple(v), list(v.values())
                op = ("dict", keys)
            else:
                if not isinstance(v, list):
                    raise CheckpointError(f"{path}: manifest {t} node at {_where(link)} holds {type(v).__name__}, "
                                          "not a list")
                keys, children = range(len(v)), v
                op = (t, len(v))
                if t == "namedtuple":
                    op = ("namedtuple", len(v), _namedtuple(node, classes, link, path))
            stack.append((_EXIT, op))
            stack.extend((c, (k, link)) for k, c in zip(reversed(keys), reversed(children)))
        else:
            raise CheckpointError(f"{path}: unknown node type {t!r} at {_where(link)} in the manifest tree")
    unused = [i for i, u in enumerate(used) if not u]
    if unused:
        raise CheckpointError(f"{path}: manifest array {unused[0]} is not used by the tree")
    return program


def _namedtuple(node, classes, link, path):
    name, fields, v = node.get("name"), node.get("fields"), node["v"]
    if (not isinstance(name, str) or not isinstance(fields, list)
            or not all(isinstance(f, str) for f in fields) or len(fields) != len(v)):
        raise CheckpointError(f"{path}: namedtuple node at {_where(link)} needs a name and one field name per value")
    key = (name, tuple(fields))
    if key not in classes:
        bad = [s for s in (name, *fields) if not s.isidentifier() or keyword.iskeyword(s)]
        try:
            if bad:
                raise ValueError(f"{bad[0]!r} is not a valid identifier")
            classes[key] = collections.namedtuple(name, fields)
        except ValueError as exc:
            raise CheckpointError(f"{path}: namedtuple node at {_where(link)} has invalid names ({exc})") from None
    return classes[key]


def _build(program, leaves):
    stack = []
    for op in program:
        kind = op[0]
        if kind == "value":
            stack.append(op[1])
        elif kind == "array":
            stack.append(leaves[op[1]])
        elif kind == "dict":
            n = len(op[1])
            values = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            stack.append(dict(zip(op[1], values)))
        else:
            n = op[1]
            values = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            stack.append(values if kind == "list" else tuple(values) if kind == "tuple" else op[2](*values))
    return stack[0]


def load(path, backend=None, device=None):
    """Read a checkpoint written by :func:`save` onto ``backend`` / ``device``.

    ``backend`` and ``device`` are as for :func:`portable_ml.get_backend`
    (default: the current default backend); ``path`` may also be a binary
    file object.  Raises :class:`CheckpointError` for a truncated, damaged,
    altered, malformed or foreign file, before allocating anything the file
    only claims (see the module documentation); a missing file stays an
    ``OSError``.
    """
    be = get_backend(backend, device)
    f, own = _open_archive(path)
    try:
        try:
            f.seek(0, os.SEEK_END)
            file_size = f.tell()
            f.seek(0)
            zf = zipfile.ZipFile(f)
        except _DAMAGE as exc:
            raise CheckpointError(f"{path}: not a readable checkpoint archive ({exc}); "
                                  "truncated or not a checkpoint") from None
        with zf:
            infos = _members(zf, path, file_size)
            manifest = _read_manifest(zf, infos, path)
            entries = _check_entries(manifest, infos, path)
            program = _plan(manifest["tree"], len(entries), path)
            leaves = []
            for entry in entries:
                host = _read_array(zf, infos[entry[0]], entry, path)
                leaves.append(be.asarray(host))
                del host
    finally:
        if own:
            f.close()
    return _build(program, leaves)
