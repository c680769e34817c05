// Package testkit holds what the tests of several packages share: loopback
// ports that no other test can take between their choice and their bind,
// and channel receives with a deadline. Only tests import it.
package testkit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The ports handed out lie in [portsLow, the kernel's ephemeral range),
// in blocks of blockSize. The kernel picks ports for outgoing connections
// and for binds to port 0 only in its ephemeral range, so below it a port
// stays free until someone binds it by number; a block is taken by one
// test process at a time (a lock file), so no two tests of this
// repository, in one process or in several, are given the same port.
const (
	portsLow  = 10000
	blockSize = 500
	// defaultEphemeralLow is Linux's default start of the ephemeral range
	// (and the IANA one is higher), used where the kernel does not say.
	defaultEphemeralLow = 32768
)

// Ports hands out loopback ports, each free for TCP and UDP when handed
// out and never handed out twice in one process. Its methods may be
// called from parallel tests. The zero value is ready to use; keep one per
// test binary (a package-level variable), since its blocks are released
// only when the process exits.
type Ports struct {
	mu     sync.Mutex
	blocks []*os.File // the lock files held
	next   int        // the next port of the current block
	end    int        // the end of the current block
}

// Port returns one port, free for TCP and UDP on 127.0.0.1.
func (p *Ports) Port(t testing.TB) int {
	t.Helper()
	return p.Range(t, 1)
}

// Range returns the first of n consecutive ports, all free for TCP and UDP
// on 127.0.0.1 (n at most 500).
func (p *Ports) Range(t testing.TB, n int) int {
	t.Helper()
	first, err := p.take(n)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// Closed returns a port on which nothing listens, for tests of a refused
// connection: it is never handed out again, and no one else binds it.
func (p *Ports) Closed(t testing.TB) int {
	t.Helper()
	return p.Port(t)
}

func (p *Ports) take(n int) (int, error) {
	if n < 1 || n > blockSize {
		return 0, fmt.Errorf("testkit: %d consecutive ports asked for, want 1 to %d", n, blockSize)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for claims := 0; ; {
		for p.next+n <= p.end {
			first := p.next
			if busy := firstBusy(first, n); busy >= 0 {
				p.next = busy + 1
				continue
			}
			p.next = first + n
			return first, nil
		}
		if claims++; claims > 3 {
			return 0, errors.New("testkit: no free loopback ports in the blocks claimed")
		}
		if err := p.claim(); err != nil {
			return 0, err
		}
	}
}

// claim takes a block no other process holds, starting from one that
// depends on the process id so that test processes started together
// rarely try the same blocks first.
func (p *Ports) claim() error {
	high := ephemeralLow()
	count := (high - portsLow) / blockSize
	if count < 1 {
		return fmt.Errorf("testkit: the ephemeral range starts at %d, leaving no room for ports from %d", high, portsLow)
	}
	dir := filepath.Join(os.TempDir(), "roster-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("testkit: %w", err)
	}
	start := os.Getpid()
	for i := range count {
		block := (start + i) % count
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(block)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return fmt.Errorf("testkit: %w", err)
		}
		if !tryLock(f) {
			_ = f.Close()
			continue
		}
		p.blocks = append(p.blocks, f)
		p.next = portsLow + block*blockSize
		p.end = p.next + blockSize
		return nil
	}
	return fmt.Errorf("testkit: all %d blocks of ports under %s are held by other processes", count, dir)
}

// firstBusy is the first of n ports from first that something already
// binds, or -1.
func firstBusy(first, n int) int {
	for port := first; port < first+n; port++ {
		if !free(port) {
			return port
		}
	}
	return -1
}

// free tells whether port can be bound on 127.0.0.1 for TCP and UDP (a
// node's internal port takes both).
func free(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer func() { _ = l.Close() }()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	_ = u.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralLow
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return defaultEphemeralLow
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return defaultEphemeralLow
	}
	return low
}
