#!/usr/bin/env python3
"""Benchmark `rehearse snapshot` on a cluster of 5,000 objects against the floor of plain list calls.

Starts a bare 1.28 control plane (real etcd + kube-apiserver), creates the objects in parallel (most of them
ConfigMaps, Secrets, Services, Deployments…, and a few of every other kind users write: over 30 kinds, custom
resources included), then times:
  floor     one plain (unpaged) list call per resource type the snapshot lists (discovery decides which, as for
            the snapshot; the discovery itself is not timed), one after the other, JSON parsed with the standard
            library as the official Python client does (the snapshot parses with orjson: part of what it does better)
  snapshot  take_snapshot() (discovery, paged lists in parallel, Helm, sanitizing, add-ons); then, separately,
            dump() to YAML and loads() back (what `plan` and `run --snapshot` pay)
Floor and snapshot alternate, round after round; the ratio is the median of the rounds' ratios (the machine's
load drifts). Target: snapshot < 10 s and <= 1.5 x floor. Exit 0 (or 1 with --strict when the target is missed).

    python scripts/bench_snapshot.py [--objects 5000] [--rounds 5] [--strict]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.binaries import ensure
from harness.binaries.bare import BareControlPlane, bare_control_plane
from harness.kube import api_client
from harness.snapshot import _discovery, _reader, dump, loads, take_snapshot
from harness.versions import catalogue

TARGET_SECONDS = 10.0
TARGET_RATIO = 1.5
NAMESPACES = 25
# share of the objects per kind, the bulk in the kinds a cluster has most of (namespaces come on top of the count)
MIX = {"ConfigMap": 0.3, "Secret": 0.12, "Service": 0.12, "Deployment": 0.12, "ServiceAccount": 0.08,
       "RoleBinding": 0.04, "PodDisruptionBudget": 0.04}
# and a few of every other kind users write (SMALL of each): with the above, objects in more than 30 served types
SMALL = 12
OTHERS = ("Role", "Endpoints", "EndpointSlice", "LimitRange", "ResourceQuota", "PersistentVolumeClaim",
          "PersistentVolume", "Pod", "PodTemplate", "ReplicationController", "DaemonSet", "StatefulSet", "ReplicaSet",
          "ControllerRevision", "Job", "CronJob", "HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "IngressClass",
          "PriorityClass", "StorageClass", "CSIDriver", "CSIStorageCapacity", "RuntimeClass", "ClusterRole",
          "ClusterRoleBinding", "PriorityLevelConfiguration", "FlowSchema", "ValidatingWebhookConfiguration",
          "MutatingWebhookConfiguration", "BenchWidget")
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "benchwidgets.bench.example.com"},
       "spec": {"group": "bench.example.com", "scope": "Namespaced",
                "names": {"plural": "benchwidgets", "singular": "benchwidget", "kind": "BenchWidget"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                    "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
RUNNER = "runner"  # a ServiceAccount in every namespace, for the bare pods (no controller creates "default" here)


def _labels(i: int) -> dict[str, str]:
    return {"app.kubernetes.io/name": f"app-{i % 97}", "app.kubernetes.io/part-of": "bench", "tier": "web"}


def _pod_spec(i: int) -> dict[str, Any]:
    return {"containers": [{"name": "app", "image": f"registry.example.com/team/app-{i % 97}:1.{i % 13}.0",
                            "ports": [{"containerPort": 8080}], "env": [{"name": "MODE", "value": "prod"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
                           {"name": "sidecar", "image": "registry.example.com/proxy:2.4"}]}


def _template(i: int) -> dict[str, Any]:
    return {"metadata": {"labels": {"app.kubernetes.io/name": f"app-{i}"}}, "spec": _pod_spec(i)}


def _select(i: int) -> dict[str, Any]:
    return {"matchLabels": {"app.kubernetes.io/name": f"app-{i}"}}


_HOOK = {"clientConfig": {"service": {"namespace": "bench-00", "name": "hook", "path": "/x"}},
         "rules": [{"apiGroups": ["never.example.com"], "apiVersions": ["*"], "operations": ["CREATE"],
                    "resources": ["*"]}],
         "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"]}
_ROLE = {"apiGroup": "rbac.authorization.k8s.io"}


def _spec(kind: str, ns: str, i: int) -> tuple[str, str, bool, dict[str, Any]]:
    """(apiVersion, resource, namespaced, the object's fields besides metadata) of object ``i`` of ``kind``."""
    run_as = {"serviceAccountName": RUNNER, "automountServiceAccountToken": False}
    table: dict[str, tuple[str, str, bool, dict[str, Any]]] = {
        "ConfigMap": ("v1", "configmaps", True, {"data": {
            "app.properties": "\n".join(f"setting.{k}=value-{i}-{k}" for k in range(20)), "mode": "prod"}}),
        "Secret": ("v1", "secrets", True, {"type": "Opaque",
                                           "stringData": {"username": f"user{i}", "password": f"bench-pw-{i}"}}),
        "Service": ("v1", "services", True, {"spec": {"selector": _labels(i), "ports": [
            {"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090}]}}),
        "Deployment": ("apps/v1", "deployments", True, {"spec": {"replicas": 2, "selector": _select(i),
                                                                 "template": _template(i)}}),
        "ServiceAccount": ("v1", "serviceaccounts", True, {}),
        "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True, {
            "roleRef": {**_ROLE, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": RUNNER, "namespace": ns}]}),
        "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True, {"spec": {"maxUnavailable": 1,
                                                                                     "selector": _select(i)}}),
        "Role": ("rbac.authorization.k8s.io/v1", "roles", True, {"rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        "Endpoints": ("v1", "endpoints", True, {"subsets": [{"addresses": [{"ip": f"10.9.{i % 250}.{i % 200 + 1}"}],
                                                             "ports": [{"port": 5432}]}]}),
        "EndpointSlice": ("discovery.k8s.io/v1", "endpointslices", True, {
            "addressType": "IPv4", "endpoints": [{"addresses": [f"10.8.{i % 250}.{i % 200 + 1}"]}],
            "ports": [{"port": 5432}]}),
        "LimitRange": ("v1", "limitranges", True, {"spec": {"limits": [
            {"type": "Container", "default": {"cpu": "500m"}}]}}),
        "ResourceQuota": ("v1", "resourcequotas", True, {"spec": {"hard": {"pods": "100"}}}),
        "PersistentVolumeClaim": ("v1", "persistentvolumeclaims", True, {"spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
        "PersistentVolume": ("v1", "persistentvolumes", False, {"spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": f"/mnt/{i}"}}}),
        "Pod": ("v1", "pods", True, {"spec": {**_pod_spec(i), **run_as}}),
        "PodTemplate": ("v1", "podtemplates", True, {"template": _template(i)}),
        "ReplicationController": ("v1", "replicationcontrollers", True, {"spec": {
            "replicas": 1, "selector": {"app.kubernetes.io/name": f"app-{i}"}, "template": _template(i)}}),
        "DaemonSet": ("apps/v1", "daemonsets", True, {"spec": {"selector": _select(i), "template": _template(i)}}),
        "StatefulSet": ("apps/v1", "statefulsets", True, {"spec": {"serviceName": f"svc-{i}", "selector": _select(i),
                                                                   "template": _template(i)}}),
        "ReplicaSet": ("apps/v1", "replicasets", True, {"spec": {"selector": _select(i), "template": _template(i)}}),
        "ControllerRevision": ("apps/v1", "controllerrevisions", True, {"revision": 1, "data": _template(i)}),
        "Job": ("batch/v1", "jobs", True, {"spec": {"template": {"spec": {**_pod_spec(i),
                                                                          "restartPolicy": "Never"}}}}),
        "CronJob": ("batch/v1", "cronjobs", True, {"spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {
            "template": {"spec": {**_pod_spec(i), "restartPolicy": "OnFailure"}}}}}}),
        "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers", True, {"spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"deployment-{i}"},
            "minReplicas": 1, "maxReplicas": 4}}),
        "Ingress": ("networking.k8s.io/v1", "ingresses", True, {"spec": {"rules": [{"host": f"h{i}.example.com"}]}}),
        "NetworkPolicy": ("networking.k8s.io/v1", "networkpolicies", True, {"spec": {"podSelector": _select(i)}}),
        "IngressClass": ("networking.k8s.io/v1", "ingressclasses", False, {"spec": {"controller": "example.com/x"}}),
        "PriorityClass": ("scheduling.k8s.io/v1", "priorityclasses", False, {"value": 1000 + i}),
        "StorageClass": ("storage.k8s.io/v1", "storageclasses", False, {"provisioner": "example.com/disk"}),
        "CSIDriver": ("storage.k8s.io/v1", "csidrivers", False, {"spec": {"attachRequired": False}}),
        "CSIStorageCapacity": ("storage.k8s.io/v1", "csistoragecapacities", True, {
            "storageClassName": "fast", "capacity": "100Gi"}),
        "RuntimeClass": ("node.k8s.io/v1", "runtimeclasses", False, {"handler": f"runsc{i}"}),
        "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False, {"rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False, {
            "roleRef": {**_ROLE, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": RUNNER, "namespace": ns}]}),
        "PriorityLevelConfiguration": ("flowcontrol.apiserver.k8s.io/v1beta3", "prioritylevelconfigurations", False, {
            "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 1,
                                                    "limitResponse": {"type": "Reject"}}}}),
        "FlowSchema": ("flowcontrol.apiserver.k8s.io/v1beta3", "flowschemas", False, {"spec": {
            "priorityLevelConfiguration": {"name": "global-default"}, "matchingPrecedence": 9000 + i,
            "rules": [{"subjects": [{"kind": "User", "user": {"name": f"nobody-{i}"}}],
                       "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/nothing"]}]}]}}),
        "ValidatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations",
                                           False, {"webhooks": [{**_HOOK, "name": f"v{i}.bench.example.com"}]}),
        "MutatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations",
                                         False, {"webhooks": [{**_HOOK, "name": f"m{i}.bench.example.com"}]}),
        "BenchWidget": ("bench.example.com/v1", "benchwidgets", True, {"spec": {"size": i % 7, "color": "blue"}}),
    }
    return table[kind]


def _body(kind: str, ns: str, i: int) -> tuple[str, dict[str, Any]]:
    """(collection path, object) for object ``i`` of ``kind``, with a last-applied annotation as kubectl writes."""
    api_version, resource, namespaced, fields = _spec(kind, ns, i)
    meta: dict[str, Any] = {"name": f"{kind.lower()}-{i}", "labels": _labels(i)}
    if namespaced:
        meta["namespace"] = ns
    if kind == "EndpointSlice":
        meta["labels"] = {**meta["labels"], "kubernetes.io/service-name": f"service-{i}"}
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, **fields}
    obj["metadata"] = meta
    meta["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(obj, sort_keys=True)}
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    return (f"{base}/namespaces/{ns}/{resource}" if namespaced else f"{base}/{resource}"), obj


def _post(api: Any, path: str, body: dict[str, Any]) -> None:
    method, url, headers, data, _ = api.param_serialize(
        "POST", path, body=body, header_params={"Content-Type": "application/json", "Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(method, url, header_params=headers, body=data, _request_timeout=(10, 120))
    resp.read()
    if resp.status not in (200, 201, 409):
        raise RuntimeError(f"POST {path}: HTTP {resp.status}: {resp.data[:200]!r}")


def populate(cp: BareControlPlane, count: int) -> tuple[float, int]:
    """Create NAMESPACES namespaces and ``count`` objects; return the seconds it took and how many kinds."""
    started = time.monotonic()
    api = api_client(cp.kubeconfig())
    try:
        namespaces = [f"bench-{n:02d}" for n in range(NAMESPACES)]
        _post(api, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
        for ns in namespaces:
            _post(api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            _post(api, f"/api/v1/namespaces/{ns}/serviceaccounts",
                  {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": RUNNER}})
        jobs = []
        i = 0
        small = {kind: SMALL for kind in OTHERS}
        bulk = count - NAMESPACES - 1 - sum(small.values())
        for kind, n in {**small, **{k: round(bulk * share / sum(MIX.values())) for k, share in MIX.items()}}.items():
            for _ in range(n):
                jobs.append(_body(kind, namespaces[i % NAMESPACES], i))
                i += 1
        jobs = jobs[:count - NAMESPACES - 1]
        time.sleep(2)  # the CRD Established
        with cf.ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(lambda job: _post(api, *job), jobs))
    finally:
        api.close()
    return time.monotonic() - started, len({*small, *MIX, "Namespace", "CustomResourceDefinition"})


def listed(api: Any) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """The collections a snapshot lists (from discovery, as the snapshot decides): (path, query)."""
    reader = _reader.Reader(api)
    out = []
    for group in _discovery.groups_of(reader.get("/apis")):
        docs = {v: reader.get(f"/apis/{group.group_version(v)}" if group.name else "/api/v1") for v in group.versions}
        out += [(t.path, t.query) for t in _discovery.choose(group, docs).types]
    return out


def floor(cp: BareControlPlane, paths: list[tuple[str, tuple[tuple[str, str], ...]]]) -> tuple[float, int]:
    """Plain list calls of the types the snapshot lists, one after the other: (seconds, objects listed)."""
    api = api_client(cp.kubeconfig())
    reader = _reader.Reader(api)
    try:
        started = time.monotonic()
        total = 0
        for path, query in [*paths, ("/api/v1/namespaces/kube-system/pods", ())]:
            # decoded the way the official client decodes a list (the standard library's json)
            total += len(json.loads(reader._raw(path, query, _reader.JSON)).get("items") or [])
        return time.monotonic() - started, total
    finally:
        api.close()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    result = fn()
    return time.monotonic() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()

    bins = ensure(catalogue().resolve("1.28"), ("kube-apiserver", "etcd"))
    with tempfile.TemporaryDirectory(prefix="rehearse-bench-") as tmp, \
            bare_control_plane(bins.directory, Path(tmp) / "cp") as cp:
        try:
            print(f"kube-apiserver {bins.version.tag} on {cp.url}")
            seconds, kinds = populate(cp, args.objects)
            print(f"created {args.objects} objects of {kinds} kinds in {NAMESPACES} namespaces in {seconds:.1f}s")
            kubeconfig = cp.kubeconfig()
            api = api_client(kubeconfig)
            try:
                paths = listed(api)
            finally:
                api.close()
            take_snapshot(kubeconfig)  # warm-up: connections, imports, apiserver caches
            floors, snaps, dumps, loads_, ratios, ratios_file = [], [], [], [], [], []
            objects = kinds_kept = 0
            count = 0
            size = 0
            for _ in range(args.rounds):
                f, count = floor(cp, paths)
                s, snapshot = timed(lambda: take_snapshot(kubeconfig))
                d, text = timed(lambda: dump(snapshot))  # noqa: B023 - used right away
                ld, _ = timed(lambda: loads(text, "bench.yaml"))  # noqa: B023 - used right away
                floors.append(f)
                snaps.append(s)
                dumps.append(d)
                loads_.append(ld)
                ratios.append(s / f)
                ratios_file.append((s + d) / f)
                objects, size = len(snapshot.objects), len(text)
                kinds_kept = len({o["kind"] for o in snapshot.objects})
            f, s = statistics.median(floors), statistics.median(snaps)
            d, ld = statistics.median(dumps), statistics.median(loads_)
        finally:
            cp.stop_in_order()  # kube-apiserver before etcd: seconds instead of 15
    ratio = statistics.median(ratios)
    ok = s < TARGET_SECONDS and ratio <= TARGET_RATIO
    print(f"floor: plain list calls          {f:6.2f}s  ({count} objects in {len(paths)} types; "
          f"medians of {args.rounds} rounds)")
    print(f"snapshot: take_snapshot()        {s:6.2f}s  ({objects} objects of {kinds_kept} kinds kept for recreation)")
    print(f"          dump() to YAML         {d:6.2f}s  ({size / 1e6:.1f} MB)")
    print(f"          loads() back           {ld:6.2f}s")
    print(f"ratio snapshot/floor             {ratio:6.2f}x  (target <= {TARGET_RATIO}x and < {TARGET_SECONDS:.0f}s: "
          f"{'met' if ok else 'MISSED'})")
    print(f"ratio (snapshot+dump)/floor      {statistics.median(ratios_file):6.2f}x  (all of `rehearse snapshot -o`)")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
