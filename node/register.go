package node

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/rpc"
	"github.com/rosterhq/roster/rpc/internalpb"
)

// registerTimeout bounds register-node when the caller sets no deadline.
const registerTimeout = 30 * time.Second

// Register joins this node to the cluster through the node whose internal
// port is at host:port, and returns once this node holds the full member
// list. Failures carry Axon's codes.
func (n *Node) Register(ctx context.Context, host string, port int) error {
	if port == 0 {
		port = 8224
	}
	address := net.JoinHostPort(host, strconv.Itoa(port))
	if n.isSelf(ctx, host, port) {
		return api.Errorf(api.CodeSameNodeName, "%s is this node's own internal address: register-node needs the address of another node (-h)", address)
	}
	if _, err := net.DefaultResolver.LookupIPAddr(ctx, host); net.ParseIP(host) == nil && err != nil {
		return api.Errorf(api.CodeUnknownHost, "unknown host %s: %v", host, shortErr(err))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, registerTimeout)
		defer cancel()
	}
	intro, err := n.cluster.JoinVia(ctx, address, gossip.JoinOptions{Strict: true, Wait: true})
	if err != nil {
		return n.joinError(address, err)
	}
	n.log.Info().Str("via", intro.Name).Str("address", address).Int("members", len(n.cluster.Members())).Msg("node: joined the cluster")
	return nil
}

func (n *Node) joinError(address string, err error) error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		if ae.Code == api.CodeAuthTokenMissing || ae.Code == api.CodeInvalidToken {
			return api.Errorf(api.CodeCannotJoin, "cannot join through %s: it refused this node's internal token (%s: %s)", address, ae.Code, ae.Message)
		}
		return ae
	case errors.Is(err, gossip.ErrNameTaken):
		return api.Errorf(api.CodeSameNodeName, "cannot join through %s: %s", address, errMsg(err))
	case errors.Is(err, gossip.ErrAlreadyMember):
		return api.Errorf(api.CodeAlreadyMember, "%s", errMsg(err))
	case errors.Is(err, gossip.ErrUnregistered):
		return api.Errorf(api.CodeNotAMember, "cannot join through %s: %s", address, errMsg(err))
	case errors.Is(err, gossip.ErrStateNotWritable):
		return api.Errorf(api.CodeInternal, "%s", errMsg(err))
	case errors.Is(err, gossip.ErrExchange):
		return api.Errorf(api.CodeCannotJoin, "cannot join through %s: the gossip exchange failed (%s); both nodes need the same gossip key "+
			"(axoniq.axonserver.cluster.encryption-key, or the keyring.json in axoniq.axonserver.controldb-path, which wins once saved) "+
			"and TCP and UDP open on the internal port", address, lastCause(err))
	}
	if why, ok := tlsFailure(err); ok {
		return api.Errorf(api.CodeCannotJoin, "cannot join through %s: TLS between the nodes failed: %s", address, why)
	}
	if rpc.IsUnavailable(err) {
		return api.Errorf(api.CodeCannotJoin, "cannot join through %s: no roster node answers there (%s)", address, shortErr(err))
	}
	return api.Errorf(api.CodeCannotJoin, "cannot join through %s: %s", address, shortErr(err))
}

// isSelf tells whether host:port is this node's own internal address.
func (n *Node) isSelf(ctx context.Context, host string, port int) bool {
	if port != n.cfg.InternalPort {
		return false
	}
	if host == n.cfg.InternalHost || host == n.cfg.Name {
		return true
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false
	}
	local, _ := net.InterfaceAddrs()
	for _, ip := range ips {
		if ip.IP.IsLoopback() {
			return true
		}
		for _, a := range local {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip.IP) {
				return true
			}
		}
	}
	return false
}

// Unregister removes the named node from the cluster for good. Its
// tombstone is written here first (a failure changes nothing); then a
// live node is told to leave, and runs standalone; then every node is
// told. Concurrent requests for the same node, here or on other nodes,
// answer 200 or 404 (AXONIQ-1301).
func (n *Node) Unregister(ctx context.Context, name string) error {
	if _, ok := n.cluster.Member(name); !ok {
		return api.Errorf(api.CodeNoSuchNode, "no node named %s is registered", name)
	}
	if len(n.cluster.Members()) <= 1 {
		return api.Errorf(api.CodeCannotRemoveLast, "node %s is the last node of the cluster and cannot be removed", name)
	}
	leave := func(m gossip.Member) error {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return n.internal.Leave(lctx, net.JoinHostPort(m.Info.InternalHost, strconv.Itoa(m.Info.InternalPort)),
			&internalpb.LeaveRequest{Name: m.Name, NodeId: m.Info.ID, RequestedBy: n.cfg.Name})
	}
	err := n.cluster.Unregister(name, leave)
	switch {
	case errors.Is(err, gossip.ErrNoSuchMember):
		return api.Errorf(api.CodeNoSuchNode, "no node named %s is registered", name)
	case errors.Is(err, gossip.ErrLastMember):
		return api.Errorf(api.CodeCannotRemoveLast, "node %s is the last node of the cluster and cannot be removed", name)
	case err != nil:
		return api.Errorf(api.CodeInternal, "unregister %s: %s", name, errMsg(err))
	}
	n.log.Info().Str("member", name).Msg("node: unregistered")
	return nil
}

// errMsg drops the package prefixes and the trailing sentinel of a wrapped
// error, for users.
func errMsg(err error) string {
	s := err.Error()
	for _, sentinel := range []error{gossip.ErrAlreadyMember, gossip.ErrNameTaken, gossip.ErrUnregistered, gossip.ErrNoSuchMember, gossip.ErrNotRegistered} {
		s = strings.TrimSuffix(s, ": "+sentinel.Error())
		if strings.HasPrefix(s, sentinel.Error()+": ") && errors.Is(err, sentinel) {
			s = strings.TrimPrefix(s, sentinel.Error()+": ")
		}
	}
	for _, p := range []string{"gossip: ", "node: ", "rpc: "} {
		for len(s) > len(p) && s[:len(p)] == p {
			s = s[len(p):]
		}
	}
	return s
}

// shortErr reduces network errors to their last words ("connection refused").
func shortErr(err error) string {
	if code, msg, ok := rpc.AxonCode(err); ok {
		return code + ": " + msg
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.Err
	}
	return errMsg(err)
}
