#!/usr/bin/env python3
"""Check that the files of src/engine import each other without a cycle.

Reads the `use super::x` and `crate::engine::x` paths of every file (tests
included) and looks for a cycle in the graph of file -> file. Prints the
modules in dependency order (each after everything it uses) so a newcomer
sees the layering, or the cycle found; exits 1 on a cycle.
"""

import re
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "src" / "engine"
# `super::x`, `super::{x, y::z}`, `crate::engine::x`, and the same inside braces.
USE = re.compile(r"\b(?:super|crate::engine)::(\{[^}]*\}|[a-z_][a-z0-9_]*)")


def imports(path: Path, modules: set[str]) -> set[str]:
    found = set()
    text = path.read_text()
    for m in USE.finditer(text):
        group = m.group(1)
        names = re.findall(r"(?:^|[{,\s])([a-z_][a-z0-9_]*)", group.strip("{}")) if group.startswith("{") else [group]
        found.update(n for n in names if n in modules)
    found.discard(path.stem)
    return found


def main() -> int:
    files = {p.stem: p for p in ENGINE.glob("*.rs") if p.stem != "mod"}
    graph = {name: imports(path, set(files)) for name, path in files.items()}
    order, state = [], {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep] if dep in stack else [node, dep]
            if dep not in state:
                cycle = visit(dep, stack + [dep])
                if cycle:
                    return cycle
        state[node] = "done"
        order.append(node)
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = visit(name, [name])
            if cycle:
                print("import cycle in src/engine: " + " -> ".join(cycle))
                return 1
    print("src/engine layers (each uses only those before it):")
    for name in order:
        deps = ", ".join(sorted(graph[name])) or "-"
        print(f"  {name:10} uses {deps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
