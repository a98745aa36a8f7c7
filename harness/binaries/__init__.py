"""Kubernetes, etcd, kwok, kind and helm binaries: from the cache, an official download, or a Go build.

Public surface: :func:`ensure`, :class:`BinarySet`, :data:`KUBERNETES_COMPONENTS`, :data:`DEFAULT_COMPONENTS`.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from harness.binaries import _cache, _download, _gobuild
from harness.errors import BinaryUnavailable, InputError
from harness.files import cache_root
from harness.progress import NullProgress, Progress
from harness.versions import Catalogue, Version, catalogue

SOURCES = ("cache", "download", "build")
_MAX_STEP_DOWN = 8


@functools.cache
def _sources() -> dict[str, Any]:
    text = resources.files("harness.data").joinpath("sources.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


KUBERNETES_COMPONENTS: tuple[str, ...] = tuple(_sources()["kubernetes"]["components"])
TOOL_BINARIES: dict[str, str] = {b: tool for tool, spec in _sources()["tools"].items() for b in spec["binaries"]}
ALL_COMPONENTS: tuple[str, ...] = KUBERNETES_COMPONENTS + tuple(TOOL_BINARIES)
DEFAULT_COMPONENTS: tuple[str, ...] = (
    "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kwok", "kwokctl",
)


@dataclass(frozen=True)
class BinarySet:
    """Where the binaries of one Kubernetes version are, and which patch they really are."""

    directory: Path
    requested: Version
    version: Version
    components: tuple[str, ...]
    substitution: str | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.directory / name


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _mirror(spec: dict[str, Any]) -> str:
    return os.environ.get(str(spec["mirror_env"]), str(spec["base"])).rstrip("/")


def _download_one(spec: dict[str, Any], version: str, name: str, dest: Path, progress: Progress) -> None:
    """Fetch one binary (or an archive holding it) and verify it; raise DownloadUnavailable to fall through."""
    fmt = {"base": _mirror(spec), "version": version, "arch": _arch(), "name": name}
    url = str(spec["url"]).format(**fmt)
    sha_url = str(spec["sha256"]).format(url=url, **fmt)
    progress.update(f"downloading {url}")
    if "archive_member" in spec:
        archive = dest.with_name(dest.name + ".archive")
        _download.fetch(url, sha_url, archive, progress)
        _download.extract_member(archive, str(spec["archive_member"]).format(**fmt), dest)
        archive.unlink()
    else:
        _download.fetch(url, sha_url, dest, progress)


def _substitutions_path(root: Path) -> Path:
    return root / "substitutions.json"


def _allowed(sources: Iterable[str]) -> set[str]:
    wanted = set(sources)
    bad = wanted - set(SOURCES)
    if bad:
        raise InputError(f"unknown binary source {sorted(bad)[0]!r}: choose from {', '.join(SOURCES)}")
    return wanted


def _ensure_kubernetes(
    root: Path, version: Version, names: Sequence[str], sources: set[str], cat: Catalogue, progress: Progress
) -> tuple[Version, str | None, dict[str, str]]:
    """Make ``names`` of ``version`` (or the newest buildable patch below it) present; return what was used."""
    subs = _cache.read_json(_substitutions_path(root)).get("kubernetes", {})
    sub = subs.get(str(version))
    used = Version.parse(sub["used"]) if sub else version
    reason = sub.get("reason") if sub else None
    vdir = root / "kubernetes" / used.tag
    if all((vdir / n).is_file() for n in names):
        return used, reason, {n: "cache" for n in names}
    if "download" not in sources and "build" not in sources:
        missing = [n for n in names if not (vdir / n).is_file()]
        raise BinaryUnavailable(f"{', '.join(missing)} {used} not in the cache and no other source allowed")

    with _cache.locked(root, f"kubernetes-{version.tag}"):
        origin: dict[str, str] = {n: "cache" for n in names if (vdir / n).is_file()}
        missing = [n for n in names if n not in origin]
        _cache.remove_stale_partials(vdir)
        if missing and "download" in sources and sub is None:
            spec = _sources()["kubernetes"]["download"]
            try:
                with _cache.staging_dir(vdir) as tmp:
                    for n in missing:
                        progress.step(f"downloading {n} {version}")
                        _download_one(spec, str(version), n, Path(tmp) / n, progress)
                    for n in missing:
                        _cache.install_file(Path(tmp) / n, vdir / n)
                        origin[n] = "download"
                    _record(vdir, missing, "download", 0.0)
                return version, None, origin
            except _download.DownloadUnavailable as e:
                progress.update(f"no download ({e}); building from Go modules")
        if missing and "build" not in sources:
            raise BinaryUnavailable(f"cannot download {', '.join(missing)} {version} and building was not allowed")
        if missing and _gobuild.go_binary() is None:
            raise BinaryUnavailable(
                f"cannot download Kubernetes {version} and no Go toolchain to build it: "
                "install Go (https://go.dev/dl) or allow downloads from dl.k8s.io"
            )
        if not missing:
            return used, reason, origin
        candidates = [used, *[p for p in cat.patches_below(used)][:_MAX_STEP_DOWN]]
        refusals: list[str] = []
        for cand in candidates:
            cdir = root / "kubernetes" / cand.tag
            todo = [n for n in names if not (cdir / n).is_file()]
            if todo:
                progress.step(f"building {', '.join(todo)} {cand} from Go modules")
                _cache.remove_stale_partials(cdir)
                try:
                    with _cache.staging_dir(cdir) as tmp:
                        t0 = time.monotonic()
                        _gobuild.build_kubernetes(
                            cand.tag, todo, Path(tmp), root / "builds" / f"kubernetes-{cand.tag}", progress
                        )
                        for n in todo:
                            _cache.install_file(Path(tmp) / n, cdir / n)
                        _record(cdir, todo, "build", time.monotonic() - t0)
                except _gobuild.ModulesUnavailable as e:
                    refusals.append(f"{cand}: {e}")
                    progress.note(f"Kubernetes {cand} cannot be built here ({e}); trying an older patch")
                    continue
            origin = {n: ("build" if n in todo else "cache") for n in names}
            if cand != version and refusals:  # a new step down (else ``used`` was the recorded one, with its reason)
                reason = f"{version} cannot be built here ({refusals[0].split(': ', 1)[1]}); using {cand}"
                progress.note(f"built Kubernetes {cand} instead of {version}: {refusals[0].split(': ', 1)[1]}")
                data = _cache.read_json(_substitutions_path(root))
                data.setdefault("kubernetes", {})[str(version)] = {"used": str(cand), "reason": reason}
                _cache.write_json(_substitutions_path(root), data)
            return cand, reason, origin
        raise BinaryUnavailable(
            f"no patch of {version.minor_key} from {version} down to {candidates[-1]} can be built here: "
            + "; ".join(refusals)
        )


def _ensure_tool(root: Path, tool: str, sources: set[str], progress: Progress,
                 release: str | None = None) -> tuple[Path, str]:
    """Make one tool (etcd, kwok, kind, helm) present at its pinned version (or ``release``, ``0.30.0``); return
    its directory."""
    spec = _sources()["tools"][tool]
    version = release or str(spec["version"])
    tdir = root / "tools" / tool / f"v{version}"
    names = [str(b) for b in spec["binaries"]]
    if all((tdir / b).is_file() for b in names):
        return tdir, "cache"
    with _cache.locked(root, f"{tool}-v{version}"):
        if all((tdir / b).is_file() for b in names):
            return tdir, "cache"
        _cache.remove_stale_partials(tdir)
        if "download" in sources:
            try:
                with _cache.staging_dir(tdir) as tmp:
                    for b in names:
                        progress.step(f"downloading {b} v{version}")
                        _download_one(spec["download"], version, b, Path(tmp) / b, progress)
                    for b in names:
                        _cache.install_file(Path(tmp) / b, tdir / b)
                return tdir, "download"
            except _download.DownloadUnavailable as e:
                progress.update(f"no download ({e}); building from Go modules")
        if "build" not in sources or _gobuild.go_binary() is None:
            raise BinaryUnavailable(f"cannot download {tool} v{version} and cannot build it (needs Go and 'build')")
        build = spec["build"]
        packages = [str(build["package"]).format(name=b) for b in names]
        progress.step(f"building {', '.join(names)} v{version} from Go modules")
        t0 = time.monotonic()
        with _cache.staging_dir(tdir) as tmp:
            _gobuild.build_tool(
                str(build["module"]), f"v{version}", packages, Path(tmp), root / "builds" / f"{tool}-v{version}",
                progress, str(build.get("ldflags", "")).format(version=version),
            )
            for b, pkg in zip(names, packages, strict=True):
                built = Path(tmp) / _built_name(pkg)
                _cache.install_file(built, tdir / b)
        _record(tdir, names, "build", time.monotonic() - t0)
        return tdir, "build"


def _record(directory: Path, names: Sequence[str], source: str, seconds: float) -> None:
    """Remember where binaries came from and how long it took (``make bench`` reports cold build times)."""
    path = directory / ".manifest.json"
    data = _cache.read_json(path)
    for n in names:
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data[n] = {"source": source, "seconds": round(seconds, 1), "at": at}
    _cache.write_json(path, data)


def build_records(directory: Path) -> dict[str, Any]:
    """What :func:`_record` kept for a version directory."""
    return _cache.read_json(directory / ".manifest.json")


def _built_name(package: str) -> str:
    """The file name ``go build -o DIR/`` gives a main package (a ``/vN`` suffix is skipped)."""
    parts = package.split("/")
    if len(parts) > 1 and parts[-1].startswith("v") and parts[-1][1:].isdigit():
        return parts[-2]
    return parts[-1]


def ensure_tool(tool: str, release: str | None = None, *, sources: Iterable[str] = SOURCES,
                cache_dir: Path | None = None, progress: Progress | None = None) -> Path:
    """The directory holding ``tool`` (etcd, kwok, kind, helm) at ``release`` (default: the pinned version in
    ``harness/data/sources.yaml``): from the cache, a sha256-verified download, or a Go build."""
    if tool not in _sources()["tools"]:
        raise InputError(f"unknown tool {tool!r}: choose from {', '.join(sorted(_sources()['tools']))}")
    if release is not None and not re.fullmatch(r"\d+\.\d+\.\d+", release):
        raise InputError(f"bad {tool} release {release!r}: expected X.Y.Z")
    root = cache_dir or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    directory, _ = _ensure_tool(root, tool, _allowed(sources), progress or NullProgress(), release)
    return directory


def ensure(
    version: Version,
    components: Sequence[str] = DEFAULT_COMPONENTS,
    *,
    sources: Iterable[str] = SOURCES,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    cat: Catalogue | None = None,
) -> BinarySet:
    """Make the binaries of ``version`` available and return where they are.

    Order of sources: the cache, an official download (sha256-verified), a build from Go modules. When the
    exact patch cannot be built, the newest buildable patch of the same minor is used and reported.
    """
    progress = progress or NullProgress()
    allowed = _allowed(sources)
    unknown = [c for c in components if c not in ALL_COMPONENTS]
    if unknown:
        raise InputError(f"unknown component {unknown[0]!r}: choose from {', '.join(ALL_COMPONENTS)}")
    root = cache_dir or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    k8s = [c for c in components if c in KUBERNETES_COMPONENTS]
    start = time.monotonic()
    used, reason, origin = _ensure_kubernetes(root, version, k8s, allowed, cat or catalogue(), progress)
    vdir = root / "kubernetes" / used.tag
    vdir.mkdir(parents=True, exist_ok=True)
    for tool in sorted({TOOL_BINARIES[c] for c in components if c in TOOL_BINARIES}):
        tdir, how = _ensure_tool(root, tool, allowed, progress)
        for b in _sources()["tools"][tool]["binaries"]:
            if b in components:
                _cache.link(tdir / b, vdir / b)
                origin[b] = how
    progress.update(f"binaries ready in {time.monotonic() - start:.1f}s")
    return BinarySet(
        directory=vdir, requested=version, version=used, components=tuple(components), substitution=reason,
        sources=origin,
    )


def clear(cache_dir: Path | None = None) -> None:
    """Remove the whole binary cache."""
    shutil.rmtree(cache_dir or cache_root(), ignore_errors=True)


def tool_version(tool: str) -> str:
    """The release of ``tool`` (etcd, kwok, kind, helm) pinned in ``harness/data/sources.yaml`` (``0.25.0``)."""
    return str(_sources()["tools"][tool]["version"])


link = _cache.link
locked = _cache.locked
