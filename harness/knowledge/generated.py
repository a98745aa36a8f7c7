"""The facts generated from the real binaries (``harness/data/knowledge/generated/<minor>.yaml``, written by
:mod:`harness.knowledge.derive`), read back: :func:`merge_generated` turns the files into
:class:`~harness.knowledge.model.RemovedApi` / :class:`~harness.knowledge.model.RemovedOption` entries,
:func:`with_generated` adds them to a :class:`~harness.knowledge.model.Knowledge` where the curated data has no
entry, and :func:`removed_admission_plugins` says which minor dropped each admission plugin.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from harness.errors import InputError
from harness.knowledge._load import GATE_RE, GROUP_VERSION_RE, KIND_RE, MINOR_RE, minor_key
from harness.knowledge.model import Knowledge, OptionType, RemovedApi, RemovedOption
from harness.manifests import YAML_LOADER

SCHEMA = "rehearse/knowledge-generated/v2"
SCHEMAS = ("rehearse/knowledge-generated/v1", SCHEMA)  # v1: binaries only, control-plane components


def generated_dir() -> Path:
    """The packaged ``harness/data/knowledge/generated`` directory."""
    return Path(str(resources.files("harness.data").joinpath("knowledge").joinpath("generated")))


def _check_doc(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("schema") not in SCHEMAS:
        raise InputError(f"generated knowledge {where}: not a {SCHEMA} (or v1) document")
    for name in ("minor", "previous"):
        if not isinstance(doc.get(name), str) or not MINOR_RE.match(doc[name]):
            raise InputError(f"generated knowledge {where}: field '{name}': expected a quoted minor like \"1.28\"")
    for name in ("removed_apis", "deprecated_apis", "removed_admission_plugins", "generated_from"):
        if not isinstance(doc.get(name), list):
            raise InputError(f"generated knowledge {where}: field '{name}': expected a list")
    by_component = ["removed_flags", "removed_feature_gates"]
    if doc["schema"] == SCHEMA:
        by_component.append("removed_config_fields")
        if not isinstance(doc.get("methods"), dict) or not isinstance(doc.get("compared"), dict):
            raise InputError(f"generated knowledge {where}: fields 'methods' and 'compared' must be mappings")
    for name in by_component:
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
            doc = yaml.load(path.read_bytes(), Loader=YAML_LOADER)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise InputError(f"generated knowledge {path}: cannot be read: {e}") from e
        docs.append(_check_doc(doc, str(path)))
    return sorted(docs, key=lambda d: minor_key(d["minor"]))


def _generated_in(knowledge_dir: Path | None) -> Path | None:
    """The ``generated`` directory of a knowledge directory, or ``knowledge_dir`` itself when it has none (it may
    be the ``generated`` directory); None (the packaged one) stays None."""
    if knowledge_dir is not None and (knowledge_dir / "generated").is_dir():
        return knowledge_dir / "generated"
    return knowledge_dir


def _patches(doc: Mapping[str, Any], method: str) -> str:
    """``v1.24.17 and v1.25.15``: the patches a list of ``doc`` was derived from with ``method``."""
    compared = doc.get("compared") or {}
    if method == "source":
        found = [f"v{p['version']}" for p in compared.get("source", [])]
    else:
        found = [v.split(" ", 1)[1] for v in doc["generated_from"] if str(v).startswith("kube-apiserver ")]
    return " and ".join(found) if found else f"{doc['previous']} and {doc['minor']}"


def _source(doc: Mapping[str, Any], field: str | None = None, component: str | None = None) -> str:
    """Where a generated fact comes from: ``generated from v1.24.17 and v1.25.15`` (the binaries), or with its
    method when the document records one (``generated (source) from v1.30.14 and v1.31.14``)."""
    methods = doc.get("methods") or {}
    method = methods.get(field) if field else None
    if isinstance(method, dict):
        method = method.get(component)
    if not isinstance(method, str):
        return "generated from " + _patches(doc, "binary")
    return f"generated ({method}) from " + _patches(doc, "source" if method == "source" else "binary")


_OPTION_FIELDS: tuple[tuple[OptionType, str], ...] = (
    ("flag", "removed_flags"), ("feature-gate", "removed_feature_gates"), ("config-field", "removed_config_fields"))


def merge_generated(knowledge_dir: Path | None = None) -> list[RemovedApi | RemovedOption]:
    """The entries of the generated files under ``knowledge_dir`` (a knowledge directory holding ``generated/``,
    or the ``generated`` directory itself; default: the packaged one), as knowledge entries.

    A removed API's ``deprecated_in`` is the one its last serving apiserver announced, else the minor before its
    removal; a flag, gate or field removed from several components by the same method is one entry naming them.
    """
    entries: list[RemovedApi | RemovedOption] = []
    for doc in load_generated(_generated_in(knowledge_dir)):
        source = _source(doc, "removed_apis")
        for api in doc["removed_apis"]:
            entries.append(RemovedApi(
                group_version=api["group_version"], kind=api["kind"], resource=api["resource"],
                deprecated_in=api.get("deprecated_in") or doc["previous"], removed_in=doc["minor"],
                replacement=api.get("replacement"), source=source))
        for option_type, field in _OPTION_FIELDS:
            by_name: dict[tuple[str, str], list[str]] = {}
            for comp, names in sorted((doc.get(field) or {}).items()):
                for name in names:
                    by_name.setdefault((str(name), _source(doc, field, str(comp))), []).append(str(comp))
            for (name, where), comps in sorted(by_name.items()):
                if option_type == "feature-gate" and not GATE_RE.match(name):
                    raise InputError(f"generated knowledge for {doc['minor']}: {name!r} is not a feature gate name")
                entries.append(RemovedOption(
                    type=option_type, name=name, components=tuple(comps), removed_in=doc["minor"],
                    replacement=None, note="", source=where))
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
                     addons=knowledge.addons, notices=knowledge.notices)


@functools.cache
def removed_admission_plugins(knowledge_dir: Path | None = None) -> Mapping[str, str]:
    """Admission plugin → the minor whose kube-apiserver no longer has it (from the generated files)."""
    out: dict[str, str] = {}
    for doc in load_generated(_generated_in(knowledge_dir)):
        for name in doc["removed_admission_plugins"]:
            out.setdefault(str(name), doc["minor"])
    return MappingProxyType(out)
