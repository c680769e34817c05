package cli_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/cli"
)

type fakeRunning struct {
	errc    chan error
	done    chan struct{}
	stopped chan struct{}
}

func newFakeRunning() *fakeRunning {
	return &fakeRunning{errc: make(chan error, 1), done: make(chan struct{}), stopped: make(chan struct{})}
}

func (f *fakeRunning) Err() <-chan error     { return f.errc }
func (f *fakeRunning) Done() <-chan struct{} { return f.done }
func (f *fakeRunning) Stop(context.Context) error {
	close(f.stopped)
	return nil
}

// roster server stops its node and fails with the node's error when a
// server loop dies, so the process exits non-zero.
func TestServerFailsWhenItsNodeFails(t *testing.T) {
	n := newFakeRunning()
	failure := errors.New("node: http server stopped: accept: too many open files")
	n.errc <- failure
	err := cli.RunUntilStopped(context.Background(), n, zerolog.Nop(), time.Second)
	require.ErrorIs(t, err, failure)
	select {
	case <-n.stopped:
	default:
		t.Fatal("the failed node was not stopped")
	}
}

// A signal stops the node gracefully and the command succeeds.
func TestServerStopsOnSignal(t *testing.T) {
	n := newFakeRunning()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, cli.RunUntilStopped(ctx, n, zerolog.Nop(), time.Second))
	select {
	case <-n.stopped:
	default:
		t.Fatal("the node was not stopped")
	}
}
