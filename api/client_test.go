package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rosterhq/roster/internal/testkit"

	. "github.com/rosterhq/roster/api"
)

func TestClientRoundTrip(t *testing.T) {
	f := newFakeBackend()
	srv := testServer(t, f)
	c := NewClient(srv.URL+"/", "", false) // a trailing slash is tolerated
	ctx := context.Background()

	nodes, err := c.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 2)
	assert.Equal(t, f.List[0], nodes[0])

	me, err := c.Me(ctx)
	require.NoError(t, err)
	assert.Equal(t, f.Self, me)

	require.NoError(t, c.Join(ctx, JoinRequest{InternalHostName: "n3", InternalGrpcPort: 9224}))
	assert.Equal(t, []string{"n3:9224"}, f.Joins())

	require.NoError(t, c.Unregister(ctx, "n2"))
	assert.Equal(t, []string{"n2"}, f.Unregistered())

	var raw json.RawMessage
	require.NoError(t, c.Do(ctx, http.MethodGet, "/v1/public", nil, &raw))
	assert.True(t, strings.HasPrefix(string(raw), "["), "raw JSON kept: %s", raw)
}

func TestClientServerErrors(t *testing.T) {
	f := newFakeBackend()
	f.JoinErr = Errorf(CodeAlreadyMember, "node n2 is already a member of the cluster")
	c := NewClient(testServer(t, f).URL, "", false)
	ctx := context.Background()

	err := c.Join(ctx, JoinRequest{InternalHostName: "n1"})
	var e *Error
	require.ErrorAs(t, err, &e)
	no := false
	assert.Equal(t, &Error{Status: http.StatusConflict, Code: CodeAlreadyMember,
		Message: "node n2 is already a member of the cluster", Success: &no}, e)
	assert.Equal(t, "AXONIQ-2306: node n2 is already a member of the cluster", err.Error())

	err = c.Unregister(ctx, "zz")
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeNoSuchNode, e.Code)
	assert.Equal(t, http.StatusNotFound, e.Status)

	err = c.Join(ctx, JoinRequest{InternalHostName: "bad host"})
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeInvalidValue, e.Code)
	assert.Contains(t, e.Message, "body.internalHostName")
}

func TestClientSendsToken(t *testing.T) {
	var got string
	check := func(r *http.Request) *Error {
		got = r.Header.Get(TokenHeader)
		if got != "secret" {
			return Errorf(CodeInvalidToken, "invalid token")
		}
		return nil
	}
	srv := testServer(t, newFakeBackend(), func(o *ServerOptions) { o.AccessControl = check })

	_, err := NewClient(srv.URL, "secret", false).Nodes(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "secret", got)

	_, err = NewClient(srv.URL, "", false).Nodes(context.Background())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeInvalidToken, e.Code)
	assert.Equal(t, http.StatusForbidden, e.Status)
	assert.Empty(t, got, "no header without a token")
}

func TestClientForeignErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/html" {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html><body>bad gateway</body></html>"))
			return
		}
		http.Error(w, "upstream down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL, "", false)

	err := c.Do(context.Background(), http.MethodGet, "/text", nil, nil)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, &Error{Status: http.StatusServiceUnavailable, Code: "", Message: "503 service unavailable: upstream down"}, e)

	err = c.Do(context.Background(), http.MethodGet, "/html", nil, nil)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, &Error{Status: http.StatusBadGateway, Code: "", Message: "502 bad gateway"}, e)
}

func TestClientConnectionRefusedNamesAddress(t *testing.T) {
	// A port this test process holds and never binds: nothing answers.
	var ports testkit.Ports
	addr := "http://127.0.0.1:" + strconv.Itoa(ports.Closed(t))

	_, err := NewClient(addr, "", false).Nodes(context.Background())
	require.Error(t, err)
	assert.Equal(t, "cannot reach "+addr+": connection refused", err.Error())
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the cause stays wrapped")
	var e *Error
	assert.False(t, errors.As(err, &e), "not a server error")
}

func TestClientUnknownHost(t *testing.T) {
	_, err := NewClient("http://no-such-host.invalid:8024", "", false).Nodes(context.Background())
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "cannot reach http://no-such-host.invalid:8024: "), err.Error())
	assert.NotContains(t, err.Error(), "\n")
}

func TestClientDecodeError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("not json"))
	}))
	t.Cleanup(srv.Close)
	_, err := NewClient(srv.URL, "", false).Nodes(context.Background())
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "api: decode GET /v1/public response: "), err.Error())
}
