package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrStreamEnded is returned by Client.Events when the server ends the
// stream (the node stops); reconnecting later resumes with the full list.
var ErrStreamEnded = errors.New("api: the node ended the event stream")

// StreamEvent is one event of the stream at EventsPath: Nodes is set for
// SSENodes (the full list, replacing what the client knew), Change for
// SSEChange, Ping for SSEPing. Events of other names are passed on with
// only Name set, so newer servers do not break older clients.
type StreamEvent struct {
	Name   string
	Nodes  []Node
	Change NodeEvent
	Ping   Ping
	// Retry is the reconnection delay the server asked for, if any.
	Retry time.Duration
}

// Events reads the membership stream (GET /v1/public/events), calling fn
// for each event, until ctx ends (ctx.Err()), the server ends the stream
// (ErrStreamEnded) or fn fails (its error). Errors before the stream
// starts are those of Do.
func (c *Client) Events(ctx context.Context, fn func(StreamEvent) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+EventsPath, nil)
	if err != nil {
		return fmt.Errorf("api: GET %s: %w", c.BaseURL+EventsPath, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.Token != "" {
		req.Header.Set(TokenHeader, c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &unreachableError{addr: c.BaseURL, err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return errorFromResponse(resp.StatusCode, data)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("api: %s answered %s with %q, not an event stream", c.BaseURL, EventsPath, ct)
	}

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxResponseBytes)
	var (
		name  string
		data  strings.Builder
		retry time.Duration
	)
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				name = value
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(value)
			case "retry":
				if ms, err := strconv.Atoi(value); err == nil {
					retry = time.Duration(ms) * time.Millisecond
				}
			}
			continue // lines starting with ":" are comments: field ""
		}
		if data.Len() == 0 {
			name = ""
			continue
		}
		ev, err := decodeStreamEvent(name, data.String())
		name = ""
		data.Reset()
		if err != nil {
			return err
		}
		ev.Retry = retry
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("api: read event stream from %s: %w", c.BaseURL, err)
	}
	return ErrStreamEnded
}

func decodeStreamEvent(name, data string) (StreamEvent, error) {
	if name == "" {
		name = "message"
	}
	ev := StreamEvent{Name: name}
	var target any
	switch name {
	case SSENodes:
		target = &ev.Nodes
	case SSEChange:
		target = &ev.Change
	case SSEPing:
		target = &ev.Ping
	default:
		return ev, nil
	}
	if err := json.Unmarshal([]byte(data), target); err != nil {
		return ev, fmt.Errorf("api: decode %q event: %w", name, err)
	}
	return ev, nil
}
