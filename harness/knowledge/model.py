"""The knowledge model: a removed API, a removed flag or feature gate, an add-on's supported Kubernetes range, and
:class:`Knowledge`, which holds them all and answers the plan's questions (what a hop removes, how to fix it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from harness.knowledge._load import minor_key
from harness.knowledge.notices import Notice
from harness.knowledge.semver import satisfies
from harness.versions import Version

OptionType = Literal["flag", "feature-gate", "config-field"]
# Components that also read a configuration file (KubeletConfiguration, KubeProxyConfiguration), decoded
# leniently: a field they no longer know is logged and ignored, a feature gate they no longer know is refused.
CONFIG_FILE_COMPONENTS = ("kubelet", "kube-proxy")
CONFIG_KINDS = {"kubelet": "KubeletConfiguration", "kube-proxy": "KubeProxyConfiguration"}


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
    note: str = ""  # what else to know (an API only some clusters serve: --runtime-config)
    off_by_default: bool = False  # served only when enabled with --runtime-config (a beta that was off by default)

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
    """A command-line flag, a feature gate or a configuration-file field that components stopped accepting."""

    type: OptionType
    name: str  # a flag without its dashes ("insecure-port"), a gate ("DevicePlugins"), a field ("udpIdleTimeout")
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
        """How a user writes it: ``--insecure-port``, ``DevicePlugins`` or ``iptables.masqueradeAll``."""
        return f"--{self.name}" if self.type == "flag" else self.name

    def fix(self) -> str:
        """What to do before upgrading to ``removed_in``."""
        comps = ", ".join(self.components)
        if self.type == "config-field":
            files = " and ".join(f"{CONFIG_KINDS.get(c, c)} ({c})" for c in self.components)
            text = (f"remove {self.name} from the {files} configuration before upgrading to {self.removed_in}: "
                    f"from {self.removed_in} the field is ignored (logged as unknown), so the setting silently "
                    "stops applying")
            return text + (f". {self.note}" if self.note else "")
        if self.type == "feature-gate":
            where = ("ClusterConfiguration featureGates" if self.components == ("kubeadm",) else "--feature-gates"
                     + (" and the configuration file's featureGates"
                        if set(self.components) & set(CONFIG_FILE_COMPONENTS) else ""))
        else:
            where = "the command line"
        if self.replacement is None:
            text = f"remove {self.display} from {where} of {comps}"
        else:
            new = f"--{self.replacement}" if self.type == "flag" else self.replacement
            text = f"replace {self.display} with {new} on {where} of {comps}"
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
    source_date: str = ""  # "2026-03-20": the date the source gives for what was read; "" when not recorded

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
    notices: tuple[Notice, ...] = ()  # behaviour changes (notices.yaml), in file order

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

    def removed_config_field(self, component: str, path: str) -> RemovedOption | None:
        """The entry for configuration field ``path`` (``iptables.masqueradeAll``) of ``component``, if removed."""
        return self.options.get(("config-field", component, path))

    def options_removed_between(self, source: Version, target: Version,
                                component: str | None = None) -> list[RemovedOption]:
        """Flags and gates that ``source`` accepts and ``target`` rejects (of one component, or of any)."""
        low, high = (source.major, source.minor), (target.major, target.minor)
        unique: dict[tuple[str, str, tuple[str, ...]], RemovedOption] = {}
        for (_, comp, _), opt in self.options.items():
            if (component is None or comp == component) and low < opt.removed_minor <= high:
                unique[(opt.type, opt.name, opt.components)] = opt
        return sorted(unique.values(), key=lambda o: (o.removed_minor, o.type, o.name))
