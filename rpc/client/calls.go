package client

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Calls: a Client is a grpc.ClientConnInterface whose calls go to the node
// it is connected to.

// retryWait is how long a failed call waits to see whether its node went
// away (then it is retried on the next one).
const retryWait = time.Second

// explains reports whether err, from a call on this session, comes from
// the node going away: then the call may go to the next node.
func (s *session) explains(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
	default:
		return false
	}
	t := time.NewTimer(retryWait)
	defer t.Stop()
	select {
	case <-s.ended:
		return true
	case <-t.C:
		return false
	}
}

// Invoke sends a unary call to the node the client is connected to,
// waiting for one while the client moves. A call that fails because that
// node went away is sent again to the next node, until ctx ends.
func (c *Client) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	for {
		s, err := c.session(ctx)
		if err != nil {
			return err
		}
		err = s.conn.Invoke(ctx, method, args, reply, opts...)
		s.release()
		if err == nil || ctx.Err() != nil || !s.explains(err) {
			return err
		}
	}
}

// NewStream opens a stream on the node the client is connected to. Only
// the opening is retried; a stream lives on the connection to its node and
// ends at most RetireGrace after the client moves.
func (c *Client) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	for {
		s, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		cs, err := s.conn.NewStream(ctx, desc, method, opts...)
		if err == nil {
			t := &trackedStream{ClientStream: cs, release: s.release}
			t.stop = context.AfterFunc(ctx, t.done)
			return t, nil
		}
		s.release()
		if ctx.Err() != nil || !s.explains(err) {
			return nil, err
		}
	}
}

// trackedStream releases its session when it ends.
type trackedStream struct {
	grpc.ClientStream
	once    sync.Once
	release func()
	stop    func() bool // unregisters done from the call's context
}

func (t *trackedStream) done() { t.once.Do(t.release) }

func (t *trackedStream) RecvMsg(m any) error {
	err := t.ClientStream.RecvMsg(m)
	if err != nil {
		t.done()
		t.stop()
	}
	return err
}

var _ grpc.ClientConnInterface = (*Client)(nil)
