"""Assemble kind node images locally, for machines where ``kindest/node`` cannot be pulled.

The layout of kind's own node images is the contract (``kind build node-image`` is the model): kind's base
image files over a Debian root, kubelet/kubeadm/kubectl in ``/usr/bin``, ``/kind/version``, the default CNI
and storage manifests in ``/kind/manifests``, and every image ``kubeadm config images list`` names (plus the
containerd sandbox image and the CNI/storage images) imported into the node's containerd (``k8s.io``
namespace, pinned, not unpacked), then ``ENTRYPOINT [entrypoint, /sbin/init]`` and ``STOPSIGNAL SIGRTMIN+3``.

Public surface: :func:`build_node_image` and :func:`node_image_ref`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path
from typing import Any

from harness.binaries import BinarySet, ensure, locked
from harness.engine import docker_client
from harness.nodeimage import _images, _manifests, _rootfs, _tools
from harness.nodeimage._util import (
    LOCAL_PREFIX,
    BuildFailed,
    Entry,
    digest,
    exec_in,
    file_digest,
    kind_root,
    run,
    tar_bytes,
    write_tar,
)
from harness.progress import NullProgress, Progress
from harness.versions import Version

NODE_COMPONENTS = ("kubelet", "kubeadm", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                   "kube-proxy", "etcd")
_BUILDER = "node-5"  # bump when the assembly below changes, so cached images are rebuilt
_SANDBOX_RE = re.compile(r'sandbox_image\s*=\s*"([^"]+)"')

__all__ = ["BuildFailed", "build_node_image", "node_image_ref"]


def node_image_ref(version: Version) -> str:
    """The local name of the node image of ``version`` (``localhost/rehearse/kind-node:v1.28.15``)."""
    return f"{LOCAL_PREFIX}/kind-node:{version.tag}"


def _kubeadm_images(bins: BinarySet) -> list[str]:
    out = run([str(bins.path("kubeadm")), "config", "images", "list", "--kubernetes-version", bins.version.tag],
              what="kubeadm config images list")
    images = [ln.strip() for ln in out.splitlines() if ln.strip()]
    if not images:
        raise BuildFailed(f"kubeadm {bins.version} lists no images")
    return images


def _component_specs(bins: BinarySet, wanted: list[str], root: Path, progress: Progress) -> list[tuple[str, Any]]:
    """(the name kubeadm wants, the spec that builds it) for every image a node of this version needs."""
    specs: list[tuple[str, Any]] = []
    pause = _tools.pause(progress)
    for ref in wanted:
        repo, tag = ref.rsplit(":", 1)
        name = repo.rsplit("/", 1)[-1]
        local = _images.local_ref(name, tag)
        if name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            spec = _images.single_binary(local, bins.path(name).resolve(), f"usr/local/bin/{name}")
        elif name == "kube-proxy":
            spec = _images.kube_proxy(local, bins.path(name).resolve(), root, _tools.busybox(progress))
        elif name == "etcd":
            spec = _images.single_binary(local, bins.path("etcd").resolve(), "usr/local/bin/etcd")
        elif name == "coredns":
            spec = _images.single_binary(local, _tools.coredns(progress), "coredns", entrypoint=["/coredns"])
        elif name == "pause":
            spec = _images.single_binary(local, pause, "pause", entrypoint=["/pause"])
        else:
            raise BuildFailed(f"kubeadm {bins.version} wants {ref}, which this builder cannot make")
        specs.append((ref, spec))
    return specs


def build_node_image(version: Version, kind_release: str, *, progress: Progress | None = None, client: Any = None,
                     sources: tuple[str, ...] = ("cache", "build")) -> str:
    """Build (or find cached) the node image of Kubernetes ``version`` for kind ``kind_release`` (``v0.25.0``:
    the layout of that release's own node images); returns its local reference.

    Binaries come from :func:`harness.binaries.ensure`, by default from the cache or built from Go modules (this
    builder is for machines that cannot download); ``/kind/version`` is the patch that was really built.
    """
    progress = progress or NullProgress()
    client = client or docker_client()
    start = time.monotonic()
    bins = ensure(version, NODE_COMPONENTS, sources=sources, progress=progress)
    ref = node_image_ref(bins.version)
    crictl = _tools.crictl(progress)
    base = _rootfs.build_base_image(client, crictl, kind_release, progress)
    root = _rootfs.debootstrap_root(progress)
    busybox = _tools.busybox(progress)
    wanted = _kubeadm_images(bins)
    tools_ref = _images.local_ref("kind-tools", bins.version.tag)
    tools_spec = _images.tools(tools_ref, busybox, bins.path("kubectl").resolve(), _images.busybox_applets(busybox))
    specs = _component_specs(bins, wanted, root, progress)
    cni_yaml = _manifests.cni_manifest(tools_ref)
    storage_yaml = _manifests.storage_manifest(tools_ref)
    key = digest([_BUILDER, base, bins.version.tag, *(file_digest(bins.path(c).resolve()) for c in NODE_COMPONENTS),
                  tools_spec.key(), *(s.key() for _, s in specs), cni_yaml, storage_yaml])
    with locked(kind_root(), f"node-image-{bins.version.tag}"):  # one build per image at a time on this machine
        with contextlib.suppress(Exception):
            if (client.images.get(ref).labels or {}).get("io.rehearse.node-key") == key:
                progress.update(f"node image {ref} is up to date")
                return ref
        _build(client, base, ref, key, kind_release, bins, specs, tools_ref, tools_spec, cni_yaml, storage_yaml,
               wanted, progress)
    progress.update(f"node image {ref} built in {time.monotonic() - start:.0f}s")
    return ref


def _build(client: Any, base: str, ref: str, key: str, kind_release: str, bins: BinarySet,
           specs: list[tuple[str, Any]], tools_ref: str, tools_spec: Any, cni_yaml: str, storage_yaml: str,
           wanted: list[str], progress: Progress) -> None:
    progress.step(f"building kind node image {ref}")
    # Component images, under the names kubeadm wants (tagged in the engine only while they are saved).
    work = kind_root() / "work" / f"node-{bins.version.tag}-{key}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "images").mkdir(parents=True)
    archives: list[Path] = []
    try:
        for wanted_ref, spec in [*specs, (tools_ref, tools_spec)]:
            _images.build(client, spec, progress)
            archive = work / "images" / f"{len(archives):02d}.tar"
            image = client.images.get(spec.ref)
            if wanted_ref != spec.ref:
                image.tag(wanted_ref)
            try:
                with archive.open("wb") as fh:
                    for chunk in client.api.get_image(wanted_ref):
                        fh.write(chunk)
            finally:
                if wanted_ref != spec.ref:
                    client.images.remove(wanted_ref, noprune=True)
            archives.append(archive)
        _assemble(client, base, ref, key, kind_release, bins, work, archives, cni_yaml, storage_yaml, wanted,
                  progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _assemble(client: Any, base: str, ref: str, key: str, kind_release: str, bins: BinarySet, work: Path,
              archives: list[Path], cni_yaml: str, storage_yaml: str, wanted: list[str], progress: Progress) -> None:
    """``kind build node-image``'s steps: binaries, /kind files, images into containerd, commit."""
    name = f"rehearse-kind-build-{key}"
    with contextlib.suppress(Exception):
        client.containers.get(name).remove(force=True, v=True)
    container = client.containers.run(base, entrypoint=["sleep", "infinity"], detach=True, name=name,
                                      network_mode="none", security_opt=["seccomp=unconfined"])
    tmp_ref = f"{LOCAL_PREFIX}/kind-node-build:{key}"
    try:
        progress.update("copying kubelet, kubeadm, kubectl and /kind files")
        bundle = work / "bundle.tar"
        with bundle.open("wb") as fh:
            write_tar(fh, [
                *(Entry(f"usr/bin/{b}", source=bins.path(b).resolve(), mode=0o755)
                  for b in ("kubelet", "kubeadm", "kubectl")),
                Entry("kind/version", bins.version.tag.encode()),
                Entry("kind/manifests", directory=True),
                Entry("kind/manifests/default-cni.yaml", cni_yaml.encode()),
                Entry("kind/manifests/default-storage.yaml", storage_yaml.encode()),
                Entry("kind/images", directory=True),
                *(Entry(f"kind/images/{a.name}", source=a) for a in archives),
            ])
        with bundle.open("rb") as fh:
            if not container.put_archive("/", fh):
                raise BuildFailed(f"copying files into {name} failed")
        bundle.unlink()
        progress.update("importing images into the node's containerd")
        exec_in(container, "nohup containerd > /tmp/containerd.log 2>&1 &", what="starting containerd")
        for _ in range(100):
            if container.exec_run(["ctr", "version"]).exit_code == 0:
                break
            time.sleep(0.2)
        else:
            raise BuildFailed("containerd did not start in the build container: "
                              + exec_in(container, "tail -n 3 /tmp/containerd.log", check=False))
        for a in archives:
            exec_in(container, ["ctr", "--namespace=k8s.io", "images", "import",
                                "--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack",
                                "--digests", f"/kind/images/{a.name}"],
                    what=f"ctr images import {a.name}")
        config = exec_in(container, ["cat", "/etc/containerd/config.toml"])
        sandbox = _SANDBOX_RE.search(config)
        pause = next((w for w in wanted if "/pause:" in w), None)
        if sandbox and pause and sandbox.group(1) != pause:
            exec_in(container, ["ctr", "--namespace=k8s.io", "images", "tag", "--force", pause, sandbox.group(1)],
                    what="tagging the sandbox image")
        listed = exec_in(container, ["ctr", "--namespace=k8s.io", "images", "list", "-q"])
        missing = [w for w in wanted if w not in listed.split()]
        if missing:
            raise BuildFailed(f"images missing from the node's containerd after import: {', '.join(missing)}")
        # containerd's parent exited, so once stopped it stays a zombie under `sleep`: wait for that state.
        exec_in(container, "pkill containerd; for i in $(seq 100); do alive=; for p in $(pgrep -x containerd); do "
                           "grep -q '^State:.*Z' /proc/$p/status || alive=1; done; [ -z \"$alive\" ] && exit 0; "
                           "sleep 0.2; done; exit 1", what="stopping containerd")
        exec_in(container, "rm -rf /kind/images /tmp/containerd.log /tmp/* /var/log/*.log", check=False)
        progress.update("committing the node image")
        repo, tag = tmp_ref.rsplit(":", 1)
        container.commit(repository=repo, tag=tag, changes=[
            'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]', "ENV container=docker",
        ])
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
    # docker commit cannot set STOPSIGNAL: systemd exits on SIGRTMIN+3 (SIGTERM makes it re-execute).
    dockerfile = (f"FROM {tmp_ref}\nSTOPSIGNAL SIGRTMIN+3\n"
                  f'LABEL io.rehearse.node-key="{key}" io.rehearse.kubernetes="{bins.version.tag}" '
                  f'io.rehearse.kind="{kind_release}"\n')
    try:
        client.images.build(fileobj=_fileobj(tar_bytes([Entry("Dockerfile", dockerfile.encode())])),
                            custom_context=True, tag=ref, pull=False, rm=True, forcerm=True)
    except Exception as e:
        raise BuildFailed(f"building {ref}: {e}") from e
    finally:
        with contextlib.suppress(Exception):
            client.images.remove(tmp_ref, noprune=True)


def _fileobj(data: bytes) -> Any:
    import io

    return io.BytesIO(data)
