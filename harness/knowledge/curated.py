"""Loading the knowledge: the curated files in ``harness/data/knowledge/`` (``removed_apis.yaml``,
``fixes.yaml``, ``flags.yaml``, ``addons.yaml``, ``notices.yaml``), then any user directories holding files of
the same names, then the facts generated from the real binaries and Go sources.

A user's entries extend the packaged ones and replace them key by key (an API by ``group_version/kind``, a flag or
gate by type, component and name, an add-on range by add-on and version constraint, a notice by id; an add-on
range of a later directory is consulted first).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.errors import InputError
from harness.knowledge._cache import cached
from harness.knowledge._load import (
    COMPONENT_RE,
    FLAG_RE,
    GATE_RE,
    GROUP_VERSION_RE,
    KIND_RE,
    MINOR_RE,
    RESOURCE_RE,
    EntryReader,
    Located,
    minor_key,
    parse_all,
    refuse_repeats,
)
from harness.knowledge.generated import with_generated
from harness.knowledge.model import AddonSupport, Knowledge, OptionType, RemovedApi, RemovedOption
from harness.knowledge.notices import FIELDS as _NOTICE_FIELDS
from harness.knowledge.notices import Notice, read_notice
from harness.knowledge.semver import satisfies

REMOVED_APIS = "removed_apis.yaml"
FIXES = "fixes.yaml"
FLAGS = "flags.yaml"
ADDONS = "addons.yaml"
NOTICES = "notices.yaml"
FILE_NAMES = (REMOVED_APIS, FIXES, FLAGS, ADDONS, NOTICES)

_API_FIELDS = frozenset({"group_version", "kind", "resource", "deprecated_in", "removed_in", "replacement", "source",
                         "note", "off_by_default"})
_FIX_FIELDS = frozenset({"api", "fix"})
_OPTION_FIELDS = frozenset({"type", "name", "components", "removed_in", "replacement", "note", "source"})
_ADDON_FIELDS = frozenset({"addon", "versions", "kubernetes", "source", "note", "source_date"})
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FIELD_PATH_RE = re.compile(r"^[a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)*$")
_ADDON_NAME_RE = re.compile(r"^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?$")


def _api(r: EntryReader) -> RemovedApi:
    gv = r.text("group_version", GROUP_VERSION_RE, "a group/version like policy/v1beta1")
    kind = r.text("kind", KIND_RE, "a kind like PodDisruptionBudget")
    resource = r.text("resource", RESOURCE_RE, "a lower-case plural resource like poddisruptionbudgets")
    deprecated_in, removed_in = r.minor("deprecated_in"), r.minor("removed_in")
    if minor_key(removed_in) <= minor_key(deprecated_in):
        r.fail("removed_in", f"{removed_in} is not later than deprecated_in {deprecated_in}")
    replacement = r.optional_text("replacement", GROUP_VERSION_RE, "a group/version like policy/v1")
    if replacement == gv:
        r.fail("replacement", "names the removed group/version itself")
    off = r.raw.get("off_by_default", False)
    if not isinstance(off, bool):
        r.fail("off_by_default", f"expected true or false, got {off!r}")
    return RemovedApi(group_version=gv, kind=kind, resource=resource, deprecated_in=deprecated_in,
                      removed_in=removed_in, replacement=replacement, source=r.text("source"),
                      note=" ".join(r.text_or_default("note", "").split()), off_by_default=off)


def _fix(r: EntryReader) -> tuple[str, str]:
    key = r.text("api", hint="group_version/kind")
    gv, _, kind = key.rpartition("/")
    if not GROUP_VERSION_RE.match(gv) or not KIND_RE.match(kind):
        r.fail("api", f"{key!r} is not group_version/kind, like policy/v1beta1/PodDisruptionBudget")
    return key, " ".join(r.text("fix").split())


def _option(r: EntryReader) -> RemovedOption:
    kind = r.text("type")
    if kind not in ("flag", "feature-gate", "config-field"):
        r.fail("type", f"{kind!r} is not 'flag', 'feature-gate' or 'config-field'")
    opt_type: OptionType = "flag" if kind == "flag" else "feature-gate" if kind == "feature-gate" else "config-field"
    if opt_type == "config-field":
        name = r.text("name", _FIELD_PATH_RE, "a configuration field path like iptables.masqueradeAll")
        replacement = r.optional_text("replacement", _FIELD_PATH_RE, "a configuration field path")
    elif opt_type == "flag":
        raw = r.raw.get("name")
        if isinstance(raw, str) and raw.startswith("-"):
            r.fail("name", f"{raw!r}: write the flag without its dashes")
        name = r.text("name", FLAG_RE, "a flag name like insecure-port")
        replacement = r.optional_text("replacement", FLAG_RE, "a flag name without dashes")
    else:
        name = r.text("name", GATE_RE, "a feature gate name like DevicePlugins")
        replacement = r.optional_text("replacement", GATE_RE, "a feature gate name")
    return RemovedOption(
        type=opt_type, name=name,
        components=r.text_list("components", COMPONENT_RE, "a component name like kube-apiserver"),
        removed_in=r.minor("removed_in"), replacement=replacement,
        note=" ".join(r.text_or_default("note", "").split()), source=r.text("source"))


def _addon(r: EntryReader) -> AddonSupport:
    name = r.text("addon", _ADDON_NAME_RE, "an add-on name like cert-manager")
    versions = r.text("versions", hint="a version constraint like 1.13.x")
    try:
        satisfies(versions, "0.0.0")
    except InputError as e:
        r.fail("versions", str(e))
    span = r.raw.get("kubernetes")
    if not isinstance(span, dict) or set(span) != {"min", "max"}:
        r.fail("kubernetes", f'expected {{min: "1.23", max: "1.28"}} (max may be null), got {span!r}')
    low = _span_minor(r, span, "min")
    high = _span_minor(r, span, "max") if span["max"] is not None else None
    if high is not None and minor_key(high) < minor_key(low):
        r.fail("kubernetes", f"max {high} is lower than min {low}")
    date = r.raw.get("source_date")
    if date is not None and not (isinstance(date, str) and _DATE_RE.match(date)):
        r.fail("source_date", f'expected a quoted date like "2026-03-20", got {date!r}')
    return AddonSupport(addon=name, versions=versions, min_minor=low, max_minor=high, source=r.text("source"),
                        note=" ".join(r.text_or_default("note", "").split()), source_date=date or "")


def _span_minor(r: EntryReader, span: Mapping[str, object], name: str) -> str:
    value = span[name]
    if not isinstance(value, str) or not MINOR_RE.match(value):
        r.fail(f"kubernetes.{name}", f'expected a quoted minor version like "1.25", got {value!r}')
    return value


def read_addons(text: str, where: str) -> list[AddonSupport]:
    """The lines of one ``addons.yaml`` text, checked like the packaged table (:class:`InputError` naming
    ``where``, the entry and the field)."""
    lines = parse_all(text, where, _ADDON_FIELDS, _addon)
    refuse_repeats(lines, lambda a: [f"add-on {a.addon} versions {a.versions}"])
    return [line.value for line in lines]


@dataclass
class _Builder:
    apis: dict[str, RemovedApi]
    fixes: dict[str, Located]
    options: dict[tuple[str, str, str], RemovedOption]
    # (file number, entry number, line) by add-on and constraint: a later file's entries are consulted first
    addons: dict[tuple[str, str], tuple[int, int, AddonSupport]] = field(default_factory=dict)
    notices: dict[str, Notice] = field(default_factory=dict)
    files: int = 0

    def add(self, name: str, text: str, where: str) -> None:
        if name == REMOVED_APIS:
            apis = parse_all(text, where, _API_FIELDS, _api)
            refuse_repeats(apis, lambda a: [a.key])
            self.apis.update({a.value.key: a.value for a in apis})
        elif name == FIXES:
            fixes = parse_all(text, where, _FIX_FIELDS, _fix)
            refuse_repeats(fixes, lambda f: [f[0]])
            self.fixes.update({f.value[0]: f for f in fixes})
        elif name == NOTICES:
            notices = parse_all(text, where, _NOTICE_FIELDS, read_notice)
            refuse_repeats(notices, lambda n: [f"notice {n.id}"])
            self.notices.update({n.value.id: n.value for n in notices})
        elif name == ADDONS:
            lines = parse_all(text, where, _ADDON_FIELDS, _addon)
            refuse_repeats(lines, lambda a: [f"add-on {a.addon} versions {a.versions}"])
            self.files += 1
            for line in lines:
                self.addons[line.value.key] = (self.files, line.index, line.value)
        else:
            options = parse_all(text, where, _OPTION_FIELDS, _option)
            refuse_repeats(options, lambda o: [f"{o.type} {c} {o.name}" for c in o.components])
            for opt in options:
                o: RemovedOption = opt.value
                for comp in o.components:
                    self.options[(o.type, comp, o.name)] = o

    def build(self) -> Knowledge:
        for key, located in self.fixes.items():
            if key not in self.apis:
                raise InputError(f"knowledge file {located.where}: field 'api': {key} has no entry in "
                                 f"{REMOVED_APIS} (packaged or user)")
        return Knowledge(apis=MappingProxyType(dict(self.apis)),
                         fixes=MappingProxyType({k: v.value[1] for k, v in self.fixes.items()}),
                         options=MappingProxyType(dict(self.options)),
                         addons=MappingProxyType(_by_addon(self.addons.values())),
                         notices=tuple(self.notices.values()))


def _by_addon(lines: Iterable[tuple[int, int, AddonSupport]]) -> dict[str, tuple[AddonSupport, ...]]:
    """Entries grouped by add-on: a later file's first (a user's directory overrides the packaged table), each
    file's in its own order."""
    out: dict[str, list[AddonSupport]] = {}
    for _, _, line in sorted(lines, key=lambda t: (-t[0], t[1])):
        out.setdefault(line.addon, []).append(line)
    return {k: tuple(v) for k, v in out.items()}


def load_knowledge(extra_dirs: Sequence[Path] = (), *, generated: bool = True) -> Knowledge:
    """The packaged knowledge, extended and overridden by each of ``extra_dirs`` in order, then completed with
    the facts generated from the real binaries (``generated=False``: the curated files alone). Parsed once per
    set of files and cached (:mod:`._cache`)."""
    data = resources.files("harness.data").joinpath("knowledge")
    user: list[Path] = []
    for d in extra_dirs:
        directory = Path(d)
        if not directory.is_dir():
            raise InputError(f"knowledge directory {directory} does not exist or is not a directory")
        present = [directory / n for n in FILE_NAMES if (directory / n).is_file()]
        if not present:
            raise InputError(f"knowledge directory {directory} holds none of {', '.join(FILE_NAMES)}")
        user += present
    packaged = Path(str(data))
    if not packaged.is_dir():  # not unpacked on disk (a zip): nothing to key a cache on
        return _parse(data, user, generated)
    inputs = [*(p for p in packaged.rglob("*") if p.is_file()), *user]
    return cached(inputs, f"-{generated}-{len(user)}", lambda: _parse(data, user, generated))


def _parse(data: Any, user: list[Path], generated: bool) -> Knowledge:
    builder = _Builder({}, {}, {})
    for name in FILE_NAMES:
        builder.add(name, data.joinpath(name).read_text(encoding="utf-8"), f"harness/data/knowledge/{name}")
    for path in user:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"knowledge file {path}: cannot be read: {e}") from e
        builder.add(path.name, text, str(path))
    # Facts derived from the real binaries (harness/data/knowledge/generated/) fill in what neither the curated
    # files nor the user's directories say; those keep precedence (they carry the guide's wording and sources).
    if not generated:
        return builder.build()
    return with_generated(builder.build())


@functools.cache
def packaged_knowledge() -> Knowledge:
    """The packaged knowledge alone (cached)."""
    return load_knowledge()
