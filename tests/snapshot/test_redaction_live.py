"""No planted credential survives: a real kube-apiserver (1.28) holds 35 distinct credentials, plain and
base64-encoded, in every place the redaction covers (env values whatever their name, args and command flags in both
forms, ConfigMap files in properties/ini/env/YAML/JSON form, Secrets and their last-applied annotations, other
annotations, a Helm release's values and rendered manifest, Flux and Argo CD values, custom resources, StorageClass
parameters); `rehearse snapshot` writes none of them (and a 0600 file saying where it masked), and a local
rehearsal 1.28 → 1.29 of that snapshot writes none of them to any report file or log, while it still recreates
every object that held one."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.binaries import BinarySet
from harness.binaries.bare import BareControlPlane, bare_control_plane
from harness.snapshot import load
from harness.snapshot._redact import looks_random

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "snapshot"
pytestmark = pytest.mark.slow


def _random_token() -> str:
    while True:
        token = secrets.token_urlsafe(24)
        if looks_random(token):
            return token


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVEVELTA1In0.UExBTlRFRC1zaWduYXR1cmUtMDU"
RANDOM = _random_token()
AWS_KEY_ID = "AKIAPLANTED000000017"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCPLANTED15"
PLANTED = [f"PLANTED{n:02d}x" for n in range(1, 36) if n not in (5, 7, 15, 17)] + [JWT, RANDOM, PEM_BODY, AWS_KEY_ID]


def p(n: int) -> str:
    return f"PLANTED{n:02d}x"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _crd(group: str, kind: str, plural: str, version: str) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "versions": [{"name": version, "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def _workloads() -> list[dict[str, Any]]:
    env = [{"name": "DATABASE_URL", "value": f"postgres://app:{p(1)}@db.shop:5432/shop?sslmode=require"},
           {"name": "SENTRY_DSN", "value": f"https://{p(2)}@o1.ingest.sentry.io/42"},
           {"name": "DB_PASS", "value": p(3)}, {"name": "MYSQL_PWD", "value": p(4)},
           {"name": "SESSION", "value": JWT}, {"name": "APP_CONFIG", "value": b64(f"password={p(6)}\nmode=fast\n")},
           {"name": "SEED", "value": RANDOM}, {"name": "MODE", "value": "production"}]
    container = {"name": "web", "image": "registry.example.com/shop/web:2.0.1", "env": env,
                 "args": [f"--db-password={p(8)}", "--api-token", p(9), "--port=8080"],
                 "command": ["sh", "-c", f"exec java -Dspring.datasource.password={p(10)} -jar /app.jar"],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "httpHeaders": [
                     {"name": "Authorization", "value": f"Bearer {p(35)}"}]}}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": "shop", "annotations": {"example.com/api-token": p(33)}},
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}}
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "report", "namespace": "shop"},
               "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                   "restartPolicy": "Never", "containers": [{"name": "report", "image": "busybox:1.36", "env": [
                       {"name": "REDIS_URL", "value": f"redis://:{p(34)}@redis.shop:6379/0"}]}]}}}}}}
    return [deployment, cronjob]


def _configs() -> list[dict[str, Any]]:
    service_account = json.dumps({
        "type": "service_account", "project_id": "shop", "client_email": "shop@shop.iam.gserviceaccount.com",
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"}, indent=2)
    data = {
        "app.properties": f"db.url=jdbc:postgresql://db/shop\ndb.password={p(11)}\nlog.level=info\n",
        "app.ini": f"[db]\nhost = db\npassphrase = {p(12)}\n\n[aws]\nregion = eu-west-1\nid = {AWS_KEY_ID}\n",
        "app.env": f"export SIGNING_KEY={p(13)}\nMODE=fast\n",
        "app.yaml": f"server:\n  port: 8080\ncredentials:\n  admin:\n    masterKey: {p(14)}\n",
        "gcp.json": service_account,
        "storage": f"DefaultEndpointsProtocol=https;AccountName=shop;AccountKey={p(16)}==;"
                   "EndpointSuffix=core.windows.net",
        "headers.txt": f"Accept: application/json\nAuthorization: Bearer {p(18)}\n",
        "dsn": f"host=db user=app password={p(19)} dbname=shop sslmode=require",
        "extra.b64": b64(f"cache:\n  token: {p(20)}\n"),
        "color": "blue",
    }
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
                 "data": data}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"}, "type": "Opaque",
              "stringData": {"password": p(21)}, "data": {"api-key": b64(p(22))}}
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
        "name": "web", "namespace": "shop",
        "annotations": {"nginx.ingress.kubernetes.io/auth-url": f"https://u:{p(31)}@auth.example.com/check"}},
        "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [{
            "path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}
    storage = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "nas"},
               "provisioner": "nas.csi.example.com",
               "parameters": {"server": "nas.example.com", "adminSecretName": "nas-admin", "userPassword": p(32)}}
    return [configmap, secret, ingress, storage]


def _custom_resources() -> list[dict[str, Any]]:
    flux = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "cache", "namespace": "shop"},
            "spec": {"interval": "10m", "chart": {"spec": {"chart": "redis", "version": "18.0.0",
                                                           "sourceRef": {"kind": "HelmRepository", "name": "bitnami"}}},
                     "values": {"auth": {"enabled": True, "password": p(25)}, "replica": {"replicaCount": 2}}}}
    argo = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"project": "default",
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
                     "source": {"repoURL": f"https://git:{p(28)}@git.example.com/shop.git", "path": "chart",
                                "targetRevision": "HEAD", "helm": {
                                    "values": f"image:\n  tag: 2.0.1\nredis:\n  password: {p(26)}\n",
                                    "parameters": [{"name": "db.password", "value": p(27)}]}}}}
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "vault", "namespace": "shop"},
              "spec": {"size": 3, "database": {"host": "db", "port": 5432, "encryptionKey": p(29)},
                       "tokenB64": b64(p(30))}}
    return [flux, argo, widget]


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: payments\nversion: 1.4.0\nappVersion: \"3.1\"\n",
    "values.yaml": "db:\n  password: \"\"\napiKey: \"\"\n",
    "templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments-db\nstringData:\n"
                             "  password: {{ .Values.db.password | quote }}\n",
    "templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: payments\ndata:\n"
                                "  gateway.conf: |\n    endpoint=https://pay.example.com\n"
                                "    api_key={{ .Values.apiKey }}\n",
}
# the objects that held planted credentials: each must be recreated by the rehearsal
HOLDERS = {("Deployment", "shop", "web"), ("CronJob", "shop", "report"), ("ConfigMap", "shop", "settings"),
           ("Secret", "shop", "db"), ("Ingress", "shop", "web"), ("StorageClass", "", "nas"),
           ("HelmRelease", "shop", "cache"), ("Application", "shop", "shop"), ("Widget", "shop", "vault"),
           ("Secret", "shop", "payments-db"), ("ConfigMap", "shop", "payments")}


@dataclass
class Planted:
    cp: BareControlPlane
    kubeconfig: Path
    workdir: Path


def _run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "CI": "1", **(env or {})})


@pytest.fixture(scope="module")
def planted(bin128: BinarySet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    workdir = tmp_path_factory.mktemp("redaction-live")
    with bare_control_plane(bin128.directory, workdir / "cp") as cp:
        kubeconfig = cp.kubeconfig()

        def kubectl(*args: str) -> None:
            out = _run([str(bin128.path("kubectl")), "--kubeconfig", str(kubeconfig), *args], 60)
            assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"

        def apply(docs: list[dict[str, Any]], name: str) -> None:
            path = workdir / f"{name}.yaml"
            path.write_text(yaml.safe_dump_all(docs))
            kubectl("apply", "-f", str(path))

        kubectl("create", "-f", str(FIXTURES / "nodes.yaml"))
        apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
               _crd("helm.toolkit.fluxcd.io", "HelmRelease", "helmreleases", "v2"),
               _crd("argoproj.io", "Application", "applications", "v1alpha1"),
               _crd("example.com", "Widget", "widgets", "v1")], "base")
        for crd in ("helmreleases.helm.toolkit.fluxcd.io", "applications.argoproj.io", "widgets.example.com"):
            kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s")
        apply(_workloads() + _configs() + _custom_resources(), "planted")
        chart = workdir / "payments"
        for rel, text in CHART.items():
            (chart / rel).parent.mkdir(parents=True, exist_ok=True)
            (chart / rel).write_text(text)
        home = workdir / "helm"
        out = _run([str(bin128.path("helm")), "--kubeconfig", str(kubeconfig), "install", "payments", str(chart),
                    "-n", "shop", "--set", f"db.password={p(23)}", "--set", f"apiKey={p(24)}"], 120,
                   {"HELM_CACHE_HOME": str(home / "c"), "HELM_CONFIG_HOME": str(home / "g"),
                    "HELM_DATA_HOME": str(home / "d")})
        assert out.returncode == 0, out.stderr
        yield Planted(cp, kubeconfig, workdir)


def _leaks(text: str) -> list[str]:
    return [s for s in PLANTED if s in text or b64(s) in text]


def test_enough_distinct_credentials_are_planted() -> None:
    assert len(set(PLANTED)) == len(PLANTED) >= 25


@pytest.fixture(scope="module")
def snapshot_file(planted: Planted) -> Path:
    out = planted.workdir / "snap.yaml"
    result = _run([sys.executable, "-m", "harness", "snapshot", "--kubeconfig", str(planted.kubeconfig),
                   "-o", str(out)], 180)
    assert result.returncode == 0, result.stderr
    return out


def test_snapshot_holds_none_and_says_where(snapshot_file: Path) -> None:
    text = snapshot_file.read_text()
    assert _leaks(text) == []
    assert stat.S_IMODE(snapshot_file.stat().st_mode) == 0o600
    snap = load(snapshot_file)
    kept = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in snap.objects}
    helm = {(d["kind"], "shop", d["metadata"]["name"]) for r in snap.helm_releases
            for d in yaml.safe_load_all(r.manifest) if d}
    assert kept | helm >= HOLDERS
    where = "\n".join(snap.masked)
    for place in ("Deployment shop/web: spec.template.spec.containers[web].env[DATABASE_URL].value (URL user info)",
                  "Deployment shop/web: spec.template.spec.containers[web].args[2] (credential flag)",
                  "ConfigMap shop/settings: data[gcp.json] (private key)",
                  "Secret shop/db: data[api-key] (Secret value)",
                  "HelmRelease shop/payments: values.db.password (credential key)",
                  "HelmRelease shop/cache: spec.values.auth.password (credential key)",
                  "Application shop/shop: spec.source.helm.parameters[db.password].value (credential name)",
                  "Widget shop/vault: spec.database.encryptionKey (credential key)",
                  "StorageClass nas: parameters.userPassword (credential key)"):
        assert place in snap.masked, (place, where)
    assert len(snap.masked) >= 35


def test_rehearsal_recreates_the_holders_and_writes_none(snapshot_file: Path, tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    result = _run([sys.executable, "-m", "harness", "run", "--provider", "local", "--snapshot", str(snapshot_file),
                   "--from", "1.28", "--to", "1.29", "--report-dir", str(report_dir)], 900)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    assert _leaks(result.stdout + result.stderr) == []
    files = [f for f in report_dir.rglob("*") if f.is_file()]
    assert (report_dir / "report.json").is_file() and any(f.parent.name == "logs" or "logs" in f.parts for f in files)
    for f in files:
        assert _leaks(f.read_bytes().decode("utf-8", "replace")) == [], f
    report = json.loads((report_dir / "report.json").read_text())
    missing = {(n["object"]["kind"], n["object"].get("namespace") or "", n["object"]["name"]): n["reason"]
               for n in report["coverage"]["not_recreated"]}
    assert not (HOLDERS & set(missing)), {k: missing[k] for k in HOLDERS & set(missing)}
    assert report["coverage"]["objects_recreated"] >= len(HOLDERS)
