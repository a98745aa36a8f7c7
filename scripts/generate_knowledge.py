#!/usr/bin/env python3
"""`make generate-knowledge`: derive the removed APIs, flags, feature gates and admission plugins of each minor
from the real binaries and write ``harness/data/knowledge/generated/<minor>.yaml``.

For each pair of consecutive minors among --versions whose binaries can be had (``rehearse binaries ensure``;
with --cached-only, only those already in the cache), the two kube-apiservers are started one after the other.

    python scripts/generate_knowledge.py [--versions 1.24 1.25 … 1.37] [--out DIR] [--cached-only]
    python scripts/generate_knowledge.py --versions 1.27 1.28 --check    # compare with the committed files
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from harness.binaries import ensure  # noqa: E402
from harness.errors import RehearseError  # noqa: E402
from harness.knowledge.derive import BINARIES, Discovery, derive, render_document  # noqa: E402
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
    dirs: dict[Version, Path] = {}
    for v in versions:
        try:
            bins = ensure(v, BINARIES, sources=("cache",) if args.cached_only else ("cache", "download", "build"),
                          progress=progress)
        except RehearseError as e:
            progress.note(f"skipping {v.minor_key}: {e}")
            continue
        dirs[v] = bins.directory
        if bins.substitution:
            progress.note(bins.substitution)
    pairs = [(a, b) for a, b in itertools.pairwise(versions) if a in dirs and b in dirs and b.minor == a.minor + 1]
    if not pairs:
        print("no pair of consecutive minors has binaries here", file=sys.stderr)
        return 3
    cache: dict[Path, Discovery] = {}
    mismatches = 0
    with tempfile.TemporaryDirectory(prefix="rehearse-generate-") as tmp:
        for a, b in pairs:
            progress.step(f"deriving {b.minor_key} from the binaries of {a.minor_key} and {b.minor_key}")
            t0 = time.monotonic()
            earlier = [dirs[v] for v in versions if v < a and v in dirs]
            doc = derive(dirs[a], dirs[b], workdir=Path(tmp) / b.minor_key, earlier=earlier, progress=progress,
                         discoveries=cache)
            path = args.out / f"{b.minor_key}.yaml"
            summary = (f"{len(doc['removed_apis'])} APIs, "
                       f"{sum(len(v) for v in doc['removed_flags'].values())} flags, "
                       f"{len(set().union(*doc['removed_feature_gates'].values()))} gates, "
                       f"{len(doc['removed_admission_plugins'])} admission plugins removed "
                       f"({time.monotonic() - t0:.1f} s)")
            if args.check:
                committed = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
                same = committed == doc
                mismatches += not same
                print(f"{b.minor_key}: {summary}: {'same as' if same else 'DIFFERS from'} {path}")
            else:
                args.out.mkdir(parents=True, exist_ok=True)
                path.write_text(render_document(doc), encoding="utf-8")
                print(f"{b.minor_key}: {summary} → {path}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
