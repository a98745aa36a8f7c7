"""Upgrading a ``local`` cluster the way kubeadm does, since kwokctl has none: over the same etcd,
kube-apiserver first, then kube-controller-manager, then kube-scheduler, each with the flags it ran with, each
started on its port before the old process stops (so no other process can take the port), each healthy before
the next. Processes are tracked through kwokctl's own pid files, so ``kwokctl delete cluster``
keeps working on an upgraded cluster. (Node "upgrades" are in :mod:`.node`: the nodes are simulated.)"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import processes
from harness.binaries import BinarySet, link
from harness.errors import InfraError
from harness.kube import api_client
from harness.progress import Progress
from harness.providers._api import ApiEndpoint, DowntimeMonitor
from harness.providers.base import (
    PRIVATE_UMASK,
    Cluster,
    UpgradeResult,
    component_failure,
    write_meta,
    write_private,
)
from harness.providers.local.prepare import binaries
from harness.providers.local.provision import BIND_FAILED, FORCED_ARGS, NO_EGRESS_ENV, api_endpoint, without_proxies
from harness.versions import Version

CONTROL_PLANE_ORDER = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def upgrade_control_plane(cluster: Cluster, version: Version, progress: Progress) -> UpgradeResult:
    """kube-apiserver, then kube-controller-manager, then kube-scheduler, over the same etcd."""
    bins = binaries(version, progress)
    conf = _kwok_config(cluster)
    api = api_endpoint(cluster)
    timings: list[tuple[str, float]] = []
    start = time.monotonic()
    with DowntimeMonitor(api, interval=0.05) as monitor:
        for comp in CONTROL_PLANE_ORDER:
            progress.update(f"{comp} → {bins.version}")
            t0 = time.monotonic()
            _replace_component(cluster, conf, comp, bins, api)
            timings.append((comp, time.monotonic() - t0))
    cluster.version = bins.version
    cluster.meta["binaries"] = str(bins.directory)
    write_meta(cluster)
    return UpgradeResult(version=bins.version, seconds=time.monotonic() - start,
                         api_downtime_seconds=monitor.down_seconds, components=timings)


def _kwok_config(cluster: Cluster) -> dict[str, Any]:
    """The configuration kwokctl ran the cluster with: every component's binary, arguments and environment."""
    for doc in yaml.safe_load_all((cluster.workdir / "kwok.yaml").read_text(encoding="utf-8")):
        if isinstance(doc, dict) and doc.get("kind") == "KwokctlConfiguration":
            return doc
    raise InfraError(f"{cluster.workdir / 'kwok.yaml'} holds no KwokctlConfiguration")


def _replace_component(cluster: Cluster, conf: dict[str, Any], comp: str, bins: BinarySet, api: ApiEndpoint) -> None:
    """Start ``comp`` of the target version on the port the old process holds, then stop the old one, then wait
    until the new one is healthy.

    The port is never free: every component was started with ``--permit-port-sharing`` (SO_REUSEPORT), so the
    target binds the same loopback address and port while the old process still holds it, and the old process is
    stopped only once the target listens. Stopping first and starting after (what kwokctl's stop/start does)
    leaves a gap in which another process -- another rehearsal's kwokctl choosing its ports -- takes the port,
    and the target then fails to bind. A port chosen afresh would not lose it either, but every client that has
    read the kubeconfig (controller-manager, scheduler, kwok, the rehearsal's own clients and monitors) would
    have to be pointed at the new one. Nothing can join the port from outside: only a process of the same user
    that sets SO_REUSEPORT on exactly that address and port, and nothing chooses a port that is in use.
    """
    spec = next((c for c in conf.get("components", []) if c.get("name") == comp), None)
    if spec is None:
        raise InfraError(f"{comp} is not a component of cluster {cluster.name}")
    cdir = cluster.workdir
    pid_file = cdir / "pids" / f"{comp}.pid"
    old = processes.read_pid(pid_file)
    holder = _lease_holder(cluster, comp) if comp != "kube-apiserver" else None
    binary = Path(spec.get("binary") or cdir / "bin" / comp)
    link(bins.path(comp).resolve(), binary)  # the old process keeps running the binary it started with
    # Its own log: the old process still writes to its file meanwhile, at its own offset (kwokctl did not open
    # it for appending), which would write over what the target says.
    log = cdir / "logs" / f"{comp}-{bins.version.tag}.log"
    if not log.exists():
        write_private(log, "")
    out = _Output(log, log.stat().st_size)
    args = _target_args(comp, list(spec.get("args", [])))
    pid = processes.spawn_detached([str(binary), *args], Path(spec.get("workDir") or cdir), log,
                                   _component_env(spec), umask=PRIVATE_UMASK)
    write_private(pid_file, str(pid))
    try:
        _wait_bound(comp, pid, _secure_port(args), out, bins.version)
    finally:
        # Also when the target failed: the old process must not go on serving as if the upgrade had worked.
        if old is not None:
            _stop_old(comp, old)
    if holder is not None:
        # The old process is gone: release its lease as --leader-elect-release-on-cancel would.
        _delete_lease(cluster, comp)
    _wait_component(cluster, comp, pid, out, bins.version, api, old_holder=holder)


def _target_args(comp: str, args: list[str]) -> list[str]:
    """The flags the old process ran with, then :data:`FORCED_ARGS` again (loopback only, port sharing)."""
    return [*args, *FORCED_ARGS.get(comp, [])]


def _component_env(spec: dict[str, Any]) -> dict[str, str]:
    """Our environment without proxy settings, the component's own (kwokctl's record), :data:`NO_EGRESS_ENV`."""
    env = without_proxies(os.environ)
    env.update({e["name"]: str(e.get("value", "")) for e in spec.get("envs") or []})
    env.update(NO_EGRESS_ENV)
    return env


def _secure_port(args: list[str]) -> int | None:
    """The port the component serves on (its last ``--secure-port``), None when its flags name none."""
    ports = [a.partition("=")[2] for a in args if a.startswith("--secure-port=")]
    return int(ports[-1]) if ports and ports[-1].isdigit() else None


def _wait_bound(comp: str, pid: int, port: int | None, out: _Output, version: Version,
                timeout: float | None = None) -> None:
    """Until the new process listens on ``port`` (any port when None); a process that exits first, or a wait
    that runs out, is judged by :func:`~harness.providers.base.component_failure` (a bind refused: exit 3)."""
    timeout = HEALTH_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        if not processes.alive(pid):
            time.sleep(0.1)  # its last words reach the log
            raise component_failure(comp, version, out.cause())
        if any(s.proto == "tcp" and (port is None or s.port == port) for s in processes.listening_sockets(pid)):
            return
        if time.monotonic() >= deadline:
            raise component_failure(comp, version, out.cause(), waited=timeout)
        time.sleep(0.05)


def _stop_old(comp: str, pid: int) -> None:
    # kube-apiserver drains watches for a long time after SIGTERM (20 s seen here); its state is in etcd, so
    # after a short grace it is killed, as kwokctl's own stop does at once.
    processes.terminate([pid], grace=1.0 if comp == "kube-apiserver" else 10.0)


@dataclass(frozen=True)
class _Output:
    """Where a started component writes, and from which byte its current run begins."""

    log: Path
    offset: int

    def cause(self) -> str:
        """The line that names why it stopped; a refused bind first, whatever else it says (the machine's
        fault, not the upgrade's)."""
        text = processes.log_text(self.log, self.offset)
        refused = [ln.strip() for ln in text.splitlines() if BIND_FAILED in ln]
        return refused[-1] if refused else processes.named_cause(text)


HEALTH_TIMEOUT = 90.0  # seconds a replaced component has to become healthy


def _wait_component(cluster: Cluster, comp: str, pid: int, out: _Output, version: Version, api: ApiEndpoint,
                    old_holder: str | None = None, timeout: float | None = None) -> None:
    """Until the new process is healthy: the apiserver ready at ``version``, another component holding its
    leader lease under a new identity while its process still runs (a lease alone proves nothing: kwok or a
    leftover process could hold it)."""
    timeout = HEALTH_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not processes.alive(pid):
            time.sleep(0.1)
            raise component_failure(comp, version, out.cause())
        try:
            if comp == "kube-apiserver":
                status, body = api.get("/version")
                if (status == 200 and json.loads(body).get("gitVersion") == version.tag
                        and api.get("/readyz") == (200, "ok")):
                    return
            else:
                holder = _lease_holder(cluster, comp)
                if (holder and holder != old_holder and _holder_is_fresh(cluster, comp, holder)
                        and processes.alive(pid)):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    cause = (_readyz_cause(api) or out.cause()) if comp == "kube-apiserver" else out.cause()
    raise component_failure(comp, version, cause, waited=timeout)


def _readyz_cause(api: ApiEndpoint) -> str:
    """The failing checks ``/readyz?verbose`` names (``[-]etcd failed: …``), "" when it answers none."""
    try:
        status, body = api.get("/readyz?verbose")
    except (OSError, ValueError):
        return ""
    failed = [ln.strip() for ln in body.splitlines() if ln.strip().startswith("[-]")]
    return "/readyz: " + "; ".join(failed) if status != 200 and failed else ""


def _coordination(cluster: Cluster) -> Any:
    from kubernetes import client

    return client.CoordinationV1Api(api_client(cluster.kubeconfig))


def _lease_holder(cluster: Cluster, comp: str) -> str | None:
    from kubernetes.client.exceptions import ApiException

    try:
        lease = _coordination(cluster).read_namespaced_lease(comp, "kube-system")
    except ApiException:
        return None
    holder: str | None = lease.spec.holder_identity
    return holder


def _holder_is_fresh(cluster: Cluster, comp: str, holder: str) -> bool:
    lease = _coordination(cluster).read_namespaced_lease(comp, "kube-system")
    return bool(lease.spec.acquire_time and lease.spec.holder_identity == holder
                and lease.metadata.creation_timestamp is not None)


def _delete_lease(cluster: Cluster, comp: str) -> None:
    from kubernetes.client.exceptions import ApiException

    with contextlib.suppress(ApiException):
        _coordination(cluster).delete_namespaced_lease(comp, "kube-system")
