"""``rehearse plan --audit-log FILE…``: who calls removed or deprecated APIs, from the API server's audit log.

Reads the events the log backend writes (``audit.k8s.io/v1`` ``Event``, one JSON document a line; gzip accepted),
streamed line by line and never held whole. A line is decoded (orjson) only when a cheap look at its bytes says it
may matter: the server annotated it ``k8s.io/deprecated``, or its ``requestURI`` names a group/version the
knowledge lists as removed or deprecated. Each call is counted once (the ``ResponseComplete`` or ``Panic`` stage)
and attributed to user, user agent, API, verbs, count, first and last seen.

Findings: a caller that is not a built-in control-plane component (``api_callers.yaml``) calling an API a hop
removes is a blocker (``calls-removed-api``); a control-plane component doing so is informational (it is upgraded
with the cluster); a call to an API that is deprecated but still served at the target is informational.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from harness.errors import InputError
from harness.knowledge import RemovedApi
from harness.knowledge.callers import api_callers
from harness.plan._base import PlanState, minor
from harness.report.model import Finding, ObjectRef

_DEPRECATED = b'"k8s.io/deprecated"'
_URI = b'"requestURI":"'
_COUNTED_STAGES = frozenset({"ResponseComplete", "Panic"})
OWN_AGENT = "rehearse/"  # rehearse's own reads (a snapshot lists each type at the version the server prefers)


@dataclass
class Calls:
    """The calls of one caller to one API."""

    user: str
    user_agent: str
    group_version: str
    resource: str
    removed_release: str = ""  # as the server annotated it ("" when it did not)
    count: int = 0
    first: str = ""
    last: str = ""
    verbs: set[str] = field(default_factory=set)
    codes: set[int] = field(default_factory=set)


@dataclass
class AuditSummary:
    """What the audit logs say about deprecated and removed APIs."""

    files: int = 0
    lines: int = 0
    decoded: int = 0
    unreadable: int = 0  # lines that are not JSON events
    calls: dict[tuple[str, str, str, str], Calls] = field(default_factory=dict)


def _lines(path: Path) -> Iterator[bytes]:
    try:
        fh: IO[bytes] = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"--audit-log {path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"--audit-log {path}: is a directory, not an audit log") from None
    except OSError as e:
        raise InputError(f"--audit-log {path}: cannot read: {e.strerror}") from None
    with fh:
        gz = fh.read(2) == b"\x1f\x8b"
        fh.seek(0)
        stream: IO[bytes] = gzip.GzipFile(fileobj=fh) if gz else fh  # type: ignore[assignment]
        try:
            yield from stream
        except (OSError, EOFError, zlib.error) as e:
            raise InputError(f"--audit-log {path}: not a readable gzip file ({e})") from None


def _path_group_version(uri: bytes) -> str | None:
    """``autoscaling/v2beta2`` of ``/apis/autoscaling/v2beta2/…``, ``v1`` of ``/api/v1/…``; None otherwise."""
    if uri.startswith(b"/apis/"):
        parts = uri[6:].split(b"/", 2)
        return (parts[0] + b"/" + parts[1]).decode() if len(parts) >= 2 else None
    return None


class AuditReader:
    """Streams audit logs and keeps the calls to APIs the knowledge lists (or the server marks deprecated)."""

    def __init__(self, apis: Sequence[RemovedApi]) -> None:
        self.watched = {a.group_version.encode() for a in apis if "/" in a.group_version}
        self.summary = AuditSummary()

    def read(self, path: Path) -> None:
        s = self.summary
        s.files += 1
        watched, loads = self.watched, orjson.loads
        lines = _lines(path)
        for first in lines:  # the first event says whether this is an audit log at all
            s.lines += 1
            try:
                event = loads(first)
            except orjson.JSONDecodeError:
                event = None
            if not isinstance(event, dict) or event.get("kind") != "Event" or not str(
                    event.get("apiVersion", "")).startswith("audit.k8s.io/"):
                raise InputError(f"--audit-log {path}: not an audit log (expected audit.k8s.io/v1 events, one JSON "
                                 "document a line, as the API server's log backend writes them)")
            s.decoded += 1
            self._event(event)
            break
        for line in lines:
            s.lines += 1
            if _DEPRECATED not in line:
                i = line.find(_URI)
                if i < 0:
                    continue
                start = i + len(_URI)
                gv = _path_group_version(line[start:line.find(b'"', start)])
                if gv is None or gv.encode() not in watched:
                    continue
            try:
                event = loads(line)
            except orjson.JSONDecodeError:
                s.unreadable += 1
                continue
            s.decoded += 1
            if isinstance(event, dict):
                self._event(event)

    def _event(self, e: dict[str, Any]) -> None:
        if e.get("stage") not in _COUNTED_STAGES:
            return
        ref = e.get("objectRef") or {}
        version = ref.get("apiVersion")
        if not isinstance(ref, dict) or not version:
            return
        group = ref.get("apiGroup") or ""
        gv = f"{group}/{version}" if group else str(version)
        resource = str(ref.get("resource") or "")
        if ref.get("subresource"):
            resource += f"/{ref['subresource']}"
        annotations = e.get("annotations") or {}
        user = str((e.get("user") or {}).get("username") or "")
        agent = str(e.get("userAgent") or "")
        if agent.startswith(OWN_AGENT):
            return
        key = (user, agent, gv, resource)
        calls = self.summary.calls.get(key)
        if calls is None:
            calls = self.summary.calls[key] = Calls(user, agent, gv, resource)
        calls.removed_release = calls.removed_release or str(annotations.get("k8s.io/removed-release") or "")
        when = str(e.get("requestReceivedTimestamp") or e.get("stageTimestamp") or "")
        calls.count += 1
        if when and (not calls.first or when < calls.first):
            calls.first = when
        calls.last = max(calls.last, when)
        calls.verbs.add(str(e.get("verb") or ""))
        code = (e.get("responseStatus") or {}).get("code")
        if isinstance(code, int):
            calls.codes.add(code)


def read_audit_logs(paths: Sequence[Path], apis: Sequence[RemovedApi]) -> AuditSummary:
    """Stream every file of ``paths``; the calls to the removed or deprecated ``apis`` (or server-marked ones)."""
    reader = AuditReader(apis)
    for p in paths:
        reader.read(Path(p))
    return reader.summary


def _caller(c: Calls) -> str:
    return f"{c.user or '(anonymous)'}" + (f" (user agent {c.user_agent})" if c.user_agent else "")


def _seen(c: Calls) -> str:
    verbs = ", ".join(sorted(v for v in c.verbs if v))
    codes = ", ".join(str(x) for x in sorted(c.codes))
    return (f"{c.count} call{'s' if c.count != 1 else ''} ({verbs}; HTTP {codes or '?'}), first {c.first or '?'}, "
            f"last {c.last or '?'}")


def audit_findings(state: PlanState, summary: AuditSummary) -> None:
    """The findings of the calls in ``summary`` for this upgrade, and a note of what was read."""
    callers = api_callers()
    by_resource = {(a.group_version, a.resource): a for a in state.knowledge.apis.values()}
    attributed = 0
    for key, c in sorted(summary.calls.items()):
        api = by_resource.get((c.group_version, c.resource.split("/", 1)[0]))
        removed_in = api.removed_in if api is not None else c.removed_release
        if not removed_in:
            continue
        attributed += 1
        removed = minor(removed_in)
        what = f"{c.group_version} {c.resource}"
        ref = ObjectRef(apiVersion=c.group_version, kind=api.kind if api else c.resource, name=_caller(c))
        fix = state.knowledge.fix_for(api.group_version, api.kind) if api else f"use a version {removed_in} serves"
        if state.removed_in_span(removed):
            label = state.hop_label(removed)
            builtin = callers.is_control_plane(c.user)
            state.add(Finding(
                severity="info" if builtin else "blocker", kind="calls-removed-api", object=ref,
                cause=f"{_caller(c)} calls {what}, no longer served from {removed_in} (hop {label}): {_seen(c)}"
                      + (" — a built-in control-plane component, upgraded with the cluster" if builtin else ""),
                fix=(f"update that client: {fix}" if not builtin else "nothing to do for the user"), hop=label),
                ("audit", *key))
        elif removed > state.target_minor:
            state.add(Finding(
                severity="info", kind="calls-deprecated-api", object=ref,
                cause=f"{_caller(c)} calls {what}, deprecated and removed in {removed_in} (after {state.target}): "
                      f"{_seen(c)}", fix=fix), ("audit", *key))
    state.notes.append(
        f"audit log: {summary.lines} events read from {summary.files} file{'s' if summary.files != 1 else ''}, "
        f"{len(summary.calls)} caller/API pairs on deprecated or removed APIs ({attributed} with a known removal)"
        + (f"; {summary.unreadable} lines were not JSON and were skipped" if summary.unreadable else ""))
