"""The architecture table (arches.ARCHES) is the one source of per-arch facts: the stand-in's build
scripts (tests/standins), which keep their own `case` tables, must agree with it for every
architecture they build, and the Dockerfile's scripts (docker/) must keep no table at all (they get
what they need as build args, build.modes.cross_build_args)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from muslwheels.build.modes import cross_build_args
from muslwheels.config.arches import ARCHES, Arch, arch_for_machine, arch_for_platform, lookup_arch
from muslwheels.engine.emulation import handler_name

ROOT = Path(__file__).resolve().parents[2]
STANDINS = ROOT / "tests" / "standins"

#: What each stand-in script's functions say, by the table's field. `platform` finds the row.
MUSL_FUNCTIONS = {
    "platform": "platform",
    "apk_arch": "apk_arch",
    "wheel_machine": "machine",
    "zig_triple": "triplet",
    "zig_cpu": "zig_cpu",
    "multiarch": "multiarch",
    "qemu": "qemu",
    "qemu_cpu": "qemu_cpu",
}
MUSL_RUST_FUNCTIONS = {
    "platform": "platform",
    "apk_arch": "apk_arch",
    "rust_triple": "musl_triple",
}


def script_facts(
    script: Path, arches_var: str, functions: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Source ``script`` in bash (it defines functions only when sourced) and call ``functions``
    for each of its architectures (the bash array ``arches_var``): {its arch name: {field: value}}."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.fail("bash is needed to read the stand-in scripts (Debian: apt-get install bash)")
    fields = list(functions)
    calls = " ".join(f'"$({functions[f]} "$a")"' for f in fields)
    program = (
        f'source "$1" >/dev/null || exit 3\n'
        f'for a in "${{{arches_var}[@]}}"; do\n'
        f"  printf '%s' \"$a\"; printf '\\t%s' {calls}; printf '\\n'\n"
        "done\n"
    )
    done = subprocess.run(
        [bash, "-c", program, "bash", str(script)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=script.parent,
    )
    assert done.returncode == 0, f"{script.name}: {done.stderr.strip()[-2000:]}"
    facts: dict[str, dict[str, str]] = {}
    for line in done.stdout.splitlines():
        name, *values = line.split("\t")
        assert len(values) == len(fields), f"{script.name}: {line!r}"
        facts[name] = dict(zip(fields, values, strict=True))
    assert facts, f"{script.name}: no architectures in {arches_var}"
    return facts


def disagreements(facts: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Where a script's facts (by its own arch name) and the table differ, one line each."""
    found: list[str] = []
    for name, values in facts.items():
        arch = arch_for_platform(values["platform"])
        if arch is None:
            found.append(f"{name}: platform {values['platform']!r} is not in the table")
            continue
        for field, value in values.items():
            want = str(getattr(arch, field))
            if value != want:
                found.append(f"{name} ({arch.key}): {field} is {value!r}, the table says {want!r}")
    return found


@pytest.mark.parametrize(
    ("script", "arches_var", "functions"),
    [
        ("build-musl.sh", "ALL_ARCHES", MUSL_FUNCTIONS),
        ("build-musl-rust.sh", "ALL_ARCHES", MUSL_RUST_FUNCTIONS),
    ],
)
def test_the_standin_scripts_agree_with_the_table(
    script: str, arches_var: str, functions: Mapping[str, str]
) -> None:
    facts = script_facts(STANDINS / script, arches_var, functions)
    assert disagreements(facts) == []
    # build-musl.sh: all eight (the default tag's three and --extra's five); build-musl-rust.sh: the
    # default musl stand-in's three, amd64, arm64v8 and armv7 (Debian's amd64, arm64 and armhf)
    keys = {a.key for v in facts.values() if (a := arch_for_platform(v["platform"])) is not None}
    if script == "build-musl.sh":
        assert keys == {a.key for a in ARCHES}
    else:
        assert keys == {"amd64", "arm64v8", "armv7"}


def test_the_rust_standins_extra_tag_holds_the_other_five_platforms() -> None:
    """build-musl-rust.sh --extra joins its amd64 with the platforms of EXTRA_PLATFORMS: with the
    default tag's three, they are the table's eight."""
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [
            bash,
            "-c",
            'source "$1" >/dev/null && printf "%s\\n" "${EXTRA_PLATFORMS[@]}"',
            "bash",
            str(STANDINS / "build-musl-rust.sh"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=STANDINS,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    extra = done.stdout.split()
    assert len(extra) == len(set(extra)) == 5, extra
    default = {"linux/amd64", "linux/arm64", "linux/arm/v7"}
    assert set(extra) | default == {a.platform for a in ARCHES}


def test_a_disagreeing_script_is_caught(tmp_path: Path) -> None:
    script = tmp_path / "fake.sh"
    script.write_text(
        "ARCHES=(armhf arm64)\n"
        "platform() { case $1 in armhf) echo linux/arm/v7 ;; arm64) echo linux/arm64 ;; esac; }\n"
        "apk_arch() { case $1 in armhf) echo armhf ;; arm64) echo aarch64 ;; esac; }\n"
        "machine() { case $1 in armhf) echo armv7l ;; arm64) echo arm64 ;; esac; }\n"
    )
    facts = script_facts(
        script,
        "ARCHES",
        {"platform": "platform", "apk_arch": "apk_arch", "wheel_machine": "machine"},
    )
    assert disagreements(facts) == [
        "armhf (armv7): apk_arch is 'armhf', the table says 'armv7'",
        "arm64 (arm64v8): wheel_machine is 'arm64', the table says 'aarch64'",
    ]
    facts["armhf"]["platform"] = "linux/mips"
    assert disagreements(facts)[0] == "armhf: platform 'linux/mips' is not in the table"


def _spellings(arch: Arch) -> set[str]:
    values = {
        arch.platform,
        arch.wheel_machine,
        *arch.machine_aliases,
        arch.apk_arch,
        arch.zig_triple,
        arch.zig_cpu,
        arch.rust_triple,
        arch.multiarch,
        arch.qemu_handler,
    }
    return {v for v in values if v}


def _code_lines(path: Path) -> Sequence[tuple[int, str]]:
    return [
        (n, line)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if not line.lstrip().startswith("#")
    ]


def test_the_docker_scripts_keep_no_arch_table() -> None:
    words = sorted({v for a in ARCHES for v in _spellings(a)}, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.+-])(" + "|".join(map(re.escape, words)) + r")(?![\w.+-])")
    files = sorted(p for p in (ROOT / "docker").rglob("*") if p.is_file())
    assert any(p.name == "mw-cross-tools" for p in files)
    found = [
        f"{p.relative_to(ROOT)}:{n}: {m.group(1)}"
        for p in files
        for n, line in _code_lines(p)
        for m in pattern.finditer(line)
    ]
    assert found == []


def test_every_row_is_complete_and_its_names_are_unique() -> None:
    for field in ("key", "tag", "platform", "wheel_machine", "apk_arch"):
        values = [getattr(a, field) for a in ARCHES]
        assert all(values) and len(set(values)) == len(values), field
    for arch in ARCHES:
        assert arch.zig_triple and arch.rust_triple and arch.multiarch and arch.qemu
        assert arch.elf is not None
        assert arch_for_machine(arch.wheel_machine) is arch
        assert lookup_arch(arch.key) is arch and arch_for_platform(arch.platform) is arch
        for other in (*arch.also_runs, *arch.may_run):
            assert lookup_arch(other) is not None, other


@pytest.mark.parametrize(
    ("key", "machine", "apk", "handler", "args"),
    [
        ("amd64", "x86_64", "x86_64", "qemu-x86_64", ("x86_64-linux-musl", "")),
        ("arm64v8", "aarch64", "aarch64", "qemu-aarch64", ("aarch64-linux-musl", "")),
        ("armv7", "armv7l", "armv7", "qemu-arm", ("arm-linux-musleabihf", "generic+v7a+vfp3d16")),
        ("armv6", "armv6l", "armhf", "qemu-arm", ("arm-linux-musleabihf", "arm1176jzf_s")),
        ("i386", "i686", "x86", "qemu-i386", ("x86-linux-musl", "pentium4")),
        ("ppc64le", "ppc64le", "ppc64le", "qemu-ppc64le", ("powerpc64le-linux-musl", "")),
        ("s390x", "s390x", "s390x", "qemu-s390x", ("s390x-linux-musl", "")),
        ("riscv64", "riscv64", "riscv64", "qemu-riscv64", ("riscv64-linux-musl", "")),
    ],
)
def test_what_the_table_hands_to_docker(
    key: str, machine: str, apk: str, handler: str, args: tuple[str, str]
) -> None:
    arch = lookup_arch(key)
    assert arch is not None
    settings = cross_build_args(arch)
    assert settings is not None
    built = dict(settings)
    assert (built["MW_CROSS_TRIPLE"], built["MW_CROSS_CPU"]) == args
    assert built["MW_CROSS_MACHINE"] == machine and built["MW_CROSS_APK_ARCH"] == apk
    assert handler_name(arch) == handler
