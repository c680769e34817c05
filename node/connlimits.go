package node

import (
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rosterhq/roster/internal/connlimit"
)

// portCaps are the connection caps of the three ports in force.
type portCaps struct {
	http, grpc, internal int
}

// Ceilings of the caps sized from the file descriptor limit: past them a
// node gains nothing but memory use (each held connection costs tens of
// kilobytes, a gRPC one more).
const (
	httpCapCeiling     = 2048
	grpcCapCeiling     = 8192
	internalCapCeiling = 1024
	capFloor           = 32
)

// sizeCaps fills the caps not configured from the process's file
// descriptor limit: a quarter of it (at least 1024, at most half) stays
// for everything else (gossip streams and packets, outgoing connections,
// the data files), the rest is shared 2:5:1 between HTTP, client gRPC and
// the internal port, each within its ceiling. So the caps together stay
// well under the limit, and a full port never starves gossip.
func sizeCaps(l LimitsConfig, fdLimit uint64) portCaps {
	limit := int(min(fdLimit, 1<<24))
	reserve := max(limit/4, min(1024, limit/2))
	avail := max(limit-reserve, 0)
	size := func(configured, share, ceiling int) int {
		if configured > 0 {
			return configured
		}
		return min(max(avail*share/8, capFloor), ceiling)
	}
	return portCaps{
		http:     size(l.HTTPMaxConnections, 2, httpCapCeiling),
		grpc:     size(l.GRPCMaxConnections, 5, grpcCapCeiling),
		internal: size(l.InternalMaxConnections, 1, internalCapCeiling),
	}
}

// fdLimit is the process's limit on open files (Go raises the soft limit
// to the hard one at start).
func fdLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("node: read the file descriptor limit: %w", err)
	}
	return r.Cur, nil
}

// limitListeners puts the connection caps on the three ports' TCP
// listeners, under TLS and the internal port's multiplexer, so that every
// socket counts. It logs the caps chosen.
func (n *Node) limitListeners(ls *listeners) error {
	limit, err := fdLimit()
	if err != nil {
		return err
	}
	caps := sizeCaps(n.cfg.Limits, limit)
	m, err := connlimit.NewMetrics(n.metrics)
	if err != nil {
		return fmt.Errorf("node: register listener metrics: %w", err)
	}
	wrap := func(inner net.Listener, name, key string, max int) *connlimit.Listener {
		return connlimit.New(inner, connlimit.Options{Max: max, Metrics: m, Name: name, OnRefuse: n.refusalLogger(name, key, max)})
	}
	n.conns.http = wrap(ls.http, "http", keyHTTPMaxConnections, caps.http)
	n.conns.grpc = wrap(ls.grpc, "grpc", keyGRPCMaxConnections, caps.grpc)
	n.conns.internal = wrap(ls.internalTCP, "internal", keyInternalMaxConns, caps.internal)
	ls.http, ls.grpc, ls.internalTCP = n.conns.http, n.conns.grpc, n.conns.internal

	n.log.Info().Uint64("fd_limit", limit).
		Str(keyHTTPMaxConnections, describeCap(n.cfg.Limits.HTTPMaxConnections, caps.http)).
		Str(keyGRPCMaxConnections, describeCap(n.cfg.Limits.GRPCMaxConnections, caps.grpc)).
		Str(keyInternalMaxConns, describeCap(n.cfg.Limits.InternalMaxConnections, caps.internal)).
		Msg("node: connection caps")
	if total := caps.http + caps.grpc + caps.internal; uint64(total) > limit*3/4 {
		n.log.Warn().Uint64("fd_limit", limit).Int("caps", total).
			Msgf("node: the connection caps (%s, %s, %s) add up to more than three quarters of the file descriptor limit; gossip may run short of descriptors when the ports are full",
				keyHTTPMaxConnections, keyGRPCMaxConnections, keyInternalMaxConns)
	}
	return nil
}

// refusalLogger logs refusals at a cap at most once a minute, with their
// count, so that a flood fills no disk.
func (n *Node) refusalLogger(name, key string, max int) func() {
	var refused atomic.Int64
	var last atomic.Int64 // unix nanoseconds of the last line
	return func() {
		count := refused.Add(1)
		now := time.Now().UnixNano()
		prev := last.Load()
		if now-prev < int64(time.Minute) || !last.CompareAndSwap(prev, now) {
			return
		}
		refused.Add(-count)
		n.log.Warn().Str("port", name).Int("max", max).Int64("refused", count).
			Msgf("node: connections refused: all %d connections on the %s port are in use (%s)", max, name, key)
	}
}
