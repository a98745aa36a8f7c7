"""The knowledge layer: packaged data consistency, lookups, user directories and their error messages."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import InputError
from harness.knowledge import FILE_NAMES, Knowledge, load_knowledge, packaged_knowledge
from harness.versions import Version

GUIDE = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/#"


def _raw(name: str) -> list[dict[str, Any]]:
    text = resources.files("harness.data").joinpath(f"knowledge/{name}").read_text(encoding="utf-8")
    entries = yaml.safe_load(text)["entries"]
    assert isinstance(entries, list)
    return entries


def _minor(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


@pytest.fixture(scope="module")
def k() -> Knowledge:
    return packaged_knowledge()


# ---- the packaged data ---------------------------------------------------------------------------------------

def test_data_directory_holds_only_yaml() -> None:
    data = resources.files("harness.data").joinpath("knowledge")
    names = sorted(p.name for p in data.iterdir() if not p.name.startswith(".") and p.name != "generated")
    assert names == sorted([*FILE_NAMES, "api_callers.yaml"])  # the callers table is read by harness.knowledge.callers


def test_packaged_data_loads(k: Knowledge) -> None:
    assert len(k.apis) == len(_raw("removed_apis.yaml")) >= 51
    assert len(k.fixes) == len(_raw("fixes.yaml"))
    assert {o.type for o in k.options.values()} == {"flag", "feature-gate", "config-field"}


@pytest.mark.parametrize(("key", "removed_in"), [
    ("extensions/v1beta1/Deployment", "1.16"), ("apps/v1beta1/Deployment", "1.16"),
    ("apps/v1beta2/Deployment", "1.16"), ("extensions/v1beta1/DaemonSet", "1.16"),
    ("apps/v1beta2/DaemonSet", "1.16"), ("extensions/v1beta1/ReplicaSet", "1.16"),
    ("apps/v1beta2/ReplicaSet", "1.16"), ("apps/v1beta1/StatefulSet", "1.16"),
    ("apps/v1beta2/StatefulSet", "1.16"), ("extensions/v1beta1/NetworkPolicy", "1.16"),
    ("extensions/v1beta1/PodSecurityPolicy", "1.16"),
    ("admissionregistration.k8s.io/v1beta1/MutatingWebhookConfiguration", "1.22"),
    ("admissionregistration.k8s.io/v1beta1/ValidatingWebhookConfiguration", "1.22"),
    ("apiextensions.k8s.io/v1beta1/CustomResourceDefinition", "1.22"),
    ("apiregistration.k8s.io/v1beta1/APIService", "1.22"),
    ("authentication.k8s.io/v1beta1/TokenReview", "1.22"),
    ("authorization.k8s.io/v1beta1/SubjectAccessReview", "1.22"),
    ("authorization.k8s.io/v1beta1/LocalSubjectAccessReview", "1.22"),
    ("authorization.k8s.io/v1beta1/SelfSubjectAccessReview", "1.22"),
    ("certificates.k8s.io/v1beta1/CertificateSigningRequest", "1.22"),
    ("coordination.k8s.io/v1beta1/Lease", "1.22"),
    ("extensions/v1beta1/Ingress", "1.22"), ("networking.k8s.io/v1beta1/Ingress", "1.22"),
    ("networking.k8s.io/v1beta1/IngressClass", "1.22"),
    ("rbac.authorization.k8s.io/v1beta1/ClusterRole", "1.22"),
    ("rbac.authorization.k8s.io/v1beta1/ClusterRoleBinding", "1.22"),
    ("rbac.authorization.k8s.io/v1beta1/Role", "1.22"), ("rbac.authorization.k8s.io/v1beta1/RoleBinding", "1.22"),
    ("scheduling.k8s.io/v1beta1/PriorityClass", "1.22"),
    ("storage.k8s.io/v1beta1/CSIDriver", "1.22"), ("storage.k8s.io/v1beta1/CSINode", "1.22"),
    ("storage.k8s.io/v1beta1/StorageClass", "1.22"), ("storage.k8s.io/v1beta1/VolumeAttachment", "1.22"),
    ("batch/v1beta1/CronJob", "1.25"), ("discovery.k8s.io/v1beta1/EndpointSlice", "1.25"),
    ("events.k8s.io/v1beta1/Event", "1.25"), ("autoscaling/v2beta1/HorizontalPodAutoscaler", "1.25"),
    ("policy/v1beta1/PodDisruptionBudget", "1.25"), ("policy/v1beta1/PodSecurityPolicy", "1.25"),
    ("node.k8s.io/v1beta1/RuntimeClass", "1.25"),
    ("flowcontrol.apiserver.k8s.io/v1beta1/FlowSchema", "1.26"),
    ("flowcontrol.apiserver.k8s.io/v1beta1/PriorityLevelConfiguration", "1.26"),
    ("autoscaling/v2beta2/HorizontalPodAutoscaler", "1.26"),
    ("storage.k8s.io/v1beta1/CSIStorageCapacity", "1.27"),
    ("flowcontrol.apiserver.k8s.io/v1beta2/FlowSchema", "1.29"),
    ("flowcontrol.apiserver.k8s.io/v1beta2/PriorityLevelConfiguration", "1.29"),
    ("flowcontrol.apiserver.k8s.io/v1beta3/FlowSchema", "1.32"),
    ("flowcontrol.apiserver.k8s.io/v1beta3/PriorityLevelConfiguration", "1.32"),
])
def test_guide_removals_are_present(k: Knowledge, key: str, removed_in: str) -> None:
    assert k.apis[key].removed_in == removed_in


def test_every_api_entry_is_consistent(k: Knowledge) -> None:
    for raw in _raw("removed_apis.yaml"):
        assert "replacement" in raw, f"{raw['group_version']}/{raw['kind']}: replacement must be explicit"
    for api in k.apis.values():
        assert (1, 16) <= api.removed_minor <= (1, 37), api.key
        assert (1, 0) <= api.deprecated_minor < api.removed_minor, api.key
        assert api.source.startswith((GUIDE, "https://github.com/kubernetes/")), api.key
        assert api.resource == api.resource.lower() and api.resource.endswith("s"), api.key
        if api.replacement is None:
            assert "no replacement" in k.fix_for(api.group_version, api.kind).lower(), api.key
        else:
            later = k.removed_api(api.replacement, api.kind)
            assert later is None or later.removed_minor > api.removed_minor, f"{api.key} → {api.replacement}"


def test_every_fix_names_a_removed_api_and_says_more_than_the_default(k: Knowledge) -> None:
    for key, text in k.fixes.items():
        assert key in k.apis, key
        assert len(text) > 30, key


def test_every_option_entry_is_consistent(k: Knowledge) -> None:
    for raw in _raw("flags.yaml"):
        assert "replacement" in raw, raw["name"]
    for opt in k.options.values():
        assert (1, 16) <= opt.removed_minor <= (1, 37), opt.name
        assert opt.source.strip(), opt.name
        sourced = r"https?://|probed|generated (\((binary|source|binary, earlier run)\) )?from v"
        assert re.search(sourced, opt.source), opt.name


# ---- lookups -------------------------------------------------------------------------------------------------

def test_removed_api_lookup(k: Knowledge) -> None:
    pdb = k.removed_api("policy/v1beta1", "PodDisruptionBudget")
    assert pdb is not None
    assert (pdb.deprecated_in, pdb.removed_in, pdb.replacement) == ("1.21", "1.25", "policy/v1")
    assert pdb.resource == "poddisruptionbudgets"
    assert pdb.source == GUIDE + "poddisruptionbudget-v125"
    assert pdb.served_by(Version(1, 24, 17)) and not pdb.served_by(Version(1, 25, 0))
    assert k.removed_api("apps/v1", "Deployment") is None
    assert k.removed_api("policy/v1beta1", "Deployment") is None


def test_removed_between_is_half_open(k: Knowledge) -> None:
    keys = {a.key for a in k.removed_between(Version(1, 24, 17), Version(1, 25, 0))}
    assert {"policy/v1beta1/PodDisruptionBudget", "batch/v1beta1/CronJob",
            "policy/v1beta1/PodSecurityPolicy"} <= keys
    assert all(a.removed_in == "1.25" for a in k.removed_between(Version(1, 24, 0), Version(1, 25, 16)))
    assert k.removed_between(Version(1, 25, 0), Version(1, 25, 16)) == []
    later = k.removed_between(Version(1, 25, 0), Version(1, 27, 0))
    assert {a.removed_in for a in later} == {"1.26", "1.27"}
    assert k.removed_between(Version(1, 28, 0), Version(1, 27, 0)) == []


def test_removed_between_is_ordered_by_removal(k: Knowledge) -> None:
    found = k.removed_between(Version(1, 15, 0), Version(1, 37, 0))
    assert len(found) == len(k.apis)
    assert [a.removed_minor for a in found] == sorted(a.removed_minor for a in found)


def test_fix_for_known_and_unknown(k: Knowledge) -> None:
    assert "empty selector" in k.fix_for("policy/v1beta1", "PodDisruptionBudget")
    assert k.fix_for("batch/v1beta1", "CronJob") == "Rewrite as batch/v1; nothing else changes."
    hpa = k.fix_for("autoscaling/v2beta1", "HorizontalPodAutoscaler")
    assert "targetAverageUtilization" in hpa and "averageUtilization" in hpa
    ingress = k.fix_for("networking.k8s.io/v1beta1", "Ingress")
    assert "service.port.number" in ingress and "pathType" in ingress
    assert "nominalConcurrencyShares" in k.fix_for("flowcontrol.apiserver.k8s.io/v1beta2",
                                                   "PriorityLevelConfiguration")
    psp = k.fix_for("policy/v1beta1", "PodSecurityPolicy")
    assert psp.startswith("No replacement") and "pod-security.kubernetes.io/enforce" in psp
    assert k.fix_for("apps/v1", "Deployment") == ""


def test_replacement_follows_chains(k: Knowledge) -> None:
    gv = "flowcontrol.apiserver.k8s.io/v1beta1"
    assert k.replacement_for(gv, "FlowSchema") == "flowcontrol.apiserver.k8s.io/v1"
    assert k.replacement_for(gv, "FlowSchema", Version(1, 27, 16)) == "flowcontrol.apiserver.k8s.io/v1beta2"
    assert k.replacement_for(gv, "FlowSchema", Version(1, 29, 0)) == "flowcontrol.apiserver.k8s.io/v1"
    assert k.replacement_for("extensions/v1beta1", "PodSecurityPolicy", Version(1, 24, 0)) == "policy/v1beta1"
    assert k.replacement_for("extensions/v1beta1", "PodSecurityPolicy") is None
    assert k.replacement_for("policy/v1beta1", "PodDisruptionBudget") == "policy/v1"
    assert k.replacement_for("apps/v1", "Deployment") is None


@pytest.mark.parametrize("gate", [
    "DevicePlugins", "DelegateFSGroupToCSIDriver", "KubeletCredentialProviders", "MixedProtocolLBService",
    "ServiceInternalTrafficPolicy", "ServiceIPStaticSubrange", "EndpointSliceTerminatingCondition",
])
def test_gates_probed_on_1_28_15(k: Knowledge, gate: str) -> None:
    opt = k.removed_gate("kube-apiserver", gate)
    assert opt is not None and opt.removed_in == "1.28" and "probed" in opt.source
    assert k.removed_gate("kubelet", gate) is opt


def test_flag_and_gate_lookups(k: Knowledge) -> None:
    assert k.removed_gate("kube-apiserver", "NoSuchGate") is None
    assert k.removed_gate("kube-apiserver", "deviceplugins") is None  # gate names are case-sensitive
    for spelled in ("--network-plugin", "--network-plugin=cni", "network-plugin", "-network-plugin"):
        flag = k.removed_flag("kubelet", spelled)
        assert flag is not None and flag.removed_in == "1.24", spelled
    assert k.removed_flag("kube-apiserver", "--network-plugin") is None
    audiences = k.removed_flag("kube-apiserver", "--service-account-api-audiences")
    assert audiences is not None and audiences.replacement == "api-audiences"
    assert "--api-audiences" in audiences.fix() and audiences.display == "--service-account-api-audiences"
    renamed = k.removed_gate("kubelet", "PodHasNetworkCondition")
    assert renamed is not None and renamed.replacement == "PodReadyToStartContainersCondition"


def test_options_removed_between(k: Knowledge) -> None:
    found = k.options_removed_between(Version(1, 27, 16), Version(1, 28, 15))
    names = {o.name for o in found}
    assert {"DevicePlugins", "lock-object-name"} <= names
    assert all(o.removed_in == "1.28" for o in found)
    assert len(names) == len(found)  # one row per option, not per component
    scheduler = k.options_removed_between(Version(1, 27, 0), Version(1, 28, 0), component="kube-scheduler")
    assert "lock-object-name" in {o.name for o in scheduler}
    kubelet = k.options_removed_between(Version(1, 27, 0), Version(1, 28, 0), component="kubelet")
    assert "lock-object-name" not in {o.name for o in kubelet}


# ---- user directories ----------------------------------------------------------------------------------------

def _write(directory: Path, name: str, doc: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


WIDGET = {"group_version": "example.com/v1beta1", "kind": "Widget", "resource": "widgets",
          "deprecated_in": "1.28", "removed_in": "1.30", "replacement": "example.com/v1",
          "source": "https://example.com/changelog"}


def test_user_directory_extends_and_overrides(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    _write(mine, "removed_apis.yaml", {"entries": [
        WIDGET,
        {**WIDGET, "kind": "Gadget", "resource": "gadgets", "replacement": None},
        {"group_version": "batch/v1beta1", "kind": "CronJob", "resource": "cronjobs", "deprecated_in": "1.21",
         "removed_in": "1.25", "replacement": "batch/v1", "source": "https://internal.example/cronjob"},
    ]})
    _write(mine, "fixes.yaml", {"entries": [{"api": "batch/v1beta1/CronJob", "fix": "Use our cronjob template."}]})
    _write(mine, "flags.yaml", {"entries": [{
        "type": "feature-gate", "name": "OurGate", "components": ["kube-apiserver"], "removed_in": "1.29",
        "replacement": None, "source": "https://internal.example/gates"}]})
    k = load_knowledge([mine])
    assert k.removed_api("example.com/v1beta1", "Widget") is not None
    assert k.fix_for("example.com/v1beta1", "Widget") == "rewrite as example.com/v1"
    assert k.fix_for("example.com/v1beta1", "Gadget").startswith("no replacement")
    cron = k.removed_api("batch/v1beta1", "CronJob")
    assert cron is not None and cron.source == "https://internal.example/cronjob"
    assert k.fix_for("batch/v1beta1", "CronJob") == "Use our cronjob template."
    gate = k.removed_gate("kube-apiserver", "OurGate")
    assert gate is not None and gate.note == "" and gate.fix().startswith("remove OurGate from --feature-gates")
    assert k.removed_api("policy/v1beta1", "PodDisruptionBudget") is not None  # packaged entries remain
    assert {a.key for a in k.removed_between(Version(1, 29, 0), Version(1, 30, 0))} >= {
        "example.com/v1beta1/Widget", "example.com/v1beta1/Gadget"}
    assert packaged_knowledge().removed_api("example.com/v1beta1", "Widget") is None


def test_later_directories_win(tmp_path: Path) -> None:
    _write(tmp_path / "a", "removed_apis.yaml", {"entries": [WIDGET]})
    _write(tmp_path / "b", "removed_apis.yaml", {"entries": [{**WIDGET, "removed_in": "1.31"}]})
    k = load_knowledge([tmp_path / "a", tmp_path / "b"])
    widget = k.removed_api("example.com/v1beta1", "Widget")
    assert widget is not None and widget.removed_in == "1.31"


def test_a_user_fix_may_name_a_user_api_from_an_earlier_directory(tmp_path: Path) -> None:
    _write(tmp_path / "a", "removed_apis.yaml", {"entries": [WIDGET]})
    _write(tmp_path / "b", "fixes.yaml", {"entries": [{"api": "example.com/v1beta1/Widget", "fix": "Do it."}]})
    assert load_knowledge([tmp_path / "a", tmp_path / "b"]).fix_for("example.com/v1beta1", "Widget") == "Do it."


def test_default_fix_mentions_a_removed_replacement(tmp_path: Path) -> None:
    _write(tmp_path, "removed_apis.yaml", {"entries": [
        WIDGET, {**WIDGET, "group_version": "example.com/v1", "deprecated_in": "1.31", "removed_in": "1.34",
                 "replacement": "example.com/v2"}]})
    k = load_knowledge([tmp_path])
    assert k.fix_for("example.com/v1beta1", "Widget") == (
        "rewrite as example.com/v1 (itself removed in 1.34; example.com/v2 after that)")
    assert k.replacement_for("example.com/v1beta1", "Widget", Version(1, 33, 0)) == "example.com/v1"
    assert k.replacement_for("example.com/v1beta1", "Widget", Version(1, 34, 0)) == "example.com/v2"


def test_replacement_cycles_in_user_data_terminate(tmp_path: Path) -> None:
    _write(tmp_path, "removed_apis.yaml", {"entries": [
        WIDGET, {**WIDGET, "group_version": "example.com/v1", "replacement": "example.com/v1beta1"}]})
    k = load_knowledge([tmp_path])
    assert k.replacement_for("example.com/v1beta1", "Widget") in ("example.com/v1", "example.com/v1beta1")


@pytest.mark.parametrize(("name", "entries", "index", "field", "problem"), [
    ("removed_apis.yaml", [WIDGET, {k: v for k, v in WIDGET.items() if k != "replacement"}], 1, "replacement",
     "missing"),
    ("removed_apis.yaml", [{**WIDGET, "removed_in": 1.30}], 0, "removed_in", "quoted minor"),
    ("removed_apis.yaml", [{**WIDGET, "group_version": "Example.com/beta"}], 0, "group_version", "not a group"),
    ("removed_apis.yaml", [{**WIDGET, "kind": "widget"}], 0, "kind", "not a kind"),
    ("removed_apis.yaml", [{**WIDGET, "removed_in": "1.27"}], 0, "removed_in", "not later than"),
    ("removed_apis.yaml", [{**WIDGET, "removed": "1.30"}], 0, "removed", "unknown field"),
    ("removed_apis.yaml", [{**WIDGET, "replacement": "example.com/v1beta1"}], 0, "replacement", "itself"),
    ("removed_apis.yaml", [{**WIDGET, "source": ""}], 0, "source", "non-empty string"),
    ("fixes.yaml", [{"api": "policy/v1beta1/PodDisruptionBudget", "fix": "ok"}, {"api": "nonsense", "fix": "x"}],
     1, "api", "group_version/kind"),
    ("fixes.yaml", [{"api": "example.com/v9/Nothing", "fix": "x"}], 0, "api", "no entry in removed_apis.yaml"),
    ("fixes.yaml", [{"api": "policy/v1beta1/PodDisruptionBudget", "fix": None}], 0, "fix", "non-empty string"),
    ("flags.yaml", [{"type": "flag", "name": "--old", "components": ["kubelet"], "removed_in": "1.30",
                     "replacement": None, "source": "s"}], 0, "name", "without its dashes"),
    ("flags.yaml", [{"type": "switch", "name": "old", "components": ["kubelet"], "removed_in": "1.30",
                     "replacement": None, "source": "s"}], 0, "type", "'flag', 'feature-gate' or 'config-field'"),
    ("flags.yaml", [{"type": "flag", "name": "old", "components": [], "removed_in": "1.30",
                     "replacement": None, "source": "s"}], 0, "components", "non-empty list"),
])
def test_malformed_user_entry_names_file_index_and_field(
        tmp_path: Path, name: str, entries: list[dict[str, Any]], index: int, field: str, problem: str) -> None:
    path = _write(tmp_path, name, {"entries": entries})
    with pytest.raises(InputError) as err:
        load_knowledge([tmp_path])
    message = str(err.value)
    assert str(path) in message
    assert f"entries[{index}]" in message
    assert f"field '{field}'" in message
    assert problem in message


def test_unquoted_minor_in_yaml_text_is_explained(tmp_path: Path) -> None:
    text = ("entries:\n  - {group_version: example.com/v1beta1, kind: Widget, resource: widgets,\n"
            "     deprecated_in: 1.20, removed_in: \"1.30\", replacement: null, source: s}\n")
    _write(tmp_path, "removed_apis.yaml", text)
    with pytest.raises(InputError, match=r"entries\[0\]: field 'deprecated_in': expected a quoted minor .* 1\.2\b"):
        load_knowledge([tmp_path])


@pytest.mark.parametrize(("text", "problem"), [
    ("entries: [\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("entries: {a: 1}\n", "'entries' must be a list"),
    ("entries:\n  - just a string\n", r"entries\[0\]: expected a mapping of fields"),
])
def test_malformed_user_file_shape(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, "fixes.yaml", text)
    with pytest.raises(InputError, match=problem) as err:
        load_knowledge([tmp_path])
    assert str(path) in str(err.value)


def test_repeated_key_in_one_file_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "removed_apis.yaml", {"entries": [WIDGET, WIDGET]})
    with pytest.raises(InputError, match=r"entries\[1\]: repeats example.com/v1beta1/Widget.*entries\[0\]"):
        load_knowledge([tmp_path])


def test_empty_user_file_is_allowed(tmp_path: Path) -> None:
    _write(tmp_path, "fixes.yaml", "")
    assert len(load_knowledge([tmp_path]).fixes) == len(packaged_knowledge().fixes)


def test_bad_user_directories(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_knowledge([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=re.escape("holds none of " + ", ".join(FILE_NAMES))):
        load_knowledge([tmp_path / "empty"])


def test_parsed_knowledge_is_cached_and_keyed_by_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second load reads the cache; a user's knowledge file that changes is parsed again (the key follows the
    files, so a cache can never answer for other data)."""
    import pickle

    from harness.knowledge import load_knowledge

    monkeypatch.setenv("REHEARSE_CACHE_DIR", str(tmp_path / "cache"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "fixes.yaml").write_text("fixes: []\n")
    first = load_knowledge([mine])
    entries = list((tmp_path / "cache" / "knowledge").glob("*.pickle"))
    assert len(entries) == 1 and oct(entries[0].stat().st_mode & 0o777) == "0o600"
    assert pickle.dumps(load_knowledge([mine])) == pickle.dumps(first)
    (mine / "fixes.yaml").write_text("fixes: [\n")  # now malformed: must be parsed, and refused
    with pytest.raises(InputError, match=r"fixes\.yaml"):
        load_knowledge([mine])
