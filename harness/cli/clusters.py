"""``rehearse clusters``: clusters left behind by --keep or a crash."""

from __future__ import annotations

import argparse
import time

from harness.cli._common import SubParsers, new_parser
from harness.cli._ui import UI
from harness.errors import InputError


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "List or delete rehearsal clusters that outlived their rehearsal (kept with --keep, or left by a\n"
        "crash). Deleting stops every process of the cluster and removes its state directory.",
        "  rehearse clusters list\n  rehearse clusters delete rehearse-1a2b3c\n  rehearse clusters delete --all",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="list leftover clusters with provider, version and age")
    delete = actions.add_parser("delete", help="delete clusters and stop their processes")
    delete.add_argument("cluster_name", nargs="?", metavar="NAME")
    delete.add_argument("--all", action="store_true", help="every rehearsal cluster")
    return parser


def _age(created: float) -> str:
    secs = max(0, int(time.time() - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def run(args: argparse.Namespace, ui: UI) -> int:
    from harness.providers import every

    providers = every(ui)
    found = [c for p in providers.values() for c in p.list()]
    if args.action == "list":
        if not found:
            ui.info("no rehearsal clusters")
            return 0
        from rich.table import Table

        table = Table("NAME", "PROVIDER", "VERSION", "AGE", "STATE", box=None)
        for c in found:
            table.add_row(c.name, c.provider, c.version, _age(c.created), "running" if c.running else "stopped")
        ui.out.print(table)
        return 0
    if args.all == bool(args.cluster_name):
        raise InputError("clusters delete: name one cluster or give --all")
    chosen = found if args.all else [c for c in found if c.name == args.cluster_name]
    if args.all and not chosen:
        ui.info("no rehearsal clusters")
        return 0
    if not chosen:
        raise InputError(f"no rehearsal cluster named {args.cluster_name!r} (see `rehearse clusters list`)")
    for c in chosen:
        ui.step(f"deleting {c.name} ({c.provider})")
        providers[c.provider].delete(c.name)
    ui.close()
    ui.info(f"deleted {len(chosen)} cluster(s)")
    return 0
