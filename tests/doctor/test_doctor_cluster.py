"""`rehearse doctor --kubeconfig` against a real kube-apiserver (1.28, RBAC, audit log at Metadata level): as a
view-only ServiceAccount (the built-in ``view`` ClusterRole), as admin, and with a rejected token. The audit log
proves what doctor asked: GETs and lists alone, the forbidden ones exactly those it reports, no review API."""

from __future__ import annotations

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

from harness.binaries import BinarySet
from harness.binaries.bare import BareControlPlane, bare_control_plane
from harness.kube import api_client

pytestmark = pytest.mark.slow

VIEWER = "system:serviceaccount:doctor:viewer"


@dataclass
class Cluster:
    cp: BareControlPlane
    admin: Path
    viewer: Path


def _make_viewer(cp: BareControlPlane, admin: Path, path: Path) -> Path:
    """A ServiceAccount bound to the built-in ``view`` ClusterRole, and a kubeconfig with its token.

    No kube-controller-manager runs here, so ``view`` is first given what its aggregation controller would give it:
    the rules of every ClusterRole labelled ``aggregate-to-view``."""
    from kubernetes import client

    api = api_client(admin)
    try:
        rbac, core = client.RbacAuthorizationV1Api(api), client.CoreV1Api(api)
        parts = rbac.list_cluster_role(label_selector="rbac.authorization.k8s.io/aggregate-to-view=true").items
        view = rbac.read_cluster_role("view")
        view.rules = [rule for role in parts for rule in role.rules or []]
        rbac.replace_cluster_role("view", view)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="doctor")))
        core.create_namespaced_service_account("doctor", client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="viewer")))
        rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name="doctor-viewer"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="viewer", namespace="doctor")]))
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                      expiration_seconds=3600))
        token = core.create_namespaced_service_account_token("viewer", "doctor", request).status.token
    finally:
        api.close()
    return cp.kubeconfig(path, token=token)


@pytest.fixture(scope="module")
def cluster(bin128: BinarySet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("doctor-cluster")
    with bare_control_plane(bin128.directory, workdir / "cp", audit=True) as cp:
        admin = cp.kubeconfig()
        yield Cluster(cp, admin, _make_viewer(cp, admin, workdir / "viewer.kubeconfig"))


def doctor(kubeconfig: Path, tmp_path: Path) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    env = {**os.environ, "CI": "1", "DOCKER_HOST": f"unix://{tmp_path}/nobody.sock"}
    out = subprocess.run([sys.executable, "-m", "harness", "doctor", "--from", "1.27", "--to", "1.28",
                          "--provider", "local", "--kubeconfig", str(kubeconfig), "--json"],
                         capture_output=True, text=True, timeout=120, check=False, env=env)
    doc = json.loads(out.stdout)
    return out.returncode, doc, {r["check"]: r for r in doc["rows"]}


def _events(audit_log: Path, user: str) -> list[dict[str, Any]]:
    """The completed requests of ``user``, once the log holds as many as it had a moment ago (blocking mode
    writes before answering; this only waits out the file's buffering)."""
    def read() -> list[dict[str, Any]]:
        events = [json.loads(line) for line in audit_log.read_text().splitlines()]
        return [e for e in events if e["user"]["username"] == user and e["stage"] == "ResponseComplete"]

    seen, deadline = read(), time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.3)
        again = read()
        if len(again) == len(seen):
            return again
        seen = again
    return seen


def test_view_only_identity_only_gets_and_lists_and_sees_what_is_forbidden(
        cluster: Cluster, bin127: BinarySet, bin128: BinarySet, tmp_path: Path) -> None:
    rc, doc, rows = doctor(cluster.viewer, tmp_path)
    assert rc == 0, doc["first_missing"]  # forbidden types make a snapshot poorer, not impossible
    assert rows["cluster"]["state"] == "ok" and rows["cluster"]["detail"].endswith(f"Kubernetes {bin128.version.tag}")
    reads = rows["cluster reads"]
    forbidden = set(reads["data"]["forbidden"])
    assert reads["state"] == "forbidden"
    assert {"secrets", "nodes", "clusterroles", "customresourcedefinitions"} <= forbidden
    assert not {"configmaps", "deployments", "namespaces", "services"} & forbidden  # view reads these
    assert "kubectl create clusterrole rehearse-read --verb=get,list --resource=" in reads["remedy"]
    assert rows["cluster /metrics"]["state"] == "forbidden"

    events = _events(cluster.cp.audit_log, VIEWER)
    requests = rows["cluster"]["data"]["requests"]
    assert len(events) == len(requests)  # every request doctor made is in the log, and nothing else
    assert {e["verb"] for e in events} == {"get", "list"}
    assert not [e for e in events if "review" in e.get("objectRef", {}).get("resource", "")]
    refused = {e["objectRef"]["resource"] for e in events if e["responseStatus"]["code"] == 403 and "objectRef" in e}
    assert refused == forbidden
    metrics = [e for e in events if e["requestURI"] == "/metrics"]
    assert [(e["verb"], e["responseStatus"]["code"]) for e in metrics] == [("get", 403)]
    lists = [e for e in events if e["verb"] == "list"]
    assert lists and all("limit=1" in e["requestURI"] for e in lists)


def test_admin_reads_everything(cluster: Cluster, bin127: BinarySet, tmp_path: Path) -> None:
    rc, _, rows = doctor(cluster.admin, tmp_path)
    assert rc == 0
    assert rows["cluster reads"]["state"] == "ok" and not rows["cluster reads"]["data"]["forbidden"]
    assert rows["cluster /metrics"]["state"] == "ok"


def test_rejected_credentials_are_the_missing_piece(cluster: Cluster, bin127: BinarySet, tmp_path: Path) -> None:
    bad = cluster.cp.kubeconfig(tmp_path / "bad.kubeconfig", token="not-a-token")
    rc, doc, rows = doctor(bad, tmp_path)
    assert rc == 3 and doc["first_missing"]["check"] == "cluster"
    assert "rejects the credentials (401)" in rows["cluster"]["detail"]
    assert f"`kubectl --kubeconfig {bad} --context bare get --raw /version` must answer" in rows["cluster"]["remedy"]
