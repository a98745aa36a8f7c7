#!/usr/bin/env python3
"""Benchmark `rehearse snapshot` on a cluster of 5,000 objects against the floor of plain list calls.

Starts a bare 1.28 control plane (real etcd + kube-apiserver), creates the objects in parallel, then times:
  floor     one plain (unpaged) list call per resource type the snapshot reads, one after the other, JSON parsed
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
from harness.snapshot import _collect, _reader, dump, loads, take_snapshot
from harness.versions import catalogue

TARGET_SECONDS = 10.0
TARGET_RATIO = 1.5
NAMESPACES = 25
# share of the objects per kind (namespaces come on top of the count: NAMESPACES of them)
MIX = {"ConfigMap": 0.34, "Secret": 0.14, "Service": 0.16, "Deployment": 0.16, "ServiceAccount": 0.1,
       "RoleBinding": 0.05, "PodDisruptionBudget": 0.05}


def _labels(i: int) -> dict[str, str]:
    return {"app.kubernetes.io/name": f"app-{i % 97}", "app.kubernetes.io/part-of": "bench", "tier": "web"}


def _body(kind: str, ns: str, i: int) -> tuple[str, dict[str, Any]]:
    """(collection path, object) for object ``i`` of ``kind``, with a last-applied annotation as kubectl writes."""
    name = f"{kind.lower()}-{i}"
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": _labels(i)}
    if kind == "ConfigMap":
        obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "data": {
            "app.properties": "\n".join(f"setting.{k}=value-{i}-{k}" for k in range(20)), "mode": "prod"}}
        path = f"/api/v1/namespaces/{ns}/configmaps"
    elif kind == "Secret":
        obj = {"apiVersion": "v1", "kind": kind, "type": "Opaque",
               "stringData": {"username": f"user{i}", "password": f"bench-pw-{i}"}}
        path = f"/api/v1/namespaces/{ns}/secrets"
    elif kind == "Service":
        obj = {"apiVersion": "v1", "kind": kind, "spec": {"selector": _labels(i), "ports": [
            {"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090}]}}
        path = f"/api/v1/namespaces/{ns}/services"
    elif kind == "Deployment":
        sel = {"app.kubernetes.io/name": f"app-{i}"}
        obj = {"apiVersion": "apps/v1", "kind": kind, "spec": {"replicas": 2, "selector": {"matchLabels": sel},
               "template": {"metadata": {"labels": sel}, "spec": {"containers": [
                   {"name": "app", "image": f"registry.example.com/team/app-{i % 97}:1.{i % 13}.0",
                    "ports": [{"containerPort": 8080}], "env": [{"name": "MODE", "value": "prod"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
                   {"name": "sidecar", "image": "registry.example.com/proxy:2.4"}]}}}}
        path = f"/apis/apps/v1/namespaces/{ns}/deployments"
    elif kind == "ServiceAccount":
        obj = {"apiVersion": "v1", "kind": kind}
        path = f"/api/v1/namespaces/{ns}/serviceaccounts"
    elif kind == "RoleBinding":
        obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}
        path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"
    else:
        obj = {"apiVersion": "policy/v1", "kind": kind,
               "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": f"app-{i}"}}}}
        path = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    obj["metadata"] = meta
    meta["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(obj, sort_keys=True)}
    return path, obj


def _post(api: Any, path: str, body: dict[str, Any]) -> None:
    method, url, headers, data, _ = api.param_serialize(
        "POST", path, body=body, header_params={"Content-Type": "application/json", "Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(method, url, header_params=headers, body=data, _request_timeout=(10, 120))
    resp.read()
    if resp.status not in (200, 201, 409):
        raise RuntimeError(f"POST {path}: HTTP {resp.status}: {resp.data[:200]!r}")


def populate(cp: BareControlPlane, count: int) -> float:
    """Create NAMESPACES namespaces and ``count`` objects; return the seconds it took."""
    started = time.monotonic()
    api = api_client(cp.kubeconfig())
    try:
        namespaces = [f"bench-{n:02d}" for n in range(NAMESPACES)]
        for ns in namespaces:
            _post(api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        jobs = []
        i = 0
        for kind, share in MIX.items():
            for _ in range(round(count * share)):
                jobs.append(_body(kind, namespaces[i % NAMESPACES], i))
                i += 1
        jobs = jobs[:count]
        with cf.ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(lambda job: _post(api, *job), jobs))
    finally:
        api.close()
    return time.monotonic() - started


def floor(cp: BareControlPlane) -> tuple[float, int]:
    """Plain list calls, one per resource type the snapshot reads, sequential: (seconds, objects listed)."""
    api = api_client(cp.kubeconfig())
    reader = _reader.Reader(api)
    try:
        started = time.monotonic()
        groups = reader.get("/apis").get("groups") or []
        served = {"v1"} | {str(v.get("groupVersion")) for g in groups for v in g.get("versions") or []}
        paths = []
        for t in _collect.TYPES:
            gv = next((v for v in t.versions if v in served), None)
            if gv:
                paths.append(_collect._path(gv, t.resource))
        paths += ["/api/v1/namespaces/kube-system/pods"]
        total = 0
        for path in paths:
            total += len(reader.get(path).get("items") or [])
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
            seconds = populate(cp, args.objects)
            print(f"created {args.objects} objects in {NAMESPACES} namespaces in {seconds:.1f}s")
            kubeconfig = cp.kubeconfig()
            take_snapshot(kubeconfig)  # warm-up: connections, imports, apiserver caches
            floors, snaps, dumps, loads_, ratios, ratios_file = [], [], [], [], [], []
            objects = 0
            listed = 0
            size = 0
            for _ in range(args.rounds):
                f, listed = floor(cp)
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
            f, s = statistics.median(floors), statistics.median(snaps)
            d, ld = statistics.median(dumps), statistics.median(loads_)
        finally:
            cp.stop_in_order()  # kube-apiserver before etcd: seconds instead of 15
    ratio = statistics.median(ratios)
    ok = s < TARGET_SECONDS and ratio <= TARGET_RATIO
    print(f"floor: plain list calls          {f:6.2f}s  ({listed} objects listed; medians of {args.rounds} rounds)")
    print(f"snapshot: take_snapshot()        {s:6.2f}s  ({objects} objects kept for recreation)")
    print(f"          dump() to YAML         {d:6.2f}s  ({size / 1e6:.1f} MB)")
    print(f"          loads() back           {ld:6.2f}s")
    print(f"ratio snapshot/floor             {ratio:6.2f}x  (target <= {TARGET_RATIO}x and < {TARGET_SECONDS:.0f}s: "
          f"{'met' if ok else 'MISSED'})")
    print(f"ratio (snapshot+dump)/floor      {statistics.median(ratios_file):6.2f}x  (all of `rehearse snapshot -o`)")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
