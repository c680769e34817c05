package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// devProcAttr puts a dev node in its own process group, so that the
// terminal's Ctrl-C reaches only "roster dev", which stops the nodes in
// order; and has the kernel send the node SIGTERM if "roster dev" ends
// without stopping it (a second Ctrl-C, kill -9), so that no node stays
// behind holding its ports.
func devProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// processCmdline is pid's command line, arguments joined by spaces; ok is
// false when pid does not run (or is a zombie).
func processCmdline(pid int) (string, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	// pid (comm) state ...: the state follows the last ')'.
	if i := strings.LastIndexByte(string(stat), ')'); i < 0 || strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z") {
		return "", false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")), true
}

// portOwner finds the process that listens on port (TCP, or UDP when udp
// is set) on any address, from /proc/net and the processes' open files.
// It returns 0 when it cannot tell (another user's process, say).
func portOwner(port int, udp bool) int {
	tables := []string{"/proc/net/tcp", "/proc/net/tcp6"}
	state := "0A" // LISTEN
	if udp {
		tables, state = []string{"/proc/net/udp", "/proc/net/udp6"}, "07"
	}
	inodes := map[string]bool{}
	for _, table := range tables {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != state {
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 32); ok && err == nil && int(p) == port {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
		_ = f.Close()
	}
	if len(inodes) == 0 {
		return 0
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if link, err := os.Readlink(fd); err == nil && inodes[link] {
			pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
			return pid
		}
	}
	return 0
}
