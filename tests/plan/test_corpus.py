"""`plan` over the manifest corpus: every known answer found, nothing else, Helm templates left out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import InputError
from harness.knowledge import Knowledge
from harness.plan import plan
from harness.report.model import Finding, Report
from harness.versions import catalogue
from tests.plan._corpus import CORPUS, expected_entries

CAT = catalogue()


def _plan(source: str, target: str, knowledge: Knowledge, *paths: Path) -> Report:
    return plan(CAT.resolve(source), CAT.resolve(target), snapshot=None, manifest_paths=list(paths) or [CORPUS],
                knowledge=knowledge)


def _minor(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def _key(e: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (str(CORPUS / e["file"]), e["apiVersion"], e["kind"], e["namespace"] or "", e["name"])


def _finding_key(f: Finding) -> tuple[str, str, str, str, str]:
    """The corpus file named in the finding's cause, and the object."""
    files = [str(CORPUS / e["file"]) for e in expected_entries() if str(CORPUS / e["file"]) in f.cause]
    assert len(set(files)) == 1, f"cannot tell the file of: {f.cause}"
    return (files[0], f.object.apiVersion, f.object.kind, f.object.namespace or "", f.object.name)


@pytest.fixture(scope="module")
def report_124_132(knowledge: Knowledge) -> Report:
    return _plan("1.24", "1.32", knowledge)


def test_the_corpus_covers_every_known_removal(knowledge: Knowledge) -> None:
    """One file per removed group/version + kind at least, written as a user would have."""
    covered = {f"{e['apiVersion']}/{e['kind']}" for e in expected_entries() if e["file"].startswith("removed/")}
    # Betas that were off by default (served only with --runtime-config) have no corpus files yet.
    served_by_default = {k for k, a in knowledge.apis.items() if not a.off_by_default}
    assert covered == served_by_default
    assert len(expected_entries()) >= len(served_by_default) + 8
    minors = {e["removed_in"] for e in expected_entries()}
    assert minors == {"1.16", "1.22", "1.25", "1.26", "1.27", "1.29", "1.32"}


def test_expected_answers_agree_with_the_knowledge(knowledge: Knowledge) -> None:
    """Removals before the catalogue's first minor (1.24) cannot be a hop: check them by lookup."""
    for e in expected_entries():
        api = knowledge.removed_api(e["apiVersion"], e["kind"])
        assert api is not None, e
        assert api.removed_in == e["removed_in"], e


def test_plan_1_24_to_1_32_finds_every_expected_entry_and_nothing_else(report_124_132: Report) -> None:
    later = {_key(e) for e in expected_entries() if _minor(e["removed_in"]) > (1, 24)}
    earlier = {_key(e) for e in expected_entries() if _minor(e["removed_in"]) <= (1, 24)}
    blockers = [f for f in report_124_132.findings if f.severity == "blocker"]
    warnings = [f for f in report_124_132.findings if f.severity != "blocker"]
    assert sorted(_finding_key(f) for f in blockers) == sorted(later)
    assert sorted(_finding_key(f) for f in warnings) == sorted(earlier)
    assert {f.kind for f in report_124_132.findings} == {"removed-api"}
    assert report_124_132.verdict == "broke"
    assert report_124_132.provider == "none"
    assert [p.name for p in report_124_132.phases] == ["plan"]
    assert report_124_132.hops == [str(CAT.resolve(f"1.{m}")) for m in range(25, 33)]


def test_each_blocker_names_the_hop_that_removes_it_and_the_fix(report_124_132: Report,
                                                                   knowledge: Knowledge) -> None:
    for f in report_124_132.findings:
        api = knowledge.removed_api(f.object.apiVersion, f.object.kind)
        assert api is not None
        assert f.fix.startswith(knowledge.fix_for(api.group_version, api.kind))
        if f.severity == "blocker":
            assert f.hop is not None
            source, _, target = f.hop.partition("→")
            assert target == str(CAT.resolve(api.removed_in))
            assert CAT.resolve(source) < CAT.resolve(target)
            assert f.hop in f.cause
        else:
            assert f.hop is None
            assert "before 1.24.17" in f.cause


def test_helm_templates_and_template_files_are_left_out_with_a_note(report_124_132: Report) -> None:
    notes = "\n".join(report_124_132.notes)
    assert f"{CORPUS / 'charts' / 'webapp'}: Helm chart, 3 template files" in notes
    assert f"{CORPUS / 'gitops' / 'infra' / 'values-template.yaml'}: not YAML as written" in notes
    assert not any("charts/webapp" in f.cause for f in report_124_132.findings)
    assert len(report_124_132.notes) == 2


def test_a_template_given_as_a_file_is_left_out_too(knowledge: Knowledge) -> None:
    template = CORPUS / "charts" / "webapp" / "templates" / "deployment.yaml"
    report = _plan("1.24", "1.32", knowledge, template)
    assert report.findings == []
    assert report.verdict == "pass"


def test_current_apis_are_not_flagged(knowledge: Knowledge) -> None:
    report = _plan("1.24", "1.32", knowledge, CORPUS / "current")
    assert report.findings == []
    assert report.phases[0].details["files"] == 6


def test_one_hop_reports_its_removals_only(knowledge: Knowledge) -> None:
    report = _plan("1.28", "1.29", knowledge)
    blockers = sorted(_finding_key(f) for f in report.findings if f.severity == "blocker")
    assert blockers == sorted(_key(e) for e in expected_entries() if e["removed_in"] == "1.29")
    assert {f.hop for f in report.findings if f.severity == "blocker"} == {"1.28.15→1.29.15"}
    # flowcontrol v1beta3 is deprecated in 1.29 and still served there: a warning, not a blocker.
    deprecated = sorted(_finding_key(f) for f in report.findings if f.kind == "deprecated-api")
    assert deprecated == sorted(_key(e) for e in expected_entries() if e["removed_in"] == "1.32")
    assert all("deprecated since 1.29 and removed in 1.32" in f.cause for f in report.findings
               if f.kind == "deprecated-api")


def test_no_removal_in_the_span_passes(knowledge: Knowledge) -> None:
    report = _plan("1.29", "1.31", knowledge)
    assert not [f for f in report.findings if f.severity == "blocker"]
    assert report.verdict == "pass"


def test_bad_input(tmp_path: Path, knowledge: Knowledge) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.yaml: not valid YAML \(line \d+"):
        _plan("1.27", "1.28", knowledge, broken)
    with pytest.raises(InputError, match="does not exist"):
        _plan("1.27", "1.28", knowledge, tmp_path / "missing")
    with pytest.raises(InputError, match="older than"):
        _plan("1.28", "1.27", knowledge)
    not_utf8 = tmp_path / "latin1.yaml"
    not_utf8.write_bytes(b"apiVersion: v1\nkind: ConfigMap\ndata: {a: caf\xe9\xff\xfe}\n")
    with pytest.raises(InputError, match=r"latin1\.yaml"):
        _plan("1.27", "1.28", knowledge, not_utf8)


def test_hidden_directories_and_other_files_are_not_read(tmp_path: Path, knowledge: Knowledge) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "old.yaml").write_text("apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: a}\n")
    (tmp_path / "README.md").write_text("apiVersion: batch/v1beta1\n")
    (tmp_path / "job.yml").write_text("apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: b}\n")
    report = _plan("1.24", "1.25", knowledge, tmp_path)
    assert [f.object.name for f in report.findings] == ["b"]


def test_documents_that_are_not_objects_are_ignored(tmp_path: Path, knowledge: Knowledge) -> None:
    odd = tmp_path / "odd.yaml"
    odd.write_text("- a list\n---\napiVersion: {nested: map}\nkind: [x]\n---\nplain text\n---\n"
                   "apiVersion: v1\nkind: List\nitems: [1, {apiVersion: batch/v1beta1, kind: CronJob}, "
                   "{apiVersion: [x], kind: CronJob}]\n", encoding="utf-8")
    report = _plan("1.24", "1.25", knowledge, odd)
    assert [(f.object.kind, f.object.name, f.severity) for f in report.findings] == [("CronJob", "", "blocker")]
    assert "list item 2" in report.findings[0].cause
