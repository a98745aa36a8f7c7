"""Deriving one minor: what the binaries of minor N stopped serving or accepting that those of N-1 still did."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.errors import InfraError, InputError
from harness.knowledge._load import minor_key
from harness.knowledge.curated import packaged_knowledge
from harness.knowledge.derive.discovery import Discovery, ServedApi, discover
from harness.knowledge.derive.probe import binary_version, help_of, refused_flags, refused_gates
from harness.knowledge.model import Knowledge
from harness.progress import NullProgress, Progress

COMPONENTS: tuple[str, ...] = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
BINARIES: tuple[str, ...] = (*COMPONENTS, "etcd")
NODE_COMPONENTS: tuple[str, ...] = ("kubelet", "kube-proxy")
# Groups whose kinds moved to other groups when they were removed (extensions/v1beta1 → apps, networking, policy).
SUCCESSOR_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"extensions": ("apps", "networking.k8s.io", "policy")})
_GV_PARTS = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _rank(api: ServedApi) -> tuple[int, int, int, int]:
    """Higher is better: not deprecated, then GA over beta over alpha, then the higher version."""
    m = _GV_PARTS.match(api.version)
    if m is None:
        return (0, 0, 0, 0)
    stage = {"": 2, "beta": 1, "alpha": 0}[m.group(2) or ""]
    return (0 if api.deprecated_in else 1, stage, int(m.group(1)), int(m.group(3) or 0))


def replacement_for(removed: ServedApi, target: Discovery) -> str | None:
    """The group/version of the same kind that ``target`` serves in the same (or successor) group, if any.

    The best one the target serves: not deprecated there, then stable over beta over alpha, then the highest
    version; between equals, the one the apiserver's own deprecation warning suggested ("use …").
    """
    groups = {removed.group, *SUCCESSOR_GROUPS.get(removed.group, ())}
    candidates = [a for (gv, kind), a in target.served.items() if kind == removed.kind and a.group in groups
                  and gv != removed.group_version]
    if not candidates:
        return None
    best = max(candidates, key=lambda a: (_rank(a), a.group_version == removed.suggested, a.group_version))
    return best.group_version


def _minor_of(version: str) -> str:
    m = re.match(r"^v?(\d+)\.(\d+)", version)
    if m is None:
        raise InfraError(f"cannot read a minor version from {version!r}")
    return f"{m.group(1)}.{m.group(2)}"


def _curated_flags(knowledge: Knowledge, component: str) -> set[str]:
    return {name for (t, comp, name) in knowledge.options if t == "flag" and comp == component}


def binary_facts(previous: Path, target: Path, *, workdir: Path, gate_candidates: Mapping[str, frozenset[str]],
                 flag_candidates: Mapping[str, frozenset[str]] | None = None, curated: Knowledge | None = None,
                 progress: Progress | None = None, discoveries: dict[Path, Discovery] | None = None,
                 components: Sequence[str] = COMPONENTS) -> dict[str, Any]:
    """What the binaries of the minor of ``target`` (a directory) stopped serving or accepting against
    ``previous``'s: removed and deprecated APIs (kube-apiserver's discovery, one apiserver at a time; cached by
    directory in ``discoveries``), and for each of ``components`` present in both directories the flags and
    feature gates the target refuses and the previous accepts, and the admission plugins it dropped.

    Gate candidates are ``gate_candidates[component]`` (the gates the sources of the previous patch register),
    what the previous binary lists (``/metrics``, ``--help``) and the curated names; flag candidates are those of
    the previous ``--help``, ``flag_candidates[component]`` and the curated ones. Every candidate is put to both
    binaries.
    """
    progress = progress or NullProgress()
    curated = curated if curated is not None else packaged_knowledge()
    cache = discoveries if discoveries is not None else {}
    for directory, label in ((previous, "previous"), (target, "target")):
        if directory not in cache:
            progress.update(f"starting kube-apiserver in {directory} for its discovery")
            cache[directory] = discover(directory, workdir / label)
    old, new = cache[previous], cache[target]
    prev_minor, minor = _minor_of(old.version), _minor_of(new.version)
    if minor_key(minor) != (minor_key(prev_minor)[0], minor_key(prev_minor)[1] + 1):
        raise InputError(f"{old.version} and {new.version} are not consecutive minors")

    removed_apis = []
    for key in sorted(set(old.served) - set(new.served)):
        api = old.served[key]
        removed_apis.append({
            "group_version": api.group_version, "kind": api.kind, "resource": api.resource,
            "deprecated_in": api.deprecated_in, "removed_in": minor, "replacement": replacement_for(api, new),
        })
    deprecated_apis = []
    for key in sorted(new.served):
        api = new.served[key]
        if api.deprecated_in is not None:
            deprecated_apis.append({
                "group_version": api.group_version, "kind": api.kind, "resource": api.resource,
                "deprecated_in": api.deprecated_in, "removal_announced": api.removal_announced,
                "replacement": api.suggested,
            })

    versions: list[str] = []
    removed_flags: dict[str, list[str]] = {}
    removed_gates: dict[str, list[str]] = {}
    plugins: dict[str, frozenset[str]] = {}
    curated_gates = {n for (t, _, n) in curated.options if t == "feature-gate"}
    for comp in components:
        old_bin, new_bin = previous / comp, target / comp
        if not (old_bin.is_file() and new_bin.is_file()):
            continue
        versions += [f"{comp} {binary_version(old_bin)}", f"{comp} {binary_version(new_bin)}"]
        progress.update(f"probing the flags and feature gates of {comp} {prev_minor} and {minor}")
        old_help, new_help = help_of(old_bin), help_of(new_bin)
        if comp == "kube-apiserver":
            plugins = {"old": old_help.admission_plugins, "new": new_help.admission_plugins}
        extra = (flag_candidates or {}).get(comp, frozenset())
        candidates = old_help.flags | extra | _curated_flags(curated, comp)
        old_flags = candidates - refused_flags(old_bin, candidates - old_help.flags)
        removed_flags[comp] = sorted(refused_flags(new_bin, old_flags - new_help.flags))
        gates = set(gate_candidates.get(comp, frozenset())) | old_help.gates | curated_gates
        if comp == "kube-apiserver":
            gates |= old.gates
        old_gates = gates - refused_gates(old_bin, gates)
        removed_gates[comp] = sorted(refused_gates(new_bin, old_gates))
    return {
        "minor": minor,
        "previous": prev_minor,
        "generated_from": versions,
        "removed_apis": removed_apis,
        "deprecated_apis": deprecated_apis,
        "removed_flags": removed_flags,
        "removed_feature_gates": removed_gates,
        "removed_admission_plugins": sorted(plugins.get("old", frozenset()) - plugins.get("new", frozenset())),
    }
