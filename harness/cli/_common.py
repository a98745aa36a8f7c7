"""Small helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
from typing import Any

SubParsers = Any  # argparse's _SubParsersAction is private


def new_parser(subs: SubParsers, name: str, help_text: str, description: str, examples: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subs.add_parser(
        name,
        help=help_text,
        description=f"{description}\n\nexamples:\n{examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def verdict_exit_code(verdict: str) -> int:
    """The exit code of a rehearsal's (or a fleet's) verdict: pass 0, broke 1, anything else (error) 3."""
    return {"pass": 0, "broke": 1}.get(verdict, 3)
