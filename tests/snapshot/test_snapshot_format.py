"""The snapshot file: deterministic YAML, validated on load with errors that name file, field and problem; the
CLI turns a broken file, a broken kubeconfig or an unreachable server into one line and exit 2 or 3."""

from __future__ import annotations

import dataclasses
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.snapshot import dump, load, loads
from harness.snapshot.model import (
    Addon,
    ApiUsage,
    ControlPlane,
    CRDInfo,
    HelmRelease,
    NodeInfo,
    Snapshot,
    WebhookInfo,
    WorkloadInfo,
)


def sample() -> Snapshot:
    return Snapshot(
        server_version="v1.28.15",
        nodes=[NodeInfo(name="node-1", kubelet_version="v1.28.15", labels={"pool": "a"},
                        taints=[{"key": "k", "effect": "NoSchedule"}], capacity={"cpu": "4"}),
               NodeInfo(name="control-plane-1", kubelet_version="v1.28.15", control_plane=True)],
        control_plane=ControlPlane(visible=True, source="kubeadm-config", apiserver_args=["--a=b"],
                                   feature_gates={"X": True}, admission_plugins=["PodSecurity"]),
        addons=[Addon(name="coredns", version="v1.10.1", detected_by="image-tag", namespace="kube-system",
                      images=["registry.k8s.io/coredns/coredns:v1.10.1"], workload="Deployment/kube-system/coredns")],
        helm_releases=[
            HelmRelease(name="b", namespace="x", chart="c", chart_version="1.0", app_version="2", status="deployed",
                        revision=3, storage="secret", values={"z": 1, "a": {"password": "<redacted>"}},
                        manifest="---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n"),
            HelmRelease(name="a", namespace="x", chart="c", chart_version="1.0", app_version="2", status="deployed",
                        revision=1, storage="configmap", kube_version=">=1.25.0-0"),
        ],
        crds=[CRDInfo(name="widgets.example.com", group="example.com", kind="Widget", scope="Namespaced",
                      versions=[{"name": "v1", "served": True, "storage": True, "deprecated": False}],
                      stored_versions=["v1"])],
        webhooks=[WebhookInfo(configuration="w", type="validating", name="w.example.com", failure_policy="Fail",
                              timeout_seconds=5, service="ns/svc:443/validate",
                              rules=[{"operations": ["CREATE"], "resources": ["widgets"]}])],
        api_services=[{"name": "v1beta1.metrics.k8s.io", "group": "metrics.k8s.io", "version": "v1beta1",
                       "service": "kube-system/metrics-server:443", "local": False}],
        workloads=[WorkloadInfo(kind="Deployment", namespace="a", name="web", images=["nginx:1.25"], replicas=2)],
        api_usage=[ApiUsage(api_version="policy/v1beta1", kind="PodDisruptionBudget", namespace="a", name="p",
                            source="last-applied"),
                   ApiUsage(api_version="v1", kind="Namespace", namespace=None, name="a", source="managedFields")],
        objects=[
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a"},
             "spec": {"replicas": 2}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "a"},
             "data": {"b": "2", "a": "1", "multi": "line one\nline two\n"}},
        ],
        not_readable=["secrets (forbidden)"],
        source={"context": "prod", "rehearse-version": "0.1.0"},
    )


def test_round_trip_is_exact_and_ordered() -> None:
    text = dump(sample())
    assert text.startswith("schema: rehearse/snapshot/v1\nsource:\n")
    assert text.endswith("complete: true\n")
    assert text.index("not_readable:") < text.index("nodes:")
    back = loads(text, "x.yaml")
    assert dump(back) == text
    assert back.helm_releases[1].values == {"a": {"password": "<redacted>"}, "z": 1}
    assert [n.name for n in back.nodes] == ["control-plane-1", "node-1"]
    assert [o["kind"] for o in back.objects] == ["ConfigMap", "Deployment", "Namespace"]
    assert back.api_usage[0].namespace is None and back.api_usage[1].namespace == "a"
    assert "  manifest: |\n" in text  # multi-line strings stay readable and diffable


def test_same_content_in_any_order_gives_same_bytes() -> None:
    a = sample()
    b = sample()
    rng = random.Random(7)
    for f in dataclasses.fields(b):
        value = getattr(b, f.name)
        if isinstance(value, list):
            rng.shuffle(value)
    b.objects[2]["data"] = dict(reversed(list(b.objects[2]["data"].items())))
    assert dump(a) == dump(b)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("revision: 1\n", "revision: x\n"),
         "prod.yaml: helm_releases[0].revision: expected an integer, got 'x'"),
        (lambda t: t.replace("revision: 3\n", "revision: true\n"),
         "prod.yaml: helm_releases[1].revision: expected an integer, got True"),
        (lambda t: t.replace("schema: rehearse/snapshot/v1", "schema: rehearse/snapshot/v2"),
         "prod.yaml: schema: expected 'rehearse/snapshot/v1', got 'rehearse/snapshot/v2'"),
        (lambda t: t.replace("schema: rehearse/snapshot/v1\n", ""),
         "prod.yaml: schema: expected 'rehearse/snapshot/v1', no 'schema' field"),
        (lambda t: t.replace("  kubelet_version: v1.28.15\n", "", 1),
         "prod.yaml: nodes[0]: missing field 'kubelet_version'"),
        (lambda t: t.replace("  revision: 1\n", "  revison: 1\n"),
         "prod.yaml: helm_releases[0]: unknown field 'revison'"),
        (lambda t: t.replace("timeout_seconds: 5", "timeout_seconds: five"),
         "prod.yaml: webhooks[0].timeout_seconds: expected an integer, got 'five'"),
        (lambda t: t.replace("visible: true", "visible: 'yes'"),
         "prod.yaml: control_plane.visible: expected true or false, got 'yes'"),
        (lambda t: t.replace("    pool: a\n", "    pool: 5\n"),
         "prod.yaml: nodes[1].labels.pool: expected a string, got 5"),
        (lambda t: t.replace("  - nginx:1.25\n", "  - {}\n"),
         "prod.yaml: workloads[0].images[0]: expected a string, got a mapping"),
        (lambda t: t.replace("not_readable:\n- secrets (forbidden)\n", "not_readable: 3\n"),
         "prod.yaml: not_readable: expected a list, got 3"),
        (lambda t: t.replace("    name: web\n", "    nam: web\n"),
         "prod.yaml: objects[1].metadata.name: expected a non-empty string, got nothing (null)"),
        (lambda t: t.replace("    served: true\n", "    served: 1\n"),
         "prod.yaml: crds[0].versions[0].served: expected true or false, got 1"),
    ],
)
def test_wrong_fields_are_named(edit: object, message: str) -> None:
    text = edit(dump(sample()))  # type: ignore[operator]
    with pytest.raises(InputError) as e:
        loads(text, "prod.yaml")
    assert str(e.value) == message


def test_any_truncation_is_an_input_error() -> None:
    text = dump(sample())
    for cut in [*range(0, len(text) - 1, 7), len(text) - 2]:
        with pytest.raises(InputError) as e:
            loads(text[:cut], "prod.yaml")
        assert str(e.value).startswith("prod.yaml: ") and "\n" not in str(e.value), cut


def test_invalid_yaml_names_the_line() -> None:
    text = dump(sample()).replace("nodes:\n", "nodes: [\n", 1)
    with pytest.raises(InputError) as e:
        loads(text, "prod.yaml")
    assert str(e.value).startswith("prod.yaml: line ") and "not valid YAML" in str(e.value)


def test_load_file_problems(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such snapshot file"):
        load(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="is a directory"):
        load(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(InputError, match="not a text file"):
        load(tmp_path / "bin.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(InputError, match=r"list.yaml: expected a snapshot"):
        load(tmp_path / "list.yaml")


# -- the CLI ---------------------------------------------------------------------------------------------------


def rehearse(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "CI": "1", **(env or {})},
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_cli_check_accepts_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text(dump(sample()))
    result = rehearse("snapshot", "--check", str(path))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stderr and "2 Helm releases" in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("truncated.yaml", lambda t: t[: len(t) // 2], "prod"),
        ("truncated-mid-line.yaml", lambda t: t[: t.index("  manifest: |") + 8], "not valid YAML"),
        ("truncated-at-line-end.yaml", lambda t: t[: t.index("helm_releases:")], "the file ends early"),
        ("wrong-schema.yaml", lambda t: t.replace("rehearse/snapshot/v1", "rehearse/report/v1"), "schema: expected"),
        ("wrong-type.yaml", lambda t: t.replace("revision: 1\n", "revision: x\n"),
         "helm_releases[0].revision: expected an integer, got 'x'"),
        ("empty.yaml", lambda t: "", "expected a snapshot"),
        ("garbage.yaml", lambda t: "\t{{{ not yaml", "not valid YAML"),
    ],
)
def test_cli_check_broken_files_exit_2_one_line(tmp_path: Path, name: str, content: object, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content(dump(sample())))  # type: ignore[operator]
    result = rehearse("snapshot", "--check", str(path))
    assert result.returncode == 2
    line = one_line(result)
    assert name in line
    if expected != "prod":
        assert expected in line


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _kubeconfig(path: Path, server: str, current: str = "ctx") -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n"
        "users:\n- name: u\n  user:\n    token: t\n"
        "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n"
        f"current-context: {current}\n"
    )
    return path


def test_cli_unreachable_server_exit_3_one_line(tmp_path: Path) -> None:
    port = _closed_port()
    kubeconfig = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}")
    result = rehearse("snapshot", "--kubeconfig", str(kubeconfig), "-o", str(tmp_path / "out.yaml"))
    assert result.returncode == 3
    line = one_line(result)
    assert f"127.0.0.1:{port}" in line and "refused" in line.lower()
    assert not (tmp_path / "out.yaml").exists()


def test_cli_kubeconfig_problems_exit_2_one_line(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path / "kc", "https://127.0.0.1:1")
    result = rehearse("snapshot", "--kubeconfig", str(kubeconfig), "--context", "prod-eu")
    assert result.returncode == 2 and "'prod-eu' not found" in one_line(result) and "ctx" in one_line(result)
    result = rehearse("snapshot", "--kubeconfig", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no such file" in one_line(result)
    no_current = _kubeconfig(tmp_path / "kc2", "https://127.0.0.1:1", current="''")
    result = rehearse("snapshot", "--kubeconfig", str(no_current))
    assert result.returncode == 2 and "--context" in one_line(result)
    (tmp_path / "garbage").write_text("this: [is not\n")
    result = rehearse("snapshot", "--kubeconfig", str(tmp_path / "garbage"))
    assert result.returncode == 2 and "not a usable kubeconfig" in one_line(result)
    result = rehearse("snapshot", env={"KUBECONFIG": str(tmp_path / "missing-config")})
    assert result.returncode == 2 and "no kubeconfig found" in one_line(result)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: "# taken before the upgrade\n" + t,
        lambda t: t.replace("server_version: v1.28.15\n", "server_version: 'v1.28.15'   # quoted by hand\n"),
        lambda t: t.replace("  labels:\n    pool: a\n", "  labels: {pool: a}\n"),
        lambda t: t.replace("  - nginx:1.25\n", "  -   nginx:1.25\n"),
        lambda t: t.replace("\n", "\r\n"),
        lambda t: "---\n" + t,
    ],
)
def test_hand_edited_files_still_load(edit: object) -> None:
    from harness.snapshot import _yaml

    text = edit(dump(sample()))  # type: ignore[operator]
    assert _yaml.read(text) is None  # not the exact form dump() writes: the full YAML parser reads it
    assert dump(loads(text, "edited.yaml")) == dump(sample())


def test_cli_unwritable_output_fails_before_reading_the_cluster(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{_closed_port()}")
    result = rehearse("snapshot", "--kubeconfig", str(kubeconfig), "-o", str(tmp_path))
    assert result.returncode == 2 and "is a directory" in one_line(result)
    (tmp_path / "file").write_text("x")
    result = rehearse("snapshot", "--kubeconfig", str(kubeconfig), "-o", str(tmp_path / "file" / "snap.yaml"))
    assert result.returncode == 2 and "cannot write" in one_line(result)
