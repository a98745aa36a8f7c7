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
from harness.knowledge._load import minor_key
from harness.knowledge.derive import COMPONENTS, derive, parse_help, refused_flags, refused_gates, render_document
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
_KLOG = ("add-dir-header", "alsologtostderr", "log-backtrace-at", "log-dir", "log-file", "log-file-max-size",
         "logtostderr", "one-output", "skip-headers", "skip-log-headers", "stderrthreshold")
# flags.yaml (release notes, by hand) covers removals up to this minor; the generated files cover every minor.
CURATED_OPTIONS_UNTIL = "1.29"
# Removed per the real binaries, absent from the curated flags.yaml: (minor, type, component, name).
GENERATED_ONLY_OPTIONS = {
    *(("1.26", "flag", comp, name) for comp in COMPONENTS for name in _KLOG),
    ("1.26", "flag", "kube-apiserver", "identity-lease-duration-seconds"),
    ("1.26", "flag", "kube-apiserver", "identity-lease-renew-interval-seconds"),
    *(("1.27", "feature-gate", comp, gate) for comp in COMPONENTS for gate in ("CSIMigrationAWS",
                                                                               "CSIMigrationAzureDisk")),
}


def _committed(minor: str) -> dict[str, Any]:
    doc = yaml.safe_load((generated_dir() / f"{minor}.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


# ---- the CI check against the real binaries ---------------------------------------------------------------------

@pytest.mark.slow
def test_1_28_rederived_from_the_real_binaries_matches_the_committed_file(
        bin127: BinarySet, bin128: BinarySet, tmp_path: Path) -> None:
    doc = derive(bin127.directory, bin128.directory, workdir=tmp_path)
    committed = _committed("1.28")
    for key in committed:  # one key at a time: a difference names the part that drifted
        assert doc.get(key) == committed[key], key
    assert doc == committed
    assert yaml.safe_load(render_document(doc)) == doc


# ---- generated against curated ----------------------------------------------------------------------------------

def test_committed_files_cover_the_pairs_that_were_generated() -> None:
    minors = [d["minor"] for d in load_generated()]
    assert minors == [f"1.{m}" for m in range(25, 38)]  # every minor of the catalogue after the first
    for d in load_generated():
        assert (generated_dir() / f"{d['minor']}.yaml").read_text(encoding="utf-8") == render_document(d)


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


def test_every_curated_removal_in_a_generated_minor_is_confirmed_by_the_binaries() -> None:
    k = packaged_knowledge()
    for doc in load_generated():
        minor = doc["minor"]
        generated = {f"{a['group_version']}/{a['kind']}" for a in doc["removed_apis"]}
        assert {a.key for a in k.apis.values() if a.removed_in == minor} == generated, minor
        for option_type, field in (("flag", "removed_flags"), ("feature-gate", "removed_feature_gates")):
            if option_type == "feature-gate" and doc["previous_gates_from"] != "registry":
                continue  # before 1.26 the previous binary cannot list its GA gates: the list is partial
            for comp in COMPONENTS:
                curated = {n for (t, c, n), o in k.options.items() if t == option_type and c == comp
                           and o.removed_in == minor}
                found = set(doc[field][comp])
                assert curated - found == set(), (minor, option_type, comp)
                if minor_key(minor) > minor_key(CURATED_OPTIONS_UNTIL):
                    continue  # flags.yaml is curated up to there; later removals are known from the binaries only
                only = {(minor, option_type, comp, n) for n in found - curated}
                assert only <= GENERATED_ONLY_OPTIONS, sorted(only - GENERATED_ONLY_OPTIONS)
    listed = {(d["minor"], t, c, n) for d in load_generated()
              for t, f in (("flag", "removed_flags"), ("feature-gate", "removed_feature_gates"))
              for c, names in d[f].items() for n in names}
    assert listed >= GENERATED_ONLY_OPTIONS


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
    assert psp.source == "generated from v1.24.17 and v1.25.15"
    gate = next(o for o in options if o.name == "DevicePlugins")
    assert gate.type == "feature-gate" and gate.components == tuple(sorted(COMPONENTS))
    assert gate.removed_in == "1.28"


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
    with pytest.raises(InputError, match="not a rehearse/knowledge-generated/v1 document"):
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
