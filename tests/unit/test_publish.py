"""publish/images.py: wheel images pushed from wheels/, multi-arch tags, reuse of published wheels; fakes
only at our own seams (the engine and the registry)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from fakeimages import (
    ATTESTATION,
    REPO,
    FakeEngine,
    FakeRegistry,
    Image,
    make_target,
    published_bytes,
    put_wheel,
    wheel_name,
)

from muslwheels.config.imageref import (
    DOCKER_DEFAULT_REGISTRY,
    normalize_repository,
    split_image_name,
)
from muslwheels.config.model import Target
from muslwheels.errors import DockerError, ExitCode, RegistryError, UsageError
from muslwheels.publish.extract import ExtractJob, ExtractOptions, extract_one
from muslwheels.publish.images import (
    PushOptions,
    PushReport,
    ReuseOptions,
    ReuseReport,
    dependencies,
    image_labels,
    image_wheels,
    push_targets,
    reuse_published,
    wheel_image_dockerfile,
)

# --- repositories ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", DOCKER_DEFAULT_REGISTRY.names)
def test_docker_hub_repo_loses_its_host(host: str) -> None:
    # Docker Hub's DOCKER_REPO carries the registry host; our tags use user/repo
    assert (
        normalize_repository(f"{host}/someone/python-musl-wheels") == "someone/python-musl-wheels"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("someone/wheels", "someone/wheels"),
        ("127.0.0.1:5000/muslwheels/wheels", "127.0.0.1:5000/muslwheels/wheels"),
        ("http://127.0.0.1:5000/x/", "127.0.0.1:5000/x"),
        ("localhost/w", "localhost/w"),
        ("  registry.test:443/a/b  ", "registry.test:443/a/b"),
        ("wheels", "wheels"),
    ],
)
def test_other_repositories_stay_as_written(text: str, expected: str) -> None:
    assert normalize_repository(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("someone/wheels:latest", "names a tag or digest"),
        ("someone/wheels@sha256:" + "0" * 64, "names a tag or digest"),
        ("Someone/wheels", "not a valid repository"),
        ("someone/Wheels", "not a valid repository"),
        ("some one/wheels", "not a valid repository"),
    ],
)
def test_bad_repositories_are_usage_errors(text: str, match: str) -> None:
    with pytest.raises(UsageError, match=match) as info:
        normalize_repository(text)
    assert info.value.hint


def test_split_image_name() -> None:
    assert split_image_name("127.0.0.1:5000/x/y:cffi-py3.12") == (
        "127.0.0.1:5000/x/y",
        "cffi-py3.12",
    )
    assert split_image_name("127.0.0.1:5000/x/y") == ("127.0.0.1:5000/x/y", None)
    assert split_image_name("me/wheels:t") == ("me/wheels", "t")
    assert split_image_name("me/wheels") == ("me/wheels", None)


# --- the image ---------------------------------------------------------------------------------


def test_labels_and_dockerfile() -> None:
    target = make_target()
    labels = dict(image_labels(target, revision="0123abcd"))
    assert labels["org.opencontainers.image.title"] == target.tag
    assert labels["org.opencontainers.image.version"] == "1.0"
    assert labels["org.opencontainers.image.revision"] == "0123abcd"
    # a value that is not plain text is left out rather than written into the Dockerfile
    assert "org.opencontainers.image.revision" not in dict(
        image_labels(target, revision='x"\nRUN rm -rf /')
    )
    text = wheel_image_dockerfile(image_labels(target))
    lines = text.splitlines()
    assert lines[1] == "FROM scratch"
    assert lines[-1] == "COPY *.whl /"
    assert 'org.opencontainers.image.version="1.0"' in text
    assert "RUN" not in text


def test_labels_name_the_base_image_by_digest() -> None:
    planned, built = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    target = make_target(base_digests=(("linux/amd64", planned),))
    labels = dict(image_labels(target))
    assert labels["org.opencontainers.image.base.name"] == "python:3.11-alpine3.20"
    assert labels["org.opencontainers.image.base.digest"] == planned
    assert labels["io.musl-wheels.base-image"] == f"python@{planned}"
    # what the record beside the wheels says it was built on comes first
    labels = dict(image_labels(target, base_image=f"python@{built}"))
    assert labels["org.opencontainers.image.base.digest"] == built
    # planned by the tag: no base image label at all (nothing to pin to)
    assert not [k for k in dict(image_labels(make_target())) if "base" in k]


def test_image_wheels_carry_the_dependencies(tmp_path: Path) -> None:
    base = make_target("base")
    mid = make_target("mid", depends=[base])
    top = make_target("top", depends=[mid])
    by_id = {t.id: t for t in (base, mid, top)}
    assert dependencies(top, by_id) == (mid, base)
    for t in (base, mid, top):
        put_wheel(tmp_path, t)
    assert [p.name for p in image_wheels(top, by_id, tmp_path)] == [
        wheel_name(top),
        wheel_name(mid),
        wheel_name(base),
    ]
    (tmp_path / "amd64" / wheel_name(base)).unlink()
    with pytest.raises(RegistryError, match=re.escape("dependency base1.0-py3.11-amd64 is not in")):
        image_wheels(top, by_id, tmp_path)
    with pytest.raises(RegistryError, match="nothing to push") as info:
        image_wheels(base, by_id, tmp_path)
    assert info.value.hint is not None
    assert "invoke build" in info.value.hint


# --- pushing -----------------------------------------------------------------------------------


def push(
    targets: list[Target],
    root: Path,
    *,
    requested: list[Target] | None = None,
    registry: FakeRegistry | None = None,
    engine: FakeEngine | None = None,
    dry_run: bool = False,
) -> tuple[PushReport, FakeEngine, FakeRegistry]:
    registry = registry or FakeRegistry()
    engine = engine or FakeEngine(registry)
    wanted = requested if requested is not None else targets
    report = push_targets(
        targets,
        [t.id for t in wanted],
        options=PushOptions(wheels_root=root, dry_run=dry_run, revision="abc123"),
        engine=engine,
        registry=registry,
    )
    return report, engine, registry


def listing(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_per_arch_images_and_the_multi_arch_tag(tmp_path: Path) -> None:
    amd, arm = make_target("alpha", "amd64"), make_target("alpha", "arm64v8")
    for t in (amd, arm):
        put_wheel(tmp_path, t)
    before = listing(tmp_path)
    report, engine, registry = push([amd, arm], tmp_path)
    assert [r.status for r in report.results] == ["pushed", "pushed"]
    assert engine.pushed == [f"{REPO}:alpha1.0-py3.11-amd64", f"{REPO}:alpha1.0-py3.11-arm64v8"]
    image = registry.get(amd.image)
    assert image is not None
    assert image.platform == "linux/amd64"
    assert image.files == {wheel_name(amd): published_bytes(amd, "wheel of")}  # byte for byte
    assert 'org.opencontainers.image.revision="abc123"' in image.dockerfile
    assert engine.lists == [
        (f"{REPO}:alpha1.0-py3.11", (arm.image.replace("arm64v8", "amd64"), arm.image))
    ]
    assert registry.platforms(amd.multiarch_image) == ("linux/amd64", "linux/arm64")
    assert report.failure() is None
    assert engine.ready == 1
    assert listing(tmp_path) == before  # pushing never touches wheels/


def test_attested_per_arch_images_join_into_the_multi_arch_tag(tmp_path: Path) -> None:
    """--attest: each per-arch tag is an index holding the image and an unknown/unknown
    attestation entry (as buildx pushes it); the multi-arch tag is joined from those indexes and
    read back as the two platforms, and its wheels are extracted for each."""
    amd, arm = make_target("alpha", "amd64"), make_target("alpha", "arm64v8")
    for t in (amd, arm):
        put_wheel(tmp_path, t)
    registry = FakeRegistry()
    engine = FakeEngine(registry)
    report = push_targets(
        [amd, arm],
        [amd.id, arm.id],
        options=PushOptions(wheels_root=tmp_path, attest=True),
        engine=engine,
        registry=registry,
    )
    assert [r.status for r in report.results] == ["pushed", "pushed"]
    assert all(r.attest for r in engine.requests)
    per_arch = registry.get(arm.image)
    assert per_arch is not None and per_arch.platform is None  # an index...
    assert [registry.platform_of(m) for m in per_arch.members] == ["linux/arm64", ATTESTATION]
    assert registry.platforms(arm.image) == ("linux/arm64",)  # ...read as its one platform
    (manifest,) = report.manifests
    assert (manifest.status, manifest.arches) == ("created", ("amd64", "arm64v8"))
    assert engine.lists == [(amd.multiarch_image, (amd.image, arm.image))]
    joined = registry.get(amd.multiarch_image)
    assert joined is not None
    assert [registry.platform_of(m) for m in joined.members].count(ATTESTATION) == 2
    assert registry.platforms(amd.multiarch_image) == ("linux/amd64", "linux/arm64")
    dest = tmp_path / "out"
    for target in (amd, arm):
        engine.local.clear()
        extract_one(
            ExtractJob(target, target.multiarch_image),
            ExtractOptions(dest, pull=True),
            engine=engine,
            on_line=lambda _line: None,
        )
    assert (dest / "amd64" / wheel_name(amd)).read_bytes() == (
        tmp_path / "amd64" / wheel_name(amd)
    ).read_bytes()
    assert (dest / "arm64v8" / wheel_name(arm)).is_file()


def test_attestations_need_a_builder_that_makes_them(tmp_path: Path) -> None:
    target = make_target("alpha")
    put_wheel(tmp_path, target)
    registry = FakeRegistry()
    engine = FakeEngine(registry)
    engine.no_attestations = DockerError("builder 'default' uses the docker driver")
    with pytest.raises(DockerError, match="docker driver"):
        push_targets(
            [target],
            [target.id],
            options=PushOptions(wheels_root=tmp_path, attest=True),
            engine=engine,
            registry=registry,
        )
    assert engine.pushed == [] and registry.repos == {}
    # a dry run shows the flags and asks nothing of the builder
    report = push_targets(
        [target],
        [target.id],
        options=PushOptions(wheels_root=tmp_path, attest=True, dry_run=True),
        engine=engine,
        registry=registry,
    )
    assert "--provenance=mode=max --sbom=true" in report.results[0].message


def test_multi_arch_tag_keeps_arches_pushed_earlier(tmp_path: Path) -> None:
    amd, arm = make_target("alpha", "amd64"), make_target("alpha", "arm64v8")
    registry = FakeRegistry()
    registry.put(arm.image, Image("linux/arm64", {"old.whl": b"x"}))  # another run's push
    put_wheel(tmp_path, amd)
    report, engine, _ = push([amd], tmp_path, registry=registry)
    assert engine.lists == [(amd.multiarch_image, (amd.image, arm.image))]
    assert report.manifests[0].arches == ("amd64", "arm64v8")


def test_dependencies_are_pushed_only_when_missing(tmp_path: Path) -> None:
    dep = make_target("dep")
    other = make_target("other")
    top = make_target("top", depends=[dep, other])
    for t in (dep, other, top):
        put_wheel(tmp_path, t)
    registry = FakeRegistry()
    registry.put(dep.image, Image("linux/amd64", {wheel_name(dep): published_bytes(dep)}))
    report, engine, _ = push([dep, other, top], tmp_path, requested=[top], registry=registry)
    statuses = {r.target.module: r.status for r in report.results}
    assert statuses == {"dep": "present", "other": "pushed", "top": "pushed"}
    assert engine.pushed == [other.image, top.image]
    top_image = registry.get(top.image)
    assert top_image is not None
    # the target's image holds its own wheel and its dependencies' (from wheels/)
    assert sorted(top_image.files) == sorted([wheel_name(top), wheel_name(dep), wheel_name(other)])
    assert top_image.files[wheel_name(dep)] == published_bytes(dep, "wheel of")
    assert [name for name, _ in engine.lists] == [other.multiarch_image, top.multiarch_image]


def test_missing_wheel_fails_that_target_only(tmp_path: Path) -> None:
    good, bad = make_target("good"), make_target("bad")
    put_wheel(tmp_path, good)
    report, engine, _ = push([bad, good], tmp_path)
    results = report.results
    assert [r.status for r in results] == ["failed", "pushed"]
    assert "no wheel of it" in results[0].message
    assert engine.pushed == [good.image]
    error = report.failure()
    assert isinstance(error, RegistryError)
    assert error.exit_code is ExitCode.REGISTRY
    assert "1 of 2 image(s) not pushed" in str(error)


def test_half_pushed_run(tmp_path: Path) -> None:
    """The registry refuses the second arch: the first stays pushed, the multi-arch tag joins
    what the registry holds, the error says what is missing and wheels/ is unchanged."""
    amd, arm = make_target("alpha", "amd64"), make_target("alpha", "arm64v8")
    for t in (amd, arm):
        put_wheel(tmp_path, t)
    before = listing(tmp_path)
    registry = FakeRegistry()
    engine = FakeEngine(registry)
    engine.fail_push[arm.image] = RegistryError(
        "registry registry.test is unreachable", hint="check that the registry runs"
    )
    report, _, _ = push([amd, arm], tmp_path, registry=registry, engine=engine)
    results = report.results
    assert [r.status for r in results] == ["pushed", "failed"]
    assert results[1].hint == "check that the registry runs"
    assert engine.lists == [(amd.multiarch_image, (amd.image,))]
    error = report.failure()
    assert error is not None
    assert "push incomplete: 1 of 2 image(s) not pushed" in error.message
    assert "unreachable" in error.message
    assert error.hint is not None
    assert "run `invoke push` again" in error.hint
    assert listing(tmp_path) == before
    # the second run finishes the job
    engine.fail_push.clear()
    again, _, _ = push([amd, arm], tmp_path, registry=registry, engine=engine)
    assert again.failure() is None
    assert registry.platforms(amd.multiarch_image) == ("linux/amd64", "linux/arm64")


def test_no_multi_arch_tag_when_nothing_of_it_was_pushed(tmp_path: Path) -> None:
    target = make_target()
    put_wheel(tmp_path, target)
    registry = FakeRegistry()
    engine = FakeEngine(registry)
    engine.fail_push[target.image] = RegistryError("refused")
    report, _, _ = push([target], tmp_path, registry=registry, engine=engine)
    assert [m.status for m in report.manifests] == ["not-updated"]
    assert engine.lists == []


def test_failed_multi_arch_tag_is_reported(tmp_path: Path) -> None:
    target = make_target()
    put_wheel(tmp_path, target)
    registry = FakeRegistry()
    engine = FakeEngine(registry)
    engine.fail_list = RegistryError("imagetools refused", hint="docker login registry.test")
    report, _, _ = push([target], tmp_path, registry=registry, engine=engine)
    (manifest,) = report.manifests
    assert manifest.status == "failed"
    error = report.failure()
    assert error is not None
    assert "1 multi-arch tag(s) not made" in error.message
    assert error.hint is not None
    assert error.hint.startswith("docker login registry.test")


def test_dry_run_pushes_nothing(tmp_path: Path) -> None:
    amd, arm = make_target("alpha", "amd64"), make_target("alpha", "arm64v8")
    put_wheel(tmp_path, amd)  # arm64's wheel is not built yet
    report, engine, registry = push([amd, arm], tmp_path, dry_run=True)
    results = report.results
    assert [r.status for r in results] == ["would-push", "would-push"]
    assert f"type=image,name={amd.image},push=true" in results[0].message
    assert results[0].wheels == (wheel_name(amd),)
    assert any("arm64v8" in n and "dry run" in n for n in report.notes)
    (manifest,) = report.manifests
    assert manifest.status == "would-create"
    assert manifest.arches == ("amd64", "arm64v8")
    assert engine.pushed == []
    assert engine.lists == []
    assert engine.ready == 0
    assert registry.repos == {}


def test_unreachable_registry_while_choosing_dependencies(tmp_path: Path) -> None:
    dep = make_target("dep")
    top = make_target("top", depends=[dep])
    registry = FakeRegistry()
    registry.fail = RegistryError("registry registry.test is unreachable")
    with pytest.raises(RegistryError, match="unreachable"):
        push([dep, top], tmp_path, requested=[top], registry=registry)


# --- reuse -------------------------------------------------------------------------------------


def reuse(
    targets: list[Target],
    root: Path,
    registry: FakeRegistry,
    engine: FakeEngine,
    *,
    requested: list[Target] | None = None,
    **options: object,
) -> ReuseReport:
    return reuse_published(
        targets,
        [t.id for t in (requested if requested is not None else targets[-1:])],
        options=ReuseOptions(wheels_root=root, **options),  # type: ignore[arg-type]
        engine=engine,
        registry=registry,
    )


def published(registry: FakeRegistry, target: Target, *extra: Target) -> None:
    files = {wheel_name(t): published_bytes(t) for t in (target, *extra)}
    registry.put(target.image, Image(target.platform, files))


def test_dependency_and_target_are_reused_from_the_registry(tmp_path: Path) -> None:
    dep = make_target("dep")
    top = make_target("top", depends=[dep])
    registry = FakeRegistry()
    published(registry, dep)
    published(registry, top, dep)
    engine = FakeEngine(registry)
    report = reuse([dep, top], tmp_path, registry, engine)
    results = report.results
    assert [(r.target.module, r.status) for r in results] == [("dep", "reused"), ("top", "reused")]
    assert results[0].message == f"from {dep.image} (registry); tested when it was built"
    assert (tmp_path / "amd64" / wheel_name(dep)).read_bytes() == published_bytes(dep)
    assert (tmp_path / "amd64" / wheel_name(top)).read_bytes() == published_bytes(top)
    assert engine.exports == [(dep.image, "linux/amd64", False), (top.image, "linux/amd64", False)]


def test_no_self_pull_builds_the_target_but_reuses_dependencies(tmp_path: Path) -> None:
    dep = make_target("dep")
    top = make_target("top", depends=[dep])
    registry = FakeRegistry()
    published(registry, dep)
    published(registry, top, dep)
    engine = FakeEngine(registry)
    report = reuse([dep, top], tmp_path, registry, engine, self_pull=False)
    assert [r.target.module for r in report.results] == ["dep"]
    assert not (tmp_path / "amd64" / wheel_name(top)).exists()


def test_wheels_present_means_no_lookup(tmp_path: Path) -> None:
    target = make_target()
    put_wheel(tmp_path, target)
    registry = FakeRegistry()
    report = reuse([target], tmp_path, registry, FakeEngine(registry))
    assert report.results == ()
    assert registry.asked == []


def test_local_image_first_unless_force_pull(tmp_path: Path) -> None:
    target = make_target()
    registry = FakeRegistry()
    engine = FakeEngine(registry)
    engine.local[target.image] = Image(
        target.platform, {wheel_name(target): published_bytes(target, "local copy")}
    )
    report = reuse([target], tmp_path, registry, engine)
    assert (
        report.results[0].message == f"from {target.image} (local image); tested when it was built"
    )
    assert registry.asked == []
    assert (tmp_path / "amd64" / wheel_name(target)).read_bytes() == published_bytes(
        target, "local copy"
    )

    # WHEELS_FORCE_PULL: the registry decides, and the export pulls
    other = tmp_path / "other"
    published(registry, target)
    forced = reuse([target], other, registry, engine, force_pull=True)
    assert forced.results[0].message == f"from {target.image} (registry); tested when it was built"
    assert engine.exports[-1] == (target.image, "linux/amd64", True)
    assert (other / "amd64" / wheel_name(target)).read_bytes() == published_bytes(target)


def test_not_published_or_unreachable_means_build(tmp_path: Path) -> None:
    target = make_target()
    registry = FakeRegistry()
    engine = FakeEngine(registry)
    assert reuse([target], tmp_path, registry, engine).results == ()
    registry.fail = RegistryError("registry registry.test is unreachable: connection refused")
    report = reuse([target], tmp_path, registry, engine)
    assert report.results == ()
    (note,) = report.notes
    assert "connection refused" in note
    assert note.endswith("building it")
    assert engine.exports == []


def test_an_image_of_something_else_is_not_reused(tmp_path: Path) -> None:
    target = make_target()
    registry = FakeRegistry()
    registry.put(target.image, Image(target.platform, {"README.txt": b"hi", "etc/passwd": b"x"}))
    report = reuse([target], tmp_path, registry, FakeEngine(registry))
    assert report.results == ()
    (note,) = report.notes
    assert "something other than wheels" in note
    assert not any((tmp_path / "amd64").glob("*.whl"))


def test_dry_run_reuse_extracts_nothing(tmp_path: Path) -> None:
    target = make_target()
    registry = FakeRegistry()
    published(registry, target)
    engine = FakeEngine(registry)
    report = reuse([target], tmp_path, registry, engine, dry_run=True)
    assert [r.status for r in report.results] == ["would-reuse"]
    assert engine.exports == []
    assert not (tmp_path / "amd64").exists()


def test_reuse_per_flavour_repository(tmp_path: Path) -> None:
    shared = make_target()
    other_repo = replace(shared, repository="registry.test/me/other")
    registry = FakeRegistry()
    published(registry, other_repo)
    assert reuse([shared], tmp_path, registry, FakeEngine(registry)).results == ()
    assert registry.asked == [f"platforms {shared.image}"]
