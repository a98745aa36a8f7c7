"""The shape of the package: no import cycle between any two modules, no module over 500 lines.

The layers, the providers' independence and the private modules are import-linter contracts (``make lint``,
``[tool.importlinter]`` in pyproject.toml); this adds what they do not say: a cycle through a package's
``__init__`` (a parent and its child importing each other), counted over every import — those under
``TYPE_CHECKING`` and inside functions too — on the same graph import-linter builds (grimp).
"""

from __future__ import annotations

from pathlib import Path

import grimp

import harness

MAX_LINES = 500
# The CLI loads the module of the invoked subcommand lazily (``harness.cli`` -> ``harness.cli.<verb>``); the
# verbs import the CLI's small helpers, never the package itself, so this is not a cycle — but it is the one
# place where a package imports its children by name at run time, and is allowed to.
LAZY_LOADERS = {"harness.cli"}


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph.find_modules_directly_imported_by(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in graph.modules:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.find_modules_directly_imported_by(nxt))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_any_modules() -> None:
    graph = grimp.build_graph("harness", include_external_packages=False, exclude_type_checking_imports=False)
    for loader in LAZY_LOADERS:
        for child in graph.find_children(loader):
            if graph.direct_import_exists(importer=loader, imported=child):
                graph.remove_import(importer=loader, imported=child)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_no_module_over_500_lines() -> None:
    root = Path(harness.__file__).parent
    long = {str(p.relative_to(root)): n for p in sorted(root.rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_providers_are_folders_with_the_same_inner_files() -> None:
    root = Path(harness.__file__).parent / "providers"
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert [p.name for p in folders] == ["kind", "local"]
    shapes = {p.name: sorted(f.name for f in p.glob("*.py")) for p in folders}
    assert shapes["kind"] == shapes["local"]
    assert {"provider.py", "prepare.py", "provision.py", "node.py", "upgrade.py"} <= set(shapes["kind"])
