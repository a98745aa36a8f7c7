"""Drift, restarts and storage versions judged from readings (the objects as a real apiserver lists them; the
shapes below are what ``GET /apis/apps/v1/deployments`` and ``…/customresourcedefinitions`` return, trimmed), and
the audit log's attribution rules on events in the form kube-apiserver's log backend writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from harness.observe._audit import Attribution, AuditLog
from harness.observe.readback import Reading, drift_findings, restart_findings, storage_findings

HOP = "1.27.16→1.28.15"


def _deployment(revision: str, generation: int, **template_extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "shop", "generation": generation, "resourceVersion": "7",
                         "uid": "u1", "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "nginx",
                                                                          **template_extra}]}}},
            "status": {"replicas": 2}}


def _reading(label: str, *deployments: dict[str, Any]) -> Reading:
    key = ("apps", "Deployment")
    return Reading(label, {key: {("shop", d["metadata"]["name"]): d for d in deployments}}, recreated={key})


def test_a_rollout_with_no_change_written_is_the_upgrades_restart_with_its_template_fields() -> None:
    before = _reading("before", _deployment("1", 1))
    after = _reading("after", _deployment("2", 1, terminationMessagePolicy="File"))
    [found] = restart_findings([before, after], [HOP], simulated_pods=True)
    assert found.kind == "upgrade-restarts" and found.hop == HOP and found.object.name == "web"
    assert "revision 1 → 2" in found.cause
    assert "added spec.template.spec.containers[app].terminationMessagePolicy" in found.cause
    # a new revision because someone wrote a new spec (generation moved) is not the upgrade's
    assert restart_findings([before, _reading("after", _deployment("2", 2))], [HOP], simulated_pods=True) == []


def test_drift_lists_fields_per_kind_and_ignores_bookkeeping() -> None:
    old = _deployment("1", 1)
    same = copy.deepcopy(old)
    same["metadata"].update(resourceVersion="99", managedFields=[{"manager": "x"}])
    same["status"] = {"replicas": 1}
    same["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    assert drift_findings([_reading("a", old), _reading("b", same)], [HOP]) == []
    changed = copy.deepcopy(old)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    changed["spec"]["progressDeadlineSeconds"] = 600
    [drift] = drift_findings([_reading("a", old), _reading("b", changed)], [HOP])
    assert drift.severity == "info" and drift.object.kind == "Deployment" and drift.hop == HOP
    assert "added spec.progressDeadlineSeconds (1 object)" in drift.cause
    assert "changed spec.template.spec.containers[*].image (1 object)" in drift.cause


def test_crd_with_a_stored_version_that_is_not_the_storage_version_is_listed() -> None:
    crd = {"metadata": {"name": "widgets.example.com"},
           "spec": {"versions": [{"name": "v1alpha1", "storage": False, "deprecated": True},
                                 {"name": "v1", "storage": True}]},
           "status": {"storedVersions": ["v1alpha1", "v1"]}}
    key = ("apiextensions.k8s.io", "CustomResourceDefinition")
    [found] = storage_findings(Reading("x", {key: {("", "widgets.example.com"): crd}}))
    assert found.kind == "storage-version" and "v1alpha1 (deprecated)" in found.cause
    crd["status"]["storedVersions"] = ["v1"]
    assert storage_findings(Reading("x", {key: {("", "widgets.example.com"): crd}})) == []


def _event(user: str, agent: str, code: int = 200, **ref: str) -> dict[str, Any]:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
            "requestURI": "/apis/autoscaling/v2beta2/horizontalpodautoscalers", "verb": "list",
            "user": {"username": user}, "userAgent": agent, "responseStatus": {"code": code},
            "objectRef": {"resource": "horizontalpodautoscalers", "apiGroup": "autoscaling", "apiVersion": "v2beta2",
                          **ref},
            "stageTimestamp": "2026-01-01T00:00:00Z", "annotations": {"k8s.io/deprecated": "true"}}


def test_attribution_by_service_account_then_user_agent_and_exclusions(tmp_path: Path) -> None:
    objects = [{"kind": "Deployment", "metadata": {"name": "kube-state-metrics", "namespace": "mon"},
                "spec": {"template": {"spec": {"serviceAccountName": "ksm"}}}}]
    log = tmp_path / "audit.log"
    events = [_event("system:serviceaccount:mon:ksm", "kube-state-metrics/v2.6.0"),
              _event("admin", "kube-state-metrics/v2.6.0"),  # another identity, the same program
              _event("admin", "rehearse/0.1.0"),  # the harness
              _event("admin", "kube-controller-manager/v1.27.16 (linux/amd64)"),  # the control plane
              _event("system:serviceaccount:kube-system:namespace-controller", "x/1"),
              _event("bob", "kubectl/v1.27")]
    log.write_text("".join(json.dumps(e) + "\n" for e in events) + '{"kind": "Ev')  # the last line is unfinished
    reader, attribution = AuditLog(log), Attribution.of(objects)
    names = [[str(c) for c in attribution.caller_of(r)] for r in reader.read()]
    assert names == [["Deployment mon/kube-state-metrics"], ["Deployment mon/kube-state-metrics"], [], [], [],
                     ["User bob"]]
    with log.open("a") as fh:
        fh.write('ent"}\n')  # completed: read once, as a line that is no request
    assert reader.read() == [] and reader.events == len(events) + 1


def test_a_failure_while_the_api_server_restarts_is_not_breakage() -> None:
    """Seen on kind: local-path-provisioner's list got one 500 while the apiserver restarted under kubeadm, then
    answered again. Only a call whose latest answer after the upgrade is a failure is broken."""
    from harness.observe._audit import Caller, Request
    from harness.observe.calls import _check, _Seen

    def req(code: int, at: str) -> Request:
        return Request(user="system:serviceaccount:local-path-storage:local-path-provisioner-service-account",
                       agent="local-path-provisioner/v0.0.0", verb="list", group="", version="v",
                       resource="persistentvolumeclaims", namespace="", name="", uri="/api/v1/persistentvolumeclaims",
                       code=code, time=at, deprecated=False, removed_release="")

    caller = Caller("Deployment", "local-path-storage", "local-path-provisioner")
    blip = _Seen(caller, before=[req(200, "t1")], after=[req(500, "t2"), req(200, "t3")])
    assert _check(blip, upgraded=True)[2].outcome == "pass"
    broken = _Seen(caller, before=[req(200, "t1")], after=[req(200, "t2"), req(404, "t3")])
    after = _check(broken, upgraded=True)[2]
    assert after.outcome == "fail" and "404" in after.message
