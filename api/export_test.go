package api

import (
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// The package's tests are external (package api_test) because they use
// apitest, which imports api; these are the internals they check.

const (
	DashboardAssets = dashboardAssets
	SwaggerAssets   = swaggerAssets
	InternalPrefix  = internalPrefix
	InternalNote    = internalNote
	MaxBodyBytes    = maxBodyBytes
	MsgBodyTooLarge = msgBodyTooLarge
)

var (
	CheckHost        = checkHost
	CheckKey         = checkKey
	DocumentInternal = documentInternal
	FromHuma         = fromHuma
)

// NewHandlerRoutes is NewHandler with the patterns it serves.
func NewHandlerRoutes(opts ServerOptions) (http.Handler, []string) {
	h, _, mux := newHandler(opts)
	return h, mux.Patterns()
}

// NewEventsHandler serves only the event stream of b, pinging idle
// streams every ping.
func NewEventsHandler(b Backend, ping time.Duration) http.Handler {
	mux := http.NewServeMux()
	a := humago.New(mux, humaConfig(ServerOptions{}))
	s := &server{backend: b, pingInterval: ping}
	s.registerEvents(a, nil, nil)
	return mux
}
