"""The ``local`` provider: a real control plane as local processes, nodes and pods simulated by kwok.

Creation uses kwokctl's binary runtime on binaries from :func:`harness.binaries.ensure` (:mod:`.provision`);
kwokctl has no upgrade, so the control plane is replaced here the way kubeadm does it (:mod:`.upgrade`); the
nodes are kwok's (:mod:`.node`).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

from harness import processes
from harness.progress import NullProgress, Progress
from harness.providers.base import (
    Cluster,
    ClusterInfo,
    ClusterOptions,
    UpgradeResult,
    check_new_name,
    copy_logs,
    list_clusters,
    managed_cluster,
    read_meta,
    run_actions,
    state_root,
)
from harness.providers.local import node, provision, upgrade
from harness.providers.local.prepare import binaries
from harness.report.model import Finding
from harness.versions import Version


class LocalProvider:
    """Real control-plane binaries as local processes over one etcd; kwok simulates nodes and pods."""

    name = "local"
    simulated_pods = True
    simulated_parts: tuple[str, ...] = (
        "nodes and kubelets (kwok: Ready and the kubelet version after a hop are set, not run)",
        "pods (kwok: workload availability and Service endpoints are answered, no container runs)",
    )
    substitution_reason = "cannot be built here"

    def __init__(self, progress: Progress | None = None, root: Path | None = None) -> None:
        self.progress = progress or NullProgress()
        self.root = (root or state_root()) / "local"

    def available(self) -> tuple[bool, str]:
        return True, "runs real control-plane binaries as local processes (kwok simulates nodes)"

    def prepare(self, version: Version) -> Version:
        """The control-plane binaries, etcd and kwok of ``version`` (cache, download or build)."""
        return binaries(version, self.progress).version

    def create(self, name: str, version: Version, options: ClusterOptions | None = None) -> Cluster:
        """Create ``name`` at ``version``: ordered actions, and on any failure (or Ctrl-C) delete it all."""
        check_new_name(name, lambda n: self._cluster_dir(n).exists())
        cluster, actions = provision.plan(name, version, options or ClusterOptions(), self._cluster_dir(name),
                                          self.root, self.progress)
        run_actions(name, actions, self.progress, self.delete)
        return cluster

    def cluster(self, name: str, version: Version, options: ClusterOptions | None = None,
                keep: bool = False) -> contextlib.AbstractContextManager[Cluster]:
        """:func:`~harness.providers.base.managed_cluster` on this provider."""
        return managed_cluster(self, name, version, options, keep)

    def upgrade_control_plane(self, cluster: Cluster, version: Version) -> UpgradeResult:
        return upgrade.upgrade_control_plane(cluster, version, self.progress)

    def upgrade_nodes(self, cluster: Cluster, version: Version) -> None:
        node.upgrade_nodes(cluster, version, self.progress)

    def take_findings(self, cluster: Cluster) -> list[Finding]:
        """None: simulated nodes drain nothing."""
        return []

    def collect_logs(self, cluster: Cluster, directory: Path) -> None:
        copy_logs(cluster, directory)
        created = cluster.workdir / "kwokctl-create.log"
        if created.exists():
            shutil.copyfile(created, directory / created.name)

    def delete(self, cluster: Cluster | str) -> None:
        """Stop every process of the cluster and remove its directory; safe to call twice."""
        name = cluster if isinstance(cluster, str) else cluster.name
        cdir = self._cluster_dir(name)
        kwokctl = _kwokctl_for(cdir)
        if kwokctl is not None and (cdir / "kwok.yaml").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run([str(kwokctl), "delete", "cluster", "--name", name],
                               env=provision.kwokctl_env(self.root), capture_output=True, timeout=60, check=False,
                               start_new_session=True)
        # What kwokctl stopped may still be exiting, and what it did not know of (a component the upgrade
        # started and kwokctl's pid file no longer names) still runs: wait for both to be gone.
        processes.terminate(processes.processes_under(cdir))
        shutil.rmtree(cdir, ignore_errors=True)
        processes.reap()

    def list(self) -> list[ClusterInfo]:
        return list_clusters(self.root / "clusters", self.name, _apiserver_running)

    def _cluster_dir(self, name: str) -> Path:
        return self.root / "clusters" / name


def _apiserver_running(cdir: Path) -> bool:
    pid = processes.read_pid(cdir / "pids" / "kube-apiserver.pid")
    return pid is not None and processes.alive(pid)


def _kwokctl_for(cdir: Path) -> Path | None:
    """The kwokctl that created the cluster in ``cdir``, else one on PATH."""
    meta = read_meta(cdir)
    if meta.get("binaries"):
        p = Path(meta["binaries"]) / "kwokctl"
        if p.exists():
            return p
    found = shutil.which("kwokctl")
    return Path(found) if found else None
