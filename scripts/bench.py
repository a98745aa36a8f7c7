#!/usr/bin/env python3
"""`make bench`: speed figures next to the floor measured in the same run, and the target for each.

- binaries ensure: cold (as recorded when each binary was built) and warm (measured now); target warm < 2 s;
- rehearse doctor --from 1.27 --to 1.28, warm (binaries cached); target < 2 s;
- local provider 1.27→1.28: create, upgrade and API downtime next to a bare kwokctl create and a bare
  stop/swap/start of the same binaries; target ≤ 2× the floor;
- the default rehearsal's phases next to the local provider's create + upgrade; target < 30 s and < 3× that;
- plan --audit-log on a generated one-million-event audit log next to a bare orjson JSON-lines parse of the same
  file; target within 2× that floor, memory flat (peak RSS of each, in the same run);
- the snapshot and plan benchmarks (scripts/bench_snapshot.py, scripts/bench_plan.py).

`scripts/bench.py audit` runs the audit-log benchmark alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.binaries import build_records, ensure, link  # noqa: E402
from harness.providers.base import ClusterOptions, NodeSpec  # noqa: E402
from harness.providers.local import LocalProvider  # noqa: E402
from harness.versions import catalogue  # noqa: E402

RESULTS: list[tuple[str, str, str, str]] = []


def row(what: str, value: str, floor: str, verdict: str) -> None:
    RESULTS.append((what, value, floor, verdict))
    print(f"  {what:<46} {value:>12}   {floor:<28} {verdict}", flush=True)


def timed(fn: object) -> float:
    t0 = time.monotonic()
    fn()  # type: ignore[operator]
    return time.monotonic() - t0


def bench_binaries() -> None:
    print("binaries ensure", flush=True)
    for minor in ("1.27", "1.28"):
        bins = ensure(catalogue().resolve(minor))
        records = build_records(bins.directory)
        # every binary of one build records that build's time: count each build once
        builds = {(r["at"], r["seconds"]) for r in records.values() if r.get("source") == "build"}
        cold = sum(seconds for _, seconds in builds)
        row(f"cold build {bins.version} (recorded)", f"{cold:.0f} s" if cold else "n/a", "≈240 s on 2 cores", "")
        cmd = [sys.executable, "-m", "harness", "-q", "binaries", "ensure", "--version", minor]
        warm = min(timed(lambda c=cmd: subprocess.run(c, check=True, capture_output=True)) for _ in range(3))
        row(f"warm ensure {minor} (CLI, cache hit)", f"{warm:.2f} s", "target < 2 s", "ok" if warm < 2 else "SLOW")


def bench_doctor() -> None:
    print("doctor", flush=True)
    cmd = [sys.executable, "-m", "harness", "doctor", "--from", "1.27", "--to", "1.28"]
    warm = min(timed(lambda c=cmd: subprocess.run(c, capture_output=True, check=False)) for _ in range(3))
    row("warm doctor 1.27 → 1.28 (CLI)", f"{warm:.2f} s", "target < 2 s", "ok" if warm < 2 else "SLOW")


def _kwokctl_floor(bins127: Path, bins128: Path, work: Path) -> tuple[float, float]:
    env = dict(os.environ, KWOK_WORKDIR=str(work), KWOK_KUBE_VERSION="v1.27.16")
    args = [str(bins127 / "kwokctl"), "create", "cluster", "--name", "floor", "--runtime", "binary",
            "--kube-apiserver-binary", str(bins127 / "kube-apiserver"),
            "--kube-controller-manager-binary", str(bins127 / "kube-controller-manager"),
            "--kube-scheduler-binary", str(bins127 / "kube-scheduler"), "--etcd-binary", str(bins127 / "etcd"),
            "--kwok-controller-binary", str(bins127 / "kwok"), "--kubeconfig", str(work / "kc.yaml"),
            "--wait", "2m"]
    try:
        create = timed(lambda: subprocess.run(args, env=env, check=True, capture_output=True))
        cdir = work / "clusters" / "floor"

        def swap() -> None:
            subprocess.run([str(bins127 / "kwokctl"), "stop", "cluster", "--name", "floor"], env=env, check=True,
                           capture_output=True)
            for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                link((bins128 / comp).resolve(), cdir / "bin" / comp)
            subprocess.run([str(bins127 / "kwokctl"), "start", "cluster", "--name", "floor", "--wait", "2m"],
                           env=env, check=True, capture_output=True)

        upgrade = timed(swap)
    finally:
        subprocess.run([str(bins127 / "kwokctl"), "delete", "cluster", "--name", "floor"], env=env,
                       capture_output=True, check=False)
    return create, upgrade


def bench_local_provider() -> float:
    print("local provider 1.27 → 1.28", flush=True)
    b27, b28 = ensure(catalogue().resolve("1.27")), ensure(catalogue().resolve("1.28"))
    with tempfile.TemporaryDirectory(prefix="rehearse-bench-") as tmp:
        floor_create, floor_upgrade = _kwokctl_floor(b27.directory, b28.directory, Path(tmp) / "floor")
        provider = LocalProvider(root=Path(tmp) / "state")
        t0 = time.monotonic()
        cluster = provider.create("bench", b27.version, ClusterOptions(nodes=[NodeSpec("n1"), NodeSpec("n2")]))
        create = time.monotonic() - t0
        try:
            up = provider.upgrade_control_plane(cluster, b28.version)
            t1 = time.monotonic()
            provider.upgrade_nodes(cluster, b28.version)
            nodes = time.monotonic() - t1
        finally:
            provider.delete(cluster)
    row("create (control plane + 2 nodes)", f"{create:.1f} s", f"kwokctl create {floor_create:.1f} s",
        _ratio(create, floor_create, 2))
    row("upgrade control plane", f"{up.seconds:.1f} s", f"kwokctl stop/swap/start {floor_upgrade:.1f} s",
        _ratio(up.seconds, floor_upgrade, 2))
    row("API downtime during the upgrade", f"{up.api_downtime_seconds:.1f} s", "", "")
    row("upgrade simulated kubelets", f"{nodes:.1f} s", "", "")
    return floor_create + floor_upgrade


def _ratio(value: float, floor: float, target: float) -> str:
    r = value / floor if floor else float("inf")
    return f"{r:.2f}× floor, target ≤ {target:g}× {'ok' if r <= target else 'OVER'}"


def bench_rehearsal(floor: float) -> None:
    print("default rehearsal 1.27 → 1.28 (binaries cached)", flush=True)
    with tempfile.TemporaryDirectory(prefix="rehearse-bench-") as tmp:
        env = dict(os.environ, REHEARSE_STATE_DIR=str(Path(tmp) / "state"), CI="true")
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "harness", "-q", "--from", "1.27", "--to", "1.28", "--report-dir",
                        str(Path(tmp) / "r")], env=env, capture_output=True, check=False)
        total = time.monotonic() - t0
        doc = json.loads((Path(tmp) / "r" / "report.json").read_text())
    for ph in doc["phases"]:
        row(f"  phase {ph['name']}", f"{ph['seconds']:.1f} s", "", "")
    verdict = "ok" if total < 30 and total < 3 * floor else "OVER"
    row("whole rehearsal (CLI, wall clock)", f"{total:.1f} s", f"local create+upgrade floor {floor:.1f} s",
        f"{total / floor:.2f}× floor, target < 30 s and < 3× {verdict}")


_EVENT = ('{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id:08x}-5f1e-4c1d-9a8b-'
          '{id:012x}","stage":"ResponseComplete","requestURI":"{uri}","verb":"{verb}","user":{{"username":"{user}",'
          '"uid":"{id:08x}","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["10.0.3.{ip}"],'
          '"userAgent":"{agent}","objectRef":{{"resource":"{resource}","namespace":"ns-{ns}","apiGroup":"{group}",'
          '"apiVersion":"{version}"}},"responseStatus":{{"metadata":{{}},"code":200}},'
          '"requestReceivedTimestamp":"2025-06-01T10:{m:02d}:{s:02d}.{id:06d}Z","stageTimestamp":'
          '"2025-06-01T10:{m:02d}:{s:02d}.{id:06d}Z","annotations":{{"authorization.k8s.io/decision":"allow",'
          '"authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding"{extra}}}}}\n')
_CALLS = [  # (uri, group, version, resource, user, agent, extra annotations)
    ("/api/v1/namespaces/ns-{ns}/pods?limit=500", "", "v1", "pods", "system:serviceaccount:ns-{ns}:app", "app/1.0", ""),
    ("/apis/apps/v1/namespaces/ns-{ns}/deployments/web", "apps", "v1", "deployments",
     "system:serviceaccount:kube-system:deployment-controller", "kube-controller-manager/v1.25.15", ""),
    ("/api/v1/namespaces/ns-{ns}/configmaps/cfg", "", "v1", "configmaps", "system:node:node-{ip}", "kubelet/v1.25.15",
     ""),
    ("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-{ip}", "coordination.k8s.io", "v1",
     "leases", "system:node:node-{ip}", "kubelet/v1.25.15", ""),
]
_DEPRECATED = ("/apis/autoscaling/v2beta2/horizontalpodautoscalers?limit=500", "autoscaling", "v2beta2",
               "horizontalpodautoscalers", "system:serviceaccount:monitoring:kube-state-metrics",
               "kube-state-metrics/v2.6.0", ',"k8s.io/deprecated":"true","k8s.io/removed-release":"1.26"')
_FLOOR = """import sys, orjson
n = 0
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        orjson.loads(line)
        n += 1
print(n)
"""


def _generate_audit_log(path: Path, events: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(events):
            call = _DEPRECATED if i % 200 == 7 else _CALLS[i % len(_CALLS)]
            ns, ip = i % 97, i % 13
            uri, group, version, resource, user, agent, extra = call
            fh.write(_EVENT.format(id=i, uri=uri.format(ns=ns, ip=ip), verb="list" if "?" in uri else "get",
                                   user=user.format(ns=ns, ip=ip), ip=ip, agent=agent, resource=resource, ns=ns,
                                   group=group, version=version, m=(i // 60000) % 60, s=(i // 1000) % 60,
                                   extra=extra))


def _run(args: list[str]) -> tuple[float, int, int, str]:
    """Wall seconds, exit code, peak RSS (MiB) of one child process, and its stdout."""
    t0 = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "CI": "1"})
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - t0, proc.returncode, usage.ru_maxrss // 1024, out


def bench_audit_log(events: int = 1_000_000) -> None:
    print(f"plan --audit-log on a generated {events:,}-event audit log (0.5% calls to a removed API)", flush=True)
    with tempfile.TemporaryDirectory(prefix="rehearse-bench-audit-") as tmp:
        log = Path(tmp) / "audit.log"
        _generate_audit_log(log, events)
        size = log.stat().st_size
        floor, _, floor_rss, counted = _run([sys.executable, "-c", _FLOOR, str(log)])
        plan, code, plan_rss, _ = _run([sys.executable, "-m", "harness", "-q", "plan", "--from", "1.25", "--to",
                                        "1.26", "--audit-log", str(log), "--json", str(Path(tmp) / "plan.json")])
        findings = json.loads((Path(tmp) / "plan.json").read_text())["findings"]
    found = any("kube-state-metrics" in json.dumps(f) and f["severity"] == "blocker" for f in findings)
    row(f"bare orjson parse ({size / 2**20:.0f} MiB, {int(counted or 0):,} lines)", f"{floor:.2f} s",
        f"peak RSS {floor_rss} MiB", "floor")
    row("rehearse plan --audit-log (whole CLI)", f"{plan:.2f} s", f"peak RSS {plan_rss} MiB",
        _ratio(plan, floor, 2) + ("" if code == 1 and found else " (caller NOT found)"))


def main() -> int:
    if sys.argv[1:] == ["audit"]:
        bench_audit_log()
        return 0
    bench_binaries()
    bench_doctor()
    floor = bench_local_provider()
    bench_rehearsal(floor)
    bench_audit_log()
    for name in ("bench_snapshot.py", "bench_plan.py"):
        extra = ROOT / "scripts" / name
        if extra.exists():
            print(name.removeprefix("bench_").removesuffix(".py"), flush=True)
            subprocess.run([sys.executable, str(extra)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
