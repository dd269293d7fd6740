"""The layers of src/muslwheels as a contract (README "Development"): read from the source, not run.

    wiring    cli, console, options       flags + environment -> one run description; prints
      |         may import every layer
    work      build, publish, extract...  what a run does, through interfaces handed in
      |         may import work and logic
    adapters  index, registry, docker...  the outside world: HTTP, pip, Docker, files we keep
      |         may import adapters and logic
    logic     tags, config, plan...       pure rules: facts in as arguments, answers out
                may import logic only, and none of the outside-world libraries

Work and adapters never import each other: work gets an adapter as an argument (a Protocol).
Every module must be in the table; a new module fails this test until it is classified.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "muslwheels"

LOGIC = "logic"
ADAPTERS = "adapters"
WORK = "work"
WIRING = "wiring"

#: Which layers a module of each layer may import.
MAY_IMPORT: dict[str, frozenset[str]] = {
    LOGIC: frozenset({LOGIC}),
    ADAPTERS: frozenset({ADAPTERS, LOGIC}),
    WORK: frozenset({WORK, LOGIC}),
    WIRING: frozenset({WIRING, WORK, ADAPTERS, LOGIC}),
}

#: Libraries that reach the outside world: only adapters and wiring import them.
OUTSIDE_WORLD = frozenset(
    {"socket", "ssl", "http", "urllib.request", "urllib.error", "subprocess", "pip"}
    | {"python_on_whales", "pydantic"}
)

#: Every module of src/muslwheels and its layer.
LAYERS: dict[str, str] = {
    "__init__": LOGIC,
    # logic: pure rules
    "arches": LOGIC,
    "baseimage": LOGIC,
    "closure": LOGIC,
    "config": LOGIC,
    "cross": LOGIC,
    "emulation": LOGIC,
    "engine": LOGIC,
    "errors": LOGIC,
    "graph": LOGIC,
    "imageref": LOGIC,
    "lifecycle": LOGIC,
    "model": LOGIC,
    "plan": LOGIC,
    "tags": LOGIC,
    "verify": LOGIC,
    "names": LOGIC,
    "versions": LOGIC,
    "wheelfile": LOGIC,
    "wheelinfo": LOGIC,
    "workflow": LOGIC,
    # adapters: the outside world
    "cache": ADAPTERS,
    "docker": ADAPTERS,
    "index": ADAPTERS,
    "indexwheels": ADAPTERS,
    "jsonfile": ADAPTERS,
    "net": ADAPTERS,
    "pipconfig": ADAPTERS,
    "registry": ADAPTERS,
    "savedplan": ADAPTERS,
    # work: what a run does, through engine and registry interfaces
    "bake": WORK,
    "build": WORK,
    "build_inputs": WORK,
    "check": WORK,
    "extract": WORK,
    "landing": WORK,
    "publish": WORK,
    "outputs": WORK,
    "wheelindex": WORK,
    "wheelstore": WORK,
    "wheeltest": WORK,
    # wiring and the console
    "__main__": WIRING,
    "cli": WIRING,
    "program": WIRING,
    "console": WIRING,
    "options": WIRING,
}

#: Crossings that exist today, each with what removes it. The test fails when one disappears, so
#: the list only shrinks: delete the entry in the same change that removes the import.
KNOWN_CROSSINGS: dict[tuple[str, str], str] = {
    ("build_inputs", "pipconfig"): "IndexSettings (a plain value) moves to a logic module",
    ("build_inputs", "net"): "the pure loopback check moves to a logic module",
}

#: The one module that may read the process environment (README "Environment switches").
ENVIRONMENT_READER = "options"
_ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def _modules() -> dict[str, ast.Module]:
    return {
        path.stem: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for path in sorted(SRC.glob("*.py"))
    }


MODULES = _modules()


def _imports(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(our modules, other top-level libraries) a module imports, anywhere in it (inside
    functions and TYPE_CHECKING blocks too: those are dependencies all the same)."""
    ours: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1 or module.split(".")[0] == "muslwheels":
                base = module.removeprefix("muslwheels").lstrip(".")
                if base:
                    ours.add(base.split(".")[0])
                else:  # from . import x
                    ours.update(alias.name for alias in node.names)
            elif node.level == 0:
                others.add(module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "muslwheels":
                    ours.add(alias.name.split(".")[1])
                else:
                    others.add(alias.name)
    return ours, others


def _outside(library: str) -> bool:
    parts = library.split(".")
    return any(".".join(parts[:n]) in OUTSIDE_WORLD for n in range(1, len(parts) + 1))


def test_every_module_is_in_a_layer() -> None:
    unclassified = sorted(set(MODULES) - set(LAYERS))
    assert not unclassified, (
        f"src/muslwheels/{unclassified[0]}.py is in no layer: add it to LAYERS in "
        "tests/unit/test_layers.py (logic: pure rules, facts as arguments; adapters: HTTP, pip, "
        "Docker, files we keep; work: what a run does through interfaces handed in; wiring: "
        "cli/console/options) and keep its imports to the layers that one may use (MAY_IMPORT)"
    )
    gone = sorted(set(LAYERS) - set(MODULES))
    assert not gone, f"LAYERS names {gone}, which no longer exist: remove them from the table"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_stay_within_the_layers(name: str) -> None:
    layer = LAYERS.get(name)
    if layer is None:
        pytest.skip("unclassified: test_every_module_is_in_a_layer says what to do")
    ours, others = _imports(MODULES[name])
    allowed = MAY_IMPORT[layer]
    for imported in sorted(ours):
        other_layer = LAYERS.get(imported)
        if other_layer is None or other_layer in allowed or (name, imported) in KNOWN_CROSSINGS:
            continue
        pytest.fail(
            f"muslwheels.{name} ({layer}) imports muslwheels.{imported} ({other_layer}); "
            f"{layer} may import only {', '.join(sorted(allowed))}: move what it needs into a "
            "module of an allowed layer, or take it as an argument (a Protocol for an adapter)"
        )
    if layer in (LOGIC, WORK):
        reaching = sorted(lib for lib in others if _outside(lib))
        assert not reaching, (
            f"muslwheels.{name} ({layer}) imports {reaching[0]}, which reaches the outside "
            "world: that belongs in an adapter module, handed in as an argument"
        )


@pytest.mark.parametrize("crossing", sorted(KNOWN_CROSSINGS))
def test_known_crossings_still_exist(crossing: tuple[str, str]) -> None:
    importer, imported = crossing
    assert importer in MODULES and imported in _imports(MODULES[importer])[0], (
        f"muslwheels.{importer} no longer imports muslwheels.{imported}: delete "
        f"{crossing!r} from KNOWN_CROSSINGS in tests/unit/test_layers.py"
    )


def _reads_environment(tree: ast.Module) -> list[int]:
    lines: list[int] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _ENVIRONMENT_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in _ENVIRONMENT_NAMES for alias in node.names)
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("name", sorted(set(MODULES) - {ENVIRONMENT_READER}))
def test_only_the_run_options_read_the_environment(name: str) -> None:
    lines = _reads_environment(MODULES[name])
    assert not lines, (
        f"src/muslwheels/{name}.py:{lines[0]} reads the process environment; only "
        f"{ENVIRONMENT_READER}.py does: take the mapping as an argument (the run options carry it)"
    )


def test_the_environment_test_can_fail() -> None:
    assert _reads_environment(ast.parse("import os\nos.environ.get('X')\n")) == [2]
    assert _reads_environment(ast.parse("from os import getenv\n")) == [1]
    assert _imports(ast.parse("from .index import x\nimport socket\n")) == ({"index"}, {"socket"})
