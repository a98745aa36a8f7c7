"""The official-download path against a local HTTP server that serves a release layout.

This fakes the release sites, which cannot be reached here. The shapes served are the real ones:
- dl.k8s.io: ``GET /release/v1.28.15/bin/linux/amd64/kube-apiserver`` (the binary) and
  ``GET .../kube-apiserver.sha256`` whose body is the 64-hex-digit sha256 alone;
- github.com/etcd-io/etcd releases: ``GET /v3.5.21/etcd-v3.5.21-linux-amd64.tar.gz`` (members under
  ``etcd-v3.5.21-linux-amd64/``) and ``GET /v3.5.21/SHA256SUMS`` in ``sha256sum`` format
  (``<hex>  etcd-v3.5.21-linux-amd64.tar.gz`` per asset).
The file served as kube-apiserver is the real binary built for the tests, so the downloaded copy is run.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.binaries import BinarySet, ensure
from harness.errors import ChecksumMismatch
from harness.progress import RecordingProgress
from harness.versions import Version


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
                super().__init__(*a, directory=str(root), **kw)

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                super().do_GET()

            def log_message(self, *a) -> None:  # type: ignore[no-untyped-def]
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[_Server]:
    srv = _Server(tmp_path / "www")
    (tmp_path / "www").mkdir()
    yield srv
    srv.close()


def _publish_k8s(www: Path, version: str, name: str, data: bytes, digest: str | None = None) -> None:
    d = www / "release" / f"v{version}" / "bin" / "linux" / "amd64"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    (d / f"{name}.sha256").write_text(digest or hashlib.sha256(data).hexdigest())


@pytest.mark.slow
def test_download_verifies_and_installs_a_runnable_binary(
    bin128: BinarySet, release_server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bin128.path("kube-apiserver").read_bytes()
    _publish_k8s(release_server.root, str(bin128.version), "kube-apiserver", real)
    monkeypatch.setenv("REHEARSE_KUBERNETES_MIRROR", f"{release_server.url}/release")
    cache = tmp_path / "cache"
    result = ensure(bin128.version, ["kube-apiserver"], sources=["cache", "download"], cache_dir=cache)
    assert result.sources == {"kube-apiserver": "download"}
    out = subprocess.run([str(result.path("kube-apiserver")), "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == f"Kubernetes {bin128.version.tag}"
    # A second call is a cache hit: nothing more is fetched.
    before = len(release_server.requests)
    again = ensure(bin128.version, ["kube-apiserver"], sources=["cache", "download"], cache_dir=cache)
    assert again.sources == {"kube-apiserver": "cache"} and len(release_server.requests) == before


def test_wrong_checksum_is_refused_and_nothing_is_cached(
    release_server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"#!/bin/sh\necho tampered\n"
    _publish_k8s(release_server.root, "1.28.15", "kubectl", payload, digest="0" * 64)
    monkeypatch.setenv("REHEARSE_KUBERNETES_MIRROR", f"{release_server.url}/release")
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatch, match="checksum mismatch"):
        ensure(Version(1, 28, 15), ["kubectl"], sources=["download", "build"], cache_dir=cache)
    assert not (cache / "kubernetes" / "v1.28.15" / "kubectl").exists()
    assert not list((cache / "kubernetes" / "v1.28.15").glob(".partial-*"))


def test_missing_release_falls_through_and_says_what_to_install(
    release_server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REHEARSE_KUBERNETES_MIRROR", f"{release_server.url}/release")
    from harness.errors import BinaryUnavailable

    with pytest.raises(BinaryUnavailable, match="building was not allowed"):
        ensure(Version(1, 28, 15), ["kubectl"], sources=["download"], cache_dir=tmp_path / "c")
    assert any(r.endswith("/kubectl.sha256") for r in release_server.requests)


def test_tool_archive_with_sha256sums(release_server: _Server, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """etcd ships as a tarball checked against a SHA256SUMS file listing every asset of the release."""
    script = b"#!/bin/sh\necho 'etcd Version: 3.5.21'\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("etcd-v3.5.21-linux-amd64/etcd")
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    blob = buf.getvalue()
    rel = release_server.root / "v3.5.21"
    rel.mkdir(parents=True)
    (rel / "etcd-v3.5.21-linux-amd64.tar.gz").write_bytes(blob)
    sums = [f"{'f' * 64}  etcd-v3.5.21-darwin-amd64.zip",
            f"{hashlib.sha256(blob).hexdigest()}  etcd-v3.5.21-linux-amd64.tar.gz"]
    (rel / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    monkeypatch.setenv("REHEARSE_ETCD_MIRROR", release_server.url)
    cache = tmp_path / "cache"
    progress = RecordingProgress()
    monkeypatch.setenv("REHEARSE_KUBERNETES_MIRROR", f"{release_server.url}/release")
    (cache / "kubernetes" / "v1.28.15").mkdir(parents=True)
    result = ensure(Version(1, 28, 15), ["etcd"], sources=["download"], cache_dir=cache, progress=progress)
    out = subprocess.run([str(result.path("etcd")), "--version"], capture_output=True, text=True, check=True)
    assert "3.5.21" in out.stdout
    assert result.sources == {"etcd": "download"}
