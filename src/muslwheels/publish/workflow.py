"""The GitHub Actions workflow that replaces Docker Hub's automated builds (``invoke ci --github``),
and the build matrix its plan job emits. Pure: text in, text out.

The workflow (``.github/workflows/musl-wheels.yml`` by default):

- **plan** (ubuntu): the tags of a manual run, else what ``invoke check`` finds missing in the
  registry (the tags of the repository variable ``MUSL_WHEELS_TAGS``, or every module of
  ``modules.toml``), planned with ``invoke plan --json`` and turned into the matrix by
  ``invoke ci --matrix`` (``matrix_lines`` below): one build job per arch group;
- **build**, one job per arch group: amd64 and i386 on an x86-64 runner, arm64 on a native arm64
  runner, every other arch on x86-64 under QEMU; ``invoke bake --cache gha`` (buildx's layer
  cache in the Actions cache); the verified wheels as an artifact;
- **publish**: the wheels of every build job, then ``invoke push`` after ``docker login`` with the
  repository secrets (``MUSL_WHEELS_REGISTRY_USER`` / ``MUSL_WHEELS_REGISTRY_PASSWORD``; the login
  action masks them, nothing echoes them) into ``vars.MUSL_WHEELS_REPOSITORY``: one job, so the
  multi-arch tags are made once every arch is there;
- **index**: the wheels of every build job as one static package index (``invoke index``: PEP 503
  and 691 pages with hashes and PEP 658 metadata inside ``wheels/``), uploaded as the artifact
  ``wheel-index``, ready for any static host; it needs no registry;
- on a schedule (daily) and on changes to ``modules.toml``: the check-and-build of the plan job,
  which is what Docker Hub's rebuilds gave.

Every action is pinned to a release version. The text is ``templates/github-workflow.yml``
(package data), with the marker line, the install steps and the pinned actions filled in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

#: The first line of a workflow ``invoke ci`` wrote: it overwrites only files that start with it.
MARKER = "# musl-wheels: written by `invoke ci --github`"

DEFAULT_DEST = ".github/workflows/musl-wheels.yml"

#: Actions, pinned by version.
ACTIONS = {
    "checkout": "actions/checkout@v4.2.2",
    "setup-python": "actions/setup-python@v5.3.0",
    "setup-qemu": "docker/setup-qemu-action@v3.2.0",
    "setup-buildx": "docker/setup-buildx-action@v3.7.1",
    "runtime": "crazy-max/ghaction-github-runtime@v3.0.0",
    "login": "docker/login-action@v3.3.0",
    "upload": "actions/upload-artifact@v4.4.3",
    "download": "actions/download-artifact@v4.1.8",
}

#: Arch groups: which runner builds which arches (canonical arch keys), and whether under QEMU.
GROUPS: tuple[tuple[str, str, bool, frozenset[str]], ...] = (
    ("x86", "ubuntu-24.04", False, frozenset({"amd64", "i386"})),
    ("arm64", "ubuntu-24.04-arm", False, frozenset({"arm64v8"})),
    ("qemu", "ubuntu-24.04", True, frozenset()),  # everything else
)


def arch_group(arch: str) -> tuple[str, str, bool]:
    """(group, runner label, QEMU needed) of a canonical arch key."""
    for name, runner, qemu, arches in GROUPS:
        if arch in arches or not arches:
            return name, runner, qemu
    raise AssertionError("the last group takes every arch")


def matrix(plan: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The build matrix of a plan (the objects ``invoke plan --json`` prints): one entry per arch
    group with the per-arch tags of its requested targets (dependencies are planned again by
    each job's own ``invoke bake``). Pure."""
    entries: dict[str, dict[str, Any]] = {}
    for target in plan:
        if not target.get("requested", True):
            continue
        name, runner, qemu = arch_group(str(target["arch"]))
        entry = entries.setdefault(
            name,
            {"group": name, "runs-on": runner, "qemu": qemu, "tags": [], "platforms": []},
        )
        if target["tag"] not in entry["tags"]:
            entry["tags"].append(target["tag"])
        if target["platform"] not in entry["platforms"]:
            entry["platforms"].append(target["platform"])
    include = []
    for name, *_ in GROUPS:
        if name in entries:
            entry = entries[name]
            include.append(
                {
                    **entry,
                    "tags": " ".join(entry["tags"]),
                    "platforms": ",".join(entry["platforms"]),
                }
            )
    return {"include": include}


def matrix_lines(plan_lines: Iterable[str]) -> list[str]:
    """``name=value`` lines for ``$GITHUB_OUTPUT`` from the lines ``invoke plan --json`` printed:
    ``matrix`` (JSON), ``count`` (build jobs) and ``tags`` (every requested per-arch tag)."""
    plan = [json.loads(line) for line in plan_lines if line.strip()]
    found = matrix(plan)
    tags = " ".join(tag for entry in found["include"] for tag in entry["tags"].split())
    return [
        f"matrix={json.dumps(found, separators=(',', ':'))}",
        f"count={len(found['include'])}",
        f"tags={tags}",
    ]


def is_ours(text: str) -> bool:
    """Whether a workflow file's text is one ``invoke ci`` wrote."""
    return text.startswith(MARKER)


#: The steps every job starts with (``@@install@@`` in the template).
_INSTALL = """\
      - uses: @@action:checkout@@
      - uses: @@action:setup-python@@
        with:
          python-version: "3.12"
      - name: install musl-wheels
        run: python -m pip install -e ."""

#: The workflow's text, with ``@@name@@`` where ``render_workflow`` fills in the marker line, the
#: install steps and the pinned actions (GitHub's own ``${{ }}`` expressions stay as written).
TEMPLATE = "templates/github-workflow.yml"

_PLACEHOLDER = re.compile(r"@@([a-z]+(?::[a-z-]+)?)@@")


def _fill(text: str, values: Mapping[str, str]) -> str:
    """Every ``@@name@@`` of ``text`` replaced; KeyError for one ``values`` lacks (our bug)."""
    return _PLACEHOLDER.sub(lambda found: values[found.group(1)], text)


def render_workflow() -> str:
    """The workflow's text: the template with the marker, the install steps and the actions."""
    actions = {f"action:{name}": ref for name, ref in ACTIONS.items()}
    template = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    return _fill(template, {"marker": MARKER, "install": _fill(_INSTALL, actions), **actions})
