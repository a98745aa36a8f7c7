"""``rehearse plan``: static analysis of an upgrade, no cluster."""

from __future__ import annotations

import argparse

from harness.cli._common import SubParsers, new_parser, not_implemented
from harness.cli._ui import UI


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "In seconds and without a cluster: the hops from --from to --to and, for each hop, every object of\n"
        "the snapshot or manifests that uses a removed API, removed flags and feature gates, add-ons outside\n"
        "their supported range, and kubelets beyond the skew policy. Exit 1 when there are blockers.",
        "  rehearse plan --from 1.24 --to 1.26 --snapshot prod.yaml\n"
        "  rehearse plan --from 1.27 --to 1.29 --manifests ./gitops",
    )
    parser.add_argument("--from", dest="from_version", metavar="VERSION", required=True)
    parser.add_argument("--to", dest="to_version", metavar="VERSION", required=True)
    parser.add_argument("--snapshot", metavar="FILE")
    parser.add_argument("--manifests", nargs="+", default=[], metavar="PATH", help="manifest files or directories")
    parser.add_argument("--report-dir", metavar="DIR", help="also write the report files here")
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    raise not_implemented("plan")
