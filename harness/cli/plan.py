"""``rehearse plan``: static analysis of an upgrade, no cluster."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli._common import SubParsers, new_parser
from harness.cli._ui import UI

if TYPE_CHECKING:
    from rich.console import RenderableType

    from harness.report.model import Report


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "In seconds and without a cluster: the hops from --from to --to and, for each hop, every object of\n"
        "the snapshot or manifests that uses a removed API, removed flags and feature gates, add-ons outside\n"
        "their supported range, and kubelets beyond the skew policy. Exit 1 when there are blockers.",
        "  rehearse plan --from 1.24 --to 1.26 --snapshot prod.yaml\n"
        "  rehearse plan --from 1.27 --to 1.29 --manifests ./gitops\n"
        "  rehearse plan --from 1.25 --to 1.26 --audit-log /var/log/kubernetes/audit.log*",
    )
    parser.add_argument("--from", dest="from_version", metavar="VERSION", required=True)
    parser.add_argument("--to", dest="to_version", metavar="VERSION", required=True)
    parser.add_argument("--snapshot", metavar="FILE")
    parser.add_argument("--manifests", nargs="+", default=[], metavar="PATH", help="manifest files or directories")
    parser.add_argument("--audit-log", nargs="+", default=[], metavar="FILE",
                        help="API server audit logs (audit.k8s.io/v1 events, JSON lines, gzip accepted): attribute "
                             "each call to a removed or deprecated API to its caller")
    parser.add_argument("--report-dir", metavar="DIR", help="also write the report files here")
    parser.add_argument("--knowledge", action="append", default=[], metavar="DIR",
                        help="a directory of your own knowledge entries (removed_apis.yaml, fixes.yaml, "
                             "flags.yaml, addons.yaml, notices.yaml); repeatable, later ones win")
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML here")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON report here")
    parser.add_argument("--markdown", metavar="FILE", help="also write the Markdown summary here")
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    from harness.knowledge import load_knowledge
    from harness.plan import plan
    from harness.report.console import render
    from harness.versions import catalogue

    cat = catalogue()
    source, target = cat.resolve(args.from_version, what="--from"), cat.resolve(args.to_version, what="--to")
    hops = cat.hops(source, target)  # a downgrade or --from equal to --to is refused before any file is read
    knowledge = load_knowledge([Path(d) for d in args.knowledge])  # curated, the user's, then generated
    snap = None
    if args.snapshot:
        from harness import snapshot as snapshot_io

        snap = snapshot_io.load(Path(args.snapshot))
    report = plan(source, target, snapshot=snap, manifest_paths=[Path(p) for p in args.manifests],
                  knowledge=knowledge, hops=hops, audit_logs=[Path(p) for p in args.audit_log])
    details = report.phases[0].details if report.phases else {}
    if args.manifests:
        ui.info(f"read {details.get('files', 0)} manifest files ({details.get('objects', 0)} documents)")
    for note in report.notes:
        ui.note(note)
    warnings = _warnings(report) if ui.verbosity >= 0 else None
    if warnings is not None:
        ui.out.print(warnings)
    ui.out.print(render(report, brief=ui.verbosity < 0))
    if args.report_dir or args.junit or args.json or args.markdown:
        import tempfile

        from harness.report import write_reports

        junit, json_path, markdown = _path(args.junit), _path(args.json), _path(args.markdown)
        if args.report_dir:
            written = write_reports(report, Path(args.report_dir), junit=junit, json_path=json_path,
                                    markdown=markdown)
        else:  # only copies asked for: write the set in a scratch directory and keep the copies
            with tempfile.TemporaryDirectory(prefix="rehearse-plan-") as tmp:
                written = write_reports(report, Path(tmp), junit=junit, json_path=json_path, markdown=markdown)
                written = {k: v for k, v in written.items() if k.endswith("-copy")}
        ui.info(f"reports: {', '.join(str(p) for p in written.values())}")
    return 1 if report.verdict == "broke" else 0


def _warnings(report: Report) -> RenderableType | None:
    """The warnings (deprecated APIs, APIs already gone before --from…) as a table; blockers are in render()."""
    from rich.table import Table
    from rich.text import Text

    rows = [f for f in report.findings if f.severity != "blocker"]
    if not rows:
        return None
    table = Table(title="Warnings", title_justify="left", title_style="bold", expand=False)
    table.add_column("Object", overflow="fold")
    table.add_column("Cause", overflow="fold", style="yellow")
    table.add_column("Fix", overflow="fold")
    for f in rows:
        table.add_row(Text(str(f.object) or "—"), Text(f.cause), Text(f.fix or "—"))
    return table


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
