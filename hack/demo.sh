#!/usr/bin/env bash
# The demo: a local fleet (one hub, three members) comes up; the platform team
# publishes a Promise, a team requests an instance, then a change to the
# Promise rolls out wave by wave (a canary, then the rest after an approval).
# Then everything stops again. DEMO_KEEP=1 leaves it running until Ctrl-C.
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

hub() { "$kubectl" --kubeconfig "$dir/hub.kubeconfig" "$@"; }
rollout() { "$flotilla" rollout --kubeconfig "$dir/hub.kubeconfig" "$@"; }
demo="$root/hack/demo"

echo
echo "== the platform team publishes a Web API (a Promise) and a two-wave RolloutStrategy"
hub apply -f "$demo/fleet.yaml" -f "$demo/promise-v1.yaml"
hub wait promise/web --for=condition=Ready --timeout=120s
echo
echo "== team shop requests a Web; it lands on every member"
hub apply -f "$demo/instance.yaml"
hub wait web/storefront -n shop --for=condition=Ready --timeout=120s
hub get web -n shop
"$kubectl" --kubeconfig "$dir/member-2.kubeconfig" get deployment storefront -n shop -o wide

echo
echo "== the platform team patches the image: a new revision, moved by a Rollout"
hub apply -f "$demo/promise-v2.yaml"
for _ in $(seq 1 600); do
  phase=$(hub get rollout web-2 -n flotilla-system -o jsonpath='{.status.phase}' 2>/dev/null || true)
  [ "$phase" = WaitingForApproval ] && break
  case "$phase" in Succeeded|RolledBack|Halted|Failed|Aborted) break ;; esac
  sleep 0.2
done
rollout list
echo
rollout status web-2
echo
echo "== the canary baked; a person approves the rest"
rollout approve web-2 --wave rest -m "canary looks good"
rollout status web-2 -w | tail -n 25
echo
rollout history web-2
for member in member-1 member-2 member-3; do
  printf '%s: ' "$member"
  "$kubectl" --kubeconfig "$dir/$member.kubeconfig" get deployment storefront -n shop \
    -o jsonpath='{.spec.template.spec.containers[0].image}{"\n"}'
done

if [ "${DEMO_KEEP:-}" = 1 ]; then
  echo
  echo "running; press Ctrl-C to stop"
  wait $up
fi
