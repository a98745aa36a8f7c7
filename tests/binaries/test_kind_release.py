"""The kind CLI of the release a rehearsal needs: kind runs only the node images of its own release, so the kind
provider picks the newest release with images for every version and obtains that CLI (cache, checksum-verified
download, or a Go build), next to the one this build was proven with."""

from __future__ import annotations

import subprocess

import pytest

from harness.binaries import ensure_tool
from harness.errors import InputError
from harness.providers.kind import KIND_RELEASE, KindProvider
from harness.versions import catalogue


@pytest.mark.slow
def test_the_release_chosen_for_1_34_to_1_35_is_obtained_and_is_that_release() -> None:
    cat = catalogue()
    provider = KindProvider(versions=[cat.resolve("1.34"), cat.resolve("1.35")])
    assert provider.release != KIND_RELEASE
    binary = provider.kind.binary()
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.startswith(f"kind {provider.release} ")
    assert binary.parent.name == provider.release  # cached per release, next to the tested one


def test_bad_tool_requests_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown tool 'kubefed'"):
        ensure_tool("kubefed")
    with pytest.raises(InputError, match="bad kind release 'latest'"):
        ensure_tool("kind", "latest")
