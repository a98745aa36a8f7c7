"""``rehearse snapshot``: a read-only, secret-free inventory of a live cluster."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli._common import SubParsers, new_parser
from harness.cli._ui import UI
from harness.errors import InputError
from harness.files import write_atomic

if TYPE_CHECKING:
    from harness.snapshot.model import Snapshot


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = new_parser(
        subs, name, help_text,
        "Read a live cluster (never write to it) and write the snapshot file that `rehearse run --snapshot`\n"
        "recreates: versions, nodes, control-plane flags, add-ons, Helm releases, CRDs, webhooks, workloads.\n"
        "Secret data never leaves the cluster: Secrets appear with key names only, and values that look like\n"
        "credentials, by their name or their shape, are masked wherever they sit (env, args, ConfigMap files,\n"
        "annotations, Helm and GitOps values, custom resources); the file lists where (never what) and is\n"
        "written readable by its owner only.",
        "  rehearse snapshot -o prod.yaml\n"
        "  rehearse snapshot --kubeconfig ~/.kube/prod --context prod-eu -o prod-eu.yaml\n"
        "  rehearse snapshot --redact-key licenseCode --keep-key buildToken -o prod.yaml\n"
        "  rehearse snapshot --check prod.yaml",
    )
    parser.add_argument("--kubeconfig", metavar="FILE", help="default: $KUBECONFIG or ~/.kube/config")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current one)")
    parser.add_argument("-o", "--output", metavar="FILE", default="-", help="default: standard output")
    parser.add_argument(
        "--redact-key", metavar="KEY", action="append", default=[],
        help="also mask values under this key name, in any spelling (licenseCode = LICENSE_CODE = license-code; "
             "'*' and '?' as wildcards); repeatable",
    )
    parser.add_argument(
        "--keep-key", metavar="KEY", action="append", default=[],
        help="do not mask values under this key name for its name or for looking random (credential shapes such "
             "as private keys, JWTs and URL passwords are masked anyway); repeatable",
    )
    parser.add_argument(
        "--check", metavar="FILE",
        help="validate an existing snapshot file instead of reading a cluster (exit 2 if it is bad)",
    )
    return parser


def _check_writable(path: Path) -> None:
    """Fail before reading the cluster, not after, when ``-o`` cannot be written."""
    if path.is_dir():
        raise InputError(f"-o {path}: is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"-o {path}: cannot write in {existing}")


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    try:
        write_atomic(path, text, mode=0o600)
    except OSError as e:
        raise InputError(f"-o {path}: cannot write: {e.strerror or e}") from None


def _summary(snapshot: Snapshot) -> str:
    return (
        f"Kubernetes {snapshot.server_version or '?'}: {len(snapshot.nodes)} nodes, "
        f"{len(snapshot.helm_releases)} Helm releases, {len(snapshot.addons)} add-ons, {len(snapshot.crds)} CRDs, "
        f"{len(snapshot.webhooks)} webhooks, {len(snapshot.workloads)} workloads, {len(snapshot.objects)} objects, "
        f"{len(snapshot.masked)} values masked"
    )


def run(args: argparse.Namespace, ui: UI) -> int:
    from harness.snapshot import SCHEMA, dump, load, take_snapshot
    from harness.snapshot.redaction import policy_from

    policy = policy_from(args.redact_key, args.keep_key)
    if args.check:
        snapshot = load(args.check)
        ui.info(f"{args.check}: valid {SCHEMA} snapshot; {_summary(snapshot)}")
        return 0
    output = None if args.output == "-" else Path(args.output)
    if output is not None:
        _check_writable(output)
    snapshot = take_snapshot(args.kubeconfig, args.context, progress=ui, redaction=policy)
    text = dump(snapshot)
    ui.close()
    for what in snapshot.not_readable:
        ui.note(f"not readable: {what}")
    if not snapshot.control_plane.visible:
        ui.note(f"control-plane flags {snapshot.control_plane.source}")
    for r in snapshot.deprecated_api_requests or []:
        gv = f"{r.group}/{r.version}" if r.group else r.version
        removed = f", removed in {r.removed_release}" if r.removed_release else ""
        ui.note(f"production still calls deprecated {gv} {r.resource}{removed} (apiserver_requested_deprecated_apis: "
                "this API server instance, since it last started; `rehearse plan --audit-log` names the callers)")
    if output is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `rehearse snapshot | head`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        ui.info(f"Snapshot of {snapshot.source.get('context', '?')} — {_summary(snapshot)}")
    else:
        _write_atomically(output, text)
        ui.info(f"Snapshot of {snapshot.source.get('context', '?')} written to {output} — {_summary(snapshot)}")
    return 0
