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


PROBE_BODY = "answered from outside the rehearsal cluster\n"


def probe_pods(namespace: str) -> list[dict[str, Any]]:
    """Two idle pods of the workload image to try egress from: one with its own network namespace, one on the
    node's (``hostNetwork``)."""
    pods = []
    for name, host in (("egress-probe", False), ("egress-probe-host", True)):
        spec: dict[str, Any] = {"containers": [{
            "name": "probe", "image": WORKLOAD_IMAGE, "imagePullPolicy": "Never",
            "command": ["/bin/busybox", "sleep", "3600"]}], "terminationGracePeriodSeconds": 0}
        if host:
            spec.update(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                                     "labels": {"app": "egress-probe"}},
                     "spec": spec})
    return pods


class OutsideListener:
    """An HTTP listener on an address of this machine outside every cluster network (the source address of the
    default route, else the default Docker bridge's gateway); counts the requests it answers."""

    def __init__(self, address: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.requests.append(self.client_address[0])
                body = PROBE_BODY.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.requests: list[str] = []
        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def outside_address(client: Any) -> str:
    """An IPv4 address of this machine on no Docker network a kind cluster uses."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("203.0.113.1", 9))  # no packet is sent: this only picks the default route's source
            address = str(s.getsockname()[0])
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        address = str(client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"])
    return address
