"""The end of a rehearsal on the console: a table of what broke and a one-line verdict, as rich renderables.

Nothing here prints; the CLI prints what these return. Every text from a report goes in as ``Text`` (never as
markup), so a message such as ``[bold]`` is shown as written.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.report import facts
from harness.report.model import Fleet, Report

VERDICT_STYLES: dict[str, str] = {"pass": "bold green", "broke": "bold red", "error": "bold magenta"}


def _broke_table(rows: list[facts.BrokeRow]) -> Table:
    table = Table(title="What broke", title_justify="left", title_style="bold", expand=False)
    table.add_column("Object", overflow="fold")
    table.add_column("Cause", overflow="fold", style="red")
    table.add_column("Fix", overflow="fold")
    for row in rows:
        table.add_row(Text(row.object), Text(row.cause), Text(row.fix or "—"))
    return table


def verdict_line(report: Report) -> Text:
    """``BROKE 1.27.16 → 1.28.15 · 1 broke · 5 ok · 2 findings (1 blocker) · 5 min 12 s``."""
    checks = facts.check_counts(report)
    findings = facts.finding_counts(report)
    line = Text()
    line.append(facts.verdict_word(report.verdict), style=VERDICT_STYLES.get(report.verdict, "bold"))
    line.append(f" {facts.upgrade_path(report)}")
    if report.name:
        line.append(f" ({report.name})")
    parts = [f"{checks['broke']} broke", f"{checks['ok']} ok"]
    parts += [f"{checks[k]} {k.replace('-', ' ')}" for k in ("already-broken", "fixed", "skipped") if checks[k]]
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


def render(report: Report) -> RenderableType:
    """What broke (a table, when anything did) and the verdict in one line."""
    rows = facts.broke_rows(report)
    if not rows:
        return verdict_line(report)
    return Group(_broke_table(rows), verdict_line(report))


def render_fleet(fleet: Fleet) -> RenderableType:
    """The fleet table (cluster, upgrade, verdict, broke, findings, note) and the fleet verdict in one line."""
    table = Table(title="Fleet", title_justify="left", title_style="bold")
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
