"""What a snapshot reads beside the objects: kubeadm's node-component ConfigMaps (redacted), token Secrets as
metadata only, the deprecated-API gauge from /metrics (its text as a 1.25.15 kube-apiserver answers it), and how
the snapshot file keeps and validates them."""

from __future__ import annotations

import pytest
import yaml

from harness.errors import InputError
from harness.snapshot import dump, loads
from harness.snapshot._extras import component_configs, deprecated_requests, token_secrets
from harness.snapshot.model import DeprecatedApiRequest, Snapshot
from harness.snapshot.redaction import redacting

# GET /metrics of kube-apiserver v1.25.15 after `kubectl get hpa.v2beta2.autoscaling -A` (copied from a real answer)
_G = "apiserver_requested_deprecated_apis"
METRICS = "\n".join([
    "# HELP apiserver_request_total [STABLE] Counter of apiserver requests",
    'apiserver_request_total{code="200",component="apiserver",group="",resource="pods",verb="LIST",version="v1"} 4',
    f"# HELP {_G} [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, "
    "resource, subresource, and removed_release.",
    f"# TYPE {_G} gauge",
    _G + '{group="autoscaling",removed_release="1.26",resource="horizontalpodautoscalers",subresource="",'
    'version="v2beta2"} 1',
    _G + '{group="batch",removed_release="1.25",resource="cronjobs",subresource="status",version="v1beta1"} 1',
    _G + '{group="extensions",removed_release="",resource="ingresses",subresource="",version="v1beta1"} 0',
    "# HELP apiserver_storage_objects [STABLE] Number of stored objects",
    'apiserver_storage_objects{resource="pods"} 3', ""])


def test_the_gauge_series_with_their_removed_release() -> None:
    assert deprecated_requests(METRICS) == [
        DeprecatedApiRequest("autoscaling", "v2beta2", "horizontalpodautoscalers", "", "1.26"),
        DeprecatedApiRequest("batch", "v1beta1", "cronjobs", "status", "1.25")]
    assert deprecated_requests("# nothing deprecated was requested\nup 1\n") == []


def _cm(name: str, key: str, doc: dict[str, object]) -> dict[str, object]:
    return {"metadata": {"namespace": "kube-system", "name": name}, "data": {key: yaml.safe_dump(doc)}}


def test_component_configs_are_parsed_and_redacted() -> None:
    kubelet: dict[str, object] = {
        "kind": "KubeletConfiguration", "featureGates": {"CPUManager": True}, "clusterDNS": ["10.96.0.10"],
        "staticPodURLHeader": {"Authorization": ["Bearer c2VjcmV0LXRva2VuLXZhbHVlLTEyMzQ1Njc4"]}}
    with redacting() as masks:
        got = component_configs([_cm("kubelet-config", "kubelet", kubelet),
                                 _cm("kube-proxy", "config.conf", {"mode": "ipvs"}),
                                 _cm("other", "kubelet", {"x": 1}),
                                 {"metadata": {"namespace": "kube-system", "name": "kube-proxy"},
                                  "data": {"config.conf": "- not a mapping"}}])
    assert set(got) == {"kubelet", "kube-proxy"} and got["kube-proxy"] == {"mode": "ipvs"}
    assert got["kubelet"]["featureGates"] == {"CPUManager": True} and got["kubelet"]["clusterDNS"] == ["10.96.0.10"]
    assert "c2VjcmV0LXRva2VuLXZhbHVlLTEyMzQ1Njc4" not in str(got)
    assert any("ConfigMap kube-system/kubelet-config" in m for m in masks.entries())


def test_token_secrets_keep_metadata_and_type_only() -> None:
    secret = {"type": "kubernetes.io/service-account-token", "data": {"token": "c2VjcmV0"},
              "metadata": {"namespace": "ci", "name": "t", "uid": "u", "labels": {"a": "b"},
                           "annotations": {"kubernetes.io/service-account.name": "deployer",
                                           "kubectl.kubernetes.io/last-applied-configuration": "{\"data\": 1}"}}}
    [token] = token_secrets([secret, {"type": "Opaque", "metadata": {"name": "o"}}])
    assert token == {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                     "metadata": {"namespace": "ci", "name": "t", "labels": {"a": "b"},
                                  "annotations": {"kubernetes.io/service-account.name": "deployer"}}}


def test_the_file_keeps_them_and_refuses_token_data() -> None:
    snap = Snapshot(server_version="v1.25.15", component_configs={"kube-proxy": {"mode": "ipvs"}},
                    service_account_tokens=[{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"}}],
                    deprecated_api_requests=[DeprecatedApiRequest("batch", "v1beta1", "cronjobs", "", "1.25")])
    again = loads(dump(snap), "s.yaml")
    assert again.component_configs == snap.component_configs
    assert again.service_account_tokens == snap.service_account_tokens
    assert again.deprecated_api_requests == snap.deprecated_api_requests
    unread = loads(dump(Snapshot(server_version="v1.25.15")), "s.yaml")
    assert unread.service_account_tokens is None and unread.deprecated_api_requests is None
    leaked = Snapshot(server_version="v1.25.15", service_account_tokens=[
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"}, "data": {"token": "x"}}])
    text = dump(leaked)
    with pytest.raises(InputError, match=r"s.yaml: service_account_tokens\[0\].data: a token Secret is recorded"):
        loads(text, "s.yaml")
    data = yaml.safe_load(dump(snap))
    data["deprecated_api_requests"][0]["removed_release"] = 125
    bad = yaml.safe_dump(data)
    with pytest.raises(InputError, match=r"deprecated_api_requests\[0\].removed_release: expected a string"):
        loads(bad, "s.yaml")
