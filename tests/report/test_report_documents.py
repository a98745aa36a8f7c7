"""summary.md (counts first, the broke table, details folded), report.html (well-formed, self-contained), console."""

from __future__ import annotations

import re
from pathlib import Path

from report_builders import make_broke, make_error, make_pass, make_plan, parse_html
from rich.console import Console

from harness.report import Finding, ObjectRef, Report, write_reports
from harness.report import console as console_report
from harness.report import html as html_report
from harness.report import markdown as markdown_report

# --- Markdown ---------------------------------------------------------------------------------------------------


def test_markdown_title_then_counts_then_the_broke_table_then_details() -> None:
    text = markdown_report.render(make_broke())
    lines = text.splitlines()
    assert lines[0] == "## rehearse: **BROKE** 1.27.16 → 1.28.15 (prod-us)"
    assert lines[2] == "- **Checks:** 1 ok · **1 broke** · 1 already broken · 1 fixed · 1 skipped"
    assert lines[3] == "- **Findings:** 1 blocker · 1 warning · 0 info"
    assert lines[4] == "- **API downtime:** not measured"
    broke_at = lines.index("### What broke")
    assert lines[broke_at + 2] == "| Object | Cause | Fix |"
    assert lines[broke_at + 4] == ("| CronJob jobs/nightly \\| &lt;backup&gt; (batch/v1beta1) | batch/v1beta1 CronJob "
                                   "is no longer served in 1.25+ | migrate the manifest to batch/v1 |")
    assert text.index("<details>") > broke_at and text.count("<details>") == text.count("</details>") == 3
    assert "<summary>All checks (5)</summary>" in text and "<summary>Phases (5, 2 min 46 s)</summary>" in text


def test_markdown_of_a_pass_an_error_and_a_plan() -> None:
    passed = markdown_report.render(make_pass())
    assert passed.startswith("## rehearse: **PASSED** 1.27.16 → 1.28.15") and "Nothing broke." in passed
    assert "- **API downtime:** 3.5 s" in passed and "kube-apiserver: 1.28.15" in passed
    errored = markdown_report.render(make_error())
    assert errored.startswith("## rehearse: **ERROR**")
    assert "- **Infrastructure failure:** kube-apiserver 1.28.15 did not become ready within 120 s" in errored
    plan = markdown_report.render(make_plan())
    assert "1.24.17 → 1.25.16 → 1.26.15" in plan.splitlines()[0]
    assert "| PodSecurityPolicy restricted (policy/v1beta1) | PodSecurityPolicy is removed in 1.25 |" in plan


def test_markdown_cells_cannot_break_the_table_or_inject_html() -> None:
    report = make_pass()
    report.findings = [Finding("blocker", "webhook", ObjectRef(name="a|b"), "line one\nline two <script>", "*do* `x`")]
    text = markdown_report.render(report)
    row = next(ln for ln in text.splitlines() if ln.startswith("| a"))
    assert row == "| a\\|b | line one<br>line two &lt;script&gt; | \\*do\\* \\`x\\` |"
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
    assert "<h2>What broke</h2>" in text and "Nothing broke." in text


# --- console ----------------------------------------------------------------------------------------------------


def _console_text(report: Report) -> str:
    con = Console(width=160, record=True, color_system=None, force_terminal=False)
    con.print(console_report.render(report))
    return con.export_text()


def test_console_shows_the_broke_table_and_one_verdict_line() -> None:
    text = _console_text(make_broke())
    assert "What broke" in text and "migrate the manifest to batch/v1" in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("BROKE 1.27.16 → 1.28.15 (prod-us) · 1 broke · 1 ok")


def test_console_pass_is_one_line_and_markup_in_data_is_shown_as_written() -> None:
    report = make_pass()
    report.name = "[bold]prod[/bold]"
    text = _console_text(report).strip()
    assert len(text.splitlines()) == 1
    assert text.startswith("PASSED 1.27.16 → 1.28.15 ([bold]prod[/bold])")
    errored = _console_text(make_error())
    assert "ERROR" in errored and "did not become ready within 120 s" in errored
