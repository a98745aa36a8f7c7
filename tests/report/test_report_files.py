"""The report directory: what write_reports writes, report.json round trips, load_report's typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_builders import V1_REPORT, make_broke, make_pass

from harness.errors import InputError
from harness.report import NotRecreated, ObjectRef, Report, ReportFileError, facts, load_report, write_reports
from harness.report.model import SCHEMA, SCHEMA_V1


def test_round_trip_through_dict_and_file(any_report: Report, tmp_path: Path) -> None:
    assert Report.from_dict(any_report.to_dict()) == any_report
    write_reports(any_report, tmp_path)
    assert load_report(tmp_path) == any_report
    assert load_report(tmp_path / "report.json") == any_report


def test_v2_round_trip_keeps_coverage_and_evidence(tmp_path: Path) -> None:
    report = make_broke()
    assert report.coverage is not None
    report.coverage.simulated = ["nodes and pods (kwok)"]
    path = write_reports(report, tmp_path)["json"]
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema"] == SCHEMA == "rehearse/report/v2"
    assert doc["coverage"] == {
        "objects_recreated": 30, "helm_releases": 3, "simulated": ["nodes and pods (kwok)"],
        "not_recreated": [{"object": {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                                      "namespace": "apps", "name": "web"},
                           "reason": "no CRD serves monitoring.coreos.com/v1 in the rehearsal cluster"}],
        "checks": {"observed": 4, "simulated": 0, "predicted": 0, "skipped": 1, "not-run": 1},
    }
    assert doc["findings"][1]["evidence"] == "predicted" and doc["findings"][1]["basis"]
    assert [c["classification"] for c in doc["checks"]] == ["ok", "broke", "already-broken", "fixed", "not-judged",
                                                            "unverified"]
    assert doc["checks"][5]["after"]["outcome"] == "not-run"
    loaded = load_report(tmp_path)
    assert loaded == report and loaded.coverage == report.coverage
    assert loaded.coverage.not_recreated[0] == NotRecreated(  # type: ignore[union-attr]
        ObjectRef("monitoring.coreos.com/v1", "ServiceMonitor", "apps", "web"),
        "no CRD serves monitoring.coreos.com/v1 in the rehearsal cluster")


def test_v1_document_is_read_with_skipped_as_not_judged_and_a_note(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text(V1_REPORT, encoding="utf-8")
    report = load_report(tmp_path)
    assert report.name == "prod-old" and report.verdict == "broke" and report.coverage is None
    assert [c.classification for c in report.checks] == ["ok", "broke", "not-judged"]
    assert report.findings[0].evidence == "observed" and report.findings[0].basis == ""
    (note,) = report.notes
    assert note.startswith(f"read from a {SCHEMA_V1} report") and "coverage is unknown" in note
    written = json.loads(write_reports(report, tmp_path / "again")["json"].read_text(encoding="utf-8"))
    assert written["schema"] == SCHEMA and written["coverage"] is None  # written back as v2
    assert written["checks"][2]["classification"] == "not-judged"
    report.checks = report.checks[:2]
    assert facts.sections(report)[3].empty == ("Every check was judged before and after the upgrade; which objects "
                                               "were recreated is not recorded.")


def test_skipped_is_a_v1_word_only(tmp_path: Path) -> None:
    data = make_pass().to_dict()
    data["checks"][2]["classification"] = "skipped"
    (tmp_path / "report.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReportFileError, match=r"checks\[2\]: 'classification' is 'skipped', expected one of ok"):
        load_report(tmp_path)


def test_writes_the_four_files_and_the_extra_copies(tmp_path: Path) -> None:
    report = make_broke()
    extra = tmp_path / "ci"
    extra.mkdir()
    written = write_reports(
        report, tmp_path / "out", junit=tmp_path / "junit" / "r.xml", json_path=tmp_path / "r.json",
        markdown=extra, html=tmp_path / "out" / "report.html",  # the same file as the directory's: no copy
    )
    assert {k: p.name for k, p in written.items()} == {
        "json": "report.json", "junit": "junit.xml", "markdown": "summary.md", "html": "report.html",
        "junit-copy": "r.xml", "json-copy": "r.json", "markdown-copy": "summary.md",
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["junit.xml", "report.html", "report.json",
                                                                      "summary.md"]
    assert (tmp_path / "r.json").read_bytes() == written["json"].read_bytes()
    assert (extra / "summary.md").read_bytes() == written["markdown"].read_bytes()
    assert (tmp_path / "junit" / "r.xml").read_bytes() == written["junit"].read_bytes()


def test_json_is_stable_indent_2_in_documented_order(tmp_path: Path) -> None:
    report = make_pass()
    first = write_reports(report, tmp_path / "a")["json"].read_text(encoding="utf-8")
    second = write_reports(report, tmp_path / "b")["json"].read_text(encoding="utf-8")
    assert first == second and first.endswith("}\n")
    assert first.splitlines()[1] == f'  "schema": "{SCHEMA}",'
    keys = list(json.loads(first))
    assert keys[:9] == ["schema", "name", "from", "to", "hops", "provider", "verdict", "error", "coverage"]
    assert {"phases", "checks", "findings", "api_downtime_seconds"} <= set(keys)
    check = json.loads(first)["checks"][0]
    assert list(check)[:5] == ["id", "name", "before", "after", "classification"]


def test_load_ignores_fields_a_newer_writer_added(tmp_path: Path) -> None:
    report = make_broke()
    data = report.to_dict()
    data["shiny_new_field"] = 1
    data["checks"][0]["attempts"] = 3
    data["findings"][0]["object"]["uid"] = "1234"
    (tmp_path / "report.json").write_text(json.dumps(data), encoding="utf-8")
    assert load_report(tmp_path) == report


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "report.json"
    path.write_text(text, encoding="utf-8")
    return path


def _doc(**changes: object) -> str:
    data = make_pass().to_dict()
    for key, value in changes.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty file"),
    ('{"schema": "rehearse/report/v1",', "invalid JSON at line 1"),
    ("[1, 2]", "expected a JSON object"),
    ('{"schema": "something/else"}', "not a rehearse/report/v1 or rehearse/report/v2 document"),
    ('{"schema": "rehearse/fleet/v1", "clusters": []}', "is a fleet report"),
    ('{"schema": "rehearse/fleet/v2", "clusters": []}', "is a fleet report (rehearse/fleet/v2)"),
    (_doc(verdict="maybe"), "'verdict' is 'maybe', expected one of pass, broke, error"),
    (_doc(to=None), "report: missing 'to'"),
    (_doc(hops="1.28"), "'hops' must be an array"),
    (_doc(phases=[{"name": "provision", "status": "ok"}]), "phases[0]: missing 'seconds'"),
    (_doc(phases=["provision"]), "phases[0]: must be an object, found a string"),
    (_doc(checks=[{"id": "a", "name": "a", "classification": "ok", "before": {"outcome": "great"}}]),
     "checks[0].before: 'outcome' is 'great'"),
    (_doc(findings=[{"severity": "blocker", "kind": "x", "cause": "c", "fix": "f"}]), "findings[0]: missing 'object'"),
    (_doc(findings=[{"severity": "blocker", "kind": "x", "cause": "c", "fix": "f", "object": {},
                     "evidence": "guessed"}]), "findings[0]: 'evidence' is 'guessed', expected one of observed"),
    (_doc(checks=[{"id": "a", "name": "a", "classification": "ok", "evidence": "rumour"}]),
     "checks[0]: 'evidence' is 'rumour'"),
    (_doc(coverage="all of it"), "report: 'coverage' must be an object, found a string"),
    (_doc(coverage={"objects_recreated": "12"}), "coverage: 'objects_recreated' must be a whole number"),
    (_doc(coverage={"objects_recreated": 1.5}), "coverage: 'objects_recreated' must be a whole number"),
    (_doc(coverage={"checks": {"observed": "many"}}), "coverage: 'checks' must map names to numbers"),
    (_doc(coverage={"checks": [1]}), "coverage: 'checks' must be an object, found an array"),
    (_doc(coverage={"not_recreated": [{"object": {}}]}), "coverage.not_recreated[0]: missing 'reason'"),
    (_doc(coverage={"not_recreated": ["x"]}), "coverage.not_recreated[0]: must be an object, found a string"),
    (_doc(coverage={"not_recreated": [{"reason": "r"}]}), "coverage.not_recreated[0]: missing 'object'"),
    (_doc(coverage={"simulated": [3]}), "coverage: 'simulated' must be an array of strings"),
])
def test_malformed_report_is_an_input_error_naming_file_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ReportFileError) as caught:
        load_report(tmp_path)
    assert isinstance(caught.value, InputError) and isinstance(caught.value, ValueError)
    assert caught.value.exit_code == 2
    assert str(path) in str(caught.value) and problem in str(caught.value)
    assert "\n" not in str(caught.value)  # one line


def test_missing_report_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no report\.json in this directory"):
        load_report(tmp_path)
    with pytest.raises(InputError, match="no such file or directory"):
        load_report(tmp_path / "nope")


def test_report_directory_that_is_a_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="not a directory"):
        write_reports(make_pass(), tmp_path / "taken")
    with pytest.raises(InputError, match="granularity"):
        write_reports(make_pass(), tmp_path / "out", granularity="step")
