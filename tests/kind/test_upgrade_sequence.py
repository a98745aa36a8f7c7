"""The exact sequence of a kind upgrade, pinned: what runs on which node container, in which order.

The end-to-end test (test_kind_e2e.py) runs this sequence for real; this one pins it without an engine. The seams
replaced are the docker SDK calls: ``KindNodes.exec`` (the real one is ``container.exec_run(argv)`` in the node
container, returning ``(exit_code, output)``), ``KindNodes.of`` (the real one lists containers labelled
``io.x-k8s.kind.cluster``), ``KindUpgrade.payload``/``distribute`` (copy the target's kubeadm/kubelet/kubectl and
images out of the target node image into every node), the Kubernetes calls (cordon = patch ``spec.unschedulable``,
drain = evictions, readiness = node list), the apiserver poller and ``KindEgress.apply`` (the real one runs the
egress script in the node). Each records what it was asked to do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import harness.providers.kind.upgrade as kind_module
from harness.providers.base import Cluster, UpgradeFailed
from harness.providers.kind import KindProvider
from harness.providers.kind.node import Node
from harness.providers.kind.upgrade import Payload
from harness.versions import Version

SOURCE, TARGET = Version(1, 27, 16), Version(1, 28, 15)
NODES = [Node("r-control-plane", "control-plane"), Node("r-control-plane2", "control-plane"),
         Node("r-control-plane3", "control-plane"), Node("r-worker", "worker"), Node("r-worker2", "worker")]


class _Core:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def patch_node(self, name: str, body: dict[str, Any]) -> None:
        self.calls.append(f"{name}: {'cordon' if body['spec']['unschedulable'] else 'uncordon'}")


class _Monitor:
    down_seconds = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture()
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[KindProvider, Cluster, list[str]]]:
    calls: list[str] = []
    provider = KindProvider(root=tmp_path, versions=[SOURCE, TARGET])
    cluster = Cluster(name="r", provider="kind", version=SOURCE, kubeconfig=tmp_path / "kubeconfig",
                      workdir=tmp_path / "r",
                      meta={"egress": {"pods": ["10.244.0.0/16"], "services": ["10.96.0.0/16"], "nodes": []}})

    def exec_(node: Node, cmd: Sequence[str] | str, **kwargs: Any) -> tuple[int, str]:
        calls.append(f"{node.name}: {cmd if isinstance(cmd, str) else ' '.join(cmd)}")
        return 0, ""

    def payload(c: Cluster, v: Version) -> Payload:
        return Payload(v, tmp_path / "payload", ["registry.k8s.io/kube-apiserver:" + v.tag])

    def distribute(c: Cluster, p: Payload) -> None:
        calls.append(f"distribute {p.version.tag} to every node")

    def drain(c: Cluster, node: str) -> list[Any]:
        calls.append(f"{node}: drain")
        return []

    def wait_ready(c: Cluster, v: Version, names: Sequence[str] | None = None, timeout: float = 0) -> None:
        calls.append(f"{','.join(names or [])}: wait Ready at {v.tag}")

    def wait_cp(c: Cluster, node: Node, v: Version, api: Any, timeout: float = 0) -> None:
        calls.append(f"{node.name}: wait static pods at {v.tag}")

    monkeypatch.setattr(provider.nodes, "of", lambda c: list(NODES))
    monkeypatch.setattr(provider.nodes, "exec", exec_)
    monkeypatch.setattr(provider.upgrader, "payload", payload)
    monkeypatch.setattr(provider.upgrader, "distribute", distribute)
    monkeypatch.setattr(provider.upgrader, "drain", drain)
    monkeypatch.setattr(provider.nodes, "wait_ready", wait_ready)
    monkeypatch.setattr(provider.upgrader, "wait_control_plane", wait_cp)
    monkeypatch.setattr(provider.nodes, "core", lambda c: _Core(calls))
    monkeypatch.setattr(provider.egress, "apply", lambda c, node, policy: calls.append(f"{node.name}: confine egress"))
    monkeypatch.setattr(kind_module, "write_meta", lambda c: None)
    monkeypatch.setattr(kind_module, "kind_endpoint", lambda kubeconfig, workdir: None)
    monkeypatch.setattr(kind_module, "DowntimeMonitor", _Monitor)
    with contextlib.suppress(Exception):
        yield provider, cluster, calls


def test_control_plane_upgrade_sequence(recorded: tuple[KindProvider, Cluster, list[str]]) -> None:
    provider, cluster, calls = recorded
    result = provider.upgrade_control_plane(cluster, TARGET)
    u = "/kinder/upgrade/v1.28.15"
    assert calls == [
        "distribute v1.28.15 to every node",
        f"r-control-plane: ln -sf {u}/kubeadm /usr/bin/kubeadm",
        "r-control-plane: kubeadm upgrade apply -f v1.28.15 --v=1",
        "r-control-plane: wait static pods at v1.28.15",
        f"r-control-plane2: ln -sf {u}/kubeadm /usr/bin/kubeadm",
        "r-control-plane2: kubeadm upgrade node --v=1",
        "r-control-plane2: wait static pods at v1.28.15",
        f"r-control-plane3: ln -sf {u}/kubeadm /usr/bin/kubeadm",
        "r-control-plane3: kubeadm upgrade node --v=1",
        "r-control-plane3: wait static pods at v1.28.15",
    ]
    assert result.version == TARGET and cluster.version == TARGET
    assert [title for title, _ in result.components] == [
        "kubeadm upgrade apply on r-control-plane", "kubeadm upgrade node on r-control-plane2",
        "kubeadm upgrade node on r-control-plane3"]


def test_node_upgrade_sequence(recorded: tuple[KindProvider, Cluster, list[str]]) -> None:
    provider, cluster, calls = recorded
    cluster.meta["from_version"] = str(SOURCE)
    provider.upgrade_nodes(cluster, TARGET)
    u = "/kinder/upgrade/v1.28.15"
    expected = ["distribute v1.28.15 to every node"]
    for worker in ("r-worker", "r-worker2"):
        expected += [f"{worker}: ln -sf {u}/kubeadm /usr/bin/kubeadm", f"{worker}: kubeadm upgrade node --v=1"]
    for node in NODES:  # control planes first, then workers: one node at a time
        n = node.name
        expected += [f"{n}: cordon", f"{n}: drain",
                     f"{n}: ln -sf {u}/kubectl /usr/bin/kubectl", f"{n}: ln -sf {u}/kubelet /usr/bin/kubelet",
                     f"{n}: systemctl restart kubelet", f"{n}: echo v1.28.15 > /kind/version",
                     f"{n}: wait Ready at v1.28.15", f"{n}: confine egress", f"{n}: uncordon"]
    assert calls == expected


def test_a_failing_kubeadm_stops_the_sequence_and_names_the_node(
        recorded: tuple[KindProvider, Cluster, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    provider, cluster, calls = recorded

    def exec_(node: Node, cmd: Sequence[str] | str, **kwargs: Any) -> tuple[int, str]:
        argv = cmd if isinstance(cmd, str) else " ".join(cmd)
        calls.append(f"{node.name}: {argv}")
        if argv.startswith("kubeadm upgrade node") and node.name == "r-worker":
            return 1, "[preflight] Running pre-flight checks\nerror execution phase preflight: kubelet is not ready"
        return 0, ""

    monkeypatch.setattr(provider.nodes, "exec", exec_)
    with pytest.raises(UpgradeFailed, match="kubeadm upgrade node on r-worker: error execution phase"):
        provider.upgrade_nodes(cluster, TARGET)
    assert calls[-1] == "r-worker: kubeadm upgrade node --v=1"
    assert not any("cordon" in c for c in calls)  # no node was drained before every kubeadm step succeeded
