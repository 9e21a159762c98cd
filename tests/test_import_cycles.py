"""No import cycles inside the core or inside any built-in plugin (grimp builds the graph;
imports made only for type checking are left out, since they never run)."""

import sys
from pathlib import Path

import grimp
import pytest

from qrplatform.testing.pytest_plugin import builtin_plugins

PLUGINS_DIR = Path(__file__).resolve().parent.parent / "plugins"


def packages() -> list[str]:
    from importlib.metadata import distribution

    from qrplatform.plugins import ENTRY_POINT_GROUP

    plugin_packages = {ep.value.split(".", 1)[0].split(":", 1)[0]
                       for ep in distribution("qrplatform").entry_points
                       if ep.group == ENTRY_POINT_GROUP and ep.name in builtin_plugins()}
    return ["qrplatform", *sorted(plugin_packages)]


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), with a path through each."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


@pytest.mark.parametrize("package", packages())
def test_no_import_cycles(package, monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS_DIR))
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    knots = cycles(graph)
    described = []
    for group in knots:
        members = set(group)
        edges = [f"{a} -> {b}" for a in group
                 for b in sorted(graph.find_modules_directly_imported_by(a)) if b in members]
        described.append("; ".join(edges))
    assert not knots, "import cycles:\n" + "\n".join(described)
