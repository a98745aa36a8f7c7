"""The checks a scenario file declares, as data: wait for a condition, exists/absent, apply expecting success or
failure, HTTP probe through a Service, command in a pod, pytest file. Checks that need a real container are
skipped, never passed, where pods are simulated (the local provider)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks._base import CheckContext, CheckRun, poll, polled
from harness.scenario import CheckSpec


def _live(ctx: CheckContext, obj: dict[str, Any]) -> dict[str, Any] | None:
    applier = ctx.applier()
    res = applier.resource(obj["apiVersion"], obj["kind"])
    if res is None:
        raise LookupError(f"{obj['apiVersion']} {obj['kind']} is not served")
    from kubernetes.dynamic.exceptions import NotFoundError

    try:
        found: dict[str, Any] = res.get(name=obj["name"], namespace=obj.get("namespace")).to_dict()
        return found
    except NotFoundError:
        return None


def _describe(obj: dict[str, Any]) -> str:
    ns = f"{obj['namespace']}/" if obj.get("namespace") else ""
    return f"{obj['kind']} {ns}{obj['name']}"


@dataclass
class ScenarioCheck:
    """One data check of a scenario."""

    spec: CheckSpec

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.description or self.spec.id

    @property
    def timeout(self) -> float:
        return self.spec.timeout

    def run(self, ctx: CheckContext) -> CheckRun:
        handler = getattr(self, f"_{self.spec.type}")
        result: CheckRun = handler(ctx, self.spec.params)
        return result

    def _wait(self, ctx: CheckContext, p: dict[str, Any]) -> CheckRun:
        obj, cond = p["object"], str(p["condition"])

        def probe() -> tuple[bool, str]:
            try:
                live = _live(ctx, obj)
            except LookupError as e:  # the kind is not served: a failure of the check, not a crash
                return False, str(e)
            if live is None:
                return False, f"{_describe(obj)} not found"
            for c in (live.get("status") or {}).get("conditions") or []:
                if c.get("type") == cond:
                    return c.get("status") == "True", f"{cond}={c.get('status')} {c.get('message', '')}".strip()
            return False, f"{_describe(obj)} has no {cond} condition yet"

        return polled(probe, self.timeout)

    def _exists(self, ctx: CheckContext, p: dict[str, Any]) -> CheckRun:
        def probe() -> tuple[bool, str]:
            try:
                return _live(ctx, p["object"]) is not None, f"{_describe(p['object'])} not found"
            except LookupError as e:  # the kind is not served: it cannot exist
                return False, str(e)

        ok, msg = poll(probe, self.timeout)
        return CheckRun("pass" if ok else "fail", f"{_describe(p['object'])} exists" if ok else msg)

    def _absent(self, ctx: CheckContext, p: dict[str, Any]) -> CheckRun:
        try:
            live = _live(ctx, p["object"])
        except LookupError as e:
            return CheckRun("pass", f"absent: {e}")
        return CheckRun("pass" if live is None else "fail",
                        f"{_describe(p['object'])} {'absent' if live is None else 'still exists'}")

    def _apply(self, ctx: CheckContext, p: dict[str, Any]) -> CheckRun:
        ok, err, warnings = ctx.applier().apply(p["manifest"], dry_run=True)
        expected = p["expect"] == "success"
        if ok == expected:
            return CheckRun("pass", ("accepted" if ok else f"rejected as expected: {err}")
                            + ("; " + "; ".join(warnings) if warnings else ""))
        return CheckRun("fail", f"accepted, expected a rejection{'; ' + '; '.join(warnings) if warnings else ''}"
                        if ok else f"rejected: {err}")

    def _http(self, ctx: CheckContext, p: dict[str, Any]) -> CheckRun:
        if ctx.simulated_pods:
            return CheckRun("skip", "pods are simulated on the local provider: no container serves HTTP")
        svc = p["service"]
        path = str(p.get("path", "/")).lstrip("/")
        from kubernetes import client

        core = client.CoreV1Api(ctx.api_client)
        want = int(p.get("expect_status", 200))

        def probe() -> tuple[bool, str]:
            try:
                resp: Any = core.connect_get_namespaced_service_proxy_with_path(
                    f"{svc['name']}:{svc.get('port', 80)}", svc["namespace"], path, _preload_content=False)
                return resp.status == want, f"HTTP {resp.status}"
            except Exception as e:
                status = getattr(e, "status", None)
                return status == want, f"HTTP {status or e}"

        ok, msg = poll(probe, self.timeout, interval=1.0)
        return CheckRun("pass" if ok else "fail", f"{svc['namespace']}/{svc['name']}/{path}: {msg}")

    def _exec(self, ctx: CheckContext, p: dict[str, Any]) -> CheckRun:
        if ctx.simulated_pods:
            return CheckRun("skip", "pods are simulated on the local provider: no container to run a command in")
        pod = p["pod"]
        kubectl = ctx.helm.parent / "kubectl" if ctx.helm else Path("kubectl")
        selector = ["-l", pod["selector"]] if pod.get("selector") else []
        found = subprocess.run([str(kubectl), "--kubeconfig", str(ctx.kubeconfig), "get", "pods", "-n",
                                pod["namespace"], *selector, "-o", "json"], capture_output=True, text=True,
                               check=False, timeout=30)
        items = json.loads(found.stdout or "{}").get("items", []) if found.returncode == 0 else []
        if not items:
            return CheckRun("fail", f"no pod matches {pod}")
        target = items[0]["metadata"]["name"]
        container = ["-c", pod["container"]] if pod.get("container") else []
        out = subprocess.run([str(kubectl), "--kubeconfig", str(ctx.kubeconfig), "exec", "-n", pod["namespace"],
                              target, *container, "--", *map(str, p["command"])], capture_output=True, text=True,
                             check=False, timeout=self.timeout)
        text = (out.stdout + out.stderr).strip().splitlines()
        return CheckRun("pass" if out.returncode == 0 else "fail",
                        f"exit {out.returncode}: {text[-1] if text else ''}")

    def _pytest(self, ctx: CheckContext, p: dict[str, Any]) -> CheckRun:
        base = Path(str(p.get("_base", ".")))
        test_file = base / str(p["file"])
        env_args = ["--rehearse-kubeconfig", str(ctx.kubeconfig), "--rehearse-version", str(ctx.version),
                    "--rehearse-phase", ctx.phase]
        if ctx.simulated_pods:
            env_args.append("--rehearse-simulated-pods")
        with tempfile.TemporaryDirectory(prefix="rehearse-pytest-") as tmp:
            xml = Path(tmp) / "junit.xml"
            out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "harness.checks.pytest_plugin",
                                  "-p", "no:cacheprovider", f"--junitxml={xml}", str(test_file), *env_args],
                                 capture_output=True, text=True, check=False, timeout=self.timeout)
            counts = _pytest_counts(xml)
        last = [ln for ln in out.stdout.splitlines() if ln.strip()]
        summary = last[-1] if last else out.stderr.strip()[:200]
        if out.returncode == 0 and counts is not None and counts.ran == 0:
            # every test skipped: nothing was judged, whatever pytest's exit code says
            return CheckRun("skip", f"every test skipped: {summary}")
        if out.returncode == 5:
            return CheckRun("skip", f"no tests collected: {summary}")
        # a test may read nodes or pods, which kwok answers on the local provider
        return ctx.judged_by_kwok(CheckRun("pass" if out.returncode == 0 else "fail", summary))


@dataclass(frozen=True)
class _Counts:
    tests: int
    skipped: int

    @property
    def ran(self) -> int:
        return self.tests - self.skipped


def _pytest_counts(xml: Path) -> _Counts | None:
    """Tests and skips from pytest's JUnit XML (None when it wrote none, e.g. a usage error)."""
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    return _Counts(sum(int(s.get("tests", 0)) for s in suites), sum(int(s.get("skipped", 0)) for s in suites))


def scenario_checks(specs: list[CheckSpec], base: Path | None = None) -> list[ScenarioCheck]:
    """Checks for a scenario's check specs (pytest files resolved against the scenario's directory)."""
    out = []
    for spec in specs:
        if spec.type == "pytest" and base is not None:
            spec = CheckSpec(id=spec.id, type=spec.type, description=spec.description,  # noqa: PLW2901
                             timeout=spec.timeout, params={**spec.params, "_base": str(base)})
        out.append(ScenarioCheck(spec))
    return out
