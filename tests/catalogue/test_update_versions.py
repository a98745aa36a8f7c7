"""Tests of ``scripts/update_versions.py``, the generator of ``harness/data/versions.yaml``.

Most tests exercise the pure parsing, probing and rendering functions. Whether the committed catalogue is
current with what the Go module proxy serves today is not a test (its answer moves with every upstream release,
so a test of it would fail on a new machine through no change of ours): ``make check-catalogue`` runs the script
with ``--check`` for real.

Patch discovery is tested with a fake prober standing in for the real command, run once per
version in an empty directory::

    go list -m -json k8s.io/kubernetes@v1.37.0

A served version exits 0 and prints JSON (real output, November 2026; the real one is indented
with tabs, see ``real_json``)::

    {
        "Path": "k8s.io/kubernetes",
        "Version": "v1.37.0",
        "Time": "2026-08-26T10:44:20Z",
        "GoMod": "/root/go/pkg/mod/cache/download/k8s.io/kubernetes/@v/v1.37.0.mod",
        "GoVersion": "1.26.0"
    }

A version that does not exist or is not served exits 1 and prints this (real stderr, exactly as in
``REAL_MISS_STDERR``: two lines, the first wrapped here after ``.info:``, the second starting with
a tab)::

    go: k8s.io/kubernetes@v1.28.16: reading https://proxy.golang.org/k8s.io/kubernetes/@v/v1.28.16.info:
    403 Forbidden
        server response: This module version is not available.

An unreachable proxy (here ``GOPROXY=https://nonexistent.invalid``) exits 1 too, with another text
(real stderr, one line wrapped here, exactly as in ``REAL_DNS_FAILURE_STDERR``)::

    go: k8s.io/kubernetes@v1.28.16: Get "https://nonexistent.invalid/k8s.io/kubernetes/@v/v1.28.16.info":
    dial tcp: lookup nonexistent.invalid on 10.255.255.53:53: no such host

``SERVED_NOV_2026`` is what the real probes found on proxy.golang.org in November 2026: the proxy
does not serve every patch release (e.g. 1.29.11-1.29.13 are missing while 1.29.14 is served), which
is why a minor's scan goes on past up to four consecutive misses.

``KIND_V0_25_0_BODY`` below has the shape of the real GitHub release body of kind v0.25.0: the
``body`` field ``GET /repos/kubernetes-sigs/kind/releases`` returns for that release (Markdown, CRLF
line ends), shortened. These lines are quoted from the real notes
(https://github.com/kubernetes-sigs/kind/releases/tag/v0.25.0)::

    - The default node image is now Kubernetes v1.31.2: `kindest/node:v1.31.2@sha256:18fbefc2...`
    Images pre-built for this release:
    - v1.31.2: `kindest/node:v1.31.2@sha256:18fbefc20a7113353c7b75b5c869d7145a6abd6269154825872dc59c1329912e`
    - v1.30.6: `kindest/node:v1.30.6@sha256:b6d08db72079ba5ae1f4a88a09025c0a904af3b52387643c285442afb05ab994`
    Additional images pre-built for this release:
    - v1.32.0: `kindest/node:v1.32.0@sha256:2458b423d635d7b01637cac2d6de7e1c1dca1148a2ba2e90975e214ca849e7cb`

    **NOTE**: You *must* use the `@sha256` digest to guarantee an image built for this release, until
    such a time as we switch to a different tagging scheme.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import urllib.error
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from harness.versions import render_catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "update_versions.py"
CATALOGUE = REPO_ROOT / "harness" / "data" / "versions.yaml"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_versions", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["update_versions"] = module
    spec.loader.exec_module(module)
    return module


uv = _load_script()

D = {  # digests copied from the kind release notes quoted below
    "1.31.2": "18fbefc20a7113353c7b75b5c869d7145a6abd6269154825872dc59c1329912e",
    "1.30.6": "b6d08db72079ba5ae1f4a88a09025c0a904af3b52387643c285442afb05ab994",
    "1.29.10": "3b2d8c31753e6c8069d4fc4517264cd20e86fd36220671fb7d0a5855103aa84b",
    "1.28.15": "a7c05c7ae043a0b8c818f5a06188bc2c4098f6cb59ca7d1856df00375d839251",
    "1.27.16": "2d21a61643eafc439905e18705b8186f3296384750a835ad7a005dceb9546d20",
    "1.26.15": "c79602a44b4056d7e48dc20f7504350f1e87530fe953428b792def00bc1076dd",
    "1.32.0": "2458b423d635d7b01637cac2d6de7e1c1dca1148a2ba2e90975e214ca849e7cb",
}


REAL_MISS_STDERR = (
    "go: k8s.io/kubernetes@v1.28.16: reading https://proxy.golang.org/k8s.io/kubernetes/@v/v1.28.16.info: "
    "403 Forbidden\n\tserver response: This module version is not available.\n"
)
REAL_DNS_FAILURE_STDERR = (
    'go: k8s.io/kubernetes@v1.28.16: Get "https://nonexistent.invalid/k8s.io/kubernetes/@v/v1.28.16.info": '
    "dial tcp: lookup nonexistent.invalid on 10.255.255.53:53: no such host\n"
)


def real_json(version: str) -> str:
    """The shape of the real ``go list -m -json k8s.io/kubernetes@vVERSION`` output (see above)."""
    return (
        "{\n"
        '\t"Path": "k8s.io/kubernetes",\n'
        f'\t"Version": "v{version}",\n'
        '\t"Time": "2026-08-26T10:44:20Z",\n'
        f'\t"GoMod": "/root/go/pkg/mod/cache/download/k8s.io/kubernetes/@v/v{version}.mod",\n'
        '\t"GoVersion": "1.26.0"\n'
        "}\n"
    )


# What probing proxy.golang.org found in November 2026, per minor: "X" served, "." not served,
# for patches 0, 1, 2, ... (1.38 has no release yet).
SERVED_NOV_2026_MAP = {
    "1.24": "XXXXXXXX.XX..XXXXX",
    "1.25": "XXXXXXXXXXXXXXXXX",
    "1.26": "XXXXXXXXXXXXXX.X",
    "1.27": "XXXXXXXXXXXX.XX.X",
    "1.28": "XXXXXXXXXX.XXXXX",
    "1.29": "XXXXXXXXXXX...XX",
    "1.30": "XXXXXXXXXXX.X.X",
    "1.31": "XXXXXXXXXX..XXX",
    "1.32": "XXXXXXXXXXXX.X",
    "1.33": "XXXXXXXX.X.XXX",
    "1.34": "XXXXXX.XXXXXX",
    "1.35": "XXXXXXX.X",
    "1.36": "XXXXXX",
    "1.37": "XXX",
}
SERVED_NOV_2026 = frozenset(
    f"{minor}.{patch}"
    for minor, row in SERVED_NOV_2026_MAP.items()
    for patch, served in enumerate(row)
    if served == "X"
)


# A small served set for the tests of generate(): patches 0-2 of 1.24-1.29 and one later patch of
# 1.27, 1.28 and 1.29 (the ones the faked `go list -m -versions` output names).
SERVED_1_24_TO_1_29 = frozenset(f"1.{m}.{p}" for m in range(24, 30) for p in range(3)) | {
    "1.27.16",
    "1.28.15",
    "1.29.6",
}


class FakeProber:
    """Stands in for the real ``go list -m -json k8s.io/kubernetes@vVERSION`` (see the module docstring).

    Answers True for the versions in ``served`` (exit 0 + JSON), False for the others (the real
    "403 Forbidden ... This module version is not available." answer), and records every call.
    Thread-safe: list.append is atomic.
    """

    def __init__(self, served: Iterable[str], fail_on: str | None = None) -> None:
        self.served = frozenset(served)
        self.fail_on = fail_on
        self.calls: list[str] = []

    def __call__(self, version: str) -> bool:
        self.calls.append(version)
        if version == self.fail_on:
            raise uv.UpdateError(f"`go list -m -json k8s.io/kubernetes@v{version}` failed: no such host")
        return version in self.served


def img(version: str, digest: str | None = None) -> str:
    return f"kindest/node:v{version}@sha256:{digest or D[version]}"


KIND_V0_25_0_BODY = "\r\n".join(
    [
        "This release contains a number of small networking fixes and the latest Kubernetes releases. "
        "Happy KubeCon!",
        "",
        '<h1 id="breaking-changes">Breaking Changes</h1>',
        "",
        f"- The default node image is now Kubernetes v1.31.2: `{img('1.31.2')}`",
        "",
        '<h1 id="new-features">New Features</h1>',
        "",
        "- Improved documentation for Ingress installation",
        "- Updated to latest go 1.22.x (1.22.9)",
        "",
        "Images pre-built for this release:",
        "",
        f"- v1.31.2: `{img('1.31.2')}`",
        f"- v1.30.6: `{img('1.30.6')}`",
        f"- v1.29.10: `{img('1.29.10')}`",
        f"- v1.28.15: `{img('1.28.15')}`",
        f"- v1.27.16: `{img('1.27.16')}`",
        f"- v1.26.15: `{img('1.26.15')}`",
        "",
        "Additional images pre-built for this release:",
        f"- v1.32.0: `{img('1.32.0')}`",
        "",
        "**NOTE**: You *must* use the `@sha256` digest to guarantee an image built for this release, "
        "until such a time as we switch to a different tagging scheme. Even then we will highly "
        "encourage digest pinning for security and reproducibility reasons.",
        "",
        "See also: ",
        "- https://kind.sigs.k8s.io/docs/user/quick-start/#creating-a-cluster",
        "- https://kind.sigs.k8s.io/docs/user/quick-start/#building-images",
        "",
        '<h1 id="fixes">Fixes</h1>',
        "",
        "- Detect new docker ipv6 failure message and fallback to ipv4 only gracefully",
    ]
)


# --------------------------------------------------------------------------------------------------
# parse_kind_release_body
# --------------------------------------------------------------------------------------------------


def test_parse_kind_release_body_real_v0_25_0_shape() -> None:
    """Every minor of the kind v0.25.0 body is found, the "additional" 1.32 image included.

    ``KIND_V0_25_0_BODY`` has the shape of the real GitHub release body (see the module docstring).
    """
    parsed = uv.parse_kind_release_body(KIND_V0_25_0_BODY)
    assert parsed == {
        "1.26": img("1.26.15"),
        "1.27": img("1.27.16"),
        "1.28": img("1.28.15"),
        "1.29": img("1.29.10"),
        "1.30": img("1.30.6"),
        "1.31": img("1.31.2"),
        "1.32": img("1.32.0"),
    }
    assert list(parsed) == ["1.26", "1.27", "1.28", "1.29", "1.30", "1.31", "1.32"]


def test_parse_kind_release_body_highest_patch_of_a_minor_wins() -> None:
    """kind v0.22.0 listed two patches per minor ("- v1.29.2: ...", "- v1.29.1: ...")."""
    body = "\n".join(
        [
            "Images pre-built for this release:",
            "- v1.29.1: `kindest/node:v1.29.1@sha256:"
            "0c06baa545c3bb3fbd4828eb49b8b805f6788e18ce67bff34706ffa91866558b`",
            "- v1.29.2: `kindest/node:v1.29.2@sha256:"
            "51a1434a5397193442f0be2a297b488b6c919ce8a3931be0ce822606ea5ca245`",
        ]
    )
    assert uv.parse_kind_release_body(body) == {
        "1.29": "kindest/node:v1.29.2@sha256:51a1434a5397193442f0be2a297b488b6c919ce8a3931be0ce822606ea5ca245"
    }


def test_parse_kind_release_body_minor_comes_from_the_image_not_the_label() -> None:
    """The v0.25.0 notes once read "- v1.31.0: `kindest/node:v1.31.2@...`": the image decides."""
    body = f"Images pre-built for this release:\n- v1.31.0: `{img('1.31.2')}`\n"
    assert uv.parse_kind_release_body(body) == {"1.31": img("1.31.2")}


def test_parse_kind_release_body_ignores_prose_before_the_image_list() -> None:
    """Notes of v0.19.0 cite an image of the previous release in prose, before the list."""
    old = "61b92f38dff6ccc29969e7aa154d34e38b89443af1a2c14e6cfbd2df6419c66f"
    new = "b7d12ed662b873bd8510879c1846e87c7e676a79fefc93e17b2a52989d3ff42b"
    body = "\n".join(
        [
            f"Upgrading from `kindest/node:v1.26.3@sha256:{old}` requires a new image.",
            "Images pre-built for this release:",
            f" - 1.27: `kindest/node:v1.27.1@sha256:{new}`",
        ]
    )
    assert uv.parse_kind_release_body(body) == {"1.27": f"kindest/node:v1.27.1@sha256:{new}"}


def test_parse_kind_release_body_without_list_header_reads_the_whole_body() -> None:
    body = f"The default node image is now `{img('1.36.1', '3489c767' + '0' * 56)}`"
    assert uv.parse_kind_release_body(body) == {"1.36": img("1.36.1", "3489c767" + "0" * 56)}


@pytest.mark.parametrize(
    "reference",
    [
        "kindest/node:v1.26.3@sha256: 61b92f38dff6ccc29969e7aa154d34e38b89443af1a2c14e6cfbd2df6419c66f",
        "kindest/node:v1.26.3@sha256:" + "a" * 63,
        "kindest/node:v1.26.3@sha256:" + "a" * 65,
        "kindest/node:v1.26.3@sha256:" + "A" * 64,
        "kindest/node:v1.26.3",
        "kindest/node:v1.26@sha256:" + "a" * 64,
        "kindest/node:v1.26.3-rc.1@sha256:" + "a" * 64,
    ],
)
def test_parse_kind_release_body_rejects_references_not_pinned_exactly(reference: str) -> None:
    assert uv.parse_kind_release_body(f"Images pre-built for this release:\n- `{reference}`\n") == {}


def test_parse_kind_release_body_empty() -> None:
    assert uv.parse_kind_release_body("") == {}


# --------------------------------------------------------------------------------------------------
# parse_go_versions, kind_images_by_minor, build_minors
# --------------------------------------------------------------------------------------------------


def test_parse_go_versions_drops_prereleases_and_sorts_numerically() -> None:
    output = (
        "k8s.io/kubernetes v0.4.0 v1.13.0 v1.29.10 v1.29.6 v1.29.9 v1.30.0-alpha.1 v1.30.0-rc.0 "
        "v1.30.0 v1.30.14 v1.30.4 v1.31.0-beta.2\n"
    )
    assert uv.parse_go_versions(output) == {
        "1.13": ["1.13.0"],
        "1.29": ["1.29.6", "1.29.9", "1.29.10"],
        "1.30": ["1.30.0", "1.30.4", "1.30.14"],
    }


def test_kind_images_by_minor_newest_release_first_and_v0_17_onwards() -> None:
    releases = {
        "v0.24.0": {
            "1.27": img("1.27.16", "3fd82731af34efe19cd54ea5c25e882985bafa2c9baefe14f8deab1737d9fabe")
        },
        "v0.25.0": {"1.27": img("1.27.16"), "1.28": img("1.28.15")},
        "v0.16.0": {"1.25": img("1.25.2", "9" * 64)},
        "nightly": {"1.27": img("1.27.16", "0" * 64)},
    }
    by_minor = uv.kind_images_by_minor(releases)
    assert list(by_minor) == ["1.27", "1.28"]
    assert [k.release for k in by_minor["1.27"]] == ["v0.25.0", "v0.24.0"]
    assert by_minor["1.28"][0].source == "https://github.com/kubernetes-sigs/kind/releases/tag/v0.25.0"


def test_build_minors_spans_1_24_to_newest_and_skips_minors_the_proxy_lacks() -> None:
    patches = {"1.13": ["1.13.0"], "1.27": ["1.27.0", "1.27.16"], "1.29": ["1.29.6"]}
    kind = {"1.27": (uv.KindImage("v0.25.0", img("1.27.16"), uv.kind_release_source("v0.25.0")),)}
    entries, skipped = uv.build_minors(patches, kind)
    assert [e.minor for e in entries] == ["1.27", "1.29"]
    assert skipped == ["1.24", "1.25", "1.26", "1.28"]
    assert entries[0].latest == "1.27.16"
    assert entries[0].kind == kind["1.27"]
    assert entries[1].kind == ()


# --------------------------------------------------------------------------------------------------
# render / parse_existing
# --------------------------------------------------------------------------------------------------


def _sample_entries() -> list[Any]:
    k = uv.KindImage
    src = uv.kind_release_source
    return [
        uv.MinorEntry(
            minor="1.27",
            latest="1.27.16",
            patches=("1.27.0", "1.27.16"),
            kind=(k("v0.25.0", img("1.27.16"), src("v0.25.0")),),
        ),
        uv.MinorEntry(
            minor="1.28",
            latest="1.28.15",
            patches=("1.28.15",),
            kind=(k("v0.25.0", img("1.28.15"), src("v0.25.0")),),
        ),
        uv.MinorEntry(minor="1.29", latest="1.29.6", patches=("1.29.6",)),
    ]


def _probed_entries() -> list[Any]:
    """What generate() makes of SERVED_1_24_TO_1_29 + `v1.27.0 v1.27.16 v1.28.15 v1.29.6` listed."""
    kind = {e.minor: e.kind for e in _sample_entries()}
    extra = {"1.27": ("1.27.16",), "1.28": ("1.28.15",), "1.29": ("1.29.6",)}
    patches = {f"1.{m}": (f"1.{m}.0", f"1.{m}.1", f"1.{m}.2", *extra.get(f"1.{m}", ())) for m in range(24, 30)}
    return [
        uv.MinorEntry(minor=minor, latest=ps[-1], patches=ps, kind=kind.get(minor, ()))
        for minor, ps in patches.items()
    ]


def test_render_is_deterministic_valid_yaml_in_the_catalogue_shape() -> None:
    notes = ["# NOTE: kind v0.27.0 unknown"]
    text = render_catalogue(_sample_entries(), generated="2026-11-25", skipped=["1.24"], notes=notes)
    assert text == render_catalogue(_sample_entries(), generated="2026-11-25", skipped=["1.24"], notes=notes)
    assert text.splitlines()[0] == "# Generated by scripts/update_versions.py — do not edit by hand."
    assert '  "1.27":\n    latest: "1.27.16"\n    patches: ["1.27.0", "1.27.16"]\n    kind:\n' in text
    assert "      - release: v0.25.0\n        image: kindest/node:v1.27.16@sha256:" in text
    doc = yaml.safe_load(text)
    assert doc["schema"] == "rehearse/versions/v1"
    assert doc["generated"] == "2026-11-25"
    assert list(doc["minors"]) == ["1.27", "1.28", "1.29"]
    assert doc["minors"]["1.28"] == {
        "latest": "1.28.15",
        "patches": ["1.28.15"],
        "kind": [
            {
                "release": "v0.25.0",
                "image": img("1.28.15"),
                "source": "https://github.com/kubernetes-sigs/kind/releases/tag/v0.25.0",
            }
        ],
    }
    assert "kind" not in doc["minors"]["1.29"]


def test_parse_existing_reads_back_kind_entries_date_and_notes() -> None:
    notes = ["# NOTE: kind v0.27.0 unknown", "# NOTE:   second line"]
    text = render_catalogue(_sample_entries(), generated="2026-01-02", notes=notes)
    existing = uv.parse_existing(text)
    assert existing.generated == "2026-01-02"
    assert existing.notes == tuple(notes)
    assert existing.kind == {e.minor: e.kind for e in _sample_entries() if e.kind}


def test_render_keeping_date_only_moves_the_date_when_content_changes() -> None:
    entries = _sample_entries()
    old = render_catalogue(entries, generated="2026-01-02")
    existing = uv.parse_existing(old)
    kept = uv.render_keeping_date(entries, existing=existing, new_date="2026-11-25", skipped=(), notes=())
    assert kept == old
    changed = uv.render_keeping_date(
        entries[:2], existing=existing, new_date="2026-11-25", skipped=(), notes=()
    )
    assert 'generated: "2026-11-25"' in changed


def test_today_honours_source_date_epoch() -> None:
    assert uv.today({"SOURCE_DATE_EPOCH": "1764028800"}) == "2025-11-25"


# --------------------------------------------------------------------------------------------------
# GitHub: parsing the API answer, and falling back when it cannot be reached
# --------------------------------------------------------------------------------------------------


class _FakeResponse(io.BytesIO):
    def __enter__(self) -> _FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_fetch_kind_release_bodies_skips_drafts_prereleases_and_old_tags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    releases = [
        {"tag_name": "v0.26.0", "draft": True, "prerelease": False, "body": "x"},
        {"tag_name": "v0.25.0", "draft": False, "prerelease": False, "body": KIND_V0_25_0_BODY},
        {"tag_name": "v0.25.0-rc.1", "draft": False, "prerelease": True, "body": "x"},
        {"tag_name": "v0.16.0", "draft": False, "prerelease": False, "body": "x"},
        {"tag_name": "v0.17.0", "draft": False, "prerelease": False, "body": None},
    ]
    seen: list[str] = []

    def fake_urlopen(request: Any, timeout: float) -> _FakeResponse:
        seen.append(request.full_url)
        return _FakeResponse(json.dumps(releases).encode())

    monkeypatch.setattr(uv.urllib.request, "urlopen", fake_urlopen)
    bodies = uv.fetch_kind_release_bodies({})
    assert bodies == {"v0.25.0": KIND_V0_25_0_BODY, "v0.17.0": ""}
    assert seen == ["https://api.github.com/repos/kubernetes-sigs/kind/releases?per_page=100&page=1"]


def test_generate_keeps_kind_entries_when_github_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "versions.yaml"
    notes = ["# NOTE: kept"]
    text = render_catalogue(_probed_entries(), generated="2026-01-02", notes=notes)
    path.write_text(text, encoding="utf-8")

    def unreachable(request: Any, timeout: float) -> _FakeResponse:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(uv.urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(uv, "go_list_versions", lambda: "k8s.io/kubernetes v1.27.0 v1.27.16 v1.28.15 v1.29.6")
    monkeypatch.setattr(uv, "make_go_prober", lambda environ: FakeProber(SERVED_1_24_TO_1_29))
    log = io.StringIO()
    regenerated, _ = uv.generate(path, use_github=True, environ={}, log=log)
    assert regenerated == text  # nothing changed: kind entries, notes and date kept
    messages = log.getvalue().splitlines()
    assert len(messages) == 1
    assert "GitHub unreachable" in messages[0] and "kept the kind entries" in messages[0]


# --------------------------------------------------------------------------------------------------
# The committed catalogue
# --------------------------------------------------------------------------------------------------


def test_committed_catalogue_images_are_pinned_and_sourced() -> None:
    doc = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    assert doc["schema"] == "rehearse/versions/v1"
    minors = list(doc["minors"])
    assert minors == sorted(minors, key=uv.minor_sort_key)
    for minor, entry in doc["minors"].items():
        assert entry["latest"] == entry["patches"][-1]
        releases = [k["release"] for k in entry.get("kind", [])]
        assert releases == sorted(releases, key=uv.version_sort_key, reverse=True)
        for k in entry.get("kind", []):
            assert uv.image_version(k["image"]).rsplit(".", 1)[0] == minor
            assert k["source"] == f"https://github.com/kubernetes-sigs/kind/releases/tag/{k['release']}"


def test_generate_with_github_replaces_kind_entries_and_drops_notes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "versions.yaml"
    path.write_text(
        render_catalogue(_sample_entries(), generated="2026-01-02", notes=["# NOTE: stale"]), encoding="utf-8"
    )
    releases = [{"tag_name": "v0.25.0", "draft": False, "prerelease": False, "body": KIND_V0_25_0_BODY}]
    monkeypatch.setattr(
        uv.urllib.request, "urlopen", lambda request, timeout: _FakeResponse(json.dumps(releases).encode())
    )
    monkeypatch.setattr(uv, "go_list_versions", lambda: "k8s.io/kubernetes v1.31.0 v1.31.2 v1.32.0")
    monkeypatch.setattr(uv, "make_go_prober", lambda environ: FakeProber(SERVED_NOV_2026))
    log = io.StringIO()
    text, _ = uv.generate(path, use_github=True, environ={"SOURCE_DATE_EPOCH": "1764028800"}, log=log)
    assert "# NOTE:" not in text
    assert 'generated: "2025-11-25"' in text
    doc = yaml.safe_load(text)
    assert list(doc["minors"]) == [f"1.{m}" for m in range(24, 38)]
    assert "left out of the catalogue" not in text
    assert doc["minors"]["1.31"]["kind"] == [
        {"release": "v0.25.0", "image": img("1.31.2"), "source": uv.kind_release_source("v0.25.0")}
    ]
    assert log.getvalue() == ""


# --------------------------------------------------------------------------------------------------
# Patch discovery: scan_minor, discover_patches, merge_patches (fake prober, see the module docstring)
# --------------------------------------------------------------------------------------------------


def test_scan_minor_probes_in_order_and_stops_after_miss_limit_misses() -> None:
    probe = FakeProber({"1.28.0", "1.28.1", "1.28.2"})
    assert uv.scan_minor("1.28", probe, miss_limit=2) == ["1.28.0", "1.28.1", "1.28.2"]
    assert probe.calls == ["1.28.0", "1.28.1", "1.28.2", "1.28.3", "1.28.4"]


def test_scan_minor_steps_over_gaps_shorter_than_the_miss_limit() -> None:
    """1.29 as proxy.golang.org served it in November 2026: 1.29.11-1.29.13 missing, 1.29.15 latest."""
    probe = FakeProber(SERVED_NOV_2026)
    patches = uv.scan_minor("1.29", probe)  # default miss limit
    assert patches == [f"1.29.{p}" for p in (*range(11), 14, 15)]
    assert probe.calls == [f"1.29.{p}" for p in range(21)]  # 16..20: five misses after 1.29.15
    assert uv.scan_minor("1.29", FakeProber(SERVED_NOV_2026), miss_limit=2)[-1] == "1.29.10"


def test_scan_minor_without_patch_0_and_1_is_empty_after_two_probes() -> None:
    probe = FakeProber({"1.38.2"})
    assert uv.scan_minor("1.38", probe) == []
    assert probe.calls == ["1.38.0", "1.38.1"]


def test_scan_minor_known_patches_are_not_probed_and_extend_the_scan() -> None:
    """A patch `go list -m -versions` names counts as a hit; probing goes on past it."""
    probe = FakeProber({"1.31.0", "1.31.1", "1.31.14", "1.31.15"})
    found = uv.scan_minor("1.31", probe, known=["1.31.14", "1.30.4"], miss_limit=2)
    assert found == ["1.31.0", "1.31.1", "1.31.14", "1.31.15"]
    assert "1.31.14" not in probe.calls
    assert probe.calls[-3:] == ["1.31.15", "1.31.16", "1.31.17"]
    # Known patches alone make a minor non-empty even without patch 0 and 1.
    assert uv.scan_minor("1.38", FakeProber(set()), known=["1.38.3"], miss_limit=2) == ["1.38.3"]


def test_scan_minor_refuses_a_prober_that_never_misses() -> None:
    with pytest.raises(uv.UpdateError, match="prober is broken"):
        uv.scan_minor("1.30", lambda version: True)


def test_discover_patches_real_november_2026_pattern() -> None:
    """1.24 up to 1.37, stopping at 1.38 (no 1.38.0, no 1.38.1); latest = the highest served patch."""
    probe = FakeProber(SERVED_NOV_2026)
    found = uv.discover_patches(probe)
    assert list(found) == [f"1.{m}" for m in range(24, 38)]
    assert {m: p[-1] for m, p in found.items()} == {
        "1.24": "1.24.17",
        "1.25": "1.25.16",
        "1.26": "1.26.15",
        "1.27": "1.27.16",
        "1.28": "1.28.15",
        "1.29": "1.29.15",
        "1.30": "1.30.14",
        "1.31": "1.31.14",
        "1.32": "1.32.13",
        "1.33": "1.33.13",
        "1.34": "1.34.12",
        "1.35": "1.35.8",
        "1.36": "1.36.5",
        "1.37": "1.37.2",
    }
    assert found == {
        m: sorted((v for v in SERVED_NOV_2026 if v.startswith(m + ".")), key=uv.version_sort_key)
        for m in found
    }
    assert set(probe.calls) >= SERVED_NOV_2026  # every served version was asked for
    # Minors above 1.38 may have been started while 1.38 was being probed (8 at once), never more.
    assert max(uv.minor_sort_key(v.rsplit(".", 1)[0]) for v in probe.calls) <= (1, 38 + 7)


def test_discover_patches_one_worker_stops_at_the_first_empty_minor() -> None:
    probe = FakeProber({"1.24.0", "1.24.1", "1.25.1", "1.27.0"})
    found = uv.discover_patches(probe, workers=1, miss_limit=2)
    assert found == {"1.24": ["1.24.0", "1.24.1"], "1.25": ["1.25.1"]}
    assert probe.calls == [
        *("1.24.0", "1.24.1", "1.24.2", "1.24.3"),
        *("1.25.0", "1.25.1", "1.25.2", "1.25.3"),
        *("1.26.0", "1.26.1"),  # empty: 1.27 is never probed
    ]


def test_discover_patches_result_does_not_depend_on_the_pool_size() -> None:
    results = [uv.discover_patches(FakeProber(SERVED_NOV_2026), workers=w) for w in (1, 3, 8, 16)]
    assert all(r == results[0] for r in results)


def test_discover_patches_uses_known_patches() -> None:
    probe = FakeProber({"1.24.0"})
    found = uv.discover_patches(probe, known={"1.24": ["1.24.5"], "1.13": ["1.13.0"]}, miss_limit=2)
    assert found == {"1.24": ["1.24.0", "1.24.5"]}
    assert "1.24.5" not in probe.calls


def test_discover_patches_raises_the_probe_error_and_stops() -> None:
    probe = FakeProber(SERVED_NOV_2026, fail_on="1.26.3")
    with pytest.raises(uv.UpdateError, match=r"k8s\.io/kubernetes@v1\.26\.3"):
        uv.discover_patches(probe)
    assert len(probe.calls) < len(SERVED_NOV_2026)


def test_merge_patches_unions_and_sorts() -> None:
    probed = {"1.31": ["1.31.0", "1.31.9"], "1.30": ["1.30.0"]}
    listed = {"1.31": ["1.31.14", "1.31.9"], "1.13": ["1.13.0"]}
    assert uv.merge_patches(probed, listed) == {
        "1.13": ["1.13.0"],
        "1.30": ["1.30.0"],
        "1.31": ["1.31.0", "1.31.9", "1.31.14"],
    }


# --------------------------------------------------------------------------------------------------
# The real prober: interpreting `go list -m -json k8s.io/kubernetes@vX.Y.Z`
# --------------------------------------------------------------------------------------------------


def test_probe_answer_served_version() -> None:
    assert uv.probe_answer("1.37.0", 0, real_json("1.37.0"), "") is True


def test_probe_answer_not_served_version_is_a_miss() -> None:
    assert uv.probe_answer("1.28.16", 1, "", REAL_MISS_STDERR) is False
    for stderr in ("... 404 Not Found\n", "... 410 Gone\n", "invalid version: unknown revision v1.28.16"):
        assert uv.probe_answer("1.28.16", 1, "", stderr) is False


@pytest.mark.parametrize(
    "stderr",
    [
        REAL_DNS_FAILURE_STDERR,
        "go: k8s.io/kubernetes@v1.28.16: module lookup disabled by GOPROXY=off\n",
        "go: reading https://proxy.example/k8s.io/kubernetes/@v/v1.28.16.info: 403 Forbidden\n",
    ],
)
def test_probe_answer_other_failures_are_errors(stderr: str) -> None:
    with pytest.raises(uv.UpdateError, match=r"go list -m -json k8s\.io/kubernetes@v1\.28\.16"):
        uv.probe_answer("1.28.16", 1, "", stderr)


def test_probe_answer_rejects_json_for_another_version_or_no_json() -> None:
    with pytest.raises(uv.UpdateError, match="another version"):
        uv.probe_answer("1.28.16", 0, real_json("1.28.15"), "")
    with pytest.raises(uv.UpdateError, match="no JSON"):
        uv.probe_answer("1.28.16", 0, "not json", "")


@pytest.mark.parametrize(
    ("goproxy", "expected"),
    [
        ("https://proxy.golang.org,direct", "https://proxy.golang.org"),
        ("https://a.example|https://b.example,direct", "https://a.example,https://b.example"),
        ("direct", "https://proxy.golang.org"),
        ("", "https://proxy.golang.org"),
        ("off", "off"),
    ],
)
def test_proxy_without_direct(goproxy: str, expected: str) -> None:
    assert uv.proxy_without_direct(goproxy) == expected


def test_make_go_prober_runs_go_list_json_without_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def fake_run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((argv, kwargs["env"]))
        assert not list(Path(kwargs["cwd"]).iterdir())  # an empty directory: no go.mod
        version = argv[-1].rsplit("@v", 1)[1]
        if version == "1.28.15":
            return subprocess.CompletedProcess(argv, 0, real_json(version), "")
        return subprocess.CompletedProcess(argv, 1, "", REAL_MISS_STDERR)

    monkeypatch.setattr(uv, "go_env_goproxy", lambda: "https://proxy.golang.org,direct")
    monkeypatch.setattr(uv.subprocess, "run", fake_run)
    probe = uv.make_go_prober({"PATH": "/usr/bin", "GOPROXY": "https://proxy.golang.org,direct"})
    assert probe("1.28.15") is True
    assert probe("1.28.16") is False
    assert calls[0][0] == ["go", "list", "-m", "-json", "k8s.io/kubernetes@v1.28.15"]
    assert calls[0][1] == {"PATH": "/usr/bin", "GOPROXY": "https://proxy.golang.org", "GOWORK": "off"}


# --------------------------------------------------------------------------------------------------
# --kind-seed: kind entries for minors the kept file lacks
# --------------------------------------------------------------------------------------------------


def test_merge_kind_adds_only_missing_minor_release_pairs() -> None:
    k, src = uv.KindImage, uv.kind_release_source
    kept = {"1.27": (k("v0.25.0", img("1.27.16"), src("v0.25.0")),)}
    other_digest = img("1.27.16", "f" * 64)
    seed = {
        "1.27": (
            k("v0.25.0", other_digest, src("v0.25.0")),  # the kept entry wins
            k("v0.24.0", img("1.27.16", "3" * 64), src("v0.24.0")),
        ),
        "1.26": (k("v0.25.0", img("1.26.15"), src("v0.25.0")),),
    }
    merged = uv.merge_kind(kept, seed)
    assert list(merged) == ["1.26", "1.27"]
    assert [(e.release, e.image) for e in merged["1.27"]] == [
        ("v0.25.0", img("1.27.16")),
        ("v0.24.0", img("1.27.16", "3" * 64)),
    ]
    assert merged["1.26"] == seed["1.26"]


def test_generate_adds_kind_seed_entries_for_new_minors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "versions.yaml"
    only_1_29 = [e for e in _probed_entries() if e.minor == "1.29"]
    path.write_text(render_catalogue(only_1_29, generated="2026-01-02", notes=["# NOTE: kept"]), encoding="utf-8")
    seed_path = tmp_path / "seed.yaml"
    seed_path.write_text(
        render_catalogue(_sample_entries(), generated="2025-01-01", notes=["# NOTE: kept", "# NOTE: from the seed"]),
        encoding="utf-8",
    )
    monkeypatch.setattr(uv, "go_list_versions", lambda: "k8s.io/kubernetes v1.27.0 v1.27.16 v1.28.15 v1.29.6")
    monkeypatch.setattr(uv, "make_go_prober", lambda environ: FakeProber(SERVED_1_24_TO_1_29))
    log = io.StringIO()
    text, _ = uv.generate(
        path, use_github=False, environ={"SOURCE_DATE_EPOCH": "1764028800"}, log=log, kind_seed=seed_path
    )
    assert text == render_catalogue(
        _probed_entries(), generated="2025-11-25", notes=["# NOTE: kept", "# NOTE: from the seed"]
    )
    assert "added the kind entries of" in log.getvalue()
    # Once written, the seed is no longer needed: the kept entries reproduce the file.
    path.write_text(text, encoding="utf-8")
    again, _ = uv.generate(path, use_github=False, environ={}, log=io.StringIO())
    assert again == text


def test_generate_missing_kind_seed_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(uv.UpdateError, match="no such file"):
        uv.generate(tmp_path / "v.yaml", use_github=False, environ={}, kind_seed=tmp_path / "missing.yaml")


def test_generate_fails_when_probing_finds_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(uv, "go_list_versions", lambda: "k8s.io/kubernetes v1.29.6")
    monkeypatch.setattr(uv, "make_go_prober", lambda environ: FakeProber(set()))
    with pytest.raises(uv.UpdateError, match=r"neither 1\.24\.0 nor 1\.24\.1"):
        uv.generate(tmp_path / "v.yaml", use_github=False, environ={}, log=io.StringIO())
