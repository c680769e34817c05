package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/soheilhy/cmux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rosterhq/roster/gossip"
	"github.com/rosterhq/roster/internal/connlimit"
	"github.com/rosterhq/roster/rpc"
)

// Version is roster's version, advertised to peers and clients.
const Version = "0.1.0"

// Options are the parts of a node that are not configuration.
type Options struct {
	// Logger receives every log line; the zero value logs nothing.
	Logger zerolog.Logger
	// Metrics receives the node's metrics; nil creates a registry.
	Metrics *prometheus.Registry
}

// Node is one running roster node.
type Node struct {
	cfg     Config
	log     zerolog.Logger
	metrics *prometheus.Registry

	ls           *listeners
	conns        struct{ http, grpc, internal *connlimit.Listener } // the ports' connection caps
	cluster      *gossip.Cluster
	internal     *rpc.InternalClient
	internalGRPC *grpc.Server
	clientGRPC   *grpc.Server
	grpcMetrics  *grpcMetrics
	clients      *clientServices
	tls          *tlsSetup // nil without axoniq.axonserver.ssl.enabled
	health       *health.Server
	http         *http.Server

	ready    chan struct{}
	done     chan struct{}
	errc     chan error // the first server loop that ended unexpectedly
	stopping atomic.Bool
	stopOnce sync.Once
	bg       sync.WaitGroup
	bgStop   chan struct{}
}

// New validates cfg and prepares a node; it opens no socket.
func New(cfg Config, opts Options) (*Node, error) {
	if cfg.ClientHost == "" || cfg.InternalHost == "" || cfg.Name == "" {
		if _, err := cfg.ResolveHosts(nil); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.checkGossipKey(); err != nil {
		return nil, err
	}
	reg := opts.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Node{
		cfg:     cfg,
		log:     opts.Logger.With().Str("node", cfg.Name).Logger(),
		metrics: reg,
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
		errc:    make(chan error, 1),
		bgStop:  make(chan struct{}),
	}, nil
}

// Start creates and starts a node: etcd's embed.StartEtcd in spirit.
func Start(ctx context.Context, cfg Config, opts Options) (*Node, error) {
	n, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// Start binds the three ports, loads the cluster state, starts gossip and
// the servers. On error everything started is stopped again.
func (n *Node) Start(ctx context.Context) (err error) {
	ls, err := openListeners(n.cfg)
	if err != nil {
		return err
	}
	n.ls = ls
	defer func() {
		if err != nil {
			n.Kill()
		}
	}()
	// Advertise the ports actually bound (they differ when configured as 0).
	n.cfg.HTTPPort, n.cfg.Port = port(ls.http), port(ls.grpc)
	n.cfg.InternalPort = port(ls.internalTCP)
	if err := n.limitListeners(ls); err != nil {
		return err
	}
	if err := n.setupTLS(ls); err != nil {
		return err
	}
	ls.split(ls.internalTCP, n.cfg.Limits.InternalReadTimeout)

	ip, err := advertiseIP(ctx, n.cfg.InternalHost, n.cfg.BindAddress)
	if err != nil {
		return err
	}
	profile, err := gossip.ProfileByName(n.cfg.Cluster.GossipProfile)
	if err != nil {
		return fmt.Errorf("node: axoniq.axonserver.cluster.gossip-profile: %w", err)
	}
	var keys [][]byte
	if n.cfg.Cluster.EncryptionKey != "" {
		k, err := base64.StdEncoding.DecodeString(n.cfg.Cluster.EncryptionKey)
		if err != nil {
			return fmt.Errorf("node: axoniq.axonserver.cluster.encryption-key: %w", err)
		}
		keys = [][]byte{k}
	}
	tags, err := n.cfg.tagSet()
	if err != nil {
		return err
	}
	n.internal = &rpc.InternalClient{Token: n.internalToken(), Creds: n.internalCredentials()}
	n.cluster, err = gossip.New(gossip.Config{
		Name:        n.cfg.Name,
		ClusterName: n.cfg.Cluster.Name,
		Info: gossip.NodeInfo{
			ClientHost:   n.cfg.ClientHost,
			GRPCPort:     n.cfg.Port,
			HTTPPort:     n.cfg.HTTPPort,
			InternalHost: n.cfg.InternalHost,
			InternalPort: n.cfg.InternalPort,
			Version:      Version,
			NodeTags:     tags,
			Boot:         strconv.FormatInt(time.Now().UnixNano(), 36),
		},
		DataDir:       n.cfg.ControlDBPath,
		Profile:       profile,
		Packets:       ls.internalUDP,
		Streams:       ls.gossipTCP,
		Dialer:        n.gossipDialer(),
		AdvertiseIP:   ip,
		AdvertisePort: n.cfg.InternalPort,
		Keys:          keys,
		KeysSetting:   propEncryptionKey,
		Introducer:    introducer{n: n},
		Tombstones:    gossip.TombstoneLimits{TTL: n.cfg.Cluster.TombstoneTTL, Max: n.cfg.Cluster.TombstoneMax},
		Places:        n.places,
		Logger:        n.log,
		Registerer:    n.metrics,
		Limits:        gossip.Limits{MaxStreams: n.cfg.Cluster.MaxGossipStreams, MaxNodes: n.cfg.Cluster.MaxGossipNodes},
	})
	if err != nil {
		return settingsError(err)
	}

	if err := n.setupMetrics(); err != nil {
		return err
	}
	n.internalGRPC = grpc.NewServer(n.internalServerOptions()...)
	rpc.RegisterInternal(n.internalGRPC, internalBackend{n: n})

	n.clientGRPC = grpc.NewServer(n.clientServerOptions()...)
	if err := n.registerClientServices(); err != nil {
		return err
	}
	n.http = n.httpServer()

	n.serve("internal grpc", func() error { return n.internalGRPC.Serve(ls.internalRPC) })
	n.serve("internal mux", ls.mux.Serve)
	if err := n.cluster.Start(); err != nil {
		return err
	}
	n.serve("client grpc", func() error { return n.clientGRPC.Serve(ls.grpc) })
	n.serve("http", func() error { return n.http.Serve(ls.http) })

	if n.cfg.AutoclusterFirst != "" {
		n.bg.Add(1)
		go n.autocluster()
	}
	n.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	n.bg.Add(1)
	go n.followHealth()
	n.log.Info().
		Str("http", n.HTTPAddr()).Str("grpc", n.GRPCAddr()).Str("internal", n.InternalAddr()).
		Str("gossip", net.JoinHostPort(ip.String(), strconv.Itoa(n.cfg.InternalPort))).
		Str("client_host", n.cfg.ClientHost).Str("internal_host", n.cfg.InternalHost).
		Str("cluster", n.cfg.Cluster.Name).Str("profile", profile.Name).Int("members", len(n.cluster.Members())).
		Msg("node: started")
	close(n.ready)
	return nil
}

// serve runs a server loop. Only Stop and Kill end one; any other end is
// the node failing: it is logged and reported on Err.
func (n *Node) serve(what string, f func() error) {
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		err := f()
		if n.stopping.Load() {
			return
		}
		if err == nil || isClosedErr(err) {
			err = fmt.Errorf("its listener was closed (%v)", err)
		}
		err = fmt.Errorf("node: %s server stopped: %w", what, err)
		n.log.Error().Err(err).Str("server", what).Msg("node: server stopped; the node no longer serves on that port")
		select {
		case n.errc <- err:
		default: // the first failure is the one reported
		}
	}()
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) ||
		errors.Is(err, cmux.ErrServerClosed) || errors.Is(err, cmux.ErrListenerClosed)
}

// Err receives the error of the first server loop (HTTP, client gRPC,
// internal gRPC, the internal port's multiplexer) that ended while the
// node was not stopping: the node no longer serves on that port, and its
// owner should stop it (roster server does, and exits non-zero). As
// etcd's embed.Etcd.Err.
func (n *Node) Err() <-chan error { return n.errc }

func (n *Node) internalToken() string {
	if !n.cfg.AccessControl.Enabled {
		return ""
	}
	if n.cfg.AccessControl.InternalToken != "" {
		return n.cfg.AccessControl.InternalToken
	}
	return n.cfg.AccessControl.Token
}

// Ready is closed once the node serves on all its ports.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Done is closed once the node has stopped.
func (n *Node) Done() <-chan struct{} { return n.done }

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Config is the node's configuration, with the ports actually bound.
func (n *Node) Config() Config { return n.cfg }

// HTTPAddr, GRPCAddr and InternalAddr are the bound addresses.
func (n *Node) HTTPAddr() string     { return n.ls.http.Addr().String() }
func (n *Node) GRPCAddr() string     { return n.ls.grpc.Addr().String() }
func (n *Node) InternalAddr() string { return n.ls.internalTCP.Addr().String() }

// Stop leaves the cluster gracefully (peers show this node left at once)
// and stops the servers, within ctx's deadline. The node stays registered.
// Safe to call twice.
func (n *Node) Stop(ctx context.Context) error {
	var err error
	n.stopOnce.Do(func() {
		n.stopping.Store(true)
		if n.health != nil {
			n.health.Shutdown()
		}
		// Clients move before the leave, so rolling restarts lose none;
		// membership is still followed meanwhile, so that they are sent to
		// nodes alive now.
		n.drainClients(ctx)
		close(n.bgStop)
		if n.cluster != nil {
			if lerr := n.cluster.Leave(); lerr != nil {
				n.log.Warn().Err(lerr).Msg("node: leave")
			}
		}
		if n.http != nil {
			if serr := n.http.Shutdown(ctx); serr != nil {
				_ = n.http.Close()
			}
		}
		n.stopGRPC(ctx)
		err = n.teardown()
		n.log.Info().Msg("node: stopped")
	})
	<-n.done
	return err
}

func (n *Node) stopGRPC(ctx context.Context) {
	for _, s := range []*grpc.Server{n.clientGRPC, n.internalGRPC} {
		if s == nil {
			continue
		}
		stopped := make(chan struct{})
		go func() { s.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.Stop()
		}
	}
}

// Kill stops the node at once without telling its peers, as a crash would
// (they detect it failed). For tests and failed starts.
func (n *Node) Kill() {
	n.stopOnce.Do(func() {
		n.stopping.Store(true)
		close(n.bgStop)
		if n.http != nil {
			_ = n.http.Close()
		}
		for _, s := range []*grpc.Server{n.clientGRPC, n.internalGRPC} {
			if s != nil {
				s.Stop()
			}
		}
		_ = n.teardown()
	})
	<-n.done
}

func (n *Node) teardown() error {
	var err error
	if n.cluster != nil {
		err = n.cluster.Shutdown()
	}
	if n.ls != nil {
		n.ls.close()
	}
	n.bg.Wait()
	close(n.done)
	return err
}
