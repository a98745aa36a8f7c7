"""Done when (issue 15): a full local rehearsal of a cluster whose URL webhooks (validating, mutating, a CRD's
conversion), an ExternalName Service, hand-written Endpoints and APIServices point at a listener on this machine
(standing in for production), with objects their rules match, never connects to that listener; each is reported as
not judged ("production endpoint, not called"), the stand-in answered in production's place, and the verdict of an
otherwise healthy cluster is unaffected (exit 0)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.binaries import BinarySet
from tests.rehearsal._run import leftovers, rehearse, report

pytestmark = pytest.mark.slow


def _this_machine() -> str:
    """An address of this machine other than loopback (the one its default route leaves from; a UDP connect sends
    nothing), else 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
            address = str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
    return address if not address.startswith("127.") and address != "0.0.0.0" else "127.0.0.1"


class Production:
    """A TCP listener standing in for production's endpoints: it counts every connection and answers nothing."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.sock.settimeout(0.2)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.connections: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            self.connections.append(peer)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def production() -> Iterator[Production]:
    listener = Production(_this_machine())
    yield listener
    listener.close()


RULES = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]}]
SCHEMA = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}


def _webhook(name: str, client_config: dict[str, object]) -> dict[str, object]:
    return {"name": name, "clientConfig": client_config, "rules": RULES, "failurePolicy": "Fail",
            "namespaceSelector": {"matchLabels": {"guarded": "true"}}, "sideEffects": "None",
            "admissionReviewVersions": ["v1"], "timeoutSeconds": 5}


def _crd(plural: str, kind: str, url: str, v2_schema: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"url": url},
                                                                       "conversionReviewVersions": ["v1"]}},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": SCHEMA}},
                                  {"name": "v2", "served": True, "storage": False,
                                   "schema": {"openAPIV3Schema": v2_schema}}]}}


def _api_service(name: str, namespace: str, service: str, port: int) -> dict[str, object]:
    group = name.split(".", 1)[1]
    return {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name},
            "spec": {"group": group, "version": "v1alpha1", "groupPriorityMinimum": 100, "versionPriority": 10,
                     "insecureSkipTLSVerify": True, "service": {"namespace": namespace, "name": service,
                                                                "port": port}}}


def _scenario(directory: Path, prod: Production) -> Path:
    base = f"https://{prod.host}:{prod.port}"
    wider = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer"}, "colour": {"type": "string"}}}}}  # v2 has a field v1 has not
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "guarded", "labels": {"guarded": "true"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "guarded", "name": "settings"},
         "data": {"mode": "strict"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "shop", "name": "payments"},
         "spec": {"type": "ExternalName", "externalName": prod.host}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "shop", "name": "ledger"},
         "spec": {"ports": [{"port": prod.port}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"namespace": "shop", "name": "ledger"},
         "subsets": [{"addresses": [{"ip": prod.host}], "ports": [{"port": prod.port}]}]}
        if prod.host != "127.0.0.1" else None,  # the API server refuses loopback endpoints
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "prod-policy"},
         "webhooks": [_webhook("validate.policy.example.com", {"url": f"{base}/validate"})]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "prod-defaults"},
         "webhooks": [_webhook("mutate.defaults.example.com", {"url": f"{base}/mutate"}),
                      _webhook("via-service.defaults.example.com",
                               {"service": {"namespace": "shop", "name": "payments", "port": prod.port}})]},
        _crd("widgets", "Widget", f"{base}/convert", SCHEMA),
        _crd("gadgets", "Gadget", f"{base}/convert", wider),
        {"apiVersion": "example.com/v2", "kind": "Widget", "metadata": {"namespace": "guarded", "name": "w"},
         "spec": {"size": 3}},
        {"apiVersion": "example.com/v2", "kind": "Gadget", "metadata": {"namespace": "guarded", "name": "g"},
         "spec": {"size": 1, "colour": "red"}},
        _api_service("v1alpha1.payments.example.com", "shop", "payments", prod.port),
        _api_service("v1alpha1.elsewhere.example.com", "elsewhere", "api", 443),
    ]
    manifests = directory / "manifests"
    manifests.mkdir()
    (manifests / "cluster.yaml").write_text(yaml.safe_dump_all([o for o in objects if o is not None]))
    scenario = {
        "schema": "rehearse/scenario/v1", "name": "production-endpoints", "from": "1.27", "to": "1.28",
        "description": "URL webhooks, a conversion webhook, ExternalName and APIServices pointing at production",
        "nodes": [{"name": "cp-1", "control_plane": True}, {"name": "worker-1"}],
        "manifests": ["manifests"],
    }
    path = directory / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def test_a_rehearsal_never_calls_production_endpoints(bin127: BinarySet, bin128: BinarySet, tmp_path: Path,
                                                      production: Production) -> None:
    scenario = _scenario(tmp_path, production)
    out = tmp_path / "report"
    run = rehearse("run", "--provider", "local", "--scenario", str(scenario), "--report-dir", str(out),
                   state=tmp_path / "state")
    assert production.connections == [], f"production was called from {production.connections}"
    assert run.returncode == 0, run.stdout + run.stderr
    doc = report(out)
    checks = {c["id"]: c for c in doc["checks"]}
    for webhook in ("prod-policy/validate.policy.example.com", "prod-defaults/mutate.defaults.example.com",
                    "prod-defaults/via-service.defaults.example.com"):
        check = checks[f"webhook/{webhook}"]
        assert check["classification"] == "not-judged", check
        assert check["before"]["outcome"] == check["after"]["outcome"] == "skip"
        assert check["before"]["message"].startswith("production endpoint, not called")
    # the objects their rules match were written through the stand-in, before and after the upgrade
    assert checks["reapply/ConfigMap/guarded/settings"]["classification"] == "ok"
    assert checks["reapply/Widget/guarded/w"]["classification"] == "ok"  # v2 → v1 by the stand-in
    assert checks["crd/widgets.example.com"]["classification"] == "ok"  # identical schemas: judged
    for written in ("ValidatingWebhookConfiguration/_cluster/prod-policy", "Service/shop/payments",
                    "CustomResourceDefinition/_cluster/widgets.example.com"):  # as production wrote them (dry run)
        assert checks[f"reapply/{written}"]["classification"] == "ok", checks[f"reapply/{written}"]
    for cid in ("crd/gadgets.example.com", "reapply/Gadget/guarded/g"):  # schemas differ: not judged
        assert checks[cid]["classification"] == "not-judged" and "schemas differ" in checks[cid]["before"]["message"]
    safety = doc["safety"]
    assert safety["stub_calls"].get("admission", 0) > 0 and safety["stub_calls"].get("conversion", 0) > 0
    neutralised = {(n["object"]["kind"], n["object"]["name"], n["field"]): n for n in safety["neutralised"]}
    expected = {
        ("ValidatingWebhookConfiguration", "prod-policy", "webhooks[validate.policy.example.com].clientConfig.url"),
        ("MutatingWebhookConfiguration", "prod-defaults", "webhooks[mutate.defaults.example.com].clientConfig.url"),
        ("MutatingWebhookConfiguration", "prod-defaults",
         "webhooks[via-service.defaults.example.com].clientConfig.service"),
        ("CustomResourceDefinition", "widgets.example.com", "spec.conversion.webhook.clientConfig.url"),
        ("CustomResourceDefinition", "gadgets.example.com", "spec.conversion.webhook.clientConfig.url"),
        ("Service", "payments", "spec.externalName"),
        ("APIService", "v1alpha1.payments.example.com", "spec.service"),
        ("APIService", "v1alpha1.elsewhere.example.com", "spec.service"),
    }
    if production.host != "127.0.0.1":
        expected.add(("Endpoints", "ledger", "subsets[0].addresses[0].ip"))
    assert set(neutralised) == expected
    assert {n["host"] for k, n in neutralised.items() if k[1] != "v1alpha1.elsewhere.example.com"} == {
        production.host}
    text = (out / "report.json").read_text()
    assert f":{production.port}/" not in text  # hosts only: no URL, no path
    missing = {n["object"]["name"]: n["reason"] for n in doc["coverage"]["not_recreated"]}
    assert set(missing) == {"v1alpha1.payments.example.com", "v1alpha1.elsewhere.example.com"}, missing
    summary = (out / "summary.md").read_text()
    not_judged = summary[summary.index("### Not judged"):summary.index("### Coverage")]
    for name in ("validate.policy.example.com", "mutate.defaults.example.com", "via-service.defaults.example.com",
                 "CustomResourceDefinition widgets.example.com", "Service shop/payments",
                 "APIService v1alpha1.payments.example.com"):
        assert name in not_judged, name
    assert "### Safety" in summary and json.dumps(doc["verdict"]) == '"pass"'
    assert not leftovers(tmp_path / "state")
