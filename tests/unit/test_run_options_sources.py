"""options.py: the repository and tags of a run from flags and Docker Hub's variables."""

from __future__ import annotations

import pytest

from muslwheels.config.imageref import DOCKER_DEFAULT_REGISTRY
from muslwheels.errors import UsageError
from muslwheels.options import Flags, make_run_options

HUB = DOCKER_DEFAULT_REGISTRY.aliases[0]  # the host Docker Hub puts in front of DOCKER_REPO


def test_repository_from_flag_docker_repo_or_image_name() -> None:
    env = {"DOCKER_REPO": f"{HUB}/someone/wheels"}
    assert make_run_options(env).repository == "someone/wheels"
    assert make_run_options(env, Flags(repository="127.0.0.1:5000/w")).repository == (
        "127.0.0.1:5000/w"
    )
    image = {"IMAGE_NAME": f"{HUB}/someone/wheels:cffi-py3.12"}
    assert make_run_options(image).repository == "someone/wheels"
    assert make_run_options({}).repository is None  # modules.toml decides
    with pytest.raises(UsageError, match="names a tag"):
        make_run_options({"DOCKER_REPO": "someone/wheels:latest"})


def test_tags_from_flag_docker_tag_or_image_name() -> None:
    env = {"DOCKER_TAG": "cffi-py3.12, pynacl ,", "IMAGE_NAME": "me/w:ignored"}
    assert make_run_options(env).require_tags() == ("cffi-py3.12", "pynacl")
    assert make_run_options(env, Flags(tags=["bcrypt"])).require_tags() == ("bcrypt",)
    image = {"IMAGE_NAME": "127.0.0.1:5000/me/w:cffi-py3.12"}
    assert make_run_options(image).require_tags() == ("cffi-py3.12",)
    with pytest.raises(UsageError, match="no target tag"):
        make_run_options({"IMAGE_NAME": "127.0.0.1:5000/me/w"}).require_tags()
