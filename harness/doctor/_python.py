"""Python and the package's dependencies: installed versions against the requirements."""

from __future__ import annotations

import platform
import re
import shlex
import sys
from importlib import metadata
from pathlib import Path

from harness.doctor._rows import Row

_REQ_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;(.*))?$")
_CLAUSE_RE = re.compile(r"^(~=|==|!=|<=|>=|<|>)\s*(\S+)$")


def _requirements() -> tuple[str, list[str]]:
    """(requires-python, the runtime requirements): from the checkout's pyproject.toml when the package runs from
    one (the installed metadata may be another checkout's), else from the installed metadata."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if sys.version_info >= (3, 11) and pyproject.is_file():
        import tomllib

        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project") or {}
        if project.get("name") == "rehearse":
            return str(project.get("requires-python") or ""), [str(d) for d in project.get("dependencies") or []]
    try:
        requires_python = (metadata.metadata("rehearse").get_all("Requires-Python") or [""])[0]
        requires = metadata.requires("rehearse") or []
    except metadata.PackageNotFoundError:
        return "", []
    return str(requires_python), [r for r in requires if not _for_an_extra(r)]


def _for_an_extra(requirement: str) -> bool:
    m = _REQ_RE.match(requirement)
    return bool(m and m.group(3) and "extra" in m.group(3))


def _release(text: str) -> tuple[int, ...]:
    m = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(x) for x in m.group(0).split(".")) if m else ()


def satisfies(version: str, spec: str) -> bool:
    """Whether ``version`` meets ``spec`` (``>=37``, ``>=1.2,<2``, ``~=3.1``, ``==6.*``): the operators of PEP 440
    on release numbers; pre-release and local parts are ignored, an unknown clause is not held against it."""
    have = _release(version)
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        m = _CLAUSE_RE.match(clause)
        if not m:
            continue
        op, text = m.groups()
        if text.endswith(".*"):
            prefix = _release(text[:-2])
            if (have[:len(prefix)] == prefix) != (op == "=="):
                return False
            continue
        want = _release(text)
        n = max(len(have), len(want))
        a, b = have + (0,) * (n - len(have)), want + (0,) * (n - len(want))
        ok = {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b,
              "~=": a >= b and a[:len(want) - 1] == b[:len(want) - 1]}[op]
        if not ok:
            return False
    return True


def python_rows() -> list[Row]:
    requires_python, requirements = _requirements()
    py = platform.python_version()
    detail = f"{py} ({sys.executable}; needs {requires_python or 'any'})"
    if satisfies(py, requires_python):
        rows = [Row("python", "ok", detail)]
    else:
        rows = [Row("python", "missing", detail, f"run rehearse with Python {requires_python}: e.g. "
                    "`python3.11 -m venv .venv && .venv/bin/pip install .`")]
    deps, bad = [], []
    for req in requirements:
        m = _REQ_RE.match(req)
        if not m:
            continue
        name, spec = m.group(1), m.group(2)
        try:
            have: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        ok = have is not None and satisfies(have, spec)
        deps.append({"name": name, "wants": spec, "installed": have, "ok": ok})
        if not ok:
            bad.append(req)
    shown = ", ".join(f"{d['name']} {d['installed'] or 'absent'}" + ("" if d["ok"] else f" (wants {d['wants']})")
                      for d in deps)
    if bad:
        command = f"{shlex.quote(sys.executable)} -m pip install {' '.join(shlex.quote(r) for r in bad)}"
        rows.append(Row("dependencies", "missing", f"{len(bad)} of {len(deps)} not met: {shown}",
                        f"`{command}` (in a checkout: `make install`)", {"packages": deps}))
    else:
        rows.append(Row("dependencies", "ok", f"all {len(deps)} met: {shown}", data={"packages": deps}))
    return rows

