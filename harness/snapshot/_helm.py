"""Decode Helm v3 release storage (the Secret and ConfigMap drivers) into :class:`HelmRelease`.

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

from harness.snapshot._sanitize import mask_values, redact_manifest
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
    return HelmRelease(
        name=str(release.get("name", "")),
        namespace=str(release.get("namespace", "")),
        chart=str(meta.get("name", "")),
        chart_version=str(meta.get("version", "")),
        app_version=str(meta.get("appVersion", "") or ""),
        status=str(info.get("status", "")),
        revision=int(release.get("version", 0) or 0),
        storage=storage,
        values=mask_values(config) if isinstance(config, dict) else {},
        manifest=redact_manifest(str(release.get("manifest", "") or "")),
        kube_version=str(meta.get("kubeVersion", "") or ""),
        description=str(info.get("description", "") or ""),
    )


def hook_manifests(release: dict[str, Any]) -> list[str]:
    """The manifests of a release's hooks (Jobs and the like Helm runs around install and upgrade)."""
    return [str(h.get("manifest", "")) for h in release.get("hooks") or [] if isinstance(h, dict)]
