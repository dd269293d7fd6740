"""The package works wherever it is installed: a non-editable install into a fresh venv
(tests/fresh_install.py), run from a folder that is not the checkout, lists the tasks, finds its
docker/ and resolves a plan. The plan asks loopback servers only: pypiserver for the index,
docker-registry for the base image.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from servers.pypi import PypiServer, make_sdist
from servers.registry import Registry

ROOT = Path(__file__).resolve().parents[2]


def _fresh_install() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fresh_install", ROOT / "tests/fresh_install.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FRESH = _fresh_install()


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A process as a user in a clean shell starts it: no pip, musl-wheels or Docker settings."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "MUSLWHEELS_", "DOCKER_")) and k != "BASE_IMAGE"
    }
    done: subprocess.CompletedProcess[str] = FRESH.run(
        args, cwd, {**clean, "PIP_CONFIG_FILE": os.devnull, **env}
    )
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv with muslwheels installed (not editable) into it."""
    bin_dir: Path = FRESH.install_fresh(tmp_path_factory.mktemp("installed"))
    return bin_dir


def test_it_lists_the_tasks_and_finds_its_own_docker_folder(
    installed: Path, tmp_path: Path
) -> None:
    listed = _run([str(installed / "musl-wheels"), "--list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    for name in ("plan", "build", "bake", "push", "extract", "check", "index", "ci"):
        assert f"  {name} " in listed.stdout
    helped = _run([str(installed / "musl-wheels"), "--help", "build"], tmp_path)
    assert "--no-test" in helped.stdout and "--mode=STRING" in helped.stdout
    where = _run(
        [
            str(installed / "python"),
            "-c",
            "import muslwheels, muslwheels.build.inputs as b, muslwheels.publish.workflow as w; "
            "assert w.render_workflow().startswith(w.MARKER); "
            "print(muslwheels.__file__); print(b.default_docker_dir())",
        ],
        tmp_path,
    )
    assert where.returncode == 0, where.stderr
    module, docker = (Path(line) for line in where.stdout.split())
    assert ROOT not in module.parents and ROOT not in docker.parents, where.stdout
    assert (docker / "Dockerfile").is_file() and (docker / "test.Dockerfile").is_file()
    for helper in ("mw-probe", "mw-wheel", "mw-test", "mw-lib.sh"):
        assert (docker / "bin" / helper).is_file(), helper
    assert os.access(docker / "bin" / "mw-probe", os.X_OK)
    bad = _run([str(installed / "musl-wheels"), "plan", "--bogus"], tmp_path)
    assert bad.returncode == 2 and "usage: musl-wheels plan " in bad.stderr


def test_it_resolves_a_plan_in_a_folder_with_a_modules_toml(
    installed: Path,
    tmp_path: Path,
    registry: Registry,
    start_pypiserver: Callable[[Path], PypiServer],
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_sdist(packages, "demo", "1.0.0")
    index = start_pypiserver(packages)
    # a repository of its own: the registry is shared by the session
    registry.push_image("installed-test/python", "3.12-alpine3.20", "linux/amd64")
    project = tmp_path / "project"
    project.mkdir()
    (project / "modules.toml").write_text(
        "[defaults]\n"
        'pythons = ["3.12"]\n'
        'arches = ["amd64"]\n'
        f'base_image = "{registry.host}/installed-test/python:{{python}}-alpine{{alpine}}"\n'
        "\n[modules.demo]\n"
    )
    done = _run(
        [str(installed / "musl-wheels"), "plan", "--json", "--tag", "demo-py3.12-amd64"],
        project,
        PIP_INDEX_URL=index.url + "/simple/",
    )
    assert done.returncode == 0, done.stderr
    assert '"module": "demo"' in done.stdout and '"version": "1.0.0"' in done.stdout
    assert f'"base_image": "{registry.host}/installed-test/python:3.12-alpine3.20"' in done.stdout
