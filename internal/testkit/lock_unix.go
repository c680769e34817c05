//go:build unix

package testkit

import (
	"os"
	"syscall"
)

// tryLock takes an exclusive lock on f without waiting; the kernel
// releases it when the process ends, however it ends.
func tryLock(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
