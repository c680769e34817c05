package connlimit

import (
	"context"

	"google.golang.org/grpc/stats"
)

// StatsHandler tells l what the connections of a gRPC server (one serving
// l's connections) do: a connection is active while it has calls in
// progress and idle otherwise. A call is in progress from its first
// message on: until then it is a request still arriving, and the
// connection is pending at most (a client that sends a call's headers
// and never its message holds nothing a new connection cannot take;
// gRPC reads a unary call's message before any interceptor, such as the
// token check, sees the call). Add it with grpc.StatsHandler.
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

type rpcCtxKey struct{}

// grpcCall is what the handler keeps per call: whether it counts as in
// progress; under l.mu.
type grpcCall struct{ counted bool }

func (grpcStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, rpcCtxKey{}, &grpcCall{})
}

// HandleRPC counts the calls in progress: gRPC reports a call's messages
// (InPayload) as its handler reads them, and End once for every call.
func (h grpcStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	g, ok := ctx.Value(connCtxKey{}).(*grpcConn)
	call, _ := ctx.Value(rpcCtxKey{}).(*grpcCall)
	if !ok || g.c == nil || call == nil {
		return
	}
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	switch s.(type) {
	case *stats.InPayload:
		if call.counted {
			return
		}
		call.counted = true
		g.calls++
	case *stats.End:
		if !call.counted {
			return
		}
		call.counted = false
		g.calls--
	default:
		return
	}
	if g.calls > 0 {
		h.l.setStateLocked(g.c, Active)
	} else {
		h.l.setStateLocked(g.c, Idle)
	}
}
