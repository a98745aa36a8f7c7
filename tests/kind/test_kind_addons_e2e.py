"""End to end on this machine: real add-ons through a real upgrade. A one-node kind cluster at 1.25 runs
kube-state-metrics v2.6.0 and v2.7.0 (built here from their Go modules, each as its own ServiceAccount) and an
``autoscaling/v2`` HPA; the rehearsal upgrades it with kubeadm to 1.26 while reading the apiserver's audit log.

v2.6.0's HPA collector lists ``autoscaling/v2beta2`` (its manifests are clean): the report must name its
Deployment as a caller of an API removed in 1.26 before the upgrade (``calls-removed-api``, observed) and its
``api-calls/...`` check ``broke`` after it (the same list answering 404), while v2.7.0 (``autoscaling/v2``) in the
same cluster is not flagged. ``REHEARSE_E2E_KSM_FLAGGED=v2.7.0`` runs v2.7.0 in v2.6.0's place: the finding is
gone and this test fails (how it was shown that it can).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.providers.base import Cluster
from harness.providers.kind import KindProvider
from harness.versions import Version, catalogue
from tests.kind.addons import KSM_NEW, KSM_OLD, build_ksm_image, hpa_manifests, ksm_manifests, ksm_namespace

pytestmark = [pytest.mark.slow, pytest.mark.docker]

FROM, TO = "1.25", "1.26"
FLAGGED = os.environ.get("REHEARSE_E2E_KSM_FLAGGED", KSM_OLD)  # the kube-state-metrics that must be flagged
HPA_NS = "rehearse-hpa"

SCENARIO = """\
schema: rehearse/scenario/v1
name: kind-addons
description: kube-state-metrics v2.6.0 (client code on autoscaling/v2beta2) and v2.7.0 with an HPA, 1.25 to 1.26
from: "1.25"
to: "1.26"
nodes:
  - {name: control-plane-1, control_plane: true}
manifests: [addons.yaml]
"""


@pytest.fixture(scope="module")
def addon_versions() -> tuple[Version, Version]:
    cat = catalogue()
    return cat.resolve(FROM), cat.resolve(TO)


@pytest.fixture(scope="module")
def addon_node_images(engine: Any, addon_versions: tuple[Version, Version]) -> dict[str, str]:
    """The locally built node images of 1.25 and 1.26 (cached across runs by their inputs)."""
    from harness.nodeimage import build_node_image
    from harness.providers.kind import KIND_RELEASE

    return {v.minor_key: build_node_image(v, KIND_RELEASE, client=engine) for v in addon_versions}


@pytest.fixture(scope="module")
def ksm_images(engine: Any) -> dict[str, str]:
    return {v: build_ksm_image(engine, v) for v in sorted({FLAGGED, KSM_NEW})}


def _addons_yaml(flagged: str) -> str:
    """Both kube-state-metrics (``flagged`` in v2.6.0's namespace, whichever version it is) and the HPA."""
    import yaml

    from tests.kind.workload import WORKLOAD_IMAGE

    docs = _renamed(ksm_manifests(flagged), ksm_namespace(flagged), ksm_namespace(KSM_OLD))
    return yaml.safe_dump_all([*docs, *ksm_manifests(KSM_NEW), *hpa_manifests(HPA_NS, WORKLOAD_IMAGE)],
                              sort_keys=False)


def _renamed(docs: list[dict[str, Any]], old: str, new: str) -> list[dict[str, Any]]:
    import json

    return [json.loads(json.dumps(d).replace(f'"{old}"', f'"{new}"')) for d in docs]


def test_kube_state_metrics_v2beta2_breaks_across_1_26(
        addon_node_images: dict[str, str], ksm_images: dict[str, str], workload_image: str,
        addon_versions: tuple[Version, Version], one_cluster_at_a_time: None, tmp_path: Path) -> None:
    """v2.6.0 calls a removed API before the upgrade and broke after it (observed); v2.7.0 is not flagged."""
    from harness.rehearsal import RehearsalSpec, rehearse
    from harness.scenario import load_scenario

    source, target = addon_versions
    old_ns, new_ns = ksm_namespace(KSM_OLD), ksm_namespace(KSM_NEW)
    (tmp_path / "addons.yaml").write_text(_addons_yaml(FLAGGED))
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    scenario = load_scenario(str(tmp_path / "scenario.yaml"))
    assert not scenario.checks  # the rehearsal's own checks: workloads available, each caller's API calls
    provider = KindProvider(versions=addon_versions, images=addon_node_images,
                            preload=[workload_image, *ksm_images.values()], drain_timeout=20,
                            root=tmp_path / "state")
    ok, why = provider.available()
    assert ok, why
    report_dir = tmp_path / "report"
    spec = RehearsalSpec(source=source, target=target, hops=[target], snapshot=scenario.snapshot, provider=provider,
                         checks=scenario.checks, scenario=scenario.name, scenario_base=tmp_path, keep=True,
                         report_dir=report_dir, cluster_name=f"rehearse-addons-{uuid.uuid4().hex[:6]}")
    cluster = Cluster(name=spec.cluster_name, provider="kind", version=target,
                      kubeconfig=tmp_path / "unset", workdir=tmp_path / "unset")
    t0 = time.monotonic()
    try:
        report = rehearse(spec)
        clusters = provider.list()
        if clusters:
            cluster.kubeconfig, cluster.workdir = clusters[0].workdir / "kubeconfig", clusters[0].workdir
        phases = {p.name: (p.status, round(p.seconds)) for p in report.phases}
        print(f"rehearsal {time.monotonic() - t0:.0f}s, phases: {phases}")
        assert report.error is None, (report.error, phases)
        checks = {c.id: c for c in report.checks}
        for c in checks.values():
            print(f"check {c.id}: {c.classification} ({c.evidence}) {c.after.message if c.after else ''}")
        for f in report.findings:
            print(f"finding {f.kind} {f.object.namespace}/{f.object.name}: {f.cause}")
        # The node images hold the newest patches buildable here (the catalogue's may be newer).
        assert report.to_version.startswith(f"{target.major}.{target.minor}."), report.to_version
        for ns, name in ((old_ns, "kube-state-metrics"), (new_ns, "kube-state-metrics"), (HPA_NS, "hpa-target")):
            cid = f"workload/Deployment/{ns}/{name}"  # available before and after: what a user would check
            assert checks[cid].classification == "ok", checks[cid]

        # Before the upgrade: v2.6.0's Deployment, named, calls a list of v2beta2 HPAs, removed in 1.26.
        removed = [f for f in report.findings if f.kind == "calls-removed-api"]
        flagged = [f for f in removed if f.object.namespace == old_ns]
        assert [(f.object.kind, f.object.name) for f in flagged] == [("Deployment", "kube-state-metrics")], removed
        finding = flagged[0]
        assert "autoscaling/v2beta2 horizontalpodautoscalers" in finding.cause, finding
        assert "removed in 1.26" in finding.cause and finding.evidence == "observed", finding
        assert re.fullmatch(rf"{source.major}\.{source.minor}\.\d+→{target.major}\.{target.minor}\.\d+",
                            finding.hop or ""), finding

        # After it: the same list answers 404, so v2.6.0's check of its own calls broke (observed).
        api_check = checks[f"api-calls/Deployment/{old_ns}/kube-state-metrics"]
        assert api_check.classification == "broke" and api_check.evidence == "observed", api_check
        assert api_check.after is not None and "/apis/autoscaling/v2beta2/horizontalpodautoscalers" in \
            api_check.after.message and "404" in api_check.after.message, api_check

        # v2.7.0, in the same cluster, calls autoscaling/v2: not flagged, its calls still answer.
        assert not [f for f in report.findings if f.object.namespace == new_ns
                    and f.kind in ("calls-removed-api", "calls-deprecated-api")], report.findings
        current = checks[f"api-calls/Deployment/{new_ns}/kube-state-metrics"]
        assert current.classification == "ok", current

        # The kind apiserver's audit log was bound to the cluster's directory on this machine, 0700.
        audit = cluster.workdir / "audit"
        assert (audit / "audit.log").stat().st_size > 0 and audit.stat().st_mode & 0o777 == 0o700
    finally:
        provider.delete(cluster)
    assert provider.list() == []
