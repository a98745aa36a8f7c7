"""The end-to-end test's workload: a locally built image whose container serves HTTP (busybox httpd)."""

from __future__ import annotations

from typing import Any

from harness.nodeimage import _images, _tools
from harness.nodeimage._util import LOCAL_PREFIX, Entry

WORKLOAD_IMAGE = f"{LOCAL_PREFIX}/http-hello:v1"
GREETING = "hello from a rehearsal workload\n"


def build_workload_image(client: Any) -> str:
    """``localhost/rehearse/http-hello:v1``: static busybox running ``httpd`` on port 8080 (built, never pulled)."""
    busybox = _tools.busybox()
    spec = _images.ImageSpec(
        ref=WORKLOAD_IMAGE,
        entries=[
            Entry("bin", directory=True), Entry("tmp", directory=True, mode=0o1777), Entry("www", directory=True),
            Entry("bin/busybox", source=busybox, mode=0o755),
            *(Entry(f"bin/{a}", symlink="busybox") for a in ("sh", "httpd", "hostname", "cat", "wget")),
            Entry("www/index.html", GREETING.encode()),
            Entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        ],
        entrypoint=["/bin/busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www"],
        env={"PATH": "/bin"},
    )
    return _images.build(client, spec)


def manifests(namespace: str, replicas: int = 2) -> list[dict[str, Any]]:
    """A Deployment of the workload (no pull: the image is preloaded), its Service and a PodDisruptionBudget."""
    labels = {"app": "http-hello"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "http-hello", "namespace": namespace},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                      "name": "httpd", "image": WORKLOAD_IMAGE, "imagePullPolicy": "Never",
                      "ports": [{"containerPort": 8080}],
                      "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 2}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "http-hello", "namespace": namespace},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}},
        # Every replica must stay up: a drain of the node that holds them is blocked (a finding, not a failure).
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": {"name": "http-hello", "namespace": namespace},
         "spec": {"minAvailable": replicas, "selector": {"matchLabels": labels}}},
    ]
