"""The egress script a kind node runs, on this machine's real kernel, without a Docker engine.

The node's situation is rebuilt with namespaces: fresh network and mount namespaces, and a cgroup namespace
rooted at a new cgroup, below which a pod cgroup sits where the kubelet puts it (``kubelet.slice/
kubelet-kubepods.slice/…``). The script (``apply_script``) runs with the node image's own nft and iptables (its
root file system, chrooted into: the node image is built from it) or with this machine's when it has both. HTTP
listeners on addresses "outside the cluster" stand for the world; a process moved into the pod cgroup stands for
a host-network pod, the shell itself for the node's own processes (kubelet, containerd, kubeadm). The kind end
to end test (test_kind_e2e.py) proves the same on real nodes and pods, including routed (non host-network) pods.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.providers.kind.node import EgressPolicy, apply_script

CLOSED = EgressPolicy(pods=("10.244.0.0/16",), services=("10.96.0.0/16",), nodes=("192.0.2.200",),
                      resolvers=("192.0.2.201",), callbacks=(("198.51.100.9", 8081),))
OPENED = EgressPolicy(pods=CLOSED.pods, services=CLOSED.services, nodes=CLOSED.nodes, resolvers=CLOSED.resolvers,
                      callbacks=CLOSED.callbacks, opened=("198.51.100.7/32", "2001:db8::7/128"))

INNER = r"""
set -eu
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
mount --make-rprivate /
if [ "$ROOT" != / ]; then
  for d in proc sys run tmp; do [ -d "$ROOT/$d" ] || { echo "no /$d in $ROOT"; exit 5; }; done
  mount -t proc proc "$ROOT/proc"
  for d in sys run tmp; do mount -t tmpfs tmpfs "$ROOT/$d"; done   # nothing is written into the cached root
  mkdir -p "$ROOT/sys/fs/cgroup"
fi
C="$ROOT/sys/fs/cgroup"; [ "$ROOT" = / ] && C=/sys/fs/cgroup
mount -t cgroup2 cgroup2 "$C"   # this namespace's view: the new cgroup is its root, as a node's is
P="$C/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/pod1"
mkdir -p "$P"
ip link set lo up
ip addr add 198.51.100.7/32 dev lo; ip addr add 198.51.100.9/32 dev lo; ip -6 addr add 2001:db8::7/128 dev lo
serve() { "$PY" -m http.server "$2" --bind "$1" >/dev/null 2>&1 & }
serve 198.51.100.7 8080; serve 198.51.100.9 8081; serve 198.51.100.9 8082; serve 2001:db8::7 8080
serve 127.0.0.1 8083
for u in http://198.51.100.7:8080/ http://198.51.100.9:8081/ http://198.51.100.9:8082/ "http://[2001:db8::7]:8080/" \
         http://127.0.0.1:8083/; do
  i=0; until curl -s -o /dev/null --max-time 1 "$u"; do i=$((i+1)); [ $i -lt 50 ] || exit 6; sleep 0.1; done
done
node() { curl -s -o /dev/null --max-time 5 "$1"; echo "RESULT $2 $?"; }
pod() {
  sh -c 'echo $$ > "$0/cgroup.procs" && exec curl -s -o /dev/null --max-time 5 "$1"' "$P" "$1" && r=0 || r=$?
  echo "RESULT $2 $r"
}
apply() { chroot "$ROOT" sh -s < "$1"; echo "RESULT apply-$2 $?"; }
probe() {
  node http://198.51.100.7:8080/ "$1-node-outside"
  node "http://[2001:db8::7]:8080/" "$1-node-outside6"
  pod http://198.51.100.7:8080/ "$1-pod-outside"
  pod "http://[2001:db8::7]:8080/" "$1-pod-outside6"
  pod http://198.51.100.9:8081/ "$1-pod-callback"
  pod http://198.51.100.9:8082/ "$1-pod-callback-host-other-port"
  pod http://127.0.0.1:8083/ "$1-pod-loopback"
}
apply "$TMP/closed.sh" closed
probe closed
apply "$TMP/opened.sh" opened
apply "$TMP/opened.sh" again
probe opened
echo "RESULT jumps $(chroot "$ROOT" iptables -t mangle -S OUTPUT | grep -c -- '-j REHEARSE-EGRESS')"
"""


def _tools_root() -> str | None:
    """``/`` when this machine has nft and iptables, else the node image's root file system (cached when the
    kind node images were built), else None."""
    if shutil.which("nft") and shutil.which("iptables-restore"):
        return "/"
    from harness.nodeimage._util import kind_root

    for root in sorted((kind_root() / "rootfs").glob("bookworm-*")):
        if (root / ".complete").exists() and (root / "usr/sbin/nft").exists():
            return str(root)
    return None


def _cgroup2() -> tuple[Path, str] | None:
    """(where the cgroup v2 hierarchy is mounted, this process's cgroup in it)."""
    mounts = [ln.split() for ln in Path("/proc/mounts").read_text().splitlines()]
    where = next((Path(m[1]) for m in mounts if len(m) > 2 and m[2] == "cgroup2"), None)
    own = next((ln[3:] for ln in Path("/proc/self/cgroup").read_text().splitlines() if ln.startswith("0::")), None)
    return (where, own) if where is not None and own is not None else None


def _remove_cgroup(top: Path, seconds: float = 10.0) -> None:
    """Remove the test's cgroup tree, deepest first. The listeners the script started are killed on its exit but
    may not have left their cgroup yet on a loaded machine (rmdir answers EBUSY meanwhile): kill what is still
    there and try again until ``seconds`` pass."""
    if not top.exists():
        return
    deadline = time.monotonic() + seconds
    for d in [*sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)), top]:
        while True:
            for pid in (d / "cgroup.procs").read_text().split() if (d / "cgroup.procs").exists() else []:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            try:
                d.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def test_pods_reach_only_the_cluster_the_stand_in_and_opened_ranges(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("needs Linux and root (namespaces, cgroups, netfilter)")
    root = _tools_root()
    if root is None:
        pytest.skip("neither nft and iptables here nor a kind node root file system in the cache "
                    "(scripts/kind/build_images.py builds it)")
    hierarchy = _cgroup2()
    if hierarchy is None or not shutil.which("unshare") or not shutil.which("curl"):
        pytest.skip("needs a cgroup v2 hierarchy, unshare and curl")
    mount, own = hierarchy
    (tmp_path / "closed.sh").write_text(apply_script(CLOSED))
    (tmp_path / "opened.sh").write_text(apply_script(OPENED))
    (tmp_path / "inner.sh").write_text(INNER)
    test_cgroup = mount / f"rehearse-egress-test-{os.getpid()}"
    outer = (f'set -e; mkdir "{test_cgroup}"; echo $$ > "{test_cgroup}/cgroup.procs"; '
             f'unshare --cgroup --net --mount --fork bash "{tmp_path}/inner.sh" && rc=0 || rc=$?; '
             f'echo $$ > "{mount}{own.rstrip("/")}/cgroup.procs"; exit $rc')
    env = {**os.environ, "ROOT": root, "TMP": str(tmp_path), "PY": sys.executable}
    try:
        proc = subprocess.run(["bash", "-c", outer], capture_output=True, text=True, timeout=120, env=env,
                              check=False)
    finally:
        _remove_cgroup(test_cgroup)
    results = dict(ln.split()[1:3] for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    refused = "7"  # curl: could not connect (rejected at once: admin-prohibited), never 28 (a timeout)
    assert results == {
        "apply-closed": "0", "apply-opened": "0", "apply-again": "0",
        # the node's own processes are not confined
        "closed-node-outside": "0", "closed-node-outside6": "0", "opened-node-outside": "0",
        "opened-node-outside6": "0",
        # a host-network pod: nothing outside the cluster, but the stand-in's one port and loopback
        "closed-pod-outside": refused, "closed-pod-outside6": refused, "closed-pod-callback": "0",
        "closed-pod-callback-host-other-port": refused, "closed-pod-loopback": "0",
        # --allow-egress opens its ranges and nothing more
        "opened-pod-outside": "0", "opened-pod-outside6": "0", "opened-pod-callback": "0",
        "opened-pod-callback-host-other-port": refused, "opened-pod-loopback": "0",
        "jumps": "1",  # applying again replaced the rules: one jump to the mark chain
    }, (results, proc.stderr[-2000:])
