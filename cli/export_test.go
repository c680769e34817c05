package cli

// LockedBuffer lets the binary tests (package cli_test) collect a child's
// output while they read it.
type LockedBuffer = lockedBuffer

// RunUntilStopped is roster server's wait for a signal or a failure.
var RunUntilStopped = runUntilStopped
