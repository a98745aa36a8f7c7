"""A bare control plane: real etcd and kube-apiserver processes, nothing else.

Used where only the API matters: discovery for the knowledge derivation tool (:mod:`harness.knowledge.derive`),
tests of the binaries and of the snapshot. Authentication is a static admin token; authorization is RBAC, so
other identities can be restricted for real.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError
from harness.processes import stop_group


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class BareControlPlane:
    """etcd + kube-apiserver on loopback ports under ``workdir``."""

    binaries: Path
    workdir: Path
    extra_args: Sequence[str] = ()
    token: str = "rehearse-admin-token"
    audit: bool = False  # log every request at Metadata level to ``audit_log`` (JSON lines)
    port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def audit_log(self) -> Path:
        """The audit log (one JSON event per line) when started with ``audit=True``."""
        return self.workdir / "logs" / "audit.log"

    def _audit_args(self) -> list[str]:
        if not self.audit:
            return []
        policy = self.workdir / "audit-policy.yaml"
        policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n", encoding="utf-8")
        return [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}", "--audit-log-mode=blocking",
                "--audit-log-format=json"]

    def kubeconfig(self, path: Path | None = None, token: str | None = None) -> Path:
        """Write a kubeconfig for the admin token (or ``token``) and return its path."""
        path = path or self.workdir / "kubeconfig"
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: bare\n  cluster:\n    server: {self.url}\n"
            f"    certificate-authority: {self.workdir / 'certs' / 'apiserver.crt'}\n"
            f"users:\n- name: admin\n  user:\n    token: {token or self.token}\n"
            "contexts:\n- name: bare\n  context:\n    cluster: bare\n    user: admin\n"
            "current-context: bare\n",
            encoding="utf-8",
        )
        return path

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        key = self.workdir / "sa.key"
        if not key.exists():
            subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        (self.workdir / "tokens.csv").write_text(f'{self.token},admin,admin,"system:masters"\n')
        etcd_port, peer_port = free_port(), free_port()
        self.port = free_port()
        self._spawn(
            [str(self.binaries / "etcd"), "--data-dir", str(self.workdir / "etcd"),
             "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
             "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
             "--unsafe-no-fsync", "--quota-backend-bytes", str(1 << 30)],
            logs / "etcd.log",
        )
        self._spawn(
            [str(self.binaries / "kube-apiserver"),
             f"--etcd-servers=http://127.0.0.1:{etcd_port}",
             "--bind-address=127.0.0.1", f"--secure-port={self.port}",
             f"--cert-dir={self.workdir / 'certs'}",
             f"--token-auth-file={self.workdir / 'tokens.csv'}",
             "--authorization-mode=RBAC",
             f"--service-account-key-file={key}", f"--service-account-signing-key-file={key}",
             "--service-account-issuer=https://kubernetes.default.svc",
             "--service-cluster-ip-range=127.64.0.0/16",  # loopback: a webhook call never leaves the machine
             "--allow-privileged=true",
             *self._audit_args(),
             *self.extra_args],
            logs / "kube-apiserver.log",
        )
        self.wait_ready(timeout)

    def _spawn(self, args: list[str], log: Path) -> None:
        with log.open("ab") as fh:
            self.procs.append(
                subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
            )

    def get(self, path: str, timeout: float = 5) -> str:
        """GET ``path`` from the apiserver as admin."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            body: bytes = resp.read()
            return body.decode()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise InfraError(f"{Path(str(p.args[0])).name} exited: {self._last_log_line(p)}")  # type: ignore[index]
            try:
                if self.get("/readyz", timeout=2) == "ok":
                    return
            except OSError as e:
                last = str(e)
            time.sleep(0.2)
        raise InfraError(f"kube-apiserver not ready after {timeout:.0f}s: {last}")

    def _last_log_line(self, p: subprocess.Popen[bytes]) -> str:
        name = Path(str(p.args[0])).name  # type: ignore[index]
        log = self.workdir / "logs" / f"{name}.log"
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
        return lines[-1] if lines else f"exit code {p.returncode}"

    def stop(self, grace: float = 15) -> None:
        """Stop the processes one at a time, newest first: kube-apiserver exits at once while etcd still runs
        (signalled together, it waits for etcd until killed, 15 s)."""
        while self.procs:
            stop_group(self.procs.pop(), grace)

    stop_in_order = stop


@contextlib.contextmanager
def bare_control_plane(
    binaries: Path, workdir: Path, extra_args: Sequence[str] = (), audit: bool = False
) -> Iterator[BareControlPlane]:
    """Start etcd + kube-apiserver (with an audit log of every request if ``audit``); always stop them."""
    cp = BareControlPlane(binaries=binaries, workdir=workdir, extra_args=extra_args, audit=audit)
    try:
        cp.start()
        yield cp
    finally:
        cp.stop()
