#!/usr/bin/env bash
# Runs the attack suite (e2e/attack: real node processes on loopback) as CI
# does, with the race detector in the tests, and regenerates the attacks
# table in docs/reliability.md from its figures:  scripts/attacks.sh
# Mounting the data-directory attacks' tmpfs needs root; without it those
# attacks skip, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -v -timeout 15m ./e2e/attack -args -results="$PWD/e2e/attack/results.json"
go run ./scripts/reltable -table attacks -results e2e/attack/results.json -readme docs/reliability.md
echo "docs/reliability.md attacks table updated from e2e/attack/results.json"
