"""The module graph of ide3d_backend, layer by layer; fails on a cycle or an upward import.

    python tools/import_graph.py [--root ide3d_backend]

Reads the sources with `ast` (nothing is imported), follows relative and absolute imports
of the package (also the lazy ones inside functions), prints every module with its layer
and the modules it imports, and exits 1 when a module imports one on a higher layer or
when the graph has a cycle (a module importing another of its own layer is allowed, a
loop is not). Every module must belong to a layer: LAYERS below, matched by the longest
dotted prefix (so `service` covers `service.routes.jobs`).
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = "ide3d_backend"

# Lowest first. A module may import modules of its own layer or of lower ones.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundations", ("", "config", "semantics", "camera", "checkpoint", "imaging", "assets", "perceptual",
                     "limits")),
    ("model", ("model",)),
    ("networks", ("api",)),
    ("fields", ("style", "encoding", "views", "mesh", "export", "preprocess", "photo", "guidance", "texture", "metrics", "identity", "data",
                "synthheads")),
    ("algorithms", ("inversion", "editing", "texturing")),
    ("sources", ("sources",)),
    ("session", ("session",)),
    ("commands", ("engine_cli", "demo")),
    ("service", ("service",)),
    ("cli", ("cli",)),
]


def module_name(path: Path, root: Path) -> str:
    """Dotted name inside the package ('' is the package itself)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            hit = module == p or (p and module.startswith(p + "."))
            if hit and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def imports_of(path: Path, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package modules `path` imports (resolving `from . import x` to module x when x is one)."""
    tree = ast.parse(path.read_text(), str(path))
    here = module.split(".") if module else []
    base_pkg = here if is_package else here[:-1]
    found: set[str] = set()

    def add(name: str, names=()):
        for n in names:  # `from pkg import submodule`
            sub = f"{name}.{n}" if name else n
            if sub in modules:
                found.add(sub)
                continue
            if name in modules:
                found.add(name)
        if not names and name in modules:
            found.add(name)
        elif not names:  # `import pkg.a.b` of a non-module path: its longest module prefix
            parts = name.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts:
                found.add(".".join(parts))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
                    add(a.name[len(PACKAGE) + 1:])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base_pkg[:len(base_pkg) - (node.level - 1)] if node.level > 1 else base_pkg
                name = ".".join(anchor + (node.module.split(".") if node.module else []))
            elif node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                name = node.module[len(PACKAGE) + 1:]
            else:
                continue
            add(name, [a.name for a in node.names])
    found.discard(module)
    return found


def build_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}
    modules = set(files)
    return {m: imports_of(p, m, p.name == "__init__.py", modules) for m, p in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def check(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for m in sorted(graph):
        lm = layer_of(m)
        if lm is None:
            problems.append(f"{PACKAGE}.{m or '__init__'} belongs to no layer (add it to LAYERS)")
            continue
        for n in sorted(graph[m]):
            ln = layer_of(n)
            if ln is not None and ln > lm:
                problems.append(f"upward import: {m or '__init__'} ({LAYERS[lm][0]}) imports {n} ({LAYERS[ln][0]})")
    cycle = find_cycle(graph)
    if cycle:
        problems.append("cycle: " + " -> ".join(cycle))
    return problems


def render(graph: dict[str, set[str]]) -> str:
    lines = []
    for i, (name, _) in enumerate(LAYERS):
        members = sorted(m for m in graph if layer_of(m) == i)
        if not members:
            continue
        lines.append(f"[{i}] {name}")
        for m in members:
            deps = ", ".join(sorted(n or "__init__" for n in graph[m])) or "-"
            lines.append(f"    {m or '__init__'} -> {deps}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent / PACKAGE)
    args = ap.parse_args(argv)
    graph = build_graph(args.root)
    print(render(graph))
    problems = check(graph)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if not problems:
        print(f"ok: {len(graph)} modules, {sum(map(len, graph.values()))} imports, no cycle, no upward import")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
