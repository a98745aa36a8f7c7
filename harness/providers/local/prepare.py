"""What a ``local`` cluster of a version needs present: the real control-plane binaries, etcd, kwok and kwokctl."""

from __future__ import annotations

from harness.binaries import BinarySet, ensure
from harness.progress import Progress
from harness.versions import Version

LOCAL_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok", "kwokctl")


def binaries(version: Version, progress: Progress) -> BinarySet:
    """The binaries of ``version`` (cache, download or build); ``.version`` is the patch that really runs."""
    return ensure(version, LOCAL_COMPONENTS, progress=progress)
