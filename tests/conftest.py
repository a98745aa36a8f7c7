"""Shared fixtures: real Kubernetes binaries (built once per version, cached across runs)."""

from __future__ import annotations

import signal

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


def default_sigint() -> None:
    """``preexec_fn`` for a child the tests interrupt: SIGINT back to its default disposition. A shell that starts
    a job in the background (``cmd &``, as some CI runners do) makes it ignore SIGINT, and a Python started with
    SIGINT ignored never raises KeyboardInterrupt -- unlike the terminal user these tests stand for."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
