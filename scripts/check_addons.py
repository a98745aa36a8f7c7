#!/usr/bin/env python3
"""`make check-addons`: which lines of the add-on compatibility table may be stale.

A line's ``source_date`` is the date its source gives for what was read (the page's last change, or the release
tag's date). Every line read before the newest Kubernetes minor the version catalogue knows was released
(``harness/data/versions.yaml``; the date of its .0 release, from the Go module proxy), and every line without a
``source_date``, is listed with its source: those are the pages to read again. Add-ons none of whose lines
covers that newest minor are named too. Not a test: the answer moves with every upstream release.

    python scripts/check_addons.py [--file harness/data/knowledge/addons.yaml] [--released YYYY-MM-DD]

Exit 0 when every line was read after that release, 1 when some may be stale, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.errors import InputError  # noqa: E402
from harness.knowledge.curated import ADDONS, read_addons  # noqa: E402
from harness.knowledge.model import AddonSupport  # noqa: E402
from harness.versions import catalogue  # noqa: E402


def release_date(tag: str) -> str:
    """The date the Go module proxy gives for ``k8s.io/kubernetes@tag`` (``go list -m -json``: metadata only)."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}
    with tempfile.TemporaryDirectory(prefix="rehearse-check-addons-") as cwd:
        try:
            out = subprocess.run(["go", "list", "-m", "-json", f"k8s.io/kubernetes@{tag}"], capture_output=True,
                                 text=True, timeout=120, check=False, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise InputError(f"cannot ask the Go module proxy for k8s.io/kubernetes@{tag}: {e}; "
                             "pass --released YYYY-MM-DD") from e
    try:
        when = str(json.loads(out.stdout).get("Time", ""))[:10]
    except ValueError:
        when = ""
    if out.returncode != 0 or not when:
        raise InputError(f"no release date for k8s.io/kubernetes@{tag} ({out.stderr.strip()[-200:] or 'no answer'});"
                         " pass --released YYYY-MM-DD")
    return when


def _lines(file: Path | None) -> list[AddonSupport]:
    path = file if file is not None else ROOT / "harness" / "data" / "knowledge" / ADDONS
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot be read: {e}") from e
    return read_addons(text, str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, help="an addons.yaml to check (default: the packaged table)")
    parser.add_argument("--released", metavar="YYYY-MM-DD",
                        help="the newest minor's release date (default: asked of the Go module proxy)")
    args = parser.parse_args(argv)
    try:
        newest = catalogue().newest
        if args.released is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", args.released):
            raise InputError(f"--released {args.released!r}: expected YYYY-MM-DD")
        released = args.released or release_date(f"v{newest.minor}.0")
        lines = _lines(args.file)
    except InputError as e:
        print(f"check-addons: {e}", file=sys.stderr)
        return 2
    minor = tuple(int(x) for x in newest.minor.split("."))
    stale = [ln for ln in lines if not ln.source_date or ln.source_date < released]
    for ln in sorted(stale, key=lambda ln: (ln.addon, ln.source_date or "", ln.versions)):
        when = (f"read {ln.source_date}, before Kubernetes {newest.minor} ({released})" if ln.source_date
                else "undated")
        print(f"{ln.addon} {ln.versions} ({ln.range_text}): {when} — {ln.source}")
    uncovered = sorted({ln.addon for ln in lines} - {ln.addon for ln in lines if ln.supports(*minor)})
    if uncovered:
        print(f"no line covers Kubernetes {newest.minor}: {', '.join(uncovered)}")
    print(f"{len(stale)} of {len(lines)} lines read before Kubernetes {newest.minor} was released ({released}) "
          "or undated", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
