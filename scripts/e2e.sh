#!/usr/bin/env bash
# Runs the container suite and regenerates the reliability table in docs/reliability.md
# from its figures:  scripts/e2e.sh [--soak 5m]
set -euo pipefail
cd "$(dirname "$0")/.."
soak=5m
if [ "${1:-}" = "--soak" ]; then soak="$2"; fi
go test -tags e2e -count=1 -v -timeout 40m ./e2e -args -soak="$soak" -results="$PWD/e2e/results.json"
go run ./scripts/reltable -results e2e/results.json -readme docs/reliability.md
echo "docs/reliability.md table updated from e2e/results.json"
