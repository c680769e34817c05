package rpc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// AccessTokenHeader carries a client's access token on the client gRPC
// port: Axon's AxonIQ-Access-Token (gRPC metadata keys are lower case).
const AccessTokenHeader = "axoniq-access-token"

// Axon's access-control codes. rpc does not import api, so they are
// repeated here; they are Axon's public interface and never change.
const (
	codeTokenMissing = "AXONIQ-1000"
	codeInvalidToken = "AXONIQ-1001"
)

// TokenMatches compares a presented token with the expected one in
// constant time. Both are hashed first so that the time does not depend on
// their lengths either. An empty expected token matches nothing.
func TokenMatches(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// tokenCheck describes one token requirement: which metadata key, which
// token, and what to tell a caller that lacks it.
type tokenCheck struct {
	header  string
	token   string
	missing string
	invalid string
	// open lets a method through without a token (gRPC health, for probes).
	open func(fullMethod string) bool
}

func (c tokenCheck) check(ctx context.Context, fullMethod string) error {
	if c.token == "" || c.open != nil && c.open(fullMethod) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get(c.header)
	if len(got) == 0 || got[0] == "" {
		return AxonError(codes.PermissionDenied, codeTokenMissing, "%s", c.missing)
	}
	if !TokenMatches(got[0], c.token) {
		return AxonError(codes.PermissionDenied, codeInvalidToken, "%s", c.invalid)
	}
	return nil
}

func (c tokenCheck) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := c.check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func (c tokenCheck) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := c.check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// Token is a token callers must send, and the setting it came from
// (Setting may be empty): a caller without it is told what to set.
type Token struct {
	Value   string
	Setting string
}

// AccessTokenInterceptors require token in axoniq-access-token on every
// call of the client port, except the methods open says are open. An
// empty token lets every call through (access control off). A missing
// token is PERMISSION_DENIED with AXONIQ-1000, a wrong one with AXONIQ-1001.
func AccessTokenInterceptors(token Token, open func(fullMethod string) bool) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	send := "the access token"
	if token.Setting != "" {
		send = token.Setting
	}
	c := tokenCheck{
		header:  AccessTokenHeader,
		token:   token.Value,
		missing: "access token missing: send " + send + " in the AxonIQ-Access-Token metadata",
		invalid: "invalid access token in AxonIQ-Access-Token",
		open:    open,
	}
	return c.unary(), c.stream()
}

func internalTokenCheck(token Token) tokenCheck {
	c := tokenCheck{
		header:  InternalTokenHeader,
		token:   token.Value,
		missing: "internal token missing: nodes must send AxonIQ-InternalToken",
		invalid: "invalid internal token: the nodes have different internal tokens",
	}
	if token.Setting != "" {
		c.missing += " (" + token.Setting + ")"
		c.invalid = "invalid internal token: the nodes have different " + token.Setting + " values"
	}
	return c
}

// InternalTokenInterceptor refuses internal calls without the right
// AxonIQ-InternalToken. An empty token lets every call through.
func InternalTokenInterceptor(token Token) grpc.UnaryServerInterceptor {
	return internalTokenCheck(token).unary()
}

// InternalTokenStreamInterceptor is InternalTokenInterceptor for streaming
// methods of the internal service.
func InternalTokenStreamInterceptor(token Token) grpc.StreamServerInterceptor {
	return internalTokenCheck(token).stream()
}
