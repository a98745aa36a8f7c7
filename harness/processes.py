"""Processes the harness starts: command-line tools run in their own session, and components that outlive the
call (their pids, a safety net that finds them by directory, stopping them)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone; our own children are reaped)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def processes_under(directory: Path) -> list[int]:
    """Processes whose working directory or command line lies under ``directory`` (our safety net)."""
    root = str(directory.resolve())
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().decode(errors="replace")
        except OSError:
            cmdline = ""
        if (cwd == root or cwd.startswith(root + "/") or root + "/" in cmdline) and alive(pid):
            found.append(pid)
    return sorted(found)


def terminate(pids: Sequence[int], grace: float = 10.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)


def run_in_session(args: Sequence[str], log: Path, *, timeout: float, grace: float, header: str | None = None,
                   env: dict[str, str] | None = None) -> int:
    """Run a command-line tool in its own session (Ctrl-C reaches us, not it), its output appended to ``log``
    after ``header``; if we are interrupted, stop its process group (SIGTERM, SIGKILL after ``grace`` seconds)
    and re-raise. Returns its exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        if header is not None:
            fh.write(f"{header}\n".encode())
            fh.flush()
        proc = subprocess.Popen(list(args), env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except BaseException:
            stop_group(proc, grace)
            raise


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Stop the process group ``proc`` leads: SIGTERM, then SIGKILL after ``grace`` seconds; reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def spawn_detached(args: Sequence[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> int:
    """Start a long-running component in its own session, appending to ``log``; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            list(args), cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
    _CHILDREN[proc.pid] = proc  # outlives this call on purpose; reaped by alive()
    return proc.pid


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def reap() -> None:
    """Collect the exit status of our children that have ended (whoever stopped them)."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[pid]


# What a Kubernetes component writes when it names why it stops: flag and gate refusals, klog's E/F lines.
_ERROR_MARKERS = ("unrecognized feature gate", "unknown flag", "Error:", "error:", "invalid argument", "E0", "F0")


def named_cause(text: str) -> str:
    """The most telling line of a component's output that names why it failed, or "" when none does."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for marker in _ERROR_MARKERS:
        for ln in reversed(lines):
            if marker in ln:
                return ln
    return ""


def log_text(log: Path, since: int = 0) -> str:
    """What a component wrote to ``log`` after byte offset ``since`` ("" when there is no log)."""
    try:
        with log.open("rb") as fh:
            fh.seek(since)
            return fh.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def last_error_line(log: Path, since: int = 0) -> str:
    """The most telling line a component wrote to ``log`` after byte offset ``since`` (else its last line)."""
    text = log_text(log, since)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return named_cause(text) or (lines[-1] if lines else "")
