"""Version parsing, resolution against the catalogue, and hop planning."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.versions import Version, catalogue, load_catalogue

SMALL = """
schema: rehearse/versions/v1
minors:
  "1.27": {latest: "1.27.16", patches: ["1.27.0", "1.27.15", "1.27.16"]}
  "1.28": {latest: "1.28.15", patches: ["1.28.0", "1.28.14", "1.28.15"]}
  "1.29": {latest: "1.29.14", patches: ["1.29.0", "1.29.14"]}
  "1.30": {latest: "1.30.10", patches: ["1.30.0", "1.30.10"]}
"""


@pytest.fixture
def cat():  # type: ignore[no-untyped-def]
    return load_catalogue(SMALL)


@pytest.mark.parametrize("text", ["1.27", "v1.27", " 1.27 ", "1.27.16", "v1.27.16"])
def test_minor_and_exact_forms_resolve(cat, text: str) -> None:  # type: ignore[no-untyped-def]
    assert cat.resolve(text) == Version(1, 27, 16)


def test_exact_older_patch_resolves_to_itself(cat) -> None:  # type: ignore[no-untyped-def]
    assert cat.resolve("1.27.15") == Version(1, 27, 15)
    assert cat.resolve("1.27.3") == Version(1, 27, 3)  # a gap in what the proxy lists is still a release


@pytest.mark.parametrize("text", ["1.x", "one", "", "1", "1.27.x", "1.27.16.1"])
def test_malformed_versions_name_value_and_range(cat, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as exc:
        cat.resolve(text, what="--from")
    msg = str(exc.value)
    assert repr(text) in msg and "1.27–1.30" in msg and "\n" not in msg


@pytest.mark.parametrize("text", ["1.99", "1.23", "2.0"])
def test_unknown_minor(cat, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=r"unknown version .* known range 1\.27–1\.30"):
        cat.resolve(text)


def test_unknown_patch(cat) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=r"1\.28 has patches 1\.28\.0–1\.28\.15"):
        cat.resolve("1.28.99")


def test_hops_one_minor_at_a_time(cat) -> None:  # type: ignore[no-untyped-def]
    hops = cat.hops(Version(1, 27, 16), Version(1, 30, 0))
    assert hops == [Version(1, 28, 15), Version(1, 29, 14), Version(1, 30, 0)]


def test_patch_upgrade_is_one_hop(cat) -> None:  # type: ignore[no-untyped-def]
    assert cat.hops(Version(1, 27, 15), Version(1, 27, 16)) == [Version(1, 27, 16)]


def test_downgrade_and_same_version_are_input_errors(cat) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="downgrade"):
        cat.hops(Version(1, 28, 15), Version(1, 27, 16))
    with pytest.raises(InputError, match="same version"):
        cat.hops(Version(1, 28, 15), Version(1, 28, 15))


def test_patches_below_newest_first(cat) -> None:  # type: ignore[no-untyped-def]
    assert cat.patches_below(Version(1, 28, 15)) == [Version(1, 28, 14), Version(1, 28, 0)]


def test_packaged_catalogue_covers_1_24_to_1_37() -> None:
    cat = catalogue()
    minors = [e.minor for e in cat.minors]
    assert minors[0] == "1.24"
    assert "1.37" in minors
    assert minors == sorted(minors, key=lambda m: tuple(int(x) for x in m.split(".")))
    for e in cat.minors:
        assert e.latest == max(e.patches)
        for k in e.kind:
            assert k.image.startswith(f"kindest/node:v{e.minor}.") and "@sha256:" in k.image
            assert len(k.image.split("@sha256:")[1]) == 64


def test_packaged_catalogue_has_kind_images_for_both_1_27_and_1_28_in_one_release() -> None:
    cat = catalogue()
    r27 = {k.release for k in cat.entry("1.27").kind}  # type: ignore[union-attr]
    r28 = {k.release for k in cat.entry("1.28").kind}  # type: ignore[union-attr]
    assert "v0.25.0" in r27 & r28
