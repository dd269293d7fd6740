""".ci/setup on Debian 12, Debian 13 and anything else: its apt decisions (apt_plan) from fake os-release and
sources files, the sources it derives (for the stand-ins, which are bookworm images, on either host), and
that its apt step, run twice, changes nothing the second time (apt-get and dpkg-query are fakes on PATH:
nothing is installed)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIRROR = "http://mirror.invalid/debian"  # .invalid: a name nobody can own
SECURITY = "http://security.invalid/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

OS_RELEASE = {
    "12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
    'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
    "13": 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n'
    'VERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n',
    # no VERSION_CODENAME: the release comes from VERSION_ID
    "13-id-only": 'PRETTY_NAME="Debian GNU/Linux 13"\nVERSION_ID="13"\nID=debian\n',
    "11": 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nVERSION_ID="11"\n'
    "VERSION_CODENAME=bullseye\nID=debian\n",
    "ubuntu": 'PRETTY_NAME="Ubuntu 24.04 LTS"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nID=ubuntu\n'
    "ID_LIKE=debian\n",
}


FAKE_DPKG_QUERY = '#!/bin/sh\nprintf "ii "\n'  # every package installed
FAKE_APT_GET = '#!/bin/sh\necho "$*" >> "$APT_CALLS"\n'


def sources(suite: str) -> str:
    """A debian.sources as Debian's images write it, for ``suite``."""
    return (
        f"Types: deb\n# a comment\nURIs: {MIRROR}\nSuites: {suite} {suite}-updates\n"
        f"Components: main\nSigned-By: {KEYRING}\n\n"
        f"Types: deb\nURIs: {SECURITY}\nSuites: {suite}-security\nComponents: main\n"
        f"Signed-By: {KEYRING}\n"
    )


def machine(tmp_path: Path, release: str, suite: str | None) -> dict[str, str]:
    """The environment of a fake machine: its os-release, its sources (for ``suite``; none: no file),
    apt folders and a work folder of its own."""
    (tmp_path / "os-release").write_text(OS_RELEASE[release])
    if suite is not None:
        (tmp_path / "debian.sources").write_text(sources(suite))
    for folder in ("sources.list.d", "preferences.d", "work", "bin"):
        (tmp_path / folder).mkdir(exist_ok=True)
    # apt-get and dpkg-query are fakes: apt-get records its arguments, dpkg-query says every package is
    # installed. Nothing here reaches the machine's apt.
    for name, text in (("dpkg-query", FAKE_DPKG_QUERY), ("apt-get", FAKE_APT_GET)):
        (tmp_path / "bin" / name).write_text(text)
        (tmp_path / "bin" / name).chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "APT_CALLS": str(tmp_path / "apt-calls"),
        "MUSLWHEELS_OS_RELEASE": str(tmp_path / "os-release"),
        "MUSLWHEELS_DEBIAN_SOURCES": str(tmp_path / "debian.sources"),
        "MUSLWHEELS_APT_SOURCES_DIR": str(tmp_path / "sources.list.d"),
        "MUSLWHEELS_APT_PREFERENCES_DIR": str(tmp_path / "preferences.d"),
        "MUSLWHEELS_CI_WORK": str(tmp_path / "work"),
    }


def in_setup(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` run after sourcing .ci/setup (which then only defines its steps: $0 must not be
    the script itself, or it runs them)."""
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "$1"; {script}', "test", str(ROOT / ".ci" / "setup")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def plan(tmp_path: Path, release: str, suite: str | None) -> subprocess.CompletedProcess[str]:
    return in_setup("apt_plan", machine(tmp_path, release, suite))


def test_debian_12_takes_docker_from_a_pinned_trixie_entry(tmp_path: Path) -> None:
    done = plan(tmp_path, "12", "bookworm")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "suite bookworm"
    assert f"entry trixie {tmp_path}/sources.list.d/trixie.sources" in lines
    assert f"pin trixie 100 {tmp_path}/preferences.d/trixie-pin" in lines
    (install,) = [line.split()[1:] for line in lines if line.startswith("install ")]
    assert install[:2] == ["docker.io/trixie", "docker-buildx/trixie"]
    assert {"jq", "qemu-user-static", "docker-registry", "python3.11"} <= set(install)
    assert not [p for p in install[2:] if "/" in p]  # everything else from bookworm itself
    assert not [line for line in lines if line.startswith("standin-sources")]  # its own file


@pytest.mark.parametrize("release", ["13", "13-id-only"])
def test_debian_13_takes_docker_from_its_own_suite(tmp_path: Path, release: str) -> None:
    done = plan(tmp_path, release, "trixie")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "suite trixie"
    (install,) = [line.split()[1:] for line in lines if line.startswith("install ")]
    assert install[:2] == ["docker.io", "docker-buildx"]  # no suite, no pin for Docker
    assert not [
        line for line in lines if "trixie.sources" in line and not line.startswith("remove")
    ]
    assert f"remove {tmp_path}/sources.list.d/trixie.sources" in lines  # left by Debian 12
    assert f"remove {tmp_path}/preferences.d/trixie-pin" in lines
    # bookworm only for the musl stand-in's build Python, pinned low
    assert [p for p in install if "/" in p] == ["python3.11/bookworm", "python3.11-venv/bookworm"]
    assert f"pin bookworm 100 {tmp_path}/preferences.d/muslwheels-bookworm-pin" in lines
    assert f"standin-sources {tmp_path}/work/standin-bookworm.sources" in lines


@pytest.mark.parametrize(
    ("release", "suite", "expected"),
    [
        (
            "11",
            "bullseye",
            "Debian GNU/Linux 11 (bullseye) ({os}): .ci/setup needs Debian 12 (bookworm) or 13 "
            "(trixie), whose Docker 26 and buildx 0.13 it installs; run it on one of them",
        ),
        (
            "ubuntu",
            "noble",
            "this is Ubuntu 24.04 LTS ({os}), not Debian; .ci/setup needs Debian 12 (bookworm) or "
            "13 (trixie): run it on one of them",
        ),
        (
            "12",
            None,  # no sources file
            "no enabled 'deb' stanza for suite bookworm (this machine's) in {src}: add the "
            "machine's Debian mirror for bookworm there (deb822) or set MUSLWHEELS_DEBIAN_SOURCES "
            "to a file that has it",
        ),
        (
            "13",
            "bookworm",  # sources of another release than os-release says: never guessed from them
            "no enabled 'deb' stanza for suite trixie (this machine's) in {src}: add the "
            "machine's Debian mirror for trixie there (deb822) or set MUSLWHEELS_DEBIAN_SOURCES "
            "to a file that has it",
        ),
    ],
)
def test_anything_else_is_one_line_saying_what_is_missing(
    tmp_path: Path, release: str, suite: str | None, expected: str
) -> None:
    done = plan(tmp_path, release, suite)
    assert done.returncode == 1
    assert done.stdout == ""
    message = expected.format(os=tmp_path / "os-release", src=tmp_path / "debian.sources")
    assert done.stderr.endswith(message + "\n") and done.stderr.count("\n") == 1, done.stderr
    if release in ("11", "ubuntu"):
        assert done.stderr.startswith(("error: this is ", "error: Debian")), done.stderr


def test_no_os_release_is_one_line(tmp_path: Path) -> None:
    env = machine(tmp_path, "12", "bookworm")
    env["MUSLWHEELS_OS_RELEASE"] = str(tmp_path / "missing")
    done = in_setup("apt_plan", env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert f"cannot read {tmp_path}/missing" in done.stderr
    assert "MUSLWHEELS_OS_RELEASE" in done.stderr


@pytest.mark.parametrize(("release", "suite"), [("12", "bookworm"), ("13", "trixie")])
def test_the_standins_get_bookworm_entries_of_the_same_mirror(
    tmp_path: Path, release: str, suite: str
) -> None:
    env = machine(tmp_path, release, suite)
    done = in_setup("debian_sources_as bookworm; echo ==; debian_mirror; debian_keyring", env)
    assert done.returncode == 0, done.stderr
    derived, mirror = done.stdout.split("==\n")
    assert derived.strip() == sources("bookworm").replace("# a comment\n", "").strip()
    assert mirror.split() == [MIRROR, KEYRING]
    entry = in_setup("derived_entry docker-suite", env)
    assert entry.stdout == (
        f"Types: deb\nURIs: {MIRROR}\nSuites: docker-suite\nComponents: main\nSigned-By: {KEYRING}\n"
    )


@pytest.mark.parametrize(("release", "suite"), [("12", "bookworm"), ("13", "trixie")])
def test_the_apt_step_run_again_changes_nothing(tmp_path: Path, release: str, suite: str) -> None:
    env = machine(tmp_path, release, suite)
    calls = tmp_path / "apt-calls"
    # left by the other release: removed (a machine upgraded from 12 to 13, or the other way)
    other = "muslwheels-bookworm" if suite == "bookworm" else "trixie"
    (tmp_path / "sources.list.d" / f"{other}.sources").write_text("stale\n")
    first = in_setup("apt_setup", env)
    assert first.returncode == 0, first.stderr
    assert not (tmp_path / "sources.list.d" / f"{other}.sources").exists()
    made = sorted(p.name for p in tmp_path.glob("*.d/*"))
    prefix = "trixie" if suite == "bookworm" else "muslwheels-bookworm"
    assert made == [f"{prefix}-pin", f"{prefix}.sources"]
    install = calls.read_text().splitlines()[-1]
    assert install.startswith("install -y -q --no-install-recommends docker.io")
    assert ("docker.io/trixie" in install) == (suite == "bookworm")
    assert calls.read_text().splitlines()[0] == "update -q"
    before = {p: p.read_text() for p in tmp_path.glob("*.d/*")}
    calls.unlink()
    again = in_setup("apt_setup", env)
    assert again.returncode == 0, again.stderr
    assert "apt sources and pin unchanged; all packages installed" in again.stderr
    assert not calls.exists()  # no apt-get at all
    assert {p: p.read_text() for p in tmp_path.glob("*.d/*")} == before
    if suite == "trixie":
        standin = (tmp_path / "work" / "standin-bookworm.sources").read_text()
        assert "Suites: bookworm bookworm-updates" in standin and MIRROR in standin


def test_a_busy_port_and_a_stale_pid_file_are_one_line_each(tmp_path: Path) -> None:
    """Something that is no registry listens on the port, and a killed run left the registry's pid
    file: the pid file goes (with a line), and the port stops the step with one line naming who
    holds it. Nothing is started."""
    env = machine(tmp_path, "12", "bookworm")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        run = tmp_path / "work" / "run"
        run.mkdir()
        (run / f"registry-{port}.pid").write_text("999999999\n")  # no such process
        done = in_setup(f"start_registry {port}", env)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == f"removing {run}/registry-{port}.pid: its registry (pid 999999999) is gone"
    assert lines[1].startswith(f"error: 127.0.0.1:{port} is taken by users:((")
    assert lines[1].endswith(
        "which does not answer as a registry; stop it or free the port, then run .ci/setup again"
    )
    assert f"pid={os.getpid()}," in lines[1]
    assert len(lines) == 2
    assert not (run / f"registry-{port}.pid").exists()
    assert not (tmp_path / "work" / f"registry-{port}").exists()


def test_a_stale_pid_file_on_a_free_port_starts_the_registry(tmp_path: Path) -> None:
    """The state a rebooted machine leaves: the registry's pid file names a process that is gone and
    nothing listens on the port. The pid file goes with one line and the registry starts (here a fake
    docker-registry that answers HTTP on the port); a free port is no failure. CI once stopped here
    with exit 1 and no line at all."""
    env = machine(tmp_path, "12", "bookworm")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = tmp_path / "bin" / "docker-registry"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY" > "{tmp_path}/storage-seen"\n'
        f"exec python3 -m http.server --bind 127.0.0.1 {port}\n"
    )
    fake.chmod(0o755)
    run = tmp_path / "work" / "run"
    run.mkdir()
    (run / f"registry-{port}.pid").write_text("999999999\n")  # no such process
    try:
        done = in_setup(f"start_registry {port}", env)
        assert done.returncode == 0, done.stderr
        lines = done.stderr.splitlines()
        assert (
            lines[0] == f"removing {run}/registry-{port}.pid: its registry (pid 999999999) is gone"
        )
        assert lines[1].startswith(
            f"starting registry on 127.0.0.1:{port} (config .ci/registry-{port}.yml"
        )
        assert len(lines) == 2
        started = int((run / f"registry-{port}.pid").read_text())
        assert started != 999999999
        assert (tmp_path / "storage-seen").read_text().strip() == str(
            tmp_path / "work" / f"registry-{port}"
        )
    finally:
        pidfile = run / f"registry-{port}.pid"
        pid = pidfile.read_text().strip() if pidfile.exists() else ""
        if pid and pid != "999999999":
            subprocess.run(["kill", pid], check=False)
