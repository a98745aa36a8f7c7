"""junit.xml: suites per phase; observed breakage and already broken as failures, predicted blockers as failures
in their own suite, infrastructure as errors, what was not judged as skipped (never passed); valid against the XSD."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase
from report_builders import JUNIT_XSD, PREDICTED_BASIS, check, make_broke, make_error, make_pass, make_plan

from harness.errors import InputError
from harness.report import Finding, ObjectRef, Report, write_reports
from harness.report import junit as junit_report

Counts = tuple[int, int, int, int]  # tests, failures, errors, skipped


def _write(report: Report, tmp_path: Path, granularity: str = "check") -> Path:
    return write_reports(report, tmp_path, granularity=granularity)["junit"]


def suite_counts(path: Path) -> dict[str, Counts]:
    """Read back with junitparser: the counts of every suite, by name, in document order."""
    xml = JUnitXml.fromfile(str(path))
    return {s.name: (s.tests, s.failures, s.errors, s.skipped) for s in xml}


def cases(path: Path, suite_name: str) -> dict[str, TestCase]:
    suite = next(s for s in JUnitXml.fromfile(str(path)) if s.name == suite_name)
    return {c.name: c for c in suite}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def test_broke_report_has_one_suite_per_phase_and_the_right_counts(tmp_path: Path) -> None:
    path = _write(make_broke(), tmp_path)
    assert suite_counts(path) == {
        "provision": (1, 0, 0, 0),
        "recreate": (1, 0, 0, 0),
        "check-before": (6, 2, 0, 1),  # already-broken and fixed failed before the upgrade; pod-exec skipped
        "upgrade 1.28.15": (1, 0, 0, 0),
        "check-after": (6, 2, 0, 2),  # broke + already-broken; pod-exec (not judged) and hpa-scales (unverified)
        "predicted": (1, 1, 0, 0),  # the blocker the knowledge predicts for the hop
        "findings": (1, 0, 0, 0),  # the removed flag (a warning): passes, with system-out
        "not-recreated": (1, 0, 0, 1),  # the ServiceMonitor no CRD serves
    }
    after = cases(path, "check-after")
    assert after["cronjob applies"].classname == "cronjob-applies"
    (broke,) = after["cronjob applies"].result
    assert isinstance(broke, Failure) and broke.type == "broke"
    assert broke.message == "batch/v1beta1 CronJob is no longer served in 1.25+"
    assert broke.text is not None and "fix: migrate the manifest to batch/v1" in broke.text
    assert "evidence: observed" in broke.text
    (already,) = after["metrics server"].result
    assert isinstance(already, Failure) and already.type == "already-broken"
    assert already.message == "already broken before the upgrade: metrics-server never became ready"
    assert after["legacy webhook"].is_passed and after["dns resolves"].is_passed
    (skipped,) = after["pod exec"].result
    assert isinstance(skipped, Skipped)
    assert skipped.message == "skipped before and after the upgrade: no container runtime answers exec here"
    (unverified,) = after["hpa scales"].result
    assert isinstance(unverified, Skipped) and not after["hpa scales"].is_passed
    assert unverified.message == ("passed before the upgrade, not run after it: the check timed out before it could "
                                  "ask the API")
    (before_skip,) = cases(path, "check-before")["pod exec"].result
    assert isinstance(before_skip, Skipped)
    assert before_skip.message == "skipped before the upgrade: no container runtime answers exec here"
    flag = cases(path, "findings")["kube-apiserver --feature-gates"]
    assert flag.is_passed and flag.system_out and "drop it from --feature-gates" in flag.system_out
    (predicted_case,) = cases(path, "predicted").values()
    (predicted,) = predicted_case.result
    assert isinstance(predicted, Failure) and predicted.type == "predicted"
    assert predicted.message == "flowcontrol.apiserver.k8s.io/v1beta1 FlowSchema is no longer served from 1.26 on"
    assert predicted.text is not None and f"evidence: predicted: {PREDICTED_BASIS}" in predicted.text
    (missing_case,) = cases(path, "not-recreated").values()
    assert missing_case.name == "ServiceMonitor apps/web (monitoring.coreos.com/v1)"
    assert missing_case.classname == "rehearse.not-recreated"
    (missing,) = missing_case.result
    assert isinstance(missing, Skipped)
    assert missing.message == "no CRD serves monitoring.coreos.com/v1 in the rehearsal cluster"


def test_no_skipped_check_counts_as_passed(tmp_path: Path, any_report: Report) -> None:
    """Every check that was not judged is a <skipped> case; the suites' counters add up (passed = tests − failures
    − errors − skipped), and the root's tests/failures/errors are the sums of the suites'."""
    path = _write(any_report, tmp_path)
    xml = JUnitXml.fromfile(str(path))
    unjudged = {c.id for c in any_report.checks if c.classification in ("unverified", "not-judged")}
    total = [0, 0, 0]
    for suite in xml:
        all_cases = list(suite)
        passed = [c for c in all_cases if c.is_passed]
        assert suite.tests == len(all_cases)
        assert suite.skipped == len([c for c in all_cases if c.is_skipped])
        assert len(passed) == suite.tests - suite.failures - suite.errors - suite.skipped
        if suite.name == "check-after":
            assert unjudged <= {c.classname for c in all_cases if c.is_skipped}
            assert not unjudged & {c.classname for c in passed}
        total = [total[0] + suite.tests, total[1] + suite.failures, total[2] + suite.errors]
    root = ET.parse(path).getroot()
    assert [int(root.attrib[k]) for k in ("tests", "failures", "errors")] == total


def test_after_checks_not_run_after_a_failed_hop_are_skipped_not_passed(tmp_path: Path) -> None:
    report = make_error()
    path = _write(report, tmp_path)
    (case,) = cases(path, "check-after").values()
    (skipped,) = case.result
    assert isinstance(skipped, Skipped)
    assert skipped.message == "passed before the upgrade, not run after it: the upgrade stopped before the checks"
    phase_path = _write(report, tmp_path / "p", "phase")
    (phase_skipped,) = cases(phase_path, "phases")["check-after"].result
    assert isinstance(phase_skipped, Skipped)


def test_a_phase_case_never_counts_unjudged_checks_as_passed(tmp_path: Path) -> None:
    path = _write(make_pass(), tmp_path, "phase")
    after = cases(path, "phases")["check-after"]
    assert after.is_passed and after.system_out == (
        "2 of 3 checks passed; not judged (skipped or not run, not counted as passed): pod exec")
    report = make_broke()
    (failure,) = cases(_write(report, tmp_path / "b", "phase"), "phases")["check-after"].result
    assert failure.text is not None and failure.text.endswith("not judged (skipped or not run): pod exec, hpa scales")


def test_a_broke_check_on_predicted_evidence_is_in_the_predicted_suite(tmp_path: Path) -> None:
    report = make_pass()
    predicted = check("csi-mounts", "pass", "fail", evidence="predicted", after_message="the driver drops v1beta1")
    report.checks.append(predicted)
    path = _write(report, tmp_path)
    assert "csi mounts" not in cases(path, "check-after")
    (failure,) = cases(path, "predicted")["csi mounts"].result
    assert isinstance(failure, Failure) and failure.type == "predicted"
    assert failure.message == "the driver drops v1beta1"
    assert suite_counts(path)["check-after"] == (3, 0, 0, 1)


def test_infrastructure_failure_is_an_error_never_a_failure(tmp_path: Path) -> None:
    path = _write(make_error(), tmp_path)
    counts = suite_counts(path)
    assert counts["upgrade 1.28.15"] == (1, 0, 1, 0)
    assert counts["check-after"] == (1, 0, 0, 1)  # never ran: not run, skipped with the reason
    assert sum(c[1] for c in counts.values()) == 0
    (error,) = cases(path, "upgrade 1.28.15")["upgrade 1.28.15"].result
    assert isinstance(error, Error) and "did not become ready" in (error.message or "")


def test_report_error_without_an_errored_phase_gets_a_rehearsal_suite(tmp_path: Path) -> None:
    report = Report("1.27.16", "1.28.15", [], "kind", "error", error="docker: cannot connect to the engine")
    path = _write(report, tmp_path)
    assert suite_counts(path) == {"rehearsal": (1, 0, 1, 0)}


def test_error_in_a_check_phase_is_a_suite_level_error_next_to_the_checks(tmp_path: Path) -> None:
    report = make_broke()
    report.phases[-1].status = "error"
    report.phases[-1].message = "kube-apiserver went away during the checks"
    counts = suite_counts(_write(report, tmp_path))
    assert counts["check-after"] == (7, 2, 1, 2)


def test_findings_without_checks_predicted_blockers_apart(tmp_path: Path) -> None:
    path = _write(make_plan(), tmp_path)
    assert suite_counts(path) == {"predicted": (1, 1, 0, 0), "findings": (1, 0, 0, 0)}
    psp = cases(path, "predicted")["PodSecurityPolicy restricted (policy/v1beta1) [1.24.17→1.25.16]"]
    assert psp.classname == "removed-api" and psp.is_failure
    assert cases(path, "findings")["Deployment kube-system/coredns (apps/v1)"].is_passed


def test_observed_and_already_broken_blockers_stay_failures_in_findings(tmp_path: Path) -> None:
    report = make_plan()
    report.findings = [
        Finding("blocker", "removed-flag", ObjectRef(name="kube-apiserver --insecure-port"), "refused", "drop it",
                hop="1.24.17→1.25.16"),  # observed: a target component refused it
        Finding("blocker", "removed-api", ObjectRef(name="psp"), "gone before --from", "migrate"),  # no hop
    ]
    path = _write(report, tmp_path)
    assert suite_counts(path) == {"findings": (2, 2, 0, 0)}
    types = {name: case.result[0].type for name, case in cases(path, "findings").items()}
    assert types == {"kube-apiserver --insecure-port [1.24.17→1.25.16]": "removed-flag", "psp": "removed-api"}


def test_phase_granularity_is_one_testcase_per_phase(tmp_path: Path) -> None:
    path = _write(make_broke(), tmp_path, "phase")
    assert suite_counts(path) == {"phases": (5, 2, 0, 0), "predicted": (1, 1, 0, 0), "findings": (1, 0, 0, 0),
                                  "not-recreated": (1, 0, 0, 1)}
    phases = cases(path, "phases")
    assert list(phases) == ["provision", "recreate", "check-before", "upgrade 1.28.15", "check-after"]
    (failure,) = phases["check-after"].result
    assert isinstance(failure, Failure) and failure.message == "1 of 6 checks broke: cronjob applies"
    error_path = _write(make_error(), tmp_path / "e", "phase")
    assert suite_counts(error_path) == {"phases": (5, 0, 1, 1)}  # check-after: not run, skipped


def test_all_skipped_check_phase_is_skipped_in_phase_granularity(tmp_path: Path) -> None:
    report = make_pass()
    report.checks = [check("pod-exec", "skip", "skip")]
    assert suite_counts(_write(report, tmp_path, "phase"))["phases"] == (5, 0, 0, 2)


@pytest.mark.parametrize("granularity", ["check", "phase"])
def test_validates_against_the_junit_xsd(any_report: Report, granularity: str, tmp_path: Path,
                                         schema: xmlschema.XMLSchema) -> None:
    schema.validate(str(_write(any_report, tmp_path, granularity)))


def test_root_omits_skipped_which_the_xsd_does_not_allow_there(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    path = _write(make_pass(), tmp_path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and "skipped" not in root.attrib
    assert root.attrib["tests"] == "10" and root.attrib["failures"] == "0" and root.attrib["errors"] == "0"
    root.set("skipped", "2")  # what junitparser's update_statistics would add
    assert not schema.is_valid(ET.tostring(root, encoding="unicode"))


def test_text_xml_cannot_hold_is_replaced_and_still_valid(tmp_path: Path, schema: xmlschema.XMLSchema) -> None:
    report = make_broke()
    report.checks[1].after.message = "\x1b[31mconnection refused\x1b[0m \udcff & <done>"  # type: ignore[union-attr]
    report.findings.append(Finding("blocker", "webhook", ObjectRef("v1", "Service", "a&b", 'x"y'), "c\x00", "f"))
    path = _write(report, tmp_path)
    schema.validate(str(path))
    text = path.read_text(encoding="utf-8")
    assert "connection refused" in text and "\x1b" not in text and "&lt;done&gt;" in text


def test_unknown_granularity_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown JUnit granularity 'step'"):
        junit_report.render(make_pass(), granularity="step")
