"""Processes the harness starts: command-line tools run in their own session, and components that outlive the
call (their pids, a safety net that finds them by directory, stopping them)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    # Our own children by the command we gave them: one that is exiting shows /proc no command line any more.
    mine = [pid for pid, child in list(_CHILDREN.items())
            if any(root + "/" in str(a) for a in _args(child)) and alive(pid)]
    return sorted({*found, *mine})


def _args(child: subprocess.Popen[bytes]) -> list[str]:
    args = child.args
    return [str(args)] if isinstance(args, (str, bytes, os.PathLike)) else [str(a) for a in args]


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
                   env: dict[str, str] | None = None, umask: int = -1,
                   stop_when: Callable[[], bool] | None = None) -> int:
    """Run a command-line tool in its own session (Ctrl-C reaches us, not it), its output appended to ``log``
    after ``header``; if we are interrupted, stop its process group (SIGTERM, SIGKILL after ``grace`` seconds)
    and re-raise. Returns its exit code. ``umask`` is the tool's (and so its children's; -1 keeps ours);
    ``stop_when`` is asked every 0.2 s while it runs, and when it answers true the group is stopped the same way
    and its (negative) exit code returned."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        if header is not None:
            fh.write(f"{header}\n".encode())
            fh.flush()
        proc = subprocess.Popen(list(args), env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, umask=umask)
        try:
            if stop_when is None:
                return proc.wait(timeout=timeout)
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    return proc.wait(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
                if stop_when():
                    stop_group(proc, grace)
                    return proc.returncode
                if time.monotonic() >= deadline:
                    raise subprocess.TimeoutExpired(list(args), timeout)
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


def spawn_detached(args: Sequence[str], cwd: Path, log: Path, env: dict[str, str] | None = None,
                   umask: int = -1) -> int:
    """Start a long-running component in its own session, appending to ``log``; return its pid. ``umask`` is
    the component's (-1 keeps ours)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            list(args), cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env, umask=umask,
        )
    _CHILDREN[proc.pid] = proc  # outlives this call on purpose; reaped by alive()
    return proc.pid


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def reap() -> None:
    """Collect the exit status of our children that have ended (whoever stopped them)."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[pid]


@dataclass(frozen=True)
class Socket:
    """A socket a process listens on (TCP) or has bound (UDP), as the kernel's tables show it."""

    proto: str  # "tcp" or "udp"
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback


_TCP_LISTEN, _UDP_UNCONNECTED = "0A", "07"  # socket states in /proc/net/{tcp,udp}{,6}


def listening_sockets(pid: int) -> list[Socket]:
    """Every TCP socket ``pid`` listens on and every unconnected UDP socket it holds ([] once it is gone):
    its socket inodes (``/proc/PID/fd``) looked up in the tables of its network namespace."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone, or not ours to look into
        return []
    inodes = set()
    for fd in fds:
        with contextlib.suppress(OSError):  # closed while listed
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table, state in (("tcp", _TCP_LISTEN), ("tcp6", _TCP_LISTEN), ("udp", _UDP_UNCONNECTED),
                         ("udp6", _UDP_UNCONNECTED)):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == state and cols[9] in inodes:
                address, port = cols[1].split(":")
                found.append(Socket(table[:3], _proc_address(address), int(port, 16)))
    return sorted(set(found), key=lambda s: (s.proto, s.address, s.port))


def _proc_address(hexed: str) -> str:
    """An address as /proc/net writes it (32-bit words in host order, little-endian here) in the usual form."""
    raw = bytes.fromhex(hexed)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


# What a Kubernetes component writes when it names why it stops: flag and gate refusals, klog's E/F lines.
_ERROR_MARKERS = ("unrecognized feature gate", "unknown flag", "Error:", "error:", "invalid argument")
_KLOG_ERROR = re.compile(r"^[EF]\d{4} ")  # klog's error and fatal lines: E1205 12:00:00.000000 …


def named_cause(text: str) -> str:
    """The most telling line of a component's output that names why it failed, or "" when none does."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for marker in _ERROR_MARKERS:
        for ln in reversed(lines):
            if marker in ln:
                return ln
    return next((ln for ln in reversed(lines) if _KLOG_ERROR.match(ln)), "")


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
