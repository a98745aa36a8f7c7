"""Typed errors. Nothing below ``harness.cli`` prints or exits: it raises one of these."""

from __future__ import annotations


class RehearseError(Exception):
    """Base of every error the tool reports as one line and an exit code."""

    exit_code = 1


class InputError(RehearseError):
    """Bad input or usage: a malformed version, file or argument (exit 2)."""

    exit_code = 2


class InfraError(RehearseError):
    """The infrastructure failed: binaries missing, a cluster that would not start (exit 3)."""

    exit_code = 3


class BinaryUnavailable(InfraError):
    """A binary could not be obtained from any source."""


class ChecksumMismatch(InfraError):
    """A downloaded file did not match its published sha256."""

