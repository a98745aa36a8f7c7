"""Scenarios: named rehearsals as data (``scenarios/*.yaml``, ``schema: rehearse/scenario/v1``).

A scenario names default versions, the cluster to mirror (nodes, control-plane flags), what to install
(manifests, Helm release records, or a snapshot file) and its own smoke checks. Loading turns it into the same
:class:`~harness.snapshot.model.Snapshot` that ``rehearse snapshot`` writes, so a rehearsal always starts from
a snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.manifests import find_manifests, list_items, read_documents
from harness.snapshot.model import ControlPlane, HelmRelease, NodeInfo, Snapshot

SCHEMA = "rehearse/scenario/v1"
CHECK_TYPES = ("wait", "exists", "absent", "apply", "http", "exec", "pytest")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9./_-]*$")


@dataclass(frozen=True)
class CheckSpec:
    """A scenario check, as data."""

    id: str
    type: str
    description: str = ""
    timeout: float = 60.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    """A loaded scenario."""

    name: str
    path: Path
    description: str
    from_version: str | None
    to_version: str | None
    snapshot: Snapshot
    checks: list[CheckSpec]
    expect: dict[str, Any] = field(default_factory=dict)


def bundled_dir() -> Path:
    """The ``scenarios/`` directory shipped with the package (or next to it in a checkout)."""
    packaged = Path(str(resources.files("harness"))) / "scenarios"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "scenarios"


def list_scenarios() -> list[Path]:
    return sorted(bundled_dir().glob("*.yaml"))


def find(name_or_path: str) -> Path:
    """A scenario file by name (``default``) or path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        if not p.is_file():
            raise InputError(f"scenario file {name_or_path!r} does not exist")
        return p
    candidate = bundled_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        names = ", ".join(s.stem for s in list_scenarios())
        raise InputError(f"unknown scenario {name_or_path!r}: choose from {names}")
    return candidate


class _Reader:
    """Typed field access that names file and field in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> InputError:
        return InputError(f"{self.path}: {where}: {problem}")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        return value

    def seq(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def text(self, value: Any, where: str, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self.fail(where, f"expected a string, got {value!r}")
        return str(value)


def _read_yaml_docs(path: Path) -> list[Any]:
    """The non-empty YAML documents of a file."""
    return [d for d in read_documents(path) if d is not None]


def load_manifests(path: Path) -> list[dict[str, Any]]:
    """Every Kubernetes object in the YAML files under ``path`` (read by :mod:`harness.manifests`' rule, ``List``
    kinds flattened); each needs an apiVersion, a kind and a name."""
    objects: list[dict[str, Any]] = []
    for f in find_manifests(path).files:
        for i, doc in enumerate(_read_yaml_docs(f)):
            items = list_items(doc) if isinstance(doc, dict) else None
            for obj in [doc] if items is None else items:
                if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
                    raise InputError(f"{f}: document {i + 1}: not a Kubernetes object (apiVersion and kind needed)")
                if not (obj.get("metadata") or {}).get("name"):
                    raise InputError(f"{f}: document {i + 1}: {obj['kind']} has no metadata.name")
                objects.append(obj)
    return objects


def _helm_release(r: _Reader, raw: Any, where: str) -> HelmRelease:
    m = r.mapping(raw, where)
    for key in ("name", "namespace", "chart", "chart_version"):
        if not m.get(key):
            raise r.fail(f"{where}.{key}", "required")
    revision = m.get("revision", 1)
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise r.fail(f"{where}.revision", f"expected an integer, got {revision!r}")
    values = m.get("values") or {}
    r.mapping(values, f"{where}.values")
    return HelmRelease(
        name=r.text(m["name"], f"{where}.name"), namespace=r.text(m["namespace"], f"{where}.namespace"),
        chart=r.text(m["chart"], f"{where}.chart"), chart_version=r.text(m["chart_version"], f"{where}.chart_version"),
        app_version=r.text(m.get("app_version"), f"{where}.app_version", ""),
        status=r.text(m.get("status"), f"{where}.status", "deployed"), revision=revision,
        storage=r.text(m.get("storage"), f"{where}.storage", "secret"), values=values,
        manifest=r.text(m.get("manifest"), f"{where}.manifest", ""),
        kube_version=r.text(m.get("kube_version"), f"{where}.kube_version", ""),
        description=r.text(m.get("description"), f"{where}.description", ""),
    )


def _check(r: _Reader, raw: Any, where: str) -> CheckSpec:
    m = dict(r.mapping(raw, where))
    cid = r.text(m.pop("id", None), f"{where}.id")
    if not _ID_RE.match(cid):
        raise r.fail(f"{where}.id", f"{cid!r} is not a valid check id ([a-z0-9./_-])")
    ctype = r.text(m.pop("type", None), f"{where}.type")
    if ctype not in CHECK_TYPES:
        raise r.fail(f"{where}.type", f"{ctype!r} is not one of {', '.join(CHECK_TYPES)}")
    timeout = m.pop("timeout", 60)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise r.fail(f"{where}.timeout", f"expected a positive number of seconds, got {timeout!r}")
    description = r.text(m.pop("description", None), f"{where}.description", "")
    needs = {"wait": ("object", "condition"), "exists": ("object",), "absent": ("object",),
             "apply": ("manifest", "expect"), "http": ("service",), "exec": ("pod", "command"), "pytest": ("file",)}
    for key in needs[ctype]:
        if key not in m:
            raise r.fail(f"{where}.{key}", f"required for a {ctype} check")
    if ctype == "apply" and m["expect"] not in ("success", "failure"):
        raise r.fail(f"{where}.expect", f"expected success or failure, got {m['expect']!r}")
    if "object" in m:
        obj = r.mapping(m["object"], f"{where}.object")
        for key in ("apiVersion", "kind", "name"):
            if not obj.get(key):
                raise r.fail(f"{where}.object.{key}", "required")
    return CheckSpec(id=cid, type=ctype, description=description, timeout=float(timeout), params=m)


def _nodes(r: _Reader, raw: Any) -> list[NodeInfo]:
    nodes = []
    for i, n in enumerate(r.seq(raw, "nodes")):
        m = r.mapping(n, f"nodes[{i}]")
        name = r.text(m.get("name"), f"nodes[{i}].name")
        taints = [r.mapping(t, f"nodes[{i}].taints[{j}]") for j, t in enumerate(r.seq(m.get("taints"), "taints"))]
        nodes.append(NodeInfo(
            name=name, kubelet_version="", labels={str(k): str(v) for k, v in (m.get("labels") or {}).items()},
            taints=[{str(k): str(v) for k, v in t.items()} for t in taints],
            capacity={str(k): str(v) for k, v in (m.get("capacity") or {}).items()},
            control_plane=bool(m.get("control_plane", False)),
        ))
    return nodes


def load_scenario(name_or_path: str) -> Scenario:
    """Load and validate a scenario; every problem raises InputError naming file, field and problem."""
    from harness import snapshot as snapshot_io
    from harness.snapshot.addons import WORKLOAD_KINDS, identify

    path = find(name_or_path)
    r = _Reader(path)
    docs = _read_yaml_docs(path)
    if len(docs) != 1:
        raise r.fail("document", f"expected one YAML document, found {len(docs)}")
    doc = r.mapping(docs[0], "document")
    if doc.get("schema") != SCHEMA:
        raise r.fail("schema", f"expected {SCHEMA!r}, got {doc.get('schema')!r}")
    name = r.text(doc.get("name"), "name", path.stem)
    base = path.parent
    if doc.get("snapshot"):
        snap = snapshot_io.load(base / r.text(doc["snapshot"], "snapshot"))
    else:
        objects: list[dict[str, Any]] = []
        for i, p in enumerate(r.seq(doc.get("manifests"), "manifests")):
            target = base / r.text(p, f"manifests[{i}]")
            if not target.exists():
                raise r.fail(f"manifests[{i}]", f"{p} does not exist (relative to the scenario file)")
            objects += load_manifests(target)
        releases = []
        for i, p in enumerate(r.seq(doc.get("helm_releases"), "helm_releases")):
            rel_path = base / r.text(p, f"helm_releases[{i}]")
            if not rel_path.is_file():
                raise r.fail(f"helm_releases[{i}]", f"{p} does not exist (relative to the scenario file)")
            rel_docs = _read_yaml_docs(rel_path)
            if len(rel_docs) != 1:
                raise InputError(f"{rel_path}: expected one Helm release record")
            releases.append(_helm_release(_Reader(rel_path), rel_docs[0], "release"))
        cp_raw = r.mapping(doc.get("control_plane") or {}, "control_plane")
        gates = r.mapping(cp_raw.get("feature_gates") or {}, "control_plane.feature_gates")
        control_plane = ControlPlane(
            visible=bool(cp_raw), source="scenario",
            apiserver_args=[str(a) for a in r.seq(cp_raw.get("apiserver_args"), "control_plane.apiserver_args")],
            controller_manager_args=[str(a) for a in r.seq(cp_raw.get("controller_manager_args"),
                                                           "control_plane.controller_manager_args")],
            scheduler_args=[str(a) for a in r.seq(cp_raw.get("scheduler_args"), "control_plane.scheduler_args")],
            feature_gates={str(k): bool(v) for k, v in gates.items()},
        )
        snap = Snapshot(server_version="", nodes=_nodes(r, doc.get("nodes")), control_plane=control_plane,
                        helm_releases=releases, objects=objects, source={"scenario": name})
        # The add-ons a snapshot of this cluster would list, so plans check their supported ranges too.
        snap.addons = identify(releases, [o for o in objects if o.get("kind") in WORKLOAD_KINDS])
    checks = [_check(r, c, f"checks[{i}]") for i, c in enumerate(r.seq(doc.get("checks"), "checks"))]
    ids = [c.id for c in checks]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise r.fail("checks", f"duplicate check id {dupes[0]!r}")
    return Scenario(
        name=name, path=path, description=r.text(doc.get("description"), "description", ""),
        from_version=r.text(doc["from"], "from") if doc.get("from") is not None else None,
        to_version=r.text(doc["to"], "to") if doc.get("to") is not None else None,
        snapshot=snap, checks=checks, expect=r.mapping(doc.get("expect") or {}, "expect"),
    )
