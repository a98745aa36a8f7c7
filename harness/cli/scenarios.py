"""``rehearse scenarios``: the bundled rehearsal scenarios."""

from __future__ import annotations

import argparse

from harness.cli._common import SubParsers, new_parser
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
    from harness.scenario import find, list_scenarios, load_scenario

    if args.action == "list":
        from rich.table import Table

        table = Table("NAME", "FROM", "TO", "NODES", "OBJECTS", "HELM", "CHECKS", "DESCRIPTION", box=None)
        for path in list_scenarios():
            sc = load_scenario(str(path))
            snap = sc.snapshot
            table.add_row(sc.name, sc.from_version or "", sc.to_version or "", str(len(snap.nodes)),
                          str(len(snap.objects)), str(len(snap.helm_releases)), str(len(sc.checks)),
                          sc.description.split(". ")[0][:70])
        ui.out.print(table)
        return 0
    path = find(args.scenario_name)
    load_scenario(str(path))  # validate before showing
    ui.out.print(path.read_text(encoding="utf-8"), markup=False, highlight=False)
    return 0
