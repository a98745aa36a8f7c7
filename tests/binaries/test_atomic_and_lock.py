"""A killed fetch leaves nothing that counts as cached; two racing runs fetch once (file lock).

The release server here fakes dl.k8s.io's layout (``/release/vX/bin/linux/amd64/NAME`` and ``NAME.sha256``
holding the hex digest alone) and streams the body slowly so a run can be interrupted midway.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PAYLOAD = b"#!/bin/sh\necho 'Client Version: v1.28.15'\n" + b"#" * (2 << 20)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class SlowRelease:
    def __init__(self, delay: float) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if self.path.endswith(".sha256"):
                    body = DIGEST.encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(PAYLOAD)))
                self.end_headers()
                step = len(PAYLOAD) // 8 + 1
                try:
                    for i in range(0, len(PAYLOAD), step):
                        self.wfile.write(PAYLOAD[i : i + step])
                        self.wfile.flush()
                        time.sleep(delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *a) -> None:  # type: ignore[no-untyped-def]
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/release"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def binary_requests(self) -> int:
        return sum(1 for r in self.requests if r.endswith("/kubectl"))


@pytest.fixture
def slow_release() -> Iterator[SlowRelease]:
    srv = SlowRelease(delay=0.4)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _ensure_cmd(cache: Path, mirror: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, REHEARSE_CACHE_DIR=str(cache), REHEARSE_KUBERNETES_MIRROR=mirror)
    cmd = [sys.executable, "-m", "harness", "binaries", "ensure", "--version", "1.28.15",
           "--components", "kubectl", "--source", "cache,download"]
    return cmd, env


def test_interrupted_download_leaves_no_cached_binary(slow_release: SlowRelease, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cmd, env = _ensure_cmd(cache, slow_release.url)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while slow_release.binary_requests() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.6)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    vdir = cache / "kubernetes" / "v1.28.15"
    assert not (vdir / "kubectl").exists()
    # The next run cleans the partial leftovers and completes.
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(vdir)
    assert (vdir / "kubectl").read_bytes() == PAYLOAD
    assert not list(vdir.glob(".partial-*"))


def test_two_racing_runs_fetch_once(slow_release: SlowRelease, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cmd, env = _ensure_cmd(cache, slow_release.url)
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert slow_release.binary_requests() == 1
    assert {o[0].decode().strip().splitlines()[-1] for o in outs} == {str(cache / "kubernetes" / "v1.28.15")}
