"""The command line's outside: help, version, default command, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness import __version__
from harness.cli import SUBCOMMANDS, main


def rehearse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_version() -> None:
    out = rehearse("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"rehearse {__version__}"


def test_help_lists_every_subcommand_with_examples() -> None:
    out = rehearse("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert name in out.stdout
    assert "rehearse --from 1.27 --to 1.28" in out.stdout


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_subcommand_help_has_an_example(name: str) -> None:
    out = rehearse(name, "--help")
    assert out.returncode == 0, out.stderr
    assert "examples:" in out.stdout and f"rehearse {name}" in out.stdout.replace("rehearse --from", "rehearse run")


def test_bad_version_is_one_line_exit_2() -> None:
    out = rehearse("binaries", "ensure", "--version", "1.x")
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "'1.x'" in lines[0] and "1.24" in lines[0]


def test_unknown_component_is_exit_2() -> None:
    out = rehearse("binaries", "ensure", "--version", "1.28", "--components", "kube-nonsense")
    assert out.returncode == 2 and "kube-nonsense" in out.stderr


def test_usage_error_is_exit_2() -> None:
    assert rehearse("binaries").returncode == 2
    assert rehearse("no-such-command").returncode == 2


def test_no_command_prints_help_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
