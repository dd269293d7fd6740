"""JSON files written whole or not at all (the cache, pip's cached answer, the saved plan), and
JSON from servers read as data (:func:`loads_untrusted`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(
    path: Path, data: Any, *, indent: int | None = None, sort_keys: bool = False
) -> None:
    """Write ``data`` as JSON to ``path``: into a temporary file in the same directory, moved into
    place with ``os.replace``, so a reader sees the old file or the new one, never half of one.
    Values JSON cannot hold are written as their ``str``. OSError when it cannot be written (the
    temporary file is removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=indent, sort_keys=sort_keys, default=str)
            handle.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def loads_untrusted(data: bytes | str) -> Any:
    """``json.loads`` for what a server sent: ValueError for anything that is not JSON, a
    document nested too deeply for the parser included (json raises RecursionError there)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
