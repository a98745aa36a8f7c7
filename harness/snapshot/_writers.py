"""Who wrote an object, and with which API version: its writers of record.

``metadata.managedFields`` names every field manager that wrote an object, with the API version it used and when.
The control plane's own managers (the kube-apiserver's bootstrap, kube-controller-manager, kube-scheduler, the
kubelet, a cloud controller manager) are not writers of record: they are upgraded with the cluster. Neither is
rehearse itself (it writes rehearsal clusters, not production). Writes of a subresource (``status``, ``scale``)
are not writes of the object as its author wrote it. The kubectl last-applied annotation and the manifest of a Helm
release are the other records of the version an object was written with.

Also here: which objects the control plane wrote by itself (an object whose only managers are the control plane's
is not recreated: the rehearsal cluster's own control plane writes it again).
"""

from __future__ import annotations

from typing import Any

from harness.apply import FIELD_MANAGER
from harness.manifests import LAST_APPLIED
from harness.snapshot._sanitize import applied_api_version

# api_version, kind, namespace, name, source, manager, time
Usage = tuple[str, str, str | None, str, str, str, str]

CONTROL_PLANE_MANAGERS = frozenset({
    "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "cloud-controller-manager",
})
_CONTROL_PLANE_PREFIXES = ("api-priority-and-fairness-config-",)  # the kube-apiserver's APF bootstrap
# the label the EndpointSlice controllers put on the slices they write
_SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
_SLICE_CONTROLLERS = frozenset({"endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io"})


def control_plane_reason(item: dict[str, Any], keeps: str) -> str | None:
    """Why the control plane, not a user, wrote ``item`` (so it is not recreated), or None.

    An object whose managedFields name only control-plane managers was written by the control plane (the
    kube-apiserver's bootstrap RBAC, priority classes and flow control; kube-root-ca.crt, …). With ``keeps ==
    "user-written"`` (Endpoints, EndpointSlices) the EndpointSlice controllers' label counts too.
    """
    meta = item.get("metadata") or {}
    if keeps == "user-written":
        label = (meta.get("labels") or {}).get(_SLICE_MANAGED_BY)
        if label in _SLICE_CONTROLLERS:
            return f"written by {label}"
    fields = meta.get("managedFields")
    if not fields:
        return None
    for entry in fields:  # most objects: the first manager is a user's (one look)
        manager = entry.get("manager") or "" if isinstance(entry, dict) else ""
        if manager not in CONTROL_PLANE_MANAGERS and not manager.startswith(_CONTROL_PLANE_PREFIXES):
            return None
    managers = sorted({str(e.get("manager")) for e in fields})
    return f"written by the control plane ({', '.join(managers)})"


_NOT_WRITERS = CONTROL_PLANE_MANAGERS | {FIELD_MANAGER}


def record_usage(item: dict[str, Any], usage: set[Usage]) -> None:
    """Add the API versions ``item`` was written with to ``usage``: one entry per writer of record in
    managedFields (with its manager and time), and the last-applied annotation's."""
    meta = item.get("metadata") or {}
    kind, name, ns = item.get("kind", ""), meta.get("name", ""), meta.get("namespace")
    applier_time = ""
    for entry in meta.get("managedFields") or ():
        if not isinstance(entry, dict) or entry.get("subresource"):
            continue
        manager, time, api_version = entry.get("manager") or "", entry.get("time") or "", entry.get("apiVersion")
        if manager == "kubectl-client-side-apply" and time > applier_time:
            applier_time = time
        if api_version and manager not in _NOT_WRITERS and not manager.startswith(_CONTROL_PLANE_PREFIXES):
            usage.add((api_version, kind, ns, name, "managedFields", manager, time))
    applied = (meta.get("annotations") or {}).get(LAST_APPLIED)
    if applied and isinstance(applied, str):
        api_version = applied_api_version(applied)
        if api_version:
            usage.add((api_version, kind, ns, name, "last-applied", "kubectl", applier_time))
