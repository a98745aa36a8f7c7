"""The manifest corpus of the plan tests and its known answers."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "manifests-corpus"


@functools.cache
def expected_entries() -> list[dict[str, Any]]:
    """``fixtures/manifests-corpus/expected.yaml``: one entry per object of a removed API."""
    doc = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
    entries = doc["entries"]
    assert isinstance(entries, list)
    return entries
