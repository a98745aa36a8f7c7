"""What rehearse knows about upgrades: removed API versions, how to fix objects that use them, removed flags and
feature gates, and which Kubernetes minors each add-on version supports.

The facts are data in ``harness/data/knowledge/``: curated files (:mod:`~harness.knowledge.curated`, which users
extend with directories of their own) and files generated from the real binaries
(:mod:`~harness.knowledge.generated`, written by the derivation tool :mod:`harness.knowledge.derive`, which
nothing at run time imports). :mod:`~harness.knowledge.model` holds the entries and :class:`Knowledge`.
"""

from __future__ import annotations

from harness.knowledge.curated import FILE_NAMES, load_knowledge, packaged_knowledge
from harness.knowledge.generated import removed_admission_plugins, with_generated
from harness.knowledge.model import AddonSupport, Knowledge, RemovedApi, RemovedOption, addon_release

__all__ = [
    "FILE_NAMES",
    "AddonSupport",
    "Knowledge",
    "RemovedApi",
    "RemovedOption",
    "addon_release",
    "load_knowledge",
    "packaged_knowledge",
    "removed_admission_plugins",
    "with_generated",
]
