"""buildx's plain progress output read as data: why a build, a bake or a registry operation failed,
in one line. Pure: lines in, reasons out (``engine.docker`` feeds it what the processes print).

- ``FailureTracker`` follows one ``docker buildx build``: which Dockerfile stage each step is
  (``step_of``: the stage name's prefix), which step's process failed, the error lines of tools and
  our own scripts' ``muslwheels: error:`` lines.
- ``BakeTracker`` follows ``docker buildx bake``: which bake target each line belongs to, one
  ``FailureTracker`` per target.
- ``buildx_error`` and ``registry_failure``: the reason of a failed push, join or export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..config.imageref import DOCKER_DEFAULT_REGISTRY, parse_reference
from ..errors import MuslWheelsError, RegistryError
from .interface import BuildRequest

#: What each Dockerfile stage does, for failure messages (stage name prefix -> step).
_STEPS = {
    "tools": "installing auditwheel/patchelf",
    "system": "installing the module's system packages",
    "prepared": "the module's before_build commands",
    "crates": "fetching the Rust crates",
    "built": "building the wheel",
    "repaired": "auditwheel repair",
    "targetfiles": "reading the target platform's image (cross mode)",
    "crossrepairtools": "installing auditwheel/patchelf for the build platform (cross mode)",
    "crosstools": "setting up the cross toolchain",
    "crosssystem": "installing the module's system packages for the target (cross mode)",
    "crossbuilt": "cross-compiling the wheel",
    "wheels": "collecting the wheels",
}


def step_of(stage: str) -> str | None:
    """What a Dockerfile stage does, by its name's prefix before the first ``-``
    (``repaired-cross`` is ``repaired``); None for a stage no step names."""
    return _STEPS.get(stage.split("-", maxsplit=1)[0])


_STEP_HEADER = re.compile(r"^#(\d+) \[([A-Za-z0-9_-]+) \d+/\d+\]")
_STEP_OUTPUT = re.compile(r"^#(\d+) (?:\d+\.\d+ )?(.*)$")
_EXIT_CODE = re.compile(r"exit code: (\d+)")
_OUR_ERROR = re.compile(r"muslwheels: error: (.*)$")
_TOOL_ERROR = re.compile(r"(?i)\berror:")


_STEP_ERROR = re.compile(r"^#\d+ (?:\d+\.\d+ )?ERROR: (.*)$")
_DENIED = re.compile(
    r"(?i)no basic auth credentials|unauthori[sz]ed|authentication required|access denied|"
    r"insufficient_scope|forbidden|\b40[13]\b|requested access to the resource is denied"
)
_UNREACHABLE = re.compile(
    r"(?i)connection refused|no such host|i/o timeout|network is unreachable|dial tcp|"
    r"connection reset|server gave http response to https client|x509:|tls:|timeout"
)
_NOT_FOUND = re.compile(r"(?i)\bnot found\b|manifest unknown|name unknown|does not exist")


def buildx_error(lines: Sequence[str]) -> str:
    """The reason a buildx command failed, from its output: its last ``ERROR:`` line, else the
    last step that failed, else its last line. Pure."""
    top = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    if top:
        return top[-1]
    steps = [m.group(1).strip() for m in map(_STEP_ERROR.match, lines) if m is not None]
    if steps:
        return steps[-1]
    return last_line("\n".join(lines))


def registry_failure(text: str, ref: str, *, action: str) -> RegistryError:
    """A RegistryError saying why ``action`` (push / read / create the multi-arch tag) of image
    ``ref`` failed, from the error text Docker gave, with what to do about it. Pure."""
    try:
        registry = parse_reference(ref).registry
    except MuslWheelsError:
        registry = ref.split("/", 1)[0]
    login = (
        "docker login" if registry == DOCKER_DEFAULT_REGISTRY.name else f"docker login {registry}"
    )
    what = f"{action} {ref}"
    if _DENIED.search(text):
        return RegistryError(
            f"registry {registry} refused to let us {what}: not logged in, no access, or no such "
            f"repository ({text})",
            hint=f"run `{login}` with an account that may write there (push uses Docker's own "
            "login), and check the repository name",
        )
    if _UNREACHABLE.search(text):
        return RegistryError(
            f"registry {registry} is unreachable, so we cannot {what}: {text}",
            hint="check that the registry runs and that --repository, DOCKER_REPO or repository "
            "in modules.toml names the right one",
        )
    if _NOT_FOUND.search(text):
        return RegistryError(
            f"image {ref} does not exist (not in the local image store, not in the registry)",
            hint="check the tag and the repository; `invoke check` shows what the registry holds",
        )
    return RegistryError(
        f"could not {what}: {text}",
        hint="Docker's own message is above; check the registry and the image name",
    )


def last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


class FailureTracker:
    """Watches a build's output and says in one line why it failed. Pure (fed line by line)."""

    _GENERIC = (
        "failed to build",
        "failed building wheel",
        "subprocess-exited-with-error",
        "metadata-generation-failed",
        "could not build wheels",
        "failed-wheel-build-for-install",
        "see above for output",
    )

    def __init__(self) -> None:
        self.stages: dict[str, str] = {}  # step number -> Dockerfile stage
        self.errors: dict[str, list[str]] = {}  # step number -> error lines seen in it
        self.ours: list[str] = []  # "muslwheels: error:" lines from our scripts
        self.failed_step: str | None = None
        self.buildx_error = ""

    def feed(self, line: str) -> None:
        if line.startswith("ERROR:"):
            self.buildx_error = line
            return
        header = _STEP_HEADER.match(line)
        if header:
            self.stages[header.group(1)] = header.group(2)
            return
        step = _STEP_OUTPUT.match(line)
        if step is None:
            return
        number, text = step.group(1), step.group(2)
        if text.startswith("ERROR:") and " process " in text:
            self.failed_step = number
            return
        ours = _OUR_ERROR.search(text)
        if ours:
            self.ours.append(ours.group(1).strip())
            return
        if _TOOL_ERROR.search(text):
            found = self.errors.setdefault(number, [])
            if len(found) < 50:
                found.append(text.strip())

    def reason(self, request: BuildRequest) -> str:
        args = dict(request.build_args)
        base = args.get("BASE_IMAGE", "the base image")
        error = self.buildx_error.removeprefix("ERROR:").strip()
        lowered = error.lower()
        if "no match for platform in manifest" in lowered:
            return f"base image {base} is not published for {request.platform}"
        if base in error and ("not found" in lowered or "failed to resolve" in lowered):
            return f"base image {base} could not be found: {error}"
        if "network.host" in lowered and "entitlement" in lowered:
            return (
                f"the builder refuses the network.host entitlement a loopback index needs: {error}"
            )
        if self.failed_step is None:
            return error or (self.ours[-1] if self.ours else "the build failed (see the log)")
        stage = self.stages.get(self.failed_step, "")
        step = step_of(stage) or (f"step {stage}" if stage else "a build step")
        code = _EXIT_CODE.search(error)
        text = f"{step} failed" + (f" (exit code {code.group(1)})" if code else "")
        errors = self.errors.get(self.failed_step, [])
        specific = [e for e in errors if not any(g in e.lower() for g in self._GENERIC)]
        if self.ours:
            detail = self.ours[-1]
        elif specific:
            detail = specific[0]
        else:
            detail = errors[-1] if errors else ""
        return f"{text}: {detail}" if detail else text


_BAKE_STEP_ERROR = re.compile(r"^#\d+ ERROR: (.*)$")
_BAKE_STEP = re.compile(r"^#(\d+) \[([A-Za-z0-9_-]+)(?: ([^\]]*))?\](.*)$")


class BakeTracker:
    """Reads the plain progress of ``docker buildx bake``: which bake target each line belongs to
    (a step's header names it first: ``#9 [target stage 2/3] RUN ...``), which targets failed and
    why (one ``FailureTracker`` per target, fed its lines as a single build prints them). Pure."""

    def __init__(self, requests: Mapping[str, BuildRequest]) -> None:
        self.requests = requests
        self.steps: dict[str, str] = {}  # step number -> bake target
        self.trackers: dict[str, FailureTracker] = {}
        self.step_errors: dict[str, str] = {}  # bake target -> its first failed step's error
        self.top = ""  # the bake's own ERROR: line

    def _known(self, name: str) -> bool:
        return name in self.requests or name.removeprefix("deps-") in self.requests

    def feed(self, line: str) -> str | None:
        """The bake target ``line`` belongs to (None: the bake as a whole)."""
        if line.startswith("ERROR:"):
            self.top = line.removeprefix("ERROR:").strip()
            return None
        header = _BAKE_STEP.match(line)
        if header and self._known(header.group(2)):
            number, name, rest, tail = header.groups()
            self.steps[number] = name
            inner = f"#{number} [{rest}]{tail}" if rest else f"#{number} []{tail}"
            self.trackers.setdefault(name, FailureTracker()).feed(inner)
            return name
        step = _STEP_OUTPUT.match(line)
        if step is None:
            return None
        name = self.steps.get(line[1:].split(" ", 1)[0])
        if name is None:
            return None
        failed = _BAKE_STEP_ERROR.match(line)  # the step itself failed (not a tool's output)
        if failed:
            self.step_errors.setdefault(name, failed.group(1).strip())
        self.trackers.setdefault(name, FailureTracker()).feed(line)
        return name

    def reasons(self) -> dict[str, str]:
        """Bake target -> why it failed, for every target with a failed step."""
        found: dict[str, str] = {}
        # a step stopped because another target failed says "context canceled": not its fault
        errors = {
            n: e for n, e in self.step_errors.items() if "context canceled" not in e.lower()
        } or self.step_errors
        for name, error in errors.items():
            tracker = self.trackers[name]
            request = self.requests.get(name) or self.requests.get(name.removeprefix("deps-"))
            if len(errors) == 1 and self.top:
                tracker.feed("ERROR: " + self.top)
            if request is not None and (tracker.failed_step is not None or tracker.buildx_error):
                found[name] = tracker.reason(request)
            else:
                found[name] = error
        return found

    def summary(self) -> str:
        return self.top or "docker buildx bake failed"
