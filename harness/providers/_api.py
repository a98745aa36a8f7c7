"""Reaching a rehearsal cluster's API: its apiserver directly (admin client certificate) to measure downtime,
and its nodes through the Kubernetes client.

Both providers poll ``/readyz`` while they replace the control plane; the report carries the seconds it did not
answer ready. Both wait for their nodes to be Ready at a kubelet version after creating and upgrading them.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import InfraError
from harness.kube import api_client
from harness.progress import Progress
from harness.providers.base import Cluster
from harness.versions import Version


@dataclass
class ApiEndpoint:
    """An apiserver URL and a TLS context holding the cluster CA and the admin client certificate."""

    server: str
    context: ssl.SSLContext

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        """GET ``path``: (status, body); HTTP errors are answers, connection errors raise OSError. Straight to the
        apiserver: a proxy in the environment (a runner's ``HTTPS_PROXY``) is not used."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=self.context))
        try:
            with opener.open(self.server + path, timeout=timeout) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read().decode(errors="replace")


def endpoint(server: str, ca: str, cert: str, key: str, *, check_hostname: bool = True) -> ApiEndpoint:
    """An :class:`ApiEndpoint` from the paths of the CA, client certificate and key (the chain is always verified;
    ``check_hostname=False`` where the serving certificate does not name the address used)."""
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = check_hostname
    context.load_cert_chain(cert, key)
    return ApiEndpoint(server=server.rstrip("/"), context=context)


class DowntimeMonitor:
    """Polls ``/readyz`` in a thread and adds up the time the API did not answer ready."""

    def __init__(self, api: ApiEndpoint, interval: float) -> None:
        self.api, self.interval = api, interval
        self.down_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                ok = self.api.get("/readyz", timeout=1.0) == (200, "ok")
            except OSError:
                ok = False
            now = time.monotonic()
            if not ok:
                self.down_seconds += now - last
            last = now
            self._stop.wait(self.interval)

    def __enter__(self) -> DowntimeMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def core_api(cluster: Cluster) -> Any:
    """The Kubernetes core/v1 client of ``cluster``."""
    from kubernetes import client

    return client.CoreV1Api(api_client(cluster.kubeconfig))


def wait_nodes_ready(cluster: Cluster, version: Version, progress: Progress, *, names: Sequence[str] | None = None,
                     timeout: float, interval: float) -> None:
    """Every node (or those named) Ready and reporting kubelet ``version``; the API may drop out meanwhile."""
    core = core_api(cluster)
    deadline = time.monotonic() + timeout
    pending: list[str] = []
    while time.monotonic() < deadline:
        try:
            items = core.list_node().items
        except Exception:  # the apiserver restarting: ask again
            time.sleep(interval)
            continue
        watched = [n for n in items if names is None or n.metadata.name in names]
        missing = sorted(set(names or ()) - {n.metadata.name for n in watched})
        pending = [n.metadata.name for n in watched
                   if n.status.node_info.kubelet_version != version.tag
                   or not any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])] + missing
        if not pending and (watched or names is not None):
            return
        total = len(watched) + len(missing)
        progress.update(f"{total - len(pending)}/{total} nodes Ready at {version.tag}")
        time.sleep(interval)
    raise InfraError(f"nodes not Ready at {version.tag} after {timeout:.0f}s: {', '.join(pending) or 'none'}")
