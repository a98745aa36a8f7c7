"""junit.xml: suites per phase, broke/already-broken as failures, infrastructure as errors, valid against the XSD."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped, TestCase
from report_builders import JUNIT_XSD, check, make_broke, make_error, make_pass, make_plan

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
        "check-before": (5, 2, 0, 1),  # already-broken and fixed failed before the upgrade
        "upgrade 1.28.15": (1, 0, 0, 0),
        "check-after": (5, 2, 0, 1),  # broke + already-broken
        "findings": (1, 0, 0, 0),  # the removed flag (a warning): passes, with system-out
    }
    after = cases(path, "check-after")
    assert after["cronjob applies"].classname == "cronjob-applies"
    (broke,) = after["cronjob applies"].result
    assert isinstance(broke, Failure)
    assert broke.message == "batch/v1beta1 CronJob is no longer served in 1.25+"
    assert broke.text is not None and "fix: migrate the manifest to batch/v1" in broke.text
    (already,) = after["metrics server"].result
    assert isinstance(already, Failure)
    assert already.message == "already broken before the upgrade: metrics-server never became ready"
    assert after["legacy webhook"].is_passed and after["dns resolves"].is_passed
    (skipped,) = after["pod exec"].result
    assert isinstance(skipped, Skipped) and skipped.message
    flag = cases(path, "findings")["kube-apiserver --feature-gates"]
    assert flag.is_passed and flag.system_out and "drop it from --feature-gates" in flag.system_out


def test_infrastructure_failure_is_an_error_never_a_failure(tmp_path: Path) -> None:
    path = _write(make_error(), tmp_path)
    counts = suite_counts(path)
    assert counts["upgrade 1.28.15"] == (1, 0, 1, 0)
    assert "check-after" not in counts  # never ran
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
    assert counts["check-after"] == (6, 2, 1, 1)


def test_findings_without_checks_are_a_findings_suite(tmp_path: Path) -> None:
    path = _write(make_plan(), tmp_path)
    assert suite_counts(path) == {"findings": (2, 1, 0, 0)}
    found = cases(path, "findings")
    psp = found["PodSecurityPolicy restricted (policy/v1beta1) [1.24.17→1.25.16]"]
    assert psp.classname == "removed-api" and psp.is_failure
    assert found["Deployment kube-system/coredns (apps/v1)"].is_passed


def test_phase_granularity_is_one_testcase_per_phase(tmp_path: Path) -> None:
    path = _write(make_broke(), tmp_path, "phase")
    assert suite_counts(path) == {"phases": (5, 2, 0, 0), "findings": (1, 0, 0, 0)}
    phases = cases(path, "phases")
    assert list(phases) == ["provision", "recreate", "check-before", "upgrade 1.28.15", "check-after"]
    (failure,) = phases["check-after"].result
    assert isinstance(failure, Failure) and failure.message == "1 of 5 checks broke: cronjob applies"
    error_path = _write(make_error(), tmp_path / "e", "phase")
    assert suite_counts(error_path) == {"phases": (4, 0, 1, 0)}


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
    assert root.attrib["tests"] == "10" and root.attrib["failures"] == "0"
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
