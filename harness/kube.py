"""The one place that builds Kubernetes API clients (the official client is untyped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def api_client(kubeconfig: Path | str | None = None, context: str | None = None) -> Any:
    """An ``ApiClient`` for ``kubeconfig`` (default: $KUBECONFIG or ~/.kube/config) and ``context``."""
    from kubernetes import config

    return config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig) if kubeconfig else None, context=context
    )
