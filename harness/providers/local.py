"""The ``local`` provider: a real control plane as local processes, nodes and pods simulated by kwok.

Creation uses kwokctl's binary runtime (it generates the PKI, the kubeconfig, the components' flags and kwok's
node/pod stages) on binaries from :func:`harness.binaries.ensure`. kwokctl has no upgrade, so the upgrade is
done here the way kubeadm does it: over the same etcd, kube-apiserver first, then kube-controller-manager,
then kube-scheduler, each with the flags it ran with, each healthy before the next. Processes are tracked
through kwokctl's own pid files, so ``kwokctl delete cluster`` keeps working on an upgraded cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.binaries import BinarySet, ensure
from harness.binaries._cache import link
from harness.errors import InfraError, InputError
from harness.kube import api_client
from harness.progress import NullProgress, Progress
from harness.providers import _procs
from harness.providers._api import ApiEndpoint, DowntimeMonitor, endpoint
from harness.providers.base import (
    META_FILE,
    Cluster,
    ClusterInfo,
    ClusterOptions,
    NodeSpec,
    UpgradeResult,
    managed_cluster,
    read_meta,
    state_root,
)
from harness.versions import Version

CONTROL_PLANE_ORDER = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# Service cluster IPs live in the loopback range, and the apiserver reaches webhooks and aggregated APIs through
# the Service's cluster IP (not pod IPs), so when it calls a webhook or an aggregated API whose pods are simulated,
# the connection stays on this machine and is refused at once instead of leaving for a network address. Simulated
# pod IPs (kwok's range) are data only: no kube-proxy runs and nothing dials them. These flags come last and win
# over any production value.
LOOPBACK_ONLY: dict[str, list[str]] = {
    "kube-apiserver": ["--service-cluster-ip-range=127.64.0.0/16", "--enable-aggregator-routing=false"],
    "kwok-controller": [],
}
_LOCAL_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok", "kwokctl")


class UpgradeFailed(InfraError):
    """A component of the target version would not start or become healthy; ``cause`` is its own words."""

    def __init__(self, component: str, version: Version, cause: str) -> None:
        super().__init__(f"{component} {version} failed to start: {cause}")
        self.component = component
        self.version = version
        self.cause = cause


class LocalProvider:
    """Real control-plane binaries as local processes over one etcd; kwok simulates nodes and pods."""

    name = "local"

    def __init__(self, progress: Progress | None = None, root: Path | None = None) -> None:
        self.progress = progress or NullProgress()
        self.root = (root or state_root()) / "local"

    # ---- discovery -------------------------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        return True, "runs real control-plane binaries as local processes (kwok simulates nodes)"

    def _cluster_dir(self, name: str) -> Path:
        return self.root / "clusters" / name

    def _env(self, version: Version | None = None) -> dict[str, str]:
        env = dict(os.environ, KWOK_WORKDIR=str(self.root))
        if version is not None:
            env["KWOK_KUBE_VERSION"] = version.tag
        return env

    def prepare(self, version: Version) -> Version:
        """The control-plane binaries, etcd and kwok of ``version`` (cache, download or build)."""
        return ensure(version, _LOCAL_COMPONENTS, progress=self.progress).version

    # ---- create ----------------------------------------------------------------------------------------
    def create(self, name: str, version: Version, options: ClusterOptions | None = None) -> Cluster:
        """Create ``name`` at ``version``: ordered actions, and on any failure (or Ctrl-C) delete it all."""
        options = options or ClusterOptions()
        if not name.replace("-", "").isalnum() or name != name.lower():
            raise InputError(f"bad cluster name {name!r}: use lower-case letters, digits and '-'")
        cdir = self._cluster_dir(name)
        if cdir.exists():
            raise InputError(f"cluster {name!r} already exists (rehearse clusters delete {name})")
        self.progress.step(f"binaries for Kubernetes {version}")
        bins = ensure(version, _LOCAL_COMPONENTS, progress=self.progress)
        cluster = Cluster(
            name=name, provider=self.name, version=bins.version, kubeconfig=cdir / "kubeconfig.yaml",
            workdir=cdir, options=options, meta={"created": time.time(), "binaries": str(bins.directory)},
        )
        actions: Sequence[tuple[str, Callable[[], None]]] = (
            (f"starting control plane {bins.version} (etcd, apiserver, controller-manager, scheduler, kwok)",
             lambda: self._start_control_plane(cluster, bins)),
            (f"adding {len(options.nodes)} simulated nodes", lambda: self._add_nodes(cluster, options.nodes)),
        )
        try:
            for title, action in actions:
                self.progress.step(title)
                action()
        except BaseException:
            self.progress.update(f"cleaning up cluster {name}")
            self.delete(name)
            raise
        return cluster

    def _kwokctl_config(self, options: ClusterOptions) -> str:
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

    def _start_control_plane(self, cluster: Cluster, bins: BinarySet) -> None:
        cdir = cluster.workdir
        cdir.mkdir(parents=True)
        self._write_meta(cluster)
        cfg = cdir / "rehearse-kwokctl.yaml"
        cfg.write_text(self._kwokctl_config(cluster.options), encoding="utf-8")
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
        self._run_kwokctl(args, cluster.version, cdir / "kwokctl-create.log")
        if not cluster.kubeconfig.exists():
            raise InfraError(f"kwokctl created no kubeconfig at {cluster.kubeconfig}")
        self._endpoint(cluster).get("/readyz")

    def _run_kwokctl(self, args: list[str], version: Version | None, log: Path) -> None:
        """Run kwokctl in its own session (Ctrl-C reaches us, not it); stop it if we are interrupted."""
        with log.open("ab") as fh:
            proc = subprocess.Popen(
                args, env=self._env(version), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=300)
            except BaseException:
                _procs.terminate([proc.pid], grace=3)
                raise
        if rc != 0:
            raise InfraError(f"kwokctl {args[1]} {args[2]} failed: {_procs.last_error_line(log)}")

    # ---- nodes -----------------------------------------------------------------------------------------
    def _core(self, cluster: Cluster) -> Any:
        from kubernetes import client

        return client.CoreV1Api(api_client(cluster.kubeconfig))

    def _add_nodes(self, cluster: Cluster, nodes: Sequence[NodeSpec]) -> None:
        if not nodes:
            return
        core = self._core(cluster)
        for spec in nodes:
            labels = {"kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux",
                      "kubernetes.io/arch": "amd64", "type": "kwok", **spec.labels}
            if spec.control_plane:
                labels.setdefault("node-role.kubernetes.io/control-plane", "")
            body = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": spec.name, "labels": labels,
                             "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}},
                "spec": {"taints": [dict(t) for t in spec.taints]} if spec.taints else {},
                "status": {"capacity": dict(spec.capacity), "allocatable": dict(spec.capacity),
                           "nodeInfo": self._node_info(cluster.version)},
            }
            core.create_node(body)
        self._wait_nodes(cluster, cluster.version, [n.name for n in nodes])

    @staticmethod
    def _node_info(version: Version) -> dict[str, str]:
        return {
            "kubeletVersion": version.tag, "kubeProxyVersion": version.tag, "architecture": "amd64",
            "operatingSystem": "linux", "osImage": "kwok (simulated)", "containerRuntimeVersion": "kwok",
            "kernelVersion": "", "bootID": "", "machineID": "", "systemUUID": "",
        }

    def _wait_nodes(self, cluster: Cluster, version: Version, names: Sequence[str], timeout: float = 60) -> None:
        core = self._core(cluster)
        deadline = time.monotonic() + timeout
        pending: list[str] = list(names)
        while time.monotonic() < deadline:
            pending = []
            for n in names:
                node = core.read_node(n)
                ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
                if not ready or node.status.node_info.kubelet_version != version.tag:
                    pending.append(n)
            if not pending:
                return
            self.progress.update(f"{len(names) - len(pending)}/{len(names)} nodes Ready at {version.tag}")
            time.sleep(0.2)
        raise InfraError(f"nodes not Ready at {version.tag} after {timeout:.0f}s: {', '.join(pending)}")

    def upgrade_nodes(self, cluster: Cluster, version: Version) -> None:
        """Simulated kubelets: each node reports the new kubelet and kube-proxy version, one node at a time."""
        core = self._core(cluster)
        names = [n.metadata.name for n in core.list_node().items
                 if (n.metadata.annotations or {}).get("kwok.x-k8s.io/node") == "fake"]
        for i, name in enumerate(sorted(names), 1):
            self.progress.update(f"node {name} → {version.tag} ({i}/{len(names)})")
            core.patch_node_status(name, {"status": {"nodeInfo": {"kubeletVersion": version.tag,
                                                                  "kubeProxyVersion": version.tag}}})
        self._wait_nodes(cluster, version, names)

    # ---- upgrade ---------------------------------------------------------------------------------------
    def _kwok_config(self, cluster: Cluster) -> dict[str, Any]:
        for doc in yaml.safe_load_all((cluster.workdir / "kwok.yaml").read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "KwokctlConfiguration":
                return doc
        raise InfraError(f"{cluster.workdir / 'kwok.yaml'} holds no KwokctlConfiguration")

    def _endpoint(self, cluster: Cluster) -> ApiEndpoint:
        cfg = yaml.safe_load(cluster.kubeconfig.read_text(encoding="utf-8"))
        pki = cluster.workdir / "pki"
        return endpoint(cfg["clusters"][0]["cluster"]["server"], str(pki / "ca.crt"), str(pki / "admin.crt"),
                        str(pki / "admin.key"), check_hostname=False)

    def upgrade_control_plane(self, cluster: Cluster, version: Version) -> UpgradeResult:
        """kube-apiserver, then kube-controller-manager, then kube-scheduler, over the same etcd."""
        bins = ensure(version, _LOCAL_COMPONENTS, progress=self.progress)
        conf = self._kwok_config(cluster)
        api = self._endpoint(cluster)
        timings: list[tuple[str, float]] = []
        start = time.monotonic()
        with DowntimeMonitor(api, interval=0.05) as monitor:
            for comp in CONTROL_PLANE_ORDER:
                self.progress.update(f"{comp} → {bins.version}")
                t0 = time.monotonic()
                self._replace_component(cluster, conf, comp, bins, api)
                timings.append((comp, time.monotonic() - t0))
        cluster.version = bins.version
        cluster.meta["binaries"] = str(bins.directory)
        self._write_meta(cluster)
        return UpgradeResult(version=bins.version, seconds=time.monotonic() - start,
                             api_downtime_seconds=monitor.down_seconds, components=timings)

    def _replace_component(
        self, cluster: Cluster, conf: dict[str, Any], comp: str, bins: BinarySet, api: ApiEndpoint
    ) -> None:
        spec = next((c for c in conf.get("components", []) if c.get("name") == comp), None)
        if spec is None:
            raise InfraError(f"{comp} is not a component of cluster {cluster.name}")
        cdir = cluster.workdir
        pid_file = cdir / "pids" / f"{comp}.pid"
        old = _procs.read_pid(pid_file)
        holder = self._lease_holder(cluster, comp) if comp != "kube-apiserver" else None
        if old is not None:
            # kube-apiserver drains watches for a long time after SIGTERM (20 s seen here); its state is in
            # etcd, so after a short grace it is killed, as kwokctl's own stop does at once.
            _procs.terminate([old], grace=1.0 if comp == "kube-apiserver" else 10.0)
        pid_file.unlink(missing_ok=True)
        if holder is not None:
            # The old process is gone: release its lease as --leader-elect-release-on-cancel would.
            self._delete_lease(cluster, comp)
        binary = Path(spec.get("binary") or cdir / "bin" / comp)
        link(bins.path(comp).resolve(), binary)
        log = cdir / "logs" / f"{comp}.log"
        offset = log.stat().st_size if log.exists() else 0
        env = dict(os.environ)
        env.update({e["name"]: str(e.get("value", "")) for e in spec.get("envs") or []})
        pid = _procs.spawn_detached([str(binary), *spec.get("args", [])], Path(spec.get("workDir") or cdir), log, env)
        pid_file.write_text(str(pid))
        self._wait_component(cluster, comp, pid, log, offset, bins.version, api)

    def _wait_component(
        self, cluster: Cluster, comp: str, pid: int, log: Path, offset: int, version: Version,
        api: ApiEndpoint, timeout: float = 90,
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _procs.alive(pid):
                time.sleep(0.1)
                raise UpgradeFailed(comp, version, _procs.last_error_line(log, offset) or "exited")
            try:
                if comp == "kube-apiserver":
                    status, body = api.get("/version")
                    if (status == 200 and json.loads(body).get("gitVersion") == version.tag
                            and api.get("/readyz") == (200, "ok")):
                        return
                else:
                    holder = self._lease_holder(cluster, comp)
                    if holder and self._holder_is_fresh(cluster, comp, holder):
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise UpgradeFailed(comp, version, f"not healthy after {timeout:.0f}s: "
                            f"{_procs.last_error_line(log, offset) or 'no output'}")

    def _coordination(self, cluster: Cluster) -> Any:
        from kubernetes import client

        return client.CoordinationV1Api(api_client(cluster.kubeconfig))

    def _lease_holder(self, cluster: Cluster, comp: str) -> str | None:
        from kubernetes.client.exceptions import ApiException

        try:
            lease = self._coordination(cluster).read_namespaced_lease(comp, "kube-system")
        except ApiException:
            return None
        holder: str | None = lease.spec.holder_identity
        return holder

    def _holder_is_fresh(self, cluster: Cluster, comp: str, holder: str) -> bool:
        lease = self._coordination(cluster).read_namespaced_lease(comp, "kube-system")
        return bool(lease.spec.acquire_time and lease.spec.holder_identity == holder
                    and lease.metadata.creation_timestamp is not None)

    def _delete_lease(self, cluster: Cluster, comp: str) -> None:
        from kubernetes.client.exceptions import ApiException

        with contextlib.suppress(ApiException):
            self._coordination(cluster).delete_namespaced_lease(comp, "kube-system")

    # ---- logs, delete, list ----------------------------------------------------------------------------
    def collect_logs(self, cluster: Cluster, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for log in sorted((cluster.workdir / "logs").glob("*.log")):
            shutil.copyfile(log, directory / log.name)
        for extra in ("kwokctl-create.log",):
            if (cluster.workdir / extra).exists():
                shutil.copyfile(cluster.workdir / extra, directory / extra)

    def delete(self, cluster: Cluster | str) -> None:
        """Stop every process of the cluster and remove its directory; safe to call twice."""
        name = cluster if isinstance(cluster, str) else cluster.name
        cdir = self._cluster_dir(name)
        kwokctl = self._kwokctl_for(cdir)
        if kwokctl is not None and (cdir / "kwok.yaml").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run([str(kwokctl), "delete", "cluster", "--name", name], env=self._env(),
                               capture_output=True, timeout=60, check=False, start_new_session=True)
        if cdir.exists():
            _procs.terminate(_procs.processes_under(cdir))
            shutil.rmtree(cdir, ignore_errors=True)
        _procs.reap()

    def _kwokctl_for(self, cdir: Path) -> Path | None:
        meta = read_meta(cdir)
        if meta.get("binaries"):
            p = Path(meta["binaries"]) / "kwokctl"
            if p.exists():
                return p
        found = shutil.which("kwokctl")
        return Path(found) if found else None

    def list(self) -> list[ClusterInfo]:
        out = []
        base = self.root / "clusters"
        for cdir in sorted(base.iterdir()) if base.is_dir() else []:
            meta = read_meta(cdir)
            if not meta:
                continue
            pid = _procs.read_pid(cdir / "pids" / "kube-apiserver.pid")
            out.append(ClusterInfo(
                name=cdir.name, provider=self.name, version=str(meta.get("version", "?")),
                created=float(meta.get("created", 0)), workdir=cdir,
                running=pid is not None and _procs.alive(pid),
            ))
        return out

    def _write_meta(self, cluster: Cluster) -> None:
        created = cluster.meta.get("created") or read_meta(cluster.workdir).get("created") or time.time()
        data = {"name": cluster.name, "provider": self.name, "version": str(cluster.version),
                "created": created, "binaries": cluster.meta.get("binaries")}
        (cluster.workdir / META_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def cluster(self, name: str, version: Version, options: ClusterOptions | None = None,
                keep: bool = False) -> contextlib.AbstractContextManager[Cluster]:
        """Create a cluster and delete it afterwards (on success, failure and Ctrl-C) unless ``keep``."""
        return managed_cluster(self, name, version, options or ClusterOptions(), keep)
