package testkit

import (
	"testing"
	"time"
)

// Receive returns the next value from ch and whether ch was still open,
// failing t when nothing arrives within d; what names the value awaited.
// Call it from the test's goroutine (it may call t.Fatalf).
func Receive[T any](t testing.TB, ch <-chan T, d time.Duration, what string) (T, bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-timer.C:
		t.Fatalf("no %s within %s", what, d)
		var zero T
		return zero, false
	}
}
