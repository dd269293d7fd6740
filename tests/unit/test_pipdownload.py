"""sources/pipdownload.py: pip downloads with the run's index settings, its URLs (and their passwords) in
pip's environment, never on its command line; the user's own PIP_* variables and files do not count."""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable
from pathlib import Path

from fakes import make_wheel
from servers.routes import Reply, Request, RouteServer

from muslwheels.sources.pipconfig import IndexSettings
from muslwheels.sources.pipdownload import PipIndexWheels, download_command, download_environment


def test_urls_go_to_pips_environment_not_its_command_line(tmp_path: Path) -> None:
    index = IndexSettings(
        index_url="https://user:s3cret@index.invalid/simple",
        extra_index_urls=("https://tok@extra.invalid/simple",),
        find_links=("https://u:p@links.invalid/",),
    )
    command = download_command(index, "x==1", [], tmp_path)
    assert not any("s3cret" in a or "tok@" in a or "u:p@" in a for a in command)
    env = download_environment(index, {"PATH": "/bin", "PIP_INDEX_URL": "https://theirs.invalid"})
    assert env["PIP_INDEX_URL"] == index.index_url
    assert env["PIP_EXTRA_INDEX_URL"] == "https://tok@extra.invalid/simple"
    assert env["PIP_FIND_LINKS"] == "https://u:p@links.invalid/"
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PATH"] == "/bin"


def test_pip_downloads_with_the_password_from_its_environment(
    web: RouteServer, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path / "src", "gamma", tag="py3-none-any")
    expected = "Basic " + base64.b64encode(b"user:s3cret").decode()

    def gated(reply: Reply) -> Callable[[Request], Reply]:
        def answer(request: Request) -> Reply:
            return reply if request.headers.get("Authorization") == expected else Reply(401)

        return answer

    web.routes["/simple/gamma/"] = gated(
        Reply(
            200,
            f'<html><body><a href="/files/{wheel.name}">{wheel.name}</a></body></html>'.encode(),
            {"Content-Type": "text/html"},
        )
    )
    web.routes[f"/files/{wheel.name}"] = gated(
        Reply(200, wheel.read_bytes(), {"Content-Type": "application/octet-stream"})
    )
    url = web.url.replace("http://", "http://user:s3cret@") + "/simple"
    theirs = {**os.environ, "PIP_INDEX_URL": "http://127.0.0.1:9/not-this-one"}
    pip = PipIndexWheels(IndexSettings(index_url=url), python=sys.executable, env=theirs)
    dest = tmp_path / "dest"
    dest.mkdir()
    found = pip.download("gamma==1.0", [], dest)
    assert found is not None and found.read_bytes() == wheel.read_bytes()
