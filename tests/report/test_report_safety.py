"""The safety section: production endpoints the rehearsal did not call and egress ranges it opened, in report.json
(read back, older documents without it accepted), the Not judged section, summary.md, report.html, JUnit and the
console."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml, Skipped
from report_builders import APISERVICE, CRD, EXTERNAL, make_isolated, make_plan
from rich.console import Console

from harness.report import Report, ReportFileError, facts, load_report, write_reports
from harness.report import console as console_report
from harness.report import html as html_report
from harness.report import markdown as markdown_report


def test_json_carries_the_safety_section_and_reads_it_back(tmp_path: Path) -> None:
    report = make_isolated()
    path = write_reports(report, tmp_path)["json"]
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["safety"]["egress_open"] == ["10.20.0.0/16"]
    assert doc["safety"]["stub_calls"] == {"admission": 7, "conversion": 2}
    first = doc["safety"]["neutralised"][0]
    assert first == {"object": {"apiVersion": "admissionregistration.k8s.io/v1",
                                "kind": "ValidatingWebhookConfiguration", "namespace": None, "name": "policy"},
                     "field": "webhooks[validate.example.com].clientConfig.url", "host": "policy.prod.example.com",
                     "reason": "production endpoint, not called: answered by the rehearsal's stand-in, which allows "
                               "every request", "check": "webhook/policy/validate.example.com"}
    assert load_report(path) == report


def test_a_v2_report_without_safety_reads_as_not_recorded(tmp_path: Path) -> None:
    report = make_isolated()
    doc = report.to_dict()
    doc.pop("safety")
    doc["safety_from_the_future"] = {"x": 1}  # a newer writer's field: dropped
    (tmp_path / "report.json").write_text(json.dumps(doc), encoding="utf-8")
    old = load_report(tmp_path)
    assert old.safety is None
    assert facts.safety_items(old) == [("Safety", "not recorded (a report from an older rehearse)")]
    assert "safety:" not in _console_text(old)
    assert facts.safety_items(make_plan()) == []  # a plan calls nothing: no block at all


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(neutralised=[{"object": {}, "field": "f", "host": 3, "reason": "r"}]),
     "safety.neutralised[0]: 'host' must be a string, found a number"),
    (lambda s: s.update(neutralised=["x"]), "safety.neutralised[0]: must be an object, found a string"),
    (lambda s: s.update(egress_open=[1]), "safety: 'egress_open' must be an array of strings"),
    (lambda s: s["neutralised"][0].pop("object"), "safety.neutralised[0]: missing 'object'"),
])
def test_a_malformed_safety_section_is_named(tmp_path: Path, change: Callable[[dict[str, Any]], object],
                                             message: str) -> None:
    doc = make_isolated().to_dict()
    change(doc["safety"])
    (tmp_path / "report.json").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ReportFileError, match=re.escape(message)):
        load_report(tmp_path)


def test_neutralised_endpoints_are_not_judged_once_each() -> None:
    """The webhook is said by its skipped check, the APIService by its not-recreated row; the CRD's conversion
    webhook and the ExternalName Service, which no check judges, by rows of their own."""
    unjudged = facts.sections(make_isolated())[3].rows
    assert [(r.object, r.evidence) for r in unjudged] == [
        ("check validating webhook validate.example.com resolvable (webhook/policy/validate.example.com)", "skipped"),
        (str(APISERVICE), "not-recreated"),
        (str(CRD), "not-called"),
        (str(EXTERNAL), "not-called"),
    ]
    assert unjudged[0].cause.startswith("skipped before and after the upgrade: production endpoint, not called")
    assert unjudged[2].cause == ("production endpoint, not called: the rehearsal's stand-in converts by rewriting "
                                 "apiVersion (spec.conversion.webhook.clientConfig.url: convert.prod.example.com)")
    assert facts.safety_line(make_isolated()) == "4 production endpoints not called · egress opened: 10.20.0.0/16"


def test_summary_and_html_show_a_safety_block() -> None:
    text = markdown_report.render(make_isolated())
    block = text[text.index("### Safety"):].split("<details>")[0].strip().splitlines()
    assert block[:5] == [
        "### Safety", "",
        "- **Production endpoints:** 4 neutralised, not called (api.elsewhere.svc, convert.prod.example.com, "
        "payments.prod.example.com, policy.prod.example.com)",
        "- **Egress opened:** 10.20.0.0/16",
        "- **Webhook stand-in:** answered 7 admission, 2 conversion request(s) in production's place"]
    assert "| Object | Field | Host | Reason |" in block
    assert ("| Service shop/payments (v1) | spec.externalName | payments.prod.example.com | production endpoint, "
            "not called: replaced by a name that never resolves |") in block
    html = html_report.render(make_isolated())
    safety = html[html.index('id="safety"'):html.index("<h2>Checks")]
    assert "<dt>Egress opened</dt><dd>10.20.0.0/16</dd>" in safety
    assert "<td>spec.conversion.webhook.clientConfig.url</td><td>convert.prod.example.com</td>" in safety
    assert html.index('id="coverage"') < html.index('id="safety"')
    assert '<td class="e-not-called">not called</td>' in html[html.index('id="sec-not-judged"'):]


def test_junit_skips_what_was_not_called() -> None:
    from harness.report import junit

    xml = JUnitXml.fromstring(junit.render(make_isolated()).decode())
    suites = {s.name: s for s in xml}
    cases = list(suites["not-called"])
    assert [c.name for c in cases] == [str(CRD), str(EXTERNAL)]
    assert all(isinstance(c.result[0], Skipped) for c in cases)
    assert cases[0].result[0].message.startswith("production endpoint, not called")


def test_console_ends_with_the_safety_line() -> None:
    text = _console_text(make_isolated(), width=300)
    assert text.strip().splitlines()[-1] == "safety: 4 production endpoints not called · egress opened: 10.20.0.0/16"


def _console_text(report: Report, width: int = 200) -> str:
    con = Console(width=width, record=True, color_system=None, force_terminal=False)
    con.print(console_report.render(report))
    return con.export_text()
