"""The layers of src/muslwheels as a contract (README "Development"): read from the source, not run.

    wiring    cli, console, options           flags + environment -> one run description; prints
      |         may import every layer
    work      build.scheduler, publish...     what a run does, through interfaces handed in
      |         may import work and logic
    adapters  sources.*, engine.docker...     the outside world: HTTP, pip, Docker, files we keep
      |         may import adapters and logic
    logic     plan.tags, config.modules...    pure rules: facts in as arguments, answers out
                may import logic only, and none of the outside-world libraries

Work and adapters never import each other: work gets an adapter as an argument (a Protocol).
Every module must be in the table; a new module fails this test until it is classified. The
subpackages group modules by concern (config, plan, sources, engine, build, verify, wheeltest,
publish); each declares which layers it may hold (PACKAGE_LAYERS).
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

#: Every module of src/muslwheels (dotted, below ``muslwheels``) and its layer.
LAYERS: dict[str, str] = {
    "__init__": LOGIC,
    # top: the wiring, and what every layer shares
    "__main__": WIRING,
    "cli": WIRING,
    "program": WIRING,
    "console": WIRING,
    "options": WIRING,
    "errors": LOGIC,
    "names": LOGIC,
    "outputs": WORK,
    # config/: what the user declared and the fixed facts
    "config": LOGIC,
    "config.arches": LOGIC,
    "config.imageref": LOGIC,
    "config.model": LOGIC,
    "config.modules": LOGIC,
    # plan/: tags -> ordered targets
    "plan": LOGIC,
    "plan.baseimage": LOGIC,
    "plan.graph": LOGIC,
    "plan.planner": LOGIC,
    "plan.savedplan": ADAPTERS,
    "plan.tags": LOGIC,
    "plan.versions": LOGIC,
    # sources/: HTTP, the cache, the package index, pip, the base-image registry
    "sources": LOGIC,
    "sources.cache": ADAPTERS,
    "sources.jsonfile": ADAPTERS,
    "sources.net": ADAPTERS,
    "sources.packageindex": ADAPTERS,
    "sources.pipconfig": ADAPTERS,
    "sources.pipdownload": ADAPTERS,
    "sources.registry": ADAPTERS,
    # engine/: the container engine
    "engine": LOGIC,
    "engine.buildxlog": LOGIC,
    "engine.docker": ADAPTERS,
    "engine.emulation": LOGIC,
    "engine.interface": LOGIC,
    # build/: a target's lifecycle, its mode, its inputs, the two drivers, landing
    "build": LOGIC,
    "build.bake": WORK,
    "build.inputs": WORK,
    "build.landing": WORK,
    "build.lifecycle": LOGIC,
    "build.modes": LOGIC,
    "build.scheduler": WORK,
    "build.wheelstore": WORK,
    # verify/: a wheel read and checked against its target, never run
    "verify": LOGIC,
    "verify.fit": LOGIC,
    "verify.wheelfile": LOGIC,
    "verify.wheelinfo": LOGIC,
    # wheeltest/: the wheel run on its own platform
    "wheeltest": LOGIC,
    "wheeltest.closure": LOGIC,
    "wheeltest.owners": LOGIC,
    "wheeltest.probe": LOGIC,
    "wheeltest.recipe": WORK,  # command_values of build.inputs
    "wheeltest.records": WORK,
    "wheeltest.step": WORK,
    # publish/: wheel images, extract, the static index, the CI workflow
    "publish": LOGIC,
    "publish.check": WORK,
    "publish.extract": WORK,
    "publish.images": WORK,
    "publish.staticindex": WORK,
    "publish.workflow": LOGIC,
}

#: The layers each subpackage may hold: a package is one concern, and which layers it spans is part
#: of the design (``sources`` talks to the world, ``config`` and ``verify`` never do).
PACKAGE_LAYERS: dict[str, frozenset[str]] = {
    "config": frozenset({LOGIC}),
    "plan": frozenset({LOGIC, ADAPTERS}),
    "sources": frozenset({LOGIC, ADAPTERS}),
    "engine": frozenset({LOGIC, ADAPTERS}),
    "build": frozenset({LOGIC, WORK}),
    "verify": frozenset({LOGIC}),
    "wheeltest": frozenset({LOGIC, WORK}),
    "publish": frozenset({LOGIC, WORK}),
}

#: Crossings that exist today, each with what removes it. The test fails when one disappears, so
#: the list only shrinks: delete the entry in the same change that removes the import.
KNOWN_CROSSINGS: dict[tuple[str, str], str] = {
    ("build.inputs", "sources.pipconfig"): "IndexSettings (a plain value) moves to a logic module",
    ("build.inputs", "sources.net"): "the pure loopback check moves to a logic module",
}

#: The one module that may read the process environment (README "Environment switches").
ENVIRONMENT_READER = "options"
_ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def _module_name(path: Path) -> str:
    """``build/scheduler.py`` -> ``build.scheduler``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    # docker/ is package data (a symlink to the tree's docker/), not code
    return {
        _module_name(path): path
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] != "docker"
    }


SOURCES = _sources()
MODULES = {
    name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for name, path in SOURCES.items()
}
PACKAGES = frozenset(name for name, path in SOURCES.items() if path.name == "__init__.py") - {
    "__init__"
}


def _where(name: str) -> str:
    return f"src/muslwheels/{SOURCES[name].relative_to(SRC)}" if name in SOURCES else name


def _resolve(importer: str, level: int, module: str) -> str:
    """The dotted name (below muslwheels) that ``from <level dots><module> import`` in
    ``importer`` names."""
    if level == 0:
        return module.removeprefix("muslwheels").lstrip(".")
    package = importer.split(".") if importer in PACKAGES else importer.split(".")[:-1]
    if importer == "__init__":
        package = []
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _imports(tree: ast.Module, importer: str = "__init__") -> tuple[set[str], set[str]]:
    """(our modules, other top-level libraries) a module imports, anywhere in it (inside
    functions and TYPE_CHECKING blocks too: those are dependencies all the same). ``from a import b``
    counts as importing ``a.b`` when that is a module of ours, else ``a``."""
    ours: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] == "muslwheels":
                base = _resolve(importer, node.level, module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}" if base else alias.name
                    if sub in SOURCES or not base:
                        ours.add(sub)
                    else:
                        ours.add(base)
            else:
                others.add(module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "muslwheels":
                    ours.add(alias.name.removeprefix("muslwheels."))
                else:
                    others.add(alias.name)
    return ours, others


def _outside(library: str) -> bool:
    parts = library.split(".")
    return any(".".join(parts[:n]) in OUTSIDE_WORLD for n in range(1, len(parts) + 1))


def test_every_module_is_in_a_layer() -> None:
    unclassified = sorted(set(MODULES) - set(LAYERS))
    assert not unclassified, (
        f"{_where(unclassified[0])} is in no layer: add it to LAYERS in "
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
    ours, others = _imports(MODULES[name], name)
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
    assert importer in MODULES and imported in _imports(MODULES[importer], importer)[0], (
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
        f"{_where(name)}:{lines[0]} reads the process environment; only "
        f"{_where(ENVIRONMENT_READER)} does: take the mapping as an argument (the run options carry it)"
    )


def test_the_environment_test_can_fail() -> None:
    assert _reads_environment(ast.parse("import os\nos.environ.get('X')\n")) == [2]
    assert _reads_environment(ast.parse("from os import getenv\n")) == [1]
    assert _imports(ast.parse("from .errors import x\nimport socket\n"), "cli") == (
        {"errors"},
        {"socket"},
    )
    sub = ast.parse(
        "from ..config import model\nfrom .modes import x\nfrom muslwheels.plan import y\n"
    )
    assert _imports(sub, "build.bake")[0] == {"config.model", "build.modes", "plan"}
    assert _imports(ast.parse("from . import lifecycle\n"), "build")[0] == {"build.lifecycle"}


def test_every_package_is_one_concern() -> None:
    unknown = sorted(PACKAGES - set(PACKAGE_LAYERS))
    assert not unknown, (
        f"src/muslwheels/{unknown[0]}/ is no package of PACKAGE_LAYERS in tests/unit/test_layers.py: "
        "add it with the layers its modules may have"
    )
    for name, layer in sorted(LAYERS.items()):
        package = name.split(".")[0]
        if "." in name and layer not in PACKAGE_LAYERS[package]:
            pytest.fail(
                f"muslwheels.{name} ({layer}) sits in {package}/, which holds only "
                f"{', '.join(sorted(PACKAGE_LAYERS[package]))}: move it to a package of its layer"
            )
