"""The one module that writes to the terminal (rich). Library code reports through it, never prints.

Data (``--json``) goes to stdout; everything for people goes to stderr. On a terminal the build shows a
live status per target; elsewhere (CI logs, pipes) it prints plain, one event per line.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .config.model import Target
from .errors import MuslWheelsError
from .names import escape as escape_name
from .publish.check import CheckRow
from .publish.images import ManifestResult


class ResultLike(Protocol):
    """What the console needs from a build/extract/push result (build.TargetResult satisfies it)."""

    @property
    def target(self) -> Target: ...
    @property
    def status(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def wheels(self) -> tuple[str, ...]: ...
    @property
    def message(self) -> str: ...


_STATUS_STYLE = {
    "built": "green",
    "skipped": "cyan",
    "reused": "cyan",
    "pushed": "green",
    "extracted": "green",
    "would-build": "yellow",
    "would-push": "yellow",
    "would-reuse": "yellow",
    "would-extract": "yellow",
    "would-create": "yellow",
    "created": "green",
    "present": "cyan",
    "done": "green",
    "pending": "yellow",
    "not-updated": "yellow",
    "failed": "bold red",
}

#: Statuses whose message is a command line (printed on stdout, not in the summary).
_COMMAND_STATUSES = ("would-build", "would-push")


def one_line(text: str) -> str:
    """``text`` as one line: every control character (newlines and tabs included) and line
    separator escaped, so no name inside a message can forge a line of output or of a log."""
    return escape_name(text)


class Ui:
    def __init__(self, *, out: Any = None, err: Any = None, plain: bool | None = None) -> None:
        self.out = Console(file=out or sys.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=err or sys.stderr, highlight=False, soft_wrap=True)
        self.plain = (not self.err.is_terminal) if plain is None else plain

    # -- messages -------------------------------------------------------------------------------

    def error(self, err: MuslWheelsError) -> None:
        self.err.print(Text("error: ", style="bold red") + Text(one_line(err.message)))
        if err.hint:
            self.err.print(Text("  hint: ", style="yellow") + Text(one_line(err.hint)))

    def note(self, message: str) -> None:
        self.err.print(Text("note: ", style="cyan") + Text(one_line(message)))

    def notes(self, messages: Iterable[str]) -> None:
        for m in messages:
            self.note(m)

    def info(self, message: str) -> None:
        self.err.print(Text(one_line(message)))

    def data(self, obj: Mapping[str, Any]) -> None:
        """One JSON object on one stdout line (for scripts)."""
        self.out.file.write(json.dumps(obj, sort_keys=False) + "\n")
        self.out.file.flush()

    def lines(self, text: str) -> None:
        self.out.file.write(text if text.endswith("\n") else text + "\n")
        self.out.file.flush()

    # -- tables ---------------------------------------------------------------------------------

    def plan_table(
        self,
        targets: Sequence[Target],
        requested: Sequence[str],
        extra_for: Mapping[str, str] | None = None,
    ) -> None:
        """The plan: a table on a terminal; elsewhere (pipes, logs) one tab-separated line per
        target under a header, every value whole. ``extra_for``: extra dependency target id ->
        the tag of the target whose runtime closure needs it."""
        wanted = set(requested)
        extras = extra_for or {}

        def label(t: Target) -> str:
            if t.id in wanted:
                return t.tag
            if t.id in extras:
                return f"{t.tag} (extra: runtime requirement of {extras[t.id]})"
            return f"{t.tag} (dependency)"

        if not self.out.is_terminal:
            columns = "tag module version python arch ssl flavour base_image depends"
            self.out.file.write("\t".join(columns.split()) + "\n")
            for t in targets:
                values = (
                    label(t),
                    t.module,
                    t.version,
                    t.python,
                    t.arch.key,
                    t.ssl or "-",
                    t.flavour.value,
                    t.base_image,
                    ",".join(d.split("@")[0] for d in t.depends) or "-",
                )
                self.out.file.write("\t".join(one_line(v) for v in values) + "\n")
            self.out.file.flush()
            return
        table = Table(title=f"{len(targets)} target(s)", title_justify="left")
        for col in ("tag", "module", "version", "python", "arch", "ssl", "flavour", "base image"):
            table.add_column(col)
        table.add_column("depends on")
        for t in targets:
            table.add_row(
                escape(label(t)),
                escape(t.module),
                t.version,
                t.python,
                t.arch.key,
                t.ssl or "-",
                t.flavour.value,
                escape(t.base_image),
                escape(", ".join(d.split("@")[0] for d in t.depends) or "-"),
            )
        self.out.print(table)

    def summary(self, results: Sequence[ResultLike], *, title: str = "summary") -> None:
        table = Table(title=title, title_justify="left")
        for col in ("target", "status", "time", "wheels / message"):
            table.add_column(col)
        for r in results:
            detail = ", ".join(r.wheels) if r.wheels else ""
            if r.message:
                detail = f"{detail}\n{r.message}" if detail else r.message
            table.add_row(
                escape(f"{r.target.tag} ({r.target.flavour.value})"),
                Text(r.status, style=_STATUS_STYLE.get(r.status, "")),
                f"{r.seconds:.1f}s" if r.seconds else "-",
                escape(detail),
            )
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        if self.plain:
            # logs and pipes: one line per target, nothing cut to a terminal's width
            self.err.print(title)
            for r in results:
                line = f"  {r.status:<11} {r.target.tag} ({r.target.flavour.value})"
                if r.seconds:
                    line += f" {r.seconds:.1f}s"
                if r.wheels:
                    line += " " + " ".join(r.wheels)
                if r.message and r.status not in _COMMAND_STATUSES:
                    line += f" - {r.message}"
                self.err.print(one_line(line), markup=False)
        else:
            self.err.print(table)
        self.err.print(", ".join(f"{n} {s}" for s, n in counts.items()) or "nothing to do")

    def manifest_lists(self, manifests: Sequence[ManifestResult]) -> None:
        """One line per multi-arch tag: what it joins now, or why it was not made."""
        for m in manifests:
            text = Text(f"{m.status:<12} ", style=_STATUS_STYLE.get(m.status, "")) + Text(
                one_line(f"multi-arch {m.name} [{', '.join(m.arches) or '-'}]")
            )
            if m.message and m.status != "would-create":
                text += Text(one_line(f" - {m.message}"))
            self.err.print(text)

    def check_table(self, rows: Sequence[CheckRow]) -> None:
        """What ``invoke check`` found: a table (plain lines off a terminal) and a count."""
        pending = [r for r in rows if r.status != "done"]
        if self.plain:
            for r in rows:
                line = (
                    f"{r.status:<8} {r.target.tag} ({r.target.flavour.value}) {r.target.repository}"
                )
                if r.missing:
                    line += f" - {r.missing}"
                if r.held_versions:
                    line += f"; the registry has {', '.join(r.held_versions)}"
                self.out.print(one_line(line), markup=False)
        else:
            table = Table(title=f"{len(rows)} image(s) checked", title_justify="left")
            for col in ("tag", "repository", "status", "missing", "registry has"):
                table.add_column(col)
            for r in rows:
                table.add_row(
                    escape(f"{r.target.tag} ({r.target.flavour.value})"),
                    escape(r.target.repository or ""),
                    Text(r.status, style=_STATUS_STYLE.get(r.status, "")),
                    escape(r.missing or "-"),
                    escape(", ".join(r.held_versions) or "-"),
                )
            self.out.print(table)
        if pending:
            self.err.print(f"{len(pending)} of {len(rows)} image(s) pending")
        else:
            self.err.print(f"all {len(rows)} image(s) are in the registry")

    # -- build progress (implements build.BuildReporter) -----------------------------------------

    def build_reporter(
        self, total: int, instead: Mapping[str, ResultLike] | None = None
    ) -> BuildProgress:
        """The build's progress; a target of ``instead`` (by id) is shown with that result
        (a target reused from a published image, which the build only sees present)."""
        return BuildProgress(self, total, instead)


class BuildProgress:
    """Live status on a terminal; plain event lines otherwise. Thread-safe (jobs run in threads)."""

    def __init__(self, ui: Ui, total: int, instead: Mapping[str, ResultLike] | None = None) -> None:
        self.ui = ui
        self.total = total
        self.instead = instead or {}
        self.lock = threading.Lock()
        self.running: dict[str, tuple[float, str]] = {}  # id -> (start, last log line)
        self.done = 0
        self.live: Live | None = None

    def __enter__(self) -> BuildProgress:
        if not self.ui.plain:
            self.live = Live(self._render(), console=self.ui.err, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def _render(self) -> Table:
        table = Table.grid(padding=(0, 1))
        # extra dependency targets join the run while it runs: they count once they start
        total = max(self.total, self.done + len(self.running))
        table.add_row(Text(f"[{self.done}/{total}] done", style="bold"))
        now = time.monotonic()
        for target_id, (start, line) in self.running.items():
            table.add_row(
                Text(f"{target_id.split('@')[0]}", style="cyan"),
                Text(f"{now - start:5.0f}s"),
                Text(line[-90:], style="dim", overflow="ellipsis", no_wrap=True),
            )
        return table

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())

    def target_started(self, target: Target) -> None:
        with self.lock:
            self.running[target.id] = (time.monotonic(), "")
            if self.ui.plain:
                self.ui.err.print(
                    f"{'start':<12}{target.tag} ({target.flavour.value}, {target.platform})"
                )
            self._refresh()

    def target_log(self, target: Target, line: str) -> None:
        with self.lock:
            if target.id in self.running:
                start, _ = self.running[target.id]
                self.running[target.id] = (start, one_line(line.rstrip()))
                self._refresh()

    def target_finished(self, result: ResultLike) -> None:
        result = self.instead.get(result.target.id, result)
        with self.lock:
            self.running.pop(result.target.id, None)
            self.done += 1
            style = _STATUS_STYLE.get(result.status, "")
            text = Text(f"{result.status:<12}", style=style) + Text(f"{result.target.tag}")
            if result.seconds:
                text += Text(f" {result.seconds:.1f}s")
            if result.message and result.status == "failed":
                text += Text(one_line(f": {result.message}"))
            if self.live is not None:
                self.live.console.print(text)
            else:
                self.ui.err.print(text)
            self._refresh()
