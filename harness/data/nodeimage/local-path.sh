#!/bin/sh
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
