"""Upgrading a ``kind`` cluster with kubeadm's own upgrade, as kubeadm's upgrade tests (kinder) do it.

kubeadm, kubelet, kubectl and the control-plane images of the target version are taken out of the target
version's node image, copied into every node container (``/kinder/upgrade/<version>``) and imported into the
node's containerd; ``kubeadm upgrade apply`` runs on the first control-plane node, ``kubeadm upgrade node`` on the
other control-plane nodes and then on the workers; then, node by node: cordon, drain (through the Eviction API, so
PodDisruptionBudgets are respected; a drain a PDB blocks is a finding), swap the kubelet (and kubectl), restart
it, wait for the node to report the new version, confine its pods' egress again (:class:`.node.KindEgress`), uncordon.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import json
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from harness.engine import copy_out, read_file, run_in
from harness.errors import InfraError
from harness.kube import api_client
from harness.processes import named_cause
from harness.progress import Progress
from harness.providers._api import ApiEndpoint, DowntimeMonitor, endpoint
from harness.providers.base import Cluster, UpgradeResult, component_failure, write_meta
from harness.providers.kind.node import HELPER_LABEL, KindEgress, KindNodes, Node, last_error_line, last_line
from harness.providers.kind.prepare import KindRelease
from harness.report.model import Finding, ObjectRef
from harness.versions import Version

UPGRADE_DIR = "/kinder/upgrade"  # where kinder keeps the target version's files on a node
_SANDBOX_RE = re.compile(r'sandbox_image\s*=\s*"([^"]+)"')
_STATIC_POD_RE = re.compile(r"component (kube-apiserver|kube-controller-manager|kube-scheduler|etcd)")
_T = TypeVar("_T")
_KUBEADM_WAIT = 300.0  # kubeadm's own wait for an upgraded static pod (seconds)
_KUBELET_WAIT = 180.0  # for an upgraded kubelet's node to be Ready again


@dataclass
class Payload:
    """The target version's files, taken out of its node image."""

    version: Version
    directory: Path
    images: list[str] = field(default_factory=list)

    @property
    def remote(self) -> str:
        return f"{UPGRADE_DIR}/{self.version.tag}"


def kind_endpoint(kubeconfig: Path, workdir: Path) -> ApiEndpoint:
    """The apiserver's address and the admin credentials of a kind kubeconfig (for /readyz polling)."""
    cfg = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    pki = workdir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, name in (("certificate-authority-data", "ca.crt"), ("client-certificate-data", "admin.crt"),
                      ("client-key-data", "admin.key")):
        src = cluster if key.startswith("certificate-authority") else user
        path = pki / name
        path.write_bytes(base64.b64decode(src[key]))
        path.chmod(0o600)
        files[name] = str(path)
    return endpoint(str(cluster["server"]), files["ca.crt"], files["admin.crt"], files["admin.key"])


class KindUpgrade:
    """kubeadm upgrades of kind clusters: the control plane, then every node's kubelet."""

    def __init__(self, progress: Progress, kind: KindRelease, nodes: KindNodes, egress: KindEgress,
                 drain_timeout: float) -> None:
        self.progress = progress
        self.kind = kind
        self.nodes = nodes
        self.egress = egress
        self.drain_timeout = drain_timeout
        self.findings: dict[str, list[Finding]] = {}

    # ---- the target version's files ---------------------------------------------------------------------------
    def payload(self, cluster: Cluster, version: Version) -> Payload:
        """Take kubeadm, kubelet, kubectl and the control-plane images out of the target node image."""
        image = self.kind.image_for(version)
        ran = self.kind.ensure_image(image)
        directory = cluster.workdir / "upgrade" / ran.tag
        meta = directory / "payload.json"
        if meta.exists():
            data = json.loads(meta.read_text())
            return Payload(ran, directory, list(data["images"]))
        directory.mkdir(parents=True, exist_ok=True)
        self.progress.update(f"taking kubeadm, kubelet, kubectl and images {ran} out of {image}")
        client = self.nodes.client()
        helper_name = f"{cluster.name}-upgrade-{ran.tag.replace('.', '-')}"
        with contextlib.suppress(Exception):  # a helper left by an interrupted run
            client.api.remove_container(helper_name, force=True, v=True)
        helper = client.containers.run(image, entrypoint=["sleep", "infinity"], detach=True, network_mode="none",
                                       name=helper_name, labels={HELPER_LABEL: cluster.name},
                                       security_opt=["seccomp=unconfined"])
        try:
            for b in ("kubeadm", "kubelet", "kubectl"):
                (directory / b).write_bytes(read_file(helper, f"/usr/bin/{b}"))
                (directory / b).chmod(0o755)
            _, code, out = run_in(helper, ["kubeadm", "config", "images", "list", "--kubernetes-version", ran.tag])
            if code != 0:
                raise InfraError(f"kubeadm {ran} in {image} cannot list its images: {last_line(out)}")
            wanted = [ln.strip() for ln in out.splitlines() if ln.strip() and "/" in ln]
            _, _, config = run_in(helper, ["cat", "/etc/containerd/config.toml"])
            sandbox = _SANDBOX_RE.search(config)
            if sandbox:
                wanted.append(sandbox.group(1))
            run_in(helper, ["sh", "-c", "nohup containerd >/tmp/containerd.log 2>&1 &"])
            for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.3), reraise=True,
                                    retry=retry_if_exception(lambda e: isinstance(e, InfraError))):
                with attempt:
                    if run_in(helper, ["ctr", "version"])[1] != 0:
                        raise InfraError(f"containerd does not start in {image}")
            _, _, listed = run_in(helper, ["ctr", "--namespace=k8s.io", "images", "list", "-q"])
            present = set(listed.split())
            images = sorted({w for w in wanted if w in present})
            missing = sorted({w for w in wanted if w not in present})
            if missing:
                self.progress.note(f"{image} lacks {', '.join(missing)}; the nodes will need to pull them")
            _, code, out = run_in(helper, ["ctr", "--namespace=k8s.io", "images", "export",
                                           "--platform", "linux/amd64", "/tmp/upgrade-images.tar", *images])
            if code != 0:
                raise InfraError(f"exporting the {ran} images from {image} failed: {last_line(out)}")
            with (directory / "images.tar").open("wb") as fh:
                copy_out(helper, "/tmp/upgrade-images.tar", fh)
        finally:
            with contextlib.suppress(Exception):
                helper.remove(force=True, v=True)
        meta.write_text(json.dumps({"image": image, "version": ran.tag, "images": images}, indent=2))
        return Payload(ran, directory, images)

    def distribute(self, cluster: Cluster, payload: Payload) -> None:
        """Copy the payload into every node and import its images into the node's containerd (kinder's way)."""
        done = set(cluster.meta.get("distributed", {}).get(payload.version.tag, []))
        bundle = payload.directory / "bundle.tar"
        if not bundle.exists():
            version_file = (payload.version.tag + "\n").encode()
            with bundle.open("wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
                for f in ("kubeadm", "kubelet", "kubectl", "images.tar"):
                    tar.add(payload.directory / f, arcname=f"{payload.remote.lstrip('/')}/{f}")
                info = tarfile.TarInfo(f"{payload.remote.lstrip('/')}/version")
                info.size, info.mode, info.mtime = len(version_file), 0o644, int(time.time())
                tar.addfile(info, io.BytesIO(version_file))
        log = cluster.workdir / "logs" / f"upgrade-{payload.version.tag}.log"
        for node in self.nodes.of(cluster):
            if node.name in done:
                continue
            self.progress.update(f"{node.name}: copying {payload.version} files and importing its images")
            with bundle.open("rb") as src:
                if not self.nodes.container(node).put_archive("/", src):
                    raise InfraError(f"copying the {payload.version} files into {node.name} failed")
            self.nodes.exec(node, ["ctr", "--namespace=k8s.io", "images", "import", "--digests",
                                   f"{payload.remote}/images.tar"], what="importing the target images", log=log)
            self.nodes.exec(node, ["rm", "-f", f"{payload.remote}/images.tar"], log=log)
            done.add(node.name)
            cluster.meta.setdefault("distributed", {})[payload.version.tag] = sorted(done)
            write_meta(cluster)

    def _swap_binary(self, node: Node, payload: Payload, binary: str, log: Path) -> None:
        self.nodes.exec(node, ["ln", "-sf", f"{payload.remote}/{binary}", f"/usr/bin/{binary}"],
                        what=f"swapping {binary}", log=log)

    # ---- the control plane ----------------------------------------------------------------------------------
    def upgrade_control_plane(self, cluster: Cluster, version: Version) -> UpgradeResult:
        """``kubeadm upgrade apply`` on the first control-plane node, ``kubeadm upgrade node`` on the others."""
        start = time.monotonic()
        payload = self.payload(cluster, version)
        target = payload.version
        cluster.meta["from_version"] = str(cluster.version)
        self.distribute(cluster, payload)
        log_dir = cluster.workdir / "logs"
        timings: list[tuple[str, float]] = []
        api = kind_endpoint(cluster.kubeconfig, cluster.workdir)
        cps = [n for n in self.nodes.of(cluster) if n.control_plane]
        if not cps:
            raise InfraError(f"cluster {cluster.name} has no control-plane node container")
        with DowntimeMonitor(api, interval=0.25) as monitor:
            for i, node in enumerate(cps):
                self._swap_binary(node, payload, "kubeadm", log_dir / f"upgrade-{target.tag}.log")
                verb = ["upgrade", "apply", "-f", target.tag] if i == 0 else ["upgrade", "node"]
                title = f"kubeadm {' '.join(verb[:2])} on {node.name}"
                self.progress.update(f"{title} → {target}")
                t0 = time.monotonic()
                log = log_dir / f"kubeadm-{verb[1]}-{node.name}.log"
                code, out = self.nodes.exec(node, ["kubeadm", *verb, "--v=1"], log=log, check=False)
                if code != 0:
                    raise self._upgrade_failed(node, target, out, f"kubeadm {' '.join(verb[:2])}")
                self.wait_control_plane(cluster, node, target, api)
                timings.append((title, time.monotonic() - t0))
        cluster.version = target
        write_meta(cluster)
        return UpgradeResult(version=target, seconds=time.monotonic() - start,
                             api_downtime_seconds=monitor.down_seconds, components=timings)

    def _upgrade_failed(self, node: Node, version: Version, output: str, step: str) -> InfraError:
        """kubeadm's refusal, judged by the failing component's own last words when it is a static pod: a
        cause in the cluster's content is the upgrade's fault, a wait that ran out in silence is not."""
        m = _STATIC_POD_RE.search(output)
        if not m:
            # kubeadm refused before touching a component (preflight, configuration): its own words decide
            said = last_error_line(output) or last_line(output)
            return component_failure("kubeadm", version, f"{step} on {node.name}: {said}" if said else "")
        component = m.group(1)
        own = self._own_cause(node, component)
        cause = f"{own} (kubeadm: {last_error_line(output)})" if own else ""
        return component_failure(component, version, cause,
                                 waited=None if own or "timed out" not in output else _KUBEADM_WAIT)

    def _own_cause(self, node: Node, component: str) -> str:
        """The line a static pod's container last wrote that names why it fails ("" when none does)."""
        _, logs = self.nodes.exec(node, f"id=$(crictl ps -a --name {component} -q | head -n1); "
                                        f"[ -n \"$id\" ] && crictl logs --tail 20 \"$id\" 2>&1", check=False)
        return named_cause(logs)

    def wait_control_plane(self, cluster: Cluster, node: Node, version: Version, api: ApiEndpoint,
                           timeout: float = 300) -> None:
        """The node's static pods run the target images and the API answers ready at the target version."""
        core = self.nodes.core(cluster)
        deadline = time.monotonic() + timeout
        stale: list[str] = ["kube-apiserver"]
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                status, body = api.get("/version")
                stale = ["kube-apiserver"]
                if status == 200 and json.loads(body).get("gitVersion") == version.tag:
                    stale = []
                    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                        pod = core.read_namespaced_pod(f"{comp}-{node.name}", "kube-system")
                        image = pod.spec.containers[0].image
                        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
                        if not image.endswith(":" + version.tag) or not ready:
                            stale.append(comp)
                    if not stale:
                        return
            time.sleep(1)
        component = stale[0] if stale else "kube-apiserver"
        raise component_failure(component, version, self._own_cause(node, component), waited=timeout)

    # ---- the nodes --------------------------------------------------------------------------------------------
    def upgrade_nodes(self, cluster: Cluster, version: Version) -> None:
        """``kubeadm upgrade node`` on the workers; then node by node: cordon, drain, kubelet, uncordon."""
        payload = self.payload(cluster, version)
        target = payload.version
        self.distribute(cluster, payload)
        log = cluster.workdir / "logs" / f"upgrade-{target.tag}.log"
        nodes = self.nodes.of(cluster)
        for node in (n for n in nodes if not n.control_plane):
            self._swap_binary(node, payload, "kubeadm", log)
            self.progress.update(f"kubeadm upgrade node on {node.name}")
            code, out = self.nodes.exec(node, ["kubeadm", "upgrade", "node", "--v=1"],
                                        log=cluster.workdir / "logs" / f"kubeadm-node-{node.name}.log", check=False)
            if code != 0:
                raise self._upgrade_failed(node, target, out, "kubeadm upgrade node")
        core = self.nodes.core(cluster)
        hop = f"{cluster.meta.get('from_version', '?')}→{target}"
        for i, node in enumerate(nodes, 1):
            self.progress.update(f"{node.name} ({i}/{len(nodes)}): cordon and drain")
            core.patch_node(node.name, {"spec": {"unschedulable": True}})
            try:
                for pod, pdb in self.drain(cluster, node.name):
                    self.findings.setdefault(cluster.name, []).append(_drain_blocked(
                        node.name, pod, pdb, target, self.drain_timeout, hop))
                self.progress.update(f"{node.name} ({i}/{len(nodes)}): kubelet → {target}")
                self._swap_binary(node, payload, "kubectl", log)
                self._swap_binary(node, payload, "kubelet", log)
                self.nodes.exec(node, ["systemctl", "restart", "kubelet"], what="restarting the kubelet", log=log)
                self.nodes.exec(node, f"echo {target.tag} > /kind/version", log=log)
                try:
                    self.nodes.wait_ready(cluster, target, names=[node.name], timeout=_KUBELET_WAIT)
                except InfraError as e:
                    _, journal = self.nodes.exec(node, "journalctl -u kubelet --no-pager -n 30", check=False)
                    own = named_cause(journal)
                    raise component_failure("kubelet", target, f"{node.name}: {own}" if own else "",
                                            waited=_KUBELET_WAIT) from e
                self.egress.reapply(cluster, node)  # the pod cgroup is resolved again under the new kubelet
            finally:
                with contextlib.suppress(Exception):
                    core.patch_node(node.name, {"spec": {"unschedulable": None}})
        write_meta(cluster)

    def drain(self, cluster: Cluster, node: str) -> list[tuple[tuple[str, str], str]]:
        """Evict every pod of ``node`` but DaemonSet and mirror pods; returns the pods a PDB kept, with it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        core = self.nodes.core(cluster)
        policy = client.PolicyV1Api(api_client(cluster.kubeconfig))
        # Right after `kubeadm upgrade` the apiserver may still be restarting: retry dropped connections.
        pods = _retry_connection(lambda: core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}"))
        todo: dict[tuple[str, str], Any] = {(p.metadata.namespace, p.metadata.name): p for p in pods.items
                                            if _evictable(p)}
        deadline = time.monotonic() + self.drain_timeout
        blocked: dict[tuple[str, str], str] = {}
        while todo and time.monotonic() < deadline:
            for key in list(todo):
                body = client.V1Eviction(metadata=client.V1ObjectMeta(name=key[1], namespace=key[0]))
                try:
                    _retry_connection(functools.partial(core.create_namespaced_pod_eviction, key[1], key[0], body))
                    todo.pop(key)
                    blocked.pop(key, None)
                except ApiException as e:
                    if e.status == 404:
                        todo.pop(key)
                        blocked.pop(key, None)
                    elif e.status == 429:
                        blocked[key] = _blocking_pdb(policy, todo[key])
                    else:
                        raise InfraError(f"evicting {key[0]}/{key[1]} from {node}: {e.reason}") from e
            if todo:
                time.sleep(2)
        # Wait for the evicted pods to be gone (bounded), as kubectl drain does.
        gone_deadline = time.monotonic() + 60
        while time.monotonic() < gone_deadline:
            left = [p for p in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
                    if (p.metadata.namespace, p.metadata.name) not in todo and _evictable(p)]
            if not left:
                break
            time.sleep(1)
        return [(k, blocked.get(k, "?")) for k in todo]

    def take_findings(self, cluster: Cluster) -> list[Finding]:
        """Findings of the node upgrade (a drain a PodDisruptionBudget blocked), handed over once."""
        return self.findings.pop(cluster.name, [])


def _evictable(pod: Any) -> bool:
    """Whether a drain evicts ``pod``: not a DaemonSet's, not a mirror pod, not finished."""
    return (not any(o.kind == "DaemonSet" for o in pod.metadata.owner_references or [])
            and not (pod.metadata.annotations or {}).get("kubernetes.io/config.mirror")
            and pod.status.phase not in ("Succeeded", "Failed"))


def _blocking_pdb(policy: Any, pod: Any) -> str:
    labels = pod.metadata.labels or {}
    try:
        for pdb in policy.list_namespaced_pod_disruption_budget(pod.metadata.namespace).items:
            sel = (pdb.spec.selector.match_labels or {}) if pdb.spec.selector else {}
            if sel and all(labels.get(k) == v for k, v in sel.items()):
                return f"{pod.metadata.namespace}/{pdb.metadata.name}"
    except Exception:
        pass
    return f"{pod.metadata.namespace}/?"


def _drain_blocked(node: str, pod: tuple[str, str], pdb: str, target: Version, timeout: float, hop: str) -> Finding:
    return Finding(
        severity="warning", kind="drain-blocked",
        object=ObjectRef(kind="Pod", name=pod[1], namespace=pod[0], apiVersion="v1"),
        cause=f"draining {node} for the kubelet upgrade to {target} could not evict {pod[0]}/{pod[1]} within "
              f"{timeout:.0f}s: PodDisruptionBudget {pdb} allows no disruption",
        fix=f"give {pod[0]}/{pod[1]}'s workload more replicas (spread over nodes) or relax PodDisruptionBudget "
            f"{pdb} so a node can be drained; otherwise the node upgrade stalls in production",
        hop=hop)


def _retry_connection(call: Callable[[], _T], seconds: float = 60) -> _T:
    """``call()``, retried for up to ``seconds`` while the API connection drops (urllib3/SSL errors)."""
    import urllib3

    for attempt in Retrying(stop=stop_after_delay(seconds), wait=wait_fixed(2), reraise=True,
                            retry=retry_if_exception(lambda e: isinstance(e, (urllib3.exceptions.HTTPError,
                                                                              ConnectionError)))):
        with attempt:
            return call()
    raise AssertionError("unreachable")  # pragma: no cover - Retrying either returns or raises
