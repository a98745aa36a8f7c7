"""The ``kind`` provider: real nodes as Docker containers, created by the kind CLI, upgraded the way kinder does.

Lifecycle uses the real ``kind`` CLI (create, load, export logs, delete) on the ``kindest/node`` image of the
``--from`` version, pinned by digest in the version catalogue (a kind release that has images for every version
of the rehearsal is picked; say so when none does). Operations on node containers use the docker SDK.

The upgrade is kubeadm's own, as kubeadm's upgrade tests (kinder) do it: kubeadm, kubelet, kubectl and the
control-plane images of the target version are taken out of the target version's node image, copied into every
node container (``/kinder/upgrade/<version>``) and imported into the node's containerd; ``kubeadm upgrade
apply`` runs on the first control-plane node, ``kubeadm upgrade node`` on the other control-plane nodes and then
on the workers; then, node by node: cordon, drain (through the Eviction API, so PodDisruptionBudgets are
respected; a drain a PDB blocks is a finding), swap the kubelet (and kubectl), restart it, wait for the node to
report the new version, uncordon. Clusters are deleted on success, failure and Ctrl-C unless kept.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from harness.errors import InfraError, InputError
from harness.kube import api_client
from harness.progress import NullProgress, Progress
from harness.providers._api import ApiEndpoint, DowntimeMonitor, endpoint
from harness.providers.base import (
    META_FILE,
    Cluster,
    ClusterInfo,
    ClusterOptions,
    NodeSpec,
    UpgradeResult,
    managed_cluster,
    read_meta,
    state_root,
)
from harness.providers.local import UpgradeFailed
from harness.report.model import Finding, ObjectRef
from harness.versions import Catalogue, KindImage, Version, catalogue

# The kind release this build was proven with end to end (harness/data/sources.yaml pins it; the locally built
# node images follow its layout). A rehearsal runs the newest kind release that has node images for every version
# it visits, which is this one for 1.27/1.28.
KIND_RELEASE = "v0.25.0"
CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
UPGRADE_DIR = "/kinder/upgrade"  # where kinder keeps the target version's files on a node
DEFAULT_MAX_NODES = 4
MAX_CONTROL_PLANES = 3
_TAG_RE = re.compile(r":(v\d+\.\d+\.\d+)(?:@|$)")
_SANDBOX_RE = re.compile(r'sandbox_image\s*=\s*"([^"]+)"')
_STATIC_POD_RE = re.compile(r"component (kube-apiserver|kube-controller-manager|kube-scheduler|etcd)")
_RESERVED_LABELS = ("kubernetes.io/hostname", "node-role.kubernetes.io/", "node.kubernetes.io/exclude",
                    "kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/")


class NoKindImage(InputError):
    """No kind release publishes node images for every version of the rehearsal."""


@dataclass
class _Node:
    """A node container of a cluster."""

    name: str
    role: str  # control-plane | worker

    @property
    def control_plane(self) -> bool:
        return self.role == "control-plane"


@dataclass
class _Payload:
    """The target version's files, taken out of its node image."""

    version: Version
    directory: Path
    images: list[str] = field(default_factory=list)

    @property
    def remote(self) -> str:
        return f"{UPGRADE_DIR}/{self.version.tag}"


def _kind_endpoint(kubeconfig: Path, workdir: Path) -> ApiEndpoint:
    """The apiserver's address and the admin credentials of a kind kubeconfig (for /readyz polling)."""
    cfg = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    pki = workdir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    files = {}
    for key, name in (("certificate-authority-data", "ca.crt"), ("client-certificate-data", "admin.crt"),
                      ("client-key-data", "admin.key")):
        src = cluster if key.startswith("certificate-authority") else user
        path = pki / name
        path.write_bytes(base64.b64decode(src[key]))
        path.chmod(0o600)
        files[name] = str(path)
    return endpoint(str(cluster["server"]), files["ca.crt"], files["admin.crt"], files["admin.key"])


def image_version(ref: str) -> Version | None:
    """The Kubernetes version in a ``kindest/node:vX.Y.Z[@sha256:…]`` reference, if it has one."""
    m = _TAG_RE.search(ref)
    return Version.parse(m.group(1)) if m else None


def _release_key(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in release.lstrip("v").split("."))


def select_images(versions: Sequence[Version], cat: Catalogue | None = None,
                  release: str | None = None) -> dict[str, KindImage]:
    """One node image per minor of ``versions``, all from one kind release: ``release`` when given, else the
    newest release that publishes an image for every one of them (a kind CLI runs the images of its release).

    Raises :class:`NoKindImage` naming what exists when no kind release (or not ``release``) has them all.
    """
    cat = cat or catalogue()
    minors = sorted({v.minor_key for v in versions}, key=lambda m: tuple(int(x) for x in m.split(".")))
    per_minor: dict[str, dict[str, KindImage]] = {}
    for minor in minors:
        entry = cat.entry(minor)
        per_minor[minor] = {k.release: k for k in (entry.kind if entry else ())}
    common = set.intersection(*(set(d) for d in per_minor.values())) if per_minor else set()
    if release is None and common:
        release = max(common, key=_release_key)
    if release in common:
        return {m: per_minor[m][release] for m in minors}
    have = "; ".join(f"{m}: {', '.join(sorted(d, key=_release_key)) or 'none'}" for m, d in per_minor.items())
    if not common:
        raise NoKindImage(f"no kind release publishes node images for all of {', '.join(minors)} "
                          f"(kind releases with an image per minor: {have}); rehearse these hops one at a time "
                          "or use --provider local")
    newest = max(common, key=_release_key)
    raise NoKindImage(f"kind {newest} has node images for {', '.join(minors)}, but kind {release} was asked for, "
                      f"whose images do not cover them all ({have})")


class KindProvider:
    """Clusters of Docker-container nodes made by the kind CLI; kubeadm upgrades in place."""

    name = "kind"

    def __init__(
        self,
        progress: Progress | None = None,
        root: Path | None = None,
        *,
        versions: Sequence[Version] = (),
        images: Mapping[str, str] | None = None,
        preload: Sequence[str] = (),
        node_count: int | None = None,
        max_nodes: int = DEFAULT_MAX_NODES,
        drain_timeout: float = 120.0,
        ready_timeout: float = 300.0,
        kind_binary: Path | None = None,
        release: str | None = None,
    ) -> None:
        """``versions``: every version the rehearsal visits (picks one kind release for them all).
        ``images``: node images to use instead of the catalogue's, by minor (``"1.28"``) or exact version
        (``"1.28.15"``); also read from ``$REHEARSE_KIND_IMAGES`` (``1.27=REF,1.28=REF``).
        ``preload``: local images loaded into every node with ``kind load docker-image``.
        ``node_count``: nodes to create (one control plane, the rest workers) instead of mirroring the snapshot.
        ``release``: the kind release to run (``v0.30.0``); default: the newest with images for all ``versions``.
        """
        self.progress = progress or NullProgress()
        self.root = (root or state_root()) / "kind"
        self.versions = tuple(versions)
        self.images = dict(images or {})
        env = os.environ.get("REHEARSE_KIND_IMAGES", "")
        for item in filter(None, (s.strip() for s in env.split(","))):
            key, _, ref = item.partition("=")
            self.images.setdefault(key.strip().lstrip("v"), ref.strip())
        self.preload = tuple(preload)
        self.node_count = node_count
        self.max_nodes = max(1, max_nodes)
        self.drain_timeout = drain_timeout
        self.ready_timeout = ready_timeout
        self._kind = kind_binary
        self._release = release
        self._docker: Any = None
        self.findings: dict[str, list[Finding]] = {}

    # ---- discovery -------------------------------------------------------------------------------------
    @property
    def release(self) -> str:
        """The kind release this provider runs: the one asked for, else the newest with node images for every
        version of the rehearsal (raises :class:`NoKindImage` when there is none), else the tested one."""
        if self._release is None:
            self._release = (next(iter(select_images(self.versions).values())).release if self.versions
                             else KIND_RELEASE)
        return self._release

    def available(self) -> tuple[bool, str]:
        try:
            self._client().ping()
        except Exception as e:  # InfraError, OSError or the SDK's own errors
            return False, f"no Docker engine answers: {e}"
        if self._kind is None and self._cached_kind() is None and shutil.which("go") is None \
                and not self._kind_on_path():
            return False, f"kind {self.release} is not installed and cannot be built (no Go toolchain)"
        return True, f"Docker engine and kind {self.release}"

    def _client(self) -> Any:
        if self._docker is None:
            from harness.providers._kindimage._util import docker_client

            self._docker = docker_client()
        return self._docker

    def _cached_kind(self) -> Path | None:
        from harness.binaries import cache_root

        cached = cache_root() / "tools" / "kind" / self.release / "kind"
        return cached if cached.is_file() else None

    def _kind_on_path(self) -> Path | None:
        found = shutil.which("kind")
        return Path(found) if found and _kind_version(Path(found)) == self.release else None

    def _kind_binary(self) -> Path:
        """The kind CLI of :attr:`release`: rehearse's cached one, else one on PATH, else obtained (a checksum-
        verified download or a Go build)."""
        if self._kind is None:
            self._kind = self._cached_kind() or self._kind_on_path()
        if self._kind is None:
            from harness.binaries import ensure_tool

            self._kind = ensure_tool("kind", self.release.lstrip("v"), progress=self.progress) / "kind"
        return self._kind

    def _cluster_dir(self, name: str) -> Path:
        return self.root / "clusters" / name

    # ---- images ----------------------------------------------------------------------------------------
    def image_for(self, version: Version) -> str:
        """The node image for ``version``: an override, else the catalogue's, pinned by digest."""
        for key in (str(version), version.minor_key):
            if key in self.images:
                return self.images[key]
        chosen = select_images([*self.versions, version], release=self._release)
        return chosen[version.minor_key].image

    def prepare(self, version: Version) -> Version:
        """The node image of ``version`` in the engine (pulled when missing) and the kind CLI; the image's own
        version is what runs."""
        self._kind_binary()
        return self._ensure_image(self.image_for(version))

    def missing_images(self) -> list[str]:
        """The node images of this provider's versions that the engine does not hold yet (each would be pulled)."""
        missing = []
        for v in self.versions:
            ref = self.image_for(v)
            try:
                self._client().images.get(ref)
            except Exception:  # docker.errors.ImageNotFound, or no engine at all
                missing.append(ref)
        return sorted(set(missing))

    def _ensure_image(self, ref: str) -> Version:
        """Make ``ref`` present in the engine (pull when missing) and return the Kubernetes version it holds."""
        client = self._client()
        try:
            client.images.get(ref)
        except Exception:  # docker.errors.ImageNotFound (the SDK is untyped)
            self.progress.update(f"pulling {ref}")
            try:
                client.images.pull(ref)
            except Exception as e:
                raise InfraError(f"node image {ref} is not present and cannot be pulled: {e}") from e
        text = self._read_image_file(ref, "/kind/version").strip()
        try:
            return Version.parse(text)
        except InputError as e:
            raise InfraError(f"{ref} is not a kind node image (/kind/version reads {text!r})") from e

    def _read_image_file(self, ref: str, path: str) -> str:
        container = self._client().containers.create(ref, entrypoint=["true"], network_mode="none")
        try:
            return _read_archive(container, path).decode()
        finally:
            container.remove(force=True)

    # ---- create ----------------------------------------------------------------------------------------
    def create(self, name: str, version: Version, options: ClusterOptions | None = None) -> Cluster:
        """Create ``name`` at ``version``: ordered actions, and on any failure (or Ctrl-C) delete it all."""
        options = options or ClusterOptions()
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 40:
            raise InputError(f"bad cluster name {name!r}: use lower-case letters, digits and '-' (40 at most)")
        cdir = self._cluster_dir(name)
        if cdir.exists() or self._containers(name):
            raise InputError(f"cluster {name!r} already exists (rehearse clusters delete {name})")
        image = self.image_for(version)
        kind = self._kind_binary()
        cluster = Cluster(name=name, provider=self.name, version=version, kubeconfig=cdir / "kubeconfig",
                          workdir=cdir, options=options,
                          meta={"created": time.time(), "image": image, "kind": str(kind),
                                "kind_release": self.release})
        actions: Sequence[tuple[str, Callable[[], None]]] = (
            (f"node image {image}", lambda: self._prepare_image(cluster)),
            ("kind create cluster", lambda: self._kind_create(cluster)),
            ("waiting for every node to be Ready", lambda: self._wait_ready(cluster, cluster.version)),
            ("node labels and taints", lambda: self._mirror_nodes(cluster)),
            (f"loading {len(self.preload)} images into the nodes", lambda: self._load_images(cluster)),
        )
        try:
            cdir.mkdir(parents=True)
            (cdir / "logs").mkdir()
            self._write_meta(cluster)
            for title, action in actions:
                self.progress.step(title)
                action()
        except BaseException:
            self.progress.update(f"cleaning up cluster {name}")
            with contextlib.suppress(Exception):
                self.delete(name)
            raise
        return cluster

    def _prepare_image(self, cluster: Cluster) -> None:
        ran = self._ensure_image(str(cluster.meta["image"]))
        if ran != cluster.version:
            self.progress.note(f"the kind node image for {cluster.version.minor_key} holds Kubernetes {ran}; "
                               f"the cluster runs {ran}")
        cluster.version = ran
        self._write_meta(cluster)

    def _node_roles(self, options: ClusterOptions) -> list[NodeSpec]:
        """Nodes to create: the snapshot's (control planes first), up to the limits, or ``node_count``."""
        if self.node_count is not None:
            n = max(1, min(self.node_count, self.max_nodes))
            return [NodeSpec("control-plane-1", control_plane=True)] + [NodeSpec(f"worker-{i}") for i in range(1, n)]
        specs = list(options.nodes) or [NodeSpec("control-plane-1", control_plane=True)]
        cps = [s for s in specs if s.control_plane][:MAX_CONTROL_PLANES] or [NodeSpec("control-plane-1",
                                                                                     control_plane=True)]
        workers = [s for s in specs if not s.control_plane][: max(0, self.max_nodes - len(cps))]
        return [*cps, *workers]

    def kind_config(self, cluster: Cluster) -> dict[str, Any]:
        """The kind ``Cluster`` config: the nodes, the image, and the production flags as kubeadm patches."""
        options = cluster.options
        specs = self._node_roles(options)
        nodes = [{"role": "control-plane" if s.control_plane else "worker", "image": cluster.meta["image"]}
                 for s in specs]
        cfg: dict[str, Any] = {
            "kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": cluster.name, "nodes": nodes,
            "networking": {"apiServerAddress": "127.0.0.1"},
        }
        if options.feature_gates:
            cfg["featureGates"] = dict(sorted(options.feature_gates.items()))
        patch: dict[str, Any] = {}
        for section, args in (("apiServer", options.apiserver_args),
                              ("controllerManager", options.controller_manager_args),
                              ("scheduler", options.scheduler_args)):
            extra = {}
            for arg in args:
                key, _, value = arg.lstrip("-").partition("=")
                extra[key] = value
            if extra:
                patch[section] = {"extraArgs": extra}
        if patch:
            cfg["kubeadmConfigPatches"] = [yaml.safe_dump({"kind": "ClusterConfiguration", **patch}, sort_keys=True)]
        cluster.meta["node_specs"] = [s.name for s in specs]
        return cfg

    def _kind_create(self, cluster: Cluster) -> None:
        cfg_path = cluster.workdir / "kind-config.yaml"
        cfg_path.write_text(yaml.safe_dump(self.kind_config(cluster), sort_keys=False), encoding="utf-8")
        self._write_meta(cluster)
        self._run_kind(["create", "cluster", "--name", cluster.name, "--config", str(cfg_path), "--kubeconfig",
                        str(cluster.kubeconfig), "--retain"], cluster.workdir / "logs" / "kind-create.log",
                       timeout=900)
        if not cluster.kubeconfig.exists():
            raise InfraError(f"kind created no kubeconfig at {cluster.kubeconfig}")

    def _run_kind(self, args: list[str], log: Path, timeout: float = 600) -> None:
        """Run the kind CLI in its own session (Ctrl-C reaches us, not it); stop it if we are interrupted."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as fh:
            fh.write(f"$ kind {' '.join(args)}\n".encode())
            fh.flush()
            proc = subprocess.Popen([str(self._kind_binary()), *args], stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                raise
        if rc != 0:
            raise InfraError(f"kind {' '.join(args[:2])} failed: {_last_error(log)}")

    # ---- nodes -----------------------------------------------------------------------------------------
    def _containers(self, name: str, label: str = CLUSTER_LABEL) -> list[dict[str, Any]]:
        """The engine's records of the cluster's containers (a plain listing: they may vanish meanwhile)."""
        try:
            found: list[dict[str, Any]] = self._client().api.containers(all=True,
                                                                        filters={"label": f"{label}={name}"})
        except InfraError:
            return []
        return found

    def nodes(self, cluster: Cluster) -> list[_Node]:
        """The cluster's node containers: control planes first (the bootstrap one first), then workers."""
        out = []
        for c in self._containers(cluster.name):
            role = (c.get("Labels") or {}).get(ROLE_LABEL, "")
            names = c.get("Names") or []
            if role in ("control-plane", "worker") and names:
                out.append(_Node(str(names[0]).lstrip("/"), role))
        return sorted(out, key=lambda n: (not n.control_plane, _natural(n.name)))

    def _container(self, node: _Node) -> Any:
        return self._client().containers.get(node.name)

    def _exec(self, node: _Node, cmd: Sequence[str] | str, *, what: str | None = None, log: Path | None = None,
              check: bool = True) -> tuple[int, str]:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        res = self._container(node).exec_run(argv, demux=False)
        out = (res.output or b"").decode(errors="replace")
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as fh:
                fh.write(f"$ {' '.join(argv)}  # on {node.name}, exit {res.exit_code}\n{out}\n")
        if check and res.exit_code != 0:
            raise InfraError(f"{what or ' '.join(argv)[:80]} failed on {node.name}: {_last_line(out)}")
        return int(res.exit_code), out

    def _core(self, cluster: Cluster) -> Any:
        from kubernetes import client

        return client.CoreV1Api(api_client(cluster.kubeconfig))

    def _wait_ready(self, cluster: Cluster, version: Version, names: Sequence[str] | None = None,
                    timeout: float | None = None) -> None:
        """Every node (or ``names``) Ready and reporting kubelet ``version``; kube-system pods running."""
        core = self._core(cluster)
        timeout = timeout or self.ready_timeout
        deadline = time.monotonic() + timeout
        pending: list[str] = []
        while time.monotonic() < deadline:
            try:
                items = core.list_node().items
            except Exception:
                time.sleep(1)
                continue
            pending = []
            for n in items:
                if names is not None and n.metadata.name not in names:
                    continue
                ready = any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
                if not ready or n.status.node_info.kubelet_version != version.tag:
                    pending.append(n.metadata.name)
            if items and not pending:
                return
            self.progress.update(f"{len(items) - len(pending)}/{len(items)} nodes Ready at {version.tag}")
            time.sleep(1)
        raise InfraError(f"nodes not Ready at {version.tag} after {timeout:.0f}s: {', '.join(pending) or 'none'}")

    def _mirror_nodes(self, cluster: Cluster) -> None:
        """Put the snapshot's labels and taints on the kind nodes (in order: control planes, then workers)."""
        if self.node_count is not None:
            return
        specs = self._node_roles(cluster.options)
        core = self._core(cluster)
        mapping: dict[str, str] = {}
        cps = [n for n in self.nodes(cluster) if n.control_plane]
        workers = [n for n in self.nodes(cluster) if not n.control_plane]
        for spec, node in [*zip([s for s in specs if s.control_plane], cps, strict=False),
                           *zip([s for s in specs if not s.control_plane], workers, strict=False)]:
            mapping[spec.name] = node.name
            labels = {k: v for k, v in spec.labels.items() if not k.startswith(_RESERVED_LABELS)}
            body: dict[str, Any] = {}
            if labels:
                body["metadata"] = {"labels": labels}
            taints = [dict(t) for t in spec.taints
                      if not str(t.get("key", "")).startswith("node-role.kubernetes.io/")]
            if taints:
                existing = core.read_node(node.name).spec.taints or []
                body["spec"] = {"taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in existing]
                                + taints}
            if body:
                core.patch_node(node.name, body)
        cluster.meta["node_names"] = mapping
        self._write_meta(cluster)

    def _load_images(self, cluster: Cluster) -> None:
        """``kind load docker-image`` the images the user named, so private images need no pull secret."""
        for ref in self.preload:
            self.progress.update(f"kind load docker-image {ref}")
            self._run_kind(["load", "docker-image", "--name", cluster.name, ref],
                           cluster.workdir / "logs" / "kind-load.log")

    # ---- upgrade ---------------------------------------------------------------------------------------
    def _payload(self, cluster: Cluster, version: Version) -> _Payload:
        """Take kubeadm, kubelet, kubectl and the control-plane images out of the target node image."""
        image = self.image_for(version)
        ran = self._ensure_image(image)
        directory = cluster.workdir / "upgrade" / ran.tag
        meta = directory / "payload.json"
        if meta.exists():
            data = json.loads(meta.read_text())
            return _Payload(ran, directory, list(data["images"]))
        directory.mkdir(parents=True, exist_ok=True)
        self.progress.update(f"taking kubeadm, kubelet, kubectl and images {ran} out of {image}")
        client = self._client()
        helper_name = f"{cluster.name}-upgrade-{ran.tag.replace('.', '-')}"
        with contextlib.suppress(Exception):  # a helper left by an interrupted run
            client.api.remove_container(helper_name, force=True, v=True)
        helper = client.containers.run(image, entrypoint=["sleep", "infinity"], detach=True, network_mode="none",
                                       name=helper_name,
                                       labels={"io.rehearse.helper": cluster.name},
                                       security_opt=["seccomp=unconfined"])
        try:
            for b in ("kubeadm", "kubelet", "kubectl"):
                (directory / b).write_bytes(_read_archive(helper, f"/usr/bin/{b}"))
                (directory / b).chmod(0o755)
            code, out = _exec_container(helper, ["kubeadm", "config", "images", "list", "--kubernetes-version",
                                                 ran.tag])
            if code != 0:
                raise InfraError(f"kubeadm {ran} in {image} cannot list its images: {_last_line(out)}")
            wanted = [ln.strip() for ln in out.splitlines() if ln.strip() and "/" in ln]
            _, config = _exec_container(helper, ["cat", "/etc/containerd/config.toml"])
            sandbox = _SANDBOX_RE.search(config)
            if sandbox:
                wanted.append(sandbox.group(1))
            _exec_container(helper, ["sh", "-c", "nohup containerd >/tmp/containerd.log 2>&1 &"])
            for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.3), reraise=True,
                                    retry=retry_if_exception(lambda e: isinstance(e, InfraError))):
                with attempt:
                    if _exec_container(helper, ["ctr", "version"])[0] != 0:
                        raise InfraError(f"containerd does not start in {image}")
            _, listed = _exec_container(helper, ["ctr", "--namespace=k8s.io", "images", "list", "-q"])
            present = set(listed.split())
            images = sorted({w for w in wanted if w in present})
            missing = sorted({w for w in wanted if w not in present})
            if missing:
                self.progress.note(f"{image} lacks {', '.join(missing)}; the nodes will need to pull them")
            code, out = _exec_container(helper, ["ctr", "--namespace=k8s.io", "images", "export",
                                                 "--platform", "linux/amd64", "/tmp/upgrade-images.tar", *images])
            if code != 0:
                raise InfraError(f"exporting the {ran} images from {image} failed: {_last_line(out)}")
            with (directory / "images.tar").open("wb") as fh:
                _copy_archive_member(helper, "/tmp/upgrade-images.tar", fh)
        finally:
            with contextlib.suppress(Exception):
                helper.remove(force=True, v=True)
        meta.write_text(json.dumps({"image": image, "version": ran.tag, "images": images}, indent=2))
        return _Payload(ran, directory, images)

    def _distribute(self, cluster: Cluster, payload: _Payload) -> None:
        """Copy the payload into every node and import its images into the node's containerd (kinder's way)."""
        done = set(cluster.meta.get("distributed", {}).get(payload.version.tag, []))
        bundle = payload.directory / "bundle.tar"
        if not bundle.exists():
            with bundle.open("wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
                for f in ("kubeadm", "kubelet", "kubectl", "images.tar"):
                    tar.add(payload.directory / f, arcname=f"{payload.remote.lstrip('/')}/{f}")
                tar.addfile(_tar_text(f"{payload.remote.lstrip('/')}/version", payload.version.tag + "\n"),
                            io.BytesIO((payload.version.tag + "\n").encode()))
        log = cluster.workdir / "logs" / f"upgrade-{payload.version.tag}.log"
        for node in self.nodes(cluster):
            if node.name in done:
                continue
            self.progress.update(f"{node.name}: copying {payload.version} files and importing its images")
            with bundle.open("rb") as src:
                if not self._container(node).put_archive("/", src):
                    raise InfraError(f"copying the {payload.version} files into {node.name} failed")
            self._exec(node, ["ctr", "--namespace=k8s.io", "images", "import", "--digests",
                              f"{payload.remote}/images.tar"], what="importing the target images", log=log)
            self._exec(node, ["rm", "-f", f"{payload.remote}/images.tar"], log=log)
            done.add(node.name)
            cluster.meta.setdefault("distributed", {})[payload.version.tag] = sorted(done)
            self._write_meta(cluster)

    def upgrade_control_plane(self, cluster: Cluster, version: Version) -> UpgradeResult:
        """``kubeadm upgrade apply`` on the first control-plane node, ``kubeadm upgrade node`` on the others."""
        start = time.monotonic()
        payload = self._payload(cluster, version)
        target = payload.version
        cluster.meta["from_version"] = str(cluster.version)
        self._distribute(cluster, payload)
        log_dir = cluster.workdir / "logs"
        timings: list[tuple[str, float]] = []
        api = _kind_endpoint(cluster.kubeconfig, cluster.workdir)
        cps = [n for n in self.nodes(cluster) if n.control_plane]
        if not cps:
            raise InfraError(f"cluster {cluster.name} has no control-plane node container")
        with DowntimeMonitor(api, interval=0.25) as monitor:
            for i, node in enumerate(cps):
                self._swap_binary(node, payload, "kubeadm", log_dir / f"upgrade-{target.tag}.log")
                verb = ["upgrade", "apply", "-f", target.tag] if i == 0 else ["upgrade", "node"]
                title = f"kubeadm {' '.join(verb[:2])} on {node.name}"
                self.progress.update(f"{title} → {target}")
                t0 = time.monotonic()
                log = log_dir / f"kubeadm-{verb[1]}-{node.name}.log"
                code, out = self._exec(node, ["kubeadm", *verb, "--v=1"], log=log, check=False)
                if code != 0:
                    raise self._upgrade_failed(cluster, node, target, out)
                self._wait_control_plane(cluster, node, target, api)
                timings.append((title, time.monotonic() - t0))
        cluster.version = target
        self._write_meta(cluster)
        return UpgradeResult(version=target, seconds=time.monotonic() - start,
                             api_downtime_seconds=monitor.down_seconds, components=timings)

    def _upgrade_failed(self, cluster: Cluster, node: _Node, version: Version, output: str) -> UpgradeFailed:
        """kubeadm's refusal, with the failing component's own last words when it is a static pod."""
        m = _STATIC_POD_RE.search(output)
        component = m.group(1) if m else "kubeadm"
        cause = _last_error_line(output)
        if m:
            _, logs = self._exec(node, f"id=$(crictl ps -a --name {component} -q | head -n1); "
                                       f"[ -n \"$id\" ] && crictl logs --tail 20 \"$id\" 2>&1", check=False)
            own = _last_error_line(logs)
            if own:
                cause = f"{own} (kubeadm: {cause})"
        return UpgradeFailed(component, version, cause)

    def _wait_control_plane(self, cluster: Cluster, node: _Node, version: Version, api: ApiEndpoint,
                            timeout: float = 300) -> None:
        """The node's static pods run the target images and the API answers ready at the target version."""
        core = self._core(cluster)
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                status, body = api.get("/version")
                if status == 200 and json.loads(body).get("gitVersion") == version.tag:
                    stale = []
                    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                        pod = core.read_namespaced_pod(f"{comp}-{node.name}", "kube-system")
                        image = pod.spec.containers[0].image
                        ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
                        if not image.endswith(":" + version.tag) or not ready:
                            stale.append(comp)
                    if not stale:
                        return
                    last = f"not yet at {version.tag}: {', '.join(stale)}"
                else:
                    last = f"/version: {status}"
            except Exception as e:
                last = str(e).splitlines()[0] if str(e) else type(e).__name__
            time.sleep(1)
        raise UpgradeFailed("kube-apiserver", version, f"control plane on {node.name} not upgraded after "
                                                       f"{timeout:.0f}s: {last}")

    def _swap_binary(self, node: _Node, payload: _Payload, binary: str, log: Path) -> None:
        self._exec(node, ["ln", "-sf", f"{payload.remote}/{binary}", f"/usr/bin/{binary}"],
                   what=f"swapping {binary}", log=log)

    def upgrade_nodes(self, cluster: Cluster, version: Version) -> None:
        """``kubeadm upgrade node`` on the workers; then node by node: cordon, drain, kubelet, uncordon."""
        payload = self._payload(cluster, version)
        target = payload.version
        self._distribute(cluster, payload)
        log = cluster.workdir / "logs" / f"upgrade-{target.tag}.log"
        nodes = self.nodes(cluster)
        for node in (n for n in nodes if not n.control_plane):
            self._swap_binary(node, payload, "kubeadm", log)
            self.progress.update(f"kubeadm upgrade node on {node.name}")
            code, out = self._exec(node, ["kubeadm", "upgrade", "node", "--v=1"],
                                   log=cluster.workdir / "logs" / f"kubeadm-node-{node.name}.log", check=False)
            if code != 0:
                raise UpgradeFailed("kubeadm", target, f"kubeadm upgrade node on {node.name}: "
                                                       f"{_last_error_line(out)}")
        core = self._core(cluster)
        hop = f"{cluster.meta.get('from_version', '?')}→{target}"
        for i, node in enumerate(nodes, 1):
            self.progress.update(f"{node.name} ({i}/{len(nodes)}): cordon and drain")
            core.patch_node(node.name, {"spec": {"unschedulable": True}})
            try:
                blocked = self._drain(cluster, node.name)
                for pod, pdb in blocked:
                    self._finding(cluster, Finding(
                        severity="warning", kind="drain-blocked",
                        object=ObjectRef(kind="Pod", name=pod[1], namespace=pod[0], apiVersion="v1"),
                        cause=f"draining {node.name} for the kubelet upgrade to {target} could not evict "
                              f"{pod[0]}/{pod[1]} within {self.drain_timeout:.0f}s: PodDisruptionBudget "
                              f"{pdb} allows no disruption",
                        fix=f"give {pod[0]}/{pod[1]}'s workload more replicas (spread over nodes) or relax "
                            f"PodDisruptionBudget {pdb} so a node can be drained; otherwise the node upgrade "
                            "stalls in production",
                        hop=hop))
                self.progress.update(f"{node.name} ({i}/{len(nodes)}): kubelet → {target}")
                self._swap_binary(node, payload, "kubectl", log)
                self._swap_binary(node, payload, "kubelet", log)
                self._exec(node, ["systemctl", "restart", "kubelet"], what="restarting the kubelet", log=log)
                self._exec(node, f"echo {target.tag} > /kind/version", log=log)
                try:
                    self._wait_ready(cluster, target, names=[node.name], timeout=180)
                except InfraError as e:
                    _, journal = self._exec(node, "journalctl -u kubelet --no-pager -n 30", check=False)
                    raise UpgradeFailed("kubelet", target, f"{node.name}: {e}; {_last_error_line(journal)}") from e
            finally:
                with contextlib.suppress(Exception):
                    core.patch_node(node.name, {"spec": {"unschedulable": None}})
        self._write_meta(cluster)

    def _drain(self, cluster: Cluster, node: str) -> list[tuple[tuple[str, str], str]]:
        """Evict every pod of ``node`` but DaemonSet and mirror pods; returns the pods a PDB kept, with it."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        core = self._core(cluster)
        policy = client.PolicyV1Api(api_client(cluster.kubeconfig))
        # Right after `kubeadm upgrade` the apiserver may still be restarting: retry dropped connections.
        pods = _retry_connection(lambda: core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}"))
        pods = pods.items
        todo: dict[tuple[str, str], Any] = {}
        for p in pods:
            owners = p.metadata.owner_references or []
            if any(o.kind == "DaemonSet" for o in owners):
                continue
            if (p.metadata.annotations or {}).get("kubernetes.io/config.mirror"):
                continue
            if p.status.phase in ("Succeeded", "Failed"):
                continue
            todo[(p.metadata.namespace, p.metadata.name)] = p
        deadline = time.monotonic() + self.drain_timeout
        blocked: dict[tuple[str, str], str] = {}
        while todo and time.monotonic() < deadline:
            for key in list(todo):
                body = client.V1Eviction(metadata=client.V1ObjectMeta(name=key[1], namespace=key[0]))
                try:
                    _retry_connection(lambda k=key, b=body: core.create_namespaced_pod_eviction(k[1], k[0], b))
                    todo.pop(key)
                    blocked.pop(key, None)
                except ApiException as e:
                    if e.status == 404:
                        todo.pop(key)
                        blocked.pop(key, None)
                    elif e.status == 429:
                        blocked[key] = self._blocking_pdb(policy, todo[key])
                    else:
                        raise InfraError(f"evicting {key[0]}/{key[1]} from {node}: {e.reason}") from e
            if todo:
                time.sleep(2)
        # Wait for the evicted pods to be gone (bounded), as kubectl drain does.
        gone_deadline = time.monotonic() + 60
        while time.monotonic() < gone_deadline:
            left = [p for p in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
                    if (p.metadata.namespace, p.metadata.name) not in todo
                    and not any(o.kind == "DaemonSet" for o in p.metadata.owner_references or [])
                    and not (p.metadata.annotations or {}).get("kubernetes.io/config.mirror")
                    and p.status.phase not in ("Succeeded", "Failed")]
            if not left:
                break
            time.sleep(1)
        return [(k, blocked.get(k, "?")) for k in todo]

    @staticmethod
    def _blocking_pdb(policy: Any, pod: Any) -> str:
        labels = pod.metadata.labels or {}
        try:
            for pdb in policy.list_namespaced_pod_disruption_budget(pod.metadata.namespace).items:
                sel = (pdb.spec.selector.match_labels or {}) if pdb.spec.selector else {}
                if sel and all(labels.get(k) == v for k, v in sel.items()):
                    return f"{pod.metadata.namespace}/{pdb.metadata.name}"
        except Exception:
            pass
        return f"{pod.metadata.namespace}/?"

    def _finding(self, cluster: Cluster, finding: Finding) -> None:
        self.findings.setdefault(cluster.name, []).append(finding)

    def take_findings(self, cluster: Cluster) -> list[Finding]:
        """Findings of the node upgrade (a drain a PodDisruptionBudget blocked), handed over once."""
        return self.findings.pop(cluster.name, [])

    # ---- logs, delete, list ----------------------------------------------------------------------------
    def collect_logs(self, cluster: Cluster, directory: Path) -> None:
        """``kind export logs`` into ``directory/kind``, plus rehearse's own logs of kind and kubeadm."""
        directory.mkdir(parents=True, exist_ok=True)
        if self._containers(cluster.name):
            with contextlib.suppress(InfraError):
                self._run_kind(["export", "logs", str(directory / "kind"), "--name", cluster.name],
                               cluster.workdir / "logs" / "kind-export.log", timeout=300)
        for log in sorted((cluster.workdir / "logs").glob("*.log")):
            shutil.copyfile(log, directory / log.name)

    def delete(self, cluster: Cluster | str) -> None:
        """``kind delete cluster``, then whatever containers are left, then the state directory."""
        name = cluster if isinstance(cluster, str) else cluster.name
        cdir = self._cluster_dir(name)
        with contextlib.suppress(InfraError, OSError):
            if self._containers(name):
                self._run_kind(["delete", "cluster", "--name", name], cdir / "logs" / "kind-delete.log"
                               if cdir.exists() else Path(tempfile.gettempdir()) / f"rehearse-kind-{name}.log",
                               timeout=180)
        for c in [*self._containers(name), *self._containers(name, label="io.rehearse.helper")]:
            with contextlib.suppress(Exception):
                self._client().api.remove_container(c["Id"], force=True, v=True)
        shutil.rmtree(cdir, ignore_errors=True)

    def list(self) -> list[ClusterInfo]:
        out = []
        base = self.root / "clusters"
        for cdir in sorted(base.iterdir()) if base.is_dir() else []:
            meta = read_meta(cdir)
            if not meta:
                continue
            running = any(c.get("State") == "running" for c in self._containers(cdir.name))
            out.append(ClusterInfo(name=cdir.name, provider=self.name, version=str(meta.get("version", "?")),
                                   created=float(meta.get("created", 0)), workdir=cdir, running=running))
        return out

    def _write_meta(self, cluster: Cluster) -> None:
        if not cluster.workdir.exists():
            return
        data = {"name": cluster.name, "provider": self.name, "version": str(cluster.version),
                **{k: v for k, v in cluster.meta.items() if _jsonable(v)}}
        (cluster.workdir / META_FILE).write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")

    def cluster(self, name: str, version: Version, options: ClusterOptions | None = None,
                keep: bool = False) -> contextlib.AbstractContextManager[Cluster]:
        """Create a cluster and delete it afterwards (on success, failure and Ctrl-C) unless ``keep``."""
        return managed_cluster(self, name, version, options or ClusterOptions(), keep)


# ---- helpers ---------------------------------------------------------------------------------------------
def _kind_version(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"kind (v\d+\.\d+\.\d+)", out.stdout)
    return m.group(1) if m else None


def _natural(name: str) -> tuple[str, int]:
    m = re.match(r"(.*?)(\d*)$", name)
    assert m is not None
    return m.group(1), int(m.group(2) or 0)


def _exec_container(container: Any, argv: Sequence[str]) -> tuple[int, str]:
    res = container.exec_run(list(argv), demux=False)
    return int(res.exit_code), (res.output or b"").decode(errors="replace")


def _read_archive(container: Any, path: str) -> bytes:
    """One file out of a container (docker SDK ``get_archive``)."""
    buf = io.BytesIO()
    _copy_archive_member(container, path, buf)
    return buf.getvalue()


def _copy_archive_member(container: Any, path: str, out: Any) -> None:
    """Stream the file at ``path`` in ``container`` into ``out`` (the SDK returns a tar stream)."""
    stream, _ = container.get_archive(path)
    with tempfile.TemporaryFile() as tmp:
        for chunk in stream:
            tmp.write(chunk)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp, mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    src = tar.extractfile(member)
                    assert src is not None
                    shutil.copyfileobj(src, out, 1 << 20)
                    return
    raise InfraError(f"{path} is not a file in {container.name}")


def _tar_text(path: str, text: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.size = len(text.encode())
    info.mode = 0o644
    info.mtime = int(time.time())
    return info


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        low = ln.lower()
        if "error" in low or "unrecognized" in low or "unknown flag" in low or "failed" in low or "fatal" in low:
            return ln
    return lines[-1] if lines else ""


def _last_error(log: Path) -> str:
    try:
        return _last_error_line(log.read_text(errors="replace")) or f"see {log}"
    except OSError:
        return f"see {log}"


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _retry_connection(call: Any, seconds: float = 60) -> Any:
    """``call()``, retried for up to ``seconds`` while the API connection drops (urllib3/SSL errors)."""
    import urllib3

    for attempt in Retrying(stop=stop_after_delay(seconds), wait=wait_fixed(2), reraise=True,
                            retry=retry_if_exception(lambda e: isinstance(e, (urllib3.exceptions.HTTPError,
                                                                              ConnectionError)))):
        with attempt:
            return call()
    return None  # pragma: no cover - Retrying either returns or raises
