"""What the test step found, kept beside each wheel in ``wheels/<arch>/`` (a hidden JSON record), and
read back for a target."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..build.wheelstore import WheelFolders
from ..config.model import Target

#: ``.<wheel file name><RECORD_SUFFIX>`` beside the wheel: hidden, so folder listings skip it.
RECORD_SUFFIX = ".verified.json"


@dataclass(frozen=True)
class WheelTestRecord:
    """What the test step found for one wheel: the closure's file names (in the same folder),
    the runtime packages and what was tested. The wheel image carries the closure and names the
    runtime packages in a label."""

    closure: tuple[str, ...]
    runtime_packages: tuple[str, ...]
    tested: str
    extras: tuple[tuple[str, str], ...] = ()  # (name, version): built as extra dependency targets
    base_image: str | None = None  # the base image built and tested on, by digest (None: its tag)


def record_name(wheel_name: str) -> str:
    return f".{wheel_name}{RECORD_SUFFIX}"


def record_text(record: WheelTestRecord) -> str:
    data = {
        "closure": list(record.closure),
        "runtime_packages": list(record.runtime_packages),
        "tested": record.tested,
        "extras": [{"module": name, "version": version} for name, version in record.extras],
        "base_image": record.base_image,
    }
    return json.dumps(data, indent=1) + "\n"


def read_record(folder: Path, wheel_name: str) -> WheelTestRecord | None:
    """The record of ``wheel_name`` in ``folder``; None when there is none (a wheel built before
    records existed, or taken from an image) or it cannot be read."""
    try:
        data = json.loads((folder / record_name(wheel_name)).read_text(encoding="utf-8"))
        closure = [str(x) for x in data["closure"]]
        packages = [str(x) for x in data["runtime_packages"]]
        extras = [(str(x["module"]), str(x["version"])) for x in data.get("extras", [])]
        base = data.get("base_image")
        return WheelTestRecord(
            tuple(closure),
            tuple(packages),
            str(data["tested"]),
            tuple(extras),
            base if isinstance(base, str) else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def target_record(target: Target, wheels_root: Path) -> WheelTestRecord | None:
    """The record beside ``target``'s tested wheel in ``wheels_root/<arch>/``; None before."""
    folder = wheels_root / target.wheel_dir
    for name in WheelFolders(wheels_root).fitting(target):
        record = read_record(folder, name)
        if record is not None:
            return record
    return None


def closure_fields(target: Target, wheels_root: Path) -> dict[str, object]:
    """``plan --json``'s view of a target's closure: what the record beside its wheel in
    ``wheels_root/<arch>/`` says, or nulls while no tested wheel of it is there."""
    record = target_record(target, wheels_root)
    if record is None:
        return {"closure": None, "runtime_packages": None, "tested": None}
    return {
        "closure": list(record.closure),
        "runtime_packages": list(record.runtime_packages),
        "tested": record.tested,
    }
