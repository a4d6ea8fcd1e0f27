"""The import graph of src/hardhouse has no cycle: not between packages (provision and verify
share hardhouse.reach instead of importing each other) and not between modules (a cycle hidden
by an import inside a function counts too). Only imports under `if TYPE_CHECKING:` are left
out: they never run."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_graph() -> dict[str, set[str]]:
    """module -> the hardhouse modules it imports when it runs."""
    modules = {_module_name(path): path for path in (SRC / "hardhouse").rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        # `from hardhouse.render import surface` imports the submodule, not just the package.
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]

    def walk(module: str, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                graph[module].update(t for t in targets(child) if t in modules and t != module)
            walk(module, child)

    for module, path in modules.items():
        walk(module, ast.parse(path.read_text()))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_two_modules_import_each_other_even_indirectly() -> None:
    graph = import_graph()
    # A package's __init__ re-exporting its modules is not a cycle of meaning; the modules
    # importing their own package's __init__ would be, and counts.
    assert _cycles(graph) == []


def test_no_two_packages_import_each_other_even_indirectly() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, imported in import_graph().items():
        packages[_package(module)].update(_package(m) for m in imported if _package(m) != _package(module))
    assert _cycles(packages) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The two tests above cannot pass by a finder that finds nothing."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
