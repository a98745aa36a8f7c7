"""A small, fast YAML emitter for snapshot data (PyYAML's representer costs seconds on 5,000 objects).

Emits block-style YAML that any YAML 1.1/1.2 loader reads back to the same data: mappings (dataclasses in field
order, dicts with sorted keys), sequences, strings, integers, floats, booleans and null. A string is written plain
only when it cannot be mistaken for anything else, as a literal block (``|``) when it spans lines, and otherwise
double-quoted with JSON escapes (a subset of YAML's). Anything it is not sure about is quoted.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import yaml

_PLAIN = re.compile(r"(?:--?[A-Za-z]|[A-Za-z_/])[\w./@+\-(),=%;]*(?:[ :][\w./@+\-(),=%;]+)*")
_NOT_PLAIN_WORDS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf"})
# what a YAML reader rejects or treats as a line break, escaped inside double quotes
_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# what must not appear in a literal block (breaks other than \n, non-printables)
_NOT_LITERAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_cache: dict[str, str] = {}


def _quoted(s: str) -> str:
    text = json.dumps(s, ensure_ascii=False)
    return _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def scalar(s: str) -> str:
    """A one-line YAML rendering of ``s`` (plain when unambiguous, else double-quoted)."""
    got = _cache.get(s)
    if got is not None:
        return got
    out = s if _PLAIN.fullmatch(s) and s.lower() not in _NOT_PLAIN_WORDS else _quoted(s)
    if len(s) < 200 and len(_cache) < 100_000:
        _cache[s] = out
    return out


def _literal_ok(s: str) -> bool:
    if s[0] in " \t\n" or _NOT_LITERAL.search(s):
        return False
    first = s.split("\n", 1)[0]
    return not first.startswith((" ", "\t"))


def _block(s: str, pad: str, out: list[str]) -> None:
    """`` |…`` and the lines of ``s`` at indentation ``pad``; the caller wrote the key or dash before."""
    core = s.rstrip("\n")
    trailing = len(s) - len(core)
    out.append(" |-\n" if trailing == 0 else " |\n" if trailing == 1 else " |+\n")
    for line in core.split("\n"):
        out.append(f"{pad}{line}\n" if line else "\n")
    out.extend("\n" for _ in range(trailing - 1))


def _atom(value: Any) -> str | None:
    """The rendering of a non-container, non-multi-line value, or None for containers and blocks."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return yaml.safe_dump(value).split("\n", 1)[0]
    if isinstance(value, (dict, list, tuple)):
        if not value:
            return "{}" if isinstance(value, dict) else "[]"
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return None
    raise TypeError(f"cannot write {type(value).__name__} to a snapshot")


_FIELDS: dict[type, tuple[str, ...]] = {}


def _items(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        try:
            return [(k, value[k]) for k in sorted(value)]
        except TypeError:  # keys of mixed types
            return [(str(k), value[k]) for k in sorted(value, key=str)]
    cls = type(value)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(value))
    return [(name, getattr(value, name)) for name in names]


def _mapping(value: Any, indent: int, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * indent
    head = pad if first_prefix is None else first_prefix
    for key, item in _items(value):
        key_text = _cache.get(key) if isinstance(key, str) else None
        if key_text is None:
            key_text = scalar(str(key))
        if isinstance(item, str) and ("\n" not in item or not _literal_ok(item)):
            text = _cache.get(item)
            out.append(f"{head}{key_text}: {text if text is not None else scalar(item)}\n")
        else:
            out.append(f"{head}{key_text}:")
            _value(item, indent, out)
        head = pad


def _sequence(value: Any, indent: int, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * indent
    head = pad if first_prefix is None else first_prefix
    for item in value:
        if isinstance(item, str):
            if "\n" in item and _literal_ok(item):
                out.append(f"{head}-")
                _block(item, pad + "  ", out)
            else:
                out.append(f"{head}- {scalar(item)}\n")
        else:
            atom = _atom(item)
            if atom is not None:
                out.append(f"{head}- {atom}\n")
            elif isinstance(item, (list, tuple)):
                _sequence(item, indent + 2, out, first_prefix=f"{head}- ")
            else:
                _mapping(item, indent + 2, out, first_prefix=f"{head}- ")
        head = pad


def _value(item: Any, indent: int, out: list[str]) -> None:
    if isinstance(item, str):
        if "\n" in item and _literal_ok(item):
            _block(item, " " * (indent + 2), out)
        else:
            out.append(f" {scalar(item)}\n")
        return
    atom = _atom(item)
    if atom is not None:
        out.append(f" {atom}\n")
    elif isinstance(item, (list, tuple)):
        out.append("\n")
        _sequence(item, indent, out)  # sequences in mappings are not indented (as kubectl and PyYAML write them)
    else:
        out.append("\n")
        _mapping(item, indent + 2, out)


def emit_top(pairs: list[tuple[str, Any]]) -> str:
    """A YAML document of the top-level ``pairs``, in the order given."""
    out: list[str] = []
    for key, value in pairs:
        out.append(f"{scalar(key)}:")
        _value(value, 0, out)
    return "".join(out)


# -- reading back what emit_top wrote ---------------------------------------------------------------------------

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_ATOMS: dict[str, Any] = {"null": None, "true": True, "false": False}
_BLOCK_STYLES = {"|": "clip", "|-": "strip", "|+": "keep"}


class _Unsupported(Exception):
    """Not in the subset emit_top writes: the caller falls back to a full YAML parser."""


class _Reader:
    """A line-based reader for exactly the YAML subset :func:`emit_top` writes (about 15x faster than libyaml
    through PyYAML). Anything outside that subset raises :class:`_Unsupported`, never a wrong value."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        if self.lines and not self.lines[-1]:
            self.lines.pop()  # the final newline ends the last line; it does not start another
        self.n = len(self.lines)
        self.i = 0

    def _peek(self) -> tuple[int, str] | None:
        """(indentation, text) of the next line, None at the end; a blank line here is not ours."""
        if self.i >= self.n:
            return None
        line = self.lines[self.i]
        if not line:
            if all(not ln for ln in self.lines[self.i:]):
                self.i = self.n
                return None
            raise _Unsupported
        text = line.lstrip(" ")
        return len(line) - len(text), text

    def document(self) -> dict[str, Any]:
        value = self._mapping(0)
        if self.i < self.n or not value:
            raise _Unsupported
        return value

    @staticmethod
    def _is_item(text: str) -> bool:
        return text == "-" or text.startswith("- ")

    def _next(self, indent: int, item: bool) -> str | None:
        """The next line of the block at ``indent`` (its ``- `` items if ``item``, else its keys), consumed; None
        where that block ends. A deeper line here is not ours."""
        peeked = self._peek()
        if peeked is None:
            return None
        ind, text = peeked
        if ind > indent:
            raise _Unsupported
        if ind < indent or self._is_item(text) != item:
            return None
        self.i += 1
        return text

    def _mapping(self, indent: int, first: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        text = first if first is not None else self._next(indent, item=False)
        while text is not None:
            split = _split_key(text)
            if split is None:
                raise _Unsupported
            key, rest = split
            out[key] = self._after_key(rest, indent)
            text = self._next(indent, item=False)
        return out

    def _after_key(self, rest: str, indent: int) -> Any:
        if rest.startswith(" "):
            token = rest[1:]
            style = _BLOCK_STYLES.get(token)
            return self._block(indent + 2, style) if style else _atom_of(token)
        if rest:
            raise _Unsupported
        peeked = self._peek()
        if peeked is None:
            raise _Unsupported
        ind, text = peeked
        if ind == indent and self._is_item(text):
            return self._sequence(indent)
        if ind == indent + 2:
            return self._mapping(indent + 2)
        raise _Unsupported

    def _sequence(self, indent: int, first: str | None = None) -> list[Any]:
        out: list[Any] = []
        text = first if first is not None else self._next(indent, item=True)
        while text is not None:
            if not text.startswith("- "):
                raise _Unsupported
            rest = text[2:]
            style = _BLOCK_STYLES.get(rest)
            if style:
                out.append(self._block(indent + 2, style))
            elif self._is_item(rest):
                out.append(self._sequence(indent + 2, first=rest))
            elif _split_key(rest) is not None:
                out.append(self._mapping(indent + 2, first=rest))
            else:
                out.append(_atom_of(rest))
            text = self._next(indent, item=True)
        return out

    def _block(self, indent: int, style: str) -> str:
        lines: list[str] = []
        while self.i < self.n:
            line = self.lines[self.i]
            if line.strip(" "):
                if len(line) - len(line.lstrip(" ")) < indent:
                    break
                lines.append(line[indent:])
            else:  # spaces only: content beyond the indentation, an empty line within it
                lines.append(line[indent:] if len(line) > indent else "")
            self.i += 1
        trailing = 0
        while lines and not lines[-1]:
            lines.pop()
            trailing += 1
        if not lines:
            raise _Unsupported
        core = "\n".join(lines)
        if style == "strip":
            return core
        if style == "clip":
            return core + "\n"
        return core + "\n" * (trailing + 1)


def _split_key(text: str) -> tuple[str, str] | None:
    """(key, what follows the colon) when ``text`` starts with a mapping key, else None."""
    if text.startswith('"'):
        m = _QUOTED.match(text)
        if m is None or text[m.end():m.end() + 1] != ":":
            return None
        try:
            return json.loads(m.group()), text[m.end() + 1:]
        except ValueError:
            return None
    pos = text.find(": ")
    if pos < 0:
        if not text.endswith(":"):
            return None
        pos = len(text) - 1
    key = text[:pos]
    if not _is_plain(key):
        return None
    return key, text[pos + 1:]


def _atom_of(token: str) -> Any:
    if token in _ATOMS:
        return _ATOMS[token]
    if token == "{}":
        return {}
    if token == "[]":
        return []
    if token.startswith('"'):
        m = _QUOTED.match(token)
        if m is None or m.end() != len(token):
            raise _Unsupported
        try:
            value: str = json.loads(token)
        except ValueError:
            raise _Unsupported from None
        return value
    if _is_plain(token):
        return token
    if _INT.fullmatch(token):
        return int(token)
    raise _Unsupported


_plain_seen: dict[str, bool] = {}


def _is_plain(token: str) -> bool:
    """Whether ``token`` is a string written plain (what :func:`scalar` writes plain reads back as a string)."""
    known = _plain_seen.get(token)
    if known is None:
        known = bool(_PLAIN.fullmatch(token)) and token.lower() not in _NOT_PLAIN_WORDS
        if len(_plain_seen) < 100_000:
            _plain_seen[token] = known
    return known


def read(text: str) -> dict[str, Any] | None:
    """The mapping :func:`emit_top` wrote as ``text``; None when ``text`` strays from that form (edited by hand,
    written by another tool): then parse it with a full YAML parser."""
    try:
        return _Reader(text).document()
    except (_Unsupported, RecursionError):
        return None
