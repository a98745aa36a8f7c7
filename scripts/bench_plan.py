#!/usr/bin/env python3
"""Benchmark `rehearse plan` on a generated corpus of 1,000 manifest files against the floor of merely parsing
the same files with the same YAML loader, in the same run.

The corpus (a temporary directory) mixes current and removed API versions, in multi-document files, with known
answers: every object of a removed API is recorded. Timed, best of --rounds, interleaved:
  floor     read every file and parse it with yaml.load_all (CSafeLoader when PyYAML has libyaml)
  plan      harness.plan.plan() in process, over the directory (walking it included)
  CLI       `python -m harness plan --from 1.24 --to 1.32 --manifests DIR`: interpreter start, imports, console
Target: plan ≤ 2× the floor; misses and false alarms against the known answers: none.

Then, side by side with pluto (the tool users would pick instead; scripts/pluto.py finds its cached binary), CPU
time (user + sys, from getrusage of the children, best of --rounds) of the whole process on the same corpus:
  pluto     `pluto detect-files -d DIR --target-versions k8s=v1.32.0 -o json`
  rehearse  `python -m harness -q plan --from 1.24 --to 1.32 --manifests DIR --report-dir TMP` (reports written)
Target: rehearse ≤ pluto's CPU time, and every object pluto finds removed at 1.32, rehearse finds.

    python scripts/bench_plan.py [--files 1000] [--rounds 3] [--strict]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from harness.knowledge import RemovedApi, packaged_knowledge  # noqa: E402
from harness.plan import plan  # noqa: E402
from harness.versions import catalogue  # noqa: E402
from scripts.pluto import Pluto, cached_pluto, command, missing_text, removed_objects  # noqa: E402

TARGET_RATIO = 2.0
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SOURCE, TARGET = "1.24", "1.32"
Answer = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


def row(what: str, value: str, floor: str, verdict: str) -> None:
    print(f"  {what:<46} {value:>12}   {floor:<28} {verdict}", flush=True)


# ---- the corpus ---------------------------------------------------------------------------------------------------

def _containers(app: str, rnd: random.Random, indent: int) -> str:
    """A pod spec's ``containers:`` list, indented by ``indent`` spaces."""
    env = "".join(f"      - name: SETTING_{i}\n        value: \"{rnd.randint(0, 10**6)}\"\n"
                  for i in range(rnd.randint(2, 8)))
    text = (f"containers:\n  - name: {app}\n    image: registry.example.com/{app}:1.{rnd.randint(0, 40)}.0\n"
            f"    ports:\n      - containerPort: 8080\n        name: http\n    env:\n{env}"
            f"    resources:\n      requests:\n        cpu: 100m\n        memory: 128Mi\n"
            f"      limits:\n        memory: 256Mi\n"
            f"    readinessProbe:\n      httpGet:\n        path: /healthz\n        port: http\n")
    return textwrap.indent(text, " " * indent)


def _body(kind: str, app: str, rnd: random.Random) -> str:
    """The spec part of a manifest of ``kind``, as people write it."""
    template = (f"  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n"
                + _containers(app, rnd, 6))
    selector = f"  selector:\n    matchLabels:\n      app: {app}\n"
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return f"spec:\n  replicas: {rnd.randint(1, 5)}\n{selector}{template}"
    if kind == "CronJob":
        return (f"spec:\n  schedule: \"{rnd.randint(0, 59)} {rnd.randint(0, 23)} * * *\"\n  jobTemplate:\n    spec:\n"
                f"      template:\n        spec:\n          restartPolicy: OnFailure\n" + _containers(app, rnd, 10))
    if kind == "Service":
        return f"spec:\n  selector:\n    app: {app}\n  ports:\n    - port: 80\n      targetPort: http\n"
    if kind == "ConfigMap":
        lines = "".join(f"    key{i} = {rnd.random():.6f}\n" for i in range(rnd.randint(5, 40)))
        return f"data:\n  app.properties: |\n{lines}  mode: production\n"
    if kind == "Ingress":
        return (f"spec:\n  rules:\n    - host: {app}.example.com\n      http:\n        paths:\n"
                f"          - path: /\n            pathType: Prefix\n            backend:\n              service:\n"
                f"                name: {app}\n                port:\n                  number: 80\n")
    if kind == "HorizontalPodAutoscaler":
        return (f"spec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: {app}\n"
                f"  minReplicas: 2\n  maxReplicas: 10\n")
    if kind == "PodDisruptionBudget":
        return f"spec:\n  minAvailable: 1\n{selector}"
    if kind in ("Role", "ClusterRole"):
        return "rules:\n  - apiGroups: [\"\"]\n    resources: [configmaps, pods]\n    verbs: [get, list, watch]\n"
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        return (f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {app}\nsubjects:\n"
                f"  - kind: ServiceAccount\n    name: {app}\n")
    return f"spec:\n  description: {kind} for {app}\n  settings:\n    level: {rnd.randint(1, 9)}\n"


CURRENT = [("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"), ("networking.k8s.io/v1", "Ingress"),
           ("batch/v1", "CronJob"), ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"),
           ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
           ("apps/v1", "StatefulSet"), ("v1", "ServiceAccount"), ("cert-manager.io/v1", "Certificate")]
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "PodSecurityPolicy", "PriorityClass", "StorageClass",
                  "CSIDriver", "CSINode", "VolumeAttachment", "IngressClass", "RuntimeClass", "FlowSchema",
                  "PriorityLevelConfiguration", "CustomResourceDefinition", "APIService", "TokenReview",
                  "SubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview",
                  "CertificateSigningRequest", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}


def planned_apis(apis: Iterable[RemovedApi]) -> list[RemovedApi]:
    """The APIs a plan from SOURCE to TARGET reports (removed or deprecated by TARGET), in a stable order; APIs
    removed later (a beta the target still serves undeprecated) would be no finding, so the corpus leaves them out."""
    target = tuple(int(x) for x in TARGET.split("."))
    return sorted((a for a in apis if min(a.removed_minor, a.deprecated_minor) <= target), key=lambda a: a.key)


def make_corpus(directory: Path, files: int, apis: list[RemovedApi], seed: int = 1) -> set[Answer]:
    """Write ``files`` manifest files under ``directory`` (in team/app folders); return the known answers."""
    rnd = random.Random(seed)
    answers: set[Answer] = set()
    for i in range(files):
        team = f"team-{i % 12:02d}"
        app = f"app-{i:04d}"
        docs: list[str] = []
        kinds = rnd.sample(CURRENT, rnd.randint(1, 4))
        if rnd.random() < 0.2:  # one file in five carries an object of a removed API
            api = rnd.choice(apis)
            kinds.insert(rnd.randint(0, len(kinds)), (api.group_version, api.kind))
        for j, (gv, kind) in enumerate(kinds):
            name = f"{app}-{j}"
            namespace = None if kind in CLUSTER_SCOPED else team
            meta = f"metadata:\n  name: {name}\n" + (f"  namespace: {namespace}\n" if namespace else "")
            meta += f"  labels:\n    app: {app}\n    team: {team}\n"
            docs.append(f"apiVersion: {gv}\nkind: {kind}\n{meta}{_body(kind, app, rnd)}")
            if any(a.group_version == gv and a.kind == kind for a in apis):
                answers.add((gv, kind, namespace or "", name))
        path = directory / team / app / ("manifests.yaml" if i % 3 else "all.yml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# generated by scripts/bench_plan.py\n" + "---\n".join(docs), encoding="utf-8")
    return answers


# ---- timing -------------------------------------------------------------------------------------------------------

def parse_floor(paths: list[Path]) -> int:
    """Read and parse every file; the number of documents."""
    count = 0
    for p in paths:
        count += len(list(yaml.load_all(p.read_bytes(), Loader=LOADER)))
    return count


def best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    knowledge = packaged_knowledge()  # generated facts included
    cat = catalogue()
    source, target = cat.resolve(SOURCE), cat.resolve(TARGET)
    loader = "CSafeLoader (libyaml)" if LOADER is not yaml.SafeLoader else "SafeLoader (pure Python)"
    print(f"rehearse plan on {args.files} generated manifest files, {SOURCE} → {TARGET}, {loader}", flush=True)
    with tempfile.TemporaryDirectory(prefix="rehearse-bench-plan-") as tmp:
        corpus = Path(tmp) / "corpus"
        answers = make_corpus(corpus, args.files, planned_apis(knowledge.apis.values()))
        paths = sorted(corpus.rglob("*.y*ml"))
        size = sum(p.stat().st_size for p in paths)
        documents = parse_floor(paths)  # warms the page cache for everyone
        cli = [sys.executable, "-m", "harness", "-q", "plan", "--from", SOURCE, "--to", TARGET, "--manifests",
               str(corpus)]
        env = cli_env()
        start_cmd = [sys.executable, "-m", "harness", "plan", "--help"]
        start = best(lambda: subprocess.run(start_cmd, env=env, capture_output=True, check=False), args.rounds)
        floor_s, plan_s, cli_s = [], [], []
        report = None
        for _ in range(args.rounds):
            floor_s.append(best(lambda: parse_floor(paths), 1))
            t0 = time.perf_counter()
            report = plan(source, target, snapshot=None, manifest_paths=[corpus], knowledge=knowledge)
            plan_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            code = subprocess.run(cli, env=env, capture_output=True, check=False).returncode
            cli_s.append(time.perf_counter() - t0)
        assert report is not None
    found = {(f.object.apiVersion, f.object.kind, f.object.namespace or "", f.object.name)
             for f in report.findings if f.kind in ("removed-api", "deprecated-api")}
    misses, false_alarms = answers - found, found - answers
    floor, in_process, whole = min(floor_s), min(plan_s), min(cli_s)
    print(f"  corpus: {len(paths)} files, {documents} documents, {size / 1e6:.1f} MB, "
          f"{len(answers)} objects of removed APIs", flush=True)
    row("parse only (yaml.load_all, floor)", f"{floor:.2f} s", "", "")
    ok_plan = in_process <= TARGET_RATIO * floor
    row("plan, in process", f"{in_process:.2f} s", f"floor {floor:.2f} s",
        f"{in_process / floor:.2f}× floor, target ≤ {TARGET_RATIO:g}× {'ok' if ok_plan else 'OVER'}")
    row("plan, CLI (start, imports, console)", f"{whole:.2f} s", f"floor {floor:.2f} s",
        f"{whole / floor:.2f}× floor (exit {code})")
    row("  of which the CLI's start (plan --help)", f"{start:.2f} s", "", "")
    row("  plan, CLI less its start", f"{whole - start:.2f} s", f"floor {floor:.2f} s",
        f"{(whole - start) / floor:.2f}× floor")
    ok_answers = not misses and not false_alarms and code == 1
    row("misses / false alarms vs known answers", f"{len(misses)} / {len(false_alarms)}", "target 0 / 0",
        "ok" if ok_answers else "WRONG")
    for m in sorted(misses)[:10]:
        print(f"    missed: {m}")
    for m in sorted(false_alarms)[:10]:
        print(f"    false alarm: {m}")
    ok_pluto = versus_pluto(args.files, args.rounds, planned_apis(knowledge.apis.values()))
    return 1 if args.strict and not (ok_plan and ok_answers and ok_pluto) else 0


def cli_env() -> dict[str, str]:
    """The CLI's environment as installed: bytecode cached (pip and pipx compile it at install; a machine that sets
    PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every run and time the compiler)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(CI="true", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "harness")], check=True, env=env)
    return env


def child_cpu(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    """Run ``cmd``; its CPU time (user + sys, as /usr/bin/time counts it) and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out.stdout


def versus_pluto(files: int, rounds: int, apis: list[RemovedApi]) -> bool:
    """pluto and `rehearse plan` (report files written) on one corpus, CPU side by side; whether both targets
    (CPU ≤ pluto's, no object pluto finds missed) are met."""
    print(f"side by side with pluto, CPU (user + sys) of the whole process, best of {rounds}", flush=True)
    found: Pluto | None = cached_pluto()
    if found is None:
        print(f"  {missing_text()}: skipped", flush=True)
        return False
    with tempfile.TemporaryDirectory(prefix="rehearse-bench-pluto-") as tmp:
        corpus = Path(tmp) / "corpus"
        make_corpus(corpus, files, apis)
        env = cli_env()
        pluto_cmd = command(found, corpus, TARGET)
        pluto_s, plan_s, start_s = [], [], []
        pluto_out = ""
        for i in range(rounds):
            seconds, pluto_out = child_cpu(pluto_cmd, env)
            pluto_s.append(seconds)
            reports = Path(tmp) / f"reports-{i}"
            plan_s.append(child_cpu([sys.executable, "-m", "harness", "-q", "plan", "--from", SOURCE, "--to", TARGET,
                                     "--manifests", str(corpus), "--report-dir", str(reports)], env)[0])
            start_s.append(child_cpu([sys.executable, "-c", "pass"], env)[0])
        doc = json.loads((Path(tmp) / f"reports-{rounds - 1}" / "report.json").read_text(encoding="utf-8"))
    theirs = removed_objects(pluto_out)
    ours = {(f["object"]["apiVersion"], f["object"]["kind"], f["object"].get("namespace") or "", f["object"]["name"])
            for f in doc["findings"] if f["kind"] in ("removed-api", "deprecated-api")}
    pluto_cpu, plan_cpu = min(pluto_s), min(plan_s)
    row(f"pluto detect-files ({found.version})", f"{pluto_cpu:.3f} s", "", "")
    ok_cpu = plan_cpu <= pluto_cpu
    row("rehearse plan, reports written", f"{plan_cpu:.3f} s", f"pluto {pluto_cpu:.3f} s",
        f"{plan_cpu / pluto_cpu:.2f}× pluto, target ≤ 1× {'ok' if ok_cpu else 'OVER'}")
    row("  of which Python's own start (python -c pass)", f"{min(start_s):.3f} s", "", "")
    missed = theirs - ours
    row("objects pluto finds removed / rehearse misses", f"{len(theirs)} / {len(missed)}", "target misses 0",
        "ok" if theirs and not missed else "WRONG")
    for m in sorted(missed)[:10]:
        print(f"    missed (pluto found it): {m}")
    return ok_cpu and bool(theirs) and not missed


if __name__ == "__main__":
    sys.exit(main())
