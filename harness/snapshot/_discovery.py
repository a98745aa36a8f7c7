"""Which resource types a snapshot lists, decided from the API server's own discovery.

Every resource discovery serves with the ``list`` verb is listed (built-in and CRD groups alike), at its group's
preferred version when that version serves it, else at the newest version that does (PodSecurityPolicy on 1.24 is
served only by ``policy/v1beta1`` while ``policy`` prefers ``v1``); a deprecated version of a resource that a
current one also serves is never listed (reading it would count as deprecated-API traffic). The exceptions are data
(``harness/data/snapshot_denylist.yaml``, each with its reason), and group versions an add-on serves through an
APIService with a Service are recorded through the APIService, not listed.

Pure functions of discovery documents; the requests are made by the caller.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from harness.errors import InfraError

KEEPS = ("facts", "unowned", "user-written")
# Groups the API server serves itself (never a CRD's or an add-on's): listed without waiting for the APIServices.
BUILT_IN_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "apps",
    "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "extensions", "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io", "policy", "rbac.authorization.k8s.io",
    "resource.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
})
# Query parameters of particular lists: Helm's release Secrets are read by the Helm reader, not twice.
QUERIES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("", "secrets"): (("fieldSelector", "type!=helm.sh/release.v1"),),
}


@dataclass(frozen=True)
class Denied:
    """One deny-list entry: a resource a snapshot does not list (or lists and keeps only some of), and why."""

    group: str
    resource: str
    reason: str
    listed: bool = False
    keeps: str = ""  # with listed: "facts" | "unowned" | "user-written"


@dataclass(frozen=True)
class ResourceType:
    """A collection to list: one resource at the version chosen for it."""

    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    keeps: str = ""  # "" (every object that is not the system's), or a deny-list entry's `keeps`
    query: tuple[tuple[str, str], ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path(self) -> str:
        return path_of(self.group_version, self.resource)

    @property
    def built_in(self) -> bool:
        return self.group in BUILT_IN_GROUPS

    @property
    def label(self) -> str:
        """What progress lines and ``not_readable`` call it: the plural, with the group outside the built-ins."""
        return self.resource if self.built_in else f"{self.resource}.{self.group}"


def path_of(group_version: str, resource: str) -> str:
    return f"/api/{group_version}/{resource}" if "/" not in group_version else f"/apis/{group_version}/{resource}"


@functools.cache
def denylist() -> dict[tuple[str, str], Denied]:
    """(group, resource) → its deny-list entry, from ``harness/data/snapshot_denylist.yaml``."""
    text = resources.files("harness.data").joinpath("snapshot_denylist.yaml").read_text(encoding="utf-8")
    out: dict[tuple[str, str], Denied] = {}
    for i, entry in enumerate((yaml.safe_load(text) or {}).get("entries") or []):
        ok = (isinstance(entry, dict) and isinstance(entry.get("resource"), str) and isinstance(entry.get("group"), str)
              and isinstance(entry.get("reason"), str) and entry["reason"].strip()
              and set(entry) <= {"resource", "group", "reason", "listed", "keeps"}
              and (entry.get("keeps") in KEEPS if entry.get("listed") else "keeps" not in entry))
        if not ok:
            raise InfraError(f"harness/data/snapshot_denylist.yaml: entry {i + 1} is malformed (a packaging bug)")
        denied = Denied(entry["group"], entry["resource"], " ".join(entry["reason"].split()),
                        bool(entry.get("listed", False)), str(entry.get("keeps", "")))
        out[(denied.group, denied.resource)] = denied
    return out


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version order as a sort key (higher is newer): v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > other."""
    m = _VERSION.match(version)
    if m is None:
        return (0, 0, 0, version)
    major, stage, number = m.groups()
    return ({None: 3, "beta": 2, "alpha": 1}[stage], int(major), int(number or 0), "")


@dataclass(frozen=True)
class GroupInfo:
    """A group as ``/apis`` (or ``/api``) shows it: its versions, newest first by discovery's order, and the
    preferred one."""

    name: str
    versions: tuple[str, ...]
    preferred: str

    def group_version(self, version: str) -> str:
        return f"{self.name}/{version}" if self.name else version


def groups_of(apis: Mapping[str, Any]) -> list[GroupInfo]:
    """The groups of an ``APIGroupList`` (``/apis``), core group first."""
    out = [GroupInfo("", ("v1",), "v1")]
    for g in apis.get("groups") or []:
        if not isinstance(g, dict) or not g.get("name"):
            continue
        versions = tuple(str(v.get("version")) for v in g.get("versions") or [] if isinstance(v, dict))
        preferred = str((g.get("preferredVersion") or {}).get("version") or (versions[0] if versions else ""))
        if versions:
            out.append(GroupInfo(str(g["name"]), versions, preferred))
    return out


@dataclass
class Choice:
    """What discovery says a snapshot lists, and what it leaves out on purpose."""

    types: list[ResourceType]
    denied: list[tuple[Denied, str]]  # (entry, the group/version discovery serves it at): not listed


def choose(group: GroupInfo, documents: Mapping[str, Mapping[str, Any]]) -> Choice:
    """The types to list in ``group``, given the ``APIResourceList`` of each of its versions (by version; a version
    missing from ``documents`` could not be read and is passed over)."""
    serving: dict[str, dict[str, dict[str, Any]]] = {}  # resource → version → its discovery entry
    for version, doc in documents.items():
        for entry in doc.get("resources") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                serving.setdefault(entry["name"], {})[version] = entry
    deny = denylist()
    types: list[ResourceType] = []
    denied: list[tuple[Denied, str]] = []
    for resource in sorted(serving):
        versions = serving[resource]
        listable = [v for v, e in versions.items() if "list" in (e.get("verbs") or [])]
        entry = deny.get((group.name, resource))
        if entry is not None and not entry.listed:
            best = max(versions, key=version_priority)
            denied.append((entry, group.group_version(group.preferred if group.preferred in versions else best)))
            continue
        if "/" in resource or not listable:
            continue  # a subresource, or create-only: nothing stored to list
        version = group.preferred if group.preferred in listable else max(listable, key=version_priority)
        found = versions[version]
        types.append(ResourceType(
            group.name, version, resource, str(found.get("kind", "")), bool(found.get("namespaced")),
            keeps=entry.keeps if entry is not None else "", query=QUERIES.get((group.name, resource), ()),
        ))
    return Choice(types, denied)


def aggregated(api_services: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """group/version → the APIService that sends it to an add-on's Service (``spec.service`` set)."""
    out: dict[str, Mapping[str, Any]] = {}
    for item in api_services:
        spec = item.get("spec") or {}
        if isinstance(spec, dict) and spec.get("service") and spec.get("version"):
            group = str(spec.get("group") or "")
            out[f"{group}/{spec['version']}" if group else str(spec["version"])] = item
    return out
