"""The package's import graph: no cycles at import time, every module importable on its own.

``import_graph`` reads the module-level ``import`` statements of every module
of ``portable_ml`` with :mod:`ast` (statements inside functions run later and
are not followed; class bodies, ``if``/``try`` blocks at module level are).
"""

import ast
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import portable_ml

PACKAGE = pathlib.Path(portable_ml.__file__).parent


def _modules(root):
    """``{dotted name: (path, is_package)}`` for every ``.py`` file under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _import_time_nodes(tree):
    """Import statements executed when the module is imported (not those inside functions)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def import_graph(root=PACKAGE):
    """``{module: set of package modules it imports at import time}``.

    ``from P import m`` counts as importing the module ``P.m`` where there is
    one (else ``P``), and importing ``a.b.c`` counts as importing ``a`` and
    ``a.b`` too, except the importer's own parent packages (already imported
    before it runs).
    """
    modules = _modules(root)
    graph = {}
    for name, (path, is_package) in modules.items():
        here = name if is_package else name.rpartition(".")[0]
        edges = set()
        for node in _import_time_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = here
                for _ in range(node.level - 1 if node.level else 0):
                    base = base.rpartition(".")[0]
                target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                # ``from P import m`` imports the module P.m when there is one, else reads a name of P
                targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]
            for target in targets:
                # importing a.b.c runs the packages a and a.b first, unless they are our own parents
                parts = target.split(".")
                edges |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)
                          if not name.startswith(".".join(parts[:i]) + ".")}
        edges &= set(modules) - {name}
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One cycle of ``graph`` as a list ``[a, b, ..., a]``, or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_planted_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n\ndef f():\n    from . import c\n")
    (pkg / "sub" / "b.py").write_text("import os\ntry:\n    from ..c import x\nexcept ImportError:\n    pass\n")
    (pkg / "c.py").write_text("class K:\n    from . import a\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"}  # the import inside f() is not followed
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n")
    assert find_cycle(import_graph(pkg)) is None


def test_no_import_cycle_between_modules():
    graph = import_graph()
    assert len(graph) > 40 and graph["portable_ml.cli"] >= {"portable_ml.backend", "portable_ml._table"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_testing_does_not_import_the_command_line():
    """Not at import time, nor inside a function."""
    for path in sorted((PACKAGE / "testing").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert "cli" not in (node.module or "").split("."), f"{path.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                assert not any("cli" in a.name.split(".") for a in node.names), path.name


def test_every_module_imports_first_in_a_fresh_interpreter():
    """Each module imported first thing in its own process (forked from one that has imported nothing of ours)."""
    names = [n for n in sorted(_modules(PACKAGE)) if not n.endswith("__main__")]
    code = textwrap.dedent(
        """
        import importlib, os, sys, traceback
        failed = []
        for name in sys.argv[1:]:
            pid = os.fork()
            if pid == 0:
                try:
                    importlib.import_module(name)
                except BaseException:
                    traceback.print_exc()
                    os._exit(1)
                os._exit(0)
            if os.waitpid(pid, 0)[1] != 0:
                failed.append(name)
        print("failed:", failed)
        sys.exit(1 if failed else 0)
        """
    )
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    res = subprocess.run([sys.executable, "-c", code, *names], check=False, capture_output=True, text=True,
                         timeout=600, env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    assert res.returncode == 0, res.stdout + res.stderr[-4000:]


def test_every_runtime_dependency_is_imported_somewhere():
    """A dependency declared in pyproject.toml that no module imports is dead weight for every user."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    pyproject = PACKAGE.parent / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("not a source checkout")
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    wanted = {d.split(";")[0].split(">")[0].split("=")[0].split("[")[0].strip().replace("-", "_") for d in deps}
    imported = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert {"numpy", "array_api_compat"} <= wanted
    assert wanted <= imported, sorted(wanted - imported)


# ------------------------------------------------------------------ the suite without its reference libraries
_BLOCK_REFERENCES = textwrap.dedent('''
    import sys

    class _Blocked:
        """Import finder that makes the reference libraries look uninstalled."""

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {"scipy", "sklearn", "optax"}:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
            return None

    sys.meta_path.insert(0, _Blocked())
''')


@pytest.mark.slow
def test_test_suite_collects_without_scipy_scikit_learn_or_optax(tmp_path):
    """A missing reference library skips the tests that use it, never a module.

    Test modules import SciPy, scikit-learn and optax through
    ``tests.helpers.optional_module`` (on first use in a test), so collection
    succeeds where they are absent.  The libraries are hidden by an import
    finder installed through ``sitecustomize`` in the child process.
    """
    (tmp_path / "sitecustomize.py").write_text(_BLOCK_REFERENCES)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    tests = pathlib.Path(__file__).parent
    res = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-p", "no:xdist", "-p", "no:randomly", str(tests)],
                         cwd=tests.parent, env=env, capture_output=True, text=True, timeout=600)
    errors = [line for line in res.stdout.splitlines() if line.startswith("ERROR")]
    assert res.returncode == 0 and not errors, res.stdout[-3000:] + res.stderr[-3000:]
    probe = subprocess.run([sys.executable, "-c", "import sklearn"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0  # the finder did hide the library
