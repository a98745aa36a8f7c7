"""What a ``kind`` cluster of a version needs present: the kind CLI of one kind release, and that release's node
image of the version (pinned by digest in the version catalogue, or an override), in the Docker engine.

A kind CLI runs only the node images of its own release, so a rehearsal runs the newest release that has node
images for every version it visits (:func:`select_images`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness import processes
from harness.binaries import tool_version
from harness.engine import read_file
from harness.errors import InfraError, InputError
from harness.progress import Progress
from harness.providers.kind.node import KindNodes, last_error_line
from harness.versions import Catalogue, KindImage, Version, catalogue

# The kind release this build was proven with end to end (pinned in harness/data/sources.yaml; the locally built
# node images follow its layout).
KIND_RELEASE = f"v{tool_version('kind')}"
_TAG_RE = re.compile(r":(v\d+\.\d+\.\d+)(?:@|$)")


class NoKindImage(InputError):
    """No kind release publishes node images for every version of the rehearsal."""


def image_version(ref: str) -> Version | None:
    """The Kubernetes version in a ``kindest/node:vX.Y.Z[@sha256:…]`` reference, if it has one."""
    m = _TAG_RE.search(ref)
    return Version.parse(m.group(1)) if m else None


def _release_key(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in release.lstrip("v").split("."))


def select_images(versions: Sequence[Version], cat: Catalogue | None = None,
                  release: str | None = None) -> dict[str, KindImage]:
    """One node image per minor of ``versions``, all from one kind release: ``release`` when given, else the
    newest release that publishes an image for every one of them (a kind CLI runs the images of its release).

    Raises :class:`NoKindImage` naming what exists when no kind release (or not ``release``) has them all.
    """
    cat = cat or catalogue()
    minors = sorted({v.minor_key for v in versions}, key=lambda m: tuple(int(x) for x in m.split(".")))
    per_minor: dict[str, dict[str, KindImage]] = {}
    for minor in minors:
        entry = cat.entry(minor)
        per_minor[minor] = {k.release: k for k in (entry.kind if entry else ())}
    common = set.intersection(*(set(d) for d in per_minor.values())) if per_minor else set()
    if release is None and common:
        release = max(common, key=_release_key)
    if release in common:
        return {m: per_minor[m][release] for m in minors}
    have = "; ".join(f"{m}: {', '.join(sorted(d, key=_release_key)) or 'none'}" for m, d in per_minor.items())
    if not common:
        raise NoKindImage(f"no kind release publishes node images for all of {', '.join(minors)} "
                          f"(kind releases with an image per minor: {have}); rehearse these hops one at a time "
                          "or use --provider local")
    newest = max(common, key=_release_key)
    raise NoKindImage(f"kind {newest} has node images for {', '.join(minors)}, but kind {release} was asked for, "
                      f"whose images do not cover them all ({have})")


class KindRelease:
    """The kind release a rehearsal runs: its CLI, and its node image of each version in the Docker engine."""

    def __init__(self, progress: Progress, nodes: KindNodes, versions: Sequence[Version],
                 images: Mapping[str, str] | None, binary: Path | None, release: str | None) -> None:
        """``images``: node images to use instead of the catalogue's, by minor (``"1.28"``) or exact version
        (``"1.28.15"``); also read from ``$REHEARSE_KIND_IMAGES`` (``1.27=REF,1.28=REF``)."""
        self.progress = progress
        self.nodes = nodes
        self.versions = tuple(versions)
        self.images = dict(images or {})
        env = os.environ.get("REHEARSE_KIND_IMAGES", "")
        for item in filter(None, (s.strip() for s in env.split(","))):
            key, _, ref = item.partition("=")
            self.images.setdefault(key.strip().lstrip("v"), ref.strip())
        self._binary = binary
        self._release = release

    @property
    def release(self) -> str:
        """The one asked for, else the newest with node images for every version of the rehearsal (raises
        :class:`NoKindImage` when there is none), else the tested one."""
        if self._release is None:
            self._release = (next(iter(select_images(self.versions).values())).release if self.versions
                             else KIND_RELEASE)
        return self._release

    # ---- the CLI ---------------------------------------------------------------------------------------------
    def obtainable(self) -> bool:
        """Whether the CLI is here or can be had (cached, on PATH, or a Go toolchain to build it)."""
        return (self._binary is not None or self._cached() is not None or shutil.which("go") is not None
                or self._on_path() is not None)

    def _cached(self) -> Path | None:
        from harness.files import cache_root

        cached = cache_root() / "tools" / "kind" / self.release / "kind"
        return cached if cached.is_file() else None

    def _on_path(self) -> Path | None:
        found = shutil.which("kind")
        return Path(found) if found and _cli_release(Path(found)) == self.release else None

    def binary(self) -> Path:
        """The CLI: rehearse's cached one, else one on PATH, else obtained (a checksum-verified download or a Go
        build)."""
        if self._binary is None:
            self._binary = self._cached() or self._on_path()
        if self._binary is None:
            from harness.binaries import ensure_tool

            self._binary = ensure_tool("kind", self.release.lstrip("v"), progress=self.progress) / "kind"
        return self._binary

    def run(self, args: list[str], log: Path, timeout: float = 600) -> None:
        """Run the CLI in its own session (Ctrl-C reaches us, not it); stop it if we are interrupted."""
        rc = processes.run_in_session([str(self.binary()), *args], log, timeout=timeout, grace=10,
                                   header=f"$ kind {' '.join(args)}")
        if rc != 0:
            raise InfraError(f"kind {' '.join(args[:2])} failed: {_last_error(log)}")

    # ---- node images -----------------------------------------------------------------------------------------
    def image_for(self, version: Version) -> str:
        """The node image for ``version``: an override, else the catalogue's, pinned by digest."""
        for key in (str(version), version.minor_key):
            if key in self.images:
                return self.images[key]
        chosen = select_images([*self.versions, version], release=self._release)
        return chosen[version.minor_key].image

    def missing_images(self) -> list[str]:
        """The node images of the rehearsal's versions the engine does not hold yet (each would be pulled)."""
        missing = []
        for v in self.versions:
            ref = self.image_for(v)
            try:
                self.nodes.client().images.get(ref)
            except Exception:  # docker.errors.ImageNotFound, or no engine at all
                missing.append(ref)
        return sorted(set(missing))

    def ensure_image(self, ref: str) -> Version:
        """Make ``ref`` present in the engine (pull when missing) and return the Kubernetes version it holds."""
        client = self.nodes.client()
        try:
            client.images.get(ref)
        except Exception:  # docker.errors.ImageNotFound (the SDK is untyped)
            self.progress.update(f"pulling {ref}")
            try:
                client.images.pull(ref)
            except Exception as e:
                raise InfraError(f"node image {ref} is not present and cannot be pulled: {e}") from e
        container = client.containers.create(ref, entrypoint=["true"], network_mode="none")
        try:
            text = read_file(container, "/kind/version").decode().strip()
        finally:
            container.remove(force=True)
        try:
            return Version.parse(text)
        except InputError as e:
            raise InfraError(f"{ref} is not a kind node image (/kind/version reads {text!r})") from e

    def prepare(self, version: Version) -> Version:
        """The kind CLI and the node image of ``version``; the image's own version is what runs."""
        self.binary()
        return self.ensure_image(self.image_for(version))


def _cli_release(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"kind (v\d+\.\d+\.\d+)", out.stdout)
    return m.group(1) if m else None


def _last_error(log: Path) -> str:
    try:
        return last_error_line(log.read_text(errors="replace")) or f"see {log}"
    except OSError:
        return f"see {log}"
