"""Reports built in code: one that passed, one that broke (a row in each of the four sections), one whose
infrastructure failed, one plan-only."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from harness.report import (
    CheckOutcome,
    CheckResult,
    Coverage,
    Finding,
    Neutralised,
    NotRecreated,
    ObjectRef,
    Phase,
    Report,
    Safety,
    classify,
    verdict_of,
)
from harness.report.model import Evidence, Outcome, PhaseStatus, evidence_of

DATA = Path(__file__).resolve().parent.parent / "data"
JUNIT_XSD = DATA / "junit-10.xsd"


def check(cid: str, before: Outcome | None, after: Outcome | None, *, message: str = "", name: str | None = None,
          after_message: str = "", evidence: Evidence = "observed") -> CheckResult:
    """A check result classified the way the pipeline does it (``evidence``: how both runs were answered)."""
    b = CheckOutcome(before, seconds=1.5, evidence=evidence) if before else None
    a = CheckOutcome(after, after_message, seconds=2.25, evidence=evidence) if after else None
    return CheckResult(cid, name or cid.replace("-", " "), b, a, classify(b.outcome if b else None,
                                                                            a.outcome if a else None), message,
                       evidence=evidence_of(b, a))


def coverage(checks: list[CheckResult], *, recreated: int, missing: list[NotRecreated] | None = None,
             helm: int = 0, simulated: list[str] | None = None) -> Coverage:
    """Coverage counted the way the pipeline counts it: each check once, by how it was judged."""
    counts = dict.fromkeys(("observed", "simulated", "predicted", "skipped", "not-run"), 0)
    for c in checks:
        runs = [r for r in (c.before, c.after) if r is not None]
        if any(r.outcome == "not-run" for r in runs):
            counts["not-run"] += 1
        elif c.classification in ("unverified", "not-judged"):
            counts["skipped"] += 1
        else:
            counts[c.evidence] += 1
    return Coverage(recreated, missing or [], helm, counts, simulated or [])


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


SIMULATED = "nodes and pods (kwok): node Ready, kubelet version, workload availability"


def make_pass(name: str | None = "prod-eu") -> Report:
    """Everything ok on the local provider: one check observed, one simulated by kwok, one skipped (no real
    container), one predicted warning."""
    checks = [
        check("dns-resolves", "pass", "pass"),
        check("ingress-serves", "pass", "pass", evidence="simulated"),
        check("pod-exec", "skip", "skip", message="pods are simulated by kwok"),
    ]
    return finish(Report(
        "1.27.16", "1.28.15", ["1.28.15"], "local", "pass", name=name, scenario="default",
        started="2024-11-02T10:00:00Z", seconds=165.75, phases=base_phases(), checks=checks,
        findings=[Finding("warning", "deprecation", ObjectRef("flowcontrol.apiserver.k8s.io/v1beta2",
                                                               "FlowSchema", None, "exempt"),
                          "flowcontrol v1beta2 is deprecated in 1.28", "use flowcontrol.apiserver.k8s.io/v1beta3",
                          hop="1.27.16→1.28.15", evidence="predicted",
                          basis="deprecation warnings are only sent to the client that writes the object")],
        notes=["kube-apiserver 1.28.15 was built from source"],
        api_downtime_seconds=3.5, versions_used={"kube-apiserver": "1.28.15", "etcd": "3.5.15"},
        coverage=coverage(checks, recreated=12, helm=2, simulated=[SIMULATED]),
        safety=Safety(),
    ))


PREDICTED_BASIS = "only a manifest file uses it; no object in the rehearsal cluster does"


def make_broke(name: str | None = "prod-us") -> Report:
    """A row in each of the four sections. Broke: a check that passed before and fails after (with a finding and
    its fix). Predicted: a blocker the knowledge predicts for the hop. Already broken: a check failing before.
    Not judged: a check skipped both times, one that passed before and was not run after, an object not recreated.
    Besides: one check ok, one fixed, one warning no check owns."""
    checks = [
        check("dns-resolves", "pass", "pass"),
        check("cronjob-applies", "pass", "fail", after_message="no matches for kind CronJob in batch/v1beta1"),
        check("metrics-server", "fail", "fail", message="metrics-server never became ready"),
        check("legacy-webhook", "fail", "pass"),
        check("pod-exec", "skip", "skip", message="no container runtime answers exec here"),
        check("hpa-scales", "pass", "not-run", after_message="the check timed out before it could ask the API"),
    ]
    return finish(Report(
        "1.27.16", "1.28.15", ["1.28.15"], "kind", "pass", name=name, started="2024-11-02T10:05:00Z",
        seconds=201.0, phases=base_phases(), checks=checks,
        findings=[
            Finding("blocker", "removed-api", ObjectRef("batch/v1beta1", "CronJob", "jobs", "nightly | <backup>"),
                    "batch/v1beta1 CronJob is no longer served in 1.25+", "migrate the manifest to batch/v1",
                    hop="1.27.16→1.28.15", check="cronjob-applies"),
            Finding("blocker", "removed-api", ObjectRef("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema", None,
                                                         "batch-jobs"),
                    "flowcontrol.apiserver.k8s.io/v1beta1 FlowSchema is no longer served from 1.26 on",
                    "write it as flowcontrol.apiserver.k8s.io/v1beta3", hop="1.27.16→1.28.15", evidence="predicted",
                    basis=PREDICTED_BASIS),
            Finding("warning", "removed-flag", ObjectRef("", "", None, "kube-apiserver --feature-gates"),
                    "feature gate CSIMigrationAzureFile no longer exists", "drop it from --feature-gates"),
        ],
        coverage=coverage(checks, recreated=30, helm=3, missing=[NotRecreated(
            ObjectRef("monitoring.coreos.com/v1", "ServiceMonitor", "apps", "web"),
            "no CRD serves monitoring.coreos.com/v1 in the rehearsal cluster")]),
    ))


def make_error(name: str | None = "prod-ap") -> Report:
    """The upgrade hop failed (infrastructure: a wait ran out, no cause named): checks after never ran."""
    checks = [CheckResult("dns-resolves", "dns resolves", CheckOutcome("pass", seconds=1.0),
                          CheckOutcome("not-run", "the upgrade stopped before the checks"), "unverified")]
    return finish(Report(
        "1.27.16", "1.28.15", ["1.28.15"], "local", "pass", name=name, seconds=160.0,
        phases=[*base_phases("error")[:4]], checks=checks,
        error="kube-apiserver 1.28.15 did not become ready within 120 s",
        coverage=coverage(checks, recreated=5, simulated=[SIMULATED]),
    ))


def make_plan() -> Report:
    """A plan-only report: no phases that ran checks, findings without checks, all predicted."""
    return finish(Report(
        "1.24.17", "1.26.15", ["1.25.16", "1.26.15"], "none", "pass",
        findings=[
            Finding("blocker", "removed-api", ObjectRef("policy/v1beta1", "PodSecurityPolicy", None, "restricted"),
                    "PodSecurityPolicy is removed in 1.25", "move to Pod Security Admission",
                    hop="1.24.17→1.25.16", evidence="predicted", basis="a plan creates no cluster"),
            Finding("info", "addon-incompatible", ObjectRef("apps/v1", "Deployment", "kube-system", "coredns"),
                    "coredns 1.8.6 is untested with 1.26", "upgrade to 1.9.3", evidence="predicted",
                    basis="a plan creates no cluster"),
        ],
    ))


NOT_CALLED = "production endpoint, not called"
VWC = ObjectRef("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", None, "policy")
CRD = ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.example.com")
APISERVICE = ObjectRef("apiregistration.k8s.io/v1", "APIService", None, "v1beta1.outside.example.com")
EXTERNAL = ObjectRef("v1", "Service", "shop", "payments")


def make_isolated() -> Report:
    """A local rehearsal of a cluster whose URL webhooks, conversion webhook, APIService and ExternalName Service
    point outside: each neutralised (the webhook's check skipped, the APIService not recreated), pods' egress open
    to one range, the stand-in's answers counted."""
    checks = [
        check("api-healthy", "pass", "pass"),
        check("webhook/policy/validate.example.com", "skip", "skip", name="validating webhook validate.example.com "
              "resolvable", message=f"{NOT_CALLED}: answered by the rehearsal's stand-in (policy.prod.example.com)"),
    ]
    neutralised = [
        Neutralised(VWC, "webhooks[validate.example.com].clientConfig.url", "policy.prod.example.com",
                    f"{NOT_CALLED}: answered by the rehearsal's stand-in, which allows every request",
                    check="webhook/policy/validate.example.com"),
        Neutralised(CRD, "spec.conversion.webhook.clientConfig.url", "convert.prod.example.com",
                    f"{NOT_CALLED}: the rehearsal's stand-in converts by rewriting apiVersion"),
        Neutralised(APISERVICE, "spec.service", "api.elsewhere.svc",
                    f"{NOT_CALLED}: not recreated, its Service elsewhere/api is not recreated"),
        Neutralised(EXTERNAL, "spec.externalName", "payments.prod.example.com",
                    f"{NOT_CALLED}: replaced by a name that never resolves"),
    ]
    missing = [NotRecreated(APISERVICE, f"{neutralised[2].reason} (spec.service: api.elsewhere.svc)")]
    return finish(Report(
        "1.27.16", "1.28.15", ["1.28.15"], "local", "pass", name="prod-isolated", seconds=80.0,
        phases=base_phases(), checks=checks, coverage=coverage(checks, recreated=9, missing=missing),
        safety=Safety(neutralised, egress_open=["10.20.0.0/16"], stub_calls={"admission": 7, "conversion": 2}),
    ))


BUILDERS: dict[str, Callable[[], Report]] = {
    "pass": make_pass, "broke": make_broke, "error": make_error, "plan": make_plan, "isolated": make_isolated,
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


# What rehearse's rehearse/report/v1 writer produced (HEAD before v2: keys in its order, indent 2): a local run on
# which one check passed, one broke with a blocker, one was skipped (v1's single "skipped" for either side).
V1_REPORT = """\
{
  "schema": "rehearse/report/v1",
  "name": "prod-old",
  "from": "1.27.16",
  "to": "1.28.15",
  "hops": [
    "1.28.15"
  ],
  "provider": "local",
  "verdict": "broke",
  "error": null,
  "scenario": "default",
  "started": "2024-10-01T08:00:00Z",
  "seconds": 120.5,
  "phases": [
    {"name": "provision", "status": "ok", "seconds": 40.0, "message": "", "details": {}},
    {"name": "check-before", "status": "ok", "seconds": 5.0, "message": "", "details": {}},
    {"name": "upgrade 1.28.15", "status": "ok", "seconds": 70.0, "message": "", "details": {}},
    {"name": "check-after", "status": "ok", "seconds": 5.5, "message": "", "details": {}}
  ],
  "checks": [
    {"id": "dns-resolves", "name": "dns resolves", "before": {"outcome": "pass", "message": "", "seconds": 1.0},
     "after": {"outcome": "pass", "message": "", "seconds": 1.0}, "classification": "ok", "message": "",
     "phase_before": "check-before", "phase_after": "check-after"},
    {"id": "cronjob-applies", "name": "cronjob applies", "before": {"outcome": "pass", "message": "", "seconds": 1.0},
     "after": {"outcome": "fail", "message": "no matches for kind CronJob", "seconds": 1.0},
     "classification": "broke", "message": "", "phase_before": "check-before", "phase_after": "check-after"},
    {"id": "pod-exec", "name": "pod exec",
     "before": {"outcome": "skip", "message": "pods are simulated", "seconds": 0.0},
     "after": {"outcome": "skip", "message": "pods are simulated", "seconds": 0.0}, "classification": "skipped",
     "message": "", "phase_before": "check-before", "phase_after": "check-after"}
  ],
  "findings": [
    {"severity": "blocker", "kind": "removed-api",
     "object": {"apiVersion": "batch/v1beta1", "kind": "CronJob", "namespace": "jobs", "name": "nightly"},
     "cause": "batch/v1beta1 CronJob is no longer served", "fix": "migrate the manifest to batch/v1",
     "hop": "1.27.16→1.28.15", "check": "cronjob-applies"}
  ],
  "notes": [],
  "api_downtime_seconds": 2.5,
  "versions_used": {"kube-apiserver": "1.28.15"}
}
"""
