#!/usr/bin/env bash
# Installs the serf agent the benchmark compares roster with (v0.10.2, the
# version of its reference figures) from the Go module proxy into a
# directory of its own, and prints the binary's path:  scripts/bench/get-serf.sh [DIR]   (default: .bench/bin)
# Its code and binary are never committed: .bench/ is a scratch directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-.bench/bin}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
# Outside the module, so roster's go.mod and go.sum are not touched.
(cd / && GOBIN="$dir" GOFLAGS=-mod=mod go install github.com/hashicorp/serf/cmd/serf@v0.10.2)
"$dir/serf" version >&2
echo "$dir/serf"
