"""pip's configuration and CA bundle reach the build only as secrets: no layer, build arg or history
line of the builder image holds them."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from support import make_target, run_command

from muslwheels.build.inputs import BuildOptions, staged_request
from muslwheels.config.model import Recipe
from muslwheels.engine.docker import DockerEngine
from muslwheels.engine.interface import ImageOutput
from muslwheels.sources.pipconfig import IndexSettings

pytestmark = pytest.mark.integration

PREFIX = "muslwheels-secret-marker-"


def blobs_of_saved_image(saved: Path) -> Iterator[bytes]:
    """Every file inside ``docker save`` output, and inside each layer tar (gzip or not)."""
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            if not member.isfile():
                continue
            handle = outer.extractfile(member)
            assert handle is not None
            data = handle.read()
            yield data
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
                yield data
            try:
                with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                    for entry in layer.getmembers():
                        if entry.isfile():
                            inner = layer.extractfile(entry)
                            assert inner is not None
                            yield inner.read()
            except tarfile.TarError:
                continue


@pytest.fixture
def builder_image(
    tmp_path: Path, index_settings: IndexSettings, engine: DockerEngine
) -> Iterator[tuple[str, str, str, list[str]]]:
    """The builder stage (repaired: everything but the final scratch stage) of a real build, whose
    pip.conf and CA bundle carry a unique marker, as a local image. Yields (image, secret marker,
    visible marker, the build's output lines)."""
    token = uuid.uuid4().hex
    secret = f"{PREFIX}{token}"
    visible = f"muslwheels-visible-{token}"
    host_cert = index_settings.cert
    assert host_cert, "needs PIP_CERT (the CA bundle) as on the CI machine"
    cert = tmp_path / "ca-bundle.pem"
    # Text outside the PEM blocks is ignored by TLS libraries: the bundle still works.
    cert.write_text(f"{secret}\n" + Path(host_cert).read_text(), encoding="utf-8")
    index = replace(
        index_settings,
        cert=str(cert),
        trusted_hosts=(*index_settings.trusted_hosts, f"{secret}.invalid"),
    )
    # before_build proves the secrets were mounted (grepping for the fixed prefix only, so the
    # command itself does not carry the marker) and writes a visible value into a layer.
    recipe = Recipe(
        env=(("MWTEST_VISIBLE", visible),),
        before_build=(
            f"grep -q {PREFIX} /run/secrets/pipconf",
            f"grep -q {PREFIX} /run/secrets/pipcert",
            'echo "secrets were mounted: $MWTEST_VISIBLE" > /mw/secrets-check',
        ),
    )
    target = make_target("muslwheels-fixture-cext", recipe=recipe)
    image = f"muslwheels-test/secrets:{token}"
    options = BuildOptions(wheels_root=tmp_path / "wheels", log_dir=tmp_path / "logs", index=index)
    lines: list[str] = []
    with staged_request(
        target, options=options, stage="repaired", output=ImageOutput(image, push=False)
    ) as request:
        assert dict(request.secrets)["pipcert"] == str(cert)
        assert all(secret not in f"{k}={v}" for k, v in request.build_args)
        pipconf = Path(dict(request.secrets)["pipconf"]).read_text()
        assert secret in pipconf  # the secret file really carries the marker
        engine.prepare([target.platform], builder=None)
        engine.build(request, lines.append)
    try:
        yield image, secret, visible, lines
    finally:
        run_command(["docker", "image", "rm", "-f", image])


def test_secrets_are_in_no_layer_history_or_config(
    builder_image: tuple[str, str, str, list[str]], tmp_path: Path
) -> None:
    image, secret, visible, lines = builder_image
    history = run_command(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image])
    assert history.returncode == 0, history.stderr
    assert "mw-wheel" in history.stdout  # the history is there and complete
    assert secret not in history.stdout
    assert "pip.conf" not in history.stdout
    inspect = run_command(["docker", "image", "inspect", image])
    assert inspect.returncode == 0, inspect.stderr
    config = json.loads(inspect.stdout)
    assert secret not in json.dumps(config)
    saved = tmp_path / "image.tar"
    save = run_command(["docker", "image", "save", "-o", str(saved), image], timeout=300)
    assert save.returncode == 0, save.stderr
    found_visible = False
    for blob in blobs_of_saved_image(saved):
        assert secret.encode() not in blob
        found_visible = found_visible or visible.encode() in blob
    # the same search finds what the build did write into a layer: it can see markers
    assert found_visible
    # and the build's own output never printed the secret files
    assert not any(secret in line for line in lines)
