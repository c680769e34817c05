package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	. "github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/api/apitest"
)

// fuzzHandler is the API on fakes, called without sockets.
func fuzzHandler(f *testing.F) (http.Handler, *apitest.Backend, *fakeKeys) {
	f.Helper()
	fb, fk := newFakeBackend(), &fakeKeys{}
	h, _ := NewHandler(ServerOptions{Backend: fb, Keys: fk, Logger: zerolog.Nop()})
	return h, fb, fk
}

// serveBody sends body with method to path and checks what any request
// body must get: 2xx, or 400 in our error shape; never a 500 or a panic.
func serveBody(t *testing.T, h http.Handler, method, path string, body []byte, ok int) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	switch rec.Code {
	case ok:
		return
	case http.StatusBadRequest:
		var e Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code != CodeInvalidValue || e.Message == "" {
			t.Fatalf("400 not in our shape: %q", rec.Body.String())
		}
	default:
		t.Fatalf("%s %s with %q: status %d: %s", method, path, body, rec.Code, rec.Body.String())
	}
}

// FuzzJoinBody posts arbitrary bodies to POST /v1/cluster: the backend
// only ever sees a valid host name and port.
func FuzzJoinBody(f *testing.F) {
	f.Add([]byte(`{"internalHostName":"node1","internalGrpcPort":8224}`))
	f.Add([]byte(`{"internalHostName":"10.0.0.1"}`))
	f.Add([]byte(`{"internalHostName":"::1","internalGrpcPort":65535,"context":"default","noContexts":true}`))
	f.Add([]byte(`{"internalHostName":"a..b","internalGrpcPort":0}`))
	f.Add([]byte(`{"internalHostName":"node1","grpcInternalPort":8224}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"internalHostName":"\u0000"}`))
	h, fb, _ := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := len(fb.Joins())
		serveBody(t, h, http.MethodPost, "/v1/cluster", body, http.StatusAccepted)
		calls := fb.Joins()
		for _, c := range calls[before:] {
			i := strings.LastIndex(c, ":")
			host, port := c[:i], c[i+1:]
			if _, err := CheckHost(host); err != nil || host == "" {
				t.Fatalf("backend got a bad host %q from %q", host, body)
			}
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				t.Fatalf("backend got a bad port %q from %q", port, body)
			}
		}
	})
}

// FuzzKeyBody sends arbitrary bodies to the keyring routes: the backend
// only ever sees a well-formed key, and the key never comes back in an
// error.
func FuzzKeyBody(f *testing.F) {
	f.Add(uint8(0), []byte(`{"key":"`+testKey+`"}`))
	f.Add(uint8(1), []byte(`{"key":"`+testKey+`"}`))
	f.Add(uint8(2), []byte(`{"key":"`+testKey+`","force":true}`))
	f.Add(uint8(0), []byte(`{"key":"c2hvcnQ="}`))
	f.Add(uint8(2), []byte(`{"key":"MDEyMzQ1Njc4OWFiY2RlZg"}`))
	f.Add(uint8(1), []byte(`{"key":null}`))
	routes := []struct{ method, path string }{
		{http.MethodPost, KeyringPath}, {http.MethodPut, KeyringPath + "/primary"}, {http.MethodDelete, KeyringPath},
	}
	h, _, fk := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		before := len(fk.callList())
		serveBody(t, h, r.method, r.path, body, http.StatusOK)
		for _, c := range fk.callList()[before:] {
			key := strings.Fields(c)[1]
			if CheckKey("key", key) != nil {
				t.Fatalf("backend got a bad key from %q", body)
			}
		}
	})
}
