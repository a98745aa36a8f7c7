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

