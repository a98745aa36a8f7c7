"""What a node image carries in ``/kind/manifests``: the default CNI and the default storage.

kind's own kindnetd image cannot be had here (it is not a published Go module), nor can rancher's
local-path-provisioner, so the test images carry small stand-ins with the same contract, run from one locally
built image (static busybox + kubectl). Their scripts and manifests are data, in ``harness/data/nodeimage/``:

- ``kindnetd.sh`` / ``default-cni.yaml``: a DaemonSet on the host network that writes the node's CNI config (ptp +
  host-local over the node's podCIDR, plus portmap, as kindnetd does) and keeps a route to every other node's
  podCIDR through that node's InternalIP. kind templates the manifest (``.PodSubnet``) and patches in
  ``CONTROL_PLANE_ENDPOINT``, so the daemon reaches the API server without waiting for kube-proxy, like kindnetd.
- ``local-path.sh`` / ``default-storage.yaml``: the ``standard`` default StorageClass (``rancher.io/local-path``,
  WaitForFirstConsumer) and a provisioner that creates a hostPath volume on the node the scheduler picked for each
  pending claim.

The manifests name the stand-ins' image as ``$image``.
"""

from __future__ import annotations

from importlib import resources
from string import Template


def _data(name: str) -> str:
    return resources.files("harness.data").joinpath("nodeimage").joinpath(name).read_text(encoding="utf-8")


KINDNETD_SCRIPT = _data("kindnetd.sh")
LOCAL_PATH_SCRIPT = _data("local-path.sh")


def cni_manifest(image: str) -> str:
    """``/kind/manifests/default-cni.yaml``: kind templates ``.PodSubnet`` and patches CONTROL_PLANE_ENDPOINT."""
    return Template(_data("default-cni.yaml")).substitute(image=image)


def storage_manifest(image: str) -> str:
    """``/kind/manifests/default-storage.yaml``: the ``standard`` default StorageClass and its provisioner."""
    return Template(_data("default-storage.yaml")).substitute(image=image)
