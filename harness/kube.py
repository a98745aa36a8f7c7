"""The one place that builds Kubernetes API clients (the official client is untyped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from harness import __version__

# Every API client rehearse builds says so: the audit log's attribution (harness.observe) leaves these out.
USER_AGENT = f"rehearse/{__version__}"


def api_client(kubeconfig: Path | str | None = None, context: str | None = None) -> Any:
    """An ``ApiClient`` for ``kubeconfig`` (default: $KUBECONFIG or ~/.kube/config) and ``context``."""
    from kubernetes import config

    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig) if kubeconfig else None, context=context
    )
    # The client honours HTTPS_PROXY without exempting loopback: a rehearsal cluster on 127.0.0.1 is never
    # reached through a runner's proxy.
    if urlparse(api.configuration.host).hostname in ("127.0.0.1", "localhost", "::1"):
        api.configuration.proxy = None
    api.user_agent = USER_AGENT
    return api


def raw_get(api: Any, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET a non-resource path (``/readyz``, ``/version``) with the client's credentials: (status, body)."""
    from kubernetes.client.exceptions import ApiException

    request = api.param_serialize("GET", path, auth_settings=["BearerToken"])
    try:
        resp = api.call_api(*request, _request_timeout=timeout)
        resp.read()
        return int(resp.status), resp.data.decode(errors="replace")
    except ApiException as e:
        return int(e.status or 0), str(e.body or e.reason)
