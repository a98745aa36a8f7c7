"""Reports built in code: one that passed, one that broke, one whose infrastructure failed, one plan-only."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from harness.report import CheckOutcome, CheckResult, Finding, ObjectRef, Phase, Report, classify, verdict_of
from harness.report.model import Outcome, PhaseStatus

DATA = Path(__file__).resolve().parent.parent / "data"
JUNIT_XSD = DATA / "junit-10.xsd"


def check(cid: str, before: Outcome | None, after: Outcome | None, *, message: str = "", name: str | None = None,
          after_message: str = "") -> CheckResult:
    """A check result classified the way the pipeline does it."""
    b = CheckOutcome(before, seconds=1.5) if before else None
    a = CheckOutcome(after, after_message, seconds=2.25) if after else None
    return CheckResult(cid, name or cid.replace("-", " "), b, a, classify(b.outcome if b else None,
                                                                            a.outcome if a else None), message)


def base_phases(status_upgrade: PhaseStatus = "ok") -> list[Phase]:
    return [
        Phase("provision", "ok", 41.0),
        Phase("recreate", "ok", 12.5),
        Phase("check-before", "ok", 8.0),
        Phase("upgrade 1.28.15", status_upgrade, 95.25),
        Phase("check-after", "ok", 9.0),
    ]


def finish(report: Report) -> Report:
    report.verdict = verdict_of(report)
    return report


def make_pass(name: str | None = "prod-eu") -> Report:
    """Everything ok; one check skipped (no real container under the local provider), one warning."""
    return finish(Report(
        "1.27.16", "1.28.15", ["1.28.15"], "local", "pass", name=name, scenario="default",
        started="2024-11-02T10:00:00Z", seconds=165.75, phases=base_phases(),
        checks=[
            check("dns-resolves", "pass", "pass"),
            check("ingress-serves", "pass", "pass"),
            check("pod-exec", "skip", "skip", message="pods are simulated by kwok"),
        ],
        findings=[Finding("warning", "deprecation", ObjectRef("flowcontrol.apiserver.k8s.io/v1beta2",
                                                               "FlowSchema", None, "exempt"),
                          "flowcontrol v1beta2 is deprecated in 1.28", "use flowcontrol.apiserver.k8s.io/v1beta3",
                          hop="1.27.16→1.28.15")],
        notes=["kube-apiserver 1.28.15 was built from source"],
        api_downtime_seconds=3.5, versions_used={"kube-apiserver": "1.28.15", "etcd": "3.5.15"},
    ))


def make_broke(name: str | None = "prod-us") -> Report:
    """One check broke (with a finding and its fix), one was already broken, one fixed, one skipped."""
    return finish(Report(
        "1.27.16", "1.28.15", ["1.28.15"], "kind", "pass", name=name, started="2024-11-02T10:05:00Z",
        seconds=201.0, phases=base_phases(),
        checks=[
            check("dns-resolves", "pass", "pass"),
            check("cronjob-applies", "pass", "fail", after_message="no matches for kind CronJob in batch/v1beta1"),
            check("metrics-server", "fail", "fail", message="metrics-server never became ready"),
            check("legacy-webhook", "fail", "pass"),
            check("pod-exec", "skip", "skip"),
        ],
        findings=[
            Finding("blocker", "removed-api", ObjectRef("batch/v1beta1", "CronJob", "jobs", "nightly | <backup>"),
                    "batch/v1beta1 CronJob is no longer served in 1.25+", "migrate the manifest to batch/v1",
                    hop="1.27.16→1.28.15", check="cronjob-applies"),
            Finding("warning", "removed-flag", ObjectRef("", "", None, "kube-apiserver --feature-gates"),
                    "feature gate CSIMigrationAzureFile no longer exists", "drop it from --feature-gates"),
        ],
    ))


def make_error(name: str | None = "prod-ap") -> Report:
    """The upgrade hop failed (infrastructure): checks after never ran."""
    return finish(Report(
        "1.27.16", "1.28.15", ["1.28.15"], "local", "pass", name=name, seconds=160.0,
        phases=[*base_phases("error")[:4]],
        checks=[CheckResult("dns-resolves", "dns resolves", CheckOutcome("pass", seconds=1.0), None, "ok")],
        error="kube-apiserver 1.28.15 did not become ready within 120 s",
    ))


def make_plan() -> Report:
    """A plan-only report: no phases that ran checks, findings without checks."""
    return finish(Report(
        "1.24.17", "1.26.15", ["1.25.16", "1.26.15"], "none", "pass",
        findings=[
            Finding("blocker", "removed-api", ObjectRef("policy/v1beta1", "PodSecurityPolicy", None, "restricted"),
                    "PodSecurityPolicy is removed in 1.25", "move to Pod Security Admission",
                    hop="1.24.17→1.25.16"),
            Finding("info", "addon-incompatible", ObjectRef("apps/v1", "Deployment", "kube-system", "coredns"),
                    "coredns 1.8.6 is untested with 1.26", "upgrade to 1.9.3"),
        ],
    ))


BUILDERS: dict[str, Callable[[], Report]] = {
    "pass": make_pass, "broke": make_broke, "error": make_error, "plan": make_plan,
}


VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source", "area", "base", "embed", "track"}


class StrictHTML(HTMLParser):
    """Fails on a tag closed out of order or left open; collects attributes that could load anything."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.loads: list[str] = []
        self.tags: set[str] = set()
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "data") or "url(" in (value or ""):
                self.loads.append(f"{tag} {name}={value}")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()


def parse_html(text: str) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(text)
    parser.close()
    return parser
