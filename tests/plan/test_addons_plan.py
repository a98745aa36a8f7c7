"""Add-on versions against the Kubernetes minors their maintainers support (``addons.yaml``): the table's own
consistency, lookups, user overrides, and the findings `plan` (and so `run`) derives from it."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import InputError
from harness.knowledge import Knowledge, addon_release, load_knowledge
from harness.plan import plan
from harness.report.model import Report
from harness.scenario import load_scenario
from harness.snapshot.model import Addon, Snapshot
from harness.versions import catalogue

CAT = catalogue()
# A user's table for the tests below: three lines of a made-up add-on, the middle one spanning 1.27–1.29.
WIDGETS = {"entries": [
    {"addon": "widget-operator", "versions": "1.1.x", "kubernetes": {"min": "1.24", "max": "1.27"}, "source": "s1"},
    {"addon": "widget-operator", "versions": "1.2.x", "kubernetes": {"min": "1.27", "max": "1.29"}, "source": "s2",
     "note": "1.2 moved its CRDs to v1."},
    {"addon": "widget-operator", "versions": ">=1.3.0", "kubernetes": {"min": "1.29", "max": None}, "source": "s3"},
]}


def _write(directory: Path, doc: Any) -> Path:
    path = directory / "addons.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _snapshot(*addons: tuple[str, str]) -> Snapshot:
    return Snapshot(server_version="v1.27.16",
                    addons=[Addon(name=n, version=v, detected_by="helm-chart", namespace="ops") for n, v in addons])


def _plan(snap: Snapshot, source: str, target: str, knowledge: Knowledge) -> Report:
    return plan(CAT.resolve(source), CAT.resolve(target), snapshot=snap, manifest_paths=[], knowledge=knowledge)


@pytest.fixture(scope="module")
def widgets(tmp_path_factory: pytest.TempPathFactory) -> Knowledge:
    d = tmp_path_factory.mktemp("knowledge")
    _write(d, WIDGETS)
    return load_knowledge([d])


# ---- the packaged table --------------------------------------------------------------------------------------

def _packaged() -> list[dict[str, Any]]:
    text = resources.files("harness.data").joinpath("knowledge/addons.yaml").read_text(encoding="utf-8")
    entries = yaml.safe_load(text)["entries"]
    assert isinstance(entries, list)
    return entries


def _known_addon_names() -> set[str]:
    text = resources.files("harness.data").joinpath("addon_patterns.yaml").read_text(encoding="utf-8")
    return {a["name"] for a in yaml.safe_load(text)["addons"]}


def test_every_packaged_line_names_a_known_addon_and_a_source() -> None:
    names = _known_addon_names()
    for e in _packaged():
        assert e["addon"] in names, f"{e['addon']}: not a name from addon_patterns.yaml"
        assert re.match(r"^https://\S+$", e["source"]), f"{e['addon']} {e['versions']}: source is not a URL"


def test_packaged_lines_of_one_addon_do_not_overlap() -> None:
    """Probe every patch 0..40 of every minor a constraint mentions: at most one line may claim it."""
    k = load_knowledge()
    for name, lines in k.addons.items():
        minors = {tuple(map(int, m)) for ln in lines for m in re.findall(r"(\d+)\.(\d+)", ln.versions)}
        for major, minor in minors:
            for patch in range(41):
                version = f"{major}.{minor}.{patch}"
                claims = [ln.versions for ln in lines if ln.covers(version)]
                assert len(claims) <= 1, f"{name} {version} is claimed by {claims}"


def test_the_packaged_table_covers_the_default_scenarios_platform_addons() -> None:
    k = load_knowledge()
    addons = {a.name: a.version for a in load_scenario("default").snapshot.addons}
    for name in ("cert-manager", "ingress-nginx", "metrics-server"):
        line = k.addon_support(name, addons[name])
        assert line is not None, f"{name} {addons[name]} has no line in addons.yaml"
        assert line.supports(1, 27) and line.supports(1, 28), f"{name} {addons[name]}: {line.range_text}"


# ---- lookups ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "release"), [
    ("v1.13.3", "1.13.3"), ("1.10", "1.10.0"), ("v2.9.3-distroless", "2.9.3"), ("0.6.4", "0.6.4"),
    ("stable-2.14.10", "2.14.10"),
    ("latest", None), ("sha256:abc", None), ("", None)])
def test_addon_release(version: str, release: str | None) -> None:
    assert addon_release(version) == release


def test_lookup_by_version_line(widgets: Knowledge) -> None:
    line = widgets.addon_support("widget-operator", "v1.2.7")
    assert line is not None and line.source == "s2" and line.range_text == "1.27–1.29"
    unbounded = widgets.addon_support("widget-operator", "2.0.1")
    assert unbounded is not None and unbounded.range_text == "1.29 and later"
    assert unbounded.supports(1, 37) and not unbounded.supports(1, 28)
    assert widgets.addon_support("widget-operator", "0.9.0") is None
    assert widgets.addon_support("no-such-addon", "1.0.0") is None


def test_a_later_directory_overrides_and_is_consulted_first(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _write(first, WIDGETS)
    _write(second, {"entries": [
        # same key as a line of the first directory: replaces it
        {"addon": "widget-operator", "versions": "1.1.x", "kubernetes": {"min": "1.24", "max": "1.28"},
         "source": "ours"},
        # overlaps the 1.2.x line of the first directory: consulted first
        {"addon": "widget-operator", "versions": "1.2.0", "kubernetes": {"min": "1.27", "max": "1.27"},
         "source": "we saw 1.2.0 crash on 1.28"}]})
    k = load_knowledge([first, second])
    line_11 = k.addon_support("widget-operator", "1.1.4")
    line_120 = k.addon_support("widget-operator", "1.2.0")
    line_121 = k.addon_support("widget-operator", "1.2.1")
    assert line_11 is not None and line_11.source == "ours" and line_11.max_minor == "1.28"
    assert line_120 is not None and line_120.source == "we saw 1.2.0 crash on 1.28"
    assert line_121 is not None and line_121.source == "s2"
    assert len(k.addons["widget-operator"]) == 4


GOOD = {"addon": "widget-operator", "versions": "1.1.x", "kubernetes": {"min": "1.24", "max": "1.27"},
        "source": "s"}


@pytest.mark.parametrize(("entry", "field", "problem"), [
    ({**GOOD, "addon": "Widget Operator"}, "addon", "not an add-on name"),
    ({**GOOD, "versions": ">>1.1"}, "versions", "1.1"),
    ({**GOOD, "kubernetes": {"min": "1.24"}}, "kubernetes", "max may be null"),
    ({**GOOD, "kubernetes": "1.24-1.27"}, "kubernetes", "expected {min"),
    ({**GOOD, "kubernetes": {"min": 1.24, "max": "1.27"}}, "kubernetes.min", "quoted minor"),
    ({**GOOD, "kubernetes": {"min": "1.24", "max": "latest"}}, "kubernetes.max", "quoted minor"),
    ({**GOOD, "kubernetes": {"min": "1.28", "max": "1.27"}}, "kubernetes", "lower than min"),
    ({**GOOD, "source": ""}, "source", "non-empty string"),
    ({**GOOD, "range": "x"}, "range", "unknown field"),
])
def test_malformed_lines_name_file_index_and_field(tmp_path: Path, entry: dict[str, Any], field: str,
                                                   problem: str) -> None:
    path = _write(tmp_path, {"entries": [GOOD | {"versions": "0.9.x"}, entry]})
    with pytest.raises(InputError) as err:
        load_knowledge([tmp_path])
    message = str(err.value)
    assert f"{path}: entries[1]: field '{field}'" in message
    assert problem in message


def test_a_line_repeated_in_one_file_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"entries": [GOOD, GOOD]})
    with pytest.raises(InputError, match=r"entries\[1\]: repeats add-on widget-operator versions 1.1.x"):
        load_knowledge([tmp_path])


# ---- plan ------------------------------------------------------------------------------------------------------

def test_an_addon_outside_its_range_at_a_hop_is_a_blocker_with_source_and_fix(widgets: Knowledge) -> None:
    report = _plan(_snapshot(("widget-operator", "v1.1.9")), "1.27", "1.29", widgets)
    [f] = [f for f in report.findings if f.kind == "addon-unsupported"]
    assert f.severity == "blocker"
    assert report.verdict == "broke"
    assert f.hop is not None and f.hop.endswith("1.28.15")  # the first hop outside 1.24–1.27, not the last
    assert str(f.object) == "Addon ops/widget-operator v1.1.9"
    assert "1.24–1.27" in f.cause and "(source: s1)" in f.cause
    # 1.2.x supports both the current 1.27 and the hop's 1.28: upgrade the add-on first
    assert "1.2.x (1.27–1.29)" in f.fix and "before upgrading the control plane" in f.fix
    assert ">=1.3.0" not in f.fix  # does not support 1.27, where it would have to run first


def test_no_line_spanning_both_minors_says_upgrade_in_step(widgets: Knowledge) -> None:
    report = _plan(_snapshot(("widget-operator", "1.2.0")), "1.28", "1.30", widgets)
    [f] = [f for f in report.findings if f.kind == "addon-unsupported"]
    assert f.hop is not None and f.hop.endswith("1.30.14")
    assert "(note: 1.2 moved its CRDs to v1.)" in f.cause  # the line's note
    assert "in step with the control plane" in f.fix and ">=1.3.0 (1.29 and later)" in f.fix


def test_addons_inside_their_range_and_unknown_ones(widgets: Knowledge) -> None:
    report = _plan(_snapshot(("widget-operator", "1.2.5"), ("widget-operator", "0.1.0"), ("in-house", "3.0.0"),
                             ("widget-operator", "latest")), "1.27", "1.29", widgets)
    assert not [f for f in report.findings if f.kind == "addon-unsupported"]
    notes = "\n".join(report.notes)
    assert "widget-operator 0.1.0: outside the version lines the compatibility table knows" in notes
    assert "no compatibility data for add-on in-house" in notes
    assert "version latest not readable" in notes


def test_the_default_scenario_plans_clean_and_a_user_table_can_make_it_block(tmp_path: Path) -> None:
    snap = load_scenario("default").snapshot
    assert not [f for f in _plan(snap, "1.27", "1.28", load_knowledge()).findings if f.kind == "addon-unsupported"]
    _write(tmp_path, {"entries": [{"addon": "ingress-nginx", "versions": "1.9.4", "source": "our staging, 2026-10",
                                   "kubernetes": {"min": "1.25", "max": "1.27"}}]})
    report = _plan(snap, "1.27", "1.28", load_knowledge([tmp_path]))
    [f] = [f for f in report.findings if f.kind == "addon-unsupported"]
    assert f.object.namespace == "ingress-nginx" and "our staging, 2026-10" in f.cause
    assert "before upgrading the control plane" in f.fix
