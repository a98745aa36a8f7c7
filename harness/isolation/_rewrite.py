"""Rewrite the objects a rehearsal applies so that its control plane dials no address production recorded.

What the control plane itself would dial, and what becomes of it here:

- an admission webhook (``Validating``/``MutatingWebhookConfiguration``, any version) addressed by ``url``, or by a
  Service that leads outside (``ExternalName``, or no selector and endpoints written by hand): its ``clientConfig``
  points at the rehearsal's stand-in (``/admit``: allows every request); rules, scope, failurePolicy, names kept;
- a CRD's conversion webhook addressed the same ways: the stand-in's ``/convert`` (rewrites ``apiVersion``); when
  the versions' schemas differ, that is not production's conversion, so the CRD's checks are not judged;
- an ``APIService`` whose Service is not recreated or leads outside: not recreated;
- an ``ExternalName`` Service: its name becomes one that never resolves (``.invalid``, RFC 6761);
- ``Endpoints``/``EndpointSlice`` addresses (production's, never the rehearsal's): removed.

Each is recorded (object, field, the original address's host only, reason) as a :class:`Neutralised`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from harness.report.model import Neutralised, ObjectRef

NOT_CALLED = "production endpoint, not called"
UNRESOLVABLE = "rehearse-not-called.invalid"  # RFC 6761: .invalid never resolves
_WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


@dataclass(frozen=True)
class StubEndpoint:
    """Where the rehearsal's stand-in answers (``https://host:port``) and the base64 PEM of the CA that signed it."""

    url: str
    ca_bundle: str = ""

    def client_config(self, path: str) -> dict[str, Any]:
        config: dict[str, Any] = {"url": f"{self.url.rstrip('/')}{path}"}
        if self.ca_bundle:
            config["caBundle"] = self.ca_bundle
        return config


# Without a stand-in (a caller that recreates a cluster for its own use): a port nothing listens on, on loopback.
NOWHERE = StubEndpoint("https://127.0.0.1:1")


@dataclass
class Isolated:
    """One object as the rehearsal applies it: ``body`` (None: not recreated), what was neutralised in it, and why
    the checks about it cannot be judged (``""``: they are judged as usual)."""

    body: dict[str, Any] | None
    records: list[Neutralised] = field(default_factory=list)
    unjudged: str = ""


def webhook_check_id(configuration: str, webhook: str) -> str:
    """The id of the check that judges one admission webhook (``webhook/<configuration>/<webhook>``)."""
    return f"webhook/{configuration}/{webhook}"


def host_of(url: str) -> str:
    """The host of a URL, without scheme, credentials, port, path or query (``"?"`` when it has none)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return host or "?"


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _ref(obj: dict[str, Any]) -> ObjectRef:
    meta = _meta(obj)
    return ObjectRef(apiVersion=str(obj.get("apiVersion", "")), kind=str(obj.get("kind", "")),
                     namespace=meta.get("namespace"), name=str(meta.get("name", "")))


def _group(obj: dict[str, Any]) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _service_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = _meta(obj)
    return str(meta.get("namespace") or "default"), str(meta.get("name", ""))


def _items(value: Any) -> list[dict[str, Any]]:
    """The objects of a list field (anything else in it is the API server's to refuse)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _endpoint_hosts(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """Every address of an Endpoints or EndpointSlice object, as (field, host)."""
    out: list[tuple[str, str]] = []
    if obj.get("kind") == "Endpoints":
        for i, subset in enumerate(_items(obj.get("subsets"))):
            for key in ("addresses", "notReadyAddresses"):
                for j, address in enumerate(_items(subset.get(key))):
                    out.append((f"subsets[{i}].{key}[{j}].ip", str(address.get("ip") or "?")))
    else:
        for i, endpoint in enumerate(_items(obj.get("endpoints"))):
            for j, address in enumerate(endpoint.get("addresses") or []):
                out.append((f"endpoints[{i}].addresses[{j}]", str(address)))
    return out


def _outside_services(objects: Sequence[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Services whose traffic would leave the rehearsal, with the host it would reach: ``ExternalName`` Services,
    and Services without a selector whose Endpoints/EndpointSlices (written by hand) hold addresses."""
    services = {_service_key(o): o for o in objects if o.get("kind") == "Service"}
    out: dict[tuple[str, str], str] = {}
    for svc_key, svc in services.items():
        spec = _spec(svc)
        if spec.get("type") == "ExternalName":
            out[svc_key] = str(spec.get("externalName") or "?")
    for obj in objects:
        if obj.get("kind") not in ("Endpoints", "EndpointSlice"):
            continue
        ns, name = _service_key(obj)
        if obj["kind"] == "EndpointSlice":
            name = str((_meta(obj).get("labels") or {}).get("kubernetes.io/service-name", ""))
        service = services.get((ns, name))
        hosts = _endpoint_hosts(obj)
        if service is not None and not _spec(service).get("selector") and hosts:
            out.setdefault((ns, name), hosts[0][1])
    return out


class _Rewriter:
    """Rewrites one object at a time, knowing the whole set (which Services exist, which lead outside)."""

    def __init__(self, objects: Sequence[dict[str, Any]], stub: StubEndpoint) -> None:
        self.stub = stub
        self.services = {_service_key(o) for o in objects if o.get("kind") == "Service"}
        self.outside = _outside_services(objects)
        self.unjudged_kinds: dict[tuple[str, str], str] = {}  # (group, kind) of a CRD → why its checks are not

    def _target(self, config: dict[str, Any]) -> str | None:
        """The host a clientConfig would dial outside the rehearsal, or None (in-cluster Service, or none)."""
        if config.get("url"):
            return host_of(str(config["url"]))
        svc = config.get("service")
        if isinstance(svc, dict):
            return self.outside.get((str(svc.get("namespace") or "default"), str(svc.get("name", ""))))
        return None

    def rewrite(self, obj: dict[str, Any]) -> Isolated:
        kind = obj.get("kind")
        if kind in _WEBHOOK_KINDS:
            return self._admission(obj)
        if kind == "CustomResourceDefinition":
            return self._crd(obj)
        if kind == "APIService":
            return self._api_service(obj)
        if kind == "Service" and isinstance(obj.get("spec"), dict) and obj["spec"].get("type") == "ExternalName":
            body = copy.deepcopy(obj)
            body["spec"]["externalName"] = UNRESOLVABLE
            host = str(obj["spec"].get("externalName") or "?")
            return Isolated(body, [Neutralised(_ref(obj), "spec.externalName", host,
                                               f"{NOT_CALLED}: replaced by a name that never resolves")])
        if kind in ("Endpoints", "EndpointSlice"):
            return self._endpoints(obj)
        return Isolated(obj)

    def _admission(self, obj: dict[str, Any]) -> Isolated:
        body = copy.deepcopy(obj)
        records = []
        name = str(_meta(obj).get("name", ""))
        for webhook in body.get("webhooks") or []:
            config = webhook.get("clientConfig") if isinstance(webhook, dict) else None
            host = self._target(config) if isinstance(config, dict) else None
            if host is None or not isinstance(config, dict):
                continue
            how = "url" if config.get("url") else "service"
            webhook["clientConfig"] = self.stub.client_config("/admit")
            records.append(Neutralised(
                _ref(obj), f"webhooks[{webhook.get('name')}].clientConfig.{how}", host,
                f"{NOT_CALLED}: answered by the rehearsal's stand-in, which allows every request",
                check=webhook_check_id(name, str(webhook.get("name")))))
        return Isolated(body if records else obj, records)

    def _crd(self, obj: dict[str, Any]) -> Isolated:
        conversion = _spec(obj).get("conversion")
        if not isinstance(conversion, dict) or conversion.get("strategy") != "Webhook":
            return Isolated(obj)
        # v1: spec.conversion.webhook.clientConfig; v1beta1: spec.conversion.webhookClientConfig
        v1 = isinstance(conversion.get("webhook"), dict)
        config = (conversion["webhook"].get("clientConfig") if v1 else conversion.get("webhookClientConfig")) or {}
        host = self._target(config) if isinstance(config, dict) else None
        if host is None:
            return Isolated(obj)
        body = copy.deepcopy(obj)
        place = "spec.conversion.webhook.clientConfig" if v1 else "spec.conversion.webhookClientConfig"
        if v1:
            body["spec"]["conversion"]["webhook"]["clientConfig"] = self.stub.client_config("/convert")
        else:
            body["spec"]["conversion"]["webhookClientConfig"] = self.stub.client_config("/convert")
        how = "url" if config.get("url") else "service"
        reason = f"{NOT_CALLED}: the rehearsal's stand-in converts by rewriting apiVersion"
        unjudged = ""
        if not _same_schemas(obj):
            unjudged = (f"{NOT_CALLED}: CRD {_meta(obj).get('name')}'s conversion webhook; its versions' schemas "
                        "differ, so the stand-in's apiVersion rewrite is not production's conversion")
            reason += "; its versions' schemas differ, so this CRD's checks are not judged"
            names = _spec(obj).get("names")
            names = names if isinstance(names, dict) else {}
            self.unjudged_kinds[(str(_spec(obj).get("group", "")), str(names.get("kind", "")))] = unjudged
        return Isolated(body, [Neutralised(_ref(obj), f"{place}.{how}", host, reason)], unjudged)

    def _api_service(self, obj: dict[str, Any]) -> Isolated:
        svc = _spec(obj).get("service")
        if not isinstance(svc, dict):
            return Isolated(obj)  # served by kube-apiserver itself
        key = (str(svc.get("namespace") or "default"), str(svc.get("name", "")))
        if key in self.outside:
            host, why = self.outside[key], f"its Service {key[0]}/{key[1]} leads outside the rehearsal"
        elif key not in self.services:
            host, why = f"{key[1]}.{key[0]}.svc", f"its Service {key[0]}/{key[1]} is not recreated"
        else:
            return Isolated(obj)
        return Isolated(None, [Neutralised(_ref(obj), "spec.service", host, f"{NOT_CALLED}: not recreated, {why}")])

    def _endpoints(self, obj: dict[str, Any]) -> Isolated:
        hosts = _endpoint_hosts(obj)
        if not hosts:
            return Isolated(obj)
        body = copy.deepcopy(obj)
        if obj.get("kind") == "Endpoints":
            body["subsets"] = []
        else:
            body["endpoints"] = []
        reason = f"{NOT_CALLED}: production's address, removed (nothing in the rehearsal has it)"
        return Isolated(body, [Neutralised(_ref(obj), place, host, reason) for place, host in hosts])


def _same_schemas(crd: dict[str, Any]) -> bool:
    """Whether every version of a CRD has the same schema, descriptions aside (a global v1beta1 ``validation``
    counts as one): then rewriting ``apiVersion`` is all a conversion can do."""
    schemas = set()
    for version in _items(_spec(crd).get("versions")):
        schema = version.get("schema")
        schema = schema.get("openAPIV3Schema") if isinstance(schema, dict) else None
        schemas.add(json.dumps(_without_descriptions(schema), sort_keys=True))
    return len(schemas) <= 1


def _without_descriptions(schema: Any) -> Any:
    """A schema without its ``description`` keywords (a property named ``description`` stays)."""
    if isinstance(schema, list):
        return [_without_descriptions(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions") and isinstance(value, dict):
            out[key] = {name: _without_descriptions(sub) for name, sub in value.items()}
        elif key != "description":
            out[key] = _without_descriptions(value)
    return out


def isolate(objects: Sequence[dict[str, Any]], stub: StubEndpoint = NOWHERE) -> list[Isolated]:
    """Each of ``objects`` as the rehearsal applies it (same order); custom resources of a CRD whose conversion
    cannot be reproduced are marked not judged."""
    rewriter = _Rewriter(objects, stub)
    out = [rewriter.rewrite(obj) for obj in objects]
    for obj, iso in zip(objects, out, strict=True):
        reason = rewriter.unjudged_kinds.get((_group(obj), str(obj.get("kind", ""))))
        if reason and not iso.unjudged:
            iso.unjudged = reason
    return out
