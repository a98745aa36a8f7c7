"""The node's base root file system: Debian bookworm by debootstrap, plus kind's own node files.

kind's base image (``images/base`` of the ``sigs.k8s.io/kind`` module) is the contract: its ``files/`` tree
(entrypoint, systemd units for containerd and the kubelet, kubeadm/kind drop-ins, containerd config, sysctls)
is read from the Go module cache at build time and laid over a debootstrap root, and its Dockerfile's systemd
trimming is repeated here. Debian's packages stand in for the binaries kind builds itself (containerd, runc,
CNI plugins); crictl is built from its Go module (kubeadm needs it, Debian has none).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

from harness.binaries import locked
from harness.nodeimage._util import (
    KIND_MODULE,
    LOCAL_PREFIX,
    BuildFailed,
    digest,
    kind_root,
    run,
    sys_resource_missing,
)
from harness.progress import NullProgress, Progress

SUITE = "bookworm"
MIRROR = os.environ.get("REHEARSE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# kind's base image package list (images/base/Dockerfile), with Debian's containerd, runc and CNI plugins for the
# binaries kind builds itself.
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "containerd", "runc", "containernetworking-plugins",
    "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount", "kmod", "libseccomp2",
    "socat", "bash", "ca-certificates", "curl", "jq", "procps",
)
CNI_PLUGINS = ("host-local", "loopback", "ptp", "portmap", "bridge")


def kind_module_dir(kind_release: str) -> Path:
    """The ``sigs.k8s.io/kind`` module source of ``kind_release`` (``v0.25.0``) in the Go module cache (downloaded
    once through the proxy)."""
    out = run(["go", "mod", "download", "-json", f"{KIND_MODULE}@{kind_release}"], cwd=kind_root(),
              what=f"go mod download {KIND_MODULE}@{kind_release}")
    data = json.loads(out)
    if data.get("Error") or not data.get("Dir"):
        raise BuildFailed(f"{KIND_MODULE}@{kind_release} cannot be had: {data.get('Error')}")
    return Path(data["Dir"])


def debootstrap_root(progress: Progress | None = None) -> Path:
    """``~/.cache/rehearse/kind/rootfs/bookworm-<key>``: a minbase debootstrap with :data:`PACKAGES` (cached)."""
    progress = progress or NullProgress()
    key = digest([SUITE, MIRROR, *PACKAGES])
    dest = kind_root() / "rootfs" / f"{SUITE}-{key}"
    if (dest / ".complete").exists():
        return dest
    with locked(kind_root(), "debootstrap"):
        if not (dest / ".complete").exists():
            _debootstrap(dest, progress)
    return dest


def _debootstrap(dest: Path, progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        raise BuildFailed("debootstrap is not installed (apt-get install debootstrap)")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    progress.step(f"debootstrap {SUITE} ({len(PACKAGES)} packages) into {dest}")
    run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(partial), MIRROR],
        timeout=3600, what="debootstrap")
    subprocess.run(["chroot", str(partial), "apt-get", "clean"], check=False, capture_output=True)
    shutil.rmtree(partial / "var/lib/apt/lists", ignore_errors=True)
    (partial / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (partial / ".complete").write_text("ok\n")
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)


def _copy_tree(src: Path, dest: Path, mode_files: int, mode_dirs: int = 0o755) -> None:
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(mode_dirs)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            target.chmod(mode_files)


def lay_kind_files(root: Path, kind_dir: Path, crictl: Path) -> None:
    """Apply kind's ``images/base`` files and Dockerfile steps to ``root`` (a copy of the debootstrap root)."""
    files = kind_dir / "images" / "base" / "files"
    if not files.is_dir():
        raise BuildFailed(f"{files} is missing: not the kind module layout this build expects")
    _copy_tree(files / "usr/local/bin", root / "usr/local/bin", 0o755)
    _copy_tree(files / "kind", root / "kind", 0o644)
    _copy_tree(files / "kind/bin", root / "kind/bin", 0o755)
    _copy_tree(files / "etc", root / "etc", 0o644)
    _copy_tree(files / "LICENSES", root / "LICENSES", 0o644)
    config = root / "etc/containerd/config.toml"
    if sys_resource_missing():
        # A negative oom_score_adj needs CAP_SYS_RESOURCE, which this host cannot give: without this every pod
        # sandbox fails ("can't get final child's PID from pipe: EOF").
        text = config.read_text()
        config.write_text(text.replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true"))
    # Debian's containerd, shim and ctr live in /usr/bin; kind's unit starts /usr/local/bin/containerd.
    for name in ("containerd", "containerd-shim-runc-v2", "ctr"):
        link = root / "usr/local/bin" / name
        if not link.exists():
            link.symlink_to(f"/usr/bin/{name}")
    shutil.copyfile(crictl, root / "usr/local/bin/crictl")
    (root / "usr/local/bin/crictl").chmod(0o755)
    cni = root / "opt/cni/bin"
    cni.mkdir(parents=True, exist_ok=True)
    for plugin in CNI_PLUGINS:
        src = root / "usr/lib/cni" / plugin
        if not src.exists():
            raise BuildFailed(f"CNI plugin {plugin} missing from Debian's containernetworking-plugins")
        shutil.copyfile(src, cni / plugin)
        (cni / plugin).chmod(0o755)
    # kind's Dockerfile: trim systemd to what a node needs.
    for pattern in ("lib/systemd/system/multi-user.target.wants", "etc/systemd/system/multi-user.target.wants",
                    "lib/systemd/system/local-fs.target.wants", "lib/systemd/system/basic.target.wants"):
        d = root / pattern
        for p in d.glob("*") if d.is_dir() else []:
            p.unlink()
    for d in (root / "etc/systemd/system").glob("*.wants"):
        for p in d.glob("*"):
            p.unlink()
    for p in (root / "lib/systemd/system/sysinit.target.wants").glob("systemd-tmpfiles-setup.service"):
        p.unlink()
    for p in (root / "lib/systemd/system/sockets.target.wants").glob("*"):
        if "udev" in p.name or "initctl" in p.name:
            p.unlink()
    with (root / "etc/systemd/journald.conf").open("a") as fh:
        fh.write("ReadKMsg=no\n")
    init = root / "sbin/init"
    if not init.exists() and not init.is_symlink():
        init.symlink_to("/lib/systemd/systemd")
    for unit in ("kubelet.service", "containerd.service", "undo-mount-hacks.service"):
        run(["chroot", str(root), "systemctl", "enable", unit], what=f"systemctl enable {unit}")
    run(["chroot", str(root), "systemctl", "mask", "systemd-binfmt.service"], what="systemctl mask")
    (root / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    # kind's Dockerfile: `ctr oci spec` + the product-files hook, without rlimits.
    spec = json.loads(run(["chroot", str(root), "ctr", "oci", "spec"], what="ctr oci spec"))
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
    spec.get("process", {}).pop("rlimits", None)
    (root / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2) + "\n")
    machine_id = root / "etc/machine-id"
    if machine_id.exists():
        machine_id.write_text("")


def base_image_ref(kind_release: str, key: str) -> str:
    return f"{LOCAL_PREFIX}/kind-base:{SUITE}-{kind_release}-{key}"


def build_base_image(client: object, crictl: Path, kind_release: str, progress: Progress | None = None) -> str:
    """The node base image (debootstrap root + the files of ``kind_release``), imported into the engine once;
    returns its ref."""
    progress = progress or NullProgress()
    docker = cast(Any, client)
    kind_dir = kind_module_dir(kind_release)
    src = debootstrap_root(progress)
    key = digest([src.name, str(kind_dir), str(crictl.stat().st_size), str(sys_resource_missing()), "base-3"])
    ref = base_image_ref(kind_release, key)
    with locked(kind_root(), "base-image"):
        if not docker.images.list(name=ref):
            _import_base(docker, src, kind_dir, crictl, key, ref, progress)
    return ref


def _import_base(docker: Any, src: Path, kind_dir: Path, crictl: Path, key: str, ref: str,
                 progress: Progress) -> None:
    progress.step(f"node base image {ref}")
    work = kind_root() / "work" / f"base-{key}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    root = work / "root"
    try:
        run(["cp", "-a", str(src), str(root)], what="copying the debootstrap root")
        (root / ".complete").unlink(missing_ok=True)
        lay_kind_files(root, kind_dir, crictl)
        tarball = work / "root.tar"
        run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(tarball), "."], what="tar root")
        repo, tag = ref.rsplit(":", 1)
        docker.api.import_image_from_file(
            str(tarball), repository=repo, tag=tag,
            changes=["ENV container=docker", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                     f"LABEL io.rehearse.kind-base={key}"],
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not docker.images.list(name=ref):
        raise BuildFailed(f"importing {ref} left no image")
