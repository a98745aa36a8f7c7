"""The report's data: what a rehearsal (or a plan) found, and a fleet of such reports, as plain typed objects.

Every renderer (console, JSON, JUnit, Markdown, HTML) and the fleet merge read only these. The JSON form is
``schema: rehearse/report/v1`` (see ``to_dict``/``from_dict``); a fleet's is in :mod:`harness.report.json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SCHEMA = "rehearse/report/v1"

Verdict = Literal["pass", "broke", "error"]
PhaseStatus = Literal["ok", "failed", "error", "skipped"]
Outcome = Literal["pass", "fail", "skip", "error"]
Classification = Literal["ok", "broke", "already-broken", "fixed", "skipped"]
Severity = Literal["blocker", "warning", "info"]


@dataclass
class ObjectRef:
    """The object a finding is about."""

    apiVersion: str = ""  # the Kubernetes spelling, as in the JSON
    kind: str = ""
    namespace: str | None = None
    name: str = ""

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        if not self.kind:
            return self.name
        return f"{self.kind} {ns}{self.name}" + (f" ({self.apiVersion})" if self.apiVersion else "")


@dataclass
class Finding:
    """A problem: the object, the cause in one sentence, the fix."""

    severity: Severity
    kind: str  # removed-api, removed-flag, removed-feature-gate, addon-incompatible, webhook, deprecation, ...
    object: ObjectRef
    cause: str
    fix: str
    hop: str | None = None  # e.g. "1.27.16→1.28.15"
    check: str | None = None  # id of the check that found it, if any


@dataclass
class Phase:
    """One stage of the pipeline (provision, recreate, check-before, upgrade 1.28.15, check-after, …)."""

    name: str
    status: PhaseStatus
    seconds: float
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckOutcome:
    """One run of one check."""

    outcome: Outcome
    message: str = ""
    seconds: float = 0.0


@dataclass
class CheckResult:
    """A check's result before and after the upgrade, and what that means."""

    id: str
    name: str
    before: CheckOutcome | None
    after: CheckOutcome | None
    classification: Classification
    message: str = ""
    phase_before: str = "check-before"
    phase_after: str = "check-after"


@dataclass
class Report:
    """Everything a rehearsal produced."""

    from_version: str
    to_version: str
    hops: list[str]
    provider: str
    verdict: Verdict
    name: str | None = None
    scenario: str | None = None
    started: str = ""
    seconds: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    api_downtime_seconds: float | None = None
    versions_used: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_version")
        data["to"] = data.pop("to_version")
        return {"schema": SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema: {data.get('schema')!r})")
        d = dict(data)
        d.pop("schema")
        d["from_version"] = d.pop("from")
        d["to_version"] = d.pop("to")
        d["phases"] = [Phase(**p) for p in d.get("phases", [])]
        d["checks"] = [
            CheckResult(**{**c, "before": CheckOutcome(**c["before"]) if c.get("before") else None,
                           "after": CheckOutcome(**c["after"]) if c.get("after") else None})
            for c in d.get("checks", [])
        ]
        d["findings"] = [Finding(**{**f, "object": ObjectRef(**f["object"])}) for f in d.get("findings", [])]
        return cls(**d)


def classify(before: Outcome | None, after: Outcome | None) -> Classification:
    """``broke``: passed before, fails after; ``already-broken``: failed both; ``fixed``: the reverse."""
    if before == "skip" or after == "skip":
        return "skipped"
    ok_before = before == "pass"
    ok_after = after == "pass"
    if ok_before and ok_after:
        return "ok"
    if ok_before and not ok_after:
        return "broke"
    if not ok_before and ok_after:
        return "fixed"
    return "already-broken"


def verdict_of(report: Report) -> Verdict:
    """``error`` on infrastructure failure, ``broke`` when any check broke or a blocker was found."""
    if report.error:
        return "error"
    if any(c.classification == "broke" for c in report.checks):
        return "broke"
    if any(f.severity == "blocker" and f.hop is not None for f in report.findings):
        return "broke"
    return "pass"


@dataclass
class Member:
    """One cluster of a fleet: its report, or why there is none."""

    name: str
    source: str
    report: Report | None = None
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        return self.report.verdict if self.report is not None else "error"


@dataclass
class Fleet:
    """The members in input order and what the merge had to say (skipped inputs, renamed labels)."""

    members: list[Member]
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """``broke`` when any cluster broke, else ``error`` when any errored, else ``pass``."""
        verdicts = {m.verdict for m in self.members}
        if "broke" in verdicts:
            return "broke"
        return "error" if "error" in verdicts else "pass"
