package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	. "github.com/rosterhq/roster/api"
)

// sseEvent is one event as it is on the wire.
type sseEvent struct {
	name, data, retry string
}

// sseReader reads raw events from a stream, so the tests check the wire
// format independently of Client.Events.
type sseReader struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

func openStream(t *testing.T, url string, headers ...string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+EventsPath, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return &sseReader{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next reads one event, failing the test after a deadline.
func (r *sseReader) next() (sseEvent, bool) {
	r.t.Helper()
	type result struct {
		ev sseEvent
		ok bool
	}
	got := make(chan result, 1)
	go func() {
		var ev sseEvent
		for r.sc.Scan() {
			line := r.sc.Text()
			if line == "" {
				got <- result{ev, true}
				return
			}
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "event":
				ev.name = value
			case "data":
				ev.data = value
			case "retry":
				ev.retry = value
			}
		}
		got <- result{ev, false}
	}()
	select {
	case res := <-got:
		return res.ev, res.ok
	case <-time.After(5 * time.Second):
		r.t.Fatal("no event within 5s")
		return sseEvent{}, false
	}
}

func TestEventsStreamListThenChanges(t *testing.T) {
	f := newFakeBackend()
	srv := testServer(t, f)
	r := openStream(t, srv.URL)
	require.Equal(t, http.StatusOK, r.resp.StatusCode)
	assert.Equal(t, "text/event-stream", r.resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", r.resp.Header.Get("Cache-Control"))

	ev, ok := r.next()
	require.True(t, ok)
	assert.Equal(t, SSENodes, ev.name)
	assert.Equal(t, "1000", ev.retry, "clients are told to reconnect after a second")
	var nodes []Node
	require.NoError(t, json.Unmarshal([]byte(ev.data), &nodes))
	assert.Equal(t, []string{"n1", "n2"}, []string{nodes[0].Name, nodes[1].Name})

	require.Eventually(t, func() bool { return f.Subscribers() == 1 }, 5*time.Second, 10*time.Millisecond)
	n3 := Node{Name: "n3", HostName: "n3.example.com", Status: "alive", Connected: true}
	f.Publish(NodeEvent{Type: EventJoin, Node: n3})
	ev, ok = r.next()
	require.True(t, ok)
	assert.Equal(t, SSEChange, ev.name)
	var change NodeEvent
	require.NoError(t, json.Unmarshal([]byte(ev.data), &change))
	assert.Equal(t, NodeEvent{Type: EventJoin, Node: n3}, change)
	// The node's fields have the shape of GET /v1/public.
	var raw struct{ Node map[string]any }
	require.NoError(t, json.Unmarshal([]byte(ev.data), &raw))
	assert.Contains(t, raw.Node, "grpcInternalPort")
	assert.Contains(t, raw.Node, "internalHostName")

	// Missed changes: the whole list again, as it is now.
	f.Lock()
	f.List = f.List[:1]
	f.Unlock()
	f.Publish(NodeEvent{Type: EventResync})
	ev, ok = r.next()
	require.True(t, ok)
	assert.Equal(t, SSENodes, ev.name)
	require.NoError(t, json.Unmarshal([]byte(ev.data), &nodes))
	assert.Len(t, nodes, 1)

	// The node stops: the stream ends.
	f.EndSubscriptions()
	_, ok = r.next()
	assert.False(t, ok, "stream ended")
}

func TestEventsClientGoneReleasesSubscription(t *testing.T) {
	f := newFakeBackend()
	srv := testServer(t, f)
	r := openStream(t, srv.URL)
	_, ok := r.next()
	require.True(t, ok)
	require.Eventually(t, func() bool { return f.Subscribers() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, r.resp.Body.Close())
	require.Eventually(t, func() bool { return f.Subscribers() == 0 }, 5*time.Second, 10*time.Millisecond,
		"the subscription ends with the request")
}

func TestEventsPingWhileIdle(t *testing.T) {
	f := newFakeBackend()
	srv := httptest.NewServer(NewEventsHandler(f, 20*time.Millisecond))
	t.Cleanup(srv.Close)

	r := openStream(t, srv.URL)
	ev, _ := r.next()
	require.Equal(t, SSENodes, ev.name)
	ev, ok := r.next()
	require.True(t, ok)
	assert.Equal(t, SSEPing, ev.name)
	var p Ping
	require.NoError(t, json.Unmarshal([]byte(ev.data), &p))
	assert.WithinDuration(t, time.Now(), p.Time, 5*time.Second)
}

func TestEventsNeedTheToken(t *testing.T) {
	f := newFakeBackend()
	srv := testServer(t, f, func(o *ServerOptions) {
		o.AccessControl = func(r *http.Request) *Error {
			if r.Header.Get(TokenHeader) != "secret" {
				return Errorf(CodeInvalidToken, "invalid token")
			}
			return nil
		}
	})
	r := openStream(t, srv.URL)
	assert.Equal(t, http.StatusForbidden, r.resp.StatusCode)
	assert.Equal(t, 0, f.Subscribers(), "no subscription without the token")

	r = openStream(t, srv.URL, TokenHeader, "secret")
	require.Equal(t, http.StatusOK, r.resp.StatusCode)
	ev, ok := r.next()
	require.True(t, ok)
	assert.Equal(t, SSENodes, ev.name)
}

func TestClientEvents(t *testing.T) {
	f := newFakeBackend()
	srv := testServer(t, f)
	c := NewClient(srv.URL, "", false)

	var got []StreamEvent
	err := c.Events(context.Background(), func(ev StreamEvent) error {
		got = append(got, ev)
		switch len(got) {
		case 1:
			go func() {
				// Wait for the subscription the stream holds, then change.
				assert.Eventually(t, func() bool { return f.Subscribers() == 1 }, 5*time.Second, 10*time.Millisecond)
				f.Publish(NodeEvent{Type: EventFail, Node: Node{Name: "n2", Status: "failed"}})
			}()
		case 2:
			go f.EndSubscriptions()
		}
		return nil
	})
	require.ErrorIs(t, err, ErrStreamEnded)
	require.Len(t, got, 2)
	assert.Equal(t, SSENodes, got[0].Name)
	assert.Len(t, got[0].Nodes, 2)
	assert.Equal(t, time.Second, got[0].Retry)
	assert.Equal(t, SSEChange, got[1].Name)
	assert.Equal(t, EventFail, got[1].Change.Type)
	assert.Equal(t, "n2", got[1].Change.Node.Name)

	// fn's error stops the stream and is returned as it is.
	stop := errors.New("enough")
	err = c.Events(context.Background(), func(StreamEvent) error { return stop })
	assert.ErrorIs(t, err, stop)

	// Errors before the stream are the API's.
	denied := testServer(t, f, func(o *ServerOptions) {
		o.AccessControl = func(*http.Request) *Error { return Errorf(CodeAuthTokenMissing, "access token missing") }
	})
	err = NewClient(denied.URL, "", false).Events(context.Background(), func(StreamEvent) error { return nil })
	var ae *Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, CodeAuthTokenMissing, ae.Code)

	// A cancelled context ends it with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	err = c.Events(ctx, func(StreamEvent) error { cancel(); return nil })
	assert.ErrorIs(t, err, context.Canceled)
}

func TestEventsDocumented(t *testing.T) {
	h, _ := NewHandler(ServerOptions{Backend: newFakeBackend(), Logger: zerolog.Nop()})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r := call(t, srv, http.MethodGet, OpenAPIPath, "")
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]any `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(r.body, &doc))
	op, ok := doc.Paths[EventsPath]["get"]
	require.True(t, ok)
	assert.Contains(t, op.Responses["200"].Content, "text/event-stream")
	for _, name := range []string{SSENodes, SSEChange, SSEPing} {
		assert.Contains(t, string(r.body), `"const":"`+name+`"`)
	}
}
