"""``rehearse run`` (the default command): rehearse an upgrade end to end."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from harness.cli._common import SubParsers, new_parser, verdict_exit_code
from harness.cli._ui import UI
from harness.errors import InputError
from harness.versions import Version


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
                        help="kind: real nodes in Docker (kubeadm upgrade); local: real control plane, kwok "
                             "nodes; auto: kind when a Docker engine answers, kind is available and the node "
                             "images are already in the engine, else local (default: %(default)s)")
    parser.add_argument("--nodes", type=int, metavar="N",
                        help="kind: number of nodes (default: the snapshot's node count, up to 4)")
    parser.add_argument("--load-image", action="append", default=[], metavar="IMAGE",
                        help="kind: preload a local image into the nodes with `kind load` (repeatable)")
    parser.add_argument("--allow-egress", action="append", default=[], metavar="CIDR",
                        help="kind: let pods reach this address range outside the cluster (repeatable; by default "
                             "they reach only pod and service ranges, the nodes and the API server, and DNS); the "
                             "report lists the ranges that were open")
    parser.add_argument("--name", metavar="LABEL",
                        help="label of this rehearsal in reports, e.g. the production cluster's name (it does "
                             "not name the rehearsal cluster: see --cluster-name)")
    parser.add_argument("--cluster-name", metavar="NAME",
                        help="name of the ephemeral rehearsal cluster (default: rehearse-<6 hex digits>); one "
                             "that exists already is refused")
    parser.add_argument("--keep", action="store_true",
                        help="keep the rehearsal cluster for inspection (its name, kubeconfig and the delete "
                             "command are printed)")
    parser.add_argument("--report-dir", default="rehearse-report", metavar="DIR", help="default: %(default)s")
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML here")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON report here")
    parser.add_argument("--markdown", metavar="FILE", help="also write the Markdown summary here")
    parser.add_argument("--html", metavar="FILE", help="also write the HTML report here")
    parser.add_argument("--apiserver-arg", action="append", default=[], metavar="FLAG=VALUE",
                        help="extra kube-apiserver flag for both versions (repeatable)")
    parser.add_argument("--knowledge", action="append", default=[], metavar="DIR",
                        help="a directory of your own knowledge entries (removed_apis.yaml, fixes.yaml, "
                             "flags.yaml, addons.yaml, notices.yaml) that extend the bundled ones (repeatable)")
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    from harness import snapshot as snapshot_io
    from harness.knowledge import load_knowledge
    from harness.providers import choose
    from harness.providers.base import check_new_name, ranges
    from harness.recreate import check_recreatable
    from harness.rehearsal import RehearsalSpec, rehearse
    from harness.report import write_reports
    from harness.report.console import render
    from harness.report.model import Report
    from harness.scenario import load_scenario
    from harness.versions import catalogue

    cat = catalogue()
    # Versions given on the command line are checked before anything else is read.
    source = cat.resolve(args.from_version, what="--from") if args.from_version else None
    target = cat.resolve(args.to_version, what="--to") if args.to_version else None
    hops = cat.hops(source, target) if source is not None and target is not None else None  # checks direction
    scenario = None
    if args.snapshot:
        snap = snapshot_io.load(Path(args.snapshot))
    else:
        scenario = load_scenario(args.scenario or "default")
        snap = scenario.snapshot
    from_text = args.from_version or (scenario.from_version if scenario else None)
    to_text = args.to_version or (scenario.to_version if scenario else None)
    if not from_text or not to_text:
        raise InputError("--from and --to are required with --snapshot")
    source = source or cat.resolve(from_text, what="--from")
    target = target or cat.resolve(to_text, what="--to")
    hops = hops or cat.hops(source, target)
    # Every input is checked before anything is started: nothing is half-created by bad input.
    _check_source_matches(snap.server_version, source, args.snapshot)
    allow_egress = ranges(args.allow_egress, "--allow-egress")
    check_recreatable(snap, where=args.snapshot or f"scenario {scenario.name if scenario else ''}")
    knowledge = load_knowledge([Path(d) for d in args.knowledge])
    provider, why = choose(args.provider, [source, *hops], ui, preload=list(args.load_image), node_count=args.nodes)
    if why is not None:
        ui.info(f"provider auto: local, not kind: {why}")
    if allow_egress and provider.simulated_pods:
        ui.info(f"--allow-egress has nothing to open on the {provider.name} provider: its pods are simulated")
    if args.cluster_name:
        check_new_name(args.cluster_name, lambda n: any(c.name == n for c in provider.list()))
    report_dir = Path(args.report_dir)
    written: dict[str, Path] = {}

    def write(report: Report) -> None:
        written.update(write_reports(report, report_dir, junit=_path(args.junit), json_path=_path(args.json),
                                     markdown=_path(args.markdown), html=_path(args.html)))

    spec = RehearsalSpec(
        source=source, target=target, hops=hops, snapshot=snap, provider=provider,
        checks=scenario.checks if scenario else [], scenario=scenario.name if scenario else None,
        scenario_base=scenario.path.parent if scenario else None, name=args.name, keep=args.keep,
        report_dir=report_dir, apiserver_args=list(args.apiserver_arg), knowledge=knowledge, write=write,
        allow_egress=list(allow_egress),
    )
    if args.cluster_name:
        spec.cluster_name = args.cluster_name
    what = f"scenario {scenario.name}" if scenario else f"snapshot {args.snapshot}"
    ui.info(f"rehearsing {source} → {target} ({what}) on the {spec.provider.name} provider")
    report = rehearse(spec, progress=ui)
    ui.close()
    ui.out.print(render(report, brief=ui.verbosity < 0))
    ui.info(f"reports: {', '.join(str(p) for p in written.values())}")
    kept = next((p.details for p in report.phases if p.name == "cleanup" and p.details.get("kept")), None)
    if kept:
        ui.info(f"kept cluster {kept['cluster']}: kubeconfig {kept['kubeconfig']}; delete it with "
                f"`rehearse clusters delete {kept['cluster']}`")
    return verdict_exit_code(report.verdict)


def _check_source_matches(server_version: str, source: Version, snapshot: str | None) -> None:
    """--from must be the minor the snapshot's cluster runs (a scenario's snapshot names no version)."""
    if not server_version:
        return
    m = re.match(r"v?(\d+)\.(\d+)", server_version.strip())
    if m is None:
        raise InputError(f"{snapshot}: server_version {server_version!r} is not a Kubernetes version")
    taken = f"{m.group(1)}.{m.group(2)}"
    if taken != source.minor_key:
        raise InputError(f"--from {source.minor_key} does not match {snapshot}: it was taken from a "
                         f"{server_version} cluster (use --from {taken}, or snapshot the cluster you mean)")


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None
