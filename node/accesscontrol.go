package node

import (
	"net/http"
	"strings"

	"google.golang.org/grpc"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/rpc"
)

// Property names of the tokens, for messages.
const (
	keyAccessToken   = "axoniq.axonserver.accesscontrol.token"
	keyInternalToken = "axoniq.axonserver.accesscontrol.internal-token"
)

// healthServicePrefix is gRPC health checking: open with access control
// on, like /actuator/health, because Kubernetes gRPC probes and load
// balancers carry no token. It tells only SERVING or not.
const healthServicePrefix = "/grpc.health.v1.Health/"

// openGRPCMethod tells which client-port methods need no access token.
func openGRPCMethod(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, healthServicePrefix)
}

// accessToken is the token clients must present, or "" when access
// control is off.
func (n *Node) accessToken() string {
	if !n.cfg.AccessControl.Enabled {
		return ""
	}
	return n.cfg.AccessControl.Token
}

// restAccessControl is the REST API's access check (api.ServerOptions),
// nil when access control is off. Tokens are compared in constant time.
func (n *Node) restAccessControl() func(*http.Request) *api.Error {
	token := n.accessToken()
	if token == "" {
		return nil
	}
	return func(r *http.Request) *api.Error {
		got := r.Header.Get(api.TokenHeader)
		if got == "" {
			return api.Errorf(api.CodeAuthTokenMissing,
				"access token missing: send axoniq.axonserver.accesscontrol.token in the %s header (roster CLI: -t or ./security/.token)", api.TokenHeader)
		}
		if !rpc.TokenMatches(got, token) {
			return api.Errorf(api.CodeInvalidToken, "invalid access token in the %s header", api.TokenHeader)
		}
		return nil
	}
}

// accessControlOptions require the access token on the client gRPC port
// (all but gRPC health). Chained, so that other interceptors (metrics)
// can be added with their own Chain options in any order.
func (n *Node) accessControlOptions() []grpc.ServerOption {
	token := n.accessToken()
	if token == "" {
		return nil
	}
	unary, stream := rpc.AccessTokenInterceptors(rpc.Token{Value: token, Setting: keyAccessToken}, openGRPCMethod)
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream)}
}
