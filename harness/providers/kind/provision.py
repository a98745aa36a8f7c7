"""Creating a ``kind`` cluster: the node image, ``kind create cluster`` with the nodes to mirror and the
production flags as kubeadm patches, every node Ready, the snapshot's node labels and taints, preloaded images."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InfraError
from harness.progress import Progress
from harness.providers.base import (
    AUDIT_DIR,
    AUDIT_LOG,
    AUDIT_POLICY,
    Action,
    Cluster,
    ClusterOptions,
    NodeSpec,
    private_dir,
    write_meta,
    write_private,
)
from harness.providers.kind.node import KindEgress, KindNodes
from harness.providers.kind.prepare import KindRelease
from harness.versions import Version

DEFAULT_MAX_NODES = 4
MAX_CONTROL_PLANES = 3
_RESERVED_LABELS = ("kubernetes.io/hostname", "node-role.kubernetes.io/", "node.kubernetes.io/exclude",
                    "kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/")

# The apiserver's audit log (providers.base.AUDIT_POLICY), for :mod:`harness.observe`. kubeadm runs the apiserver
# with the flags and two hostPath volumes; every control-plane node binds the policy (read-only) and a 0700
# directory of the cluster's own (the first node's is the ``audit_log`` observe reads) from this machine.
# ``kubeadm upgrade apply`` keeps ClusterConfiguration's extraArgs and extraVolumes, so the target apiserver
# appends to the same file.
AUDIT_POLICY_FILE = "audit-policy.yaml"
NODE_AUDIT_DIR = "/var/log/kubernetes/audit"
NODE_AUDIT_POLICY = "/etc/kubernetes/audit/policy.yaml"
AUDIT_ARGS = {"audit-policy-file": NODE_AUDIT_POLICY, "audit-log-path": f"{NODE_AUDIT_DIR}/{AUDIT_LOG}"}
AUDIT_VOLUMES = [
    {"name": "audit-policy", "hostPath": NODE_AUDIT_POLICY, "mountPath": NODE_AUDIT_POLICY, "readOnly": True,
     "pathType": "File"},
    {"name": "audit-log", "hostPath": NODE_AUDIT_DIR, "mountPath": NODE_AUDIT_DIR, "readOnly": False,
     "pathType": "DirectoryOrCreate"},
]


def audit_dir(workdir: Path, index: int) -> Path:
    """The directory of this machine that control-plane node ``index`` (0: the first) writes its audit log to."""
    return workdir / (AUDIT_DIR if index == 0 else f"{AUDIT_DIR}-{index + 1}")


class KindProvision:
    """Creates kind clusters: which nodes, with which configuration, in which order of actions."""

    def __init__(self, progress: Progress, kind: KindRelease, nodes: KindNodes, egress: KindEgress, *,
                 preload: Sequence[str], node_count: int | None, max_nodes: int) -> None:
        """``preload``: local images loaded into every node with ``kind load docker-image``. ``node_count``: nodes
        to create (one control plane, the rest workers) instead of mirroring the snapshot's, up to ``max_nodes``."""
        self.progress = progress
        self.kind = kind
        self.nodes = nodes
        self.egress = egress
        self.preload = tuple(preload)
        self.node_count = node_count
        self.max_nodes = max(1, max_nodes)

    def plan(self, name: str, version: Version, options: ClusterOptions,
             workdir: Path) -> tuple[Cluster, list[Action]]:
        """The cluster ``name`` will be, at ``version``, and the ordered actions that create it."""
        image = self.kind.image_for(version)
        binary = self.kind.binary()
        cluster = Cluster(name=name, provider="kind", version=version, kubeconfig=workdir / "kubeconfig",
                          workdir=workdir, options=options,
                          meta={"created": time.time(), "image": image, "kind": str(binary),
                                "kind_release": self.kind.release,
                                "audit_log": str(audit_dir(workdir, 0) / AUDIT_LOG)})
        return cluster, [
            Action(f"node image {image}", lambda: self._prepare_image(cluster)),
            Action("kind create cluster", lambda: self._kind_create(cluster)),
            Action("waiting for every node to be Ready", lambda: self.nodes.wait_ready(cluster, cluster.version)),
            Action("confining pod egress to the cluster", lambda: self.egress.confine(cluster)),
            Action("node labels and taints", lambda: self._mirror_nodes(cluster)),
            Action(f"loading {len(self.preload)} images into the nodes", lambda: self._load_images(cluster)),
        ]

    def _prepare_image(self, cluster: Cluster) -> None:
        """The cluster's state directory, and the node image in the engine (the version it holds is what runs)."""
        (cluster.workdir / "logs").mkdir(parents=True)
        write_meta(cluster)
        ran = self.kind.ensure_image(str(cluster.meta["image"]))
        if ran != cluster.version:
            self.progress.note(f"the kind node image for {cluster.version.minor_key} holds Kubernetes {ran}; "
                               f"the cluster runs {ran}")
        cluster.version = ran
        write_meta(cluster)

    def node_specs(self, options: ClusterOptions) -> list[NodeSpec]:
        """Nodes to create: the snapshot's (control planes first), up to the limits, or ``node_count``."""
        if self.node_count is not None:
            n = max(1, min(self.node_count, self.max_nodes))
            return [NodeSpec("control-plane-1", control_plane=True)] + [NodeSpec(f"worker-{i}") for i in range(1, n)]
        specs = list(options.nodes) or [NodeSpec("control-plane-1", control_plane=True)]
        cps = [s for s in specs if s.control_plane][:MAX_CONTROL_PLANES] or [NodeSpec("control-plane-1",
                                                                                     control_plane=True)]
        workers = [s for s in specs if not s.control_plane][: max(0, self.max_nodes - len(cps))]
        return [*cps, *workers]

    def kind_config(self, cluster: Cluster) -> dict[str, Any]:
        """The kind ``Cluster`` config: the nodes, the image, the production flags as kubeadm patches, and the
        audit log's flags, volumes and mounts (see :data:`AUDIT_ARGS`)."""
        options = cluster.options
        specs = self.node_specs(options)
        nodes: list[dict[str, Any]] = []
        for s in specs:
            node: dict[str, Any] = {"role": "control-plane" if s.control_plane else "worker",
                                    "image": cluster.meta["image"]}
            if s.control_plane:
                index = sum(n["role"] == "control-plane" for n in nodes)
                node["extraMounts"] = [
                    {"hostPath": str(cluster.workdir / AUDIT_POLICY_FILE), "containerPath": NODE_AUDIT_POLICY,
                     "readOnly": True},
                    {"hostPath": str(audit_dir(cluster.workdir, index)), "containerPath": NODE_AUDIT_DIR}]
            nodes.append(node)
        cfg: dict[str, Any] = {
            "kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": cluster.name, "nodes": nodes,
            "networking": {"apiServerAddress": "127.0.0.1"},
        }
        if options.feature_gates:
            cfg["featureGates"] = dict(sorted(options.feature_gates.items()))
        patch: dict[str, Any] = {}
        for section, args in (("apiServer", options.apiserver_args),
                              ("controllerManager", options.controller_manager_args),
                              ("scheduler", options.scheduler_args)):
            extra = dict(AUDIT_ARGS) if section == "apiServer" else {}
            for arg in args:
                key, _, value = arg.lstrip("-").partition("=")
                if key not in AUDIT_ARGS:  # the rehearsal's own audit log is the one observe reads
                    extra[key] = value
            if extra:
                patch[section] = {"extraArgs": extra}
        patch["apiServer"]["extraVolumes"] = [dict(v) for v in AUDIT_VOLUMES]
        cfg["kubeadmConfigPatches"] = [yaml.safe_dump({"kind": "ClusterConfiguration", **patch}, sort_keys=True)]
        cluster.meta["node_specs"] = [s.name for s in specs]
        return cfg

    def _kind_create(self, cluster: Cluster) -> None:
        cfg_path = cluster.workdir / "kind-config.yaml"
        cfg = self.kind_config(cluster)
        write_private(cluster.workdir / AUDIT_POLICY_FILE, AUDIT_POLICY)
        for index in range(sum(n["role"] == "control-plane" for n in cfg["nodes"])):
            private_dir(audit_dir(cluster.workdir, index))
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        write_meta(cluster)
        self.kind.run(["create", "cluster", "--name", cluster.name, "--config", str(cfg_path), "--kubeconfig",
                       str(cluster.kubeconfig), "--retain"], cluster.workdir / "logs" / "kind-create.log",
                      timeout=900)
        if not cluster.kubeconfig.exists():
            raise InfraError(f"kind created no kubeconfig at {cluster.kubeconfig}")

    def _mirror_nodes(self, cluster: Cluster) -> None:
        """Put the snapshot's labels and taints on the kind nodes (in order: control planes, then workers)."""
        if self.node_count is not None:
            return
        specs = self.node_specs(cluster.options)
        core = self.nodes.core(cluster)
        mapping: dict[str, str] = {}
        cps = [n for n in self.nodes.of(cluster) if n.control_plane]
        workers = [n for n in self.nodes.of(cluster) if not n.control_plane]
        for spec, node in [*zip([s for s in specs if s.control_plane], cps, strict=False),
                           *zip([s for s in specs if not s.control_plane], workers, strict=False)]:
            mapping[spec.name] = node.name
            labels = {k: v for k, v in spec.labels.items() if not k.startswith(_RESERVED_LABELS)}
            body: dict[str, Any] = {}
            if labels:
                body["metadata"] = {"labels": labels}
            taints = [dict(t) for t in spec.taints
                      if not str(t.get("key", "")).startswith("node-role.kubernetes.io/")]
            if taints:
                existing = core.read_node(node.name).spec.taints or []
                body["spec"] = {"taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in existing]
                                + taints}
            if body:
                core.patch_node(node.name, body)
        cluster.meta["node_names"] = mapping
        write_meta(cluster)

    def _load_images(self, cluster: Cluster) -> None:
        """``kind load docker-image`` the images the user named, so private images need no pull secret."""
        for ref in self.preload:
            self.progress.update(f"kind load docker-image {ref}")
            self.kind.run(["load", "docker-image", "--name", cluster.name, ref],
                          cluster.workdir / "logs" / "kind-load.log")
