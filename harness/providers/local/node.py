"""The ``local`` provider's nodes: simulated by kwok, created with the labels, taints and capacity of the nodes
they mirror; a node "upgrade" makes each report the new kubelet and kube-proxy version."""

from __future__ import annotations

from collections.abc import Sequence

from harness.progress import Progress
from harness.providers._api import core_api, wait_nodes_ready
from harness.providers.base import Cluster, NodeSpec
from harness.versions import Version

FAKE_NODE = "kwok.x-k8s.io/node"  # the annotation that hands a node to kwok


def add_nodes(cluster: Cluster, nodes: Sequence[NodeSpec], progress: Progress) -> None:
    """Create ``nodes`` for kwok to run, and wait until each is Ready at the cluster's version."""
    if not nodes:
        return
    core = core_api(cluster)
    for spec in nodes:
        labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "type": "kwok", **spec.labels}
        if spec.control_plane:
            labels.setdefault("node-role.kubernetes.io/control-plane", "")
        body = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": spec.name, "labels": labels,
                         "annotations": {FAKE_NODE: "fake", "node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"taints": [dict(t) for t in spec.taints]} if spec.taints else {},
            "status": {"capacity": dict(spec.capacity), "allocatable": dict(spec.capacity),
                       "nodeInfo": _node_info(cluster.version)},
        }
        core.create_node(body)
    _wait_ready(cluster, cluster.version, [n.name for n in nodes], progress)


def _node_info(version: Version) -> dict[str, str]:
    return {
        "kubeletVersion": version.tag, "kubeProxyVersion": version.tag, "architecture": "amd64",
        "operatingSystem": "linux", "osImage": "kwok (simulated)", "containerRuntimeVersion": "kwok",
        "kernelVersion": "", "bootID": "", "machineID": "", "systemUUID": "",
    }


def upgrade_nodes(cluster: Cluster, version: Version, progress: Progress) -> None:
    """Simulated kubelets: each node reports the new kubelet and kube-proxy version, one node at a time."""
    core = core_api(cluster)
    names = [n.metadata.name for n in core.list_node().items
             if (n.metadata.annotations or {}).get(FAKE_NODE) == "fake"]
    for i, name in enumerate(sorted(names), 1):
        progress.update(f"node {name} → {version.tag} ({i}/{len(names)})")
        core.patch_node_status(name, {"status": {"nodeInfo": {"kubeletVersion": version.tag,
                                                              "kubeProxyVersion": version.tag}}})
    _wait_ready(cluster, version, names, progress)


def _wait_ready(cluster: Cluster, version: Version, names: Sequence[str], progress: Progress) -> None:
    wait_nodes_ready(cluster, version, progress, names=names, timeout=60, interval=0.2)
