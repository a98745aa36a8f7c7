"""Upgrading a ``local`` cluster the way kubeadm does, since kwokctl has none: over the same etcd,
kube-apiserver first, then kube-controller-manager, then kube-scheduler, each with the flags it ran with, each
healthy before the next. Processes are tracked through kwokctl's own pid files, so ``kwokctl delete cluster``
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
from harness.providers.base import Cluster, UpgradeResult, component_failure, write_meta
from harness.providers.local.prepare import binaries
from harness.providers.local.provision import api_endpoint
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
    spec = next((c for c in conf.get("components", []) if c.get("name") == comp), None)
    if spec is None:
        raise InfraError(f"{comp} is not a component of cluster {cluster.name}")
    cdir = cluster.workdir
    pid_file = cdir / "pids" / f"{comp}.pid"
    old = processes.read_pid(pid_file)
    holder = _lease_holder(cluster, comp) if comp != "kube-apiserver" else None
    if old is not None:
        # kube-apiserver drains watches for a long time after SIGTERM (20 s seen here); its state is in
        # etcd, so after a short grace it is killed, as kwokctl's own stop does at once.
        processes.terminate([old], grace=1.0 if comp == "kube-apiserver" else 10.0)
    pid_file.unlink(missing_ok=True)
    if holder is not None:
        # The old process is gone: release its lease as --leader-elect-release-on-cancel would.
        _delete_lease(cluster, comp)
    binary = Path(spec.get("binary") or cdir / "bin" / comp)
    link(bins.path(comp).resolve(), binary)
    log = cdir / "logs" / f"{comp}.log"
    offset = log.stat().st_size if log.exists() else 0
    env = dict(os.environ)
    env.update({e["name"]: str(e.get("value", "")) for e in spec.get("envs") or []})
    pid = processes.spawn_detached([str(binary), *spec.get("args", [])], Path(spec.get("workDir") or cdir), log, env)
    pid_file.write_text(str(pid))
    _wait_component(cluster, comp, pid, _Output(log, offset), bins.version, api, old_holder=holder)


@dataclass(frozen=True)
class _Output:
    """Where a started component writes, and from which byte its current run begins."""

    log: Path
    offset: int

    def cause(self) -> str:
        return processes.named_cause(processes.log_text(self.log, self.offset))


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
