from __future__ import annotations

import html
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from servers.pypi import PypiServer, make_sdist
from servers.routes import Reply, RouteServer

from muslwheels.config.model import Project, ProjectLookup
from muslwheels.errors import BuildError, ResolutionError
from muslwheels.plan.versions import (
    find_version,
    is_yanked,
    loosest,
    newest_sdist,
    newest_version,
    python_allowed,
    requires_python_of,
)
from muslwheels.sources.cache import FORMAT, Json, JsonCache
from muslwheels.sources.net import Deadlines
from muslwheels.sources.packageindex import (
    DistFile,
    IndexSdists,
    PackageIndex,
    name_and_version,
    parse_html_page,
    parse_json_page,
    project_from_files,
    summarize,
    summary_from_json,
    summary_to_json,
    valid_summary_record,
)
from muslwheels.sources.pipconfig import IndexSettings

JSON_TYPE = "application/vnd.pypi.simple.v1+json"

# --- pure rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("PyNaCl-1.5.0-cp36-abi3-manylinux_2_28_x86_64.whl", ("PyNaCl", "1.5.0")),
        ("pynacl-1.6.0.tar.gz", ("pynacl", "1.6.0")),
        ("PyNaCl-1.4.0.zip", ("PyNaCl", "1.4.0")),
        ("PyNaCl-1.2.0.tar.bz2", ("PyNaCl", "1.2.0")),
        ("PyNaCl-2.0.0rc1-py3-none-any.whl", ("PyNaCl", "2.0.0rc1")),
        ("PyNaCl-1.0-1-py3-none-any.whl", ("PyNaCl", "1.0")),  # build tag
        ("PyNaCl-01.05-py3-none-any.whl", ("PyNaCl", "1.5")),  # normalised version
        ("PyNaCl-1.5.0.egg", None),
        ("PyNaCl-1.5.0.exe", None),
        ("PyNaCl-notaversion.tar.gz", None),
        ("pynacl_extra-1.0.tar.gz", None),  # another project
        ("PyNaCl-1.5.0-py3-any.whl", None),  # too few wheel parts
    ],
)
def test_name_and_version(filename: str, expected: tuple[str, str] | None) -> None:
    assert name_and_version(filename, "pynacl") == expected


def test_name_and_version_names_with_dashes_digits_and_dots() -> None:
    assert name_and_version("psycopg2-binary-2.9.9.tar.gz", "psycopg2-binary") == (
        "psycopg2-binary",
        "2.9.9",
    )
    assert name_and_version("psycopg2-2.9.9.tar.gz", "psycopg2-binary") is None
    assert name_and_version("backports.zoneinfo-0.2.1.tar.gz", "backports-zoneinfo") == (
        "backports.zoneinfo",
        "0.2.1",
    )
    assert name_and_version("base58-2.1.1-py3-none-any.whl", "base58") == ("base58", "2.1.1")


def test_project_from_files_spelling_order_and_yanked() -> None:
    files = [
        DistFile("pynacl-1.0.tar.gz"),
        DistFile("PyNaCl-1.0-py3-none-any.whl", yanked=True),
        DistFile("pynacl-1.1.tar.gz", yanked=True),
        DistFile("PyNaCl-1.1-py3-none-any.whl", yanked=True),
        DistFile("pynacl-0.9.tar.gz"),
        DistFile("unrelated-3.0.tar.gz"),
    ]
    project = project_from_files("pynacl", files)
    assert project == Project(
        "PyNaCl", ("1.0", "1.1", "0.9"), frozenset({"1.1"}), sdists=frozenset({"1.0", "1.1", "0.9"})
    )


def test_project_spelling_prefers_old_sdist_dashes() -> None:
    files = [
        DistFile("psycopg2_binary-2.9.10-cp312-cp312-musllinux_1_2_x86_64.whl"),
        DistFile("psycopg2-binary-2.9.9.tar.gz"),
    ]
    assert project_from_files("psycopg2-binary", files).name == "psycopg2-binary"
    assert project_from_files("x", [], index_name="X").name == "X"
    assert project_from_files("x-y", [], index_name=None).name == "x-y"


def test_newest_version_rules() -> None:
    def newest(
        versions: list[str], yanked: tuple[str, ...] = (), *, pre: bool = False
    ) -> str | None:
        return newest_version(Project("p", tuple(versions), frozenset(yanked)), pre=pre)

    assert newest(["1.0", "1.10", "1.9"]) == "1.10"
    assert newest(["1.0", "2.0rc1"]) == "1.0"
    assert newest(["1.0", "2.0rc1"], pre=True) == "2.0rc1"
    assert newest(["2.0a1", "2.0rc1"]) == "2.0rc1"  # no final release: pre-releases count
    assert newest(["1.0", "2.0"], yanked=("2.0",)) == "1.0"
    assert newest(["1.0", "2.0"], yanked=("1.0", "2.0")) is None
    # pip filters pre-releases before dropping yanked versions: a yanked final hides them
    assert newest(["1.0", "2.0rc1"], yanked=("1.0",)) is None
    assert newest(["1.0", "2.0rc1"], yanked=("1.0",), pre=True) == "2.0rc1"
    assert newest([]) is None
    assert newest(["1.0+cpu", "1.0"]) == "1.0+cpu"


def test_is_yanked_and_find_version() -> None:
    project = Project("p", ("1.0", "1.1.0"), frozenset({"1.1.0"}))
    assert find_version(project, "1.0.0") == "1.0"
    assert find_version(project, "2") is None
    assert find_version(project, "not a version") is None
    assert is_yanked(project, "1.1")
    assert not is_yanked(project, "1.0")
    assert not is_yanked(project, "3.0")


# --- Requires-Python --------------------------------------------------------------------------------


def test_loosest() -> None:
    assert loosest([">=3.8", ">=3.6"]) == ">=3.6"
    assert loosest([">=3.7,<4", ">=3.9"]) == ">=3.7,<4"
    assert loosest([">=3.6", ">=2.7,!=3.0.*,!=3.1.*"]) == ">=2.7,!=3.0.*,!=3.1.*"
    assert loosest([">=3.8", ">= 3.8"]) == ">=3.8"  # equals: the first one
    assert loosest([" >=3.8 "]) == ">=3.8"
    assert loosest([">=3.8", None]) is None  # a file without a value admits every Python
    assert loosest([">=3.8", ""]) is None
    assert loosest([">=3.8", "python 3 only"]) is None  # pip ignores an invalid specifier
    assert loosest([]) is None


def test_requires_python_rule_sdist_first_else_loosest() -> None:
    def dist(filename: str, requires: str | None) -> DistFile:
        return DistFile(filename, requires_python=requires)

    files = [
        dist("p-1.0.tar.gz", ">=3.6"),  # we build from the sdist: its value counts
        dist("p-1.0-py3-none-any.whl", ">=3.10"),
        dist("p-1.1-py3-none-any.whl", ">=3.9"),  # wheels only: the loosest
        dist("p-1.1-cp38-cp38-linux_x86_64.whl", ">=3.8"),
        dist("p-1.2.tar.gz", None),  # the sdist admits every Python
        dist("p-1.2-py3-none-any.whl", ">=3.10"),
        dist("p-1.3-py3-none-any.whl", ">=3.8"),
        dist("p-1.3-py2-none-any.whl", None),
        dist("p-1.4.tar.gz", "not a specifier"),
        dist("p-1.5.zip", ">=3.9"),  # two sdists: the loosest
        dist("p-1.5.tar.gz", ">=3.8"),
        dist("p-1.6.tar.gz", " >=3.7 "),
        dist("other-9.0.tar.gz", ">=3.99"),
    ]
    project = project_from_files("p", files)
    assert project.versions == ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6")
    assert project.requires_python == (
        ("1.0", ">=3.6"),
        ("1.1", ">=3.8"),
        ("1.5", ">=3.8"),
        ("1.6", ">=3.7"),
    )
    assert requires_python_of(project, "1.0.0") == ">=3.6"
    assert requires_python_of(project, "1.2") is None
    assert requires_python_of(project, "7.0") is None


def test_python_allowed() -> None:
    project = Project(
        "p",
        ("1.0", "1.1", "1.2", "1.3", "1.4"),
        requires_python=(
            ("1.0", ">=3.10"),
            ("1.1", ">=3.9.1"),
            ("1.2", "!=3.9.*,>=3.8"),
            ("1.3", "python 3 only"),
        ),
    )
    assert python_allowed(project, "1.0", "3.10")
    assert python_allowed(project, "1.0.0", "3.12")  # the version compared as PEP 440
    assert not python_allowed(project, "1.0", "3.9")
    # X.Y: the base image's patch release is not known, a late one admits it
    assert python_allowed(project, "1.1", "3.9")
    assert not python_allowed(project, "1.1", "3.9.0")  # a named patch release is exact
    assert python_allowed(project, "1.1", "3.9.2")
    assert not python_allowed(project, "1.2", "3.9")
    assert python_allowed(project, "1.2", "3.8")
    assert python_allowed(project, "1.3", "3.9")  # invalid on the index: ignored, as pip does
    assert python_allowed(project, "1.4", "2.7")  # no value: every Python
    assert python_allowed(project, "9.9", "3.9")  # not a version of the project: no value
    with pytest.raises(ValueError, match="not a Python version"):
        python_allowed(project, "1.0", "three")


def test_newest_version_for_a_python() -> None:
    project = Project(
        "p",
        ("1.0", "1.1", "2.0", "2.1rc1"),
        requires_python=(("1.1", ">=3.8"), ("2.0", ">=3.10"), ("2.1rc1", ">=3.11")),
    )
    assert newest_version(project) == "2.0"
    assert newest_version(project, python="3.12") == "2.0"
    assert newest_version(project, python="3.10") == "2.0"
    assert newest_version(project, python="3.9") == "1.1"
    assert newest_version(project, python="3.7") == "1.0"
    assert newest_version(project, python="3.12", pre=True) == "2.1rc1"
    assert newest_version(project, python="3.10", pre=True) == "2.0"
    # pip drops what the Python excludes before the pre-release rule: only 2.0rc1 is left
    pre_only = Project("p", ("1.0", "2.0rc1"), requires_python=(("1.0", ">=3.10"),))
    assert newest_version(pre_only, python="3.9") == "2.0rc1"
    assert newest_version(pre_only, python="3.10") == "1.0"
    # and before the yanked rule
    yanked = Project("p", ("1.0", "2.0"), frozenset({"2.0"}), (("1.0", ">=3.10"),))
    assert newest_version(yanked, python="3.9") is None
    assert newest_version(yanked, python="3.10") == "1.0"
    # none admits the Python
    assert (
        newest_version(Project("p", ("1.0",), requires_python=(("1.0", "<3"),)), python="3.9")
        is None
    )
    # an invalid specifier on the index is ignored
    broken = Project("p", ("1.0", "2.0"), requires_python=(("2.0", "3 only"),))
    assert newest_version(broken, python="3.9") == "2.0"


def test_summary_record_round_trip_keeps_requires_python() -> None:
    files = [
        DistFile("p-1.0.tar.gz", requires_python=">=3.6"),
        DistFile("p-1.0-py3-none-any.whl", requires_python=">=3.10"),
        DistFile("p-2.0-py3-none-any.whl"),
    ]
    summary = summarize("p", files)
    assert summary.requires_python == (("1.0", True, ">=3.6"), ("2.0", False, None))
    record = json.loads(json.dumps(summary_to_json(summary)))
    assert valid_summary_record(record)
    assert summary_from_json(record) == summary
    # a record of the shape before Requires-Python was kept is not one
    old: Json = {"name": None, "versions": [["1.0", False]], "spellings": [["p", 1]]}
    assert not valid_summary_record(old)
    assert not valid_summary_record({**record, "requires_python": [["1.0", ">=3.6"]]})


def test_parse_html_page() -> None:
    page = b"""<!DOCTYPE html><html><body>
    <a href="../../files/aenum-3.1.17-py3-none-any.whl#sha256=8b88">aenum-3.1.17-py3-none-any.whl</a>
    <a href="https://files.invalid/a/aenum-3.1.16.tar.gz" data-yanked="">x</a>
    <a href="aenum%2D3.1.15.tar.gz" data-yanked="broken build">aenum-3.1.15.tar.gz</a>
    <a>no href</a>
    </body></html>"""
    assert parse_html_page(page) == [
        DistFile("aenum-3.1.17-py3-none-any.whl", False),
        DistFile("aenum-3.1.16.tar.gz", True),
        DistFile("aenum-3.1.15.tar.gz", True),
    ]


def test_parse_html_page_requires_python_is_unescaped() -> None:
    page = b"""<a href="/f/p-1.0.tar.gz" data-requires-python="&gt;=3.7,&lt;4">p-1.0.tar.gz</a>
    <a href="/f/p-1.1.tar.gz" data-requires-python="&#62;=3.8" data-yanked="">p-1.1.tar.gz</a>
    <a href="/f/p-1.2.tar.gz" data-requires-python=">=3.9">p-1.2.tar.gz</a>
    <a href="/f/p-1.3.tar.gz">p-1.3.tar.gz</a>"""
    assert parse_html_page(page) == [
        DistFile("p-1.0.tar.gz", False, ">=3.7,<4"),
        DistFile("p-1.1.tar.gz", True, ">=3.8"),
        DistFile("p-1.2.tar.gz", False, ">=3.9"),
        DistFile("p-1.3.tar.gz", False, None),
    ]


def test_parse_json_page() -> None:
    page = {
        "meta": {"api-version": "1.1"},
        "name": "cffi",
        "files": [
            {"filename": "cffi-1.0.tar.gz", "url": "x", "hashes": {}},
            {"filename": "cffi-1.1.tar.gz", "url": "x", "hashes": {}, "yanked": True},
            {"filename": "cffi-1.2.tar.gz", "url": "x", "hashes": {}, "yanked": "reason"},
            {"filename": "cffi-1.3.tar.gz", "url": "x", "hashes": {}, "yanked": False},
            {"filename": "cffi-1.4.tar.gz", "url": "x", "hashes": {}, "requires-python": ">=3.8"},
            {"filename": "cffi-1.5.tar.gz", "url": "x", "hashes": {}, "requires-python": None},
        ],
    }
    assert parse_json_page(json.dumps(page)) == (
        "cffi",
        [
            DistFile("cffi-1.0.tar.gz", False),
            DistFile("cffi-1.1.tar.gz", True),
            DistFile("cffi-1.2.tar.gz", True),
            DistFile("cffi-1.3.tar.gz", False),
            DistFile("cffi-1.4.tar.gz", False, ">=3.8"),
            DistFile("cffi-1.5.tar.gz", False, None),
        ],
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("[]", "not a JSON object"),
        ('{"meta": {"api-version": "2.0"}, "files": []}', "unsupported simple API version"),
        ('{"meta": {"api-version": "1.0"}}', 'no "files" list'),
        ('{"meta": {"api-version": "1.0"}, "files": [{"url": "x"}]}', 'has no "filename"'),
        ("{not json", "Expecting"),
    ],
)
def test_parse_json_page_rejects(body: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_json_page(body)


# --- the index over HTTP ---------------------------------------------------------------------------


def json_page(
    name: str, files: list[tuple[str, bool]], requires: dict[str, str] | None = None
) -> Reply:
    """A PEP 691 page; ``requires``: file name -> its ``requires-python``."""
    entries: list[dict[str, object]] = []
    for f, y in files:
        entry: dict[str, object] = {"filename": f, "url": f, "hashes": {}, "yanked": y}
        if requires and f in requires:
            entry["requires-python"] = requires[f]
        entries.append(entry)
    body = {"meta": {"api-version": "1.0"}, "name": name, "files": entries}
    return Reply(200, json.dumps(body).encode(), {"Content-Type": JSON_TYPE})


def html_links(files: list[tuple[str, bool]], requires: dict[str, str] | None = None) -> str:
    """PEP 503 anchors; ``requires``: file name -> ``data-requires-python`` (HTML-escaped here,
    as indexes write it)."""
    links = []
    for f, y in files:
        attributes = " data-yanked" if y else ""
        if requires and f in requires:
            attributes += f' data-requires-python="{html.escape(requires[f])}"'
        links.append(f'<a href="/files/{f}#sha256=00"{attributes}>{f}</a>\n')
    return "".join(links)


def html_page(files: list[tuple[str, bool]], requires: dict[str, str] | None = None) -> Reply:
    body = f"<!DOCTYPE html><html><body>{html_links(files, requires)}</body></html>".encode()
    return Reply(200, body, {"Content-Type": "text/html; charset=utf-8"})


@pytest.fixture
def served(web: RouteServer) -> RouteServer:
    """A JSON index at /json/simple and an HTML one at /html/simple."""
    web.routes["/json/simple/cffi/"] = json_page(
        "cffi",
        [
            ("cffi-1.16.0.tar.gz", False),
            ("cffi-1.17.0.tar.gz", True),
            ("cffi-1.17.0-cp312-cp312-musllinux_1_2_x86_64.whl", True),
            ("cffi-1.18.0rc1.tar.gz", False),
        ],
    )
    web.routes["/html/simple/pynacl/"] = html_page(
        [("PyNaCl-1.5.0.tar.gz", False), ("pynacl-1.6.0.tar.gz", False), ("PyNaCl-1.7.0.zip", True)]
    )
    web.routes["/html/simple/cffi/"] = html_page(
        [("cffi-1.17.0.tar.gz", False), ("cffi-1.15.0.tar.gz", False)]
    )
    web.routes["/json/simple/paramiko/"] = json_page(
        "paramiko",
        [
            ("paramiko-3.2.0-py3-none-any.whl", False),
            ("paramiko-3.3.0.tar.gz", False),
            ("paramiko-3.3.0-py3-none-any.whl", False),
            ("paramiko-3.4.0.tar.gz", False),
            ("paramiko-3.4.0-py3-none-any.whl", False),
            ("paramiko-3.5.0.tar.gz", False),
            ("paramiko-3.5.0-py3-none-any.whl", False),
        ],
        {
            "paramiko-3.3.0.tar.gz": ">=3.6",
            "paramiko-3.3.0-py3-none-any.whl": ">=3.6",
            "paramiko-3.4.0.tar.gz": ">=3.6",
            "paramiko-3.4.0-py3-none-any.whl": ">=3.10",
            "paramiko-3.5.0.tar.gz": ">=3.10",
            "paramiko-3.5.0-py3-none-any.whl": ">=3.10",
        },
    )
    web.routes["/html/simple/paramiko/"] = html_page(
        [
            ("paramiko-3.5.0-py3-none-any.whl", False),
            ("paramiko-3.6.0-py3-none-any.whl", False),
            ("paramiko-3.6.0-cp39-abi3-musllinux_1_2_x86_64.whl", False),
            ("paramiko-3.7.0-py3-none-any.whl", False),
        ],
        {
            "paramiko-3.5.0-py3-none-any.whl": ">=3.8",
            "paramiko-3.6.0-py3-none-any.whl": ">=3.7,<4",
            "paramiko-3.6.0-cp39-abi3-musllinux_1_2_x86_64.whl": ">=3.9",
            "paramiko-3.7.0-py3-none-any.whl": "three and up",
        },
    )
    return web


#: Retries after 10 ms: the tests of transient failures need not wait for the real backoff.
FAST_BACKOFF = (0.01, 0.01, 0.01)


def index_at(*urls: str, **kwargs: object) -> PackageIndex:
    settings = IndexSettings(index_url=urls[0], extra_index_urls=tuple(urls[1:]))
    kwargs.setdefault("deadlines", Deadlines(backoff=FAST_BACKOFF))
    return PackageIndex(settings, **kwargs)  # type: ignore[arg-type]


def test_json_index(served: RouteServer) -> None:
    index = index_at(served.url + "/json/simple/")
    project = index.project("CFFI")
    versions = ("1.16.0", "1.17.0", "1.18.0rc1")
    assert project == Project("cffi", versions, frozenset({"1.17.0"}), sdists=frozenset(versions))
    assert newest_version(project) == "1.16.0"
    assert newest_version(project, pre=True) == "1.18.0rc1"
    request = served.requests[-1]
    assert request.path == "/json/simple/cffi/"
    assert request.headers["Accept"].startswith("application/vnd.pypi.simple.v1+json")


def test_html_index(served: RouteServer) -> None:
    project = index_at(served.url + "/html/simple").project("pynacl")
    versions = ("1.5.0", "1.6.0", "1.7.0")
    assert project == Project("PyNaCl", versions, frozenset({"1.7.0"}), sdists=frozenset(versions))
    assert project is not None and newest_version(project) == "1.6.0"


def test_requires_python_from_a_json_index(served: RouteServer) -> None:
    project = index_at(served.url + "/json/simple").project("paramiko")
    assert project is not None
    assert project.versions == ("3.2.0", "3.3.0", "3.4.0", "3.5.0")
    # 3.4.0: its sdist's value, not its wheel's; 3.2.0 has none
    assert project.requires_python == (("3.3.0", ">=3.6"), ("3.4.0", ">=3.6"), ("3.5.0", ">=3.10"))
    assert newest_version(project) == "3.5.0"
    assert newest_version(project, python="3.12") == "3.5.0"
    assert newest_version(project, python="3.9") == "3.4.0"
    assert newest_version(project, python="3.5") == "3.2.0"


def test_requires_python_from_an_html_index(served: RouteServer) -> None:
    project = index_at(served.url + "/html/simple").project("paramiko")
    assert project is not None
    # escaped on the page (&gt;=3.7,&lt;4), unescaped here; an invalid value is dropped
    assert project.requires_python == (("3.5.0", ">=3.8"), ("3.6.0", ">=3.7,<4"))
    assert b"&gt;=3.7,&lt;4" in served_body(served, "/html/simple/paramiko/")
    assert newest_version(project, python="3.6") == "3.7.0"


def served_body(server: RouteServer, path: str) -> bytes:
    route = server.routes[path]
    assert isinstance(route, Reply)
    return route.body


def test_requires_python_merged_across_indexes(served: RouteServer) -> None:
    index = index_at(served.url + "/json/simple", served.url + "/html/simple")
    project = index.project("paramiko")
    assert project is not None
    # 3.5.0: the sdist on the JSON index outranks the looser wheel on the HTML one
    assert project.requires_python == (
        ("3.3.0", ">=3.6"),
        ("3.4.0", ">=3.6"),
        ("3.5.0", ">=3.10"),
        ("3.6.0", ">=3.7,<4"),
    )
    assert newest_version(project, python="3.9") == "3.7.0"


def test_requires_python_from_find_links_pages(tmp_path: Path, served: RouteServer) -> None:
    page = tmp_path / "links.html"
    page.write_text(
        html_links(
            [("paramiko-3.4.0-py3-none-any.whl", False), ("paramiko-4.0.tar.gz", False)],
            {"paramiko-3.4.0-py3-none-any.whl": ">=3.8", "paramiko-4.0.tar.gz": ">=3.11"},
        )
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "paramiko-4.1.tar.gz").write_bytes(b"")  # a directory has no values: none
    settings = IndexSettings(
        index_url=served.url + "/json/simple", find_links=(page.as_uri(), str(wheels))
    )
    project = PackageIndex(settings).project("paramiko")
    assert project is not None
    assert project.requires_python == (
        ("3.3.0", ">=3.6"),
        ("3.4.0", ">=3.6"),  # the index's sdist outranks the find-links wheel
        ("3.5.0", ">=3.10"),
        ("4.0", ">=3.11"),
    )
    assert newest_version(project, python="3.9") == "4.1"


def test_missing_project_is_none(served: RouteServer) -> None:
    assert index_at(served.url + "/json/simple").project("nothing-here") is None
    assert index_at(served.url + "/json/simple").project("../etc") is None


def test_extra_indexes_are_merged(served: RouteServer) -> None:
    index = index_at(served.url + "/json/simple", served.url + "/html/simple")
    project = index.project("cffi")
    assert project is not None
    assert project.versions == ("1.16.0", "1.17.0", "1.18.0rc1", "1.15.0")
    assert project.yanked == frozenset()  # 1.17.0 is yanked on one index only
    assert newest_version(project) == "1.17.0"
    # a project on the extra index only
    assert index.project("PyNaCl") is not None


def test_each_question_is_asked_once_per_run(served: RouteServer) -> None:
    index = index_at(served.url + "/json/simple")
    index.project("cffi")
    index.project("CFFI")
    index.project("cffi")
    assert served.paths().count("/json/simple/cffi/") == 1


def test_disk_cache_and_offline(served: RouteServer, tmp_path: Path) -> None:
    url = served.url + "/json/simple"

    def index(*, offline: bool = False, refresh: bool = False) -> PackageIndex:
        cache = JsonCache(tmp_path, offline=offline, refresh=refresh)
        return index_at(url, cache=cache, cache_loopback=True)

    first = index().lookup("cffi")
    assert not first.cached
    asked = len(served.requests)

    again_index = index()
    again = again_index.lookup("cffi")
    assert again.cached and again.value == first.value
    assert again.fetched_at == first.fetched_at
    assert again_index.oldest_fetched_at == first.fetched_at and again_index.any_cached

    offline = index(offline=True)
    assert offline.project("cffi") == first.value
    with pytest.raises(ResolutionError) as info:
        offline.project("pynacl")
    assert str(info.value) == (
        f'the versions of "pynacl" on {url} is not in the cache ({tmp_path})'
    )
    assert "without --offline" in (info.value.hint or "")
    assert len(served.requests) == asked

    refreshed = index(refresh=True).lookup("cffi")
    assert not refreshed.cached
    assert len(served.requests) == asked + 1


def test_requires_python_survives_the_disk_cache(served: RouteServer, tmp_path: Path) -> None:
    url = served.url + "/json/simple"
    fresh = index_at(url, cache=JsonCache(tmp_path), cache_loopback=True).project("paramiko")
    assert fresh is not None and fresh.requires_python
    asked = len(served.requests)
    offline = index_at(url, cache=JsonCache(tmp_path, offline=True), cache_loopback=True)
    assert offline.project("paramiko") == fresh
    assert len(served.requests) == asked


def test_cache_records_of_the_old_format_are_ignored(served: RouteServer, tmp_path: Path) -> None:
    url = served.url + "/json/simple"

    def offline() -> PackageIndex:
        return index_at(url, cache=JsonCache(tmp_path, offline=True), cache_loopback=True)

    index_at(url, cache=JsonCache(tmp_path), cache_loopback=True).project("paramiko")
    (path,) = (tmp_path / "index").iterdir()
    record = json.loads(path.read_text())
    assert record["format"] == FORMAT
    assert offline().project("paramiko") is not None  # the record as written is read back
    # what the previous version wrote: no Requires-Python, so every version admitted any Python
    old_value = {"name": "paramiko", "versions": [["3.5.0", False]], "spellings": [["paramiko", 1]]}
    for fmt in (1, FORMAT):
        path.write_text(json.dumps({**record, "format": fmt, "value": old_value}))
        with pytest.raises(ResolutionError, match="is not in the cache"):
            offline().project("paramiko")
    asked = len(served.requests)
    project = index_at(url, cache=JsonCache(tmp_path), cache_loopback=True).project("paramiko")
    assert project is not None and ("3.5.0", ">=3.10") in project.requires_python
    assert len(served.requests) == asked + 1  # asked again, not misread


def test_cache_is_per_index(served: RouteServer, tmp_path: Path) -> None:
    json_url, html_url = served.url + "/json/simple", served.url + "/html/simple"
    index_at(json_url, cache=JsonCache(tmp_path), cache_loopback=True).project("cffi")
    other = index_at(html_url, cache=JsonCache(tmp_path), cache_loopback=True).project("cffi")
    assert other is not None and other.versions == ("1.17.0", "1.15.0")
    # both pages are on disk now: merged offline, without asking
    asked = len(served.requests)
    both = index_at(
        json_url, html_url, cache=JsonCache(tmp_path, offline=True), cache_loopback=True
    ).project("cffi")
    assert both is not None and both.versions == ("1.16.0", "1.17.0", "1.18.0rc1", "1.15.0")
    assert len(served.requests) == asked


def test_local_sources_are_read_afresh_even_offline(served: RouteServer, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    local = tmp_path / "simple" / "cffi"
    local.mkdir(parents=True)
    (local / "cffi-9.0.tar.gz").write_bytes(b"")
    url = served.url + "/json/simple"
    first = index_at(url, local.parent.as_uri(), cache=JsonCache(cache_dir)).lookup("cffi")
    assert first.value is not None and "9.0" in first.value.versions
    assert not cache_dir.exists()  # nothing remote was asked: nothing on disk
    (local / "cffi-9.1.tar.gz").write_bytes(b"")
    asked = len(served.requests)
    offline = index_at(url, local.parent.as_uri(), cache=JsonCache(cache_dir, offline=True))
    project = offline.project("cffi")
    assert project is not None and "9.1" in project.versions
    assert len(served.requests) == asked + 1  # the loopback index was asked again


def test_no_usable_index(served: RouteServer) -> None:
    with pytest.raises(ResolutionError, match="no package index to ask: ignored index http://"):
        index_at("http://index.invalid/simple").project("cffi")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(200, b"{garbage", {"Content-Type": JSON_TYPE}), "gave a malformed answer"),
        (Reply(200, b"[1, 2]", {"Content-Type": JSON_TYPE}), "gave a malformed answer"),
        (Reply(200, b"PK\x03\x04", {"Content-Type": "application/zip"}), "application/zip"),
        (Reply(500, b"oops", {}), "answered HTTP 500"),
        (Reply(401, b"", {}), r"refused access \(HTTP 401\)"),
    ],
)
def test_bad_answers(web: RouteServer, reply: Reply, error: str) -> None:
    web.routes["/simple/cffi/"] = reply
    with pytest.raises(ResolutionError, match=error) as info:
        index_at(web.url + "/simple").project("cffi")
    assert info.value.hint


def test_unreachable_index(dead_url: str) -> None:
    with pytest.raises(ResolutionError) as info:
        index_at(dead_url + "/simple").project("cffi")
    assert str(info.value).startswith(f"package index {dead_url}/simple/cffi/ is unreachable: ")
    assert "PIP_INDEX_URL" in (info.value.hint or "")
    assert "--offline" in (info.value.hint or "")


def test_server_that_does_not_speak_http(garbage_url: str) -> None:
    with pytest.raises(ResolutionError, match="is unreachable"):
        index_at(garbage_url + "/simple").project("cffi")


def test_unreachable_extra_index_is_an_error_too(served: RouteServer, dead_url: str) -> None:
    with pytest.raises(ResolutionError, match=f"{dead_url}/x/cffi/ is unreachable"):
        index_at(served.url + "/json/simple", dead_url + "/x").project("cffi")


def test_credentials_in_the_url(web: RouteServer) -> None:
    web.routes["/simple/cffi/"] = lambda request: (
        json_page("cffi", [("cffi-1.0.tar.gz", False)])
        if request.headers.get("Authorization") == "Basic dXNlcjpzM2NyZXQ="  # user:s3cret
        else Reply(401)
    )
    url = web.url.replace("http://", "http://user:s3cret@") + "/simple"
    assert index_at(url).project("cffi") is not None
    web.routes["/simple/cffi/"] = Reply(403)
    with pytest.raises(ResolutionError) as info:
        index_at(url).project("cffi")
    assert "s3cret" not in str(info.value)
    assert "user:***@127.0.0.1" in str(info.value)


def test_plain_http_to_untrusted_host_is_ignored_as_pip_does(served: RouteServer) -> None:
    index = index_at(served.url + "/json/simple", "http://index.invalid/simple")
    assert index.project("cffi") is not None
    assert index.notes == [
        "ignored index http://index.invalid/simple: plain HTTP to a host that is not trusted "
        "(pip ignores it too; add it to trusted-host or use https)"
    ]


@pytest.fixture
def tls_web(tls_cert: tuple[Path, Path]) -> Iterator[RouteServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_cert)
    server = RouteServer(context)
    server.routes["/simple/cffi/"] = json_page("cffi", [("cffi-1.0.tar.gz", False)])
    yield server
    server.close()


def test_tls_with_the_configured_ca_bundle(
    tls_web: RouteServer, tls_cert: tuple[Path, Path]
) -> None:
    settings = IndexSettings(index_url=tls_web.url + "/simple", cert=str(tls_cert[0]))
    assert PackageIndex(settings).project("cffi") is not None


def test_tls_without_the_ca_fails_clearly(tls_web: RouteServer, tmp_path: Path) -> None:
    with pytest.raises(ResolutionError, match="TLS verification failed") as info:
        index_at(tls_web.url + "/simple").project("cffi")
    assert "PIP_CERT" in (info.value.hint or "")


def test_tls_trusted_host_skips_verification(tls_web: RouteServer) -> None:
    settings = IndexSettings(
        index_url=tls_web.url + "/simple", trusted_hosts=(f"127.0.0.1:{tls_web.port}",)
    )
    assert PackageIndex(settings).project("cffi") is not None


def test_unreadable_ca_bundle(tls_web: RouteServer, tmp_path: Path) -> None:
    settings = IndexSettings(index_url=tls_web.url + "/simple", cert=str(tmp_path / "none.pem"))
    with pytest.raises(ResolutionError, match="cannot load the TLS certificates"):
        PackageIndex(settings).project("cffi")


# --- local indexes and find-links ------------------------------------------------------------------


def test_file_index_with_pages_and_plain_directories(tmp_path: Path) -> None:
    (tmp_path / "simple" / "aenum").mkdir(parents=True)
    (tmp_path / "simple" / "aenum" / "index.html").write_text(
        '<a href="../../files/aenum-3.1.17-py3-none-any.whl#sha256=8b">aenum-3.1.17-py3-none-any.whl</a>'
    )
    (tmp_path / "simple" / "bcrypt").mkdir()
    (tmp_path / "simple" / "bcrypt" / "bcrypt-5.0.0.tar.gz").write_bytes(b"")
    index = index_at((tmp_path / "simple").as_uri())
    assert index.project("aenum") == Project("aenum", ("3.1.17",))
    assert index.project("bcrypt") == Project("bcrypt", ("5.0.0",), sdists=frozenset({"5.0.0"}))
    assert index.project("cffi") is None
    # a primary index that does not exist is an error, as it is for pip (exit 4)
    with pytest.raises(ResolutionError, match="missing': it does not exist"):
        index_at((tmp_path / "missing").as_uri()).project("aenum")


def test_find_links_directories_and_pages(tmp_path: Path, served: RouteServer) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "cffi-2.0.0+local-cp312-cp312-linux_x86_64.whl").write_bytes(b"")
    (wheels / "other-1.0.tar.gz").write_bytes(b"")
    page = tmp_path / "links.html"
    page.write_text('<a href="cffi-1.99.tar.gz">cffi-1.99.tar.gz</a>')
    settings = IndexSettings(
        index_url=served.url + "/json/simple",
        find_links=(str(wheels), page.as_uri(), str(tmp_path / "gone")),
    )
    index = PackageIndex(settings)
    project = index.project("cffi")
    assert project is not None
    assert project.versions == ("1.16.0", "1.17.0", "1.18.0rc1", "2.0.0+local", "1.99")
    assert index.notes == [f"ignored find-links location {tmp_path / 'gone'}: it does not exist"]
    assert PackageIndex(settings, use_find_links=False).project("cffi") != project
    # a project found only through find-links
    assert index.project("other") == Project("other", ("1.0",), sdists=frozenset({"1.0"}))


# --- a second real implementation: pypiserver --------------------------------------------------------


@pytest.fixture
def pypi(tmp_path: Path, start_pypiserver: Callable[[Path], PypiServer]) -> PypiServer:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_sdist(packages, "PyNaCl", "1.5.0")
    make_sdist(packages, "PyNaCl", "1.6.0", filename_name="pynacl")
    make_sdist(packages, "PyNaCl", "1.7.0rc1", filename_name="pynacl")
    make_sdist(packages, "psycopg2-binary", "2.9.9")
    make_sdist(packages, "psycopg2-binary", "2.9.10", filename_name="psycopg2_binary")
    make_sdist(packages, "psycopg2", "2.9.10")
    return start_pypiserver(packages)


def test_pypiserver(pypi: PypiServer) -> None:
    index = index_at(pypi.url + "/simple/")
    nacl = index.project("pynacl")
    assert nacl is not None
    assert nacl.name == "PyNaCl"
    assert sorted(nacl.versions) == ["1.5.0", "1.6.0", "1.7.0rc1"]
    assert newest_version(nacl) == "1.6.0"
    assert newest_version(nacl, pre=True) == "1.7.0rc1"
    binary = index.project("PSYCOPG2_binary")
    assert binary is not None
    assert binary.name == "psycopg2-binary"
    assert newest_version(binary) == "2.9.10"
    assert index.project("psycopg2") == Project(
        "psycopg2", ("2.9.10",), sdists=frozenset({"2.9.10"})
    )
    # pypiserver 2.x writes no data-requires-python: every release admits every Python
    assert nacl.requires_python == ()
    assert newest_version(nacl, python="3.9") == "1.6.0"
    assert index.project("no-such-project") is None


def test_package_index_is_a_project_lookup() -> None:
    lookup: ProjectLookup = PackageIndex(IndexSettings(index_url="https://index.invalid/simple"))
    assert lookup.project("") is None  # not a project name: nothing is asked


# --- asking about several projects at once ------------------------------------------------------


def test_prefetch_asks_in_parallel_and_each_question_once(web: RouteServer) -> None:
    together = threading.Barrier(3, timeout=10)

    def meet(name: str) -> Callable[[object], Reply]:
        def reply(_request: object) -> Reply:
            # answers only when all three questions are in flight at the same time
            try:
                together.wait()
            except threading.BrokenBarrierError:
                return Reply(500, b"asked one after the other")
            return json_page(name, [(f"{name}-1.0.tar.gz", False)])

        return reply

    for name in ("alpha", "beta", "gamma"):
        web.routes[f"/json/simple/{name}/"] = meet(name)
    index = index_at(web.url + "/json/simple")
    index.prefetch(["alpha", "Beta", "gamma", "ALPHA"])
    for name in ("alpha", "beta", "gamma"):
        project = index.project(name)
        assert project is not None and project.versions == ("1.0",)
        assert web.paths().count(f"/json/simple/{name}/") == 1


def test_prefetch_keeps_a_failure_for_the_lookup_that_needs_it(served: RouteServer) -> None:
    served.routes["/json/simple/broken/"] = Reply(503, b"down")
    index = index_at(served.url + "/json/simple")
    index.prefetch(["broken", "cffi"])  # raises nothing
    assert index.project("cffi") is not None
    asked = served.paths().count("/json/simple/broken/")
    assert asked == 1 + len(FAST_BACKOFF)  # a 5xx is tried again, within the deadline
    for _ in range(2):
        with pytest.raises(ResolutionError, match="HTTP 503"):
            index.project("broken")
    assert served.paths().count("/json/simple/broken/") == asked


# --- sdists: what an extra dependency target builds ----------------------------------------------


def test_sdists_are_the_versions_with_a_source_distribution() -> None:
    files = [
        DistFile("lib-1.0.tar.gz"),
        DistFile("lib-1.0-py3-none-any.whl"),
        DistFile("lib-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
        DistFile("lib-2.1.zip"),
    ]
    assert project_from_files("lib", files).sdists == frozenset({"1.0", "2.1"})


def test_newest_sdist_rules() -> None:
    project = Project(
        "lib",
        ("1.0", "1.5", "2.0", "2.1", "3.0rc1"),
        yanked=frozenset({"2.1"}),
        requires_python=(("2.0", ">=3.12"),),
        sdists=frozenset({"1.0", "1.5", "2.0", "2.1", "3.0rc1"}),
    )
    assert newest_sdist(project, SpecifierSet(""), python="3.11") == "1.5"  # 2.0 needs 3.12
    assert newest_sdist(project, SpecifierSet(""), python="3.12") == "2.0"  # 2.1 yanked
    assert newest_sdist(project, SpecifierSet("==2.1"), python="3.12") == "2.1"  # pinned
    assert newest_sdist(project, SpecifierSet(">=3.0rc1"), python="3.12") == "3.0rc1"
    assert newest_sdist(project, SpecifierSet("<1"), python="3.12") is None
    assert newest_sdist(Project("x", ("1.0",)), SpecifierSet(""), python="3.12") is None


def test_index_sdists_through_a_project_lookup() -> None:
    class Lookup:
        def project(self, name: str) -> Project | None:
            if name == "down":
                raise ResolutionError("index unreachable", hint="check it")
            if name == "lib":
                return Project("Lib", ("1.0", "2.0"), sdists=frozenset({"1.0"}))
            return None

    sdists = IndexSdists(Lookup())
    assert sdists.newest(Requirement("lib>=0.5"), "3.11") == ("Lib", "1.0")
    assert sdists.newest(Requirement("lib>=2"), "3.11") is None
    assert sdists.newest(Requirement("absent"), "3.11") is None
    with pytest.raises(BuildError, match="cannot ask the index for an sdist of down"):
        sdists.newest(Requirement("down"), "3.11")


def test_credentials_stay_on_their_origin_across_redirects(web: RouteServer) -> None:
    """A redirect to another origin (here: another port) gets no Authorization, as with pip;
    one within the origin keeps it."""
    other = RouteServer()
    try:
        other.routes["/simple/cffi/"] = json_page("cffi", [("cffi-1.0.tar.gz", False)])
        web.routes["/simple/cffi/"] = Reply(302, b"", {"Location": other.url + "/simple/cffi/"})
        url = web.url.replace("http://", "http://user:s3cret@") + "/simple"
        assert index_at(url).project("cffi") is not None
        assert web.requests[0].headers.get("Authorization")
        assert [r.path for r in other.requests] == ["/simple/cffi/"]
        assert "Authorization" not in other.requests[0].headers
        # within the origin: kept
        web.routes["/simple/cffi/"] = Reply(302, b"", {"Location": "/moved/cffi/"})
        web.routes["/moved/cffi/"] = json_page("cffi", [("cffi-1.0.tar.gz", False)])
        assert index_at(url).project("cffi") is not None
        assert web.requests[-1].path == "/moved/cffi/"
        assert web.requests[-1].headers.get("Authorization") == "Basic dXNlcjpzM2NyZXQ="
    finally:
        other.close()


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        b"\x00\x01\x02",
        b"{}",
        b"<html><body><h1>Welcome</h1><a href='/about'>About us</a></body></html>",
        b"<html><a href='x'>x</a>" + bytes(range(256)) * 10,
    ],
)
def test_garbage_with_200_is_a_malformed_answer(web: RouteServer, body: bytes) -> None:
    web.routes["/simple/cffi/"] = Reply(200, body, {"Content-Type": "text/html"})
    with pytest.raises(ResolutionError, match="gave a malformed answer") as info:
        index_at(web.url + "/simple").project("cffi")
    assert info.value.exit_code == 4


def test_a_json_name_that_is_not_a_project_name_is_not_used(web: RouteServer) -> None:
    web.routes["/simple/cffi/"] = json_page("cffi\nFORGED", [("cffi-1.0.tar.gz", False)])
    project = index_at(web.url + "/simple").project("cffi")
    assert project is not None and project.name == "cffi"


def test_binary_garbage_with_markup_in_it_is_malformed(web: RouteServer) -> None:
    body = b"\x89PNG\r\n\x1a\n\x00\x00<html>" + bytes(range(256))
    web.routes["/simple/cffi/"] = Reply(200, body, {"Content-Type": "text/html"})
    with pytest.raises(ResolutionError, match="malformed answer: binary data") as info:
        index_at(web.url + "/simple").project("cffi")
    assert info.value.exit_code == 4


def test_json_nested_too_deeply_is_malformed_not_a_recursion_error(web: RouteServer) -> None:
    web.routes["/simple/cffi/"] = Reply(200, b"[" * 100_000, {"Content-Type": JSON_TYPE})
    with pytest.raises(ResolutionError, match="malformed answer: JSON nested too deeply"):
        index_at(web.url + "/simple").project("cffi")


def test_an_answer_past_the_size_limit_is_refused(
    web: RouteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from muslwheels.sources import net

    monkeypatch.setattr(net, "MAX_ANSWER_BYTES", 1000)
    web.routes["/simple/cffi/"] = html_page([(f"cffi-1.{i}.tar.gz", False) for i in range(100)])
    with pytest.raises(
        ResolutionError, match="the answer is larger than the 1000 bytes allowed"
    ) as info:
        index_at(web.url + "/simple").project("cffi")
    assert info.value.exit_code == 4


@pytest.mark.parametrize("page", [b"<![A<html>", b"<![<html>"])
def test_broken_markup_declarations_are_a_malformed_page(page: bytes) -> None:
    """html.parser asserts on these (found by the fuzz target): a malformed answer, no traceback."""
    with pytest.raises(ValueError, match="broken markup"):
        parse_html_page(page)


def test_a_malformed_find_links_page_is_left_out_with_a_note(
    tmp_path: Path, served: RouteServer
) -> None:
    page = tmp_path / "links.html"
    page.write_bytes(b"<![A<html>")
    settings = IndexSettings(index_url=served.url + "/json/simple", find_links=(str(page),))
    index = PackageIndex(settings)
    assert index.project("cffi") is not None  # the index still answers
    assert len(index.notes) == 1 and "malformed page: broken markup" in index.notes[0]
