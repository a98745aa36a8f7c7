"""The Go-module build path, without compiling Kubernetes.

The staging-module and go.mod tests read real releases from the real module proxy. The refusal tests (a
checksum-database gap, a refused module version, an unknown release) run the real go command against a local
fake registry (``_goproxy.py``) that answers as the real one did: the real registry's gaps move, and no test may
depend on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.binaries import _gobuild
from harness.progress import RecordingProgress
from tests.binaries._goproxy import FakeGoProxy, FakeModule, serve


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


@pytest.fixture
def fake_registry(tmp_path: Path) -> Iterator[tuple[FakeGoProxy, dict[str, str]]]:
    """A local module proxy fronting the checksum database, and a go environment that uses only it (its own
    module cache, no toolchain download, nothing exempted from verification)."""
    proxy = FakeGoProxy(modules=[
        FakeModule("k8s.io/legacy-cloud-providers", "v0.27.16", {"doc.go": "package legacycloudproviders\n"}),
        FakeModule("k8s.io/controller-manager", "v0.26.15",
                   {"pkg/features/features.go": "package features\n"}),
    ])
    cache = tmp_path / "gopath" / "pkg" / "mod"
    with serve(proxy):
        drop = ("GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GONOPROXY", "GOFLAGS", "GOSUMDB", "GOINSECURE")
        env = {k: v for k, v in _gobuild._go_env().items() if k not in drop}
        # Its own GOPATH too: the checksum database's tree head the go command remembers lives in GOPATH/pkg/sumdb.
        env.update(GOPROXY=proxy.url, GOPATH=str(tmp_path / "gopath"), GOMODCACHE=str(cache), GOTOOLCHAIN="local",
                   GOFLAGS="-mod=mod")
        yield proxy, env
    # The module cache is read-only by design; make it removable for pytest's tmp_path cleanup.
    for path in [cache, *cache.rglob("*")] if cache.exists() else []:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_checksum_database_gap_widens_gonosumdb_for_that_module_only(
    tmp_path: Path, fake_registry: tuple[FakeGoProxy, dict[str, str]]
) -> None:
    """A module version the proxy serves but the checksum database answers 404 for.

    Faked (``tests/binaries/_goproxy.py``): in November 2026 sum.golang.org answered 404 for
    ``k8s.io/legacy-cloud-providers`` v0.27.16 while proxy.golang.org served it (go said ``verifying
    k8s.io/legacy-cloud-providers@v0.27.16/go.mod: ... 404 Not Found``); the database knows it now.
    """
    proxy, env = fake_registry
    proxy.gaps.add(("k8s.io/legacy-cloud-providers", "v0.27.16"))
    work = tmp_path / "work"
    _wrapper(work, "k8s.io/legacy-cloud-providers", "v0.27.16", "k8s.io/legacy-cloud-providers")
    progress = RecordingProgress()
    extra = _gobuild._tidy(work, env, progress)
    assert extra == {"GONOSUMDB": "k8s.io/legacy-cloud-providers"}
    assert any("unknown to the checksum database" in m for kind, m in progress.messages if kind == "note")
    assert "k8s.io/legacy-cloud-providers v0.27.16 h1:" in (work / "go.sum").read_text()
    assert any("/sumdb/sum.golang.org/lookup/k8s.io/legacy-cloud-providers@v0.27.16" in r for r in proxy.requests)


def test_refused_module_version_means_this_patch_cannot_be_built(
    tmp_path: Path, fake_registry: tuple[FakeGoProxy, dict[str, str]]
) -> None:
    """Faked: proxy.golang.org answers k8s.io/controller-manager v0.26.15 with 403 'This module version is not
    available.' (seen in 2026; ``_goproxy.py`` answers the same)."""
    proxy, env = fake_registry
    proxy.refused.add(("k8s.io/controller-manager", "v0.26.15"))
    work = tmp_path / "work"
    _wrapper(work, "k8s.io/controller-manager", "v0.26.15", "k8s.io/controller-manager/pkg/features")
    with pytest.raises(_gobuild.ModulesUnavailable, match=r"k8s\.io/controller-manager@v0\.26\.15"):
        _gobuild._tidy(work, env, RecordingProgress())


def test_unknown_release_is_unavailable(
    tmp_path: Path, fake_registry: tuple[FakeGoProxy, dict[str, str]]
) -> None:
    """A release the proxy does not have (404 from the fake; the real proxy answers 403 for v1.28.99)."""
    _, env = fake_registry
    with pytest.raises(_gobuild.ModulesUnavailable, match=r"v1\.28\.99"):
        _gobuild.module_info("k8s.io/kubernetes", "v1.28.99", tmp_path, env)
