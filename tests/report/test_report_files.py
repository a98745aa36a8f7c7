"""The report directory: what write_reports writes, report.json round trips, load_report's typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_builders import make_broke, make_pass

from harness.errors import InputError
from harness.report import Report, ReportFileError, load_report, write_reports
from harness.report.model import SCHEMA


def test_round_trip_through_dict_and_file(any_report: Report, tmp_path: Path) -> None:
    assert Report.from_dict(any_report.to_dict()) == any_report
    write_reports(any_report, tmp_path)
    assert load_report(tmp_path) == any_report
    assert load_report(tmp_path / "report.json") == any_report


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
    assert keys[:7] == ["schema", "name", "from", "to", "hops", "provider", "verdict"]
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
    ('{"schema": "something/else"}', "not a rehearse/report/v1 document"),
    ('{"schema": "rehearse/fleet/v1", "clusters": []}', "is a fleet report"),
    (_doc(verdict="maybe"), "'verdict' is 'maybe', expected one of pass, broke, error"),
    (_doc(to=None), "report: missing 'to'"),
    (_doc(hops="1.28"), "'hops' must be an array"),
    (_doc(phases=[{"name": "provision", "status": "ok"}]), "phases[0]: missing 'seconds'"),
    (_doc(phases=["provision"]), "phases[0]: must be an object, found a string"),
    (_doc(checks=[{"id": "a", "name": "a", "classification": "ok", "before": {"outcome": "great"}}]),
     "checks[0].before: 'outcome' is 'great'"),
    (_doc(findings=[{"severity": "blocker", "kind": "x", "cause": "c", "fix": "f"}]), "findings[0]: missing 'object'"),
])
def test_malformed_report_is_an_input_error_naming_file_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ReportFileError) as caught:
        load_report(tmp_path)
    assert isinstance(caught.value, InputError) and isinstance(caught.value, ValueError)
    assert caught.value.exit_code == 2
    assert str(path) in str(caught.value) and problem in str(caught.value)


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
