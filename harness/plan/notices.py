"""Behaviour changes (``notices.yaml``) that apply to the snapshot: a small interpreter of the notices' rules over
the snapshot's facts (:mod:`._facts`). A rule selects records of one subject (images, nodes, flags, …) whose
fields meet every condition, or any of several such selections; a notice applies when its hop is in the upgrade
(or it names no hop) and its rule selects something. Each one that applies is a finding with its source; one
that cannot be judged because the snapshot does not hold its data is named in a note."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import InputError
from harness.knowledge.notices import Notice
from harness.knowledge.semver import satisfies
from harness.plan import _facts
from harness.plan._base import PlanState, minor
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import Snapshot

SUBJECT_KIND = {"images": "Image", "nodes": "Node", "flags": "Flag", "configs": "ConfigField",
                "objects": "Object", "admission_plugins": "AdmissionPlugin", "workloads": "Workload"}
# Data the snapshot leaves out on purpose: a rule asking for it is not judged unless the snapshot records it.
_LEFT_OUT = {("objects", "type", "kubernetes.io/service-account-token"):
             ("service_account_tokens", "service-account token Secrets (the snapshot leaves them out)")}


def condition(value: Any, op: str, arg: Any) -> bool:
    """Whether a field's ``value`` (None when the record lacks it) meets ``{op: arg}``."""
    if op == "exists":
        return (value is not None) == bool(arg)
    if value is None:
        return False
    text = str(value)
    if op == "equals":
        return text == str(arg)
    if op == "in":
        return text in {str(a) for a in arg}
    if op == "not_in":
        return text not in {str(a) for a in arg}
    if op == "prefix":
        return text.startswith(str(arg))
    if op == "matches":
        return re.search(str(arg), text) is not None
    if op == "version":
        release = re.match(r"v?(\d+\.\d+(?:\.\d+)?)", text)
        if release is None:
            return False
        parts = release.group(1).split(".")
        try:
            return satisfies(str(arg), ".".join([*parts, "0"][:3]))
        except InputError:
            return False
    raise InputError(f"notices: unknown condition {op!r}")


class Evaluator:
    """The records of one snapshot, computed once per subject, and the rules evaluated over them."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.records: dict[str, list[_facts.Record]] = {}

    def of(self, subject: str) -> list[_facts.Record]:
        if subject not in self.records:
            self.records[subject] = _facts.SUBJECTS[subject](self.snap)
        return self.records[subject]

    def select(self, rule: Mapping[str, Any]) -> list[tuple[str, _facts.Record]]:
        """The records ``rule`` selects, with their subject."""
        if "any" in rule:
            return [hit for sub in rule["any"] for hit in self.select(sub)]
        subject, where = rule["select"], rule["where"]
        return [(subject, r) for r in self.of(subject)
                if all(condition(r.get(f), *next(iter(c.items()))) for f, c in where.items())]

    def gap(self, rule: Mapping[str, Any]) -> str | None:
        """Why ``rule`` cannot be judged on this snapshot (None when it can): the data it reads is not there."""
        if "any" in rule:
            gaps = [self.gap(sub) for sub in rule["any"]]
            return None if any(g is None for g in gaps) else "; ".join(g for g in gaps if g)
        subject, where = rule["select"], rule["where"]
        for name, cond in where.items():
            op, arg = next(iter(cond.items()))
            left_out = _LEFT_OUT.get((subject, name, str(arg)))
            if left_out and getattr(self.snap, left_out[0], None) is None and not self.select(
                    {"select": subject, "where": {name: cond}}):
                return f"the snapshot holds no {left_out[1]}"
        records = self.of(subject)
        if not records:
            return f"the snapshot holds no {subject.replace('_', ' ')}"
        for name, cond in where.items():
            op, arg = next(iter(cond.items()))
            if not (op == "exists" and arg is False) and all(name not in r for r in records):
                return f"the snapshot records no {name.replace('_', ' ')} for its {subject.replace('_', ' ')}"
        return None


def _shown(names: Sequence[str], limit: int = 4) -> str:
    unique = list(dict.fromkeys(names))
    more = len(unique) - limit
    return ", ".join(unique[:limit]) + (f" and {more} more" if more > 0 else "")


def _hop(state: PlanState, notice: Notice) -> tuple[bool, str | None, str]:
    """Whether ``notice`` is in the upgrade's span, the hop label it comes with, and its minor ("" for none)."""
    if not notice.hops:
        return True, None, ""
    for h in notice.hops:
        if state.removed_in_span(minor(h)):
            return True, state.hop_label(minor(h)), h
    return False, None, ""


def notices(state: PlanState, snap: Snapshot) -> None:
    """Every notice of the knowledge that applies to ``snap`` in this upgrade, as a finding."""
    ev = Evaluator(snap)
    unjudged = []
    for notice in state.knowledge.notices:
        in_span, label, hop = _hop(state, notice)
        if not in_span:
            continue
        hits = ev.select(notice.rule)
        if not hits:
            gap = ev.gap(notice.rule)
            if gap:
                unjudged.append(f"{notice.id} ({gap})")
            continue
        subjects = [_facts.describe(s, r) for s, r in hits]
        namespaces = ""
        if notice.affected is not None:
            found = sorted({r["namespace"] for _, r in ev.select(notice.affected)})
            namespaces = ("namespaces " + _shown(found, 8)) if found else "no namespace with workloads"
        values = {"count": str(len(dict.fromkeys(subjects))), "subjects": _shown(subjects),
                  "namespaces": namespaces, "hop": hop or "now"}
        cause, fix = notice.cause, notice.fix
        for key, value in values.items():
            cause, fix = cause.replace("{" + key + "}", value), fix.replace("{" + key + "}", value)
        kinds = sorted({SUBJECT_KIND[s] for s, _ in hits})
        state.add(Finding(
            severity="blocker" if notice.severity == "blocker" else
            "warning" if notice.severity == "warning" else "info",
            kind="behaviour-change",
            object=ObjectRef(kind=kinds[0] if len(kinds) == 1 else "Object", name=_shown(subjects, 3)),
            cause=f"{cause}" + (f" (hop {label})" if label else "") + f" [notice {notice.id}; source: "
                  f"{notice.source}]",
            fix=fix, hop=label), ("notice", notice.id))
    if unjudged:
        state.notes.append("behaviour changes not judged, their data is not in the snapshot: "
                           + "; ".join(unjudged))
