package cli

// LockedBuffer lets the binary tests (package cli_test) collect a child's
// output while they read it.
type LockedBuffer = lockedBuffer
