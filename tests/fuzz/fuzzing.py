"""What the fuzz targets share: the corpus in the repo, a mutating strategy over it, and the
time bound (MUSLWHEELS_FUZZ_SECONDS per target; `nox -s fuzz`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent / "corpus"

#: Seconds each target keeps generating inputs (0: one batch, as in a plain pytest run).
SECONDS = float(os.environ.get("MUSLWHEELS_FUZZ_SECONDS", "0"))
#: Inputs per batch; a batch is one Hypothesis run with a fresh seed.
BATCH = int(os.environ.get("MUSLWHEELS_FUZZ_EXAMPLES", "200"))

#: Every input must be handled within this time (a hang or a slow path is a finding too).
FUZZ = settings(
    max_examples=BATCH,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def seeds(target: str) -> list[bytes]:
    """The corpus of ``target``: every file of ``corpus/<target>/``, sorted by name."""
    folder = CORPUS / target
    found = [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]
    assert found, f"no corpus in {folder}"
    return found


@st.composite
def _mutation(draw: st.DrawFn, corpus: tuple[bytes, ...]) -> bytes:
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "repeat", "cut", "splice")))
        at = draw(st.integers(0, len(data))) if data else 0
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "repeat":
            chunk = data[at : at + draw(st.integers(1, 64))]
            data[at:at] = bytes(chunk) * draw(st.integers(1, 50))
        elif op == "cut":
            del data[at:]
        elif op == "splice":
            other = draw(st.sampled_from(corpus))
            data[at:] = other[draw(st.integers(0, len(other))) :]
    return bytes(data)


def inputs(target: str) -> st.SearchStrategy[bytes]:
    """The corpus as it is, mutations of it, and arbitrary bytes."""
    corpus = tuple(seeds(target))
    return st.one_of(st.sampled_from(corpus), _mutation(corpus), st.binary(max_size=512))


def texts(target: str) -> st.SearchStrategy[str]:
    """As :func:`inputs`, decoded (invalid UTF-8 replaced), and arbitrary text."""
    return st.one_of(
        inputs(target).map(lambda b: b.decode("utf-8", "replace")), st.text(max_size=200)
    )


def keep_going(run: Callable[[], None]) -> None:
    """One Hypothesis run of ``run``, then more (each with a fresh seed) until SECONDS passed."""
    end = time.monotonic() + SECONDS
    run()
    while time.monotonic() < end:
        run()
