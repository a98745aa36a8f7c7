"""Observation over one rehearsal: the audit log read after each phase, the recreated objects read back before
and after each hop, and at the end what both say (findings, a check per caller of record, notes, files)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks import CheckRun
from harness.knowledge import Knowledge
from harness.observe.calls import SIMULATED_NOTE, ApiCalls, CallerCheck, judge
from harness.observe.readback import Readback, drift_findings, restart_findings, storage_findings
from harness.report.model import Finding
from harness.snapshot.model import Addon
from harness.versions import Version

NO_AUDIT_NOTE = ("this provider's cluster writes no audit log: the API calls of the recreated workloads were not "
                 "observed")


@dataclass
class Observed:
    """What observation adds to the report."""

    findings: list[Finding] = field(default_factory=list)
    checks: list[tuple[CallerCheck, CheckRun, CheckRun]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Watch:
    """Reads the audit log and the objects at the moments the pipeline names; never fails the rehearsal (what
    it could not read becomes a note)."""

    def __init__(self, audit_log: str | None, api: Any, objects: list[dict[str, Any]], addons: list[Addon],
                 simulated_pods: bool) -> None:
        self.calls = ApiCalls(Path(audit_log), objects) if audit_log else None
        self.readback = Readback(api, objects, simulated_pods)
        self.addons, self.simulated_pods = addons, simulated_pods
        self.problems: list[str] = []
        self.seconds = 0.0

    def after_phase(self, *, upgrading: bool, read_objects: bool, label: str) -> None:
        """Read the audit log into the window before the upgrade or after it began; read the objects back."""
        start = time.monotonic()
        try:
            if self.calls is not None:
                self.calls.read(after=upgrading)
            if read_objects:
                self.readback.take(label)
        except Exception as e:  # the client raises many kinds; observing must not stop the rehearsal
            self.problems.append(f"{label}: {type(e).__name__}: {e}")
        self.seconds += time.monotonic() - start

    def finish(self, knowledge: Knowledge | None, path: list[Version], upgraded: bool,
               report_dir: Path | None) -> Observed:
        """Findings, caller checks and notes; the audit log and per-caller summary into ``report_dir``."""
        out = Observed()
        hops = [f"{a}→{b}" for a, b in itertools.pairwise(path)]
        readings = self.readback.readings
        out.findings += restart_findings(readings, hops, self.simulated_pods)
        out.findings += drift_findings(readings, hops)
        if readings:
            out.findings += storage_findings(readings[-1])
        if len(readings) < 2:
            out.notes.append("drift and restarts were not judged: the objects were not read back after a hop")
        else:
            read = readings[0]
            count = sum(len(read.objects.get(k, {})) for k in read.recreated)
            kinds = {f.kind for f in out.findings}
            out.notes.append(
                f"read back {count} recreated objects of {len(read.recreated)} kinds before and after each hop "
                f"({len(readings)} readings, {self.seconds:.1f} s with the audit log): "
                + ", ".join(f"{sum(f.kind == k for f in out.findings)} {k} finding(s)" if k in kinds else f"no {k}"
                            for k in ("upgrade-restarts", "drift", "storage-version")))
        if self.calls is None:
            out.notes.append(NO_AUDIT_NOTE)
        else:
            judged = judge(self.calls, knowledge, path, self.addons, upgraded)
            out.findings += judged.findings
            out.checks = judged.checks
            if self.simulated_pods:
                out.notes.append(SIMULATED_NOTE)
            if report_dir is not None:
                try:
                    self.calls.copy_to(report_dir, judged.summary)
                except OSError as e:
                    self.problems.append(f"copying the audit log: {e}")
        out.notes += [f"observation incomplete ({p})" for p in self.problems]
        return out
