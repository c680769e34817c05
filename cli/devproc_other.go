//go:build !linux

package cli

import "syscall"

// devProcAttr puts a dev node in its own process group, so that the
// terminal's Ctrl-C reaches only "roster dev", which stops the nodes in
// order. (Only Linux can tell a node that "roster dev" ended without
// stopping it.)
func devProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
