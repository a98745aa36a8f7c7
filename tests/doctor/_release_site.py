"""A release site on 127.0.0.1 that answers the HEAD requests ``rehearse doctor`` sends, for every mirror variable.

It fakes what cannot be reached from here (dl.k8s.io, GitHub releases, get.helm.sh) with the shapes they answer:
- ``HEAD https://dl.k8s.io/release/v1.28.15/bin/linux/amd64/kube-apiserver`` → ``302 Found`` with ``Location:
  https://cdn.dl.k8s.io/release/v1.28.15/bin/linux/amd64/kube-apiserver`` → ``200 OK`` (``Content-Length``, no
  body); a release that does not exist answers ``404 Not Found`` at the CDN;
- ``HEAD https://github.com/etcd-io/etcd/releases/download/v3.5.21/etcd-v3.5.21-linux-amd64.tar.gz`` (kwok, kind
  likewise) → ``302 Found`` to ``objects.githubusercontent.com/…`` → ``200 OK``; an asset that does not exist
  answers ``404 Not Found`` at github.com itself.
A published path answers 302 to ``/cdn/<path>``, which answers 200; anything else answers 404. Every request is
recorded (method and path), so a test can say exactly what was asked.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

MIRRORS = {  # the mirror variable of each download (harness/data/sources.yaml) → the path prefix served for it
    "REHEARSE_KUBERNETES_MIRROR": "/k8s",
    "REHEARSE_ETCD_MIRROR": "/etcd",
    "REHEARSE_KWOK_MIRROR": "/kwok",
    "REHEARSE_KIND_MIRROR": "/kind",
    "REHEARSE_HELM_MIRROR": "/helm",
}


@dataclass
class ReleaseSite:
    url: str
    published: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Every mirror variable pointed here: no download probe can leave the machine."""
        return {var: self.url + prefix for var, prefix in MIRRORS.items()}


@contextmanager
def release_site() -> Iterator[ReleaseSite]:
    site = ReleaseSite("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            site.requests.append((self.command, self.path))
            if self.path in site.published:
                self.send_response(302)
                self.send_header("Location", f"{site.url}/cdn{self.path}")
                self.send_header("Content-Length", "0")
            elif self.path.startswith("/cdn/") and self.path[len("/cdn"):] in site.published:
                self.send_response(200)
                self.send_header("Content-Length", "123456789")
                self.send_header("Content-Type", "application/octet-stream")
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = _answer
        do_GET = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()
