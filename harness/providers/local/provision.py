"""Creating a ``local`` cluster: kwokctl's binary runtime starts etcd, the control plane and kwok on the binaries
of the version (it writes the PKI, the kubeconfig, the components' flags and kwok's node and pod stages), then
the simulated nodes are added."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml

from harness import processes
from harness.binaries import BinarySet
from harness.errors import InfraError
from harness.progress import Progress
from harness.providers._api import ApiEndpoint, endpoint
from harness.providers.base import Action, Cluster, ClusterOptions, write_meta
from harness.providers.local.node import add_nodes
from harness.providers.local.prepare import binaries
from harness.versions import Version

# Service cluster IPs live in the loopback range, and the apiserver reaches webhooks and aggregated APIs through
# the Service's cluster IP (not pod IPs), so when it calls a webhook or an aggregated API whose pods are simulated,
# the connection stays on this machine and is refused at once instead of leaving for a network address. Simulated
# pod IPs (kwok's range) are data only: no kube-proxy runs and nothing dials them. These flags come last and win
# over any production value.
LOOPBACK_ONLY: dict[str, list[str]] = {
    "kube-apiserver": ["--service-cluster-ip-range=127.64.0.0/16", "--enable-aggregator-routing=false"],
    "kwok-controller": [],
}


def plan(name: str, version: Version, options: ClusterOptions, workdir: Path, root: Path,
         progress: Progress) -> tuple[Cluster, list[Action]]:
    """The cluster ``name`` will be, on the binaries of ``version``, and the ordered actions that create it."""
    progress.step(f"binaries for Kubernetes {version}")
    bins = binaries(version, progress)
    cluster = Cluster(
        name=name, provider="local", version=bins.version, kubeconfig=workdir / "kubeconfig.yaml",
        workdir=workdir, options=options, meta={"created": time.time(), "binaries": str(bins.directory)},
    )
    return cluster, [
        Action(f"starting control plane {bins.version} (etcd, apiserver, controller-manager, scheduler, kwok)",
               lambda: _start_control_plane(cluster, bins, root)),
        Action(f"adding {len(options.nodes)} simulated nodes", lambda: add_nodes(cluster, options.nodes, progress)),
    ]


def kwokctl_env(root: Path, version: Version | None = None) -> dict[str, str]:
    """kwokctl's environment: its work directory under ``root`` and, when creating, the Kubernetes version."""
    env = dict(os.environ, KWOK_WORKDIR=str(root))
    if version is not None:
        env["KWOK_KUBE_VERSION"] = version.tag
    return env


def kwokctl_config(options: ClusterOptions) -> str:
    """kwokctl's configuration: the production flags of each component, then :data:`LOOPBACK_ONLY`."""
    patches = []
    for comp, args in (
        ("kube-apiserver", [*options.apiserver_args, *LOOPBACK_ONLY["kube-apiserver"]]),
        ("kube-controller-manager", options.controller_manager_args),
        ("kube-scheduler", options.scheduler_args),
        ("kwok-controller", LOOPBACK_ONLY["kwok-controller"]),
    ):
        extra = []
        for arg in args:
            key, _, value = arg.lstrip("-").partition("=")
            extra.append({"key": key, "value": value, "override": False})  # appended: the last one wins
        if extra:
            patches.append({"name": comp, "extraArgs": extra})
    doc: dict[str, Any] = {"kind": "KwokctlConfiguration", "apiVersion": "config.kwok.x-k8s.io/v1alpha1"}
    if patches:
        doc["componentsPatches"] = patches
    return yaml.safe_dump(doc, sort_keys=True)


def _start_control_plane(cluster: Cluster, bins: BinarySet, root: Path) -> None:
    cdir = cluster.workdir
    cdir.mkdir(parents=True)
    write_meta(cluster)
    cfg = cdir / "rehearse-kwokctl.yaml"
    cfg.write_text(kwokctl_config(cluster.options), encoding="utf-8")
    args = [
        str(bins.path("kwokctl")), "create", "cluster", "--name", cluster.name, "--runtime", "binary",
        "--config", str(cfg),
        "--kube-apiserver-binary", str(bins.path("kube-apiserver")),
        "--kube-controller-manager-binary", str(bins.path("kube-controller-manager")),
        "--kube-scheduler-binary", str(bins.path("kube-scheduler")),
        "--etcd-binary", str(bins.path("etcd")),
        "--kwok-controller-binary", str(bins.path("kwok")),
        "--kubeconfig", str(cdir / "user-kubeconfig.yaml"),
        "--wait", "2m", "--quiet-pull",
    ]
    gates = cluster.options.feature_gates
    if gates:
        args += ["--kube-feature-gates", ",".join(f"{k}={str(v).lower()}" for k, v in sorted(gates.items()))]
    log = cdir / "kwokctl-create.log"
    if processes.run_in_session(args, log, timeout=300, grace=3, env=kwokctl_env(root, cluster.version)) != 0:
        raise InfraError(f"kwokctl create cluster failed: {processes.last_error_line(log)}")
    if not cluster.kubeconfig.exists():
        raise InfraError(f"kwokctl created no kubeconfig at {cluster.kubeconfig}")
    api_endpoint(cluster).get("/readyz")


def api_endpoint(cluster: Cluster) -> ApiEndpoint:
    """The apiserver of ``cluster`` with the admin credentials kwokctl wrote (its certificate names no address)."""
    cfg = yaml.safe_load(cluster.kubeconfig.read_text(encoding="utf-8"))
    pki = cluster.workdir / "pki"
    return endpoint(cfg["clusters"][0]["cluster"]["server"], str(pki / "ca.crt"), str(pki / "admin.crt"),
                    str(pki / "admin.key"), check_hostname=False)
