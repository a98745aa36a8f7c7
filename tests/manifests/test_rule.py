"""The one rule for reading manifests (``harness.manifests``), shared by ``plan`` and scenario loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InputError
from harness.manifests import (
    HelmChart,
    NotYaml,
    find_manifests,
    last_applied,
    list_items,
    parse_documents,
    read_documents,
)
from harness.scenario import load_manifests

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"


def _tree(root: Path) -> None:
    files = {
        "b.yaml": CONFIGMAP.format(name="b"),
        "a.yml": CONFIGMAP.format(name="a"),
        ".hidden.yaml": CONFIGMAP.format(name="hidden"),
        "notes.txt": "not a manifest",
        "README.md": "apiVersion: v1\n",
        "apps/z.yaml": CONFIGMAP.format(name="z"),
        ".git/old.yaml": CONFIGMAP.format(name="git"),
        "chart/Chart.yaml": "apiVersion: v2\nname: chart\nversion: 1.0.0\nkubeVersion: '>=1.20.0-0'\n",
        "chart/values.yaml": "replicas: 1\n",
        "chart/templates/deployment.yaml": "kind: {{ .Values.kind }}\n",
        "chart/templates/_helpers.tpl": "{{- define \"x\" -}}{{- end -}}\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def test_a_directory_is_walked_files_first_hidden_directories_and_chart_templates_left_out(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = find_manifests(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found.files] == [
        ".hidden.yaml", "a.yml", "b.yaml", "apps/z.yaml", "chart/Chart.yaml", "chart/values.yaml"]
    assert found.charts == [HelmChart(tmp_path / "chart", 2, ">=1.20.0-0")]


def test_a_file_is_read_as_given_unless_it_is_a_chart_template(tmp_path: Path) -> None:
    _tree(tmp_path)
    assert find_manifests(tmp_path / "notes.txt").files == [tmp_path / "notes.txt"]
    assert find_manifests(tmp_path / "chart" / "templates" / "deployment.yaml").files == []
    with pytest.raises(InputError, match="does not exist"):
        find_manifests(tmp_path / "missing")


def test_documents_are_kept_as_parsed_and_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("---\napiVersion: v1\n---\n---\n- 1\n", encoding="utf-8")
    assert read_documents(path) == [{"apiVersion": "v1"}, None, [1]]
    path.write_text("a: 1\nb: [\n", encoding="utf-8")
    with pytest.raises(NotYaml, match=r"x\.yaml: not valid YAML \(line \d+") as bad:
        read_documents(path)
    assert not bad.value.template
    path.write_bytes(b"a: caf\xe9\xff\n")
    with pytest.raises(NotYaml, match=r"x\.yaml"):
        read_documents(path)
    with pytest.raises(NotYaml) as template:
        parse_documents("kind: {{ .Values.kind }}\nx: [\n", "t")
    assert template.value.template


def test_list_documents_stand_for_their_items() -> None:
    assert list_items({"kind": "ConfigMapList", "items": [{"a": 1}]}) == [{"a": 1}]
    assert list_items({"kind": "List", "items": "nonsense"}) == []
    assert list_items({"kind": "ConfigMap"}) is None
    assert list_items({"kind": ["List"]}) is None


def test_last_applied() -> None:
    obj = {"metadata": {"annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion": "batch/v1beta1"}'}}}
    assert last_applied(obj) == {"apiVersion": "batch/v1beta1"}
    assert last_applied({"metadata": {"annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "not json"}}}) is None
    assert last_applied({"metadata": None}) is None


def test_scenario_manifests_follow_the_same_rule(tmp_path: Path) -> None:
    for name, text in {"b.yaml": CONFIGMAP.format(name="b"), "apps/z.yaml": CONFIGMAP.format(name="z"),
                       ".git/broken.yaml": "not: [valid\n", "list.yaml": "apiVersion: v1\nkind: List\nitems:\n"
                       "- " + CONFIGMAP.format(name="item").replace("\n", "\n  ")}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert [o["metadata"]["name"] for o in load_manifests(tmp_path)] == ["b", "item", "z"]
