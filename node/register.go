package node

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/node/portprobe"
	"github.com/rosterhq/roster/rpc"
	"github.com/rosterhq/roster/rpc/internalpb"
)

// registerTimeout bounds register-node when the caller sets no deadline.
const registerTimeout = 30 * time.Second

// Register joins this node to the cluster through the node whose internal
// port is at host:port, and returns once this node holds the full member
// list. Failures carry Axon's codes: an address of this node itself, in
// any form, is AXONIQ-2500; another node's HTTP or client gRPC port is
// named as such, with the port to use.
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
	intro, err := n.cluster.JoinVia(ctx, address, gossip.JoinOptions{Mode: gossip.JoinRegister})
	if err != nil {
		return n.joinError(ctx, address, err)
	}
	n.log.Info().Str("via", intro.Name).Str("address", address).Int("members", len(n.cluster.Members())).Msg("node: joined the cluster")
	return nil
}

func (n *Node) joinError(ctx context.Context, address string, err error) error {
	var ae *api.Error
	switch {
	case errors.Is(err, errJoinedSelf):
		return api.Errorf(api.CodeSameNodeName, "%s is an address of this node itself: register-node needs the internal address of another node (-h)", address)
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
		return api.Errorf(api.CodeInternal, "%s (the data directory is %s)", errMsg(err), keyControlDBPath)
	case errors.Is(err, gossip.ErrExchange):
		return api.Errorf(api.CodeCannotJoin, "cannot join through %s: the gossip exchange failed (%s); both nodes need the same gossip key "+
			"(axoniq.axonserver.cluster.encryption-key, or the keyring.json in axoniq.axonserver.controldb-path, which wins once saved) "+
			"and TCP and UDP open on the internal port", address, lastCause(err))
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) {
		return api.Errorf(api.CodeCannotJoin, "cannot join through %s: no roster node answers there (%s)", address, shortErr(err))
	}
	if why, ok := n.wrongPort(ctx, address); ok {
		return api.Errorf(api.CodeCannotJoin, "cannot join through %s: %s", address, why)
	}
	if why, ok := tlsFailure(err); ok {
		return api.Errorf(api.CodeCannotJoin, "cannot join through %s: TLS between the nodes failed: %s", address, why)
	}
	if rpc.IsUnavailable(err) {
		return api.Errorf(api.CodeCannotJoin, "cannot join through %s: no roster node answers there (%s)", address, shortErr(err))
	}
	return api.Errorf(api.CodeCannotJoin, "cannot join through %s: %s", address, shortErr(err))
}

// wrongPortProbe bounds the look at a join address that did not answer as
// an internal port.
const wrongPortProbe = 3 * time.Second

// wrongPort looks at what answers at address after a join through it
// failed, and says so when it is not a roster node's internal port, or
// when that port's TLS is not this node's: the port to use when the node
// there tells it (its HTTP port's /v1/public/me, its client port's
// ListNodes, read with this node's access token).
func (n *Node) wrongPort(ctx context.Context, address string) (string, bool) {
	// With TLS on, the token never travels in plain text.
	opts := portprobe.Options{Timeout: wrongPortProbe, TokenOverTLSOnly: n.tls != nil}
	if n.cfg.AccessControl.Enabled {
		opts.Token = n.cfg.AccessControl.Token
	}
	if n.tls != nil {
		opts.TLS = n.tls.internalClientConfig(n.peerNames(address))
	}
	r, err := portprobe.Probe(context.WithoutCancel(ctx), address, opts)
	if err != nil {
		return "", false
	}
	tlsHere := n.tls != nil
	use := "give the node's internal port (" + portprobe.InternalPortKey + ", 8224 by default)"
	if s := r.Suggest(portprobe.Internal); s != "" {
		_, p, _ := net.SplitHostPort(s)
		use = "use port " + p + " (" + r.Node.Name + "'s " + portprobe.InternalPortKey + "; -p with register-node)"
	}
	switch r.Kind {
	case portprobe.HTTP, portprobe.ClientGRPC:
		return "that is " + r.What() + ", not its internal port: " + use, true
	case portprobe.GRPC:
		return "that is " + r.What() + ": " + use, true
	case portprobe.Internal:
		switch {
		case r.TLS && !tlsHere:
			return "the node there requires TLS (axoniq.axonserver.ssl.enabled=true there) and this node has axoniq.axonserver.ssl.enabled=false: " +
				"both nodes need axoniq.axonserver.ssl.enabled alike", true
		case !r.TLS && tlsHere:
			return "the node there does not speak TLS (axoniq.axonserver.ssl.enabled=false there) and this node has axoniq.axonserver.ssl.enabled=true: " +
				"both nodes need axoniq.axonserver.ssl.enabled alike", true
		}
		return "", false
	}
	if r.ClientCertRequired && !tlsHere {
		return "the node there requires TLS with client certificates and this node has axoniq.axonserver.ssl.enabled=false: " +
			"both nodes need axoniq.axonserver.ssl.enabled alike", true
	}
	if r.Kind == portprobe.Unknown && !r.TLS {
		return "that is " + r.What() + ": " + use, true
	}
	return "", false
}

// isSelf tells whether host:port is this node's own internal address: one
// of its names, or an address that reaches it (unspecified, loopback, or
// one of this machine's, where the node listens on it). A name that
// resolves elsewhere but still leads here (NAT, a Service) is found by the
// node's own answer instead (errJoinedSelf).
func (n *Node) isSelf(ctx context.Context, host string, port int) bool {
	if port != n.cfg.InternalPort {
		return false
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, own := range []string{n.cfg.InternalHost, n.cfg.ClientHost, n.cfg.Name} {
		if own != "" && h == strings.ToLower(own) {
			return true
		}
	}
	var ips []net.IP
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		ips = []net.IP{ip}
	} else if addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host); err == nil {
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	bind := net.ParseIP(n.cfg.BindAddress)
	anyBind := bind == nil || bind.IsUnspecified()
	local, _ := net.InterfaceAddrs()
	for _, ip := range ips {
		switch {
		case ip.IsUnspecified():
			// Connecting to 0.0.0.0 or :: reaches this machine.
			if anyBind || bind.IsLoopback() {
				return true
			}
		case !anyBind:
			if ip.Equal(bind) {
				return true
			}
		case ip.IsLoopback():
			return true
		default:
			for _, a := range local {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip) {
					return true
				}
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

// lastCause is the innermost words of an error that may span lines (serf's
// multierror): "remote state is encrypted and encryption is not configured".
func lastCause(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
