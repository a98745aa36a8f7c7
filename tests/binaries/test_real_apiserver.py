"""The binaries `rehearse binaries ensure` produced are the real thing: etcd + kube-apiserver of two versions
start, report their exact version, and store and serve an object created through the Python client."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kubernetes import client, config

from harness.binaries import BinarySet
from harness.binaries.bare import bare_control_plane


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["bin127", "bin128"])
def test_real_apiserver_round_trip(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    bins: BinarySet = request.getfixturevalue(fixture)
    tag = bins.version.tag
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        out = subprocess.run([str(bins.path(name)), "--version"], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == f"Kubernetes {tag}", name
    with bare_control_plane(bins.directory, tmp_path / "cp") as cp:
        assert json.loads(cp.get("/version"))["gitVersion"] == tag
        api = client.ApiClient(config.new_client_from_config(str(cp.kubeconfig())).configuration)
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="round-trip")))
        core.create_namespaced_config_map(
            "round-trip",
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name="probe"), data={"version": tag}),
        )
        got = core.read_namespaced_config_map("probe", "round-trip")
        assert got.data == {"version": tag}
        assert got.metadata.uid
        api.close()
