"""Reading Kubernetes' Go sources where its binaries are not at hand: the modules of one release (``k8s.io/kubernetes
v1.X.Y`` and its staging modules ``k8s.io/<name> v0.X.Y``) fetched with ``go mod download`` (source only, no
build), and the small amount of Go the knowledge needs read out of them: string constants, the keys of map
literals (the feature gate tables), calls and their arguments (flag registrations), struct fields and their JSON
names (configuration files)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError

_LITERAL_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`]*`|\'(?:\\.|[^\'\\\n])*\'|//[^\n]*|/\*.*?\*/', re.S)
_STRING_CONST = re.compile(r'(?m)^\s*(?:const\s+)?([A-Za-z_]\w*)\s+(?:[\w.]+\s+)?=\s*"((?:\\.|[^"\\\n])*)"')
_BUILD_LINE = re.compile(r"(?m)^//go:build (.+)$")
# The tags a release binary for linux/amd64 is built with; every other tag (windows, providerless, …) is false.
_TRUE_TAGS = frozenset({"linux", "amd64", "unix", "gc", "cgo"})
_OTHER_OS = ("_windows", "_darwin", "_freebsd", "_openbsd", "_netbsd", "_solaris", "_plan9", "_js", "_arm64",
             "_arm", "_386", "_ppc64le", "_s390x", "_test")


@dataclass(frozen=True)
class Module:
    """One Go module of a release, as the module cache holds it."""

    path: str  # "k8s.io/apiserver"
    version: str  # "v0.30.14"
    directory: Path
    released: str  # "2025-06-17": the date the module proxy gives for the version ("" when it gives none)


def staging_version(kubernetes: str) -> str:
    """``v1.30.14`` → ``v0.30.14``: the staging modules' tag of a Kubernetes release."""
    return "v0." + kubernetes.lstrip("v").split(".", 1)[1]


def download(path: str, version: str, *, offline: bool = False) -> Module:
    """``go mod download -json path@version``: the module's directory in the module cache (fetched from the Go
    module proxy when it is not there yet, unless ``offline``; nothing is built). Raises :class:`InfraError` when
    it cannot be had."""
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}
    if offline:
        env["GOPROXY"] = "off"
    with tempfile.TemporaryDirectory(prefix="rehearse-gomod-") as cwd:
        try:
            out = subprocess.run(["go", "mod", "download", "-json", f"{path}@{version}"], capture_output=True,
                                 text=True, timeout=600, check=False, cwd=cwd, env=env, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise InfraError(f"go mod download {path}@{version}: {e}") from e
    try:
        info = json.loads(out.stdout)
    except ValueError:
        info = {}
    if out.returncode != 0 or not info.get("Dir") or info.get("Error"):
        problem = info.get("Error") or (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise InfraError(f"go mod download {path}@{version}: {problem}")
    released = ""
    with contextlib.suppress(OSError, ValueError, KeyError):
        released = str(json.loads(Path(info["Info"]).read_text(encoding="utf-8")).get("Time", ""))[:10]
    return Module(path=path, version=version, directory=Path(info["Dir"]), released=released)


# ---- Go text ------------------------------------------------------------------------------------------------------

def strip_comments(text: str) -> str:
    """``text`` without its comments (string literals kept as they are)."""
    def keep(m: re.Match[str]) -> str:
        s = m.group(0)
        if s.startswith("//"):
            return ""
        if s.startswith("/*"):
            return "\n" * s.count("\n")
        return s
    return _LITERAL_OR_COMMENT.sub(keep, text)


def _build_ok(expr: str) -> bool:
    """A ``//go:build`` expression, with :data:`_TRUE_TAGS` true and every other tag false."""
    tokens: list[str] = re.findall(r"&&|\|\||[()!]|[A-Za-z_][\w.]*", expr)
    pos = 0

    def peek() -> str:
        return tokens[pos] if pos < len(tokens) else ""

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def unary() -> bool:
        t = take() if pos < len(tokens) else ""
        if t == "!":
            return not unary()
        if t == "(":
            value = either()
            if peek() == ")":
                take()
            return value
        return t in _TRUE_TAGS

    def both() -> bool:
        value = unary()
        while peek() == "&&":
            take()
            value = unary() and value
        return value

    def either() -> bool:
        value = both()
        while peek() == "||":
            take()
            value = both() or value
        return value

    return either() if tokens else True


def go_files(directory: Path) -> list[Path]:
    """The non-test ``.go`` files of one package directory that a linux/amd64 release build compiles."""
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.go")):
        stem = path.name[:-3]
        if any(stem.endswith(suffix) for suffix in _OTHER_OS):
            continue
        head = path.read_text(encoding="utf-8", errors="replace")[:2000]
        m = _BUILD_LINE.search(head)
        if m and not _build_ok(m.group(1)):
            continue
        out.append(path)
    return out


@dataclass
class GoText:
    """The comment-free text of a set of Go files, and the string constants they declare."""

    files: dict[Path, str] = field(default_factory=dict)
    consts: dict[str, str] = field(default_factory=dict)

    def add(self, path: Path) -> str:
        if path not in self.files:
            text = strip_comments(path.read_text(encoding="utf-8", errors="replace"))
            self.files[path] = text
            for name, value in _STRING_CONST.findall(text):
                self.consts.setdefault(name, value)
        return self.files[path]

    def value(self, expr: str) -> str | None:
        """The string an expression names: a literal, a constant (``pkg.Name`` or ``Name``), ``Type("lit")``."""
        expr = expr.strip()
        m = re.fullmatch(r'(?:[\w.]+\()?"((?:\\.|[^"\\])*)"\)?', expr)
        if m:
            return m.group(1)
        m = re.fullmatch(r"(?:[A-Za-z_]\w*\.)?([A-Za-z_]\w*)", expr)
        if m:
            return self.consts.get(m.group(1))
        return None


def balanced(text: str, start: int) -> tuple[list[str], int]:
    """The top-level, comma-separated parts between the bracket at ``start`` and its match, and the index after
    the match. Comments must already be stripped."""
    close = {"(": ")", "{": "}", "[": "]"}[text[start]]
    depth, parts, i, begin = 0, [], start, start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'`":
            end = text.index(c, i + 1) if c == "`" else _string_end(text, i)
            i = end + 1
            continue
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
            if depth == 0:
                parts.append(text[begin:i])
                return [p for p in parts if p.strip()], i + 1
        elif c == "," and depth == 1:
            parts.append(text[begin:i])
            begin = i + 1
        i += 1
    raise InfraError(f"unbalanced {text[start]}…{close} in Go source")


def _string_end(text: str, start: int) -> int:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote or text[i] == "\n":
            return i
        i += 1
    return i


def map_keys(text: str, type_pattern: str) -> Iterator[str]:
    """The key expressions of every map literal of type ``type_pattern`` (a regex) in ``text``."""
    for m in re.finditer(type_pattern + r"\s*\{", text):
        entries, _ = balanced(text, m.end() - 1)
        for entry in entries:
            k = re.match(r'\s*((?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*|"(?:\\.|[^"\\])*")\s*:', entry)
            if k:
                yield k.group(1)


def calls(text: str, name_pattern: str) -> Iterator[tuple[str, list[str]]]:
    """``(callee, arguments)`` of every call whose callee matches ``name_pattern`` (a regex)."""
    for m in re.finditer(rf"(?<![\w.])((?:[A-Za-z_]\w*\.)*{name_pattern})\(", text):
        try:
            args, _ = balanced(text, m.end() - 1)
        except InfraError:
            continue
        yield m.group(1), [a.strip() for a in args]


def struct_fields(text: str) -> dict[str, list[tuple[str, str, str]]]:
    """Every ``type Name struct {…}`` of ``text``: its fields as (Go name, Go type, JSON name) — JSON name
    ``""`` for an inlined field, ``"-"`` for one left out of JSON."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for m in re.finditer(r"\btype\s+([A-Za-z_]\w*)\s+struct\s*\{", text):
        _, end = balanced(text, m.end() - 1)
        body = text[m.end():end - 1]
        fields = []
        for line in body.splitlines():
            f = re.match(r"\s*([^`]+?)\s*`([^`]*)`", line)
            if not f:
                continue
            tag = re.search(r'json:"([^"]*)"', f.group(2))
            if tag is None:
                continue
            words = f.group(1).split(None, 1)
            name, go_type = (words[0], words[1].strip()) if len(words) == 2 else ("", words[0])
            json_name = tag.group(1).split(",")[0]
            fields.append((name or go_type.lstrip("*").split(".")[-1], go_type, json_name))
        out[m.group(1)] = fields
    return out
