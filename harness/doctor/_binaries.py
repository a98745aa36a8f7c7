"""The binary sets a rehearsal needs: cached, downloadable (one HEAD at the official site or the configured mirror)
or to be built with Go; and the disk space they take where the cache lives."""

from __future__ import annotations

import concurrent.futures as cf
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http.client import HTTPMessage
from pathlib import Path
from typing import IO, Any

from harness import binaries
from harness.doctor._rows import Row, estimates, minutes, size
from harness.errors import BinaryUnavailable
from harness.files import cache_root
from harness.providers import Choice
from harness.versions import Version

PROBE_TIMEOUT = 2.0  # seconds for one download HEAD
HOST_TOOLS = ("helm",)  # a rehearsal lists the recreated Helm releases with the real helm, whatever the provider


@dataclass(frozen=True)
class _Go:
    path: str | None
    version: str = ""
    cache: Path | None = None  # GOCACHE: where a build's objects go


def probe_go() -> _Go:
    path = shutil.which("go")
    if path is None:
        return _Go(None)
    try:
        out = subprocess.run([path, "env", "GOVERSION", "GOCACHE"], capture_output=True, text=True, timeout=10,
                             check=False).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        out = []
    return _Go(path, out[0] if out else "?", Path(out[1]) if len(out) > 1 and out[1] else None)


@dataclass
class _Need:
    """One binary set under the cache: the control plane of one version, or one tool at its release."""

    label: str  # "Kubernetes 1.27.16", "etcd 3.5.21"
    key: str  # "kubernetes" or the tool: the key of the estimates and of the download configuration
    version: str  # what a download names
    command: str  # the command that fetches it ahead of the rehearsal
    required: bool = True  # the chosen provider needs it (False: shown for information, never probed)
    cached: str | None = None  # where it is, when cached
    note: str = ""
    url: str = ""
    mirror_env: str = ""
    download: str | None = "not probed"  # None: the download site answered; else why not

    def state(self, go: _Go) -> str:
        if self.cached is not None:
            return "cached"
        if self.download is None:
            return "download"
        if go.path is not None:
            return "build"
        return "missing" if self.required else "no"


def _release_url(key: str, version: str, name: str) -> tuple[str, str]:
    """(URL, mirror variable) of one official download as ``harness/data/sources.yaml`` configures it, with the
    mirror variable honoured: what :func:`harness.binaries.ensure` would fetch."""
    from harness.binaries import _arch, _mirror, _sources  # the download configuration (no public accessor yet)

    section = _sources()["kubernetes"] if key == "kubernetes" else _sources()["tools"][key]
    spec = section["download"]
    url = str(spec["url"]).format(base=_mirror(spec), version=version, arch=_arch(), name=name)
    return url, str(spec["mirror_env"])


def _tool_need(tool: str, release: str, minor: str, required: bool) -> _Need:
    """``tool`` at ``release`` (``0.25.0``), cached where :func:`harness.binaries.ensure_tool` keeps it."""
    names = [b for b, t in binaries.TOOL_BINARIES.items() if t == tool]
    directory = cache_root() / "tools" / tool / f"v{release}"
    cached = str(directory) if all((directory / b).is_file() for b in names) else None
    if cached is None and tool == "kind" and (found := shutil.which("kind")):  # the provider takes it from PATH too
        try:
            out = subprocess.run([found, "version"], capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        cached = found if f"kind v{release} " in f"{out} " else None
    command = (f"rehearse binaries ensure --version {minor} --components {','.join(names)}"
               if release == binaries.tool_version(tool) else f"rehearse run --provider {tool}")
    need = _Need(f"{tool} {release}", tool, release, command, required, cached)
    need.url, need.mirror_env = _release_url(tool, release, names[0])
    return need


def locate(choice: Choice, versions: Sequence[Version]) -> list[_Need]:
    """The binary sets the chosen provider needs, each looked up in the cache and, when absent, probed for a
    download: the control plane of every version, etcd and kwok (local), or the kind CLI (kind; shown for
    information where a kind release covers the versions), and helm."""
    minor = versions[0].minor_key
    needs: list[_Need] = []
    local = choice.name == "local"
    if local:
        k8s = [c for c in binaries.DEFAULT_COMPONENTS if c in binaries.KUBERNETES_COMPONENTS]
        for v in versions:
            need = _Need(f"Kubernetes {v}", "kubernetes", str(v), f"rehearse binaries ensure --version {v}")
            found = _cached_kubernetes(v, k8s)
            if found is not None:
                need.cached = str(found.directory)
                need.note = f" ({found.substitution})" if found.substitution else ""
            need.url, need.mirror_env = _release_url("kubernetes", str(v), k8s[0])
            needs.append(need)
        tools = sorted({binaries.TOOL_BINARIES[c] for c in binaries.DEFAULT_COMPONENTS
                        if c in binaries.TOOL_BINARIES})
        needs += [_tool_need(t, binaries.tool_version(t), minor, True) for t in tools]
    if choice.kind_release is not None:
        needs.append(_tool_need("kind", choice.kind_release.lstrip("v"), minor, not local))
    needs += [_tool_need(t, binaries.tool_version(t), minor, True) for t in HOST_TOOLS]
    _probe_downloads([n for n in needs if n.required and n.cached is None])
    return needs


def _cached_kubernetes(version: Version, names: Sequence[str]) -> binaries.BinarySet | None:
    """The cached binaries of ``version`` (a recorded substitution honoured), or None; reads only."""
    if not cache_root().is_dir():
        return None
    try:
        return binaries.ensure(version, names, sources=("cache",))
    except BinaryUnavailable:
        return None


class _KeepHead(urllib.request.HTTPRedirectHandler):
    """Follow redirects with HEAD: urllib's handler turns the redirected request into a GET (of the whole binary,
    at dl.k8s.io's CDN and GitHub's object store)."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: HTTPMessage, newurl: str) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.method = req.get_method()
        return new


def _head(url: str) -> str | None:
    """None when a HEAD of ``url`` is answered with success (redirects followed), else why not."""
    opener = urllib.request.build_opener(_KeepHead)
    try:
        with opener.open(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT):
            return None
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return str(getattr(reason, "strerror", None) or reason)


def _probe_downloads(needs: Sequence[_Need]) -> None:
    if not needs:
        return
    with cf.ThreadPoolExecutor(max_workers=min(8, len(needs))) as pool:
        for need, why in zip(needs, pool.map(_head, [n.url for n in needs]), strict=True):
            need.download = why


def go_row(go: _Go, needs: Sequence[_Need]) -> Row:
    unmet = [n for n in needs if n.required and n.cached is None and n.download is not None]
    if go.path is not None:
        builds = f"{len(unmet)} set(s) to build" if unmet else "no build needed"
        return Row("go", "ok", f"{go.version} ({go.path}; {builds})", data={"version": go.version})
    if unmet:
        mirrors = " ".join(sorted({f"{n.mirror_env}=URL" for n in unmet}))
        return Row("go", "missing", f"not installed, and {', '.join(n.label for n in unmet)} can neither be "
                   "found in the cache nor downloaded",
                   f"install Go (https://go.dev/dl), or point at a mirror that has them: `export {mirrors}`")
    return Row("go", "no", "not installed (not needed: everything is cached or downloadable)")


def need_row(need: _Need, go: _Go, cores: int) -> Row:
    state = need.state(go)
    data: dict[str, Any] = {"key": need.key, "version": need.version, "required": need.required, "url": need.url}
    if state == "cached":
        return Row(need.label, state, f"{need.cached}{need.note}", data=data)
    site = urllib.parse.urlsplit(need.url).netloc or need.url
    if state == "download":
        return Row(need.label, state, f"downloadable from {site} ({need.mirror_env} names a mirror)", data=data)
    if not need.required:
        return Row(need.label, "no", "not cached (fetched when that provider runs)", data=data)
    data["download"] = need.download
    why = f"no download from {site} ({need.download})"
    if state == "build":
        seconds = estimates().build_time(need.key, cores)
        data["build_seconds"] = round(seconds)
        return Row(need.label, state, f"{why}; Go build {minutes(seconds)} on {cores} core(s), cold",
                   f"`{need.command}` builds it ahead of the rehearsal", data)
    return Row(need.label, state, why,
               f"install Go (https://go.dev/dl) or `export {need.mirror_env}=URL`, then `{need.command}`", data)


def _existing(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


def disk_rows(needs: Sequence[_Need], go: _Go) -> list[Row]:
    """Free space where the cache lives (and the Go build cache, when a build is due and it is elsewhere)."""
    est = estimates()
    fetch = [n for n in needs if n.required and n.cached is None]
    builds = [n for n in fetch if n.download is not None and go.path is not None]
    places: dict[int, tuple[Path, float, list[str]]] = {}

    def add(path: Path, mb: float, what: str) -> None:
        at = _existing(path)
        dev = at.stat().st_dev
        where, total, whats = places.get(dev, (path, 0.0, []))
        places[dev] = (where, total + mb, [*whats, what] if mb else whats)

    add(cache_root(), sum(est.disk_mb[n.key] for n in fetch), "binaries")
    if builds:
        add(go.cache or cache_root(), sum(est.build_disk_mb[n.key] for n in builds), "Go build caches")
    rows = []
    for where, mb, whats in places.values():
        free = shutil.disk_usage(_existing(where)).free / 1e6
        data = {"path": str(where), "free_mb": round(free), "needed_mb": round(mb)}
        needs_text = f"needs ~{size(mb)} ({', '.join(whats)})" if mb else "nothing to fetch"
        detail = f"{size(free)} free at {where}; {needs_text}"
        if free >= mb:
            rows.append(Row("disk", "ok", detail, data=data))
        else:
            var = "REHEARSE_CACHE_DIR" if "binaries" in whats else "GOCACHE"
            rows.append(Row("disk", "missing", detail, f"free {size(mb - free)} there, or move it to a larger disk: "
                            f"`export {var}=/path/with/space`", data))
    return rows
