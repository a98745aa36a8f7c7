"""One generated document (``generated/<minor>.yaml``): the facts of the binaries where they could be run, the
facts of the Go sources for every component and minor, backports told apart from removals, and how each fact is
known.

Patches compared: the newest patch of each minor whose sources the Go module proxy serves (and, for the binary
probes, the patches whose binaries are at hand). A gate or flag that minor N-1 has and the compared patch of N
lacks is a removal in N — unless a newer patch of N or the newest patch of N+1 has it again: then N-1 received it
by a backport after N's compared patch was cut, and it is recorded under ``not_removals`` instead.

Methods (``methods``): ``binary`` — probed on the binaries named in ``compared.binaries`` (candidates read from
the sources); ``source`` — read from the sources named in ``compared.source`` (:mod:`.sources`); ``binary, earlier
run`` — kept from an earlier run on the binaries named in ``generated_from``, which are not here to run again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.knowledge.derive.diff import NODE_COMPONENTS
from harness.knowledge.derive.sources import ALL_COMPONENTS, Release, config_fields, feature_gates, flags, kubeadm_gates

SCHEMA = "rehearse/knowledge-generated/v2"
BINARY, SOURCE, EARLIER = "binary", "source", "binary, earlier run"
GATE_COMPONENTS = (*ALL_COMPONENTS, "kubeadm")


@dataclass(frozen=True)
class SourceFacts:
    """What one release's sources say each component accepts."""

    version: str  # "1.30.14"
    released: str  # "2025-06-18"
    gates: Mapping[str, frozenset[str]]  # by component, kubeadm included
    flags: Mapping[str, frozenset[str]]  # kubelet, kube-proxy
    fields: Mapping[str, frozenset[str]]  # kubelet, kube-proxy: configuration file field paths
    modules: Mapping[str, str]  # the module versions read ("kube-proxy": "v0.31.11" where the proxy has gaps)

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def read_source(release: Release) -> SourceFacts:
    """:class:`SourceFacts` of ``release``."""
    gates = dict(feature_gates(release))
    gates["kubeadm"] = kubeadm_gates(release)
    return SourceFacts(
        version=release.version, released=release.released, gates=gates,
        flags={c: flags(release, c) for c in NODE_COMPONENTS},
        fields={c: config_fields(release, c) for c in NODE_COMPONENTS},
        modules={name: m.version for name, m in sorted(release.modules.items())})


def _patch(facts: SourceFacts) -> dict[str, str]:
    return {"version": facts.version, "released": facts.released}


class _Filter:
    """Removals checked against later patches: present again there means a backport, not a removal."""

    def __init__(self, later: Sequence[SourceFacts]) -> None:
        self.later = later
        self.not_removals: list[dict[str, Any]] = []

    def keep(self, kind: str, component: str, names: Sequence[str] | frozenset[str]) -> list[str]:
        out = []
        for name in sorted(names):
            table = {"feature-gate": "gates", "flag": "flags", "config-field": "fields"}[kind]
            again = next((f for f in self.later if name in getattr(f, table).get(component, frozenset())), None)
            if again is None:
                out.append(name)
                continue
            self._note(kind, name, component, again)
        return out

    def _note(self, kind: str, name: str, component: str, again: SourceFacts) -> None:
        for item in self.not_removals:
            if (item["type"], item["name"], item["present_in"]) == (kind, name, again.version):
                item["components"].append(component)
                return
        self.not_removals.append({
            "type": kind, "name": name, "components": [component], "present_in": again.version,
            "reason": f"present again in {again.version} ({again.released}): a backport to the previous minor "
                      "after the compared patch, not a removal"})


def document(previous: SourceFacts, target: SourceFacts, later: Sequence[SourceFacts], *,
             binary: Mapping[str, Any] | None = None, binary_patches: Sequence[SourceFacts] = (),
             earlier: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The generated document of ``target``'s minor.

    ``later``: the sources that tell a backport (newer patches of the target minor than a compared one, the
    newest patch of the next minor). ``binary``: :func:`~.diff.binary_facts` of the binaries of
    ``binary_patches`` (previous, target), when both are at hand; otherwise ``earlier``, the committed document,
    gives the facts only binaries can tell (APIs, control-plane flags, admission plugins).
    """
    filt = _Filter(later)
    methods: dict[str, Any] = {"removed_flags": {}, "removed_feature_gates": {}, "removed_config_fields": {}}
    flags_out: dict[str, list[str]] = {}
    gates_out: dict[str, list[str]] = {}
    probed_flags = (binary or {}).get("removed_flags", {})
    probed_gates = (binary or {}).get("removed_feature_gates", {})
    for comp in GATE_COMPONENTS:
        if comp in probed_gates:
            gates_out[comp], methods["removed_feature_gates"][comp] = filt.keep("feature-gate", comp,
                                                                                probed_gates[comp]), BINARY
        else:
            gates_out[comp] = filt.keep("feature-gate", comp, previous.gates[comp] - target.gates[comp])
            methods["removed_feature_gates"][comp] = SOURCE
    for comp in ALL_COMPONENTS:
        if comp in probed_flags:
            names = probed_flags[comp]
            flags_out[comp] = filt.keep("flag", comp, names) if comp in NODE_COMPONENTS else list(names)
            methods["removed_flags"][comp] = BINARY
        elif comp in NODE_COMPONENTS:
            flags_out[comp] = filt.keep("flag", comp, previous.flags[comp] - target.flags[comp])
            methods["removed_flags"][comp] = SOURCE
        elif earlier is not None and comp in earlier.get("removed_flags", {}):
            flags_out[comp] = list(earlier["removed_flags"][comp])
            methods["removed_flags"][comp] = EARLIER
    fields_out = {}
    for comp in NODE_COMPONENTS:
        fields_out[comp] = filt.keep("config-field", comp, previous.fields[comp] - target.fields[comp])
        methods["removed_config_fields"][comp] = SOURCE
    facts = binary if binary is not None else earlier or {}
    api_method = BINARY if binary is not None else EARLIER
    methods["removed_apis"] = methods["deprecated_apis"] = methods["removed_admission_plugins"] = api_method
    return {
        "schema": SCHEMA,
        "minor": target.minor,
        "previous": previous.minor,
        "compared": {
            "binaries": [_patch(f) for f in binary_patches] if binary is not None else [],
            "source": [_patch(previous), _patch(target)],
            "backport_check": [_patch(f) for f in filt.later],
            "source_modules": {previous.version: dict(previous.modules), target.version: dict(target.modules)},
        },
        "generated_from": list(facts.get("generated_from", [])),
        "methods": methods,
        "removed_apis": list(facts.get("removed_apis", [])),
        "deprecated_apis": list(facts.get("deprecated_apis", [])),
        "removed_flags": flags_out,
        "removed_feature_gates": gates_out,
        "removed_config_fields": fields_out,
        "removed_admission_plugins": list(facts.get("removed_admission_plugins", [])),
        "not_removals": filt.not_removals,
    }

