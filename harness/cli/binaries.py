"""``rehearse binaries ensure``: obtain Kubernetes binaries for the local provider."""

from __future__ import annotations

import argparse

from harness.cli._common import SubParsers, new_parser
from harness.cli._ui import UI


def add_parser(subs: SubParsers, name: str, help_text: str) -> argparse.ArgumentParser:
    from harness.binaries import ALL_COMPONENTS, DEFAULT_COMPONENTS, SOURCES

    parser = new_parser(
        subs, name, help_text,
        "Make the binaries of one Kubernetes version available in the per-version cache\n"
        "($REHEARSE_CACHE_DIR, default ~/.cache/rehearse). Sources in order: the cache, the official\n"
        "release (sha256-verified), a build from Go modules when `go` is installed. When the exact patch\n"
        "cannot be built, the newest buildable patch of that minor is used and said.\n"
        "The last line of standard output is the directory holding the binaries.",
        "  rehearse binaries ensure --version 1.28\n"
        "  rehearse binaries ensure --version 1.27.16 --components kubectl,kubelet,helm\n"
        '  export PATH="$(rehearse binaries ensure --version 1.28 -q | tail -n1):$PATH"',
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ensure = actions.add_parser("ensure", help="obtain the binaries of one version; print their directory")
    ensure.add_argument("--version", required=True, dest="k8s_version", help="1.28, v1.28 or 1.28.15")
    ensure.add_argument(
        "--components", default=",".join(DEFAULT_COMPONENTS),
        help=f"comma-separated, from: {', '.join(ALL_COMPONENTS)} (default: %(default)s)",
    )
    ensure.add_argument(
        "--source", default=",".join(SOURCES),
        help="comma-separated sources to allow, in order: cache,download,build (default: all)",
    )
    return parser


def run(args: argparse.Namespace, ui: UI) -> int:
    from harness.binaries import ensure
    from harness.versions import catalogue

    version = catalogue().resolve(args.k8s_version, what="--version")
    components = [c.strip() for c in args.components.split(",") if c.strip()]
    sources = [s.strip() for s in args.source.split(",") if s.strip()]
    result = ensure(version, components, sources=sources, progress=ui)
    ui.close()
    for comp in components:
        ui.debug(f"{comp}: {result.sources.get(comp, '?')} → {result.path(comp)}")
    if result.substitution:
        ui.note(result.substitution)
    ui.info(f"Kubernetes {result.version} ({', '.join(components)}) ready")
    ui.out.print(str(result.directory), markup=False)
    return 0
