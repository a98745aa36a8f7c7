"""A manifest file read for the plan: every YAML document counted, only the documents a rule needs parsed.

Parsing (building Python objects) is most of what a plan of a large GitOps tree costs, and most documents are
objects of current APIs that no rule reads. :func:`read_needed` returns the same list as
:func:`harness.manifests.read_documents` would, with one difference: a mapping document whose top-level
``apiVersion`` and ``kind`` are not ``wanted`` (and whose kind is not a ``*List``) stands as an empty mapping.

It is exact, not a guess, because it only takes that short cut where the bytes leave no doubt:

1. libyaml checks the whole file's syntax in C (``CParser.raw_parse``: the same parser ``CSafeLoader`` uses,
   without building Python objects). Any error: the file is parsed in full, which raises the same error.
2. The file uses nothing whose meaning or errors come from PyYAML's Python side (anchors, aliases, tags, merge
   keys, complex keys, flow collections nested in flow collections — ``{{ }}`` templates among them) or that
   moves lines (carriage returns, byte-order marks, directives, ``...``); each document starts with a bare
   ``---`` line and its first content line is a plain key at column 0, so it is a block mapping whose top-level
   keys are exactly its column-0 ``key:`` lines. Otherwise: parsed in full.
3. A document whose single plain top-level ``apiVersion:`` and ``kind:`` lines name an API that is wanted, or a
   ``List`` kind, or that has zero or several such lines or a value of another shape, is parsed on its own.
"""

from __future__ import annotations

import re
from collections.abc import Container
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.manifests import parse_documents

try:  # libyaml's parser, when PyYAML was built with it (the full parse is used otherwise)
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _CParser: Any = None
else:
    _CParser = CParser

__all__ = ["read_needed", "scan"]

_FULL_BYTES = (b"\r", b"\x00", b"<<")  # line ends the regexes do not follow, binary, merge keys
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
# One pass over the column-0 lines that matter: separators, the type lines, and lines that are not a plain key, a
# sequence entry or a comment (quoted or explicit keys, flow or block scalars as documents, directives, document
# ends, anchors/aliases/tags, reserved indicators, tabs), which send the file to the full parse.
_COLUMN0 = re.compile(rb"^(?:(---)|(apiVersion|kind)[ \t]*:|[\"'?!&*<{}\[\]|>%@`.,\t])([^\n]*)", re.M)
_PROPERTY_CHAR = re.compile(rb"[&*!]")
_NODE_START = frozenset(b"\n:[{,?-")  # an anchor, alias or tag after one of these (or blanks) starts a node
_FLOW_KEYS = (re.compile(rb"\][ \t]*:(?:[ \t]|$)", re.M), re.compile(rb"\}[ \t]*:(?:[ \t]|$)", re.M))
# A flow collection nested in a flow collection may be a mapping key (``{{ x }}``, ``[{a: 1}: b]``): unhashable.
_NESTED_FLOW = re.compile(rb"[\[{,][ \t\n]*[\[{]")
_EXPLICIT_KEY = re.compile(rb"(?:^|[\s,\[{])\?(?:[ \t]|$)", re.M)
_BARE_SEPARATOR_REST = re.compile(rb"(?:[ \t]+(?:#[^\n]*)?)?")
_CONTENT = re.compile(rb"^[ \t]*[^ \t\n#]", re.M)  # the first line that is neither blank nor a comment
_PLAIN_KEY = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9_./-]*[ \t]*:(?:[ \t\n]|$)")
_TYPE_VALUE = re.compile(rb"[ \t]*([A-Za-z0-9][A-Za-z0-9._/-]*)[ \t]*(?:#[^\n]*)?")
TypeLine = tuple[int, bytes, "bytes | None"]  # position, key, plain value (None: not a plain word alone)


def read_needed(path: Path, wanted: Container[tuple[str, str]]) -> list[Any]:
    """The documents of the file ``path``, those a rule needs parsed (see the module); raises as ``read_documents``.

    ``wanted`` holds the ``(apiVersion, kind)`` pairs a rule reads; ``*List`` documents are always parsed.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    where = str(path)
    plan = scan(data, wanted)
    if plan is None:
        return parse_documents(data, where)
    docs: list[Any] = []
    for start, end, needed in plan:
        if start < 0:
            docs.append(None)
        elif not needed:
            docs.append({})
        else:
            one = parse_documents(data[start:end], where)
            if len(one) != 1:  # cannot happen after the checks above; the full parse decides if it does
                return parse_documents(data, where)
            docs.append(one[0])
    return docs


def scan(data: bytes, wanted: Container[tuple[str, str]]) -> list[tuple[int, int, bool]] | None:
    """One ``(start, end, needed)`` per document of ``data`` (``(-1, -1, False)`` for an empty one), or None
    when the short cut does not apply and the file must be parsed in full."""
    if _CParser is None or data.startswith(_BOMS) or any(b in data for b in _FULL_BYTES):
        return None
    try:
        _CParser(data).raw_parse()
    except Exception:  # any error is the full parse's to raise, in its own words
        return None
    if _risky_nodes(data):
        return None
    bounds: list[tuple[int, int]] = []  # (start, end) of each stretch between separators
    types: list[TypeLine] = []
    start = 0
    for m in _COLUMN0.finditer(data):
        if m.group(1):  # ---
            if not _BARE_SEPARATOR_REST.fullmatch(m.group(3)):
                return None  # content on the --- line (a flow or block scalar, a tag…)
            bounds.append((start, m.start()))
            start = m.end() + 1
        elif m.group(2):  # apiVersion: / kind:
            value = _TYPE_VALUE.fullmatch(m.group(3))
            after = data[m.end() + 1:m.end() + 2]  # the next line must not be able to continue the value
            plain = value.group(1) if value is not None and after not in (b" ", b"\t", b"\n") else None
            types.append((m.start(), m.group(2), plain))
        else:
            return None
    bounds.append((start, len(data)))
    out: list[tuple[int, int, bool]] = []
    for index, (start, end) in enumerate(bounds):
        first = _CONTENT.search(data, start, end) if start < end else None
        if first is None:
            if index > 0:  # after a ---, an empty document; before the first ---, nothing
                out.append((-1, -1, False))
            continue
        if first.end() - first.start() != 1 or not _PLAIN_KEY.match(data, first.start(), end):
            return None  # the document is not a block mapping at column 0
        out.append((start, end, _needed(data, start, end, types, wanted)))
    return out


def _risky_nodes(data: bytes) -> bool:
    """Whether ``data`` may hold an anchor, alias, tag or complex (unhashable) key: PyYAML's Python side
    judges those, so only a full parse can say what they mean or whether they are errors."""
    if b"&" in data or b"*" in data or b"!" in data:
        for m in _PROPERTY_CHAR.finditer(data):
            i = m.start() - 1
            while i >= 0 and data[i] in b" \t":
                i -= 1
            if i < 0 or data[i] in _NODE_START:
                return True
    if b"?" in data and _EXPLICIT_KEY.search(data):
        return True
    if (b"{" in data or b"[" in data) and _NESTED_FLOW.search(data):
        return True
    return any(rx.search(data) for rx in _FLOW_KEYS)


def _needed(data: bytes, start: int, end: int, types: list[TypeLine], wanted: Container[tuple[str, str]]) -> bool:
    """Whether the document ``data[start:end]`` must be parsed: its type is wanted, a list, or not plain."""
    found: dict[bytes, list[bytes | None]] = {b"apiVersion": [], b"kind": []}
    for position, key, value in types:
        if start <= position < end:
            found[key].append(value)
    versions, kinds = found[b"apiVersion"], found[b"kind"]
    if len(versions) != 1 or len(kinds) != 1 or versions[0] is None or kinds[0] is None:
        return True
    kind = kinds[0].decode("ascii")
    return kind.endswith("List") or (versions[0].decode("ascii"), kind) in wanted
