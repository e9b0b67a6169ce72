#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) from
# this module once, into .cache/control-plane/<key>/bin/, and prints that bin directory.
# The key hashes go.mod, go.sum, the mains, this script and the Go version, so a later run with the
# same inputs finds the binaries and returns in well under a second; any version change builds anew.
#
# Usage: tools/control-plane/build.sh [--print-dir]
#   --print-dir  print the bin directory the current inputs map to, build nothing (exit 1 if absent)
# Environment: GOFLAGS, GOCACHE and GOMODCACHE as usual for the go command.
set -euo pipefail

module_dir="$(cd "$(dirname "$0")" && pwd)"
repo_root="$(cd "$module_dir/../.." && pwd)"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler)

case "${1:-}" in
  -h|--help)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  ""|--print-dir) ;;
  *)
    echo "build.sh: unknown option '$1' (try --help)" >&2
    exit 2
    ;;
esac

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: the go command is missing: install Go 1.26 or newer (go.mod says which)" >&2
  exit 3
fi

# Versions read from go.mod (the one home for them) become the binaries' reported versions, so the
# API server's /version says v1.37.2 rather than a development placeholder.
kubernetes_version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$module_dir/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$module_dir/go.mod")"
go_version="$(go env GOVERSION)"

key="$(
  cd "$module_dir"
  {
    echo "$go_version $(go env GOOS)/$(go env GOARCH)"
    cat go.mod go.sum build.sh
    for binary in "${binaries[@]}"; do cat "$binary/main.go"; done
  } | sha256sum | cut -c1-16
)"
out_dir="$repo_root/.cache/control-plane/kubernetes-$kubernetes_version-etcd-$etcd_version-$key"
bin_dir="$out_dir/bin"

complete() {
  for binary in "${binaries[@]}"; do [ -x "$bin_dir/$binary" ] || return 1; done
}

if [ "${1:-}" = "--print-dir" ]; then
  complete && { echo "$bin_dir"; exit 0; }
  exit 1
fi

if complete; then
  echo "$bin_dir"
  exit 0
fi

# Build into a scratch directory and rename it into place, so an interrupted build never leaves a
# half-filled bin directory that a later run would take for a finished one.
mkdir -p "$repo_root/.cache/control-plane"
scratch="$(mktemp -d "$repo_root/.cache/control-plane/.build.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

version_flags="-s -w"
for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  minor="${kubernetes_version#v*.}"
  minor="${minor%%.*}"
  version_flags+=" -X $package.gitVersion=$kubernetes_version"
  version_flags+=" -X $package.gitMajor=1 -X $package.gitMinor=$minor"
  version_flags+=" -X $package.gitTreeState=clean"
done

started=$SECONDS
echo "build.sh: building Kubernetes $kubernetes_version and etcd $etcd_version with $go_version (cold: tens of minutes on 2 cores)" >&2
(
  cd "$module_dir"
  # One go build for all four: the packages they share (client-go, apiserver, etcd client) compile once.
  # CGO off: static binaries, no C toolchain needed.
  CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$version_flags" -o "$scratch/" \
    ./etcd ./kube-apiserver ./kube-controller-manager ./kube-scheduler
)
mkdir -p "$out_dir"
rm -rf "$bin_dir"
mv "$scratch" "$bin_dir"
trap - EXIT
echo "build.sh: built in $((SECONDS - started)) s into $bin_dir" >&2
echo "$bin_dir"
