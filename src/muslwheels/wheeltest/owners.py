"""Which system packages hold the libraries a no-shared wheel needs, from the test image's
``owners`` answer (apk ``--who-owns`` / ``dpkg -S``). Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

_APK_OWNER = re.compile(r"(?P<name>.+?)-[0-9][^-]*-r[0-9]+")


@dataclass(frozen=True)
class RuntimePackages:
    apk: tuple[str, ...] = ()
    apt: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # libraries nobody could be named for

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.apk, *self.apt)


def parse_owners(text: str) -> RuntimePackages:
    """What ``docker/bin/mw-owners`` printed -> the packages to install and the notes.

    ``missing <lib>`` lines name what the clean image lacks; ``owner-apk <lib> <pkg-ver-rN>`` (apk
    ``--who-owns``), ``owner-dpkg <lib> <pkg[:arch]>: <path>`` (``dpkg -S``) or ``unknown <lib> <why>``
    say who holds it.
    """
    apk: list[str] = []
    apt: list[str] = []
    notes: list[str] = []
    for line in text.splitlines():
        kind, _, rest = line.strip().partition(" ")
        lib, _, answer = rest.partition(" ")
        if kind == "owner-apk" and answer:
            found = _APK_OWNER.fullmatch(answer.strip())
            apk.append(found.group("name") if found else answer.strip())
        elif kind == "owner-dpkg" and answer:
            package = answer.split(": ", 1)[0].split(",")[0].strip()
            apt.append(package.split(":", 1)[0])
        elif kind == "unknown":
            notes.append(f"no package named for {lib}: {answer.strip()}")
    return RuntimePackages(
        tuple(dict.fromkeys(apk)), tuple(dict.fromkeys(apt)), tuple(dict.fromkeys(notes))
    )


def runtime_label(packages: RuntimePackages) -> str:
    """The text of the wheel image's ``runtime packages`` label and the summary's note."""
    return "runtime packages: " + " ".join(packages.names)
