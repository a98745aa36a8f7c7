#!/usr/bin/env python3
"""Build the kind node images (and the test workload image) the end-to-end test needs, here, without pulls.

    python3 scripts/kind/build_images.py 1.27 1.28 [--workload] [--addons]

Each version's node image is assembled by ``harness.nodeimage`` from Kubernetes binaries built from
Go modules (``harness.binaries.ensure``), a debootstrap root and the node files of the kind release rehearse
runs (``KIND_RELEASE``); images already built from the same inputs are reused. Prints one line per image with
its reference, size and build time. ``--addons``: the real add-ons of the add-on end-to-end test
(kube-state-metrics v2.6.0 and v2.7.0, ``tests/kind/addons.py``), built from their Go modules.
Needs a running Docker engine (scripts/kind/engine.sh) and root (debootstrap, chroot).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.engine import docker_client
from harness.nodeimage import build_node_image
from harness.progress import NullProgress
from harness.providers.kind import KIND_RELEASE
from harness.versions import catalogue


class _Print(NullProgress):
    def step(self, message: str) -> None:
        print(f"==> {message}", flush=True)

    def note(self, message: str) -> None:
        print(f"note: {message}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="+", help="Kubernetes versions (1.27, 1.28.15, ...)")
    parser.add_argument("--workload", action="store_true", help="also build the HTTP workload test image")
    parser.add_argument("--addons", action="store_true", help="also build the add-on images (kube-state-metrics)")
    parser.add_argument("--sources", default="cache,build", help="binary sources (default: %(default)s)")
    args = parser.parse_args()
    client = docker_client()
    cat = catalogue()
    for text in args.versions:
        t0 = time.monotonic()
        ref = build_node_image(cat.resolve(text), KIND_RELEASE, progress=_Print(), client=client,
                               sources=tuple(args.sources.split(",")))
        size = client.images.get(ref).attrs.get("Size", 0)
        print(f"{ref}  {size / 1e9:.2f} GB  {time.monotonic() - t0:.0f}s", flush=True)
    if args.workload:
        from tests.kind.workload import build_workload_image

        t0 = time.monotonic()
        ref = build_workload_image(client)
        print(f"{ref}  {time.monotonic() - t0:.0f}s", flush=True)
    if args.addons:
        from tests.kind.addons import KSM_NEW, KSM_OLD, build_ksm_image

        for version in (KSM_OLD, KSM_NEW):
            t0 = time.monotonic()
            ref = build_ksm_image(client, version, _Print())
            print(f"{ref}  {time.monotonic() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
