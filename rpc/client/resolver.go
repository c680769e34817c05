package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
	"google.golang.org/grpc/status"

	"github.com/rosterhq/roster/rpc/rosterpb"
)

// Scheme is the resolver's URI scheme:
// roster:///host1:8124,host2:8124 (the seeds; port 8124 when omitted).
const Scheme = "roster"

// errNoNode is what the resolver reports when no node answers.
var errNoNode = errors.New("client: no node of the cluster answered")

// roundRobin is the resolver's default service config: spread calls over
// every alive node.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// ResolverOptions configure the roster resolver.
type ResolverOptions struct {
	// Credentials secure the resolver's own connections to the nodes, on
	// which it follows membership; nil means plain TCP.
	Credentials credentials.TransportCredentials
	// AccessToken, when set, is sent as AxonIQ-Access-Token on those
	// connections. The channel's own calls need it too:
	// grpc.WithPerRPCCredentials(TokenCredentials(token)).
	AccessToken string
	// DialOptions are added to those connections.
	DialOptions []grpc.DialOption
	// ServiceConfig is the JSON service config the resolver gives the
	// channel; empty means round robin over the alive nodes. It may add a
	// retry policy, for example.
	ServiceConfig string
	// NoServiceConfig gives the channel no service config, leaving it to
	// grpc.WithDefaultServiceConfig (gRPC's default policy is pick_first).
	NoServiceConfig bool
	// FirstAnswerTimeout bounds how long a node may take to start the
	// membership stream before the resolver tries another (default 2s).
	FirstAnswerTimeout time.Duration
}

// NewResolverBuilder returns the roster resolver, to pass to
// grpc.NewClient with grpc.WithResolvers: it resolves
// roster:///seed1,seed2 to the client addresses of the cluster's alive
// nodes and follows membership.
func NewResolverBuilder(opts ResolverOptions) resolver.Builder {
	if opts.Credentials == nil {
		opts.Credentials = insecure.NewCredentials()
	}
	if opts.FirstAnswerTimeout <= 0 {
		opts.FirstAnswerTimeout = 2 * time.Second
	}
	return &builder{opts: opts}
}

// RegisterResolver registers the roster resolver globally, for programs
// that cannot pass grpc.WithResolvers. Call it once, at start-up (gRPC's
// registry is not safe for concurrent registration).
func RegisterResolver(opts ResolverOptions) { resolver.Register(NewResolverBuilder(opts)) }

type builder struct{ opts ResolverOptions }

func (b *builder) Scheme() string { return Scheme }

func (b *builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	var seeds []string
	for _, s := range strings.Split(target.Endpoint(), ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, seedAddress(s))
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("client: target %q names no node: want roster:///host:port[,host:port...]", target.String())
	}
	r := &rosterResolver{
		opts:    b.opts,
		cc:      cc,
		seeds:   seeds,
		members: newMembership(),
		now:     make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if !b.opts.NoServiceConfig {
		js := b.opts.ServiceConfig
		if js == "" {
			js = roundRobin
		}
		r.sc = cc.ParseServiceConfig(js)
		if r.sc.Err != nil {
			return nil, fmt.Errorf("client: resolver service config: %w", r.sc.Err)
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

// rosterResolver follows one node's membership stream at a time and hands
// the alive nodes' addresses to the channel.
type rosterResolver struct {
	opts    ResolverOptions
	cc      resolver.ClientConn
	seeds   []string
	members *membership
	sc      *serviceconfig.ParseResult
	ctx     context.Context
	cancel  context.CancelFunc
	now     chan struct{} // ResolveNow
	done    chan struct{}
	last    []string // addresses last given to the channel (run's goroutine only)
}

func (r *rosterResolver) ResolveNow(resolver.ResolveNowOptions) {
	select {
	case r.now <- struct{}{}:
	default:
	}
}

func (r *rosterResolver) Close() {
	r.cancel()
	<-r.done
}

func (r *rosterResolver) run() {
	defer close(r.done)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	for r.ctx.Err() == nil {
		progressed := false
		var errs []error
		for _, addr := range r.candidates() {
			err := r.follow(addr, &progressed)
			if r.ctx.Err() != nil {
				return
			}
			if status.Code(err) == codes.Unimplemented {
				// Not a roster cluster (an Axon Server): the seeds as given
				// are all there is to know.
				r.push(r.seeds)
				<-r.ctx.Done()
				return
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			if progressed {
				break // start again from the membership just learnt
			}
		}
		if progressed {
			backoff = minBackoff
			continue
		}
		r.cc.ReportError(fmt.Errorf("%w: %w", errNoNode, errors.Join(errs...)))
		t := time.NewTimer(backoff)
		select {
		case <-r.ctx.Done():
		case <-r.now:
		case <-t.C:
		}
		t.Stop()
		backoff = min(backoff*2, maxBackoff)
	}
}

// candidates are the alive nodes last heard of, then the seeds.
func (r *rosterResolver) candidates() []string {
	var out []string
	for _, a := range append(r.members.alive(), r.seeds...) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// followPing and followPingTimeout check the connection under the
// membership stream: a node that stops answering without closing it (a
// paused container, a partition, a powered-off host) would otherwise hold
// the stream, and the resolver's view of the cluster, forever. Pings every
// 10 s (gRPC's least, which roster nodes allow) and 5 s for the answer end
// it within 15 s; the resolver then follows another node.
const followPing, followPingTimeout = 10 * time.Second, 5 * time.Second

// follow reads addr's membership stream until it ends.
func (r *rosterResolver) follow(addr string, progressed *bool) error {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(r.opts.Credentials), grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: followPing, Timeout: followPingTimeout})},
		tokenOption(r.opts.AccessToken)...)
	conn, err := grpc.NewClient("passthrough:///"+addr, append(opts, r.opts.DialOptions...)...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	timer := time.AfterFunc(r.opts.FirstAnswerTimeout, cancel)
	defer timer.Stop()
	stream, err := rosterpb.NewClusterServiceClient(conn).WatchMembership(ctx, &rosterpb.WatchMembershipRequest{})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		timer.Stop()
		*progressed = true
		r.members.apply(ev)
		r.push(r.members.alive())
	}
}

// push gives the channel addrs when they changed.
func (r *rosterResolver) push(addrs []string) {
	if len(addrs) == 0 || slices.Equal(addrs, r.last) {
		return
	}
	r.last = addrs
	st := resolver.State{ServiceConfig: r.sc}
	for _, a := range addrs {
		st.Addresses = append(st.Addresses, resolver.Address{Addr: a})
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	_ = r.cc.UpdateState(st) // an error is the balancer's, reported by it
}
