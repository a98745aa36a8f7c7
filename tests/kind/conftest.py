"""Setup of the kind end-to-end test: a Docker engine, locally built node images, one cluster at a time.

Nothing is pulled: the engine comes from Debian (``scripts/kind/engine.sh``, which also installs the runtime
wrapper this sandbox needs), node images are assembled by ``harness.nodeimage`` from Kubernetes
binaries built from Go modules, and the workload image is built from Debian's static busybox.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.binaries._cache import locked
from harness.files import cache_root
from harness.versions import Version, catalogue

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "scripts" / "kind" / "engine.sh"
FROM, TO = "1.27", "1.28"


def _why_not() -> str | None:
    if os.environ.get("REHEARSE_SKIP_KIND_E2E"):
        return "REHEARSE_SKIP_KIND_E2E is set"
    if not sys.platform.startswith("linux"):
        return "the kind end-to-end test needs Linux"
    if os.geteuid() != 0:
        return "the kind end-to-end test installs and starts a Docker engine and runs debootstrap: needs root"
    return None


@pytest.fixture(scope="session")
def engine() -> Any:
    """A running Docker engine (started, with the runtime wrapper where needed, by scripts/kind/engine.sh)."""
    why = _why_not()
    if why:
        pytest.skip(why)
    proc = subprocess.run(["bash", str(ENGINE), "start"], capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        pytest.fail(f"scripts/kind/engine.sh start failed: {proc.stderr.strip().splitlines()[-5:]}")
    from harness.engine import docker_client

    return docker_client()


@pytest.fixture(scope="session")
def versions() -> tuple[Version, Version]:
    cat = catalogue()
    return cat.resolve(FROM), cat.resolve(TO)


@pytest.fixture(scope="session")
def node_images(engine: Any, versions: tuple[Version, Version]) -> dict[str, str]:
    """The locally built node images of both versions, by minor (cached across runs by their inputs)."""
    from harness.nodeimage import build_node_image
    from harness.providers.kind import KIND_RELEASE

    return {v.minor_key: build_node_image(v, KIND_RELEASE, client=engine) for v in versions}


@pytest.fixture(scope="session")
def workload_image(engine: Any) -> str:
    from tests.kind.workload import build_workload_image

    return build_workload_image(engine)


@pytest.fixture()
def one_cluster_at_a_time() -> Iterator[None]:
    """Other test runs on this machine wait: never more than one kind cluster at a time."""
    with locked(cache_root(), "kind-cluster"):
        yield
