"""Shared fixtures: real Kubernetes binaries (built once per version, cached across runs)."""

from __future__ import annotations

import pytest

from harness.binaries import BinarySet, ensure
from harness.versions import catalogue

TEST_COMPONENTS = (
    "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok", "kwokctl", "kubectl", "helm",
)


def _binaries(minor: str) -> BinarySet:
    return ensure(catalogue().resolve(minor), TEST_COMPONENTS)


@pytest.fixture(scope="session")
def bin127() -> BinarySet:
    """Kubernetes 1.27 (newest buildable patch) with etcd, kwok, kubectl and helm."""
    return _binaries("1.27")


@pytest.fixture(scope="session")
def bin128() -> BinarySet:
    """Kubernetes 1.28 (newest buildable patch) with etcd, kwok, kubectl and helm."""
    return _binaries("1.28")
