"""The derivation tool: knowledge generated from the real binaries and from Kubernetes' Go sources — what each
minor stopped serving or accepting.

For two consecutive minors N-1 and N:

- :mod:`.sources` (over :mod:`.gosource`) reads the newest patch of each from the Go module cache (``go mod
  download``, nothing is built): the feature gates every component registers, kubeadm's gates, the flags of
  kubelet and kube-proxy and the fields of their configuration files;
- :func:`binary_facts` (:mod:`.diff`), where the binaries of both are at hand, starts the real kube-apiserver of
  each (one at a time, on loopback) and reads what it serves (:mod:`.discovery`), then asks each component's
  binary which flags and feature gates it refuses (:mod:`.probe`), with the sources' names as candidates;
- :func:`document` (:mod:`.assemble`) puts the two together, tells backports from removals and records how each
  fact is known and which patches (with their release dates) were compared.

The facts go to ``harness/data/knowledge/generated/<N>.yaml`` (:func:`render_document`, deterministic), which
:mod:`harness.knowledge.generated` reads at run time. Fixes in plain words stay in the hand-curated
``fixes.yaml``. Only ``scripts/generate_knowledge.py`` and the tests import this package.
"""

from __future__ import annotations

from harness.knowledge.derive.assemble import SCHEMA, SourceFacts, document, read_source
from harness.knowledge.derive.diff import BINARIES, COMPONENTS, NODE_COMPONENTS, binary_facts
from harness.knowledge.derive.discovery import Discovery
from harness.knowledge.derive.probe import parse_help, refused_flags, refused_gates
from harness.knowledge.derive.render import render_document
from harness.knowledge.derive.sources import Release, fetch_release

__all__ = [
    "BINARIES",
    "COMPONENTS",
    "NODE_COMPONENTS",
    "SCHEMA",
    "Discovery",
    "Release",
    "SourceFacts",
    "binary_facts",
    "document",
    "fetch_release",
    "parse_help",
    "read_source",
    "refused_flags",
    "refused_gates",
    "render_document",
]
