"""Which version a snapshot lists a resource at, who counts as an object's writer, and which version it was
written with: the rules, on documents shaped as the API server writes them (``GET /apis/policy/v1beta1`` of a 1.24
kube-apiserver answers an ``APIResourceList`` with ``resources: [{name, namespaced, kind, verbs}]``; managedFields
entries are ``{manager, operation, apiVersion, time, fieldsType, fieldsV1[, subresource]}``)."""

from __future__ import annotations

from typing import Any

from harness.snapshot._discovery import GroupInfo, choose, groups_of, version_priority
from harness.snapshot._writers import control_plane_reason, record_usage
from harness.snapshot.model import ApiUsage, written_version

LIST = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _resources(*entries: tuple[str, str, bool, list[str]]) -> dict[str, Any]:
    return {"kind": "APIResourceList", "resources": [
        {"name": n, "kind": k, "namespaced": ns, "verbs": v} for n, k, ns, v in entries]}


def test_version_order_is_kubernetes_order() -> None:
    versions = ["v1alpha1", "v2", "v1beta2", "v1", "v1beta1", "v2beta1", "v10", "foo"]
    assert sorted(versions, key=version_priority, reverse=True) == [
        "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]


def test_preferred_version_when_it_serves_the_resource_else_the_newest_that_does() -> None:
    # policy on 1.24: prefers v1 (PodDisruptionBudgets); PodSecurityPolicy is served by v1beta1 alone
    policy = groups_of({"groups": [{"name": "policy", "versions": [{"version": "v1"}, {"version": "v1beta1"}],
                                    "preferredVersion": {"version": "v1"}}]})[1]
    choice = choose(policy, {
        "v1": _resources(("poddisruptionbudgets", "PodDisruptionBudget", True, LIST),
                         ("poddisruptionbudgets/status", "PodDisruptionBudget", True, ["get", "patch", "update"])),
        "v1beta1": _resources(("poddisruptionbudgets", "PodDisruptionBudget", True, LIST),
                              ("podsecuritypolicies", "PodSecurityPolicy", False, LIST)),
    })
    assert [(t.resource, t.group_version, t.namespaced) for t in choice.types] == [
        ("poddisruptionbudgets", "policy/v1", True), ("podsecuritypolicies", "policy/v1beta1", False)]
    # newest of several non-preferred versions: beta over alpha
    admission = GroupInfo("admissionregistration.k8s.io", ("v1", "v1beta1", "v1alpha1"), "v1")
    vap = ("validatingadmissionpolicies", "ValidatingAdmissionPolicy", False, LIST)
    choice = choose(admission, {"v1": _resources(), "v1beta1": _resources(vap), "v1alpha1": _resources(vap)})
    assert [t.path for t in choice.types] == ["/apis/admissionregistration.k8s.io/v1beta1/validatingadmissionpolicies"]


def test_denied_and_create_only_resources_are_not_listed_and_listed_entries_say_what_they_keep() -> None:
    core = GroupInfo("", ("v1",), "v1")
    choice = choose(core, {"v1": _resources(
        ("events", "Event", True, LIST), ("bindings", "Binding", True, ["create"]),
        ("serviceaccounts/token", "TokenRequest", True, ["create"]), ("nodes", "Node", False, LIST),
        ("pods", "Pod", True, LIST), ("secrets", "Secret", True, LIST))})
    assert sorted(d.resource for d, _ in choice.denied) == ["bindings", "events", "serviceaccounts/token"]
    assert {t.resource: t.keeps for t in choice.types} == {"nodes": "facts", "pods": "unowned", "secrets": ""}
    secrets = next(t for t in choice.types if t.resource == "secrets")
    assert secrets.query == (("fieldSelector", "type!=helm.sh/release.v1"),)  # Helm's storage is read apart


def _fields(manager: str, api_version: str, time: str, subresource: str = "") -> dict[str, Any]:
    entry = {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": time,
             "fieldsType": "FieldsV1", "fieldsV1": {}}
    return {**entry, "subresource": subresource} if subresource else entry


def test_writers_of_record_leave_out_the_control_plane_rehearse_and_subresources() -> None:
    item = {"kind": "PodDisruptionBudget", "metadata": {
        "name": "web", "namespace": "shop",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                        '{"apiVersion":"policy/v1beta1","kind":"PodDisruptionBudget"}\n'},
        "managedFields": [
            _fields("kubectl-client-side-apply", "policy/v1beta1", "2021-03-01T10:00:00Z"),
            _fields("kube-controller-manager", "policy/v1", "2024-01-01T00:00:00Z", "status"),
            _fields("kube-controller-manager", "policy/v1", "2024-01-01T00:00:00Z"),
            _fields("rehearse", "policy/v1", "2024-02-01T00:00:00Z"),
            _fields("argocd-controller", "policy/v1", "2023-05-01T00:00:00Z", "status"),
        ]}}
    usage: set[Any] = set()
    record_usage(item, usage)
    assert usage == {
        ("policy/v1beta1", "PodDisruptionBudget", "shop", "web", "managedFields", "kubectl-client-side-apply",
         "2021-03-01T10:00:00Z"),
        ("policy/v1beta1", "PodDisruptionBudget", "shop", "web", "last-applied", "kubectl", "2021-03-01T10:00:00Z"),
    }


def test_objects_only_the_control_plane_wrote_are_its_own() -> None:
    def obj(*managers: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return {"metadata": {"name": "x", "labels": labels or {},
                             "managedFields": [_fields(m, "v1", "2024-01-01T00:00:00Z") for m in managers]}}

    assert control_plane_reason(obj("kube-controller-manager"), "") is not None  # kube-root-ca.crt and the like
    assert control_plane_reason(obj("api-priority-and-fairness-config-producer-v1"), "") is not None
    assert control_plane_reason(obj("kubectl-create", "kube-controller-manager"), "") is None
    assert control_plane_reason(obj("rehearse"), "") is None  # recreated by rehearse: still somebody's object
    assert control_plane_reason(obj(), "") is None  # no record at all (written before managedFields existed)
    slice_labels = {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert control_plane_reason(obj("kubectl-create", labels=slice_labels), "user-written") is not None
    assert control_plane_reason(obj("kubectl-create", labels=slice_labels), "") is None


def _use(version: str, source: str, time: str = "", kind: str = "CronJob") -> ApiUsage:
    return ApiUsage(version, kind, "shop", "nightly", source, "m", time)


def test_written_version_is_the_most_recent_write() -> None:
    older = _use("batch/v1beta1", "managedFields", "2021-01-01T00:00:00Z")
    newer = _use("batch/v1", "managedFields", "2023-01-01T00:00:00Z")
    applied = _use("batch/v1beta1", "last-applied", "2021-01-01T00:00:00Z")
    assert written_version([older, newer, applied], "batch/v1") == "batch/v1"
    assert written_version([older, applied], "batch/v1") == "batch/v1beta1"
    tie = _use("batch/v1", "managedFields", "2021-01-01T00:00:00Z")
    assert written_version([older, tie, applied], "batch/v1") == "batch/v1beta1"  # the tie goes to last-applied
    assert written_version([applied], "batch/v1") == "batch/v1beta1"
    assert written_version([_use("batch/v1beta1", "helm-manifest")], "batch/v1") == "batch/v1beta1"
    assert written_version([], "batch/v1") == "batch/v1"
    other_group = ApiUsage("other.example.com/v1", "CronJob", "shop", "nightly", "managedFields", "m", "2030")
    assert written_version([other_group], "batch/v1") == "batch/v1"  # another API's CronJob of the same name
    moved = ApiUsage("extensions/v1beta1", "Ingress", "shop", "web", "last-applied", "kubectl", "")
    assert written_version([moved], "networking.k8s.io/v1") == "extensions/v1beta1"
