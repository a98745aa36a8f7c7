"""What a node image carries in ``/kind/manifests``: the default CNI and the default storage.

kind's own kindnetd image cannot be had here (it is not a published Go module), nor can rancher's
local-path-provisioner, so the test images carry small stand-ins with the same contract, run from one locally
built image (static busybox + kubectl):

- ``kindnetd``: a DaemonSet on the host network that writes the node's CNI config (ptp + host-local over the
  node's podCIDR, plus portmap, as kindnetd does) and keeps a route to every other node's podCIDR through that
  node's InternalIP. kind templates the manifest (``.PodSubnet``) and patches in ``CONTROL_PLANE_ENDPOINT``,
  so the daemon reaches the API server without waiting for kube-proxy, exactly like kindnetd.
- ``local-path``: the ``standard`` default StorageClass (``rancher.io/local-path``, WaitForFirstConsumer) and a
  provisioner that creates a hostPath volume on the node the scheduler picked for each pending claim.
"""

# ruff: noqa: E501  (shell and YAML kept on one line each, as they run)
from __future__ import annotations

KINDNETD_SCRIPT = r"""#!/bin/sh
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
"""

LOCAL_PATH_SCRIPT = r"""#!/bin/sh
# rehearse local-path stand-in: a hostPath volume, on the node the scheduler picked, for each pending claim
# of the "standard" class; released volumes are deleted.
set -u
TAB=$(printf '\t')
while :; do
  kubectl get pvc -A -o 'jsonpath={range .items[*]}{.metadata.namespace}{"\t"}{.metadata.name}{"\t"}{.metadata.uid}{"\t"}{.status.phase}{"\t"}{.spec.storageClassName}{"\t"}{.metadata.annotations.volume\.kubernetes\.io/selected-node}{"\t"}{.spec.resources.requests.storage}{"\t"}{.spec.volumeMode}{"\t"}{.spec.accessModes[0]}{"\n"}{end}' 2>/dev/null |
  while IFS="$TAB" read -r ns name uid phase sc node size vmode amode; do
    [ "$phase" = Pending ] && [ "$sc" = standard ] && [ -n "$node" ] || continue
    pv="pvc-$uid"
    kubectl get pv "$pv" >/dev/null 2>&1 && continue
    kubectl create -f - <<EOF && echo "provisioned $pv for $ns/$name on $node"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $pv
  labels: {rehearse.io/local-path: "true"}
  annotations: {pv.kubernetes.io/provisioned-by: rancher.io/local-path}
spec:
  capacity: {storage: "$size"}
  accessModes: ["${amode:-ReadWriteOnce}"]
  volumeMode: ${vmode:-Filesystem}
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  claimRef: {namespace: "$ns", name: "$name", uid: "$uid"}
  hostPath: {path: "/var/local-path-provisioner/$pv", type: DirectoryOrCreate}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: ["$node"]}
EOF
  done
  kubectl get pv -l rehearse.io/local-path=true -o 'jsonpath={range .items[*]}{.metadata.name}{" "}{.status.phase}{"\n"}{end}' 2>/dev/null |
  while read -r pv phase; do
    case "$phase" in Released|Failed) kubectl delete pv "$pv" --wait=false ;; esac
  done
  sleep 2
done
"""


def cni_manifest(image: str) -> str:
    """``/kind/manifests/default-cni.yaml``: kind templates ``.PodSubnet`` and patches CONTROL_PLANE_ENDPOINT."""
    return f"""# rehearse kindnetd stand-in networking manifest (a kind node image's default CNI)
# would you kindly template this file
# would you kindly patch this file
---
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata:
  name: kindnet
rules:
  - apiGroups: [""]
    resources: [nodes]
    verbs: [get, list, watch]
---
kind: ClusterRoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata:
  name: kindnet
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kindnet
subjects:
- kind: ServiceAccount
  name: kindnet
  namespace: kube-system
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kindnet
  namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kindnet
  namespace: kube-system
  labels:
    tier: node
    app: kindnet
    k8s-app: kindnet
spec:
  selector:
    matchLabels:
      app: kindnet
  template:
    metadata:
      labels:
        tier: node
        app: kindnet
        k8s-app: kindnet
    spec:
      hostNetwork: true
      nodeSelector:
        kubernetes.io/os: linux
      tolerations:
      - operator: Exists
      serviceAccountName: kindnet
      containers:
      - name: kindnet-cni
        image: {image}
        imagePullPolicy: IfNotPresent
        command: ["/bin/sh", "/kindnetd.sh"]
        env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: POD_SUBNET
          value: {{{{ .PodSubnet }}}}
        volumeMounts:
        - name: cni-cfg
          mountPath: /etc/cni/net.d
        resources:
          requests:
            cpu: "10m"
            memory: "20Mi"
        securityContext:
          privileged: false
          capabilities:
            add: ["NET_RAW", "NET_ADMIN"]
      volumes:
      - name: cni-cfg
        hostPath:
          path: /etc/cni/net.d
          type: DirectoryOrCreate
"""


def storage_manifest(image: str) -> str:
    """``/kind/manifests/default-storage.yaml``: the ``standard`` default StorageClass and its provisioner."""
    return f"""apiVersion: v1
kind: Namespace
metadata:
  name: local-path-storage
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: local-path-provisioner-service-account
  namespace: local-path-storage
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: local-path-provisioner-role
rules:
- apiGroups: [""]
  resources: [persistentvolumeclaims, nodes]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list, watch, create, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: local-path-provisioner-bind
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: local-path-provisioner-role
subjects:
- kind: ServiceAccount
  name: local-path-provisioner-service-account
  namespace: local-path-storage
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: local-path-provisioner
  namespace: local-path-storage
spec:
  replicas: 1
  selector:
    matchLabels:
      app: local-path-provisioner
  template:
    metadata:
      labels:
        app: local-path-provisioner
    spec:
      serviceAccountName: local-path-provisioner-service-account
      tolerations:
      - key: node-role.kubernetes.io/control-plane
        operator: Equal
        effect: NoSchedule
      - key: node-role.kubernetes.io/master
        operator: Equal
        effect: NoSchedule
      containers:
      - name: local-path-provisioner
        image: {image}
        imagePullPolicy: IfNotPresent
        command: ["/bin/sh", "/local-path.sh"]
        resources:
          requests:
            cpu: "10m"
            memory: "20Mi"
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  namespace: kube-system
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
"""
