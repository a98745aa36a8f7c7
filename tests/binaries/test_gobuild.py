"""The Go-module build path, against the real module proxy and checksum database (both reachable here and in CI).

These exercise the decisions a build makes — which staging modules to replace, when to widen GONOSUMDB, when a
patch cannot be built — on real answers of the registry, without compiling Kubernetes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.binaries import _gobuild
from harness.progress import RecordingProgress


@pytest.fixture(scope="module")
def release_mods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("mods")
    env = _gobuild._go_env()
    return {
        tag: _gobuild.module_info("k8s.io/kubernetes", tag, work, env).go_mod.read_text()
        for tag in ("v1.27.16", "v1.28.15")
    }


def test_staging_modules_are_derived_from_each_release(release_mods: dict[str, str]) -> None:
    m27 = _gobuild.staging_modules(release_mods["v1.27.16"])
    m28 = _gobuild.staging_modules(release_mods["v1.28.15"])
    assert len(m27) == 29 and len(m28) == 30
    assert set(m28) - set(m27) == {"k8s.io/endpointslice"}
    assert "k8s.io/legacy-cloud-providers" in m27


def test_wrapper_go_mod_pins_every_staging_module_to_the_same_patch(release_mods: dict[str, str]) -> None:
    mods = _gobuild.staging_modules(release_mods["v1.28.15"])
    text = _gobuild.wrapper_go_mod(release_mods["v1.28.15"], "k8s.io/kubernetes", "v1.28.15",
                                   {m: f"{m} v0.28.15" for m in mods})
    assert "\ngo 1.20\n" in text and "require k8s.io/kubernetes v1.28.15" in text
    assert text.count(" v0.28.15") == 30 and "v0.27" not in text


def test_version_ldflags_stamp_both_version_packages() -> None:
    flags = _gobuild.version_ldflags("v1.28.15", "abc123", "2024-10-22T00:00:00Z")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.28.15" in flags and f"-X {pkg}.gitMinor=28" in flags
        assert f"-X {pkg}.gitCommit=abc123" in flags


def _wrapper(work: Path, require: str, version: str, package: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text(f"module rehearse.local/probe\n\ngo 1.20\n\nrequire {require} {version}\n")
    (work / "tools.go").write_text(_gobuild.tools_go([package]))


def test_checksum_database_gap_widens_gonosumdb_for_that_module_only(tmp_path: Path) -> None:
    """k8s.io/legacy-cloud-providers v0.27.16 is served by the proxy but unknown to sum.golang.org (404)."""
    _wrapper(tmp_path, "k8s.io/legacy-cloud-providers", "v0.27.16", "k8s.io/legacy-cloud-providers")
    progress = RecordingProgress()
    env = {k: v for k, v in _gobuild._go_env().items() if k not in ("GONOSUMDB", "GOFLAGS")}
    env["GOFLAGS"] = "-mod=mod"
    extra = _gobuild._tidy(tmp_path, env, progress)
    assert extra == {"GONOSUMDB": "k8s.io/legacy-cloud-providers"}
    assert any("unknown to the checksum database" in m for kind, m in progress.messages if kind == "note")
    assert "k8s.io/legacy-cloud-providers v0.27.16 h1:" in (tmp_path / "go.sum").read_text()


def test_refused_module_version_means_this_patch_cannot_be_built(tmp_path: Path) -> None:
    """The proxy answers k8s.io/controller-manager v0.26.15 with 403 'This module version is not available'."""
    _wrapper(tmp_path, "k8s.io/controller-manager", "v0.26.15", "k8s.io/controller-manager/pkg/features")
    with pytest.raises(_gobuild.ModulesUnavailable, match=r"k8s\.io/controller-manager@v0\.26\.15"):
        _gobuild._tidy(tmp_path, _gobuild._go_env(), RecordingProgress())


def test_unknown_release_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(_gobuild.ModulesUnavailable, match=r"v1\.28\.99"):
        _gobuild.module_info("k8s.io/kubernetes", "v1.28.99", tmp_path, _gobuild._go_env())
