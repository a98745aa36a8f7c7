"""Asking a Kubernetes binary what it accepts: its version, the flags, feature gates and admission plugins its
``--help`` lists, and which of a set of flags or gates it refuses while parsing its command line (``--help`` alone
cannot tell a GA gate, which is still accepted, from a removed one)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError
from harness.knowledge.refusals import locked_gate, unknown_flag, unrecognized_gate

_FLAG_LINE = re.compile(r"^ {1,8}(?:-[A-Za-z0-9], )?--([a-z0-9][a-z0-9-]*)(?=[ =\[]|$)")
_GATE_LINE = re.compile(r"^\s+([A-Za-z][A-Za-z0-9]*)=true\|false\b")
_PLUGINS = re.compile(r"--enable-admission-plugins .*?Comma-delimited list of admission plugins: ([^.]*)\.")
_VERSION_OUT = re.compile(r"Kubernetes (v\d+\.\d+\.\d+\S*)")


@dataclass(frozen=True)
class HelpFacts:
    """What a component's ``--help`` lists."""

    flags: frozenset[str]
    gates: frozenset[str]  # alpha and beta gates only: GA gates are not listed
    admission_plugins: frozenset[str]


def parse_help(text: str) -> HelpFacts:
    """Flag names, feature gate names and admission plugins of a component's ``--help`` output."""
    flags: set[str] = set()
    gates: set[str] = set()
    for line in text.splitlines():
        m = _FLAG_LINE.match(line)
        if m:
            flags.add(m.group(1))
            continue
        g = _GATE_LINE.match(line)
        if g:
            gates.add(g.group(1))
    plugins: set[str] = set()
    p = _PLUGINS.search(text)
    if p:
        plugins = {name.strip() for name in p.group(1).split(",") if name.strip()}
    return HelpFacts(frozenset(flags), frozenset(gates), frozenset(plugins))


def _run(binary: Path, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``binary args…`` (it parses its flags and exits); return the exit code and everything it wrote."""
    try:
        out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120, check=False,
                             cwd=cwd, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InfraError(f"{binary}: cannot run it: {e}") from e
    return out.returncode, out.stdout + out.stderr


def _error_line(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("Error:"):
            return line
    lines = [ln for ln in output.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def binary_version(binary: Path) -> str:
    """``v1.28.15``: what ``binary --version`` says."""
    code, out = _run(binary, "--version")
    m = _VERSION_OUT.search(out)
    if code != 0 or m is None:
        raise InfraError(f"{binary} --version: {_error_line(out)}")
    return m.group(1)


def help_of(binary: Path) -> HelpFacts:
    """:func:`parse_help` of ``binary --help``."""
    code, out = _run(binary, "--help")
    if code != 0:
        raise InfraError(f"{binary} --help: {_error_line(out)}")
    return parse_help(out)


# How to make a component parse its feature gates and stop before doing anything: kube-apiserver,
# kube-controller-manager and kube-scheduler apply --feature-gates while parsing their command line, so --version
# stops them; kubelet and kube-proxy print --version before they apply the gates, so they are given a setting
# their validation refuses right after (a --node-labels entry in a reserved namespace; an unknown proxy mode) and
# a kubeconfig that does not exist. The marker is the refusal that says the gates were all accepted.
GATE_STOP: dict[str, tuple[tuple[str, ...], str]] = {
    "kubelet": (("--node-labels=kubernetes.io/rehearse-probe=1", "--kubeconfig=/nonexistent/rehearse-probe"),
                "labels specified with --node-labels"),
    "kube-proxy": (("--proxy-mode=rehearse-probe", "--kubeconfig=/nonexistent/rehearse-probe"),
                   "rehearse-probe"),
}


def refused_gates(binary: Path, gates: Iterable[str]) -> frozenset[str]:
    """The gates among ``gates`` that ``binary`` refuses (``unrecognized feature gate``).

    All gates go on one command line (with the component's stop arguments, :data:`GATE_STOP`, or ``--version``);
    the binary names the first it does not know and exits, so this takes one run per refused gate, plus one.
    """
    pending = sorted(set(gates))
    refused: set[str] = set()
    stop, marker = GATE_STOP.get(binary.name, (("--version",), ""))
    with tempfile.TemporaryDirectory(prefix="rehearse-probe-") as cwd:
        while pending:
            code, out = _run(binary, "--feature-gates=" + ",".join(f"{g}=true" for g in pending), *stop,
                             cwd=Path(cwd))
            if code == 0 and not marker:
                break
            gate, locked = unrecognized_gate(out), locked_gate(out)
            if gate is not None and gate in pending:
                refused.add(gate)
                pending.remove(gate)
                continue
            if locked is not None and locked in pending:  # known to the binary, only locked to its default
                pending.remove(locked)
                continue
            if marker and marker in out:
                break
            raise InfraError(f"{binary}: unexpected answer to --feature-gates: {_error_line(out)}")
    return frozenset(refused)


def refused_flags(binary: Path, flags: Iterable[str]) -> frozenset[str]:
    """The flags among ``flags`` (names without dashes) that ``binary`` refuses (``unknown flag``).

    One run per flag: a flag is accepted when the binary parses it (a value it rejects still means it knows the
    flag) and refused only when it answers ``unknown flag``.
    """
    refused: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="rehearse-probe-") as cwd:
        for name in sorted(set(flags) - {"help", "version"}):
            code, out = _run(binary, f"--{name}=0", "--version", cwd=Path(cwd))
            if code == 0:
                continue
            if unknown_flag(_error_line(out)) == f"--{name}":
                refused.add(name)
    return frozenset(refused)
