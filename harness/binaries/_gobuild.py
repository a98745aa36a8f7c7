"""Build binaries from Go modules, the way that works on a machine that reaches only the module proxy.

Kubernetes cannot be ``go install``-ed (its go.mod points the staging modules at ``./staging``), so each version
gets a wrapper module: the release's ``go``/``godebug`` lines, ``require k8s.io/kubernetes vX``, one ``replace``
per staging module (derived from the release's own go.mod), and a ``tools.go`` importing the commands. The
version is stamped in with ldflags so ``--version`` and ``/version`` report the real release.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from harness.errors import BinaryUnavailable
from harness.progress import Progress

_STAGING_RE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/src/k8s\.io/[\w.-]+\s*$", re.M)
_GO_LINE_RE = re.compile(r"^go\s+(\S+)\s*$", re.M)
_GODEBUG_RE = re.compile(r"^godebug\s+(?:\(\s*\n(?:.*\n)*?\)|.+)$", re.M)
# "verifying k8s.io/legacy-cloud-providers@v0.27.16: ...: 404 Not Found" -- served, unknown to the sum database.
_SUMDB_GAP_RE = re.compile(r"verifying\s+(?:module:\s+)?(\S+?)@(v\S+?)(?:/go\.mod)?:.*(?:404 Not Found|410 Gone)")
# Any other refusal of a module version by the proxy.
_UNAVAILABLE_RE = re.compile(
    r"(\S+?)@(v[^\s:]+).*?(403 Forbidden|404 Not Found|410 Gone|not available|unknown revision|invalid version)"
)


class ModulesUnavailable(Exception):
    """This exact release cannot be built here: the registry does not serve a module it needs."""


@dataclass(frozen=True)
class ModuleInfo:
    """What ``go mod download -json`` says of one module version."""

    path: str
    version: str
    go_mod: Path
    commit: str
    time: str


def go_binary() -> str | None:
    """The ``go`` toolchain, if installed."""
    return shutil.which("go")


def _go_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env["GOFLAGS"] = " ".join(f for f in ([*env.get("GOFLAGS", "").split(), "-buildvcs=false"]) if f)
    env.update(extra or {})
    return env


def _run(args: Sequence[str], cwd: Path, env: dict[str, str], timeout: float = 3600) -> str:
    proc = subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise _GoFailed(list(args), proc.stderr or proc.stdout)
    return proc.stdout


class _GoFailed(Exception):
    def __init__(self, args: list[str], output: str) -> None:
        super().__init__(output)
        self.args_ = args
        self.output = output

    def first_error(self) -> str:
        lines = [ln.strip() for ln in self.output.splitlines() if ln.strip()]
        for ln in lines:
            if "error" in ln.lower() or "forbidden" in ln.lower() or "not found" in ln.lower():
                return ln
        return lines[-1] if lines else f"{' '.join(self.args_)} failed"


def module_info(module: str, version: str, work: Path, env: dict[str, str]) -> ModuleInfo:
    """Download one module version and read its go.mod path and origin commit."""
    try:
        out = _run(["go", "mod", "download", "-json", f"{module}@{version}"], work, env)
    except _GoFailed as e:
        try:
            data = json.loads(e.output[e.output.find("{") :]) if "{" in e.output else {}
        except json.JSONDecodeError:
            data = {}
        raise ModulesUnavailable(f"{module}@{version}: {data.get('Error') or e.first_error()}") from e
    data = json.loads(out)
    if data.get("Error"):
        raise ModulesUnavailable(f"{module}@{version}: {data['Error']}")
    origin = data.get("Origin") or {}
    info_time = ""
    if data.get("Info"):
        info = json.loads(Path(data["Info"]).read_text(encoding="utf-8"))
        info_time = str(info.get("Time", ""))
    return ModuleInfo(
        path=module,
        version=version,
        go_mod=Path(data["GoMod"]),
        commit=str(origin.get("Hash", "")),
        time=info_time,
    )


def staging_modules(release_go_mod: str) -> list[str]:
    """The staging modules a Kubernetes release replaces with ``./staging`` (the set changes per minor)."""
    return sorted(set(_STAGING_RE.findall(release_go_mod)))


def wrapper_go_mod(release_go_mod: str, module: str, version: str, replaces: dict[str, str]) -> str:
    """A wrapper go.mod for ``module@version`` with the release's own go and godebug lines."""
    go_line = _GO_LINE_RE.search(release_go_mod)
    lines = ["module rehearse.local/build", "", f"go {go_line.group(1) if go_line else '1.20'}", ""]
    lines += [m.group(0) for m in _GODEBUG_RE.finditer(release_go_mod)]
    lines += ["", f"require {module} {version}", ""]
    if replaces:
        lines.append("replace (")
        lines += [f"\t{src} => {dst}" for src, dst in sorted(replaces.items())]
        lines.append(")")
    return "\n".join(lines) + "\n"


def tools_go(packages: Sequence[str]) -> str:
    imports = "\n".join(f'\t_ "{p}"' for p in sorted(set(packages)))
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def packaged_go_sum(key: str) -> str | None:
    """A go.sum kept in the package for ``key`` (e.g. ``kubernetes-v1.28.15``), so builds verify against it."""
    res = resources.files("harness.data").joinpath("gosum").joinpath(f"{key}.sum")
    return res.read_text(encoding="utf-8") if res.is_file() else None


def _tidy(work: Path, env: dict[str, str], progress: Progress) -> dict[str, str]:
    """``go mod tidy``, widening GONOSUMDB one module at a time for sum-database gaps. Returns the extra env."""
    extra: dict[str, str] = {}
    nosumdb: list[str] = [m for m in env.get("GONOSUMDB", "").split(",") if m]
    for _ in range(80):  # one retry per gap; 1.25.15 has a dozen of them
        try:
            _run(["go", "mod", "tidy"], work, {**env, **extra})
            return extra
        except _GoFailed as e:
            gap = _SUMDB_GAP_RE.search(e.output)
            if gap and gap.group(1) not in nosumdb:
                progress.note(
                    f"{gap.group(1)}@{gap.group(2)} is served but unknown to the checksum database; "
                    "building with GONOSUMDB for that module only (its go.sum is kept)"
                )
                nosumdb.append(gap.group(1))
                extra["GONOSUMDB"] = ",".join(nosumdb)
                continue
            refused = _UNAVAILABLE_RE.search(e.output)
            if refused:
                raise ModulesUnavailable(f"{refused.group(1)}@{refused.group(2)}: {refused.group(3)}") from e
            raise BinaryUnavailable(f"go mod tidy failed: {e.first_error()}") from e
    raise BinaryUnavailable("go mod tidy: too many checksum-database gaps")


def _build(
    work: Path, packages: Sequence[str], out_dir: Path, ldflags: str, env: dict[str, str], progress: Progress
) -> None:
    """``go build`` the packages into ``out_dir``, reporting each package as it compiles."""
    # -dwarf=false: the linker drops debug info anyway (-s -w), so the compiler need not produce it (faster).
    args = ["go", "build", "-v", "-trimpath", "-gcflags=all=-dwarf=false", "-ldflags", ldflags,
            "-o", str(out_dir) + os.sep, *packages]
    start = time.monotonic()
    tail: list[str] = []
    count = 0
    with subprocess.Popen(args, cwd=work, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          text=True) as proc:
        assert proc.stderr is not None
        try:
            for raw in proc.stderr:
                line = raw.rstrip()
                tail = ([*tail, line])[-40:]
                if line and " " not in line:
                    count += 1
                    progress.update(f"{count} packages compiled, {time.monotonic() - start:.0f}s: {line}")
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if rc != 0:
        errors = [ln for ln in tail if ".go:" in ln or "error" in ln.lower()] or tail[-3:]
        raise BinaryUnavailable(f"go build failed: {errors[0] if errors else 'exit ' + str(rc)}")


def version_ldflags(tag: str, commit: str, build_date: str) -> str:
    """The -X flags that make a Kubernetes binary report ``tag`` (as the official build does)."""
    m = re.match(r"v(\d+)\.(\d+)", tag)
    major, minor = (m.group(1), m.group(2)) if m else ("1", "0")
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={tag}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.gitCommit={commit}",
            f"-X {pkg}.buildDate={build_date}",
        ]
    return " ".join(flags)


def build_kubernetes(tag: str, names: Sequence[str], out_dir: Path, work: Path, progress: Progress) -> None:
    """Build Kubernetes commands ``names`` of release ``tag`` (``v1.28.15``) into ``out_dir``.

    Raises :class:`ModulesUnavailable` when the module registry cannot supply this exact release.
    """
    work.mkdir(parents=True, exist_ok=True)
    env = _go_env()
    progress.update(f"resolving k8s.io/kubernetes@{tag}")
    info = module_info("k8s.io/kubernetes", tag, work, env)
    release_mod = info.go_mod.read_text(encoding="utf-8")
    staging_tag = "v0." + tag.split(".", 1)[1]
    replaces = {m: f"{m} {staging_tag}" for m in staging_modules(release_mod)}
    (work / "go.mod").write_text(wrapper_go_mod(release_mod, "k8s.io/kubernetes", tag, replaces), "utf-8")
    all_cmds = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubeadm", "kubectl",
                "kube-proxy"]
    (work / "tools.go").write_text(tools_go([f"k8s.io/kubernetes/cmd/{c}" for c in all_cmds]), "utf-8")
    kept = packaged_go_sum(f"kubernetes-{tag}")
    if kept and not (work / "go.sum").exists():
        (work / "go.sum").write_text(kept, "utf-8")
    progress.update(f"resolving the module graph of {tag} ({len(replaces)} staging modules at {staging_tag})")
    extra = _tidy(work, env, progress)
    build_date = info.time or "1970-01-01T00:00:00Z"
    ldflags = f"-checklinkname=0 -s -w {version_ldflags(tag, info.commit, build_date)}"
    _build(work, [f"k8s.io/kubernetes/cmd/{n}" for n in names], out_dir, ldflags, {**env, **extra}, progress)


def build_tool(
    module: str,
    version: str,
    packages: Sequence[str],
    out_dir: Path,
    work: Path,
    progress: Progress,
    ldflags: str = "",
) -> None:
    """Build a Go tool (etcd, kwok, kind, helm) at an exact module version through a wrapper module."""
    work.mkdir(parents=True, exist_ok=True)
    env = _go_env()
    progress.update(f"resolving {module}@{version}")
    info = module_info(module, version, work, env)
    release_mod = info.go_mod.read_text(encoding="utf-8")
    (work / "go.mod").write_text(wrapper_go_mod(release_mod, module, version, {}), "utf-8")
    (work / "tools.go").write_text(tools_go(packages), "utf-8")
    kept = packaged_go_sum(f"{module.replace('/', '_')}-{version}")
    if kept and not (work / "go.sum").exists():
        (work / "go.sum").write_text(kept, "utf-8")
    extra = _tidy(work, env, progress)
    _build(work, packages, out_dir, f"-s -w {ldflags}".strip(), {**env, **extra}, progress)
