"""The plan's pre-scan of manifest files (harness.plan._prescan): it parses only the documents a rule needs and
never changes what a plan finds — compared with parsing every document, on the manifest corpus, on the 1,000-file
corpus `make bench` generates, and on documents chosen to defeat it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from harness.knowledge import Knowledge
from harness.manifests import NotYaml, read_documents
from harness.plan import apis, plan
from harness.plan._prescan import read_needed, scan
from harness.report.model import Report
from harness.versions import catalogue
from tests.plan._corpus import CORPUS, ROOT

CAT = catalogue()


def _bench_plan() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_plan", ROOT / "scripts" / "bench_plan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plan(path: Path, knowledge: Knowledge, source: str = "1.24", target: str = "1.32") -> Report:
    return plan(CAT.resolve(source), CAT.resolve(target), snapshot=None, manifest_paths=[path], knowledge=knowledge)


def _same_plan(path: Path, knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch) -> Report:
    """The plan with the pre-scan, after asserting it equals the plan that parses every document."""
    with monkeypatch.context() as m:
        m.setattr(apis, "read_needed", lambda p, wanted: read_documents(p))
        full = _plan(path, knowledge)
    fast = _plan(path, knowledge)
    assert fast.findings == full.findings
    assert fast.notes == full.notes
    assert fast.phases[0].details == full.phases[0].details  # files and documents counted alike
    return fast


def test_the_manifest_corpus_plans_alike(knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _same_plan(CORPUS, knowledge, monkeypatch)
    assert len(report.findings) == 59


def test_the_bench_corpus_plans_alike_and_is_read_by_the_short_cut(
        tmp_path: Path, knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench_plan()
    answers = bench.make_corpus(tmp_path, 1000, bench.planned_apis(knowledge.apis.values()))
    report = _same_plan(tmp_path, knowledge, monkeypatch)
    found = {(f.object.apiVersion, f.object.kind, f.object.namespace or "", f.object.name) for f in report.findings}
    assert found == answers
    wanted = {(a.group_version, a.kind) for a in knowledge.apis.values()}
    files = sorted(tmp_path.rglob("*.y*ml"))
    scans = [scan(p.read_bytes(), wanted) for p in files]
    assert all(s is not None for s in scans), "a generated file left the short cut: the bench measures nothing"
    parsed = sum(needed for s in scans if s is not None for _, _, needed in s)
    assert parsed == len(answers)  # only the documents of removed APIs were parsed


WANTED = {("batch/v1beta1", "CronJob"), ("policy/v1beta1", "PodSecurityPolicy")}
CRON = "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: c}\n"
CASES = {
    "plain": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n---\n{CRON}",
    "comment first, empty documents": f"# header\n---\n---\n{CRON}---\n# only a comment\n---\n",
    "no trailing newline": "apiVersion: v1\nkind: ConfigMap\n---",
    "sequence at column 0": "apiVersion: v1\nkind: Pod\nitems:\n- a\n- b\n",
    "anchors and aliases": "apiVersion: v1\nkind: ConfigMap\ndata: &d {a: b}\nother: *d\n",
    "undefined alias": "apiVersion: v1\nkind: ConfigMap\ndata: *nothing\n",
    "unknown tag": "apiVersion: v1\nkind: ConfigMap\ndata: !vault secret/x\n",
    "tag on a document": "--- !!map\napiVersion: batch/v1beta1\nkind: CronJob\n",
    "bad merge key": "apiVersion: v1\nkind: ConfigMap\ndata:\n  <<: 5\n",
    "flow key": "apiVersion: v1\nkind: ConfigMap\ndata:\n  [a, b]: c\n",
    "explicit key": "apiVersion: v1\nkind: ConfigMap\ndata:\n  ? [a]\n  : c\n",
    "quoted type keys": "apiVersion: v1\nkind: ConfigMap\n\"kind\": CronJob\n'apiVersion': batch/v1beta1\n",
    "duplicate kind": "apiVersion: batch/v1beta1\nkind: ConfigMap\nkind: CronJob\nmetadata: {name: d}\n",
    "kind continued into a List": "apiVersion: v1\nkind: Pod\n  List\nitems:\n- " + "{apiVersion: batch/v1beta1, "
                                  "kind: CronJob, metadata: {name: e}}\n",
    "list kind": "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: batch/v1beta1, kind: CronJob}\n",
    "quoted values": "apiVersion: \"batch/v1beta1\"\nkind: 'CronJob'\nmetadata: {name: f}\n",
    "value on the next line": "apiVersion:\n  batch/v1beta1\nkind: CronJob\n",
    "block scalar document": "--- |\n  apiVersion: batch/v1beta1\n",
    "flow mapping document": "{apiVersion: batch/v1beta1, kind: CronJob}\n",
    "indented root": "  apiVersion: batch/v1beta1\n  kind: CronJob\n",
    "document end": f"{CRON}...\n---\napiVersion: v1\nkind: ConfigMap\n",
    "directive": f"%YAML 1.1\n---\n{CRON}",
    "carriage returns": CRON.replace("\n", "\r\n"),
    "byte-order mark": "\ufeff" + CRON,
    "a scalar document": "just text\n---\n" + CRON,
    "template": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n",
    "flow mapping as a key in a sequence": "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: [{b: 1}: c]\n",
    "flow sequence as a key in a flow mapping": "apiVersion: v1\nkind: ConfigMap\ndata: {a: 1, [b]: 2}\n",
    "nested flow data": "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: b}]}\n---\n" + CRON,
    "not YAML": "apiVersion: v1\nkind: [ConfigMap\n",
    "tab indentation": "apiVersion: v1\nkind: ConfigMap\ndata:\n\ta: b\n",
    "cron schedule and shell": "apiVersion: batch/v1\nkind: CronJob\nspec:\n  schedule: \"0 3 * * *\"\n"
                               "  script: |\n    #!/bin/sh\n    a && b\n",
    "document separator in a quoted scalar": "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"x\n---\n  y\"\n",
}


def _outcome(read: Any, path: Path) -> Any:
    try:
        return read(path)
    except NotYaml as e:
        return f"NotYaml: {e} (template: {e.template})"


@pytest.mark.parametrize("name", list(CASES))
def test_each_document_is_parsed_or_left_as_the_full_parse_allows(tmp_path: Path, name: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(CASES[name].encode("utf-8"))
    full = _outcome(read_documents, path)
    fast = _outcome(lambda p: read_needed(p, WANTED), path)
    if isinstance(full, str) or isinstance(fast, str):
        assert fast == full
        return
    assert len(fast) == len(full)
    for mine, theirs in zip(fast, full, strict=True):
        if mine == {} and theirs != {}:  # left unparsed: only a mapping no rule reads may be
            assert isinstance(theirs, dict)
            kind = theirs.get("kind")
            assert (theirs.get("apiVersion"), kind) not in WANTED
            assert not (isinstance(kind, str) and kind.endswith("List"))
        else:
            assert mine == theirs


def test_not_utf8_is_refused_alike(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"apiVersion: v1\nkind: ConfigMap\ndata: {a: caf\xe9}\n")
    with pytest.raises(NotYaml) as full:
        read_documents(path)
    with pytest.raises(NotYaml) as fast:
        read_needed(path, WANTED)
    assert str(fast.value) == str(full.value)


def test_the_short_cut_is_taken_for_plain_manifests() -> None:
    data = f"# a\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n---\n{CRON}---\n".encode()
    assert scan(data, WANTED) == [(0, 55, False), (59, 119, True), (-1, -1, False)]
    assert data[59:119].decode() == CRON
