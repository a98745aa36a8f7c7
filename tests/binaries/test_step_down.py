"""When the registry cannot supply the exact patch, the newest buildable patch of that minor is built and said.

Real: the Go module proxy refuses k8s.io/controller-manager v0.26.14 and v0.26.15 (403, 'This module version is
not available'), which kube-controller-manager imports; 1.26.13 has every module.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.versions import Version, catalogue


@pytest.mark.slow
def test_ensure_1_26_builds_the_newest_buildable_patch_and_says_so() -> None:
    latest = catalogue().resolve("1.26")
    out = subprocess.run([sys.executable, "-m", "harness", "binaries", "ensure", "--version", "1.26"],
                         capture_output=True, text=True, timeout=3000, check=False)
    assert out.returncode == 0, out.stderr
    directory = out.stdout.strip().splitlines()[-1]
    used = Version.parse(directory.rsplit("/", 1)[-1])
    assert used.minor_key == "1.26" and used < latest
    assert f"instead of {latest}" in out.stderr or f"{latest} cannot be built here" in out.stderr
    assert "k8s.io/controller-manager" in out.stderr
    version = subprocess.run([f"{directory}/kube-controller-manager", "--version"], capture_output=True, text=True,
                             check=True)
    assert version.stdout.strip() == f"Kubernetes {used.tag}"
    # Asked again, the substitution is remembered and said without building anything.
    again = subprocess.run([sys.executable, "-m", "harness", "binaries", "ensure", "--version", "1.26"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == directory
    assert used.tag.lstrip("v") in again.stderr
