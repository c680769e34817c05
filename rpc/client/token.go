package client

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// accessTokenHeader is Axon's AxonIQ-Access-Token (gRPC metadata keys are
// lower case on the wire).
const accessTokenHeader = "axoniq-access-token"

// accessToken sends a node's access token
// (axoniq.axonserver.accesscontrol.token) with every call.
type accessToken string

func (t accessToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{accessTokenHeader: string(t)}, nil
}

// RequireTransportSecurity is false: Axon accepts tokens over plain TCP,
// and TLS is the operator's choice (Credentials).
func (accessToken) RequireTransportSecurity() bool { return false }

// TokenCredentials sends token as AxonIQ-Access-Token with every call of
// a channel: grpc.WithPerRPCCredentials(client.TokenCredentials(token)),
// for channels that use the roster resolver.
func TokenCredentials(token string) credentials.PerRPCCredentials { return accessToken(token) }

// tokenOption is the dial option that sends token, if any.
func tokenOption(token string) []grpc.DialOption {
	if token == "" {
		return nil
	}
	return []grpc.DialOption{grpc.WithPerRPCCredentials(accessToken(token))}
}
