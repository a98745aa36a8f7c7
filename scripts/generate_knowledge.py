#!/usr/bin/env python3
"""`make generate-knowledge`: derive what each minor removed — APIs, flags, feature gates, admission plugins of
kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubeadm, the kubelet's and
kube-proxy's configuration fields — and write ``harness/data/knowledge/generated/<minor>.yaml``.

For each pair of consecutive minors among --versions:
- the Go sources of the newest patch of each (``go mod download``, source only, nothing built) give every
  component's feature gates, kubeadm's gates, the kubelet's and kube-proxy's flags and configuration fields;
- where the binaries of both minors can be had (``rehearse binaries ensure``; with --cached-only, only those
  already in the cache), the two kube-apiservers are started one after the other (discovery, deprecation
  warnings) and every component present is asked which flags and gates it refuses (candidates from the sources);
- otherwise the committed file's binary facts (APIs, control-plane flags, admission plugins) are kept, marked
  ``binary, earlier run``;
- a gate or flag the next minor's newest patch (or a newer patch of the same minor) has again is a backport, not
  a removal (``not_removals``).

    python scripts/generate_knowledge.py [--versions 1.24 … 1.37] [--out DIR] [--cached-only]
    python scripts/generate_knowledge.py --versions 1.27 1.28 1.29 --check   # compare with the committed files
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from harness.binaries import ensure  # noqa: E402
from harness.errors import RehearseError  # noqa: E402
from harness.knowledge.derive import (  # noqa: E402
    BINARIES,
    NODE_COMPONENTS,
    Discovery,
    SourceFacts,
    binary_facts,
    document,
    fetch_release,
    read_source,
    render_document,
)
from harness.knowledge.derive.diff import COMPONENTS  # noqa: E402
from harness.knowledge.generated import generated_dir  # noqa: E402
from harness.versions import Version, catalogue  # noqa: E402


class _Print:
    """Progress on stderr, one line per message."""

    def step(self, message: str) -> None:
        print(f"==> {message}", file=sys.stderr, flush=True)

    def update(self, message: str) -> None:
        print(f"    {message}", file=sys.stderr, flush=True)

    def note(self, message: str) -> None:
        print(f"note: {message}", file=sys.stderr, flush=True)


class _Sources:
    """Source facts by exact patch, read once."""

    def __init__(self, progress: _Print) -> None:
        self.progress = progress
        self.read: dict[str, SourceFacts | None] = {}

    def of(self, version: str) -> SourceFacts | None:
        if version not in self.read:
            self.progress.update(f"reading the Go sources of {version}")
            try:
                self.read[version] = read_source(fetch_release(version))
            except RehearseError as e:
                self.progress.note(f"no sources for {version}: {e}")
                self.read[version] = None
        return self.read[version]


def _binaries(versions: list[Version], cached_only: bool, progress: _Print) -> dict[Version, tuple[Path, str]]:
    """The directory and exact patch of the binaries of each minor that can be had (kubelet and kube-proxy are
    taken from the cache only, when they are there)."""
    out: dict[Version, tuple[Path, str]] = {}
    for v in versions:
        try:
            bins = ensure(v, BINARIES, sources=("cache",) if cached_only else ("cache", "download", "build"),
                          progress=progress)
        except RehearseError as e:
            progress.note(f"no binaries of {v.minor_key}: {e}")
            continue
        if bins.substitution:
            progress.note(bins.substitution)
        with contextlib.suppress(RehearseError):  # else the control plane alone: the node components' facts
            ensure(bins.version, (*BINARIES, *NODE_COMPONENTS), sources=("cache",), progress=progress)  # from source
        out[v] = (bins.directory, str(bins.version))
    return out


def _committed(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else None


def _summary(doc: dict[str, Any]) -> str:
    gates = set().union(*(set(v) for v in doc["removed_feature_gates"].values()))
    flags = sum(len(v) for v in doc["removed_flags"].values())
    fields = sum(len(v) for v in doc["removed_config_fields"].values())
    return (f"{len(doc['removed_apis'])} APIs, {flags} flags, {len(gates)} gates, {fields} config fields, "
            f"{len(doc['removed_admission_plugins'])} admission plugins removed; "
            f"{len(doc['not_removals'])} backports set aside")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", nargs="+", default=[f"1.{m}" for m in range(24, 38)], metavar="MINOR",
                        help="default: 1.24 to 1.37")
    parser.add_argument("--out", type=Path, default=generated_dir(), help="default: %(default)s")
    parser.add_argument("--cached-only", action="store_true", help="use only binaries already in the cache")
    parser.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    args = parser.parse_args(argv)
    progress = _Print()
    cat = catalogue()
    versions = sorted({cat.resolve(v) for v in args.versions})
    sources = _Sources(progress)
    dirs = _binaries(versions, args.cached_only, progress)
    cache: dict[Path, Discovery] = {}
    mismatches = written = 0
    with tempfile.TemporaryDirectory(prefix="rehearse-generate-") as tmp:
        for a, b in itertools.pairwise(versions):
            if b.minor != a.minor + 1:
                continue
            progress.step(f"deriving {b.minor_key} from {a.minor_key}")
            t0 = time.monotonic()
            prev, target = sources.of(str(a)), sources.of(str(b))
            if prev is None or target is None:
                progress.note(f"{b.minor_key}: skipped (sources missing)")
                continue
            later = []
            nxt = cat.entry(f"{b.major}.{b.minor + 1}")
            binary = None
            patches: list[SourceFacts] = []
            if a in dirs and b in dirs:
                (da, va), (db, vb) = dirs[a], dirs[b]
                pa, pb = sources.of(va), sources.of(vb)
                if pa is not None and pb is not None:
                    binary = binary_facts(da, db, workdir=Path(tmp) / b.minor_key, gate_candidates=pa.gates,
                                          flag_candidates=pa.flags, progress=progress, discoveries=cache,
                                          components=(*COMPONENTS, *NODE_COMPONENTS))
                    patches = [pa, pb]
                    if vb != str(b):
                        later.append(target)  # a newer patch of the target minor than the binaries'
            if nxt is not None and (after := sources.of(str(nxt.latest))) is not None:
                later.append(after)
            path = args.out / f"{b.minor_key}.yaml"
            doc = document(prev, target, later, binary=binary, binary_patches=patches,
                           earlier=None if binary is not None else _committed(path))
            summary = f"{_summary(doc)} ({time.monotonic() - t0:.1f} s)"
            if args.check:
                same = _committed(path) == doc
                mismatches += not same
                print(f"{b.minor_key}: {summary}: {'same as' if same else 'DIFFERS from'} {path}")
            else:
                args.out.mkdir(parents=True, exist_ok=True)
                path.write_text(render_document(doc), encoding="utf-8")
                written += 1
                print(f"{b.minor_key}: {summary} → {path}")
    if not args.check and not written:
        print("no pair of consecutive minors could be derived", file=sys.stderr)
        return 3
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
