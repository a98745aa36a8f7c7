"""How a Kubernetes component says it refuses its command line: an unrecognized feature gate, a gate locked to
its default, an unknown flag. The derivation tool reads these answers to find what a minor removed; the upgrade
stage reads them to explain why a component of the new version did not start."""

from __future__ import annotations

import re

UNRECOGNIZED_GATE = re.compile(r"unrecognized feature gate:\s*([A-Za-z0-9]+)")
LOCKED_GATE = re.compile(r"cannot set feature gate ([A-Za-z0-9]+) to (?:true|false), feature is locked")
UNKNOWN_FLAG = re.compile(r"unknown flag:\s*(--?[A-Za-z0-9-]+)")  # the flag as written: --insecure-port


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    m = pattern.search(text)
    return m.group(1) if m else None


def unrecognized_gate(text: str) -> str | None:
    """The feature gate ``text`` says is unknown (``unrecognized feature gate: X`` → ``X``), if any."""
    return _first(UNRECOGNIZED_GATE, text)


def locked_gate(text: str) -> str | None:
    """The feature gate ``text`` says is known but locked to its default, if any."""
    return _first(LOCKED_GATE, text)


def unknown_flag(text: str) -> str | None:
    """The flag ``text`` says is unknown, as written (``unknown flag: --x`` → ``--x``), if any."""
    return _first(UNKNOWN_FLAG, text)
