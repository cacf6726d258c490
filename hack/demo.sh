#!/usr/bin/env bash
# The demo: a local fleet (one hub, three members) comes up, shows what runs,
# and stops again. DEMO_KEEP=1 leaves it running until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-.flotilla-dev}
flotilla="$root/bin/flotilla"
kubectl="$root/bin/kube/kubectl"

"$flotilla" dev down --dir "$dir" >/dev/null
rm -f "$dir/READY"
"$flotilla" dev up --members 3 --dir "$dir" &
up=$!
trap '"$flotilla" dev down --dir "$dir" >/dev/null 2>&1 || true; wait $up 2>/dev/null || true' EXIT

for _ in $(seq 1 900); do
  [ -f "$dir/READY" ] && break
  kill -0 $up 2>/dev/null || { echo "dev up failed" >&2; exit 1; }
  sleep 0.2
done
[ -f "$dir/READY" ] || { echo "dev up did not become ready in 3 minutes" >&2; exit 1; }

echo
echo "== Flotilla's API on the hub"
"$kubectl" --kubeconfig "$dir/hub.kubeconfig" get crds -o custom-columns=CRD:.metadata.name,KIND:.spec.names.kind,SCOPE:.spec.scope
for member in member-1 member-2 member-3; do
  echo
  echo "== $member: kwok nodes"
  "$kubectl" --kubeconfig "$dir/$member.kubeconfig" get nodes
done

echo
echo "== the members, joined with 'flotilla join', heartbeating through their agents"
"$kubectl" --kubeconfig "$dir/hub.kubeconfig" wait clusters --all --timeout=60s \
  --for=jsonpath='{.status.availability}'=Available >/dev/null
"$kubectl" --kubeconfig "$dir/hub.kubeconfig" get clusters --show-labels

if [ "${DEMO_KEEP:-}" = 1 ]; then
  echo
  echo "running; press Ctrl-C to stop"
  wait $up
fi
