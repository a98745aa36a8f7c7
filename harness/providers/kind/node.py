"""The ``kind`` provider's nodes: Docker containers labelled by kind (listed, commands run in them through the
Docker engine), the Nodes they register in the cluster's API (readiness at a kubelet version), and the rules in
each that confine its pods' egress to the cluster.

Pod egress (:class:`KindEgress`): a rehearsal's workloads reach nothing outside their cluster. Inside every node
container one nftables table, ``inet rehearse_egress``, judges each new connection pods open:

- pods with their own network namespace are routed through their node: the table's ``forward`` chain;
- host-network pods share the node's namespace with the node's own processes (kubelet, containerd and its image
  pulls, the kubeadm upgrade run by ``docker exec``), so they are told apart by cgroup, not by interface: an
  iptables mangle rule (``-m cgroup --path <the kubelet's pod cgroup>``; the kernel resolves the path in the
  node's cgroup namespace, on cgroup v2 and in the unified hierarchy of v1 hosts alike) marks what sockets under
  the pod cgroup send, and the table's ``output`` chain judges marked packets. The control plane's static pods
  are such pods: the API server, too, dials nothing outside the cluster but the rehearsal's own stand-in.

Allowed: the pod and service ranges, the addresses of the cluster's containers (nodes, load balancer: the API
server), loopback, the nodes' DNS resolvers on port 53, the rehearsal's stand-in on this machine (one address
and port) and the ranges ``--allow-egress`` opens, IPv4 and IPv6 alike. Replies (established connections) pass.
Anything else is rejected (ICMP administratively prohibited), so a pod fails at once instead of hanging. Pod
traffic to an opened range leaves with its node's address (masqueraded, as kindnetd does for everything
outside the cluster), so that the range answers.

The table lives in the node's network namespace: neither the kubelet's restart nor kubeadm touches it; it is
re-applied after each node's kubelet upgrade anyway (the pod cgroup the mark matches is resolved when applied).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.engine import docker_client, run_in
from harness.errors import InfraError
from harness.progress import Progress
from harness.providers._api import core_api, wait_nodes_ready
from harness.providers.base import Cluster, ranges, write_meta
from harness.versions import Version

CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
HELPER_LABEL = "io.rehearse.helper"  # containers rehearse itself starts for a cluster (see .upgrade)


@dataclass
class Node:
    """A node container of a cluster."""

    name: str
    role: str  # control-plane | worker

    @property
    def control_plane(self) -> bool:
        return self.role == "control-plane"


class KindNodes:
    """The node containers of kind clusters in the local Docker engine, and their Nodes in each cluster's API."""

    def __init__(self, progress: Progress, ready_timeout: float) -> None:
        self.progress = progress
        self.ready_timeout = ready_timeout
        self._docker: Any = None

    def client(self) -> Any:
        """The docker SDK client (connected on first use; raises :class:`InfraError` when no engine answers)."""
        if self._docker is None:
            self._docker = docker_client()
        return self._docker

    def containers(self, cluster_name: str, label: str = CLUSTER_LABEL) -> list[dict[str, Any]]:
        """The engine's records of the cluster's containers (a plain listing: they may vanish meanwhile); none
        when no engine answers."""
        try:
            found: list[dict[str, Any]] = self.client().api.containers(
                all=True, filters={"label": f"{label}={cluster_name}"})
        except InfraError:
            return []
        return found

    def of(self, cluster: Cluster) -> list[Node]:
        """The cluster's node containers: control planes first (the bootstrap one first), then workers."""
        out = []
        for c in self.containers(cluster.name):
            role = (c.get("Labels") or {}).get(ROLE_LABEL, "")
            names = c.get("Names") or []
            if role in ("control-plane", "worker") and names:
                out.append(Node(str(names[0]).lstrip("/"), role))
        return sorted(out, key=lambda n: (not n.control_plane, _natural(n.name)))

    def container(self, node: Node) -> Any:
        return self.client().containers.get(node.name)

    def exec(self, node: Node, cmd: Sequence[str] | str, *, what: str | None = None, log: Path | None = None,
             check: bool = True) -> tuple[int, str]:
        """Run ``cmd`` in the node (a string under ``sh -c``), appending it and its output to ``log``; (exit code,
        output). A failure raises :class:`InfraError` naming ``what`` when ``check``."""
        argv, code, out = run_in(self.container(node), cmd)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as fh:
                fh.write(f"$ {' '.join(argv)}  # on {node.name}, exit {code}\n{out}\n")
        if check and code != 0:
            raise InfraError(f"{what or ' '.join(argv)[:80]} failed on {node.name}: {last_line(out)}")
        return code, out

    def core(self, cluster: Cluster) -> Any:
        """The cluster's core/v1 API client."""
        return core_api(cluster)

    def wait_ready(self, cluster: Cluster, version: Version, names: Sequence[str] | None = None,
                   timeout: float | None = None) -> None:
        """Every node (or those named) Ready and reporting kubelet ``version``."""
        wait_nodes_ready(cluster, version, self.progress, names=names, timeout=timeout or self.ready_timeout,
                         interval=1)


def _natural(name: str) -> tuple[str, int]:
    m = re.match(r"(.*?)(\d*)$", name)
    assert m is not None
    return m.group(1), int(m.group(2) or 0)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def last_error_line(text: str) -> str:
    """The last line of ``text`` that reads like an error (else its last line)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        low = ln.lower()
        if "error" in low or "unrecognized" in low or "unknown flag" in low or "failed" in low or "fatal" in low:
            return ln
    return lines[-1] if lines else ""


# ---- pod egress -------------------------------------------------------------------------------------------------
TABLE = "rehearse_egress"
MARK = 0x10000000  # the mark on packets that sockets of the pod cgroup send (kube-proxy uses 0x4000 and 0x8000)
MARK_CHAIN = "REHEARSE-EGRESS"  # the iptables mangle chain that sets it
# The kubelet's pod cgroup below the cgroup v2 root, by how kind runs the kubelet: cgroup root /kubelet with the
# systemd driver (kind's default), with cgroupfs, and the kubelet's own defaults.
POD_CGROUPS = ("kubelet.slice/kubelet-kubepods.slice", "kubelet/kubepods", "kubepods.slice", "kubepods")
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class EgressPolicy:
    """What pods of one cluster may reach: everything else is rejected."""

    pods: tuple[str, ...]  # pod ranges (the cluster's podSubnet)
    services: tuple[str, ...]  # service ranges (serviceSubnet)
    nodes: tuple[str, ...]  # addresses of the cluster's containers: nodes and load balancer (the API server)
    resolvers: tuple[str, ...] = ()  # the nodes' DNS resolvers: port 53 only
    opened: tuple[str, ...] = ()  # --allow-egress
    callbacks: tuple[tuple[str, int], ...] = ()  # the rehearsal's own stand-ins on this machine: (address, port)

    def cluster(self, version: int) -> list[_Net]:
        """The cluster's own ranges of one IP version (pods, services, nodes, loopback), merged."""
        loopback = "127.0.0.0/8" if version == 4 else "::1/128"
        return _merged([*self.pods, *self.services, *self.nodes, loopback], version)

    def to_meta(self) -> dict[str, Any]:
        return {"pods": list(self.pods), "services": list(self.services), "nodes": list(self.nodes),
                "resolvers": list(self.resolvers), "open": list(self.opened),
                "callbacks": [f"{host}:{port}" for host, port in self.callbacks]}

    @classmethod
    def from_meta(cls, data: Mapping[str, Any]) -> EgressPolicy:
        callbacks = []
        for item in data.get("callbacks", []):
            host, _, port = str(item).rpartition(":")
            callbacks.append((host, int(port)))
        return cls(pods=tuple(data["pods"]), services=tuple(data["services"]), nodes=tuple(data["nodes"]),
                   resolvers=tuple(data.get("resolvers", ())), opened=tuple(data.get("open", ())),
                   callbacks=tuple(callbacks))


def _merged(values: Iterable[str], version: int) -> list[_Net]:
    nets = [ipaddress.ip_network(v, strict=False) for v in values]
    if version == 4:
        return list(ipaddress.collapse_addresses([n for n in nets if isinstance(n, ipaddress.IPv4Network)]))
    return list(ipaddress.collapse_addresses([n for n in nets if isinstance(n, ipaddress.IPv6Network)]))


def _elements(nets: Sequence[_Net]) -> str:
    return ", ".join(str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in nets)


def _set(name: str, kind: str, nets: Sequence[_Net]) -> list[str]:
    body = [f"\tset {name} {{", f"\t\ttype {kind}", "\t\tflags interval"]
    if nets:
        body.append(f"\t\telements = {{ {_elements(nets)} }}")
    return [*body, "\t}"]


def nft_ruleset(policy: EgressPolicy) -> str:
    """The nftables table (``nft -f`` input) that confines pod egress to ``policy``; replaces any earlier one
    atomically (create, delete and define again in one transaction)."""
    lines = [f"table inet {TABLE} {{", "}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]
    for v, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        lines += _set(f"cluster{v}", kind, policy.cluster(v))
        lines += _set(f"pods{v}", kind, _merged(policy.pods, v))
        lines += _set(f"open{v}", kind, _merged(policy.opened, v))
        lines += _set(f"dns{v}", kind, _merged(policy.resolvers, v))
        callbacks = [(ipaddress.ip_address(h), p) for h, p in policy.callbacks]
        own = [f"{h} . {p}" for h, p in callbacks if h.version == v]
        lines += [f"\tset callback{v} {{", f"\t\ttype {kind} . inet_service"]
        lines += [f"\t\telements = {{ {', '.join(own)} }}"] if own else []
        lines += ["\t}"]
    lines += [
        "\tchain confine {",
        "\t\tct state established,related accept",
        "\t\tip daddr @cluster4 accept",
        "\t\tip6 daddr @cluster6 accept",
        "\t\tip daddr @open4 accept",
        "\t\tip6 daddr @open6 accept",
        "\t\tmeta l4proto { tcp, udp } th dport 53 ip daddr @dns4 accept",
        "\t\tmeta l4proto { tcp, udp } th dport 53 ip6 daddr @dns6 accept",
        "\t\tmeta l4proto tcp ip daddr . tcp dport @callback4 accept",
        "\t\tmeta l4proto tcp ip6 daddr . tcp dport @callback6 accept",
        "\t\tcounter reject with icmpx type admin-prohibited",
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter - 10; policy accept;",
        "\t\tjump confine",
        "\t}",
        "\tchain output {",
        "\t\ttype filter hook output priority filter - 10; policy accept;",
        f"\t\tmeta mark & {MARK:#x} == {MARK:#x} jump confine",
        "\t}",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat - 10; policy accept;",
        "\t\tip saddr @pods4 ip daddr != @cluster4 ip daddr @open4 masquerade",
        "\t\tip6 saddr @pods6 ip6 daddr != @cluster6 ip6 daddr @open6 masquerade",
        "\t\tip saddr @pods4 ip daddr != @cluster4 ip daddr @dns4 masquerade",
        "\t\tip6 saddr @pods6 ip6 daddr != @cluster6 ip6 daddr @dns6 masquerade",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def mark_rules(cgroup: str) -> str:
    """``iptables-restore --noflush`` input: the mangle chain that marks what the pod cgroup's sockets send
    (declaring the chain empties it, so applying again replaces the rule)."""
    return (f"*mangle\n:{MARK_CHAIN} - [0:0]\n"
            f'-A {MARK_CHAIN} -m cgroup --path {cgroup} -m comment --comment "rehearse: pods egress confined" '
            f"-j MARK --set-xmark {MARK:#x}/{MARK:#x}\nCOMMIT\n")


def apply_script(policy: EgressPolicy) -> str:
    """The shell script a node runs to confine its pods: find the pod cgroup, load the table, mark pod traffic."""
    candidates = " ".join(POD_CGROUPS)
    marks = mark_rules("$cg")
    return f"""set -eu
root=$(awk '$3 == "cgroup2" {{print $2; exit}}' /proc/mounts)
[ -n "$root" ] || {{ echo "no cgroup v2 hierarchy in the node: host-network pods cannot be told apart"; exit 3; }}
cg=
for p in {candidates}; do
  if [ -d "$root/$p" ]; then cg=$p; break; fi
done
[ -n "$cg" ] || {{ echo "the kubelet's pod cgroup is not under $root ({candidates})"; exit 3; }}
nft -f - <<'RULESET'
{nft_ruleset(policy)}RULESET
for t in iptables ip6tables; do
  if [ "$t" = ip6tables ] && [ ! -e /proc/net/if_inet6 ]; then continue; fi
  "$t-restore" --noflush <<MARKS
{marks}MARKS
  "$t" -t mangle -C OUTPUT -j {MARK_CHAIN} 2>/dev/null || "$t" -t mangle -I OUTPUT 1 -j {MARK_CHAIN}
done
nft list chain inet {TABLE} confine >/dev/null
echo "pod cgroup: $cg"
"""


def subnets(kubeadm_config: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(pod ranges, service ranges) of kubeadm's ``ClusterConfiguration`` (comma-separated when dual-stack)."""
    net = kubeadm_config.get("networking") or {}
    pods = tuple(s.strip() for s in str(net.get("podSubnet") or "").split(",") if s.strip())
    services = tuple(s.strip() for s in str(net.get("serviceSubnet") or "").split(",") if s.strip())
    if not pods or not services:
        raise InfraError("pod egress cannot be confined: kubeadm's ClusterConfiguration names no "
                         f"{'podSubnet' if not pods else 'serviceSubnet'}")
    return ranges(pods, "podSubnet"), ranges(services, "serviceSubnet")


def container_addresses(containers: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, ...], str | None]:
    """(every address of the cluster's containers, the IPv4 gateway of their network: this machine) from the
    engine's container listing (``NetworkSettings.Networks.*``: ``IPAddress``, ``GlobalIPv6Address``,
    ``Gateway``)."""
    addresses: list[str] = []
    gateway = None
    for c in containers:
        for net in ((c.get("NetworkSettings") or {}).get("Networks") or {}).values():
            for key in ("IPAddress", "GlobalIPv6Address"):
                if net.get(key):
                    addresses.append(str(net[key]))
            gateway = gateway or net.get("Gateway") or None
    return ranges(addresses, "node address"), gateway


def resolvers(resolv_conf: str) -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf."""
    out = []
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            with contextlib.suppress(ValueError):
                out.append(str(ipaddress.ip_address(parts[1].split("%")[0])))
    return out


def reserve_port(host: str) -> int | None:
    """A port the kernel has free on ``host`` (an address of this machine), None when ``host`` is not one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, 0))
        except OSError:
            return None
        return int(s.getsockname()[1])


class KindEgress:
    """Confines the pods of kind clusters to their cluster (see the module's description)."""

    def __init__(self, progress: Progress, nodes: KindNodes) -> None:
        self.progress = progress
        self.nodes = nodes

    def confine(self, cluster: Cluster) -> None:
        """Work out the cluster's policy (its ranges, addresses and resolvers, ``cluster.options.allow_egress``),
        record it in the cluster's metadata (``egress``) and apply it on every node."""
        policy = self.policy(cluster)
        cluster.meta["egress"] = policy.to_meta()
        write_meta(cluster)
        for node in self.nodes.of(cluster):
            self.apply(cluster, node, policy)
        if policy.opened:
            self.progress.note(f"pods may reach outside the cluster: {', '.join(policy.opened)}")

    def reapply(self, cluster: Cluster, node: Node) -> None:
        """Apply the cluster's recorded policy on ``node`` again (after its kubelet was swapped)."""
        recorded = cluster.meta.get("egress")
        if recorded:
            self.apply(cluster, node, EgressPolicy.from_meta(recorded))

    def apply(self, cluster: Cluster, node: Node, policy: EgressPolicy) -> None:
        code, out = self.nodes.exec(node, apply_script(policy), log=cluster.workdir / "logs" / "egress.log",
                                    check=False)
        if code != 0:
            raise InfraError(f"pod egress cannot be confined on {node.name}: {last_line(out) or f'exit {code}'}")

    def policy(self, cluster: Cluster) -> EgressPolicy:
        """The policy of ``cluster`` as it runs: kubeadm's subnets, the engine's addresses, the nodes' resolvers;
        the first time, also the address and port where the rehearsal's stand-in may listen for it."""
        opened = ranges(cluster.options.allow_egress, "--allow-egress")
        cm = self.nodes.core(cluster).read_namespaced_config_map("kubeadm-config", "kube-system")
        pods, services = subnets(yaml.safe_load((cm.data or {}).get("ClusterConfiguration") or "{}") or {})
        addresses, gateway = container_addresses(self.nodes.containers(cluster.name))
        if not addresses:
            raise InfraError(f"pod egress cannot be confined: no address of {cluster.name}'s containers is known")
        found: list[str] = []
        for node in self.nodes.of(cluster):
            _, conf = self.nodes.exec(node, ["cat", "/etc/resolv.conf"], check=False)
            found += resolvers(conf)
        callbacks: tuple[tuple[str, int], ...] = ()
        if gateway and "callback_host" not in cluster.meta:
            port = reserve_port(gateway)
            if port is not None:
                cluster.meta["callback_host"], cluster.meta["callback_port"] = gateway, port
        if cluster.meta.get("callback_port"):
            callbacks = ((str(cluster.meta["callback_host"]), int(cluster.meta["callback_port"])),)
        return EgressPolicy(pods=pods, services=services, nodes=addresses, resolvers=tuple(dict.fromkeys(found)),
                            opened=opened, callbacks=callbacks)
