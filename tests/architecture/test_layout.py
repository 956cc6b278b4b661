"""The layout keeps its promises (docs/ARCHITECTURE.md): no import cycles between explorer modules, ``metrics/``
stands alone, only the UI imports Streamlit, and the documented rooms exist."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UI = ("explorer/ui/", "explorer/app.py", "pages/")


def _modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file for every .py under ``package`` (``explorer`` or ``metrics``)."""
    out = {}
    for path in sorted((REPO / package).rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, *, module_level_only: bool) -> set[str]:
    """Absolute module names imported by a file (``from a.b import c`` yields ``a.b`` and ``a.b.c``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    if module_level_only:  # module level includes `if TYPE_CHECKING:`-free try/if blocks
        nodes = [n for top in tree.body for n in ast.walk(top)
                 if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def test_no_import_cycles_between_explorer_modules():
    modules = _modules("explorer")
    graph = {name: {m for m in _imports(path, module_level_only=True) if m in modules and m != name}
             for name, path in modules.items()}
    # a package's __init__ importing its own submodules is not a cycle with them
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_metrics_package_imports_nothing_from_explorer():
    offenders = {name: sorted(m for m in _imports(path, module_level_only=False) if m.split(".")[0] == "explorer")
                 for name, path in _modules("metrics").items()}
    assert not {k: v for k, v in offenders.items() if v}


def test_only_the_ui_imports_streamlit():
    offenders = []
    for name, path in _modules("explorer").items():
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(UI):
            continue
        if any(m.split(".")[0] == "streamlit" for m in _imports(path, module_level_only=False)):
            offenders.append(rel)
    assert not offenders


def test_the_documented_rooms_exist():
    doc = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    for room in ("explorer/project/", "explorer/io/", "explorer/datametrics/", "explorer/evaluation/",
                 "explorer/analysis/", "explorer/tasks/", "explorer/export/", "explorer/drawing/", "explorer/ui/",
                 "explorer/commands/", "pages/", "metrics/"):
        assert (REPO / room).is_dir(), room
        assert f"`{room}" in doc, f"{room} is not on the map"
    for path in ("explorer/tasks/base.py", "explorer/project/selection.py", "explorer/analysis/outcomes.py",
                 "explorer/io/scan.py", "explorer/io/splits.py", "explorer/io/records.py",
                 "explorer/datametrics/catalog.py", "explorer/project/paths.py"):
        assert (REPO / path).is_file(), path
