"""The ``kind`` provider: real nodes as Docker containers, created by the kind CLI, upgraded the way kinder does.

Lifecycle uses the real ``kind`` CLI (create, load, export logs, delete) on the ``kindest/node`` image of the
``--from`` version, pinned by digest in the version catalogue (:mod:`.prepare`; a kind release that has images
for every version of the rehearsal is picked; say so when none does). Operations on node containers use the
docker SDK (:mod:`.node`); creation is :mod:`.provision`, kubeadm's upgrade :mod:`.upgrade`. Pods reach nothing
outside the cluster but the ranges ``ClusterOptions.allow_egress`` opens (:class:`.node.KindEgress`); the API
server's port is published on 127.0.0.1 only. Clusters are deleted on success, failure and Ctrl-C unless kept.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import InfraError
from harness.progress import NullProgress, Progress
from harness.providers.base import (
    Cluster,
    ClusterInfo,
    ClusterOptions,
    UpgradeResult,
    check_new_name,
    copy_logs,
    list_clusters,
    run_actions,
    state_root,
)
from harness.providers.kind.node import HELPER_LABEL, KindEgress, KindNodes
from harness.providers.kind.prepare import KindRelease
from harness.providers.kind.provision import DEFAULT_MAX_NODES, KindProvision
from harness.providers.kind.upgrade import KindUpgrade
from harness.report.model import Finding
from harness.versions import Version


class KindProvider:
    """Clusters of Docker-container nodes made by the kind CLI; kubeadm upgrades in place."""

    name = "kind"
    simulated_pods = False
    simulated_parts: tuple[str, ...] = ()
    substitution_reason = "has no kind node image"

    def __init__(
        self,
        progress: Progress | None = None,
        root: Path | None = None,
        *,
        versions: Sequence[Version] = (),
        images: Mapping[str, str] | None = None,
        preload: Sequence[str] = (),
        node_count: int | None = None,
        max_nodes: int = DEFAULT_MAX_NODES,
        drain_timeout: float = 120.0,
        ready_timeout: float = 300.0,
        kind_binary: Path | None = None,
        release: str | None = None,
    ) -> None:
        """``versions``: every version the rehearsal visits (picks one kind release for them all).
        ``images``: node images to use instead of the catalogue's, by minor (``"1.28"``) or exact version
        (``"1.28.15"``); also read from ``$REHEARSE_KIND_IMAGES`` (``1.27=REF,1.28=REF``).
        ``preload``: local images loaded into every node with ``kind load docker-image``.
        ``node_count``: nodes to create (one control plane, the rest workers) instead of mirroring the snapshot.
        ``release``: the kind release to run (``v0.30.0``); default: the newest with images for all ``versions``.
        """
        self.progress = progress or NullProgress()
        self.root = (root or state_root()) / "kind"
        self.nodes = KindNodes(self.progress, ready_timeout)
        self.kind = KindRelease(self.progress, self.nodes, versions, images, kind_binary, release)
        self.egress = KindEgress(self.progress, self.nodes)
        self.provision = KindProvision(self.progress, self.kind, self.nodes, self.egress, preload=preload,
                                       node_count=node_count, max_nodes=max_nodes)
        self.upgrader = KindUpgrade(self.progress, self.kind, self.nodes, self.egress, drain_timeout)

    # ---- the release and its images ----------------------------------------------------------------------------
    @property
    def release(self) -> str:
        """The kind release this provider runs (see :attr:`KindRelease.release`)."""
        return self.kind.release

    def image_for(self, version: Version) -> str:
        return self.kind.image_for(version)

    def missing_images(self) -> list[str]:
        return self.kind.missing_images()

    # ---- the provider interface --------------------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        try:
            self.nodes.client().ping()
        except InfraError as e:  # already says that no engine answers, and why
            return False, str(e)
        except Exception as e:  # OSError or the SDK's own errors
            return False, f"no Docker engine answers: {e}"
        if not self.kind.obtainable():
            return False, f"kind {self.release} is not installed and cannot be built (no Go toolchain)"
        return True, f"Docker engine and kind {self.release}"

    def prepare(self, version: Version) -> Version:
        """The node image of ``version`` in the engine (pulled when missing) and the kind CLI; the image's own
        version is what runs."""
        return self.kind.prepare(version)

    def create(self, name: str, version: Version, options: ClusterOptions | None = None) -> Cluster:
        """Create ``name`` at ``version``: ordered actions, and on any failure (or Ctrl-C) delete it all."""
        check_new_name(name, lambda n: self._cluster_dir(n).exists() or bool(self.nodes.containers(n)))
        cluster, actions = self.provision.plan(name, version, options or ClusterOptions(), self._cluster_dir(name))
        run_actions(name, actions, self.progress, self.delete)
        return cluster

    def upgrade_control_plane(self, cluster: Cluster, version: Version) -> UpgradeResult:
        return self.upgrader.upgrade_control_plane(cluster, version)

    def upgrade_nodes(self, cluster: Cluster, version: Version) -> None:
        self.upgrader.upgrade_nodes(cluster, version)

    def take_findings(self, cluster: Cluster) -> list[Finding]:
        return self.upgrader.take_findings(cluster)

    def collect_logs(self, cluster: Cluster, directory: Path) -> None:
        """``kind export logs`` into ``directory/kind``, plus rehearse's own logs of kind and kubeadm."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.nodes.containers(cluster.name):
            with contextlib.suppress(InfraError):
                self.kind.run(["export", "logs", str(directory / "kind"), "--name", cluster.name],
                              cluster.workdir / "logs" / "kind-export.log", timeout=300)
        copy_logs(cluster, directory)

    def delete(self, cluster: Cluster | str) -> None:
        """``kind delete cluster``, then whatever containers are left, then the state directory."""
        name = cluster if isinstance(cluster, str) else cluster.name
        cdir = self._cluster_dir(name)
        with contextlib.suppress(InfraError, OSError):
            if self.nodes.containers(name):
                self.kind.run(["delete", "cluster", "--name", name], cdir / "logs" / "kind-delete.log"
                              if cdir.exists() else Path(tempfile.gettempdir()) / f"rehearse-kind-{name}.log",
                              timeout=180)
        for c in [*self.nodes.containers(name), *self.nodes.containers(name, label=HELPER_LABEL)]:
            with contextlib.suppress(Exception):
                self.nodes.client().api.remove_container(c["Id"], force=True, v=True)
        shutil.rmtree(cdir, ignore_errors=True)

    def list(self) -> list[ClusterInfo]:
        return list_clusters(self.root / "clusters", self.name, self._running)

    def _running(self, cdir: Path) -> bool:
        return any(c.get("State") == "running" for c in self.nodes.containers(cdir.name))

    def _cluster_dir(self, name: str) -> Path:
        return self.root / "clusters" / name
