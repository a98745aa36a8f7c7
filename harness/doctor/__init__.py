"""``rehearse doctor``: what this machine has and what a rehearsal of one hop needs, before anything is started.

:func:`diagnose` returns typed rows: Python and the package's dependencies (:mod:`._python`), Go and each binary
set the versions need, cached, downloadable or to be built with the cold time expected on this many cores, and the
disk space they take where the cache lives (:mod:`._binaries`), the Docker engine, the kind node images and the
provider ``auto`` picks and why (:mod:`._kind`), and with a kubeconfig what a snapshot could read
(:mod:`._cluster`). Every probe only reads: the cache is looked at, a download is probed with one HEAD (2 s), the
Docker engine is pinged and asked for images, a cluster is sent GETs alone. Estimates (cold build times, disk use)
are data: ``harness/data/doctor.yaml``.

Public surface: :func:`diagnose`, :class:`Diagnosis`, :class:`Row`, :data:`STATES`, :func:`satisfies`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.doctor._binaries import disk_rows, go_row, locate, need_row, probe_go
from harness.doctor._cluster import cluster_rows
from harness.doctor._kind import kind_rows, provider_row
from harness.doctor._python import python_rows, satisfies
from harness.doctor._rows import STATES, Row
from harness.providers import Choice, decide
from harness.versions import Version

__all__ = ["SCHEMA", "STATES", "Diagnosis", "Row", "diagnose", "satisfies"]

SCHEMA = "rehearse/doctor/v1"


@dataclass(frozen=True)
class Diagnosis:
    """Everything :func:`diagnose` found, in table order."""

    source: Version
    hops: tuple[Version, ...]
    choice: Choice
    cores: int
    rows: tuple[Row, ...]

    @property
    def first_missing(self) -> Row | None:
        """The first piece the rehearsal cannot do without (None: it can run)."""
        return next((r for r in self.rows if r.state == "missing"), None)

    @property
    def ready(self) -> bool:
        return self.first_missing is None

    @property
    def build_seconds(self) -> float:
        """The cold Go builds the rehearsal would start with, estimated for this machine."""
        return float(sum(r.data.get("build_seconds", 0) for r in self.rows if r.state == "build"))

    def as_json(self) -> dict[str, Any]:
        first = self.first_missing
        return {
            "schema": SCHEMA, "ready": self.ready, "from": str(self.source), "to": str(self.hops[-1]),
            "hops": [str(h) for h in self.hops], "cores": self.cores,
            "provider": {"requested": self.choice.requested, "chosen": self.choice.name,
                         "reason": self.choice.reason, "kind_release": self.choice.kind_release},
            "build_seconds": round(self.build_seconds), "rows": [asdict(r) for r in self.rows],
            "first_missing": asdict(first) if first else None,
        }


def diagnose(source: Version, hops: Sequence[Version], *, provider: str = "auto", kubeconfig: str | None = None,
             context: str | None = None) -> Diagnosis:
    """What a rehearsal from ``source`` through ``hops`` on ``provider`` needs, and what this machine has.

    Raises :class:`~harness.errors.InputError` for what ``rehearse run`` refuses too (``--provider kind`` with no
    kind release for the versions) and for an unusable kubeconfig or context; everything else becomes a row.
    """
    versions = [source, *hops]
    choice = decide(provider, versions)
    cores = _cores()
    go = probe_go()
    needs = locate(choice, versions)
    rows = [*python_rows(), go_row(go, needs)]
    rows += [need_row(n, go, cores) for n in needs]
    rows += kind_rows(choice, versions)
    rows.append(provider_row(choice))
    rows += disk_rows(needs, go)
    if kubeconfig:
        rows += cluster_rows(kubeconfig, context)
    return Diagnosis(source, tuple(hops), choice, cores, tuple(rows))


def _cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1
