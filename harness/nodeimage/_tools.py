"""Helper binaries a node image needs that Kubernetes' own build does not give: crictl, CoreDNS, pause, busybox.

crictl and CoreDNS are built from their Go modules (static; CoreDNS with the plugins a kubeadm Corefile and common
customisations use, the way CoreDNS documents building with a chosen plugin set, which leaves out the cloud DNS
providers' SDKs and tracing and halves the build); pause is a small static C program (the same
behaviour as Kubernetes' pause: sleep until SIGINT/SIGTERM, reap zombies); busybox comes from Debian's
``busybox-static`` package. Everything is cached under ``~/.cache/rehearse/kind/tools``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.binaries import locked
from harness.nodeimage._util import BuildFailed, environ, kind_root, run
from harness.progress import NullProgress, Progress

CRICTL = ("sigs.k8s.io/cri-tools/cmd/crictl", "v1.34.0")  # v1.28.0 is refused by the module proxy; 1.34 works
COREDNS = ("github.com/coredns/coredns", "v1.10.1")  # what kubeadm 1.27 and 1.28 deploy
# kubeadm's Corefile: errors health ready kubernetes prometheus(metrics) forward cache loop reload loadbalance;
# plus what Corefiles commonly add (log, hosts, rewrite, template) and what runs without a Corefile (whoami).
COREDNS_PLUGINS = ("bind", "cache", "errors", "forward", "health", "hosts", "kubernetes", "loadbalance", "log",
                   "loop", "metrics", "ready", "reload", "rewrite", "template", "whoami")
_STATIC = {"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false -mod=mod"}
_GO_FLAGS = ("-trimpath", "-gcflags=all=-dwarf=false", "-ldflags=-s -w")

PAUSE_C = r"""
/* pause: the pod sandbox's process. Sleeps until SIGINT or SIGTERM, reaps adopted children. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) { (void)signo; _exit(0); }
static void sigreap(int signo) { (void)signo; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
  struct sigaction down = {0}, reap = {0};
  down.sa_handler = sigdown;
  reap.sa_handler = sigreap;
  reap.sa_flags = SA_NOCLDSTOP;
  if (getpid() != 1) { /* like Kubernetes' pause, it is meant to be PID 1 but runs anyway */ }
  if (sigaction(SIGINT, &down, NULL) < 0 || sigaction(SIGTERM, &down, NULL) < 0 ||
      sigaction(SIGCHLD, &reap, NULL) < 0) return 1;
  for (;;) pause();
  return 42;
}
"""


def _tools_dir() -> Path:
    d = kind_root() / "tools"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _built_once(dest: Path, what: str, build: Callable[[Path], Path], progress: Progress) -> Path:
    """``dest`` when cached; else, under a lock, ``build(tmp_dir)`` (which returns the binary it made) moved into
    place atomically, so a killed build never counts as cached."""
    if dest.is_file():
        return dest
    with locked(kind_root(), f"tool-{dest.parent.name}"):
        if dest.is_file():
            return dest
        progress.step(f"building {what} from Go modules")
        with tempfile.TemporaryDirectory(prefix=".partial-", dir=_tools_dir()) as tmp:
            made = build(Path(tmp))
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(made), dest)
    return dest


def go_install(package: str, version: str, progress: Progress | None = None) -> Path:
    """``go install package@version`` (static, CGO_ENABLED=0) into the tools cache; returns the binary."""
    name = package.rstrip("/").rsplit("/", 1)[-1]

    def build(tmp: Path) -> Path:
        run(["nice", "-n", "10", "go", "install", *_GO_FLAGS, f"{package}@{version}"],
            env=environ(**_STATIC, GOBIN=str(tmp)), timeout=3600, what=f"go install {package}@{version}")
        return tmp / name

    return _built_once(_tools_dir() / f"{name}-{version}" / name, f"{name} {version}", build,
                       progress or NullProgress())


def crictl(progress: Progress | None = None) -> Path:
    return go_install(*CRICTL, progress=progress)


def coredns(progress: Progress | None = None) -> Path:
    """CoreDNS :data:`COREDNS` with :data:`COREDNS_PLUGINS`: a main package importing ``coremain`` and those
    plugins, built in a wrapper module that requires the release."""
    module, version = COREDNS

    def build(tmp: Path) -> Path:
        work = _tools_dir() / f"coredns-{version}-work"
        work.mkdir(parents=True, exist_ok=True)
        (work / "go.mod").write_text(f"module rehearse.local/coredns\n\ngo 1.18\n\nrequire {module} {version}\n")
        imports = "\n".join(f'\t_ "{module}/plugin/{p}"' for p in COREDNS_PLUGINS)
        (work / "main.go").write_text(
            f"// CoreDNS {version} with the plugins of a kubeadm Corefile (written by rehearse).\n"
            f"package main\n\nimport (\n\t_ \"github.com/coredns/caddy/onevent\"\n\t\"{module}/coremain\"\n"
            f"{imports}\n)\n\nfunc main() {{ coremain.Run() }}\n")
        env = environ(**_STATIC)
        run(["go", "mod", "tidy"], cwd=work, env=env, timeout=1800, what=f"go mod tidy (CoreDNS {version})")
        run(["nice", "-n", "10", "go", "build", *_GO_FLAGS, "-o", str(tmp / "coredns"), "."], cwd=work, env=env,
            timeout=3600, what=f"go build CoreDNS {version}")
        return tmp / "coredns"

    return _built_once(_tools_dir() / f"coredns-{version}-kubeadm" / "coredns",
                       f"CoreDNS {version} ({len(COREDNS_PLUGINS)} plugins)", build, progress or NullProgress())


def pause(progress: Progress | None = None) -> Path:
    """A static pause binary compiled from :data:`PAUSE_C`."""
    dest = _tools_dir() / "pause" / "pause"
    if dest.is_file():
        return dest
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise BuildFailed("no C compiler to build the pause binary (apt-get install gcc libc6-dev)")
    (progress or NullProgress()).update("compiling pause")
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = dest.with_suffix(".c")
    src.write_text(PAUSE_C)
    tmp = dest.with_name(".pause.tmp")
    run([cc, "-static", "-Os", "-s", "-o", str(tmp), str(src)], what="cc -static pause.c")
    tmp.replace(dest)
    return dest


def busybox(progress: Progress | None = None) -> Path:
    """The static busybox of Debian's ``busybox-static`` package (fetched with ``apt-get download``)."""
    dest = _tools_dir() / "busybox" / "busybox"
    if dest.is_file():
        return dest
    (progress or NullProgress()).update("fetching Debian's busybox-static")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        run(["apt-get", "download", "busybox-static"], cwd=Path(tmp), what="apt-get download busybox-static")
        debs = sorted(Path(tmp).glob("busybox-static_*.deb"))
        if not debs:
            raise BuildFailed("apt-get download busybox-static gave no package")
        run(["dpkg-deb", "-x", str(debs[0]), str(Path(tmp) / "x")], what="dpkg-deb -x busybox-static")
        shutil.copyfile(Path(tmp) / "x/bin/busybox", dest.with_name(".busybox.tmp"))
        dest.with_name(".busybox.tmp").chmod(0o755)
        dest.with_name(".busybox.tmp").replace(dest)
    return dest
