"""The registry side for real: `invoke build --push`, `push`, `extract`, `check`, reuse of published
wheels and the Docker Hub hooks, run as a user runs them (the invoke command in a project folder
of its own) against the local registries 127.0.0.1:5000 (no auth) and 127.0.0.1:5001 (htpasswd),
with wheels built from the tests' own sdists on the glibc stand-in (linux/amd64 + linux/arm64)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from localindex import LocalIndex
from support import REGISTRY, STANDIN, run_command

from muslwheels.options import SWITCHES

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
AUTH_REGISTRY = "127.0.0.1:5001"
AUTH_USER, AUTH_PASSWORD = "ci", "ci-password"  # .ci/setup's throw-away account

CEXT = "muslwheels-fixture-cext"
NEEDS = "muslwheels-fixture-needs-dep"
DEP = "muslwheels-fixture-dep-a"

MODULES_TOML = """
[defaults]
pythons = ["3.11"]
arches = ["amd64", "arm64v8"]
base_image = "127.0.0.1:5000/standin/python:{python}-bookworm"
repository = "@REPOSITORY@"
no_shared_repository = "@REPOSITORY@-no-shared"

[modules.muslwheels-fixture-dep-a]

[modules.muslwheels-fixture-needs-dep]
depends = ["muslwheels-fixture-dep-a"]
# dep-a only as a wheel: the build works only when the dependency wheel is offered
env = { PIP_ONLY_BINARY = "muslwheels-fixture-dep-a" }
"""

#: Variables of the caller's environment that would change what the tasks do.
ISOLATE = (
    *SWITCHES,
    "DOCKER_TAG",
    "DOCKER_REPO",
    "IMAGE_NAME",
    "BASE_IMAGE",
    "SOURCE_COMMIT",
    "SOURCE_BRANCH",
    "DOCKERFILE_PATH",
    "BUILDX_BUILDER",
    "MUSLWHEELS_INVOKE",
)


def new_repository(kind: str, registry: str = REGISTRY) -> str:
    return f"{registry}/muslwheels-test/{kind}-{uuid.uuid4().hex[:10]}"


@dataclass
class Done:
    """One finished command."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> Done:
        assert self.returncode == 0, f"{' '.join(self.args)} -> {self.returncode}\n{self.stderr}"
        return self

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


class Project:
    """A musl-wheels project folder of its own (tasks.py, hooks/, a modules.toml for the stand-in
    and one wheel repository), where the invoke command runs as a user runs it."""

    def __init__(self, root: Path, repository: str, index: LocalIndex, cache: Path) -> None:
        self.root = root
        self.repository = repository
        root.mkdir(parents=True)
        shutil.copy(REPO_ROOT / "tasks.py", root / "tasks.py")
        shutil.copytree(REPO_ROOT / "hooks", root / "hooks")
        (root / "modules.toml").write_text(MODULES_TOML.replace("@REPOSITORY@", repository))
        env = {k: v for k, v in os.environ.items() if k not in ISOLATE}
        extra = " ".join(filter(None, [env.get("PIP_EXTRA_INDEX_URL", ""), index.url]))
        env.update(
            PATH=f"{INVOKE.parent}:{env.get('PATH', '/usr/bin:/bin')}",
            PIP_EXTRA_INDEX_URL=extra,
            XDG_CACHE_HOME=str(cache),
        )
        self.env = env

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    def run(self, args: Sequence[str], env: Mapping[str, str] | None = None) -> Done:
        done = subprocess.run(
            list(args),
            cwd=self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        return Done(tuple(args), done.returncode, done.stdout, done.stderr)

    def invoke(self, *args: str, env: Mapping[str, str] | None = None) -> Done:
        # MUSLWHEELS_TEST_NO_CACHE=1: every layer built anew, as on a machine with an empty cache
        if args[0] == "build" and os.environ.get("MUSLWHEELS_TEST_NO_CACHE", "") == "1":
            args = (*args, "--no-cache")
        return self.run([str(INVOKE), *args], env)

    def hook(self, name: str, env: Mapping[str, str]) -> Done:
        return self.run([str(self.root / "hooks" / name)], env)


NewProject = Callable[..., Project]


def wheel_files(folder: Path) -> dict[str, str]:
    """name -> sha256 of the wheels under ``folder`` (``<arch>/<name>``)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.whl"))
    }


def registry_get(path: str, accept: str = "application/json", registry: str = REGISTRY) -> Any:
    request = urllib.request.Request(f"http://{registry}{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as answer:
        data = answer.read()
    return data if accept == "*/*" else json.loads(data)


MANIFEST = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def image_files(image: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(file -> sha256 of every regular file in the image's layers, the image's config),
    read through the registry API (no Docker involved)."""
    name, tag = image.split("/", 1)[1].rsplit(":", 1)
    manifest = registry_get(f"/v2/{name}/manifests/{tag}", MANIFEST)
    config = registry_get(f"/v2/{name}/blobs/{manifest['config']['digest']}")
    found: dict[str, str] = {}
    for layer in manifest["layers"]:
        blob = registry_get(f"/v2/{name}/blobs/{layer['digest']}", "*/*")
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            for member in tar.getmembers():
                assert member.isfile(), f"{image} holds {member.name}, not a file"
                data = tar.extractfile(member)
                assert data is not None
                found[member.name.lstrip("./")] = hashlib.sha256(data.read()).hexdigest()
    assert isinstance(config, dict)
    return found, config


def platforms_of(image: str, *, env: Mapping[str, str] | None = None) -> list[str]:
    done = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", image],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(env) if env is not None else None,
    )
    assert done.returncode == 0, done.stderr
    return [
        line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if "Platform:" in line
    ]


def remove_local_images(repositories: Sequence[str]) -> None:
    listed = run_command(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
    refs = [r for r in listed.stdout.split() if r.rsplit(":", 1)[0] in repositories]
    if refs:
        run_command(["docker", "image", "rm", "-f", *refs], timeout=120)


# --- build --push for amd64 and arm64, then a multi-arch tag ---------------------------------------


@dataclass
class Published:
    project: Project
    check_before: Done
    build: Done
    check_after: Done

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.check_after.json_lines()

    def row(self, arch: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["arch"] == arch)

    def image(self, arch: str) -> str:
        row = self.row(arch)
        return f"{row['repository']}:{row['tag']}"

    @property
    def multiarch(self) -> str:
        row = self.rows[0]
        return f"{row['repository']}:{row['multiarch_tag']}"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(scope="module")
def made() -> Iterator[list[Project]]:
    """Every project of this module; their local images are removed at the end."""
    projects: list[Project] = []
    yield projects
    remove_local_images(
        [p.repository for p in projects] + [f"{p.repository}-no-shared" for p in projects]
    )


@pytest.fixture(scope="module")
def new_project(
    tmp_path_factory: pytest.TempPathFactory,
    local_index: LocalIndex,
    cache_dir: Path,
    made: list[Project],
) -> NewProject:
    def make(kind: str, repository: str | None = None) -> Project:
        project = Project(
            tmp_path_factory.mktemp(kind) / "project",
            repository or new_repository(kind),
            local_index,
            cache_dir,
        )
        made.append(project)
        return project

    return make


@pytest.fixture(scope="module")
def published(new_project: NewProject) -> Published:
    """`check` (pending), `build --push` of the C extension for amd64 and arm64 (its multi-arch
    tag), `check` again (done)."""
    project = new_project("publish")
    tag = f"{CEXT}-py3.11"  # newest version, every arch the stand-in is published for
    before = project.invoke("check", "--tag", tag, "--json")
    build = project.invoke("build", "--push", "--jobs", "2", "--tag", tag)
    after = project.invoke("check", "--tag", tag, "--json")
    return Published(project, before, build, after)


def test_build_push_makes_per_arch_and_multi_arch_tags(published: Published) -> None:
    published.build.ok()
    assert published.build.stderr.count("pushed ") >= 2
    assert sorted(r["arch"] for r in published.rows) == ["amd64", "arm64v8"]
    assert platforms_of(published.multiarch) == ["linux/amd64", "linux/arm64"]
    for arch, platform in (("amd64", "linux/amd64"), ("arm64v8", "linux/arm64")):
        _files, config = image_files(published.image(arch))
        assert f"{config['os']}/{config['architecture']}" == platform


def test_each_image_holds_only_its_wheels(published: Published) -> None:
    published.build.ok()
    built = wheel_files(published.project.wheels)
    for arch in ("amd64", "arm64v8"):
        files, config = image_files(published.image(arch))
        # FROM scratch: the wheel at /, byte for byte the one build verified, and nothing else
        assert files == {k.split("/", 1)[1]: v for k, v in built.items() if k.startswith(arch)}
        assert all(name.endswith(".whl") for name in files)
        labels = config["config"]["Labels"]
        assert labels["org.opencontainers.image.title"] == published.row(arch)["tag"]


def test_check_is_pending_before_the_push_and_done_after(published: Published) -> None:
    before = published.check_before
    assert before.returncode == 8, before.stderr
    assert [r["status"] for r in before.json_lines()] == ["pending", "pending"]
    assert not any(r["present"] for r in before.json_lines())
    after = published.check_after
    assert after.returncode == 0, after.stderr
    assert [r["status"] for r in after.json_lines()] == ["done", "done"]


def test_extract_gives_exactly_the_built_wheels(published: Published, tmp_path: Path) -> None:
    published.build.ok()
    project = published.project
    dest = tmp_path / "extracted"
    done = project.invoke("extract", "--tag", f"{CEXT}1.0.0-py3.11", "--dest", str(dest)).ok()
    assert "2 extracted" in done.stderr
    assert wheel_files(dest) == wheel_files(project.wheels)
    # nothing but the wheels (and the folder's lock file)
    assert sorted(p.name for p in dest.rglob("*") if p.is_file() and p.suffix != ".whl") == [
        ".muslwheels.lock",
        ".muslwheels.lock",
    ]
    # without the local copy the docker driver kept, and with WHEELS_FORCE_PULL: from the registry
    remove_local_images([project.repository])
    again = tmp_path / "pulled"
    project.invoke(
        "extract",
        "--tag",
        f"{CEXT}1.0.0-py3.11-arm64v8",
        "--dest",
        str(again),
        env={"WHEELS_FORCE_PULL": "1"},
    ).ok()
    arm = {k: v for k, v in wheel_files(project.wheels).items() if k.startswith("arm64v8/")}
    assert wheel_files(again) == arm


CONSUMER = """\
FROM {standin} AS app
COPY --from={wheels} / /wheels/
RUN python -m pip install --no-index --find-links /wheels {module} \\
 && python -c "import platform, mwfixture_cext as m; print(m.add(2, 40), m.machine(), platform.machine())" > /result
FROM scratch
COPY --from=app /result /
"""


@pytest.mark.parametrize(
    ("platform", "machine"), [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")]
)
def test_consumer_dockerfile_copies_the_wheels_from_the_registry(
    published: Published, tmp_path: Path, platform: str, machine: str
) -> None:
    published.build.ok()
    context = tmp_path / "consumer"
    context.mkdir()
    (context / "Dockerfile").write_text(
        CONSUMER.format(standin=STANDIN, wheels=published.multiarch, module=CEXT)
    )
    out = tmp_path / "out"
    done = run_command(
        [
            "docker",
            "buildx",
            "build",
            "--progress",
            "plain",
            "--platform",
            platform,
            "--output",
            f"type=local,dest={out}",
            str(context),
        ],
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "result").read_text().strip() == f"42 {machine} {machine}"


def test_half_pushed_run_is_finished_by_pushing_again(
    published: Published, new_project: NewProject
) -> None:
    """One arch pushed (a run that stopped half-way): check says what is missing, and push
    completes it; the multi-arch tag ends up with both arches."""
    published.build.ok()
    project = published.project
    repository = new_repository("half")
    flags = ("--repository", repository)
    project.invoke("push", "--tag", f"{CEXT}-py3.11-amd64", *flags).ok()
    half = project.invoke("check", "--tag", f"{CEXT}-py3.11", "--json", *flags)
    assert half.returncode == 8
    assert {r["arch"]: r["status"] for r in half.json_lines()} == {
        "amd64": "done",
        "arm64v8": "pending",
    }
    project.invoke("push", "--tag", f"{CEXT}-py3.11", *flags).ok()
    project.invoke("check", "--tag", f"{CEXT}-py3.11", *flags).ok()
    row = published.rows[0]
    assert platforms_of(f"{repository}:{row['multiarch_tag']}") == ["linux/amd64", "linux/arm64"]
    remove_local_images([repository])


# --- a registry that wants a login ------------------------------------------------------------------


def test_registry_with_authentication(published: Published, tmp_path: Path) -> None:
    published.build.ok()
    project = published.project
    config = tmp_path / "docker-config"  # the machine's own login state stays untouched
    config.mkdir()
    env = {"DOCKER_CONFIG": str(config)}
    repository = new_repository("auth", AUTH_REGISTRY)
    flags = ("--repository", repository)
    tag = f"{CEXT}1.0.0-py3.11-amd64"
    before = wheel_files(project.wheels)

    refused = project.invoke("push", "--tag", tag, *flags, env=env)
    assert refused.returncode == 7, refused.stderr
    assert f"registry {AUTH_REGISTRY} refused to let us push" in refused.stderr
    assert f"docker login {AUTH_REGISTRY}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert AUTH_PASSWORD not in refused.stdout + refused.stderr
    assert wheel_files(project.wheels) == before

    login = subprocess.run(
        ["docker", "login", "--username", AUTH_USER, "--password-stdin", AUTH_REGISTRY],
        input=AUTH_PASSWORD,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )
    assert login.returncode == 0, login.stderr
    pushed = project.invoke("push", "--tag", tag, *flags, env=env).ok()
    assert AUTH_PASSWORD not in pushed.stdout + pushed.stderr
    # reading needs the login too: check and extract use the same credentials
    project.invoke("check", "--tag", tag, *flags, env=env).ok()
    dest = tmp_path / "from-5001"
    project.invoke(
        "extract", "--tag", tag, "--dest", str(dest), "--force-pull", *flags, env=env
    ).ok()
    amd = {k: v for k, v in before.items() if k.startswith("amd64/")}
    assert wheel_files(dest) == amd
    remove_local_images([repository])


# --- faults -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_registry(published: Published) -> None:
    published.build.ok()
    project = published.project
    before = wheel_files(project.wheels)
    repository = f"127.0.0.1:{free_port()}/muslwheels-test/nowhere"
    flags = ("--repository", repository)
    push = project.invoke("push", "--tag", f"{CEXT}-py3.11-amd64", *flags)
    assert push.returncode == 7, push.stderr
    assert "is unreachable" in push.stderr
    assert "hint:" in push.stderr
    check = project.invoke("check", "--tag", f"{CEXT}-py3.11-amd64", *flags)
    assert check.returncode == 7, check.stderr
    assert "is unreachable" in check.stderr
    assert "Traceback" not in push.stderr + check.stderr
    assert wheel_files(project.wheels) == before
    # a push that failed leaves no local image that later runs would take for a published one
    listed = run_command(["docker", "image", "ls", "--format", "{{.Repository}}"])
    assert repository not in listed.stdout.split()


def test_tag_that_does_not_exist(published: Published, tmp_path: Path) -> None:
    published.build.ok()
    project = published.project
    flags = ("--repository", new_repository("missing"), "--dest", str(tmp_path / "dest"))
    one = project.invoke("extract", "--tag", f"{CEXT}1.0.0-py3.11-amd64", *flags)
    assert one.returncode == 7, one.stderr
    assert "does not exist" in one.stderr
    every = project.invoke("extract", "--tag", f"{CEXT}1.0.0-py3.11", *flags)
    assert every.returncode == 7, every.stderr
    assert "the registry has no image" in every.stderr
    assert not (tmp_path / "dest").exists()


def test_image_that_holds_something_else(
    published: Published, new_project: NewProject, tmp_path: Path
) -> None:
    """A tag of the right name whose image holds more than wheels: extract refuses it and writes
    nothing; a build does not reuse it (it builds instead)."""
    published.build.ok()
    row = published.row("amd64")
    junk_repo = new_repository("junk")
    context = tmp_path / "junk"
    context.mkdir()
    for wheel in (published.project.wheels / "amd64").glob("*.whl"):
        shutil.copy(wheel, context / wheel.name)
    (context / "README.txt").write_text("not a wheel\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    pushed = run_command(
        [
            "docker",
            "buildx",
            "build",
            "--platform",
            "linux/amd64",
            "--provenance=false",
            "--output",
            f"type=image,name={junk_repo}:{row['tag']},push=true",
            str(context),
        ],
        timeout=300,
    )
    assert pushed.returncode == 0, pushed.stderr
    dest = tmp_path / "dest"
    extract = published.project.invoke(
        "extract",
        "--tag",
        f"{CEXT}1.0.0-py3.11-amd64",
        "--dest",
        str(dest),
        "--repository",
        junk_repo,
    )
    assert extract.returncode == 7, extract.stderr
    assert "holds something other than wheels" in extract.stderr
    assert "README.txt" in extract.stderr
    assert not list(dest.rglob("*.whl"))

    fresh = new_project("junk-build", junk_repo)
    build = fresh.invoke("build", "--tag", f"{CEXT}-py3.11-amd64").ok()
    assert "could not reuse" in build.stderr
    assert "1 built" in build.stderr


# --- reuse of published wheels ------------------------------------------------------------------------


def test_published_wheels_are_reused_instead_of_built(new_project: NewProject) -> None:
    tag = f"{NEEDS}-py3.11-amd64"
    first = new_project("reuse")
    first.invoke("build", "--push", "--tag", tag).ok()
    built = wheel_files(first.wheels)
    assert len(built) == 2  # needs-dep and its dependency dep-a

    # a fresh checkout: both come from the images (the local copies the push left)
    second = new_project("reuse-2", first.repository)
    reused = second.invoke("build", "--tag", tag).ok()
    assert "2 reused" in reused.stderr
    assert "(local image)" in reused.stderr
    assert wheel_files(second.wheels) == built

    # NO_SELF_PULL builds the requested module; WHEELS_FORCE_PULL reads the registry
    third = new_project("reuse-3", first.repository)
    mixed = third.invoke("build", "--tag", tag, env={"NO_SELF_PULL": "1", "WHEELS_FORCE_PULL": "1"})
    mixed.ok()
    assert "1 reused, 1 built" in mixed.stderr
    assert "(registry)" in mixed.stderr
    dep_wheel = next(k for k in built if "dep_a" in k)
    assert wheel_files(third.wheels)[dep_wheel] == built[dep_wheel]


# --- the Docker Hub hooks -------------------------------------------------------------------------------


def test_hooks_run_as_docker_hub_runs_them(new_project: NewProject) -> None:
    project = new_project("hooks")
    commit = uuid.uuid4().hex
    tag = f"{NEEDS}-py3.11-amd64"
    env = {
        "DOCKER_TAG": tag,
        "DOCKER_REPO": project.repository,
        "IMAGE_NAME": f"{project.repository}:{tag}",
        "SOURCE_BRANCH": "main",
        "SOURCE_COMMIT": commit,
        "DOCKERFILE_PATH": "docker/Dockerfile",
    }
    outputs = {}
    for hook in ("post_checkout", "pre_build", "build", "push"):
        outputs[hook] = project.hook(hook, env).ok().stderr
    assert "plan saved to" in outputs["post_checkout"]
    for later in ("pre_build", "build", "push"):
        assert "using the plan saved in" in outputs[later], later
    assert "muslwheels_fixture_dep_a" in outputs["pre_build"]  # the dependency, before the build
    assert "2 pushed" in outputs["push"]

    rows = project.invoke("check", "--tag", tag, "--json", env=env).ok().json_lines()
    (row,) = rows
    assert row["status"] == "done"
    files, config = image_files(f"{row['repository']}:{row['tag']}")
    # the module's image carries its runtime closure (none), not its build-only dependency
    built = sorted(p.name for p in project.wheels.rglob("*.whl"))
    assert len(built) == 2
    assert sorted(files) == [n for n in built if n.startswith("muslwheels_fixture_needs_dep-")]
    assert config["config"]["Labels"]["org.opencontainers.image.revision"] == commit
