package node

import (
	"encoding/json"
	"log"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/rosterhq/roster/api"
)

// httpServer is the server of the HTTP port, with its limits: slow
// headers, idle keep-alive connections, oversized headers and slow
// responses are cut; the connection cap (n.conns.http) learns which
// connections serve a request (one whose body is still arriving does not
// yet), to close unused ones first when full.
func (n *Node) httpServer() *http.Server {
	l := n.cfg.Limits
	return &http.Server{
		Handler:           n.conns.http.HTTPRequestBodies(n.limitEventStreams(n.httpHandler())),
		ReadHeaderTimeout: l.HTTPHeaderTimeout,
		IdleTimeout:       l.HTTPIdleTimeout,
		// The event stream sets a deadline of its own before each event
		// (huma's sse), so this bounds only ordinary responses.
		WriteTimeout: l.HTTPWriteTimeout,
		// net/http allows 4 KB more than this for the request line.
		MaxHeaderBytes: l.HTTPMaxHeaderBytes,
		ConnState:      n.conns.http.HTTPConnState,
		ErrorLog:       n.httpErrorLog(),
	}
}

// httpHandler builds what the HTTP port serves: the REST API.
func (n *Node) httpHandler() http.Handler {
	handler, humaAPI := api.NewHandler(api.ServerOptions{
		Backend: backend{n: n},
		Logger:  n.log,
		Version: Version,
		Metrics: n.metrics, // HTTP metrics, and what /actuator/prometheus serves
		// Access control and the keyring routes (node/accesscontrol.go, node/keys.go).
		AccessControl: n.restAccessControl(),
		Keys:          keyBackend{n: n},
	})
	// register-node's check that every node lists this one (node/listed.go).
	api.RegisterListed(humaAPI, listedBackend{n: n}, n.cfg.AccessControl.Enabled)
	return handler
}

// limitEventStreams lets event streams (api.EventsPath) hold at most half
// of the HTTP connection cap: a stream keeps its connection in use for as
// long as it runs, and streams alone must never fill the port (a health
// probe would find no connection to take over). Beyond, 503.
func (n *Node) limitEventStreams(next http.Handler) http.Handler {
	most := int64(max(n.conns.http.Max()/2, 1))
	var open atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.EventsPath {
			next.ServeHTTP(w, r)
			return
		}
		if open.Add(1) > most {
			open.Add(-1)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(api.Error{Code: api.CodeInternal,
				Message: "too many event streams open on this node (half of " + keyHTTPMaxConnections + "): retry later or watch another node"})
			return
		}
		defer open.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// httpErrorLog takes net/http's own messages, mostly failed TLS handshakes
// of clients with the wrong scheme or an untrusted CA, into the node's log
// at debug level rather than onto stderr.
func (n *Node) httpErrorLog() *log.Logger {
	return log.New(debugWriter{n.log}, "", 0)
}

type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Str("component", "http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
