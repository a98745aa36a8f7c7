"""A Go module proxy and checksum-database front on 127.0.0.1, for the build path's refusal handling.

The real registry's gaps move (``k8s.io/legacy-cloud-providers`` v0.27.x was unknown to the checksum database in
November 2026 and is known now), so no test may depend on them. This serves the same answers the real services
gave, byte for byte where the go command reads them:

- the module proxy protocol (``GOPROXY``): ``<module>/@v/list``, ``<module>/@v/<version>.info|.mod|.zip``;
  a refused version answers ``403 Forbidden`` with the body ``This module version is not available.`` (what
  proxy.golang.org answered for ``k8s.io/controller-manager`` v0.26.14/v0.26.15 and ``k8s.io/kube-scheduler``
  v0.31.14); a version it does not know answers ``404 Not Found`` (the go command then tries the next proxy of a
  comma-separated ``GOPROXY`` list, as it does with the real one);
- the checksum-database proxy protocol: ``sumdb/sum.golang.org/supported`` answers 200 when this proxy fronts
  the database (then the go command sends every lookup here), and ``sumdb/sum.golang.org/lookup/<m>@<v>``
  answers ``404 Not Found`` for a "gap" — what sum.golang.org answered for a module version the proxy served but
  the database did not know (``verifying <m>@<v>/go.mod: ... 404 Not Found``).

Lookups this front does not fake are never answered as found: signed tree heads cannot be faked, so a test that
needs a real verification chains this proxy before the real one (``GOPROXY=http://127.0.0.1:N,https://…``).
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REFUSED_BODY = b"This module version is not available.\n"


@dataclass
class FakeModule:
    """One module version the proxy serves: its go.mod and source files."""

    path: str
    version: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def go_mod(self) -> str:
        return self.files.get("go.mod", f"module {self.path}\n\ngo 1.20\n")

    def zip_bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, text in sorted({**self.files, "go.mod": self.go_mod}.items()):
                z.writestr(f"{self.path}@{self.version}/{name}", text)
        return buf.getvalue()


@dataclass
class FakeGoProxy:
    """What the proxy serves (``modules``), refuses (``refused``) and what the database does not know (``gaps``).

    ``front_sumdb``: answer ``supported`` for the checksum database (so its lookups come here); without it the
    go command asks the next proxy in the list or the database itself. ``requests`` records every path asked.
    """

    modules: list[FakeModule] = field(default_factory=list)
    refused: set[tuple[str, str]] = field(default_factory=set)
    gaps: set[tuple[str, str]] = field(default_factory=set)
    front_sumdb: bool = True
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def _answer(self, path: str) -> tuple[int, bytes]:
        self.requests.append(path)
        path = path.lstrip("/")
        if path.startswith("sumdb/sum.golang.org/"):
            rest = path.removeprefix("sumdb/sum.golang.org/")
            if rest == "supported":
                return (200, b"") if self.front_sumdb else (404, b"not found\n")
            if rest.startswith("lookup/"):
                mod, _, ver = rest.removeprefix("lookup/").rpartition("@")
                if (mod, ver) in self.gaps:
                    return 404, b"not found\n"
            return 404, b"not found\n"
        mod, sep, tail = path.partition("/@v/")
        if not sep:
            return 404, b"not found\n"
        if tail == "list":
            versions = sorted(m.version for m in self.modules if m.path == mod)
            return (200, "".join(f"{v}\n" for v in versions).encode()) if versions else (404, b"not found\n")
        version, _, ext = tail.rpartition(".")
        if (mod, version) in self.refused:
            return 403, REFUSED_BODY
        found = next((m for m in self.modules if (m.path, m.version) == (mod, version)), None)
        if found is None:
            return 404, b"not found\n"
        if ext == "info":
            return 200, json.dumps({"Version": version, "Time": "2024-01-01T00:00:00Z"}).encode()
        if ext == "mod":
            return 200, found.go_mod.encode()
        if ext == "zip":
            return 200, found.zip_bytes()
        return 404, b"not found\n"


@contextmanager
def serve(proxy: FakeGoProxy) -> Iterator[FakeGoProxy]:
    """Serve ``proxy`` on 127.0.0.1 (an ephemeral port) for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = proxy._answer(self.path)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
