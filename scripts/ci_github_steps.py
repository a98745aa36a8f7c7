#!/usr/bin/env python3
"""Run a GitHub Actions workflow's ``run:`` steps here, in order, the way a runner would.

    python scripts/ci_github_steps.py ci/github/rehearse-nightly.yml --out /tmp/gh \\
        --fleet eu=tests/ci/fixtures/cluster-pass.yaml --fleet us=tests/ci/fixtures/cluster-broke.yaml

Jobs run one after the other in ``needs`` order, each matrix instance in a fresh workspace. A ``run:`` step is
written to a script file after ``${{ … }}`` has been substituted from the ``github``, ``env``, ``inputs``,
``matrix``, ``steps``, ``needs``, ``runner``, ``vars`` and ``secrets`` contexts, and started the way GitHub's Linux
runner starts it (actions/runner, ``ScriptHandler``): the shell is the step's ``shell:``, else ``defaults.run.shell``
of the job, else of the workflow; without one it is ``bash -e {0}`` (bash found on PATH, else sh: ``-e`` and *no*
pipefail, so ``cmd | tee log`` has tee's status). ``shell: bash`` is ``bash --noprofile --norc -e -o pipefail {0}``,
``shell: sh`` is ``sh -e {0}``, and any other string holding ``{0}`` is a command used as given (the program is the
text before the first space, its arguments split as .NET splits them: blanks, double quotes, no single quotes;
``{0}`` is the script file). ``pwsh``, ``powershell``, ``cmd`` and ``python`` by name, and a string without
``{0}``, are refused (exit 2). The working directory is the step's ``working-directory``, else ``defaults.run``'s,
relative to the workspace. ``if:``, ``continue-on-error``, ``fail-fast``, step outputs (``$GITHUB_OUTPUT``), job
outputs, ``$GITHUB_ENV``, ``$GITHUB_PATH`` and the job summary (``$GITHUB_STEP_SUMMARY``, one file per job here)
behave as on GitHub; ``run.json`` records each step's shell line as GitHub's log prints it (``shell: …``).

``uses:`` steps are GitHub services. Those that only move files are emulated and say so: ``actions/checkout``
copies the working tree of ``--repo`` (default: the git repository holding the workflow) into the workspace,
``actions/setup-python`` puts a fresh virtualenv of this Python first on PATH that sees this Python's packages
(also when this Python is a virtualenv's: ``make_venv``), ``actions/upload-artifact`` /
``actions/download-artifact`` copy through ``OUT/artifacts/`` with v4's layout (``pattern``, ``merge-multiple``).
The others are skipped with the reason recorded: ``actions/cache`` (the machine's own cache directory is used as
is) and JUnit publishers (GitHub's checks API; their ``report_paths`` glob is still matched against the workspace
and the matches recorded).

``--fleet NAME=SNAPSHOT`` (repeatable) replaces the ``include`` list of every matrix whose entries have
``cluster`` and ``snapshot``: what a user edits in the template. Everything that happened is written to
``OUT/run.json``. Exit code: 0 when every job succeeded or was skipped, 1 when a job failed or was cancelled,
2 for bad usage or a construct this runner does not support (it says which, rather than guessing).
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import itertools
import json
import math
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import time
import venv
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@v\d+$")


class Unsupported(Exception):
    """A workflow construct this runner does not emulate."""


# --- expressions -------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<num>(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?))
      | (?P<op>\|\||&&|==|!=|<=|>=|[<>!().,\[\]*])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Unsupported(f"cannot read expression {text!r} at {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()  # GitHub compares strings ignoring case
    if type(a) is type(b) and not isinstance(a, (int, float)):
        return bool(a == b) if a is None or isinstance(a, bool) else a is b
    return _number(a) == _number(b)


def to_text(value: Any) -> str:
    """A value as ``${{ }}`` puts it into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    return str(value)


class _Parser:
    def __init__(self, text: str, contexts: dict[str, Any], status: str) -> None:
        self.text, self.tokens, self.pos = text, _tokens(text), 0
        self.contexts, self.status = contexts, status

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "end" or (value is not None and tok[1] != value):
            raise Unsupported(f"expression {self.text!r}: expected {value or 'more'} at token {self.pos}")
        self.pos += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        if self.peek()[0] != "end":
            raise Unsupported(f"expression {self.text!r}: unexpected {self.peek()[1]!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        ops: dict[str, Callable[[Any, Any], bool]] = {
            "==": _equal, "!=": lambda a, b: not _equal(a, b),
            "<": lambda a, b: _number(a) < _number(b), ">": lambda a, b: _number(a) > _number(b),
            "<=": lambda a, b: _number(a) <= _number(b), ">=": lambda a, b: _number(a) >= _number(b),
        }
        while self.peek()[0] == "op" and self.peek()[1] in ops:
            op = self.take()[1]
            value = ops[op](value, self.unary())
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.postfix(self.primary())

    def postfix(self, value: Any) -> Any:
        while True:
            if self.peek() == ("op", "."):
                self.take()
                kind, name = self.take()
                if kind != "name":
                    raise Unsupported(f"expression {self.text!r}: property {name!r}")
                value = _get(value, name)
            elif self.peek() == ("op", "["):
                self.take()
                key = self.or_()
                self.take("]")
                value = _get(value, key)
            else:
                return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return _number(text)
        if kind == "op" and text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            raise Unsupported(f"expression {self.text!r}: unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == ("op", "("):
            self.take()
            args: list[Any] = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            return self.call(text, args)
        if text not in self.contexts:
            raise Unsupported(f"expression {self.text!r}: context {text!r} is not emulated")
        return self.contexts[text]

    def call(self, name: str, args: list[Any]) -> Any:
        status = self.status
        functions: dict[str, Callable[..., Any]] = {
            "success": lambda: status == "success",
            "failure": lambda: status == "failure",
            "cancelled": lambda: status == "cancelled",
            "always": lambda: True,
            "contains": lambda hay, needle: (any(_equal(x, needle) for x in hay) if isinstance(hay, list)
                                             else to_text(needle).casefold() in to_text(hay).casefold()),
            "startsWith": lambda s, p: to_text(s).casefold().startswith(to_text(p).casefold()),
            "endsWith": lambda s, p: to_text(s).casefold().endswith(to_text(p).casefold()),
            "format": lambda f, *a: re.sub(r"\{(\d+)\}", lambda m: to_text(a[int(m.group(1))]), to_text(f)),
            "join": lambda a, sep=",": to_text(sep).join(to_text(x) for x in a) if isinstance(a, list) else to_text(a),
            "toJSON": lambda v: json.dumps(v, indent=2),
            "fromJSON": lambda s: json.loads(to_text(s)),
        }
        if name not in functions:
            raise Unsupported(f"expression {self.text!r}: function {name}() is not emulated")
        return functions[name](*args)


def _get(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(key, str):
            for k, v in value.items():  # property names are case-insensitive
                if str(k).casefold() == key.casefold():
                    return v
        return None
    if isinstance(value, list) and isinstance(key, (int, float)) and not isinstance(key, bool):
        index = int(key)
        return value[index] if 0 <= index < len(value) else None
    return None


def evaluate(expression: str, contexts: dict[str, Any], status: str = "success") -> Any:
    """Evaluate one expression (with or without its ``${{ }}``)."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
        text = text[3:-2]
    return _Parser(text, contexts, status).parse()


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def interpolate(text: Any, contexts: dict[str, Any], status: str = "success") -> str:
    """Substitute every ``${{ expr }}`` in ``text``."""
    return _TEMPLATE.sub(lambda m: to_text(evaluate(m.group(1), contexts, status)), to_text(text))


def condition(expression: Any, contexts: dict[str, Any], status: str) -> bool:
    """An ``if:``; without a status function it implies ``success() &&``."""
    if expression is None or expression == "":
        return status == "success"
    if isinstance(expression, bool):
        return expression and status == "success"
    text = to_text(expression).strip()
    inner = text[3:-2] if text.startswith("${{") and text.endswith("}}") else text
    value = truthy(evaluate(inner, contexts, status))
    if not re.search(r"\b(success|failure|always|cancelled)\s*\(", inner):
        value = value and status == "success"
    return value


# --- shells ------------------------------------------------------------------------------------------------------
# As actions/runner does it on Linux (src/Runner.Worker/Handlers/ScriptHandler.cs, ScriptHandlerHelpers.cs): the
# shell option is the step's ``shell``, else ``defaults.run.shell`` (the job's, else the workflow's). Without one,
# the program is bash if found on PATH (else sh) with sh's argument format ``-e {0}``: no pipefail. A named shell is
# split at its first space into a program and an argument format; a bare built-in name takes its format below.
# One deviation: the runner puts the script's path into the format before splitting it; here it goes in after, so
# an --out path with blanks stays one argument (a runner's temp directory has none).

BUILTIN_SHELL_ARGS = {"bash": "--noprofile --norc -e -o pipefail {0}", "sh": "-e {0}"}
NOT_EMULATED_SHELLS = ("pwsh", "powershell", "cmd", "python")  # GitHub built-ins this runner does not run
SCRIPT_EXTENSIONS = {"bash": ".sh", "sh": ".sh"}
SCRIPT = "\0script\0"  # where the script file goes in the split arguments (no argument can hold a NUL)


@dataclass(frozen=True)
class Shell:
    """How one ``run:`` step is started: ``program`` with ``args`` (one of them holds ``{0}``, the script file)."""

    option: str | None  # the shell option in force (None: GitHub's default)
    source: str  # where it was set
    command: str  # the program's name (bash, sh, python3 …)
    fmt: str  # the argument format, as GitHub's log shows it
    args: tuple[str, ...]  # split, with SCRIPT where the script file goes
    extension: str

    def argv(self, program: str, script: Path) -> list[str]:
        return [program, *(a.replace(SCRIPT, str(script)) for a in self.args)]


def run_defaults(owner: dict[str, Any], what: str) -> dict[str, Any]:
    """``defaults.run`` of a workflow or a job (``{}`` when absent)."""
    defaults = owner.get("defaults") or {}
    run = defaults.get("run") if isinstance(defaults, dict) else None
    if not isinstance(defaults, dict) or not isinstance(run or {}, dict):
        raise Unsupported(f"{what}: defaults.run must be a mapping")
    return dict(run or {})


def split_arguments(text: str) -> list[str]:
    """Split an argument string as .NET's ``Process`` does on Unix (the runner starts the shell that way): blanks
    separate, double quotes group (``""`` inside quotes is one quote), backslashes escape only a quote; single
    quotes are ordinary characters."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i == n:
            break
        arg: list[str] = []
        quoted = False
        while i < n:
            slashes = 0
            while i < n and text[i] == "\\":
                slashes += 1
                i += 1
            if slashes:
                if i < n and text[i] == '"':
                    arg.append("\\" * (slashes // 2))
                    if slashes % 2:
                        arg.append('"')
                        i += 1
                else:
                    arg.append("\\" * slashes)
                continue
            c = text[i]
            if c == '"':
                if quoted and i + 1 < n and text[i + 1] == '"':
                    arg.append('"')
                    i += 1
                else:
                    quoted = not quoted
                i += 1
                continue
            if c in " \t" and not quoted:
                break
            arg.append(c)
            i += 1
        out.append("".join(arg))
    return out


def _format_args(fmt: str, where: str) -> str:
    """.NET ``string.Format(fmt, script)`` with SCRIPT for the script: ``{{``/``}}`` are braces; any other
    placeholder makes the runner fail."""
    def one(m: re.Match[str]) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        if m.group(0) == "{0}":
            return SCRIPT
        raise Unsupported(f"{where}: {m.group(0)!r} in the shell's arguments: GitHub's runner cannot format it")
    return re.sub(r"\{\{|\}\}|\{[^{}]*\}|[{}]", one, fmt)


def resolve_shell(step: dict[str, Any], job_run: dict[str, Any], workflow_run: dict[str, Any], where: str) -> Shell:
    """The shell GitHub's Linux runner starts for a ``run:`` step; Unsupported for what it cannot emulate."""
    option, source = None, "GitHub's default (no shell set)"
    for value, origin in ((step.get("shell"), "the step's shell"), (job_run.get("shell"), "the job's defaults.run"),
                          (workflow_run.get("shell"), "the workflow's defaults.run")):
        if value is not None and to_text(value) != "":
            option, source = to_text(value), origin
            break
    if option is None:
        fmt = BUILTIN_SHELL_ARGS["sh"]
        return Shell(None, source, "sh", fmt, tuple(split_arguments(_format_args(fmt, where))), ".sh")
    command, _, rest = option.partition(" ")
    fmt = rest.lstrip() or BUILTIN_SHELL_ARGS.get(command.lower(), "")
    if not rest.strip() and command.lower() in NOT_EMULATED_SHELLS:
        raise Unsupported(f"{where}: shell {option!r} (set by {source}) is not emulated: only bash, sh and "
                          "custom shells ('COMMAND … {0}') are")
    if "{0}" not in fmt:
        raise Unsupported(f"{where}: shell {option!r} (set by {source}): GitHub refuses it: a shell must be a "
                          "built-in (bash, sh, cmd, powershell, pwsh) or a format string containing '{0}'")
    args = tuple(split_arguments(_format_args(fmt, where)))
    return Shell(option, source, command, fmt, args, SCRIPT_EXTENSIONS.get(command.lower(), ""))


def find_program(shell: Shell, path: str) -> str | None:
    """Where the runner finds the program on the step's PATH (the default: bash, else sh)."""
    if shell.option is None:
        return shutil.which("bash", path=path) or shutil.which("sh", path=path)
    if os.sep in shell.command:
        return shell.command if os.access(shell.command, os.X_OK) else None
    return shutil.which(shell.command, path=path)


# --- the workflow ------------------------------------------------------------------------------------------------


def load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
        raise Unsupported(f"{path}: not a workflow (no jobs)")
    if True in data and "on" not in data:  # YAML 1.1 reads the key `on` as true
        data["on"] = data.pop(True)
    return data


def job_order(jobs: dict[str, Any]) -> list[str]:
    """Jobs in ``needs`` order, the file's order among jobs that are ready together."""
    done: list[str] = []
    pending = list(jobs)
    while pending:
        ready = [j for j in pending if all(n in done for n in _needs(jobs[j]))]
        if not ready:
            raise Unsupported(f"jobs with unknown or circular needs: {', '.join(pending)}")
        done.append(ready[0])
        pending.remove(ready[0])
    return done


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(n) for n in needs]


def matrix_instances(job: dict[str, Any], fleet: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """The matrix combinations of a job (``[{}]`` without a matrix); ``fleet`` replaces a cluster/snapshot list."""
    strategy = job.get("strategy") or {}
    matrix = strategy.get("matrix")
    if matrix is None:
        return [{}]
    if not isinstance(matrix, dict):
        raise Unsupported("a matrix given as an expression")
    include = list(matrix.get("include") or [])
    if fleet is not None and include and all({"cluster", "snapshot"} <= set(e) for e in include):
        include = [dict(e) for e in fleet]
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    combos: list[dict[str, Any]] = [dict(zip(axes, values, strict=True))
                                    for values in itertools.product(*axes.values())] if axes else []
    for ex in matrix.get("exclude") or []:
        combos = [c for c in combos if not all(c.get(k) == v for k, v in ex.items())]
    for extra in include:
        matched = [c for c in combos if all(c.get(k) == v for k, v in extra.items() if k in axes)]
        if axes and matched and all(k in axes or k not in c for c in matched for k in extra):
            for c in matched:
                c.update(extra)
        else:
            combos.append(dict(extra))
    return combos or [{}]


# --- running -----------------------------------------------------------------------------------------------------


@dataclass
class StepRecord:
    name: str
    kind: str  # run | emulated | skipped | not-run
    id: str = ""
    uses: str = ""
    pinned: bool | None = None
    reason: str = ""
    outcome: str = "skipped"  # success | failure | skipped
    conclusion: str = "skipped"
    exit_code: int | None = None
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobRecord:
    id: str
    name: str
    matrix: dict[str, Any]
    result: str = "skipped"  # success | failure | cancelled | skipped
    reason: str = ""
    workspace: str = ""
    summary: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)


def _read_kv_file(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` / ``$GITHUB_ENV``: ``key=value`` lines and ``key<<DELIM`` … ``DELIM`` blocks."""
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            i += 1
            out[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


def _copy_tree(src: Path, dest: Path) -> int:
    count = 0
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(os.readlink(path))
            count += 1
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
    return count


def copy_working_tree(repo: Path, dest: Path) -> int:
    """Copy what ``git`` sees in ``repo`` (tracked and untracked files, not ignored ones) to ``dest``."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout
    count = 0
    for rel in sorted({p for p in listed.decode().split("\0") if p}):
        src, target = repo / rel, dest / rel
        if src.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(src))
        elif src.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        else:
            continue  # deleted in the working tree, or a submodule
        count += 1
    return count


def make_venv(target: Path) -> Path:
    """A virtualenv of this Python that sees its packages (``pip install`` goes into the virtualenv); its bin dir.

    It has no pip of its own: ``pip`` there runs this Python's pip with the virtualenv's interpreter. When this
    Python is itself a virtualenv's, the new one is made from the base interpreter (as ``venv`` does), sees the base
    site-packages only if this virtualenv does, and sees this virtualenv's site-packages through a ``.pth`` file
    (``site.addsitedir``, so their own ``.pth`` files, editable installs among them, are read too)."""
    outer = sys.prefix != sys.base_prefix
    venv.EnvBuilder(system_site_packages=_sees_system_site() if outer else True, with_pip=False,
                    symlinks=True).create(target)
    if outer:
        dirs = [d for d in site.getsitepackages([sys.prefix]) if Path(d).is_dir()]
        scheme = "venv" if "venv" in sysconfig.get_scheme_names() else "posix_prefix"
        inner = Path(sysconfig.get_path("purelib", scheme, vars={"base": str(target), "platbase": str(target)}))
        inner.mkdir(parents=True, exist_ok=True)
        (inner / "ci-github-steps-outer-venv.pth").write_text(
            "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs), encoding="utf-8")
    pip = target / "bin" / "pip"
    pip.write_text(f'#!/bin/sh\nexec "{target / "bin" / "python"}" -m pip "$@"\n', encoding="utf-8")
    pip.chmod(0o755)
    return target / "bin"


def _sees_system_site() -> bool:
    """Whether this virtualenv was made with ``--system-site-packages`` (its ``pyvenv.cfg`` says)."""
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    text = cfg.read_text(encoding="utf-8") if cfg.is_file() else ""
    found = re.search(r"^\s*include-system-site-packages\s*=\s*(\w+)", text, re.MULTILINE)
    return found is not None and found.group(1).lower() == "true"


class Runner:
    def __init__(self, workflow: Path, out: Path, *, repo: Path, event: str, inputs: dict[str, str],
                 secrets: dict[str, str], variables: dict[str, str], fleet: list[dict[str, str]] | None,
                 only: list[str] | None, echo: Callable[[str], None] = print) -> None:
        self.workflow_path, self.out, self.repo = workflow, out, repo
        self.wf = load_workflow(workflow)
        self.event, self.fleet, self.only = event, fleet, only
        self.secrets = {"GITHUB_TOKEN": "", **secrets}
        # Like GitHub, secrets (and each line of a multi-line one) are masked in logs and in run.json.
        masks = {v for v in secrets.values() if v} | {ln.strip() for v in secrets.values()
                                                      for ln in v.splitlines() if len(ln.strip()) > 3}
        self.masks = sorted(masks, key=len, reverse=True)
        self.echo: Callable[[str], None] = lambda line: echo(self.mask(line))
        self.vars = variables
        declared = ((self.wf.get("on") or {}).get("workflow_dispatch") or {}).get("inputs") or {} \
            if isinstance(self.wf.get("on"), dict) else {}
        self.inputs: dict[str, Any] = {}
        if event == "workflow_dispatch":
            self.inputs = {k: (v or {}).get("default", "") for k, v in declared.items()}
            unknown = set(inputs) - set(declared)
            if unknown:
                raise Unsupported(f"--input {', '.join(sorted(unknown))}: not an input of the workflow")
            self.inputs.update(inputs)
        elif inputs:
            raise Unsupported("--input needs --event workflow_dispatch")
        self.wf_env: dict[str, str] = {}
        self.wf_run = run_defaults(self.wf, "the workflow")
        self.jobs: list[JobRecord] = []
        self.results: dict[str, dict[str, Any]] = {}  # job id -> {result, outputs}
        self.counter = 0

    def mask(self, text: str) -> str:
        for secret in self.masks:
            text = text.replace(secret, "***")
        return text

    # contexts
    def github(self, job_id: str, workspace: Path) -> dict[str, Any]:
        return {"event_name": self.event, "workspace": str(workspace), "job": job_id, "repository": "local/rehearse",
                "repository_owner": "local", "ref": "refs/heads/main", "sha": "0" * 40, "run_id": "1",
                "run_number": "1", "run_attempt": "1", "actor": "local", "server_url": "https://github.com",
                "workflow": str(self.wf.get("name", "")), "token": "", "event": {"inputs": self.inputs}}

    def workflow_env(self) -> dict[str, str]:
        """The workflow-level ``env:``, evaluated (it may use github, inputs, vars and secrets)."""
        base: dict[str, Any] = {"github": self.github("", self.out), "inputs": self.inputs, "vars": self.vars,
                                "secrets": self.secrets}
        return {str(k): interpolate(v, base) for k, v in (self.wf.get("env") or {}).items()}

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "artifacts").mkdir(exist_ok=True)
        self.wf_env = self.workflow_env()
        for job_id in job_order(self.wf["jobs"]):
            if self.only is not None and job_id not in self.only:
                continue
            self.run_job(job_id, self.wf["jobs"][job_id])
        self.write_record()
        bad = [j for j in self.jobs if j.result in ("failure", "cancelled")]
        self.echo(f"==> {len(self.jobs)} job runs: " + ", ".join(f"{j.name}: {j.result}" for j in self.jobs))
        return 1 if bad else 0

    def write_record(self) -> None:
        doc = {"workflow": str(self.workflow_path), "event": self.event, "inputs": self.inputs,
               "env": self.wf_env, "jobs": [asdict(j) for j in self.jobs]}
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        (self.out / "run.json").write_text(self.mask(text), encoding="utf-8")

    def run_job(self, job_id: str, job: dict[str, Any]) -> None:
        for key in ("container", "services", "uses"):
            if key in job:
                raise Unsupported(f"job {job_id}: '{key}' is not emulated")
        needs = {n: self.results.get(n, {"result": "skipped", "outputs": {}}) for n in _needs(job)}
        need_results = {v["result"] for v in needs.values()}
        # At job level success() means every needed job succeeded; a skipped one makes it false, as on GitHub.
        status = "failure" if need_results & {"failure", "cancelled"} else \
            ("success" if need_results <= {"success"} else "skipped")
        instances = matrix_instances(job, self.fleet)
        records: list[JobRecord] = []
        fail_fast = bool((job.get("strategy") or {}).get("fail-fast", True))
        for matrix in instances:
            ctx = {"github": self.github(job_id, self.out), "inputs": self.inputs, "vars": self.vars,
                   "secrets": self.secrets, "matrix": matrix, "needs": needs, "env": self.wf_env,
                   "strategy": {"fail-fast": fail_fast, "job-total": len(instances)},
                   "runner": {"os": "Linux", "arch": "X64", "name": "local", "temp": ""}}
            if "name" in job:
                name = interpolate(job["name"], ctx)
            elif matrix:
                name = f"{job_id} ({', '.join(to_text(v) for v in matrix.values())})"
            else:
                name = job_id
            record = JobRecord(job_id, name, matrix)
            records.append(record)
            self.jobs.append(record)
            if not condition(job.get("if"), ctx, status):
                record.reason = f"if: {job.get('if', 'success()')} is false (needs: {status})"
                self.echo(f"==> job {name}: skipped ({record.reason})")
                continue
            if fail_fast and any(r.result == "failure" for r in records[:-1]):
                record.result, record.reason = "cancelled", "fail-fast: another matrix job failed"
                self.echo(f"==> job {name}: cancelled ({record.reason})")
                continue
            self.run_instance(job_id, job, record, ctx)
        results = {r.result for r in records}
        outputs: dict[str, str] = {}
        for r in records:
            outputs.update({k: v for k, v in r.outputs.items() if v})
        result = "failure" if "failure" in results else "cancelled" if "cancelled" in results else \
            "success" if "success" in results else "skipped"
        self.results[job_id] = {"result": result, "outputs": outputs}

    def run_instance(self, job_id: str, job: dict[str, Any], record: JobRecord, ctx: dict[str, Any]) -> None:
        self.counter += 1
        label = re.sub(r"[^A-Za-z0-9_.-]+", "-", record.name).strip("-")
        home = self.out / "jobs" / f"{self.counter:02d}-{label}"
        if home.exists():
            shutil.rmtree(home)
        workspace, temp, logs = home / "workspace", home / "temp", home / "logs"
        for d in (workspace, temp, logs):
            d.mkdir(parents=True)
        summary = home / "summary.md"
        summary.touch()
        record.workspace, record.summary = str(workspace), str(summary)
        ctx = {**ctx, "github": self.github(job_id, workspace),
               "runner": {**ctx["runner"], "temp": str(temp)}, "steps": {}, "job": {"status": "success"}}
        job_env = {**self.wf_env, **{str(k): interpolate(v, ctx) for k, v in (job.get("env") or {}).items()}}
        ctx["env"] = job_env
        state = {"status": "success", "path": [], "env": {}, "run": run_defaults(job, f"job {job_id}")}
        self.echo(f"==> job {record.name}")
        for index, step in enumerate(job.get("steps") or [], 1):
            rec = self.run_step(index, step, ctx, state, workspace, temp, summary, logs)
            record.steps.append(rec)
            if rec.id:
                ctx["steps"][rec.id] = {"outputs": rec.outputs, "outcome": rec.outcome, "conclusion": rec.conclusion}
            if rec.conclusion == "failure":
                state["status"] = "failure"
                ctx["job"] = {"status": "failure"}
        record.result = "failure" if state["status"] == "failure" else "success"
        record.outputs = {str(k): interpolate(v, ctx) for k, v in (job.get("outputs") or {}).items()}
        self.echo(f"==> job {record.name}: {record.result}")

    def run_step(self, index: int, step: dict[str, Any], ctx: dict[str, Any], state: dict[str, Any],
                 workspace: Path, temp: Path, summary: Path, logs: Path) -> StepRecord:
        uses = str(step.get("uses", ""))
        name = interpolate(step.get("name") or (f"Run {uses}" if uses else to_text(step.get("run", "")).split("\n")[0]),
                           ctx)
        rec = StepRecord(name=name, kind="run" if "run" in step else "emulated", id=str(step.get("id", "")),
                         uses=uses)
        if uses:
            rec.pinned = bool(PINNED.match(uses))
        env = {**ctx["env"], **state["env"]}
        step_ctx = {**ctx, "env": env}
        env.update({str(k): interpolate(v, step_ctx) for k, v in (step.get("env") or {}).items()})
        if not condition(step.get("if"), step_ctx, state["status"]):
            rec.kind, rec.reason = "not-run", f"if: {step.get('if', 'success()')} is false"
            self.echo(f"--> {name}: not run ({rec.reason})")
            return rec
        started = time.monotonic()
        try:
            if "run" in step:
                self.run_script(rec, step, step_ctx, state, workspace, temp, summary, logs / f"{index:02d}.log")
            else:
                self.run_action(rec, uses, step, step_ctx, state, workspace, temp)
        finally:
            rec.seconds = round(time.monotonic() - started, 2)
        continue_on_error = truthy(evaluate(to_text(step["continue-on-error"]), step_ctx)) \
            if "continue-on-error" in step else False
        rec.conclusion = "success" if rec.outcome == "failure" and continue_on_error else rec.outcome
        shown = rec.kind if rec.kind == "run" else f"{rec.kind}: {rec.reason}"
        self.echo(f"--> {name}: {rec.outcome} ({shown}, {rec.seconds:.1f} s)")
        return rec

    def step_env(self, env: dict[str, str], ctx: dict[str, Any], state: dict[str, Any], workspace: Path,
                 temp: Path, summary: Path, files: dict[str, Path]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
        path = os.pathsep.join([*reversed(state["path"]), base.get("PATH", "")])
        return {**base, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
                "GITHUB_EVENT_NAME": self.event, "GITHUB_JOB": ctx["github"]["job"], "RUNNER_OS": "Linux",
                "RUNNER_TEMP": str(temp), "GITHUB_STEP_SUMMARY": str(summary),
                **{k: str(v) for k, v in files.items()}, **env, "PATH": path}

    def run_script(self, rec: StepRecord, step: dict[str, Any], ctx: dict[str, Any], state: dict[str, Any],
                   workspace: Path, temp: Path, summary: Path, log: Path) -> None:
        shell = resolve_shell(step, state["run"], self.wf_run, f"step {rec.name!r}")
        script = interpolate(step["run"], ctx)
        files = {key: temp / f"{key.lower()}-{log.stem}" for key in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
        for f in files.values():
            f.touch()
        script_file = temp / f"step-{log.stem}{shell.extension}"
        script_file.write_text(script + "\n", encoding="utf-8")
        directory = next((to_text(d) for d in (step.get("working-directory"), state["run"].get("working-directory"),
                                               self.wf_run.get("working-directory")) if d not in (None, "")), "")
        cwd = workspace / interpolate(directory, ctx)
        env = self.step_env(ctx["env"], ctx, state, workspace, temp, summary, files)
        program = find_program(shell, env["PATH"])
        rec.details.update(log=str(log), shell=f"{program or shell.command} {shell.fmt}", shell_source=shell.source)
        self.echo(f"    shell: {program or shell.command} {shell.fmt}")  # as GitHub's log shows it
        if program is None or not cwd.is_dir():
            rec.outcome = "failure"  # as on GitHub: the step fails before the script runs
            rec.reason = f"{shell.command}: not found on PATH" if program is None else f"no directory {cwd}"
            self.echo(f"    {rec.reason}")
            return
        with log.open("w", encoding="utf-8") as out, subprocess.Popen(
                shell.argv(program, script_file), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, errors="replace") as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(self.mask(line))
                self.echo("    " + line.rstrip("\n"))
            code = proc.wait()
        rec.exit_code = code
        rec.outcome = "success" if code == 0 else "failure"
        rec.outputs = _read_kv_file(files["GITHUB_OUTPUT"])
        state["env"].update(_read_kv_file(files["GITHUB_ENV"]))
        state["path"] += [p for p in files["GITHUB_PATH"].read_text(encoding="utf-8").splitlines() if p]

    def run_action(self, rec: StepRecord, uses: str, step: dict[str, Any], ctx: dict[str, Any],
                   state: dict[str, Any], workspace: Path, temp: Path) -> None:
        action = uses.split("@", 1)[0]
        inputs = {str(k): interpolate(v, ctx) for k, v in (step.get("with") or {}).items()}
        rec.details["with"] = inputs
        rec.outcome = "success"
        try:
            if action == "actions/checkout":
                count = copy_working_tree(self.repo, workspace)
                rec.reason = f"copied the working tree of {self.repo} ({count} files)"
            elif action == "actions/setup-python":
                rec.reason = self.setup_python(inputs, state, temp)
            elif action == "actions/upload-artifact":
                rec.reason = self.upload(inputs, workspace)
            elif action == "actions/download-artifact":
                rec.reason = self.download(inputs, workspace)
            elif action in ("actions/cache", "actions/cache/restore", "actions/cache/save"):
                rec.kind = "skipped"
                rec.reason = "GitHub's cache service; the machine's own cache directory is used as is"
                if action != "actions/cache/save":
                    rec.outputs = {"cache-hit": "false"}
            elif action in ("mikepenz/action-junit-report", "dorny/test-reporter"):
                pattern = inputs.get("report_paths") or inputs.get("path") or ""
                matched = sorted(str(Path(p).relative_to(workspace))
                                 for line in pattern.splitlines() if line.strip()
                                 for p in glob.glob(str(workspace / line.strip()), recursive=True))
                rec.kind, rec.details["matched"] = "skipped", matched
                rec.reason = f"GitHub's checks API; {pattern!r} matches {len(matched)} file(s) here"
            else:
                rec.kind, rec.reason = "skipped", "not emulated"
        except StepFailed as e:
            rec.outcome, rec.reason = "failure", str(e)

    # emulated actions
    def setup_python(self, inputs: dict[str, str], state: dict[str, Any], temp: Path) -> str:
        state["path"].append(str(make_venv(temp / "python")))
        have = ".".join(str(v) for v in sys.version_info[:3])
        return f"a virtualenv of Python {have} (system site packages) for python-version {inputs.get('python-version')}"

    def upload(self, inputs: dict[str, str], workspace: Path) -> str:
        name = inputs.get("name") or "artifact"
        dest = self.out / "artifacts" / name
        if dest.exists():
            raise StepFailed(f"an artifact named {name!r} already exists in this run")
        paths: list[Path] = []
        for raw in (inputs.get("path") or "").splitlines():
            line = raw.strip()
            if not line or line.startswith("!"):
                continue
            full = Path(line).expanduser()
            full = full if full.is_absolute() else workspace / full
            if glob.has_magic(line):
                paths += [Path(p) for p in glob.glob(str(full))]
            elif full.exists():
                paths.append(full)
        if not paths:
            if inputs.get("if-no-files-found", "warn") == "error":
                raise StepFailed(f"no files found at {inputs.get('path')!r}")
            return f"no files found at {inputs.get('path')!r}: nothing uploaded"
        root = paths[0] if len(paths) == 1 and paths[0].is_dir() else \
            Path(os.path.commonpath([p if p.is_dir() else p.parent for p in paths]))
        count = 0
        for p in paths:
            if p.is_dir():
                count += _copy_tree(p, dest / p.relative_to(root))
            else:
                (dest / p.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, dest / p.relative_to(root))
                count += 1
        return f"stored artifact {name!r} ({count} files) in {dest}"

    def download(self, inputs: dict[str, str], workspace: Path) -> str:
        store = self.out / "artifacts"
        target = Path(inputs.get("path") or ".").expanduser()
        target = target if target.is_absolute() else workspace / target
        if inputs.get("name"):
            src = store / inputs["name"]
            if not src.is_dir():
                raise StepFailed(f"artifact {inputs['name']!r} not found")
            return f"copied artifact {inputs['name']!r} ({_copy_tree(src, target)} files) to {target}"
        pattern = inputs.get("pattern") or "*"
        names = sorted(p.name for p in store.iterdir() if fnmatch.fnmatchcase(p.name, pattern))
        merge = inputs.get("merge-multiple", "false").lower() == "true"
        count = sum(_copy_tree(store / n, target if merge else target / n) for n in names)
        return f"copied {len(names)} artifact(s) matching {pattern!r} ({count} files) to {target}"


class StepFailed(Exception):
    """An emulated action failed the way the real one would."""


def _pairs(values: Iterable[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise Unsupported(f"{what} {v!r}: expected NAME=VALUE")
        out[key] = value
    return out


def _repo_of(path: Path) -> Path:
    found = subprocess.run(["git", "-C", str(path.parent), "rev-parse", "--show-toplevel"], capture_output=True,
                           text=True, check=False)
    return Path(found.stdout.strip()) if found.returncode == 0 else Path.cwd()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", nargs="?", default="ci/github/rehearse-nightly.yml")
    parser.add_argument("--out", required=True, help="where workspaces, artifacts and run.json go")
    parser.add_argument("--repo", help="the repository actions/checkout copies (default: the workflow's)")
    parser.add_argument("--event", default="schedule", choices=["schedule", "workflow_dispatch"])
    parser.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--fleet", action="append", default=[], metavar="CLUSTER=SNAPSHOT",
                        help="replaces the cluster/snapshot matrix (repeatable)")
    parser.add_argument("--job", action="append", default=[],
                        help="run only these jobs (repeatable); the jobs they need count as skipped")
    args = parser.parse_args(argv)
    workflow = Path(args.workflow).resolve()
    try:
        fleet = [{"cluster": k, "snapshot": v} for k, v in _pairs(args.fleet, "--fleet").items()] or None
        runner = Runner(workflow, Path(args.out).resolve(), repo=Path(args.repo).resolve() if args.repo
                        else _repo_of(workflow), event=args.event, inputs=_pairs(args.input, "--input"),
                        secrets=_pairs(args.secret, "--secret"), variables=_pairs(args.var, "--var"), fleet=fleet,
                        only=args.job or None, echo=lambda line: print(line, flush=True))
        return runner.run()
    except Unsupported as e:
        print(f"ci_github_steps: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
