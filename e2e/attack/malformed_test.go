//go:build linux

package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rosterhq/roster/api"
)

// rawExchange sends req on a new connection to addr and reads the answer's
// status line and, when it is an API error, its code; status 0 means the
// node closed the connection without an answer.
func rawExchange(t *testing.T, addr string, req []byte) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	require.NoError(t, c.SetDeadline(time.Now().Add(15*time.Second)))
	go func() { _, _ = c.Write(req) }() // the node may answer before it read all
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		require.True(t, isClosed(err) || err == io.ErrUnexpectedEOF, "%v", err)
		return 0, ""
	}
	defer func() { _ = resp.Body.Close() }()
	var e api.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Code
}

// TestMalformedInput sends a node malformed and oversized HTTP requests
// and garbage on its client gRPC port. Each gets a clear refusal (400 in
// the API's error shape, 431 for oversized headers) or a closed
// connection, nothing changes, and the node serves on.
func TestMalformedInput(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, spec{name: "a"}, spec{name: "b"})
	a := nodes[0]
	sizes := settledStateSizes(t, nodes)
	rssBefore, _ := a.memory(t)
	join := func(body string, headers ...string) []byte {
		return []byte("POST /v1/cluster HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n" + strings.Join(headers, "") +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	big := bytes.Repeat([]byte("x"), 2<<20)
	junk := make([]byte, 1<<20)
	_, _ = rand.Read(junk)

	cases := []struct {
		what   string
		req    []byte
		status []int // any of these; 0: closed without an answer
		code   string
	}{
		{"malformed JSON", join(`{"internalHostName": `), []int{400}, api.CodeInvalidValue},
		{"wrong types", join(`{"internalHostName": 5, "internalGrpcPort": "x"}`), []int{400}, api.CodeInvalidValue},
		{"unknown field", join(`{"internalHostName": "127.0.0.1", "grpcInternalPort": 1}`), []int{400}, api.CodeInvalidValue},
		{"port out of range", join(`{"internalHostName": "127.0.0.1", "internalGrpcPort": 70000}`), []int{400}, api.CodeInvalidValue},
		{"bad host name", join(`{"internalHostName": "a b/../c", "internalGrpcPort": 8224}`), []int{400}, api.CodeInvalidValue},
		{"2 MiB body", join(`{"internalHostName": "` + string(big) + `"}`), []int{400}, api.CodeInvalidValue},
		{"not JSON", []byte("POST /v1/cluster HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"), []int{400}, api.CodeInvalidValue},
		{"chunk claiming 2^48 bytes (2 MiB sent)", []byte("POST /v1/cluster HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\n" + string(big)), []int{400}, api.CodeInvalidValue},
		{"path with ..", []byte("DELETE /v1/cluster/%2e%2e HTTP/1.1\r\nHost: a\r\n\r\n"), []int{400, 404}, ""},
		{"64 KiB header", []byte("GET /v1/public HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("y", 64<<10) + "\r\n\r\n"), []int{431}, ""},
		{"10,000 headers", []byte("GET /v1/public HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-H: 1\r\n", 10000) + "\r\n"), []int{431}, ""},
		{"garbage request line", []byte("\x00\x01GARBAGE / HTTP/9.9\r\n\r\n"), []int{400, 0}, ""},
		{"1 MiB of random bytes", junk, []int{400, 431, 0}, ""},
	}
	var got, sent []string
	for _, c := range cases {
		sent = append(sent, c.what)
		status, code := rawExchange(t, a.http, c.req)
		require.Contains(t, c.status, status, "%s: status", c.what)
		if c.code != "" {
			require.Equal(t, c.code, code, "%s: error code", c.what)
		}
		answer := strconv.Itoa(status)
		if status == 0 {
			answer = "closed"
		}
		if code != "" {
			answer += " " + code
		}
		got = append(got, c.what+" "+answer)
	}
	requireNeverMember(t, nodes, time.Second)
	sameStateSizes(t, nodes, sizes)
	_, peak := a.memory(t)
	res.Add(t, "malformed HTTP", "requests on the HTTP port, each on a new connection: "+strings.Join(sent, ", "),
		fmt.Sprintf("%s; nothing listed or written; peak RSS %s (%s before)", strings.Join(got, "; "), mb(peak), mb(rssBefore)))

	// The client gRPC port.
	grpcCases := []struct {
		what string
		send []byte
	}{
		{"random bytes", junk[:4096]},
		{"the HTTP/2 preface, then random frames", append([]byte(http2.ClientPreface), junk[:4096]...)},
		{"a call whose message claims 4 GiB", grpcCall("/grpc.health.v1.Health/Check", 0xffffffff, 16<<10)},
		{"a call with a 1 MiB header", grpcCallHeader("/grpc.health.v1.Health/Check", 1<<20, false)},
	}
	var seen []string
	sent = nil
	for _, c := range grpcCases {
		sent = append(sent, c.what)
		took, err := untilClosed(a.grpc, c.send, 15*time.Second)
		require.NoError(t, err, "%s: the node ends the connection (or the call)", c.what)
		seen = append(seen, fmt.Sprintf("%s: ended after %s", c.what, ms(took)))
	}
	cc, err := grpc.NewClient(a.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer func() { _ = cc.Close() }()
	hc, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(hc, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	_, peak = a.memory(t)
	res.Add(t, "garbage on the client gRPC port", "connections to the client gRPC port sending "+strings.Join(sent, "; "),
		fmt.Sprintf("%s; gRPC health SERVING after; peak RSS %s", strings.Join(seen, "; "), mb(peak)))
}

// untilClosed sends b on a new connection to addr and waits for the
// node to end what b started (endOf); it returns how long that took.
func untilClosed(addr string, b []byte, within time.Duration) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Close() }()
	go func() { _, _ = c.Write(b) }()
	return endOf(c, within)
}

// endOf reads HTTP/2 frames from c until the node closes the connection,
// sends GOAWAY or ends the stream it was sent (a reset, or an answer
// that ends it); it returns how long that took, or an error when it did
// not within.
func endOf(c net.Conn, within time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	fr := http2.NewFramer(io.Discard, c)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ce http2.ConnectionError
			if isClosed(err) || errors.As(err, &ce) {
				return time.Since(start), nil
			}
			return time.Since(start), err
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame, *http2.RSTStreamFrame:
			return time.Since(start), nil
		case *http2.HeadersFrame:
			if f.StreamEnded() { // trailers only: the call is over
				return time.Since(start), nil
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				return time.Since(start), nil
			}
		}
	}
}

// grpcHeaders is the HPACK block of a gRPC call to path, with pad bytes
// more in headers of 4,000 bytes each.
func grpcHeaders(path string, pad int) []byte {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", "a"},
		{"content-type", "application/grpc"}, {"te", "trailers"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for k := 0; pad > 0; k++ {
		n := min(pad, 4000)
		_ = enc.WriteField(hpack.HeaderField{Name: "x-pad-" + strconv.Itoa(k), Value: strings.Repeat("p", n)})
		pad -= n
	}
	return hb.Bytes()
}

// grpcCall is a client's preface, settings and one call to path whose
// message claims claim bytes and carries send of them; with send < 0,
// the call's headers only.
func grpcCall(path string, claim uint32, send int) []byte {
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	_ = fr.WriteSettings()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: grpcHeaders(path, 0), EndHeaders: true})
	if send < 0 {
		return buf.Bytes()
	}
	msg := make([]byte, 5+send)
	binary.BigEndian.PutUint32(msg[1:5], claim)
	_ = fr.WriteData(1, false, msg)
	return buf.Bytes()
}

// grpcCallHeader is a call to path with a header of size bytes, in
// CONTINUATION frames of 16 KiB, and an empty message; with open set, the
// header block's last fragment is left out (it never ends).
func grpcCallHeader(path string, size int, open bool) []byte {
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	_ = fr.WriteSettings()
	block := grpcHeaders(path, size)
	const frame = 16 << 10
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:frame], EndHeaders: false})
	for rest := block[frame:]; len(rest) > 0; {
		n := min(frame, len(rest))
		if open && n == len(rest) {
			return buf.Bytes()
		}
		_ = fr.WriteContinuation(1, n == len(rest), rest[:n])
		rest = rest[n:]
	}
	_ = fr.WriteData(1, true, make([]byte, 5))
	return buf.Bytes()
}
