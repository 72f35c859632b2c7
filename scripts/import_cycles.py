"""Count the import cycles among mlwarden's modules that run at import time.

Only imports executed when a module loads count: imports inside functions (the lazy imports
that keep ``import mlwarden`` fast) and under ``if TYPE_CHECKING:`` run later or never, so
they cannot deadlock a partial module. grimp (import-linter's graph library) finds the
imports; the standard library's ``ast`` tells which of them sit at module level.

A cycle here is a strongly connected component of the module-level import graph with more
than one module; the script prints one shortest loop through each. Exit status 1 if any.

    python scripts/import_cycles.py [--json] [--lazy] [--type-checking]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import grimp

PACKAGE = "mlwarden"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_import_lines(tree: ast.Module, type_checking: bool) -> set[int]:
    """Line numbers of the imports that run when the module loads."""
    lines: set[int] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import | ast.ImportFrom):
                lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue  # runs on call, not on import
            elif isinstance(node, ast.If):
                if type_checking or not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With | ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return lines


def module_level_graph(
    package: str = PACKAGE, *, lazy: bool = False, type_checking: bool = False
) -> dict[str, set[str]]:
    """importer -> modules it imports at module level, within ``package``.

    ``lazy`` also counts imports inside functions, ``type_checking`` those under
    ``if TYPE_CHECKING:`` (for the before/after figures; neither runs at import time).
    """
    graph = grimp.build_graph(
        package, exclude_type_checking_imports=not type_checking, cache_dir=None
    )
    if lazy:
        every = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
        return _with_parent_packages(every)
    root = Path(__import__(package).__file__).parent  # type: ignore[arg-type]  # a package has a file
    edges: dict[str, set[str]] = {module: set() for module in graph.modules}
    for importer in graph.modules:
        relative = importer.split(".")[1:]
        path = root.joinpath(*relative)
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        top_lines = _module_level_import_lines(
            ast.parse(file.read_text(encoding="utf-8")), type_checking
        )
        for imported in graph.find_modules_directly_imported_by(importer):
            details = graph.get_import_details(importer=importer, imported=imported)
            if any(d["line_number"] in top_lines for d in details):
                edges[importer].add(imported)
    return _with_parent_packages(edges)


def _with_parent_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b.c`` first runs ``a/__init__`` and ``a/b/__init__``: edges to those too.

    Not to the importer's own ancestors, which are already loading when it runs (a package
    importing its children is the normal pattern, not a cycle).
    """
    full: dict[str, set[str]] = {}
    for importer, targets in edges.items():
        own = {importer.rsplit(".", i)[0] for i in range(1, importer.count(".") + 1)}
        reached = set(targets)
        for target in targets:
            parts = target.split(".")
            reached.update(".".join(parts[:i]) for i in range(1, len(parts)))
        full[importer] = {t for t in reached - own - {importer} if t in edges}
    return full


def _components(edges: dict[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's strongly connected components, iteratively (the graph has ~300 nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
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
                yield sorted(component)


def _shortest_loop(edges: dict[str, set[str]], members: list[str]) -> list[str]:
    """A shortest path from the first member back to itself inside the component."""
    inside = set(members)
    start = members[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node] & inside):
                if child == start:
                    loop = [node]
                    while loop[-1] != start:
                        loop.append(previous[loop[-1]])
                    return [start, *reversed(loop[:-1]), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return members


def find_cycles(
    package: str = PACKAGE, *, lazy: bool = False, type_checking: bool = False
) -> list[list[str]]:
    """One shortest loop per module-level import cycle, sorted."""
    edges = module_level_graph(package, lazy=lazy, type_checking=type_checking)
    loops = [_shortest_loop(edges, c) for c in _components(edges) if len(c) > 1]
    return sorted(loops)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--lazy", action="store_true", help="count imports inside functions too")
    parser.add_argument(
        "--type-checking", action="store_true", help="count `if TYPE_CHECKING:` imports too"
    )
    args = parser.parse_args()
    cycles = find_cycles(lazy=args.lazy, type_checking=args.type_checking)
    if args.json:
        print(json.dumps({"cycles": len(cycles), "loops": cycles}))
    else:
        for loop in cycles:
            print(" -> ".join(loop))
        print(f"{len(cycles)} module-level import cycle(s) in {PACKAGE}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
