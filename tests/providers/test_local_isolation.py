"""The local provider keeps to itself, on real binaries: every component listens on loopback only (before and after
an upgrade), its files are its owner's only, the swap of a component cannot lose its port to another process, a
bind refused is the machine's fault, and the apiserver's calls to webhooks and aggregated APIs outside the machine's
loopback are refused before anything leaves."""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import stat
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import processes as _procs
from harness.binaries import BinarySet
from harness.errors import InfraError
from harness.providers.base import Cluster, ClusterOptions, NodeSpec, UpgradeFailed
from harness.providers.local import LocalProvider, provision, upgrade

pytestmark = pytest.mark.slow

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")
SWAPPED = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@pytest.fixture
def provider(tmp_path: Path) -> LocalProvider:
    return LocalProvider(root=tmp_path / "state")


@pytest.fixture
def cluster(provider: LocalProvider, bin127: BinarySet, bin128: BinarySet) -> Iterator[Cluster]:
    """A cluster at 1.27 (kept: the test looks at it while it runs), deleted afterwards."""
    c = provider.create(f"i-{uuid.uuid4().hex[:6]}", bin127.version, ClusterOptions(nodes=[NodeSpec("n1")]))
    try:
        yield c
    finally:
        provider.delete(c)
    assert not c.workdir.exists()


def pids_of(c: Cluster) -> dict[str, int]:
    """Each component's pid (kwokctl's pid files, which the upgrade keeps current)."""
    pids = {comp: _procs.read_pid(c.workdir / "pids" / f"{comp}.pid") for comp in COMPONENTS}
    assert all(pid and _procs.alive(pid) for pid in pids.values()), pids
    return {comp: pid for comp, pid in pids.items() if pid}


def sockets_of(c: Cluster) -> dict[str, list[_procs.Socket]]:
    """Every socket each component listens on, and every other process of the cluster's as "other"."""
    pids = pids_of(c)
    found = {comp: _procs.listening_sockets(pid) for comp, pid in pids.items()}
    others = [p for p in _procs.processes_under(c.workdir) if p not in pids.values()]
    found["other"] = [s for p in others for s in _procs.listening_sockets(p)]
    return found


def port_of(c: Cluster, comp: str) -> int:
    (sock,) = [s for s in _procs.listening_sockets(pids_of(c)[comp]) if s.proto == "tcp"]
    return sock.port


def assert_loopback_only(c: Cluster) -> None:
    found = sockets_of(c)
    for comp in COMPONENTS:
        assert any(s.proto == "tcp" for s in found[comp]), f"{comp} listens on nothing: {found}"
    outside = {comp: [s for s in socks if not s.loopback] for comp, socks in found.items()}
    assert not any(outside.values()), f"listening beyond loopback: {outside}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_listens_on_loopback_only_before_and_after_an_upgrade_and_its_files_are_private(
    provider: LocalProvider, cluster: Cluster, bin128: BinarySet
) -> None:
    assert_loopback_only(cluster)
    provider.upgrade_control_plane(cluster, bin128.version)
    assert_loopback_only(cluster)
    for comp in SWAPPED:  # really the target's processes that were looked at
        assert Path(f"/proc/{pids_of(cluster)[comp]}/exe").resolve() == bin128.path(comp).resolve()

    cdir = cluster.workdir
    credentials = [cdir / "kubeconfig.yaml", cdir / "user-kubeconfig.yaml", *sorted((cdir / "pki").glob("*.key"))]
    assert len(credentials) >= 4
    for path in credentials:
        assert mode(path) == 0o600, path
    assert all(mode(d) == 0o700 for d in (provider.root, provider.root / "clusters", cdir))
    loose = [(p, oct(mode(p))) for p in cdir.rglob("*")
             if not p.is_symlink() and mode(p) != (0o700 if p.is_dir() else 0o600)]
    assert not loose, loose


def test_a_port_cannot_be_taken_during_the_swap(
    provider: LocalProvider, cluster: Cluster, bin128: BinarySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another rehearsal choosing ports while this one upgrades: a thread tries, all through the upgrade, to bind
    and listen on the three ports being swapped (SO_REUSEADDR, as Go's listeners do), and right after each old
    process has stopped the test tries again itself. None succeeds; the upgrade succeeds on the same ports."""
    ports = {comp: port_of(cluster, comp) for comp in SWAPPED}
    taken: list[int] = []
    refused: dict[str, int] = {}

    def try_bind(port: int) -> int:
        """0 when ``port`` was bound (and is then held, as a competitor would), else the errno."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError as e:
            sock.close()
            return e.errno or -1
        held.append(sock)
        taken.append(port)
        return 0

    held: list[socket.socket] = []
    stop = threading.Event()

    def competitor() -> None:
        while not stop.is_set():
            for port in ports.values():
                try_bind(port)

    real_stop_old = upgrade._stop_old

    def stop_old_then_take(comp: str, pid: int) -> None:
        real_stop_old(comp, pid)
        assert not _procs.alive(pid)
        refused[comp] = try_bind(ports[comp])

    monkeypatch.setattr(upgrade, "_stop_old", stop_old_then_take)
    thread = threading.Thread(target=competitor, daemon=True)
    thread.start()
    try:
        result = provider.upgrade_control_plane(cluster, bin128.version)
    finally:
        stop.set()
        thread.join()
        for sock in held:
            sock.close()
    assert refused == {comp: errno.EADDRINUSE for comp in SWAPPED}
    assert not taken
    assert result.version == bin128.version
    assert {comp: port_of(cluster, comp) for comp in SWAPPED} == ports


def test_a_refused_bind_is_the_machines_fault_not_the_upgrades(
    provider: LocalProvider, cluster: Cluster, bin128: BinarySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target kube-apiserver started without port sharing: the port is held, its bind is refused in its own
    words, and that is an environment failure (exit 3), never what the upgrade broke."""
    real = upgrade._target_args
    monkeypatch.setattr(upgrade, "_target_args", lambda comp, args: [
        a for a in real(comp, args) if not a.startswith("--permit-port-sharing")])
    with pytest.raises(InfraError) as exc:
        provider.upgrade_control_plane(cluster, bin128.version)
    assert not isinstance(exc.value, UpgradeFailed)
    assert "address already in use" in str(exc.value) and "the machine" in str(exc.value)
    assert "kube-apiserver" in str(exc.value)


@pytest.mark.parametrize("lost", [1, provision.CREATE_ATTEMPTS], ids=["once", "every-time"])
def test_a_port_taken_before_its_component_binds_it(
    provider: LocalProvider, bin127: BinarySet, monkeypatch: pytest.MonkeyPatch, lost: int
) -> None:
    """Another process takes a port between its choice and etcd's bind: the create starts again on fresh ports at
    once (kwokctl alone would wait minutes), and when that keeps happening it is the machine's fault."""
    holder = socket.create_server(("127.0.0.1", 0))
    real = provision._free_ports
    calls: list[int] = []

    def first_one_taken(count: int) -> list[int]:
        calls.append(count)
        ports = real(count)
        return [holder.getsockname()[1], *ports[1:]] if len(calls) <= lost else ports

    monkeypatch.setattr(provision, "_free_ports", first_one_taken)
    name = f"p-{uuid.uuid4().hex[:6]}"
    t0 = time.monotonic()
    try:
        if lost < provision.CREATE_ATTEMPTS:
            c = provider.create(name, bin127.version, ClusterOptions(nodes=[NodeSpec("n1")]))
            assert len(calls) == lost + 1
            assert "lost a port" in (c.workdir / "kwokctl-create.log").read_text()
            assert_loopback_only(c)
            provider.delete(c)
        else:
            with pytest.raises(InfraError) as exc:
                provider.create(name, bin127.version, ClusterOptions(nodes=[NodeSpec("n1")]))
            assert not isinstance(exc.value, UpgradeFailed)
            assert "address already in use" in str(exc.value) and "the machine" in str(exc.value)
            assert len(calls) == provision.CREATE_ATTEMPTS
            assert not (provider.root / "clusters" / name).exists()
    finally:
        holder.close()
    assert time.monotonic() - t0 < 30 * lost, "a lost port was waited out"


# ---- nothing the apiserver dials leaves the machine -------------------------------------------------------------
def machine_address() -> str:
    """This machine's address on its default route (not loopback); a UDP connect sends nothing."""
    for target in ("192.0.2.255", "203.0.113.1", "8.8.8.8"):
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((target, 9))
            address = str(s.getsockname()[0])
            if not address.startswith("127."):
                return address
    pytest.skip("this machine has no address but loopback: nothing to reach outside it")


class Listener:
    """A TCP listener on this machine's network address that counts the connections it accepts."""

    def __init__(self, address: str) -> None:
        self.sock = socket.create_server((address, 0))
        self.sock.settimeout(0.2)
        self.address, self.port = address, int(self.sock.getsockname()[1])
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def outside_objects(ln: Listener) -> list[dict[str, object]]:
    """A validating webhook by URL, a mutating webhook and an APIService through an ExternalName Service, and a
    CRD whose conversion webhook is a URL -- all at the listener, outside the rehearsal."""
    url = f"https://{ln.address}:{ln.port}"
    hook = {"sideEffects": "None", "admissionReviewVersions": ["v1"], "failurePolicy": "Fail", "timeoutSeconds": 5,
            "namespaceSelector": {"matchLabels": {"egress": "test"}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": ["configmaps"]}]}
    version = {"served": True, "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "egress", "labels": {"egress": "test"}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "outside", "namespace": "egress"},
         "spec": {"type": "ExternalName", "externalName": ln.address, "ports": [{"port": ln.port}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "by-url"}, "webhooks": [{**hook, "name": "by-url.egress.test",
                                                      "clientConfig": {"url": f"{url}/validate"}}]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "by-service"},
         "webhooks": [{**hook, "name": "by-service.egress.test", "clientConfig": {"service": {
             "namespace": "egress", "name": "outside", "port": ln.port, "path": "/mutate"}}}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1.egress.test"},
         "spec": {"group": "egress.test", "version": "v1", "groupPriorityMinimum": 100, "versionPriority": 10,
                  "insecureSkipTLSVerify": True,
                  "service": {"namespace": "egress", "name": "outside", "port": ln.port}}},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": {"name": "widgets.convert.test"},
         "spec": {"group": "convert.test", "scope": "Namespaced",
                  "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                  "versions": [{**version, "name": "v1", "storage": True}, {**version, "name": "v2",
                                                                              "storage": False}],
                  "conversion": {"strategy": "Webhook", "webhook": {
                      "conversionReviewVersions": ["v1"], "clientConfig": {"url": f"{url}/convert"}}}}},
    ]


def kubectl(bins: BinarySet, c: Cluster, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bins.path("kubectl")), "--kubeconfig", str(c.kubeconfig), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)


def refused_quickly(bins: BinarySet, c: Cluster, *args: str, stdin: str | None = None) -> str:
    """What the API answered ``kubectl ARGS`` (which must fail) within seconds: refused, not waited out."""
    t0 = time.monotonic()
    out = kubectl(bins, c, *args, stdin=stdin)
    assert out.returncode != 0, out.stdout
    assert time.monotonic() - t0 < 4, f"the call waited, so it went somewhere: {out.stderr}"
    return out.stderr


def test_webhook_and_aggregated_api_calls_outside_the_machine_are_refused(
    provider: LocalProvider, bin127: BinarySet, bin128: BinarySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects the apiserver would call at a listener on this machine's network address, before and after an
    upgrade: every call fails at once, and the listener sees no connection. The runner is behind a proxy -- the
    same listener -- which must not carry the calls (nor the rehearsal's own polling) out either."""
    ln = Listener(machine_address())
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, f"http://{ln.address}:{ln.port}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")  # as runners set it: the harness's own clients need it
    c = provider.create(f"e-{uuid.uuid4().hex[:6]}", bin127.version, ClusterOptions(nodes=[NodeSpec("n1")]))
    try:
        applied = kubectl(bin127, c, "apply", "-f", "-", stdin=yaml.safe_dump_all(outside_objects(ln)))
        assert applied.returncode == 0, applied.stderr
        waited = kubectl(bin127, c, "wait", "--for=condition=Established", "--timeout=30s",
                         "crd/widgets.convert.test")
        assert waited.returncode == 0, waited.stderr
        widget = {"apiVersion": "convert.test/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}
        for _ in range(50):  # the new resource is served a moment after Established
            if kubectl(bin127, c, "create", "-f", "-", stdin=json.dumps(widget)).returncode == 0:
                break
            time.sleep(0.2)
        for when, bins in (("before", bin127), ("after", bin128)):
            if when == "after":
                provider.upgrade_control_plane(c, bin128.version)
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{when}", "namespace": "egress"}}
            err = refused_quickly(bins, c, "create", "-f", "-", stdin=json.dumps(cm))
            assert "failed calling webhook" in err, err
            err = refused_quickly(bins, c, "get", "--raw", "/apis/egress.test/v1")
            assert "ServiceUnavailable" in err or "service unavailable" in err.lower(), err
            err = refused_quickly(bins, c, "get", "widgets.v2.convert.test", "w", "-n", "default")
            assert "conversion webhook" in err, err
            assert ln.accepted == 0, f"{ln.accepted} connections reached {ln.address}:{ln.port} ({when} the upgrade)"
    finally:
        provider.delete(c)
        ln.close()
