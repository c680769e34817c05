//go:build !linux

package cli

import (
	"os"
	"syscall"
)

// devProcAttr puts a dev node in its own process group, so that the
// terminal's Ctrl-C reaches only "roster dev", which stops the nodes in
// order. (Only Linux can tell a node that "roster dev" ended without
// stopping it.)
func devProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// processCmdline tells whether pid runs; its command line is known on
// Linux only.
func processCmdline(pid int) (string, bool) {
	p, err := os.FindProcess(pid)
	if err != nil || p.Signal(syscall.Signal(0)) != nil {
		return "", false
	}
	return "", true
}

// portOwner is known on Linux only.
func portOwner(int, bool) int { return 0 }
