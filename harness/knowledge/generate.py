"""Knowledge generated from the real binaries: what each minor stopped serving or accepting.

For two consecutive minors N-1 and N, :func:`derive` starts the real kube-apiserver of each (one at a time, on
loopback) and reads its discovery (``/api``, ``/apis`` and every served group/version: kinds and resources), the
deprecation warnings it sends for each resource, and the feature gates it registers (``/metrics``,
``kubernetes_feature_enabled``, 1.26 and later). It then asks the binaries of kube-apiserver,
kube-controller-manager and kube-scheduler which flags and feature gates they refuse: a flag or gate is removed in
N when N-1 accepts it and N answers ``unknown flag`` / ``unrecognized feature gate`` while parsing its command
line (``--help`` alone cannot tell a GA gate, which is still accepted, from a removed one). Admission plugins come
from the ``--enable-admission-plugins`` help text.

The facts go to ``harness/data/knowledge/generated/<N>.yaml`` (:func:`render_document`, deterministic). Fixes in
plain words stay in the hand-curated ``fixes.yaml``. :func:`merge_generated` turns the files into
:class:`~harness.knowledge.RemovedApi` / :class:`~harness.knowledge.RemovedOption` entries and
:func:`with_generated` adds them to a :class:`~harness.knowledge.Knowledge` where the curated data has no entry.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from harness.errors import InfraError, InputError
from harness.knowledge import Knowledge, RemovedApi, RemovedOption, packaged_knowledge
from harness.knowledge._load import GATE_RE, GROUP_VERSION_RE, KIND_RE, MINOR_RE, minor_key
from harness.progress import NullProgress, Progress

__all__ = [
    "COMPONENTS",
    "SCHEMA",
    "Discovery",
    "HelpFacts",
    "ServedApi",
    "derive",
    "discover",
    "generated_dir",
    "load_generated",
    "merge_generated",
    "parse_help",
    "refused_flags",
    "refused_gates",
    "removed_admission_plugins",
    "render_document",
    "with_generated",
]

SCHEMA = "rehearse/knowledge-generated/v1"
COMPONENTS: tuple[str, ...] = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
BINARIES: tuple[str, ...] = (*COMPONENTS, "etcd")
# Groups whose kinds moved to other groups when they were removed (extensions/v1beta1 → apps, networking, policy).
SUCCESSOR_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"extensions": ("apps", "networking.k8s.io", "policy")})

_FLAG_LINE = re.compile(r"^ {1,8}(?:-[A-Za-z0-9], )?--([a-z0-9][a-z0-9-]*)(?=[ =\[]|$)")
_GATE_LINE = re.compile(r"^\s+([A-Za-z][A-Za-z0-9]*)=true\|false\b")
_PLUGINS = re.compile(r"--enable-admission-plugins .*?Comma-delimited list of admission plugins: ([^.]*)\.")
_METRIC_GATE = re.compile(r'^kubernetes_feature_enabled\{[^}]*\bname="([^"]+)"', re.MULTILINE)
_WARNING = re.compile(
    r"^(?P<gv>\S+) (?P<kind>\S+) is deprecated in v(?P<dep>\d+\.\d+)\+"
    r"(?:, unavailable in v(?P<rem>\d+\.\d+)\+)?(?:; use (?P<repl>\S+) (?P<rkind>\S+))?")
_UNRECOGNIZED_GATE = re.compile(r"unrecognized feature gate: ([A-Za-z0-9]+)")
_LOCKED_GATE = re.compile(r"cannot set feature gate ([A-Za-z0-9]+) to (?:true|false), feature is locked")
_UNKNOWN_FLAG = re.compile(r"unknown flag: --([a-z0-9-]+)")
_VERSION_OUT = re.compile(r"Kubernetes (v\d+\.\d+\.\d+\S*)")
_GV_PARTS = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# ---- facts read from one binary set -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ServedApi:
    """A kind served under one group/version, with the deprecation the apiserver announces for it (if any)."""

    group_version: str
    kind: str
    resource: str
    deprecated_in: str | None = None  # "1.26", from the apiserver's deprecation warning
    removal_announced: str | None = None  # "1.29": "unavailable in v1.29+"
    suggested: str | None = None  # the group/version the warning says to use

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.group_version.rpartition("/")[2]


@dataclass(frozen=True)
class Discovery:
    """What one running kube-apiserver serves."""

    version: str  # "v1.28.15", as the binary reports it
    served: Mapping[tuple[str, str], ServedApi]  # by (group_version, kind)
    gates: frozenset[str]  # every gate registered (empty before 1.26: no kubernetes_feature_enabled metric)


@dataclass(frozen=True)
class HelpFacts:
    """What a component's ``--help`` lists."""

    flags: frozenset[str]
    gates: frozenset[str]  # alpha and beta gates only: GA gates are not listed
    admission_plugins: frozenset[str]


def parse_help(text: str) -> HelpFacts:
    """Flag names, feature gate names and admission plugins of a component's ``--help`` output."""
    flags: set[str] = set()
    gates: set[str] = set()
    for line in text.splitlines():
        m = _FLAG_LINE.match(line)
        if m:
            flags.add(m.group(1))
            continue
        g = _GATE_LINE.match(line)
        if g:
            gates.add(g.group(1))
    plugins: set[str] = set()
    p = _PLUGINS.search(text)
    if p:
        plugins = {name.strip() for name in p.group(1).split(",") if name.strip()}
    return HelpFacts(frozenset(flags), frozenset(gates), frozenset(plugins))


def _run(binary: Path, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``binary args…`` (it parses its flags and exits); return the exit code and everything it wrote."""
    try:
        out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=120, check=False,
                             cwd=cwd, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InfraError(f"{binary}: cannot run it: {e}") from e
    return out.returncode, out.stdout + out.stderr


def _error_line(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("Error:"):
            return line
    lines = [ln for ln in output.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def binary_version(binary: Path) -> str:
    """``v1.28.15``: what ``binary --version`` says."""
    code, out = _run(binary, "--version")
    m = _VERSION_OUT.search(out)
    if code != 0 or m is None:
        raise InfraError(f"{binary} --version: {_error_line(out)}")
    return m.group(1)


def help_of(binary: Path) -> HelpFacts:
    """:func:`parse_help` of ``binary --help``."""
    code, out = _run(binary, "--help")
    if code != 0:
        raise InfraError(f"{binary} --help: {_error_line(out)}")
    return parse_help(out)


def refused_gates(binary: Path, gates: Iterable[str]) -> frozenset[str]:
    """The gates among ``gates`` that ``binary`` refuses (``unrecognized feature gate``).

    All gates go on one command line with ``--version``; the binary names the first it does not know and exits,
    so this takes one run per refused gate, plus one.
    """
    pending = sorted(set(gates))
    refused: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="rehearse-probe-") as cwd:
        while pending:
            code, out = _run(binary, "--feature-gates=" + ",".join(f"{g}=true" for g in pending), "--version",
                             cwd=Path(cwd))
            if code == 0:
                break
            error = _error_line(out)
            m = _UNRECOGNIZED_GATE.search(error)
            if m and m.group(1) in pending:
                refused.add(m.group(1))
                pending.remove(m.group(1))
                continue
            locked = _LOCKED_GATE.search(error)
            if locked and locked.group(1) in pending:  # known to the binary, only locked to its default
                pending.remove(locked.group(1))
                continue
            raise InfraError(f"{binary}: unexpected answer to --feature-gates: {error}")
    return frozenset(refused)


def refused_flags(binary: Path, flags: Iterable[str]) -> frozenset[str]:
    """The flags among ``flags`` (names without dashes) that ``binary`` refuses (``unknown flag``).

    One run per flag: a flag is accepted when the binary parses it (a value it rejects still means it knows the
    flag) and refused only when it answers ``unknown flag``.
    """
    refused: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="rehearse-probe-") as cwd:
        for name in sorted(set(flags) - {"help", "version"}):
            code, out = _run(binary, f"--{name}=0", "--version", cwd=Path(cwd))
            if code == 0:
                continue
            m = _UNKNOWN_FLAG.search(_error_line(out))
            if m and m.group(1) == name:
                refused.add(name)
    return frozenset(refused)


# ---- discovery of a running apiserver ---------------------------------------------------------------------------

def _request(url: str, token: str, method: str = "GET", body: bytes | None = None) -> tuple[bytes, list[str]]:
    """One request as the admin token; the body and the ``Warning`` headers (also of an error answer)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
            data: bytes = resp.read()
            return data, list(resp.headers.get_all("Warning") or [])
    except urllib.error.HTTPError as e:
        return e.read(), list(e.headers.get_all("Warning") or [])


def _warning_texts(headers: Iterable[str]) -> list[str]:
    """The text of ``299 - "text"`` warning headers."""
    out = []
    for h in headers:
        first, last = h.find('"'), h.rfind('"')
        out.append(h[first + 1:last] if 0 <= first < last else h)
    return out


def read_discovery(url: str, token: str, version: str) -> Discovery:
    """Discovery, deprecation warnings and registered gates of the apiserver at ``url``."""
    def get_json(path: str) -> Any:
        body, _ = _request(url + path, token)
        try:
            return json.loads(body)
        except ValueError as e:
            raise InfraError(f"{url}{path}: not JSON: {body[:200]!r}") from e

    gvs = [str(v) for v in get_json("/api").get("versions", [])]
    for group in get_json("/apis").get("groups", []):
        gvs += [str(v["groupVersion"]) for v in group.get("versions", [])]
    served: dict[tuple[str, str], ServedApi] = {}
    verbs: dict[tuple[str, str], list[str]] = {}
    for gv in gvs:
        base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        for r in sorted(get_json(base).get("resources", []), key=lambda r: str(r.get("name", ""))):
            name, kind = str(r.get("name", "")), str(r.get("kind", ""))
            if not name or "/" in name or not kind or (gv, kind) in served:
                continue  # subresources, and a kind served by two resources (kept once, by name)
            served[(gv, kind)] = ServedApi(gv, kind, name)
            verbs[(gv, kind)] = [str(v) for v in r.get("verbs", [])]
    for key, api in list(served.items()):
        base = "/api/v1" if api.group_version == "v1" else f"/apis/{api.group_version}"
        if "list" in verbs[key]:
            _, warnings = _request(f"{url}{base}/{api.resource}?limit=1", token)
        elif "create" in verbs[key]:  # reviews: a dry-run create of nothing still carries the warning
            _, warnings = _request(f"{url}{base}/{api.resource}?dryRun=All", token, "POST", b"{}")
        else:
            continue
        for text in _warning_texts(warnings):
            m = _WARNING.match(text)
            if m and m.group("gv") == api.group_version and m.group("kind") == api.kind:
                served[key] = ServedApi(api.group_version, api.kind, api.resource, m.group("dep"), m.group("rem"),
                                        m.group("repl"))
    metrics, _ = _request(url + "/metrics", token)
    gates = frozenset(_METRIC_GATE.findall(metrics.decode(errors="replace")))
    return Discovery(version=version, served=MappingProxyType(served), gates=gates)


def discover(binaries: Path, workdir: Path) -> Discovery:
    """Start the kube-apiserver (and etcd) in ``binaries`` on loopback, read :func:`read_discovery`, stop it."""
    from harness.providers._bare import bare_control_plane

    version = binary_version(binaries / "kube-apiserver")
    with bare_control_plane(binaries, workdir) as cp:
        return read_discovery(cp.url, cp.token, version)


# ---- deriving one minor -----------------------------------------------------------------------------------------

def _rank(api: ServedApi) -> tuple[int, int, int, int]:
    """Higher is better: not deprecated, then GA over beta over alpha, then the higher version."""
    m = _GV_PARTS.match(api.version)
    if m is None:
        return (0, 0, 0, 0)
    stage = {"": 2, "beta": 1, "alpha": 0}[m.group(2) or ""]
    return (0 if api.deprecated_in else 1, stage, int(m.group(1)), int(m.group(3) or 0))


def replacement_for(removed: ServedApi, target: Discovery) -> str | None:
    """The group/version of the same kind that ``target`` serves in the same (or successor) group, if any.

    The best one the target serves: not deprecated there, then stable over beta over alpha, then the highest
    version; between equals, the one the apiserver's own deprecation warning suggested ("use …").
    """
    groups = {removed.group, *SUCCESSOR_GROUPS.get(removed.group, ())}
    candidates = [a for (gv, kind), a in target.served.items() if kind == removed.kind and a.group in groups
                  and gv != removed.group_version]
    if not candidates:
        return None
    best = max(candidates, key=lambda a: (_rank(a), a.group_version == removed.suggested, a.group_version))
    return best.group_version


def _minor_of(version: str) -> str:
    m = re.match(r"^v?(\d+)\.(\d+)", version)
    if m is None:
        raise InfraError(f"cannot read a minor version from {version!r}")
    return f"{m.group(1)}.{m.group(2)}"


def _curated_flags(knowledge: Knowledge, component: str) -> set[str]:
    return {name for (t, comp, name) in knowledge.options if t == "flag" and comp == component}


def derive(previous: Path, target: Path, *, workdir: Path, curated: Knowledge | None = None,
           earlier: Sequence[Path] = (), progress: Progress | None = None,
           discoveries: dict[Path, Discovery] | None = None) -> dict[str, Any]:
    """The generated facts of the minor of ``target`` (a directory of binaries) against ``previous``'s.

    Starts one apiserver at a time. ``discoveries`` caches :func:`discover` by directory across calls.
    Candidate gates are those the previous apiserver registers (``/metrics``, complete from 1.26 on) or lists
    in ``--help``, those the ``--help`` of ``earlier`` binaries (older minors) lists, and the curated names;
    candidate flags are those of the previous ``--help`` and the curated ones. Every candidate is then put to
    the binaries themselves.
    """
    progress = progress or NullProgress()
    curated = curated if curated is not None else packaged_knowledge()
    cache = discoveries if discoveries is not None else {}
    for directory, label in ((previous, "previous"), (target, "target")):
        if directory not in cache:
            progress.update(f"starting kube-apiserver in {directory} for its discovery")
            cache[directory] = discover(directory, workdir / label)
    old, new = cache[previous], cache[target]
    prev_minor, minor = _minor_of(old.version), _minor_of(new.version)
    if minor_key(minor) != (minor_key(prev_minor)[0], minor_key(prev_minor)[1] + 1):
        raise InputError(f"{old.version} and {new.version} are not consecutive minors")

    removed_apis = []
    for key in sorted(set(old.served) - set(new.served)):
        api = old.served[key]
        removed_apis.append({
            "group_version": api.group_version, "kind": api.kind, "resource": api.resource,
            "deprecated_in": api.deprecated_in, "removed_in": minor, "replacement": replacement_for(api, new),
        })
    deprecated_apis = []
    for key in sorted(new.served):
        api = new.served[key]
        if api.deprecated_in is not None:
            deprecated_apis.append({
                "group_version": api.group_version, "kind": api.kind, "resource": api.resource,
                "deprecated_in": api.deprecated_in, "removal_announced": api.removal_announced,
                "replacement": api.suggested,
            })

    versions: list[str] = []
    removed_flags: dict[str, list[str]] = {}
    removed_gates: dict[str, list[str]] = {}
    plugins: dict[str, frozenset[str]] = {}
    for comp in COMPONENTS:
        old_bin, new_bin = previous / comp, target / comp
        versions += [f"{comp} {binary_version(old_bin)}", f"{comp} {binary_version(new_bin)}"]
        progress.update(f"probing the flags and feature gates of {comp} {prev_minor} and {minor}")
        old_help, new_help = help_of(old_bin), help_of(new_bin)
        if comp == "kube-apiserver":
            plugins = {"old": old_help.admission_plugins, "new": new_help.admission_plugins}
        flag_candidates = old_help.flags | _curated_flags(curated, comp)
        old_flags = flag_candidates - refused_flags(old_bin, flag_candidates - old_help.flags)
        removed_flags[comp] = sorted(refused_flags(new_bin, old_flags - new_help.flags))
        gate_candidates = old.gates | old_help.gates | {n for (t, _, n) in curated.options if t == "feature-gate"}
        for directory in earlier:
            gate_candidates |= help_of(directory / comp).gates
        old_gates = gate_candidates - refused_gates(old_bin, gate_candidates)
        removed_gates[comp] = sorted(refused_gates(new_bin, old_gates))
    return {
        "schema": SCHEMA,
        "minor": minor,
        "previous": prev_minor,
        "generated_from": versions,
        # "registry": the previous apiserver listed every gate it knows (/metrics, 1.26 and later); "help": only
        # its alpha and beta gates, the older minors' and the curated ones could be tried (GA gates may be missed).
        "previous_gates_from": "registry" if old.gates else "help",
        "removed_apis": removed_apis,
        "deprecated_apis": deprecated_apis,
        "removed_flags": removed_flags,
        "removed_feature_gates": removed_gates,
        "removed_admission_plugins": sorted(plugins.get("old", frozenset()) - plugins.get("new", frozenset())),
    }


_HEADER = """\
# Generated by `make generate-knowledge` (scripts/generate_knowledge.py, harness/knowledge/generate.py) from the
# real binaries of Kubernetes {previous} and {minor}: the kube-apiserver's discovery and deprecation warnings, and
# what kube-apiserver, kube-controller-manager and kube-scheduler refuse on their command line. Facts only; do
# not edit (regenerate). Fixes in plain words are hand-curated in ../fixes.yaml.
"""


class _Dumper(yaml.SafeDumper):
    """Block style, no aliases, lists indented under their key."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _quoted(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = '"' if MINOR_RE.match(data) else None  # "1.28" must not be read back as a float
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _quoted)


def render_document(doc: Mapping[str, Any]) -> str:
    """The generated file's text: a header comment and the facts in a stable order."""
    body = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
    return _HEADER.format(previous=doc["previous"], minor=doc["minor"]) + body


# ---- reading the generated files --------------------------------------------------------------------------------

def generated_dir() -> Path:
    """The packaged ``harness/data/knowledge/generated`` directory."""
    return Path(str(resources.files("harness.data").joinpath("knowledge").joinpath("generated")))


def _check_doc(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"generated knowledge {where}: not a {SCHEMA} document")
    if doc.get("previous_gates_from") not in ("registry", "help"):
        raise InputError(f"generated knowledge {where}: field 'previous_gates_from': expected registry or help")
    for name in ("minor", "previous"):
        if not isinstance(doc.get(name), str) or not MINOR_RE.match(doc[name]):
            raise InputError(f"generated knowledge {where}: field '{name}': expected a quoted minor like \"1.28\"")
    for name in ("removed_apis", "deprecated_apis", "removed_admission_plugins", "generated_from"):
        if not isinstance(doc.get(name), list):
            raise InputError(f"generated knowledge {where}: field '{name}': expected a list")
    for name in ("removed_flags", "removed_feature_gates"):
        value = doc.get(name)
        if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
            raise InputError(f"generated knowledge {where}: field '{name}': expected lists by component")
    for i, api in enumerate(doc["removed_apis"]):
        if not (isinstance(api, dict) and GROUP_VERSION_RE.match(str(api.get("group_version", "")))
                and KIND_RE.match(str(api.get("kind", ""))) and api.get("removed_in") == doc["minor"]):
            raise InputError(f"generated knowledge {where}: removed_apis[{i}] is malformed")
    return doc


def load_generated(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every generated document in ``directory`` (default: the packaged one), oldest minor first."""
    directory = directory if directory is not None else generated_dir()
    if not directory.is_dir():
        return []
    docs = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            doc = yaml.load(path.read_bytes(), Loader=_LOADER)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise InputError(f"generated knowledge {path}: cannot be read: {e}") from e
        docs.append(_check_doc(doc, str(path)))
    return sorted(docs, key=lambda d: minor_key(d["minor"]))


def _source(doc: Mapping[str, Any]) -> str:
    apiserver = [v.split(" ", 1)[1] for v in doc["generated_from"] if str(v).startswith("kube-apiserver ")]
    return "generated from " + (" and ".join(apiserver) if apiserver else f"{doc['previous']} and {doc['minor']}")


def merge_generated(knowledge_dir: Path | None = None) -> list[RemovedApi | RemovedOption]:
    """The entries of the generated files under ``knowledge_dir`` (a knowledge directory holding ``generated/``,
    or the ``generated`` directory itself; default: the packaged one), as knowledge entries.

    A removed API's ``deprecated_in`` is the one its last serving apiserver announced, else the minor before its
    removal; a gate removed from several components is one entry naming them all.
    """
    directory = knowledge_dir
    if directory is not None and (directory / "generated").is_dir():
        directory = directory / "generated"
    entries: list[RemovedApi | RemovedOption] = []
    for doc in load_generated(directory):
        source = _source(doc)
        for api in doc["removed_apis"]:
            entries.append(RemovedApi(
                group_version=api["group_version"], kind=api["kind"], resource=api["resource"],
                deprecated_in=api.get("deprecated_in") or doc["previous"], removed_in=doc["minor"],
                replacement=api.get("replacement"), source=source))
        for option_type, field in (("flag", "removed_flags"), ("feature-gate", "removed_feature_gates")):
            by_name: dict[str, list[str]] = {}
            for comp, names in sorted(doc[field].items()):
                for name in names:
                    by_name.setdefault(str(name), []).append(str(comp))
            for name, comps in sorted(by_name.items()):
                if option_type == "feature-gate" and not GATE_RE.match(name):
                    raise InputError(f"generated knowledge for {doc['minor']}: {name!r} is not a feature gate name")
                entries.append(RemovedOption(
                    type="flag" if option_type == "flag" else "feature-gate", name=name, components=tuple(comps),
                    removed_in=doc["minor"], replacement=None, note="", source=source))
    return entries


def with_generated(knowledge: Knowledge, entries: Sequence[RemovedApi | RemovedOption] | None = None) -> Knowledge:
    """``knowledge`` plus the generated ``entries`` (default: the packaged ones) it has no entry for.

    Curated and user entries keep precedence: they carry the guide's replacement, a note and a source link.
    """
    entries = merge_generated() if entries is None else entries
    apis = dict(knowledge.apis)
    options = dict(knowledge.options)
    for e in entries:
        if isinstance(e, RemovedApi):
            apis.setdefault(e.key, e)
        else:
            for comp in e.components:
                options.setdefault((e.type, comp, e.name), e)
    return Knowledge(apis=MappingProxyType(apis), fixes=knowledge.fixes, options=MappingProxyType(options),
                     addons=knowledge.addons)


@functools.cache
def removed_admission_plugins(knowledge_dir: Path | None = None) -> Mapping[str, str]:
    """Admission plugin → the minor whose kube-apiserver no longer has it (from the generated files)."""
    directory = knowledge_dir
    if directory is not None and (directory / "generated").is_dir():
        directory = directory / "generated"
    out: dict[str, str] = {}
    for doc in load_generated(directory):
        for name in doc["removed_admission_plugins"]:
            out.setdefault(str(name), doc["minor"])
    return MappingProxyType(out)
