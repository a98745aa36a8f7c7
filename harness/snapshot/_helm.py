"""Helm v3 release storage (the Secret and ConfigMap drivers): which objects to read, and their decoding into
:class:`HelmRelease`.

What Helm 3 writes (``pkg/storage/driver/{secrets,cfgmaps,util}.go``), one object per revision:

* name ``sh.helm.release.v1.<release>.v<revision>`` in the release's namespace;
* labels ``owner=helm``, ``name=<release>``, ``status=<deployed|superseded|failed|uninstalled|pending-…>``,
  ``version=<revision>`` (plus ``modifiedAt``, and ``createdAt`` on Secrets);
* Secret driver: ``type: helm.sh/release.v1``, ``data.release`` = base64(base64(gzip(JSON))) as read through the
  API (Helm stores base64(gzip(JSON)) as the secret's bytes, and the API base64-encodes secret bytes once more);
* ConfigMap driver: ``data.release`` = base64(gzip(JSON));
* gzip is recognised by its magic bytes ``1f 8b 08``; Helm reads uncompressed JSON too, and so do we.

The JSON is Helm's ``release.Release``::

    {"name", "namespace", "version": <revision>, "manifest": "<rendered YAML>", "config": {<user values>},
     "info": {"status", "description", "first_deployed", "last_deployed", "notes"},
     "chart": {"metadata": {"name", "version", "appVersion", "kubeVersion", "apiVersion", …},
               "templates": […], "values": {<chart defaults>}, …},
     "hooks": [{"name", "kind", "path", "manifest", "events": […], …}]}

Of each release only one revision is kept: the highest with status ``deployed``; a release without any deployed
revision (a failed first install, a pending upgrade) is kept at its highest revision, whatever its status; a
release whose highest revision is ``uninstalled`` (``helm uninstall --keep-history``) is left out.

:class:`HelmStorage` reads them with as little transfer as the two drivers allow.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.snapshot._reader import JSON, METADATA_ONLY, Handle, ListFailed, Lists, Result
from harness.snapshot._sanitize import mask_text, mask_values, redact_manifest
from harness.snapshot.model import HelmRelease

GZIP_MAGIC = b"\x1f\x8b\x08"
STORAGE_PREFIX = "sh.helm.release.v1."


class HelmDecodeError(ValueError):
    """A storage object that is not a readable Helm v3 release."""


@dataclass(frozen=True)
class Revision:
    """One storage object, known from its labels alone."""

    namespace: str
    release: str
    revision: int
    status: str
    object_name: str


def revision_of(meta: dict[str, Any]) -> Revision | None:
    """The release revision a storage object's metadata describes, or ``None`` if it is not Helm v3 storage."""
    labels = meta.get("labels") or {}
    name = str(meta.get("name", ""))
    if labels.get("owner") != "helm" or not name.startswith(STORAGE_PREFIX):
        return None
    try:
        revision = int(labels.get("version", ""))
    except ValueError:
        return None
    release = str(labels.get("name") or name[len(STORAGE_PREFIX):].rsplit(".v", 1)[0])
    return Revision(str(meta.get("namespace", "")), release, revision, str(labels.get("status", "")), name)


def choose(revisions: Iterable[Revision]) -> list[Revision]:
    """Per release: the highest deployed revision, else the highest one unless the release was uninstalled."""
    by_release: dict[tuple[str, str], list[Revision]] = {}
    for r in revisions:
        by_release.setdefault((r.namespace, r.release), []).append(r)
    chosen = []
    for key in sorted(by_release):
        revs = sorted(by_release[key], key=lambda r: r.revision)
        deployed = [r for r in revs if r.status == "deployed"]
        if deployed:
            chosen.append(deployed[-1])
        elif revs[-1].status != "uninstalled":
            chosen.append(revs[-1])
    return chosen


def decode(data: str, storage: str) -> dict[str, Any]:
    """The release JSON inside a storage object's ``data.release`` (``storage`` is "secret" or "configmap")."""
    try:
        raw = base64.b64decode(data, validate=False)
        if storage == "secret":
            raw = base64.b64decode(raw, validate=False)
        if raw[:3] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
        release = json.loads(raw)
    except (binascii.Error, OSError, EOFError, zlib.error, ValueError) as e:
        raise HelmDecodeError(f"not a Helm v3 release ({type(e).__name__}: {e})") from None
    if not isinstance(release, dict) or not isinstance(release.get("chart"), dict):
        raise HelmDecodeError("not a Helm v3 release (no chart in the decoded JSON)")
    return release


def to_model(release: dict[str, Any], storage: str) -> HelmRelease:
    """A decoded release as the snapshot keeps it: user values masked, Secrets in the manifest redacted."""
    chart = release.get("chart") or {}
    meta = chart.get("metadata") or {}
    info = release.get("info") or {}
    config = release.get("config") or {}
    where = f"HelmRelease {release.get('namespace', '')}/{release.get('name', '')}"
    return HelmRelease(
        name=str(release.get("name", "")),
        namespace=str(release.get("namespace", "")),
        chart=str(meta.get("name", "")),
        chart_version=str(meta.get("version", "")),
        app_version=str(meta.get("appVersion", "") or ""),
        status=str(info.get("status", "")),
        revision=int(release.get("version", 0) or 0),
        storage=storage,
        values=mask_values(config, where) if isinstance(config, dict) else {},
        manifest=redact_manifest(str(release.get("manifest", "") or ""), f"{where} manifest"),
        kube_version=str(meta.get("kubeVersion", "") or ""),
        description=mask_text(str(info.get("description", "") or "")),
    )


def hook_manifests(release: dict[str, Any]) -> list[str]:
    """The manifests of a release's hooks (Jobs and the like Helm runs around install and upgrade)."""
    return [str(h.get("manifest", "")) for h in release.get("hooks") or [] if isinstance(h, dict)]


# -- reading the storage ----------------------------------------------------------------------------------------


class HelmStorage:
    """Helm storage, read with as little transfer as the two drivers allow.

    Secrets (the default driver, one per revision, often large): a metadata-only list (``owner=helm``) picks the
    revisions, then only those are listed with their data: one list per namespace holding a chosen deployed
    revision (``owner=helm,status=deployed``), one per release without a deployed revision. ConfigMaps: the
    ConfigMap list the snapshot takes anyway holds them (one scan of ConfigMaps instead of three).
    """

    def __init__(self, lists: Lists) -> None:
        self.lists = lists
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.blocked: set[str] = set()
        self.manifests: list[tuple[str, str]] = []

    def submit(self) -> None:
        self.lists.submit("helm secrets", ["/api/v1/secrets"], (("labelSelector", "owner=helm"),), METADATA_ONLY,
                          self._on_metadata("secret"))

    def _from_configmaps(self, configmaps: list[dict[str, Any]] | ListFailed) -> None:
        """Helm's ConfigMap storage, out of the ConfigMap list."""
        if isinstance(configmaps, ListFailed):
            self._blocked("configmap", configmaps)
            return
        for item in configmaps:
            labels = (item.get("metadata") or {}).get("labels") or {}
            if labels.get("owner") == "helm":
                self.items.append(("configmap", item))

    def _blocked(self, storage: str, e: ListFailed) -> None:
        if storage not in self.blocked:
            self.blocked.add(storage)
            self.lists.unreadable(f"helm releases stored in {storage}s", e)

    def _on_metadata(self, storage: str) -> Handle:
        def handle(result: Result) -> None:
            if isinstance(result, ListFailed):
                self._blocked(storage, result)
                return
            revisions = [r for r in (revision_of(i.get("metadata") or {}) for i in result) if r is not None]
            chosen = choose(revisions)
            lists = {(r.namespace, "owner=helm,status=deployed") for r in chosen if r.status == "deployed"}
            lists |= {(r.namespace, f"owner=helm,name={r.release},version={r.revision}")
                      for r in chosen if r.status != "deployed"}
            for namespace, selector in sorted(lists):
                self.lists.submit(f"helm {storage}s in {namespace}", [f"/api/v1/namespaces/{namespace}/{storage}s"],
                                  (("labelSelector", selector),), JSON, self._on_data(storage))
        return handle

    def _on_data(self, storage: str) -> Handle:
        def handle(result: Result) -> None:
            if isinstance(result, ListFailed):
                self._blocked(storage, result)
                return
            self.items.extend((storage, item) for item in result)
        return handle

    def releases(self, configmaps: list[dict[str, Any]] | ListFailed) -> list[HelmRelease]:
        """Decode the chosen revisions (highest deployed per release, else highest); ``configmaps`` is the
        ConfigMap list (or how it failed)."""
        self._from_configmaps(configmaps)
        objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        revisions = []
        for storage, item in self.items:
            rev = revision_of(item.get("metadata") or {})
            if rev is not None:
                objects[(storage, rev.namespace, rev.object_name)] = item
                revisions.append((storage, rev))
        out: list[HelmRelease] = []
        for storage in ("secret", "configmap"):
            for rev in choose(r for s, r in revisions if s == storage):
                item = objects[(storage, rev.namespace, rev.object_name)]
                data = (item.get("data") or {}).get("release")
                where = f"helm release {rev.namespace}/{rev.release} revision {rev.revision}"
                if not isinstance(data, str):
                    self.lists.not_readable.append(f"{where} (no release data)")
                    continue
                try:
                    decoded = decode(data, storage)
                except HelmDecodeError as e:
                    self.lists.not_readable.append(f"{where} ({e})")
                    continue
                out.append(to_model(decoded, storage))
                ns = str(decoded.get("namespace") or rev.namespace)
                self.manifests.append((ns, str(decoded.get("manifest") or "")))
                self.manifests.extend((ns, m) for m in hook_manifests(decoded))
        return out
