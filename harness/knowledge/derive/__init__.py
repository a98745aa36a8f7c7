"""The derivation tool: knowledge generated from the real binaries, what each minor stopped serving or accepting.

For two consecutive minors N-1 and N, :func:`derive` starts the real kube-apiserver of each (one at a time, on
loopback) and reads what it serves (:mod:`.discovery`). It then asks the binaries of kube-apiserver,
kube-controller-manager and kube-scheduler which flags and feature gates they refuse (:mod:`.probe`): a flag or
gate is removed in N when N-1 accepts it and N answers ``unknown flag`` / ``unrecognized feature gate`` while
parsing its command line. Admission plugins come from the ``--enable-admission-plugins`` help text.

The facts go to ``harness/data/knowledge/generated/<N>.yaml`` (:func:`render_document`, deterministic), which
:mod:`harness.knowledge.generated` reads at run time. Fixes in plain words stay in the hand-curated
``fixes.yaml``. Only ``scripts/generate_knowledge.py`` and the tests import this package.
"""

from __future__ import annotations

from harness.knowledge.derive.diff import BINARIES, COMPONENTS, derive
from harness.knowledge.derive.discovery import Discovery
from harness.knowledge.derive.probe import parse_help, refused_flags, refused_gates
from harness.knowledge.derive.render import render_document

__all__ = [
    "BINARIES",
    "COMPONENTS",
    "Discovery",
    "derive",
    "parse_help",
    "refused_flags",
    "refused_gates",
    "render_document",
]
