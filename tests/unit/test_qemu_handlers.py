"""A platform whose QEMU handler is missing: exit code 5, the handler named (issue 26's bad input).

docker.DockerEngine.ensure_emulation with the builder's description and the binfmt_misc directory
handed in (our seam: ``builder_info``, ``binfmt_dir``, ``_is_local_daemon``); no Docker is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from muslwheels.config.arches import ARCHES
from muslwheels.engine.docker import BuilderInfo, DockerEngine
from muslwheels.engine.emulation import remote_registration
from muslwheels.errors import ExitCode, PlatformsUnsupported

REGISTERED = "enabled\ninterpreter /usr/libexec/qemu-binfmt/{name}-binfmt-P\nflags: PF\noffset 0\n"


class Engine(DockerEngine):
    """A DockerEngine whose builder is described, not asked for."""

    def __init__(self, binfmt_dir: Path, info: BuilderInfo, *, local: bool) -> None:
        super().__init__(binfmt_dir=binfmt_dir, register_emulation=False)
        self.info = info
        self.local = local

    def builder_info(self, name: str | None) -> BuilderInfo:
        return self.info

    def _is_local_daemon(self, endpoints: Sequence[str]) -> bool:
        return self.local


def binfmt(tmp_path: Path, *handlers: str) -> Path:
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    (folder / "status").write_text("enabled\n")
    for name in handlers:
        (folder / name).write_text(REGISTERED.format(name=name.removeprefix("qemu-")))
    return folder


def local_engine(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setattr("muslwheels.engine.docker.host_platform.machine", lambda: "x86_64")
    info = BuilderInfo("default", "docker", ("linux/amd64", "linux/386"), ("default",))
    return Engine(folder, info, local=True)


@pytest.mark.parametrize(
    ("platform", "handler"),
    [(a.platform, a.qemu_handler) for a in ARCHES if a.key not in ("amd64", "i386")],
)
def test_a_missing_handler_is_exit_5_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str, handler: str
) -> None:
    others = {a.qemu_handler for a in ARCHES} - {handler}
    engine = local_engine(binfmt(tmp_path, *sorted(others)), monkeypatch)
    with pytest.raises(PlatformsUnsupported) as caught:
        engine.ensure_emulation(["linux/amd64", platform], builder=None)
    err = caught.value
    assert err.exit_code is ExitCode.DOCKER and int(err.exit_code) == 5
    assert str(err) == f"no QEMU handler {handler} is registered for {platform}"
    assert err.platforms == (platform,)
    assert f"update-binfmts --enable {handler}" in (err.hint or "")


def test_every_handler_registered_is_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = local_engine(binfmt(tmp_path, *sorted({a.qemu_handler for a in ARCHES})), monkeypatch)
    engine.ensure_emulation([a.platform for a in ARCHES], builder=None)


def test_a_remote_builder_without_the_platform_names_the_handler(tmp_path: Path) -> None:
    info = BuilderInfo(
        "far", "remote", ("linux/amd64", "linux/arm64"), ("tcp://builder.invalid:1234",)
    )
    engine = Engine(binfmt(tmp_path), info, local=False)
    with pytest.raises(PlatformsUnsupported) as caught:
        engine.ensure_emulation(["linux/arm64", "linux/s390x", "linux/arm/v6"], builder="far")
    err = caught.value
    assert int(err.exit_code) == 5 and err.platforms == ("linux/s390x", "linux/arm/v6")
    assert str(err) == (
        "builder 'far' does not support linux/s390x, linux/arm/v6 "
        "(it reports: linux/amd64, linux/arm64)"
    )
    assert (err.hint or "").startswith(
        "register QEMU on the builder's host (update-binfmts --enable qemu-arm; "
        "update-binfmts --enable qemu-s390x) or add a node"
    )


def test_remote_registration_of_an_unknown_platform() -> None:
    assert remote_registration(["linux/mips64le"]) == "update-binfmts --enable qemu-<arch>"
