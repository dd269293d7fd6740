"""publish/check.py: the plan's newest releases against what the registry holds (fake registry)."""

from __future__ import annotations

from fakeimages import REPO, FakeRegistry, Image, make_target

from muslwheels.publish.check import check_targets, held_versions, row_to_dict


def test_held_versions_of_the_same_module_python_and_arch() -> None:
    target = make_target("foo", "amd64", version="1.2")
    tags = [
        "foo1.0-py3.11-amd64",
        "foo1.1-py3.11-amd64",
        "foo1.10-py3.11-amd64",
        "foo-bar1.5-py3.11-amd64",  # another project
        "foo1.3-py3.12-amd64",  # another Python
        "foo1.4-py3.11-arm64v8",  # another arch
        "foo1.1-py3.11",  # a multi-arch tag
        "foonot-a-version-py3.11-amd64",
    ]
    assert held_versions(tags, target) == ("1.10", "1.1", "1.0")
    ssl = make_target("cryptography", "amd64", version="43.0.0", ssl="libressl")
    assert held_versions(
        ["cryptography-libressl42.0.5-py3.11-amd64", "cryptography-openssl42.0.8-py3.11-amd64"],
        ssl,
    ) == ("42.0.5",)


def test_done_pending_and_why() -> None:
    amd, arm = make_target("alpha", "amd64"), make_target("alpha", "arm64v8")
    registry = FakeRegistry()
    pending = check_targets([amd, arm], registry)
    assert [r.status for r in pending.rows] == ["pending", "pending"]
    assert pending.rows[0].missing == f"no image {amd.tag}"

    registry.put(amd.image, Image("linux/amd64"))
    registry.put("registry.test/me/wheels:alpha0.9-py3.11-arm64v8", Image("linux/arm64"))
    registry.put(amd.multiarch_image, Image(None, members=(amd.image,)))
    half = check_targets([amd, arm], registry)
    assert [r.status for r in half.rows] == ["done", "pending"]
    assert half.rows[1].held_versions == ("0.9",)
    assert half.pending == (half.rows[1],)

    # the per-arch image is there, but the multi-arch tag does not list it yet
    registry.put(arm.image, Image("linux/arm64"))
    unjoined = check_targets([amd, arm], registry)
    assert unjoined.rows[1].missing == "multi-arch tag alpha1.0-py3.11 lacks arm64v8"

    registry.put(amd.multiarch_image, Image(None, members=(amd.image, arm.image)))
    registry.asked.clear()
    done = check_targets([amd, arm], registry)
    assert done.pending == ()
    # one tag list per repository and one look at each multi-arch tag
    assert registry.asked == [f"tags {REPO}", f"platforms {amd.multiarch_image}"]


def test_json_shape() -> None:
    target = make_target("alpha", "arm64v8")
    (row,) = check_targets([target], FakeRegistry()).rows
    data = row_to_dict(row)
    assert data["tag"] == "alpha1.0-py3.11-arm64v8"
    assert data["multiarch_tag"] == "alpha1.0-py3.11"
    assert data["repository"] == REPO
    assert (data["present"], data["multiarch_present"], data["status"]) == (False, False, "pending")
    assert data["platform"] == "linux/arm64"
