"""Manifest files: which YAML files a path names, the documents they hold, and the objects in those documents.

One rule for every reader of manifests (``rehearse plan --manifests``, a scenario's ``manifests:``):

- A path that is a file is read as given, unless it lies under ``templates/`` of a Helm chart (a directory that
  holds ``Chart.yaml``); a path that does not exist is an :class:`~harness.errors.InputError`.
- A directory is walked top-down, a directory's files before its subdirectories, each sorted by name. Files whose
  name ends in ``.yaml`` or ``.yml`` are read, hidden ones (``.name.yaml``) included; directories whose name starts
  with ``.`` (``.git``, ``.github``) are not entered.
- The ``templates/`` directory of a Helm chart met in the walk is not read: Go templates are not YAML as written.
  The chart is listed instead (its directory, how many template files it has, its ``kubeVersion``).
- A file is a stream of YAML documents, every one kept as parsed (an empty document as ``None``, so that
  "document N" counts every document of the file). Bytes that are not YAML (or not UTF-8) raise
  :class:`NotYaml`, naming file and line; :attr:`NotYaml.template` says whether the text holds ``{{``, the mark of
  a template that only a renderer turns into YAML.
- A document whose ``kind`` ends in ``List`` stands for its ``items`` (none when ``items`` is not a list).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError

__all__ = ["LAST_APPLIED", "MANIFEST_SUFFIXES", "HelmChart", "ManifestFiles", "NotYaml", "find_manifests",
           "last_applied", "list_items", "parse_documents", "read_documents"]

MANIFEST_SUFFIXES = (".yaml", ".yml")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# The C loader when PyYAML was built with libyaml: several times faster than the pure-Python one.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: several times faster


class NotYaml(InputError):
    """Text that is not valid YAML: ``where``, the ``problem`` (with its line) and whether it is a ``template``."""

    def __init__(self, where: str, problem: str, *, template: bool) -> None:
        super().__init__(f"{where}: not valid YAML ({problem})")
        self.where, self.problem, self.template = where, problem, template


@dataclass(frozen=True)
class HelmChart:
    """A Helm chart met in a directory walk, whose templates were not read."""

    path: Path
    templates: int  # template files (*.yaml, *.yml, *.tpl) under templates/
    kube_version: str  # the kubeVersion of its Chart.yaml, "" when it has none


@dataclass
class ManifestFiles:
    """What a manifest path names: the YAML files to read, in order, and the Helm charts left out."""

    files: list[Path] = field(default_factory=list)
    charts: list[HelmChart] = field(default_factory=list)


def find_manifests(path: Path) -> ManifestFiles:
    """The YAML files under ``path`` and the Helm charts whose templates are left out (see the module's rule)."""
    if path.is_file():
        return ManifestFiles(files=[] if _in_chart_templates(path) else [path])
    if not path.is_dir():
        raise InputError(f"manifest path {path} does not exist")
    found = ManifestFiles()
    for root, dirs, names in _walk(path):
        directory = Path(root)
        if "Chart.yaml" in names and "templates" in dirs:
            dirs.remove("templates")
            count = sum(1 for _, _, ts in os.walk(directory / "templates") for t in ts
                        if t.endswith(MANIFEST_SUFFIXES) or t.endswith(".tpl"))
            found.charts.append(HelmChart(directory, count, _chart_kube_version(directory)))
        found.files += [directory / n for n in sorted(names) if n.endswith(MANIFEST_SUFFIXES)]
    return found


def read_documents(path: Path) -> list[Any]:
    """Every YAML document of the file ``path``; :class:`NotYaml` or :class:`InputError` when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    return parse_documents(data, str(path))


def parse_documents(data: str | bytes, where: str) -> list[Any]:
    """Every YAML document of ``data``; :class:`NotYaml` naming ``where`` when it is not YAML."""
    try:
        return list(yaml.load_all(data, Loader=YAML_LOADER))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        template = ("{{" in data) if isinstance(data, str) else (b"{{" in data)
        raise NotYaml(where, f"{line}{getattr(e, 'problem', None) or e}", template=template) from e


def list_items(doc: Mapping[str, Any]) -> list[Any] | None:
    """The items of a ``*List`` document (``[]`` when they are not a list); None when ``doc`` is not a list."""
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind.endswith("List"):
        return None
    items = doc.get("items")
    return items if isinstance(items, list) else []


def last_applied(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object as ``kubectl apply`` last wrote it (its last-applied annotation), None when unknown."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _chart_kube_version(chart_dir: Path) -> str:
    try:
        doc = yaml.load((chart_dir / "Chart.yaml").read_bytes(), Loader=YAML_LOADER)
    except (OSError, yaml.YAMLError):
        return ""
    value = doc.get("kubeVersion") if isinstance(doc, dict) else None
    return str(value) if value else ""


def _in_chart_templates(path: Path) -> bool:
    """Whether ``path`` lies under ``templates/`` of a directory holding ``Chart.yaml``."""
    for parent in path.absolute().parents:
        if parent.name == "templates" and (parent.parent / "Chart.yaml").is_file():
            return True
    return False


def _walk(path: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    for root, dirs, names in os.walk(path, onerror=_walk_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield root, dirs, names


def _walk_error(e: OSError) -> None:
    raise InputError(f"{e.filename}: cannot read ({e.strerror or e})")
