"""Rust extensions from the real index and real crates, built into musllinux_1_2 wheels on the musl
stand-in with Rust (tests/standins/build-musl-rust.sh, built on demand by the fixture below).

Cross mode: cargo and rustc of the build platform (amd64) build for the target's musl triple, the
target's std built from rust-src, zig links against the target's sysroot, and openssl-sys finds the
target's OpenSSL there. Nothing runs under QEMU but the test. Each wheel passes the product's test step
and then a functional check in a container of its own platform, installed from wheels/<arch>/ alone.

CI (tier 1) keeps cryptography for armv7, cross; the rest is the matrix tier's.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename
from support import (
    REGISTRY,
    STANDIN_REPO,
    MatrixCell,
    Recorder,
    build_standin_on_demand,
    make_target,
    record_cell,
)
from test_musl_real import functional_checks as musl_checks
from test_musl_real import shipped_config

from muslwheels.build.inputs import BuildOptions, WheelTestSettings
from muslwheels.build.scheduler import TargetResult, build_targets
from muslwheels.config.arches import lookup_arch
from muslwheels.config.model import Flavour, Mode, ModuleConfig, Target
from muslwheels.config.modules import recipe_for
from muslwheels.engine.docker import DockerEngine
from muslwheels.plan.versions import newest_version
from muslwheels.sources.packageindex import PackageIndex
from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels

pytestmark = pytest.mark.integration

RUST_TAG = "3.11-musl-rust"
MUSL_RUST = f"{REGISTRY}/{STANDIN_REPO}:{RUST_TAG}"
BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "standins" / "build-musl-rust.sh"

#: An X.509 certificate (self-signed, P-256) for cryptography's check.
CERT = """-----BEGIN CERTIFICATE-----
MIIBjDCCATOgAwIBAgIUFpmFqy7zSACOCeNEnTKRRIuRHDQwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQbXVzbC13aGVlbHMgdGVzdDAgFw0yNjEyMDQxNjIxMzVaGA8y
MTI2MTExMDE2MjEzNVowGzEZMBcGA1UEAwwQbXVzbC13aGVlbHMgdGVzdDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABHbQmgMwZ58MPy/dzttcu3f1vSy5AtucXsX9
gZNh7h30dMWZZx7ivu2BLNz0if7gSCNoppKuKMC9Bp4vAN4/QFKjUzBRMB0GA1Ud
DgQWBBQG3sf1IyjsQsnpNzBBcIxC8SWA9DAfBgNVHSMEGDAWgBQG3sf1IyjsQsnp
NzBBcIxC8SWA9DAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCICso
FDe4ZfSYomlaeOF3MUOoFFbpdVUuEVWoBAV0hnuHAiBh6WYqUUz0KKAK5GQctbMH
ngJ6R4hmiXLbAj9ocq+muQ==
-----END CERTIFICATE-----
"""

#: What each module must do once imported: code that sets `out`, and repr(out).
CHECKS = {
    "cryptography": (
        "from cryptography.hazmat.bindings._rust import openssl as rust_openssl\n"
        "from cryptography.fernet import Fernet\n"
        "from cryptography import x509\n"
        "f = Fernet(Fernet.generate_key())\n"
        f"cert = x509.load_pem_x509_certificate({CERT.encode()!r})\n"
        "out = (f.decrypt(f.encrypt(b'musl')), cert.subject.rfc4514_string(),"
        " rust_openssl.openssl_version_text().split()[0])",
        "(b'musl', 'CN=musl-wheels test', 'OpenSSL')",
    ),
    "bcrypt": (
        "import bcrypt\nh = bcrypt.hashpw(b'musl', bcrypt.gensalt(rounds=4))\n"
        "out = (bcrypt.checkpw(b'musl', h), bcrypt.checkpw(b'wheels', h))",
        "(True, False)",
    ),
    "maturin": (
        "import subprocess, sys, sysconfig\n"
        "exe = sysconfig.get_path('scripts') + '/maturin'\n"
        "out = subprocess.run([exe, '--version'], capture_output=True, text=True, check=True)"
        ".stdout.split()[0]",
        "'maturin'",
    ),
    "paramiko": (
        "import io, bcrypt, paramiko\n"
        "key = paramiko.RSAKey.generate(1024)\n"
        "buf = io.StringIO(); key.write_private_key(buf)\n"
        "again = paramiko.RSAKey.from_private_key(io.StringIO(buf.getvalue()))\n"
        "h = bcrypt.hashpw(b'musl', bcrypt.gensalt(rounds=4))\n"
        "out = (again.get_fingerprint() == key.get_fingerprint(), bcrypt.checkpw(b'musl', h))",
        "(True, True)",
    ),
}


@functools.cache
def rust_standin() -> str:
    """The stand-in with Rust in the registry, built on demand (the script skips in a second when
    the tag was made from its recipe)."""
    build_standin_on_demand(BUILD_SCRIPT)
    return MUSL_RUST


#: Versions held back from the newest: PyNaCl 1.6 needs libsodium 1.0.20 (its AEGIS functions), and
#: the stand-in's libsodium is Debian 12's 1.0.18 (Alpine's is newer); maturin after 1.11 needs a
#: newer rustc than the stand-in's 1.85 (1.11.5 declares rust-version 1.85, 1.12 1.88, 1.13 1.89).
PINNED = {"pynacl": "1.5.0", "maturin": "1.11.5"}


@functools.cache
def newest(module: str, index_url: str, cert: str | None) -> str:
    if module.lower() in PINNED:
        return PINNED[module.lower()]
    project = PackageIndex(IndexSettings(index_url=index_url, cert=cert), use_find_links=False)
    found = project.project(module)
    assert found is not None, f"{module} is not on {index_url}"
    version = newest_version(found, python="3.11")
    assert version is not None, f"{module} has no release for Python 3.11"
    return version


def targets_for(
    arch: str,
    modules: Sequence[str],
    index: IndexSettings,
    flavour: Flavour = Flavour.SHARED,
    image: str | None = None,
) -> list[Target]:
    """The modules' targets for ``arch`` with modules.toml's recipes, each at its newest release,
    dependencies first (a module modules.toml lists as a dependency is a target of its own), on
    ``image`` (default: the stand-in with Rust)."""
    config = shipped_config()
    made: dict[str, Target] = {}

    def target(module: str) -> Target:
        if module not in made:
            found = config.module(module) or ModuleConfig(name=module)
            deps = [target(d) for d in found.depends]
            ssl = "openssl" if found.ssl_variants else None
            recipe = recipe_for(found, arch=arch, python="3.11", ssl=ssl, flavour=flavour)
            made[module] = make_target(
                module,
                arch,
                version=newest(module, index.index_url, index.cert),
                recipe=recipe,
                depends=deps,
                flavour=flavour,
                base_image=image or rust_standin(),
            )
        return made[module]

    for module in modules:
        target(module)
    return list(made.values())


@dataclass
class RustRun:
    arch: str
    results: dict[str, TargetResult]
    wheels_root: Path
    recorder: Recorder

    def result(self, module: str) -> TargetResult:
        result = self.results[module]
        assert result.status == "built", f"{module} {self.arch}: {result.status}: {result.message}"
        return result

    def wheel(self, module: str) -> Path:
        result = self.result(module)
        (name,) = (
            n
            for n in result.wheels
            if parse_wheel_filename(n)[0] == canonicalize_name(result.target.module)
        )
        return self.wheels_root / result.target.wheel_dir / name

    def log(self, module: str) -> str:
        return "\n".join(self.recorder.lines.get(self.results[module].target.id, []))


def run_rust(
    root: Path,
    index: IndexSettings,
    mode: Mode,
    arch: str,
    modules: Sequence[str],
    *,
    flavour: Flavour = Flavour.SHARED,
    cargo_config: Path | None = None,
    image: str | None = None,
) -> RustRun:
    targets = targets_for(arch, modules, index, flavour, image)
    recorder = Recorder()
    options = BuildOptions(
        wheels_root=root / "wheels",
        log_dir=root / "logs",
        index=index,
        jobs=1,
        force=True,  # the wheel steps run (their output is asserted on); cargo's caches stay warm
        mode=mode,
        build_platform="linux/amd64",
        tests=WheelTestSettings(modules=(), index=PipIndexWheels(index)),
        cargo_config=str(cargo_config) if cargo_config else None,
    )
    start = time.monotonic()
    results = build_targets(targets, options=options, engine=DockerEngine(), reporter=recorder)
    print(f"\nrust {arch} {mode.value}: {time.monotonic() - start:.0f}s in all")
    for r in results:
        print(f"  {r.target.module:14} {r.status:6} {r.seconds:6.0f}s  {r.mode}  {r.message[:200]}")
        record_cell(  # the matrix record (MATRIX.md, written by `nox -s matrix`)
            MatrixCell(
                what=f"{r.target.module} {r.target.version} (Rust stand-in, {flavour.value})",
                arch=arch,
                mode=r.mode or mode.value,
                built=r.status,
                tested=r.tested or "-",
                seconds=r.seconds,
            )
        )
    return RustRun(arch, {r.target.module: r for r in results}, options.wheels_root, recorder)


def functional_checks(
    arch: str, folder: Path, modules: Sequence[str], image: str = MUSL_RUST
) -> dict[str, str]:
    """test_musl_real's checks run in the Rust stand-in with this module's CHECKS."""
    return musl_checks(arch, folder, modules, checks=CHECKS, image=image, timeout=900)


def assert_rust_wheel(run: RustRun, module: str, mode: str) -> Path:
    result = run.result(module)
    assert result.mode == mode, result.mode
    assert result.tested.startswith("tested: "), result.tested
    found = lookup_arch(run.arch)
    assert found is not None, run.arch
    assert f"muslwheels: test passed on {found.platform}" in run.log(module)
    wheel = run.wheel(module)
    tags = parse_wheel_filename(wheel.name)[3]
    assert {t.platform for t in tags} == {f"musllinux_1_2_{found.wheel_machine}"}, wheel.name
    if mode == "cross":
        log = run.log(module)
        assert "std: " in log, log[-3000:]
    return wheel


@pytest.fixture(scope="module")
def cryptography_armv7(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings
) -> RustRun:
    return run_rust(
        tmp_path_factory.mktemp("rust-armv7"), host_index, Mode.CROSS, "armv7", ["cryptography"]
    )


def test_cryptography_cross_for_armv7_builds_and_works(cryptography_armv7: RustRun) -> None:
    run = cryptography_armv7
    wheel = assert_rust_wheel(run, "cryptography", "cross")
    log = run.log("cryptography")
    # cargo of the build platform built for the target's triple; nothing of the build ran under QEMU
    assert "cross mode: Rust " in log and "for armv7-unknown-linux-musleabihf" in log, log[-3000:]
    # the shared flavour bundles the target's libssl and libcrypto (auditwheel, from /target)
    names = zipfile.ZipFile(wheel).namelist()
    assert any("libssl" in n for n in names) and any("libcrypto" in n for n in names), names
    checks = functional_checks("armv7", run.wheels_root / "armv7", ["cryptography"])
    assert checks["cryptography"] == CHECKS["cryptography"][1]


#: A cargo config that sends crate fetches to a registry nobody answers for (a loopback port where
#: nothing listens: the build gets the host's network for it), with a private registry's token that
#: must never be seen.
UNREACHABLE_CARGO_CONFIG = """\
[source.crates-io]
replace-with = "mw-unreachable"

[source.mw-unreachable]
registry = "sparse+http://127.0.0.1:9/index/"

[registries.mw-private]
index = "sparse+http://127.0.0.1:9/private/"
token = "mw-token-that-must-not-leak"
"""


def test_an_unreachable_crate_registry_fails_in_one_line_naming_the_fetch(
    tmp_path: Path, host_index: IndexSettings
) -> None:
    """bcrypt for armv7 under mode auto, with the user's cargo config (MUSLWHEELS_CARGO_CONFIG, a
    secret) pointing crate fetches at a registry that does not answer: the cross attempt and the
    emulated one both stop at the crates stage, on the build platform, each with one line naming the
    fetch (no hang, nothing compiled under QEMU); the config's token is in no log and no message."""
    config = tmp_path / "cargo-config.toml"
    config.write_text(UNREACHABLE_CARGO_CONFIG)
    start = time.monotonic()
    run = run_rust(
        tmp_path / "run", host_index, Mode.AUTO, "armv7", ["bcrypt"], cargo_config=config
    )
    result = run.results["bcrypt"]
    assert result.status == "failed", result
    assert not list((run.wheels_root / "armv7").glob("*.whl"))
    fetch_line = "cargo could not fetch the crates of bcrypt"
    assert fetch_line in result.message, result.message
    assert "fetching the Rust crates failed" in result.message, result.message
    log = run.log("bcrypt")
    # auto: the cross attempt failed, then the emulated one, the same way (both named)
    assert "(in emulation, after the cross build failed: " in result.message, result.message
    assert result.exit_code == 6, result.exit_code
    assert f"muslwheels: error: {fetch_line}" in log, log[-4000:]
    seen = (
        log
        + result.message
        + "".join(
            p.read_text(errors="replace")
            for p in (tmp_path / "run" / "logs").rglob("*")
            if p.is_file()
        )
    )
    assert "mw-token-that-must-not-leak" not in seen
    print(f"\nunreachable crate registry: failed in {time.monotonic() - start:.0f}s")


@pytest.fixture
def stalling_registry() -> Iterator[str]:
    """A crate registry on the loopback that accepts every connection and never answers a byte:
    cargo's fetch stalls on it. Its URL (sparse protocol)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.5)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing, close nothing until the test ends

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield f"sparse+http://127.0.0.1:{server.getsockname()[1]}/index/"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()
    assert held, "cargo never reached the stalling registry: the test proved nothing"


def test_a_stalling_crate_registry_fails_in_one_line_naming_the_fetch(
    tmp_path: Path, host_index: IndexSettings, stalling_registry: str
) -> None:
    """bcrypt for amd64 (the crates stage is the same in every mode, on the build machine's
    platform), with crate fetches sent by the user's cargo config to a registry on the loopback
    that accepts and then never answers: the fetch gives up after cargo's timeout and retries, and
    the build fails with one line naming the fetch and exit code 6, never a hang."""
    config = tmp_path / "cargo-config.toml"
    config.write_text(
        f'[source.crates-io]\nreplace-with = "mw-stall"\n\n'
        f'[source.mw-stall]\nregistry = "{stalling_registry}"\n'
    )
    start = time.monotonic()
    run = run_rust(
        tmp_path / "run", host_index, Mode.CROSS, "amd64", ["bcrypt"], cargo_config=config
    )
    result = run.results["bcrypt"]
    assert result.status == "failed", result
    assert result.exit_code == 6, result.exit_code
    assert not list((run.wheels_root / "amd64").glob("*.whl"))
    assert "cargo could not fetch the crates of bcrypt" in result.message, result.message
    assert "fetching the Rust crates failed" in result.message, result.message
    # cargo's own words for the stall (curl's timeout), not a generic failure
    assert "imeout" in result.message or "[28]" in result.message, result.message
    print(f"\nstalling crate registry: failed in {time.monotonic() - start:.0f}s")


# --- the matrix tier (nox -s matrix) ----------------------------------------------------------------


@pytest.fixture(scope="module", params=["amd64", "arm64v8"])
def cryptography_run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    host_index: IndexSettings,
) -> RustRun:
    """cryptography for amd64 (native) and arm64 (cross), one architecture a run."""
    arch: str = request.param
    mode = Mode.CROSS
    return run_rust(
        tmp_path_factory.mktemp(f"rust-{arch}"), host_index, mode, arch, ["cryptography"]
    )


@pytest.mark.matrix
def test_cryptography_native_and_cross_builds_and_works(cryptography_run: RustRun) -> None:
    run = cryptography_run
    assert_rust_wheel(run, "cryptography", "native" if run.arch == "amd64" else "cross")
    checks = functional_checks(run.arch, run.wheels_root / run.arch, ["cryptography"])
    assert checks["cryptography"] == CHECKS["cryptography"][1]


@pytest.mark.matrix
def test_paramiko_for_armv7_installs_offline_and_works(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings
) -> None:
    """paramiko-py3.11-armv7: bcrypt and cryptography cross-compiled (Rust), PyNaCl and cffi (C),
    then paramiko; its closure installs from wheels/armv7/ alone under QEMU."""
    run = run_rust(
        tmp_path_factory.mktemp("paramiko-armv7"), host_index, Mode.CROSS, "armv7", ["paramiko"]
    )
    for module in ("bcrypt", "cryptography"):
        assert_rust_wheel(run, module, "cross")
    assert run.result("paramiko").status == "built"
    folder = run.wheels_root / "armv7"
    names = {parse_wheel_filename(p.name)[0] for p in folder.glob("*.whl")}
    assert {"paramiko", "bcrypt", "cryptography", "pynacl", "cffi", "pycparser"} <= names, names
    checks = functional_checks("armv7", folder, ["paramiko", "bcrypt"])
    assert checks["paramiko"] == CHECKS["paramiko"][1]
    assert checks["bcrypt"] == CHECKS["bcrypt"][1]


@pytest.mark.matrix
def test_cryptography_no_shared_names_its_runtime_packages(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings
) -> None:
    """The no-shared flavour keeps linking the system's libssl and libcrypto: the wheel bundles
    neither, and it works in a clean container of the base image, whose own libssl3 and libcrypto3
    (as python:*-alpine has them) it loads; no further runtime package is needed."""
    run = run_rust(
        tmp_path_factory.mktemp("rust-no-shared"),
        host_index,
        Mode.CROSS,
        "armv7",
        ["cryptography"],
        flavour=Flavour.NO_SHARED,
    )
    result = run.result("cryptography")
    assert result.tested.startswith("tested: "), result.tested
    names = zipfile.ZipFile(run.wheel("cryptography")).namelist()
    assert not any("libssl" in n or "libcrypto" in n for n in names), names
    assert "runtime packages:" not in result.message, result.message
    checks = functional_checks("armv7", run.wheels_root / "armv7", ["cryptography"])
    assert checks["cryptography"] == CHECKS["cryptography"][1]


@pytest.mark.matrix
@pytest.mark.parametrize("mode", [Mode.CROSS, Mode.EMULATE])
def test_bcrypt_for_armv7_cross_and_emulated(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings, mode: Mode
) -> None:
    """bcrypt for armv7 cross-compiled, and emulated under QEMU (the slow baseline: its crates
    fetched ahead on the build platform, cargo offline under QEMU)."""
    run = run_rust(
        tmp_path_factory.mktemp(f"bcrypt-{mode.value}"), host_index, mode, "armv7", ["bcrypt"]
    )
    assert_rust_wheel(run, "bcrypt", mode.value)
    if mode is Mode.EMULATE:
        assert "cargo runs offline: the crates were fetched ahead" in run.log("bcrypt")
    checks = functional_checks("armv7", run.wheels_root / "armv7", ["bcrypt"])
    assert checks["bcrypt"] == CHECKS["bcrypt"][1]


@pytest.mark.matrix
def test_maturin_cross_for_arm64_builds_and_runs(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings
) -> None:
    """maturin itself (a Rust program built through setuptools-rust, several hundred crates) for
    arm64, cross: the wheel is tested, then its maturin command runs in a container of its platform."""
    run = run_rust(
        tmp_path_factory.mktemp("maturin-arm64"), host_index, Mode.CROSS, "arm64v8", ["maturin"]
    )
    assert_rust_wheel(run, "maturin", "cross")
    checks = functional_checks("arm64v8", run.wheels_root / "arm64v8", ["maturin"])
    assert checks["maturin"] == CHECKS["maturin"][1]


#: The five other platforms of python:<X.Y>-alpine, each with a Rust musl target; the stand-in's tag
#: joins the Rust stand-in's amd64 (cross mode's build platform) with their images
#: (build-musl-rust.sh --extra, on demand; the five come from build-musl.sh --extra).
EXTRA_ARCHES = ("armv6", "i386", "ppc64le", "s390x", "riscv64")
MUSL_EXTRA_RUST = f"{REGISTRY}/{STANDIN_REPO}:3.11-musl-extra-rust"


@functools.cache
def extra_rust_standin() -> str:
    build_standin_on_demand(BUILD_SCRIPT.with_name("build-musl.sh"), "--extra", timeout=5400)
    build_standin_on_demand(BUILD_SCRIPT, "--extra")
    return MUSL_EXTRA_RUST


@pytest.mark.matrix
@pytest.mark.parametrize("arch", EXTRA_ARCHES)
def test_bcrypt_cross_for_the_other_platforms_builds_and_works(
    tmp_path_factory: pytest.TempPathFactory, host_index: IndexSettings, arch: str
) -> None:
    """bcrypt cross-compiled for each of the five (cargo of amd64 for the target's musl triple, its
    std built from rust-src), tested by the product's test step on its platform and checked there
    once more: hashpw/checkpw."""
    image = extra_rust_standin()
    run = run_rust(
        tmp_path_factory.mktemp(f"bcrypt-{arch}"),
        host_index,
        Mode.CROSS,
        arch,
        ["bcrypt"],
        image=image,
    )
    assert_rust_wheel(run, "bcrypt", "cross")
    found = lookup_arch(arch)
    assert found is not None and found.rust_triple
    log = run.log("bcrypt")
    assert f"for {found.rust_triple}, std: " in log, log[-3000:]
    checks = functional_checks(arch, run.wheels_root / arch, ["bcrypt"], image=image)
    assert checks["bcrypt"] == CHECKS["bcrypt"][1]
