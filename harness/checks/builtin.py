"""Built-in checks, derived from what was recreated: API health, nodes, workloads, CRDs, webhooks, every object
re-applied as written in production, and Helm releases (listed by helm, chart kubeVersion constraints)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.apply import for_apply
from harness.checks._base import CheckContext, CheckRun, poll, polled
from harness.isolation import NOT_CALLED, host_of, webhook_check_id
from harness.kube import raw_get
from harness.recreate import RecreateResult, ref
from harness.report.model import Finding, Neutralised, ObjectRef
from harness.snapshot.addons import WORKLOAD_KINDS
from harness.snapshot.model import HelmRelease


def _scope(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "_cluster"


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


@dataclass
class ClusterCheck:
    """A check of the whole cluster: ``probe`` polled until it holds or ``timeout`` passes."""

    id: str
    name: str
    timeout: float
    probe: Callable[[CheckContext], tuple[bool, str]]
    kwok_answers: bool = False  # on the local provider, what it probes is simulated

    def run(self, ctx: CheckContext) -> CheckRun:
        run = polled(lambda: self.probe(ctx), self.timeout)
        return ctx.judged_by_kwok(run) if self.kwok_answers else run


def _api_healthy(ctx: CheckContext) -> tuple[bool, str]:
    """kube-apiserver answers /readyz and reports the expected version."""
    try:
        status, body = raw_get(ctx.api_client, "/readyz")
        version = json.loads(raw_get(ctx.api_client, "/version")[1])["gitVersion"]
    except Exception as e:
        return False, f"API not answering: {e}"
    if status != 200 or body.strip() != "ok":
        return False, f"/readyz: {body.strip()[:200]}"
    if version != ctx.version.tag:
        return False, f"/version is {version}, expected {ctx.version.tag}"
    return True, f"ready, {version}"


def _nodes_ready(ctx: CheckContext) -> tuple[bool, str]:
    """Every node Ready, its kubelet at the expected version."""
    from kubernetes import client

    bad = []
    nodes: list[Any] = client.CoreV1Api(ctx.api_client).list_node().items
    for n in nodes:
        ready = any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
        kubelet = n.status.node_info.kubelet_version
        if not ready or kubelet != ctx.version.tag:
            bad.append(f"{n.metadata.name} ({'Ready' if ready else 'NotReady'}, kubelet {kubelet})")
    if not nodes:
        return False, "no nodes"
    return (not bad), (f"{len(nodes)} nodes Ready at {ctx.version.tag}" if not bad
                       else "not ready at " + ctx.version.tag + ": " + ", ".join(bad))


@dataclass
class WorkloadAvailable:
    """A recreated workload reaches its desired state (Jobs complete; CronJobs exist and are schedulable)."""

    obj: dict[str, Any]
    timeout: float = 90.0
    id: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        kind, ns, name = self.obj["kind"], _scope(self.obj), _name(self.obj)
        self.id = f"workload/{kind}/{ns}/{name}"
        self.name = f"{kind} {ns}/{name} available"

    def run(self, ctx: CheckContext) -> CheckRun:
        applier = ctx.applier()
        kind = self.obj["kind"]
        res = applier.resource(applier.preferred_version(self.obj["apiVersion"], kind) or "", kind)
        if res is None:
            return CheckRun("fail", f"{kind} is not served")
        ns, name = (self.obj.get("metadata") or {}).get("namespace"), _name(self.obj)

        def probe() -> tuple[bool, str]:
            try:
                live = res.get(name=name, namespace=ns).to_dict()
            except Exception as e:
                return False, f"not found: {e}"
            spec, status = live.get("spec") or {}, live.get("status") or {}
            if kind == "Deployment":
                want, have = spec.get("replicas", 1), status.get("availableReplicas", 0) or 0
                return have >= want, f"{have}/{want} available"
            if kind == "StatefulSet":
                want, have = spec.get("replicas", 1), status.get("readyReplicas", 0) or 0
                return have >= want, f"{have}/{want} ready"
            if kind == "DaemonSet":
                want, have = status.get("desiredNumberScheduled", 0), status.get("numberAvailable", 0) or 0
                return want > 0 and have >= want, f"{have}/{want} available"
            if kind == "Job":
                done = (status.get("succeeded") or 0) >= (spec.get("completions") or 1)
                failed = any(c.get("type") == "Failed" and c.get("status") == "True"
                             for c in status.get("conditions") or [])
                return done and not failed, "complete" if done else ("failed" if failed else "running")
            if kind == "CronJob":
                return not spec.get("suspend", False), "scheduled" if not spec.get("suspend") else "suspended"
            return True, "exists"

        return ctx.judged_by_kwok(polled(probe, self.timeout))


@dataclass
class CrdServed:
    """A CRD is Established and every version it has stored objects in is still served."""

    crd: str
    timeout: float = 30.0
    id: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        self.id, self.name = f"crd/{self.crd}", f"CRD {self.crd} established, stored versions served"

    def run(self, ctx: CheckContext) -> CheckRun:
        applier = ctx.applier()
        res = applier.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")

        def probe() -> tuple[bool, str]:
            try:
                crd = res.get(name=self.crd).to_dict()
            except Exception as e:
                return False, f"not found: {e}"
            conds = crd.get("status", {}).get("conditions") or []
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                return False, "not Established"
            served = {v["name"] for v in crd["spec"]["versions"] if v.get("served")}
            stored = crd.get("status", {}).get("storedVersions") or []
            missing = [v for v in stored if v not in served]
            if missing:
                return False, f"stored versions no longer served: {', '.join(missing)}"
            return True, f"served: {', '.join(sorted(served))}; stored: {', '.join(stored)}"

        return polled(probe, self.timeout)


@dataclass
class WebhookReachable:
    """An admission webhook's Service resolves to ready endpoints. One production addressed outside the cluster
    (its URL, or a Service leading out) was ``neutralised``: never called, so skipped, never passed."""

    configuration: str
    webhook: dict[str, Any]
    kind: str
    timeout: float = 60.0
    id: str = ""
    name: str = ""
    neutralised: Neutralised | None = None

    def __post_init__(self) -> None:
        self.id = webhook_check_id(self.configuration, str(self.webhook.get("name")))
        self.name = f"{self.kind} webhook {self.webhook.get('name')} resolvable"

    def run(self, ctx: CheckContext) -> CheckRun:
        from kubernetes import client

        cfg = self.webhook.get("clientConfig") or {}
        policy = self.webhook.get("failurePolicy", "Fail")
        if self.neutralised is not None:
            return CheckRun("skip", f"{self.neutralised.reason} ({self.neutralised.host}, failurePolicy {policy})")
        if cfg.get("url"):  # not neutralised: cannot happen after recreate, and is never a pass
            return CheckRun("skip", f"{NOT_CALLED} ({host_of(str(cfg['url']))}, failurePolicy {policy})")
        svc = cfg.get("service") or {}
        core = client.CoreV1Api(ctx.api_client)

        def probe() -> tuple[bool, str]:
            try:
                core.read_namespaced_service(svc["name"], svc["namespace"])
                eps = core.read_namespaced_endpoints(svc["name"], svc["namespace"])
            except Exception as e:
                return False, f"service {svc.get('namespace')}/{svc.get('name')}: {getattr(e, 'reason', e)}"
            ready = sum(len(s.addresses or []) for s in eps.subsets or [])
            if not ready:
                return False, f"service {svc['namespace']}/{svc['name']} has no ready endpoints"
            return True, f"service {svc['namespace']}/{svc['name']}: {ready} ready endpoints"

        ok, msg = poll(probe, self.timeout)
        if not ok and policy == "Fail":
            msg += "; failurePolicy Fail: matching writes are rejected while it is unreachable"
        return ctx.judged_by_kwok(CheckRun("pass" if ok else "fail", msg))  # endpoints come from kwok's pods


@dataclass
class Reapply:
    """The object re-applied exactly as written in production (its apiVersion) with a server-side dry run."""

    written: dict[str, Any]
    source: str
    timeout: float = 20.0
    id: str = ""
    name: str = ""
    seen_warnings: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        w = self.written
        self.id = f"reapply/{w['kind']}/{_scope(w)}/{_name(w)}"
        self.name = f"{w['kind']} {_scope(w)}/{_name(w)} re-applies as {w['apiVersion']}"

    def run(self, ctx: CheckContext) -> CheckRun:
        applier = ctx.applier()
        ok, err, warnings = applier.apply(for_apply(self.written), dry_run=True)
        findings = [
            Finding(severity="warning", kind="deprecation", object=ref(self.written), cause=w,
                    fix=_fix(ctx, self.written) or "move to the version the warning names", hop=ctx.hop, check=self.id)
            for w in warnings
        ]
        if ok:
            return CheckRun("pass", "; ".join(warnings) if warnings else "accepted", findings)
        if ctx.simulated_pods and "failed calling webhook" in err:
            return CheckRun("skip", f"an admission webhook intercepts it and its pods are simulated here: {err}",
                            findings)
        gv, kind = self.written["apiVersion"], self.written["kind"]
        if applier.resource(gv, kind) is None:
            served = applier.preferred_version(gv, kind)
            findings.append(Finding(
                severity="blocker", kind="removed-api", object=ref(self.written),
                cause=f"{gv} {kind} is not served by Kubernetes {ctx.version}"
                      + (f" (from {self.source})" if self.source != "snapshot" else ""),
                fix=_fix(ctx, self.written) or (f"rewrite as {served}" if served else "no replacement is served"),
                hop=ctx.hop, check=self.id))
        return CheckRun("fail", err, findings)


@dataclass
class NotJudgedHere:
    """A check whose subject the rehearsal cannot stand up as production has it (a CRD whose conversion webhook was
    not called, and its custom resources): skipped with the reason, never run, never passed."""

    check: Any
    reason: str

    @property
    def id(self) -> str:
        return str(self.check.id)

    @property
    def name(self) -> str:
        return str(self.check.name)

    @property
    def timeout(self) -> float:
        return float(self.check.timeout)

    def run(self, ctx: CheckContext) -> CheckRun:
        return CheckRun("skip", self.reason)


def _fix(ctx: CheckContext, obj: dict[str, Any]) -> str:
    """The knowledge's fix for an object of a removed API ("" without knowledge, or for an API still served)."""
    return ctx.knowledge.fix_for(obj["apiVersion"], obj["kind"]) if ctx.knowledge is not None else ""


@dataclass
class HelmKubeVersion:
    """A release's chart kubeVersion constraint admits the cluster's version (helm refuses upgrades otherwise)."""

    release: HelmRelease
    timeout: float = 5.0
    id: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        r = self.release
        self.id = f"helm-kube-version/{r.namespace}/{r.name}"
        self.name = f"chart {r.chart}-{r.chart_version} kubeVersion '{r.kube_version}' admits the cluster"

    def run(self, ctx: CheckContext) -> CheckRun:
        from harness.knowledge.semver import satisfies

        r = self.release
        if satisfies(r.kube_version, ctx.version.tag):
            return CheckRun("pass", f"{ctx.version.tag} satisfies '{r.kube_version}'", evidence="predicted")
        finding = Finding(
            severity="blocker", kind="addon-incompatible",
            object=ObjectRef(apiVersion="helm.sh/v3", kind="HelmRelease", namespace=r.namespace, name=r.name),
            cause=f"chart {r.chart}-{r.chart_version} declares kubeVersion '{r.kube_version}', which "
                  f"{ctx.version.tag} does not satisfy: helm will refuse to upgrade release {r.name} there",
            fix=f"upgrade {r.chart} to a chart version whose kubeVersion admits {ctx.version.minor_key} "
                "before upgrading the cluster", hop=ctx.hop, check=self.id, evidence="predicted",
            basis="the chart's kubeVersion rule, evaluated against the cluster's version: no helm upgrade ran")
        return CheckRun("fail", finding.cause, [finding], evidence="predicted")


@dataclass
class HelmListed:
    """``helm list`` (the real helm binary) shows every release at its chart version, deployed."""

    releases: list[HelmRelease]
    timeout: float = 30.0
    id: str = "helm-releases-listed"
    name: str = "helm list shows every release at its chart version"

    def run(self, ctx: CheckContext) -> CheckRun:
        if ctx.helm is None:
            return CheckRun("skip", "helm binary not available")
        listed: dict[tuple[str, str], dict[str, Any]] = {}
        for driver in sorted({r.storage or "secret" for r in self.releases}):
            # helm reads one storage driver at a time (HELM_DRIVER: secret by default, or configmap)
            out = subprocess.run([str(ctx.helm), "list", "-A", "-o", "json", "--kubeconfig", str(ctx.kubeconfig)],
                                 capture_output=True, text=True, timeout=self.timeout, check=False,
                                 env={**os.environ, "HELM_DRIVER": driver})
            if out.returncode != 0:
                return CheckRun("fail", f"helm list ({driver} driver) failed: {out.stderr.strip()[:300]}")
            listed.update({(r["namespace"], r["name"]): r for r in json.loads(out.stdout or "[]")})
        problems = []
        for rel in self.releases:
            got = listed.get((rel.namespace, rel.name))
            want = f"{rel.chart}-{rel.chart_version}"
            if got is None:
                problems.append(f"{rel.namespace}/{rel.name} missing")
            elif got.get("chart") != want or got.get("status") != "deployed":
                problems.append(f"{rel.namespace}/{rel.name}: {got.get('chart')} {got.get('status')}, want {want}")
        if problems:
            return CheckRun("fail", "; ".join(problems))
        return CheckRun("pass", f"{len(self.releases)} releases listed")


def builtin_checks(recreated: RecreateResult) -> list[Any]:
    """The built-in checks for what was recreated."""
    checks: list[Any] = [
        ClusterCheck("api-healthy", "API server healthy at the expected version", 30.0, _api_healthy),
        ClusterCheck("nodes-ready", "every node Ready at the expected kubelet version", 60.0, _nodes_ready,
                     kwok_answers=True),
    ]
    for a in recreated.ok:
        kind = a.written.get("kind")
        if kind in WORKLOAD_KINDS:
            checks.append(WorkloadAvailable(a.written))
        elif kind == "CustomResourceDefinition":
            checks.append(CrdServed(_name(a.written)))
        elif kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            cfg = _name(a.written)
            checks += [WebhookReachable(cfg, w, kind.replace("WebhookConfiguration", "").lower(), neutralised=next(
                (n for n in a.neutralised if n.check == webhook_check_id(cfg, str(w.get("name")))), None))
                       for w in a.written.get("webhooks") or []]
    checks += [Reapply(a.written, a.source) for a in recreated.applied if a.written.get("kind") != "Namespace"]
    unjudged = {id(a.written): a.unjudged for a in recreated.applied if a.unjudged}
    crds = {f"crd/{_name(a.written)}": a.unjudged for a in recreated.applied
            if a.unjudged and a.written.get("kind") == "CustomResourceDefinition"}
    checks = [NotJudgedHere(c, crds[c.id]) if c.id in crds else
              NotJudgedHere(c, unjudged[id(c.written)]) if isinstance(c, Reapply) and id(c.written) in unjudged else c
              for c in checks]
    releases = recreated.helm_records
    checks += [HelmKubeVersion(r) for r in releases if r.kube_version]
    if releases:
        checks.append(HelmListed(list(releases)))
    return checks
