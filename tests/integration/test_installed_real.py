"""The installed tool builds: a non-editable install into a fresh venv (tests/fresh_install.py),
run as `musl-wheels` in a folder that is not the checkout, builds, tests and lands a real wheel
with its own packaged docker/."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from localindex import LocalIndex
from support import REGISTRY, STANDIN_REPO

from muslwheels.engine.docker import DockerEngine

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_an_installed_musl_wheels_builds_a_wheel(
    tmp_path: Path, local_index: LocalIndex, engine: DockerEngine
) -> None:
    spec = importlib.util.spec_from_file_location("fresh_install", ROOT / "tests/fresh_install.py")
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    bin_dir: Path = fresh.install_fresh(tmp_path / "install")
    project = tmp_path / "project"
    project.mkdir()
    (project / "modules.toml").write_text(
        "[defaults]\n"
        'pythons = ["3.11"]\n'
        'arches = ["amd64"]\n'
        f'base_image = "{REGISTRY}/{STANDIN_REPO}:{{python}}-bookworm"\n'
        "\n[modules.muslwheels-fixture-cext]\n"
    )
    env = {**os.environ, "PIP_EXTRA_INDEX_URL": local_index.url}
    env.pop("DOCKER_TAG", None)
    done = fresh.run(
        [
            str(bin_dir / "musl-wheels"),
            "build",
            "--tag",
            "muslwheels-fixture-cext1.0.0-py3.11-amd64",
            "--force",
        ],
        project,
        env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = sorted((project / "wheels" / "amd64").glob("muslwheels_fixture_cext-1.0.0-*.whl"))
    assert len(wheels) == 1, done.stderr
    assert "tested: import mwfixture_cext" in done.stdout + done.stderr
