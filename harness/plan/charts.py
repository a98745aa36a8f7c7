"""Helm charts whose ``kubeVersion`` excludes a hop: helm refuses to install or upgrade them there. Charts of the
snapshot's Helm releases, and charts met in manifest directories (whose templates are left out, with a note)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.errors import InputError
from harness.knowledge.semver import satisfies
from harness.manifests import HelmChart
from harness.plan._base import PlanState
from harness.report.model import Finding, ObjectRef
from harness.snapshot.model import Snapshot


def releases(state: PlanState, snap: Snapshot) -> None:
    """The chart of every Helm release of the snapshot that declares a ``kubeVersion``."""
    for r in snap.helm_releases:
        if r.kube_version:
            ref = ObjectRef(apiVersion="helm.sh/v3", kind="HelmRelease", namespace=r.namespace, name=r.name)
            _kube_version(state, r.kube_version, ref, f"chart {r.chart}-{r.chart_version}", f"release {r.name}",
                          ("helm", r.namespace, r.name))


def directories(state: PlanState, charts: Sequence[HelmChart]) -> None:
    """Charts met in manifest directories: a note that their templates were left out, and their ``kubeVersion``."""
    for chart in charts:
        count = chart.templates
        state.notes.append(f"{chart.path}: Helm chart, {count} template file{'s' if count != 1 else ''} under "
                           f"{chart.path / 'templates'} left out (render them with `helm template` and plan the "
                           "output)")
        if chart.kube_version:
            ref = ObjectRef(apiVersion="helm.sh/v3", kind="Chart", name=str(chart.path))
            _kube_version(state, chart.kube_version, ref, f"chart {chart.path}", f"chart {chart.path}",
                          ("chart", str(chart.path)))


def _kube_version(state: PlanState, constraint: str, ref: ObjectRef, chart: str, what: str,
                  order: tuple[Any, ...]) -> None:
    """A chart's ``kubeVersion`` against each hop: the first hop it excludes is a blocker."""
    for hop in state.hops:
        try:
            ok = satisfies(constraint, hop.version.tag)
        except InputError as e:
            state.add(Finding(
                severity="warning", kind="addon-incompatible", object=ref,
                cause=f"{chart} declares kubeVersion '{constraint}', which cannot be read ({e}); Helm treats "
                      f"it as incompatible", fix=f"fix the kubeVersion of {chart}"), order)
            return
        if not ok:
            state.add(Finding(
                severity="blocker", kind="addon-incompatible", object=ref,
                cause=f"{chart} declares kubeVersion '{constraint}', which {hop.version.tag} does not "
                      f"satisfy (hop {hop.label}): helm will refuse to install or upgrade {what} there",
                fix=f"upgrade to a version of the chart whose kubeVersion admits {hop.version.minor_key} "
                    f"before upgrading the cluster to {hop.version.minor_key}", hop=hop.label), order)
            return
