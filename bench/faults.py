"""``python -m bench.faults``: how long ``invoke plan --refresh`` takes to fail against a package
index that never answers (1 and 10 tags), one that drips its answer a byte every 5 s, and a
base-image registry that drips (bench/README.md, "Faulty servers"). The servers are the unit
tests' (tests/unit/servers/faulty.py), on 127.0.0.1; each case runs once (it takes a deadline).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))

# the unit tests' servers: found on sys.path at run time, not by the type checker
from servers.faulty import DripServer, SilentServer  # type: ignore[import-not-found]  # noqa: E402
from servers.routes import Reply, RouteServer  # type: ignore[import-not-found]  # noqa: E402

MODULES = (
    "msgpack",
    "cffi",
    "pyyaml",
    "bcrypt",
    "pynacl",
    "psutil",
    "ujson",
    "lxml",
    "regex",
    "zstd",
)
CASES = ("silent-1", "silent-10", "drip-1", "registry-drip")
PAGE = b'<html><body><a href="/f/msgpack-1.0.8.tar.gz">msgpack-1.0.8.tar.gz</a></body></html>'


def time_plan(
    tree: Path, index: str, tags: Sequence[str], extra: Sequence[str], cap: float, **env: str
) -> tuple[float, str, str]:
    """Seconds until ``invoke plan --refresh`` in ``tree`` ended, its exit code (``killed`` at
    ``cap``) and the first line it printed on stderr."""
    invoke = Path(sys.executable).with_name("invoke")
    with tempfile.TemporaryDirectory() as home:
        environment = {
            **os.environ,
            "PIP_INDEX_URL": index + "/simple/",
            "PIP_CONFIG_FILE": os.devnull,
            "XDG_CACHE_HOME": home,
            "HOME": home,
            "DOCKER_REPO": "127.0.0.1:5000/bench-faults/wheels",
            **env,
        }
        args = [str(invoke), "plan", "--refresh", *extra]
        for tag in tags:
            args += ["--tag", tag]
        started = time.monotonic()
        try:
            done = subprocess.run(
                args,
                check=False,
                cwd=tree,
                env=environment,
                capture_output=True,
                text=True,
                timeout=cap,
            )
        except subprocess.TimeoutExpired:
            return time.monotonic() - started, "killed", "(still running at the cap)"
        first = (done.stderr.strip().splitlines() or [""])[0]
        return time.monotonic() - started, str(done.returncode), first


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to run (tasks.py)")
    parser.add_argument("--case", action="append", choices=CASES, help="only this case")
    parser.add_argument("--cap", type=float, default=400.0, help="kill a run after this long")
    parser.add_argument("extra", nargs="*", help="more flags for invoke plan, e.g. --timeout 5")
    args = parser.parse_args(argv)
    silent, drip, web = SilentServer(), DripServer(5.0), RouteServer()
    web.routes["/simple/msgpack/"] = Reply(200, PAGE, {"Content-Type": "text/html"})
    try:
        for case in args.case or CASES:
            connections = silent.connections + drip.connections
            if case == "registry-drip":
                base_image = drip.url.removeprefix("http://") + "/library/python:{python}"
                took, code, said = time_plan(
                    args.tree, web.url, ["msgpack-amd64"], args.extra, args.cap,
                    BASE_IMAGE=base_image + "-alpine{alpine}",
                )  # fmt: skip
            else:
                count = 10 if case.endswith("-10") else 1
                tags = [f"{m}-py3.11-amd64" for m in MODULES[:count]]
                server = drip if case.startswith("drip") else silent
                took, code, said = time_plan(args.tree, server.url, tags, args.extra, args.cap)
            asked = silent.connections + drip.connections - connections
            print(f"{case}: {took:.1f} s, exit {code}, {asked} connection(s): {said[:120]}")
    finally:
        for server in (silent, drip, web):
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
