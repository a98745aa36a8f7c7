"""Creating a ``local`` cluster: kwokctl's binary runtime starts etcd, the control plane and kwok on the binaries
of the version (it writes the PKI, the kubeconfig, the components' flags and kwok's node and pod stages), then
the simulated nodes are added."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness import processes
from harness.binaries import BinarySet
from harness.errors import InfraError
from harness.progress import Progress
from harness.providers._api import ApiEndpoint, endpoint
from harness.providers.base import (
    AUDIT_DIR,
    AUDIT_LOG,
    AUDIT_POLICY,
    PRIVATE_DIR,
    PRIVATE_UMASK,
    Action,
    Cluster,
    ClusterOptions,
    private_dir,
    restrict_tree,
    write_meta,
    write_private,
)
from harness.providers.local.node import add_nodes
from harness.providers.local.prepare import binaries
from harness.versions import Version

LOOPBACK = "127.0.0.1"

# Every component listens on loopback only: kwokctl's ``bindAddress`` writes it into each component's flags, and
# the flags are given again last, so no production value wins. kube-apiserver, kube-controller-manager and
# kube-scheduler bind their port with SO_REUSEPORT (``--permit-port-sharing``), so that an upgrade starts the
# target on the very port before it stops the old process: the port is never free for another rehearsal to take
# (:mod:`.upgrade`). Service cluster IPs live in the loopback range, and the apiserver reaches aggregated APIs
# through the Service's cluster IP (not pod IPs), so a call to an API whose pods are simulated stays on this
# machine and is refused at once. Simulated pod IPs (kwok's range) are data only: no kube-proxy runs and nothing
# dials them.
FORCED_ARGS: dict[str, list[str]] = {
    "kube-apiserver": [f"--bind-address={LOOPBACK}", "--permit-port-sharing=true",
                       "--service-cluster-ip-range=127.64.0.0/16", "--enable-aggregator-routing=false"],
    "kube-controller-manager": [f"--bind-address={LOOPBACK}", "--permit-port-sharing=true"],
    "kube-scheduler": [f"--bind-address={LOOPBACK}", "--permit-port-sharing=true"],
    "kwok-controller": [],
}

# Every component's outbound HTTP(S) goes through a proxy at 127.0.0.1:0, a port nothing can listen on, so the
# connection is refused before anything leaves -- except to loopback addresses and ``localhost``, which Go's proxy
# rules always reach directly. So the apiserver's calls to an admission or conversion webhook or an aggregated API
# anywhere but this machine's loopback (a URL, an ExternalName Service, a Service's name) are refused, while etcd,
# the components' own API calls and the rehearsal's stubs at https://127.0.0.1:PORT stay direct. The runner's
# own proxy settings are dropped first: they would carry those calls out.
REFUSING_PROXY = f"http://{LOOPBACK}:0"
NO_EGRESS_ENV: dict[str, str] = {
    "HTTPS_PROXY": REFUSING_PROXY, "https_proxy": REFUSING_PROXY,
    "HTTP_PROXY": REFUSING_PROXY, "http_proxy": REFUSING_PROXY,
    "NO_PROXY": f"localhost,{LOOPBACK}/8,::1", "no_proxy": f"localhost,{LOOPBACK}/8,::1",
}
_PROXY_VARIABLES = {"https_proxy", "http_proxy", "no_proxy", "all_proxy", "grpc_proxy"}

# kwokctl's options naming each port a cluster listens on; the ports are chosen here (see :func:`_free_ports`).
PORT_OPTIONS = ("etcdPort", "etcdPeerPort", "kubeApiserverPort", "kubeControllerManagerPort", "kubeSchedulerPort",
                "kwokControllerPort")
CREATE_ATTEMPTS = 3  # a port taken between choosing it and binding it: start again on fresh ports
BIND_FAILED = "address already in use"

# The apiserver's audit log (providers.base.AUDIT_POLICY): upgrades carry the flags (kwokctl's record of the
# arguments), and the target appends to the same file.


def plan(name: str, version: Version, options: ClusterOptions, workdir: Path, root: Path,
         progress: Progress) -> tuple[Cluster, list[Action]]:
    """The cluster ``name`` will be, on the binaries of ``version``, and the ordered actions that create it."""
    progress.step(f"binaries for Kubernetes {version}")
    bins = binaries(version, progress)
    cluster = Cluster(
        name=name, provider="local", version=bins.version, kubeconfig=workdir / "kubeconfig.yaml",
        workdir=workdir, options=options, meta={"created": time.time(), "binaries": str(bins.directory),
                                                "audit_log": str(workdir / AUDIT_DIR / AUDIT_LOG)},
    )
    return cluster, [
        Action(f"starting control plane {bins.version} (etcd, apiserver, controller-manager, scheduler, kwok)",
               lambda: _start_control_plane(cluster, bins, root)),
        Action(f"adding {len(options.nodes)} simulated nodes", lambda: add_nodes(cluster, options.nodes, progress)),
    ]


def kwokctl_env(root: Path, version: Version | None = None) -> dict[str, str]:
    """kwokctl's environment: its work directory under ``root`` and, when creating, the Kubernetes version; no
    proxy settings (the components get :data:`NO_EGRESS_ENV` from their configuration)."""
    env = without_proxies(os.environ)
    env["KWOK_WORKDIR"] = str(root)
    if version is not None:
        env["KWOK_KUBE_VERSION"] = version.tag
    return env


def without_proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any proxy variable (in either case)."""
    return {k: v for k, v in environ.items() if k.lower() not in _PROXY_VARIABLES}


def kwokctl_config(options: ClusterOptions, ports: Mapping[str, int], audit: Path | None = None) -> str:
    """kwokctl's configuration: every component on loopback at ``ports``; the production flags of each component,
    then :data:`FORCED_ARGS` (and the audit log's flags when ``audit`` names its directory); :data:`NO_EGRESS_ENV`
    in every component's environment."""
    envs = [{"name": k, "value": v} for k, v in NO_EGRESS_ENV.items()]
    patches: list[dict[str, Any]] = [{"name": "etcd", "extraEnvs": envs}]
    for comp, args in (
        ("kube-apiserver", options.apiserver_args),
        ("kube-controller-manager", options.controller_manager_args),
        ("kube-scheduler", options.scheduler_args),
        ("kwok-controller", ()),
    ):
        extra = []
        audit_args = ([f"--audit-policy-file={audit / 'policy.yaml'}", f"--audit-log-path={audit / AUDIT_LOG}"]
                      if audit is not None and comp == "kube-apiserver" else [])
        for arg in [*args, *FORCED_ARGS[comp], *audit_args]:
            key, _, value = arg.lstrip("-").partition("=")
            extra.append({"key": key, "value": value, "override": False})  # appended: the last one wins
        patches.append({"name": comp, "extraArgs": extra, "extraEnvs": envs} if extra else
                       {"name": comp, "extraEnvs": envs})
    doc: dict[str, Any] = {"kind": "KwokctlConfiguration", "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                           "options": {"bindAddress": LOOPBACK, **{k: ports[k] for k in PORT_OPTIONS}},
                           "componentsPatches": patches}
    return yaml.safe_dump(doc, sort_keys=True)


def _free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free now, chosen by the kernel (all held until every one is chosen).

    The kernel picks from its ephemeral range at random, away from the range kwokctl scans downwards from 32767
    when it chooses for itself -- the same ports in the same order for every cluster, which is how two
    rehearsals started together took the same ones. What is left (another process binding one of them before
    the component does) is caught by :func:`_start_control_plane`, which starts again on fresh ports.
    """
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _start_control_plane(cluster: Cluster, bins: BinarySet, root: Path) -> None:
    """kwokctl creates the cluster on ports chosen here; a port taken meanwhile (a component's bind failed)
    makes it start again on fresh ports, :data:`CREATE_ATTEMPTS` times at most, then it is the machine's fault."""
    cdir = cluster.workdir
    private_dir(cdir.parent)
    cdir.mkdir(mode=PRIVATE_DIR)  # not exist_ok: a directory of that name is another cluster's
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        write_meta(cluster)
        ports = dict(zip(PORT_OPTIONS, _free_ports(len(PORT_OPTIONS)), strict=True))
        failure = _kwokctl_create(cluster, bins, root, ports)
        if not failure:
            break
        if BIND_FAILED not in failure or attempt == CREATE_ATTEMPTS:
            raise InfraError(f"kwokctl create cluster failed: {failure}"
                             + (" (the machine, not the cluster)" if BIND_FAILED in failure else ""))
        _discard(cdir, attempt)
    restrict_tree(cdir)
    api_endpoint(cluster).get("/readyz")


def _kwokctl_create(cluster: Cluster, bins: BinarySet, root: Path, ports: Mapping[str, int]) -> str:
    """Run ``kwokctl create cluster``; "" when every component runs and listens, else what went wrong (a
    component's bind failure ends the wait at once: kwokctl would wait minutes for it, or not notice)."""
    cdir = cluster.workdir
    cfg = cdir / "rehearse-kwokctl.yaml"
    audit = private_dir(cdir / AUDIT_DIR)
    write_private(audit / "policy.yaml", AUDIT_POLICY)
    write_private(cfg, kwokctl_config(cluster.options, ports, audit))
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
    rc = processes.run_in_session(args, log, timeout=300, grace=3, env=kwokctl_env(root, cluster.version),
                                  umask=PRIVATE_UMASK, stop_when=lambda: bool(_bind_failure(cdir)))
    if _bind_failure(cdir):
        return _bind_failure(cdir)
    if rc != 0:
        return processes.last_error_line(log)
    if not cluster.kubeconfig.exists():
        return f"it created no kubeconfig at {cluster.kubeconfig}"
    return _not_listening(cdir, ports)


def _bind_failure(cdir: Path) -> str:
    """The line of a component's log saying it could not bind its port, "" when none does."""
    for log in sorted((cdir / "logs").glob("*.log")):
        for line in processes.log_text(log).splitlines():
            if BIND_FAILED in line:
                return f"{log.stem}: {line.strip()}"
    return ""


def _not_listening(cdir: Path, ports: Mapping[str, int]) -> str:
    """Nothing when each component runs and listens on loopback at its port, else which one does not."""
    wanted = {"etcd": ports["etcdPort"], "kube-apiserver": ports["kubeApiserverPort"],
              "kube-controller-manager": ports["kubeControllerManagerPort"],
              "kube-scheduler": ports["kubeSchedulerPort"], "kwok-controller": ports["kwokControllerPort"]}
    deadline = time.monotonic() + 10
    while True:
        missing = [comp for comp, port in wanted.items()
                   if not _listens(processes.read_pid(cdir / "pids" / f"{comp}.pid"), port)]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if not missing:
        return ""
    return _bind_failure(cdir) or "; ".join(
        f"{comp} is not listening on {LOOPBACK}:{wanted[comp]}: "
        f"{processes.last_error_line(cdir / 'logs' / f'{comp}.log') or 'its log says nothing'}" for comp in missing)


def _listens(pid: int | None, port: int) -> bool:
    return pid is not None and any(s.proto == "tcp" and s.address == LOOPBACK and s.port == port
                                   for s in processes.listening_sockets(pid))


def _discard(cdir: Path, attempt: int) -> None:
    """Stop what a failed attempt started and remove it, keeping its kwokctl log for the next one's."""
    log = cdir / "kwokctl-create.log"
    kept = log.read_bytes() if log.exists() else b""
    processes.terminate(processes.processes_under(cdir), grace=3)
    shutil.rmtree(cdir, ignore_errors=True)
    private_dir(cdir)
    (cdir / "kwokctl-create.log").write_bytes(kept + f"rehearse: attempt {attempt} lost a port; fresh ports\n".encode())


def api_endpoint(cluster: Cluster) -> ApiEndpoint:
    """The apiserver of ``cluster`` with the admin credentials kwokctl wrote (its certificate names no address)."""
    cfg = yaml.safe_load(cluster.kubeconfig.read_text(encoding="utf-8"))
    pki = cluster.workdir / "pki"
    return endpoint(cfg["clusters"][0]["cluster"]["server"], str(pki / "ca.crt"), str(pki / "admin.crt"),
                    str(pki / "admin.key"), check_hostname=False)
