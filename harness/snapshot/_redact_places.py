"""Redaction by place: where in an object, a Helm release or an embedded document a credential can sit.

* **Secrets** keep key names only (values ``""``; a type the API validates gets a valid placeholder:
  ``.dockerconfigjson`` ``{"auths":{}}``, ``.dockercfg`` ``{}``, ``ssh-privatekey`` a non-empty mask).
* **ConfigMaps**: values under credential-like keys masked whole; other values read as the documents they are
  (properties, ini, env files, YAML, JSON: ``key=value`` lines and parsed structures alike); ``binaryData`` blanked.
* **Every other object**, built-in or custom (Flux ``HelmRelease`` values, Argo CD ``Application`` values, values
  strings and parameters included): every field under a credential-like key, ``{name, value}`` pairs (env,
  parameters, headers) whose name is credential-like, ``args``/``command`` flags with credential-like names
  (``--x=v`` and ``--x v``), and any string of a credential shape or random-looking (outside fields known to hold
  digests, UIDs, hashes, certificates). CRDs: only ``spec.conversion`` (their schemas are documentation).
* **Annotations**: a manifest embedded in one (``last-applied-configuration`` and the like) is redacted as the
  object it is; other values by shape.

A :class:`Redactor` records each mask as ``"<object>: <path> (<why>)"`` in the session's :class:`Masks`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from harness.manifests import LAST_APPLIED
from harness.snapshot._redact import (
    CREDENTIAL,
    KEEP,
    PLAIN,
    REDACTED,
    REFERENCE,
    Session,
    b64_decoded,
    current,
    hint,
    is_masked,
    is_plural,
    is_safe_blob,
    key_classifier,
    looks_random,
    mask_for,
    qualifies,
    shapes,
    words,
)

REDACTED_ANNOTATION = "rehearse.dev/redacted"
SECRET_PLACEHOLDERS = {
    ("kubernetes.io/dockerconfigjson", ".dockerconfigjson"): base64.b64encode(b'{"auths":{}}').decode(),
    ("kubernetes.io/dockercfg", ".dockercfg"): base64.b64encode(b"{}").decode(),
    ("kubernetes.io/ssh-auth", "ssh-privatekey"): base64.b64encode(REDACTED.encode()).decode(),
}
NORMAL, _BAG, _SHAPES = 0, 1, 2  # walk modes: by key name; everything a credential; shapes only
# (string, entropy) pairs that :meth:`Redactor.text` left as they were under the built-in rules: values repeat across
# objects (images, policies, names), and what text() does depends on nothing else; bounded, cleared when full
_CLEAN: set[tuple[str, bool]] = set()
_CLEAN_MAX, _CLEAN_LONGEST = 65536, 512
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# a run of 20 or more of [A-Za-z0-9+/=_-] (what a generated token is made of), found by mapping those characters to
# "a" and every other to " " (non-Latin-1 ones are "?" first): a tenth of what a regular expression search costs
_TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
_TOKEN_MAP = bytes(ord("a") if i in _TOKEN_CHARS else ord(" ") for i in range(256))
_TOKEN_RUN = b"a" * 20


def has_long_token(s: str) -> bool:
    """Whether ``s`` holds a run of 20 or more token characters (``[A-Za-z0-9+/=_-]{20,}``)."""
    return _TOKEN_RUN in s.encode("latin-1", "replace").translate(_TOKEN_MAP)
# fields of built-in kinds whose schema leaves no room for a credential (quantities, label selectors, enums, paths)
_SCHEMA_ONLY = frozenset({
    "labels", "managedFields", "ownerReferences", "resources", "ports", "selector", "matchLabels", "matchExpressions",
    "strategy", "updateStrategy", "securityContext", "affinity", "tolerations", "topologySpreadConstraints",
    "volumeMounts", "volumeDevices", "dnsConfig", "nodeSelector", "conditions", "readinessGates", "rules",
    "subjects", "roleRef", "finalizers",
})
_NEVER = frozenset({"labels", "managedFields"})


def is_builtin(obj: dict[str, Any]) -> bool:
    """Whether ``obj`` is of a built-in API group (its fields follow Kubernetes' own schemas)."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def describe(obj: dict[str, Any]) -> str:
    """``Kind namespace/name`` (``Kind name`` when cluster-scoped)."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    ns, name = meta.get("namespace"), meta.get("name", "?")
    return f"{obj.get('kind', '?')} {ns}/{name}" if ns else f"{obj.get('kind', '?')} {name}"


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, as people write them in manifests."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_BlockDumper.add_representer(str, _represent_str)


def dump_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=4096)


# A path is built lazily, as (parent, segment, is_index) links, and spelled out only for a mask's record.
Path = Any


def spell(path: Path) -> str:
    """``spec.template.spec.containers[web].env[DB_PASS].value`` from a lazy path."""
    segs: list[str] = []
    while isinstance(path, tuple):
        path, seg, index = path
        segs.append(f"[{seg}]" if index or not str(seg).isidentifier() else str(seg))
    out = str(path)
    for seg in reversed(segs):
        out += seg if seg[0] == "[" or not out or out.endswith(":") else "." + seg
    return out or "."


class Redactor:
    """Masks values in place for one object (``where``), records where, and remembers what it masked."""

    def __init__(self, where: str, session: Session | None = None, builtin: bool = False) -> None:
        s = session or current()
        self.where, self.policy, self.masks = where, s.policy, s.masks
        self.changed = False
        self.originals: set[str] = set()
        self.skip = _SCHEMA_ONLY if builtin else _NEVER
        self.kind_of = key_classifier(self.policy)  # (key, flat) -> CREDENTIAL, REFERENCE, ...
        self.builtin_rules = not self.policy.redact_keys and not self.policy.keep_keys
        self.noted = 0

    def note(self, path: Path, why: str, original: Any = None) -> None:
        self.changed = True
        self.noted += 1
        if isinstance(original, str) and original:
            self.originals.add(original)
        if self.masks is not None:
            self.masks.add(f"{self.where}: {spell(path)} ({why})")

    # -- values -----------------------------------------------------------------------------------------------

    def credential(self, value: Any, path: Path, why: str = "credential key") -> Any:
        """``value`` masked whole: it sits under a credential-like name. Numbers stay numbers, switches stay."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            if value:
                self.note(path, why)
            return type(value)(0)
        if isinstance(value, str):
            if is_masked(value):
                return value
            self.note(path, why, value)
            return mask_for(value)
        if isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, dict):
                    self.walk_dict(v, (path, i, True), _BAG, "")
                else:
                    value[i] = self.credential(v, (path, i, True), why)
            return value
        if isinstance(value, dict):
            self.walk_dict(value, path, _BAG, "")
        return value

    def shaped(self, s: str, path: Path) -> str:
        """``s`` with credential-shaped parts masked (nothing else)."""
        new, why = shapes(s, self.policy)
        if why:
            self.note(path, ", ".join(why), s)
        return new

    def text(self, s: str, path: Path, entropy: bool = True) -> str:
        """A string not named a credential: shapes; documents parsed; base64 looked into; random tokens masked."""
        if len(s) < 8:
            return s
        if not self.builtin_rules or len(s) > _CLEAN_LONGEST:
            return self._text(s, path, entropy)
        if (s, entropy) in _CLEAN:
            return s
        noted = self.noted
        new = self._text(s, path, entropy)
        if new is s and self.noted == noted:
            if len(_CLEAN) >= _CLEAN_MAX:
                _CLEAN.clear()
            _CLEAN.add((s, entropy))
        return new

    def _text(self, s: str, path: Path, entropy: bool) -> str:
        if "\n" in s or s[0] in "{[":
            return self.document(s, path)
        new = self.shaped(s, path)
        if new is not s or not entropy or len(s) < 16 or is_safe_blob(s):
            return new
        decoded = b64_decoded(s)
        if isinstance(decoded, str):
            if is_safe_blob(decoded):
                return s
            inner = self.text(decoded, f"{spell(path)} (base64)")
            if inner != decoded:  # masked inside, and still base64
                return base64.b64encode(inner.encode()).decode()
            if any(c.isspace() for c in decoded.strip()):  # readable text with nothing to mask
                return s
        if looks_random(s):
            self.note(path, "random-looking value", s)
            return mask_for(s)
        return s

    def document(self, s: str, path: Path) -> str:
        """A multi-line or JSON value: ``key=value``/``key: value`` lines by shape, then, if it parses as JSON or
        YAML, its structure by key name (re-written only when that masks more)."""
        new = self.shaped(s, path)
        if is_safe_blob(new):
            return new
        stripped = new.lstrip()
        if not (new.count("\n") or stripped[:1] in "{[") or not (hint(new) or has_long_token(new)):
            return new
        as_json = stripped[:1] in "{["
        try:
            doc = json.loads(new) if as_json else yaml.load(new, Loader=LOADER)
        except (ValueError, yaml.YAMLError):
            return new
        if not isinstance(doc, (dict, list)):
            return new
        before, self.changed = self.changed, False
        skip, self.skip = self.skip, _NEVER  # a document's keys are not a Kubernetes schema
        doc = self.walk(doc, f"{spell(path)}:", NORMAL, "")
        more, self.changed, self.skip = self.changed, before or self.changed, skip
        if not more:
            return new
        if as_json:
            return json.dumps(doc, indent=2 if "\n" in new.strip() else None, ensure_ascii=False) + (
                "\n" if new.endswith("\n") else "")
        return dump_yaml(doc)

    # -- structures -------------------------------------------------------------------------------------------

    def walk(self, value: Any, path: Path, mode: int, key: str, entropy: bool = True) -> Any:
        if isinstance(value, str):
            return self.shaped(value, path) if mode == _SHAPES else self.text(value, path, entropy)
        if isinstance(value, dict):
            self.walk_dict(value, path, mode, key)
        elif isinstance(value, list):
            self.walk_list(value, path, mode, key, entropy)
        return value

    def walk_list(self, items: list[Any], path: Path, mode: int, key: str, entropy: bool = True) -> None:
        strings = all(isinstance(i, str) for i in items)
        if strings and mode != _SHAPES and items:
            self.flags(items, path)
        for i, v in enumerate(items):
            if isinstance(v, str):
                if len(v) < 8:
                    continue
                if v[0] == "-" and "=" in v and mode != _SHAPES:  # --flag=value: the value alone is looked at
                    flag, _, value = v.partition("=")
                    items[i] = f"{flag}={self.text(value, (path, i, True), entropy)}"
                else:
                    items[i] = self.walk(v, (path, i, True), mode, key, entropy)
            elif isinstance(v, (dict, list)):
                name = v.get("name") if isinstance(v, dict) else None
                self.walk(v, (path, name if isinstance(name, str) else i, True), mode, key, entropy)

    def flags(self, args: list[str], path: Path) -> None:
        """``--x=v`` and ``--x v`` with credential-like ``x`` (``-Dx=v`` too), in a command line as a list."""
        for i, arg in enumerate(args):
            if not arg.startswith("-"):
                continue
            name, eq, value = arg.partition("=")
            if self.kind_of(name.lstrip("-"), True) != CREDENTIAL:
                continue
            if eq and not is_masked(value):
                self.note((path, i, True), "credential flag", value)
                args[i] = f"{name}={REDACTED}"
            elif not eq and i + 1 < len(args) and not args[i + 1].startswith("-") and not is_masked(args[i + 1]):
                self.note((path, i + 1, True), "credential flag", args[i + 1])
                args[i + 1] = REDACTED

    def walk_dict(self, d: dict[str, Any], path: Path, mode: int, parent: str) -> None:
        skip = ""
        name, value = d.get("name"), d.get("value")
        if mode != _SHAPES and isinstance(name, str) and isinstance(value, (str, int, float)) \
                and not isinstance(value, bool):  # env, Helm parameters, HTTP headers: {name, value}
            skip = "value"
            kind = self.kind_of(name, True)
            vpath = (path, "value", False)
            if kind == CREDENTIAL or mode == _BAG:
                d["value"] = self.credential(value, vpath, "credential name")
            elif isinstance(value, str) and len(value) >= 8:
                d["value"] = self.shaped(value, vpath) if kind in (REFERENCE, KEEP) else self.text(
                    value, vpath, kind != PLAIN)
        kind_of, schema_only = self.kind_of, self.skip
        for k, v in d.items():
            if v is None or v is True or v is False or k == skip or k in schema_only:
                continue
            if mode == _SHAPES:
                if not isinstance(v, (int, float)):
                    d[k] = self.walk(v, (path, k, False), _SHAPES, k)
                continue
            kind = kind_of(k, False)
            if kind == "key":
                kind = CREDENTIAL if mode == _BAG or qualifies(parent) else PLAIN
            elif mode == _BAG and kind not in (REFERENCE, KEEP, PLAIN):
                kind = CREDENTIAL
            if kind == CREDENTIAL:
                if isinstance(v, dict):
                    self.walk_dict(v, (path, k, False), _BAG if mode == _BAG or is_plural(k) else NORMAL, k)
                else:
                    d[k] = self.credential(v, (path, k, False))
            elif isinstance(v, str):
                if len(v) >= 8:
                    d[k] = self.shaped(v, (path, k, False)) if kind in (REFERENCE, KEEP) else self.text(
                        v, (path, k, False), kind != PLAIN)
            elif isinstance(v, (int, float)):
                continue
            elif k == "annotations" and isinstance(v, dict):
                self.annotations(v, (path, k, False))
            elif kind in (REFERENCE, KEEP):
                self.walk(v, (path, k, False), _SHAPES, k)
            else:
                self.walk(v, (path, k, False), NORMAL, k)

    def annotations(self, annotations: dict[str, Any], path: Path) -> None:
        for k, v in annotations.items():
            if not isinstance(v, str) or len(v) < 8 or k == REDACTED_ANNOTATION:
                continue
            p = (path, k, True)
            if v[0] == "{" and (k == LAST_APPLIED or ('"kind"' in v and '"apiVersion"' in v)):
                annotations[k] = self.embedded(v, p, compact=k == LAST_APPLIED)
                continue
            name = k.rsplit("/", 1)[-1]
            kind = self.kind_of(name, True)
            if kind == CREDENTIAL and words(name)[-1] not in ("secret", "secrets") and not v.startswith("/"):
                annotations[k] = self.credential(v, p)  # auth-secret and the like name a Secret: kept
            elif kind in (REFERENCE, KEEP, CREDENTIAL):
                annotations[k] = self.shaped(v, p)
            else:
                annotations[k] = self.text(v, p)

    def embedded(self, text: str, path: Path, compact: bool) -> str:
        """A manifest inside an annotation, redacted as the object it is (parsed only when it may hold something)."""
        secret = '"kind":"Secret"' in text
        if not (secret or self.changed or hint(text)):
            return text
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if secret or '"kind":"ConfigMap"' in text:
                self.note(path, "unreadable embedded manifest", text)
                return REDACTED
            return self.shaped(text, path)
        before, self.changed = self.changed, False
        skip, self.skip = self.skip, _SCHEMA_ONLY if is_builtin(body) else _NEVER
        redact_body(body, self, path)
        more, self.changed, self.skip = self.changed, before or self.changed, skip
        if not more:
            return text
        if compact:
            return json.dumps(body, separators=(",", ":"), sort_keys=True) + "\n"
        return json.dumps(body, sort_keys=True)


# -- objects --------------------------------------------------------------------------------------------------


def _secret(obj: dict[str, Any], r: Redactor, prefix: Path) -> None:
    stype = str(obj.get("type", "") or "")
    data = obj.get("data")
    string_data = obj.get("stringData")
    if not isinstance(data, dict) and not isinstance(string_data, dict):
        return
    merged: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
    sources = {k: "data" for k in merged}
    if isinstance(string_data, dict):
        obj.pop("stringData")
        for k, v in string_data.items():
            merged[str(k)] = v
            sources[str(k)] = "stringData"
        r.changed = True
    for k, v in merged.items():
        placeholder = SECRET_PLACEHOLDERS.get((stype, k), "")
        if v != placeholder:
            r.note(((prefix, sources[k], False), k, False), "Secret value", v)
            merged[k] = placeholder
    obj["data"] = merged


def _configmap(obj: dict[str, Any], r: Redactor, prefix: Path) -> None:
    data = obj.get("data")
    if isinstance(data, dict):
        base = (prefix, "data", False)
        for k, v in data.items():
            if not isinstance(v, str):
                continue
            p = (base, str(k), False)
            kind = r.kind_of(str(k), True)
            if kind == CREDENTIAL:
                data[k] = r.credential(v, p)
            elif kind in (REFERENCE, KEEP):
                data[k] = r.shaped(v, p)
            else:
                data[k] = r.document(v, p) if "\n" in v else r.text(v, p, kind != PLAIN)
    binary = obj.get("binaryData")
    if isinstance(binary, dict):
        for k, v in binary.items():
            if v != "":
                r.note(((prefix, "binaryData", False), str(k), False), "binary data", v)
                binary[k] = ""


def redact_body(obj: dict[str, Any], r: Redactor, prefix: Path = "") -> None:
    """Redact ``obj`` (a full object or an embedded one) in place; annotations after the body, so that a value
    masked in the body is looked for in the manifests they embed."""
    kind = str(obj.get("kind", ""))
    if kind == "Secret":
        _secret(obj, r, prefix)
    elif kind == "ConfigMap":
        _configmap(obj, r, prefix)
    elif kind == "CustomResourceDefinition":
        spec = obj.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("conversion"), dict):
            r.walk_dict(spec["conversion"], ((prefix, "spec", False), "conversion", False), NORMAL, "conversion")
    else:
        for k, v in obj.items():
            if k not in ("apiVersion", "kind", "metadata", "status") and isinstance(v, (dict, list, str)):
                obj[k] = r.walk(v, (prefix, k, False), NORMAL, k)
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(annotations, dict):
        r.annotations(annotations, ((prefix, "metadata", False), "annotations", False))


def redact_object(obj: dict[str, Any], where: str | None = None, session: Session | None = None) -> bool:
    """Redact a full object in place (Secrets also get ``rehearse.dev/redacted: "true"``); whether it changed."""
    r = Redactor(where or describe(obj), session, is_builtin(obj))
    redact_body(obj, r)
    if obj.get("kind") == "Secret" and isinstance(obj.get("metadata"), dict):
        meta = obj["metadata"]
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        if annotations.get(REDACTED_ANNOTATION) != "true":
            annotations[REDACTED_ANNOTATION] = "true"
            meta["annotations"] = annotations
            r.changed = True
    return r.changed
