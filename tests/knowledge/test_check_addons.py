"""`make check-addons` (scripts/check_addons.py): lines read before the newest minor's release, or undated."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from harness.versions import catalogue

ROOT = Path(__file__).resolve().parents[2]
NEWEST = catalogue().newest.minor  # "1.37"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_addons", ROOT / "scripts" / "check_addons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_addons"] = module
    spec.loader.exec_module(module)
    return module


TABLE = """\
entries:
  - addon: widget
    versions: "2.x"
    kubernetes: {min: "1.34", max: "NEWEST"}
    source: https://example.com/widget/v2
    source_date: "2026-09-01"
  - addon: widget
    versions: "1.x"
    kubernetes: {min: "1.30", max: "1.33"}
    source: https://example.com/widget/v1
    source_date: "2025-01-10"
  - addon: gadget
    versions: "0.x"
    kubernetes: {min: "1.30", max: null}
    source: https://example.com/gadget
"""


def test_stale_and_undated_lines_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "addons.yaml"
    table.write_text(TABLE.replace("NEWEST", NEWEST), encoding="utf-8")
    assert _script().main(["--file", str(table), "--released", "2026-08-26"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "gadget 0.x (1.30 and later): undated — https://example.com/gadget",
        f"widget 1.x (1.30–1.33): read 2025-01-10, before Kubernetes {NEWEST} (2026-08-26) — "
        "https://example.com/widget/v1",
    ]
    assert _script().main(["--file", str(table), "--released", "2025-01-01"]) == 1  # the undated line remains


def test_a_fresh_table_passes_and_names_add_ons_without_the_newest_minor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "addons.yaml"
    table.write_text(TABLE.replace("NEWEST", NEWEST).split("  - addon: widget\n    versions: \"1.x\"")[0],
                     encoding="utf-8")
    assert _script().main(["--file", str(table), "--released", "2026-08-26"]) == 0
    assert capsys.readouterr().out == ""
    below = f"1.{int(NEWEST.split('.')[1]) - 1}"
    old = TABLE.replace("NEWEST", below).split("  - addon: widget\n    versions: \"1.x\"")[0]
    table.write_text(old, encoding="utf-8")
    assert _script().main(["--file", str(table), "--released", "2026-08-26"]) == 0
    assert capsys.readouterr().out == f"no line covers Kubernetes {NEWEST}: widget\n"


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _script().main(["--released", "last week"]) == 2
    assert capsys.readouterr().err.strip() == "check-addons: --released 'last week': expected YYYY-MM-DD"
    bad = tmp_path / "addons.yaml"
    bad.write_text(TABLE.replace("NEWEST", NEWEST).replace('"2025-01-10"', "yesterday"), encoding="utf-8")
    assert _script().main(["--file", str(bad), "--released", "2026-08-26"]) == 2
    assert "field 'source_date'" in capsys.readouterr().err


def test_the_packaged_table_is_dated_where_it_was_re_read() -> None:
    from harness.knowledge import load_knowledge

    lines = [ln for lines in load_knowledge(generated=False).addons.values() for ln in lines]
    dated = {ln.addon for ln in lines if ln.source_date}
    assert {"ingress-nginx", "cert-manager", "metrics-server", "contour", "calico", "cilium", "argo-cd",
            "kube-state-metrics"} <= dated
    cert_manager = {ln.versions: (ln.min_minor, ln.max_minor) for ln in lines if ln.addon == "cert-manager"}
    assert cert_manager["1.17.x"] == ("1.29", "1.33")
