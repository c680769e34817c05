package node

import (
	"context"
	"errors"
	"net"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/rpc"
	"github.com/rosterhq/roster/rpc/internalpb"
)

// listedAsking bounds the peers asked at once: every peer at once would
// be a burst on a cluster busy taking in the new node, one after the
// other too slow in a large one.
const listedAsking = 16

// listedBackend is the REST API's "which nodes list this node" check.
type listedBackend struct{ n *Node }

var _ api.ListedBackend = listedBackend{}

func (b listedBackend) Listed(ctx context.Context, wait time.Duration) api.Listing {
	return b.n.listedBy(ctx, wait)
}

// listedBy asks every other registered node that is alive or suspect here,
// on its internal address and within wait, whether it lists this node
// alive. Failed and left nodes are not asked: a join does not wait for
// them.
func (n *Node) listedBy(ctx context.Context, wait time.Duration) api.Listing {
	self := n.cluster.Local()
	out := api.Listing{Name: self.Name, Nodes: []api.ListedNode{}}
	var peers []gossip.Member
	for _, m := range n.cluster.Members() {
		if m.Name != self.Name {
			peers = append(peers, m)
		}
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].Name < peers[j].Name })
	out.Nodes = make([]api.ListedNode, len(peers))
	sem := make(chan struct{}, listedAsking)
	var wg sync.WaitGroup
	for i, m := range peers {
		addr := net.JoinHostPort(m.Info.InternalHost, strconv.Itoa(m.Info.InternalPort))
		out.Nodes[i] = api.ListedNode{Name: m.Name, Address: addr, Status: string(m.Status)}
		if m.Status != gossip.StatusAlive && m.Status != gossip.StatusSuspect {
			out.Nodes[i].State = api.ListedNotAsked
			out.Nodes[i].Message = "not asked: it is " + string(m.Status) + " here"
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			resp, err := n.internal.Lists(actx, addr, &internalpb.ListsRequest{Name: self.Name, NodeId: self.Info.ID})
			out.Nodes[i].State, out.Nodes[i].Message = listedState(resp, err, wait)
		}()
	}
	wg.Wait()
	out.Complete = true
	for _, l := range out.Nodes {
		switch l.State {
		case api.ListedYes, api.ListedNotAsked, api.ListedUnsupported:
		default:
			out.Complete = false
		}
	}
	return out
}

// listedState classifies a peer's answer, or why there was none. Errors
// that waiting does not mend (the peer's name does not resolve, nothing
// listens at its address, TLS or the internal token fail) are
// "unreachable"; the others are "no-answer".
func listedState(resp *internalpb.ListsResponse, err error, wait time.Duration) (state, msg string) {
	if err == nil {
		switch {
		case !resp.GetListed():
			return api.ListedPending, "does not list it yet"
		case resp.GetStatus() != string(gossip.StatusAlive):
			return api.ListedPending, "lists it " + resp.GetStatus()
		}
		return api.ListedYes, ""
	}
	if code, m, ok := rpc.AxonCode(err); ok {
		if code == api.CodeAuthTokenMissing || code == api.CodeInvalidToken {
			return api.ListedUnreachable, "it refused this node's internal token (" + code + ": " + m + ")"
		}
		return api.ListedUnreachable, code + ": " + m
	}
	var (
		dnsErr *net.DNSError
		peer   *rpc.PeerError
	)
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return api.ListedUnreachable, "unknown host " + dnsErr.Name
	case errors.As(err, &dnsErr):
		return api.ListedNoAnswer, "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	case errors.Is(err, syscall.ECONNREFUSED):
		return api.ListedUnreachable, "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return api.ListedUnreachable, "no route to host"
	case errors.Is(err, context.DeadlineExceeded), status.Code(err) == codes.DeadlineExceeded:
		return api.ListedNoAnswer, "no answer within " + wait.String()
	case status.Code(err) == codes.Unimplemented:
		return api.ListedUnsupported, "it runs a roster version without this check"
	case errors.As(err, &peer):
		// The handshake failed: TLS between the nodes.
		if why, ok := tlsFailure(peer.Cause); ok {
			return api.ListedUnreachable, "TLS between the nodes failed: " + why
		}
		return api.ListedUnreachable, shortErr(peer.Cause)
	}
	return api.ListedNoAnswer, shortErr(err)
}
