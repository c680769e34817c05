package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// TokenHeader carries the access token on admin requests, as in Axon Server.
const TokenHeader = "AxonIQ-Access-Token"

// maxResponseBytes bounds what the client reads from a server; a node list
// is a few hundred bytes a node.
const maxResponseBytes = 32 << 20

// Client talks to a node's REST API.
type Client struct {
	BaseURL string // e.g. http://localhost:8024
	Token   string // sent as AxonIQ-Access-Token when not empty
	HTTP    *http.Client
}

// NewClient returns a client for the node at baseURL. insecureTLS skips
// certificate checks (the CLI's -i/--insecure-ssl).
func NewClient(baseURL, token string, insecureTLS bool) *Client {
	var cfg *tls.Config
	if insecureTLS {
		cfg = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the operator
	}
	return NewClientTLS(baseURL, token, cfg)
}

// NewClientTLS is NewClient with the TLS settings of HTTPS connections
// (nil: the system's roots).
func NewClientTLS(baseURL, token string, cfg *tls.Config) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		Token:   token,
		HTTP:    &http.Client{Transport: tr},
	}
}

// Nodes lists the cluster's nodes (GET /v1/public).
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var nodes []Node
	err := c.Do(ctx, http.MethodGet, "/v1/public", nil, &nodes)
	return nodes, err
}

// Me describes the node the client talks to (GET /v1/public/me).
func (c *Client) Me(ctx context.Context) (Me, error) {
	var me Me
	err := c.Do(ctx, http.MethodGet, "/v1/public/me", nil, &me)
	return me, err
}

// Join makes the node join the cluster through req's node (POST /v1/cluster).
func (c *Client) Join(ctx context.Context, req JoinRequest) error {
	return c.Do(ctx, http.MethodPost, "/v1/cluster", req, nil)
}

// Unregister removes the named node from the cluster (DELETE /v1/cluster/{name}).
func (c *Client) Unregister(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/cluster/"+url.PathEscape(name), nil, nil)
}

// Do sends body (JSON, when not nil) to path and decodes a 2xx answer into
// out (when not nil; a *json.RawMessage keeps it as sent). A server error
// becomes an *Error: its code and message when the body has our shape,
// otherwise an empty code and the status with the body's text. A server
// that cannot be reached gives an error naming BaseURL.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("api: encode %s %s body: %w", method, path, err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, reader)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, c.BaseURL+path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
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
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("api: read %s %s response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return errorFromResponse(resp.StatusCode, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: decode %s %s response: %w", method, path, err)
	}
	return nil
}

// errorFromResponse reads an error answer. Proxies and other servers may
// answer in their own format: then the status and a short text stand in.
func errorFromResponse(status int, data []byte) *Error {
	var e Error
	if json.Unmarshal(data, &e) == nil && e.Code != "" {
		e.Status = status
		return &e
	}
	msg := strconv.Itoa(status) + " " + strings.ToLower(http.StatusText(status))
	if text := strings.TrimSpace(string(data)); text != "" && len(text) <= 200 &&
		!strings.ContainsAny(text, "\n<") {
		msg += ": " + text
	}
	return &Error{Status: status, Message: msg}
}

// unreachableError is a request that got no answer. Its text is one short
// line naming the address; the full error stays reachable with errors.Is/As.
type unreachableError struct {
	addr string
	err  error
}

func (e *unreachableError) Error() string {
	return "cannot reach " + e.addr + ": " + shortNetError(e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// shortNetError reduces a transport error to its cause in a few words:
// "connection refused" rather than
// `Get "http://localhost:8024/v1/public": dial tcp [::1]:8024: connect: connection refused`.
func shortNetError(err error) string {
	var dnsErr *net.DNSError
	var errno syscall.Errno
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "unknown host " + dnsErr.Name
		}
		return "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	case errors.As(err, &errno):
		return errno.Error()
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "timed out"
	}
	// Strip url.Error's `Get "url": ` and net.OpError's `dial tcp addr: `
	// layers down to the innermost message.
	for {
		var next error
		switch e := err.(type) {
		case *url.Error:
			next = e.Err
		case *net.OpError:
			next = e.Err
		case *os.SyscallError:
			next = e.Err
		}
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
