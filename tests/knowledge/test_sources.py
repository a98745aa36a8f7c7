"""Reading Kubernetes' Go sources: the Go-text helpers on snippets, the readings of real releases in the Go
module cache (offline: no test depends on what the module proxy serves today) against known removals and against
the real binaries, and the backport rule of the generated documents."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from harness.binaries import BinarySet
from harness.errors import InfraError
from harness.knowledge.derive import SourceFacts, document, fetch_release, read_source, refused_flags, refused_gates
from harness.knowledge.derive.gosource import (
    GoText,
    Module,
    calls,
    download,
    go_files,
    map_keys,
    strip_comments,
    struct_fields,
)
from harness.knowledge.derive.probe import help_of
from harness.knowledge.derive.sources import GATE_TABLE, Release, registrations

GO = '''
package features

const (
    // IPv6DualStack enables dual stack ("not a key": here)
    IPv6DualStack featuregate.Feature = "IPv6DualStack"
    Renamed featuregate.Feature = "RealName"
)

/* a block comment with Fake: {Default: true} */
var defaultKubernetesFeatureGates = map[featuregate.Feature]featuregate.FeatureSpec{
    IPv6DualStack: {Default: true, PreRelease: featuregate.GA, LockToDefault: true}, // remove in 1.25
    Renamed:       {Default: false, PreRelease: featuregate.Alpha},
    genericfeatures.SelectorIndex: {Default: true, PreRelease: featuregate.GA},
    "Literal": {Default: false},
}

var versioned = map[featuregate.Feature]featuregate.VersionedSpecs{
    Versioned: {
        {Version: version.MustParse("1.30"), Default: false, PreRelease: featuregate.Alpha},
    },
}

func AddFlags(fs *pflag.FlagSet) {
    fs.StringVar(&o.Config, "config", o.Config, "The path, with a comma, and (parentheses)")
    fs.BoolVar(&o.x, flagName, false, "usage")
    fs.Var(&o.gates, "feature-gates", "gates")
    fs.DurationVar(&o.d, "udp_timeout", 0, "underscores become dashes")
    register(global, local, "housekeeping_interval")
    semconv.ServiceNameKey.String(componentKubelet)
    fs.String("short", "x", "a value method")
}
const flagName = "cleanup"

type Config struct {
    metav1.TypeMeta `json:",inline"`
    Mode string `json:"mode"`
    IPTables IPTablesConfig `json:"iptables"`
    Hidden string `json:"-"`
}

type IPTablesConfig struct {
    MasqueradeAll bool `json:"masqueradeAll"`
    SyncPeriod *metav1.Duration `json:"syncPeriod,omitempty"`
}
'''


def test_go_text_helpers() -> None:
    text = GoText()
    source = strip_comments(GO)
    assert "block comment" not in source and "remove in 1.25" not in source
    assert '"The path, with a comma, and (parentheses)"' in source
    for name, value in (("IPv6DualStack", "IPv6DualStack"), ("Renamed", "RealName"), ("flagName", "cleanup")):
        text.consts[name] = value
    keys = list(map_keys(source, GATE_TABLE))
    assert keys == ["IPv6DualStack", "Renamed", "genericfeatures.SelectorIndex", '"Literal"', "Versioned"]
    assert [text.value(k) for k in keys[:2]] == ["IPv6DualStack", "RealName"]
    assert text.value('"Literal"') == "Literal" and text.value("featuregate.Feature(\"X\")") == "X"
    assert registrations(text, source) == {"config", "cleanup", "feature-gates", "udp-timeout",
                                           "housekeeping-interval", "short"}
    [(callee, args)] = list(calls(source, "StringVar"))
    assert callee == "fs.StringVar" and args[1] == '"config"' and len(args) == 4
    structs = struct_fields(source)
    assert structs["Config"] == [("TypeMeta", "metav1.TypeMeta", ""), ("Mode", "string", "mode"),
                                 ("IPTables", "IPTablesConfig", "iptables"), ("Hidden", "string", "-")]
    assert structs["IPTablesConfig"][1] == ("SyncPeriod", "*metav1.Duration", "syncPeriod")


def test_go_files_follow_build_constraints(tmp_path: Path) -> None:
    for name, head in (("a.go", ""), ("b_windows.go", ""), ("c_test.go", ""), ("d.go", "//go:build windows\n"),
                       ("e.go", "//go:build !providerless\n"), ("f.go", "//go:build providerless\n"),
                       ("g.go", "//go:build linux && (amd64 || arm64)\n"), ("h.go", "//go:build !linux\n")):
        (tmp_path / name).write_text(head + "package x\n", encoding="utf-8")
    assert [p.name for p in go_files(tmp_path)] == ["a.go", "e.go", "g.go"]


# ---- real releases, from the module cache -------------------------------------------------------------------------

def _offline(path: str, version: str) -> Module:
    return download(path, version, offline=True)


@functools.cache
def _facts(version: str) -> SourceFacts:
    try:
        return read_source(fetch_release(version, _offline))
    except InfraError as e:
        pytest.skip(f"Kubernetes {version} sources are not in the Go module cache ({e}); `rehearse binaries "
                    f"ensure --version {version} --source build` or `go mod download` puts them there")


@pytest.mark.parametrize(("old", "new", "component", "gates"), [
    # The feature-gates-removed page: last accepted in 1.24 / 1.25; kube-controller-manager kept IPv6DualStack
    # through 1.26 (k8s.io/controller-manager registered its own copy; kubernetes/kubernetes#116255).
    ("1.24.17", "1.25.15", "kube-apiserver", {"IPv6DualStack", "TTLAfterFinished", "SelectorIndex"}),
    ("1.24.17", "1.25.15", "kubelet", {"IPv6DualStack", "TTLAfterFinished", "SelectorIndex"}),
    ("1.24.17", "1.25.15", "kube-controller-manager", {"TTLAfterFinished", "SelectorIndex"}),
    ("1.25.15", "1.26.13", "kube-proxy", {"PodOverhead", "ServiceLBNodePortControl"}),
    ("1.26.13", "1.27.16", "kube-controller-manager", {"IPv6DualStack", "CSIMigrationAWS"}),
])
def test_gate_removals_read_from_the_sources(old: str, new: str, component: str, gates: set[str]) -> None:
    removed = _facts(old).gates[component] - _facts(new).gates[component]
    assert gates <= removed


def test_node_component_removals_read_from_the_sources() -> None:
    klog = {"log-dir", "logtostderr", "alsologtostderr", "log-file", "one-output", "skip-headers",
            "stderrthreshold"}
    assert klog <= _facts("1.25.15").flags["kubelet"] - _facts("1.26.13").flags["kubelet"]
    assert {"v", "vmodule"} <= _facts("1.26.13").flags["kubelet"]  # klog's two that stay
    assert {"udp-timeout"} <= _facts("1.25.15").flags["kube-proxy"] - _facts("1.26.13").flags["kube-proxy"]
    assert "udpIdleTimeout" in _facts("1.25.15").fields["kube-proxy"] - _facts("1.26.13").fields["kube-proxy"]
    assert {"iptables.masqueradeAll", "featureGates", "mode"} <= _facts("1.28.15").fields["kube-proxy"]
    assert {"featureGates", "cgroupDriver", "evictionHard"} <= _facts("1.28.15").fields["kubelet"]
    assert "container-runtime" in _facts("1.26.13").flags["kubelet"] - _facts("1.27.16").flags["kubelet"]
    assert "UnversionedKubeletConfigMap" in _facts("1.25.15").gates["kubeadm"] - _facts("1.26.13").gates["kubeadm"]


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["bin127", "bin128"])
def test_source_readings_agree_with_the_binaries(fixture: str, request: pytest.FixtureRequest) -> None:
    """Every gate the sources say a component registers, its binary accepts, and no other gate the sources of
    neighbouring releases name; kubelet and kube-proxy flags: the sources' set holds every flag of --help and the
    binary refuses none of it (where those binaries are in the cache)."""
    bins: BinarySet = request.getfixturevalue(fixture)
    facts = _facts(str(bins.version))
    others = set().union(*(set().union(*_facts(v).gates.values()) for v in ("1.26.13", "1.29.15")))
    probed = 0
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        binary = bins.directory / comp
        if not binary.is_file():
            continue
        probed += 1
        assert refused_gates(binary, facts.gates[comp]) == frozenset(), comp
        extra = others - facts.gates[comp]
        assert refused_gates(binary, extra) == extra, comp
        if comp in facts.flags:
            assert help_of(binary).flags - {"help"} <= facts.flags[comp], comp
            assert refused_flags(binary, facts.flags[comp]) == frozenset(), comp
    assert probed >= 3


# ---- backports ----------------------------------------------------------------------------------------------------

def _synthetic(version: str, released: str, gates: set[str], flags: frozenset[str] = frozenset()) -> SourceFacts:
    comps = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
    return SourceFacts(version=version, released=released,
                       gates={**{c: frozenset(gates) for c in comps}, "kubeadm": frozenset()},
                       flags={c: frozenset(flags) for c in ("kubelet", "kube-proxy")},
                       fields={c: frozenset() for c in ("kubelet", "kube-proxy")}, modules={})


def test_a_gate_a_later_patch_has_again_is_a_backport_not_a_removal() -> None:
    """OrderedNamespaceDeletion came to 1.30.x after 1.31.4 was cut: 1.30.14 (June 2025) has it, 1.31.4
    (December 2024) does not, 1.31.14 does. Comparing 1.30.14 with 1.31.4 must not call it a 1.31 removal."""
    v130 = _synthetic("1.30.14", "2025-06-18", {"OrderedNamespaceDeletion", "JobReadyPods"})
    v131_old = _synthetic("1.31.4", "2024-12-10", set())
    v131_new = _synthetic("1.31.14", "2025-11-12", {"OrderedNamespaceDeletion"})
    doc = document(v130, v131_old, [v131_new])
    assert doc["removed_feature_gates"]["kube-apiserver"] == ["JobReadyPods"]
    [entry] = doc["not_removals"]
    assert (entry["name"], entry["present_in"], len(entry["components"])) == ("OrderedNamespaceDeletion",
                                                                             "1.31.14", 5)
    assert "backport" in entry["reason"]
    assert doc["compared"]["backport_check"] == [{"version": "1.31.14", "released": "2025-11-12"}]
    v132 = _synthetic("1.32.13", "2026-02-27", {"OrderedNamespaceDeletion"})
    assert document(v130, v131_old, [v132])["removed_feature_gates"]["kubelet"] == ["JobReadyPods"]


def test_the_real_backport_of_ordered_namespace_deletion() -> None:
    """The same with the real sources, where the module cache has them (the generator fetched them)."""
    old, cut, later = _facts("1.30.14"), _facts("1.31.4"), _facts("1.31.14")
    assert "OrderedNamespaceDeletion" in old.gates["kube-apiserver"] - cut.gates["kube-apiserver"]
    doc = document(old, cut, [later])
    assert "OrderedNamespaceDeletion" not in doc["removed_feature_gates"]["kube-apiserver"]
    assert any(e["name"] == "OrderedNamespaceDeletion" for e in doc["not_removals"])


def test_a_release_the_module_cache_lacks_is_an_infra_error() -> None:
    def nothing(path: str, version: str) -> Any:
        raise InfraError(f"go mod download {path}@{version}: module lookup disabled by GOPROXY=off")
    with pytest.raises(InfraError, match="module lookup disabled"):
        fetch_release("1.99.0", nothing)
    partial = fetch_release("1.28.15", lambda p, v: _offline(p, v) if p == "k8s.io/kubernetes" else nothing(p, v))
    assert isinstance(partial, Release) and set(partial.modules) == {"kubernetes"}
