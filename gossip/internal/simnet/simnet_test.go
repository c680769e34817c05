package simnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func pair(t *testing.T, opts Options) (*Network, *Node, *Node) {
	t.Helper()
	n := New(opts)
	a, err := n.Node(net.IPv4(127, 0, 0, 1), 1)
	require.NoError(t, err)
	b, err := n.Node(net.IPv4(127, 0, 0, 1), 2)
	require.NoError(t, err)
	return n, a, b
}

func read(t *testing.T, pc net.PacketConn) (string, error) {
	t.Helper()
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	buf := make([]byte, 64)
	k, _, err := pc.ReadFrom(buf)
	return string(buf[:k]), err
}

func TestPacketsArriveAndFullQueuesDrop(t *testing.T) {
	n, a, b := pair(t, Options{QueueLen: 2})
	pa, pb := a.PacketConn(), b.PacketConn()
	for _, m := range []string{"one", "two", "three"} {
		_, err := pa.WriteTo([]byte(m), pb.LocalAddr())
		require.NoError(t, err)
	}
	got, err := read(t, pb)
	require.NoError(t, err)
	require.Equal(t, "one", got)
	got, err = read(t, pb)
	require.NoError(t, err)
	require.Equal(t, "two", got)
	_, err = read(t, pb)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Equal(t, uint64(1), n.Dropped())
}

func TestLossAndLatency(t *testing.T) {
	n, a, b := pair(t, Options{})
	pa, pb := a.PacketConn(), b.PacketConn()
	n.SetLoss(1)
	_, err := pa.WriteTo([]byte("lost"), pb.LocalAddr())
	require.NoError(t, err)
	_, err = read(t, pb)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	n.SetLoss(0)
	n.SetLatency(50 * time.Millisecond)
	start := time.Now()
	_, err = pa.WriteTo([]byte("late"), pb.LocalAddr())
	require.NoError(t, err)
	got, err := read(t, pb)
	require.NoError(t, err)
	require.Equal(t, "late", got)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
}

func TestPauseHoldsTheNode(t *testing.T) {
	_, a, b := pair(t, Options{})
	pa, pb := a.PacketConn(), b.PacketConn()
	b.Pause()
	_, err := pa.WriteTo([]byte("while paused"), pb.LocalAddr())
	require.NoError(t, err)
	_, err = read(t, pb)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	b.Resume()
	got, err := read(t, pb)
	require.NoError(t, err)
	require.Equal(t, "while paused", got)
}

func TestStreams(t *testing.T) {
	_, a, b := pair(t, Options{})
	l := b.Listener()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := a.Dial(ctx, b.Addr())
	require.NoError(t, err)
	var s net.Conn
	select {
	case s = <-accepted:
	case <-time.After(time.Second):
		t.Fatal("no stream accepted")
	}
	go func() { _, _ = c.Write([]byte("hello")); _ = c.Close() }()
	got, err := io.ReadAll(s)
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))

	require.NoError(t, l.Close())
	_, err = a.Dial(ctx, b.Addr())
	require.ErrorIs(t, err, errRefused)
	_, err = l.Accept()
	require.True(t, errors.Is(err, net.ErrClosed))
}
