package connlimit

import (
	"io"
	"net"
	"net/http"
	"sync"
)

// HTTPRequestBodies wraps the handler of an HTTP server that serves l's
// connections (with HTTPConnState): while an HTTP/1 request's body is
// still arriving, its connection is pending rather than active, as one
// whose headers are still arriving is. A client that sends a body slowly,
// or never, holds no place that a new connection cannot take; once the
// handler has read the body to its end (or stopped reading it), the
// connection is active until its response is written. HTTP/2 requests
// share their connection with others and are left as they are.
func (l *Listener) HTTPRequestBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if local == nil || r.ProtoMajor != 1 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		key := local.String() + "|" + r.RemoteAddr
		l.setKeyState(key, Pending)
		r.Body = &arrivingBody{ReadCloser: r.Body, arrived: func() { l.setKeyState(key, Active) }}
		next.ServeHTTP(w, r)
	})
}

// setKeyState is SetState for a connection known by its key.
func (l *Listener) setKeyState(key string, s State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.conns[key]; c != nil {
		l.setStateLocked(c, s)
	}
}

// arrivingBody calls arrived once its reader reached the end of the body
// (or an error), or closed it.
type arrivingBody struct {
	io.ReadCloser
	once    sync.Once
	arrived func()
}

func (b *arrivingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.arrived)
	}
	return n, err
}

func (b *arrivingBody) Close() error {
	b.once.Do(b.arrived)
	return b.ReadCloser.Close()
}
