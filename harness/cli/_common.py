"""Small helpers shared by the subcommand modules."""

from __future__ import annotations

import argparse
from typing import Any

from harness.errors import NotImplementedYet

SubParsers = Any  # argparse's _SubParsersAction is private


def new_parser(subs: SubParsers, name: str, help_text: str, description: str, examples: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subs.add_parser(
        name,
        help=help_text,
        description=f"{description}\n\nexamples:\n{examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def not_implemented(what: str) -> NotImplementedYet:
    return NotImplementedYet(f"'rehearse {what}' is not implemented yet")
