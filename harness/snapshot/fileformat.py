"""The snapshot file: one YAML document, ``schema: rehearse/snapshot/v1``, byte-for-byte deterministic.

Layout: ``schema``, ``source``, ``server_version``, ``not_readable`` and ``not_recreatable`` first, then the model's
other fields in their fixed order, then ``complete: true`` as the last line, so that a file cut short anywhere is
recognised as truncated. Lists are sorted (objects by kind, namespace, name), mapping keys inside free-form data are
sorted, multi-line strings (Helm manifests) are written as literal blocks. Written by :mod:`._yaml` (PyYAML's
representer takes seconds on 5,000 objects), read back by its reader for exactly that form, and by a full YAML
parser for anything else (a file edited by hand).

:func:`loads` validates every field against the dataclasses of :mod:`harness.snapshot.model` and raises
:class:`~harness.errors.InputError` naming the file, the field and the problem, e.g.
``prod.yaml: helm_releases[2].revision: expected an integer, got 'x'``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError
from harness.snapshot import _yaml, model
from harness.snapshot.model import SCHEMA, Snapshot

END_KEY = "complete"

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# -- ordering -------------------------------------------------------------------------------------------------


def _ns(value: str | None) -> str:
    return value or ""


def object_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """Where an object goes in the file: by kind, namespace, name (and apiVersion)."""
    meta = obj.get("metadata") or {}
    return (
        str(obj.get("kind", "")), _ns(meta.get("namespace")), str(meta.get("name", "")), str(obj.get("apiVersion", ""))
    )


_LIST_KEYS: dict[str, Any] = {
    "nodes": lambda n: (not n.control_plane, n.name),
    "addons": lambda a: (a.name, a.namespace, a.workload),
    "helm_releases": lambda h: (h.namespace, h.name),
    "crds": lambda c: c.name,
    "webhooks": lambda w: (w.type, w.configuration, w.name),
    "api_services": lambda s: str(s.get("name", "")),
    "workloads": lambda w: (w.kind, w.namespace, w.name),
    "api_usage": lambda u: (u.kind, _ns(u.namespace), u.name, u.api_version, u.source, u.manager, u.time),
    "not_recreatable": lambda n: (n.kind, n.api_version),
    "objects": object_key,
    "not_readable": lambda s: s,
    "service_account_tokens": object_key,
    "deprecated_api_requests": lambda d: (d.group, d.version, d.resource, d.subresource),
}


def dump(snapshot: Snapshot) -> str:
    """The snapshot as YAML text; the same snapshot always gives the same bytes."""
    first = ("source", "server_version", "not_readable", "not_recreatable")
    names = [*first, *(f.name for f in dataclasses.fields(snapshot) if f.name not in first)]
    pairs: list[tuple[str, Any]] = [("schema", SCHEMA)]
    for name in names:
        value = getattr(snapshot, name)
        if name in _LIST_KEYS and value is not None:
            value = sorted(value, key=_LIST_KEYS[name])
        pairs.append((name, value))
    pairs.append((END_KEY, True))
    return _yaml.emit_top(pairs)


# -- validation -----------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Invalid(Exception):
    """A problem at a path; containers prepend their segment as the error travels up."""

    def __init__(self, problem: str, *segments: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.segments = list(segments)  # innermost last, once complete

    def within(self, segment: str) -> _Invalid:
        self.segments.insert(0, segment)
        return self

    @property
    def path(self) -> str:
        out = ""
        for seg in self.segments:
            out += seg if seg.startswith("[") or not out else f".{seg}"
        return out or "top level"


_TYPE_WORDS = {str: "a string", int: "an integer", bool: "true or false", float: "a number"}
Checker = Callable[[Any], Any]


def _scalar_checker(tp: type) -> Checker:
    def check(value: Any) -> Any:
        ok = isinstance(value, bool) if tp is bool else (
            isinstance(value, (int, float) if tp is float else tp) and not isinstance(value, bool)
        )
        if not ok:
            raise _Invalid(f"expected {_TYPE_WORDS[tp]}, got {_show(value)}")
        return value
    return check


def _any(value: Any) -> Any:
    return value


@functools.cache
def _checker(tp: Any) -> Checker:
    """A function that checks a value against the annotation ``tp`` and returns it (dataclasses built)."""
    if tp is Any:
        return _any
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = _checker(next(a for a in typing.get_args(tp) if a is not type(None)))
        return lambda value: None if value is None else inner(value)
    if origin is list:
        item = _checker(typing.get_args(tp)[0])

        def check_list(value: Any) -> Any:
            if not isinstance(value, list):
                raise _Invalid(f"expected a list, got {_show(value)}")
            if item is _any:
                return value
            out = []
            for i, v in enumerate(value):
                try:
                    out.append(item(v))
                except _Invalid as e:
                    raise e.within(f"[{i}]") from None
            return out
        return check_list
    if origin is dict:
        val = _checker(typing.get_args(tp)[1])

        def check_dict(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _Invalid(f"expected a mapping, got {_show(value)}")
            for k, v in value.items():
                if not isinstance(k, str):
                    raise _Invalid(f"expected string keys, got {_show(k)}")
                if val is not _any:
                    try:
                        val(v)
                    except _Invalid as e:
                        raise e.within(k) from None
            return value
        return check_dict
    if dataclasses.is_dataclass(tp):
        return _dataclass_checker(tp)  # type: ignore[arg-type]
    if tp in _TYPE_WORDS:
        return _scalar_checker(tp)
    raise TypeError(f"unsupported annotation {tp!r}")  # a bug in the model, not in the file


def _dataclass_checker(cls: type) -> Checker:
    hints = typing.get_type_hints(cls, vars(model))
    fields = [
        (f.name, f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    ]
    names = {name for name, _ in fields}
    checkers: dict[str, Checker] = {}

    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _Invalid(f"expected a mapping, got {_show(value)}")
        for key in value:
            if key not in names:
                raise _Invalid(f"unknown field {key!r}")
        kwargs = {}
        for name, required in fields:
            if name not in value:
                if required:
                    raise _Invalid(f"missing field {name!r}")
                continue
            checker = checkers.get(name)
            if checker is None:
                checker = checkers[name] = _checker(hints[name])  # late: dataclasses may refer to each other
            try:
                kwargs[name] = checker(value[name])
            except _Invalid as e:
                raise e.within(name) from None
        return cls(**kwargs)
    return check


def _check_objects(snapshot: Snapshot) -> None:
    """What recreate and plan rely on inside the free-form parts."""
    for i, obj in enumerate(snapshot.objects):
        for key in ("apiVersion", "kind"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise _Invalid(f"expected a non-empty string, got {_show(obj.get(key))}", "objects", f"[{i}]", key)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise _Invalid(f"expected a mapping, got {_show(meta)}", "objects", f"[{i}]", "metadata")
        if not isinstance(meta.get("name"), str) or not meta["name"]:
            raise _Invalid(f"expected a non-empty string, got {_show(meta.get('name'))}",
                           "objects", f"[{i}]", "metadata", "name")
    for i, token in enumerate(snapshot.service_account_tokens or []):
        at = ("service_account_tokens", f"[{i}]")
        meta = token.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
            raise _Invalid(f"expected metadata with a name, got {_show(meta)}", *at, "metadata")
        for key in ("data", "stringData"):
            if key in token:
                raise _Invalid("a token Secret is recorded without its data (metadata and type only)", *at, key)
    for i, crd in enumerate(snapshot.crds):
        for j, ver in enumerate(crd.versions):
            where = ("crds", f"[{i}]", "versions", f"[{j}]")
            if not isinstance(ver.get("name"), str):
                raise _Invalid(f"expected a string, got {_show(ver.get('name'))}", *where, "name")
            for flag in ("served", "storage", "deprecated"):
                if not isinstance(ver.get(flag, False), bool):
                    raise _Invalid(f"expected true or false, got {_show(ver[flag])}", *where, flag)


def _parse_yaml(text: str, name: str) -> Any:
    """Any YAML, with errors that name the file and the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # a safe loader (libyaml's when available)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = " ".join(str(e.problem or e.context or "not YAML").split())
        raise InputError(f"{name}: {where}not valid YAML ({problem}); truncated or edited by hand?") from None
    except yaml.YAMLError as e:
        raise InputError(f"{name}: not valid YAML ({' '.join(str(e).split())})") from None


def loads(text: str, name: str) -> Snapshot:
    """Parse and validate snapshot ``text``; ``name`` (usually the file name) prefixes every error."""
    data: Any = _yaml.read(text)  # fast: the exact form dump() writes
    if data is None:
        data = _parse_yaml(text, name)  # edited by hand, cut short, or not ours: the full parser and its errors
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected a snapshot (a YAML mapping with 'schema: {SCHEMA}'), got {_show(data)}")
    schema = data.pop("schema", None)
    if schema != SCHEMA:
        got = "no 'schema' field" if schema is None else f"got {_show(schema)}"
        raise InputError(f"{name}: schema: expected {SCHEMA!r}, {got}")
    end = data.pop(END_KEY, None)
    if end is not True:
        raise InputError(
            f"{name}: the file ends early: its last line should be '{END_KEY}: true' (truncated during writing "
            "or copying?)"
        )
    try:
        snapshot: Snapshot = _checker(Snapshot)(data)
        _check_objects(snapshot)
    except _Invalid as e:
        raise InputError(f"{name}: {e.path}: {e.problem}") from None
    return snapshot


def load(path: Path | str) -> Snapshot:
    """Read and validate the snapshot file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such snapshot file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, not a snapshot file") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not a text file (byte {e.start} is not UTF-8)") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from None
    return loads(text, p.name)
