"""`rehearse doctor` with a real Docker engine: started with ``scripts/kind/engine.sh`` when none runs (and stopped
afterwards), used as it is when one does. Nothing is pulled: the pinned kindest/node images are absent, and a node
image override (``REHEARSE_KIND_IMAGES``) points at an image imported here from a tar stream (``docker import``)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.binaries import BinarySet

pytestmark = [pytest.mark.slow, pytest.mark.docker]

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "scripts" / "kind" / "engine.sh"
OVERRIDE = "localhost/rehearse-doctor-test/node:v1"


def _engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A Docker engine: the one already running, else one started here (root) and stopped afterwards."""
    started = not _engine_answers()
    if started:
        if os.geteuid() != 0:
            pytest.skip("no Docker engine runs and starting one (scripts/kind/engine.sh) needs root")
        proc = subprocess.run(["bash", str(ENGINE), "start"], capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            pytest.fail(f"scripts/kind/engine.sh start failed: {proc.stderr.strip().splitlines()[-5:]}")
    from harness.engine import docker_client

    client = docker_client()
    try:
        yield client
    finally:
        client.close()
        if started:
            subprocess.run(["bash", str(ENGINE), "stop"], capture_output=True, timeout=120, check=False)


@pytest.fixture()
def override(engine: Any) -> Iterator[str]:
    """A one-file image imported from a tar stream: present in the engine without any pull."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"v1.28.15\n"
        info = tarfile.TarInfo("kind/version")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repo, tag = OVERRIDE.rsplit(":", 1)
    engine.api.import_image_from_data(buf.getvalue(), repository=repo, tag=tag)
    try:
        yield OVERRIDE
    finally:
        engine.images.remove(OVERRIDE, force=True)


def doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    out = subprocess.run([sys.executable, "-m", "harness", "doctor", "--from", "1.27", "--to", "1.28", "--json",
                          *args], capture_output=True, text=True, timeout=120, check=False,
                         env={**os.environ, "CI": "1", **(env or {})})
    doc = json.loads(out.stdout)
    return out.returncode, doc, {r["check"]: r for r in doc["rows"]}


def test_auto_with_an_engine_but_no_node_images_is_local_and_says_which(engine: Any, bin127: BinarySet,
                                                                        bin128: BinarySet) -> None:
    rc, doc, rows = doctor()
    assert rc == 0
    assert rows["docker engine"]["state"] == "ok" and rows["docker engine"]["data"]["version"] == engine.version()[
        "Version"]
    images = rows["node images"]
    assert images["state"] == "no" and set(images["data"]["images"].values()) == {False}
    assert [r.split("@")[0] for r in images["data"]["images"]] == ["kindest/node:v1.27.16", "kindest/node:v1.28.15"]
    assert "rehearse run --provider kind" in images["remedy"] or "REHEARSE_KIND_IMAGES=" in images["remedy"]
    assert doc["provider"]["chosen"] == "local" and "not in the Docker engine" in doc["provider"]["reason"]


def test_explicit_kind_pulls_what_is_missing(engine: Any) -> None:
    rc, doc, rows = doctor("--provider", "kind")
    assert rc == 0, doc["first_missing"]
    assert rows["node images"]["state"] == "pull" and rows["provider"]["detail"] == "kind (kind v0.25.0)"
    assert "Kubernetes 1.27.16" not in rows  # the kind provider runs node images, not these binaries


def test_auto_picks_kind_when_the_node_images_are_in_the_engine(engine: Any, override: str) -> None:
    rc, doc, rows = doctor(env={"REHEARSE_KIND_IMAGES": f"1.27={override},1.28={override}"})
    assert rc == 0, doc["first_missing"]
    assert doc["provider"]["chosen"] == "kind" and doc["provider"]["reason"] is None
    assert rows["node images"]["state"] == "ok" and rows["node images"]["data"]["images"] == {override: True}
    assert rows["provider"]["detail"] == "auto → kind (kind v0.25.0)"
