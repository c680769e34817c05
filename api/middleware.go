package api

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// healthPath stays open with access control on: load balancers and
// Kubernetes probes carry no token.
const healthPath = "/actuator/health"

// withAccessControl asks check about every request but health's and the
// web pages' (isPublic); a non-nil *Error is the response (403 for
// AXONIQ-1000/1001). It wraps the whole mux, so the OpenAPI document and
// unknown paths are protected too, as in Axon.
func withAccessControl(check func(*http.Request) *Error, next http.Handler) http.Handler {
	if check == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == healthPath:
			// Open, but its details only for a valid token.
			if check(r) != nil {
				r = r.WithContext(context.WithValue(r.Context(), healthStatusOnly{}, true))
			}
		case !isPublic(r):
			if e := check(r); e != nil {
				writeError(w, e)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// healthStatusOnly marks a health request without a valid access token
// while access control is on: it is told UP or DOWN and nothing else.
type healthStatusOnly struct{}

// statusOnly tells whether health may tell no more than its status.
func statusOnly(ctx context.Context) bool {
	v, _ := ctx.Value(healthStatusOnly{}).(bool)
	return v
}

// withJSONFallbacks answers requests no route matches in our error shape
// instead of net/http's plain text: 404 for an unknown path, 405 (with its
// Allow header) for a known path with another method. Both use
// CodeInternal, Axon's catch-all "OTHER" code, as Axon has no code for them.
func withJSONFallbacks(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No pattern: the mux would answer 404 or 405; run its handler into
		// a scratch writer to learn which, and which methods it allows.
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: CodeInternal,
				Message: "method " + r.Method + " is not allowed on " + r.URL.Path})
			return
		}
		writeError(w, &Error{Status: http.StatusNotFound, Code: CodeInternal,
			Message: "no such path: " + r.URL.Path})
	})
}

// headerProbe records what a handler would answer and discards the body.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header { return p.header }

func (p *headerProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

func (p *headerProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

// withRequestLog logs every request at debug level once it is answered.
func withRequestLog(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		log.Debug().
			Str("method", r.Method).
			Str("path", r.URL.Path).
			Int("status", status).
			Dur("duration", time.Since(start)).
			Msg("http request")
	})
}

// statusWriter remembers the status written. It implements Flush and
// Unwrap so streaming responses (SSE) keep working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	// A writer that cannot flush just buffers; nothing to report.
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
