"""The done-when test of issue 16 on the local provider: a real client process, with the token of its own service
account, lists an API the hop removes while the rehearsal runs. The audit log attributes it to the Deployment that
runs as that account: a ``calls-removed-api`` finding before the hop, its caller check ``broke`` after it; a
Deployment that calls nothing is not named, and the harness's own calls (its re-apply dry runs) are not counted."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.rehearsal._run import leftovers, rehearse, report

pytestmark = pytest.mark.slow

SCENARIO = """\
schema: rehearse/scenario/v1
name: hpa-reader
from: "1.25"
to: "1.26"
nodes: [{name: worker-1}]
manifests: [objects.yaml]
checks:
  - id: hpa-reader-client
    description: a real client, as ServiceAccount metrics/hpa-reader, lists HPAs at autoscaling/v2beta2
    type: pytest
    file: test_client.py
    timeout: 60
"""

OBJECTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: metrics}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: hpa-reader, namespace: metrics}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: quiet, namespace: metrics}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: hpa-reader}
rules: [{apiGroups: [autoscaling], resources: [horizontalpodautoscalers], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: hpa-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: hpa-reader}
subjects: [{kind: ServiceAccount, name: hpa-reader, namespace: metrics}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hpa-reader, namespace: metrics}
spec:
  replicas: 1
  selector: {matchLabels: {app: hpa-reader}}
  template:
    metadata: {labels: {app: hpa-reader}}
    spec:
      serviceAccountName: hpa-reader
      containers: [{name: reader, image: registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.6.0}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: quiet, namespace: metrics}
spec:
  replicas: 1
  selector: {matchLabels: {app: quiet}}
  template:
    metadata: {labels: {app: quiet}}
    spec:
      serviceAccountName: quiet
      containers: [{name: app, image: registry.k8s.io/pause:3.9}]
"""

# The scenario's pytest check: a token for the service account through the TokenRequest API (the harness's admin
# client), then a separate process -- its own user agent, that token, nothing of rehearse -- lists the HPAs the
# way kube-state-metrics v2.6.0 does. The check passes whatever the answer: judging the answer is the audit
# log's job, not this check's.
CLIENT = '''\
from __future__ import annotations

import subprocess
import sys

import yaml
from kubernetes import client

PROGRAM = """
import ssl, sys, urllib.error, urllib.request
server, ca, token = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
req = urllib.request.Request(server + "/apis/autoscaling/v2beta2/horizontalpodautoscalers",
                             headers={"Authorization": "Bearer " + token, "User-Agent": "hpa-reader/1.0"})
try:
    print(urllib.request.urlopen(req, context=ctx, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""


def test_client_lists_hpas_as_its_service_account(kube, kubeconfig):
    token = client.CoreV1Api(kube).create_namespaced_service_account_token(
        "hpa-reader", "metrics", {"spec": {"expirationSeconds": 600}}).status.token
    cfg = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", PROGRAM, cfg["server"], cfg["certificate-authority"], token],
                             capture_output=True, text=True, check=True, timeout=30, env={})
        assert out.stdout.strip() in ("200", "404"), out.stdout + out.stderr
'''


def test_removed_api_called_by_a_real_client_is_attributed_then_broke(tmp_path: Path) -> None:
    (tmp_path / "hpa-reader.yaml").write_text(SCENARIO)
    (tmp_path / "objects.yaml").write_text(OBJECTS)
    (tmp_path / "test_client.py").write_text(CLIENT)
    out = rehearse("run", "--scenario", str(tmp_path / "hpa-reader.yaml"), "--provider", "local",
                   "--report-dir", str(tmp_path / "r"), state=tmp_path / "s")
    assert out.returncode == 1, out.stdout + out.stderr
    doc = report(tmp_path / "r")
    checks = {c["id"]: c for c in doc["checks"]}
    assert checks["hpa-reader-client"]["classification"] == "ok"  # the client ran before and after

    # before the hop: the Deployment running as that account, named, with what it called and the fix
    calls = [f for f in doc["findings"] if f["kind"] == "calls-removed-api"]
    assert [(f["object"]["kind"], f["object"]["namespace"], f["object"]["name"]) for f in calls] == [
        ("Deployment", "metrics", "hpa-reader")], calls
    found = calls[0]
    assert found["severity"] == "blocker" and found["evidence"] == "observed"
    assert found["hop"] == f"{doc['from']}→{doc['to']}"
    assert "list autoscaling/v2beta2 horizontalpodautoscalers, removed in 1.26: 3 requests" in found["cause"]
    assert "ServiceAccount metrics/hpa-reader" in found["cause"]
    assert "autoscaling/v2 horizontalpodautoscalers" in found["fix"]

    # after the hop: the same caller's call, answered before, fails -- its check broke, with the request line
    check = checks["api-calls/Deployment/metrics/hpa-reader"]
    assert check["classification"] == "broke" and check["evidence"] == "observed"
    assert "list /apis/autoscaling/v2beta2/horizontalpodautoscalers → 404" in check["after"]["message"]
    assert check["before"]["outcome"] == "pass"
    assert not [c for c in checks if c.startswith("api-calls/") and "quiet" in c]  # it made no request

    # the per-caller summary and the audit log in the report directory, owner-only
    summary = json.loads((tmp_path / "r" / "api-callers.json").read_text())
    reader = next(c for c in summary["callers"] if c["name"] == "hpa-reader")
    assert reader["user_agents"] == ["hpa-reader/1.0"]
    row = next(r for r in reader["calls"] if r["apiVersion"] == "autoscaling/v2beta2")
    assert row["before"] == 3 and row["failed_after"] == 3 and row["removed_by_hop"] == found["hop"]
    assert not any(a.startswith("rehearse/") for c in summary["callers"] for a in c["user_agents"])
    audit = tmp_path / "r" / "audit.log"
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    assert '"userAgent":"hpa-reader/1.0"' in audit.read_text()
    assert any("kwok's pods run no code" in n for n in doc["notes"])
    assert not leftovers(tmp_path / "s")
