"""``rehearse scenarios``: the bundled rehearsal scenarios."""

from __future__ import annotations

import argparse

from harness.cli._common import SubParsers, new_parser, not_implemented
from harness.cli._ui import UI


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "Scenarios are rehearsal definitions as data (scenarios/*.yaml): default versions, what to install\n"
        "and which smoke checks to run.",
        "  rehearse scenarios list\n  rehearse scenarios show default",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="list the bundled scenarios")
    show = actions.add_parser("show", help="print one scenario")
    show.add_argument("scenario_name", metavar="NAME")
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    raise not_implemented(f"scenarios {args.action}")
