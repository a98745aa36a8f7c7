"""What a running kube-apiserver serves: discovery (``/api``, ``/apis`` and every served group/version: kinds and
resources), the deprecation warnings it sends for each resource, and the feature gates it registers (``/metrics``,
``kubernetes_feature_enabled``, 1.26 and later)."""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.binaries.bare import bare_control_plane
from harness.errors import InfraError
from harness.knowledge.derive.probe import binary_version

_METRIC_GATE = re.compile(r'^kubernetes_feature_enabled\{[^}]*\bname="([^"]+)"', re.MULTILINE)
_WARNING = re.compile(
    r"^(?P<gv>\S+) (?P<kind>\S+) is deprecated in v(?P<dep>\d+\.\d+)\+"
    r"(?:, unavailable in v(?P<rem>\d+\.\d+)\+)?(?:; use (?P<repl>\S+) (?P<rkind>\S+))?")


@dataclass(frozen=True)
class ServedApi:
    """A kind served under one group/version, with the deprecation the apiserver announces for it (if any)."""

    group_version: str
    kind: str
    resource: str
    deprecated_in: str | None = None  # "1.26", from the apiserver's deprecation warning
    removal_announced: str | None = None  # "1.29": "unavailable in v1.29+"
    suggested: str | None = None  # the group/version the warning says to use

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.group_version.rpartition("/")[2]


@dataclass(frozen=True)
class Discovery:
    """What one running kube-apiserver serves."""

    version: str  # "v1.28.15", as the binary reports it
    served: Mapping[tuple[str, str], ServedApi]  # by (group_version, kind)
    gates: frozenset[str]  # every gate registered (empty before 1.26: no kubernetes_feature_enabled metric)


def _request(url: str, token: str, method: str = "GET", body: bytes | None = None) -> tuple[bytes, list[str]]:
    """One request as the admin token; the body and the ``Warning`` headers (also of an error answer)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
            data: bytes = resp.read()
            return data, list(resp.headers.get_all("Warning") or [])
    except urllib.error.HTTPError as e:
        return e.read(), list(e.headers.get_all("Warning") or [])


def _warning_texts(headers: Iterable[str]) -> list[str]:
    """The text of ``299 - "text"`` warning headers."""
    out = []
    for h in headers:
        first, last = h.find('"'), h.rfind('"')
        out.append(h[first + 1:last] if 0 <= first < last else h)
    return out


def read_discovery(url: str, token: str, version: str) -> Discovery:
    """Discovery, deprecation warnings and registered gates of the apiserver at ``url``."""
    def get_json(path: str) -> Any:
        body, _ = _request(url + path, token)
        try:
            return json.loads(body)
        except ValueError as e:
            raise InfraError(f"{url}{path}: not JSON: {body[:200]!r}") from e

    gvs = [str(v) for v in get_json("/api").get("versions", [])]
    for group in get_json("/apis").get("groups", []):
        gvs += [str(v["groupVersion"]) for v in group.get("versions", [])]
    served: dict[tuple[str, str], ServedApi] = {}
    verbs: dict[tuple[str, str], list[str]] = {}
    for gv in gvs:
        base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        for r in sorted(get_json(base).get("resources", []), key=lambda r: str(r.get("name", ""))):
            name, kind = str(r.get("name", "")), str(r.get("kind", ""))
            if not name or "/" in name or not kind or (gv, kind) in served:
                continue  # subresources, and a kind served by two resources (kept once, by name)
            served[(gv, kind)] = ServedApi(gv, kind, name)
            verbs[(gv, kind)] = [str(v) for v in r.get("verbs", [])]
    for key, api in list(served.items()):
        base = "/api/v1" if api.group_version == "v1" else f"/apis/{api.group_version}"
        if "list" in verbs[key]:
            _, warnings = _request(f"{url}{base}/{api.resource}?limit=1", token)
        elif "create" in verbs[key]:  # reviews: a dry-run create of nothing still carries the warning
            _, warnings = _request(f"{url}{base}/{api.resource}?dryRun=All", token, "POST", b"{}")
        else:
            continue
        for text in _warning_texts(warnings):
            m = _WARNING.match(text)
            if m and m.group("gv") == api.group_version and m.group("kind") == api.kind:
                served[key] = ServedApi(api.group_version, api.kind, api.resource, m.group("dep"), m.group("rem"),
                                        m.group("repl"))
    metrics, _ = _request(url + "/metrics", token)
    gates = frozenset(_METRIC_GATE.findall(metrics.decode(errors="replace")))
    return Discovery(version=version, served=MappingProxyType(served), gates=gates)


def discover(binaries: Path, workdir: Path) -> Discovery:
    """Start the kube-apiserver (and etcd) in ``binaries`` on loopback, read :func:`read_discovery`, stop it."""
    version = binary_version(binaries / "kube-apiserver")
    with bare_control_plane(binaries, workdir) as cp:
        return read_discovery(cp.url, cp.token, version)
