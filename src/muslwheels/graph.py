"""Dependency graphs: the order to build in, cycles, what a node needs. Pure.

A graph is given by its nodes and a function from a node to the nodes it depends on (in the order
written); the callers (config's modules, build's and publish's targets) keep their own error
messages.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

N = TypeVar("N", bound=Hashable)


class CycleFound(Exception, Generic[N]):
    """A dependency cycle: ``path`` runs along it and ends where it starts."""

    def __init__(self, path: list[N]) -> None:
        super().__init__(path)
        self.path = path


def dependency_order(roots: Iterable[N], depends: Callable[[N], Iterable[N]]) -> list[N]:
    """``roots`` and everything they depend on, each once, every node after all it depends on:
    depth-first post-order, roots in the order given and each node's dependencies in the order
    ``depends`` gives them. Raises ``CycleFound`` with the first cycle met on that walk."""
    order: list[N] = []
    done: set[N] = set()
    path: list[N] = []

    def visit(node: N) -> None:
        if node in done:
            return
        if node in path:
            raise CycleFound([*path[path.index(node) :], node])
        path.append(node)
        for dep in depends(node):
            visit(dep)
        path.pop()
        done.add(node)
        order.append(node)

    for root in roots:
        visit(root)
    return order


def find_cycle(roots: Iterable[N], depends: Callable[[N], Iterable[N]]) -> list[N] | None:
    """The first dependency cycle reachable from ``roots`` (first node == last), or None."""
    try:
        dependency_order(roots, depends)
    except CycleFound as found:
        path: list[N] = found.path
        return path
    return None


def transitive_deps(node: N, depends: Callable[[N], Iterable[N]]) -> list[N]:
    """Everything ``node`` depends on, directly or not: nearest first, each once."""
    found: list[N] = []
    queue = list(depends(node))
    while queue:
        dep = queue.pop(0)
        if dep not in found:
            found.append(dep)
            queue.extend(depends(dep))
    return found
