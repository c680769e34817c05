package rpc

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestTokenMatches(t *testing.T) {
	assert.True(t, TokenMatches("s3cret", "s3cret"))
	assert.False(t, TokenMatches("s3cre", "s3cret"))
	assert.False(t, TokenMatches("s3cret ", "s3cret"))
	assert.False(t, TokenMatches("", "s3cret"))
	assert.False(t, TokenMatches("", ""), "no expected token matches nothing")
	assert.False(t, TokenMatches(strings.Repeat("a", 10000), "a"))
}

// healthServer serves gRPC health (a unary and a stream method) behind
// the given interceptors.
func healthServer(t *testing.T, opts ...grpc.ServerOption) healthpb.HealthClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///"+l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func requireAxon(t *testing.T, err error, axonCode string) {
	t.Helper()
	require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
	code, msg, ok := AxonCode(err)
	require.True(t, ok)
	assert.Equal(t, axonCode, code)
	assert.NotEmpty(t, msg)
	assert.True(t, strings.HasPrefix(status.Convert(err).Message(), axonCode+": "), "code at the start of the message")
}

func TestAccessTokenInterceptors(t *testing.T) {
	unary, stream := AccessTokenInterceptors(Token{Value: "s3cret"}, nil)
	c := healthServer(t, grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	ctx := context.Background()
	with := func(v string) context.Context { return metadata.AppendToOutgoingContext(ctx, AccessTokenHeader, v) }

	_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
	requireAxon(t, err, "AXONIQ-1000")
	_, err = c.Check(with("wrong"), &healthpb.HealthCheckRequest{})
	requireAxon(t, err, "AXONIQ-1001")
	_, err = c.Check(with("s3cret"), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)

	w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	requireAxon(t, err, "AXONIQ-1000")
	w, err = c.Watch(with("s3cret"), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	require.NoError(t, err)
}

func TestAccessTokenOpenMethods(t *testing.T) {
	unary, stream := AccessTokenInterceptors(Token{Value: "s3cret"}, func(m string) bool { return m == "/grpc.health.v1.Health/Check" })
	c := healthServer(t, grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "open without a token")
	w, err := c.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	requireAxon(t, err, "AXONIQ-1000")
}

func TestAccessControlOff(t *testing.T) {
	unary, stream := AccessTokenInterceptors(Token{}, nil)
	c := healthServer(t, grpc.ChainUnaryInterceptor(unary, InternalTokenInterceptor(Token{})), grpc.ChainStreamInterceptor(stream, InternalTokenStreamInterceptor(Token{})))
	_, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
}

func TestInternalTokenInterceptors(t *testing.T) {
	token := Token{Value: "node", Setting: "axoniq.axonserver.accesscontrol.internal-token"}
	c := healthServer(t, grpc.UnaryInterceptor(InternalTokenInterceptor(token)), grpc.StreamInterceptor(InternalTokenStreamInterceptor(token)))
	ctx := context.Background()
	_, err := c.Check(ctx, &healthpb.HealthCheckRequest{})
	requireAxon(t, err, "AXONIQ-1000")
	assert.Contains(t, status.Convert(err).Message(), "AxonIQ-InternalToken (axoniq.axonserver.accesscontrol.internal-token)")
	// The client's token is not the internal one.
	_, err = c.Check(metadata.AppendToOutgoingContext(ctx, AccessTokenHeader, "node"), &healthpb.HealthCheckRequest{})
	requireAxon(t, err, "AXONIQ-1000")
	_, err = c.Check(metadata.AppendToOutgoingContext(ctx, InternalTokenHeader, "client"), &healthpb.HealthCheckRequest{})
	requireAxon(t, err, "AXONIQ-1001")
	assert.Contains(t, status.Convert(err).Message(), "axoniq.axonserver.accesscontrol.internal-token")
	_, err = c.Check(metadata.AppendToOutgoingContext(ctx, InternalTokenHeader, "node"), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	requireAxon(t, err, "AXONIQ-1000")
}

// TestErrorCodeTrailer: a failed call carries its Axon code in the
// AxonIQ-ErrorCode trailer, as from Axon Server; the errors of the
// interceptors after it too.
func TestErrorCodeTrailer(t *testing.T) {
	eu, es := ErrorCodeInterceptors()
	tu, ts := AccessTokenInterceptors(Token{Value: "s3cret"}, nil)
	c := healthServer(t, grpc.ChainUnaryInterceptor(eu, tu), grpc.ChainStreamInterceptor(es, ts))
	ctx := context.Background()

	var md metadata.MD
	_, err := c.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&md))
	requireAxon(t, err, codeTokenMissing)
	require.Equal(t, []string{codeTokenMissing}, md.Get("AxonIQ-ErrorCode"))

	bad := metadata.AppendToOutgoingContext(ctx, AccessTokenHeader, "wrong")
	w, err := c.Watch(bad, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	requireAxon(t, err, codeInvalidToken)
	require.Equal(t, []string{codeInvalidToken}, w.Trailer().Get(ErrorCodeTrailer))

	// An error without an Axon code reports Axon's OTHER; a success no code.
	good := metadata.AppendToOutgoingContext(ctx, AccessTokenHeader, "s3cret")
	_, err = c.Check(good, &healthpb.HealthCheckRequest{Service: "no-such-service"}, grpc.Trailer(&md))
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Equal(t, []string{"AXONIQ-0001"}, md.Get(ErrorCodeTrailer))
	_, err = c.Check(good, &healthpb.HealthCheckRequest{}, grpc.Trailer(&md))
	require.NoError(t, err)
	require.Empty(t, md.Get(ErrorCodeTrailer))
}
