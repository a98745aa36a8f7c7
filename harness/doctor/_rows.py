"""The rows of ``rehearse doctor`` and the estimates they use (``harness/data/doctor.yaml``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

# Row states, in the table's words; only "missing" stops a rehearsal.
STATES = ("ok", "cached", "download", "build", "pull", "no", "warn", "forbidden", "missing")


@dataclass(frozen=True)
class Row:
    """One line of the table: what was checked, its state (one of :data:`STATES`), what was found and, where
    something is not right, the command that puts it right."""

    check: str
    state: str
    detail: str
    remedy: str = ""
    data: dict[str, Any] = field(default_factory=dict)



@dataclass(frozen=True)
class Estimates:
    """``harness/data/doctor.yaml``: cold build times on ``reference_cores`` cores and disk use, per version set."""

    reference_cores: int
    build_seconds: dict[str, float]
    disk_mb: dict[str, float]
    build_disk_mb: dict[str, float]
    node_image_mb: float

    def build_time(self, key: str, cores: int) -> float:
        """The cold build of ``key`` scaled to ``cores`` (Go compiles packages in parallel)."""
        return self.build_seconds[key] * self.reference_cores / max(cores, 1)


@functools.cache
def estimates() -> Estimates:
    raw = yaml.safe_load(resources.files("harness.data").joinpath("doctor.yaml").read_text(encoding="utf-8"))
    return Estimates(int(raw["reference_cores"]), {k: float(v) for k, v in raw["build_seconds"].items()},
                     {k: float(v) for k, v in raw["disk_mb"].items()},
                     {k: float(v) for k, v in raw["build_disk_mb"].items()}, float(raw["node_image_mb"]))



def minutes(seconds: float) -> str:
    return f"~{max(1, round(seconds / 60))} min"


def size(mb: float) -> str:
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{mb:.0f} MB"
