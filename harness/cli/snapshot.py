"""``rehearse snapshot``: a read-only, secret-free inventory of a live cluster."""

from __future__ import annotations

import argparse

from harness.cli._common import SubParsers, new_parser, not_implemented
from harness.cli._ui import UI


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "Read a live cluster (never write to it) and write the snapshot file that `rehearse run --snapshot`\n"
        "recreates: versions, nodes, control-plane flags, add-ons, Helm releases, CRDs, webhooks, workloads.\n"
        "Secret data never leaves the cluster: Secrets appear with key names only.",
        "  rehearse snapshot -o prod.yaml\n"
        "  rehearse snapshot --kubeconfig ~/.kube/prod --context prod-eu -o prod-eu.yaml",
    )
    parser.add_argument("--kubeconfig", metavar="FILE", help="default: $KUBECONFIG or ~/.kube/config")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current one)")
    parser.add_argument("-o", "--output", metavar="FILE", default="-", help="default: standard output")
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    raise not_implemented("snapshot")
