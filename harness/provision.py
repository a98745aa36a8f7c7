"""What the rehearsal cluster must look like: the exact versions it runs, its nodes, the production flags it
can take (machine-specific ones, listed in ``harness/data/machine_flags.yaml``, stay behind)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import yaml

from harness.errors import InputError
from harness.providers.base import ClusterOptions, NodeSpec, Provider
from harness.snapshot.model import Snapshot
from harness.versions import Version


@dataclass(frozen=True)
class PreparedVersions:
    """The versions a rehearsal runs, as its provider prepared them (a build may have to use an older patch)."""

    source: Version
    hops: list[Version]
    used: dict[str, str]  # each version asked for -> the one that runs


def prepare_versions(provider: Provider, source: Version, hops: Sequence[Version]) -> PreparedVersions:
    """Make ``source`` and every hop ready on ``provider``, once each; the exact versions that will run."""
    ran_source = provider.prepare(source)
    used = {str(source): str(ran_source)}
    ran: list[Version] = []
    for v in hops:
        ran.append(provider.prepare(v))
        used[str(v)] = str(ran[-1])
    return PreparedVersions(source=ran_source, hops=ran, used=used)


def node_specs(snapshot: Snapshot, limit: int = 20) -> list[NodeSpec]:
    """Nodes to mirror: the snapshot's (or a default pair), up to ``limit``."""
    nodes = snapshot.nodes[:limit] or []
    if not nodes:
        return [NodeSpec("control-plane-1", control_plane=True), NodeSpec("worker-1")]
    specs = []
    for i, n in enumerate(nodes, 1):
        name = n.name or f"node-{i}"
        capacity = n.capacity or {"cpu": "8", "memory": "32Gi", "pods": "110"}
        specs.append(NodeSpec(name=name, labels=dict(n.labels), taints=list(n.taints), capacity=dict(capacity),
                              control_plane=n.control_plane))
    return specs


@functools.cache
def machine_flag_prefixes() -> tuple[str, ...]:
    """The prefixes of flags that describe the production machine (``harness/data/machine_flags.yaml``)."""
    text = resources.files("harness.data").joinpath("machine_flags.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not all(isinstance(k, str) and k.startswith("-") for k in doc):
        raise InputError("machine_flags.yaml: expected a mapping of flag prefixes to reasons")
    return tuple(doc)


def portable_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """Split production flags into those a rehearsal cluster can take and machine-specific ones (by prefix, or
    because the value is an absolute path on the production machine)."""
    kept, dropped = [], []
    for arg in args:
        name, _, value = arg.partition("=")
        if name.startswith(machine_flag_prefixes()) or value.startswith("/"):
            dropped.append(name)
        else:
            kept.append(arg)
    return kept, dropped


def cluster_options(snapshot: Snapshot, apiserver_args: Sequence[str] = ()) -> tuple[ClusterOptions, list[str]]:
    """The cluster to create for ``snapshot`` (with extra ``apiserver_args`` for both versions), and the
    production flags that could not be carried over."""
    cp = snapshot.control_plane
    api, d1 = portable_flags([*cp.apiserver_args, *apiserver_args])
    cm, d2 = portable_flags(list(cp.controller_manager_args))
    sched, d3 = portable_flags(list(cp.scheduler_args))
    options = ClusterOptions(nodes=node_specs(snapshot), apiserver_args=api, controller_manager_args=cm,
                             scheduler_args=sched, feature_gates=dict(cp.feature_gates))
    return options, sorted(set(d1 + d2 + d3))
