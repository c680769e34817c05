package cli

import "syscall"

// devProcAttr puts a dev node in its own process group, so that the
// terminal's Ctrl-C reaches only "roster dev", which stops the nodes in
// order; and has the kernel send the node SIGTERM if "roster dev" ends
// without stopping it (a second Ctrl-C, kill -9), so that no node stays
// behind holding its ports.
func devProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
