"""APIs production still receives requests for (the snapshot's ``deprecated_api_requests``, read from the API
server's ``apiserver_requested_deprecated_apis`` gauge): one a hop removes is a warning. The gauge names no caller,
counts on one API server instance only and restarts from nothing when that instance restarts; ``plan --audit-log``
(:mod:`.audit`) names the callers."""

from __future__ import annotations

from harness.knowledge.callers import api_callers
from harness.plan._base import PlanState, minor
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import Snapshot


def production_calls(state: PlanState, snap: Snapshot) -> None:
    """A warning for each deprecated API the snapshot's gauge shows called that a hop of this upgrade removes."""
    requests = snap.deprecated_api_requests
    if requests is None:
        if any(n.startswith("/metrics") for n in snap.not_readable):
            state.notes.append("the snapshot could not read /metrics: which deprecated APIs production still calls "
                               "is unknown (run `rehearse plan --audit-log` on the API server's audit log)")
        return
    by_resource = {(a.group_version, a.resource): a for a in state.knowledge.apis.values()}
    callers = api_callers()
    for r in requests:
        gv = f"{r.group}/{r.version}" if r.group else r.version
        api = by_resource.get((gv, r.resource))
        removed_in = api.removed_in if api is not None else r.removed_release
        if not removed_in or not state.removed_in_span(minor(removed_in)):
            continue
        label = state.hop_label(minor(removed_in))
        what = f"{gv} {r.resource}" + (f"/{r.subresource}" if r.subresource else "")
        known = callers.known_for(gv, r.resource)
        also = "".join(f"; built-in components known to call it on their own: {k.callers} [source: {k.source}]"
                       for k in known)
        fix = state.knowledge.fix_for(api.group_version, api.kind) if api is not None else \
            f"move every client to a version {removed_in} serves"
        state.add(Finding(
            severity="warning", kind="production-calls-removed-api",
            object=ObjectRef(apiVersion=gv, kind=api.kind if api is not None else r.resource, name=r.resource),
            cause=f"production still calls {what}, no longer served from {removed_in} (hop {label}); the metric "
                  "does not name the caller — run `rehearse plan --audit-log` to find it (apiserver_requested_"
                  "deprecated_apis counts on the API server instance the snapshot read, since it last started)"
                  + also,
            fix=fix, hop=label), ("production", gv, r.resource, r.subresource))
