"""Fleet merge: many report directories into one, through the library and through `rehearse report merge`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema
from junitparser import JUnitXml
from report_builders import JUNIT_XSD, V1_REPORT, make_broke, make_error, make_pass, parse_html

from harness.cli import main
from harness.cli.report import exit_code
from harness.errors import InputError
from harness.report import write_reports
from harness.report.json import load_fleet
from harness.report.merge import merge
from harness.report.write import write_fleet

ROOT = Path(__file__).resolve().parents[2]


def shards(tmp_path: Path) -> list[Path]:
    """prod-eu (passed, named by its directory), prod-us (broke), prod-ap (crashed: only a log)."""
    eu, us, ap = tmp_path / "shards" / "prod-eu", tmp_path / "shards" / "us-shard", tmp_path / "shards" / "prod-ap"
    write_reports(make_pass(name=None), eu)
    write_reports(make_broke(name="prod-us"), us)
    ap.mkdir(parents=True)
    (ap / "rehearse.log").write_text("==> provision\nerror: kind create cluster: exit status 1\n", encoding="utf-8")
    return [eu, us, ap]


def test_cli_merges_a_pass_a_broke_and_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "report", "merge", *map(str, shards(tmp_path)), "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stderr
    assert "BROKE fleet of 3: 1 passed · 1 broke · 1 error" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.html", "report.json", "summary.md"]

    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "rehearse/fleet/v2" and doc["verdict"] == "broke"
    assert doc["counts"] == {"pass": 1, "broke": 1, "error": 1}
    assert [(c["name"], c["verdict"]) for c in doc["clusters"]] == [
        ("prod-eu", "pass"), ("prod-us", "broke"), ("prod-ap", "error")]
    crashed = doc["clusters"][2]
    assert crashed["report"] is None
    assert "no report.json" in crashed["error"] and "kind create cluster: exit status 1" in crashed["error"]
    assert doc["clusters"][1]["report"]["schema"] == "rehearse/report/v2"
    assert doc["clusters"][1]["report"]["coverage"]["objects_recreated"] == 30

    summary = (out / "summary.md").read_text(encoding="utf-8").splitlines()
    assert summary[0] == "## rehearse fleet: **BROKE** 3 clusters"
    head = summary.index("| Cluster | Upgrade | Verdict | Broke | Findings | Note |")
    rows = summary[head + 2:head + 5]
    assert rows[0] == "| prod-eu | 1.27.16 → 1.28.15 | PASSED | 0 | 1 | — |"
    assert rows[1] == "| prod-us | 1.27.16 → 1.28.15 | **BROKE** | 1 | 3 | — |"  # broke: section 1's rows
    assert rows[2].startswith("| prod-ap | — | **ERROR** | — | — | no report.json (the rehearsal did not finish); ")
    assert "### Broke in this rehearsal" in summary
    assert "| prod-us | CronJob jobs/nightly" in "\n".join(summary)
    assert "FlowSchema batch-jobs" not in "\n".join(summary)  # predicted, not broke: only in the shard's report

    counts = {s.name: (s.tests, s.failures, s.errors, s.skipped) for s in JUnitXml.fromfile(str(out / "junit.xml"))}
    assert counts["prod-eu / check-after"] == (3, 0, 0, 1)
    assert counts["prod-us / check-after"] == (6, 2, 0, 2)
    assert counts["prod-us / predicted"] == (1, 1, 0, 0)
    assert counts["prod-us / findings"] == (1, 0, 0, 0)
    assert counts["prod-us / not-recreated"] == (1, 0, 0, 1)
    assert counts["prod-ap / rehearsal"] == (1, 0, 1, 0)
    assert len([n for n in counts if n.startswith("prod-eu / ")]) == 6

    html = (out / "report.html").read_text(encoding="utf-8")
    parsed = parse_html(html)
    assert parsed.problems == [] and parsed.loads == [] and "prod-ap" in html


def test_junit_of_the_fleet_validates(tmp_path: Path) -> None:
    fleet = merge(shards(tmp_path))
    written = write_fleet(fleet, tmp_path / "fleet", granularity="phase")
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(written["junit"]))
    names = [s.name for s in JUnitXml.fromfile(str(written["junit"]))]
    assert names == ["prod-eu / phases", "prod-eu / findings", "prod-us / phases", "prod-us / predicted",
                     "prod-us / findings", "prod-us / not-recreated", "prod-ap / rehearsal"]


def test_exit_code_order_broke_then_error_then_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok, err = tmp_path / "ok", tmp_path / "err"
    write_reports(make_pass(), ok)
    write_reports(make_error(), err)  # a report whose verdict is error
    assert main(["report", "merge", str(ok), str(err), "-o", str(tmp_path / "o1")]) == 3
    assert main(["report", "merge", str(ok), "-o", str(tmp_path / "o2")]) == 0
    assert exit_code(merge([ok, err, *shards(tmp_path)])) == 1
    assert "ERROR fleet of 2" in capsys.readouterr().out


def test_no_existing_input_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "merge", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "none of the inputs exists" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_help_states_the_exit_code_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "merge", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "exit code: 1 if any cluster broke, else 3 if any errored (no readable report), else 0" in out


def test_unreadable_missing_and_duplicate_members(tmp_path: Path) -> None:
    bad, twin1, twin2 = tmp_path / "bad", tmp_path / "a", tmp_path / "b"
    bad.mkdir()
    (bad / "report.json").write_text('{"schema": "rehearse/report/v2", "from": ', encoding="utf-8")
    write_reports(make_pass(name="prod"), twin1)
    write_reports(make_pass(name="prod"), twin2)
    fleet = merge([bad, tmp_path / "gone", twin1, twin2])
    assert [(m.name, m.verdict) for m in fleet.members] == [
        ("bad", "error"), ("gone", "error"), ("prod", "pass"), ("prod (2)", "pass")]
    assert fleet.members[0].error is not None and "invalid JSON at line 1" in fleet.members[0].error
    assert fleet.members[1].error is not None and "does not exist" in fleet.members[1].error
    assert any("two clusters are named 'prod'" in n for n in fleet.notes)


def test_fleet_report_round_trips_and_merges_again(tmp_path: Path) -> None:
    fleet = merge(shards(tmp_path))
    out = tmp_path / "fleet"
    write_fleet(fleet, out)
    again = load_fleet(out)
    assert [(m.name, m.verdict, m.report) for m in again.members] == [
        (m.name, m.verdict, m.report) for m in fleet.members]
    solo = tmp_path / "solo"
    write_reports(make_pass(name="prod-sa"), solo)
    bigger = merge([out, solo, out / ".."], output=out.parent)  # the output directory itself is skipped
    assert [m.name for m in bigger.members] == ["prod-eu", "prod-us", "prod-ap", "prod-sa"]
    assert any("output directory" in n for n in bigger.notes)
    with pytest.raises(InputError, match="is a fleet report"):
        from harness.report import load_report

        load_report(out)


def test_merge_reads_a_v1_shard_and_a_v2_shard_alike(tmp_path: Path) -> None:
    """A fleet upgrades its runners one at a time: an old runner's v1 report.json merges with a new one's v2."""
    old, new = tmp_path / "old-runner", tmp_path / "new-runner"
    old.mkdir()
    (old / "report.json").write_text(V1_REPORT, encoding="utf-8")
    write_reports(make_pass(name="prod-new"), new)
    out = tmp_path / "fleet"
    assert main(["report", "merge", str(old), str(new), "-o", str(out)]) == 1  # the v1 shard broke
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "rehearse/fleet/v2" and doc["counts"] == {"pass": 1, "broke": 1, "error": 0}
    first, second = doc["clusters"]
    assert (first["name"], first["verdict"], second["name"], second["verdict"]) == (
        "prod-old", "broke", "prod-new", "pass")
    assert first["report"]["schema"] == second["report"]["schema"] == "rehearse/report/v2"  # written as v2
    assert first["report"]["coverage"] is None and second["report"]["coverage"]["objects_recreated"] == 12
    assert [c["classification"] for c in first["report"]["checks"]] == ["ok", "broke", "not-judged"]
    assert any(n.startswith("read from a rehearse/report/v1 report") for n in first["report"]["notes"])

    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| prod-old | 1.27.16 → 1.28.15 | **BROKE** | 1 | 1 | — |" in summary
    assert "| prod-new | 1.27.16 → 1.28.15 | PASSED | 0 | 1 | — |" in summary
    assert "| prod-old | CronJob jobs/nightly (batch/v1beta1) | batch/v1beta1 CronJob is no longer served |" in summary

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(out / "junit.xml"))
    suites = {s.name: s for s in JUnitXml.fromfile(str(out / "junit.xml"))}
    after = {c.classname: c for c in suites["prod-old / check-after"]}
    assert after["cronjob-applies"].is_failure and after["pod-exec"].is_skipped and after["dns-resolves"].is_passed
    (skipped,) = after["pod-exec"].result
    assert skipped.message == "skipped before and after the upgrade: pods are simulated"

    again = load_fleet(out)  # the merged fleet reads back, v1 member included
    assert [m.report.checks[2].classification for m in again.members if m.report and m.name == "prod-old"] == [
        "not-judged"]
