"""Source conventions of docs/contributing.md that a test can read off the code."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "portable_ml"

# The rule protocol of ``autodiff.defvjp`` is public and puts ``xp`` first: ``fwd(xp, *operands, **options)``,
# ``vjp(xp, g, out, operands, need, **options)``; autodiff's own rules (``_<op>_fwd``, ``_<op>_vjp``) follow it.
PROTOCOL_SUFFIXES = {"autodiff.py": ("_fwd", "_vjp")}


def _private_functions_with_positional_xp(path, protocol=()):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_class = {id(c) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for c in node.body}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or id(node) in in_class:
            continue
        if not node.name.startswith("_") or node.name.startswith("__"):
            continue
        names = [a.arg for a in node.args.posonlyargs + node.args.args]
        if protocol and node.name.endswith(protocol) and names[:1] == ["xp"]:
            continue
        if "xp" in names:
            yield f"{node.name} (line {node.lineno})"


def test_finder_sees_a_positional_xp(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def _a(x, xp):\n    pass\n\ndef _b(x, *, xp):\n    pass\n\nclass C:\n    def _m(self, xp):\n"
                   "        pass\n")
    assert list(_private_functions_with_positional_xp(src)) == ["_a (line 1)"]
    rules = tmp_path / "r.py"
    rules.write_text("def _neg_vjp(xp, g, out, vals, need):\n    pass\n\ndef _neg_grad(xp, g):\n    pass\n\n"
                     "def _bad_vjp(g, xp):\n    pass\n")
    assert list(_private_functions_with_positional_xp(rules, ("_fwd", "_vjp"))) == ["_neg_grad (line 4)",
                                                                                   "_bad_vjp (line 7)"]


@pytest.mark.parametrize("path", sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")))
def test_private_helpers_take_xp_as_a_keyword(path):
    """Private module-level and nested functions take ``xp`` keyword-only (``def _f(x, *, xp)``), so that
    a call can never pass it in the wrong slot; the ground's public helpers (``float_dtype(xp, ...)``)
    and methods are not covered, nor autodiff's rules, which follow the public ``defvjp`` protocol."""
    found = list(_private_functions_with_positional_xp(PACKAGE / path, PROTOCOL_SUFFIXES.get(path, ())))
    assert not found, f"{path}: private helpers taking xp positionally: {', '.join(found)}"
