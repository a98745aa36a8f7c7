"""``summary.md``: a GitHub job summary (``cat summary.md >> $GITHUB_STEP_SUMMARY``).

Counts and the coverage line first, then the four sections in order (broke in this rehearsal, predicted to break,
already broken, not judged; an empty one says so), the coverage and safety blocks, then the details folded in
``<details>``.
Every cell is escaped, so a message can neither break a table nor inject HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from harness.report import facts
from harness.report.model import CheckOutcome, Fleet, Report

FILENAME = "summary.md"
MAX_ROWS = 300  # per folded table; GitHub caps a job summary at 1 MiB
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def cell(text: str) -> str:
    """Text safe in a Markdown table cell: HTML and Markdown escaped, newlines as ``<br>``, never empty."""
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(text.strip(), quote=False))
    return escaped.replace("\r\n", "\n").replace("\n", "<br>") or "—"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, limit: int | None = None) -> list[str]:
    """A Markdown table of already escaped cells (``limit`` rows at most, then a line saying how many more)."""
    shown = rows if limit is None else rows[:limit]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in shown]
    if len(rows) > len(shown):
        lines += ["", f"… and {len(rows) - len(shown)} more in report.json"]
    return lines


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{html.escape(summary)}</summary>", "", *body, "", "</details>", ""]


def _run(run: CheckOutcome | None) -> str:
    return "—" if run is None else f"{run.outcome} ({run.seconds:.1f} s)"


def _rows_table(rows: Sequence[facts.Row], *, cluster: Sequence[str] | None = None) -> list[str]:
    """Object, cause, fix, evidence (with its basis), and the hop when any row has one."""
    with_hop = any(r.hop for r in rows)
    header = ["Object", "Cause", "Fix", "Evidence", *(["Hop"] if with_hop else [])]
    body = [[cell(r.object), cell(r.cause), cell(r.fix), cell(facts.evidence_text(r)),
             *([cell(r.hop or "")] if with_hop else [])] for r in rows]
    if cluster is not None:
        header = ["Cluster", *header]
        body = [[cell(c), *b] for c, b in zip(cluster, body, strict=True)]
    return table(header, body, limit=MAX_ROWS)


def _sections(report: Report) -> list[str]:
    lines: list[str] = []
    for section in facts.sections(report):
        lines += [f"### {section.title} ({len(section.rows)})", ""]
        lines += _rows_table(section.rows) if section.rows else [cell(section.empty)]
        lines.append("")
    return lines


def _coverage(report: Report) -> list[str]:
    lines = ["### Coverage", ""]
    lines += [f"- **{label}:** {cell(text)}" for label, text in facts.coverage_items(report)]
    missing = report.coverage.not_recreated if report.coverage is not None else []
    if missing:
        lines += ["", "Not recreated:", ""]
        lines += table(["Object", "Reason"], [[cell(facts.object_text(n.object)), cell(n.reason)] for n in missing],
                       limit=MAX_ROWS)
    return [*lines, ""]


def _safety(report: Report) -> list[str]:
    items = facts.safety_items(report)
    if not items:
        return []
    lines = ["### Safety", "", *(f"- **{label}:** {cell(text)}" for label, text in items)]
    neutralised = report.safety.neutralised if report.safety is not None else []
    if neutralised:
        lines += ["", *table(["Object", "Field", "Host", "Reason"], [
            [cell(facts.object_text(n.object)), cell(n.field), cell(n.host), cell(n.reason)] for n in neutralised],
            limit=MAX_ROWS)]
    return [*lines, ""]


def render(report: Report) -> str:
    """The text of ``summary.md`` for one report."""
    checks = facts.check_counts(report)
    findings = facts.finding_counts(report)
    lines = [f"## rehearse: **{facts.verdict_word(report.verdict)}** {cell(facts.upgrade_path(report))}", ""]
    if report.name:
        lines[0] += f" ({cell(report.name)})"
    check_parts = [f"{checks[k]} {facts.CLASSIFICATION_WORDS[k]}" for k in facts.CLASSIFICATIONS]
    check_parts[1] = f"**{check_parts[1]}**" if checks["broke"] else check_parts[1]
    downtime = "not measured" if report.api_downtime_seconds is None else facts.duration(report.api_downtime_seconds)
    lines += [
        f"- **Checks:** {' · '.join(check_parts)}",
        f"- **Findings:** {' · '.join(f'{findings[s]} {s}' for s in facts.SEVERITIES)}",
        f"- **API downtime:** {downtime}",
        f"- **Coverage:** {cell(facts.coverage_line(report))}",
    ]
    if report.error:
        lines.append(f"- **Infrastructure failure:** {cell(report.error)}")
    meta = [f"provider {cell(report.provider)}", f"took {facts.duration(report.seconds)}"]
    if report.scenario:
        meta.insert(0, f"scenario {cell(report.scenario)}")
    if report.started:
        meta.append(f"started {cell(report.started)}")
    lines += ["", " · ".join(meta), ""]

    lines += _sections(report)
    lines += _coverage(report)
    lines += _safety(report)

    if report.checks:
        body = [[cell(c.name), cell(c.id), _run(c.before), _run(c.after), cell(facts.CLASSIFICATION_WORDS.get(
            c.classification, c.classification)), cell(facts.check_evidence(c)), cell(c.message)]
            for c in report.checks]
        lines += _details(f"All checks ({len(report.checks)})", table(
            ["Check", "Id", "Before", "After", "Result", "Evidence", "Message"], body, limit=MAX_ROWS))
    if report.findings:
        body = [[cell(f.severity), cell(f.kind), cell(facts.object_text(f.object)), cell(f.hop or ""), cell(f.cause),
                 cell(f.fix), cell(facts.finding_evidence(f))] for f in report.findings]
        lines += _details(f"Findings ({len(report.findings)})", table(
            ["Severity", "Kind", "Object", "Hop", "Cause", "Fix", "Evidence"], body, limit=MAX_ROWS))
    if report.phases:
        body = [[cell(p.name), cell(p.status), f"{p.seconds:.1f}", cell(p.message)] for p in report.phases]
        total = sum(p.seconds for p in report.phases)
        lines += _details(f"Phases ({len(report.phases)}, {facts.duration(total)})",
                          table(["Phase", "Status", "Seconds", "Message"], body, limit=MAX_ROWS))
    notes = [f"- {cell(n)}" for n in report.notes]
    notes += [f"- {cell(component)}: {cell(version)}" for component, version in report.versions_used.items()]
    if notes:
        lines += _details(f"Notes ({len(report.notes)}) and versions used", notes)
    return "\n".join(lines).rstrip() + "\n"


def render_fleet(fleet: Fleet) -> str:
    """The text of a fleet's ``summary.md``: the cluster table first, then what broke where (section 1 rows)."""
    counts = facts.verdict_counts(fleet)
    rows = facts.fleet_rows(fleet)
    lines = [
        f"## rehearse fleet: **{facts.verdict_word(fleet.verdict)}** {len(rows)} clusters",
        "",
        f"- **Clusters:** {counts['pass']} passed · {counts['broke']} broke · {counts['error']} error",
        f"- **Findings:** {sum(r.findings or 0 for r in rows)} ({sum(r.blockers or 0 for r in rows)} blocker)",
        "",
    ]
    body = [[cell(r.cluster), cell(r.upgrade), f"**{facts.verdict_word(r.verdict)}**" if r.verdict != "pass" else
             facts.verdict_word(r.verdict), "—" if r.broke is None else str(r.broke),
             "—" if r.findings is None else str(r.findings), cell(r.note)] for r in rows]
    lines += table(["Cluster", "Upgrade", "Verdict", "Broke", "Findings", "Note"], body)
    lines.append("")
    broke, where = facts.fleet_broke_rows(fleet)
    if broke:
        lines += [f"### {facts.SECTION_TITLES['broke']}", "", *_rows_table(broke, cluster=where), ""]
    if fleet.notes:
        lines += _details(f"Notes ({len(fleet.notes)})", [f"- {cell(n)}" for n in fleet.notes])
    return "\n".join(lines).rstrip() + "\n"

