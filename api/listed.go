package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// ListedPath answers whether every other node lists the answering node:
// the check register-node makes after a join. The answering node asks each
// of its peers on the internal port, which nodes reach by definition, so
// that the admin CLI needs to reach this one node only (behind a
// port-forward, a bastion or NAT, the others' addresses may not resolve).
const ListedPath = "/v1/public/me/listed"

// States of a ListedNode.
const (
	// ListedYes: the node lists the answering node alive.
	ListedYes = "listed"
	// ListedPending: the node answered but does not list it alive yet.
	ListedPending = "pending"
	// ListedUnreachable: the node cannot be asked, and waiting will not
	// change that (unknown host, connection refused, TLS or token refused).
	ListedUnreachable = "unreachable"
	// ListedNoAnswer: the node did not answer within the request's timeout.
	ListedNoAnswer = "no-answer"
	// ListedNotAsked: the node is not alive here (failed or left); it is
	// not waited for.
	ListedNotAsked = "not-asked"
	// ListedUnsupported: the node runs a roster without this check.
	ListedUnsupported = "unsupported"
)

// Listing is the answer of ListedPath.
type Listing struct {
	Name     string       `json:"name" doc:"The answering node."`
	Complete bool         `json:"complete" doc:"True when every node that could be asked lists the answering node alive."`
	Nodes    []ListedNode `json:"nodes" doc:"Every other registered node, sorted by name."`
}

// ListedNode is one peer in a Listing.
type ListedNode struct {
	Name    string `json:"name" doc:"Node name."`
	Address string `json:"address" doc:"Internal address the answering node asked it at."`
	Status  string `json:"status" enum:"alive,suspect,failed,left" doc:"Membership status as the answering node sees it."`
	State   string `json:"state" enum:"listed,pending,unreachable,no-answer,not-asked,unsupported" doc:"listed: it lists the answering node alive; pending: it answered but does not yet; unreachable: it cannot be asked, for a reason waiting does not change; no-answer: it did not answer within the timeout; not-asked: it is not alive; unsupported: it runs a roster without this check."`
	Message string `json:"message,omitempty" doc:"What it said, or why it was not asked or did not answer."`
}

// ListedBackend makes the check; the node implements it.
type ListedBackend interface {
	// Listed asks every other alive node, each within wait, whether it
	// lists this node alive.
	Listed(ctx context.Context, wait time.Duration) Listing
}

// Bounds of the timeout query parameter.
const (
	DefaultListedWait = 2 * time.Second
	maxListedWait     = 30 * time.Second
)

type (
	listedInput struct {
		Timeout string `query:"timeout" doc:"How long each node is waited for, a Go duration (default 2s, at most 30s)."`
	}
	listedOutput struct{ Body Listing }
)

// RegisterListed adds ListedPath to a handler made by NewHandler;
// protected documents the token requirement (the check itself wraps the
// handler).
func RegisterListed(a huma.API, b ListedBackend, protected bool) {
	var security []map[string][]string
	errs := []int{http.StatusBadRequest}
	if protected {
		errs = append(errs, http.StatusForbidden)
		security = []map[string][]string{{"AxonIQ-Access-Token": {}}}
	}
	huma.Register(a, huma.Operation{
		OperationID: "getListedBy",
		Method:      http.MethodGet,
		Path:        ListedPath,
		Summary:     "Which nodes list this node",
		Description: "Asks every other registered node that is alive, on its internal port and within the timeout, " +
			"whether it lists this node alive, and reports per node. register-node polls it after a join.",
		Tags:     []string{TagPublic},
		Errors:   errs,
		Security: security,
	}, func(ctx context.Context, in *listedInput) (*listedOutput, error) {
		wait := DefaultListedWait
		if in.Timeout != "" {
			d, err := time.ParseDuration(in.Timeout)
			if err != nil || d <= 0 || d > maxListedWait {
				return nil, Errorf(CodeInvalidValue, "query.timeout: %q is not a duration between 0 and %s (such as 2s)", in.Timeout, maxListedWait)
			}
			wait = d
		}
		l := b.Listed(ctx, wait)
		if l.Nodes == nil {
			l.Nodes = []ListedNode{}
		}
		return &listedOutput{Body: l}, nil
	})
}

// Listed asks the node which of its peers list it (GET ListedPath), each
// peer waited for at most wait.
func (c *Client) Listed(ctx context.Context, wait time.Duration) (Listing, error) {
	var l Listing
	err := c.Do(ctx, http.MethodGet, ListedPath+"?timeout="+url.QueryEscape(wait.String()), nil, &l)
	return l, err
}
