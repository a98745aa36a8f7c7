"""``rehearse doctor``: what this machine has and what a rehearsal of one hop needs, before anything is started."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from harness.cli._common import SubParsers, new_parser
from harness.cli._ui import UI
from harness.errors import InputError

if TYPE_CHECKING:
    from harness.doctor import Diagnosis

_STYLE = {"ok": "green", "cached": "green", "download": "cyan", "build": "yellow", "pull": "yellow", "no": "dim",
          "warn": "yellow", "forbidden": "yellow", "missing": "bold red"}


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "Say what this machine has and what a rehearsal of --from → --to will need, before anything is started:\n"
        "Python and the package's dependencies, Go, each binary set (cached, downloadable, or to be built and how\n"
        "long that takes here), the Docker engine, kind and its node images, the provider auto picks and why,\n"
        "free disk space where the cache lives, and with --kubeconfig what a snapshot could read (GETs only).\n"
        "Exit 0 when the rehearsal can run, 3 naming the first missing piece and the command that puts it right.\n"
        "Without --from/--to, the versions of the bundled default scenario.",
        "  rehearse doctor\n"
        "  rehearse doctor --from 1.27 --to 1.29 --provider kind\n"
        "  rehearse doctor --kubeconfig ~/.kube/prod --context prod-eu --json",
    )
    parser.add_argument("--from", dest="from_version", metavar="VERSION", help="the version production runs")
    parser.add_argument("--to", dest="to_version", metavar="VERSION", help="the version to upgrade to")
    parser.add_argument("--provider", choices=["auto", "kind", "local"], default="auto",
                        help="the provider the rehearsal would use (default: %(default)s)")
    parser.add_argument("--kubeconfig", metavar="FILE",
                        help="also check what a snapshot of this cluster could read (GET and list only)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current one)")
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of the table")
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    from harness.doctor import diagnose
    from harness.versions import catalogue

    if bool(args.from_version) != bool(args.to_version):
        raise InputError("--from and --to go together (or leave both out for the default scenario's versions)")
    if args.context and not args.kubeconfig:
        raise InputError("--context needs --kubeconfig FILE")
    from_text, to_text = args.from_version, args.to_version
    if not from_text:
        from harness.scenario import load_scenario

        default = load_scenario("default")
        from_text, to_text = default.from_version, default.to_version
    cat = catalogue()
    source = cat.resolve(from_text, what="--from")
    target = cat.resolve(to_text, what="--to")
    hops = cat.hops(source, target)
    found = diagnose(source, hops, provider=args.provider, kubeconfig=args.kubeconfig, context=args.context)
    if args.json:
        sys.stdout.write(json.dumps(found.as_json(), indent=2) + "\n")
    else:
        _print_table(found, ui)
    first = found.first_missing
    if first is not None:
        ui.error(f"not ready: {first.check}: {first.detail}; {first.remedy}")
        return 3
    return 0


def _print_table(found: Diagnosis, ui: UI) -> None:
    from rich.markup import escape
    from rich.table import Column, Table

    hops = " → ".join(str(v) for v in (found.source, *found.hops))
    # fold, never cut: a remedy is a command to copy
    table = Table("CHECK", "STATE", Column("DETAIL", overflow="fold"), box=None, title_justify="left",
                  title=f"rehearse doctor: {hops} ({found.cores} cores)", title_style="bold")
    for row in found.rows:
        detail = escape(row.detail) + (f"\n[dim]→ {escape(row.remedy)}[/]" if row.remedy else "")
        style = _STYLE.get(row.state, "")
        table.add_row(escape(row.check), f"[{style}]{row.state}[/]" if style else row.state, detail)
    ui.out.print(table)
    if found.ready:
        builds = f"; it starts with Go builds of ~{found.build_seconds / 60:.0f} min" if found.build_seconds else ""
        ui.out.print(f"ready: a rehearsal of {hops} can run on the {found.choice.name} provider{builds}")
