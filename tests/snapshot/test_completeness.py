"""A snapshot holds everything production serves: against a real 1.28 kube-apiserver with every API enabled
(``--runtime-config=api/all=true``, audit log on), one object of every built-in resource type its discovery serves
(the list is discovery's, not typed here), custom resources of a namespaced and a cluster-scoped CRD, and an add-on's
aggregated APIService. The snapshot holds each object at the version discovery says, or the deny-list names its type
with a reason (pinned here: growing it fails this test); the API versions objects were written with are kept beside
the ones they were read at; no deprecated version is listed where a current one serves the resource; and every object
the snapshot holds is recreated, masked values included, in a second, empty API server of the same version."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.apply import Applier, for_apply
from harness.binaries import BinarySet
from harness.binaries.bare import BareControlPlane, bare_control_plane
from harness.kube import api_client
from harness.recreate import as_written
from harness.snapshot import dump, take_snapshot
from harness.snapshot._discovery import denylist
from harness.snapshot.model import Snapshot

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).parent / "data" / "every_type.yaml"
ALL_APIS = ("--runtime-config=api/all=true",)
# (group, resource) → (listed, keeps): what harness/data/snapshot_denylist.yaml may hold, no more.
PINNED_DENYLIST = {
    ("", "events"): (False, ""),
    ("events.k8s.io", "events"): (False, ""),
    ("coordination.k8s.io", "leases"): (False, ""),
    ("", "componentstatuses"): (False, ""),
    ("", "bindings"): (False, ""),
    ("", "serviceaccounts/token"): (False, ""),
    ("authentication.k8s.io", "tokenreviews"): (False, ""),
    ("authentication.k8s.io", "selfsubjectreviews"): (False, ""),
    ("authorization.k8s.io", "subjectaccessreviews"): (False, ""),
    ("authorization.k8s.io", "selfsubjectaccessreviews"): (False, ""),
    ("authorization.k8s.io", "localsubjectaccessreviews"): (False, ""),
    ("authorization.k8s.io", "selfsubjectrulesreviews"): (False, ""),
    ("certificates.k8s.io", "certificatesigningrequests"): (False, ""),
    ("storage.k8s.io", "csinodes"): (False, ""),
    ("storage.k8s.io", "volumeattachments"): (False, ""),
    ("internal.apiserver.k8s.io", "storageversions"): (False, ""),
    ("", "nodes"): (True, "facts"),
    ("", "endpoints"): (True, "user-written"),
    ("discovery.k8s.io", "endpointslices"): (True, "user-written"),
    ("", "pods"): (True, "unowned"),
    ("apps", "replicasets"): (True, "unowned"),
    ("apps", "controllerrevisions"): (True, "unowned"),
    ("batch", "jobs"): (True, "unowned"),
}
# Resources the snapshot reads at another version than their group's preferred one (which does not serve them).
NOT_AT_PREFERRED = {
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): "v1beta1",
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): "v1beta1",
    ("networking.k8s.io", "clustercidrs"): "v1alpha1",
    ("networking.k8s.io", "ipaddresses"): "v1alpha1",
}
# Objects written at another version than the one the snapshot reads them at: (kind, namespace, name) → written.
WRITTEN_ELSEWHERE = {
    ("HorizontalPodAutoscaler", "every", "web"): "autoscaling/v1",
    ("FlowSchema", "", "batch-jobs"): "flowcontrol.apiserver.k8s.io/v1beta2",
    ("PriorityLevelConfiguration", "", "batch-jobs"): "flowcontrol.apiserver.k8s.io/v1beta2",
    ("ValidatingAdmissionPolicy", "", "replica-limit"): "admissionregistration.k8s.io/v1alpha1",
    ("Gadget", "every", "old-gadget"): "example.com/v1beta1",
}
AGGREGATED = "metrics.example.com"


def _group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


@dataclass
class Served:
    """What a fresh API server's discovery serves: (group, resource) → {version: discovery entry}, and preferred
    versions."""

    resources: dict[tuple[str, str], dict[str, dict[str, Any]]]
    preferred: dict[str, str]

    def kind(self, group: str, resource: str) -> str:
        return str(next(iter(self.resources[(group, resource)].values()))["kind"])

    def read_at(self, group: str, resource: str) -> str:
        version = NOT_AT_PREFERRED.get((group, resource), self.preferred[group])
        assert version in self.resources[(group, resource)], (group, resource, version)
        return f"{group}/{version}" if group else version


def _served(cp: BareControlPlane) -> Served:
    resources: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    preferred = {"": "v1"}
    docs = {("", "v1"): json.loads(cp.get("/api/v1"))}
    for g in json.loads(cp.get("/apis"))["groups"]:
        preferred[g["name"]] = g["preferredVersion"]["version"]
        for v in g["versions"]:
            docs[(g["name"], v["version"])] = json.loads(cp.get(f"/apis/{v['groupVersion']}"))
    for (group, version), doc in docs.items():
        for entry in doc["resources"]:
            resources.setdefault((group, entry["name"]), {})[version] = entry
    return Served(resources, preferred)


@dataclass
class Cluster:
    cp: BareControlPlane
    kubeconfig: Path
    served: Served  # before anything was created: the built-in types
    samples: list[dict[str, Any]]
    snapshot: Snapshot
    text: str
    audit: list[dict[str, Any]]  # what the snapshot asked


def _kubectl(bins: BinarySet, kubeconfig: Path, *args: str) -> str:
    out = subprocess.run([str(bins.path("kubectl")), "--kubeconfig", str(kubeconfig), *args],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out.stdout


def _audit_events(cp: BareControlPlane, skip: int) -> list[dict[str, Any]]:
    time.sleep(0.5)  # blocking mode writes before answering; this only waits out the file's buffering
    lines = cp.audit_log.read_text().splitlines()[skip:]
    return [e for e in map(json.loads, lines) if e["stage"] == "ResponseComplete"]


def _owned_pod(bins: BinarySet, kubeconfig: Path, workdir: Path) -> None:
    """A pod as a ReplicaSet's controller would have made it, and an EndpointSlice as the EndpointSlice controller
    writes them: neither is kept (their owners recreate them)."""
    rs = json.loads(_kubectl(bins, kubeconfig, "get", "replicaset", "standalone", "-n", "every", "-o", "json"))
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "standalone-x7k2p", "namespace": "every", "labels": {"app": "standalone"},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "standalone",
                                             "uid": rs["metadata"]["uid"], "controller": True}]},
           "spec": {"serviceAccountName": "robot", "automountServiceAccountToken": False,
                    "containers": [{"name": "app", "image": "nginx:1.25"}]}}
    controller_slice = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                        "metadata": {"name": "web-abcde", "namespace": "every", "labels": {
                            "kubernetes.io/service-name": "web",
                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
                        "endpoints": []}
    path = workdir / "owned.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod, controller_slice]}))
    _kubectl(bins, kubeconfig, "create", "-f", str(path))


@pytest.fixture(scope="module")
def cluster(bin128: BinarySet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("completeness")
    docs = [d for d in yaml.safe_load_all(SAMPLES.read_text()) if d]
    first = [d for d in docs if d["kind"] in ("Namespace", "CustomResourceDefinition")]
    with bare_control_plane(bin128.directory, workdir / "cp", ALL_APIS, audit=True) as cp:
        kubeconfig = cp.kubeconfig()
        served = _served(cp)
        for name, part in (("first", first), ("rest", [d for d in docs if d not in first])):
            path = workdir / f"{name}.yaml"
            path.write_text(yaml.safe_dump_all(part))
            _kubectl(bin128, kubeconfig, "apply", "-f", str(path))
            if name == "first":
                _kubectl(bin128, kubeconfig, "wait", "--for=condition=Established", "--timeout=30s",
                         *(f"crd/{d['metadata']['name']}" for d in first if d["kind"] != "Namespace"))
        _owned_pod(bin128, kubeconfig, workdir)
        before = len(cp.audit_log.read_text().splitlines())
        snapshot = take_snapshot(kubeconfig)
        audit = [e for e in _audit_events(cp, before) if e["user"]["username"] == "admin"]
        try:
            yield Cluster(cp, kubeconfig, served, docs, snapshot, dump(snapshot), audit)
        finally:
            cp.stop_in_order()


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace", ""), meta["name"]


# -- the deny-list ---------------------------------------------------------------------------------------------


def test_the_denylist_is_pinned_and_each_entry_says_why(cluster: Cluster) -> None:
    entries = denylist()
    assert {k: (d.listed, d.keeps) for k, d in entries.items()} == PINNED_DENYLIST
    for key, entry in entries.items():
        assert len(entry.reason) > 30, key
        assert key in cluster.served.resources, f"{key} is in the deny-list but 1.28 does not serve it"


# -- every built-in type -----------------------------------------------------------------------------------------


def test_every_served_type_is_held_or_denied_with_its_reason(cluster: Cluster) -> None:
    served, snap = cluster.served, cluster.snapshot
    held = {_key(o): o for o in snap.objects}
    sampled = {(_group(d["apiVersion"]), d["kind"]): d for d in cluster.samples}
    seen_samples = set()
    for (group, resource), versions in sorted(served.resources.items()):
        entry = denylist().get((group, resource))
        if "/" in resource or (entry is not None and not entry.listed):
            assert entry is not None or "/" in resource
            continue
        assert any("list" in e["verbs"] for e in versions.values()), f"{group}/{resource} cannot be listed"
        kind = served.kind(group, resource)
        sample = sampled.get((group, kind))
        assert sample is not None, (
            f"1.28 serves {resource}.{group or 'core'} ({kind}): add an object of it to {SAMPLES.name}, or a "
            "deny-list entry with its reason")
        seen_samples.add((group, kind))
        if entry is not None and entry.keeps == "facts":
            assert [n.name for n in snap.nodes] == ["node-1"]
            continue
        obj = held.get(_key(sample))
        assert obj is not None, f"{kind} {_key(sample)[1:]} is not in the snapshot"
        assert obj["apiVersion"] == served.read_at(group, resource), (kind, obj["apiVersion"])
    assert seen_samples | {("apiextensions.k8s.io", "CustomResourceDefinition"), ("example.com", "Gadget"),
                           ("example.com", "Fleet")} >= set(sampled), "a sample of a type 1.28 does not serve"


def test_custom_resources_at_the_preferred_version_and_nothing_else(cluster: Cluster) -> None:
    held = {_key(o): o for o in cluster.snapshot.objects}
    assert held[("Gadget", "every", "old-gadget")]["apiVersion"] == "example.com/v1"  # not the deprecated v1beta1
    assert held[("Fleet", "", "blue")]["apiVersion"] == "example.com/v1alpha1"
    expected = {_key(d) for d in cluster.samples if d["kind"] != "Node"}
    assert set(held) == expected  # nothing the control plane wrote itself, nothing a controller owns


def test_written_version_is_kept_beside_the_read_version(cluster: Cluster) -> None:
    snap = cluster.snapshot
    for obj in snap.objects:
        written = WRITTEN_ELSEWHERE.get(_key(obj), obj["apiVersion"])
        assert as_written(obj, snap)["apiVersion"] == written, _key(obj)
    usage = {(u.api_version, u.kind, u.namespace or "", u.name, u.source, u.manager) for u in snap.api_usage}
    assert ("autoscaling/v1", "HorizontalPodAutoscaler", "every", "web", "managedFields",
            "kubectl-client-side-apply") in usage
    assert ("autoscaling/v1", "HorizontalPodAutoscaler", "every", "web", "last-applied", "kubectl") in usage
    assert all(u.time for u in snap.api_usage if u.source == "managedFields")
    assert not [u for u in snap.api_usage if u.manager in ("kube-apiserver", "rehearse")]


def test_aggregated_api_is_recorded_through_its_apiservice_not_listed(cluster: Cluster) -> None:
    (entry,) = [n for n in cluster.snapshot.not_recreatable if n.api_version.startswith(AGGREGATED)]
    assert (entry.api_version, entry.kind, entry.count) == (f"{AGGREGATED}/v1beta1", "*", None)
    assert "APIService v1beta1.metrics.example.com" in entry.reason and "every/metrics-api" in entry.reason
    assert f"not_recreatable:\n- api_version: {AGGREGATED}/v1beta1" in cluster.text
    assert not [e for e in cluster.audit if AGGREGATED in e["requestURI"]]
    assert any(s["name"] == "v1beta1.metrics.example.com" and s["service"] == "every/metrics-api:443"
               for s in cluster.snapshot.api_services)


def test_reads_are_gets_of_chosen_versions_only(cluster: Cluster) -> None:
    events = cluster.audit
    assert {e["verb"] for e in events} <= {"get", "list"}
    listed: dict[tuple[str, str], set[str]] = {}
    for e in events:
        ref = e.get("objectRef") or {}
        if e["verb"] == "list":
            listed.setdefault((ref.get("apiGroup", ""), ref["resource"]), set()).add(ref["apiVersion"])
    for (group, resource), versions in listed.items():
        assert len(versions) == 1, f"{resource}.{group} listed at {versions}"
        entry = denylist().get((group, resource))
        assert entry is None or entry.listed, f"{resource}.{group} is deny-listed but was listed"
        if (group, resource) in cluster.served.resources and (group, resource) != ("", "secrets"):
            want = cluster.served.read_at(group, resource)
            assert {f"{group}/{v}" if group else v for v in versions} == {want}, (resource, versions)
    for deprecated in ("flowcontrol.apiserver.k8s.io/v1beta2", "autoscaling/v1",
                       "admissionregistration.k8s.io/v1alpha1", "example.com/v1beta1"):
        assert not [e for e in events if e["verb"] == "list" and f"/apis/{deprecated}/" in e["requestURI"]]


# -- and everything held is recreated --------------------------------------------------------------------------


def _apply_all(applier: Applier, objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    """Server-side apply ``objects`` in rounds until a round changes nothing (so dependencies sort themselves out);
    the errors of those that never went in."""
    pending, errors = list(objects), {}
    while pending:
        failed = []
        for obj in pending:
            ok, err, _ = applier.apply(for_apply(obj))
            if not ok:
                failed.append(obj)
                errors[_key(obj)] = err
            else:
                errors.pop(_key(obj), None)
        if len(failed) == len(pending):
            break
        pending = failed
        time.sleep(1)  # CRDs becoming Established
        applier.refresh()
    return errors


def test_everything_held_is_recreated_with_masked_values(
        cluster: Cluster, bin128: BinarySet, tmp_path: Path) -> None:
    snap = cluster.snapshot
    assert "PLANTED" not in cluster.text
    gadget = next(o for o in snap.objects if o["kind"] == "Gadget")
    masked = gadget["spec"]["adminPassword"]
    assert masked != 271828 and isinstance(masked, int)  # a masked number is still a number
    assert gadget["spec"]["endpoint"].startswith("https://") and "gadgets.example.com/api" in gadget["spec"]["endpoint"]
    objects = [as_written(o, snap) for o in snap.objects]
    services = [o for o in objects if o["kind"] == "APIService"]
    with bare_control_plane(bin128.directory, tmp_path / "fresh", ALL_APIS) as fresh:
        api = api_client(fresh.kubeconfig())
        try:
            applier = Applier(api)
            errors = _apply_all(applier, [o for o in objects if o["kind"] != "APIService"])
            errors.update(_apply_all(applier, services))  # last: an add-on's API that cannot answer here
        finally:
            api.close()
            fresh.stop_in_order()
    assert not errors


# -- an identity that may not read the APIServices ---------------------------------------------------------------


def _reader_kubeconfig(cluster: Cluster, name: str, groups: set[str], path: Path) -> Path:
    """A ServiceAccount that may get and list everything in ``groups``, and a kubeconfig with its token."""
    from kubernetes import client

    api = api_client(cluster.kubeconfig)
    try:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        if not [n for n in core.list_namespace().items if n.metadata.name == "readers"]:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="readers")))
        core.create_namespaced_service_account("readers", client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name=name)))
        rbac.create_cluster_role(client.V1ClusterRole(metadata=client.V1ObjectMeta(name=name), rules=[
            client.V1PolicyRule(api_groups=sorted(groups), resources=["*"], verbs=["get", "list"])]))
        rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace="readers")]))
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                      expiration_seconds=3600))
        token = core.create_namespaced_service_account_token(name, "readers", request).status.token
    finally:
        api.close()
    return cluster.cp.kubeconfig(path, token=token)


def test_without_the_apiservices_only_crd_groups_are_listed(cluster: Cluster, tmp_path: Path) -> None:
    everything = {g for g, _ in cluster.served.resources} | {"example.com", AGGREGATED}
    blind = _reader_kubeconfig(cluster, "no-apiservices", everything - {"apiregistration.k8s.io"},
                               tmp_path / "a.kubeconfig")
    snap = take_snapshot(blind)
    assert "apiservices (forbidden)" in snap.not_readable
    kinds = {o["kind"] for o in snap.objects}
    assert {"Gadget", "Fleet", "Deployment"} <= kinds  # the CRDs say example.com is theirs
    (entry,) = snap.not_recreatable
    assert entry.api_version == f"{AGGREGATED}/v1beta1" and "no CustomResourceDefinition serves it" in entry.reason

    blinder = _reader_kubeconfig(cluster, "no-apiservices-no-crds",
                                 everything - {"apiregistration.k8s.io", "apiextensions.k8s.io"},
                                 tmp_path / "b.kubeconfig")
    snap = take_snapshot(blinder)
    assert {"apiservices (forbidden)", "customresourcedefinitions (forbidden)"} <= set(snap.not_readable)
    assert not {"Gadget", "Fleet"} & {o["kind"] for o in snap.objects} and "Deployment" in {
        o["kind"] for o in snap.objects}
    assert sorted(n.api_version for n in snap.not_recreatable) == [
        "example.com/v1", "example.com/v1alpha1", "example.com/v1beta1", f"{AGGREGATED}/v1beta1"]
    assert all("CustomResourceDefinitions are not readable either" in n.reason for n in snap.not_recreatable)
