"""Behaviour changes that break clusters without removing an API (``notices.yaml``): each with its source, the hop
it comes with, a severity, and a rule saying when it applies to a snapshot. The rules are data; the plan's
interpreter (:mod:`harness.plan.notices`) evaluates them. Here they are read and checked, so that a malformed
rule is an input error naming file, entry and field rather than a surprise during a plan."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.knowledge._load import MINOR_RE, EntryReader

SUBJECTS: dict[str, frozenset[str]] = {
    "images": frozenset({"image", "registry", "repository", "tag", "namespace", "workload"}),
    "nodes": frozenset({"name", "runtime", "runtime_version", "kubelet_version", "os_image", "cgroup_version"}),
    "flags": frozenset({"component", "name", "value"}),
    "configs": frozenset({"component", "path", "value"}),
    "objects": frozenset({"apiVersion", "kind", "namespace", "name", "type"}),
    "admission_plugins": frozenset({"name"}),
    "workloads": frozenset({"kind", "namespace", "name"}),
}
# Fields that take a key after a dot: labels.K, annotations.K, namespace_labels.K.
KEYED = {"objects": ("labels.", "annotations."), "workloads": ("namespace_labels.",)}
CONDITIONS = frozenset({"equals", "in", "not_in", "prefix", "matches", "version", "exists"})
SEVERITIES = ("blocker", "warning", "info")
FIELDS = frozenset({"id", "hop", "severity", "rule", "affected", "cause", "fix", "source"})
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Notice:
    """One behaviour change and when it applies."""

    id: str
    hops: tuple[str, ...]  # minors ("1.29", "1.30"): the first one an upgrade reaches counts; () for any hop
    severity: str
    rule: dict[str, Any]
    cause: str
    fix: str
    source: str
    affected: dict[str, Any] | None = None


def check_rule(rule: Any, where: str) -> str | None:
    """The first problem of ``rule`` (None when it is well formed)."""
    if not isinstance(rule, dict):
        return f"{where}: expected a mapping, got {rule!r}"
    if "any" in rule:
        if set(rule) != {"any"} or not isinstance(rule["any"], list) or not rule["any"]:
            return f"{where}: 'any' takes a non-empty list of rules and nothing beside it"
        for i, sub in enumerate(rule["any"]):
            problem = check_rule(sub, f"{where}.any[{i}]")
            if problem:
                return problem
        return None
    if set(rule) != {"select", "where"}:
        return f"{where}: expected 'select' and 'where' (or 'any'), got {sorted(rule)}"
    subject = rule["select"]
    if subject not in SUBJECTS:
        return f"{where}.select: {subject!r} is not one of {', '.join(sorted(SUBJECTS))}"
    conditions = rule["where"]
    if not isinstance(conditions, dict) or not conditions:
        return f"{where}.where: expected a mapping of field: condition"
    for name, cond in conditions.items():
        keyed = any(str(name).startswith(p) and len(str(name)) > len(p) for p in KEYED.get(subject, ()))
        if name not in SUBJECTS[subject] and not keyed:
            return f"{where}.where: {subject} have no field {name!r}"
        if not isinstance(cond, dict) or len(cond) != 1 or next(iter(cond)) not in CONDITIONS:
            return f"{where}.where.{name}: expected one of {', '.join(sorted(CONDITIONS))}, got {cond!r}"
        op, value = next(iter(cond.items()))
        if op in ("in", "not_in") and not isinstance(value, list):
            return f"{where}.where.{name}.{op}: expected a list"
        if op == "exists" and not isinstance(value, bool):
            return f"{where}.where.{name}.exists: expected true or false"
        if op == "matches":
            try:
                re.compile(str(value))
            except re.error as e:
                return f"{where}.where.{name}.matches: {e}"
    return None


def read_notice(r: EntryReader) -> Notice:
    """One ``notices.yaml`` entry."""
    ident = r.text("id", _ID_RE, "a lower-case id like k8s-gcr-io-frozen")
    hop = r.raw.get("hop", "missing")
    if hop == "missing":
        r.fail("hop", "missing (write null for a change that applies to any hop)")
    hops = [] if hop is None else hop if isinstance(hop, list) else [hop]
    for h in hops:
        if not isinstance(h, str) or not MINOR_RE.match(h):
            r.fail("hop", f'expected a quoted minor like "1.29", a list of them, or null; got {h!r}')
    severity = r.text("severity")
    if severity not in SEVERITIES:
        r.fail("severity", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
    for name in ("rule", "affected"):
        if name == "affected" and r.raw.get(name) is None:
            continue
        problem = check_rule(r.raw.get(name), name)
        if problem:
            r.fail(name, problem)
    affected = r.raw.get("affected")
    if affected is not None and (affected.get("select") != "workloads"):
        r.fail("affected", "must select workloads (their namespaces are named)")
    return Notice(id=ident, hops=tuple(hops), severity=severity, rule=dict(r.raw["rule"]),
                  cause=" ".join(r.text("cause").split()), fix=" ".join(r.text("fix").split()),
                  source=r.text("source"), affected=dict(affected) if affected else None)
