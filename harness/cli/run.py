"""``rehearse run`` (the default command): rehearse an upgrade end to end."""

from __future__ import annotations

import argparse

from harness.cli._common import SubParsers, new_parser, not_implemented
from harness.cli._ui import UI


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "Provision an ephemeral cluster at --from, recreate the add-ons of a snapshot or scenario, run the\n"
        "smoke checks, upgrade the control plane (and kubelets) hop by hop to --to, run the checks again\n"
        "and report what the upgrade broke. Without --snapshot or --scenario the bundled default scenario runs.",
        "  rehearse --from 1.27 --to 1.28\n"
        "  rehearse run --from 1.27 --to 1.29 --snapshot prod.yaml --junit junit.xml\n"
        "  rehearse run --scenario removed-apis-1.25 --provider local --keep",
    )
    parser.add_argument("--from", dest="from_version", metavar="VERSION", help="the version production runs")
    parser.add_argument("--to", dest="to_version", metavar="VERSION", help="the version to upgrade to")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--snapshot", metavar="FILE", help="a snapshot written by `rehearse snapshot`")
    src.add_argument("--scenario", metavar="NAME|FILE", help="a scenario name (see `rehearse scenarios list`) or file")
    parser.add_argument("--provider", choices=["auto", "kind", "local"], default="auto",
                        help="kind when a Docker engine answers, else local (default: %(default)s)")
    parser.add_argument("--name", help="label of this rehearsal in reports (e.g. the cluster's name)")
    parser.add_argument("--keep", action="store_true", help="keep the rehearsal cluster for inspection")
    parser.add_argument("--report-dir", default="rehearse-report", metavar="DIR", help="default: %(default)s")
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML here")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON report here")
    parser.add_argument("--markdown", metavar="FILE", help="also write the Markdown summary here")
    parser.add_argument("--html", metavar="FILE", help="also write the HTML report here")
    parser.add_argument("--apiserver-arg", action="append", default=[], metavar="FLAG=VALUE",
                        help="extra kube-apiserver flag for both versions (repeatable)")
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    raise not_implemented("run")
