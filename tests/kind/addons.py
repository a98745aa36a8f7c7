"""Real add-ons for the kind end-to-end tests, built here from their Go modules into local images (never pulled).

kube-state-metrics v2.6.0 lists HorizontalPodAutoscalers at ``autoscaling/v2beta2`` (served up to 1.25, removed in
1.26) while its manifests use only current APIs; v2.7.0 lists them at ``autoscaling/v2``. Each is
``go install k8s.io/kube-state-metrics/v2@<version>`` (static, CGO off) in an image ``FROM scratch`` holding the one
binary, built like the workload image (:mod:`tests.kind.workload`) and the node images' own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.nodeimage import _images, _tools
from harness.nodeimage._util import LOCAL_PREFIX, environ, run
from harness.progress import NullProgress, Progress

KSM_MODULE = "k8s.io/kube-state-metrics/v2"
KSM_OLD, KSM_NEW = "v2.6.0", "v2.7.0"  # v2beta2 HPAs (removed in 1.26); autoscaling/v2
KSM_PORT = 8080
# Only the collectors the test needs: fewer watches, fewer requests in the audit log.
KSM_RESOURCES = "horizontalpodautoscalers,deployments"
HPA_TARGET = "hpa-target"


def ksm_binary(version: str, progress: Progress | None = None) -> Path:
    """``go install k8s.io/kube-state-metrics/v2@version`` into the tools cache (built once per version)."""

    def build(tmp: Path) -> Path:
        run(["nice", "-n", "10", "go", "install", *_tools._GO_FLAGS, f"{KSM_MODULE}@{version}"],
            env=environ(**_tools._STATIC, GOBIN=str(tmp)), timeout=3600,
            what=f"go install {KSM_MODULE}@{version}")
        return tmp / "kube-state-metrics"  # go names a /vN module's binary after the path element before it

    dest = _tools._tools_dir() / f"kube-state-metrics-{version}" / "kube-state-metrics"
    return _tools._built_once(dest, f"kube-state-metrics {version}", build, progress or NullProgress())


def ksm_image_ref(version: str) -> str:
    return f"{LOCAL_PREFIX}/kube-state-metrics:{version}"


def build_ksm_image(client: Any, version: str, progress: Progress | None = None) -> str:
    """``localhost/rehearse/kube-state-metrics:<version>``: the static binary alone, serving on :data:`KSM_PORT`."""
    spec = _images.single_binary(ksm_image_ref(version), ksm_binary(version, progress), "kube-state-metrics",
                                 entrypoint=["/kube-state-metrics", f"--port={KSM_PORT}", "--telemetry-port=8081",
                                             f"--resources={KSM_RESOURCES}"])
    return _images.build(client, spec, progress)


def ksm_namespace(version: str) -> str:
    return f"ksm-{version.replace('.', '-')}"


def ksm_manifests(version: str) -> list[dict[str, Any]]:
    """kube-state-metrics ``version`` in a namespace of its own, as its own ServiceAccount (what the audit log
    attributes its requests by), with the ClusterRole of the collectors it runs and a Service."""
    ns = ksm_namespace(version)
    labels = {"app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/version": version}
    name = "kube-state-metrics"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": f"{ns}"},
         "rules": [{"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"],
                    "verbs": ["list", "watch"]},
                   {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ns},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": name, "terminationGracePeriodSeconds": 5,
                      "containers": [{"name": name, "image": ksm_image_ref(version), "imagePullPolicy": "Never",
                                      "ports": [{"name": "http-metrics", "containerPort": KSM_PORT}],
                                      "readinessProbe": {"httpGet": {"path": "/healthz", "port": KSM_PORT},
                                                         "periodSeconds": 2}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"selector": labels, "ports": [{"name": "http-metrics", "port": KSM_PORT, "targetPort": KSM_PORT}]}},
    ]


def hpa_manifests(namespace: str, image: str) -> list[dict[str, Any]]:
    """A Deployment of the workload image and an ``autoscaling/v2`` HPA on it (what kube-state-metrics lists)."""
    labels = {"app": HPA_TARGET}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": HPA_TARGET, "namespace": namespace},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "terminationGracePeriodSeconds": 0,
                      "containers": [{"name": "httpd", "image": image, "imagePullPolicy": "Never",
                                      "resources": {"requests": {"cpu": "10m"}}}]}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": HPA_TARGET, "namespace": namespace},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": HPA_TARGET},
                  "minReplicas": 1, "maxReplicas": 2,
                  "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                      "type": "Utilization", "averageUtilization": 80}}}]}},
    ]
