"""apk of the musl stand-in images: Alpine's package names, a few packages, real apk's trust rule.

Installed as /sbin/apk by tests/standins/build-musl.sh. It is no Alpine apk, and says so: it knows the
packages in the image's own repository (musl builds of a few libraries made from Debian's source
packages by the image's toolchain) and the names that the image already satisfies (gcc, g++, musl-dev,
pkgconf...). Any other name fails with one line. The forms it takes are those musl-wheels runs:

    apk add NAME...
    apk add --root DIR --arch ARCH [--no-scripts] [--keys-dir DIR] [--cache-dir DIR] NAME...

plus `apk info` (installed packages) and `apk --print-arch`.

Trust, as real apk: the repositories named in ROOT/etc/apk/repositories hold ARCH/APKINDEX.tar.gz,
signed (.SIGN.RSA.<key name>, RSA PKCS#1 v1.5 over SHA-256 of the APKINDEX member) with that
architecture's key; the index names each package's SHA-256. The key must be in the keys directory
(--keys-dir, default ROOT/etc/apk/keys; a relative one is taken inside ROOT, as apk does), else the
index is refused: "UNTRUSTED signature". Each image's /etc/apk/keys holds only its own architecture's
key; /usr/share/apk/keys/<arch>/ holds them all (as Alpine's alpine-keys). A repository is a
directory inside ROOT (it stands for the mirror that ROOT would download from).
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

STANDIN = "musl-wheels stand-in apk"
USAGE = "usage: apk add [--root DIR] [--arch ARCH] [--keys-dir DIR] [--cache-dir DIR] [--no-scripts] NAME..."
# DigestInfo of a SHA-256 hash (RFC 8017, EMSA-PKCS1-v1_5).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class ApkError(Exception):
    """One line for the user; apk exits 1."""


# --- RSA signature check (stdlib only: DER public key, PKCS#1 v1.5) ------------------------------------


def _der(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, content, position after) of the DER element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, data[pos : pos + length], pos + length


def public_key(pem: str) -> tuple[int, int]:
    """(n, e) of a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) holding an RSA key."""
    body = "".join(line for line in pem.splitlines() if line and not line.startswith("-----"))
    der = base64.b64decode(body)
    _, spki, _ = _der(der, 0)
    _, _, after_algorithm = _der(spki, 0)
    tag, bits, _ = _der(spki, after_algorithm)
    if tag != 0x03:
        raise ValueError("not an RSA public key")
    _, rsa, _ = _der(bits[1:], 0)  # skip the unused-bits byte
    _, n, after_n = _der(rsa, 0)
    _, e, _ = _der(rsa, after_n)
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def signature_ok(pem: str, signature: bytes, message: bytes) -> bool:
    try:
        n, e = public_key(pem)
    except (ValueError, IndexError):
        return False
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    decoded = pow(int.from_bytes(signature, "big"), e, n).to_bytes(size, "big")
    suffix = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(suffix) - 3) + b"\x00" + suffix
    return decoded == expected


# --- repository, index, database ------------------------------------------------------------------------


@dataclass
class Package:
    name: str
    version: str
    arch: str
    depends: list[str] = field(default_factory=list)
    checksum: str = ""
    description: str = ""
    files: list[str] = field(default_factory=list)


def parse_records(text: str) -> list[dict[str, list[str]]]:
    """APKINDEX / installed-database records: "K:value" lines, records separated by blank lines."""
    records: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if current:
                records.append(current)
                current = {}
            continue
        key, _, value = line.partition(":")
        current.setdefault(key, []).append(value)
    return records


def package_of(record: dict[str, list[str]]) -> Package:
    def one(key: str) -> str:
        return record.get(key, [""])[0]

    return Package(
        name=one("P"),
        version=one("V"),
        arch=one("A"),
        depends=one("D").split(),
        checksum=one("C"),
        description=one("T"),
        files=record.get("R", []),
    )


@dataclass
class Root:
    path: Path
    arch: str
    keys_dir: Path

    def inside(self, name: str) -> Path:
        return self.path / name.lstrip("/")

    def installed(self) -> dict[str, Package]:
        db = self.inside("lib/apk/db/installed")
        if not db.is_file():
            return {}
        packages = [package_of(r) for r in parse_records(db.read_text())]
        return {p.name: p for p in packages}

    def repositories(self) -> list[str]:
        listing = self.inside("etc/apk/repositories")
        if not listing.is_file():
            raise ApkError(f"{listing}: no repositories file")
        lines = [line.strip() for line in listing.read_text().splitlines()]
        return [line for line in lines if line and not line.startswith("#")]

    def index(self, repository: str) -> tuple[str, dict[str, Package]]:
        """Where the index of ``repository`` for this arch is, and its packages (signature checked)."""
        if "://" in repository:
            raise ApkError(
                f"{repository}: {STANDIN} reads only repositories inside the root (no network)"
            )
        where = f"{repository.rstrip('/')}/{self.arch}/APKINDEX.tar.gz"
        path = self.inside(where)
        if not path.is_file():
            return where, {}
        with tarfile.open(path, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            signatures = [n for n in members if n.startswith(".SIGN.RSA.")]
            index_member = tar.extractfile(members["APKINDEX"]) if "APKINDEX" in members else None
            if not signatures or index_member is None:
                raise ApkError(f"{where}: no signature or no APKINDEX in the index")
            text = index_member.read()
            trusted = False
            for sig in signatures:
                key = self.keys_dir / sig.removeprefix(".SIGN.RSA.")
                sig_member = tar.extractfile(members[sig])
                if key.is_file() and sig_member is not None:
                    trusted = trusted or signature_ok(key.read_text(), sig_member.read(), text)
        if not trusted:
            raise ApkError(f"{where}: UNTRUSTED signature")
        packages = [package_of(r) for r in parse_records(text.decode())]
        return where, {p.name: p for p in packages if p.arch == self.arch}


def install(root: Root, names: list[str], quiet: bool) -> None:
    installed = root.installed()
    available: dict[str, tuple[str, Package]] = {}
    for repository in root.repositories():
        where, packages = root.index(repository)
        for name, package in packages.items():
            available.setdefault(name, (where, package))
    # Resolve: every asked name and its dependencies, dependencies first.
    order: list[str] = []

    def want(spec: str, asked_by: str | None) -> None:
        name, version = split_spec(spec)
        if name in installed and version_fits(installed[name].version, version, spec):
            return
        if name not in available:
            have = sorted({*installed, *available})
            why = f" (needed by {asked_by})" if asked_by else ""
            raise ApkError(
                f"unable to select packages: {spec}{why}: this {STANDIN} does not have it "
                f"(it has {' '.join(have)})"
            )
        package = available[name][1]
        if not version_fits(package.version, version, spec):
            raise ApkError(
                f"unable to select packages: {spec}: {STANDIN} has {name}-{package.version}"
            )
        if name in order:
            return
        for dep in package.depends:
            want(dep, name)
        order.append(name)

    for spec in names:
        want(spec, None)
    for number, name in enumerate(order, 1):
        where, package = available[name]
        archive = root.inside(f"{where.rsplit('/', 1)[0]}/{name}-{package.version}.apk")
        data = archive.read_bytes()
        if hashlib.sha256(data).hexdigest() != package.checksum:
            raise ApkError(f"{archive}: BAD checksum")
        if not quiet:
            print(f"({number}/{len(order)}) Installing {name} ({package.version})")
        package.files = unpack(data, root.path)
        installed[name] = package
    write_database(root, installed, names)
    if not quiet:
        print(f"OK: {len(installed)} packages installed ({STANDIN}, arch {root.arch})")


def split_spec(spec: str) -> tuple[str, str]:
    for sep in ("=", "~"):
        if sep in spec:
            name, version = spec.split(sep, 1)
            return name, sep + version
    return spec, ""


def version_fits(have: str, want: str, spec: str) -> bool:
    if not want:
        return True
    if want.startswith("="):
        return have == want[1:]
    return have.startswith(want[1:])


def unpack(data: bytes, root: Path) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if not m.name.startswith(".")]
        for member in members:
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise ApkError(f"package member {member.name} leaves the root")
        tar.extractall(root, members=members)
        return [m.name for m in members if not m.isdir()]


def write_database(root: Root, installed: dict[str, Package], names: list[str]) -> None:
    db = root.inside("lib/apk/db/installed")
    db.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for package in installed.values():
        lines = [f"P:{package.name}", f"V:{package.version}", f"A:{package.arch}"]
        if package.depends:
            lines.append("D:" + " ".join(package.depends))
        if package.description:
            lines.append(f"T:{package.description}")
        lines += [f"R:{f}" for f in package.files]
        records.append("\n".join(lines) + "\n")
    db.write_text("\n".join(records))
    world = root.inside("etc/apk/world")
    world.parent.mkdir(parents=True, exist_ok=True)
    old = world.read_text().split() if world.is_file() else []
    world.write_text("\n".join(sorted({*old, *names})) + "\n")


# --- command line ------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    root_dir = "/"
    arch = ""
    keys_dir = ""
    quiet = False
    command = ""
    names: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("--root", "-p", "--arch", "--keys-dir", "--cache-dir", "-X", "--repository"):
            value = next(args, None)
            if value is None:
                raise ApkError(f"option {arg} needs a value")
            if arg in ("--root", "-p"):
                root_dir = value
            elif arg == "--arch":
                arch = value
            elif arg == "--keys-dir":
                keys_dir = value
            elif arg in ("-X", "--repository"):
                raise ApkError(f"{arg}: {STANDIN} uses only the repositories file")
        elif arg in (
            "--no-scripts",
            "--no-cache",
            "--update",
            "-U",
            "--no-progress",
            "--clean-protected",
        ):
            pass
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg == "--print-arch":
            command = command or "print-arch"
        elif arg in ("--version", "-V"):
            print(f"apk-tools 2 ({STANDIN})")
            return 0
        elif arg.startswith("-"):
            raise ApkError(f"option {arg} is not known to {STANDIN}; {USAGE}")
        elif not command:
            command = arg
        else:
            names.append(arg)
    root_path = Path(root_dir)
    if not arch:
        arch_file = root_path / "etc/apk/arch"
        if not arch_file.is_file():
            raise ApkError(f"{arch_file} is missing; give --arch")
        arch = arch_file.read_text().strip()
    keys = Path(keys_dir or "etc/apk/keys")
    if not keys.is_absolute():
        keys = root_path / keys
    root = Root(root_path, arch, keys)
    if command == "print-arch":
        print(arch)
    elif command == "add":
        if not names:
            raise ApkError(USAGE)
        install(root, names, quiet)
    elif command == "info":
        for name in sorted(root.installed()):
            print(name)
    else:
        raise ApkError(f"command {command or '(none)'!r} is not known to {STANDIN}; {USAGE}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ApkError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        sys.exit(1)
