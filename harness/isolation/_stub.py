"""The rehearsal's stand-in for production's webhooks: a small HTTPS server, with a CA made for this rehearsal.

It answers what a kube-apiserver sends a webhook (the shapes of ``admission.k8s.io`` and ``apiextensions.k8s.io``,
v1 and v1beta1 alike):

- ``POST /admit`` with an ``AdmissionReview``: ``{"response": {"uid": <request uid>, "allowed": true}}`` in the
  request's own apiVersion (allowed, unchanged: a ``failurePolicy: Fail`` webhook must not turn writes, drains or
  the upgrade into a false "broke");
- ``POST /convert`` with a ``ConversionReview``: every object with its ``apiVersion`` set to ``desiredAPIVersion``
  and ``result.status: Success``.

It listens on ``host`` (127.0.0.1 by default: the local provider's kube-apiserver is a process on this machine; a
provider whose API server runs elsewhere names an address of this machine it can reach, ``Cluster.meta
["callback_host"]``) on a port the kernel picks, for as long as the rehearsal runs.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import socketserver
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.errors import InfraError
from harness.isolation._rewrite import StubEndpoint

_VALID = datetime.timedelta(days=7)


def _certificates(host: str) -> tuple[bytes, bytes, bytes]:
    """A fresh CA, and a server certificate it signs for ``host``: (CA PEM, server chain PEM, server key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rehearse stand-in CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + _VALID)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rehearse stand-in")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + _VALID)
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def admit(review: dict[str, Any]) -> dict[str, Any]:
    """The AdmissionReview that allows ``review``'s request, in its apiVersion."""
    request = review.get("request") or {}
    return {"apiVersion": review.get("apiVersion") or "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": request.get("uid", ""), "allowed": True}}


def convert(review: dict[str, Any]) -> dict[str, Any]:
    """The ConversionReview answering ``review``: its objects at ``desiredAPIVersion``, nothing else changed."""
    request = review.get("request") or {}
    desired = request.get("desiredAPIVersion")
    objects = [{**o, "apiVersion": desired} for o in request.get("objects") or [] if isinstance(o, dict)]
    return {"apiVersion": review.get("apiVersion") or "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "response": {"uid": request.get("uid", ""), "convertedObjects": objects,
                         "result": {"status": "Success"}}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # per connection: a client that stalls does not hold a thread for long

    def setup(self) -> None:
        super().setup()
        self.request.do_handshake()  # here, in this connection's thread, not in the accepting one

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        kind = "conversion" if path.startswith("/convert") else "admission"
        try:
            review = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if not isinstance(review, dict):
                raise ValueError("not an object")
        except ValueError as e:
            self.send_error(400, f"expected a JSON review: {e}")
            return
        self.server.count(kind)
        body = json.dumps(convert(review) if kind == "conversion" else admit(review)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: nothing below the CLI prints."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], calls: dict[str, int]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.calls = calls
        self._lock = threading.Lock()

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse lookup of the address (slow where DNS is not answering)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def count(self, kind: str) -> None:
        with self._lock:
            self.calls[kind] = self.calls.get(kind, 0) + 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed handshake or a dropped connection is the client's business: nothing to print."""


class Stub:
    """The stand-in, started by :meth:`start` and stopped by :meth:`stop` (or as a context manager).

    ``calls`` counts the requests it answered, by kind (``admission``, ``conversion``): pass a report's dict to
    have the report say it.
    """

    def __init__(self, host: str = "127.0.0.1", calls: dict[str, int] | None = None, port: int = 0) -> None:
        self.host, self.port = host, port  # port 0: any free one (kind reserves one its egress rules allow)
        self.calls: dict[str, int] = calls if calls is not None else {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = StubEndpoint("")

    def start(self) -> StubEndpoint:
        """Listen, serve in a thread, and return where (with the CA to trust)."""
        ca, chain, key = _certificates(self.host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory(prefix="rehearse-stub-") as tmp:  # 0700: the key is never readable
            (Path(tmp) / "chain.pem").write_bytes(chain)
            (Path(tmp) / "key.pem").write_bytes(key)
            context.load_cert_chain(Path(tmp) / "chain.pem", Path(tmp) / "key.pem")
        try:
            server = _Server((self.host, self.port), self.calls)
        except OSError as e:
            raise InfraError(f"the webhook stand-in cannot listen on {self.host}: {e.strerror or e}") from e
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="rehearse-webhook-stub", daemon=True)
        self._thread.start()
        port = server.server_address[1]
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.endpoint = StubEndpoint(f"https://{netloc}:{port}", base64.b64encode(ca).decode())
        return self.endpoint

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StubEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
