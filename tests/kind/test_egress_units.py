"""Pod egress confinement on the kind provider, without an engine: what the rules say, where their facts come
from, and when they are applied (``harness.providers.kind.node``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.errors import InfraError, InputError
from harness.providers.base import Cluster, ClusterOptions
from harness.providers.kind import KindProvider
from harness.providers.kind.node import (
    MARK,
    MARK_CHAIN,
    EgressPolicy,
    Node,
    apply_script,
    container_addresses,
    mark_rules,
    nft_ruleset,
    ranges,
    reserve_port,
    resolvers,
    subnets,
)
from harness.versions import Version

POLICY = EgressPolicy(pods=("10.244.0.0/16", "fd00:10:244::/56"), services=("10.96.0.0/16",),
                      nodes=("172.18.0.2/32", "172.18.0.3/32", "fc00:f853:ccd:e793::2/128"),
                      resolvers=("172.18.0.1",), opened=("203.0.113.0/24",), callbacks=(("172.18.0.1", 40123),))


def _set(ruleset: str, name: str) -> str:
    m = re.search(rf"\tset {name} {{\n(.*?)\n\t}}", ruleset, re.S)
    assert m is not None, name
    found = re.search(r"elements = \{ (.*) \}", m.group(1))
    return found.group(1) if found else ""


def _chain(ruleset: str, name: str) -> list[str]:
    m = re.search(rf"\tchain {name} {{\n(.*?)\n\t}}", ruleset, re.S)
    assert m is not None, name
    return [ln.strip() for ln in m.group(1).splitlines()]


def test_the_cluster_is_its_pods_services_nodes_and_loopback() -> None:
    rules = nft_ruleset(POLICY)
    # merged: the two node addresses become one /31; nothing of this machine (the gateway .1) is in it
    assert _set(rules, "cluster4") == "10.96.0.0/16, 10.244.0.0/16, 127.0.0.0/8, 172.18.0.2/31"
    assert _set(rules, "cluster6") == "::1, fc00:f853:ccd:e793::2, fd00:10:244::/56"
    assert _set(rules, "pods4") == "10.244.0.0/16" and _set(rules, "pods6") == "fd00:10:244::/56"
    assert _set(rules, "open4") == "203.0.113.0/24" and _set(rules, "open6") == ""
    assert _set(rules, "dns4") == "172.18.0.1"
    assert _set(rules, "callback4") == "172.18.0.1 . 40123" and _set(rules, "callback6") == ""


def test_anything_else_is_rejected_and_only_pod_traffic_is_judged() -> None:
    rules = nft_ruleset(POLICY)
    confine = _chain(rules, "confine")
    assert confine[0] == "ct state established,related accept"  # replies, e.g. the API server's to kubectl
    assert confine[-1] == "counter reject with icmpx type admin-prohibited"
    assert all(line.endswith("accept") for line in confine[:-1])
    assert "meta l4proto { tcp, udp } th dport 53 ip daddr @dns4 accept" in confine  # the resolver: DNS only
    assert "meta l4proto tcp ip daddr . tcp dport @callback4 accept" in confine  # the stand-in: its port only
    assert _chain(rules, "forward")[-1] == "jump confine"  # every routed packet is a pod's
    # in the node's own namespace only what the pod cgroup's sockets send (marked by the mangle rule)
    assert _chain(rules, "output")[-1] == f"meta mark & {MARK:#x} == {MARK:#x} jump confine"
    # pods' traffic to an opened range (never to the cluster itself) leaves with the node's address
    assert "ip saddr @pods4 ip daddr != @cluster4 ip daddr @open4 masquerade" in _chain(rules, "postrouting")
    # applying again replaces the table in one transaction
    assert rules.startswith("table inet rehearse_egress {\n}\ndelete table inet rehearse_egress\n")


def test_nothing_opened_leaves_the_open_sets_empty() -> None:
    closed = EgressPolicy(pods=("10.244.0.0/16",), services=("10.96.0.0/16",), nodes=("172.18.0.2",))
    rules = nft_ruleset(closed)
    assert _set(rules, "open4") == "" and _set(rules, "open6") == "" and _set(rules, "callback4") == ""
    assert "elements = {  }" not in rules


def test_host_network_pods_are_told_apart_by_cgroup() -> None:
    marks = mark_rules("kubelet.slice/kubelet-kubepods.slice")
    assert f"-A {MARK_CHAIN} -m cgroup --path kubelet.slice/kubelet-kubepods.slice " in marks
    assert f"-j MARK --set-xmark {MARK:#x}/{MARK:#x}" in marks
    assert marks.startswith(f"*mangle\n:{MARK_CHAIN} - [0:0]\n") and marks.endswith("COMMIT\n")
    script = apply_script(POLICY)
    assert "for p in kubelet.slice/kubelet-kubepods.slice kubelet/kubepods kubepods.slice kubepods; do" in script
    assert "-m cgroup --path $cg " in script  # the cgroup found in the node, not an interface
    assert f'"$t" -t mangle -C OUTPUT -j {MARK_CHAIN} 2>/dev/null || "$t" -t mangle -I OUTPUT 1 -j {MARK_CHAIN}' \
        in script
    assert "nft -f - <<'RULESET'\n" + nft_ruleset(POLICY) + "RULESET\n" in script
    assert script.startswith("set -eu\n")


def test_ranges_are_normalised_and_bad_ones_are_input_errors() -> None:
    assert ranges(["10.1.2.3/8", "192.0.2.7", "2001:db8::1/64", "10.0.0.0/8"], "--allow-egress") == (
        "10.0.0.0/8", "192.0.2.7/32", "2001:db8::/64")
    with pytest.raises(InputError, match=r"--allow-egress 'example.com' is not an address range"):
        ranges(["example.com"], "--allow-egress")


def test_subnets_come_from_kubeadm_and_are_required() -> None:
    config = {"networking": {"podSubnet": "10.244.0.0/16,fd00:10:244::/56", "serviceSubnet": "10.96.0.0/16"}}
    assert subnets(config) == (("10.244.0.0/16", "fd00:10:244::/56"), ("10.96.0.0/16",))
    with pytest.raises(InfraError, match="names no serviceSubnet"):
        subnets({"networking": {"podSubnet": "10.244.0.0/16"}})


# The engine's container listing (GET /containers/json) as the docker SDK returns it, trimmed to the fields read.
LISTING = [
    {"Names": ["/r-control-plane"], "NetworkSettings": {"Networks": {"kind": {
        "IPAddress": "172.18.0.3", "GlobalIPv6Address": "fc00:f853:ccd:e793::3", "Gateway": "172.18.0.1",
        "IPv6Gateway": "fc00:f853:ccd:e793::1"}}}},
    {"Names": ["/r-worker"], "NetworkSettings": {"Networks": {"kind": {
        "IPAddress": "172.18.0.2", "GlobalIPv6Address": "", "Gateway": "172.18.0.1"}}}},
]


def test_node_addresses_and_this_machine_come_from_the_engine() -> None:
    addresses, gateway = container_addresses(LISTING)
    assert addresses == ("172.18.0.3/32", "fc00:f853:ccd:e793::3/128", "172.18.0.2/32")
    assert gateway == "172.18.0.1"


def test_resolvers_of_a_resolv_conf() -> None:
    conf = "# kind\nsearch example.internal\nnameserver 172.18.0.1\nnameserver fe80::1%eth0\nnameserver junk\n"
    assert resolvers(conf) == ["172.18.0.1", "fe80::1"]


def test_a_port_is_reserved_only_on_an_address_of_this_machine() -> None:
    port = reserve_port("127.0.0.1")
    assert port is not None and 0 < port < 65536
    assert reserve_port("203.0.113.77") is None


def test_the_policy_round_trips_through_the_cluster_metadata() -> None:
    assert EgressPolicy.from_meta(POLICY.to_meta()) == POLICY


class _ConfigMaps:
    """``read_namespaced_config_map("kubeadm-config", "kube-system")`` as the kubernetes client returns it."""

    class _CM:
        data = {"ClusterConfiguration": "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"
                                        "networking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/16\n"}

    def read_namespaced_config_map(self, name: str, namespace: str) -> Any:
        assert (name, namespace) == ("kubeadm-config", "kube-system")
        return self._CM()


def _provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, calls: list[str],
              exit_code: int = 0) -> tuple[KindProvider, Cluster]:
    provider = KindProvider(root=tmp_path)
    cluster = Cluster(name="r", provider="kind", version=Version(1, 27, 16), kubeconfig=tmp_path / "kc",
                      workdir=tmp_path / "r", options=ClusterOptions(allow_egress=("203.0.113.9",)))
    nodes = [Node("r-control-plane", "control-plane"), Node("r-worker", "worker")]

    def exec_(node: Node, cmd: Sequence[str] | str, **kwargs: Any) -> tuple[int, str]:
        if cmd == ["cat", "/etc/resolv.conf"]:
            return 0, "nameserver 172.18.0.1\noptions ndots:0\n"
        calls.append(f"{node.name}: {'apply' if isinstance(cmd, str) and 'nft -f' in cmd else cmd}")
        return exit_code, "pod cgroup: kubelet.slice/kubelet-kubepods.slice" if exit_code == 0 else \
            "Error: Could not process rule: No such file or directory"

    monkeypatch.setattr(provider.nodes, "of", lambda c: list(nodes))
    monkeypatch.setattr(provider.nodes, "exec", exec_)
    monkeypatch.setattr(provider.nodes, "core", lambda c: _ConfigMaps())
    monkeypatch.setattr(provider.nodes, "containers", lambda name, label="": LISTING)
    return provider, cluster


def test_confining_records_the_policy_and_applies_it_on_every_node(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    calls: list[str] = []
    provider, cluster = _provider(monkeypatch, tmp_path, calls)
    (cluster.workdir / "logs").mkdir(parents=True)
    provider.egress.confine(cluster)
    assert calls == ["r-control-plane: apply", "r-worker: apply"]
    recorded = cluster.meta["egress"]
    assert recorded["open"] == ["203.0.113.9/32"] and recorded["resolvers"] == ["172.18.0.1"]
    assert recorded["pods"] == ["10.244.0.0/16"] and recorded["services"] == ["10.96.0.0/16"]
    # the rehearsal's stand-in may listen on this machine's address on the cluster's network, on one port
    host, port = cluster.meta.get("callback_host"), cluster.meta.get("callback_port")
    if reserve_port("172.18.0.1") is None:  # no kind network on this machine: no stand-in address either
        assert host is None and recorded["callbacks"] == []
    else:
        assert host == "172.18.0.1" and recorded["callbacks"] == [f"172.18.0.1:{port}"]
    provider.egress.reapply(cluster, Node("r-worker", "worker"))
    assert calls[-1] == "r-worker: apply"


def test_a_node_that_refuses_the_rules_fails_the_creation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    provider, cluster = _provider(monkeypatch, tmp_path, [], exit_code=1)
    (cluster.workdir / "logs").mkdir(parents=True)
    with pytest.raises(InfraError, match=r"pod egress cannot be confined on r-control-plane: Error: Could not "):
        provider.egress.confine(cluster)


def test_creation_confines_egress_once_the_nodes_are_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = KindProvider(root=tmp_path)
    monkeypatch.setattr(provider.kind, "binary", lambda: Path("/kind"))
    _, actions = provider.provision.plan("r", Version(1, 27, 16), ClusterOptions(), tmp_path / "r")
    titles = [a.title for a in actions]
    assert titles.index("confining pod egress to the cluster") == titles.index("waiting for every node to be Ready") + 1
    assert titles.index("confining pod egress to the cluster") < titles.index("loading 0 images into the nodes")


def test_a_bad_allow_egress_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.rehearsal._run import leftovers, rehearse

    out = rehearse("run", "--from", "1.27", "--to", "1.28", "--provider", "local", "--allow-egress", "10.0.0.0/8",
                   "--allow-egress", "prod-db.example.com", "--report-dir", str(tmp_path / "r"),
                   state=tmp_path / "state", timeout=120)
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--allow-egress 'prod-db.example.com' is not an address range" in lines[0], lines
    assert not leftovers(tmp_path / "state") and not (tmp_path / "r").exists()
