"""Snapshot a live cluster, read-only and secret-free, and read and write the snapshot file.

Public surface: :func:`take_snapshot`, :func:`dump`, :func:`load`, :func:`loads`, the dataclasses of
:mod:`harness.snapshot.model` and add-on detection in :mod:`harness.snapshot.addons`. The ``_`` modules are private.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InputError
from harness.progress import NullProgress, Progress
from harness.snapshot.fileformat import dump, load, loads
from harness.snapshot.model import SCHEMA, Snapshot

__all__ = ["SCHEMA", "Snapshot", "dump", "listed_types", "load", "loads", "take_snapshot"]


def _kubeconfig_files(kubeconfig: Path | str | None) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig).expanduser()]
    env = os.environ.get("KUBECONFIG", "")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _read_kubeconfig(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise InputError(f"{path}: not a usable kubeconfig ({' '.join(str(e).split()) or type(e).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a usable kubeconfig (expected a mapping with clusters, users and contexts)")
    return data


def resolve_context(kubeconfig: Path | str | None, context: str | None) -> tuple[str, str]:
    """(context name, cluster name) that ``kubeconfig``/``context`` select; :class:`InputError` if they do not.

    Like kubectl, several files in $KUBECONFIG are merged: the first file naming a context or a current context wins.
    """
    files = _kubeconfig_files(kubeconfig)
    shown = str(kubeconfig) if kubeconfig else os.pathsep.join(str(f) for f in files)
    existing = [f for f in files if f.is_file()]
    if not existing:
        if kubeconfig:
            raise InputError(f"--kubeconfig {kubeconfig}: no such file")
        where = "$KUBECONFIG" if os.environ.get("KUBECONFIG") else "~/.kube/config"
        raise InputError(f"no kubeconfig found ({where} = {shown} does not exist); pass --kubeconfig FILE")
    contexts: dict[str, dict[str, Any]] = {}
    current = ""
    for f in existing:
        data = _read_kubeconfig(f)
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                contexts.setdefault(entry["name"], entry.get("context") or {})
        current = current or str(data.get("current-context") or "")
    names = ", ".join(sorted(contexts)) or "none"
    name = context if context is not None else current
    if not name:
        raise InputError(f"{shown} has no current context; pass --context NAME (contexts: {names})")
    if name not in contexts:
        which = "context" if context is not None else "current context"
        raise InputError(f"{which} {name!r} not found in {shown} (contexts: {names})")
    chosen = contexts[name]
    return name, str(chosen.get("cluster", "")) if isinstance(chosen, dict) else ""


def take_snapshot(
    kubeconfig: Path | str | None = None, context: str | None = None, progress: Progress | None = None,
    redaction: RedactionPolicy | None = None,
) -> Snapshot:
    """Read the cluster ``kubeconfig``/``context`` select (default: $KUBECONFIG, current context); never write.
    Values are masked by ``redaction`` (default: the built-in rules) and every mask recorded in ``masked``.

    Raises :class:`InputError` for a missing or broken kubeconfig, an unknown context or rejected credentials,
    and :class:`~harness.errors.InfraError` when the server cannot be reached.
    """
    from kubernetes.config.config_exception import ConfigException

    from harness.kube import api_client
    from harness.snapshot._collect import take
    from harness.snapshot.redaction import finish, redacting

    context_name, cluster = resolve_context(kubeconfig, context)
    try:
        client = api_client(kubeconfig, context)
    except Exception as e:  # the client raises ConfigException, ValueError, TypeError… for broken entries
        if not isinstance(e, (ConfigException, ValueError, TypeError, KeyError, AttributeError, OSError)):
            raise
        cause = " ".join(str(e).split()) or type(e).__name__
        raise InputError(f"context {context_name!r}: unusable ({cause})") from None
    try:
        with redacting(redaction) as masks:
            snap = take(client, progress or NullProgress(), {"context": context_name, "cluster": cluster})
        return finish(snap, masks, redaction)
    finally:
        client.close()


if TYPE_CHECKING:
    from harness.snapshot.redaction import RedactionPolicy

ListedType = tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]  # name, paths, query parameters


def listed_types(get: Callable[[str], tuple[int, str]]) -> list[ListedType]:
    """The built-in resource types a snapshot of a server lists, for probes of read access (``rehearse doctor``):
    (name, the paths that list it, query parameters), decided from the server's discovery as a snapshot decides it
    (deny-list included), read through ``get`` (a path → HTTP status and body; a document that does not answer 200
    is passed over). Besides these, a snapshot GETs ``/version`` and discovery and lists the control-plane pods,
    Helm's storage and the resources of each CRD group."""
    import concurrent.futures as cf
    import json

    from harness.snapshot._discovery import BUILT_IN_GROUPS, choose, groups_of

    def document(path: str) -> dict[str, Any]:
        status, body = get(path)
        try:
            doc = json.loads(body) if status == 200 else {}
        except ValueError:
            doc = {}
        return doc if isinstance(doc, dict) else {}

    groups = [g for g in groups_of(document("/apis")) if g.name in BUILT_IN_GROUPS]
    paths = {(g.name, v): "/api/v1" if not g.name else f"/apis/{g.name}/{v}" for g in groups for v in g.versions}
    with cf.ThreadPoolExecutor(max_workers=4) as pool:
        documents = dict(zip(paths, pool.map(document, paths.values()), strict=True))
    out: list[ListedType] = []
    for g in groups:
        for t in choose(g, {v: documents[(g.name, v)] for v in g.versions}).types:
            out.append((t.label, (t.path,), t.query))
    return out
