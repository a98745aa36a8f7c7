"""``rehearse report``: work with report directories."""

from __future__ import annotations

import argparse

from harness.cli._common import SubParsers, new_parser, not_implemented
from harness.cli._ui import UI


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "Combine the report directories of many rehearsals (one per cluster of a fleet) into one.",
        "  rehearse report merge shards/* -o fleet-report",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    merge = actions.add_parser("merge", help="merge report directories into a fleet report")
    merge.add_argument("inputs", nargs="+", metavar="DIR")
    merge.add_argument("-o", "--output", required=True, metavar="DIR")
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    raise not_implemented(f"report {args.action}")
