"""A phase that ran and failed (the target refused a removed feature gate) is a JUnit failure, not an error."""

from __future__ import annotations

from pathlib import Path

from junitparser import Error, Failure, JUnitXml

from harness.report import write_reports
from harness.report.model import Phase, Report


def test_failed_upgrade_phase_is_a_failure(tmp_path: Path) -> None:
    report = Report(from_version="1.27.16", to_version="1.28.15", hops=["1.28.15"], provider="local",
                    verdict="broke", phases=[
                        Phase("provision", "ok", 5.0),
                        Phase("upgrade 1.28.15", "failed", 2.0,
                              "kube-apiserver 1.28.15 failed to start: unrecognized feature gate: DevicePlugins"),
                    ])
    write_reports(report, tmp_path)
    results = [r for suite in JUnitXml.fromfile(str(tmp_path / "junit.xml")) for case in suite for r in case.result]
    assert any(isinstance(r, Failure) and "DevicePlugins" in (r.message or "") for r in results)
    assert not any(isinstance(r, Error) for r in results)
