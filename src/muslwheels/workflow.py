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

Every action is pinned to a release version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
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


_INSTALL = """\
      - uses: {checkout}
      - uses: {setup-python}
        with:
          python-version: "3.12"
      - name: install musl-wheels
        run: python -m pip install -e ."""


def render_workflow() -> str:
    """The workflow's text."""
    install = _INSTALL.format_map(ACTIONS)
    a = ACTIONS
    return f"""{MARKER}; it rewrites only files that start with this line.
# Set in the repository: variable MUSL_WHEELS_REPOSITORY (the wheel repository, e.g. me/wheels),
# optionally MUSL_WHEELS_REGISTRY (empty: Docker Hub) and MUSL_WHEELS_TAGS (the tags the schedule
# checks; empty: every module in modules.toml); secrets MUSL_WHEELS_REGISTRY_USER and
# MUSL_WHEELS_REGISTRY_PASSWORD (a token that may push there).
name: musl-wheels

on:
  workflow_dispatch:
    inputs:
      tags:
        description: "target tags, space-separated (empty: what invoke check finds missing)"
        required: false
        default: ""
  push:
    branches: [main]
    paths: [modules.toml]
  schedule:
    - cron: "23 3 * * *"

permissions:
  contents: read

concurrency:
  group: musl-wheels-${{{{ github.ref }}}}
  cancel-in-progress: false

env:
  DOCKER_REPO: ${{{{ vars.MUSL_WHEELS_REPOSITORY }}}}
  PYTHONUNBUFFERED: "1"

jobs:
  plan:
    runs-on: ubuntu-24.04
    outputs:
      matrix: ${{{{ steps.plan.outputs.matrix }}}}
      count: ${{{{ steps.plan.outputs.count }}}}
      tags: ${{{{ steps.plan.outputs.tags }}}}
    steps:
{install}
      - name: plan
        id: plan
        env:
          INPUT_TAGS: ${{{{ inputs.tags }}}}
          CONFIGURED_TAGS: ${{{{ vars.MUSL_WHEELS_TAGS }}}}
        run: |
          set -euo pipefail
          tags="${{INPUT_TAGS:-}}"
          if [ -z "$tags" ]; then
            # the newest releases the registry has no images for (what Docker Hub's rebuilds gave)
            read -r -a configured <<< "${{CONFIGURED_TAGS:-}}"
            check_args=()
            for tag in "${{configured[@]}}"; do check_args+=(--tag "$tag"); done
            status=0
            invoke check --json "${{check_args[@]}}" > check.jsonl || status=$?
            if [ "$status" -ne 0 ] && [ "$status" -ne 8 ]; then exit "$status"; fi
            tags="$(jq -r 'select(.status != "done") | .tag' check.jsonl | tr '\\n' ' ')"
          fi
          read -r -a wanted <<< "$tags"
          plan_args=()
          for tag in "${{wanted[@]}}"; do plan_args+=(--tag "$tag"); done
          if [ "${{#plan_args[@]}}" -eq 0 ]; then
            printf '%s\\n' 'matrix={{"include":[]}}' count=0 tags= >> "$GITHUB_OUTPUT"
            exit 0
          fi
          invoke plan --json "${{plan_args[@]}}" > plan.jsonl
          invoke ci --matrix plan.jsonl >> "$GITHUB_OUTPUT"

  build:
    needs: plan
    if: needs.plan.outputs.count != '0'
    name: build (${{{{ matrix.group }}}})
    runs-on: ${{{{ matrix.runs-on }}}}
    strategy:
      fail-fast: false
      matrix: ${{{{ fromJSON(needs.plan.outputs.matrix) }}}}
    steps:
{install}
      - name: QEMU for the arches this runner cannot run
        if: matrix.qemu
        uses: {a["setup-qemu"]}
        with:
          platforms: ${{{{ matrix.platforms }}}}
      - uses: {a["setup-buildx"]}
        id: buildx
      - name: let buildx reach the Actions cache
        uses: {a["runtime"]}
      - name: bake
        env:
          TAGS: ${{{{ matrix.tags }}}}
          BUILDER: ${{{{ steps.buildx.outputs.name }}}}
        run: |
          set -euo pipefail
          read -r -a wanted <<< "$TAGS"
          args=()
          for tag in "${{wanted[@]}}"; do args+=(--tag "$tag"); done
          invoke bake "${{args[@]}}" --builder "$BUILDER" --cache gha
      - uses: {a["upload"]}
        if: ${{{{ !cancelled() }}}}
        with:
          name: wheels-${{{{ matrix.group }}}}
          path: wheels/
          if-no-files-found: ignore
      - uses: {a["upload"]}
        if: ${{{{ failure() }}}}
        with:
          name: logs-${{{{ matrix.group }}}}
          path: .musl-wheels/logs/
          if-no-files-found: ignore

  index:
    needs: [plan, build]
    if: ${{{{ !cancelled() && needs.plan.outputs.count != '0' }}}}
    runs-on: ubuntu-24.04
    steps:
{install}
      - uses: {a["download"]}
        with:
          pattern: wheels-*
          path: wheels
          merge-multiple: true
      - name: the wheels as a static package index
        run: invoke index
      - uses: {a["upload"]}
        with:
          name: wheel-index
          path: wheels/

  publish:
    needs: [plan, build]
    if: ${{{{ !cancelled() && needs.plan.outputs.count != '0' && vars.MUSL_WHEELS_REPOSITORY != '' }}}}
    runs-on: ubuntu-24.04
    steps:
{install}
      - uses: {a["download"]}
        with:
          pattern: wheels-*
          path: wheels
          merge-multiple: true
      - uses: {a["setup-buildx"]}
      - uses: {a["login"]}
        with:
          registry: ${{{{ vars.MUSL_WHEELS_REGISTRY }}}}
          username: ${{{{ secrets.MUSL_WHEELS_REGISTRY_USER }}}}
          password: ${{{{ secrets.MUSL_WHEELS_REGISTRY_PASSWORD }}}}
      - name: push the wheel images (per arch, then the multi-arch tags)
        env:
          TAGS: ${{{{ needs.plan.outputs.tags }}}}
        run: |
          set -euo pipefail
          read -r -a wanted <<< "$TAGS"
          args=()
          for tag in "${{wanted[@]}}"; do args+=(--tag "$tag"); done
          invoke push "${{args[@]}}"
"""
