"""plan/graph.py: build order, cycles and what a node needs, on plain dictionaries."""

from __future__ import annotations

import pytest

from muslwheels.plan.graph import CycleFound, dependency_order, find_cycle, transitive_deps

GRAPH = {"top": ("mid", "side"), "mid": ("base",), "side": ("base",), "base": ()}


def deps(node: str) -> tuple[str, ...]:
    return GRAPH.get(node, ())


def test_dependency_order_puts_dependencies_first_each_once() -> None:
    assert dependency_order(["top"], deps) == ["base", "mid", "side", "top"]
    assert dependency_order(["side", "top", "side"], deps) == ["base", "side", "mid", "top"]
    assert dependency_order([], deps) == []


def test_first_cycle_on_the_walk_is_named() -> None:
    loops = {"x": ("a",), "a": ("b",), "b": ("c",), "c": ("a",)}
    with pytest.raises(CycleFound) as info:
        dependency_order(["x"], lambda n: loops[n])
    assert info.value.path == ["a", "b", "c", "a"]
    assert find_cycle(["x"], lambda n: loops[n]) == ["a", "b", "c", "a"]
    assert find_cycle(["me"], lambda n: ("me",)) == ["me", "me"]
    assert find_cycle(GRAPH, deps) is None


def test_transitive_deps_nearest_first_each_once() -> None:
    assert transitive_deps("top", deps) == ["mid", "side", "base"]
    assert transitive_deps("base", deps) == []
    assert transitive_deps("a", lambda n: {"a": ("b",), "b": ("a",)}[n]) == ["b", "a"]
