"""Container images a kubeadm node needs, built locally with the docker SDK (nothing is pulled).

Each is ``FROM scratch`` plus the files it needs: the control-plane images and etcd are one static binary;
kube-proxy also carries iptables (both backends, with a wrapper that picks the one the node's kubelet uses, as
Kubernetes' iptables-wrapper does) and conntrack, with the shared libraries they load, copied from the node's
Debian root; CoreDNS is built from its Go module; pause is a static C program; the CNI/storage stand-ins run on
static busybox plus kubectl. Images get the exact names ``kubeadm config images list`` asks for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.nodeimage._manifests import KINDNETD_SCRIPT, LOCAL_PATH_SCRIPT
from harness.nodeimage._util import LOCAL_PREFIX, BuildFailed, Entry, digest, file_digest, write_tar
from harness.progress import NullProgress, Progress

PATH_ENV = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"

IPTABLES_WRAPPER = r"""#!/bin/sh
# Pick the iptables backend the node uses (the kubelet's KUBE-IPTABLES-HINT chain, else the one holding more
# rules), once per container, as Kubernetes' iptables-wrapper does; then run the real command.
mode_file=/tmp/.iptables-mode
if [ -r "$mode_file" ]; then
  mode=$(cat "$mode_file")
else
  if xtables-nft-multi iptables-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then mode=nft
  elif xtables-legacy-multi iptables-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then mode=legacy
  else
    l=$( (xtables-legacy-multi iptables-save; xtables-legacy-multi ip6tables-save) 2>/dev/null | grep -c '^-')
    n=$( (xtables-nft-multi iptables-save; xtables-nft-multi ip6tables-save) 2>/dev/null | grep -c '^-')
    if [ "${l:-0}" -gt "${n:-0}" ]; then mode=legacy; else mode=nft; fi
  fi
  echo "$mode" > "$mode_file"
fi
exec "xtables-$mode-multi" "$(basename "$0")" "$@"
"""
IPTABLES_COMMANDS = ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save",
                     "ip6tables-restore")


@dataclass
class ImageSpec:
    """One image to build: its reference, its files and its config."""

    ref: str
    entries: list[Entry]
    entrypoint: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=lambda: {"PATH": PATH_ENV})

    def key(self) -> str:
        parts: list[str | bytes] = [self.ref, json.dumps(list(self.entrypoint)), json.dumps(self.env, sort_keys=True)]
        for e in self.entries:
            parts.append(e.path)
            if e.source is not None:
                parts.append(file_digest(e.source))
            elif e.data is not None:
                parts.append(e.data)
            else:
                parts.append(f"{e.symlink}:{e.directory}:{e.mode}")
        return digest(parts)


def build(client: Any, spec: ImageSpec, progress: Progress | None = None) -> str:
    """Build ``spec`` with the engine's builder (``FROM scratch``, no pull) unless an identical one exists."""
    key = spec.key()
    try:
        existing = client.images.get(spec.ref)
        if (existing.labels or {}).get("io.rehearse.key") == key:
            return spec.ref
    except Exception:
        pass
    (progress or NullProgress()).update(f"building image {spec.ref}")
    lines = ["FROM scratch", "COPY rootfs/ /"]
    if spec.env:
        lines.append("ENV " + " ".join(f"{k}={v}" for k, v in spec.env.items()))
    if spec.entrypoint:
        lines.append("ENTRYPOINT " + json.dumps(list(spec.entrypoint)))
    lines.append(f'LABEL io.rehearse.key="{key}"')
    dockerfile = ("\n".join(lines) + "\n").encode()
    entries = [Entry("Dockerfile", dockerfile), Entry("rootfs", directory=True)]
    entries += [Entry("rootfs/" + e.path.lstrip("/"), e.data, e.source, e.mode, e.symlink, e.directory)
                for e in spec.entries]
    with tempfile.TemporaryFile() as ctx:
        write_tar(ctx, entries)
        ctx.seek(0)
        try:
            client.images.build(fileobj=ctx, custom_context=True, tag=spec.ref, pull=False, rm=True, forcerm=True)
        except Exception as e:
            raise BuildFailed(f"building {spec.ref}: {e}") from e
    return spec.ref


def _dirs(*paths: str) -> list[Entry]:
    return [Entry(p, directory=True, mode=0o1777 if p == "tmp" else 0o755) for p in paths]


def single_binary(ref: str, binary: Path, dest: str, entrypoint: Sequence[str] = ()) -> ImageSpec:
    """An image holding one static binary (control-plane components, etcd, CoreDNS, pause)."""
    return ImageSpec(ref=ref, entrypoint=entrypoint, entries=[
        *_dirs("tmp", "etc", "var", "var/run"),
        Entry("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"),
        Entry("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
        Entry(dest, source=binary, mode=0o755),
    ])


# ---- files out of the Debian root, with their shared libraries --------------------------------------------
def _real(root: Path, path: str, depth: int = 0) -> str:
    """``path`` inside ``root`` with every symlink resolved as if ``root`` were ``/``."""
    if depth > 40:
        raise BuildFailed(f"symlink loop at {path} in {root}")
    parts = PurePosixPath(path).parts[1:]
    cur = PurePosixPath("/")
    for i, part in enumerate(parts):
        nxt = cur / part
        host = root / str(nxt).lstrip("/")
        if host.is_symlink():
            target = os.readlink(host)
            base = PurePosixPath(target) if target.startswith("/") else cur / target
            rest = PurePosixPath(*parts[i + 1:]) if i + 1 < len(parts) else None
            joined = str(base / rest) if rest else str(base)
            return _real(root, os.path.normpath(joined), depth + 1)
        cur = nxt
    return str(cur)


def _add_file(root: Path, path: str, out: dict[str, Entry]) -> None:
    """Add ``path`` (following its symlinks, kept as symlinks) from ``root`` to ``out``."""
    parent = _real(root, str(PurePosixPath(path).parent))
    full = str(PurePosixPath(parent) / PurePosixPath(path).name)
    if full in out:
        return
    host = root / full.lstrip("/")
    if host.is_symlink():
        target = os.readlink(host)
        out[full] = Entry(full, symlink=target)
        _add_file(root, target if target.startswith("/") else str(PurePosixPath(parent) / target), out)
    elif host.is_file():
        out[full] = Entry(full, source=host, mode=host.stat().st_mode & 0o777)
    else:
        raise BuildFailed(f"{path} is not in the node root {root}")


_LDD_RE = re.compile(r"(?:=>\s*)?(/[^\s]+)\s+\(0x")


def with_libraries(root: Path, paths: Iterable[str]) -> list[Entry]:
    """``paths`` from the Debian ``root`` plus every shared library they need (``ldd`` in a chroot)."""
    paths = list(paths)
    out: dict[str, Entry] = {}
    for top in ("bin", "sbin", "lib", "lib64"):
        if (root / top).is_symlink():
            out["/" + top] = Entry("/" + top, symlink=os.readlink(root / top))
    libs: set[str] = set()
    for i in range(0, len(paths), 40):
        proc = subprocess.run(["chroot", str(root), "ldd", *paths[i:i + 40]], capture_output=True, text=True,
                              check=False)
        libs.update(m.group(1) for m in _LDD_RE.finditer(proc.stdout))
    for p in [*paths, *sorted(libs)]:
        _add_file(root, p, out)
    return list(out.values())


def kube_proxy(ref: str, binary: Path, root: Path, busybox: Path) -> ImageSpec:
    """kube-proxy with iptables (nft and legacy), conntrack and a backend-picking wrapper."""
    xt_dir = root / "usr/lib/x86_64-linux-gnu/xtables"
    extensions = sorted(f"/usr/lib/x86_64-linux-gnu/xtables/{p.name}" for p in xt_dir.glob("*.so"))
    entries = with_libraries(root, ["/usr/sbin/xtables-nft-multi", "/usr/sbin/xtables-legacy-multi",
                                    "/usr/sbin/conntrack", *extensions])
    entries += _dirs("tmp", "run", "var", "var/run", "var/lib", "usr/bin", "usr/local", "usr/local/bin",
                     "usr/local/sbin")
    for f in ("etc/protocols", "etc/services", "etc/ethertypes", "etc/nsswitch.conf"):
        if (root / f).is_file():
            entries.append(Entry(f, source=root / f))
    # /bin is /usr/bin in a merged-usr Debian root: the wrapper's #!/bin/sh is busybox there.
    entries.append(Entry("usr/bin/busybox", source=busybox, mode=0o755))
    for applet in ("sh", "grep", "cat", "basename"):
        entries.append(Entry(f"usr/bin/{applet}", symlink="busybox"))
    entries.append(Entry("usr/local/sbin/iptables-wrapper", IPTABLES_WRAPPER.encode(), mode=0o755))
    entries += [Entry(f"usr/local/sbin/{c}", symlink="iptables-wrapper") for c in IPTABLES_COMMANDS]
    entries.append(Entry("usr/local/bin/kube-proxy", source=binary, mode=0o755))
    return ImageSpec(ref=ref, entries=entries, entrypoint=["/usr/local/bin/kube-proxy"])


def tools(ref: str, busybox: Path, kubectl: Path, applets: Sequence[str]) -> ImageSpec:
    """The CNI and storage stand-ins: static busybox (with its applets) and kubectl."""
    entries = _dirs("tmp", "etc", "bin", "usr", "usr/local", "usr/local/bin", "var", "var/run", "run")
    entries.append(Entry("bin/busybox", source=busybox, mode=0o755))
    entries += [Entry(f"bin/{a}", symlink="busybox") for a in applets if a and a != "busybox"]
    entries.append(Entry("usr/local/bin/kubectl", source=kubectl, mode=0o755))
    entries.append(Entry("kindnetd.sh", KINDNETD_SCRIPT.encode(), mode=0o755))
    entries.append(Entry("local-path.sh", LOCAL_PATH_SCRIPT.encode(), mode=0o755))
    entries.append(Entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"))
    return ImageSpec(ref=ref, entries=entries, entrypoint=["/bin/sh"])


def busybox_applets(busybox: Path) -> list[str]:
    proc = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=False)
    return [a.strip() for a in proc.stdout.splitlines() if a.strip()]


def local_ref(name: str, tag: str) -> str:
    return f"{LOCAL_PREFIX}/{name}:{tag}"
