"""The ``kind`` provider's nodes: Docker containers labelled by kind (listed, commands run in them through the
Docker engine), and the Nodes they register in the cluster's API (readiness at a kubelet version)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.engine import docker_client, run_in
from harness.errors import InfraError
from harness.progress import Progress
from harness.providers._api import core_api, wait_nodes_ready
from harness.providers.base import Cluster
from harness.versions import Version

CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
HELPER_LABEL = "io.rehearse.helper"  # containers rehearse itself starts for a cluster (see .upgrade)


@dataclass
class Node:
    """A node container of a cluster."""

    name: str
    role: str  # control-plane | worker

    @property
    def control_plane(self) -> bool:
        return self.role == "control-plane"


class KindNodes:
    """The node containers of kind clusters in the local Docker engine, and their Nodes in each cluster's API."""

    def __init__(self, progress: Progress, ready_timeout: float) -> None:
        self.progress = progress
        self.ready_timeout = ready_timeout
        self._docker: Any = None

    def client(self) -> Any:
        """The docker SDK client (connected on first use; raises :class:`InfraError` when no engine answers)."""
        if self._docker is None:
            self._docker = docker_client()
        return self._docker

    def containers(self, cluster_name: str, label: str = CLUSTER_LABEL) -> list[dict[str, Any]]:
        """The engine's records of the cluster's containers (a plain listing: they may vanish meanwhile); none
        when no engine answers."""
        try:
            found: list[dict[str, Any]] = self.client().api.containers(
                all=True, filters={"label": f"{label}={cluster_name}"})
        except InfraError:
            return []
        return found

    def of(self, cluster: Cluster) -> list[Node]:
        """The cluster's node containers: control planes first (the bootstrap one first), then workers."""
        out = []
        for c in self.containers(cluster.name):
            role = (c.get("Labels") or {}).get(ROLE_LABEL, "")
            names = c.get("Names") or []
            if role in ("control-plane", "worker") and names:
                out.append(Node(str(names[0]).lstrip("/"), role))
        return sorted(out, key=lambda n: (not n.control_plane, _natural(n.name)))

    def container(self, node: Node) -> Any:
        return self.client().containers.get(node.name)

    def exec(self, node: Node, cmd: Sequence[str] | str, *, what: str | None = None, log: Path | None = None,
             check: bool = True) -> tuple[int, str]:
        """Run ``cmd`` in the node (a string under ``sh -c``), appending it and its output to ``log``; (exit code,
        output). A failure raises :class:`InfraError` naming ``what`` when ``check``."""
        argv, code, out = run_in(self.container(node), cmd)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as fh:
                fh.write(f"$ {' '.join(argv)}  # on {node.name}, exit {code}\n{out}\n")
        if check and code != 0:
            raise InfraError(f"{what or ' '.join(argv)[:80]} failed on {node.name}: {last_line(out)}")
        return code, out

    def core(self, cluster: Cluster) -> Any:
        """The cluster's core/v1 API client."""
        return core_api(cluster)

    def wait_ready(self, cluster: Cluster, version: Version, names: Sequence[str] | None = None,
                   timeout: float | None = None) -> None:
        """Every node (or those named) Ready and reporting kubelet ``version``."""
        wait_nodes_ready(cluster, version, self.progress, names=names, timeout=timeout or self.ready_timeout,
                         interval=1)


def _natural(name: str) -> tuple[str, int]:
    m = re.match(r"(.*?)(\d*)$", name)
    assert m is not None
    return m.group(1), int(m.group(2) or 0)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def last_error_line(text: str) -> str:
    """The last line of ``text`` that reads like an error (else its last line)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        low = ln.lower()
        if "error" in low or "unrecognized" in low or "unknown flag" in low or "failed" in low or "fatal" in low:
            return ln
    return lines[-1] if lines else ""
