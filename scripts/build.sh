#!/usr/bin/env bash
# Builds the roster binary as it is shipped (the image, the benchmark):
#   scripts/build.sh OUT [extra go build flags]
# Static (CGO_ENABLED=0), without paths or symbols, and with gRPC's
# grpcnotrace tag: gRPC's golang.org/x/net/trace registers HTTP handlers
# that render html/template, and a reachable text/template execution
# (methods called by name) stops the linker from dropping any unused
# exported method. Without it the binary has 1.3 MiB more code and 1.3 MiB
# more function tables, nearly all of them resident in every node
# (docs/architecture.md). roster never enables gRPC tracing.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/build.sh OUT [go build flags]" >&2; exit 2; }
out="$1"; shift
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -trimpath -tags grpcnotrace -ldflags "-s -w" "$@" -o "$out" ./cmd/roster
