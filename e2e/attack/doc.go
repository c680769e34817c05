// Package attack is roster's attack suite: each test starts real roster
// node processes on loopback (the binary as shipped, built once by
// TestMain with scripts/build.sh) and attacks them the way a stranger on
// the network, or a broken disk, can: a push/pull header bomb, rogue serf
// peers with and without the gossip key, garbage on the internal port,
// 20,000 idle connections, slow headers and bodies, malformed requests, a
// full and a read-only data directory. Each asserts the bound an operator
// would check (memory, health answer time, what peers see, what is
// listed and written) and prints its figure as a line
//
//	FIGURE check: what was done -> what was seen
//
// It runs with the other tests (`go test -race ./...`); -short skips it.
// `go test ./e2e/attack -args -results FILE` also writes the figures as
// JSON for scripts/reltable; scripts/attacks.sh does that and renders
// the attacks table of docs/reliability.md.
package attack
