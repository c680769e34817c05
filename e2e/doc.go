// Package e2e is roster's container-based suite: real hosts with their own
// names and addresses, and networks that fail. It runs only with the e2e
// build tag and a Docker engine:
//
//	go test -tags e2e -v -timeout 30m ./e2e
//
// Without a Docker engine it skips, saying so. ROSTER_E2E_PREFIX
// (containers, volumes and networks; default roster-e2e),
// ROSTER_E2E_IMAGE (default roster:e2e) and ROSTER_E2E_LOADGEN_IMAGE
// (default roster-loadgen:e2e) keep two runs on one engine apart. Flags
// (after -args): -soak (packet-loss soak duration, default 60s;
// docs/reliability.md's figure is from 5m), -results (file the figures
// are written to, as JSON, for scripts/reltable).
package e2e
