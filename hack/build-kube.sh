#!/usr/bin/env bash
# Builds the pinned control-plane binaries from hack/tools and caches them outside the work
# tree, keyed by a hash of the module's inputs and of this script, so a machine pays the cold
# build once. Prints the directory that holds them (also linked as bin/kube).
#
#   hack/build-kube.sh                   all six: etcd kube-apiserver kube-controller-manager
#                                        kube-scheduler kubectl kwok (make tools, make test)
#   hack/build-kube.sh NAME...           only these, e.g. the five `make demo` starts
#   hack/build-kube.sh --download NAME...  only download the modules they need (no build)
#
# Only binaries missing from the cache are built, in one `go build` (shared packages compile
# once); each lands in the cache with an atomic rename, so a reader never sees half a binary
# and a later call adds the rest to the same directory. Concurrent calls wait for each other.
#
# No -trimpath: with it even the standard library compiles apart from `make build`'s and
# `go test`'s (a flag in the build action's key), without it they share those packages.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/hack/tools"
kube_version=v1.36.3
all=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

download=false
if [ "${1:-}" = --download ]; then
  download=true
  shift
fi
names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")
for name in "${names[@]}"; do
  [ -d "$tools/cmd/$name" ] || { echo "build-kube.sh: unknown binary $name (have: ${all[*]})" >&2; exit 2; }
done

key=$(cd "$tools" && cat go.mod go.sum $(find cmd -name '*.go' | sort) "$root/hack/build-kube.sh" | sha256sum | cut -c1-16)
cache=${FLOTILLA_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flotilla}
out="$cache/kube-$key"

missing() {
  local name
  for name in "${names[@]}"; do
    [ -x "$out/$name" ] || echo "$name"
  done
}

if $download; then
  # `go list -deps` fetches the modules that provide these packages, nothing else (a
  # `go mod download` would fetch every module of the graph); nothing when they are built.
  todo=($(missing))
  [ ${#todo[@]} -eq 0 ] || (cd "$tools" && go list -deps "${todo[@]/#/./cmd/}" >/dev/null)
  exit 0
fi

if [ -n "$(missing)" ]; then
  mkdir -p "$cache"
  exec 9>"$out.lock"
  flock 9
  rm -rf "$out".tmp.* # left by a build that was killed; builds of this key hold the lock
  todo=($(missing))
  if [ ${#todo[@]} -gt 0 ]; then
    echo "building ${todo[*]} into $out (cold, all six: ~6 min on 2 cores)" >&2
    tmp=$(mktemp -d "$out.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    minor=${kube_version#v1.}; minor=${minor%%.*}
    ldflags=""
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    (cd "$tools" && go build -ldflags "-s -w $ldflags" -o "$tmp/" "${todo[@]/#/./cmd/}")
    mkdir -p "$out"
    for name in "${todo[@]}"; do
      mv -f "$tmp/$name" "$out/$name"
    done
  fi
  flock -u 9
fi

mkdir -p "$root/bin"
ln -sfn "$out" "$root/bin/kube"
echo "$out"
