"""``junit.xml`` (the Ant/Jenkins dialect, valid against Jenkins' ``junit-10.xsd``), built with junitparser.

``granularity="check"``: one ``<testsuite>`` per phase that ran checks (one ``<testcase>`` per check, ``classname`` =
check id) and one per other phase (provision, recreate, each upgrade hop…) holding a testcase named after the phase.
``granularity="phase"``: one suite, one testcase per phase. Either way:

- what this rehearsal saw break (a check that passed before and fails after, a phase that failed) is a
  ``<failure>``, and so is what was already broken before the upgrade (its message says so);
- a blocker the knowledge predicts for a hop and the rehearsal could not observe is a ``<failure>`` in its own
  ``predicted`` suite;
- an infrastructure failure is an ``<error>``, never a failure;
- what could not be judged (a check skipped or not run, before or after; an object not recreated, in a
  ``not-recreated`` suite; a production endpoint the rehearsal did not call, in a ``not-called`` suite) is
  ``<skipped>`` with the reason as its message — never a pass;
- other findings no check owns fill a ``findings`` suite (blockers fail, warnings pass with the text).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import Literal

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from harness.errors import InputError
from harness.report import facts
from harness.report.model import (
    JUDGED,
    CheckOutcome,
    CheckResult,
    Finding,
    Fleet,
    Phase,
    Report,
    is_breakage,
    is_predicted_blocker,
)

Result = Error | Failure | Skipped

FILENAME = "junit.xml"
Granularity = Literal["check", "phase"]
GRANULARITIES: tuple[Granularity, ...] = ("check", "phase")
PHASE_CLASSNAME = "rehearse.phase"
NOT_RECREATED_CLASSNAME = "rehearse.not-recreated"
NOT_CALLED_CLASSNAME = "rehearse.not-called"
PREDICTED = "predicted"  # the suite of predicted blockers (and its failures' type)
ALREADY_BROKEN = "already broken before the upgrade: "

# XML 1.0 cannot hold most control characters (ANSI colour codes in a log line) or lone surrogates.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_granularity(granularity: str) -> Granularity:
    """Validate a granularity given by a user or a caller."""
    for known in GRANULARITIES:
        if granularity == known:
            return known
    raise InputError(f"unknown JUnit granularity {granularity!r}; expected one of {', '.join(GRANULARITIES)}")


def suites(report: Report, *, granularity: str = "check", prefix: str = "") -> list[TestSuite]:
    """The test suites of one report; ``prefix`` (e.g. ``"cluster / "``) is put before every suite name."""
    mode = check_granularity(granularity)
    props = _properties(report)
    out = _phase_suites(report, prefix, props) if mode == "phase" else _check_suites(report, prefix, props)
    loose = facts.loose_findings(report)
    predicted = [_predicted_check_case(c) for c in report.checks if _predicted_check(c)]
    predicted += [_finding_case(f) for f in loose if is_predicted_blocker(f)]
    if predicted:
        out.append(_suite(f"{prefix}{PREDICTED}", predicted, props=props))
    others = [_finding_case(f) for f in loose if not is_predicted_blocker(f)]
    if others:
        out.append(_suite(f"{prefix}findings", others, props=props))
    missing = report.coverage.not_recreated if report.coverage is not None else []
    if missing:
        out.append(_suite(f"{prefix}not-recreated", [
            _case(facts.object_text(n.object), NOT_RECREATED_CLASSNAME, 0.0, Skipped(_xml(n.reason or "not recreated")))
            for n in missing], props=props))
    not_called = [r for r in facts.sections(report)[-1].rows if r.evidence == "not-called"]
    if not_called:
        out.append(_suite(f"{prefix}not-called", [
            _case(r.object, NOT_CALLED_CLASSNAME, 0.0, Skipped(_xml(r.cause))) for r in not_called], props=props))
    return out


def render(report: Report, *, granularity: str = "check") -> bytes:
    """The bytes of ``junit.xml`` for one report."""
    name = f"rehearse {facts.upgrade_path(report)}" + (f" ({report.name})" if report.name else "")
    return to_bytes(suites(report, granularity=granularity), name=name)


def render_fleet(fleet: Fleet, *, granularity: str = "check") -> bytes:
    """The bytes of a fleet's ``junit.xml``: one suite per cluster and phase, named ``cluster / phase``."""
    out: list[TestSuite] = []
    for member in fleet.members:
        if member.report is not None:
            out.extend(suites(member.report, granularity=granularity, prefix=f"{member.name} / "))
        else:
            message = member.error or "no report"
            case = _case("rehearsal", PHASE_CLASSNAME, 0.0, Error(_xml(message), "infrastructure"), text=message)
            out.append(_suite(f"{member.name} / rehearsal", [case], props=[("rehearse.cluster", member.name)]))
    return to_bytes(out, name="rehearse fleet")


def to_bytes(test_suites: Sequence[TestSuite], *, name: str) -> bytes:
    """Serialize suites under one ``<testsuites>`` root, indented, with an XML declaration.

    The root gets ``tests``, ``failures``, ``errors`` and ``time`` but not ``skipped``: junit-10.xsd allows
    ``skipped`` on ``<testsuite>`` only.
    """
    root = JUnitXml(_xml(name))
    tests = failures = errors = 0
    seconds = 0.0
    for suite in test_suites:
        root.append(suite)  # type: ignore[no-untyped-call]  # add_testsuite would compare every pair
        tests += suite.tests or 0
        failures += suite.failures or 0
        errors += suite.errors or 0
        seconds += suite.time or 0.0
    root.tests, root.failures, root.errors = tests, failures, errors
    root.time = round(seconds, 3)
    tree = ET.fromstring(root.tostring())  # type: ignore[no-untyped-call]
    ET.indent(tree)
    data: bytes = ET.tostring(tree, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


# --- building blocks -------------------------------------------------------------------------------------------


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _seconds(value: float | None) -> float:
    return round(max(value or 0.0, 0.0), 3)


def _properties(report: Report) -> list[tuple[str, str]]:
    props = [("rehearse.from", report.from_version), ("rehearse.to", report.to_version),
             ("rehearse.provider", report.provider), ("rehearse.verdict", report.verdict)]
    if report.name:
        props.append(("rehearse.cluster", report.name))
    if report.scenario:
        props.append(("rehearse.scenario", report.scenario))
    return props


def _suite(name: str, cases: Iterable[TestCase], *, seconds: float | None = None, timestamp: str = "",
           props: Sequence[tuple[str, str]] = ()) -> TestSuite:
    suite = TestSuite(_xml(name))
    if timestamp:
        suite.timestamp = _xml(timestamp)
    for key, value in props:
        suite.add_property(_xml(key), _xml(value))
    suite.add_testcases(list(cases))  # one statistics pass, not one per case
    if seconds is not None:
        suite.time = _seconds(seconds)
    return suite


def _case(name: str, classname: str, seconds: float | None, result: Result | None = None, *,
          text: str = "", out: str = "") -> TestCase:
    case = TestCase(_xml(name), _xml(classname), _seconds(seconds))
    if result is not None:
        if text:
            result.text = _xml(text)
        case.result = [result]
    if out:
        case.system_out = _xml(out)
    return case


def _run_line(label: str, run: CheckOutcome | None) -> str:
    if run is None:
        return f"{label}: not run"
    return f"{label}: {run.outcome} ({run.seconds:.1f} s)" + (f": {run.message}" if run.message else "")


def _finding_lines(findings: Sequence[Finding]) -> list[str]:
    lines: list[str] = []
    for f in findings:
        hop = f" [{f.hop}]" if f.hop else ""
        lines.append(f"{f.severity} {f.kind}{hop}: {facts.object_text(f.object)}: {f.cause}")
        if f.fix:
            lines.append(f"  fix: {f.fix}")
        lines.append(f"  evidence: {facts.finding_evidence(f)}")
    return lines


def _check_text(check: CheckResult, findings: Sequence[Finding]) -> str:
    lines = [check.message] if check.message else []
    lines += [_run_line("before", check.before), _run_line("after", check.after),
              f"evidence: {facts.check_evidence(check)}", *_finding_lines(findings)]
    return "\n".join(lines)


def _not_judged(run: CheckOutcome) -> bool:
    """Skipped or not run: neither a pass nor a failure (a check that crashed is an error, not this)."""
    return run.outcome not in (*JUDGED, "error")


def _predicted_check(check: CheckResult) -> bool:
    """A check classified broke on predicted evidence: its after-run belongs in the predicted suite."""
    return check.classification == "broke" and not is_breakage(check) and check.after is not None


def _predicted_check_case(check: CheckResult) -> TestCase:
    run = check.after
    seconds = run.seconds if run is not None else 0.0
    return _case(check.name, check.id, seconds, Failure(_xml(facts.cause_of(check, [])), PREDICTED),
                 text=_check_text(check, []))


def _before_case(check: CheckResult, run: CheckOutcome, findings: Sequence[Finding]) -> TestCase:
    if run.outcome == "pass":
        return _case(check.name, check.id, run.seconds)
    if _not_judged(run):
        reason = run.message or check.message
        lead = f"{'skipped' if run.outcome == 'skip' else 'not run'} before the upgrade"
        return _case(check.name, check.id, run.seconds, Skipped(_xml(f"{lead}: {reason}" if reason else lead)))
    message = run.message or check.message or "failed before the upgrade"
    result: Result = Error(_xml(message), "check-error") if run.outcome == "error" else Failure(_xml(message), "failed")
    return _case(check.name, check.id, run.seconds, result, text=_check_text(check, findings))


def _after_case(check: CheckResult, run: CheckOutcome, findings: Sequence[Finding]) -> TestCase:
    text = _check_text(check, findings)
    if check.classification == "broke":
        return _case(check.name, check.id, run.seconds, Failure(_xml(facts.cause_of(check, list(findings))), "broke"),
                     text=text)
    if check.classification == "already-broken":
        message = ALREADY_BROKEN + facts.cause_of(check, list(findings))
        return _case(check.name, check.id, run.seconds, Failure(_xml(message), "already-broken"), text=text)
    if check.classification in ("unverified", "not-judged"):
        reason, _ = facts.not_judged_reason(check)
        return _case(check.name, check.id, run.seconds, Skipped(_xml(reason)))
    out = "fixed by the upgrade: failed before, passes after\n" + text if check.classification == "fixed" else ""
    return _case(check.name, check.id, run.seconds, out=out)


def _infra_case(phase: Phase, report: Report) -> TestCase:
    if phase.status == "failed":
        # The phase ran and what it did failed (e.g. the target's kube-apiserver refused a removed feature gate):
        # that is what the upgrade broke, a test failure, not an infrastructure error.
        message = phase.message or f"{phase.name} failed"
        return _case(phase.name, PHASE_CLASSNAME, phase.seconds, Failure(_xml(message), "upgrade-failed"),
                     text=message)
    if phase.status == "error":
        message = phase.message or report.error or f"{phase.name} failed"
        text = "\n".join(dict.fromkeys(m for m in (phase.message, report.error) if m))
        return _case(phase.name, PHASE_CLASSNAME, phase.seconds, Error(_xml(message), "infrastructure"), text=text)
    if phase.status == "skipped":
        return _case(phase.name, PHASE_CLASSNAME, phase.seconds, Skipped(_xml(phase.message or "skipped")))
    return _case(phase.name, PHASE_CLASSNAME, phase.seconds, out=phase.message)


def _report_error_case(report: Report) -> TestCase | None:
    """The rehearsal failed without a phase in error (it stopped before recording one)."""
    if not report.error or any(p.status == "error" for p in report.phases):
        return None
    error = report.error
    return _case("rehearsal", PHASE_CLASSNAME, report.seconds, Error(_xml(error), "infrastructure"), text=error)


def _plan(report: Report) -> list[tuple[str, Phase | None, bool]]:
    """Suites in pipeline order: (unique name, phase if recorded, whether checks ran in it)."""
    check_phases = dict.fromkeys(
        [c.phase_before for c in report.checks if c.before is not None]
        + [c.phase_after for c in report.checks if c.after is not None]
    )
    plan: list[tuple[str, Phase | None, bool]] = []
    seen: dict[str, int] = {}
    for phase in report.phases:
        seen[phase.name] = seen.get(phase.name, 0) + 1
        if seen[phase.name] == 1:
            plan.append((phase.name, phase, phase.name in check_phases))
        else:  # the same phase name twice: keep both, checks belong to the first
            plan.append((f"{phase.name} ({seen[phase.name]})", phase, False))
    plan += [(name, None, True) for name in check_phases if name not in seen]
    return plan


def _check_suites(report: Report, prefix: str, props: list[tuple[str, str]]) -> list[TestSuite]:
    by_check = facts.findings_by_check(report)
    out: list[TestSuite] = []
    for name, phase, has_checks in _plan(report):
        cases: list[TestCase] = []
        if has_checks:
            for check in report.checks:
                found = by_check.get(check.id, [])
                if check.before is not None and check.phase_before == name:
                    cases.append(_before_case(check, check.before, found))
                if check.after is not None and check.phase_after == name and not _predicted_check(check):
                    cases.append(_after_case(check, check.after, found))
            if phase is not None and phase.status == "error":
                cases.append(_infra_case(phase, report))
        elif phase is not None:
            cases.append(_infra_case(phase, report))
        seconds = phase.seconds if phase is not None else None
        out.append(_suite(prefix + name, cases, seconds=seconds, timestamp=report.started, props=props))
    error_case = _report_error_case(report)
    if error_case is not None:
        out.append(_suite(f"{prefix}rehearsal", [error_case], timestamp=report.started, props=props))
    return out


def _phase_suites(report: Report, prefix: str, props: list[tuple[str, str]]) -> list[TestSuite]:
    by_check = facts.findings_by_check(report)
    cases: list[TestCase] = []
    for name, phase, has_checks in _plan(report):
        if not has_checks:
            if phase is not None:
                case = _infra_case(phase, report)
                case.name = _xml(name)
                cases.append(case)
            continue
        cases.append(_checks_phase_case(report, name, phase, by_check))
    error_case = _report_error_case(report)
    if error_case is not None:
        cases.append(error_case)
    return [_suite(f"{prefix}phases", cases, seconds=sum(p.seconds for p in report.phases) or None,
                   timestamp=report.started, props=props)]


def _checks_phase_case(report: Report, name: str, phase: Phase | None,
                       by_check: dict[str, list[Finding]]) -> TestCase:
    """One testcase for a whole check phase: failed when a check failed in it, with every failing check listed."""
    ran: list[tuple[CheckResult, CheckOutcome, bool]] = []  # (check, run, is the after-run)
    for check in report.checks:
        if check.before is not None and check.phase_before == name:
            ran.append((check, check.before, False))
        if check.after is not None and check.phase_after == name and not _predicted_check(check):
            ran.append((check, check.after, True))
    seconds = phase.seconds if phase is not None else sum(run.seconds for _, run, _ in ran)
    if phase is not None and phase.status == "error":
        case = _infra_case(phase, report)
        case.name = _xml(name)
        return case
    failing: list[tuple[CheckResult, str]] = []
    for check, run, after in ran:
        if after and check.classification in ("broke", "already-broken"):
            failing.append((check, check.classification))
        elif not after and run.outcome in ("fail", "error"):
            failing.append((check, "failed"))
    unjudged = [check for check, run, after in ran  # as in check granularity: skipped, never passed
                if (after and check.classification in ("unverified", "not-judged")) or (not after and _not_judged(run))]
    if failing:
        broke = [c.name for c, how in failing if how == "broke"]
        if broke:
            message = f"{len(broke)} of {len(ran)} checks broke: {', '.join(broke)}"
        elif all(how == "already-broken" for _, how in failing):
            message = ALREADY_BROKEN + ", ".join(c.name for c, _ in failing)
        else:
            message = f"{len(failing)} of {len(ran)} checks failed: {', '.join(c.name for c, _ in failing)}"
        text = "\n\n".join(f"{c.name} ({c.id}): {how}\n{_check_text(c, by_check.get(c.id, []))}" for c, how in failing)
        if unjudged:
            text += "\n\nnot judged (skipped or not run): " + ", ".join(c.name for c in unjudged)
        return _case(name, PHASE_CLASSNAME, seconds, Failure(_xml(message), "broke" if broke else "failed"), text=text)
    if (ran and len(unjudged) == len(ran)) or (phase is not None and phase.status == "skipped"):
        reason = phase.message if phase and phase.message else "no check could be judged (skipped or not run)"
        return _case(name, PHASE_CLASSNAME, seconds, Skipped(_xml(reason)))
    if not ran:
        return _case(name, PHASE_CLASSNAME, seconds)
    out = f"{len(ran) - len(unjudged)} of {len(ran)} checks passed"
    if unjudged:
        out += f"; not judged (skipped or not run, not counted as passed): {', '.join(c.name for c in unjudged)}"
    return _case(name, PHASE_CLASSNAME, seconds, out=out)


def _finding_case(finding: Finding) -> TestCase:
    """Blocker → failure (a predicted one's type is ``predicted``); warning and info pass, with the finding in
    ``<system-out>``."""
    hop = f" [{finding.hop}]" if finding.hop else ""
    name = f"{facts.object_text(finding.object)}{hop}"
    text = "\n".join(_finding_lines([finding]))
    if finding.severity == "blocker":
        kind = PREDICTED if is_predicted_blocker(finding) else finding.kind
        return _case(name, finding.kind, 0.0, Failure(_xml(finding.cause), kind), text=text)
    return _case(name, finding.kind, 0.0, out=text)
