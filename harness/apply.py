"""Server-side apply through the Kubernetes DynamicClient, with the apiserver's warnings captured: how the
recreate stage creates objects and how checks re-apply them (as a dry run)."""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

__all__ = ["FIELD_MANAGER", "Applier", "for_apply"]

FIELD_MANAGER = "rehearse"


class Applier:
    """Server-side apply through the DynamicClient, with the apiserver's warnings captured."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        # The client's default discovery cache is a file in /tmp keyed by the server URL: it would outlive an
        # upgrade (same URL, other APIs) and could belong to another cluster that used the same port. Each
        # Applier discovers for itself into its own file.
        self._cache_dir = tempfile.mkdtemp(prefix="rehearse-discovery-")
        weakref.finalize(self, shutil.rmtree, self._cache_dir, True)
        self.dyn = self._client()

    def _client(self) -> Any:
        from kubernetes.dynamic import DynamicClient

        cache = Path(self._cache_dir) / "discovery.json"
        cache.unlink(missing_ok=True)
        return DynamicClient(self.api_client, cache_file=str(cache))  # type: ignore[no-untyped-call]

    def refresh(self) -> None:
        """Forget discovery (after CRDs were added, or after an upgrade)."""
        self.dyn = self._client()

    def resource(self, api_version: str, kind: str) -> Any:
        """The API resource for ``api_version``/``kind``, or None when the server does not serve it."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return None

    def preferred_version(self, api_version: str, kind: str) -> str | None:
        """The version the server prefers for the same group and kind (None when the kind is gone)."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
        try:
            found = self.dyn.resources.search(group=group or None, kind=kind)
        except ResourceNotFoundError:
            return None
        preferred = [r for r in found if getattr(r, "preferred", False) and "/" not in r.name]
        candidates = preferred or [r for r in found if "/" not in r.name]
        return str(candidates[0].group_version) if candidates else None

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False) -> tuple[bool, str, list[str]]:
        """Server-side apply ``obj``; returns (ok, error message, warnings)."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError

        res = self.resource(obj["apiVersion"], obj["kind"])
        if res is None:
            return False, f"the server does not serve {obj['kind']} in {obj['apiVersion']}", []
        meta = obj.get("metadata") or {}
        kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": True, "serialize": False}
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            resp = self.dyn.server_side_apply(
                res, body=obj, name=meta.get("name"), namespace=meta.get("namespace") if res.namespaced else None,
                **kwargs)
        except (DynamicApiError, ApiException) as e:
            return False, _api_error_message(e), []
        warnings = _warnings(getattr(resp, "headers", None))
        return True, "", warnings


def _warnings(headers: Any) -> list[str]:
    if headers is None:
        return []
    values = headers.get_all("Warning") if hasattr(headers, "get_all") else None
    if values is None:
        raw = headers.get("Warning")
        values = [raw] if raw else []
    out = []
    for v in values:
        # RFC 7234 warning: 299 - "text"
        text = v.split(" ", 2)[-1].strip() if v.startswith("299") else v
        out.append(text.strip('"'))
    return out


def _api_error_message(e: Exception) -> str:
    body = getattr(e, "body", None)
    if body:
        try:
            msg = json.loads(body).get("message")
            if msg:
                return str(msg)
        except (ValueError, AttributeError, TypeError):
            pass
    status = getattr(e, "status", "")
    return f"{status} {getattr(e, 'reason', '') or e}".strip()


def for_apply(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy fit for server-side apply (no status, no server-set fields)."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink"):
        meta.pop(k, None)
    out["metadata"] = meta
    return out
