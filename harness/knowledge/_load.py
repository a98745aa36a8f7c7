"""Reading and checking knowledge files. Every problem is an :class:`InputError` naming file, entry and field."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import yaml

from harness.errors import InputError
from harness.manifests import YAML_LOADER

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
GROUP_VERSION_RE = re.compile(rf"^(?:{_DNS_LABEL}(?:\.{_DNS_LABEL})*/)?v[1-9][0-9]*(?:(?:alpha|beta)[1-9][0-9]*)?$")
KIND_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
RESOURCE_RE = re.compile(r"^[a-z][a-z0-9.-]*$")
MINOR_RE = re.compile(r"^1\.(0|[1-9][0-9]*)$")
FLAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$|^[a-z0-9]$")
GATE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
COMPONENT_RE = re.compile(r"^[a-z][a-z0-9-]*$")

T = TypeVar("T")


@dataclass(frozen=True)
class Located:
    """One parsed entry and where it came from (for error messages that span files)."""

    value: Any
    file: str
    index: int

    @property
    def where(self) -> str:
        return f"{self.file}: entries[{self.index}]"


def read_entries(text: str, where: str) -> list[tuple[int, dict[str, Any]]]:
    """The ``entries`` list of a knowledge file, as (index, mapping) pairs."""
    try:
        doc = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as e:
        raise InputError(f"knowledge file {where}: not valid YAML: {e}") from e
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise InputError(f"knowledge file {where}: expected a mapping with an 'entries' list at the top")
    entries = doc.get("entries", [])
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InputError(f"knowledge file {where}: 'entries' must be a list")
    out: list[tuple[int, dict[str, Any]]] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InputError(f"knowledge file {where}: entries[{i}]: expected a mapping of fields")
        out.append((i, entry))
    return out


class EntryReader:
    """Typed field access for one entry; every failure names the file, the entry index and the field."""

    def __init__(self, where: str, index: int, raw: Mapping[str, Any], allowed: frozenset[str]) -> None:
        self.where = where
        self.index = index
        self.raw = raw
        unknown = sorted(str(k) for k in raw if k not in allowed)
        if unknown:
            self.fail(unknown[0], f"unknown field (allowed: {', '.join(sorted(allowed))})")

    @property
    def location(self) -> str:
        return f"{self.where}: entries[{self.index}]"

    def fail(self, name: str, problem: str) -> NoReturn:
        raise InputError(f"knowledge file {self.location}: field '{name}': {problem}")

    def text(self, name: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        """A required non-empty string (matching ``pattern`` when given)."""
        if name not in self.raw:
            self.fail(name, "missing")
        value = self.raw[name]
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"expected a non-empty string, got {value!r}")
        if pattern is not None and not pattern.match(value):
            self.fail(name, f"{value!r} is not {hint or 'well formed'}")
        return str(value).strip()

    def minor(self, name: str) -> str:
        """A required minor version written as a quoted string, ``"1.25"``."""
        if name in self.raw and not isinstance(self.raw[name], str):
            # YAML reads 1.20 as the float 1.2: insist on quotes rather than guess.
            self.fail(name, f'expected a quoted minor version like "1.25", got {self.raw[name]!r}')
        return self.text(name, MINOR_RE, 'a minor version like "1.25"')

    def optional_text(self, name: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> str | None:
        """A field that must be present but may be ``null``."""
        if name not in self.raw:
            self.fail(name, "missing (write null explicitly when there is none)")
        if self.raw[name] is None:
            return None
        return self.text(name, pattern, hint)

    def text_or_default(self, name: str, default: str) -> str:
        if self.raw.get(name) is None:
            return default
        return self.text(name)

    def text_list(self, name: str, pattern: re.Pattern[str], hint: str) -> tuple[str, ...]:
        value = self.raw.get(name)
        if not isinstance(value, list) or not value:
            self.fail(name, f"expected a non-empty list, got {value!r}")
        items: list[str] = []
        for item in value:
            if not isinstance(item, str) or not pattern.match(item):
                self.fail(name, f"{item!r} is not {hint}")
            items.append(item)
        return tuple(items)


def parse_all(text: str, where: str, allowed: frozenset[str],
              build: Callable[[EntryReader], T]) -> list[Located]:
    """Parse every entry of a file with ``build``, keeping where each came from."""
    return [Located(build(EntryReader(where, i, raw, allowed)), where, i) for i, raw in read_entries(text, where)]


def refuse_repeats(items: Iterable[Located], keys_of: Callable[[Any], Iterable[object]]) -> None:
    """Refuse a key given twice in one file (the later entry would silently win)."""
    first: dict[object, int] = {}
    for item in items:
        for k in keys_of(item.value):
            if k in first:
                raise InputError(f"knowledge file {item.where}: repeats {k}, already given by entries[{first[k]}]")
            first[k] = item.index


def minor_key(text: str) -> tuple[int, int]:
    """``"1.25"`` → ``(1, 25)``."""
    major, minor = text.split(".")
    return int(major), int(minor)
