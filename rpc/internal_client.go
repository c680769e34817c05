package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/rosterhq/roster/rpc/internalpb"
)

// InternalClient calls other nodes' internal service. Each call dials
// anew: these calls are rare (joins, unregistering, register-node's check)
// and go to changing addresses.
type InternalClient struct {
	// Creds secures the connection; nil means plain TCP.
	Creds credentials.TransportCredentials
	// Token is sent as AxonIQ-InternalToken when set.
	Token string
}

// PeerError is a call that failed before the peer could answer: Cause is
// why its connection failed (a *net.DNSError, a refused connection, a TLS
// handshake error), for errors.Is and errors.As, beside gRPC's status.
type PeerError struct {
	Address string
	Status  error
	Cause   error
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("rpc: %s: %v", e.Address, e.Cause)
}

// Unwrap gives both the status and the cause.
func (e *PeerError) Unwrap() []error { return []error{e.Status, e.Cause} }

// connFailure keeps the last error of dialing or of the TLS handshake of
// one call.
type connFailure struct {
	mu  sync.Mutex
	err error
}

func (f *connFailure) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *connFailure) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// recordingCreds note a failed client handshake.
type recordingCreds struct {
	credentials.TransportCredentials
	failure *connFailure
}

func (c recordingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		c.failure.set(err)
		return out, info, err
	}
	return &firstReadConn{Conn: out, failure: c.failure}, info, nil
}

// firstReadConn notes why the first read of a connection failed before
// any byte arrived: in TLS 1.3 a server that refuses the client's
// certificate says so after the client's handshake has ended, in the
// answer to the first read. An EOF says no more than gRPC's status does.
type firstReadConn struct {
	net.Conn
	failure *connFailure
	done    atomic.Bool
}

func (c *firstReadConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.done.Load() && (n > 0 || err != nil) {
		c.done.Store(true)
		if n == 0 && err != nil && !errors.Is(err, io.EOF) {
			c.failure.set(err)
		}
	}
	return n, err
}

func (c recordingCreds) Clone() credentials.TransportCredentials {
	return recordingCreds{TransportCredentials: c.TransportCredentials.Clone(), failure: c.failure}
}

func (c *InternalClient) call(ctx context.Context, address string, f func(context.Context, internalpb.InternalClient) error) error {
	creds := c.Creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	failure := &connFailure{}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			failure.set(err)
		}
		return conn, err
	}
	conn, err := grpc.NewClient("passthrough:///"+address,
		grpc.WithTransportCredentials(recordingCreds{TransportCredentials: creds, failure: failure}),
		grpc.WithContextDialer(dial))
	if err != nil {
		return fmt.Errorf("rpc: dial %s: %w", address, err)
	}
	defer conn.Close()
	if c.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, InternalTokenHeader, c.Token)
	}
	if err := f(ctx, internalpb.NewInternalClient(conn)); err != nil {
		if cause := failure.get(); cause != nil {
			return &PeerError{Address: address, Status: err, Cause: cause}
		}
		return err
	}
	return nil
}

// Introduce asks the node at address whether the caller may join.
func (c *InternalClient) Introduce(ctx context.Context, address string, req *internalpb.IntroduceRequest) (*internalpb.IntroduceResponse, error) {
	var resp *internalpb.IntroduceResponse
	err := c.call(ctx, address, func(ctx context.Context, cl internalpb.InternalClient) error {
		var err error
		resp, err = cl.Introduce(ctx, req, grpc.WaitForReady(false))
		return err
	})
	return resp, err
}

// Leave tells the node at address that it was unregistered.
func (c *InternalClient) Leave(ctx context.Context, address string, req *internalpb.LeaveRequest) error {
	return c.call(ctx, address, func(ctx context.Context, cl internalpb.InternalClient) error {
		_, err := cl.Leave(ctx, req)
		return err
	})
}

// Lists asks the node at address whether it lists a node. It does not
// wait for a connection that failed: a peer that cannot be reached is
// reported at once, one that does not answer when ctx ends.
func (c *InternalClient) Lists(ctx context.Context, address string, req *internalpb.ListsRequest) (*internalpb.ListsResponse, error) {
	var resp *internalpb.ListsResponse
	err := c.call(ctx, address, func(ctx context.Context, cl internalpb.InternalClient) error {
		var err error
		resp, err = cl.Lists(ctx, req, grpc.WaitForReady(false))
		return err
	})
	return resp, err
}
