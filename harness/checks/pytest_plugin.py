"""pytest fixtures for scenario checks written as test files: ``kubeconfig``, ``kube`` and ``cluster``.

A scenario check ``{type: pytest, file: checks/test_x.py}`` runs that file with this plugin before and after the
upgrade; the fixtures point at the rehearsal cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.versions import Version


@dataclass(frozen=True)
class RehearsalCluster:
    """What a pytest check knows about the cluster under rehearsal."""

    kubeconfig: Path
    version: Version
    phase: str  # "before" | "after"
    simulated_pods: bool


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rehearse")
    group.addoption("--rehearse-kubeconfig", help="kubeconfig of the rehearsal cluster")
    group.addoption("--rehearse-version", help="the version the cluster runs now")
    group.addoption("--rehearse-phase", default="before", help="before | after the upgrade")
    group.addoption("--rehearse-simulated-pods", action="store_true", help="pods are simulated (local provider)")


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> RehearsalCluster:
    kubeconfig = request.config.getoption("--rehearse-kubeconfig")
    if not kubeconfig:
        pytest.skip("not run by rehearse (no --rehearse-kubeconfig)")
    return RehearsalCluster(
        kubeconfig=Path(kubeconfig), version=Version.parse(request.config.getoption("--rehearse-version")),
        phase=request.config.getoption("--rehearse-phase"),
        simulated_pods=bool(request.config.getoption("--rehearse-simulated-pods")),
    )


@pytest.fixture(scope="session")
def kubeconfig(cluster: RehearsalCluster) -> Path:
    return cluster.kubeconfig


@pytest.fixture(scope="session")
def kube(cluster: RehearsalCluster) -> Any:
    """A Kubernetes ``ApiClient`` for the rehearsal cluster."""
    from harness.kube import api_client

    return api_client(cluster.kubeconfig)
