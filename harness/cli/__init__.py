"""The ``rehearse`` command line: a thin floor over the pipeline modules.

Every subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args, ui) -> int``.
Heavy modules are imported only by the subcommand that needs them, so ``rehearse --help`` and a cached
``binaries ensure`` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from harness import __version__
from harness.errors import RehearseError

# name → (module, one-line help). Order is the order of --help.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("harness.cli.run", "rehearse an upgrade end to end (the default command)"),
    "snapshot": ("harness.cli.snapshot", "take a read-only, secret-free inventory of a live cluster"),
    "plan": ("harness.cli.plan", "static analysis of an upgrade: hops, removed APIs, flags (no cluster)"),
    "scenarios": ("harness.cli.scenarios", "list or show the bundled rehearsal scenarios"),
    "binaries": ("harness.cli.binaries", "obtain Kubernetes binaries for the local provider"),
    "clusters": ("harness.cli.clusters", "list or delete clusters left by --keep or a crash"),
    "report": ("harness.cli.report", "work with report directories (merge fleet shards)"),
    "doctor": ("harness.cli.doctor", "what this machine has and what a rehearsal will need, before it starts"),
}

DESCRIPTION = """\
Rehearse a Kubernetes control-plane upgrade before production is touched: snapshot a cluster, recreate
its add-ons in an ephemeral cluster at the current version, run smoke checks, perform the real upgrade,
run the checks again, and report what the upgrade broke.

examples:
  rehearse --from 1.27 --to 1.28                      rehearse the bundled default scenario
  rehearse snapshot -o prod.yaml                      inventory the current kube context (read-only)
  rehearse run --from 1.27 --to 1.29 --snapshot prod.yaml --junit junit.xml
  rehearse plan --from 1.24 --to 1.26 --snapshot prod.yaml
  rehearse binaries ensure --version 1.28             print the directory holding the 1.28 binaries
  rehearse doctor --from 1.27 --to 1.28               what this machine has and what that rehearsal needs

exit codes: 0 nothing broke · 1 the upgrade broke something (plan: blockers) · 2 bad input ·
            3 infrastructure failure (doctor: a missing piece) · 130 interrupted (after cleanup)
"""


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors in one line (``rehearse run: error: … (see rehearse run --help)``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``selected``, only that subcommand's module is imported (the others get a stub that
    still lists them in the usage), which keeps a cached ``binaries ensure`` or a ``plan`` quick to start."""
    parser = _Parser(prog="rehearse", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rehearse {__version__}")
    _add_verbosity(parser)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        if selected is not None and name != selected:
            subs.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(module)
        sub = mod.add_parser(subs, name, help_text)
        _add_verbosity(sub, suppress=True)
        sub.set_defaults(_module=module)
    return parser


def _add_verbosity(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    default = argparse.SUPPRESS if suppress else 0
    parser.add_argument("-v", "--verbose", action="count", default=default, help="more detail (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="errors and the final result only")


_VERBOSITY = ("-v", "-vv", "-vvv", "--verbose", "-q", "--quiet")


def _default_to_run(argv: list[str]) -> list[str]:
    """``rehearse --from X --to Y`` means ``rehearse run --from X --to Y``."""
    if not argv or argv[0] in SUBCOMMANDS:
        return argv
    top_level = {"-h", "--help", "--version"}
    if any(a in top_level for a in argv):
        return argv
    first = next((a for a in argv if a not in _VERBOSITY), None)
    if first is not None and first.startswith("-"):
        return ["run", *argv]
    return argv


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so that every cleanup runs."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rehearse`` console script."""
    args_list = _default_to_run(list(sys.argv[1:] if argv is None else argv))
    command = next((a for a in args_list if a not in _VERBOSITY), None)
    parser = build_parser(command if command in SUBCOMMANDS else None)
    args = parser.parse_args(args_list)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from harness.cli._ui import UI

    verbosity = -1 if getattr(args, "quiet", False) else int(getattr(args, "verbose", 0) or 0)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    ui = UI(verbosity)
    try:
        mod = importlib.import_module(args._module)
        code: int = mod.run(args, ui)
        return code
    except RehearseError as e:
        ui.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted; everything started was cleaned up")
        return 130
    except OSError as e:
        ui.error(f"{e.strerror or e}{f': {e.filename}' if getattr(e, 'filename', None) else ''}")
        return 3
    except Exception as e:  # a bug: still one line and exit 3 (CI must not read it as "broke")
        ui.error(f"unexpected {type(e).__name__}: {e} (run with -v for the traceback; please report it)")
        if verbosity > 0:
            import traceback

            traceback.print_exc()
        return 3
    finally:
        ui.close()
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
