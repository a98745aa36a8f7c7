"""A fresh machine with Debian's own Python (externally managed, PEP 668): the README's first command in a fresh
clone of this work tree, rehearse put on the PATH by pipx and by uv, and the one line `make` stops with where the
interpreter cannot make a virtual environment.

The fresh clone is ``git clone`` of this repository with the work tree's state laid over it: every tracked and every
untracked, not ignored file is copied from the work tree (files deleted there are deleted), so uncommitted changes
are what is tested; in CI (a clean checkout) the overlay changes nothing. The Kubernetes binaries come from the
cache in ~/.cache/rehearse, as they would on a machine that has run the tests before.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
TARGETS = ("install", "demo", "test", "test-fast", "lint", "bench", "binaries", "e2e-kind", "check-catalogue",
           "generate-knowledge")
ONE_LINE_STOP = re.compile(r"^Makefile:\d+: \*\*\* (?P<message>.+)\.  Stop\.$")
REMOVED_API = """\
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "0 3 * * *"
  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}}
"""


def _system_python_facts() -> dict[str, str] | None:
    """Debian's interpreter: its version, stdlib and whether it is externally managed (None where it is absent)."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return None
    code = ("import json, os, platform, sysconfig; std = sysconfig.get_path('stdlib'); "
            "print(json.dumps({'version': platform.python_version(), 'short': sysconfig.get_python_version(), "
            "'stdlib': std, 'managed': str(os.path.exists(os.path.join(std, 'EXTERNALLY-MANAGED')))}))")
    out = subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    facts: dict[str, str] = json.loads(out.stdout)
    return facts


SYSTEM = _system_python_facts()
needs_debian_python = pytest.mark.skipif(
    SYSTEM is None or SYSTEM["managed"] != "True" or shutil.which("make") is None,
    reason=f"needs make and an externally managed {SYSTEM_PYTHON} (Debian 12 or newer)",
)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would leak this checkout or an outer make into the commands under test."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTHON"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def fresh_clone(dest: Path) -> Path:
    """``git clone`` of this repository with the work tree's tracked and untracked (not ignored) files laid over it."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(dest)], check=True, timeout=120,
                   env=clean_env(), capture_output=True)
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, dict.fromkeys(listed)):
        source, target = ROOT / name, dest / name
        if target.is_symlink() or target.is_file():
            target.unlink()
        if source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def site_listing() -> dict[str, list[str]]:
    """What is in each of Debian's Python site directories (system, local and user)."""
    code = "import json, site; print(json.dumps(site.getsitepackages() + [site.getusersitepackages()]))"
    dirs = json.loads(subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True, text=True, check=True,
                                     timeout=30, env=clean_env()).stdout)
    return {d: sorted(os.listdir(d)) if os.path.isdir(d) else [] for d in dirs}


def dry_run(workdir: Path, target: str) -> list[str]:
    """The commands ``make -n TARGET PYTHON=/usr/bin/python3`` would run."""
    out = subprocess.run(["make", "-n", target, f"PYTHON={SYSTEM_PYTHON}"], cwd=workdir, capture_output=True,
                         text=True, timeout=60, env=clean_env(), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.splitlines()


def makefile_only(dest: Path) -> Path:
    """A directory with the Makefile and pyproject.toml, all ``make -n`` and the venv step look at."""
    dest.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, out.stdout + out.stderr
    return lines[0]


@needs_debian_python
def test_every_target_runs_in_the_venv_and_only_venv_touches_the_system_python(tmp_path: Path) -> None:
    work = makefile_only(tmp_path / "work")
    venv_python = f"{work}/.venv/bin/python"
    for target in TARGETS:
        lines = dry_run(work, target)
        assert lines[0] == f"{SYSTEM_PYTHON} -m venv .venv", (target, lines)
        assert f"{venv_python} -m pip install --quiet --disable-pip-version-check -e '.[dev]'" in lines, target
        assert not [line for line in lines[1:] if SYSTEM_PYTHON in line], (target, lines)
        if target != "install":
            assert any(line.startswith(venv_python) or f" {venv_python} " in line for line in lines[2:]), lines
    (test_line,) = [line for line in dry_run(work, "test") if "with_engine.sh" in line]
    assert test_line.startswith(f"PYTHON={venv_python} ") and f"with_engine.sh {venv_python} -m pytest" in test_line
    assert not (work / ".venv").exists()  # a dry run makes nothing


@needs_debian_python
def test_make_demo_in_a_fresh_clone_with_debians_python(tmp_path: Path) -> None:
    assert SYSTEM is not None
    clone = fresh_clone(tmp_path / "clone")
    env = clean_env(REHEARSE_STATE_DIR=str(tmp_path / "state"))
    refused = subprocess.run([SYSTEM_PYTHON, "-m", "pip", "install", "--dry-run", "-e", ".[dev]"], cwd=clone,
                             capture_output=True, text=True, timeout=120, env=env, check=False)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stdout + refused.stderr
    before = site_listing()

    started = time.monotonic()
    out = subprocess.run(["make", "demo", f"PYTHON={SYSTEM_PYTHON}"], cwd=clone, capture_output=True, text=True,
                         timeout=1800, env=env, check=False)
    seconds = time.monotonic() - started
    output = out.stdout + out.stderr
    assert out.returncode == 0, output[-5000:]
    assert re.search(r"^PASSED 1\.27\.\d+ → 1\.28\.\d+\b", out.stdout, re.MULTILINE), output[-3000:]  # the verdict
    assert f"make: created .venv with {SYSTEM_PYTHON}" in out.stderr
    print(f"fresh-clone make demo with {SYSTEM_PYTHON} {SYSTEM['version']}: {seconds:.0f} s")

    config = dict(line.split(" = ", 1) for line in (clone / ".venv" / "pyvenv.cfg").read_text().splitlines()
                  if " = " in line)
    assert config["version"] == SYSTEM["version"] and config["home"] == "/usr/bin"
    assert (clone / ".venv" / ".installed").is_file() and (clone / ".venv" / "bin" / "rehearse").is_file()
    where = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-c", "import harness; print(harness.__file__)"],
                           capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=True)
    assert where.stdout.strip() == str(clone / "harness" / "__init__.py")  # the clone's code, installed editable
    assert site_listing() == before  # nothing went into Debian's interpreter
    assert not (tmp_path / "state" / "local" / "clusters").is_dir() or not any(
        (tmp_path / "state" / "local" / "clusters").iterdir())

    # Done once: a second run reinstalls nothing, a changed pyproject.toml reinstalls into the same .venv.
    assert dry_run(clone, "demo") == [f"{clone}/.venv/bin/python -m harness --from 1.27 --to 1.28"]
    os.utime(clone / "pyproject.toml")
    again = dry_run(clone, "demo")
    assert again[0].endswith("-m pip install --quiet --disable-pip-version-check -e '.[dev]'"), again
    assert f"{SYSTEM_PYTHON} -m venv .venv" not in again


@pytest.fixture(scope="module")
def installers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pipx and uv from PyPI, in a throwaway virtualenv of Debian's Python; its bin directory."""
    if SYSTEM is None:
        pytest.skip(f"needs {SYSTEM_PYTHON}")
    venv = tmp_path_factory.mktemp("installers") / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True, timeout=120, env=clean_env())
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "pipx", "uv"], check=True,
                   timeout=600, env=clean_env())
    return venv / "bin"


@pytest.fixture
def plan_manifest(tmp_path: Path) -> Path:
    """A manifest using an API 1.25 no longer serves."""
    path = tmp_path / "cronjob.yaml"
    path.write_text(REMOVED_API, encoding="utf-8")
    return path


@needs_debian_python
@pytest.mark.parametrize("tool", ["pipx", "uv"])
def test_pipx_and_uv_put_a_working_rehearse_on_the_path(tool: str, installers: Path, tmp_path: Path,
                                                        plan_manifest: Path) -> None:
    clone = fresh_clone(tmp_path / "clone")
    home, bin_dir = tmp_path / f"{tool}-home", tmp_path / f"{tool}-bin"
    if tool == "pipx":
        env = clean_env(PIPX_HOME=str(home), PIPX_BIN_DIR=str(bin_dir), PIPX_MAN_DIR=str(tmp_path / "man"))
        command = [str(installers / "pipx"), "install", "--python", SYSTEM_PYTHON, "."]
    else:
        env = clean_env(UV_TOOL_DIR=str(home), UV_TOOL_BIN_DIR=str(bin_dir), UV_PYTHON_DOWNLOADS="never")
        command = [str(installers / "uv"), "tool", "install", "--python", SYSTEM_PYTHON, "."]
    out = subprocess.run(command, cwd=clone, capture_output=True, text=True, timeout=900, env=env, check=False)
    assert out.returncode == 0, out.stdout + out.stderr

    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    assert shutil.which("rehearse", path=env["PATH"]) == str(bin_dir / "rehearse")

    def rehearse(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["rehearse", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env=env, check=False)

    version = rehearse("--version")
    assert version.returncode == 0 and re.fullmatch(r"rehearse \d+\.\d+\.\d+\S*", version.stdout.strip())
    plan = rehearse("plan", "--from", "1.24", "--to", "1.25")
    assert plan.returncode == 0 and re.search(r"^PASSED 1\.24\.\d+ → 1\.25\.\d+", plan.stdout, re.MULTILINE), plan
    # The package carries its data (knowledge, catalogue, scenarios), not only its code.
    blocked = rehearse("plan", "--from", "1.24", "--to", "1.25", "--manifests", str(plan_manifest))
    assert blocked.returncode == 1 and "batch/v1beta1" in blocked.stdout, blocked.stdout + blocked.stderr
    assert "removed-apis-1.25" in rehearse("scenarios", "list").stdout
    # An installed copy, not this checkout nor the clone.
    interpreter = (bin_dir / "rehearse").read_text(encoding="utf-8").splitlines()[0].removeprefix("#!").split()[0]
    where = subprocess.run([interpreter, "-c", "import harness; print(harness.__file__)"],
                           capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=True)
    assert Path(where.stdout.strip()).is_relative_to(home), where.stdout


@needs_debian_python
def test_no_ensurepip_is_one_line_naming_the_package(tmp_path: Path) -> None:
    """Debian's own interpreter with the python3.X-venv package's files hidden (a private mount namespace puts an
    empty tmpfs over its ensurepip directory): exactly the state of a bare Debian without python3-venv."""
    assert SYSTEM is not None
    probe = ["unshare", "-m", "--propagation", "private", "true"]
    if os.geteuid() != 0 or shutil.which("unshare") is None or subprocess.run(probe, check=False).returncode != 0:
        pytest.skip("hiding ensurepip needs root and a mount namespace (test_fake_python_without_ensurepip runs)")
    work = makefile_only(tmp_path / "work")
    ensurepip = f"{SYSTEM['stdlib']}/ensurepip"
    script = f"mount -t tmpfs none {ensurepip} && exec make demo PYTHON={SYSTEM_PYTHON}"
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=work,
                         capture_output=True, text=True, timeout=120, env=clean_env(), check=False)
    assert out.returncode == 2
    stop = ONE_LINE_STOP.match(one_line(out))
    assert stop is not None and stop["message"] == (
        f"{SYSTEM_PYTHON} has no venv module; install it: apt-get install python{SYSTEM['short']}-venv")
    assert not (work / ".venv").exists()  # no half-made venv left to trip the next run


@needs_debian_python
def test_fake_python_without_ensurepip(tmp_path: Path) -> None:
    """A fake of Debian's python3 without python3-venv, for machines where ensurepip cannot be hidden: ``-m venv
    DIR`` leaves what Debian's patched venv leaves (the environment without pip, as ``--without-pip`` makes it),
    prints Debian's message on stdout and exits 1; anything else runs /usr/bin/python3. The real shape (Debian 12,
    python3.11 3.11.2-6, /usr/lib/python3.11/venv/__init__.py):

        The virtual environment was not created successfully because ensurepip is not
        available.  On Debian/Ubuntu systems, you need to install the python3-venv
        package using the following command.

            apt install python3.11-venv

        You may need to use sudo with that command.  After installing the python3-venv
        package, recreate your virtual environment.

        Failing command: /path/.venv/bin/python3
    """
    work = makefile_only(tmp_path / "work")
    fake = tmp_path / "python3"
    fake.write_text(f"""#!/bin/sh
if [ "$1" = -m ] && [ "$2" = venv ]; then
  {SYSTEM_PYTHON} -m venv --without-pip "$3"
  cat <<EOF
The virtual environment was not created successfully because ensurepip is not
available.  On Debian/Ubuntu systems, you need to install the python3-venv
package using the following command.

    apt install python3.11-venv

You may need to use sudo with that command.  After installing the python3-venv
package, recreate your virtual environment.

Failing command: $3/bin/python3

EOF
  exit 1
fi
exec {SYSTEM_PYTHON} "$@"
""", encoding="utf-8")
    fake.chmod(0o755)
    for target in ("demo", "test"):
        out = subprocess.run(["make", target, f"PYTHON={fake}"], cwd=work, capture_output=True, text=True,
                             timeout=120, env=clean_env(), check=False)
        assert out.returncode == 2, out.stdout + out.stderr
        stop = ONE_LINE_STOP.match(one_line(out))
        assert stop is not None and stop["message"] == f"{fake} has no venv module; install it: apt-get install " \
                                                       "python3.11-venv"
        assert not (work / ".venv").exists()


@needs_debian_python
def test_no_such_interpreter_is_one_line(tmp_path: Path) -> None:
    work = makefile_only(tmp_path / "work")
    out = subprocess.run(["make", "demo", "PYTHON=python3.nowhere"], cwd=work, capture_output=True, text=True,
                         timeout=60, env=clean_env(), check=False)
    assert out.returncode == 2
    stop = ONE_LINE_STOP.match(one_line(out))
    assert stop is not None and stop["message"].startswith("no python3.nowhere found: install Python 3.10 or newer")
