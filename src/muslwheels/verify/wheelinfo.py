"""What a wheel holds, read from the wheel itself: its metadata, its importable modules, its ELF files.

Pure apart from ``read_wheel`` reading the one file it is given (no Docker, no network):

- ``parse_metadata``: name, version and ``Requires-Dist`` of a METADATA text;
- ``importable_modules``: the top-level modules and the extension modules a wheel's file list holds
  (what the default test imports; never guessed from the project's name);
- ``elf_dynamic``: the ``DT_NEEDED`` libraries and the ``DT_SONAME`` of an ELF file's bytes;
- ``elf_kind``, ``arm_cpu_arch``: the class, byte order and machine of an ELF file, and on 32-bit
  ARM its ``Tag_CPU_arch`` build attribute (ARMv6 or ARMv7 code);
- ``elf_module_inits``: the ``PyInit_*`` functions an ELF file exports (a ``*.so`` without
  ``PyInit_<name>`` is a plain library loaded with ctypes or cffi, not a module to import);
- ``read_wheel``: all of the above for one ``.whl`` file;
- ``elf_members``: the bytes of every ELF file a ``.whl`` file holds, whatever its name.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import Literal

from ..config.arches import ElfKind
from ..errors import BuildError
from ..names import escape
from .wheelfile import WheelProblem, open_wheel

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXTENSION = re.compile(r"(?P<stem>[A-Za-z_][A-Za-z0-9_]*)(\.[A-Za-z0-9_-]+)*\.(so|pyd)")
_SHARED_LIBRARY = re.compile(r"\.so(\.[0-9]+)*\Z")
_DATA_LIBS = ("purelib", "platlib")


@dataclass(frozen=True)
class ElfFile:
    path: str  # inside the wheel
    needed: tuple[str, ...]  # DT_NEEDED, in file order
    soname: str | None


@dataclass(frozen=True)
class WheelContents:
    name: str  # as the metadata spells it
    version: str
    requires_dist: tuple[str, ...]  # the Requires-Dist lines, as written
    top_level: tuple[str, ...]  # importable top-level modules and packages, sorted
    extensions: tuple[str, ...]  # dotted names of the extension modules, sorted
    elf_files: tuple[ElfFile, ...]  # every ELF file (extension modules and bundled libraries)

    def provided_libraries(self) -> frozenset[str]:
        """Library names the wheel satisfies by itself: its ELF files' names and SONAMEs."""
        names: set[str] = set()
        for elf in self.elf_files:
            names.add(PurePosixPath(elf.path).name)
            if elf.soname:
                names.add(elf.soname)
        return frozenset(names)

    def needed_from_outside(self) -> tuple[str, ...]:
        """The ``NEEDED`` libraries no file of the wheel provides, sorted."""
        provided = self.provided_libraries()
        return tuple(sorted({n for elf in self.elf_files for n in elf.needed if n not in provided}))


def parse_metadata(text: str) -> tuple[str, str, tuple[str, ...]]:
    """(Name, Version, Requires-Dist lines) of a core metadata file (METADATA / PKG-INFO)."""
    message = HeaderParser().parsestr(text)
    name = (message.get("Name") or "").strip()
    version = (message.get("Version") or "").strip()
    if not name or not version:
        raise ValueError("the metadata has no Name or no Version")
    requires = tuple(r.strip() for r in message.get_all("Requires-Dist") or () if r.strip())
    return name, version, requires


def _module_path(name: str) -> PurePosixPath | None:
    """Where a wheel member is once installed (relative to site-packages); None for metadata,
    scripts, headers and data outside the library."""
    parts = PurePosixPath(name).parts
    if not parts or name.endswith("/"):
        return None
    if parts[0].endswith(".dist-info"):
        return None
    if parts[0].endswith(".data"):
        if len(parts) > 2 and parts[1] in _DATA_LIBS:
            return PurePosixPath(*parts[2:])
        return None
    return PurePosixPath(*parts)


def importable_modules(names: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(top-level modules, extension modules) of a wheel's member names.

    A top-level module is a root ``*.py`` file, a root extension module, or a root directory that
    is a package (has ``__init__.py``). A root directory without one is a namespace package: its
    first-level packages and modules stand in for it (``google/protobuf/__init__.py`` ->
    ``google.protobuf``). Extension modules are the ``*.so`` files named like a module (not the
    libraries auditwheel bundles, ``*.so.N`` or in ``<name>.libs/``), as dotted names.
    """
    paths = [p for p in (_module_path(n) for n in names) if p is not None]
    packages = {p.parent for p in paths if p.name == "__init__.py"}
    top: set[str] = set()
    extensions: set[str] = set()

    def dotted(parts: Iterable[str]) -> str | None:
        items = list(parts)
        return ".".join(items) if all(_IDENTIFIER.fullmatch(i) for i in items) else None

    for path in paths:
        ext = _EXTENSION.fullmatch(path.name)
        if ext and not any(part.endswith(".libs") for part in path.parts[:-1]):
            name = dotted([*path.parts[:-1], ext.group("stem")])
            if name:
                extensions.add(name)
        stem = ext.group("stem") if ext else path.stem if path.suffix == ".py" else None
        if len(path.parts) == 1:
            if stem and stem != "__init__":
                top.add(stem)
            continue
        root = PurePosixPath(path.parts[0])
        if root in packages:
            name = dotted(root.parts)
        elif len(path.parts) >= 3 and PurePosixPath(*path.parts[:2]) in packages:
            name = dotted(path.parts[:2])  # a package inside a namespace package
        elif len(path.parts) == 2 and stem and stem != "__init__":
            name = dotted([path.parts[0], stem])  # a module inside a namespace package
        else:
            name = None
        if name:
            top.add(name)
    return tuple(sorted(top)), tuple(sorted(extensions))


# --- ELF ----------------------------------------------------------------------------------------

_DT_NEEDED = 1
_DT_SONAME = 14
_SHT_DYNAMIC = 6
_SHT_DYNSYM = 11
_SHN_UNDEF = 0


def _elf_sections(data: bytes) -> tuple[str, int, list[tuple[int, ...]]] | None:
    """(struct byte order, 1 or 2 for 32 or 64 bit, section headers); None for a non-ELF file."""
    if data[:4] != b"\x7fELF" or len(data) < 52:
        return None
    bits, order = data[4], data[5]
    if bits not in (1, 2) or order not in (1, 2):
        raise ValueError("unknown ELF class or byte order")
    end = "<" if order == 1 else ">"
    try:
        if bits == 2:
            shoff, shentsize, shnum = (
                struct.unpack_from(end + "Q", data, 0x28)[0],
                *struct.unpack_from(end + "HH", data, 0x3A),
            )
            section = end + "IIQQQQIIQQ"
        else:
            shoff, shentsize, shnum = (
                struct.unpack_from(end + "I", data, 0x20)[0],
                *struct.unpack_from(end + "HH", data, 0x2E),
            )
            section = end + "IIIIIIIIII"
        headers = [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum)]
    except struct.error as err:
        raise ValueError(f"not a readable ELF file ({err})") from None
    return end, bits, headers


_SHT_ARM_ATTRIBUTES = 0x70000003
_TAG_FILE = 1
_TAG_CPU_ARCH = 6


def elf_kind(data: bytes) -> ElfKind | None:
    """(class in bits, byte order, ``e_machine``) of an ELF file's header; None when ``data``
    does not start with one."""
    if data[:4] != b"\x7fELF" or len(data) < 20 or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    order: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    bits: Literal[32, 64] = 32 if data[4] == 1 else 64
    return bits, order, int.from_bytes(data[18:20], order)


def arm_cpu_arch(data: bytes) -> int | None:
    """``Tag_CPU_arch`` of a 32-bit ARM ELF file's ``.ARM.attributes`` (the file-wide "aeabi"
    attributes); None when it has none or they cannot be read."""
    try:
        found = _elf_sections(data)
        if found is None or found[1] != 1:
            return None
        end, _, headers = found
        for header in headers:
            offset, size = header[4], header[5]
            if header[1] == _SHT_ARM_ATTRIBUTES and size > 1 and data[offset] == 0x41:  # "A"
                return _aeabi_cpu_arch(data[offset + 1 : offset + size], end)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _uleb128(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _aeabi_cpu_arch(section: bytes, end: str) -> int | None:
    pos = 0
    while pos + 4 <= len(section):
        length = struct.unpack_from(end + "I", section, pos)[0]
        if length < 5:
            return None
        sub = section[pos + 4 : pos + length]
        pos += length
        vendor, _, rest = sub.partition(b"\0")
        if vendor != b"aeabi":
            continue
        inner = 0
        while inner + 5 <= len(rest):
            tag = rest[inner]
            size = struct.unpack_from(end + "I", rest, inner + 1)[0]
            if size < 5:
                return None
            if tag == _TAG_FILE:
                return _attribute(rest[inner + 5 : inner + size], _TAG_CPU_ARCH)
            inner += size
    return None


def _attribute(attributes: bytes, wanted: int) -> int | None:
    """One integer attribute of an "aeabi" attribute list (tags 4, 5 and 67, and odd tags above 32,
    are strings; tag 32 is an integer and a string; the others are integers)."""
    pos = 0
    while pos < len(attributes):
        tag, pos = _uleb128(attributes, pos)
        if tag in (4, 5, 67) or (tag > 32 and tag % 2):
            pos = attributes.index(b"\0", pos) + 1
            continue
        value, pos = _uleb128(attributes, pos)
        if tag == wanted:
            return value
        if tag == 32:
            pos = attributes.index(b"\0", pos) + 1
    return None


def _c_string(data: bytes, start: int) -> str:
    return data[start : data.index(b"\0", start)].decode("utf-8", "replace")


def elf_dynamic(data: bytes) -> tuple[tuple[str, ...], str | None] | None:
    """(DT_NEEDED names, DT_SONAME) of an ELF file; None when ``data`` is not an ELF file.

    Read from the section headers: the ``.dynamic`` section and the string table it links to. A
    truncated or inconsistent file raises ValueError.
    """
    found = _elf_sections(data)
    if found is None:
        return None
    end, bits, headers = found
    entry = end + ("qQ" if bits == 2 else "iI")
    try:
        needed: list[str] = []
        soname: str | None = None
        for header in headers:
            if header[1] != _SHT_DYNAMIC:
                continue
            offset, size, link = header[4], header[5], header[6]
            strtab_offset = headers[link][4]
            step = struct.calcsize(entry)
            for pos in range(offset, offset + size - step + 1, step):
                tag, value = struct.unpack_from(entry, data, pos)
                if tag == 0:
                    break
                if tag in (_DT_NEEDED, _DT_SONAME):
                    text = _c_string(data, strtab_offset + value)
                    if tag == _DT_NEEDED:
                        needed.append(text)
                    else:
                        soname = text
        return tuple(needed), soname
    except (struct.error, IndexError, ValueError) as err:
        raise ValueError(f"not a readable ELF file ({err})") from None


def elf_module_inits(data: bytes) -> frozenset[str] | None:
    """The ``PyInit_*`` functions an ELF file exports (defined in its dynamic symbol table).

    None when ``data`` is not an ELF file or has no ``.dynsym`` section to tell (then the caller
    cannot say it is no extension module). A shared object named like an extension module but
    without ``PyInit_<name>`` is a plain library (loaded with ctypes or cffi), not importable.
    """
    found = _elf_sections(data)
    if found is None:
        return None
    end, bits, headers = found
    # Elf64_Sym: name, info, other, shndx, value, size; Elf32_Sym: name, value, size, info, other,
    # shndx
    symbol = end + ("IBBHQQ" if bits == 2 else "IIIBBH")
    shndx_at = 3 if bits == 2 else 5
    step = struct.calcsize(symbol)
    try:
        tables = [h for h in headers if h[1] == _SHT_DYNSYM]
        if not tables:
            return None
        inits: set[str] = set()
        for header in tables:
            offset, size, link = header[4], header[5], header[6]
            strtab_offset = headers[link][4]
            for pos in range(offset, offset + size - step + 1, step):
                entry = struct.unpack_from(symbol, data, pos)
                if entry[shndx_at] == _SHN_UNDEF:
                    continue  # imported, not exported
                name = _c_string(data, strtab_offset + entry[0])
                if name.startswith("PyInit_"):
                    inits.add(name)
        return frozenset(inits)
    except (struct.error, IndexError, ValueError) as err:
        raise ValueError(f"not a readable ELF file ({err})") from None


def _exports_init(extension: re.Match[str], inits: frozenset[str]) -> bool:
    return f"PyInit_{extension.group('stem')}" in inits


def read_wheel(path: Path) -> WheelContents:
    """Read one wheel file through :func:`muslwheels.wheelfile.open_wheel` (its rules and
    bounds). BuildError (naming the file) when it is not a readable wheel."""
    try:
        with open_wheel(path) as archive:
            names = archive.names
            name, version, requires = parse_metadata(archive.metadata().decode("utf-8", "replace"))
            elf_files: list[ElfFile] = []
            libraries: set[str] = set()  # named like extension modules, exporting no PyInit_
            for member in names:
                base = PurePosixPath(member).name
                extension = _EXTENSION.fullmatch(base)
                if extension or _SHARED_LIBRARY.search(base):
                    data = archive.read(member)
                    found = elf_dynamic(data)
                    if found is not None:
                        elf_files.append(ElfFile(member, found[0], found[1]))
                    inits = elf_module_inits(data) if extension else None
                    if extension and inits is not None and not _exports_init(extension, inits):
                        libraries.add(member)
    except (WheelProblem, ValueError) as err:
        raise BuildError(f"{escape(path.name)}: not a readable wheel: {err}") from None
    top, extensions = importable_modules(n for n in names if n not in libraries)
    return WheelContents(name, version, requires, top, extensions, tuple(elf_files))


def elf_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """(member, bytes) of every ELF file in the wheel at ``path`` (any member that starts like
    one), one at a time, read through :func:`muslwheels.wheelfile.open_wheel`. BuildError
    (naming the file) when it is not a readable wheel."""
    try:
        with open_wheel(path) as archive:
            for member in archive.names:
                if not member.endswith("/") and archive.head(member, 4) == b"\x7fELF":
                    yield member, archive.read(member)
    except (WheelProblem, ValueError) as err:
        raise BuildError(f"{escape(path.name)}: not a readable wheel: {err}") from None
