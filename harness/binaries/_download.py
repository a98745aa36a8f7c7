"""Official release downloads, verified against the sha256 the project publishes."""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

from harness.errors import ChecksumMismatch
from harness.progress import Progress

_TIMEOUT = 20.0
_CHUNK = 1 << 20


class DownloadUnavailable(Exception):
    """The release site could not be reached or does not have the file (try the next source)."""


def _open(url: str) -> io.BufferedIOBase:
    try:
        resp = urllib.request.urlopen(url, timeout=_TIMEOUT)
    except urllib.error.HTTPError as e:
        raise DownloadUnavailable(f"{url}: HTTP {e.code}") from e
    except (urllib.error.URLError, OSError) as e:
        raise DownloadUnavailable(f"{url}: {getattr(e, 'reason', e)}") from e
    return resp  # type: ignore[no-any-return]


def expected_sha256(checksum_url: str, asset_url: str) -> str:
    """Read a published checksum: a bare hex digest, or ``sha256sum`` lines naming the asset."""
    with _open(checksum_url) as resp:
        text = resp.read(1 << 20).decode("utf-8", "replace")
    asset = PurePosixPath(asset_url).name
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if len(lines) == 1 and len(lines[0]) == 1:
        digest = lines[0][0]
    else:
        found = [parts[0] for parts in lines if len(parts) >= 2 and parts[-1].lstrip("*") == asset]
        if not found:
            raise ChecksumMismatch(f"{checksum_url} lists no checksum for {asset}")
        digest = found[0]
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ChecksumMismatch(f"{checksum_url} does not hold a sha256 digest")
    return digest


def fetch(url: str, checksum_url: str, dest: Path, progress: Progress) -> None:
    """Download ``url`` to ``dest`` and verify it; ``dest`` is removed if the checksum does not match."""
    want = expected_sha256(checksum_url, url)
    h = hashlib.sha256()
    done = 0
    with _open(url) as resp, dest.open("wb") as out:
        total = int(getattr(resp, "headers", {}).get("Content-Length") or 0)
        while chunk := resp.read(_CHUNK):
            out.write(chunk)
            h.update(chunk)
            done += len(chunk)
            if total:
                progress.update(f"{PurePosixPath(url).name}: {done * 100 // total}% of {total >> 20} MiB")
    got = h.hexdigest()
    if got != want:
        dest.unlink(missing_ok=True)
        raise ChecksumMismatch(f"checksum mismatch for {url}: published {want}, downloaded {got}; refused")


def extract_member(archive: Path, member: str, dest: Path) -> None:
    """Extract one file of a .tar.gz to ``dest``."""
    with tarfile.open(archive, "r:gz") as tar:
        try:
            src = tar.extractfile(member)
        except KeyError as e:
            raise DownloadUnavailable(f"{archive.name} has no {member}") from e
        if src is None:
            raise DownloadUnavailable(f"{archive.name}: {member} is not a file")
        with src, dest.open("wb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
