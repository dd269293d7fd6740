"""Dependency graphs: the order to build in, cycles, what a node needs. Pure.

A graph is given by its nodes and a function from a node to the nodes it depends on (in the order
written); the callers (config's modules, build's and publish's targets) keep their own error
messages.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
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
    # an explicit stack, not recursion: a chain of thousands of modules is a valid input
    path: list[N] = []
    on_path: set[N] = set()
    stack: list[tuple[N, Iterator[N]]] = []

    def enter(node: N) -> None:
        path.append(node)
        on_path.add(node)
        stack.append((node, iter(depends(node))))

    for root in roots:
        if root in done:
            continue
        enter(root)
        while stack:
            node, pending = stack[-1]
            dep = next(pending, None)
            if dep is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
                order.append(node)
            elif dep in on_path:
                raise CycleFound([*path[path.index(dep) :], dep])
            elif dep not in done:
                enter(dep)
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
    found: dict[N, None] = {}
    queue = deque(depends(node))
    while queue:
        dep = queue.popleft()
        if dep not in found:
            found[dep] = None
            queue.extend(depends(dep))
    return list(found)
