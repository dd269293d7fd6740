"""cli.py: the repository and tags of a run from flags and Docker Hub's variables."""

from __future__ import annotations

import pytest

from muslwheels.cli import requested_tags, run_repository
from muslwheels.errors import UsageError
from muslwheels.options import make_run_options
from muslwheels.registry import DOCKER_DEFAULT_REGISTRY

HUB = DOCKER_DEFAULT_REGISTRY.aliases[0]  # the host Docker Hub puts in front of DOCKER_REPO


def test_repository_from_flag_docker_repo_or_image_name() -> None:
    env = {"DOCKER_REPO": f"{HUB}/someone/wheels"}
    assert run_repository(make_run_options(env), env) == "someone/wheels"
    assert run_repository(make_run_options(env, repository="127.0.0.1:5000/w"), env) == (
        "127.0.0.1:5000/w"
    )
    image = {"IMAGE_NAME": f"{HUB}/someone/wheels:cffi-py3.12"}
    assert run_repository(make_run_options(image), image) == "someone/wheels"
    assert run_repository(make_run_options({}), {}) is None  # modules.toml decides
    bad = {"DOCKER_REPO": "someone/wheels:latest"}
    with pytest.raises(UsageError, match="names a tag"):
        run_repository(make_run_options(bad), bad)


def test_tags_from_flag_docker_tag_or_image_name() -> None:
    env = {"DOCKER_TAG": "cffi-py3.12, pynacl ,", "IMAGE_NAME": "me/w:ignored"}
    assert requested_tags([], env) == ("cffi-py3.12", "pynacl")
    assert requested_tags(["bcrypt"], env) == ("bcrypt",)
    assert requested_tags([], {"IMAGE_NAME": "127.0.0.1:5000/me/w:cffi-py3.12"}) == ("cffi-py3.12",)
    with pytest.raises(UsageError, match="no target tag"):
        requested_tags([], {"IMAGE_NAME": "127.0.0.1:5000/me/w"})
