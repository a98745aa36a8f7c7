"""What every renderer says the same way: counts, the upgrade path, what broke, durations, the fleet table."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.report.model import CheckResult, Classification, Finding, Fleet, ObjectRef, Report, Severity, Verdict

VERDICT_WORDS: dict[str, str] = {"pass": "PASSED", "broke": "BROKE", "error": "ERROR"}
CLASSIFICATIONS: tuple[Classification, ...] = ("ok", "broke", "already-broken", "fixed", "skipped")
CLASSIFICATION_WORDS: dict[str, str] = {
    "ok": "ok", "broke": "broke", "already-broken": "already broken", "fixed": "fixed", "skipped": "skipped",
}
SEVERITIES: tuple[Severity, ...] = ("blocker", "warning", "info")
_ARROW = re.compile(r"\s*(?:→|->)\s*")


def verdict_word(verdict: str) -> str:
    """``pass`` → ``PASSED``, ``broke`` → ``BROKE``, ``error`` → ``ERROR``."""
    return VERDICT_WORDS.get(verdict, verdict.upper())


def upgrade_path(report: Report) -> str:
    """The versions the rehearsal went through, e.g. ``1.27.16 → 1.28.15 → 1.29.10``."""
    parts = [report.from_version, *report.hops] if report.hops else [report.from_version, report.to_version]
    chain: list[str] = []
    for part in parts:
        for piece in _ARROW.split(part or ""):
            version = piece.strip()
            if version and (not chain or chain[-1] != version):
                chain.append(version)
    return " → ".join(chain) or "?"


def title(report: Report) -> str:
    """``BROKE 1.27.16 → 1.28.15`` (plus the cluster's name when the report has one)."""
    name = f" ({report.name})" if report.name else ""
    return f"{verdict_word(report.verdict)} {upgrade_path(report)}{name}"


def check_counts(report: Report) -> dict[Classification, int]:
    """How many checks were ok, broke, already broken, fixed, skipped (every key present)."""
    counts: dict[Classification, int] = dict.fromkeys(CLASSIFICATIONS, 0)
    for check in report.checks:
        counts[check.classification] = counts.get(check.classification, 0) + 1
    return counts


def finding_counts(report: Report) -> dict[Severity, int]:
    """How many findings of each severity (every key present)."""
    counts: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
    for finding in report.findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


def object_text(obj: ObjectRef) -> str:
    """The object a finding is about, or ``—`` when it names none."""
    return str(obj) or "—"


def findings_by_check(report: Report) -> dict[str, list[Finding]]:
    """Findings attached to a check that exists in the report, by check id."""
    ids = {c.id for c in report.checks}
    out: dict[str, list[Finding]] = {}
    for finding in report.findings:
        if finding.check is not None and finding.check in ids:
            out.setdefault(finding.check, []).append(finding)
    return out


def loose_findings(report: Report) -> list[Finding]:
    """Findings that no check of the report owns (plan findings, removed flags, …)."""
    ids = {c.id for c in report.checks}
    return [f for f in report.findings if f.check is None or f.check not in ids]


def cause_of(check: CheckResult, findings: list[Finding]) -> str:
    """One sentence on why a check fails: its finding's cause, else its message, else the after-run message."""
    if findings:
        return findings[0].cause
    after = check.after.message if check.after else ""
    before = check.before.message if check.before else ""
    if check.classification == "already-broken":
        return check.message or after or before or "fails before and after the upgrade"
    return check.message or after or "passed before the upgrade, fails after it"


@dataclass(frozen=True)
class BrokeRow:
    """One line of the "what broke" table."""

    object: str
    cause: str
    fix: str
    check: str | None = None
    hop: str | None = None


def broke_rows(report: Report) -> list[BrokeRow]:
    """What broke: every check that passed before and fails after (with its findings), then blocker findings."""
    by_check = findings_by_check(report)
    rows: list[BrokeRow] = []
    shown: set[int] = set()
    for check in report.checks:
        if check.classification != "broke":
            continue
        findings = by_check.get(check.id, [])
        if not findings:
            rows.append(BrokeRow(f"check {check.name} ({check.id})" if check.name != check.id else f"check {check.id}",
                                 cause_of(check, []), "", check.id))
        for finding in findings:
            shown.add(id(finding))
            rows.append(BrokeRow(object_text(finding.object), finding.cause, finding.fix, check.id, finding.hop))
    for finding in report.findings:
        if finding.severity == "blocker" and id(finding) not in shown:
            rows.append(BrokeRow(object_text(finding.object), finding.cause, finding.fix, finding.check, finding.hop))
    return rows


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``12.3 s``, ``5 min 12 s``, ``1 h 02 min``."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


@dataclass(frozen=True)
class FleetRow:
    """One cluster of a fleet: what it upgraded, its verdict, what it found."""

    cluster: str
    upgrade: str
    verdict: Verdict
    broke: int | None
    findings: int | None
    blockers: int | None
    note: str


def fleet_rows(fleet: Fleet) -> list[FleetRow]:
    """The fleet table: one row per cluster, in input order."""
    rows: list[FleetRow] = []
    for member in fleet.members:
        report = member.report
        if report is None:
            rows.append(FleetRow(member.name, "—", "error", None, None, None, member.error or "no report"))
            continue
        rows.append(FleetRow(
            member.name, upgrade_path(report), report.verdict, check_counts(report)["broke"],
            len(report.findings), finding_counts(report)["blocker"], member.error or report.error or "",
        ))
    return rows


def fleet_broke_rows(fleet: Fleet) -> tuple[list[BrokeRow], list[str]]:
    """What broke in every cluster, in input order, and the cluster of each row."""
    rows: list[BrokeRow] = []
    clusters: list[str] = []
    for member in fleet.members:
        if member.report is not None:
            member_rows = broke_rows(member.report)
            rows += member_rows
            clusters += [member.name] * len(member_rows)
    return rows, clusters


def verdict_counts(fleet: Fleet) -> dict[Verdict, int]:
    """How many clusters passed, broke, errored."""
    counts: dict[Verdict, int] = {"pass": 0, "broke": 0, "error": 0}
    for member in fleet.members:
        counts[member.verdict] = counts.get(member.verdict, 0) + 1
    return counts

