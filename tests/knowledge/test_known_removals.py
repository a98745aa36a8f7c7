"""The known-removals corpus (``known_removals.yaml``): gates and flags whose removal is stated in Kubernetes'
own pages, each of which the committed knowledge must hold with the same minor for every component named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.knowledge import Knowledge, packaged_knowledge

CORPUS = Path(__file__).with_name("known_removals.yaml")
ALL = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")


def _corpus() -> dict[str, Any]:
    doc = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _components(entry: dict[str, Any]) -> tuple[str, ...]:
    comps = entry["components"]
    return ALL if comps == "all" else tuple(comps)


@pytest.fixture(scope="module")
def k() -> Knowledge:
    return packaged_knowledge()  # what `rehearse plan` knows: curated, then generated


def test_the_corpus_is_large_and_sourced() -> None:
    removals = _corpus()["removals"]
    assert len(removals) >= 40
    assert {e["type"] for e in removals} == {"feature-gate", "flag"}
    assert all(str(e["source"]).startswith("https://") for e in removals)
    named = {(e["name"], e["removed_in"]) for e in removals}
    for must in (("IPv6DualStack", "1.25"), ("TTLAfterFinished", "1.25"), ("SelectorIndex", "1.25"),
                 ("PodOverhead", "1.26"), ("ServiceLBNodePortControl", "1.26"), ("CSIMigrationAWS", "1.27"),
                 ("CSIMigrationAzureDisk", "1.27"), ("log-dir", "1.26"), ("keep-terminated-pod-volumes", "1.31")):
        assert must in named, must
    assert {c for e in removals for c in _components(e)} == set(ALL)


def test_every_known_removal_is_in_the_committed_knowledge(k: Knowledge) -> None:
    missed = []
    for e in _corpus()["removals"]:
        for comp in _components(e):
            opt = k.options.get((e["type"], comp, e["name"]))
            if opt is None or opt.removed_in != e["removed_in"]:
                found = f"removed in {opt.removed_in}" if opt else "absent"
                missed.append(f"{e['type']} {e['name']} of {comp}: expected removed in {e['removed_in']}, {found} "
                              f"(source: {e['source']})")
    assert not missed, "\n".join(missed)


def test_no_known_non_removal_is_reported_as_one(k: Knowledge) -> None:
    wrong = []
    for e in _corpus()["not_removals"]:
        for comp in _components(e):
            opt = k.options.get((e["type"], comp, e["name"]))
            if opt is not None and opt.removed_in == e["not_removed_in"]:
                wrong.append(f"{e['name']} of {comp} is listed as removed in {e['not_removed_in']} ({e['source']})")
    assert not wrong, "\n".join(wrong)
