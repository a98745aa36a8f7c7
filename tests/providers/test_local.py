"""The local provider on real binaries: create at 1.27, workloads reconcile under kwok, upgrade in place to 1.28
over the same etcd, objects intact and reconciling afterwards; a removed feature gate fails the upgrade."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from harness import processes as _procs
from harness.binaries import BinarySet
from harness.providers.base import Cluster, ClusterOptions, NodeSpec, UpgradeFailed
from harness.providers.local import LocalProvider

pytestmark = pytest.mark.slow

NODES = (
    NodeSpec("node-a", labels={"topology.kubernetes.io/zone": "a"}),
    NodeSpec("node-b", labels={"topology.kubernetes.io/zone": "b"}),
    NodeSpec("infra-1", labels={"role": "infra"},
             taints=({"key": "dedicated", "value": "infra", "effect": "NoSchedule"},)),
)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture
def provider(tmp_path: Path) -> LocalProvider:
    return LocalProvider(root=tmp_path / "state")


@pytest.fixture
def cluster127(provider: LocalProvider, bin127: BinarySet, bin128: BinarySet) -> Iterator[Cluster]:
    name = f"t-{uuid.uuid4().hex[:6]}"
    with provider.cluster(name, bin127.version, ClusterOptions(nodes=NODES)) as c:
        yield c
    assert not c.workdir.exists()


def apis(c: Cluster) -> tuple[client.CoreV1Api, client.AppsV1Api, client.BatchV1Api]:
    api = config.new_client_from_config(str(c.kubeconfig))
    return client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)


def deployment(name: str, replicas: int) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "web", "image": "registry.local/web:1.0"}]}}},
    }


def job_template() -> dict[str, object]:
    return {"spec": {"backoffLimit": 0, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "task", "image": "registry.local/task:1.0"}]}}}}


def test_create_upgrade_keeps_objects_and_reconciles(
    provider: LocalProvider, cluster127: Cluster, bin127: BinarySet, bin128: BinarySet
) -> None:
    core, apps, batch = apis(cluster127)
    assert sorted(n.metadata.name for n in core.list_node().items) == ["infra-1", "node-a", "node-b"]
    infra = core.read_node("infra-1")
    assert infra.spec.taints[0].key == "dedicated" and infra.metadata.labels["role"] == "infra"
    assert {n.status.node_info.kubelet_version for n in core.list_node().items} == {bin127.version.tag}

    apps.create_namespaced_deployment("default", deployment("web", 3))
    batch.create_namespaced_cron_job("default", {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
        "spec": {"schedule": "* * * * *", "jobTemplate": job_template()},
    })
    wait_for("web 3/3 available", lambda: (apps.read_namespaced_deployment("web", "default").status
                                           .available_replicas or 0) == 3)
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    assert all(p.status.phase == "Running" and p.spec.node_name for p in pods)
    wait_for("a CronJob run to complete", lambda: any(
        (j.status.succeeded or 0) >= 1 for j in batch.list_namespaced_job("default").items), timeout=150)

    uids = {p.metadata.name: p.metadata.uid for p in pods}
    result = provider.upgrade_control_plane(cluster127, bin128.version)
    assert result.version == bin128.version
    assert [c for c, _ in result.components] == ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert 0 <= result.api_downtime_seconds < result.seconds
    provider.upgrade_nodes(cluster127, bin128.version)

    out = subprocess.run([str(bin128.path("kubectl")), "--kubeconfig", str(cluster127.kubeconfig), "version",
                          "-o", "json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["serverVersion"]["gitVersion"] == bin128.version.tag
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        pid = _procs.read_pid(cluster127.workdir / "pids" / f"{comp}.pid")
        assert pid and _procs.alive(pid)
        exe = Path(f"/proc/{pid}/exe").resolve()
        assert exe == bin128.path(comp).resolve(), comp

    core, apps, batch = apis(cluster127)
    assert {n.status.node_info.kubelet_version for n in core.list_node().items} == {bin128.version.tag}
    # Same objects, same pods (nothing was recreated), and the new controllers reconcile changes.
    pods_after = {p.metadata.name: p.metadata.uid
                  for p in core.list_namespaced_pod("default", label_selector="app=web").items}
    assert pods_after == uids
    assert batch.read_namespaced_cron_job("tick", "default").spec.schedule == "* * * * *"
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
    wait_for("web 5/5 available on 1.28", lambda: (apps.read_namespaced_deployment("web", "default").status
                                                   .available_replicas or 0) == 5)
    batch.create_namespaced_job("default", {"apiVersion": "batch/v1", "kind": "Job",
                                            "metadata": {"name": "after"}, **job_template()})
    wait_for("a Job to complete on 1.28",
             lambda: (batch.read_namespaced_job("after", "default").status.succeeded or 0) == 1)

    logs = cluster127.workdir.parent / "collected"
    provider.collect_logs(cluster127, logs)
    assert (logs / "kube-apiserver.log").stat().st_size > 0


REMOVED_IN_128 = "DevicePlugins"  # GA in 1.26, accepted by 1.27, refused by 1.28 ("unrecognized feature gate")


def test_removed_feature_gate_fails_the_upgrade_with_the_components_own_words(
    provider: LocalProvider, bin127: BinarySet, bin128: BinarySet
) -> None:
    opts = ClusterOptions(nodes=NODES[:1], feature_gates={REMOVED_IN_128: True})
    with provider.cluster("gate", bin127.version, opts) as c:
        with pytest.raises(UpgradeFailed) as exc:
            provider.upgrade_control_plane(c, bin128.version)
        assert exc.value.component == "kube-apiserver"
        assert f"unrecognized feature gate: {REMOVED_IN_128}" in exc.value.cause
        # Not silently kept: the old apiserver is not serving as if the upgrade had worked.
        pid = _procs.read_pid(c.workdir / "pids" / "kube-apiserver.pid")
        assert pid is None or not _procs.alive(pid)
    assert not c.workdir.exists()
