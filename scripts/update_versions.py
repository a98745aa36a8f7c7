#!/usr/bin/env python3
"""Regenerate ``harness/data/versions.yaml``, the version catalogue of rehearse.

Two sources feed the catalogue:

* Kubernetes patch releases served by the Go module proxy. The proxy's version *list*
  (``go list -m -versions k8s.io/kubernetes``) is incomplete (it omits whole minors), while single
  versions are served, so each ``v1.MINOR.PATCH`` is probed with
  ``go list -m -json k8s.io/kubernetes@v1.MINOR.PATCH``: for every minor from 1.24 on, PATCH = 0, 1,
  2, ... until ``PROBE_MISS_LIMIT`` (5) consecutive misses after the last hit (the proxy does not
  serve every release either: it skips up to three patches in a row in places); the minors stop at
  the first minor with neither patch 0 nor patch 1. Up to 8 minors are probed at once. The versions
  the list does name are merged in. Pre-releases (``-alpha``, ``-rc`` ...) are never used. A minor
  in the range with no release at all would be left out and named in the header comment. The probes
  use ``GOPROXY`` without its ``direct`` entries, so a miss never clones the repository.
* kindest/node images: the ``kindest/node:vX.Y.Z@sha256:<digest>`` lines of the release notes of
  every kind release from v0.17.0 on, read from the GitHub REST API. When GitHub cannot be reached
  (or ``--no-github`` is given) the kind entries already in the file are kept, together with the
  ``# NOTE:`` lines of its header, and one line on stderr says so. ``--kind-seed FILE`` then adds the
  kind entries (and ``# NOTE:`` lines) of another catalogue-shaped file that the kept ones lack, e.g.
  for minors that newly appear in the catalogue.

The output is deterministic: the same inputs give the same bytes. The ``generated`` date changes
only when something else in the file changes (``SOURCE_DATE_EPOCH`` overrides "today").

Usage::

    scripts/update_versions.py                 # rewrite harness/data/versions.yaml
    scripts/update_versions.py --check         # exit 1 if the file would change (CI)
    scripts/update_versions.py --output PATH   # write somewhere else
    scripts/update_versions.py --no-github --kind-seed OLD.yaml   # add kind entries kept elsewhere

The catalogue's model, reader and writer are those of ``harness/versions.py``; otherwise only the
standard library and PyYAML are used.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from harness.errors import InputError  # noqa: E402
from harness.versions import KindImage, MinorEntry, read_catalogue_file, render_catalogue  # noqa: E402

DEFAULT_OUTPUT = REPO_ROOT / "harness" / "data" / "versions.yaml"

KUBERNETES_MODULE = "k8s.io/kubernetes"
MIN_MINOR = (1, 24)
MIN_MINOR_TEXT = f"{MIN_MINOR[0]}.{MIN_MINOR[1]}"
MIN_KIND_RELEASE = (0, 17, 0)

KIND_RELEASES_API = "https://api.github.com/repos/kubernetes-sigs/kind/releases"
KIND_RELEASE_PAGE = "https://github.com/kubernetes-sigs/kind/releases/tag/{tag}"
GITHUB_PAGE_SIZE = 100
GITHUB_MAX_PAGES = 10
GITHUB_TIMEOUT_SECONDS = 20.0
GO_LIST_TIMEOUT_SECONDS = 300.0
GO_PROBE_TIMEOUT_SECONDS = 120.0
DEFAULT_GOPROXY = "https://proxy.golang.org"
PROBE_WORKERS = 8
# A minor's probing stops after this many consecutive misses following its last hit. The proxy does
# not serve every release: in November 2026 it lacked e.g. 1.24.11-1.24.12, 1.29.11-1.29.13 and
# 1.31.10-1.31.11 while serving the patches around them, so two misses do not mean "no more patches".
PROBE_MISS_LIMIT = 5
# No Kubernetes minor has had anywhere near this many patches; a prober answering yes forever is a bug.
MAX_PATCH = 200
MAX_MINORS = 100  # likewise for minors after MIN_MINOR

# A released Kubernetes version as the Go module proxy names it: v1.27.16 (no pre-release suffix).
_GO_RELEASE_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# An image pinned by digest, exactly as kind's release notes write it.
_KIND_IMAGE_RE = re.compile(r"kindest/node:v(\d+)\.(\d+)\.(\d+)@sha256:([0-9a-f]{64})(?![0-9A-Za-z])")
# A kind release tag: v0.25.0.
_KIND_TAG_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# The line that opens the image list of a release body ("Images pre-built for this release:",
# "Images built for this release:", "New node images have been built for kind ..."). Images named
# before it (in prose) are not read, unless the body has no such line at all.
_IMAGE_LIST_START_RE = re.compile(r"(?im)^[^\n]*\bimages\b[^\n]*\bbuilt\b")
# How `go list -m -json MODULE@VERSION` says the version does not exist / is not served, e.g.
#   go: k8s.io/kubernetes@v1.28.16: reading https://proxy.golang.org/k8s.io/kubernetes/@v/v1.28.16.info:
#   403 Forbidden\n\tserver response: This module version is not available.
# Anything else (no network, a proxy refusing access, ...) is an error, not a miss.
_PROBE_MISS_RE = re.compile(
    r"This module version is not available|\b404 Not Found\b|\b410 Gone\b|unknown revision"
)

# Answers whether a Kubernetes release ("1.28.15") exists; raises UpdateError when it cannot tell.
Prober = Callable[[str], bool]


class UpdateError(Exception):
    """A source could not be read; the message says which and why."""


class GitHubUnavailable(UpdateError):
    """The GitHub REST API could not be reached or did not answer usefully."""


@dataclass(frozen=True)
class ExistingFile:
    """What the script reuses from the file it is about to replace."""

    text: str | None = None
    generated: str | None = None
    kind: Mapping[str, tuple[KindImage, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Pure functions (unit-tested)
# --------------------------------------------------------------------------------------------------


def minor_sort_key(minor: str) -> tuple[int, int]:
    """``"1.27"`` -> ``(1, 27)``."""
    major, _, rest = minor.partition(".")
    return int(major), int(rest)


def version_sort_key(version: str) -> tuple[int, ...]:
    """``"1.27.16"`` / ``"v0.25.0"`` -> ``(1, 27, 16)`` / ``(0, 25, 0)``."""
    return tuple(int(part) for part in version.lstrip("v").split("."))


def parse_go_versions(output: str) -> dict[str, list[str]]:
    """Group the releases printed by ``go list -m -versions k8s.io/kubernetes`` by minor.

    The output is the module path followed by its versions, separated by blanks. Pre-releases and
    anything that is not ``v1.Y.Z`` are dropped. Returns ``{"1.27": ["1.27.0", ..., "1.27.16"]}``,
    minors and patches in ascending numeric order.
    """
    by_minor: dict[str, set[str]] = {}
    for token in output.split():
        m = _GO_RELEASE_RE.match(token)
        if not m or m.group(1) != "1":
            continue
        by_minor.setdefault(f"{m.group(1)}.{int(m.group(2))}", set()).add(
            f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}"
        )
    return {
        minor: sorted(by_minor[minor], key=version_sort_key) for minor in sorted(by_minor, key=minor_sort_key)
    }


def merge_patches(*sources: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The union of several ``{minor: [patch, ...]}`` maps, minors and patches in ascending order."""
    by_minor: dict[str, set[str]] = {}
    for source in sources:
        for minor, patches in source.items():
            by_minor.setdefault(minor, set()).update(patches)
    return {
        minor: sorted(by_minor[minor], key=version_sort_key) for minor in sorted(by_minor, key=minor_sort_key)
    }


class _ProbingStopped(Exception):
    """Raised inside a worker once another worker has failed, so that it ends early."""


def scan_minor(
    minor: str,
    probe: Prober,
    *,
    known: Iterable[str] = (),
    miss_limit: int = PROBE_MISS_LIMIT,
) -> list[str]:
    """The patches of ``minor`` that ``probe`` finds, probing ``MINOR.0``, ``MINOR.1``, ... in order.

    ``known`` patches (e.g. the ones ``go list -m -versions`` lists) count as hits without a probe.
    A minor with neither patch 0 nor patch 1 and no known patch yields ``[]`` (only those two are
    probed). Otherwise the scan stops after ``miss_limit`` consecutive misses following the last hit
    and beyond every known patch, so gaps of fewer than ``miss_limit`` patches are stepped over.
    """
    known_set = {v for v in known if v.rsplit(".", 1)[0] == minor}
    last_known = max((version_sort_key(v)[-1] for v in known_set), default=-1)
    found: list[str] = []
    misses = 0
    patch = 0
    while True:
        if patch == 2 and not found and not known_set:
            return []  # neither MINOR.0 nor MINOR.1
        if misses >= miss_limit and patch > last_known and (found or patch >= 2):
            return found
        if patch > MAX_PATCH:
            raise UpdateError(f"probing {minor}: more than {MAX_PATCH} patches; the prober is broken")
        version = f"{minor}.{patch}"
        if version in known_set or probe(version):
            found.append(version)
            misses = 0
        else:
            misses += 1
        patch += 1


def discover_patches(
    probe: Prober,
    *,
    known: Mapping[str, Sequence[str]] | None = None,
    first_minor: tuple[int, int] = MIN_MINOR,
    workers: int = PROBE_WORKERS,
    miss_limit: int = PROBE_MISS_LIMIT,
) -> dict[str, list[str]]:
    """``{minor: [patches]}`` for every minor from ``first_minor`` up to the first one without releases.

    Each minor is scanned with :func:`scan_minor`, ``known[minor]`` being its known patches. Up to
    ``workers`` minors are scanned at once, so ``probe`` must be thread-safe. The first minor for
    which nothing is found (no patch 0, no patch 1) ends the range; minors above it that were
    already being scanned are dropped, so the result does not depend on scheduling. An exception
    raised by ``probe`` stops the other scans and is raised again.
    """
    major, first = first_minor
    failed = threading.Event()

    def guarded(version: str) -> bool:
        if failed.is_set():
            raise _ProbingStopped
        return probe(version)

    found: dict[int, list[str]] = {}
    end: int | None = None  # the first minor number found empty
    next_number = first
    error: BaseException | None = None
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: dict[concurrent.futures.Future[list[str]], int] = {}
        while True:
            while error is None and len(pending) < max(1, workers) and (end is None or next_number < end):
                if next_number - first >= MAX_MINORS:
                    error = UpdateError(f"probing: more than {MAX_MINORS} minors; the prober is broken")
                    failed.set()
                    break
                minor = f"{major}.{next_number}"
                future = pool.submit(
                    scan_minor, minor, guarded, known=(known or {}).get(minor, ()), miss_limit=miss_limit
                )
                pending[future] = next_number
                next_number += 1
            if not pending:
                break
            done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                number = pending.pop(future)
                exc = future.exception()
                if exc is not None:
                    if error is None and not isinstance(exc, _ProbingStopped):
                        error = exc
                        failed.set()
                    continue
                patches = future.result()
                found[number] = patches
                if not patches and (end is None or number < end):
                    end = number
    if error is not None:
        raise error
    last = end if end is not None else next_number
    return {f"{major}.{n}": found[n] for n in range(first, last) if found.get(n)}


def proxy_without_direct(goproxy: str) -> str:
    """``GOPROXY`` for the probes: its proxies without ``direct`` (never clone to answer a probe).

    ``"https://proxy.golang.org,direct"`` -> ``"https://proxy.golang.org"``. ``off`` is kept (the
    probes then fail with an error naming it); an empty or direct-only value gives the default proxy.
    """
    entries = [e.strip() for e in re.split(r"[,|]", goproxy) if e.strip() and e.strip() != "direct"]
    return ",".join(entries) if entries else DEFAULT_GOPROXY


def probe_answer(version: str, returncode: int, stdout: str, stderr: str) -> bool:
    """Interpret ``go list -m -json k8s.io/kubernetes@v<version>``: served, not served, or error.

    Exit 0 with JSON naming the version: served. Non-zero exit with the proxy's "not available" /
    404 / 410 answer (see ``_PROBE_MISS_RE``): not served. Anything else raises :class:`UpdateError`.
    """
    command = f"`go list -m -json {KUBERNETES_MODULE}@v{version}`"
    if returncode == 0:
        try:
            data: Any = json.loads(stdout)
        except ValueError as e:
            raise UpdateError(f"{command} printed no JSON: {stdout.strip()[:200]!r}") from e
        if not isinstance(data, dict) or data.get("Version") != f"v{version}":
            raise UpdateError(f"{command} answered for another version: {stdout.strip()[:200]!r}")
        return True
    if _PROBE_MISS_RE.search(stderr):
        return False
    raise UpdateError(f"{command} failed (exit {returncode}): {stderr.strip()}")


def merge_kind(
    kept: Mapping[str, Sequence[KindImage]], seed: Mapping[str, Sequence[KindImage]]
) -> dict[str, tuple[KindImage, ...]]:
    """``kept`` plus the images of ``seed`` for (minor, kind release) pairs that ``kept`` lacks.

    Each minor's images end newest kind release first; minors in ascending order.
    """
    out: dict[str, list[KindImage]] = {minor: list(images) for minor, images in kept.items()}
    for minor, images in seed.items():
        have = {k.release for k in out.get(minor, ())}
        for k in images:
            if k.release not in have:
                out.setdefault(minor, []).append(k)
                have.add(k.release)
    return {
        minor: tuple(sorted(out[minor], key=lambda k: version_sort_key(k.release), reverse=True))
        for minor in sorted(out, key=minor_sort_key)
    }


def parse_kind_release_body(body: str) -> dict[str, str]:
    """Map each Kubernetes minor to the kindest/node image a kind release body publishes for it.

    Only ``kindest/node:vX.Y.Z@sha256:<64 hex>`` references count, read from the image list (the
    first line saying images were built, e.g. "Images pre-built for this release:") onwards, or from
    the whole body if it has no such line. The minor comes from the image tag, not from the label in
    front of it. When a release lists several patches of one minor, the highest patch wins; for the
    same patch, the first one listed. Returns ``{"1.27": "kindest/node:v1.27.16@sha256:..."}``,
    minors in ascending order.
    """
    start = _IMAGE_LIST_START_RE.search(body)
    text = body[start.start() :] if start else body
    best: dict[str, tuple[tuple[int, int, int], str]] = {}
    for m in _KIND_IMAGE_RE.finditer(text):
        major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3))
        key = f"{major}.{minor}"
        image = f"kindest/node:v{major}.{minor}.{patch}@sha256:{m.group(4)}"
        if key not in best or (major, minor, patch) > best[key][0]:
            best[key] = ((major, minor, patch), image)
    return {key: best[key][1] for key in sorted(best, key=minor_sort_key)}


def kind_release_source(tag: str) -> str:
    """The release page of a kind release."""
    return KIND_RELEASE_PAGE.format(tag=tag)


def kind_images_by_minor(releases: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[KindImage, ...]]:
    """Invert ``{release tag: {minor: image}}`` into ``{minor: (images, newest kind release first)}``.

    Tags that are not ``vX.Y.Z`` or older than v0.17.0 are ignored.
    """
    tags = sorted(
        (tag for tag in releases if _KIND_TAG_RE.match(tag) and version_sort_key(tag) >= MIN_KIND_RELEASE),
        key=version_sort_key,
        reverse=True,
    )
    out: dict[str, list[KindImage]] = {}
    for tag in tags:
        for minor, image in releases[tag].items():
            out.setdefault(minor, []).append(
                KindImage(release=tag, image=image, source=kind_release_source(tag))
            )
    return {minor: tuple(out[minor]) for minor in sorted(out, key=minor_sort_key)}


def build_minors(
    patches: Mapping[str, Sequence[str]], kind: Mapping[str, Sequence[KindImage]]
) -> tuple[list[MinorEntry[str]], list[str]]:
    """The catalogue entries from 1.24 to the newest minor with a release, and the minors skipped.

    A minor in that range with no release is skipped (returned in the second list).
    """
    listed = [m for m in patches if patches[m] and minor_sort_key(m) >= MIN_MINOR]
    if not listed:
        return [], []
    newest = max(minor_sort_key(m) for m in listed)
    entries: list[MinorEntry[str]] = []
    skipped: list[str] = []
    for number in range(MIN_MINOR[1], newest[1] + 1):
        minor = f"{MIN_MINOR[0]}.{number}"
        if not patches.get(minor):
            skipped.append(minor)
            continue
        images = sorted(kind.get(minor, ()), key=lambda k: version_sort_key(k.release), reverse=True)
        ordered = tuple(sorted(patches[minor], key=version_sort_key))
        entries.append(MinorEntry(minor=minor, latest=ordered[-1], patches=ordered, kind=tuple(images)))
    return entries, skipped


def image_version(image: str) -> str:
    """``kindest/node:v1.27.16@sha256:...`` -> ``1.27.16``."""
    m = _KIND_IMAGE_RE.fullmatch(image)
    if not m:
        raise ValueError(f"not a pinned kindest/node image: {image!r}")
    return f"{int(m.group(1))}.{int(m.group(2))}.{int(m.group(3))}"


def kind_newer_than_latest(entries: Iterable[MinorEntry[str]]) -> list[str]:
    """Human-readable lines for kind images newer than the newest patch the proxy serves."""
    lines = []
    for entry in entries:
        for k in entry.kind:
            if version_sort_key(image_version(k.image)) > version_sort_key(entry.latest):
                lines.append(
                    f"{entry.minor}: kind {k.release} has {image_version(k.image)}, newer than the newest "
                    f"patch the Go module proxy serves ({entry.latest})"
                )
                break
    return lines


def parse_existing(text: str) -> ExistingFile:
    """Read back what :func:`render_catalogue` wrote: the date, the kind entries and the ``# NOTE:`` lines."""
    try:
        read = read_catalogue_file(text)
    except InputError as e:
        raise UpdateError(f"existing {e}") from e
    for entry in read.minors:
        for k in entry.kind:
            image_version(k.image)  # validates the shape
    return ExistingFile(
        text=text,
        generated=read.generated,
        kind={entry.minor: entry.kind for entry in read.minors if entry.kind},
        notes=read.notes,
    )


def today(environ: Mapping[str, str]) -> str:
    """Today's date (UTC), or the date of ``SOURCE_DATE_EPOCH`` when it is set."""
    epoch = environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)
        if epoch
        else datetime.datetime.now(tz=datetime.timezone.utc)
    )
    return moment.date().isoformat()


def render_keeping_date(
    entries: Sequence[MinorEntry[str]],
    *,
    existing: ExistingFile,
    new_date: str,
    skipped: Sequence[str],
    notes: Sequence[str],
) -> str:
    """Render with the existing ``generated`` date if nothing else changed, else with ``new_date``."""
    if existing.text is not None and existing.generated is not None:
        same = render_catalogue(entries, generated=existing.generated, skipped=skipped, notes=notes)
        if same == existing.text:
            return same
    return render_catalogue(entries, generated=new_date, skipped=skipped, notes=notes)


# --------------------------------------------------------------------------------------------------
# I/O
# --------------------------------------------------------------------------------------------------


def go_list_versions(module: str = KUBERNETES_MODULE) -> str:
    """Run ``go list -m -versions MODULE`` (in an empty directory, so no go.mod interferes)."""
    with tempfile.TemporaryDirectory(prefix="update-versions-") as tmp:
        try:
            done = subprocess.run(
                ["go", "list", "-m", "-versions", module],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=GO_LIST_TIMEOUT_SECONDS,
                check=False,
            )
        except FileNotFoundError as e:
            raise UpdateError("`go` is not on PATH; it is needed to list Kubernetes releases") from e
        except subprocess.TimeoutExpired as e:
            raise UpdateError(f"`go list -m -versions {module}` timed out") from e
    if done.returncode != 0:
        raise UpdateError(f"`go list -m -versions {module}` failed: {done.stderr.strip()}")
    return done.stdout


def go_env_goproxy() -> str:
    """``go env GOPROXY`` (it also honours the go env file, unlike reading ``$GOPROXY``)."""
    try:
        done = subprocess.run(
            ["go", "env", "GOPROXY"], capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError as e:
        raise UpdateError("`go` is not on PATH; it is needed to probe Kubernetes releases") from e
    except subprocess.TimeoutExpired as e:
        raise UpdateError("`go env GOPROXY` timed out") from e
    if done.returncode != 0:
        raise UpdateError(f"`go env GOPROXY` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def make_go_prober(environ: Mapping[str, str], module: str = KUBERNETES_MODULE) -> Prober:
    """A thread-safe :data:`Prober` running ``go list -m -json MODULE@vVERSION`` per version.

    Each probe runs in an empty directory (no go.mod, ``GOWORK=off``) with ``GOPROXY`` stripped of
    ``direct``.
    """
    env = dict(environ)
    env["GOPROXY"] = proxy_without_direct(go_env_goproxy())
    env["GOWORK"] = "off"

    def probe(version: str) -> bool:
        argv = ["go", "list", "-m", "-json", f"{module}@v{version}"]
        with tempfile.TemporaryDirectory(prefix="update-versions-") as tmp:
            try:
                done = subprocess.run(
                    argv,
                    cwd=tmp,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=GO_PROBE_TIMEOUT_SECONDS,
                    check=False,
                )
            except FileNotFoundError as e:
                raise UpdateError("`go` is not on PATH; it is needed to probe Kubernetes releases") from e
            except subprocess.TimeoutExpired as e:
                raise UpdateError(f"`{' '.join(argv)}` timed out") from e
        return probe_answer(version, done.returncode, done.stdout, done.stderr)

    return probe


def fetch_kind_release_bodies(environ: Mapping[str, str]) -> dict[str, str]:
    """``{tag: body}`` of the published kind releases from v0.17.0 on, via the GitHub REST API."""
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "rehearse-update-versions",
    }
    token = environ.get("GITHUB_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    bodies: dict[str, str] = {}
    for page in range(1, GITHUB_MAX_PAGES + 1):
        url = f"{KIND_RELEASES_API}?per_page={GITHUB_PAGE_SIZE}&page={page}"
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=GITHUB_TIMEOUT_SECONDS) as response:
                data: Any = json.load(response)
        except urllib.error.HTTPError as e:
            raise GitHubUnavailable(f"HTTP {e.code} from {url}") from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise GitHubUnavailable(f"{url}: {reason}") from e
        except ValueError as e:
            raise GitHubUnavailable(f"{url}: not JSON ({e})") from e
        if not isinstance(data, list):
            raise GitHubUnavailable(f"{url}: expected a JSON list of releases")
        for release in data:
            if not isinstance(release, dict) or release.get("draft") or release.get("prerelease"):
                continue
            tag = release.get("tag_name")
            if not isinstance(tag, str) or not _KIND_TAG_RE.match(tag):
                continue
            if version_sort_key(tag) >= MIN_KIND_RELEASE:
                body = release.get("body")
                bodies[tag] = body if isinstance(body, str) else ""
        if len(data) < GITHUB_PAGE_SIZE:
            break
    if not bodies:
        raise GitHubUnavailable("the GitHub API listed no kind releases")
    return bodies


def read_existing(path: Path) -> ExistingFile:
    if not path.exists():
        return ExistingFile()
    return parse_existing(path.read_text(encoding="utf-8"))


def generate(
    path: Path,
    *,
    use_github: bool,
    environ: Mapping[str, str],
    log: TextIO | None = None,
    kind_seed: Path | None = None,
) -> tuple[str, ExistingFile]:
    """The new text of the catalogue at ``path`` and what was read from the current one.

    ``kind_seed``: a catalogue-shaped file whose kind entries (and ``# NOTE:`` lines) are added to
    the kept ones when GitHub is not used; ignored when GitHub answers.
    """
    log = log if log is not None else sys.stderr
    existing = read_existing(path)
    seed = None
    if kind_seed is not None:
        if not kind_seed.exists():
            raise UpdateError(f"--kind-seed {kind_seed}: no such file")
        seed = parse_existing(kind_seed.read_text(encoding="utf-8"))
    listed = parse_go_versions(go_list_versions())
    probed = discover_patches(make_go_prober(environ), known=listed)
    if MIN_MINOR_TEXT not in probed:
        raise UpdateError(
            f"probing {KUBERNETES_MODULE} on the Go module proxy found neither "
            f"{MIN_MINOR_TEXT}.0 nor {MIN_MINOR_TEXT}.1"
        )
    patches = merge_patches(probed, listed)

    kind: Mapping[str, Sequence[KindImage]] | None = None
    notes: Sequence[str] = ()
    if use_github:
        try:
            bodies = fetch_kind_release_bodies(environ)
            kind = kind_images_by_minor({tag: parse_kind_release_body(b) for tag, b in bodies.items()})
        except GitHubUnavailable as e:
            print(f"update_versions: GitHub unreachable ({e}); kept the kind entries of {path}", file=log)
    else:
        print(f"update_versions: --no-github; kept the kind entries of {path}", file=log)
    if kind is None:  # kept from the file, completed from the seed
        kind, notes = dict(existing.kind), existing.notes
        if seed is not None:
            kind = merge_kind(kind, seed.kind)
            notes = (*notes, *(n for n in seed.notes if n not in notes))
            print(f"update_versions: added the kind entries of {kind_seed} that {path} lacks", file=log)
    elif seed is not None:
        print(f"update_versions: kind entries read from GitHub; --kind-seed {kind_seed} ignored", file=log)

    entries, skipped = build_minors(patches, kind)
    for line in kind_newer_than_latest(entries):
        print(f"update_versions: warning: {line}", file=log)
    text = render_keeping_date(
        entries, existing=existing, new_date=today(environ), skipped=skipped, notes=notes
    )
    return text, existing


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate the rehearse version catalogue (harness/data/versions.yaml)."
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"the catalogue file (default: {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file would change (for CI)"
    )
    parser.add_argument(
        "--no-github",
        action="store_true",
        help="do not ask GitHub for kind releases; keep the kind entries already in the file",
    )
    parser.add_argument(
        "--kind-seed",
        type=Path,
        metavar="FILE",
        help="a catalogue-shaped YAML file; when the kind entries of the output file are kept (GitHub "
        "unreachable, --no-github), add its kind entries and NOTE lines that the output file lacks",
    )
    args = parser.parse_args(argv)
    path: Path = args.output

    try:
        text, existing = generate(
            path, use_github=not args.no_github, environ=os.environ, kind_seed=args.kind_seed
        )
    except UpdateError as e:
        print(f"update_versions: error: {e}", file=sys.stderr)
        return 2

    if existing.text == text:
        print(f"update_versions: {path} is up to date", file=sys.stderr)
        return 0
    if args.check:
        diff = difflib.unified_diff(
            (existing.text or "").splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{path} (committed)",
            tofile=f"{path} (regenerated)",
        )
        sys.stderr.writelines(diff)
        print(f"update_versions: {path} is out of date; run scripts/update_versions.py", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    tmp.replace(path)
    print(f"update_versions: wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
