"""The provider interface (kind's shape): one small protocol, the data and errors it speaks in, and what every
provider shares: the naming rule, the create-actions runner, the cluster context manager, the state directory.

A provider creates an ephemeral cluster at one version, upgrades its control plane and then its nodes in
place, hands out a kubeconfig, collects logs, and deletes everything it started.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.errors import InfraError, InputError, RehearseError
from harness.progress import Progress
from harness.report.model import Finding
from harness.versions import Version

META_FILE = "rehearse.json"  # in a cluster's directory: name, provider, version, created, provider details


@dataclass(frozen=True)
class NodeSpec:
    """A node to mirror: labels, taints, capacity and the kubelet version it should report."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] = ()
    capacity: Mapping[str, str] = field(default_factory=lambda: {"cpu": "8", "memory": "32Gi", "pods": "110"})
    control_plane: bool = False


@dataclass(frozen=True)
class ClusterOptions:
    """What a rehearsal asks of a new cluster, beyond its version."""

    nodes: Sequence[NodeSpec] = ()
    apiserver_args: Sequence[str] = ()
    controller_manager_args: Sequence[str] = ()
    scheduler_args: Sequence[str] = ()
    feature_gates: Mapping[str, bool] = field(default_factory=dict)
    allow_egress: Sequence[str] = ()  # address ranges pods may reach outside the cluster (--allow-egress)


@dataclass
class Cluster:
    """A running rehearsal cluster."""

    name: str
    provider: str
    version: Version
    kubeconfig: Path
    workdir: Path
    options: ClusterOptions = field(default_factory=ClusterOptions)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster found on this machine (``rehearse clusters list``)."""

    name: str
    provider: str
    version: str
    created: float
    workdir: Path | None
    running: bool


@dataclass(frozen=True)
class UpgradeResult:
    """What one control-plane hop did."""

    version: Version
    seconds: float
    api_downtime_seconds: float
    components: Sequence[tuple[str, float]] = ()


def ranges(values: Iterable[str], what: str) -> tuple[str, ...]:
    """Address ranges (``10.0.0.0/8``, ``2001:db8::/64``, or one address) normalised; a bad one is an input
    error naming ``what``."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise InputError(f"{what} {value!r} is not an address range (a CIDR such as 203.0.113.0/24 or "
                             "2001:db8::/64, or one address)") from None
    return tuple(dict.fromkeys(out))


class UpgradeFailed(InfraError):
    """A component of the target version refused the cluster it was given; ``cause`` is its own words.

    The upgrade's fault (exit 1), not the machine's: build one with :func:`component_failure`, which decides.
    """

    def __init__(self, component: str, version: Version, cause: str) -> None:
        super().__init__(f"{component} {version} failed to start: {cause}")
        self.component = component
        self.version = version
        self.cause = cause


# A component's words that blame the machine, not the cluster's content (a port in use, a full disk, …).
ENVIRONMENT_CAUSES = ("address already in use", "no space left on device", "too many open files",
                      "cannot allocate memory", "read-only file system", "connection refused")


def component_failure(component: str, version: Version, cause: str, *, waited: float | None = None) -> InfraError:
    """The one rule for a component of the target version that did not come up healthy (README, "Exit codes").

    ``cause`` is the line of its own output (or of ``/readyz?verbose``) that names why, "" when none does. A
    cause in the cluster's content (a refused flag or gate, invalid configuration, stored data it cannot read)
    is the upgrade's fault: :class:`UpgradeFailed`. A cause that blames the machine, or no cause at all (a wait
    that ran out in silence, a process killed from outside), is the environment's or undecidable:
    :class:`InfraError`, and the message says which.
    """
    how = f"not healthy after {waited:.0f}s" if waited is not None else "exited"
    low = cause.lower()
    if cause and not any(marker in low for marker in ENVIRONMENT_CAUSES):
        return UpgradeFailed(component, version, f"{how}: {cause}" if waited is not None else cause)
    if cause:
        return InfraError(f"{component} {version} {how}: {cause} (the machine, not the upgrade)")
    return InfraError(f"{component} {version} {how} and named no cause: rehearse cannot tell whether the upgrade "
                      "or the machine is at fault; its log is in the report directory")


class Provider(Protocol):
    """What every provider implements."""

    name: str
    simulated_pods: bool  # pods are simulated: no container runs, so checks that need one are skipped
    simulated_parts: tuple[str, ...]  # what the reports must say was simulated rather than observed
    substitution_reason: str  # why a version can run as another patch here ("cannot be built here")

    def available(self) -> tuple[bool, str]:
        """Whether this provider can run here, and why not."""

    def prepare(self, version: Version) -> Version:
        """Make what a cluster of ``version`` needs present (binaries, node images); return the exact version
        that will run (a build may have to use an older patch)."""

    def create(self, name: str, version: Version, options: ClusterOptions | None = None) -> Cluster:
        """Create a cluster at ``version``; on failure nothing is left behind."""

    def upgrade_control_plane(self, cluster: Cluster, version: Version) -> UpgradeResult:
        """Replace the control plane with ``version`` over the same cluster state."""

    def upgrade_nodes(self, cluster: Cluster, version: Version) -> None:
        """Bring every node's kubelet to ``version``."""

    def take_findings(self, cluster: Cluster) -> list[Finding]:
        """What the node upgrade found (e.g. a drain a PodDisruptionBudget blocked), handed over once."""

    def collect_logs(self, cluster: Cluster, directory: Path) -> None:
        """Copy component logs into ``directory``."""

    def delete(self, cluster: Cluster | str) -> None:
        """Delete the cluster and stop every process it started."""

    def list(self) -> list[ClusterInfo]:
        """Clusters of this provider on this machine."""


# ---- creating ----------------------------------------------------------------------------------------------
_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_NAME = 40  # kind prefixes its node containers' names with the cluster name


def check_new_name(name: str, exists: Callable[[str], bool]) -> None:
    """The naming rule of every provider's clusters (lower-case letters, digits and '-', 40 at most), and no
    cluster of that name yet; :class:`InputError` otherwise."""
    if not _NAME_RE.fullmatch(name) or len(name) > MAX_NAME:
        raise InputError(f"bad cluster name {name!r}: use lower-case letters, digits and '-' ({MAX_NAME} at most)")
    if exists(name):
        raise InputError(f"cluster {name!r} already exists (rehearse clusters delete {name})")


@dataclass(frozen=True)
class Action:
    """One named step of creating a cluster."""

    title: str
    run: Callable[[], None]


def run_actions(name: str, actions: Sequence[Action], progress: Progress, delete: Callable[[str], None]) -> None:
    """Create cluster ``name`` by ``actions`` in order, each shown as a progress step; on any failure (or Ctrl-C)
    delete whatever they made, then re-raise."""
    try:
        for action in actions:
            progress.step(action.title)
            action.run()
    except BaseException:
        progress.update(f"cleaning up cluster {name}")
        with contextlib.suppress(Exception):
            delete(name)
        raise


@contextlib.contextmanager
def managed_cluster(provider: Provider, name: str, version: Version, options: ClusterOptions | None = None,
                    keep: bool = False) -> Iterator[Cluster]:
    """Create a cluster and delete it afterwards (on success, failure and Ctrl-C) unless ``keep``."""
    cluster = provider.create(name, version, options or ClusterOptions())
    try:
        yield cluster
    finally:
        if not keep:
            with contextlib.suppress(RehearseError):
                provider.delete(cluster)


# ---- the rehearsal's own audit log ---------------------------------------------------------------------------
# Every provider runs its kube-apiserver with this policy and a log in the cluster's directory (0700, the file
# 0600), named in ``cluster.meta["audit_log"]`` for :mod:`harness.observe`: Metadata level (who called what, at
# which version, with which answer); lease renewals and health probes are left out (most of the traffic, no
# add-on's API usage).
AUDIT_DIR, AUDIT_LOG = "audit", "audit.log"
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: None
  nonResourceURLs: [/healthz, /healthz/*, /readyz, /readyz/*, /livez, /livez/*, /version]
- level: Metadata
"""


# ---- state on this machine -----------------------------------------------------------------------------------
def state_root() -> Path:
    """Where clusters keep their state: ``$REHEARSE_STATE_DIR``, else ``~/.local/state/rehearse``."""
    env = os.environ.get("REHEARSE_STATE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state") / "rehearse"


def read_meta(cluster_dir: Path) -> dict[str, Any]:
    """The metadata file of a cluster directory; empty when missing or unreadable (a half-created cluster)."""
    try:
        data = json.loads((cluster_dir / META_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def write_meta(cluster: Cluster) -> None:
    """Record the cluster's name, provider, version and the JSON-able part of its ``meta`` in its directory
    (nothing while the directory does not exist yet); the directory is kept 0700 and the file 0600."""
    if not cluster.workdir.exists():
        return
    data = {"name": cluster.name, "provider": cluster.provider, "version": str(cluster.version),
            **{k: v for k, v in cluster.meta.items() if _jsonable(v)}}
    os.chmod(cluster.workdir, PRIVATE_DIR)
    write_private(cluster.workdir / META_FILE, json.dumps(data, indent=2) + "\n")


# Files holding cluster credentials (kubeconfigs, keys) are readable by their owner only, and so is every
# directory the tool makes for a cluster (design notes, "Safety").
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
PRIVATE_UMASK = 0o077  # for the tools and components that write a cluster's files: 0600 and 0700 whatever they ask


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter: made 0700 with every missing parent, or set so."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by a rehearsal next to this one
            p.mkdir(mode=PRIVATE_DIR)
        os.chmod(p, PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, a file only its owner can read (0600 from its first byte)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def restrict_tree(root: Path) -> None:
    """Every directory under ``root`` (itself too) 0700 and every file 0600; symbolic links are left alone
    (a link's own mode means nothing, and following it would change what it points to)."""
    os.chmod(root, PRIVATE_DIR)
    for base, dirs, files in os.walk(root):
        for name in dirs:
            if not os.path.islink(os.path.join(base, name)):
                os.chmod(os.path.join(base, name), PRIVATE_DIR)
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # a component's file removed meanwhile
                if not os.path.islink(os.path.join(base, name)):
                    os.chmod(os.path.join(base, name), PRIVATE_FILE)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def list_clusters(clusters_dir: Path, provider: str, running: Callable[[Path], bool]) -> list[ClusterInfo]:
    """The clusters whose directories are under ``clusters_dir`` (half-created ones, with no metadata, left out)."""
    out = []
    for cdir in sorted(clusters_dir.iterdir()) if clusters_dir.is_dir() else []:
        meta = read_meta(cdir)
        if meta:
            out.append(ClusterInfo(name=cdir.name, provider=provider, version=str(meta.get("version", "?")),
                                   created=float(meta.get("created", 0)), workdir=cdir, running=running(cdir)))
    return out


def copy_logs(cluster: Cluster, directory: Path) -> None:
    """Copy the cluster's own logs (``logs/*.log`` in its directory) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for log in sorted((cluster.workdir / "logs").glob("*.log")):
        shutil.copyfile(log, directory / log.name)
