#!/usr/bin/env bash
# Install and start a Docker engine for the kind provider's end-to-end test (idempotent; needs root).
#
# - Installs Debian's docker.io (dockerd + its own containerd + runc) when no dockerd is installed.
# - This sandbox's capability bounding set lacks CAP_SYS_RESOURCE, so runc refuses every privileged container
#   ("unable to apply caps: operation not permitted"): docker 20.10 asks for *all* capabilities it knows for
#   --privileged, not for those the host can give. When the bounding set lacks it, a runtime wrapper
#   (rehearse-runc, below) is made the engine's default runtime: it deletes CAP_SYS_RESOURCE from the OCI
#   config.json (`runc create --bundle DIR`) and from `runc exec --process FILE`, then execs the real runc.
#   Nothing else changes; on a host that has the capability, the wrapper is not installed.
# - The engine's DNS for containers is 127.0.0.1: containers on this machine must send no query to an outside
#   resolver (docker's embedded DNS forwards unknown names to the engine's DNS servers); nothing here needs one.
# - dockerd is started in the background (no systemd here), logging to /var/log/rehearse-dockerd.log.
#
# Usage: scripts/kind/engine.sh [start|status|stop]   (default: start)
set -euo pipefail

ACTION="${1:-start}"
WRAPPER=/usr/local/libexec/rehearse/rehearse-runc
DAEMON_JSON=/etc/docker/daemon.json
LOG=/var/log/rehearse-dockerd.log
PIDFILE=/var/run/rehearse-dockerd.pid
REAL_RUNC="${REHEARSE_REAL_RUNC:-/usr/sbin/runc}"

log() { printf 'engine: %s\n' "$*" >&2; }

lacks_sys_resource() {
  # CAP_SYS_RESOURCE is capability 24: test that bit of the bounding set.
  local bnd
  bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  (( (16#$bnd >> 24 & 1) == 0 ))
}

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

install_engine() {
  # docker.io for the engine; debootstrap for the node images' root file system (scripts/kind/build_images.py).
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  (( ${#missing[@]} )) || return 0
  log "installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_wrapper() {
  mkdir -p "$(dirname "$WRAPPER")"
  local tmp="$WRAPPER.tmp.$$"
  cat >"$tmp" <<PY
#!/usr/bin/python3
"""runc wrapper installed by rehearse's scripts/kind/engine.sh: drop CAP_SYS_RESOURCE, which this host's
capability bounding set lacks, from OCI specs before runc applies them (docker asks for every capability it
knows for --privileged containers, and runc fails on the one the host cannot give)."""
import json, os, sys

REAL = "$REAL_RUNC"
DROP = "CAP_SYS_RESOURCE"


def strip_caps(path):
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return
    caps = (doc.get("process", doc) or {}).get("capabilities") or {}
    changed = False
    for key, values in list(caps.items()):
        if isinstance(values, list) and DROP in values:
            caps[key] = [v for v in values if v != DROP]
            changed = True
    if changed:
        tmp = path + ".rehearse"
        with open(tmp, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)


args = sys.argv[1:]
for i, a in enumerate(args):
    for flag, suffix in (("--bundle", "config.json"), ("-b", "config.json"), ("--process", None), ("-p", None)):
        value = None
        if a == flag and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(flag + "=") and flag.startswith("--"):
            value = a.split("=", 1)[1]
        if value:
            strip_caps(os.path.join(value, suffix) if suffix else value)
os.execv(REAL, [REAL, *args])
PY
  chmod 0755 "$tmp"
  mv -f "$tmp" "$WRAPPER"
}

write_daemon_json() {
  mkdir -p "$(dirname "$DAEMON_JSON")"
  local want
  if lacks_sys_resource; then
    want=$(printf '{\n  "runtimes": {"rehearse-runc": {"path": "%s"}},\n  "default-runtime": "rehearse-runc",\n  "dns": ["127.0.0.1"]\n}\n' "$WRAPPER")
  else
    want=$(printf '{\n  "dns": ["127.0.0.1"]\n}\n')
  fi
  if [[ -f "$DAEMON_JSON" ]] && [[ "$(cat "$DAEMON_JSON")" == "$want" ]]; then return 1; fi
  printf '%s\n' "$want" >"$DAEMON_JSON"
  return 0
}

stop_engine() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd ($pid)"
    kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f "$PIDFILE"
}

start_engine() {
  install_engine
  if lacks_sys_resource; then write_wrapper; fi
  local changed=0
  write_daemon_json && changed=1
  if engine_up; then
    if (( changed )); then
      log "engine configuration changed; restarting dockerd"
      stop_engine
    else
      log "engine already running ($(docker version --format '{{.Server.Version}}'), default runtime $(docker info --format '{{.DefaultRuntime}}'))"
      return 0
    fi
  fi
  # A stale pid file of a dead dockerd blocks the start.
  [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null && rm -f /var/run/docker.pid
  log "starting dockerd (log: $LOG)"
  setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 120); do
    if engine_up; then
      log "engine up: $(docker version --format '{{.Server.Version}}'), default runtime $(docker info --format '{{.DefaultRuntime}}')"
      return 0
    fi
    sleep 0.5
  done
  log "dockerd did not answer within 60 s; last lines of $LOG:"
  tail -n 20 "$LOG" >&2
  return 1
}

case "$ACTION" in
  start) start_engine ;;
  stop) stop_engine ;;
  status) engine_up && docker info --format 'server {{.ServerVersion}}, default runtime {{.DefaultRuntime}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}' ;;
  *) echo "usage: $0 [start|status|stop]" >&2; exit 2 ;;
esac
