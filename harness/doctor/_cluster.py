"""A cluster, read-only and audit-provable: GETs alone (``/version``, one ``limit=1`` list per type a snapshot
reads, ``/metrics``), never a review API (those are creates)."""

from __future__ import annotations

import concurrent.futures as cf
import json
import re
import shlex
import urllib.parse
from typing import Any

from harness.doctor._rows import Row
from harness.errors import InputError

API_TIMEOUT = 5.0  # seconds for one GET of the cluster
_BIND = "kubectl create clusterrolebinding {role} --clusterrole={role} --user=USER"

def cluster_rows(kubeconfig: str, context: str | None) -> list[Row]:
    """GET ``/version``, a ``limit=1`` list of each type a snapshot reads, and ``/metrics``: which are forbidden.

    An unusable kubeconfig or context is an :class:`InputError`; a cluster that does not answer, or rejects the
    credentials, is a missing row."""
    from kubernetes.config.config_exception import ConfigException

    from harness.kube import api_client
    from harness.snapshot import resolve_context

    name, _ = resolve_context(kubeconfig, context)
    try:
        api = api_client(kubeconfig, context)
    except (ConfigException, ValueError, TypeError, KeyError, AttributeError, OSError) as e:
        raise InputError(f"context {name!r}: unusable ({' '.join(str(e).split()) or type(e).__name__})") from None
    try:
        return _probe(api, name, f"kubectl --kubeconfig {shlex.quote(kubeconfig)} --context {shlex.quote(name)}")
    finally:
        api.close()


def _cause(e: BaseException) -> str:
    """``[Errno 111] Connection refused`` out of urllib3's nested wrappers, else the error's type."""
    m = re.search(r"\[Errno -?\d+\] [^'\")]+", str(getattr(e, "reason", None) or e))
    return m.group(0) if m else type(e).__name__


def _probe(api: Any, name: str, kubectl: str) -> list[Row]:
    from urllib3.exceptions import HTTPError

    from harness.kube import raw_get
    from harness.snapshot import listed_types

    server = str(api.configuration.host)
    requests: list[dict[str, Any]] = []
    answers = f"check that it answers: `{kubectl} get --raw /version`"

    def get(path: str, verb: str = "get") -> tuple[int, str]:
        status, body = raw_get(api, path, timeout=API_TIMEOUT)
        requests.append({"verb": verb, "path": path, "status": status})
        return status, body

    def listed(item: tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]) -> tuple[str, int]:
        resource, paths, query = item
        status = 404
        for path in paths:  # preferred first; 404: that group/version is not served, try the next
            status, _ = get(f"{path}?{urllib.parse.urlencode([('limit', '1'), *query])}", "list")
            if status != 404:
                break
        return resource, status

    try:
        status, body = get("/version")
        if status == 401:
            return [Row("cluster", "missing", f"{name} at {server} rejects the credentials (401)",
                        f"renew the credentials of {name}; `{kubectl} get --raw /version` must answer")]
        if status != 200:
            return [Row("cluster", "missing", f"{name} at {server} answers /version with HTTP {status}", answers)]
        try:
            version = str(json.loads(body)["gitVersion"])
        except (ValueError, KeyError, TypeError):
            return [Row("cluster", "missing", f"{name} at {server} is no Kubernetes API server (/version: "
                        f"{body[:60]!r})", answers)]
        with cf.ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(pool.map(listed, listed_types(get)))
        metrics, _ = get("/metrics")
    except (HTTPError, OSError) as e:
        return [Row("cluster", "missing", f"{name} at {server} does not answer ({_cause(e)})", answers)]
    data = {"context": name, "server": server, "version": version, "requests": requests}
    rows = [Row("cluster", "ok", f"{name} at {server}: Kubernetes {version}", data=data)]
    forbidden = sorted(r for r, s in results.items() if s == 403)
    failed = sorted(f"{r} (HTTP {s})" for r, s in results.items() if s not in (200, 403, 404))
    unserved = sorted(r for r, s in results.items() if s == 404)
    detail = f"{sum(1 for s in results.values() if s == 200)} of {len(results)} types a snapshot lists are readable"
    for what, items in (("forbidden", forbidden), ("failed", failed), ("not served", unserved)):
        detail += f"; {what}: {', '.join(items)}" if items else ""
    reads = {"forbidden": forbidden, "statuses": results}
    if forbidden:
        rows.append(Row("cluster reads", "forbidden", f"{detail} (a snapshot records them as not readable)",
                        f"`kubectl create clusterrole rehearse-read --verb=get,list --resource={','.join(forbidden)}` "
                        f"and `{_BIND.format(role='rehearse-read')}`", reads))
    elif failed:
        rows.append(Row("cluster reads", "warn", detail, f"try again; `{kubectl} get --raw '/readyz?verbose'` says why",
                        reads))
    else:
        rows.append(Row("cluster reads", "ok", detail, data=reads))
    if metrics == 200:
        rows.append(Row("cluster /metrics", "ok", "readable"))
    else:
        rows.append(Row("cluster /metrics", "forbidden" if metrics == 403 else "warn", f"HTTP {metrics}",
                        "`kubectl create clusterrole rehearse-metrics --verb=get --non-resource-url=/metrics` and "
                        f"`{_BIND.format(role='rehearse-metrics')}`"))
    return rows
