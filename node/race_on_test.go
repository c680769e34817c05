//go:build race

package node_test

// raceDetector is true in builds with the race detector, which slows every
// goroutine switch and memory access many times over: bounds on time are
// not asserted under it, only printed.
const raceDetector = true
