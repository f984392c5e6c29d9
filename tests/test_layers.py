"""Imports between gridsvc packages point one way (issue 13, item 2; ../shared/context/LAYERS.md).

The graph is built from the AST of every module, so an import hidden inside a function (the
usual way to dodge a cycle at import time) counts like a top-level one. A top-level module
``gridsvc/x.py`` is its own package ``x``; ``gridsvc/<pkg>/...`` is package ``<pkg>``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import gridsvc

ROOT = Path(gridsvc.__file__).parent

# Core knows no domain: these import only each other (and third-party libraries).
CORE = {"errors", "settings", "database", "observability", "clock", "jsonresp", "listener"}

# Edges still allowed while other work lands (none left: the webhook and whistles routers
# take their helpers from events/flows.py, auth/actor.py and geo/points.py).
ALLOWED_FOR_NOW: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    """Absolute dotted name for ``from X import ...`` (relative imports resolved)."""
    if not node.level:
        return node.module
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_in(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every gridsvc module the source imports, at any depth (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node)
            if target is None:
                continue
            found.add(target)
            # `from gridsvc.pkg import mod` names a module, not just an attribute.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("gridsvc.") and _exists(name)}


def _exists(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _package(module: str) -> str | None:
    """``gridsvc.x.y`` -> ``x``; ``gridsvc.x`` (module or package) -> ``x``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def module_edges() -> dict[str, set[str]]:
    """module -> gridsvc modules it imports."""
    return {
        mod: imports_in(path.read_text(encoding="utf-8"), mod, is_package=path.name == "__init__.py")
        for mod, path in _modules().items()
    }


def package_graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the module-level imports that make that edge."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for mod, targets in module_edges().items():
        src = _package(mod)
        if src is None:
            continue
        graph[src]  # every package is a node, also one importing nothing
        for target in sorted(targets):
            dst = _package(target)
            if dst is None or dst == src or _allowed(mod, target):
                continue
            graph[src][dst].append(f"{mod} -> {target}")
    return graph


def _short(module: str) -> str:
    return module.removeprefix("gridsvc.")


def _allowed(mod: str, target: str) -> bool:
    src, dst = _short(mod), _short(target)
    for a, b in ALLOWED_FOR_NOW:
        if (src == a or src.startswith(a + ".")) and (dst == b or dst.startswith(b + ".")):
            return True
    return False


def strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Tarjan's algorithm; components of more than one package are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _a_cycle(graph: dict[str, dict[str, list[str]]], comp: list[str]) -> list[str]:
    """One concrete cycle inside a strongly connected component, as readable import lines."""
    members = set(comp)
    start = comp[0]
    # Breadth-first from start back to start, staying inside the component.
    prev: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt = []
        for v in frontier:
            for w in graph[v]:
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    path.reverse()
                    path.append(start)
                    return [f"{a} -> {b}   ({graph[a][b][0]})" for a, b in pairwise(path)]
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return []


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    cycles = strongly_connected(graph)
    report = []
    for comp in cycles:
        report.append(f"{len(comp)} packages in one cycle: {', '.join(comp)}")
        report.extend("    " + line for line in _a_cycle(graph, comp))
    assert not cycles, "import cycles between gridsvc packages:\n" + "\n".join(report)


def test_core_imports_no_domain() -> None:
    bad = [
        line
        for src, targets in package_graph().items()
        if src in CORE
        for dst, lines in targets.items()
        if dst not in CORE
        for line in lines
    ]
    assert not bad, "core modules import outside core:\n" + "\n".join(bad)


def _is_api(module: str) -> bool:
    return module.endswith(".api") or ".api." in module


def test_no_api_module_imports_another_api_module() -> None:
    bad = [
        f"{_short(mod)} -> {_short(target)}"
        for mod, targets in module_edges().items()
        if _is_api(mod)
        for target in targets
        if _is_api(target) and target != mod and not _allowed(mod, target)
    ]
    assert not bad, "api modules importing api modules:\n" + "\n".join(sorted(bad))


def test_sub_clis_do_not_import_the_top_level_cli() -> None:
    """gridsvc/cli.py only assembles sub-CLIs; what they share lives in gridsvc/cli_support.py."""
    bad = [
        _short(mod)
        for mod, targets in module_edges().items()
        if mod != "gridsvc.cli" and "gridsvc.cli" in targets
    ]
    assert not bad, "modules importing gridsvc.cli (use gridsvc.cli_support):\n" + "\n".join(bad)


def test_the_checker_sees_every_kind_of_import() -> None:
    """Guard the guard: imports inside functions and relative imports are edges too."""
    source = (
        "import os\n"
        "def f():\n"
        "    from gridsvc.settings import Settings\n"
        "    import gridsvc.clock\n"
        "from ..events import service\n"
        "from . import queries\n"
    )
    assert imports_in(source, "gridsvc.squads.service") == {
        "gridsvc.settings",
        "gridsvc.clock",
        "gridsvc.events",
        "gridsvc.events.service",
        "gridsvc.squads",
        "gridsvc.squads.queries",
    }
    graph = {"a": {"b": ["a -> b"]}, "b": {"c": ["b -> c"]}, "c": {"a": ["c -> a"]}, "d": {}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert _a_cycle(graph, ["a", "b", "c"])[0].startswith("a -> b")
