"""Make listed objects safe to write and fit to recreate.

Two jobs, applied to every object before it reaches the snapshot:

* **Redaction** (:func:`redact`, by shape and by place: :mod:`._redact` and :mod:`._redact_places`): Secrets keep
  key names only (annotation ``rehearse.dev/redacted``); values under credential-like names (env, ConfigMap keys,
  flags, any field of any object, Helm and GitOps values), credential-shaped values (URL user info, DSN passwords,
  JWTs, private keys, cloud keys, bearer tokens) and random-looking ones are masked, inside embedded documents
  (ConfigMap files, values strings) and embedded manifests (``last-applied-configuration``) too. Helm values are
  masked with :func:`mask_values`, rendered Helm manifests with :func:`redact_manifest`.
* **Sanitizing** (:func:`sanitize`): drop what the server owns (status, uid, resourceVersion, managedFields,
  creationTimestamp, generation, selfLink, cluster IPs, node bindings, controller-set labels) and skip objects
  that are not ours to recreate (:func:`skip_reason`: system objects, Helm storage, service-account tokens,
  children managed by an owner).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from harness.snapshot._redact import CREDENTIAL, REDACTED, classify, current, shapes
from harness.snapshot._redact_places import (
    LOADER,
    NORMAL,
    REDACTED_ANNOTATION,
    Redactor,
    describe,
    dump_yaml,
    is_builtin,
    redact_body,
    redact_object,
)

__all__ = ["HELM_SECRET_TYPE", "OWNED", "REDACTED", "REDACTED_ANNOTATION", "applied_api_version", "is_credential_key",
           "mask_text", "mask_values", "redact", "redact_manifest", "sanitize", "skip_reason"]

OWNED = "managed by"  # the skip reason of children an owner (controller) recreates by itself
_APPLIED_API_VERSION = re.compile(r'\{\s*"apiVersion"\s*:\s*"([^"\\]*)"')

HELM_SECRET_TYPE = "helm.sh/release.v1"
_SKIPPED_SECRET_TYPES = {
    "kubernetes.io/service-account-token": "service-account token",
    HELM_SECRET_TYPE: "Helm release storage",
    "bootstrap.kubernetes.io/token": "bootstrap token",
}
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})
_SYSTEM_CONFIGMAPS = {
    (None, "kube-root-ca.crt"),
    ("kube-system", "extension-apiserver-authentication"),
    ("kube-system", "kubeadm-config"),
    ("kube-system", "kubelet-config"),
    ("kube-system", "kube-apiserver-legacy-service-account-token-tracking"),
    ("kube-public", "cluster-info"),
}
_SERVER_METADATA = (
    "uid", "resourceVersion", "managedFields", "creationTimestamp", "generation", "selfLink",
    "deletionTimestamp", "deletionGracePeriodSeconds", "generateName",
)
_SERVER_ANNOTATIONS = frozenset({
    "deployment.kubernetes.io/revision",
    "deprecated.daemonset.template.generation",
    "rbac.authorization.kubernetes.io/autoupdate",
})
_JOB_CONTROLLER_LABELS = frozenset({
    "controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name",
})


def is_credential_key(key: str) -> bool:
    """Whether a key or variable name (env, ConfigMap key, flag) looks like it holds a credential."""
    return classify(key, True, current().policy) == CREDENTIAL


def mask_text(text: str) -> str:
    """``text`` with credential-shaped parts masked (``password=x``, URL user info, bearer tokens, PEM keys…)."""
    return shapes(text, current().policy)[0]


def redact(obj: dict[str, Any]) -> dict[str, Any]:
    """Redact a full object from the API in place (annotations included) and return it."""
    redact_object(obj)
    return obj


def mask_values(values: Any, where: str = "Helm values", path: str = "values") -> Any:
    """Helm (or GitOps) values, masked by key name and shape, as a new structure."""
    copy = json.loads(json.dumps(values))
    return Redactor(where).walk(copy, path, NORMAL, "")


_DOC_SPLIT = re.compile(r"^---[ \t]*$", re.MULTILINE)


def redact_manifest(manifest: str, where: str = "manifest") -> str:
    """A rendered multi-document manifest, each object redacted as in the cluster (a Secret keeps key names only).

    Documents that need no redaction are kept byte for byte; redacted ones are re-serialized after their
    leading comment lines (Helm's ``# Source: …``).
    """
    if not manifest:
        return manifest
    out = []
    for part in _DOC_SPLIT.split(manifest):
        try:
            doc = yaml.load(part, Loader=LOADER)
        except yaml.YAMLError:
            if re.search(r"(?m)^kind:\s*Secret\b", part):
                Redactor(where).note("(unparseable Secret)", "Secret value")
                out.append("\n# <redacted: unparseable Secret>\n")
            else:
                out.append(Redactor(where).shaped(part, "(unparseable document)"))
            continue
        if not isinstance(doc, dict):
            out.append(part)
            continue
        r = Redactor(f"{where} {describe(doc)}", builtin=is_builtin(doc))
        redact_body(doc, r)
        if not r.changed:
            out.append(part)
            continue
        comments = [ln for ln in part.strip("\n").splitlines() if ln.startswith("#")]
        head = "\n".join(comments)
        out.append("\n" + (head + "\n" if head else "") + dump_yaml(doc))
    return "---".join(out)


def applied_api_version(applied: str) -> str:
    """The apiVersion of a last-applied annotation ("" if none); kubectl's sorted-key JSON is read without parsing."""
    m = _APPLIED_API_VERSION.match(applied)
    if m:
        return m.group(1)
    try:
        body = json.loads(applied)
    except ValueError:
        return ""
    return str(body.get("apiVersion") or "") if isinstance(body, dict) else ""


# -- sanitizing -----------------------------------------------------------------------------------------------


def _controller_owner(meta: dict[str, Any]) -> dict[str, Any] | None:
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def skip_reason(obj: dict[str, Any]) -> str | None:
    """Why ``obj`` is not kept for recreation, or ``None`` to keep it."""
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    ns = meta.get("namespace")
    labels = meta.get("labels") or {}
    owner = _controller_owner(meta)
    if owner is not None:
        return f"{OWNED} {owner.get('kind')}/{owner.get('name')}"
    if kind == "Namespace":
        return "system namespace" if name in SYSTEM_NAMESPACES else None
    if kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        if name.startswith("system:") or labels.get("kubernetes.io/bootstrapping") == "rbac-defaults":
            return "built-in RBAC"
        return None
    if kind == "ServiceAccount":
        return "default service account" if name == "default" else None
    if kind == "ConfigMap":
        if (None, name) in _SYSTEM_CONFIGMAPS or (ns, name) in _SYSTEM_CONFIGMAPS:
            return "created by Kubernetes"
        if labels.get("owner") == "helm" and name.startswith("sh.helm.release."):
            return "Helm release storage"
        return None
    if kind == "Secret":
        return _SKIPPED_SECRET_TYPES.get(str(obj.get("type", "")))
    if kind == "Service":
        return "created by Kubernetes" if (ns, name) == ("default", "kubernetes") else None
    if kind == "PriorityClass":
        return "built-in priority class" if name.startswith("system-") else None
    if kind == "APIService":
        return "served by kube-apiserver itself" if not (obj.get("spec") or {}).get("service") else None
    if kind in ("EndpointSlice", "Endpoints"):
        return "maintained by the control plane"
    return None


def _pod_specs(obj: dict[str, Any]) -> list[Any]:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        return []
    if kind == "Pod":
        return [spec]
    if kind == "CronJob":
        job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        return [(job_spec.get("template") or {}).get("spec")]
    template = spec.get("template")
    if isinstance(template, dict):
        return [template.get("spec")]
    return []


def _drop_node_binding(spec: Any) -> None:
    if isinstance(spec, dict):
        spec.pop("nodeName", None)


def sanitize(obj: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """``obj`` (already redacted) made fit for server-side apply into another cluster, in place; returned."""
    out = obj
    out["apiVersion"] = out.get("apiVersion") or api_version
    out["kind"] = out.get("kind") or kind
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    meta.pop("ownerReferences", None)  # only non-controller references are left here; their uids cannot match
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        for key in _SERVER_ANNOTATIONS:
            annotations.pop(key, None)
        if not annotations:
            meta.pop("annotations", None)
    spec = out.get("spec")
    if kind == "Namespace":
        out.pop("spec", None)
    elif kind == "Service" and isinstance(spec, dict):
        for key in ("clusterIP", "clusterIPs", "healthCheckNodePort"):
            spec.pop(key, None)
    elif kind == "ServiceAccount":
        out.pop("secrets", None)
    elif kind == "Job" and isinstance(spec, dict):
        if not spec.get("manualSelector"):
            spec.pop("selector", None)
            template_meta = (spec.get("template") or {}).get("metadata") or {}
            labels = template_meta.get("labels")
            if isinstance(labels, dict):
                for key in _JOB_CONTROLLER_LABELS:
                    labels.pop(key, None)
    elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
        spec.pop("volumeName", None)
    for pod_spec in _pod_specs(out):
        _drop_node_binding(pod_spec)
    for template_meta in _template_metadata(out):
        if template_meta.get("creationTimestamp", "") is None:
            del template_meta["creationTimestamp"]
    return out


def _template_metadata(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The metadata of pod and job templates inside a workload (where the server writes creationTimestamp: null)."""
    spec = obj.get("spec")
    found = []
    while isinstance(spec, dict):
        holder = spec.get("jobTemplate") or spec.get("template")
        if not isinstance(holder, dict):
            break
        if isinstance(holder.get("metadata"), dict):
            found.append(holder["metadata"])
        spec = holder.get("spec")
    return found
