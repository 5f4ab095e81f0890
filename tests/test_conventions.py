"""Source conventions of docs/contributing.md that a test can read off the code."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "portable_ml"

# Modules whose private helpers still take ``xp`` positionally (the migration goes module by module).
XP_POSITIONAL_PENDING = {
    "activations.py", "autodiff.py", "losses.py", "metrics.py", "_kernels.py",
    "models/cluster.py", "models/_dask_kmeans.py",
}


def _private_functions_with_positional_xp(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_class = {id(c) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for c in node.body}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or id(node) in in_class:
            continue
        if not node.name.startswith("_") or node.name.startswith("__"):
            continue
        if "xp" in [a.arg for a in node.args.posonlyargs + node.args.args]:
            yield f"{node.name} (line {node.lineno})"


def test_finder_sees_a_positional_xp(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def _a(x, xp):\n    pass\n\ndef _b(x, *, xp):\n    pass\n\nclass C:\n    def _m(self, xp):\n"
                   "        pass\n")
    assert list(_private_functions_with_positional_xp(src)) == ["_a (line 1)"]


@pytest.mark.parametrize("path", sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")))
def test_private_helpers_take_xp_as_a_keyword(path):
    """Private module-level and nested functions take ``xp`` keyword-only (``def _f(x, *, xp)``), so that
    a call can never pass it in the wrong slot; the ground's public helpers (``float_dtype(xp, ...)``)
    and methods are not covered."""
    found = list(_private_functions_with_positional_xp(PACKAGE / path))
    if path in XP_POSITIONAL_PENDING:
        assert found, f"{path} has no positional xp left: remove it from XP_POSITIONAL_PENDING"
        pytest.skip(f"{path}: migration pending ({len(found)} helpers)")
    assert not found, f"{path}: private helpers taking xp positionally: {', '.join(found)}"
