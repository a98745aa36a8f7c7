"""The provider interface: one small protocol, one module per provider (kind's shape).

A provider creates an ephemeral cluster at one version, upgrades its control plane and then its nodes in
place, hands out a kubeconfig, collects logs, and deletes everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.errors import RehearseError
from harness.versions import Version

META_FILE = "rehearse.json"  # in a cluster's directory: name, provider, version, created, provider details


@dataclass(frozen=True)
class NodeSpec:
    """A node to mirror: labels, taints, capacity and the kubelet version it should report."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] = ()
    capacity: Mapping[str, str] = field(default_factory=lambda: {"cpu": "8", "memory": "32Gi", "pods": "110"})
    control_plane: bool = False


@dataclass(frozen=True)
class ClusterOptions:
    """What a rehearsal asks of a new cluster, beyond its version."""

    nodes: Sequence[NodeSpec] = ()
    apiserver_args: Sequence[str] = ()
    controller_manager_args: Sequence[str] = ()
    scheduler_args: Sequence[str] = ()
    feature_gates: Mapping[str, bool] = field(default_factory=dict)


@dataclass
class Cluster:
    """A running rehearsal cluster."""

    name: str
    provider: str
    version: Version
    kubeconfig: Path
    workdir: Path
    options: ClusterOptions = field(default_factory=ClusterOptions)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster found on this machine (``rehearse clusters list``)."""

    name: str
    provider: str
    version: str
    created: float
    workdir: Path | None
    running: bool


@dataclass(frozen=True)
class UpgradeResult:
    """What one control-plane hop did."""

    version: Version
    seconds: float
    api_downtime_seconds: float
    components: Sequence[tuple[str, float]] = ()


class Provider(Protocol):
    """What every provider implements."""

    name: str

    def available(self) -> tuple[bool, str]:
        """Whether this provider can run here, and why not."""

    def prepare(self, version: Version) -> Version:
        """Make what a cluster of ``version`` needs present (binaries, node images); return the exact version
        that will run (a build may have to use an older patch)."""

    def create(self, name: str, version: Version, options: ClusterOptions) -> Cluster:
        """Create a cluster at ``version``; on failure nothing is left behind."""

    def upgrade_control_plane(self, cluster: Cluster, version: Version) -> UpgradeResult:
        """Replace the control plane with ``version`` over the same cluster state."""

    def upgrade_nodes(self, cluster: Cluster, version: Version) -> None:
        """Bring every node's kubelet to ``version``."""

    def collect_logs(self, cluster: Cluster, directory: Path) -> None:
        """Copy component logs into ``directory``."""

    def delete(self, cluster: Cluster | str) -> None:
        """Delete the cluster and stop every process it started."""

    def list(self) -> list[ClusterInfo]:
        """Clusters of this provider on this machine."""


def read_meta(cluster_dir: Path) -> dict[str, Any]:
    """The metadata file of a cluster directory; empty when missing or unreadable (a half-created cluster)."""
    try:
        data = json.loads((cluster_dir / META_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def managed_cluster(provider: Provider, name: str, version: Version, options: ClusterOptions,
                    keep: bool = False) -> Iterator[Cluster]:
    """Create a cluster and delete it afterwards (on success, failure and Ctrl-C) unless ``keep``."""
    cluster = provider.create(name, version, options)
    try:
        yield cluster
    finally:
        if not keep:
            with contextlib.suppress(RehearseError):
                provider.delete(cluster)


def state_root() -> Path:
    """Where clusters keep their state: ``$REHEARSE_STATE_DIR``, else ``~/.local/state/rehearse``."""
    env = os.environ.get("REHEARSE_STATE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state") / "rehearse"
