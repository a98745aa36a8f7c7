#!/usr/bin/env python3
"""`make demo`: obtain the real 1.27 and 1.28 binaries and prove they run (etcd + kube-apiserver each,
an object written and read back). Becomes a full `rehearse --from 1.27 --to 1.28` once the local provider
lands."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.binaries import ensure
from harness.cli._ui import UI
from harness.providers._bare import bare_control_plane
from harness.versions import catalogue


def main() -> int:
    ui = UI()
    for minor in ("1.27", "1.28"):
        bins = ensure(catalogue().resolve(minor), progress=ui)
        ui.step(f"starting etcd + kube-apiserver {bins.version}")
        with tempfile.TemporaryDirectory(prefix="rehearse-demo-") as tmp, \
                bare_control_plane(bins.directory, Path(tmp)) as cp:
            t0 = time.monotonic()
            version = json.loads(cp.get("/version"))["gitVersion"]
            ui.close()
            ui.info(f"kube-apiserver {version} ready at {cp.url} ({time.monotonic() - t0:.1f}s after start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
