"""Reading the rehearsal apiserver's audit log (``audit.k8s.io/v1`` events, one JSON object a line, as the log
backend writes them) incrementally, and naming who made each request: a recreated workload through the service
account it runs as (its user agent as the second key), the harness itself, or a control-plane component."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # a fast JSON parser when installed; the standard one otherwise (same results)
    import orjson

    def _loads(line: bytes) -> Any:
        return orjson.loads(line)
except ImportError:  # pragma: no cover - depends on the environment
    def _loads(line: bytes) -> Any:
        return json.loads(line)

HARNESS_AGENT = "rehearse/"  # harness.kube.USER_AGENT's prefix: rehearse's own requests
# Callers of record that are the control plane itself (its users, and its binaries' user agents: kwokctl runs
# every component with the admin credentials, so the user alone does not tell).
CONTROL_PLANE_USERS = frozenset({"system:apiserver", "system:kube-controller-manager", "system:kube-scheduler",
                                 "system:kube-proxy", "system:anonymous", "system:volume-scheduler"})
CONTROL_PLANE_AGENTS = ("kube-apiserver/", "kube-controller-manager/", "kube-scheduler/", "kwok/",
                        "kwok-controller/", "kubelet/",
                        "kube-proxy/", "kubeadm/", "kindnetd/", "local-path-provisioner/")
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Request:
    """One audited request: who, what, at which version, and the answer."""

    user: str
    agent: str
    verb: str
    group: str
    version: str
    resource: str
    namespace: str
    name: str
    uri: str
    code: int
    time: str
    deprecated: bool
    removed_release: str  # "1.26" from the apiserver's annotation, "" when it set none

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def failed(self) -> bool:
        """404 (a version or object not served) or a server-side failure (5xx: a webhook, a conversion)."""
        return self.code == 404 or self.code >= 500

    @property
    def call(self) -> tuple[str, str, str, str, str, str]:
        """What was asked, whatever the answer: the same call before and after the upgrade."""
        return self.verb, self.group_version, self.resource, self.namespace, self.name, self.uri.split("?")[0]

    def line(self) -> str:
        """``list /apis/autoscaling/v2beta2/horizontalpodautoscalers → 404 (2026-…Z)``."""
        return f"{self.verb} {self.uri} → {self.code} ({self.time})"


def request_of(event: dict[str, Any]) -> Request | None:
    """The request an audit event records; None for non-resource requests and incomplete stages."""
    ref = event.get("objectRef")
    if not isinstance(ref, dict) or not ref.get("resource") or event.get("stage") not in ("ResponseComplete",
                                                                                            "Panic"):
        return None
    user = event.get("user") or {}
    notes = event.get("annotations") or {}
    resource = str(ref.get("resource", "")) + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    return Request(
        user=str(user.get("username", "")), agent=str(event.get("userAgent", "")), verb=str(event.get("verb", "")),
        group=str(ref.get("apiGroup", "")), version=str(ref.get("apiVersion", "")), resource=resource,
        namespace=str(ref.get("namespace", "")), name=str(ref.get("name", "")), uri=str(event.get("requestURI", "")),
        code=int((event.get("responseStatus") or {}).get("code") or 0), time=str(event.get("stageTimestamp", "")),
        deprecated=notes.get("k8s.io/deprecated") == "true", removed_release=str(notes.get("k8s.io/removed-release",
                                                                                               "")))


class AuditLog:
    """An audit log file read from where the last read stopped (a line still being written waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.events = 0

    def read(self) -> list[Request]:
        """The resource requests logged since the last read."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return list(self._requests(data[:end].splitlines()))

    def _requests(self, lines: Iterable[bytes]) -> Iterator[Request]:
        for line in lines:
            if not line.strip():
                continue
            try:
                event = _loads(line)
            except ValueError:
                continue  # not an event (a line cut by a crash): nothing to attribute
            self.events += 1
            req = request_of(event) if isinstance(event, dict) else None
            if req is not None:
                yield req


@dataclass(frozen=True)
class Caller:
    """Who made a request, as the report names it: ``kind`` Deployment (a recreated workload), ServiceAccount or
    User (not matched to a workload)."""

    kind: str
    namespace: str
    name: str
    service_account: str = ""  # "ns/name" the workload runs as

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


@dataclass
class Attribution:
    """Service accounts → the recreated workloads that run as them; workload names for user agents."""

    by_account: dict[tuple[str, str], list[Caller]] = field(default_factory=dict)
    by_name: dict[str, list[Caller]] = field(default_factory=dict)

    @classmethod
    def of(cls, objects: Iterable[dict[str, Any]]) -> Attribution:
        """From the recreated objects: every workload's pod template's service account (``default`` unless set)."""
        out = cls()
        for obj in objects:
            kind, meta = obj.get("kind"), obj.get("metadata") or {}
            if kind not in WORKLOAD_KINDS or not meta.get("name"):
                continue
            if any(o.get("controller") for o in meta.get("ownerReferences") or []):
                continue  # its owner is the workload of record
            pod = _pod_spec(obj)
            ns = str(meta.get("namespace") or "default")
            sa = str(pod.get("serviceAccountName") or pod.get("serviceAccount") or "default")
            caller = Caller(str(kind), ns, str(meta["name"]), service_account=f"{ns}/{sa}")
            out.by_account.setdefault((ns, sa), []).append(caller)
            out.by_name.setdefault(str(meta["name"]).lower(), []).append(caller)
        return out

    def callers(self, req: Request) -> list[Caller] | None:
        """The workloads that made ``req``; [] for the harness and the control plane (not callers of record);
        None when nothing recreated matches (the user alone then names the caller)."""
        if req.agent.startswith(HARNESS_AGENT):
            return []
        if req.user.startswith(SA_PREFIX):
            ns, _, sa = req.user[len(SA_PREFIX):].partition(":")
            found = self.by_account.get((ns, sa))
            if found:
                return found
            if ns == "kube-system":
                return []  # the controller-manager's per-controller accounts
        elif req.user in CONTROL_PLANE_USERS or req.user.startswith("system:node:"):
            return []
        if req.agent.startswith(CONTROL_PLANE_AGENTS):
            return []
        product = req.agent.split("/", 1)[0].strip().lower()
        return self.by_name.get(product) if product else None

    def caller_of(self, req: Request) -> tuple[Caller, ...]:
        """Who to name for ``req`` (empty: not a caller of record)."""
        found = self.callers(req)
        if found is not None:
            return tuple(found)
        if req.user.startswith(SA_PREFIX):
            ns, _, sa = req.user[len(SA_PREFIX):].partition(":")
            return (Caller("ServiceAccount", ns, sa, service_account=f"{ns}/{sa}"),)
        return (Caller("User", "", req.user or "(anonymous)"),)


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return dict(spec)
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return dict((spec.get("template") or {}).get("spec") or {})
