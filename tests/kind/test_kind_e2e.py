"""End to end on this machine: the rehearsal pipeline (what ``rehearse run --provider kind`` runs) on the kind
provider: kind create at 1.27 from a local node image, a real HTTP workload behind a Service, checks, the kubeadm
upgrade to 1.28 with the target files taken from the local 1.28 image, the checks again, a report; then every
node's kubelet at 1.28, ``kubectl version`` at 1.28, and the Service answering from a node. Then pod egress: an
HTTP listener on an address of this machine outside the cluster, opened by ``--allow-egress`` for the rehearsal,
is reached from a pod and from a host-network pod; confined again without it, neither reaches it, while the
node's own processes still do and the cluster's own traffic (DNS, Services, pods across nodes) still flows.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.binaries import ensure
from harness.kube import api_client
from harness.providers.base import Cluster, ClusterOptions
from harness.providers.kind import CLUSTER_LABEL, KindProvider
from harness.versions import Version
from tests.kind.workload import GREETING, PROBE_BODY, OutsideListener, manifests, outside_address, probe_pods

pytestmark = [pytest.mark.slow, pytest.mark.docker]

NAMESPACE = "rehearse-e2e"


def _http_via_apiserver(kubeconfig: Path, timeout: float = 120) -> str:
    """GET / through the Service, by the API server's service proxy (what the rehearsal's HTTP checks do)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client(kubeconfig))
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            body = core.connect_get_namespaced_service_proxy_with_path("http-hello:80", NAMESPACE, "")
            if body == GREETING:
                return str(body)
            last = body
        except Exception as e:  # keep polling while endpoints settle
            last = e
        time.sleep(2)
    raise AssertionError(f"no greeting through the service proxy after {timeout}s: {last}")


def _http_via_cluster_ip(provider: KindProvider, cluster: Any, timeout: float = 120) -> str:
    """GET / on the Service's cluster IP from the control-plane node (kube-proxy and pod routes between nodes)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client(cluster.kubeconfig))
    ip = core.read_namespaced_service("http-hello", NAMESPACE).spec.cluster_ip
    node = provider.nodes.of(cluster)[0]
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        code, out = provider.nodes.exec(node, ["curl", "-sS", "--max-time", "5", f"http://{ip}/"], check=False)
        if code == 0 and out == GREETING:
            return out
        time.sleep(2)
    raise AssertionError(f"no greeting from http://{ip}/ on {node.name} after {timeout}s: {out!r}")


def _http_from_a_pod(kubeconfig: Path, kubectl: Path, timeout: float = 120) -> str:
    """GET / on the Service's DNS name from inside a workload pod (CoreDNS, kube-proxy, routes between nodes)."""
    import subprocess

    url = f"http://http-hello.{NAMESPACE}.svc.cluster.local/"
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        proc = subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, "exec",
                               "deploy/http-hello", "-c", "httpd", "--", "wget", "-qO-", url],
                              capture_output=True, text=True, check=False, timeout=60)
        out = proc.stdout + proc.stderr
        if proc.returncode == 0 and proc.stdout == GREETING:
            return proc.stdout
        time.sleep(2)
    raise AssertionError(f"no greeting from {url} in a pod after {timeout}s: {out!r}")


def _kubelet_versions(kubeconfig: Path) -> dict[str, str]:
    from kubernetes import client

    core = client.CoreV1Api(api_client(kubeconfig))
    return {n.metadata.name: n.status.node_info.kubelet_version for n in core.list_node().items}


SCENARIO = """\
schema: rehearse/scenario/v1
name: kind-http
description: a two-node kind cluster with an HTTP workload built here, 1.27 to 1.28
from: "1.27"
to: "1.28"
nodes:
  - {name: control-plane-1, control_plane: true}
  - {name: worker-1, labels: {pool: general}}
manifests: [workload.yaml]
checks:
  - id: http-hello-available
    type: wait
    timeout: 180
    object: {apiVersion: apps/v1, kind: Deployment, namespace: "@NS@", name: http-hello}
    condition: Available
  - id: http-hello-through-service
    description: GET / through the Service (the API server's service proxy)
    type: http
    timeout: 120
    service: {namespace: "@NS@", name: http-hello, port: 80}
    path: /
    expect_status: 200
"""


def test_kind_rehearsal_end_to_end(node_images: dict[str, str], workload_image: str,
                                   versions: tuple[Version, Version], one_cluster_at_a_time: None,
                                   tmp_path: Path) -> None:
    """The rehearsal pipeline on the kind provider: create at 1.27, recreate, check, upgrade, check, report."""
    import yaml

    from harness.rehearsal import RehearsalSpec, rehearse
    from harness.scenario import load_scenario

    source, target = versions
    (tmp_path / "workload.yaml").write_text(yaml.safe_dump_all(manifests(NAMESPACE, replicas=2)))
    (tmp_path / "scenario.yaml").write_text(SCENARIO.replace("@NS@", NAMESPACE))
    scenario = load_scenario(str(tmp_path / "scenario.yaml"))
    provider = KindProvider(versions=versions, images=node_images, preload=[workload_image], drain_timeout=20,
                            root=tmp_path / "state")
    ok, why = provider.available()
    assert ok, why
    report_dir = tmp_path / "report"
    outside = OutsideListener(outside_address(provider.nodes.client()))
    opened = f"{outside.url.split('//')[1].split(':')[0]}/32"
    spec = RehearsalSpec(source=source, target=target, hops=[target], snapshot=scenario.snapshot, provider=provider,
                         checks=scenario.checks, scenario=scenario.name, scenario_base=tmp_path, keep=True,
                         report_dir=report_dir, cluster_name=f"rehearse-e2e-{uuid.uuid4().hex[:6]}",
                         allow_egress=[opened])
    t0 = time.monotonic()
    cluster = Cluster(name=spec.cluster_name, provider="kind", version=target,
                      kubeconfig=tmp_path / "unset", workdir=tmp_path / "unset")
    try:
        report = rehearse(spec)
        seconds = time.monotonic() - t0
        clusters = provider.list()
        assert [c.name for c in clusters] == [spec.cluster_name]
        cluster.kubeconfig, cluster.workdir = clusters[0].workdir / "kubeconfig", clusters[0].workdir
        phases = {p.name: (p.status, p.seconds) for p in report.phases}
        assert report.error is None, (report.error, phases)
        assert report.verdict == "pass", [(c.id, c.classification, c.message) for c in report.checks]
        assert report.to_version == str(target)
        checks = {c.id: c for c in report.checks}
        for cid in ("http-hello-available", "http-hello-through-service"):
            assert checks[cid].before is not None and checks[cid].before.outcome == "pass", checks[cid]
            assert checks[cid].after is not None and checks[cid].after.outcome == "pass", checks[cid]
        assert len(provider.nodes.of(cluster)) == 2

        # Every node's kubelet at 1.28; kubectl version: the server at 1.28, the nodes' kubectl at 1.28.
        kubelets = _kubelet_versions(cluster.kubeconfig)
        assert set(kubelets.values()) == {target.tag}, kubelets
        _, out = provider.nodes.exec(provider.nodes.of(cluster)[0],
                                     ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "version", "-o", "json"])
        reported = json.loads(out)
        assert reported["serverVersion"]["gitVersion"] == target.tag
        assert reported["clientVersion"]["gitVersion"] == target.tag
        import subprocess

        host_kubectl = ensure(target, ("kubectl",)).path("kubectl")
        host = subprocess.run([str(host_kubectl), "--kubeconfig", str(cluster.kubeconfig), "version", "-o", "json"],
                              capture_output=True, text=True, check=True, timeout=60)
        assert json.loads(host.stdout)["serverVersion"]["gitVersion"] == target.tag

        # The Service by the API server's proxy, by its cluster IP from a node, by its DNS name from a pod.
        assert _http_via_apiserver(cluster.kubeconfig) == GREETING
        assert _http_via_cluster_ip(provider, cluster) == GREETING
        assert _http_from_a_pod(cluster.kubeconfig, host_kubectl) == GREETING

        # The PDB keeps both replicas up, so draining the worker that holds them was blocked: a finding.
        findings = report.findings  # the upgrade stage hands the provider's findings to the report
        assert any(f.kind == "drain-blocked" and f.object.namespace == NAMESPACE for f in findings), findings

        logs = report_dir / "logs"
        assert any((logs / "kind").rglob("kubelet.log")), sorted(p.name for p in logs.iterdir())
        assert any(logs.glob("kubeadm-apply-*.log"))
        print(f"rehearsal {seconds:.0f}s, phases:", {k: v[1] for k, v in phases.items()})
        t1 = time.monotonic()
        _egress(provider, cluster, report, outside, opened, host_kubectl)
        print(f"egress {time.monotonic() - t1:.0f}s")
    finally:
        outside.close()
        provider.delete(cluster)
    assert not provider.nodes.client().api.containers(all=True, filters={"label": f"{CLUSTER_LABEL}={cluster.name}"})
    assert provider.list() == []


def _in_pod(kubectl: Path, kubeconfig: Path, pod: str, *argv: str) -> tuple[int, str]:
    import subprocess

    proc = subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, "exec", pod, "--",
                           "/bin/busybox", "timeout", "15", "/bin/busybox", *argv],
                          capture_output=True, text=True, check=False, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def _address(provider: KindProvider, container: str) -> str:
    networks = provider.nodes.client().api.inspect_container(container)["NetworkSettings"]["Networks"]
    return str(next(iter(networks.values()))["IPAddress"])


def _egress(provider: KindProvider, cluster: Cluster, report: Any, outside: OutsideListener, opened: str,
            kubectl: Path) -> None:
    """Pods reach the listener outside the cluster only while --allow-egress opens it; the rest keeps working."""
    from kubernetes import client

    assert report.safety is not None and report.safety.egress_open == [opened]
    core = client.CoreV1Api(api_client(cluster.kubeconfig))
    for body in probe_pods(NAMESPACE):
        core.create_namespaced_pod(NAMESPACE, body)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NAMESPACE, label_selector="app=egress-probe").items
        if len(pods) == 2 and all(p.status.phase == "Running" for p in pods):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the probe pods are not running: {[(p.metadata.name, p.status.phase) for p in pods]}")
    probes = ("egress-probe", "egress-probe-host")

    # The rehearsal ran with --allow-egress for the listener's address (re-applied after each kubelet upgrade).
    for pod in probes:
        assert _in_pod(kubectl, cluster.kubeconfig, pod, "wget", "-q", "-O", "-", outside.url) == (0, PROBE_BODY)
    assert len(outside.requests) == 2

    # Without it, what a rehearsal applies by default: neither pod reaches the listener, at once.
    cluster.options = ClusterOptions()
    provider.egress.confine(cluster)
    for pod in probes:
        t0 = time.monotonic()
        code, out = _in_pod(kubectl, cluster.kubeconfig, pod, "wget", "-q", "-O", "-", outside.url)
        assert code != 0 and PROBE_BODY not in out, (pod, code, out)
        assert time.monotonic() - t0 < 10, (pod, out)  # rejected, not left to time out
    assert len(outside.requests) == 2  # nothing more arrived
    nodes = provider.nodes.of(cluster)
    rejected = 0
    for node in nodes:
        _, listing = provider.nodes.exec(node, ["nft", "list", "chain", "inet", "rehearse_egress", "confine"])
        rejected += sum(int(n) for n in re.findall(r"counter packets (\d+)", listing))
    assert rejected >= 2, rejected  # by the rehearsal's rule, not by chance
    # The node's own processes are not confined (image pulls, kubeadm, the kubelet).
    _, out = provider.nodes.exec(nodes[-1], ["curl", "-sS", "--max-time", "10", outside.url])
    assert out == PROBE_BODY
    # The cluster's own traffic still flows: Service DNS names and pods on other nodes; and names outside the
    # cluster resolve through CoreDNS and the node's resolver (Docker's DNS, which knows the node containers).
    assert _http_from_a_pod(cluster.kubeconfig, kubectl) == GREETING
    for pod in probes:
        for name, address in ((f"{nodes[0].name}.", _address(provider, nodes[0].name)),
                              ("kubernetes.default.svc.cluster.local.", "")):
            code, out = _in_pod(kubectl, cluster.kubeconfig, pod, "nslookup", name)
            assert code == 0 and f"Address: {address}" in out.split("Name:", 1)[-1], (pod, name, out)

    # Nothing of the cluster is published beyond loopback: the API server's port is mapped on 127.0.0.1 only.
    engine = provider.nodes.client()
    bindings = [b for c in provider.nodes.containers(cluster.name)
                for port in (engine.api.inspect_container(c["Id"])["HostConfig"].get("PortBindings") or {}).values()
                for b in port or []]
    assert bindings and {b["HostIp"] for b in bindings} == {"127.0.0.1"}, bindings
