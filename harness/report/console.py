"""The end of a rehearsal on the console, as rich renderables: the sections that have rows, one verdict line and
the coverage under it.

Nothing here prints; the CLI prints what these return. Every text from a report goes in as ``Text`` (never as
markup), so a message such as ``[bold]`` or kubeadm's ``[preflight]`` is shown as written. Empty sections are left
out; the verdict line always says whether anything broke (``nothing broke in this rehearsal`` or ``N broke``).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.report import facts
from harness.report.model import Fleet, Report

VERDICT_STYLES: dict[str, str] = {"pass": "bold green", "broke": "bold red", "error": "bold magenta"}
SECTION_STYLES: dict[str, str] = {"broke": "red", "predicted": "yellow", "already-broken": "yellow",
                                  "not-judged": "dim"}
MAX_NOT_JUDGED = 10  # the console shows this many not-judged rows; summary.md and report.html list them all


def _section_table(section: facts.Section, rows: list[facts.Row]) -> Table:
    table = Table(title=Text(f"{section.title} ({len(section.rows)})"), title_justify="left", title_style="bold",
                  expand=False)
    with_hop = any(r.hop for r in rows)
    table.add_column("Object", overflow="fold")
    table.add_column("Cause", overflow="fold", style=SECTION_STYLES.get(section.key, ""))
    table.add_column("Fix", overflow="fold")
    table.add_column("Evidence", overflow="fold")
    if with_hop:
        table.add_column("Hop", overflow="fold")
    for row in rows:
        cells = [Text(row.object), Text(row.cause), Text(row.fix or "—"), Text(facts.evidence_text(row))]
        if with_hop:
            cells.append(Text(row.hop or "—"))
        table.add_row(*cells)
    return table


def sections(report: Report) -> list[RenderableType]:
    """A table for each section that has rows, in order (not-judged rows beyond :data:`MAX_NOT_JUDGED` counted)."""
    out: list[RenderableType] = []
    for section in facts.sections(report):
        if not section.rows:
            continue
        rows = section.rows[:MAX_NOT_JUDGED] if section.key == "not-judged" else section.rows
        out.append(_section_table(section, rows))
        if len(rows) < len(section.rows):
            out.append(Text(f"… and {len(section.rows) - len(rows)} more not judged (summary.md, report.html)",
                            style="dim"))
    return out


def verdict_line(report: Report) -> Text:
    """``BROKE 1.27.16 → 1.28.15 · 1 broke · 2 predicted to break · 5 ok · 2 findings (1 blocker) · 5 min 12 s``;
    ``nothing broke in this rehearsal`` when the first section is empty."""
    checks = facts.check_counts(report)
    findings = facts.finding_counts(report)
    broke, predicted = (len(s.rows) for s in facts.sections(report)[:2])
    line = Text()
    line.append(facts.verdict_word(report.verdict), style=VERDICT_STYLES.get(report.verdict, "bold"))
    line.append(f" {facts.upgrade_path(report)}")
    if report.name:
        line.append(f" ({report.name})")
    if facts.is_plan(report):  # nothing ran: what the knowledge predicts is all there is
        parts = [f"plan: {predicted} predicted to break"]
    else:
        parts = [f"{broke} broke" if broke else "nothing broke in this rehearsal"]
        parts += [f"{predicted} predicted to break"] if predicted else []
        parts.append(f"{checks['ok']} ok")
        parts += [f"{checks[k]} {facts.CLASSIFICATION_WORDS[k]}" for k in ("already-broken", "fixed", "unverified",
                                                                           "not-judged") if checks[k]]
    count = len(report.findings)
    parts.append(f"{count} finding{'' if count == 1 else 's'} ({findings['blocker']} blocker)")
    if report.api_downtime_seconds is not None:
        parts.append(f"API down {facts.duration(report.api_downtime_seconds)}")
    parts.append(facts.duration(report.seconds))
    line.append(" · " + " · ".join(parts), style="default")
    if report.error:
        line.append(" · ")
        line.append(report.error, style="magenta")
    return line


def coverage_line(report: Report) -> Text:
    """``coverage: 12/13 objects recreated · checks: 20 observed, 6 simulated · simulated: kwok nodes``."""
    return Text("coverage: " + facts.coverage_line(report), style="dim")


def safety_line(report: Report) -> Text:
    """``safety: 2 production endpoints not called · egress opened: none``."""
    return Text("safety: " + facts.safety_line(report), style="dim")


def render(report: Report, *, brief: bool = False) -> RenderableType:
    """The sections that have rows, the verdict in one line, the coverage in the next, then the safety line (when
    the report recorded it: not for a plan, nor a report from an older rehearse). ``brief`` (``-q``): the verdict
    line alone — the report files hold the rest."""
    if brief:
        return verdict_line(report)
    parts = [*sections(report), verdict_line(report), coverage_line(report)]
    if report.safety is not None:
        parts.append(safety_line(report))
    return Group(*parts)


def render_fleet(fleet: Fleet) -> RenderableType:
    """The fleet table (cluster, upgrade, verdict, broke, findings, note) and the fleet verdict in one line."""
    table = Table(title=Text("Fleet"), title_justify="left", title_style="bold")
    for name in ("Cluster", "Upgrade", "Verdict", "Broke", "Findings", "Note"):
        table.add_column(name, overflow="fold", justify="right" if name in ("Broke", "Findings") else "left")
    for row in facts.fleet_rows(fleet):
        table.add_row(
            Text(row.cluster), Text(row.upgrade),
            Text(facts.verdict_word(row.verdict), style=VERDICT_STYLES.get(row.verdict, "")),
            Text("—" if row.broke is None else str(row.broke)),
            Text("—" if row.findings is None else str(row.findings)), Text(row.note),
        )
    counts = facts.verdict_counts(fleet)
    line = Text()
    line.append(facts.verdict_word(fleet.verdict), style=VERDICT_STYLES.get(fleet.verdict, "bold"))
    line.append(f" fleet of {len(fleet.members)}: {counts['pass']} passed · {counts['broke']} broke · "
                f"{counts['error']} error")
    return Group(table, line)
