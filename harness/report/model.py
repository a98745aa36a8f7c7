"""The report's data: what a rehearsal (or a plan) found, and a fleet of such reports, as plain typed objects.

Every renderer (console, JSON, JUnit, Markdown, HTML) and the fleet merge read only these. The JSON form is
``schema: rehearse/report/v2`` (see ``to_dict``/``from_dict``; v1 documents are still read); a fleet's is in
:mod:`harness.report.json`.

Every result says how it is known (:data:`Evidence`): ``observed`` on a real component of this rehearsal,
``simulated`` (answered by a simulated part: kwok's nodes and pods on the local provider), or ``predicted`` from
the knowledge without being observed here. A check that could not be judged is ``skip`` or ``not-run`` with its
reason, never ``pass``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SCHEMA = "rehearse/report/v2"
SCHEMA_V1 = "rehearse/report/v1"
SCHEMAS_READ = (SCHEMA_V1, SCHEMA)  # a fleet upgrades its runners one at a time: merge reads both

Verdict = Literal["pass", "broke", "error"]
PhaseStatus = Literal["ok", "failed", "error", "skipped"]
# ``skip``: the check does not apply here (it says why); ``not-run``: it could not run (the upgrade stopped, the
# check crashed); neither is a pass.
Outcome = Literal["pass", "fail", "skip", "not-run", "error"]
# ``unverified``: passed before, could not be judged after; ``not-judged``: could not be judged before.
Classification = Literal["ok", "broke", "already-broken", "fixed", "unverified", "not-judged"]
Severity = Literal["blocker", "warning", "info"]
Evidence = Literal["observed", "simulated", "predicted"]
JUDGED: tuple[Outcome, ...] = ("pass", "fail")


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
    evidence: Evidence = "observed"
    basis: str = ""  # predicted: why the rehearsal could not observe it; simulated: which part answered


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
    evidence: Evidence = "observed"


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
    evidence: Evidence = "observed"  # of the runs that judged it (simulated when either was)


@dataclass
class NotRecreated:
    """An object of the snapshot that is not in the rehearsal cluster, and why: its checks are absent."""

    object: ObjectRef
    reason: str


@dataclass
class Coverage:
    """What a verdict rests on: the objects recreated and how each check was judged."""

    objects_recreated: int = 0
    not_recreated: list[NotRecreated] = field(default_factory=list)
    helm_releases: int = 0
    # checks by how they were judged: observed, simulated, predicted, skipped, not-run (every key present)
    checks: dict[str, int] = field(default_factory=dict)
    simulated: list[str] = field(default_factory=list)  # the parts of the cluster that were simulated

    @property
    def objects_total(self) -> int:
        return self.objects_recreated + len(self.not_recreated)


@dataclass
class Neutralised:
    """An address in a recreated object that the rehearsal's control plane would have dialed, and did not."""

    object: ObjectRef
    field: str  # where in the object, e.g. ``webhooks[check.example.com].clientConfig.url``
    host: str  # the original address's host only: never its path, query or credentials
    reason: str  # starts with "production endpoint, not called"
    check: str | None = None  # the check that would have judged it, when there is one (its row says it)


@dataclass
class Safety:
    """What kept the rehearsal from touching anything outside itself."""

    neutralised: list[Neutralised] = field(default_factory=list)
    egress_open: list[str] = field(default_factory=list)  # address ranges pods could reach outside the cluster
    stub_calls: dict[str, int] = field(default_factory=dict)  # requests the webhook stand-in answered, by kind


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
    coverage: Coverage | None = None  # None in a report read from a v1 document
    safety: Safety | None = None  # None for a plan, and in a report written before rehearse recorded it

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_version")
        data["to"] = data.pop("to_version")
        return {"schema": SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """A report from a v2 or v1 document whose fields have been validated (see :mod:`harness.report.json`)."""
        schema = data.get("schema")
        if schema not in SCHEMAS_READ:
            raise ValueError(f"not a {SCHEMA} or {SCHEMA_V1} document (schema: {schema!r})")
        d = dict(data)
        d.pop("schema")
        d["from_version"] = d.pop("from")
        d["to_version"] = d.pop("to")
        d["phases"] = [Phase(**p) for p in d.get("phases", [])]
        d["checks"] = [
            CheckResult(**{**c, "classification": _V1_CLASSIFICATIONS.get(c["classification"], c["classification"]),
                           "before": CheckOutcome(**c["before"]) if c.get("before") else None,
                           "after": CheckOutcome(**c["after"]) if c.get("after") else None})
            for c in d.get("checks", [])
        ]
        d["findings"] = [Finding(**{**f, "object": ObjectRef(**f["object"])}) for f in d.get("findings", [])]
        cov = d.get("coverage")
        if cov is not None:
            d["coverage"] = Coverage(**{**cov, "not_recreated": [
                NotRecreated(ObjectRef(**n["object"]), n["reason"]) for n in cov.get("not_recreated", [])]})
        safety = d.get("safety")
        if safety is not None:
            d["safety"] = Safety(**{**safety, "neutralised": [
                Neutralised(**{**n, "object": ObjectRef(**n["object"])}) for n in safety.get("neutralised", [])]})
        report = cls(**d)
        if schema == SCHEMA_V1:
            report.notes.append(f"read from a {SCHEMA_V1} report, written before rehearse recorded how each result "
                                "is known: its findings are shown as observed and its coverage is unknown")
        return report


# v1's "skipped" meant "skipped before or after": v2 says which.
_V1_CLASSIFICATIONS: dict[str, Classification] = {"skipped": "not-judged"}


def classify(before: Outcome | None, after: Outcome | None) -> Classification:
    """Before against after. ``broke``: passed before, fails after; ``already-broken``: failed before;
    ``fixed``: failed before, passes after; ``unverified``: passed before, not judged after (skipped, not run,
    crashed); ``not-judged``: not judged before, so the upgrade's effect is unknown."""
    if before == "fail":
        return "fixed" if after == "pass" else "already-broken"
    if before != "pass":
        return "not-judged"
    if after == "pass":
        return "ok"
    return "broke" if after == "fail" else "unverified"


def evidence_of(before: CheckOutcome | None, after: CheckOutcome | None) -> Evidence:
    """How a check's classification is known: the weakest evidence of the runs that judged it."""
    runs = [r for r in (before, after) if r is not None and r.outcome in JUDGED]
    kinds = {r.evidence for r in runs}
    weakest: tuple[Evidence, ...] = ("predicted", "simulated")
    return next((kind for kind in weakest if kind in kinds), "observed")


def is_breakage(check: CheckResult) -> bool:
    """A check the upgrade broke, as seen by this rehearsal (observed or simulated, not predicted)."""
    return check.classification == "broke" and check.evidence != "predicted"


def is_predicted_blocker(finding: Finding) -> bool:
    """A blocker for a hop that the knowledge predicts and the rehearsal did not observe."""
    return finding.severity == "blocker" and finding.hop is not None and finding.evidence == "predicted"


def verdict_of(report: Report) -> Verdict:
    """The one rule (README, "Exit codes"). ``broke`` (exit 1, the upgrade's fault) when a check broke, a blocker
    was seen for a hop (a component refused the target's configuration, say), or a blocker is predicted for a hop;
    else ``error`` (exit 3, the environment's fault or undecidable) when the rehearsal could not finish; else
    ``pass``. Breakage outranks an error: what was seen broken stays broken when a later step fails."""
    if any(is_breakage(c) for c in report.checks):
        return "broke"
    ids = {c.id: c for c in report.checks}
    for f in report.findings:
        if f.severity != "blocker" or f.hop is None:
            continue
        owner = ids.get(f.check) if f.check is not None else None
        if owner is None or is_breakage(owner) or f.evidence == "predicted":
            return "broke"
    if report.error:
        return "error"
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
