package connlimit

import (
	"context"

	"google.golang.org/grpc/stats"
)

// StatsHandler tells l what the connections of a gRPC server (one serving
// l's connections) do: a connection is active while it has calls in
// progress and idle otherwise. Add it with grpc.StatsHandler.
func (l *Listener) StatsHandler() stats.Handler { return grpcStats{l: l} }

type grpcStats struct{ l *Listener }

type connCtxKey struct{}

// grpcConn is what the handler keeps per gRPC connection.
type grpcConn struct {
	c     *conn // nil: not one of l's
	calls int   // in progress; under l.mu
}

func (h grpcStats) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	h.l.mu.Lock()
	c := h.l.lookupLocked(info.LocalAddr, info.RemoteAddr)
	h.l.mu.Unlock()
	return context.WithValue(ctx, connCtxKey{}, &grpcConn{c: c})
}

// HandleConn marks a connection idle once its HTTP/2 handshake is done:
// the handshake's bytes made it pending.
func (h grpcStats) HandleConn(ctx context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnBegin); !ok {
		return
	}
	if g, ok := ctx.Value(connCtxKey{}).(*grpcConn); ok && g.c != nil {
		h.l.mu.Lock()
		if g.calls == 0 {
			h.l.setStateLocked(g.c, Idle)
		}
		h.l.mu.Unlock()
	}
}

func (grpcStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

// HandleRPC counts the calls in progress: gRPC reports Begin and End once
// for every call a handler serves.
func (h grpcStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	var delta int
	switch s.(type) {
	case *stats.Begin:
		delta = 1
	case *stats.End:
		delta = -1
	default:
		return
	}
	g, ok := ctx.Value(connCtxKey{}).(*grpcConn)
	if !ok || g.c == nil {
		return
	}
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	g.calls += delta
	if g.calls > 0 {
		h.l.setStateLocked(g.c, Active)
	} else {
		h.l.setStateLocked(g.c, Idle)
	}
}
