"""The check protocol, its context and result, and the runner."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.apply import Applier
from harness.knowledge import Knowledge
from harness.progress import NullProgress, Progress
from harness.report.model import Evidence, Finding, Outcome
from harness.versions import Version


@dataclass
class CheckRun:
    """The outcome of one check run, and what it found."""

    outcome: Outcome
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    evidence: Evidence = "observed"  # simulated: answered by kwok's nodes or pods; predicted: a rule, not a run


@dataclass
class CheckContext:
    """What a check may use: the cluster's clients and what the cluster is expected to be now."""

    api_client: Any
    kubeconfig: Path
    version: Version  # the version the control plane (and kubelets) should run now
    phase: str  # "before" | "after"
    simulated_pods: bool  # local provider: no container really runs
    hop: str | None = None  # "1.27.16→1.28.15" after an upgrade
    helm: Path | None = None
    knowledge: Knowledge | None = None
    upgrade_failed: str | None = None  # set when the upgrade did not complete

    _local: threading.local = field(default_factory=threading.local)

    def judged_by_kwok(self, run: CheckRun) -> CheckRun:
        """``run``, marked ``simulated`` (with its findings) where kwok answers for nodes and pods."""
        if self.simulated_pods and run.outcome in ("pass", "fail"):
            run.evidence = "simulated"
            for finding in run.findings:
                finding.evidence, finding.basis = "simulated", "nodes and pods are simulated by kwok here"
        return run

    def applier(self) -> Applier:
        """One Applier (one discovery of the cluster's APIs) per worker thread of this phase: the client's
        lazy discovery is not safe to share between threads."""
        applier: Applier | None = getattr(self._local, "applier", None)
        if applier is None:
            applier = self._local.applier = Applier(self.api_client)
        return applier


class Check(Protocol):
    """A smoke check: an id, a name and a timeout (read-only), and how to run it once."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    def run(self, ctx: CheckContext) -> CheckRun:
        """Run once (polling up to ``timeout`` where the check waits for a state)."""


def poll(fn: Callable[[], tuple[bool, str]], timeout: float, interval: float = 0.25) -> tuple[bool, str]:
    """Call ``fn`` until it returns (True, _) or ``timeout`` passes; return the last answer."""
    deadline = time.monotonic() + timeout
    ok, msg = _attempt(fn)
    while not ok and time.monotonic() < deadline:
        time.sleep(interval)
        ok, msg = _attempt(fn)
    return ok, msg


def _attempt(fn: Callable[[], tuple[bool, str]]) -> tuple[bool, str]:
    """One try; a dropped connection (the API server restarting under an upgrade) is a "not yet", not a crash."""
    from urllib3.exceptions import HTTPError  # the client's transport: protocol errors, retries exhausted

    try:
        return fn()
    except (OSError, HTTPError) as e:  # OSError covers ssl.SSLError and ConnectionError
        return False, f"{type(e).__name__}: {e}"


def polled(fn: Callable[[], tuple[bool, str]], timeout: float) -> CheckRun:
    """The check that :func:`poll` passes when ``fn`` holds in time, and fails otherwise, with its last answer."""
    ok, msg = poll(fn, timeout)
    return CheckRun("pass" if ok else "fail", msg)


def _run_one(check: Check, ctx: CheckContext) -> CheckRun:
    start = time.monotonic()
    if ctx.upgrade_failed:  # the cluster is not at the target: nothing this check could say would be about it
        return CheckRun("not-run", f"not run: {ctx.upgrade_failed}", seconds=0.0)
    try:
        result = check.run(ctx)
    except Exception as e:  # a check that crashes is an error of that check (not judged), not of the rehearsal
        result = CheckRun("error", f"the check crashed: {type(e).__name__}: {e}")
    result.seconds = time.monotonic() - start
    return result


def run_checks(checks: Sequence[Check], ctx: CheckContext, progress: Progress | None = None,
               workers: int = 4) -> dict[str, CheckRun]:
    """Run every check (a few at a time); results by check id, in the order given."""
    progress = progress or NullProgress()
    results: dict[str, CheckRun] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [(c, pool.submit(_run_one, c, ctx)) for c in checks]
        for i, (c, fut) in enumerate(futures, 1):
            results[c.id] = fut.result()
            progress.update(f"{i}/{len(checks)} {c.id}: {results[c.id].outcome}")
    return results
