"""What one Kubernetes release accepts, read from its Go sources (:mod:`.gosource`): the feature gates each
component registers, kubeadm's feature gates, the command-line flags of kubelet and kube-proxy, and the fields of
their configuration files (``KubeletConfiguration`` v1beta1, ``KubeProxyConfiguration`` v1alpha1).

Every component of a release registers the gates of ``k8s.io/kubernetes/pkg/features`` and of the staging
feature packages it imports in one shared registry; kube-controller-manager alone adds
``k8s.io/controller-manager/pkg/features`` (unless ``pkg/features`` lists those too). The derivation tool checks
these readings against the real binaries wherever they exist (1.24–1.29 control plane, 1.27/1.28 kubelet and
kube-proxy): a test puts every gate read here to the binary of the same release.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import InfraError
from harness.knowledge.derive.gosource import GoText, Module, calls, download, go_files, map_keys, staging_version
from harness.knowledge.derive.gosource import struct_fields as _struct_fields

STAGING = ("apiserver", "apiextensions-apiserver", "component-base", "client-go", "controller-manager", "kubelet",
           "kube-proxy")
ALL_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
GATE_TABLE = r"map\[(?:featuregate\.)?Feature\](?:featuregate\.)?(?:FeatureSpec|VersionedSpecs)"
# Feature packages whose gates every component registers (the shared registry), and kube-controller-manager's own.
SHARED_GATES = (("kubernetes", "pkg/features"), ("apiserver", "pkg/features"),
                ("apiextensions-apiserver", "pkg/features"), ("component-base", "logs"),
                ("component-base", "logs/api/v1"), ("component-base", "metrics/features"),
                ("component-base", "zpages/features"), ("client-go", "features"))
CONTROLLER_MANAGER_GATES = (("controller-manager", "pkg/features"),)
# klog's own flags (k8s.io/klog/v2 InitFlags), as the components spell them (underscores become dashes).
KLOG_FLAGS = frozenset({"add-dir-header", "alsologtostderr", "log-backtrace-at", "log-dir", "log-file",
                        "log-file-max-size", "logtostderr", "one-output", "skip-headers", "skip-log-headers",
                        "stderrthreshold", "v", "vmodule"})
# cadvisor's flags on Go's global flag set, which kube-proxy adds whole (``fs.AddGoFlagSet(goflag.CommandLine)``).
GO_GLOBAL_FLAGS = frozenset({"boot-id-file", "machine-id-file"})
FLAG_PACKAGES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "kubelet": (("kubernetes", "cmd/kubelet"), ("kubernetes", "cmd/kubelet/app/options"),
                ("kubernetes", "cmd/kubelet/app")),
    "kube-proxy": (("kubernetes", "cmd/kube-proxy"), ("kubernetes", "cmd/kube-proxy/app")),
}
# Library calls a component's flag code makes, and the package whose registrations they add.
FOLLOWED: tuple[tuple[str, tuple[str, str]], ...] = (
    (r"\blogsapi\.AddFlags\(", ("component-base", "logs/api/v1")),
    (r"\blogs\.BindLoggingFlags\(|\.Logging\.AddFlags\(", ("component-base", "logs")),
    (r"\bverflag\.AddFlags\(", ("component-base", "version/verflag")),
    (r"\bglobalflag\.AddGlobalFlags\(", ("component-base", "cli/globalflag")),
    (r"\bContainerRuntimeOptions\.AddFlags\(", ("kubernetes", "pkg/kubelet/config")),
)
# Calls that add k8s.io/component-base/logs' flag set (klog's flags): directly, through the global flags, or
# through cli.Run (which adds them to the command's persistent flags, which a command parses unless it parses its
# command line itself, as the kubelet does: DisableFlagParsing).
KLOG_CALLS = r"\b(?:logs\.AddFlags|globalflag\.AddGlobalFlags)\("
CLI_RUN = r"\bcli\.Run\("
CONFIG_TYPES: Mapping[str, tuple[str, str, str]] = {
    "kubelet": ("kubelet", "config/v1beta1/types.go", "KubeletConfiguration"),
    "kube-proxy": ("kube-proxy", "config/v1alpha1/types.go", "KubeProxyConfiguration"),
}
_VAR_METHOD = r"(?:[A-Z]\w*)?VarP?"
_VALUE_METHOD = (r"(?:String|Bool|Int|Int32|Int64|Uint|Uint16|Uint32|Uint64|Float32|Float64|Duration|StringSlice"
                 r"|StringArray|StringToString|IP|IPNet|IPSlice)P?")
_FLAG_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")

Fetch = Callable[[str, str], Module]


@dataclass
class Release:
    """The Go modules of one Kubernetes release (a module the proxy does not serve is missing)."""

    version: str  # "1.30.14"
    modules: dict[str, Module] = field(default_factory=dict)  # "kubernetes", "apiserver", …

    @property
    def released(self) -> str:
        return self.modules["kubernetes"].released if "kubernetes" in self.modules else ""

    def files(self, module: str, package: str) -> list[Path]:
        mod = self.modules.get(module)
        return go_files(mod.directory / package) if mod is not None else []


def fetch_release(version: str, fetch: Fetch = download, staging: Iterable[str] = STAGING) -> Release:
    """The modules of Kubernetes ``version`` (``1.30.14``). A staging module the proxy does not serve at the
    release's own tag is taken at the nearest lower patch of the same minor (the proxy has gaps)."""
    release = Release(version.lstrip("v"))
    release.modules["kubernetes"] = fetch("k8s.io/kubernetes", "v" + release.version)
    major_minor, patch = staging_version(release.version).rsplit(".", 1)
    for name in staging:
        for p in range(int(patch), max(-1, int(patch) - 4), -1):
            try:
                release.modules[name] = fetch(f"k8s.io/{name}", f"{major_minor}.{p}")
                break
            except InfraError:
                continue
    return release


# ---- feature gates ------------------------------------------------------------------------------------------------

def _gate_names(release: Release, packages: Iterable[tuple[str, str]], text: GoText) -> set[str]:
    """The gates of the tables in ``packages`` (``text`` must already hold every file whose constants they name;
    a constant it does not hold is read as its identifier, which is how gate constants are spelled)."""
    names: set[str] = set()
    for p in (p for module, package in packages for p in release.files(module, package)):
        for key in map_keys(text.add(p), GATE_TABLE):
            value = text.value(key) or key.rsplit(".", 1)[-1].strip('"')
            names.add(value)
    return names


def feature_gates(release: Release) -> dict[str, frozenset[str]]:
    """The feature gates each component of ``release`` registers (``AllAlpha``/``AllBeta`` aside)."""
    text = GoText()
    for module, package in (*SHARED_GATES, *CONTROLLER_MANAGER_GATES):
        for p in release.files(module, package):
            text.add(p)
    shared = _gate_names(release, SHARED_GATES, text)
    if not shared:
        raise InfraError(f"no feature gate table found in the sources of {release.version}")
    own = _gate_names(release, CONTROLLER_MANAGER_GATES, text)
    return {comp: frozenset(shared | own if comp == "kube-controller-manager" else shared)
            for comp in ALL_COMPONENTS}


def kubeadm_gates(release: Release) -> frozenset[str]:
    """The feature gates of kubeadm's ``InitFeatureGates`` (``ClusterConfiguration.featureGates``)."""
    text = GoText()
    names = set()
    for p in release.files("kubernetes", "cmd/kubeadm/app/features"):
        for key in map_keys(text.add(p), r"\bInitFeatureGates\s*=\s*FeatureList"):
            value = text.value(key)
            if value:
                names.add(value)
    return frozenset(names)


# ---- flags --------------------------------------------------------------------------------------------------------

def registrations(text: GoText, source: str) -> set[str]:
    """The flag names ``source`` (comment-free Go) registers on a flag set, as the command line spells them."""
    names: set[str] = set()
    imported = _imported(source)
    for callee, args in calls(source, rf"(?:{_VAR_METHOD}|{_VALUE_METHOD}|register|registerDeprecated"
                                      r"|pflagRegister)"):
        method = callee.rsplit(".", 1)[-1]
        if method in ("register", "registerDeprecated", "pflagRegister"):
            index = 2
        elif "." not in callee:
            continue  # a plain function call, not a method of a flag set
        else:
            index = 1 if re.fullmatch(_VAR_METHOD, method) else 0
        if len(args) < 3 or len(args) <= index:
            continue  # a flag set's methods take the name, a default or a target, and the usage
        value = text.value(args[index]) or _kebab_of_constant(args[index], imported)
        if value and _FLAG_NAME.match(value):
            names.add(value.replace("_", "-"))
    return names - {"help"}


def _imported(source: str) -> set[str]:
    """The names a Go file's imports are known by (their alias, or the last element of their path)."""
    names = set()
    for block in re.findall(r"\bimport\s*\(([^)]*)\)", source) + re.findall(r'\bimport\s+(\w*\s*"[^"]+")', source):
        for alias, path in re.findall(r'(?m)^\s*(\w+\s+)?"([^"]+)"', block):
            names.add(alias.strip() if alias else path.rsplit("/", 1)[-1])
    return names


def _kebab_of_constant(expr: str, imported: set[str]) -> str | None:
    """A constant of another module this reader does not open (``cadvisorflags.HousekeepingInterval``): the
    flag name its identifier spells (``housekeeping-interval``), the convention those constants follow."""
    m = re.fullmatch(r"([a-z]\w*)\.([A-Z][A-Za-z0-9]*)", expr.strip())
    if m is None or m.group(1) not in imported:
        return None
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", m.group(2)).lower()


def _klog_group(release: Release, text: GoText) -> set[str]:
    """The klog flags ``k8s.io/component-base/logs`` adds (``logs.AddFlags``): all of klog's before 1.26
    (``klog.InitFlags``), the few ``klogflags.Init`` keeps after, and ``--log-flush-frequency``."""
    names: set[str] = set()
    for p in release.files("component-base", "logs/api/v1"):
        text.add(p)  # the flag names' constants (LogFlushFreqFlagName)
    for p in release.files("component-base", "logs"):
        source = text.add(p)
        if p.name != "logs.go":
            continue
        if re.search(r"\bklog\.InitFlags\(packageFlags\)", source):
            names |= KLOG_FLAGS
        elif re.search(r"\bklogflags\.Init\(packageFlags\)", source):
            for q in release.files("component-base", "logs/klogflags"):
                names |= {s.replace("_", "-") for s in re.findall(r'"([a-z_]+)"', text.add(q))} & KLOG_FLAGS
        names |= registrations(text, source)
    return names


def flags(release: Release, component: str) -> frozenset[str]:
    """The command-line flags of ``component`` (kubelet or kube-proxy) in ``release``."""
    text = GoText()
    own = [p for module, package in FLAG_PACKAGES[component] for p in release.files(module, package)]
    if not own:
        raise InfraError(f"no sources of {component} in {release.version}")
    names: set[str] = set()
    for p in own:
        names |= registrations(text, text.add(p))
    joined = "\n".join(text.files[p] for p in own)
    for pattern, (module, package) in FOLLOWED:
        if re.search(pattern, joined):
            for p in release.files(module, package):
                names |= registrations(text, text.add(p))
    if re.search(KLOG_CALLS, joined) or (re.search(CLI_RUN, joined)
                                         and not re.search(r"DisableFlagParsing:\s*true", joined)):
        names |= _klog_group(release, text)
    if re.search(r"\bverflag\.", joined):  # --version: verflag registers it on pflag's global flag set
        names.add("version")
    if re.search(r"\.AddGoFlagSet\((?:go)?flag\.CommandLine\)", joined):
        names |= GO_GLOBAL_FLAGS
    return frozenset(names)


# ---- configuration files ------------------------------------------------------------------------------------------

def config_fields(release: Release, component: str) -> frozenset[str]:
    """The field paths (``iptables.masqueradeAll``) of ``component``'s configuration file type in ``release``."""
    module, path, root = CONFIG_TYPES[component]
    mod = release.modules.get(module)
    if mod is None or not (mod.directory / path).is_file():
        raise InfraError(f"no {root} type in the sources of {release.version}")
    structs = _struct_fields(GoText().add(mod.directory / path))
    out: set[str] = set()

    def walk(type_name: str, prefix: str, depth: int) -> None:
        for _, go_type, json_name in structs.get(type_name, []):
            if json_name == "-":
                continue
            inner = re.sub(r"^(?:\*|\[\]|map\[[^\]]*\])+", "", go_type)
            if not json_name:  # inlined: TypeMeta and embedded structs
                if inner in structs:
                    walk(inner, prefix, depth)
                continue
            here = f"{prefix}{json_name}"
            out.add(here)
            if inner in structs and depth < 4:
                walk(inner, here + ".", depth + 1)

    walk(root, "", 0)
    if not out:
        raise InfraError(f"{root} has no fields in the sources of {release.version}")
    return frozenset(out)
