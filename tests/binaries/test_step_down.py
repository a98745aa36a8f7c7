"""When the registry cannot supply the exact patch, the newest buildable patch of that minor is built and said.

Faked refusal: in 2026 the Go module proxy refused ``k8s.io/controller-manager`` v0.26.14 and v0.26.15 (403,
'This module version is not available.'), which kube-controller-manager imports, while 1.26.13 had every module.
Registry gaps move, so the test does not lean on that one: a local proxy (``_goproxy.py``) placed before the real
one in ``GOPROXY`` refuses the newest patch's ``k8s.io/controller-manager`` with the same answer, and every other
module comes from the real proxy. The build itself is real (a private binary cache; the Go build cache is shared).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.versions import Version, catalogue
from tests.binaries._goproxy import FakeGoProxy, serve


@pytest.mark.slow
def test_ensure_1_26_builds_the_newest_buildable_patch_and_says_so(tmp_path: Path) -> None:
    latest = catalogue().resolve("1.26")
    refused = ("k8s.io/controller-manager", "v0." + latest.tag.split(".", 1)[1])
    upstream = subprocess.run(["go", "env", "GOPROXY"], capture_output=True, text=True, check=True).stdout.strip()
    with serve(FakeGoProxy(refused={refused}, front_sumdb=False)) as proxy:
        env = {**os.environ, "GOPROXY": f"{proxy.url},{upstream}", "REHEARSE_CACHE_DIR": str(tmp_path / "cache"),
               "REHEARSE_KUBERNETES_MIRROR": proxy.url}
        ensure = [sys.executable, "-m", "harness", "binaries", "ensure", "--version", "1.26",
                  "--components", "kube-controller-manager"]
        out = subprocess.run(ensure, capture_output=True, text=True, timeout=3000, check=False, env=env)
        assert out.returncode == 0, out.stderr
        directory = out.stdout.strip().splitlines()[-1]
        used = Version.parse(directory.rsplit("/", 1)[-1])
        assert used.minor_key == "1.26" and used < latest
        assert f"instead of {latest}" in out.stderr or f"{latest} cannot be built here" in out.stderr
        assert "k8s.io/controller-manager" in out.stderr
        assert any(r.startswith(f"/{refused[0]}/@v/{refused[1]}.") for r in proxy.requests)
        version = subprocess.run([f"{directory}/kube-controller-manager", "--version"], capture_output=True,
                                 text=True, check=True)
        assert version.stdout.strip() == f"Kubernetes {used.tag}"
        # Asked again, the substitution is remembered and said without building anything.
        again = subprocess.run(ensure, capture_output=True, text=True, timeout=60, check=False, env=env)
        assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == directory
        assert used.tag.lstrip("v") in again.stderr
