"""How long-running library code reports progress without printing: the CLI supplies the sink."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """A sink for progress of long steps. Library code calls it; only ``harness.cli`` renders it."""

    def step(self, message: str) -> None:
        """A new long step begins."""

    def update(self, message: str) -> None:
        """Progress inside the current step (may be shown transiently)."""

    def note(self, message: str) -> None:
        """A one-line notice the user should see and keep (e.g. a substituted patch)."""


class NullProgress:
    """Discards everything; the default for library callers that do not care."""

    def step(self, message: str) -> None:
        pass

    def update(self, message: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass


class RecordingProgress(NullProgress):
    """Keeps every message; handy for tests and for logs."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def step(self, message: str) -> None:
        self.messages.append(("step", message))

    def update(self, message: str) -> None:
        self.messages.append(("update", message))

    def note(self, message: str) -> None:
        self.messages.append(("note", message))
