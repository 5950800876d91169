"""Dependency graphs of resources: cycles, and a stable order."""

from __future__ import annotations

from collections.abc import Mapping, Set


def cycles(dependencies: Mapping[str, Set[str]]) -> list[list[str]]:
    """Every group of resources that depend on each other (Tarjan's strongly connected components),
    each sorted, in the order of their first member; a resource that depends on itself is a cycle too."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(root: str) -> None:
        # Iterative, so that a long chain of resources cannot overflow Python's recursion limit.
        work = [(root, iter(sorted(dependencies.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in dependencies:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(dependencies.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1 or node in dependencies.get(node, ()):
                    found.append(sorted(members))

    for name in dependencies:
        if name not in index:
            visit(name)
    return sorted(found, key=lambda group: list(dependencies).index(group[0]))


def order(dependencies: Mapping[str, Set[str]]) -> list[str]:
    """Dependencies first; otherwise in the mapping's order. The graph must have no cycle."""
    done: list[str] = []
    placed: set[str] = set()
    remaining = list(dependencies)
    while remaining:
        ready = [name for name in remaining if all(d in placed or d not in dependencies for d in dependencies[name])]
        if not ready:
            raise ValueError(f"dependency cycle among {remaining}")
        for name in ready:
            done.append(name)
            placed.add(name)
        remaining = [name for name in remaining if name not in placed]
    return done


def dependents(dependencies: Mapping[str, Set[str]]) -> dict[str, set[str]]:
    """The reverse graph: for each resource, those that depend on it (what must go before it is deleted)."""
    reverse: dict[str, set[str]] = {name: set() for name in dependencies}
    for name, needs in dependencies.items():
        for need in needs:
            if need in reverse:
                reverse[need].add(name)
    return reverse
