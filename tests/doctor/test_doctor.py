"""`rehearse doctor` on this machine: a warm and an empty cache, with and without Go, no Docker engine (DOCKER_HOST
at a socket nobody listens on), bad input, an unreachable cluster. Download probes go to a local release site
(every mirror variable points at it), so no request leaves the machine."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.binaries import BinarySet, tool_version
from harness.binaries.bare import free_port
from harness.doctor import satisfies
from harness.errors import InfraError
from harness.progress import NullProgress
from harness.providers import choose, decide
from harness.versions import Version, catalogue
from tests.doctor._release_site import ReleaseSite, release_site

REPO = Path(__file__).resolve().parents[2]
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
NO_GO_PATH = os.pathsep.join(p for p in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
                             if not (Path(p) / "go").exists())


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "doctor", *args], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "CI": "1", **(env or {})})


def as_json(result: subprocess.CompletedProcess[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    doc = json.loads(result.stdout)
    return doc, {r["check"]: r for r in doc["rows"]}


def _versions(*minors: str) -> list[Version]:
    return [catalogue().resolve(m) for m in minors]


def _estimates() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "harness" / "data" / "doctor.yaml").read_text())
    return data


def _cores() -> int:
    return len(os.sched_getaffinity(0))


@pytest.fixture()
def no_engine(tmp_path: Path) -> dict[str, str]:
    return {"DOCKER_HOST": f"unix://{tmp_path}/nobody-listens.sock"}


@pytest.fixture()
def site() -> Iterator[ReleaseSite]:
    with release_site() as s:
        yield s


def _publish(site: ReleaseSite, *, kubernetes: list[str], tools: list[str]) -> None:
    """Put releases on the site, at the paths harness/data/sources.yaml builds under each mirror."""
    for v in kubernetes:
        site.published.add(f"/k8s/v{v}/bin/linux/{ARCH}/kube-apiserver")
    paths = {"etcd": "/etcd/v{v}/etcd-v{v}-linux-" + ARCH + ".tar.gz", "kwok": "/kwok/v{v}/kwok-linux-" + ARCH,
             "kind": "/kind/v{v}/kind-linux-" + ARCH, "helm": "/helm/helm-v{v}-linux-" + ARCH + ".tar.gz"}
    for tool in tools:
        site.published.add(paths[tool].format(v=tool_version(tool)))


# ---- the machine with the warm cache ----------------------------------------------------------------------------


@pytest.mark.slow
def test_warm_cache_no_engine_ready_on_local_in_under_two_seconds(
        bin127: BinarySet, bin128: BinarySet, no_engine: dict[str, str]) -> None:
    took = []
    for _ in range(2):
        t0 = time.monotonic()
        table = doctor("--from", "1.27", "--to", "1.28", env=no_engine)
        took.append(time.monotonic() - t0)
    assert table.returncode == 0, table.stderr
    assert min(took) < 2.0, took
    assert f"ready: a rehearsal of {bin127.version} → {bin128.version} can run on the local provider" in table.stdout
    result = doctor("--from", "1.27", "--to", "1.28", "--json", env=no_engine)
    assert result.returncode == 0, result.stderr
    doc, rows = as_json(result)
    assert doc["ready"] and doc["first_missing"] is None and doc["build_seconds"] == 0
    for bins in (bin127, bin128):
        assert rows[f"Kubernetes {bins.version}"]["state"] == "cached"
        assert rows[f"Kubernetes {bins.version}"]["detail"] == str(bins.directory)
    for tool in ("etcd", "kwok", "helm"):
        assert rows[f"{tool} {tool_version(tool)}"]["state"] == "cached"
    assert rows["docker engine"]["state"] == "no" and "no Docker engine answers" in rows["docker engine"]["detail"]
    assert "scripts/kind/engine.sh start" in rows["docker engine"]["remedy"]
    provider = rows["provider"]["detail"]
    assert provider.startswith("auto → local: no Docker engine answers (no socket at unix://")
    assert provider.count("no Docker engine answers") == 1, provider  # said once, not twice
    assert rows["disk"]["state"] == "ok" and rows["disk"]["data"]["needed_mb"] == 0


def test_dependencies_are_the_pyproject_requirements_as_installed(no_engine: dict[str, str]) -> None:
    result = doctor("--from", "1.27", "--to", "1.28", "--json", env=no_engine)
    _, rows = as_json(result)
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    packages = rows["dependencies"]["data"]["packages"]
    assert [p["name"] for p in packages] == [re.split(r"[<>=!~ \[;]", d)[0] for d in project["dependencies"]]
    for p in packages:
        assert p["installed"] == metadata.version(p["name"]) and p["ok"], p
    assert rows["dependencies"]["state"] == "ok"
    assert rows["python"]["state"] == "ok" and rows["python"]["detail"].startswith(platform.python_version())


# ---- an empty cache ---------------------------------------------------------------------------------------------


def test_empty_cache_downloadable_or_to_be_built_with_the_cold_time(
        site: ReleaseSite, no_engine: dict[str, str], tmp_path: Path) -> None:
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain on PATH: nothing can be built here (the next test covers that case)")
    v127, v128 = _versions("1.27", "1.28")
    _publish(site, kubernetes=[str(v127)], tools=["etcd", "helm"])  # 1.28 and kwok: not on the site
    cache = tmp_path / "cache"
    result = doctor("--from", "1.27", "--to", "1.28", "--json",
                    env={**no_engine, **site.env(), "REHEARSE_CACHE_DIR": str(cache),
                         "REHEARSE_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 0, result.stderr
    doc, rows = as_json(result)
    host = site.url.removeprefix("http://")
    assert rows[f"Kubernetes {v127}"]["state"] == "download" and host in rows[f"Kubernetes {v127}"]["detail"]
    assert rows[f"etcd {tool_version('etcd')}"]["state"] == "download"
    assert rows[f"helm {tool_version('helm')}"]["state"] == "download"
    est = _estimates()
    expected = {f"Kubernetes {v128}": "kubernetes", f"kwok {tool_version('kwok')}": "kwok"}
    for check, key in expected.items():
        row = rows[check]
        assert row["state"] == "build", row
        seconds = est["build_seconds"][key] * est["reference_cores"] / _cores()
        assert row["data"]["build_seconds"] == round(seconds)
        assert f"~{max(1, round(seconds / 60))} min on {_cores()} core(s)" in row["detail"]
        assert row["data"]["download"] == "HTTP 404" and "`rehearse binaries ensure --version" in row["remedy"]
    assert doc["build_seconds"] == sum(rows[c]["data"]["build_seconds"] for c in expected)
    assert rows["go"]["state"] == "ok" and "2 set(s) to build" in rows["go"]["detail"]
    # the kind CLI is not needed on the local provider: shown, never probed
    assert rows[f"kind {tool_version('kind')}"]["state"] == "no"
    fetched = ["kubernetes", "kubernetes", "etcd", "kwok", "helm"]
    needed = sum(est["disk_mb"][k] for k in fetched) + sum(est["build_disk_mb"][k] for k in expected.values())
    assert sum(r["data"]["needed_mb"] for r in doc["rows"] if r["check"] == "disk") == needed
    # HEAD requests only, one per missing set (redirects followed), all to the local site; the cache untouched
    assert {m for m, _ in site.requests} == {"HEAD"}
    asked = {p for _, p in site.requests if not p.startswith("/cdn/")}
    assert asked == {f"/k8s/v{v127}/bin/linux/{ARCH}/kube-apiserver", f"/k8s/v{v128}/bin/linux/{ARCH}/kube-apiserver",
                     f"/etcd/v{tool_version('etcd')}/etcd-v{tool_version('etcd')}-linux-{ARCH}.tar.gz",
                     f"/kwok/v{tool_version('kwok')}/kwok-linux-{ARCH}",
                     f"/helm/helm-v{tool_version('helm')}-linux-{ARCH}.tar.gz"}
    assert {p for _, p in site.requests if p.startswith("/cdn/")} == {f"/cdn{p}" for p in site.published}
    assert not cache.exists() and not (tmp_path / "state").exists()  # nothing created


def test_empty_cache_without_go_names_go_and_the_mirror_exit_3(
        site: ReleaseSite, no_engine: dict[str, str], tmp_path: Path) -> None:
    v127, v128 = _versions("1.27", "1.28")
    _publish(site, kubernetes=[str(v127)], tools=["etcd", "kwok", "helm"])
    env = {**no_engine, **site.env(), "REHEARSE_CACHE_DIR": str(tmp_path / "cache"), "PATH": NO_GO_PATH}
    table = doctor("--from", "1.27", "--to", "1.28", env=env)
    assert table.returncode == 3
    lines = [ln for ln in table.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: not ready: go: not installed"), table.stderr
    assert "https://go.dev/dl" in lines[0] and "`export REHEARSE_KUBERNETES_MIRROR=URL`" in lines[0]
    doc, rows = as_json(doctor("--from", "1.27", "--to", "1.28", "--json", env=env))
    assert not doc["ready"] and doc["first_missing"]["check"] == "go"
    assert rows[f"Kubernetes {v127}"]["state"] == "download"
    missing = rows[f"Kubernetes {v128}"]
    assert missing["state"] == "missing" and f"`rehearse binaries ensure --version {v128}`" in missing["remedy"]


# ---- input, the provider choice, clusters that do not answer ----------------------------------------------------


def test_bad_input_is_one_line_exit_2_like_run(no_engine: dict[str, str], tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "harness", "run", "--from", "1.2x", "--to", "1.28"],
                         capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **no_engine})
    bad = doctor("--from", "1.2x", "--to", "1.28", env=no_engine)
    assert bad.returncode == run.returncode == 2
    assert bad.stderr == run.stderr and len(bad.stderr.strip().splitlines()) == 1
    for args, words in ((["--from", "1.27"], "--from and --to go together"),
                        (["--from", "1.28", "--to", "1.27"], "downgrades are not supported"),
                        (["--context", "prod"], "--context needs --kubeconfig"),
                        (["--kubeconfig", str(tmp_path / "none")], "no such file"),
                        (["--from", "1.24", "--to", "1.32", "--provider", "kind"], "no kind release publishes")):
        out = doctor(*args, env=no_engine)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and words in lines[0], (args, out.stderr)


def test_auto_says_no_engine_once_and_decides_without_creating(no_engine: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", no_engine["DOCKER_HOST"])
    versions = _versions("1.27", "1.28")
    choice = decide("auto", versions)
    assert choice.name == "local" and choice.ready and choice.kind_release
    assert choice.reason is not None and choice.reason.count("no Docker engine answers") == 1, choice.reason
    assert [i.split("@")[0] for i in choice.node_images] == [f"kindest/node:{v.tag}" for v in versions]
    explicit = decide("kind", versions)
    assert explicit.name == "kind" and not explicit.ready and explicit.reason == choice.reason
    assert decide("local", versions).reason is None
    with pytest.raises(InfraError) as refused:
        choose("kind", versions, NullProgress())
    assert str(refused.value).count("no Docker engine answers") == 1, str(refused.value)


def test_explicit_kind_without_an_engine_is_not_ready(no_engine: dict[str, str]) -> None:
    doc, rows = as_json(doctor("--from", "1.27", "--to", "1.28", "--provider", "kind", "--json", env=no_engine))
    assert not doc["ready"] and doc["first_missing"]["check"] == "docker engine"
    assert rows["provider"]["state"] == "missing" and "Kubernetes 1.27.16" not in rows  # kind needs no binaries
    out = doctor("--from", "1.27", "--to", "1.28", "--provider", "kind", env=no_engine)
    assert out.returncode == 3 and "error: not ready: docker engine:" in out.stderr
    assert "`sudo systemctl start docker`" in out.stderr


def test_a_cluster_that_does_not_answer_is_the_missing_piece(
        site: ReleaseSite, no_engine: dict[str, str], tmp_path: Path) -> None:
    v127, v128 = _versions("1.27", "1.28")
    _publish(site, kubernetes=[str(v127), str(v128)], tools=["etcd", "kwok", "helm"])  # all downloadable
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:{free_port()}\n"
        "    insecure-skip-tls-verify: true\n"
        "users:\n- name: u\n  user:\n    token: t\n"
        "contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\ncurrent-context: gone\n")
    env = {**no_engine, **site.env(), "REHEARSE_CACHE_DIR": str(tmp_path / "cache")}
    result = doctor("--from", "1.27", "--to", "1.28", "--kubeconfig", str(kubeconfig), "--json", env=env)
    assert result.returncode == 3
    doc, rows = as_json(result)
    assert doc["first_missing"]["check"] == "cluster" and "does not answer" in rows["cluster"]["detail"]
    assert f"`kubectl --kubeconfig {kubeconfig} --context gone get --raw /version`" in rows["cluster"]["remedy"]


def test_satisfies_the_operators_pyproject_uses() -> None:
    assert satisfies("37.0.2", ">=37") and not satisfies("36.9", ">=37")
    assert satisfies("3.11.7", ">=3.10") and not satisfies("3.9.18", ">=3.10")
    assert satisfies("1.5", ">=1.2,<2") and not satisfies("2.0", ">=1.2,<2")
    assert satisfies("3.4.1", "~=3.1") and not satisfies("4.0", "~=3.1")
    assert satisfies("6.0.3", "==6.*") and not satisfies("7.0", "==6.*") and satisfies("7.0", "!=6.*")
    assert satisfies("13.0.0rc1", ">=13") and satisfies("anything", "")
