"""Who calls deprecated APIs (``api_callers.yaml``): the identities of the built-in control-plane components, and
the built-in components known to raise ``apiserver_requested_deprecated_apis`` on their own."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from harness.errors import InputError
from harness.manifests import YAML_LOADER

_SA_PREFIX = "system:serviceaccount:kube-system:"


@dataclass(frozen=True)
class KnownCaller:
    """Built-in components known to request ``api`` (``group/version resource``) by themselves in ``minors``."""

    api: str
    minors: tuple[str, ...]
    callers: str
    source: str


@dataclass(frozen=True)
class ApiCallers:
    users: frozenset[str]
    prefixes: tuple[str, ...]
    known: tuple[KnownCaller, ...]

    def is_control_plane(self, user: str) -> bool:
        """Whether ``user`` (an audit event's ``user.username``) is a built-in control-plane component."""
        return user in self.users or user.startswith(self.prefixes)

    def known_for(self, group_version: str, resource: str) -> list[KnownCaller]:
        """The built-in components known to call ``group_version`` ``resource`` on their own."""
        return [k for k in self.known if k.api == f"{group_version} {resource}"]


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"api_callers.yaml: {where}: expected a list of strings, got {value!r}")
    return list(value)


def parse(text: str) -> ApiCallers:
    """The callers file's content; :class:`InputError` naming the field for a malformed one."""
    data = yaml.load(text, Loader=YAML_LOADER) or {}
    if not isinstance(data, dict) or not isinstance(data.get("control_plane"), dict):
        raise InputError("api_callers.yaml: expected a mapping with 'control_plane' and 'known'")
    cp = data["control_plane"]
    users = set(_strings(cp.get("users", []), "control_plane.users"))
    users |= {_SA_PREFIX + sa for sa in _strings(cp.get("controller_service_accounts", []),
                                                  "control_plane.controller_service_accounts")}
    known = []
    for i, entry in enumerate(data.get("known") or []):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("api", "callers", "source")):
            raise InputError(f"api_callers.yaml: known[{i}]: expected api, minors, callers and source")
        known.append(KnownCaller(entry["api"], tuple(_strings(entry.get("minors", []), f"known[{i}].minors")),
                                 " ".join(entry["callers"].split()), " ".join(entry["source"].split())))
    return ApiCallers(frozenset(users), tuple(_strings(cp.get("prefixes", []), "control_plane.prefixes")),
                      tuple(known))


@functools.cache
def api_callers() -> ApiCallers:
    """The packaged callers file."""
    text = resources.files("harness").joinpath("data/knowledge/api_callers.yaml").read_text(encoding="utf-8")
    return parse(text)
