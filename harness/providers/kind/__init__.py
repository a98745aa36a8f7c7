"""The ``kind`` provider: Docker-container nodes made by the kind CLI, kubeadm upgrades (see :mod:`.provider`)."""

from __future__ import annotations

from harness.providers.kind.node import CLUSTER_LABEL
from harness.providers.kind.prepare import KIND_RELEASE, NoKindImage, image_version, select_images
from harness.providers.kind.provider import KindProvider

__all__ = ["CLUSTER_LABEL", "KIND_RELEASE", "KindProvider", "NoKindImage", "image_version", "select_images"]
