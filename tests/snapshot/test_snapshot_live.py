"""`rehearse snapshot` against a real kube-apiserver (1.28, audit log on) holding real Helm releases installed by
the real helm binary (Secret driver, upgraded once; ConfigMap driver), a CRD with two versions, admission
webhooks, workloads, planted secrets; read as admin and as a view-only ServiceAccount."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.binaries import BinarySet
from harness.binaries.bare import BareControlPlane, bare_control_plane
from harness.progress import RecordingProgress
from harness.snapshot import dump, load, loads, take_snapshot
from harness.snapshot.model import Snapshot

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "snapshot"
PLANTED = [
    "PLANTED-secret-value-1", "PLANTED-configmap-password-2", "PLANTED-inline-3", "PLANTED-env-4",
    "PLANTED-helm-value-5", "PLANTED-helm-apikey-6", "PLANTED-helm-token-7", "PLANTED-sa-token-8",
    "PLANTED-secret-endpoint-9",
]
SA_USER = "system:serviceaccount:rehearse-ro:snapshotter"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}

pytestmark = pytest.mark.slow


@dataclass
class Cluster:
    cp: BareControlPlane
    bins: BinarySet
    kubeconfig: Path
    workdir: Path

    def kubectl(self, *args: str) -> str:
        out = subprocess.run(
            [str(self.bins.path("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True, text=True, timeout=60, check=False,
        )
        assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
        return out.stdout

    def helm(self, *args: str, driver: str = "secret", ok: bool = True) -> str:
        home = self.workdir / "helm"
        env = {
            **os.environ, "HELM_DRIVER": driver, "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data"),
        }
        out = subprocess.run(
            [str(self.bins.path("helm")), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )
        assert (out.returncode == 0) == ok, f"helm {' '.join(args)}: {out.stderr}"
        return out.stdout

    def api(self, kubeconfig: Path | None = None) -> tuple[Any, Any]:
        """(the kubernetes.client module, an ApiClient for ``kubeconfig``, default admin)."""
        from kubernetes import client

        from harness.kube import api_client

        return client, api_client(kubeconfig or self.kubeconfig)


def rehearse(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "CI": "1"},
    )


@pytest.fixture(scope="module")
def cluster(bin128: BinarySet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("snapshot-live")
    with bare_control_plane(bin128.directory, workdir / "cp", audit=True) as cp:
        c = Cluster(cp, bin128, cp.kubeconfig(), workdir)
        c.kubectl("create", "-f", str(FIXTURES / "nodes.yaml"))
        c.kubectl("apply", "-f", str(FIXTURES / "control-plane.yaml"))
        c.kubectl("apply", "-f", str(FIXTURES / "cluster" / "01-base.yaml"))
        c.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s")
        c.kubectl("apply", "-f", str(FIXTURES / "cluster" / "02-widget-v1beta1.yaml"))
        c.kubectl("apply", "-f", str(FIXTURES / "cluster" / "03-crd-v1-storage.yaml"))
        c.kubectl("apply", "-f", str(FIXTURES / "cluster" / "04-widget-v1.yaml"))
        _job_of_cronjob(c)
        charts = FIXTURES / "charts"
        c.helm("install", "shop", str(charts / "shop"), "-n", "shop", "-f", str(FIXTURES / "shop-values.yaml"))
        c.helm("upgrade", "shop", str(charts / "shop"), "-n", "shop", "-f", str(FIXTURES / "shop-values.yaml"),
               "--set", "replicaCount=2")
        c.helm("install", "metrics-server", str(charts / "metrics-server"), "-n", "monitoring",
               "--set", "remote.token=PLANTED-helm-token-7", "--set", "args={--kubelet-insecure-tls}",
               driver="configmap")
        c.helm("install", "broken", str(charts / "broken"), "-n", "webhook-system", ok=False)  # status: failed
        c.kubectl("apply", "-f", str(FIXTURES / "cluster" / "05-webhooks.yaml"))
        c.kubectl("apply", "-f", str(FIXTURES / "cluster" / "06-apiservice.yaml"))
        try:
            yield c
        finally:
            cp.stop_in_order()


def _job_of_cronjob(c: Cluster) -> None:
    """A Job as the CronJob controller would have created it (owned by the CronJob): not ours to recreate."""
    cronjob = json.loads(c.kubectl("get", "cronjob", "nightly", "-n", "shop", "-o", "json"))
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": "nightly-28000000", "namespace": "shop",
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly",
                "uid": cronjob["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": cronjob["spec"]["jobTemplate"]["spec"],
    }
    path = c.workdir / "owned-job.json"
    path.write_text(json.dumps(job))
    c.kubectl("create", "-f", str(path))


@pytest.fixture(scope="module")
def admin_text(cluster: Cluster) -> str:
    return dump(take_snapshot(cluster.kubeconfig))


@pytest.fixture(scope="module")
def snap(admin_text: str) -> Snapshot:
    return loads(admin_text, "admin.yaml")


def _objects(s: Snapshot, kind: str) -> dict[str, dict[str, Any]]:
    return {
        f"{o['metadata'].get('namespace', '')}/{o['metadata']['name']}": o for o in s.objects if o["kind"] == kind
    }


def _fixture_docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]


# -- what was installed comes back, field by field -------------------------------------------------------------


def test_server_version_and_nodes(cluster: Cluster, snap: Snapshot) -> None:
    assert snap.server_version == cluster.bins.version.tag
    assert snap.source["context"] == "bare"
    installed = _fixture_docs("nodes.yaml")[0]["items"]
    assert [n.name for n in snap.nodes] == ["control-plane-1", "node-1"]
    for node, spec in zip(snap.nodes, installed, strict=True):
        info = spec["status"]["nodeInfo"]
        assert node.kubelet_version == info["kubeletVersion"]
        assert node.kube_proxy_version == info["kubeProxyVersion"]
        assert node.os_image == info["osImage"]
        assert node.container_runtime == info["containerRuntimeVersion"]
        assert node.capacity == spec["status"]["capacity"]
        assert node.taints == spec["spec"]["taints"]
        expected_labels = dict(spec["metadata"]["labels"], **{"kubernetes.io/hostname": node.name})
        assert node.labels == expected_labels
    assert [n.control_plane for n in snap.nodes] == [True, False]
    assert "ip-10-0-0" not in dump(Snapshot(server_version="", nodes=snap.nodes))  # no names or addresses


def test_control_plane_flags(snap: Snapshot) -> None:
    cp = snap.control_plane
    assert cp.visible and cp.source == "static-pods,kubeadm-config"
    docs = {d["metadata"]["name"]: d for d in _fixture_docs("control-plane.yaml")}
    assert cp.apiserver_args == docs["kube-apiserver-cp-1"]["spec"]["containers"][0]["command"][1:]
    assert cp.controller_manager_args == docs["kube-controller-manager-cp-1"]["spec"]["containers"][0]["command"][1:]
    assert cp.scheduler_args == []
    assert cp.feature_gates == {"InPlacePodVerticalScaling": True, "SidecarContainers": False}
    assert cp.admission_plugins == ["NodeRestriction", "PodSecurity"]
    assert cp.kubeadm_feature_gates == {"EtcdLearnerMode": True}


def test_helm_releases_both_drivers_highest_deployed_revision(cluster: Cluster, snap: Snapshot) -> None:
    releases = {(r.namespace, r.name): r for r in snap.helm_releases}
    assert set(releases) == {("shop", "shop"), ("monitoring", "metrics-server"), ("webhook-system", "broken")}
    broken = releases[("webhook-system", "broken")]  # never deployed: kept at its highest revision, status said
    assert (broken.revision, broken.status, broken.storage, broken.chart) == (1, "failed", "secret", "broken")
    shop = releases[("shop", "shop")]
    chart = yaml.safe_load((FIXTURES / "charts" / "shop" / "Chart.yaml").read_text())
    assert (shop.chart, shop.chart_version, shop.app_version, shop.kube_version) == (
        chart["name"], chart["version"], chart["appVersion"], chart["kubeVersion"]
    )
    assert (shop.revision, shop.status, shop.storage) == (2, "deployed", "secret")
    assert shop.description == "Upgrade complete"
    assert shop.values == {
        "database": {"host": "db.shop.svc", "password": "<redacted>"}, "apiKey": "<redacted>", "replicaCount": 2,
    }
    rendered = cluster.helm("get", "manifest", "shop", "-n", "shop")
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(shop.manifest) if d)
    assert kinds == sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    deployment = next(d for d in yaml.safe_load_all(shop.manifest) if d and d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2  # revision 2's manifest, not the superseded revision 1
    # the rendered manifest is kept byte for byte where there is nothing to redact
    service_doc = next(p for p in rendered.split("\n---\n") if "kind: Service\n" in p)
    assert service_doc.strip() in shop.manifest

    metrics = releases[("monitoring", "metrics-server")]
    assert (metrics.chart, metrics.chart_version, metrics.app_version) == ("metrics-server", "3.12.1", "0.7.1")
    assert (metrics.revision, metrics.status, metrics.storage, metrics.kube_version) == (1, "deployed", "configmap", "")
    assert metrics.values == {"remote": {"token": "<redacted>"}, "args": ["--kubelet-insecure-tls"]}
    history = json.loads(cluster.helm("history", "shop", "-n", "shop", "-o", "json"))
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]


def test_crds_webhooks_apiservices(snap: Snapshot) -> None:
    (crd,) = snap.crds
    installed = _fixture_docs("cluster/03-crd-v1-storage.yaml")[0]["spec"]
    assert (crd.name, crd.group, crd.kind, crd.scope) == ("widgets.example.com", "example.com", "Widget", "Namespaced")
    assert [(v["name"], v["served"], v["storage"], v["deprecated"]) for v in crd.versions] == [
        (v["name"], v["served"], v["storage"], v.get("deprecated", False)) for v in installed["versions"]
    ]
    assert crd.versions[0]["deprecation_warning"] == installed["versions"][0]["deprecationWarning"]
    assert crd.stored_versions == ["v1beta1", "v1"]

    hooks = {w.name: w for w in snap.webhooks}
    docs = {d["metadata"]["name"]: d for d in _fixture_docs("cluster/05-webhooks.yaml")}
    for config_name, kind in (("widget-validator", "validating"), ("widget-defaulter", "mutating")):
        spec = docs[config_name]["webhooks"][0]
        hook = hooks[spec["name"]]
        assert (hook.configuration, hook.type) == (config_name, kind)
        assert hook.failure_policy == spec["failurePolicy"]
        assert hook.timeout_seconds == spec["timeoutSeconds"]
        assert hook.admission_review_versions == spec["admissionReviewVersions"]
        assert hook.side_effects == spec["sideEffects"]
        for rule, want in zip(hook.rules, spec["rules"], strict=True):
            assert {k: rule[k] for k in want} == want
    assert hooks["validate.widgets.example.com"].service == "webhook-system/widget-webhook:8443/validate"
    assert hooks["validate.widgets.example.com"].url == ""
    assert hooks["default.widgets.example.com"].url == "https://webhook.example.com/mutate"
    assert hooks["default.widgets.example.com"].match_policy == "Exact"

    services = {a["name"]: a for a in snap.api_services}
    assert services["v1beta1.metrics.k8s.io"] == {
        "name": "v1beta1.metrics.k8s.io", "group": "metrics.k8s.io", "version": "v1beta1",
        "service": "monitoring/metrics-server:443", "local": False,
    }
    assert services["v1.apps"]["local"] is True
    recreated = _objects(snap, "APIService")
    assert list(recreated) == ["/v1beta1.metrics.k8s.io"]  # local APIServices are the apiserver's own


def test_workloads_and_addons(snap: Snapshot) -> None:
    workloads = {(w.kind, w.namespace, w.name): w for w in snap.workloads}
    assert workloads[("DaemonSet", "monitoring", "log-agent")].images == ["busybox:1.36", "fluent/fluent-bit:2.2.0"]
    assert workloads[("StatefulSet", "shop", "db")].images == ["postgres:15.4"]
    assert workloads[("CronJob", "shop", "nightly")].images == ["busybox:1.36"]
    assert workloads[("Job", "shop", "migrate")].images == ["registry.example.com/shop/migrate:2.0.1"]
    assert workloads[("Deployment", "shop", "worker")].replicas == 3
    assert workloads[("Deployment", "shop", "shop-web")].images == ["registry.example.com/shop/web:2.0.1"]
    assert ("Job", "shop", "nightly-28000000") not in workloads  # owned by the CronJob

    addons = {(a.name, a.namespace): a for a in snap.addons}
    coredns = addons[("coredns", "kube-system")]
    assert (coredns.version, coredns.detected_by) == ("v1.10.1", "image-tag")
    assert coredns.workload == "Deployment/kube-system/coredns"
    nginx = addons[("ingress-nginx", "ingress-nginx")]
    assert (nginx.version, nginx.detected_by) == ("1.9.4", "label")
    metrics = addons[("metrics-server", "monitoring")]
    assert (metrics.version, metrics.detected_by) == ("0.7.1", "helm-chart")
    assert metrics.images == ["registry.k8s.io/metrics-server/metrics-server:v0.7.1"]
    shop = addons[("shop", "shop")]
    assert (shop.version, shop.detected_by, shop.workload) == ("2.0.1", "helm-chart", "Deployment/shop/shop-web")


def test_objects_are_sanitized_for_recreation(snap: Snapshot) -> None:
    for obj in snap.objects:
        meta = obj["metadata"]
        assert "status" not in obj
        for key in ("uid", "resourceVersion", "managedFields", "creationTimestamp", "generation", "ownerReferences"):
            assert key not in meta, (obj["kind"], meta["name"], key)
    namespaces = _objects(snap, "Namespace")
    assert {"/shop", "/monitoring", "/ingress-nginx", "/webhook-system"} <= set(namespaces)
    assert not {"/default", "/kube-system", "/kube-public", "/kube-node-lease"} & set(namespaces)
    assert "shop/db" in _objects(snap, "Service")
    service = _objects(snap, "Service")["shop/db"]
    assert "clusterIP" not in service["spec"] and "clusterIPs" not in service["spec"]
    assert "default/kubernetes" not in _objects(snap, "Service")
    jobs = _objects(snap, "Job")
    assert "shop/migrate" in jobs and "shop/nightly-28000000" not in jobs
    assert "selector" not in jobs["shop/migrate"]["spec"]
    assert not any("controller-uid" in k for k in jobs["shop/migrate"]["spec"]["template"]["metadata"]["labels"])
    secrets = _objects(snap, "Secret")
    assert set(secrets) == {"shop/payment-gateway", "shop/shop-db"}  # no SA token, no Helm storage
    assert secrets["shop/payment-gateway"]["data"] == {"api-token": "", "endpoint": ""}
    assert secrets["shop/payment-gateway"]["metadata"]["annotations"]["rehearse.dev/redacted"] == "true"
    configmaps = _objects(snap, "ConfigMap")
    assert "shop/settings" in configmaps and "monitoring/sh.helm.release.v1.metrics-server.v1" not in configmaps
    assert not any(k.endswith("/kube-root-ca.crt") or k == "kube-system/kubeadm-config" for k in configmaps)
    settings = configmaps["shop/settings"]["data"]
    assert settings["color"] == "blue" and settings["db-password"] == "<redacted>"
    assert settings["smtp.conf"] == "host=smtp.example.com\nuser=shop\npassword=<redacted>\n"
    service_accounts = _objects(snap, "ServiceAccount")
    assert "shop/shop-batch" in service_accounts and not any(k.endswith("/default") for k in service_accounts)
    assert set(_objects(snap, "ClusterRole")) == {"/widget-editor"}
    assert set(_objects(snap, "ClusterRoleBinding")) == {"/widget-editor"}
    assert set(_objects(snap, "PriorityClass")) == {"/shop-critical"}
    for kind, key in (("Role", "shop/batch-reader"), ("RoleBinding", "shop/batch-reader"),
                      ("PodDisruptionBudget", "shop/db"), ("PodDisruptionBudget", "shop/shop-web"),
                      ("HorizontalPodAutoscaler", "shop/worker"), ("Ingress", "shop/shop"),
                      ("IngressClass", "/nginx"), ("NetworkPolicy", "shop/db-from-shop"), ("StorageClass", "/fast"),
                      ("CustomResourceDefinition", "/widgets.example.com"), ("CronJob", "shop/nightly"),
                      ("ValidatingWebhookConfiguration", "/widget-validator"),
                      ("MutatingWebhookConfiguration", "/widget-defaulter"), ("DaemonSet", "monitoring/log-agent"),
                      ("StatefulSet", "shop/db")):
        assert key in _objects(snap, kind), (kind, key)
    # the production manifest as written stays with the object
    worker = _objects(snap, "Deployment")["shop/worker"]
    applied = json.loads(worker["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["spec"]["replicas"] == 3 and applied["apiVersion"] == "apps/v1"


def test_api_usage_records_versions_as_written(snap: Snapshot) -> None:
    usage = {(u.api_version, u.kind, u.namespace, u.name, u.source) for u in snap.api_usage}
    assert ("autoscaling/v1", "HorizontalPodAutoscaler", "shop", "worker", "managedFields") in usage
    assert ("autoscaling/v1", "HorizontalPodAutoscaler", "shop", "worker", "last-applied") in usage
    assert ("example.com/v1beta1", "Widget", "shop", "old-widget", "managedFields") in usage
    assert ("example.com/v1beta1", "Widget", "shop", "old-widget", "last-applied") in usage
    assert ("example.com/v1", "Widget", "shop", "new-widget", "managedFields") in usage
    assert ("policy/v1", "PodDisruptionBudget", "shop", "shop-web", "helm-manifest") in usage
    assert ("apps/v1", "Deployment", "monitoring", "metrics-server", "helm-manifest") in usage
    assert ("v1", "Namespace", None, "shop", "last-applied") in usage
    assert ("apps/v1", "Deployment", "shop", "shop-web", "managedFields") in usage
    # not recreated (its CronJob will), but the API version its writer used still counts
    assert ("batch/v1", "Job", "shop", "nightly-28000000", "managedFields") in usage
    assert not [u for u in usage if u[3] in ("kube-root-ca.crt", "system:node", "default")]


def test_planted_secrets_are_never_written(admin_text: str) -> None:
    for planted in PLANTED:
        assert planted not in admin_text, planted
        assert base64.b64encode(planted.encode()).decode() not in admin_text, planted
    assert "<redacted>" in admin_text


def test_same_cluster_same_bytes(cluster: Cluster, admin_text: str, tmp_path: Path) -> None:
    progress = RecordingProgress()
    again = dump(take_snapshot(cluster.kubeconfig, progress=progress))
    assert again == admin_text
    assert dump(loads(admin_text, "x.yaml")) == admin_text
    updates = [m for kind, m in progress.messages if kind == "update"]
    for resource in ("deployments", "secrets", "customresourcedefinitions", "widgets.example.com"):
        assert any(m.startswith(f"{resource}: ") for m in updates), resource
    path = tmp_path / "snap.yaml"
    path.write_text(admin_text)
    assert load(path).server_version == cluster.bins.version.tag


def test_small_pages_give_the_same_snapshot(
    cluster: Cluster, admin_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.snapshot import _reader

    monkeypatch.setattr(_reader, "PAGE", 2)  # every list takes several pages, joined by continue tokens
    assert dump(take_snapshot(cluster.kubeconfig)) == admin_text


def test_cli_writes_file_and_shows_progress(cluster: Cluster, admin_text: str, tmp_path: Path) -> None:
    out = tmp_path / "prod.yaml"
    result = rehearse("snapshot", "--kubeconfig", str(cluster.kubeconfig), "--context", "bare", "-o", str(out), "-v")
    assert result.returncode == 0, result.stderr
    assert out.read_text() == admin_text
    assert result.stdout == ""
    for resource in ("deployments: ", "customresourcedefinitions: ", "helm secrets: ", "helm secrets in shop: "):
        assert resource in result.stderr, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["prod.yaml"]  # no partial file left behind
    to_stdout = rehearse("snapshot", "--kubeconfig", str(cluster.kubeconfig), "-q")
    assert to_stdout.returncode == 0 and to_stdout.stdout == admin_text


def test_cli_input_errors_are_one_line(cluster: Cluster, tmp_path: Path) -> None:
    result = rehearse("snapshot", "--kubeconfig", str(cluster.kubeconfig), "--context", "prod-eu")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "'prod-eu'" in lines[0] and "bare" in lines[0]
    bad_token = cluster.cp.kubeconfig(tmp_path / "bad.kubeconfig", token="not-a-token")
    result = rehearse("snapshot", "--kubeconfig", str(bad_token))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "401" in lines[0], result.stderr


# -- read-only, view-only identity, audited ------------------------------------------------------------------


def _aggregate_view_role(c: Cluster) -> None:
    """Do what kube-controller-manager's clusterrole-aggregation controller does (no controller runs here)."""
    roles = json.loads(c.kubectl("get", "clusterroles", "-l", "rbac.authorization.k8s.io/aggregate-to-view=true",
                                 "-o", "json"))
    rules = [r for role in roles["items"] for r in role.get("rules") or []]
    view = json.loads(c.kubectl("get", "clusterrole", "view", "-o", "json"))
    view["rules"] = rules
    path = c.workdir / "view.json"
    path.write_text(json.dumps(view))
    c.kubectl("replace", "-f", str(path))


def _token_kubeconfig(c: Cluster, path: Path) -> Path:
    client, api = c.api()
    try:
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                      expiration_seconds=3600))
        token = client.CoreV1Api(api).create_namespaced_service_account_token("snapshotter", "rehearse-ro", request)
    finally:
        api.close()
    return c.cp.kubeconfig(path, token=token.status.token)


def _verbs_of(audit_log: Path, user: str) -> list[str]:
    verbs = []
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        if event.get("user", {}).get("username") == user:
            verbs.append(event["verb"])
    return verbs


def _wait_for_audit(audit_log: Path, user: str, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    verbs = _verbs_of(audit_log, user)
    while len(verbs) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        verbs = _verbs_of(audit_log, user)
    return verbs


def test_view_only_identity_reads_without_writing(cluster: Cluster, tmp_path: Path) -> None:
    _aggregate_view_role(cluster)
    cluster.kubectl("apply", "-f", str(FIXTURES / "readonly-rbac.yaml"))
    kubeconfig = _token_kubeconfig(cluster, tmp_path / "ro.kubeconfig")

    out = tmp_path / "ro.yaml"
    result = rehearse("snapshot", "--kubeconfig", str(kubeconfig), "-o", str(out))
    assert result.returncode == 0, result.stderr
    ro = load(out)
    assert "secrets (forbidden)" in ro.not_readable
    assert "helm releases stored in secrets (forbidden)" in ro.not_readable
    assert "widgets.example.com (forbidden)" in ro.not_readable  # view does not cover custom resources
    assert "not readable: secrets (forbidden)" in result.stderr
    assert [r.name for r in ro.helm_releases] == ["metrics-server"]  # ConfigMap storage: readable
    assert not _objects(ro, "Secret")
    assert ro.crds and ro.webhooks and ro.nodes and ro.control_plane.visible
    text = out.read_text()
    assert not [p for p in PLANTED if p in text]

    verbs = _wait_for_audit(cluster.cp.audit_log, SA_USER, 20)
    assert "list" in verbs
    assert set(verbs) <= {"get", "list"}, sorted(set(verbs))
    assert not WRITE_VERBS & set(verbs)
    # the identity is really refused writes (the snapshot did not merely happen not to try)
    client, ro_api = cluster.api(kubeconfig)
    try:
        with pytest.raises(client.exceptions.ApiException) as refused:
            client.CoreV1Api(ro_api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="nope")))
        assert refused.value.status == 403
    finally:
        ro_api.close()

    # second run: the identity may list Secrets; still no secret value and still no write
    cluster.kubectl("apply", "-f", str(FIXTURES / "readonly-secrets.yaml"))
    before = len(_verbs_of(cluster.cp.audit_log, SA_USER))
    out2 = tmp_path / "ro-secrets.yaml"
    result = rehearse("snapshot", "--kubeconfig", str(kubeconfig), "-o", str(out2))
    assert result.returncode == 0, result.stderr
    ro2 = load(out2)
    assert not [n for n in ro2.not_readable if n.startswith(("secrets", "helm releases"))]
    assert {r.name for r in ro2.helm_releases} == {"metrics-server", "shop", "broken"}
    assert _objects(ro2, "Secret")["shop/payment-gateway"]["data"] == {"api-token": "", "endpoint": ""}
    text = out2.read_text()
    for planted in PLANTED:
        assert planted not in text and base64.b64encode(planted.encode()).decode() not in text, planted
    verbs = _wait_for_audit(cluster.cp.audit_log, SA_USER, before + 20)[before:]
    assert "list" in verbs and set(verbs) <= {"get", "list"}, sorted(set(verbs))
