"""Make listed objects safe to write and fit to recreate.

Two jobs, applied to every object before it reaches the snapshot:

* **Redaction** (:func:`redact`): Secret values become ``""`` (keys kept, annotation ``rehearse.dev/redacted``),
  ConfigMap values under credential-like keys become ``<redacted>`` (as do ``password=…``/``"token": "…"``
  settings, URL passwords, bearer tokens and PEM private keys inside other values; ``binaryData`` is blanked),
  container env values under credential-like names become ``<redacted>``. The
  ``kubectl.kubernetes.io/last-applied-configuration`` annotation gets the same treatment, since it holds the
  object as applied. Helm values are masked with :func:`mask_values`, rendered
  Helm manifests with :func:`redact_manifest`.
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

from harness.manifests import LAST_APPLIED

REDACTED = "<redacted>"
OWNED = "managed by"  # the skip reason of children an owner (controller) recreates by itself
REDACTED_ANNOTATION = "rehearse.dev/redacted"
CREDENTIAL_KEY = re.compile(
    r"(?i)(password|passwd|secret|token|api[-_]?key|private[-_]?key|credential|^key$|.*[-_.]key$)"
)
_INLINE_CREDENTIAL = re.compile(  # key: value, key=value, "key": "value" anywhere in a line; the value is group 2
    r"""(?im)((?:^|(?<=[\s{,;&?(]))["']?[\w.\-]*"""
    r"""(?:password|passwd|secret|token|api[-_]?key|private[-_]?key|credential)"""
    r"""[\w.\-]*["']?[ \t]*[:=][ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s,;&}\]]+)"""
)
_APPLIED_API_VERSION = re.compile(r'\{\s*"apiVersion"\s*:\s*"([^"\\]*)"')
# what a last-applied body must contain (lower-cased) for redaction to change it
_MAYBE_SENSITIVE = ("passw", "secret", "token", "key", "credential", "private", "://", "bearer", "binarydata",
                    "stringdata")
_KEYWORDS = ("passw", "secret", "token", "key", "credential")  # what _INLINE_CREDENTIAL needs (lower-cased)
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^:/\s@]+:)([^@\s/]+)(@)")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[a-z0-9\-._~+/]+=*")
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)

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
    """Whether a key or variable name looks like it holds a credential."""
    return bool(CREDENTIAL_KEY.search(key))


# -- redaction ------------------------------------------------------------------------------------------------


def _mask_leaves(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value  # a switch, not a secret
    return REDACTED


def mask_values(values: Any) -> Any:
    """Helm values with every string or number under a credential-like key replaced by ``<redacted>``."""
    if isinstance(values, dict):
        return {k: _mask_leaves(v) if is_credential_key(str(k)) else mask_values(v) for k, v in values.items()}
    if isinstance(values, list):
        return [mask_values(v) for v in values]
    if isinstance(values, str):
        return mask_text(values)
    return values


def mask_text(text: str) -> str:
    """Mask ``password: x``, ``token=x``, ``"apiKey": "x"``, URL passwords, bearer tokens and PEM private keys."""
    if not text:
        return text
    lower = text.lower()  # cheap checks first: most values hold nothing of the kind
    if "private key-----" in lower:
        text = _PEM_PRIVATE_KEY.sub(REDACTED, text)
    if any(word in lower for word in _KEYWORDS):
        text = _INLINE_CREDENTIAL.sub(_mask_inline, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    if "bearer" in lower:
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def _mask_inline(m: re.Match[str]) -> str:
    value = m.group(2)
    if value[:1] in ("'", '"'):
        return f"{m.group(1)}{value[0]}{REDACTED}{value[0]}"
    return m.group(1) + REDACTED


def _redact_pod_spec(spec: Any) -> bool:
    changed = False
    if not isinstance(spec, dict):
        return False
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(group) or []:
            for env in (container.get("env") or []) if isinstance(container, dict) else []:
                if (
                    isinstance(env, dict) and isinstance(env.get("value"), str) and env["value"]
                    and env["value"] != REDACTED and is_credential_key(str(env.get("name", "")))
                ):
                    env["value"] = REDACTED
                    changed = True
    return changed


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


def _redact_body(obj: dict[str, Any], kind: str) -> bool:
    """Redact ``obj`` (a full object or a last-applied body) in place; return whether anything changed."""
    changed = False
    if kind == "Secret":
        for field in ("data", "stringData"):
            data = obj.get(field)
            if isinstance(data, dict):
                for k, v in data.items():
                    if v != "":
                        data[k] = ""
                        changed = True
        if "stringData" in obj:
            string_data = obj.pop("stringData") or {}
            merged: dict[str, Any] = obj["data"] if isinstance(obj.get("data"), dict) else {}
            merged.update({str(k): "" for k in string_data})
            obj["data"] = merged
            changed = True
    elif kind == "ConfigMap":
        data = obj.get("data")
        if isinstance(data, dict):
            for k, v in data.items():
                new = REDACTED if is_credential_key(str(k)) else mask_text(v) if isinstance(v, str) else v
                if new != v:
                    data[k] = new
                    changed = True
        binary = obj.get("binaryData")
        if isinstance(binary, dict):
            for k, v in binary.items():
                if v != "":
                    binary[k] = ""
                    changed = True
    for spec in _pod_specs(obj):
        changed = _redact_pod_spec(spec) or changed
    return changed


def _maybe_sensitive(text: str) -> bool:
    lower = text.lower()
    return any(word in lower for word in _MAYBE_SENSITIVE)


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


def redact(obj: dict[str, Any]) -> dict[str, Any]:
    """Redact a full object from the API in place (annotations included) and return it."""
    kind = str(obj.get("kind", ""))
    _redact_body(obj, kind)
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    if kind == "Secret":
        annotations[REDACTED_ANNOTATION] = "true"
        meta["annotations"] = annotations
    applied = annotations.get(LAST_APPLIED)
    # parse the annotation only when it may hold something to redact (most do not; parsing all costs seconds)
    if isinstance(applied, str) and applied and (kind == "Secret" or _maybe_sensitive(applied)):
        try:
            body = json.loads(applied)
        except ValueError:
            body = None
        if isinstance(body, dict):
            if _redact_body(body, str(body.get("kind", kind))):
                annotations[LAST_APPLIED] = json.dumps(body, separators=(",", ":"), sort_keys=True) + "\n"
        elif kind in ("Secret", "ConfigMap"):
            annotations[LAST_APPLIED] = REDACTED  # unparseable: cannot tell what it holds
    return obj


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, as people write them in manifests."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _represent_str)


_DOC_SPLIT = re.compile(r"^---[ \t]*$", re.MULTILINE)


def redact_manifest(manifest: str) -> str:
    """A rendered multi-document manifest with Secrets, credential-like ConfigMap keys and env values redacted.

    Documents that need no redaction are kept byte for byte; redacted ones are re-serialized after their
    leading comment lines (Helm's ``# Source: …``).
    """
    if not manifest:
        return manifest
    parts = _DOC_SPLIT.split(manifest)
    out = []
    for part in parts:
        try:
            doc = yaml.safe_load(part)
        except yaml.YAMLError:
            secret = re.search(r"(?m)^kind:\s*Secret\b", part)
            out.append("\n# <redacted: unparseable Secret>\n" if secret else part)
            continue
        if not isinstance(doc, dict) or not _redact_body(doc, str(doc.get("kind", ""))):
            out.append(part)
            continue
        comments = [ln for ln in part.strip("\n").splitlines() if ln.startswith("#")]
        head = "\n".join(comments)
        body = yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                         width=4096)
        out.append("\n" + (head + "\n" if head else "") + body)
    return "---".join(out)


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
