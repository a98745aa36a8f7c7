"""What the recreated workloads asked the API server, before and after the upgrade, from the audit log: calls to
an API a hop removes (a blocker, observed, naming the caller), calls to deprecated APIs (listed), and for each
caller of record whether what answered before still answers after (a check, ``broke`` when it does not)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks import CheckContext, CheckRun
from harness.knowledge import Knowledge, RemovedApi
from harness.observe._audit import Attribution, AuditLog, Caller, Request
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import Addon
from harness.versions import Version

SUMMARY_FILE = "api-callers.json"
AUDIT_COPY = "audit.log"
SIMULATED_NOTE = ("API calls were read from the rehearsal apiserver's audit log; kwok's pods run no code here, so "
                  "only real clients (the control plane, the harness's checks, a scenario's pytest checks) made "
                  "requests: an add-on's own client code is observed only where its pods really run (kind)")


@dataclass(frozen=True)
class CallerCheck:
    """The check "what <caller> asked before still answers after", judged from the audit log (not run)."""

    id: str
    name: str
    timeout: float = 0.0

    def run(self, ctx: CheckContext) -> CheckRun:
        return CheckRun("not-run", "judged from the audit log, not run")


@dataclass
class _Seen:
    """The requests of one caller, in the window before the upgrade and after it began."""

    caller: Caller
    before: list[Request] = field(default_factory=list)
    after: list[Request] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)


class ApiCalls:
    """The audit log read after each phase, each request kept with its caller of record."""

    def __init__(self, path: Path, objects: list[dict[str, Any]]) -> None:
        self.log = AuditLog(path)
        self.attribution = Attribution.of(objects)
        self.seen: dict[Caller, _Seen] = {}
        self.excluded = 0  # requests of the harness and the control plane

    def read(self, *, after: bool) -> int:
        """Read what was logged since the last read, into the window before or after the upgrade began."""
        requests = self.log.read()
        for req in requests:
            callers = self.attribution.caller_of(req)
            if not callers:
                self.excluded += 1
            for caller in callers:
                seen = self.seen.setdefault(caller, _Seen(caller))
                (seen.after if after else seen.before).append(req)
                if req.agent:
                    seen.agents.add(req.agent)
        return len(requests)

    def copy_to(self, directory: Path, summary: dict[str, Any]) -> None:
        """The audit log and the per-caller summary into the report directory (0600 each: the log names users)."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.log.path.exists():
            shutil.copyfile(self.log.path, directory / AUDIT_COPY)
            os.chmod(directory / AUDIT_COPY, 0o600)
        target = directory / SUMMARY_FILE
        target.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.chmod(target, 0o600)


@dataclass
class Judgement:
    """What the calls say: findings, and one check per caller of record seen before the upgrade."""

    findings: list[Finding] = field(default_factory=list)
    checks: list[tuple[CallerCheck, CheckRun, CheckRun]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def judge(calls: ApiCalls, knowledge: Knowledge | None, path: list[Version], addons: list[Addon],
          upgraded: bool) -> Judgement:
    """Findings and checks for every caller of record; ``path`` is the source then each hop's exact version;
    ``upgraded``: the upgrade completed (else nothing after it is judged)."""
    index = _by_resource(knowledge)
    out = Judgement()
    callers: list[dict[str, Any]] = []
    for caller, seen in sorted(calls.seen.items(), key=lambda kv: str(kv[0])):
        callers.append(_summary(seen, index, path))
        for (gv, resource, verb), reqs in _grouped(seen.before).items():
            removal = _removal(reqs[0], index, path)
            if removal is not None:
                out.findings.append(_removed_finding(caller, reqs, removal, index, knowledge, path, addons))
            elif any(r.deprecated for r in reqs):
                out.findings.append(Finding(
                    "warning", "calls-deprecated-api", _ref(caller), f"{caller} calls {verb} {gv} {resource}, "
                    f"deprecated ({len(reqs)} request{'s' * (len(reqs) != 1)} before the upgrade); no hop of this "
                    "rehearsal removes it", _replacement_text(gv, resource, index, knowledge, path[-1]),
                    evidence="observed"))
        if seen.before and caller.kind != "User":  # a user (an admin's tool) is listed, not judged as a workload
            out.checks.append(_check(seen, upgraded))
    out.summary = {"schema": "rehearse/api-callers/v1", "callers": callers,
                   "excluded_requests": calls.excluded, "events": calls.log.events}
    return out


def _check(seen: _Seen, upgraded: bool) -> tuple[CallerCheck, CheckRun, CheckRun]:
    caller = seen.caller
    check = CallerCheck(f"api-calls/{caller.kind}/{caller.namespace or '_cluster'}/{caller.name}",
                        f"what {caller} asked the API server before the upgrade still answers after it")
    answered = {r.call for r in seen.before if not r.failed}
    before = CheckRun("pass", f"{len(seen.before)} requests before the upgrade, {len(answered)} distinct calls "
                              "answered")
    if not upgraded:
        return check, before, CheckRun("not-run", "the upgrade did not complete")
    # A call that answered before and whose latest answer after is a failure: broken, not a blip. Requests that
    # failed while the API server restarted and then answered again are the upgrade's downtime, measured apart.
    latest = {r.call: r for r in seen.after}
    broken = {call for call, r in latest.items() if r.failed and call in answered}
    regressed = [r for r in seen.after if r.failed and r.call in broken]
    if regressed:
        first = regressed[0]
        after = CheckRun("fail", f"{caller}: {first.line()} — answered before the upgrade "
                                 f"({len(regressed)} failing request{'s' * (len(regressed) != 1)} after it)")
    elif seen.after:
        after = CheckRun("pass", f"{len(seen.after)} requests after the upgrade began, none that answered before "
                                 "fails")
    else:
        after = CheckRun("skip", f"{caller} made no request after the upgrade began: nothing to compare")
    return check, before, after


def _grouped(reqs: list[Request]) -> dict[tuple[str, str, str], list[Request]]:
    out: dict[tuple[str, str, str], list[Request]] = {}
    for r in reqs:
        out.setdefault((r.group_version, r.resource.split("/")[0], r.verb), []).append(r)
    return out


def _by_resource(knowledge: Knowledge | None) -> dict[tuple[str, str], RemovedApi]:
    if knowledge is None:
        return {}
    return {(a.group_version, a.resource): a for a in knowledge.apis.values() if a.resource}


def _removal(req: Request, index: dict[tuple[str, str], RemovedApi], path: list[Version]) -> str | None:
    """The hop (``1.25.15→1.26.13``) that stops serving what ``req`` asked for; None when no hop does."""
    api = index.get((req.group_version, req.resource.split("/")[0]))
    removed = api.removed_in if api is not None else req.removed_release
    try:
        major, minor = (int(p) for p in removed.split(".")[:2])
    except ValueError:
        return None
    for prev, nxt in itertools.pairwise(path):
        if (prev.major, prev.minor) < (major, minor) <= (nxt.major, nxt.minor):
            return f"{prev}→{nxt}"
    return None


def _removed_finding(caller: Caller, reqs: list[Request], hop: str, index: dict[tuple[str, str], RemovedApi],
                     knowledge: Knowledge | None, path: list[Version], addons: list[Addon]) -> Finding:
    r = reqs[0]
    gv, resource = r.group_version, r.resource.split("/")[0]
    api = index.get((gv, resource))
    release = api.removed_in if api is not None else r.removed_release
    fix = _replacement_text(gv, resource, index, knowledge, path[-1])
    addon = next((a for a in addons if a.workload == f"{caller.kind}/{caller.namespace}/{caller.name}"), None)
    if addon is not None and knowledge is not None:
        target = path[-1]
        lines = [s for s in knowledge.addons.get(addon.name, ()) if s.supports(target.major, target.minor)]
        if lines:
            fix += (f"; {addon.name} {addon.version} runs here — the versions its maintainers support on "
                    f"{target.major}.{target.minor}: " + ", ".join(f"{s.versions} ({s.range_text})" for s in lines))
    via = f" (runs as ServiceAccount {caller.service_account})" if caller.service_account else ""
    return Finding(
        "blocker", "calls-removed-api", _ref(caller),
        f"{caller}{via} calls {r.verb} {gv} {resource}, removed in {release}: {len(reqs)} "
        f"request{'s' * (len(reqs) != 1)} before the upgrade, first {r.line()}", fix, hop=hop, evidence="observed",
        basis="the rehearsal apiserver's audit log")


def _replacement_text(gv: str, resource: str, index: dict[tuple[str, str], RemovedApi],
                      knowledge: Knowledge | None, target: Version) -> str:
    api = index.get((gv, resource))
    replacement = knowledge.replacement_for(gv, api.kind, target) if knowledge is not None and api else None
    if replacement:
        return (f"make its client code call {replacement} {resource} (an update of the program, not of its "
                "manifests: they may be clean)")
    return f"make its client code stop calling {gv} {resource} (an update of the program, not of its manifests)"


def _ref(caller: Caller) -> ObjectRef:
    api = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
           "Job": "batch/v1", "CronJob": "batch/v1", "Pod": "v1", "ServiceAccount": "v1"}.get(caller.kind, "")
    return ObjectRef(apiVersion=api, kind=caller.kind, namespace=caller.namespace or None, name=caller.name)


def _summary(seen: _Seen, index: dict[tuple[str, str], RemovedApi], path: list[Version]) -> dict[str, Any]:
    before = Counter((r.verb, r.group_version, r.resource) for r in seen.before)
    after = Counter((r.verb, r.group_version, r.resource) for r in seen.after)
    failed = Counter((r.verb, r.group_version, r.resource) for r in seen.after if r.failed)
    sample = {(r.verb, r.group_version, r.resource): r for r in [*seen.before, *seen.after]}
    rows = []
    for key in sorted(set(before) | set(after)):
        r = sample[key]
        rows.append({"verb": key[0], "apiVersion": key[1], "resource": key[2], "before": before[key],
                     "after": after[key], "failed_after": failed[key], "deprecated": r.deprecated,
                     "removed_by_hop": _removal(r, index, path)})
    c = seen.caller
    return {"kind": c.kind, "namespace": c.namespace, "name": c.name, "service_account": c.service_account,
            "user_agents": sorted(seen.agents), "calls": rows}
