"""The snapshot file: one YAML document, ``schema: rehearse/snapshot/v1``, byte-for-byte deterministic.

Layout: ``schema``, ``source``, ``server_version`` and ``not_readable`` first, then the model's other fields in
their fixed order, then ``complete: true`` as the last line, so that a file cut short anywhere is recognised as
truncated. Lists are sorted (objects by kind, namespace, name), mapping keys inside free-form data are sorted,
multi-line strings (Helm manifests) are written as literal blocks.

:func:`loads` validates every field against the dataclasses of :mod:`harness.snapshot.model` and raises
:class:`~harness.errors.InputError` naming the file, the field and the problem, e.g.
``prod.yaml: helm_releases[2].revision: expected an integer, got 'x'``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
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


def _object_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
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
    "api_usage": lambda u: (u.kind, _ns(u.namespace), u.name, u.api_version, u.source),
    "objects": _object_key,
    "not_readable": lambda s: s,
}


def dump(snapshot: Snapshot) -> str:
    """The snapshot as YAML text; the same snapshot always gives the same bytes."""
    first = ("source", "server_version", "not_readable")
    names = [*first, *(f.name for f in dataclasses.fields(snapshot) if f.name not in first)]
    pairs: list[tuple[str, Any]] = [("schema", SCHEMA)]
    for name in names:
        value = getattr(snapshot, name)
        if name in _LIST_KEYS:
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
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(model))


_TYPE_WORDS = {str: "a string", int: "an integer", bool: "true or false", float: "a number"}


def _convert(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (dataclasses built)."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], path)
    if origin is list:
        if not isinstance(value, list):
            raise _Invalid(path, f"expected a list, got {_show(value)}")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Invalid(path, f"expected a mapping, got {_show(value)}")
        key_tp, val_tp = typing.get_args(tp)
        out = {}
        for k, v in value.items():
            if key_tp is str and not isinstance(k, str):
                raise _Invalid(path, f"expected string keys, got {_show(k)}")
            out[k] = _convert(v, val_tp, f"{path}.{k}")
        return out
    if dataclasses.is_dataclass(tp):
        return _build(value, tp, path)
    if tp in (str, int, float):
        ok = isinstance(value, tp) and not isinstance(value, bool)
        if tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            raise _Invalid(path, f"expected {_TYPE_WORDS[tp]}, got {_show(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _Invalid(path, f"expected {_TYPE_WORDS[bool]}, got {_show(value)}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {path}")  # a bug in the model, not in the file


def _build(value: Any, cls: Any, path: str) -> Any:
    where = path or "top level"
    if not isinstance(value, dict):
        raise _Invalid(where, f"expected a mapping, got {_show(value)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in value:
        if key not in fields:
            raise _Invalid(where, f"unknown field {key!r}")
    kwargs = {}
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _Invalid(where, f"missing field {name!r}")
            continue
        kwargs[name] = _convert(value[name], hints[name], sub)
    return cls(**kwargs)


def _check_objects(snapshot: Snapshot) -> None:
    for i, obj in enumerate(snapshot.objects):
        path = f"objects[{i}]"
        for key in ("apiVersion", "kind"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise _Invalid(f"{path}.{key}", f"expected a non-empty string, got {_show(obj.get(key))}")
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise _Invalid(f"{path}.metadata", f"expected a mapping, got {_show(meta)}")
        if not isinstance(meta.get("name"), str) or not meta["name"]:
            raise _Invalid(f"{path}.metadata.name", f"expected a non-empty string, got {_show(meta.get('name'))}")
    for i, crd in enumerate(snapshot.crds):
        for j, ver in enumerate(crd.versions):
            if not isinstance(ver.get("name"), str):
                raise _Invalid(f"crds[{i}].versions[{j}].name", f"expected a string, got {_show(ver.get('name'))}")
            for flag in ("served", "storage", "deprecated"):
                if not isinstance(ver.get(flag, False), bool):
                    raise _Invalid(f"crds[{i}].versions[{j}].{flag}", f"expected true or false, got {_show(ver[flag])}")


def loads(text: str, name: str) -> Snapshot:
    """Parse and validate snapshot ``text``; ``name`` (usually the file name) prefixes every error."""
    try:
        data = yaml.load(text, Loader=_Loader)  # a safe loader (libyaml's when available)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = " ".join(str(e.problem or e.context or "not YAML").split())
        raise InputError(f"{name}: {where}not valid YAML ({problem}); truncated or edited by hand?") from None
    except yaml.YAMLError as e:
        raise InputError(f"{name}: not valid YAML ({' '.join(str(e).split())})") from None
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
        snapshot: Snapshot = _build(data, Snapshot, "")
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
