package node

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Properties of the limits on the node's three ports. Where Spring Boot
// (whose properties Axon Server reads) or Axon Server has a property for
// the same limit, it is used; the rest are roster's own.
const (
	keyHTTPMaxConnections    = "server.tomcat.max-connections"
	keyHTTPHeaderTimeout     = "server.tomcat.connection-timeout"
	keyHTTPIdleTimeout       = "server.tomcat.keep-alive-timeout"
	keyHTTPMaxHeaderSize     = "server.max-http-request-header-size"
	keyHTTPWriteTimeout      = "axoniq.axonserver.limits.http-write-timeout"
	keyMinKeepAliveTime      = "axoniq.axonserver.min-keep-alive-time"
	keyGRPCMaxConnections    = "axoniq.axonserver.limits.grpc-max-connections"
	keyGRPCMaxStreams        = "axoniq.axonserver.limits.grpc-max-concurrent-streams"
	keyGRPCMaxConnectionIdle = "axoniq.axonserver.limits.grpc-max-connection-idle"
	keyGRPCConnectionTimeout = "axoniq.axonserver.limits.grpc-connection-timeout"
	keyMembershipStreams     = "axoniq.axonserver.limits.membership-streams"
	keyMembershipPerConn     = "axoniq.axonserver.limits.membership-streams-per-connection"
	keyInternalMaxConns      = "axoniq.axonserver.limits.internal-max-connections"
	keyInternalReadTimeout   = "axoniq.axonserver.limits.internal-read-timeout"
)

// LimitsConfig bounds what connections may hold on the node's ports, so
// that no client, and no stranger, can exhaust its file descriptors or
// memory. A connection cap of 0 is sized at start-up from the process's
// file descriptor limit (connlimits.go).
type LimitsConfig struct {
	// HTTPMaxConnections is server.tomcat.max-connections: connections held
	// open on server.port at once.
	HTTPMaxConnections int
	// HTTPHeaderTimeout is server.tomcat.connection-timeout (10s): how long
	// a client may take to send a request's headers.
	HTTPHeaderTimeout time.Duration
	// HTTPIdleTimeout is server.tomcat.keep-alive-timeout (60s): how long a
	// keep-alive connection waits for its next request.
	HTTPIdleTimeout time.Duration
	// HTTPMaxHeaderBytes is server.max-http-request-header-size (8KB): the
	// largest request line and headers.
	HTTPMaxHeaderBytes int
	// HTTPWriteTimeout is axoniq.axonserver.limits.http-write-timeout
	// (60s): how long a request may take from its headers to the end of
	// its response; the event stream is exempt (each event has its own).
	HTTPWriteTimeout time.Duration

	// MinKeepAliveTime is axoniq.axonserver.min-keep-alive-time (1000 ms,
	// Axon Server's): the shortest interval between HTTP/2 pings a gRPC
	// client may use, with or without calls in progress.
	MinKeepAliveTime time.Duration
	// GRPCMaxConnections is axoniq.axonserver.limits.grpc-max-connections:
	// connections held open on axoniq.axonserver.port at once.
	GRPCMaxConnections int
	// GRPCMaxConcurrentStreams is
	// axoniq.axonserver.limits.grpc-max-concurrent-streams (100): calls in
	// progress at once on one connection, on both gRPC servers.
	GRPCMaxConcurrentStreams int
	// GRPCMaxConnectionIdle is
	// axoniq.axonserver.limits.grpc-max-connection-idle (5m): a gRPC
	// connection without calls for this long is closed (clients reconnect
	// when they need to), on both gRPC servers.
	GRPCMaxConnectionIdle time.Duration
	// GRPCConnectionTimeout is
	// axoniq.axonserver.limits.grpc-connection-timeout (10s): how long a
	// client may take over the TLS and HTTP/2 handshakes.
	GRPCConnectionTimeout time.Duration
	// MembershipStreams and MembershipStreamsPerConnection are
	// axoniq.axonserver.limits.membership-streams (1000) and
	// .membership-streams-per-connection (8): open WatchMembership calls,
	// in all and on one connection.
	MembershipStreams              int
	MembershipStreamsPerConnection int

	// InternalMaxConnections is
	// axoniq.axonserver.limits.internal-max-connections: TCP connections
	// held open on axoniq.axonserver.internal-port at once.
	InternalMaxConnections int
	// InternalReadTimeout is axoniq.axonserver.limits.internal-read-timeout
	// (10s): how long a new internal connection may take to send its first
	// bytes (which tell gossip from gRPC).
	InternalReadTimeout time.Duration
}

func defaultLimits() LimitsConfig {
	return LimitsConfig{
		HTTPHeaderTimeout:              10 * time.Second,
		HTTPIdleTimeout:                60 * time.Second,
		HTTPMaxHeaderBytes:             8 << 10,
		HTTPWriteTimeout:               60 * time.Second,
		MinKeepAliveTime:               time.Second,
		GRPCMaxConcurrentStreams:       100,
		GRPCMaxConnectionIdle:          5 * time.Minute,
		GRPCConnectionTimeout:          10 * time.Second,
		MembershipStreams:              1000,
		MembershipStreamsPerConnection: 8,
		InternalReadTimeout:            10 * time.Second,
	}
}

// limitKeys are the rows of keyTable for LimitsConfig.
var limitKeys = []keyDef{
	capKey(keyHTTPMaxConnections, "most HTTP connections open at once; at the cap the longest-unused one makes room (default: sized from the file descriptor limit)",
		func(c *Config) *int { return &c.Limits.HTTPMaxConnections }),
	durationKey(keyHTTPHeaderTimeout, "longest time a client may take to send a request's headers",
		func(c *Config) *time.Duration { return &c.Limits.HTTPHeaderTimeout }),
	durationKey(keyHTTPIdleTimeout, "longest time a keep-alive HTTP connection waits for its next request",
		func(c *Config) *time.Duration { return &c.Limits.HTTPIdleTimeout }),
	{key: keyHTTPMaxHeaderSize, desc: "largest HTTP request line and headers: bytes, or with a unit (8KB, 1MB)",
		get: func(c *Config) string { return formatSize(c.Limits.HTTPMaxHeaderBytes) },
		set: func(c *Config, v string) error {
			n, err := parseSize(v)
			c.Limits.HTTPMaxHeaderBytes = n
			return err
		}},
	durationKey(keyHTTPWriteTimeout, "longest time an HTTP request may take from its headers to the end of its response (the event stream is exempt)",
		func(c *Config) *time.Duration { return &c.Limits.HTTPWriteTimeout }),
	{key: keyMinKeepAliveTime, desc: "shortest interval between HTTP/2 pings gRPC clients may use, in milliseconds or as a duration",
		get: func(c *Config) string { return strconv.FormatInt(c.Limits.MinKeepAliveTime.Milliseconds(), 10) },
		set: func(c *Config, v string) error { return setDuration(&c.Limits.MinKeepAliveTime, v) }},
	capKey(keyGRPCMaxConnections, "most client gRPC connections open at once; at the cap the longest-unused one makes room (default: sized from the file descriptor limit)",
		func(c *Config) *int { return &c.Limits.GRPCMaxConnections }),
	countKey(keyGRPCMaxStreams, "most gRPC calls in progress at once on one connection",
		func(c *Config) *int { return &c.Limits.GRPCMaxConcurrentStreams }),
	durationKey(keyGRPCMaxConnectionIdle, "a gRPC connection without calls for this long is closed",
		func(c *Config) *time.Duration { return &c.Limits.GRPCMaxConnectionIdle }),
	durationKey(keyGRPCConnectionTimeout, "longest time a gRPC client may take over the TLS and HTTP/2 handshakes",
		func(c *Config) *time.Duration { return &c.Limits.GRPCConnectionTimeout }),
	countKey(keyMembershipStreams, "most WatchMembership streams open at once",
		func(c *Config) *int { return &c.Limits.MembershipStreams }),
	countKey(keyMembershipPerConn, "most WatchMembership streams open at once on one connection",
		func(c *Config) *int { return &c.Limits.MembershipStreamsPerConnection }),
	capKey(keyInternalMaxConns, "most TCP connections open at once on the internal port; at the cap the longest-unused one makes room (default: sized from the file descriptor limit)",
		func(c *Config) *int { return &c.Limits.InternalMaxConnections }),
	durationKey(keyInternalReadTimeout, "longest time a new internal connection may take to send its first bytes",
		func(c *Config) *time.Duration { return &c.Limits.InternalReadTimeout }),
}

// durationKey takes a Go duration (10s, 1m30s) or, as Spring does for
// durations without a unit, milliseconds.
func durationKey(key, desc string, f func(*Config) *time.Duration) keyDef {
	return keyDef{key: key, desc: desc + ": a duration (10s) or milliseconds",
		get: func(c *Config) string { return formatDuration(*f(c)) },
		set: func(c *Config, v string) error { return setDuration(f(c), v) }}
}

var errBadDuration = errors.New("is not a valid duration (allowed: a Go duration such as 10s or 1m30s, or milliseconds such as 10000)")

func setDuration(d *time.Duration, v string) error {
	if p, err := time.ParseDuration(v); err == nil {
		*d = p
		return nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms > math.MaxInt64/int64(time.Millisecond) || ms < math.MinInt64/int64(time.Millisecond) {
		return errBadDuration
	}
	*d = time.Duration(ms) * time.Millisecond
	return nil
}

// formatDuration writes d in its largest whole unit: 10s, 5m, 1500ms.
func formatDuration(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if d != 0 && d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return d.String()
}

// countKey takes a whole number.
func countKey(key, desc string, f func(*Config) *int) keyDef {
	return keyDef{key: key, desc: desc,
		get: func(c *Config) string { return strconv.Itoa(*f(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("is not a whole number (allowed: a number greater than 0)")
			}
			*f(c) = n
			return nil
		}}
}

// capKey is countKey whose empty value means "size it at start-up".
func capKey(key, desc string, f func(*Config) *int) keyDef {
	k := countKey(key, desc, f)
	set := k.set
	k.get = func(c *Config) string {
		if *f(c) == 0 {
			return ""
		}
		return strconv.Itoa(*f(c))
	}
	k.set = func(c *Config, v string) error {
		if v == "" {
			*f(c) = 0
			return nil
		}
		if err := set(c, v); err != nil {
			return errors.New("is not a whole number (allowed: a number greater than 0, or empty to size it from the file descriptor limit)")
		}
		return nil
	}
	return k
}

// Spring's data size units, binary as in Spring (1KB = 1024 bytes).
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}

// parseSize reads a data size as Spring writes it: 8192, 8KB, 1MB.
func parseSize(v string) (int, error) {
	s, unit := strings.ToUpper(v), int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, unit = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt32/unit {
		return 0, errors.New("is not a valid size (allowed: bytes such as 8192, or with a unit: 8KB, 1MB)")
	}
	return int(n * unit), nil
}

// formatSize writes n in its largest whole unit: 8KB, 1MB, 1000B.
func formatSize(n int) string {
	for _, u := range sizeUnits {
		if n != 0 && int64(n)%u.bytes == 0 {
			return strconv.FormatInt(int64(n)/u.bytes, 10) + u.suffix
		}
	}
	return "0B"
}

// validate adds the problems of the limits to v.
func (l LimitsConfig) validate(v *validator) {
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{keyHTTPHeaderTimeout, l.HTTPHeaderTimeout},
		{keyHTTPIdleTimeout, l.HTTPIdleTimeout},
		{keyHTTPWriteTimeout, l.HTTPWriteTimeout},
		{keyMinKeepAliveTime, l.MinKeepAliveTime},
		{keyGRPCMaxConnectionIdle, l.GRPCMaxConnectionIdle},
		{keyGRPCConnectionTimeout, l.GRPCConnectionTimeout},
		{keyInternalReadTimeout, l.InternalReadTimeout},
	} {
		if d.val <= 0 {
			v.addf(d.key, formatDuration(d.val), "is not positive (allowed: a duration greater than 0, such as 10s)")
		}
	}
	for _, c := range []struct {
		key string
		val int
	}{
		{keyHTTPMaxConnections, l.HTTPMaxConnections},
		{keyGRPCMaxConnections, l.GRPCMaxConnections},
		{keyInternalMaxConns, l.InternalMaxConnections},
	} {
		if c.val < 0 {
			v.addf(c.key, strconv.Itoa(c.val), "is negative (allowed: a number greater than 0, or empty to size it from the file descriptor limit)")
		}
	}
	for _, c := range []struct {
		key string
		val int
	}{
		{keyGRPCMaxStreams, l.GRPCMaxConcurrentStreams},
		{keyMembershipStreams, l.MembershipStreams},
		{keyMembershipPerConn, l.MembershipStreamsPerConnection},
	} {
		if c.val < 1 {
			v.addf(c.key, strconv.Itoa(c.val), "is not positive (allowed: a number greater than 0)")
		}
	}
	if l.HTTPMaxHeaderBytes < minHeaderBytes || l.HTTPMaxHeaderBytes > maxHeaderBytes {
		v.addf(keyHTTPMaxHeaderSize, formatSize(l.HTTPMaxHeaderBytes), "is out of range (allowed: %s to %s)", formatSize(minHeaderBytes), formatSize(maxHeaderBytes))
	}
}

// The range of server.max-http-request-header-size: room for a request
// with a token, and no more than a stranger should make the node buffer.
const (
	minHeaderBytes = 1 << 10
	maxHeaderBytes = 1 << 20
)

// describeCap renders a cap for the log: "2048 (sized from the file
// descriptor limit)", or the configured number.
func describeCap(configured, chosen int) string {
	if configured == 0 {
		return fmt.Sprintf("%d (sized from the file descriptor limit)", chosen)
	}
	return strconv.Itoa(chosen)
}
