"""What rehearse knows about upgrades: removed API versions, how to fix objects that use them, removed flags and
feature gates, and which Kubernetes minors each add-on version supports.

The facts are data in ``harness/data/knowledge/`` (``removed_apis.yaml``, ``fixes.yaml``, ``flags.yaml``,
``addons.yaml``). Users add directories holding files of the same names: their entries extend the packaged ones and
replace them key by key (an API by ``group_version/kind``, a flag or gate by type, component and name, an add-on
range by add-on and version constraint; an add-on range of a later directory is consulted first).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from harness.errors import InputError
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
from harness.knowledge.semver import satisfies
from harness.versions import Version

__all__ = [
    "FILE_NAMES",
    "AddonSupport",
    "Knowledge",
    "RemovedApi",
    "RemovedOption",
    "addon_release",
    "load_knowledge",
    "packaged_knowledge",
]

REMOVED_APIS = "removed_apis.yaml"
FIXES = "fixes.yaml"
FLAGS = "flags.yaml"
ADDONS = "addons.yaml"
FILE_NAMES = (REMOVED_APIS, FIXES, FLAGS, ADDONS)

OptionType = Literal["flag", "feature-gate"]


@dataclass(frozen=True)
class RemovedApi:
    """A group/version + kind that Kubernetes stopped serving."""

    group_version: str
    kind: str
    resource: str
    deprecated_in: str  # "1.21"
    removed_in: str  # "1.25": the first minor that no longer serves it
    replacement: str | None  # the group/version to use instead; None when nothing replaces it
    source: str

    @property
    def key(self) -> str:
        """``policy/v1beta1/PodDisruptionBudget``."""
        return f"{self.group_version}/{self.kind}"

    @property
    def removed_minor(self) -> tuple[int, int]:
        return minor_key(self.removed_in)

    @property
    def deprecated_minor(self) -> tuple[int, int]:
        return minor_key(self.deprecated_in)

    def served_by(self, version: Version) -> bool:
        """Whether ``version`` still serves this API (deprecated or not)."""
        return (version.major, version.minor) < self.removed_minor


@dataclass(frozen=True)
class RemovedOption:
    """A command-line flag or a feature gate that components stopped accepting."""

    type: OptionType
    name: str  # a flag without its dashes ("insecure-port"), or a gate ("DevicePlugins")
    components: tuple[str, ...]
    removed_in: str
    replacement: str | None
    note: str
    source: str

    @property
    def removed_minor(self) -> tuple[int, int]:
        return minor_key(self.removed_in)

    @property
    def display(self) -> str:
        """How a user writes it: ``--insecure-port`` or ``DevicePlugins``."""
        return f"--{self.name}" if self.type == "flag" else self.name

    def fix(self) -> str:
        """What to do before upgrading to ``removed_in``."""
        where = "--feature-gates" if self.type == "feature-gate" else "the command line"
        if self.replacement is None:
            text = f"remove {self.display} from {where} of {', '.join(self.components)}"
        else:
            new = f"--{self.replacement}" if self.type == "flag" else self.replacement
            text = f"replace {self.display} with {new} on {where} of {', '.join(self.components)}"
        return f"{text} before upgrading to {self.removed_in}" + (f". {self.note}" if self.note else "")


@dataclass(frozen=True)
class AddonSupport:
    """The Kubernetes minors that one version line of an add-on supports, as its maintainers state them."""

    addon: str  # the add-on's name, as harness/snapshot/addon_patterns.yaml names it ("cert-manager")
    versions: str  # a semver constraint on the add-on's (app) version: "1.13.x", ">=1.8.0 <1.8.4"
    min_minor: str  # "1.23"
    max_minor: str | None  # "1.28"; None when the maintainers state no upper bound
    source: str
    note: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.addon, self.versions

    @property
    def range_text(self) -> str:
        """``1.23–1.28`` or ``1.19 and later``."""
        return f"{self.min_minor}–{self.max_minor}" if self.max_minor else f"{self.min_minor} and later"

    def covers(self, version: str) -> bool:
        """Whether the add-on version (``v1.13.3``, ``1.13.3-debian``) falls in this line."""
        release = addon_release(version)
        return release is not None and satisfies(self.versions, release)

    def supports(self, major: int, minor: int) -> bool:
        """Whether Kubernetes ``major.minor`` lies in the supported range."""
        if (major, minor) < minor_key(self.min_minor):
            return False
        return self.max_minor is None or (major, minor) <= minor_key(self.max_minor)


# A release channel before the number is dropped: Linkerd tags its releases stable-2.14.10 / enterprise-2.15.1.
_RELEASE = re.compile(r"^(?:[a-z]+-)?v?(\d+)\.(\d+)(?:\.(\d+))?")


def addon_release(version: str) -> str | None:
    """The release an add-on version names, as ``X.Y.Z`` (``v1.13.3`` → ``1.13.3``, ``1.10`` → ``1.10.0``,
    ``v2.9.3-distroless`` → ``2.9.3``, ``stable-2.14.10`` → ``2.14.10``); None when it names none (``latest``, a
    digest)."""
    m = _RELEASE.match(version.strip())
    if m is None:
        return None
    return f"{int(m[1])}.{int(m[2])}.{int(m[3] or 0)}"


@dataclass(frozen=True, eq=False)
class Knowledge:
    """The merged knowledge: packaged data plus any user directories."""

    apis: Mapping[str, RemovedApi]  # by RemovedApi.key
    fixes: Mapping[str, str]  # by RemovedApi.key
    options: Mapping[tuple[str, str, str], RemovedOption]  # by (type, component, name)
    # by add-on, each add-on's lines in the order they are consulted
    addons: Mapping[str, tuple[AddonSupport, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def addon_support(self, addon: str, version: str) -> AddonSupport | None:
        """The version line of ``addon`` that ``version`` belongs to, or None when no entry covers it."""
        return next((e for e in self.addons.get(addon, ()) if e.covers(version)), None)

    def removed_api(self, group_version: str, kind: str) -> RemovedApi | None:
        """The entry for ``group_version`` + ``kind``, or None when it was never removed (as far as known)."""
        return self.apis.get(f"{group_version}/{kind}")

    def removed_between(self, source: Version, target: Version) -> list[RemovedApi]:
        """APIs served by ``source`` that ``target`` no longer serves: removed_in in (source, target]."""
        low, high = (source.major, source.minor), (target.major, target.minor)
        found = [a for a in self.apis.values() if low < a.removed_minor <= high]
        return sorted(found, key=lambda a: (a.removed_minor, a.group_version, a.kind))

    def replacement_for(self, group_version: str, kind: str, target: Version | None = None) -> str | None:
        """The group/version to rewrite to, following replacements that are themselves removed (by ``target``
        when given, at all otherwise). None when the API is unknown or nothing replaces it."""
        api = self.removed_api(group_version, kind)
        seen = {group_version}
        while api is not None and api.replacement is not None:
            nxt = self.removed_api(api.replacement, kind)
            if nxt is None or nxt.group_version in seen or (target is not None and nxt.served_by(target)):
                return api.replacement
            seen.add(nxt.group_version)
            api = nxt
        return None

    def fix_for(self, group_version: str, kind: str) -> str:
        """The fix text for objects of a removed API; "" when the API is not known to be removed."""
        api = self.removed_api(group_version, kind)
        if api is None:
            return ""
        if api.key in self.fixes:
            return self.fixes[api.key]
        if api.replacement is None:
            return (f"no replacement: {api.group_version} {api.kind} is gone in {api.removed_in}; remove these "
                    "objects or move to another mechanism before upgrading")
        text = f"rewrite as {api.replacement}"
        later = self.removed_api(api.replacement, kind)
        if later is not None:
            final = self.replacement_for(group_version, kind)
            text += f" (itself removed in {later.removed_in}; " + (
                f"{final} after that)" if final else "with no replacement after that)")
        return text

    def removed_gate(self, component: str, gate: str) -> RemovedOption | None:
        """The entry for feature gate ``gate`` of ``component`` (e.g. ``kube-apiserver``), if it was removed."""
        return self.options.get(("feature-gate", component, gate))

    def removed_flag(self, component: str, flag: str) -> RemovedOption | None:
        """The entry for ``flag`` (``--x``, ``--x=v`` or ``x``) of ``component``, if it was removed."""
        name = flag.lstrip("-").split("=", 1)[0]
        return self.options.get(("flag", component, name))

    def options_removed_between(self, source: Version, target: Version,
                                component: str | None = None) -> list[RemovedOption]:
        """Flags and gates that ``source`` accepts and ``target`` rejects (of one component, or of any)."""
        low, high = (source.major, source.minor), (target.major, target.minor)
        unique: dict[tuple[str, str, tuple[str, ...]], RemovedOption] = {}
        for (_, comp, _), opt in self.options.items():
            if (component is None or comp == component) and low < opt.removed_minor <= high:
                unique[(opt.type, opt.name, opt.components)] = opt
        return sorted(unique.values(), key=lambda o: (o.removed_minor, o.type, o.name))


# ---- parsing -------------------------------------------------------------------------------------------------

_API_FIELDS = frozenset({"group_version", "kind", "resource", "deprecated_in", "removed_in", "replacement", "source"})
_FIX_FIELDS = frozenset({"api", "fix"})
_OPTION_FIELDS = frozenset({"type", "name", "components", "removed_in", "replacement", "note", "source"})
_ADDON_FIELDS = frozenset({"addon", "versions", "kubernetes", "source", "note"})
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
    return RemovedApi(group_version=gv, kind=kind, resource=resource, deprecated_in=deprecated_in,
                      removed_in=removed_in, replacement=replacement, source=r.text("source"))


def _fix(r: EntryReader) -> tuple[str, str]:
    key = r.text("api", hint="group_version/kind")
    gv, _, kind = key.rpartition("/")
    if not GROUP_VERSION_RE.match(gv) or not KIND_RE.match(kind):
        r.fail("api", f"{key!r} is not group_version/kind, like policy/v1beta1/PodDisruptionBudget")
    return key, " ".join(r.text("fix").split())


def _option(r: EntryReader) -> RemovedOption:
    kind = r.text("type")
    if kind not in ("flag", "feature-gate"):
        r.fail("type", f"{kind!r} is not 'flag' or 'feature-gate'")
    opt_type: OptionType = "flag" if kind == "flag" else "feature-gate"
    if opt_type == "flag":
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
    return AddonSupport(addon=name, versions=versions, min_minor=low, max_minor=high, source=r.text("source"),
                        note=" ".join(r.text_or_default("note", "").split()))


def _span_minor(r: EntryReader, span: Mapping[str, object], name: str) -> str:
    value = span[name]
    if not isinstance(value, str) or not MINOR_RE.match(value):
        r.fail(f"kubernetes.{name}", f'expected a quoted minor version like "1.25", got {value!r}')
    return value


@dataclass
class _Builder:
    apis: dict[str, RemovedApi]
    fixes: dict[str, Located]
    options: dict[tuple[str, str, str], RemovedOption]
    # (file number, entry number, line) by add-on and constraint: a later file's entries are consulted first
    addons: dict[tuple[str, str], tuple[int, int, AddonSupport]] = field(default_factory=dict)
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
                         addons=MappingProxyType(_by_addon(self.addons.values())))


def _by_addon(lines: Iterable[tuple[int, int, AddonSupport]]) -> dict[str, tuple[AddonSupport, ...]]:
    """Entries grouped by add-on: a later file's first (a user's directory overrides the packaged table), each
    file's in its own order."""
    out: dict[str, list[AddonSupport]] = {}
    for _, _, line in sorted(lines, key=lambda t: (-t[0], t[1])):
        out.setdefault(line.addon, []).append(line)
    return {k: tuple(v) for k, v in out.items()}


def load_knowledge(extra_dirs: Sequence[Path] = (), *, generated: bool = True) -> Knowledge:
    """The packaged knowledge, extended and overridden by each of ``extra_dirs`` in order, then completed with
    the facts generated from the real binaries (``generated=False``: the curated files alone)."""
    builder = _Builder({}, {}, {})
    data = resources.files("harness.data").joinpath("knowledge")
    for name in FILE_NAMES:
        builder.add(name, data.joinpath(name).read_text(encoding="utf-8"), f"harness/data/knowledge/{name}")
    for d in extra_dirs:
        directory = Path(d)
        if not directory.is_dir():
            raise InputError(f"knowledge directory {directory} does not exist or is not a directory")
        present = [n for n in FILE_NAMES if (directory / n).is_file()]
        if not present:
            raise InputError(f"knowledge directory {directory} holds none of {', '.join(FILE_NAMES)}")
        for name in present:
            path = directory / name
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(f"knowledge file {path}: cannot be read: {e}") from e
            builder.add(name, text, str(path))
    # Facts derived from the real binaries (harness/data/knowledge/generated/) fill in what neither the curated
    # files nor the user's directories say; those keep precedence (they carry the guide's wording and sources).
    if not generated:
        return builder.build()
    from harness.knowledge.generate import with_generated

    return with_generated(builder.build())


@functools.cache
def packaged_knowledge() -> Knowledge:
    """The packaged knowledge alone (cached)."""
    return load_knowledge()
