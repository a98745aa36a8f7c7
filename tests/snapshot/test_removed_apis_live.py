"""Every removal in 1.25, 1.26, 1.27 and 1.29 of a built-in API that stores objects users write (Events aside: they
are runtime records), as the knowledge lists them, end to end on real binaries: an object written (``kubectl
apply``) at the removed version on the last minor that serves it is taken by ``rehearse snapshot`` from a real
kube-apiserver, re-applied as written by ``rehearse run --provider local --snapshot …`` of the hop that removes it,
and reported ``broke`` (exit 1) with the replacement as the fix. The 1.27 hop is CSIStorageCapacity v1beta1, which a
fixed list of types used to miss (the rehearsal then passed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.binaries import BinarySet, ensure
from harness.binaries.bare import bare_control_plane
from harness.knowledge import load_knowledge
from harness.recreate import as_written
from harness.snapshot import load
from harness.versions import catalogue

pytestmark = pytest.mark.slow

NS = "legacy"
# (group/version, kind) → one object of it as a team wrote it (namespace "legacy" where namespaced), plus what it
# needs to be accepted.
WRITTEN: dict[tuple[str, str], str] = {
    ("batch/v1beta1", "CronJob"): """
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: report, namespace: legacy}
spec:
  schedule: "0 4 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: report, image: "busybox:1.36"}]
""",
    ("discovery.k8s.io/v1beta1", "EndpointSlice"): """
apiVersion: v1
kind: Service
metadata: {name: billing-db, namespace: legacy}
spec: {ports: [{name: pg, port: 5432}]}
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata:
  name: billing-db-1
  namespace: legacy
  labels: {kubernetes.io/service-name: billing-db}
addressType: IPv4
endpoints: [{addresses: [10.20.30.40]}]
ports: [{name: pg, port: 5432}]
""",
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"): """
apiVersion: autoscaling/v2beta1
kind: HorizontalPodAutoscaler
metadata: {name: api-v2beta1, namespace: legacy}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 2
  maxReplicas: 6
  metrics: [{type: Resource, resource: {name: cpu, targetAverageUtilization: 70}}]
""",
    ("policy/v1beta1", "PodDisruptionBudget"): """
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: api, namespace: legacy}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: api}}
""",
    ("policy/v1beta1", "PodSecurityPolicy"): """
apiVersion: policy/v1beta1
kind: PodSecurityPolicy
metadata: {name: restricted}
spec:
  privileged: false
  runAsUser: {rule: MustRunAsNonRoot}
  seLinux: {rule: RunAsAny}
  supplementalGroups: {rule: RunAsAny}
  fsGroup: {rule: RunAsAny}
  volumes: [configMap, secret, emptyDir, projected]
""",
    ("node.k8s.io/v1beta1", "RuntimeClass"): """
apiVersion: node.k8s.io/v1beta1
kind: RuntimeClass
metadata: {name: sandboxed}
handler: runsc
""",
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): """
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: api-v2beta2, namespace: legacy}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 2
  maxReplicas: 6
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]
""",
    ("flowcontrol.apiserver.k8s.io/v1beta1", "PriorityLevelConfiguration"): """
apiVersion: flowcontrol.apiserver.k8s.io/v1beta1
kind: PriorityLevelConfiguration
metadata: {name: batch-v1beta1}
spec:
  type: Limited
  limited: {assuredConcurrencyShares: 5, limitResponse: {type: Reject}}
""",
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"): """
apiVersion: flowcontrol.apiserver.k8s.io/v1beta1
kind: FlowSchema
metadata: {name: batch-v1beta1}
spec:
  priorityLevelConfiguration: {name: batch-v1beta1}
  matchingPrecedence: 5000
  rules:
    - subjects: [{kind: ServiceAccount, serviceAccount: {name: batch, namespace: legacy}}]
      resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"]}]
""",
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity"): """
apiVersion: storage.k8s.io/v1beta1
kind: CSIStorageCapacity
metadata: {name: fast-zone-a, namespace: legacy}
storageClassName: fast
capacity: 100Gi
nodeTopology: {matchLabels: {topology.kubernetes.io/zone: zone-a}}
""",
    ("flowcontrol.apiserver.k8s.io/v1beta2", "PriorityLevelConfiguration"): """
apiVersion: flowcontrol.apiserver.k8s.io/v1beta2
kind: PriorityLevelConfiguration
metadata: {name: batch-v1beta2}
spec:
  type: Limited
  limited: {assuredConcurrencyShares: 5, limitResponse: {type: Reject}}
""",
    ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema"): """
apiVersion: flowcontrol.apiserver.k8s.io/v1beta2
kind: FlowSchema
metadata: {name: batch-v1beta2}
spec:
  priorityLevelConfiguration: {name: batch-v1beta2}
  matchingPrecedence: 5000
  rules:
    - subjects: [{kind: ServiceAccount, serviceAccount: {name: batch, namespace: legacy}}]
      resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"]}]
""",
}
RUNTIME_RECORDS = {"Event"}  # removed too, but written by components, not users


def _removed_in(hop: str) -> list[tuple[str, str, str | None]]:
    """(group/version, kind, replacement) of every built-in API the knowledge says ``hop`` removes."""
    knowledge = load_knowledge()
    return sorted((a.group_version, a.kind, a.replacement) for a in knowledge.apis.values()
                  if a.removed_in == hop and a.kind not in RUNTIME_RECORDS)


def _run(*args: str, state: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, REHEARSE_STATE_DIR=str(state), CI="true")
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout,
                          check=False, env=env)


def _written(doc: dict[str, Any]) -> tuple[str, str, str | None, str]:
    return doc["apiVersion"], doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"]


@pytest.mark.parametrize(("last", "hop"), [("1.24", "1.25"), ("1.25", "1.26"), ("1.26", "1.27"), ("1.28", "1.29")])
def test_removed_api_written_on_the_last_minor_breaks_the_hop(
        last: str, hop: str, bin128: BinarySet, tmp_path: Path) -> None:
    removed = _removed_in(hop)
    assert removed, f"the knowledge lists no removal in {hop}"
    missing = [f"{gv} {kind}" for gv, kind, _ in removed if (gv, kind) not in WRITTEN]
    assert not missing, f"the knowledge lists removals in {hop} this test writes no object of: {missing}"
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "batch", "namespace": NS}}]
    for gv, kind, _ in removed:
        docs += [d for d in yaml.safe_load_all(WRITTEN[(gv, kind)]) if d]
    targets = [d for d in docs if (d["apiVersion"], d["kind"]) in {(gv, k) for gv, k, _ in removed}]
    manifest = tmp_path / "written.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))

    old = ensure(catalogue().resolve(last), ("kube-apiserver", "etcd"))
    snap_file = tmp_path / "prod.yaml"
    with bare_control_plane(old.directory, tmp_path / "prod") as cp:
        kubeconfig = cp.kubeconfig()
        out = subprocess.run([str(bin128.path("kubectl")), "--kubeconfig", str(kubeconfig), "apply", "-f",
                              str(manifest)], capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        taken = _run("snapshot", "--kubeconfig", str(kubeconfig), "-o", str(snap_file), state=tmp_path / "s0")
        assert taken.returncode == 0, taken.stderr
        cp.stop_in_order()

    snap = load(snap_file)
    held = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in snap.objects}
    for gv, kind, ns, name in map(_written, targets):
        obj = held.get((kind, ns, name))
        assert obj is not None, f"{kind} {name} is not in the snapshot"
        assert as_written(obj, snap)["apiVersion"] == gv, (kind, name)

    report_dir = tmp_path / "report"
    run = _run("run", "--provider", "local", "--snapshot", str(snap_file), "--from", last, "--to", hop,
               "--report-dir", str(report_dir), state=tmp_path / "s1")
    assert run.returncode == 1, run.stdout + run.stderr
    report = json.loads((report_dir / "report.json").read_text())
    checks = {c["id"]: c for c in report["checks"]}
    replacements = {(gv, kind): replacement for gv, kind, replacement in removed}
    knowledge = load_knowledge()
    for gv, kind, ns, name in map(_written, targets):
        check = checks[f"reapply/{kind}/{ns or '_cluster'}/{name}"]
        assert check["name"].endswith(f"re-applies as {gv}"), check["name"]
        outcomes = (check["before"]["outcome"], check["after"]["outcome"], check["classification"])
        assert outcomes == ("pass", "fail", "broke"), check
        found = [f for f in report["findings"] if f["kind"] == "removed-api" and f["evidence"] == "observed"
                 and (f["object"]["apiVersion"], f["object"]["kind"], f["object"]["name"]) == (gv, kind, name)]
        assert found, f"no observed removed-api finding for {gv} {kind} {name}"
        replacement = replacements[(gv, kind)]
        assert found[0]["fix"] == knowledge.fix_for(gv, kind)
        if replacement is not None:  # "rewrite as policy/v1", "… v1beta2 on 1.26–1.28 … (flowcontrol…)"
            assert replacement.rsplit("/", 1)[-1] in found[0]["fix"], found[0]["fix"]
