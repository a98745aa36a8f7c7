"""``rehearse report``: work with report directories."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from harness.cli._common import SubParsers, new_parser, verdict_exit_code
from harness.cli._ui import UI

if TYPE_CHECKING:
    from harness.report.model import Fleet

_EXIT_NOTE = "exit code: 1 if any cluster broke, else 3 if any errored (no readable report), else 0"


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "Combine the report directories of many rehearsals (one per cluster of a fleet) into one.\n"
        f"merge {_EXIT_NOTE}.",
        "  rehearse report merge shards/* -o fleet-report",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    merge = actions.add_parser(
        "merge",
        help="merge report directories into a fleet report",
        description=(
            "Merge report directories (one per cluster, labelled by the report's name, else the directory's\n"
            "name) into one: report.json (rehearse/fleet/v2), junit.xml (one suite per cluster and phase),\n"
            "summary.md and report.html with the fleet table. A directory without a readable report.json\n"
            "(the rehearsal crashed) is shown as errored with the reason.\n\n"
            f"{_EXIT_NOTE}.\n\n"
            "examples:\n  rehearse report merge shards/* -o fleet-report"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("inputs", nargs="+", metavar="DIR", help="report directories (or report.json files)")
    merge.add_argument("-o", "--output", required=True, metavar="DIR", help="where to write the fleet report")
    merge.add_argument("--granularity", choices=["check", "phase"], default="check",
                       help="JUnit: one testcase per check or per phase (default: %(default)s)")
    return parser


def exit_code(fleet: Fleet) -> int:
    """1 if any cluster broke, else 3 if any errored, else 0."""
    return verdict_exit_code(fleet.verdict)


def run(args: argparse.Namespace, ui: UI) -> int:
    from harness.report.console import render_fleet
    from harness.report.merge import merge
    from harness.report.write import write_fleet

    fleet = merge(args.inputs, output=args.output)
    for note in fleet.notes:
        ui.note(note)
    paths = write_fleet(fleet, args.output, granularity=args.granularity)
    ui.out.print(render_fleet(fleet))
    ui.info(f"fleet report: {paths['json'].parent} (report.json, junit.xml, summary.md, report.html)")
    return exit_code(fleet)
