#!/bin/sh
# rehearse kindnetd stand-in: CNI config for this node's podCIDR and routes to the other nodes' podCIDRs.
set -u
SA=/var/run/secrets/kubernetes.io/serviceaccount
k() {
  kubectl --server="https://${CONTROL_PLANE_ENDPOINT}" --token="$(cat "$SA/token")" \
    --certificate-authority="$SA/ca.crt" --request-timeout=10s "$@"
}
conf=/etc/cni/net.d/10-kindnet.conflist
while :; do
  cidr=$(k get node "$NODE_NAME" -o 'jsonpath={.spec.podCIDR}' 2>/dev/null || true)
  if [ -n "$cidr" ]; then
    want=$(cat <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kindnet",
  "plugins": [
    {"type": "ptp", "ipMasq": false, "mtu": 1500,
     "ipam": {"type": "host-local", "dataDir": "/run/cni-ipam-state",
              "routes": [{"dst": "0.0.0.0/0"}], "ranges": [[{"subnet": "$cidr"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
)
    if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
      printf '%s\n' "$want" > "$conf.tmp" && mv -f "$conf.tmp" "$conf"
      echo "wrote $conf for $cidr"
    fi
  fi
  k get nodes -o 'jsonpath={range .items[*]}{.metadata.name}{" "}{.spec.podCIDR}{" "}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' 2>/dev/null |
  while read -r node podcidr ip _; do
    [ "$node" = "$NODE_NAME" ] && continue
    [ -n "$podcidr" ] && [ -n "$ip" ] || continue
    case "$ip" in *:*) continue ;; esac
    current=$(ip route show "$podcidr" 2>/dev/null)
    case "$current" in *"via $ip "*) ;; *) ip route replace "$podcidr" via "$ip" && echo "route $podcidr via $ip ($node)" ;; esac
  done
  sleep 5
done
