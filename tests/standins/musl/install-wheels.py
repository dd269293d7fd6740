"""Install wheels into a stand-in rootfs for a Python that cannot run on the build host.

Usage: python install-wheels.py ROOTFS PREFIX PYVER WHEEL...

Runs with the host's Python (same X.Y as the target) and the `installer` library. Unlike pip it does not
check that a wheel's platform tag fits the running interpreter, which is what installing musllinux wheels
of another architecture needs; scripts get `#!PREFIX/bin/pythonPYVER` as their interpreter line.
Byte-code is compiled for the site-packages afterwards by the caller (same magic number: same X.Y).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `installer` lives in build-musl.sh's own venv, not in the project's dev venv.
from installer import install  # type: ignore[import-not-found,unused-ignore]
from installer.destinations import SchemeDictionaryDestination  # type: ignore[import-not-found,unused-ignore]
from installer.sources import WheelFile  # type: ignore[import-not-found,unused-ignore]


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    rootfs, prefix, pyver, *wheels = argv
    site = f"{prefix}/lib/python{pyver}/site-packages"
    scheme = {
        "purelib": site,
        "platlib": site,
        "headers": f"{prefix}/include/python{pyver}",
        "scripts": f"{prefix}/bin",
        "data": prefix,
    }
    for wheel in wheels:
        destination = SchemeDictionaryDestination(
            scheme,
            interpreter=f"{prefix}/bin/python{pyver}",
            script_kind="posix",
            destdir=rootfs,
            bytecode_optimization_levels=[],
        )
        with WheelFile.open(wheel) as source:
            install(source, destination, additional_metadata={"INSTALLER": b"muslwheels-standin\n"})
        print(f"installed {Path(wheel).name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
