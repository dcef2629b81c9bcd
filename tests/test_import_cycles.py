"""No import cycles among the management layers (api, services, resources, db, storage).

Every ``import`` counts, also those inside functions: a cycle hidden in a
function body is still a cycle of the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import openvod

PACKAGE = Path(openvod.__file__).parent
CHECKED = ("openvod.api", "openvod.services", "openvod.resources", "openvod.db",
           "openvod.storage", "openvod.errors", "openvod.clock", "openvod.context")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The openvod modules ``path`` imports (``from a.b import c`` counts a.b and a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found & modules


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) - {name} for name, path in paths.items()}


def cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start, if there is one (depth-first, iterative)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def test_no_import_cycles_in_the_management_layers() -> None:
    graph = import_graph()
    checked = [m for m in graph if m.startswith(CHECKED)]
    assert len(checked) > 30
    cycles = [c for m in checked if (c := cycle_through(graph, m)) is not None]
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)
