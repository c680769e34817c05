package node_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// blackhole forwards TCP connections to a target until it is switched on;
// from then on it swallows what either side sends and never closes a
// connection, as a paused container or a partition does.
type blackhole struct {
	l   net.Listener
	on  atomic.Bool
	wg  sync.WaitGroup
	mu  sync.Mutex
	all []net.Conn
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &blackhole{l: l}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			b.mu.Lock()
			b.all = append(b.all, in, out)
			b.mu.Unlock()
			b.wg.Add(2)
			go b.pipe(in, out)
			go b.pipe(out, in)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		b.mu.Lock()
		for _, c := range b.all {
			_ = c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *blackhole) Addr() string { return b.l.Addr().String() }

func (b *blackhole) pipe(from, to net.Conn) {
	defer b.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !b.on.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				_, _ = io.Copy(io.Discard, from)
				return
			}
		}
		if err != nil {
			_ = to.Close()
			return
		}
	}
}
