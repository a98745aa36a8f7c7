"""The pieces of the snapshot without a cluster: Helm storage decoding, revision choice, redaction, sanitizing,
add-on identification, control-plane flags."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from harness.snapshot import _build, _helm, _reader, _sanitize
from harness.snapshot.addons import identify, patterns, split_image
from harness.snapshot.model import HelmRelease

RELEASE: dict[str, Any] = {
    "name": "web", "namespace": "apps", "version": 4,
    "info": {"status": "deployed", "description": "Upgrade complete"},
    "chart": {"metadata": {"name": "ingress-nginx", "version": "4.8.3", "appVersion": "1.9.4",
                           "kubeVersion": ">=1.20.0-0"}, "values": {"controller": {"adminPassword": "DEFAULT-pw"}}},
    "config": {"controller": {"replicas": 2, "auth": {"password": "hunter2", "enabled": True}},
               "tokens": ["t1", "t2"], "githubToken": 12345, "tls": {"key": "k", "cert": "c"}},
    "manifest": (
        "---\n# Source: web/templates/secret.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: web\n"
        "stringData:\n  password: hunter2\n---\n# Source: web/templates/svc.yaml\napiVersion: v1\nkind: Service\n"
        "metadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n"
    ),
    "hooks": [{"name": "web-test", "manifest": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: web-test\n"}],
}


def helm_encode(release: dict[str, Any], storage: str, compress: bool = True) -> str:
    """What Helm's storage driver writes, as the API returns it."""
    raw = json.dumps(release).encode()
    helm_bytes = base64.b64encode(gzip.compress(raw) if compress else raw)
    if storage == "secret":  # Secret data is base64-encoded once more by the API
        return base64.b64encode(helm_bytes).decode()
    return helm_bytes.decode()


@pytest.mark.parametrize("storage", ["secret", "configmap"])
@pytest.mark.parametrize("compress", [True, False])
def test_decode_both_drivers(storage: str, compress: bool) -> None:
    assert _helm.decode(helm_encode(RELEASE, storage, compress), storage) == RELEASE


@pytest.mark.parametrize("data", ["", "not base64 at all!", base64.b64encode(b"\x1f\x8b\x08garbage").decode(),
                                  base64.b64encode(b"[1, 2]").decode()])
def test_decode_garbage_is_a_decode_error(data: str) -> None:
    with pytest.raises(_helm.HelmDecodeError):
        _helm.decode(data, "configmap")


def test_to_model_masks_values_and_redacts_manifest() -> None:
    rel = _helm.to_model(RELEASE, "secret")
    assert (rel.name, rel.namespace, rel.chart, rel.chart_version, rel.app_version, rel.revision) == (
        "web", "apps", "ingress-nginx", "4.8.3", "1.9.4", 4
    )
    assert (rel.status, rel.kube_version, rel.storage, rel.description) == (
        "deployed", ">=1.20.0-0", "secret", "Upgrade complete"
    )
    assert rel.values == {
        "controller": {"replicas": 2, "auth": {"password": "<redacted>", "enabled": True}},
        "tokens": ["<redacted>", "<redacted>"], "githubToken": 0, "tls": {"key": "<redacted>", "cert": "c"},
    }
    assert "hunter2" not in rel.manifest and "DEFAULT-pw" not in repr(rel)
    assert "# Source: web/templates/secret.yaml\n" in rel.manifest
    assert "kind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n" in rel.manifest  # untouched
    assert _helm.hook_manifests(RELEASE) == [RELEASE["hooks"][0]["manifest"]]


def rev(release: str, revision: int, status: str, ns: str = "a") -> _helm.Revision:
    return _helm.Revision(ns, release, revision, status, f"sh.helm.release.v1.{release}.v{revision}")


def test_choose_highest_deployed_revision() -> None:
    chosen = _helm.choose([
        rev("web", 1, "superseded"), rev("web", 2, "deployed"), rev("web", 3, "failed"),  # failed upgrade
        rev("db", 1, "superseded"), rev("db", 2, "superseded"), rev("db", 3, "deployed"),
        rev("new", 1, "pending-install"),  # never deployed: its highest revision, status shown
        rev("gone", 1, "superseded"), rev("gone", 2, "uninstalled"),  # uninstalled --keep-history: left out
        rev("web", 1, "deployed", ns="b"),  # same name, other namespace: another release
    ])
    assert [(r.namespace, r.release, r.revision, r.status) for r in chosen] == [
        ("a", "db", 3, "deployed"), ("a", "new", 1, "pending-install"), ("a", "web", 2, "deployed"),
        ("b", "web", 1, "deployed"),
    ]


def test_revision_of_reads_helm_labels() -> None:
    meta: dict[str, Any] = {"name": "sh.helm.release.v1.my.app.v12", "namespace": "x",
            "labels": {"owner": "helm", "name": "my.app", "status": "deployed", "version": "12"}}
    assert _helm.revision_of(meta) == _helm.Revision("x", "my.app", 12, "deployed", "sh.helm.release.v1.my.app.v12")
    assert _helm.revision_of({"name": "other", "labels": {"owner": "helm"}}) is None
    assert _helm.revision_of({**meta, "labels": {**meta["labels"], "version": "x"}}) is None


# -- redaction and sanitizing ----------------------------------------------------------------------------------


def last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(obj)}


def test_secret_keeps_key_names_only_including_last_applied() -> None:
    applied = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"pw": "hunter2"},
               "data": {"tls.key": "c2VjcmV0"}}
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "s", "namespace": "a", "annotations": last_applied(applied)},
              "data": {"pw": "aHVudGVyMg==", "tls.key": "c2VjcmV0"}}
    _sanitize.redact(secret)
    assert secret["data"] == {"pw": "", "tls.key": ""}
    annotations = secret["metadata"]["annotations"]
    assert annotations["rehearse.dev/redacted"] == "true"
    body = json.loads(annotations["kubectl.kubernetes.io/last-applied-configuration"])
    assert body["data"] == {"pw": "", "tls.key": ""} and "stringData" not in body
    assert "hunter2" not in json.dumps(secret) and "c2VjcmV0" not in json.dumps(secret)


def test_configmap_credentials_masked_everything_else_kept() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"
    cm: dict[str, Any] = {
        "kind": "ConfigMap", "metadata": {"name": "c"}, "binaryData": {"blob": "AAEC"},
        "data": {"color": "blue", "DB_PASSWORD": "pw1", "api-key": "k1", "key": "k2", "ssh-key": "k3",
                 "app.yaml": "db:\n  host: x\n  password: pw2\n  apiKey: 'k4'\nlevel: info\n",
                 "cert.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "id.pem": pem,
                 "monkey": "banana"},
    }
    _sanitize.redact(cm)
    data = cm["data"]
    assert data["color"] == "blue" and data["monkey"] == "banana"
    assert data["DB_PASSWORD"] == data["api-key"] == data["key"] == data["ssh-key"] == "<redacted>"
    assert data["app.yaml"] == "db:\n  host: x\n  password: <redacted>\n  apiKey: '<redacted>'\nlevel: info\n"
    assert data["cert.pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "MIIEow" not in data["id.pem"]
    assert cm["binaryData"] == {"blob": ""}


def test_env_values_with_credential_names_are_masked() -> None:
    pod_spec = {
        "containers": [{"name": "a", "env": [{"name": "TOKEN", "value": "t0p"}, {"name": "MODE", "value": "fast"},
                                             {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}],
    }
    cronjob: dict[str, Any] = {
        "kind": "CronJob", "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}},
    }
    _sanitize.redact(cronjob)
    env = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "TOKEN", "value": "<redacted>"}, {"name": "MODE", "value": "fast"},
                   {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s"}}}]


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"kind": "Namespace", "metadata": {"name": "kube-system"}}, "system namespace"),
        ({"kind": "Namespace", "metadata": {"name": "shop"}}, None),
        ({"kind": "ClusterRole", "metadata": {"name": "system:node"}}, "built-in RBAC"),
        ({"kind": "ClusterRole",
          "metadata": {"name": "view", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}}}, "built-in RBAC"),
        ({"kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "a"}}, "default service account"),
        ({"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "a"}}, "created by Kubernetes"),
        ({"kind": "Secret", "type": "kubernetes.io/service-account-token", "metadata": {"name": "t"}},
         "service-account token"),
        ({"kind": "Secret", "type": "helm.sh/release.v1", "metadata": {"name": "h"}}, "Helm release storage"),
        ({"kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"}}, "created by Kubernetes"),
        ({"kind": "Job", "metadata": {"name": "j", "ownerReferences": [{"kind": "CronJob", "name": "c",
                                                                         "controller": True}]}},
         "managed by CronJob/c"),
        ({"kind": "PriorityClass", "metadata": {"name": "system-node-critical"}}, "built-in priority class"),
        ({"kind": "APIService", "metadata": {"name": "v1.apps"}, "spec": {}}, "served by kube-apiserver itself"),
    ],
)
def test_skip_reason(obj: dict[str, Any], reason: str | None) -> None:
    assert _sanitize.skip_reason(obj) == reason


def test_sanitize_drops_what_the_server_owns() -> None:
    svc = {"metadata": {"name": "s", "namespace": "a", "uid": "u", "resourceVersion": "1", "generation": 2,
                        "creationTimestamp": "t", "managedFields": [{}],
                        "ownerReferences": [{"kind": "X", "name": "x"}],
                        "annotations": {"deployment.kubernetes.io/revision": "3"}},
           "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80}]},
           "status": {"loadBalancer": {}}}
    out = _sanitize.sanitize(svc, "v1", "Service")
    assert out == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "a"},
                   "spec": {"ports": [{"port": 80}]}}
    pod_owner = {"metadata": {"name": "d"}, "spec": {"template": {"metadata": {"creationTimestamp": None},
                                                                   "spec": {"nodeName": "n1", "containers": []}}}}
    out = _sanitize.sanitize(pod_owner, "apps/v1", "Deployment")
    assert out["spec"]["template"] == {"metadata": {}, "spec": {"containers": []}}


# -- add-ons ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ("nginx", "")),
        ("nginx:1.25", ("nginx", "1.25")),
        ("localhost:5000/team/app:v2", ("localhost:5000/team/app", "v2")),
        ("localhost:5000/team/app", ("localhost:5000/team/app", "")),
        ("registry.k8s.io/coredns/coredns:v1.10.1@sha256:abc", ("registry.k8s.io/coredns/coredns", "v1.10.1")),
        ("quay.io/cilium/cilium@sha256:abc", ("quay.io/cilium/cilium", "")),
    ],
)
def test_split_image(image: str, expected: tuple[str, str]) -> None:
    assert split_image(image) == expected


def deployment(name: str, ns: str, images: list[str], labels: dict[str, str] | None = None,
               annotations: dict[str, str] | None = None, kind: str = "Deployment") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": ns, "labels": labels or {},
                                       "annotations": annotations or {}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": i} for i in images]}}}}


def test_identify_addons_by_chart_label_and_image() -> None:
    releases = [HelmRelease(name="cm", namespace="cert-manager", chart="cert-manager", chart_version="v1.13.2",
                            app_version="v1.13.2", status="deployed", revision=1, storage="secret")]
    workloads = [
        deployment("cert-manager", "cert-manager", ["quay.io/jetstack/cert-manager-controller:v1.13.2"],
                   annotations={"meta.helm.sh/release-name": "cm", "meta.helm.sh/release-namespace": "cert-manager"}),
        deployment("cert-manager-webhook", "cert-manager", ["quay.io/jetstack/cert-manager-webhook:v1.13.2"],
                   annotations={"meta.helm.sh/release-name": "cm", "meta.helm.sh/release-namespace": "cert-manager"}),
        deployment("kube-proxy", "kube-system", ["registry.k8s.io/kube-proxy:v1.28.15"], kind="DaemonSet"),
        deployment("cilium", "kube-system", ["quay.io/cilium/cilium:v1.14.4@sha256:abc"], kind="DaemonSet"),
        deployment("cilium-operator", "kube-system", ["quay.io/cilium/operator-generic:v1.14.4"]),
        deployment("traefik", "edge", ["my.registry/traefik-fork:2.10"],
                   labels={"app.kubernetes.io/name": "traefik", "app.kubernetes.io/version": "2.10.5"}),
        deployment("my-app", "shop", ["registry.example.com/shop:1"]),
    ]
    addons = {(a.name, a.namespace): a for a in identify(releases, workloads)}
    assert set(addons) == {("cert-manager", "cert-manager"), ("kube-proxy", "kube-system"),
                           ("cilium", "kube-system"), ("traefik", "edge")}
    cm = addons[("cert-manager", "cert-manager")]
    assert (cm.version, cm.detected_by) == ("v1.13.2", "helm-chart")
    assert cm.workload == "Deployment/cert-manager/cert-manager"
    assert cm.images == ["quay.io/jetstack/cert-manager-controller:v1.13.2",
                         "quay.io/jetstack/cert-manager-webhook:v1.13.2"]
    assert (addons[("kube-proxy", "kube-system")].version, addons[("kube-proxy", "kube-system")].detected_by) == (
        "v1.28.15", "image-tag")
    cilium = addons[("cilium", "kube-system")]
    assert cilium.version == "v1.14.4" and len(cilium.images) == 2
    traefik = addons[("traefik", "edge")]
    assert (traefik.version, traefik.detected_by) == ("2.10.5", "label")


def test_every_pattern_compiles_and_names_are_unique() -> None:
    names = [p.name for p in patterns()]
    assert len(names) == len(set(names)) and len(names) >= 30
    assert all(p.images for p in patterns())


# -- control plane ---------------------------------------------------------------------------------------------


def kubeadm_config(text: str) -> dict[str, Any]:
    return {"metadata": {"name": "kubeadm-config", "namespace": "kube-system"}, "data": {"ClusterConfiguration": text}}


def test_control_plane_not_visible_on_managed_clusters() -> None:
    cp = _build.control_plane_flags([], [], True)
    assert not cp.visible and cp.source == _build.NOT_VISIBLE
    cp = _build.control_plane_flags([], _reader.ListFailed(403, "nope"), False)
    assert not cp.visible
    assert cp.source == "not visible: pods in kube-system not readable (forbidden); configmaps not readable"


def test_control_plane_from_kubeadm_config_both_extra_args_shapes() -> None:
    v1beta3 = ("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n"
               "    feature-gates: A=true,B=false\n    enable-admission-plugins: NodeRestriction\n")
    cp = _build.control_plane_flags([kubeadm_config(v1beta3)], [], True)
    assert cp.visible and cp.source == "kubeadm-config"
    assert cp.apiserver_args == ["--enable-admission-plugins=NodeRestriction", "--feature-gates=A=true,B=false"]
    assert cp.feature_gates == {"A": True, "B": False} and cp.admission_plugins == ["NodeRestriction"]
    v1beta4 = ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
               "featureGates: {ControlPlaneKubeletLocalMode: true}\n"
               "scheduler:\n  extraArgs:\n  - name: feature-gates\n    value: C=true\n")
    cp = _build.control_plane_flags([kubeadm_config(v1beta4)], [], True)
    assert cp.scheduler_args == ["--feature-gates=C=true"] and cp.feature_gates == {"C": True}
    assert cp.kubeadm_feature_gates == {"ControlPlaneKubeletLocalMode": True}


# -- the YAML emitter ------------------------------------------------------------------------------------------

TRICKY = [
    "", " ", "  lead", "trail ", "yes", "No", "TRUE", "off", "null", "Null", "~", "y", "n", "nan", ".inf", "-.inf",
    "1", "1.0", "0x1F", "0o17", "1e5", "1:30", "2024-01-01", "12:30:00", "-", "--", "- a", "-a", "--flag=x", "-1",
    "a: b", "a:b", "a :b", "#x", "a #b", "a#b", "'", '"', "\\", "\\n", "'q'", '"q"', "@x", "`x", "%x", "!x", "&x",
    "*x", "|", ">", "?", "? x", "[a]", "{a}", "a, b", "a,b", "<<", "=", "<redacted>", "ünïcödé", "日本", "emoji 🎉",
    "tab\there", "cr\r", "nul\x00", "del\x7f", "nel\x85", "ls\u2028", "bom\ufeff", "a\nb", "a\nb\n", "a\nb\n\n",
    "\nlead", " a\nb", "a\n b\n", "a\n\n\nb", "a\n  \nb", "x\r\ny", "# comment\nkey: v\n", "a\n- b\n", "line \nx ",
    "/dev/termination-log", "registry.k8s.io/coredns/coredns:v1.10.1", "app.kubernetes.io/name", "25%",
    "http://x.example.com:8080/p?q=1&r=2", "a  b", "a\tb", "end:", "end: ", "k=v,k2=v2", "(x)", "f(x) = y",
]


def test_emitter_round_trips_tricky_values() -> None:
    import yaml

    from harness.snapshot import _yaml

    data = {
        "strings": TRICKY,
        "as_keys": {s: i for i, s in enumerate(TRICKY) if "\n" not in s and "\r" not in s},
        "nested": [[1, [2, []]], {}, [], {"a": [{"b": {"c": [None, True, False, 0, -7]}}]},
                   [{"x": "a\nb\n"}, "c\n"]],
        "blocks": [{"k": s} for s in TRICKY if "\n" in s],
    }
    text = _yaml.emit_top(list(data.items()))
    back = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert back == data
    assert yaml.safe_load(text) == data
    assert _yaml.read(text) == data  # the fast reader agrees with a full YAML parser
    with_floats = {**data, "floats": [1.5, 1e-05, float("inf")]}
    text = _yaml.emit_top(list(with_floats.items()))
    assert yaml.safe_load(text) == with_floats
    assert _yaml.read(text) is None  # outside the fast reader's subset: callers fall back to a full parser


def test_emitter_round_trips_random_strings() -> None:
    import random

    import yaml

    from harness.snapshot import _yaml

    rng = random.Random(1234)
    alphabet = "aZ09 _-.:/#'\"\\\n\t,[]{}&*!|>%@`?=<~+()é🎉\r\x85\u2028"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    data = {"values": values, "keys": {v: 1 for v in values}}
    text = _yaml.emit_top(list(data.items()))
    assert yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) == data
    assert _yaml.read(text) == data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"user":"a","password":"hunter2","port":5432}', '{"user":"a","password":"<redacted>","port":5432}'),
        ("db.password=hunter2\ndb.user=a", "db.password=<redacted>\ndb.user=a"),
        ("export API_KEY=abc123; run", "export API_KEY=<redacted>; run"),
        ("url: postgres://app:hunter2@db:5432/x", "url: postgres://redacted:redacted@db:5432/x"),
        ("Authorization: Bearer eyJhbGciOi.x-y_z", "Authorization: Bearer <redacted>"),
        ("client_secret: 'abc'  # note", "client_secret: '<redacted>'  # note"),
        ("replicas: 3\nimage: nginx", "replicas: 3\nimage: nginx"),
    ],
)
def test_mask_text(text: str, expected: str) -> None:
    assert _sanitize.mask_text(text) == expected


def test_continue_token_from_the_list_head_or_the_whole_page() -> None:
    head = b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"eyJ2Ij0=",'
    assert _reader._continue_token(head + b'"remainingItemCount":3},"items":[{"metadata":{"continue":"x"}}]}') == (
        "eyJ2Ij0="
    )
    last = b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[{"a":"continue"}]}'
    assert _reader._continue_token(last) == ""
    other_order = json.dumps({"items": [], "metadata": {"continue": "tok"}, "kind": "List"}).encode()
    assert _reader._continue_token(other_order) == "tok"
