"""The rewriting that keeps a rehearsal's control plane from dialing production: what is redirected to the
stand-in, what is kept, what is removed, and what the record says (host only, never a path or a credential)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness.checks.builtin import CrdServed, NotJudgedHere, Reapply, WebhookReachable, builtin_checks
from harness.isolation import NOWHERE, UNRESOLVABLE, StubEndpoint, host_of, isolate
from harness.recreate import Applied, RecreateResult

STUB = StubEndpoint("https://127.0.0.1:4443", "Q0EgUEVN")
PROD_URL = "https://hook-user:s3cret@policy.prod.example.com:8443/validate?token=abc"


def _webhook_config(kind: str, version: str, webhooks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": f"admissionregistration.k8s.io/{version}", "kind": kind, "metadata": {"name": "guard"},
            "webhooks": webhooks}


def _webhook(name: str, client_config: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "clientConfig": client_config, "failurePolicy": "Fail", "sideEffects": "None",
            "admissionReviewVersions": ["v1", "v1beta1"], "matchPolicy": "Equivalent", "timeoutSeconds": 5,
            "namespaceSelector": {"matchLabels": {"guarded": "true"}}, "objectSelector": {},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": ["configmaps"], "scope": "Namespaced"}]}


def _service(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": ns, "name": name}, "spec": spec}


def _crd(conversion: dict[str, Any], schemas: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "conversion": conversion,
                     "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schemas[0]}},
                                  {"name": "v2", "served": True, "storage": False,
                                   "schema": {"openAPIV3Schema": schemas[1]}}]}}


SCHEMA = {"type": "object", "description": "a widget",
          "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"},
                                                                   "description": {"type": "string"}}}}}


def _webhook_conversion(client_config: dict[str, Any]) -> dict[str, Any]:
    return {"strategy": "Webhook", "webhook": {"clientConfig": client_config, "conversionReviewVersions": ["v1"]}}


def test_url_admission_webhooks_point_at_the_stand_in_and_keep_everything_else() -> None:
    validating = _webhook_config("ValidatingWebhookConfiguration", "v1", [
        _webhook("validate.example.com", {"url": PROD_URL, "caBundle": "cHJvZA=="}),
        _webhook("inside.example.com", {"service": {"namespace": "guard", "name": "hook", "port": 443}})])
    mutating = _webhook_config("MutatingWebhookConfiguration", "v1beta1", [
        {**_webhook("mutate.example.com", {"url": "https://10.9.8.7/mutate"}), "reinvocationPolicy": "IfNeeded"}])
    objects = [_service("guard", "hook", selector={"app": "hook"}), validating, mutating]
    before = copy.deepcopy(objects)
    out = isolate(objects, STUB)
    assert objects == before  # the inputs (production's objects, re-applied as written) are not touched
    v_body, m_body = out[1].body, out[2].body
    assert v_body is not None and m_body is not None
    rewritten, inside = v_body["webhooks"]
    assert rewritten["clientConfig"] == {"url": "https://127.0.0.1:4443/admit", "caBundle": "Q0EgUEVN"}
    assert {k: v for k, v in rewritten.items() if k != "clientConfig"} == {
        k: v for k, v in validating["webhooks"][0].items() if k != "clientConfig"}
    assert inside == validating["webhooks"][1]  # addressed by an in-cluster Service: kept as it is
    assert m_body["webhooks"][0]["reinvocationPolicy"] == "IfNeeded"
    assert m_body["apiVersion"] == "admissionregistration.k8s.io/v1beta1"
    assert m_body["webhooks"][0]["clientConfig"]["url"] == "https://127.0.0.1:4443/admit"
    (record,) = out[1].records
    assert (record.object.kind, record.object.name, record.field, record.host, record.check) == (
        "ValidatingWebhookConfiguration", "guard", "webhooks[validate.example.com].clientConfig.url",
        "policy.prod.example.com", "webhook/guard/validate.example.com")
    assert "s3cret" not in repr(out) and "token" not in repr(out) and ":8443" not in repr(out)
    assert record.reason.startswith("production endpoint, not called")
    assert [r.host for r in out[2].records] == ["10.9.8.7"]
    assert out[0].body is objects[0] and not out[0].records


def test_service_webhooks_that_lead_outside_point_at_the_stand_in_too() -> None:
    """A Service that is ExternalName, or has no selector and endpoints written by hand, leads outside."""
    objects = [
        _service("guard", "external", type="ExternalName", externalName="hooks.prod.example.com"),
        _service("guard", "manual", ports=[{"port": 443}]),
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"namespace": "guard", "name": "manual"},
         "subsets": [{"addresses": [{"ip": "203.0.113.5"}], "ports": [{"port": 443}]}]},
        _webhook_config("ValidatingWebhookConfiguration", "v1", [
            _webhook("a.example.com", {"service": {"namespace": "guard", "name": "external", "port": 443}}),
            _webhook("b.example.com", {"service": {"namespace": "guard", "name": "manual"}})]),
    ]
    out = isolate(objects, STUB)
    assert out[0].body is not None and out[0].body["spec"]["externalName"] == UNRESOLVABLE
    assert [(r.field, r.host) for r in out[0].records] == [("spec.externalName", "hooks.prod.example.com")]
    assert out[2].body is not None and out[2].body["subsets"] == []
    assert [(r.field, r.host) for r in out[2].records] == [("subsets[0].addresses[0].ip", "203.0.113.5")]
    body = out[3].body
    assert body is not None
    assert [w["clientConfig"] for w in body["webhooks"]] == [STUB.client_config("/admit")] * 2
    assert [(r.field, r.host) for r in out[3].records] == [
        ("webhooks[a.example.com].clientConfig.service", "hooks.prod.example.com"),
        ("webhooks[b.example.com].clientConfig.service", "203.0.113.5")]


def test_conversion_webhooks_point_at_the_stand_in_and_differing_schemas_are_not_judged() -> None:
    same = _crd(_webhook_conversion({"url": "https://convert.prod.example.com/convert"}),
                (SCHEMA, {**SCHEMA, "description": "another text"}))
    (iso,) = isolate([same], STUB)
    assert iso.body is not None
    assert iso.body["spec"]["conversion"]["webhook"] == {
        "clientConfig": {"url": "https://127.0.0.1:4443/convert", "caBundle": "Q0EgUEVN"},
        "conversionReviewVersions": ["v1"]}
    assert iso.unjudged == "" and [r.host for r in iso.records] == ["convert.prod.example.com"]

    other = copy.deepcopy(SCHEMA)
    other["properties"]["spec"]["properties"].pop("description")  # a property named description is a property
    differ = _crd(_webhook_conversion({"url": "https://convert.prod.example.com/convert"}), (SCHEMA, other))
    widget = {"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"namespace": "a", "name": "w"}}
    gadget = {"apiVersion": "example.com/v2", "kind": "Gadget", "metadata": {"namespace": "a", "name": "g"}}
    crd_iso, widget_iso, gadget_iso = isolate([differ, widget, gadget], STUB)
    assert "schemas differ" in crd_iso.unjudged and "schemas differ" in crd_iso.records[0].reason
    assert widget_iso.unjudged == crd_iso.unjudged and widget_iso.body is widget
    assert gadget_iso.unjudged == ""


def test_v1beta1_conversion_and_in_cluster_conversion() -> None:
    v1beta1 = {"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "things.example.com"},
               "spec": {"group": "example.com", "names": {"kind": "Thing"}, "validation": {"openAPIV3Schema": SCHEMA},
                        "versions": [{"name": "v1", "served": True, "storage": True}, {"name": "v2", "served": True}],
                        "conversion": {"strategy": "Webhook", "conversionReviewVersions": ["v1beta1"],
                                       "webhookClientConfig": {"url": "https://203.0.113.9:9443/c"}}}}
    in_cluster = _crd(_webhook_conversion({"service": {"namespace": "ops", "name": "conv"}}), (SCHEMA, SCHEMA))
    out = isolate([v1beta1, _service("ops", "conv", selector={"app": "conv"}), in_cluster], STUB)
    assert out[0].body is not None
    assert out[0].body["spec"]["conversion"]["webhookClientConfig"] == STUB.client_config("/convert")
    assert [(r.field, r.host) for r in out[0].records] == [("spec.conversion.webhookClientConfig.url",
                                                            "203.0.113.9")]
    assert out[0].unjudged == ""  # one global schema: versions cannot differ
    assert out[2].body is in_cluster and not out[2].records


def test_api_services_without_a_service_in_the_rehearsal_are_not_recreated() -> None:
    def api_service(name: str, service: dict[str, Any] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"group": "x.example.com", "version": "v1", "groupPriorityMinimum": 100,
                                "versionPriority": 10}
        if service is not None:
            spec["service"] = service
        return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name},
                "spec": spec}

    objects = [
        _service("kube-system", "metrics-server", selector={"k8s-app": "metrics-server"}),
        _service("shop", "payments", type="ExternalName", externalName="payments.prod.example.com"),
        api_service("v1beta1.metrics.k8s.io", {"namespace": "kube-system", "name": "metrics-server"}),
        api_service("v1.outside.example.com", {"namespace": "shop", "name": "payments", "port": 443}),
        api_service("v1.elsewhere.example.com", {"namespace": "elsewhere", "name": "api"}),
        api_service("v1.local.example.com", None),
    ]
    out = isolate(objects, NOWHERE)
    assert out[2].body is objects[2] and out[5].body is objects[5]
    assert out[3].body is None and out[4].body is None
    assert [(r.field, r.host) for r in out[3].records] == [("spec.service", "payments.prod.example.com")]
    assert [(r.field, r.host) for r in out[4].records] == [("spec.service", "api.elsewhere.svc")]
    assert "not recreated" in out[4].records[0].reason


def test_endpoint_slices_lose_their_addresses() -> None:
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "FQDN",
           "metadata": {"namespace": "shop", "name": "db-1", "labels": {"kubernetes.io/service-name": "db"}},
           "endpoints": [{"addresses": ["db.prod.internal"]}], "ports": [{"port": 5432}]}
    (iso,) = isolate([eps], STUB)
    assert iso.body is not None and iso.body["endpoints"] == [] and iso.body["ports"] == [{"port": 5432}]
    assert [(r.field, r.host) for r in iso.records] == [("endpoints[0].addresses[0]", "db.prod.internal")]


@pytest.mark.parametrize(("url", "host"), [
    ("https://u:p@h.example.com:8443/x?y=z", "h.example.com"), ("https://[2001:db8::1]:443/a", "2001:db8::1"),
    ("not a url", "?"), ("https://[broken/x", "?"),
])
def test_host_of_keeps_the_host_alone(url: str, host: str) -> None:
    assert host_of(url) == host


def test_checks_of_neutralised_objects_are_skipped_never_passed() -> None:
    webhook = _webhook("validate.example.com", {"url": PROD_URL})
    config = _webhook_config("ValidatingWebhookConfiguration", "v1", [webhook])
    other = copy.deepcopy(SCHEMA)
    other["properties"]["extra"] = {"type": "string"}
    crd = _crd(_webhook_conversion({"url": "https://c.example.com/"}), (SCHEMA, other))
    widget = {"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"namespace": "a", "name": "w"}}
    objects = [crd, widget, config]
    result = RecreateResult([Applied(o, o["apiVersion"], "snapshot", neutralised=i.records, unjudged=i.unjudged)
                             for o, i in zip(objects, isolate(objects, STUB), strict=True)])
    checks = {c.id: c for c in builtin_checks(result)}
    hook = checks["webhook/guard/validate.example.com"]
    assert isinstance(hook, WebhookReachable) and hook.neutralised is not None
    run = hook.run(None)  # type: ignore[arg-type]  # never reaches the cluster
    assert run.outcome == "skip" and run.message.startswith("production endpoint, not called")
    assert "policy.prod.example.com" in run.message and "s3cret" not in run.message
    for cid in ("crd/widgets.example.com", "reapply/CustomResourceDefinition/_cluster/widgets.example.com",
                "reapply/Widget/a/w"):
        check = checks[cid]
        assert isinstance(check, NotJudgedHere) and isinstance(check.check, (CrdServed, Reapply))
        skipped = check.run(None)  # type: ignore[arg-type]
        assert skipped.outcome == "skip" and "schemas differ" in skipped.message
    assert isinstance(checks["reapply/ValidatingWebhookConfiguration/_cluster/guard"], Reapply)


def test_shapes_the_api_server_would_refuse_are_left_for_it_to_refuse() -> None:
    odd = [{"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "odd"}, "webhooks": ["x", {"name": "y", "clientConfig": "z"}]},
           {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "c"},
            "spec": {"conversion": {"strategy": "Webhook", "webhook": {"clientConfig": ["u"]}}}},
           {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": "ExternalName"}]
    assert [(i.body is o, i.records) for o, i in zip(odd, isolate(odd, STUB), strict=True)] == [(True, [])] * 3
