"""What the target's interpreter accepts: its marker variables and wheel tags, from the test
image's probe (``docker/test.Dockerfile``), read as data. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion


@dataclass(frozen=True)
class Probe:
    markers: Mapping[str, str]
    tags: tuple[Tag, ...]  # most preferred first

    def accepts(self, filename: str) -> bool:
        try:
            _, _, _, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            return False
        return bool(tags & set(self.tags))

    @property
    def musl(self) -> bool:
        """Whether the interpreter is a musl one (it takes musllinux wheels)."""
        return any(t.platform.startswith("musllinux_") for t in self.tags)

    def pip_target_args(self, python: str) -> tuple[str, ...]:
        """pip's ``download`` options that make it choose among the wheels this interpreter takes."""
        abis = dict.fromkeys(t.abi for t in self.tags)
        platforms = dict.fromkeys(t.platform for t in self.tags if t.platform != "any")
        args = ["--python-version", python, "--implementation", "cp"]
        for abi in abis:
            args += ["--abi", abi]
        for platform in platforms:
            args += ["--platform", platform]
        return tuple(args)


def parse_probe(text: str) -> Probe:
    """The JSON ``docker/bin/mw-probe`` prints. ValueError when it is not that."""
    data = json.loads(text)
    markers = data.get("markers") if isinstance(data, dict) else None
    tags = data.get("tags") if isinstance(data, dict) else None
    if not isinstance(markers, dict) or not isinstance(tags, list) or not tags:
        raise ValueError("the probe gave no marker variables or no tags")
    parsed: list[Tag] = []
    for text_tag in tags:
        parsed.extend(parse_tag(str(text_tag)))
    return Probe({str(k): str(v) for k, v in markers.items()}, tuple(dict.fromkeys(parsed)))
