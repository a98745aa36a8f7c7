"""summary.md, report.html and the console: the four sections in order, evidence on every row, coverage in every
format; summary.md escaped and folded, report.html well-formed and self-contained, console text never markup."""

from __future__ import annotations

import re
from pathlib import Path

from report_builders import PREDICTED_BASIS, make_broke, make_error, make_pass, make_plan, parse_html
from rich.console import Console

from harness.report import Finding, ObjectRef, Report, facts, write_reports
from harness.report import console as console_report
from harness.report import html as html_report
from harness.report import markdown as markdown_report

TITLES = ["Broke in this rehearsal", "Predicted to break (not observable here)", "Already broken before the upgrade",
          "Not judged"]


def _section_lines(text: str) -> dict[str, list[str]]:
    """The lines under each ``### `` heading of summary.md, by heading (count stripped)."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("### "):
            current = re.sub(r" \(\d+\)$", "", line[4:])
            out[current] = []
        elif line.startswith("<details>"):
            current = ""
        elif current and line.strip():
            out[current].append(line)
    return out


# --- facts ------------------------------------------------------------------------------------------------------


def test_sections_put_each_row_where_it_is_known() -> None:
    report = make_broke()
    got = facts.sections(report)
    assert [s.title for s in got] == TITLES
    broke, predicted, already, unjudged = got
    assert [(r.object, r.evidence, r.check) for r in broke.rows] == [
        ("CronJob jobs/nightly | <backup> (batch/v1beta1)", "observed", "cronjob-applies")]
    (row,) = predicted.rows
    assert row.evidence == "predicted" and row.basis == PREDICTED_BASIS and row.hop == "1.27.16→1.28.15"
    assert [r.object for r in already.rows] == ["check metrics server (metrics-server)"]
    assert [(r.object, r.evidence) for r in unjudged.rows] == [
        ("check pod exec (pod-exec)", "skipped"), ("check hpa scales (hpa-scales)", "not-run"),
        ("ServiceMonitor apps/web (monitoring.coreos.com/v1)", "not-recreated")]
    assert unjudged.rows[1].cause.startswith("passed before the upgrade, not run after it: the check timed out")
    assert facts.broke_rows(report) == broke.rows


def test_a_blocker_its_passing_check_owns_is_not_shown_as_broke() -> None:
    """verdict_of and the sections read an observed blocker owned by a check that did not break the same way."""
    report = make_pass()
    report.findings.append(Finding("blocker", "webhook", ObjectRef(name="x"), "c", "f", hop="1.27.16→1.28.15",
                                   check="dns-resolves"))
    assert facts.sections(report)[0].rows == [] and report.verdict == "pass"


def test_coverage_line_and_items() -> None:
    assert facts.coverage_line(make_broke()) == ("30/31 objects recreated · 3 Helm releases · checks: 4 observed, "
                                                 "1 skipped, 1 not run")
    items = dict(facts.coverage_items(make_pass()))
    assert items["Checks"] == "1 observed · 1 simulated (kwok) · 0 predicted · 1 skipped · 0 not run"
    assert items["Simulated parts"].startswith("nodes and pods (kwok)")
    assert facts.coverage_line(make_plan()).startswith("static plan: no cluster was created")
    old = make_pass()
    old.coverage = None
    assert facts.coverage_items(old) == [("Coverage", "coverage not recorded (a report from an older rehearse)")]


# --- Markdown ---------------------------------------------------------------------------------------------------


def test_markdown_title_counts_coverage_then_the_four_sections_then_details() -> None:
    text = markdown_report.render(make_broke())
    lines = text.splitlines()
    assert lines[0] == "## rehearse: **BROKE** 1.27.16 → 1.28.15 (prod-us)"
    assert lines[2] == ("- **Checks:** 1 ok · **1 broke** · 1 already broken · 1 fixed · 1 unverified after the "
                        "upgrade · 1 not judged")
    assert lines[3] == "- **Findings:** 2 blocker · 1 warning · 0 info"
    assert lines[4] == "- **API downtime:** not measured"
    assert lines[5] == ("- **Coverage:** 30/31 objects recreated · 3 Helm releases · checks: 4 observed, 1 skipped, "
                        "1 not run")
    headings = [ln for ln in lines if ln.startswith("### ")]
    assert headings == ["### Broke in this rehearsal (1)", "### Predicted to break (not observable here) (1)",
                        "### Already broken before the upgrade (1)", "### Not judged (3)", "### Coverage",
                        "### Safety"]
    sections = _section_lines(text)
    assert sections["Broke in this rehearsal"][:3] == [
        "| Object | Cause | Fix | Evidence | Hop |", "|---|---|---|---|---|",
        "| CronJob jobs/nightly \\| &lt;backup&gt; (batch/v1beta1) | batch/v1beta1 CronJob is no longer served in "
        "1.25+ | migrate the manifest to batch/v1 | observed | 1.27.16→1.28.15 |"]
    predicted = sections["Predicted to break (not observable here)"][2]
    assert predicted.startswith("| FlowSchema batch-jobs (flowcontrol.apiserver.k8s.io/v1beta1) |")
    assert f"| predicted: {PREDICTED_BASIS} | 1.27.16→1.28.15 |" in predicted
    assert sections["Already broken before the upgrade"][2] == (
        "| check metrics server (metrics-server) | metrics-server never became ready | — | observed |")
    assert sections["Not judged"][2:] == [
        "| check pod exec (pod-exec) | skipped before and after the upgrade: no container runtime answers exec here "
        "| — | skipped |",
        "| check hpa scales (hpa-scales) | passed before the upgrade, not run after it: the check timed out before it "
        "could ask the API | — | not run |",
        "| ServiceMonitor apps/web (monitoring.coreos.com/v1) | no CRD serves monitoring.coreos.com/v1 in the "
        "rehearsal cluster | — | not recreated: none of its checks ran |"]
    assert sections["Coverage"] == [
        "- **Objects:** 30 of 31 recreated; 1 not recreated (listed below, none of their checks ran)",
        "- **Helm releases:** 3",
        "- **Checks:** 4 observed · 0 simulated (kwok) · 0 predicted · 1 skipped · 1 not run",
        "- **Simulated parts:** none: every result comes from a real component",
        "Not recreated:", "| Object | Reason |", "|---|---|",
        "| ServiceMonitor apps/web (monitoring.coreos.com/v1) | no CRD serves monitoring.coreos.com/v1 in the "
        "rehearsal cluster |"]
    assert text.index("<details>") > text.index("### Coverage")
    assert text.count("<details>") == text.count("</details>") == 3
    assert "<summary>All checks (6)</summary>" in text and "<summary>Phases (5, 2 min 46 s)</summary>" in text
    assert "| Check | Id | Before | After | Result | Evidence | Message |" in text
    assert "| unverified after the upgrade | observed before, not run after | — |" in text
    assert "| Severity | Kind | Object | Hop | Cause | Fix | Evidence |" in text


def test_markdown_shows_every_section_even_empty_with_its_sentence() -> None:
    passed = markdown_report.render(make_pass())
    assert passed.startswith("## rehearse: **PASSED** 1.27.16 → 1.28.15")
    sections = _section_lines(passed)
    assert list(sections)[:4] == TITLES
    assert sections[TITLES[0]] == ["Nothing that passed before the upgrade fails after it."]
    assert sections[TITLES[1]] == ["The knowledge predicts no blocker this rehearsal could not observe."]
    assert sections[TITLES[2]] == ["Nothing was failing before the upgrade."]
    assert "- **API downtime:** 3.5 s" in passed and "kube-apiserver: 1.28.15" in passed
    assert "| ingress serves | ingress-serves | pass (1.5 s) | pass (2.2 s) | ok | simulated (kwok) | — |" in passed

    errored = markdown_report.render(make_error())
    assert errored.startswith("## rehearse: **ERROR**")
    assert "- **Infrastructure failure:** kube-apiserver 1.28.15 did not become ready within 120 s" in errored
    assert _section_lines(errored)[TITLES[0]] == [
        "Nothing was seen to break before the rehearsal stopped (see the failure above)."]

    plan = markdown_report.render(make_plan())
    assert "1.24.17 → 1.25.16 → 1.26.15" in plan.splitlines()[0]
    sections = _section_lines(plan)
    assert sections[TITLES[0]] == [
        "A plan creates no cluster: nothing is observed (what the knowledge predicts is below)."]
    assert ("| PodSecurityPolicy restricted (policy/v1beta1) | PodSecurityPolicy is removed in 1.25 | move to Pod "
            "Security Admission | predicted: a plan creates no cluster | 1.24.17→1.25.16 |") in sections[TITLES[1]]
    assert sections[TITLES[3]] == ["A plan runs no checks."]
    assert sections["Coverage"] == [
        "- **Coverage:** static plan: no cluster was created, every finding is predicted from the knowledge"]


def test_markdown_cells_cannot_break_the_table_or_inject_html() -> None:
    report = make_pass()
    report.findings = [Finding("blocker", "webhook", ObjectRef(name="a|b"), "line one\nline two <script>", "*do* `x`",
                               hop="h")]
    text = markdown_report.render(report)
    row = next(ln for ln in text.splitlines() if ln.startswith("| a"))
    assert row == "| a\\|b | line one<br>line two &lt;script&gt; | \\*do\\* \\`x\\` | observed | h |"
    assert "<script>" not in text


# --- HTML -------------------------------------------------------------------------------------------------------


def test_html_is_well_formed_and_self_contained(tmp_path: Path, any_report: Report) -> None:
    text = write_reports(any_report, tmp_path)["html"].read_text(encoding="utf-8")
    parsed = parse_html(text)
    assert parsed.doctype.lower() == "doctype html"
    assert parsed.problems == [] and parsed.stack == []
    assert parsed.loads == []
    assert "script" not in parsed.tags and "link" not in parsed.tags and "<style>" in text
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text, re.IGNORECASE)


def test_html_has_the_four_sections_in_order_then_coverage() -> None:
    text = html_report.render(make_broke())
    headings = re.findall(r"<h2>([^<]*?)(?: <span class=\"n\">\((\d+)\)</span>)?</h2>", text)
    sections = [(t, n) for t, n in headings if n]
    assert sections == [(TITLES[0], "1"), (TITLES[1], "1"), (TITLES[2], "1"), (TITLES[3], "3")]
    order = [text.index(f'id="sec-{key}"') for key in ("broke", "predicted", "already-broken", "not-judged")]
    assert order == sorted(order) and text.index('id="coverage"') > order[-1]
    assert text.index("<h2>Timeline</h2>") < order[0]
    predicted = text[order[1]:order[2]]
    assert f'<td class="e-predicted">predicted: {PREDICTED_BASIS}</td>' in predicted
    assert "<th>Evidence</th><th>Hop</th>" in predicted
    assert '<td class="e-not-recreated">not recreated: none of its checks ran</td>' in text[order[3]:]
    coverage = text[text.index('id="coverage"'):]
    assert "<dt>Objects</dt><dd>30 of 31 recreated; 1 not recreated" in coverage
    assert "<dt>Checks</dt><dd>4 observed · 0 simulated (kwok) · 0 predicted · 1 skipped · 1 not run</dd>" in coverage
    assert "<h3>Not recreated</h3>" in coverage and "no CRD serves monitoring.coreos.com/v1" in coverage
    assert ('<p class="meta" id="coverage-line">Coverage: 30/31 objects recreated · 3 Helm releases · checks: '
            "4 observed, 1 skipped, 1 not run</p>") in text
    assert "<th>Result</th><th>Evidence</th><th>Message</th>" in text  # the checks table
    assert '<td class="e-observed">observed before, not run after</td>' in text


def test_html_empty_sections_say_so() -> None:
    text = html_report.render(make_pass())
    for key, sentence in (("broke", "Nothing that passed before the upgrade fails after it."),
                          ("predicted", "The knowledge predicts no blocker this rehearsal could not observe."),
                          ("already-broken", "Nothing was failing before the upgrade.")):
        start = text.index(f'id="sec-{key}"')
        assert f'<p class="empty">{sentence}</p>' in text[start:text.index("</section>", start)]
    assert "simulated (kwok)" in text


def test_html_escapes_everything_from_the_report() -> None:
    report = make_broke()
    report.checks[1].message = '<img src="http://evil.example/x.png" onerror="alert(1)">'
    report.name = "<b>prod</b>"
    text = html_report.render(report)
    parsed = parse_html(text)
    assert parsed.problems == [] and parsed.loads == [] and "img" not in parsed.tags
    assert "&lt;img src=&quot;http://evil.example/x.png&quot;" in text and "&lt;b&gt;prod&lt;/b&gt;" in text


def test_html_timeline_bars_are_proportional_to_seconds() -> None:
    text = html_report.render(make_pass())  # phases 41, 12.5, 8, 95.25, 9 = 165.75 s
    bars = re.findall(r'class="tl-bar b-(\w+)" style="left:([\d.]+)%;width:([\d.]+)%"', text)
    assert [b[0] for b in bars] == ["ok"] * 5
    assert [float(b[2]) for b in bars] == [24.74, 7.54, 4.83, 57.47, 5.43]
    assert float(bars[3][1]) == 37.10  # starts after provision, recreate and check-before


# --- console ----------------------------------------------------------------------------------------------------


def _console_text(report: Report, width: int = 200) -> str:
    con = Console(width=width, record=True, color_system=None, force_terminal=False)
    con.print(console_report.render(report))
    return con.export_text()


def test_console_shows_the_sections_with_rows_in_order_then_verdict_and_coverage() -> None:
    text = _console_text(make_broke(), width=300)
    titles = [f"{TITLES[0]} (1)", f"{TITLES[1]} (1)", f"{TITLES[2]} (1)", f"{TITLES[3]} (3)"]
    where = [text.index(t) for t in titles]
    assert where == sorted(where)
    assert "migrate the manifest to batch/v1" in text and f"predicted: {PREDICTED_BASIS}" in text
    assert "not recreated: none of its checks ran" in text
    *_, verdict, coverage = text.strip().splitlines()
    assert verdict.startswith("BROKE 1.27.16 → 1.28.15 (prod-us) · 1 broke · 1 predicted to break · 1 ok · "
                              "1 already broken · 1 fixed · 1 unverified after the upgrade · 1 not judged")
    assert coverage == "coverage: 30/31 objects recreated · 3 Helm releases · checks: 4 observed, 1 skipped, 1 not run"


def test_console_pass_says_nothing_broke_and_leaves_empty_sections_out() -> None:
    report = make_pass()
    report.checks = report.checks[:2]
    report.name = "[bold]prod[/bold]"
    lines = _console_text(report).strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("PASSED 1.27.16 → 1.28.15 ([bold]prod[/bold]) · nothing broke in this rehearsal · 2 ok")
    assert lines[1].startswith("coverage: 12/12 objects recreated · 2 Helm releases · checks: 1 observed, "
                               "1 simulated, 1 skipped · simulated: nodes and pods (kwok)")
    assert lines[2] == "safety: 0 production endpoints not called · egress opened: none"
    errored = _console_text(make_error(), width=300)
    assert "ERROR" in errored and "did not become ready within 120 s" in errored
    assert "Not judged (1)" in errored and "not run after it: the upgrade stopped" in errored


def test_console_plan_shows_the_predicted_section_and_says_it_is_a_plan() -> None:
    text = _console_text(make_plan())
    assert TITLES[0] not in text and f"{TITLES[1]} (1)" in text and "PodSecurityPolicy is removed in 1.25" in text
    *_, verdict, coverage = text.strip().splitlines()
    assert verdict.startswith("BROKE 1.24.17 → 1.25.16 → 1.26.15 · plan: 1 predicted to break · 2 findings")
    assert coverage.startswith("coverage: static plan")


def test_console_text_from_the_report_is_never_markup() -> None:
    report = make_broke()
    report.findings[0].cause = "[preflight] Some fatal errors occurred: [/x]"
    report.checks[4].message = "[bold red]not bold[/]"
    text = _console_text(report, width=300)
    assert "[preflight] Some fatal errors occurred: [/x]" in text and "[bold red]not bold[/]" in text


def test_console_caps_the_not_judged_rows() -> None:
    report = make_pass()
    from report_builders import check

    report.checks = [check(f"exec-{i}", "skip", "skip", message="pods are simulated") for i in range(13)]
    text = _console_text(report)
    assert "Not judged (13)" in text and "exec-9" in text and "exec-10" not in text
    assert "… and 3 more not judged (summary.md, report.html)" in text
