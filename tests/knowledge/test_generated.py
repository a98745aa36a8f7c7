"""Knowledge generated from the real binaries: re-derived in CI and compared with the committed files, checked
against the curated data, and read back as knowledge entries."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.binaries import BinarySet
from harness.errors import InputError
from harness.knowledge import RemovedApi, RemovedOption, load_knowledge, packaged_knowledge
from harness.knowledge.derive import (
    COMPONENTS,
    NODE_COMPONENTS,
    binary_facts,
    document,
    fetch_release,
    parse_help,
    read_source,
    refused_flags,
    refused_gates,
    render_document,
)
from harness.knowledge.derive.gosource import download
from harness.knowledge.generated import (
    generated_dir,
    load_generated,
    merge_generated,
    removed_admission_plugins,
    with_generated,
)

# Where the curated files and the real binaries differ. Each line is a finding of the generator, kept here so
# that it is seen (and this list shrinks when the curated files are corrected), never silently absorbed.
REPLACEMENT_DIFFERENCES = {
    # The deprecation guide says v1beta2; the real 1.26 serves v1beta2 deprecated (removed in 1.29) and v1beta3
    # not deprecated, so the generator names v1beta3. Both are served by 1.26.
    ("flowcontrol.apiserver.k8s.io/v1beta1/FlowSchema", "1.26"): ("flowcontrol.apiserver.k8s.io/v1beta2",
                                                                  "flowcontrol.apiserver.k8s.io/v1beta3"),
    ("flowcontrol.apiserver.k8s.io/v1beta1/PriorityLevelConfiguration", "1.26"): (
        "flowcontrol.apiserver.k8s.io/v1beta2", "flowcontrol.apiserver.k8s.io/v1beta3"),
}
ALL = (*COMPONENTS, *NODE_COMPONENTS)


def _committed(minor: str) -> dict[str, Any]:
    doc = yaml.safe_load((generated_dir() / f"{minor}.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _offline(path: str, version: str) -> Any:
    """The module cache only: no test depends on what the Go module proxy serves today."""
    return download(path, version, offline=True)


# ---- the CI check against the real binaries ---------------------------------------------------------------------

@pytest.mark.slow
def test_1_28_rederived_from_the_real_binaries_and_sources_matches_the_committed_file(
        bin127: BinarySet, bin128: BinarySet, tmp_path: Path) -> None:
    prev, target = (read_source(fetch_release(str(b.version), _offline)) for b in (bin127, bin128))
    later = read_source(fetch_release(_committed("1.29")["compared"]["source"][1]["version"], _offline))
    facts = binary_facts(bin127.directory, bin128.directory, workdir=tmp_path, gate_candidates=prev.gates,
                         flag_candidates=prev.flags, components=ALL)
    doc = document(prev, target, [later], binary=facts, binary_patches=[prev, target])
    committed = _committed("1.28")
    node_binaries = all((b.directory / c).is_file() for b in (bin127, bin128) for c in NODE_COMPONENTS)
    for key in committed:  # one key at a time: a difference names the part that drifted
        if key == "methods" and not node_binaries:
            continue  # without kubelet/kube-proxy binaries their lists come from the sources (same names)
        assert doc.get(key) == committed[key], key
    assert yaml.safe_load(render_document(doc)) == doc


# ---- generated against curated ----------------------------------------------------------------------------------

def test_committed_files_cover_the_pairs_that_were_generated() -> None:
    minors = [d["minor"] for d in load_generated()]
    assert minors == [f"1.{m}" for m in range(25, 38)]  # every minor of the catalogue after the first
    for d in load_generated():
        assert (generated_dir() / f"{d['minor']}.yaml").read_text(encoding="utf-8") == render_document(d)
        assert d["schema"] == "rehearse/knowledge-generated/v2"
        source = d["compared"]["source"]
        assert [p["version"].rsplit(".", 1)[0] for p in source] == [d["previous"], d["minor"]]
        assert all(p["released"] for p in (*source, *d["compared"]["backport_check"]))


def test_every_generated_removed_api_is_curated_with_the_same_removal() -> None:
    k = packaged_knowledge()
    for doc in load_generated():
        for api in doc["removed_apis"]:
            key = f"{api['group_version']}/{api['kind']}"
            curated = k.apis.get(key)
            assert curated is not None, f"{key}: removed in {doc['minor']} per the binaries, missing from curated"
            assert curated.removed_in == doc["minor"], key
            assert curated.resource == api["resource"], key
            assert curated.deprecated_in == api["deprecated_in"], key
            if (key, doc["minor"]) in REPLACEMENT_DIFFERENCES:
                assert (curated.replacement, api["replacement"]) == REPLACEMENT_DIFFERENCES[(key, doc["minor"])]
            else:
                assert curated.replacement == api["replacement"], key


def test_every_curated_removal_in_a_generated_minor_is_confirmed_by_the_generated_data() -> None:
    """flags.yaml's flags and gates (release notes, by hand) agree with what the binaries and sources say."""
    k = load_knowledge(generated=False)
    generated = {d["minor"]: d for d in load_generated()}
    missing = []
    for (option_type, comp, name), opt in k.options.items():
        doc = generated.get(opt.removed_in)
        field = {"flag": "removed_flags", "feature-gate": "removed_feature_gates",
                 "config-field": "removed_config_fields"}[option_type]
        if doc is None or comp not in doc[field]:
            continue
        if name not in doc[field][comp]:
            missing.append((opt.removed_in, option_type, comp, name))
    assert missing == []
    for doc in generated.values():
        listed = {f"{a['group_version']}/{a['kind']}" for a in doc["removed_apis"]}
        curated = {a.key for a in k.apis.values() if a.removed_in == doc["minor"] and not a.off_by_default}
        assert curated == listed, doc["minor"]  # off-by-default betas: a default apiserver never served them


def test_methods_say_how_each_list_is_known() -> None:
    for doc in load_generated():
        methods = doc["methods"]
        binaries = bool(doc["compared"]["binaries"])
        assert methods["removed_apis"] == ("binary" if binaries else "binary, earlier run"), doc["minor"]
        for comp in NODE_COMPONENTS:
            assert methods["removed_config_fields"][comp] == "source"
        assert methods["removed_feature_gates"]["kubeadm"] == "source"
        for comp in ALL:
            expected = "binary" if binaries and f"{comp} v{doc['compared']['binaries'][1]['version']}" in \
                doc["generated_from"] else "source"
            assert methods["removed_feature_gates"][comp] == expected, (doc["minor"], comp)
    assert _committed("1.28")["methods"]["removed_flags"]["kubelet"] == "binary"  # 1.27/1.28 kubelet binaries
    assert _committed("1.31")["methods"]["removed_flags"]["kube-apiserver"] == "binary, earlier run"


def test_admission_plugins() -> None:
    # PodSecurityPolicy went with its API in 1.25; SecurityContextDeny (deprecated since 1.27) in 1.30;
    # PersistentVolumeLabel (the in-tree cloud providers' labeller) in 1.31; two plugins that 1.36 had and 1.37
    # no longer lists.
    assert dict(removed_admission_plugins()) == {"PodSecurityPolicy": "1.25", "SecurityContextDeny": "1.30",
                                                 "PersistentVolumeLabel": "1.31", "JobValidation": "1.37",
                                                 "PodGroupWorkloadExists": "1.37"}


# ---- reading the generated files as knowledge -------------------------------------------------------------------

def test_merge_generated_entries() -> None:
    entries = merge_generated()
    apis = [e for e in entries if isinstance(e, RemovedApi)]
    options = [e for e in entries if isinstance(e, RemovedOption)]
    assert len(apis) == sum(len(d["removed_apis"]) for d in load_generated())
    psp = next(a for a in apis if a.key == "policy/v1beta1/PodSecurityPolicy")
    assert (psp.removed_in, psp.deprecated_in, psp.replacement) == ("1.25", "1.21", None)
    assert psp.source == "generated (binary) from v1.24.17 and v1.25.15"
    gate = next(o for o in options if o.name == "DevicePlugins")
    assert gate.type == "feature-gate" and gate.components == tuple(sorted(ALL))  # all five, by their binaries
    assert gate.removed_in == "1.28"
    dual = [o for o in options if o.name == "IPv6DualStack"]  # kube-controller-manager kept it two minors longer
    assert {(o.removed_in, o.components, o.source) for o in dual} == {
        ("1.25", ("kube-apiserver", "kube-scheduler"), "generated (binary) from v1.24.17 and v1.25.15"),
        ("1.25", ("kube-proxy", "kubelet"), "generated (source) from v1.24.17 and v1.25.16"),
        ("1.27", ("kube-controller-manager",), "generated (binary) from v1.26.13 and v1.27.16")}
    field = next(o for o in options if o.type == "config-field" and o.name == "udpIdleTimeout")
    assert (field.components, field.removed_in) == (("kube-proxy",), "1.26")
    assert field.source == "generated (source) from v1.25.16 and v1.26.15"


def test_with_generated_keeps_curated_entries_and_adds_the_rest() -> None:
    curated = load_knowledge(generated=False)
    merged = with_generated(curated)
    key = "flowcontrol.apiserver.k8s.io/v1beta1/FlowSchema"
    assert merged.apis[key] is curated.apis[key]  # the guide's replacement and source link stay
    assert merged.removed_flag("kube-apiserver", "--logtostderr") is not None  # only the binaries knew
    assert curated.removed_flag("kube-apiserver", "--logtostderr") is None
    assert merged.removed_gate("kube-scheduler", "CSIMigrationAWS") is not None
    assert merged.fixes == curated.fixes
    assert merged.removed_gate("kubelet", "DevicePlugins") is curated.removed_gate("kubelet", "DevicePlugins")


def test_merge_generated_from_a_user_directory(tmp_path: Path) -> None:
    doc = {**_committed("1.29"), "removed_apis": [{
        "group_version": "example.com/v1alpha1", "kind": "Widget", "resource": "widgets", "deprecated_in": None,
        "removed_in": "1.29", "replacement": "example.com/v1"}]}
    (tmp_path / "generated").mkdir()
    (tmp_path / "generated" / "1.29.yaml").write_text(render_document(doc), encoding="utf-8")
    [widget] = [e for e in merge_generated(tmp_path) if isinstance(e, RemovedApi)]
    assert (widget.key, widget.deprecated_in) == ("example.com/v1alpha1/Widget", "1.28")
    (tmp_path / "generated" / "1.29.yaml").write_text("schema: something-else\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"not a rehearse/knowledge-generated/v2 \(or v1\) document"):
        merge_generated(tmp_path)


# ---- the probes, against stand-in binaries ----------------------------------------------------------------------

HELP = """\
Usage:
  kube-apiserver [flags]

Generic flags:

      --advertise-address ip                   The IP address on which to advertise. If blank, the --bind-address
                                               will be used. --not-a-flag in the text.
      --feature-gates mapStringBool            A set of key=value pairs that describe feature gates. Options are:
                                               APIListChunking=true|false (BETA - default=true)
                                               AllAlpha=true|false (ALPHA - default=false)
      --enable-admission-plugins strings       admission plugins that should be enabled (NamespaceLifecycle). \
Comma-delimited list of admission plugins: AlwaysAdmit, NodeRestriction, PodSecurity. The order of plugins in \
this flag does not matter.
  -v, --v Level                                number for the log level verbosity
      --version version[=true]                 --version, --version=raw prints version information and quits
"""


def test_parse_help() -> None:
    facts = parse_help(HELP)
    assert facts.flags == {"advertise-address", "feature-gates", "enable-admission-plugins", "v", "version"}
    assert facts.gates == {"APIListChunking", "AllAlpha"}
    assert facts.admission_plugins == {"AlwaysAdmit", "NodeRestriction", "PodSecurity"}


def _stand_in(tmp_path: Path) -> Path:
    """A shell script that parses flags the way a component does: it knows gates A and Locked, flag --known."""
    script = tmp_path / "kube-fake"
    script.write_text("""#!/bin/sh
for arg in "$@"; do
  case "$arg" in
    --feature-gates=*)
      for pair in $(echo "${arg#--feature-gates=}" | tr ',' ' '); do
        gate="${pair%%=*}"
        case "$gate" in
          A) ;;
          Locked) echo "Error: cannot set feature gate Locked to true, feature is locked to false"; exit 1;;
          *) echo "Error: invalid argument for --feature-gates: unrecognized feature gate: $gate"; exit 1;;
        esac
      done;;
    --known=0) echo 'Error: invalid argument "0" for "--known" flag: not a duration'; exit 1;;
    --version) ;;
    --*) echo "Error: unknown flag: ${arg%%=*}"; exit 1;;
  esac
done
echo "Kubernetes v1.99.0"
""", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_refused_gates_and_flags(tmp_path: Path) -> None:
    binary = _stand_in(tmp_path)
    assert refused_gates(binary, ["A", "Locked", "Gone", "AlsoGone"]) == {"Gone", "AlsoGone"}
    assert refused_gates(binary, []) == frozenset()
    assert refused_flags(binary, ["known", "gone", "version"]) == {"gone"}


def test_refused_gates_of_a_kubelet(tmp_path: Path) -> None:
    """A kubelet prints --version before it applies its gates: it is stopped by a reserved --node-labels entry
    instead. Stand-in for the real answers (kubelet v1.28.15, run by hand):
    ``kubelet --feature-gates=IPv6DualStack=true --node-labels=kubernetes.io/rehearse-probe=1`` →
    ``"command failed" err="failed to set feature gates from initial flags-based config: unrecognized feature
    gate: IPv6DualStack"``; with known gates only → ``err="unknown 'kubernetes.io' or 'k8s.io' labels specified
    with --node-labels: [kubernetes.io/rehearse-probe]…"``."""
    kubelet = tmp_path / "kubelet"
    kubelet.write_text("""#!/bin/sh
for arg in "$@"; do
  case "$arg" in
    --feature-gates=*)
      for pair in $(echo "${arg#--feature-gates=}" | tr ',' ' '); do
        case "${pair%%=*}" in
          A) ;;
          *) echo "E1205 run.go:74] \\"command failed\\" err=\\"failed to set feature gates from initial \
flags-based config: unrecognized feature gate: ${pair%%=*}\\""; exit 1;;
        esac
      done;;
  esac
done
echo "E1205 run.go:74] \\"command failed\\" err=\\"unknown 'kubernetes.io' or 'k8s.io' labels specified with \
--node-labels: [kubernetes.io/rehearse-probe]\\""
exit 1
""", encoding="utf-8")
    kubelet.chmod(kubelet.stat().st_mode | stat.S_IXUSR)
    assert refused_gates(kubelet, ["A", "Gone", "AlsoGone"]) == {"Gone", "AlsoGone"}
