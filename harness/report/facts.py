"""What every renderer says the same way: counts, the upgrade path, the four sections, coverage, durations, the
fleet table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from harness.report.model import (
    JUDGED,
    CheckResult,
    Classification,
    Finding,
    Fleet,
    ObjectRef,
    Report,
    Severity,
    Verdict,
    is_breakage,
)

VERDICT_WORDS: dict[str, str] = {"pass": "PASSED", "broke": "BROKE", "error": "ERROR"}
CLASSIFICATIONS: tuple[Classification, ...] = ("ok", "broke", "already-broken", "fixed", "unverified", "not-judged")
CLASSIFICATION_WORDS: dict[str, str] = {
    "ok": "ok", "broke": "broke", "already-broken": "already broken", "fixed": "fixed",
    "unverified": "unverified after the upgrade", "not-judged": "not judged",
}
COVERAGE_KEYS = ("observed", "simulated", "predicted", "skipped", "not-run")
EVIDENCE_WORDS: dict[str, str] = {
    "observed": "observed", "simulated": "simulated (kwok)", "predicted": "predicted", "not-run": "not run",
    "skipped": "skipped", "not-recreated": "not recreated", "not-called": "not called",
}
SEVERITIES: tuple[Severity, ...] = ("blocker", "warning", "info")
PLAN_PROVIDER = "none"  # the provider of a report written by `rehearse plan` (no cluster)
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


def is_plan(report: Report) -> bool:
    """A report of `rehearse plan`: no cluster, every finding from the knowledge."""
    return report.provider == PLAN_PROVIDER


def check_counts(report: Report) -> dict[Classification, int]:
    """How many checks of each classification (every key of :data:`CLASSIFICATIONS` present)."""
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
class Row:
    """One line of a section: the object, the cause, the fix, and how it is known."""

    object: str
    cause: str
    fix: str
    evidence: str  # observed | simulated | predicted | not-run | skipped | not-recreated | not-called
    check: str | None = None
    hop: str | None = None
    basis: str = ""  # why it is known that way (a predicted finding: why the rehearsal could not observe it)


SectionKey = Literal["broke", "predicted", "already-broken", "not-judged"]
SECTION_TITLES: dict[SectionKey, str] = {
    "broke": "Broke in this rehearsal",
    "predicted": "Predicted to break (not observable here)",
    "already-broken": "Already broken before the upgrade",
    "not-judged": "Not judged",
}
SECTION_EMPTY: dict[SectionKey, str] = {
    "broke": "Nothing that passed before the upgrade fails after it.",
    "predicted": "The knowledge predicts no blocker this rehearsal could not observe.",
    "already-broken": "Nothing was failing before the upgrade.",
    "not-judged": "Every check was judged before and after the upgrade; every object was recreated.",
}


@dataclass(frozen=True)
class Section:
    """One of the four sections every report shows, in order; ``empty`` is what it says when it has no row."""

    key: SectionKey
    title: str
    rows: list[Row]
    empty_text: str = ""  # this report's own sentence (a plan, a rehearsal that stopped), else the usual one

    @property
    def empty(self) -> str:
        return self.empty_text or SECTION_EMPTY[self.key]


def _check_label(check: CheckResult) -> str:
    return f"check {check.name} ({check.id})" if check.name != check.id else f"check {check.id}"


def _finding_row(finding: Finding, check: str | None = None) -> Row:
    return Row(object_text(finding.object), finding.cause, finding.fix, finding.evidence, check or finding.check,
               finding.hop, finding.basis)


def _check_rows(check: CheckResult, findings: list[Finding], evidence: str, shown: set[int]) -> list[Row]:
    if not findings:
        return [Row(_check_label(check), cause_of(check, []), "", evidence, check.id)]
    shown.update(id(f) for f in findings)
    return [_finding_row(f, check.id) for f in findings]


def not_judged_reason(check: CheckResult) -> tuple[str, str]:
    """Why a check could not be judged (``skipped before and after the upgrade: pods are simulated``), and the
    evidence key (``skipped`` or ``not-run``)."""
    sides = [(side, run) for side, run in (("before", check.before), ("after", check.after))
             if run is None or run.outcome not in JUDGED]
    if not sides:
        return check.message or "not judged", "not-run"
    side, run = sides[0]
    key = "skipped" if run is not None and run.outcome == "skip" else "not-run"
    reason = next((r.message for _, r in sides if r is not None and r.message), "") or check.message
    word = EVIDENCE_WORDS[key]
    if check.classification == "unverified":
        lead = f"passed before the upgrade, {word} after it"
    elif len(sides) == 2:
        lead = f"{word} before and after the upgrade"
    else:
        lead = f"{word} {side} the upgrade"
    return (f"{lead}: {reason}" if reason else lead), key


def sections(report: Report) -> list[Section]:
    """The four sections in order: broke in this rehearsal, predicted, already broken, not judged."""
    by_check = findings_by_check(report)
    shown: set[int] = set()
    broke: list[Row] = []
    predicted: list[Row] = []
    already: list[Row] = []
    unjudged: list[Row] = []
    for check in report.checks:
        findings = by_check.get(check.id, [])
        if check.classification == "broke":
            (broke if is_breakage(check) else predicted).extend(_check_rows(check, findings, check.evidence, shown))
        elif check.classification == "already-broken":
            blocking = [f for f in findings if f.severity == "blocker"]
            already.extend(_check_rows(check, blocking, check.evidence, shown))
        elif check.classification in ("unverified", "not-judged"):
            cause, word = not_judged_reason(check)
            unjudged.append(Row(_check_label(check), cause, "", word, check.id))
    owned = {c.id for c in report.checks}
    for finding in report.findings:
        if finding.severity != "blocker" or id(finding) in shown:
            continue
        if finding.check in owned and finding.evidence != "predicted":
            continue  # its check's row says what it means (verdict_of reads it the same way)
        if finding.hop is None:
            already.append(_finding_row(finding))
        elif finding.evidence == "predicted":
            predicted.append(_finding_row(finding))
        else:
            broke.append(_finding_row(finding))
    if report.coverage is not None:
        unjudged += [Row(object_text(n.object), n.reason, "", "not-recreated",
                         basis="none of its checks ran")
                     for n in report.coverage.not_recreated]
    unjudged += _neutralised_rows(report, {r.check for r in unjudged if r.check})
    rows: dict[SectionKey, list[Row]] = {"broke": broke, "predicted": predicted, "already-broken": already,
                                         "not-judged": unjudged}
    return [Section(key, SECTION_TITLES[key], rows[key], _empty_text(key, report)) for key in SECTION_TITLES]


def _neutralised_rows(report: Report, shown_checks: set[str]) -> list[Row]:
    """One not-judged row per object with endpoints the rehearsal did not call, unless a row already says it (its
    check's, or its own as not recreated)."""
    if report.safety is None:
        return []
    missing = {str(n.object) for n in report.coverage.not_recreated} if report.coverage is not None else set()
    grouped: dict[tuple[str, str], list[str]] = {}
    for n in report.safety.neutralised:
        if (n.check is not None and n.check in shown_checks) or str(n.object) in missing:
            continue
        grouped.setdefault((object_text(n.object), n.reason), []).append(f"{n.field}: {n.host}")
    return [Row(obj, f"{reason} ({'; '.join(places)})", "", "not-called") for (obj, reason), places in grouped.items()]


def _empty_text(key: SectionKey, report: Report) -> str:
    if is_plan(report) and key == "broke":
        return "A plan creates no cluster: nothing is observed (what the knowledge predicts is below)."
    if is_plan(report) and key == "predicted":
        return "The knowledge predicts no blocker for these hops."
    if is_plan(report) and key == "not-judged":
        return "A plan runs no checks."
    if key == "broke" and report.error:
        return "Nothing was seen to break before the rehearsal stopped (see the failure above)."
    if key == "not-judged" and report.coverage is None:  # a v1 report: which objects were recreated is unknown
        return ("Every check was judged before and after the upgrade; which objects were recreated is not "
                "recorded." if report.checks else "No check ran.")
    return ""


def evidence_text(row: Row) -> str:
    """How a row is known, in words, with its basis: ``predicted: no workload uses it here``."""
    word = EVIDENCE_WORDS.get(row.evidence, row.evidence)
    return f"{word}: {row.basis}" if row.basis else word


def check_evidence(check: CheckResult) -> str:
    """How a check's result is known, in words: ``observed``, ``simulated (kwok)``, ``observed before, skipped
    after``, ``not run``."""
    word = EVIDENCE_WORDS.get(check.evidence, check.evidence)
    if check.classification == "not-judged":
        return EVIDENCE_WORDS[not_judged_reason(check)[1]]
    if check.classification == "unverified":
        return f"{word} before, {EVIDENCE_WORDS[not_judged_reason(check)[1]]} after"
    return word


def finding_evidence(finding: Finding) -> str:
    """How a finding is known, in words, with its basis."""
    word = EVIDENCE_WORDS.get(finding.evidence, finding.evidence)
    return f"{word}: {finding.basis}" if finding.basis else word


def broke_rows(report: Report) -> list[Row]:
    """What this rehearsal saw break: the rows of the first section."""
    return sections(report)[0].rows


def coverage_line(report: Report) -> str:
    """``12/13 objects recreated · checks: 20 observed, 6 simulated, 1 skipped, 2 not run`` (or why unknown)."""
    cov = report.coverage
    if cov is None and is_plan(report):
        return "static plan: no cluster was created, every finding is predicted from the knowledge"
    if cov is None:
        return "coverage not recorded (a report from an older rehearse)"
    parts = [f"{cov.objects_recreated}/{cov.objects_total} objects recreated"]
    if cov.helm_releases:
        parts.append(f"{cov.helm_releases} Helm release{'' if cov.helm_releases == 1 else 's'}")
    judged = [f"{cov.checks.get(k, 0)} {k.replace('-', ' ')}" for k in COVERAGE_KEYS if cov.checks.get(k, 0)]
    parts.append("checks: " + (", ".join(judged) if judged else "none"))
    if cov.simulated:
        parts.append("simulated: " + "; ".join(cov.simulated))
    return " · ".join(parts)


def coverage_items(report: Report) -> list[tuple[str, str]]:
    """The coverage block as (label, text) lines: objects, Helm releases, checks by evidence, simulated parts.

    The objects not recreated are listed apart (``report.coverage.not_recreated``), with their reasons.
    """
    cov = report.coverage
    if cov is None:
        return [("Coverage", coverage_line(report))]
    missing = len(cov.not_recreated)
    objects = f"{cov.objects_recreated} of {cov.objects_total} recreated"
    objects += f"; {missing} not recreated (listed below, none of their checks ran)" if missing else ""
    checks = " · ".join(f"{cov.checks.get(k, 0)} {EVIDENCE_WORDS[k]}" for k in COVERAGE_KEYS)
    simulated = "; ".join(cov.simulated) if cov.simulated else "none: every result comes from a real component"
    return [("Objects", objects), ("Helm releases", str(cov.helm_releases)), ("Checks", checks),
            ("Simulated parts", simulated)]


def safety_items(report: Report) -> list[tuple[str, str]]:
    """The safety block as (label, text) lines: production endpoints not called, egress opened, the stand-in's
    answers. Empty for a plan (nothing ran)."""
    safety = report.safety
    if safety is None:
        return [] if is_plan(report) else [("Safety", "not recorded (a report from an older rehearse)")]
    hosts = sorted({n.host for n in safety.neutralised})
    endpoints = (f"{len(safety.neutralised)} neutralised, not called ({', '.join(hosts)})" if safety.neutralised
                 else "none in the recreated objects")
    items = [("Production endpoints", endpoints),
             ("Egress opened", ", ".join(safety.egress_open) if safety.egress_open else "none")]
    if safety.stub_calls:
        calls = ", ".join(f"{count} {kind}" for kind, count in sorted(safety.stub_calls.items()))
        items.append(("Webhook stand-in", f"answered {calls} request(s) in production's place"))
    return items


def safety_line(report: Report) -> str:
    """``2 production endpoints not called · egress opened: none`` ("" for a plan)."""
    safety = report.safety
    if safety is None:
        return "" if is_plan(report) else "not recorded (a report from an older rehearse)"
    count = len(safety.neutralised)
    return (f"{count} production endpoint{'' if count == 1 else 's'} not called · egress opened: "
            + (", ".join(safety.egress_open) if safety.egress_open else "none"))


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
    broke: int | None  # rows of the first section, "Broke in this rehearsal"
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
            member.name, upgrade_path(report), report.verdict, len(broke_rows(report)),
            len(report.findings), finding_counts(report)["blocker"], member.error or report.error or "",
        ))
    return rows


def fleet_broke_rows(fleet: Fleet) -> tuple[list[Row], list[str]]:
    """What broke in every cluster, in input order, and the cluster of each row."""
    rows: list[Row] = []
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

