package connlimit_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rosterhq/roster/internal/connlimit"
	"github.com/rosterhq/roster/internal/testkit"
)

// These tests fill the cap with slow clients (slow headers, slow bodies,
// gRPC calls whose message never comes): a new client still gets in, and
// the slow ones make room for it, the longest waiting first.

// TestFreshConnectionOutlivesSlowHeaders: a connection just accepted,
// whose request the server has not read yet, is not the one that makes
// room for the next slow client: the slow client that has waited longest
// is.
func TestFreshConnectionOutlivesSlowHeaders(t *testing.T) {
	l, _ := newLimited(t, 2, nil)
	readAll(t, l)
	slow := dial(t, l, "GET / HTTP/1.1\r\nX-Slow: ")
	eventuallyOpen(t, l, 1)
	fresh := dial(t, l, "") // its request is on its way
	eventuallyOpen(t, l, 2)

	dial(t, l, "GET / HTTP/1.1\r\nX-Slow: ")
	require.True(t, closedByServer(slow, 5*time.Second), "the slow client makes room")
	require.False(t, closedByServer(fresh, 200*time.Millisecond), "the fresh connection is kept")
}

// TestSlowBodiesHoldNoPlace fills an HTTP server's cap with requests whose
// bodies never finish: a health request on a new connection is served,
// the oldest slow body making room, and a request whose body arrives
// whole is served as before.
func TestSlowBodiesHoldNoPlace(t *testing.T) {
	const max = 4
	l, _ := newLimited(t, max, nil)
	reading := make(chan struct{}, max)
	mux := http.NewServeMux()
	mux.HandleFunc("/body", func(w http.ResponseWriter, r *http.Request) {
		reading <- struct{}{}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "UP") })
	srv := &http.Server{Handler: l.HTTPRequestBodies(mux), ConnState: l.HTTPConnState, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + l.Addr().String()

	var slow []net.Conn
	for range max {
		slow = append(slow, dial(t, l, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"))
		testkit.Receive(t, reading, 5*time.Second, "slow body read") // its handler waits for the rest of the body
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := hc.Get(url + "/health")
	require.NoError(t, err, "a new client gets in while every place holds a slow body")
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, closedByServer(slow[0], 5*time.Second), "the oldest slow body made room")

	resp, err = hc.Post(url+"/body", "text/plain", bytes.NewReader([]byte("whole")))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, "whole", string(b))
}

// TestGRPCCallsWithoutMessageHoldNoPlace fills a gRPC server's cap with
// connections whose calls never send their message: a new client's call
// is served.
func TestGRPCCallsWithoutMessageHoldNoPlace(t *testing.T) {
	const max = 3
	l, _ := newLimited(t, max, nil)
	srv := grpc.NewServer(grpc.StatsHandler(l.StatsHandler()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	for range max {
		c, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.Write(callWithoutMessage(t, "/grpc.health.v1.Health/Check"))
		require.NoError(t, err)
	}
	eventuallyOpen(t, l, max)

	cc, err := grpc.NewClient("passthrough:///"+l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "a new client's call is served while every place holds a call without its message")
}

// callWithoutMessage is an HTTP/2 client's preface, settings and the
// headers of a gRPC call to path, without its message.
func callWithoutMessage(t *testing.T, path string) []byte {
	t.Helper()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", "x"},
		{"content-type", "application/grpc"}, {"te", "trailers"}} {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	require.NoError(t, fr.WriteSettings())
	require.NoError(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}))
	return buf.Bytes()
}

// A connlimit.Listener is what the tests serve on.
var _ net.Listener = (*connlimit.Listener)(nil)
