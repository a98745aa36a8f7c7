"""Console output: rich on a terminal, plain lines in CI or when piped. Only ``harness.cli`` uses this."""

from __future__ import annotations

import os
import time
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.status import Status


class UI:
    """The CLI's progress sink (see :class:`harness.progress.Progress`) and message printer.

    Messages go to stderr so that stdout stays machine-readable (``binaries ensure`` prints a path there). Every
    message is plain text: its brackets are printed as written, never read as Rich markup (kubeadm's
    ``[preflight]``, a user's ``--scenario '[/x]'``).
    """

    def __init__(self, verbosity: int = 0) -> None:
        self.verbosity = verbosity
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.out = Console(highlight=False, soft_wrap=True)
        self.live = self.err.is_terminal and not os.environ.get("CI") and verbosity >= 0
        self._status: Status | None = None
        self._step = ""
        self._step_started = 0.0
        self._last_plain = 0.0

    # Progress protocol
    def step(self, message: str) -> None:
        self._finish_step()
        self._step, self._step_started = message, time.monotonic()
        if self.verbosity < 0:
            return
        if self.live:
            self._status = self.err.status(escape(message))
            self._status.start()
        else:
            self.err.print(f"[bold]==>[/] {escape(message)}")

    def update(self, message: str) -> None:
        if self.verbosity < 0:
            return
        if self._status is not None:
            self._status.update(f"{escape(self._step)} [dim]({escape(message)})[/]")
        elif self.verbosity > 0 or time.monotonic() - self._last_plain > 20:
            self._last_plain = time.monotonic()
            self.err.print(f"    {message}", markup=False)

    def note(self, message: str) -> None:
        if self.verbosity >= 0:
            self._print_over_status(f"[yellow]note:[/] {escape(message)}")

    # Messages
    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self._print_over_status(escape(message))

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            self._print_over_status(f"[dim]{escape(message)}[/]")

    def error(self, message: str) -> None:
        self.close()
        self.err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)

    def _print_over_status(self, text: str) -> None:
        self.err.print(text)

    def _finish_step(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
            if self.verbosity >= 0 and self._step:
                took = time.monotonic() - self._step_started
                self.err.print(f"[green]✓[/] {escape(self._step)} [dim]({took:.1f}s)[/]")
        self._step = ""

    def close(self) -> None:
        self._finish_step()

    def __enter__(self) -> UI:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

