"""What rehearse knows about upgrades: removed API versions, how to fix objects that use them, removed flags,
feature gates and configuration fields, which Kubernetes minors each add-on version supports, and behaviour
changes that break clusters without removing anything (notices).

The facts are data in ``harness/data/knowledge/``: curated files (:mod:`~harness.knowledge.curated`, which users
extend with directories of their own) and files generated from the real binaries and Go sources
(:mod:`~harness.knowledge.generated`, written by the derivation tool :mod:`harness.knowledge.derive`, which
nothing at run time imports). :mod:`~harness.knowledge.model` holds the entries and :class:`Knowledge`.
"""

from __future__ import annotations

from harness.knowledge.curated import FILE_NAMES, load_knowledge, packaged_knowledge
from harness.knowledge.generated import removed_admission_plugins, with_generated
from harness.knowledge.model import AddonSupport, Knowledge, RemovedApi, RemovedOption, addon_release
from harness.knowledge.notices import Notice

__all__ = [
    "FILE_NAMES",
    "AddonSupport",
    "Knowledge",
    "Notice",
    "RemovedApi",
    "RemovedOption",
    "addon_release",
    "load_knowledge",
    "packaged_knowledge",
    "removed_admission_plugins",
    "with_generated",
]
