"""The state every rule of a plan shares: the hops, the knowledge, and what was found so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.knowledge import Knowledge
from harness.report.model import Finding
from harness.versions import Version

_SEVERITY_ORDER = {"blocker": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Hop:
    """One hop of the upgrade."""

    label: str  # "1.24.17→1.25.16"
    version: Version


def minor(text: str) -> tuple[int, int]:
    """``(1, 28)`` for ``"1.28"`` or ``"1.28.15"``."""
    major, minor_ = text.split(".")[:2]
    return int(major), int(minor_)


@dataclass
class PlanState:
    """One plan in progress: the span and its hops, the knowledge, the findings (with their order) and notes."""

    source: Version
    target: Version
    hops: list[Hop]
    knowledge: Knowledge
    findings: list[tuple[tuple[Any, ...], Finding]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"objects": 0, "files": 0})

    def __post_init__(self) -> None:
        self.by_minor = {(h.version.major, h.version.minor): h for h in self.hops}
        self.source_minor = (self.source.major, self.source.minor)
        self.target_minor = (self.target.major, self.target.minor)

    def add(self, finding: Finding, order: tuple[Any, ...] = ()) -> None:
        """Record ``finding``; findings are reported by severity, hop, kind, then ``order``."""
        hop_index = next((i for i, h in enumerate(self.hops) if h.label == finding.hop), len(self.hops))
        self.findings.append(((_SEVERITY_ORDER[finding.severity], hop_index, finding.kind, *order), finding))

    def hop_label(self, minor_: tuple[int, int]) -> str | None:
        """The label of the hop that reaches ``minor_``, None when the plan does not pass through it."""
        hop = self.by_minor.get(minor_)
        return hop.label if hop else None

    def removed_in_span(self, minor_: tuple[int, int]) -> bool:
        """Whether a removal in ``minor_`` happens during this upgrade (after the source, up to the target)."""
        return self.source_minor < minor_ <= self.target_minor
