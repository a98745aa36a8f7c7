"""The kind provider's decisions that need no Docker engine: images, node mirroring, the kind config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.providers.base import Cluster, ClusterOptions, NodeSpec
from harness.providers.kind import KIND_RELEASE, KindProvider, NoKindImage, image_version, select_images
from harness.versions import Version, catalogue, load_catalogue

CATALOGUE = """
schema: rehearse/versions/v1
minors:
  "1.26":
    latest: "1.26.15"
    kind:
      - {release: v0.24.0, image: "kindest/node:v1.26.15@sha256:aaaa"}
  "1.27":
    latest: "1.27.16"
    kind:
      - {release: v0.25.0, image: "kindest/node:v1.27.16@sha256:bbbb"}
      - {release: v0.24.0, image: "kindest/node:v1.27.16@sha256:cccc"}
  "1.28":
    latest: "1.28.15"
    kind:
      - {release: v0.25.0, image: "kindest/node:v1.28.15@sha256:dddd"}
  "1.40":
    latest: "1.40.0"
"""


def test_catalogue_has_digest_pinned_images_for_the_default_rehearsal() -> None:
    cat = catalogue()
    chosen = select_images([cat.resolve("1.27"), cat.resolve("1.28")])
    assert set(chosen) == {"1.27", "1.28"}
    for minor, img in chosen.items():
        assert img.release == KIND_RELEASE
        assert img.image.startswith(f"kindest/node:v{minor}.") and "@sha256:" in img.image


def test_one_kind_release_for_every_version() -> None:
    cat = load_catalogue(CATALOGUE)
    chosen = select_images([Version(1, 27, 16), Version(1, 28, 15)], cat)
    assert chosen["1.27"].image.endswith("bbbb") and chosen["1.28"].image.endswith("dddd")


def test_no_common_release_is_said() -> None:
    cat = load_catalogue(CATALOGUE)
    with pytest.raises(NoKindImage, match=r"no kind release publishes node images for all of 1\.26, 1\.28"):
        select_images([Version(1, 26, 15), Version(1, 28, 15)], cat)
    with pytest.raises(NoKindImage, match=r"1\.40: none"):
        select_images([Version(1, 28, 15), Version(1, 40, 0)], cat)


def test_the_newest_common_release_is_chosen() -> None:
    cat = load_catalogue(CATALOGUE)
    chosen = select_images([Version(1, 26, 15), Version(1, 27, 16)], cat)
    assert {m: i.release for m, i in chosen.items()} == {"1.26": "v0.24.0", "1.27": "v0.24.0"}
    assert chosen["1.27"].image.endswith("cccc")  # v0.24.0's 1.27 image, not v0.25.0's


def test_an_asked_release_that_does_not_cover_the_versions_names_one_that_does() -> None:
    cat = load_catalogue(CATALOGUE)
    with pytest.raises(NoKindImage, match=r"kind v0\.24\.0 has node images for 1\.26, 1\.27, but kind v0\.25\.0 "
                                          r"was asked for"):
        select_images([Version(1, 26, 15), Version(1, 27, 16)], cat, release="v0.25.0")


def test_the_real_catalogue_picks_a_recent_release_for_recent_versions() -> None:
    cat = catalogue()
    for pair in (("1.33", "1.34"), ("1.34", "1.35"), ("1.30", "1.31")):
        chosen = select_images([cat.resolve(pair[0]), cat.resolve(pair[1])])
        releases = {i.release for i in chosen.values()}
        assert len(releases) == 1
        assert KindProvider(versions=[cat.resolve(v) for v in pair]).release == releases.pop()
    assert KindProvider().release == KIND_RELEASE  # nothing to choose by: the tested release


def test_image_version() -> None:
    assert image_version("kindest/node:v1.28.15@sha256:abc") == Version(1, 28, 15)
    assert image_version("localhost/rehearse/kind-node:v1.27.16") == Version(1, 27, 16)
    assert image_version("kindest/node@sha256:abc") is None


def test_image_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHEARSE_KIND_IMAGES", "1.27=local/a:v1.27.16, v1.28.15=local/b:v1.28.15")
    p = KindProvider(images={"1.28": "explicit:v1.28.15"})
    assert p.image_for(Version(1, 27, 16)) == "local/a:v1.27.16"
    assert p.image_for(Version(1, 28, 15)) == "local/b:v1.28.15"  # the exact version wins over the minor


def _cluster(tmp_path: Path, options: ClusterOptions) -> Cluster:
    return Cluster(name="c1", provider="kind", version=Version(1, 27, 16), kubeconfig=tmp_path / "kc",
                   workdir=tmp_path, options=options, meta={"image": "img:v1.27.16"})


def test_kind_config_mirrors_nodes_up_to_the_limit(tmp_path: Path) -> None:
    nodes = [NodeSpec("cp1", control_plane=True), *(NodeSpec(f"w{i}") for i in range(6))]
    cfg = KindProvider(max_nodes=3).provision.kind_config(_cluster(tmp_path, ClusterOptions(nodes=nodes)))
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane", "worker", "worker"]
    assert {n["image"] for n in cfg["nodes"]} == {"img:v1.27.16"}
    assert cfg["networking"] == {"apiServerAddress": "127.0.0.1"}
    cfg = KindProvider(node_count=1).provision.kind_config(_cluster(tmp_path, ClusterOptions(nodes=nodes)))
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane"]
    cfg = KindProvider().provision.kind_config(_cluster(tmp_path, ClusterOptions()))
    assert [n["role"] for n in cfg["nodes"]] == ["control-plane"]


def test_production_flags_become_kubeadm_patches(tmp_path: Path) -> None:
    options = ClusterOptions(apiserver_args=["--enable-admission-plugins=NodeRestriction,PodSecurity",
                                             "--audit-log-maxage=7"],
                             scheduler_args=["--v=2"], feature_gates={"SomeGate": True})
    cfg = KindProvider().provision.kind_config(_cluster(tmp_path, options))
    assert cfg["featureGates"] == {"SomeGate": True}
    patch = yaml.safe_load(cfg["kubeadmConfigPatches"][0])
    assert patch["kind"] == "ClusterConfiguration"
    assert patch["apiServer"]["extraArgs"] == {"enable-admission-plugins": "NodeRestriction,PodSecurity",
                                               "audit-log-maxage": "7",
                                               "audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
                                               "audit-log-path": "/var/log/kubernetes/audit/audit.log"}
    assert patch["scheduler"]["extraArgs"] == {"v": "2"}
    assert "controllerManager" not in patch


def test_the_audit_log_is_bound_to_the_cluster_directory(tmp_path: Path) -> None:
    """Each control plane binds the policy read-only and a directory of its own; the first one's is observed."""
    nodes = [NodeSpec("cp1", control_plane=True), NodeSpec("cp2", control_plane=True), NodeSpec("w1")]
    options = ClusterOptions(nodes=nodes, apiserver_args=["--audit-log-path=/elsewhere.log"])
    provider = KindProvider(max_nodes=3)
    cluster, _ = provider.provision.plan("c1", Version(1, 27, 16), options, tmp_path)
    cluster.meta["image"] = "img:v1.27.16"
    assert cluster.meta["audit_log"] == str(tmp_path / "audit" / "audit.log")
    cfg = provider.provision.kind_config(cluster)
    patch = yaml.safe_load(cfg["kubeadmConfigPatches"][0])
    assert patch["apiServer"]["extraArgs"]["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    volumes = {v["name"]: v for v in patch["apiServer"]["extraVolumes"]}
    assert volumes["audit-policy"]["readOnly"] is True and volumes["audit-policy"]["pathType"] == "File"
    assert volumes["audit-log"]["mountPath"] == "/var/log/kubernetes/audit"
    mounts = [{m["containerPath"]: m for m in n.get("extraMounts", [])} for n in cfg["nodes"]]
    assert mounts[0]["/var/log/kubernetes/audit"]["hostPath"] == str(tmp_path / "audit")
    assert mounts[1]["/var/log/kubernetes/audit"]["hostPath"] == str(tmp_path / "audit-2")
    assert mounts[0]["/etc/kubernetes/audit/policy.yaml"]["readOnly"] is True
    assert mounts[2] == {}


def test_unavailable_without_an_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    ok, why = KindProvider().available()
    assert not ok and "Docker" in why


def test_bad_names_are_input_errors(tmp_path: Path) -> None:
    from harness.errors import InputError

    with pytest.raises(InputError, match="bad cluster name"):
        KindProvider(root=tmp_path).create("Bad_Name", Version(1, 27, 16), ClusterOptions())
