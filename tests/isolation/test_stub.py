"""The stand-in for production's webhooks, over real HTTPS: verified against the CA it hands out (as a
kube-apiserver verifies a webhook against the caBundle), answering AdmissionReview and ConversionReview v1 and
v1beta1 in the shapes the apiserver reads, counting what it answered, and gone when stopped."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from typing import Any

import pytest

from harness.isolation import Stub, StubEndpoint


def _post(endpoint: StubEndpoint, path: str, body: bytes) -> tuple[int, Any]:
    context = ssl.create_default_context(cadata=base64.b64decode(endpoint.ca_bundle).decode())
    host, port = endpoint.url.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, json.loads(data) if response.status == 200 else data


@pytest.mark.parametrize("version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_admission_reviews_are_allowed_in_their_own_version(version: str) -> None:
    calls: dict[str, int] = {}
    with Stub(calls=calls) as endpoint:
        review = {"apiVersion": version, "kind": "AdmissionReview",
                  "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "operation": "CREATE",
                              "object": {"apiVersion": "v1", "kind": "ConfigMap"}}}
        status, answer = _post(endpoint, "/admit", json.dumps(review).encode())
    assert status == 200
    assert answer == {"apiVersion": version, "kind": "AdmissionReview",
                      "response": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}}
    assert calls == {"admission": 1}


@pytest.mark.parametrize("version", ["apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"])
def test_conversion_reviews_rewrite_api_version_only(version: str) -> None:
    calls: dict[str, int] = {}
    widget = {"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"name": "w", "namespace": "a"},
              "spec": {"size": 3}}
    with Stub(calls=calls) as endpoint:
        review = {"apiVersion": version, "kind": "ConversionReview",
                  "request": {"uid": "u-1", "desiredAPIVersion": "example.com/v1", "objects": [widget, widget]}}
        status, answer = _post(endpoint, "/convert", json.dumps(review).encode())
    assert status == 200
    assert answer["apiVersion"] == version and answer["kind"] == "ConversionReview"
    assert answer["response"]["uid"] == "u-1" and answer["response"]["result"] == {"status": "Success"}
    assert answer["response"]["convertedObjects"] == [{**widget, "apiVersion": "example.com/v1"}] * 2
    assert calls == {"conversion": 1}


def test_what_is_not_a_review_is_refused_and_not_counted() -> None:
    calls: dict[str, int] = {}
    with Stub(calls=calls) as endpoint:
        status, _ = _post(endpoint, "/admit", b"not json")
        assert status == 400
        status, _ = _post(endpoint, "/admit", b"[]")
        assert status == 400
    assert calls == {}


def test_each_stub_has_its_own_ca_and_nothing_listens_after_stop() -> None:
    one, two = Stub(), Stub()
    first, second = one.start(), two.start()
    try:
        assert first.ca_bundle != second.ca_bundle and first.url != second.url
        assert first.url.startswith("https://127.0.0.1:")
        # the server's certificate is not trusted under the other stub's CA
        foreign = StubEndpoint(first.url, second.ca_bundle)
        with pytest.raises(ssl.SSLCertVerificationError):
            _post(foreign, "/admit", b"{}")
        # a client that connects and says nothing does not stop the stand-in from answering others
        port = int(first.url.rsplit(":", 1)[1])
        idle = socket.create_connection(("127.0.0.1", port))
        assert _post(first, "/admit", b"{}")[0] == 200
        idle.close()
    finally:
        one.stop()
        two.stop()
        one.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
