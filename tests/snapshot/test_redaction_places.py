"""Redaction by place, without a cluster: env values whatever their name, args and command flags, ConfigMap files
in their formats, embedded manifests, Secrets (key names only, valid for their type), Helm values and rendered
manifests, Flux and Argo CD values, custom resources; masks keep values valid; the record says where, not what."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness.manifests import LAST_APPLIED
from harness.snapshot import _helm
from harness.snapshot._redact import REDACTED, Policy
from harness.snapshot._redact_places import redact_object
from harness.snapshot._sanitize import redact_manifest
from harness.snapshot.model import ControlPlane, Snapshot, WebhookInfo
from harness.snapshot.redaction import finish, redacting

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaG9wIn0.c2lnbmF0dXJlLXBsYW50ZWQ"
RANDOM = "aZ8f3KqL9xP2mN7vB4cR1tY6"
UID = "6f1c0a2e-8d7b-4a3b-9c1e-0f2d3b4a5c6d"


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    applied = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = json.dumps(applied, sort_keys=True)
    return obj


def redacted(obj: dict[str, Any], policy: Policy | None = None) -> tuple[dict[str, Any], list[str]]:
    with redacting(policy) as masks:
        redact_object(obj)
    return obj, masks.entries()


def deployment(env: list[dict[str, Any]], args: list[str] | None = None,
               command: list[str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "registry.example.com/app@sha256:" + "0f" * 32, "env": env,
                                 "ports": [{"containerPort": 8080}]}
    if args is not None:
        container["args"] = args
    if command is not None:
        container["command"] = command
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "shop"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "app"}},
                     "template": {"metadata": {"labels": {"app": "app"}, "annotations": {"checksum/config": "ab" * 32}},
                                  "spec": {"containers": [container],
                                           "tolerations": [{"key": "dedicated", "value": "infra"}]}}}}


def test_env_values_masked_by_shape_whatever_the_name() -> None:
    env = [{"name": "DATABASE_URL", "value": "postgres://app:pw-1@db:5432/shop"},
           {"name": "SENTRY_DSN", "value": "https://pubkey2@o1.ingest.sentry.io/3"},
           {"name": "SESSION", "value": JWT}, {"name": "SEED", "value": RANDOM},
           {"name": "CONFIG", "value": base64.b64encode(b"token=pw-5\nmode=x\n").decode()},
           {"name": "DB_PASS", "value": "pw-6"}, {"name": "MYSQL_PWD", "value": "pw-7"},
           {"name": "POD_UID", "value": UID}, {"name": "MODE", "value": "production"},
           {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    obj, masks = redacted(with_last_applied(deployment(env)))
    out = {e["name"]: e.get("value") for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert out["DATABASE_URL"] == "postgres://redacted:redacted@db:5432/shop"
    assert out["SENTRY_DSN"] == "https://redacted@o1.ingest.sentry.io/3"
    assert out["SESSION"] == out["SEED"] == out["DB_PASS"] == out["MYSQL_PWD"] == REDACTED
    assert base64.b64decode(out["CONFIG"]).decode() == f"token={REDACTED}\nmode=x\n"  # still base64
    assert (out["POD_UID"], out["MODE"], out["PASSWORD"]) == (UID, "production", None)
    text = json.dumps(obj)
    assert not any(f"pw-{i}" in text for i in range(1, 8)) and "pubkey2" not in text and JWT not in text
    applied = json.loads(obj["metadata"]["annotations"][LAST_APPLIED])  # the embedded manifest, same masks
    assert applied["apiVersion"] == "apps/v1" and applied["spec"]["template"]["spec"]["containers"][0]["env"] == \
        obj["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "Deployment shop/app: spec.template.spec.containers[app].env[DATABASE_URL].value (URL user info)" in masks
    assert not any("pw-" in m for m in masks)
    template = obj["spec"]["template"]
    assert template["metadata"]["annotations"]["checksum/config"] == "ab" * 32
    assert template["spec"]["tolerations"] == [{"key": "dedicated", "value": "infra"}]


def test_args_and_command_flags_in_both_forms() -> None:
    args = ["--db-password=pw-1", "--api-token", "pw-2", "--verbose", "--feature-gates=A=true", "--port=8080",
            "-Dapp.secret.key=pw-3", "--token-file=/var/run/token"]
    command = ["sh", "-c", "exec app --password pw-4 --dsn postgres://u:pw-5@db/x"]
    obj, masks = redacted(deployment([], args, command))
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--db-password=<redacted>", "--api-token", REDACTED, "--verbose",
                                 "--feature-gates=A=true", "--port=8080", "-Dapp.secret.key=<redacted>",
                                 "--token-file=/var/run/token"]
    assert container["command"][2] == "exec app --password <redacted> --dsn postgres://redacted:redacted@db/x"
    assert len(masks) == 4


def test_configmap_files_in_their_formats() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEpw-6\n-----END PRIVATE KEY-----\n"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"},
          "binaryData": {"blob": "AAEC"},
          "data": {"app.properties": "db.url=jdbc:postgresql://db/x\ndb.password=pw-1\n",
                   "app.ini": "[db]\nhost = db\npassphrase = pw-2\n",
                   "app.env": "export SIGNING_KEY=pw-3\nMODE=fast\n",
                   "app.yaml": "db:\n  host: db\n  port: 5432\ncredentials:\n  user: admin\nnested:\n  list:\n  - "
                               f"{RANDOM}\n",
                   "sa.json": json.dumps({"type": "service_account", "private_key": pem, "project_id": "p"}, indent=2),
                   "values.b64": base64.b64encode(b"auth:\n  masterKey: pw-5\n").decode(),
                   "ca.crt": "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n",
                   "Corefile": ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n", "DB_PASSWORD": "pw-7"}}
    obj, masks = redacted(cm)
    data = obj["data"]
    assert data["app.properties"] == "db.url=jdbc:postgresql://db/x\ndb.password=<redacted>\n"
    assert data["app.ini"] == "[db]\nhost = db\npassphrase = <redacted>\n"
    assert data["app.env"] == "export SIGNING_KEY=<redacted>\nMODE=fast\n"
    assert yaml.safe_load(data["app.yaml"]) == {"db": {"host": "db", "port": 5432}, "credentials": {"user": REDACTED},
                                                "nested": {"list": [REDACTED]}}
    assert json.loads(data["sa.json"]) == {"type": "service_account", "private_key": REDACTED + "\n",
                                           "project_id": "p"}
    assert yaml.safe_load(base64.b64decode(data["values.b64"])) == {"auth": {"masterKey": REDACTED}}
    assert data["ca.crt"] == cm["data"]["ca.crt"] and data["Corefile"] == cm["data"]["Corefile"]
    assert data["DB_PASSWORD"] == REDACTED and obj["binaryData"] == {"blob": ""}
    assert "pw-" not in json.dumps(obj) and len(masks) == 9


def test_secret_keeps_key_names_only_and_stays_valid_for_its_type() -> None:
    docker = base64.b64encode(json.dumps({"auths": {"r.example.com": {"auth": "dXNlcjpwdy0x"}}}).encode()).decode()
    secrets = [
        {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": docker}},
        {"type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": "cHctMg=="}},
        {"type": "kubernetes.io/basic-auth", "stringData": {"username": "u", "password": "pw-3"}},
        {"type": "Opaque", "data": {"a": "cHctNA=="}, "stringData": {"b": "pw-5"}},
    ]
    for i, body in enumerate(secrets):
        obj = with_last_applied({"apiVersion": "v1", "kind": "Secret",
                                 "metadata": {"name": f"s{i}", "namespace": "shop"}, **body})
        obj, masks = redacted(obj)
        text = json.dumps(obj)
        assert "pw-" not in text and "cHct" not in text and "dXNlcjpwdy0x" not in text
        assert obj["metadata"]["annotations"]["rehearse.dev/redacted"] == "true" and "stringData" not in obj
        applied = json.loads(obj["metadata"]["annotations"][LAST_APPLIED])
        assert set(applied["data"]) == set(obj["data"]) and "stringData" not in applied
        assert all(m.startswith(f"Secret shop/s{i}: ") and m.endswith("(Secret value)") for m in masks)
        if i == 0:
            assert json.loads(base64.b64decode(obj["data"][".dockerconfigjson"])) == {"auths": {}}
        elif i == 1:
            assert base64.b64decode(obj["data"]["ssh-privatekey"])  # the API requires it non-empty
        else:
            assert set(obj["data"].values()) == {""} and len(obj["data"]) == 2


def test_annotations_embedded_manifests_and_references() -> None:
    embedded = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {"k": "pw-1"}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
        "name": "web", "namespace": "shop", "annotations": {
            "nginx.ingress.kubernetes.io/auth-secret": "basic-auth",
            "nginx.ingress.kubernetes.io/auth-url": "https://u:pw-2@auth.example.com/check",
            "example.com/original": json.dumps(embedded), "example.com/api-token": "pw-3-value"}},
        "spec": {"tls": [{"hosts": ["shop.example.com"], "secretName": "web-tls"}]}}
    obj, masks = redacted(ingress)
    annotations = obj["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-secret"] == "basic-auth"  # names a Secret
    assert annotations["nginx.ingress.kubernetes.io/auth-url"] == "https://redacted:redacted@auth.example.com/check"
    assert json.loads(annotations["example.com/original"])["data"] == {"k": ""}
    assert annotations["example.com/api-token"] == REDACTED
    assert obj["spec"]["tls"][0]["secretName"] == "web-tls" and "pw-" not in json.dumps(obj) and len(masks) == 3


def test_custom_resources_flux_and_argo_values_stay_valid() -> None:
    flux = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "db", "namespace": "a"},
            "spec": {"values": {"auth": {"postgresPassword": "pw-1", "existingSecret": "db-auth", "enabled": True},
                                "metrics": {"port": 9187}},
                     "valuesFrom": [{"kind": "Secret", "name": "db-values"}]}}
    argo = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "shop", "namespace": "a"},
            "spec": {"source": {"repoURL": "https://git:pw-2@git.example.com/shop.git", "helm": {
                "values": "image:\n  tag: 1.2.3\nredis:\n  password: pw-3\n",
                "parameters": [{"name": "db.password", "value": "pw-4"}, {"name": "replicas", "value": "3"}],
                "valuesObject": {"smtp": {"apiKey": "pw-5"}}}}}}
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "a"},
              "spec": {"database": {"host": "db", "port": 5432, "encryptionKey": "pw-6", "pin": 1234, "password": 4321},
                       "tls": {"key": "pw-7", "cert": "c"}, "tolerations": [{"key": "k", "value": "v"}]}}
    out = [redacted(o)[0] for o in (flux, argo, widget)]
    assert "pw-" not in json.dumps(out)
    assert out[0]["spec"]["values"] == {"auth": {"postgresPassword": REDACTED, "existingSecret": "db-auth",
                                                 "enabled": True}, "metrics": {"port": 9187}}
    source = out[1]["spec"]["source"]
    assert yaml.safe_load(source["helm"]["values"]) == {"image": {"tag": "1.2.3"}, "redis": {"password": REDACTED}}
    assert source["helm"]["parameters"][1] == {"name": "replicas", "value": "3"}
    assert urlsplit(source["repoURL"]).hostname == "git.example.com"
    spec = out[2]["spec"]
    assert spec["database"] == {"host": "db", "port": 5432, "encryptionKey": REDACTED, "pin": 1234, "password": 0}
    assert spec["tls"] == {"key": REDACTED, "cert": "c"} and spec["tolerations"] == [{"key": "k", "value": "v"}]


def test_helm_release_values_and_rendered_secret() -> None:
    manifest = ("---\n# Source: s/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
                "stringData:\n  password: pw-1\n---\n# Source: s/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\n"
                "metadata:\n  name: c\ndata:\n  url: redis://:pw-2@redis:6379/0\n---\napiVersion: v1\nkind: Service\n"
                "metadata:\n  name: s\n")
    release = {"name": "s", "namespace": "a", "version": 2, "info": {"status": "deployed"}, "manifest": manifest,
               "chart": {"metadata": {"name": "s", "version": "1.0.0"}},
               "config": {"db": {"password": "pw-3", "replicas": 2}, "sentry": {"dsn": "https://pw-4@sentry.io/1"}}}
    with redacting() as masks:
        model = _helm.to_model(release, "secret")
    assert "pw-" not in json.dumps(model.values) + model.manifest
    docs = {d["kind"]: d for d in yaml.safe_load_all(model.manifest) if d}
    assert docs["Secret"]["data"] == {"password": ""} and docs["Service"] == {"apiVersion": "v1", "kind": "Service",
                                                                               "metadata": {"name": "s"}}
    assert model.values == {"db": {"password": REDACTED, "replicas": 2}, "sentry": {"dsn": "https://redacted@sentry.io/1"}}
    assert "HelmRelease a/s manifest Secret s: stringData.password (Secret value)" in masks.entries()
    plain = "---\n# Source: s/templates/svc.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name:   s\n"
    assert redact_manifest(plain) == plain  # nothing to mask: byte for byte


def test_policy_adjusts_without_code_and_the_record_holds_no_value() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a"},
          "data": {"LICENSE_CODE": "lic-123", "BUILD_TOKEN": "build-42", "API_TOKEN": "tok-1"}}
    obj, masks = redacted(copy.deepcopy(cm), Policy(redact_keys=("licenseCode",), keep_keys=("build-token",)))
    assert obj["data"] == {"LICENSE_CODE": REDACTED, "BUILD_TOKEN": "build-42", "API_TOKEN": REDACTED}
    assert masks == ["ConfigMap a/c: data.API_TOKEN (credential key)",
                     "ConfigMap a/c: data.LICENSE_CODE (credential key)"]
    obj, masks = redacted(copy.deepcopy(cm))  # default policy
    assert obj["data"]["LICENSE_CODE"] == "lic-123" and obj["data"]["BUILD_TOKEN"] == REDACTED


def test_finish_masks_facts_and_records_once() -> None:
    snap = Snapshot(server_version="v1.28.15", control_plane=ControlPlane(
        visible=True, apiserver_args=["--oidc-client-secret=pw-1", "--secure-port=6443", "--etcd-servers=https://e:2379"]),
        webhooks=[WebhookInfo("hooks", "validating", "v.example.com", "Ignore", 5, url="https://u:pw-2@h.example.com/v")])
    with redacting() as masks:
        pass
    finish(snap, masks)
    assert snap.control_plane.apiserver_args[0] == "--oidc-client-secret=<redacted>"
    assert snap.webhooks[0].url == "https://redacted:redacted@h.example.com/v"
    assert snap.masked == ["control-plane kube-apiserver: args[0] (credential flag)",
                           "webhook hooks/v.example.com: url (URL user info)"]
    assert finish(snap, masks).masked == snap.masked  # idempotent
