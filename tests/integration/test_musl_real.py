"""Real projects from the real index, built into musllinux_1_2 wheels on the musl stand-in.

amd64 natively; arm64 and armv7 cross-compiled on amd64 (the target's system packages installed with
``apk add --root /target --arch ...``, the product's cross sysroot) and emulated under QEMU. The
recipes are the repository's own modules.toml; pip reaches the index this machine's pip is
configured for (the stand-in's Python has ssl; the CA bundle goes in as a secret). Every wheel passes
the product's test step (installed from its closure alone and imported in a clean container of its own
platform), and then the modules' functional checks run in one more container of that platform.

Tiers (.ci/README.md): CI (tier 1) builds the cheap representatives on armv7, the second foreign
architecture beside arm64 (test_cross_real, test_musl): msgpack cross-compiled and emulated, and cffi
cross-compiled (its libffi-dev goes into the cross sysroot with `apk add --root`). The matrix (tier 2,
`nox -s matrix`, marker `matrix`) builds every module for every architecture: amd64 natively, arm64 and
armv7 cross-compiled, and every one of them emulated on arm64 and armv7 too (`apk add` inside the
emulated build, cffi emulated first for the cffi-based ones). On a cold BuildKit cache that is the
long part: zstandard compiles all of zstd under QEMU (about 10 minutes an architecture; the seven
modules took 857 s a platform). MUSLWHEELS_MUSL_EMULATE (a comma-separated list of modules) narrows the
emulated set for a run by hand.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename
from support import MatrixCell, Recorder, make_target, record_cell, run_command
from test_musl import MUSL, skip_without_musl_standin

from muslwheels.build.inputs import BuildOptions, WheelTestSettings
from muslwheels.build.scheduler import TargetResult, build_targets
from muslwheels.config.arches import lookup_arch
from muslwheels.config.model import Config, Flavour, Mode, ModuleConfig, Target
from muslwheels.config.modules import parse_config, recipe_for
from muslwheels.engine.docker import DockerEngine
from muslwheels.plan.versions import newest_version
from muslwheels.sources.packageindex import PackageIndex
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.integration

MODULES_TOML = Path(__file__).resolve().parents[2] / "modules.toml"

# Releases that support CPython 3.11, built from their sdists. cffi is the newest release for 3.11,
# as a real run plans it: PyNaCl's, zstandard's and misaka's isolated builds ask the index for cffi
# and take its newest version, so our cffi wheel is the one they use only at that version.
VERSIONS = {
    "cffi": "",
    "PyNaCl": "1.5.0",
    "psutil": "5.9.8",
    "zstandard": "0.23.0",
    "misaka": "2.1.1",
    "greenlet": "3.1.1",
    "msgpack": "1.1.0",
}
#: The architectures the musl stand-in has (their platform, machine and apk arch: muslwheels.config.arches).
PLATFORMS = {
    key: (found.platform, found.wheel_machine)
    for key in ("amd64", "arm64v8", "armv7")
    if (found := lookup_arch(key)) is not None
}
_CHOSEN = os.environ.get("MUSLWHEELS_MUSL_EMULATE", "")
EMULATED = tuple(m for m in VERSIONS if _CHOSEN in ("", "all") or m in _CHOSEN.split(","))

#: What each module must do once imported: code that sets `out`, and repr(out).
FUNCTIONAL_CHECKS = {
    "cffi": (
        "import _cffi_backend as b\n"
        "out = b.newp(b.new_pointer_type(b.new_primitive_type('int')), 42)[0]",
        "42",
    ),
    "PyNaCl": (
        "import nacl.secret\n"
        "box = nacl.secret.SecretBox(b'k' * 32)\n"
        "out = box.decrypt(box.encrypt(b'musl'))",
        "b'musl'",
    ),
    "psutil": (
        "import os, psutil\nout = (psutil.Process().pid == os.getpid(), psutil.cpu_count() > 0)",
        "(True, True)",
    ),
    "zstandard": (
        "import zstandard as z\n"
        "data = b'musl' * 100\n"
        "out = (z.backend, z.ZstdDecompressor().decompress(z.ZstdCompressor().compress(data)) == data)",
        "('cext', True)",
    ),
    "misaka": ("import misaka\nout = misaka.html('*musl*').strip()", "'<p><em>musl</em></p>'"),
    "greenlet": ("import greenlet\nout = greenlet.greenlet(lambda: 42).switch()", "42"),
    "msgpack": (
        "import msgpack\nfrom msgpack import _cmsgpack\n"
        "out = (msgpack.Packer is _cmsgpack.Packer, msgpack.unpackb(msgpack.packb([1, 'a'])))",
        "(True, [1, 'a'])",
    ),
}

CHECK_SCRIPT = """
import json, platform, struct, sys
checks = json.loads(sys.argv[1])
results = {}
for name, code in checks.items():
    scope = {}
    try:
        exec(code, scope)
        results[name] = repr(scope["out"])
    except Exception as err:
        results[name] = f"{type(err).__name__}: {err}"
print(json.dumps({"machine": platform.machine(), "bits": struct.calcsize("P") * 8, "results": results}))
"""


def shipped_config() -> Config:
    return parse_config(tomllib.loads(MODULES_TOML.read_text()), str(MODULES_TOML))


@functools.cache
def version_of(module: str, index: IndexSettings) -> str:
    """The version ``module`` is built at: VERSIONS', else its newest release for Python 3.11 on the
    index pip inside the build uses (this machine's primary index)."""
    if VERSIONS[module]:
        return VERSIONS[module]
    remote = IndexSettings(index_url=index.index_url, cert=index.cert)
    project = PackageIndex(remote, use_find_links=False).project(module)
    assert project is not None, f"{module} is not on {index.index_url}"
    newest = newest_version(project, python="3.11")
    assert newest is not None, f"{module} has no release for Python 3.11"
    return newest


def targets_for(
    arch: str, modules: Sequence[str], index: IndexSettings, image: str = MUSL
) -> list[Target]:
    """The modules' targets for ``arch`` with the recipes of modules.toml, dependencies (cffi)
    first, on ``image`` (the musl stand-in, or its other tag of more platforms)."""
    config = shipped_config()
    made: dict[str, Target] = {}

    def target(module: str) -> Target:
        if module not in made:
            # a module modules.toml does not list (msgpack) is a plain pip wheel, as in a real run
            found = config.module(module) or ModuleConfig(name=module)
            deps = [target(d) for d in found.depends]
            recipe = recipe_for(found, arch=arch, python="3.11", ssl=None, flavour=Flavour.SHARED)
            made[module] = make_target(
                module,
                arch,
                version=version_of(module, index),
                recipe=recipe,
                depends=deps,
                base_image=image,
            )
        return made[module]

    for module in modules:
        target(module)
    return list(made.values())


@dataclass
class MuslRun:
    arch: str
    mode: Mode
    results: dict[str, TargetResult]  # module -> result
    wheels_root: Path
    recorder: Recorder
    seconds: float
    checks: dict[str, str]  # module -> repr(out) or the error

    def wheel(self, module: str) -> Path:
        """The module's own wheel (its closure's wheels, pycparser for cffi, lie beside it)."""
        result = self.results[module]
        assert result.status == "built", f"{module} {self.arch}: {result.status}: {result.message}"
        (name,) = (
            n
            for n in result.wheels
            if parse_wheel_filename(n)[0] == canonicalize_name(result.target.module)
        )
        return self.wheels_root / result.target.wheel_dir / name

    def log(self, module: str) -> str:
        return "\n".join(self.recorder.lines.get(self.results[module].target.id, []))


def run_musl(
    root: Path,
    index: IndexSettings,
    mode: Mode,
    arch: str,
    modules: Sequence[str],
    image: str = MUSL,
) -> MuslRun:
    targets = targets_for(arch, modules, index, image)
    recorder = Recorder()
    options = BuildOptions(
        wheels_root=root / "wheels",
        log_dir=root / "logs",
        index=index,
        jobs=2,
        force=True,
        mode=mode,
        build_platform="linux/amd64",
        tests=WheelTestSettings(modules=tuple(VERSIONS), index=PipIndexWheels(index)),
    )
    start = time.monotonic()
    results = build_targets(targets, options=options, engine=DockerEngine(), reporter=recorder)
    seconds = time.monotonic() - start
    by_module = {r.target.module: r for r in results}
    # the figures of the run (shown with pytest -s or -rP)
    print(f"\nmusl {arch} {mode.value}: {seconds:.0f}s in all")
    for r in results:
        print(f"  {r.target.module:10} {r.status:6} {r.seconds:6.0f}s  {r.mode}")
    run = MuslRun(arch, mode, by_module, options.wheels_root, recorder, seconds, {})
    built = [m for m in modules if by_module[m].status == "built"]
    if built:
        run.checks = functional_checks(arch, options.wheels_root / arch, built, image=image)
    for r in results:  # the matrix record (MATRIX.md, written by `nox -s matrix`)
        record_cell(
            MatrixCell(
                what=f"{r.target.module} {r.target.version}",
                arch=arch,
                mode=mode.value,
                built=r.status,
                tested=r.tested or "-",
                seconds=r.seconds,
            )
        )
    return run


@functools.cache
def platform_image(platform: str, image: str = MUSL) -> str:
    """``image`` (the musl stand-in, or another tag of it) for ``platform`` by digest. Running the tag would leave that platform's
    image under the tag in the engine's store, and the docker driver's BuildKit takes a local arm/v7
    image for a linux/arm64 FROM (containerd counts arm/v7 as runnable on arm64): later arm64 builds
    would get armv7's files."""
    done = run_command(["docker", "buildx", "imagetools", "inspect", "--raw", image], timeout=120)
    assert done.returncode == 0, done.stderr
    os_name, arch, *variant = platform.split("/")
    for manifest in json.loads(done.stdout)["manifests"]:
        found = manifest["platform"]
        if (found["os"], found["architecture"], found.get("variant")) == (
            os_name,
            arch,
            variant[0] if variant else None,
        ):
            return f"{image.rsplit(':', 1)[0]}@{manifest['digest']}"
    raise AssertionError(f"{image} has no {platform} image")


def functional_checks(
    arch: str,
    folder: Path,
    modules: Sequence[str],
    *,
    checks: Mapping[str, tuple[str, str]] = FUNCTIONAL_CHECKS,
    image: str = MUSL,
    timeout: float = 600,
) -> dict[str, str]:
    """Install ``modules`` from ``folder`` (wheels/<arch>/, no index, no network) in a fresh
    container of ``image`` on ``arch``'s platform (on the table's QEMU CPU, if it names one) and
    run their ``checks``."""
    found = lookup_arch(arch)
    assert found is not None, arch
    platform, machine = found.platform, found.wheel_machine
    cpu = ("-e", f"QEMU_CPU={found.qemu_cpu}") if found.qemu_cpu else ()
    script = (  # $0 the script, $1 the checks, $2 the projects (split on purpose)
        "set -e; python -m pip install -q --no-index --no-cache-dir --disable-pip-version-check "
        '--root-user-action=ignore --find-links /w $2 >&2; exec python -c "$0" "$1"'
    )
    code = {m: checks[m][0] for m in modules}
    done = run_command(
        [
            *("docker", "run", "--rm", "--network", "none", "--platform", platform, *cpu),
            *("-v", f"{folder}:/w:ro", platform_image(platform, image)),
            *("sh", "-c", script, CHECK_SCRIPT, json.dumps(code)),
            " ".join(modules),
        ],
        timeout=timeout,
    )
    assert done.returncode == 0, f"{arch} container failed: {done.stderr[-3000:]}"
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    # a 32-bit x86 container on a 64-bit x86 kernel says x86_64 (Docker sets no linux32 personality)
    said = (answer["machine"], answer["bits"])
    assert said[0] == machine or (machine, *said) == ("i686", "x86_64", 32), said
    results: dict[str, str] = answer["results"]
    return results


#: Tier 1 (CI): the modules built on armv7 per mode, cheap ones (msgpack-sized).
CHEAP = {Mode.CROSS: ("cffi", "msgpack"), Mode.EMULATE: ("msgpack",)}


@pytest.fixture(scope="module")
def armv7_runs(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings
) -> Callable[[Mode], MuslRun]:
    """CHEAP's modules on armv7 in a mode, built once per mode (by the first test that asks)."""
    skip_without_musl_standin()
    made: dict[Mode, MuslRun] = {}

    def run(mode: Mode) -> MuslRun:
        if mode not in made:
            root = tmp_path_factory.mktemp(f"musl-armv7-{mode.value}")
            made[mode] = run_musl(root, host_index, mode, "armv7", CHEAP[mode])
        return made[mode]

    return run


@pytest.fixture(scope="module", params=list(PLATFORMS))
def cross_run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    host_index: IndexSettings,
) -> MuslRun:
    """Every module for one architecture: amd64 natively, arm64 and armv7 cross-compiled (one
    architecture a run: `-k armv7` builds that one only)."""
    skip_without_musl_standin()
    arch: str = request.param
    root = tmp_path_factory.mktemp(f"musl-cross-{arch}")
    return run_musl(root, host_index, Mode.CROSS, arch, list(VERSIONS))


@pytest.fixture(scope="module", params=["arm64v8", "armv7"])
def emulate_run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    host_index: IndexSettings,
) -> MuslRun:
    """The emulated subset under QEMU for one architecture."""
    skip_without_musl_standin()
    arch: str = request.param
    root = tmp_path_factory.mktemp(f"musl-emulate-{arch}")
    return run_musl(root, host_index, Mode.EMULATE, arch, EMULATED)


def assert_musllinux(wheel: Path, machine: str) -> None:
    _, _, _, tags = parse_wheel_filename(wheel.name)
    assert {t.platform for t in tags} == {f"musllinux_1_2_{machine}"}, wheel.name


def assert_built_and_tested(run: MuslRun, module: str, mode: str) -> Path:
    result = run.results[module]
    assert result.status == "built", result.message
    assert result.mode == mode
    assert result.tested.startswith("tested: "), result.tested
    found = lookup_arch(run.arch)
    assert found is not None
    assert f"muslwheels: test passed on {found.platform}" in run.log(module)
    wheel = run.wheel(module)
    assert_musllinux(wheel, found.wheel_machine)
    assert run.checks[module] == FUNCTIONAL_CHECKS[module][1]
    return wheel


def assert_cross_sysroot(run: MuslRun, module: str) -> None:
    """The target's system packages went into the cross sysroot with the target's apk keys: the
    step is in the build for the target's apk arch, and its output says so when it ran (a step
    replayed from BuildKit's cache prints nothing of its own)."""
    log = run.log(module)
    lines = run.recorder.lines[run.results[module].target.id]
    found = lookup_arch(run.arch)
    assert found is not None
    apk_arch = found.apk_arch
    steps = {
        line.split()[0]
        for line in lines
        if "[crosssystem 2/2] RUN" in line and f'MW_CROSS_APK_ARCH="{apk_arch}"' in line
    }
    assert steps, log[-3000:]
    if any(f"{step} CACHED" not in lines for step in steps):
        assert f"apk add --root /target --arch {apk_arch} musl-dev" in log
    assert "UNTRUSTED" not in log
    assert "MW_MODE=cross" in log


@pytest.mark.parametrize(
    ("mode", "module"),
    [(mode, module) for mode, modules in CHEAP.items() for module in modules],
    ids=lambda v: v.value if isinstance(v, Mode) else str(v),
)
def test_cheap_wheels_cross_built_and_emulated_on_armv7(
    armv7_runs: Callable[[Mode], MuslRun], mode: Mode, module: str
) -> None:
    run = armv7_runs(mode)
    assert_built_and_tested(run, module, mode.value)
    if mode == Mode.CROSS:
        assert_cross_sysroot(run, module)
    else:
        assert "MW_MODE=cross" not in run.log(module)


@pytest.mark.matrix
@pytest.mark.parametrize("module", list(VERSIONS))
def test_native_and_cross_wheels_build_and_work(cross_run: MuslRun, module: str) -> None:
    arch = cross_run.arch
    wheel = assert_built_and_tested(cross_run, module, "native" if arch == "amd64" else "cross")
    if arch != "amd64":
        assert_cross_sysroot(cross_run, module)
    if module == "PyNaCl":
        # SODIUM_INSTALL=system: libsodium-dev from apk (for the target, in cross mode), its
        # libsodium grafted into the wheel by auditwheel
        names = zipfile.ZipFile(wheel).namelist()
        assert any(n.split("/")[0].lower() == "pynacl.libs" and "libsodium" in n for n in names)


@pytest.mark.matrix
@pytest.mark.parametrize("module", EMULATED)
def test_emulated_wheels_build_and_work(emulate_run: MuslRun, module: str) -> None:
    assert_built_and_tested(emulate_run, module, "emulate")
    log = emulate_run.log(module)
    assert "MW_MODE=cross" not in log
    if module == "psutil":
        assert "[crosssystem" not in log
