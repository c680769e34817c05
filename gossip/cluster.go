package gossip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Errors callers map to Axon's codes.
var (
	ErrNameTaken     = errors.New("gossip: the name is used by another live node")
	ErrUnregistered  = errors.New("gossip: this node was unregistered from the cluster")
	ErrNoSuchMember  = errors.New("gossip: no such member")
	ErrLastMember    = errors.New("gossip: cannot remove the last node")
	ErrWrongNode     = errors.New("gossip: another node answers at that address")
	ErrClosed        = errors.New("gossip: cluster is shut down")
	ErrClusterName   = errors.New("gossip: the node belongs to a cluster with another name")
	ErrAlreadyMember = errors.New("gossip: already a member of that cluster")
	ErrExiled        = errors.New("gossip: unregistered from that cluster")
	// ErrNotRegistered is a rejoin refused by a node that does not have
	// the caller registered (Admit).
	ErrNotRegistered = errors.New("gossip: not registered on that node")
	// ErrStateNotWritable is a command refused, or not recorded, because
	// the data directory does not take writes (full, read-only).
	ErrStateNotWritable = errors.New("gossip: cannot write the cluster state")
)

// DataDirError is a data directory that holds the state of another
// cluster or another node than the one New was asked to run. For another
// cluster it is ErrClusterName for errors.Is.
type DataDirError struct {
	Dir string
	// Of is what differs: "cluster" (its name) or "node" (its name).
	Of         string
	Saved      string // the name the directory holds
	Configured string // the name New was given
}

func (e *DataDirError) Error() string {
	msg := fmt.Sprintf("gossip: %s holds the state of %s %q, but this %s is %q", e.Dir, e.Of, e.Saved, e.Of, e.Configured)
	if e.Of == "node" {
		msg += "; use another data directory for another node"
	}
	return msg
}

func (e *DataDirError) Unwrap() error {
	if e.Of == "cluster" {
		return ErrClusterName
	}
	return nil
}

// Introduction is what a contact tells a node before it joins.
type Introduction struct {
	Name       string
	NodeID     string
	Members    []Member
	Tombstones []Tombstone
}

// Introducer asks the node at address (host:port of its internal port)
// whether self may join, and for its registry; returning says self has
// been away from its cluster for half the tombstone TTL or more (the
// contact decides with Admit). Package node implements it over the
// internal gRPC service.
type Introducer interface {
	Introduce(ctx context.Context, address string, self Member, returning bool) (Introduction, error)
}

// Config configures a Cluster.
type Config struct {
	Name        string
	ClusterName string
	// Info is advertised to other nodes; its ID is filled from the data
	// directory.
	Info    NodeInfo
	DataDir string
	Profile Profile
	// Packets and Streams are the node's internal port: its UDP socket and
	// the TCP connections recognised as gossip.
	Packets net.PacketConn
	Streams net.Listener
	Dialer  Dialer
	// AdvertiseIP and AdvertisePort are this node's gossip address as
	// others reach it.
	AdvertiseIP   net.IP
	AdvertisePort int
	// Keys is the gossip keyring (first key used for sending); empty means
	// gossip is not encrypted. A keyring saved in DataDir wins.
	Keys [][]byte
	// KeysSetting names the setting Keys came from, for the warning (shown
	// by every node's keyring report) when the saved keyring differs; "the
	// configured key" when empty.
	KeysSetting string
	Introducer  Introducer
	// Tombstones bounds the unregistered nodes remembered; zero values
	// take DefaultTombstoneLimits'.
	Tombstones TombstoneLimits
	// Places, when set, reports whether this node places clients on the
	// named member; it answers peers' placement queries
	// (placementquery.go). Nil: the registry shows the member alive and
	// not draining.
	Places func(member string) bool
	Logger zerolog.Logger
	// Registerer receives this package's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Limits bound what gossip input from the network can make the node
	// hold; zero fields take the defaults.
	Limits Limits
	// NoSerfSnapshot runs serf without its snapshot file, which keeps its
	// Lamport clocks across restarts: for simulations of many nodes in one
	// process, where each snapshot's writer wakes twice a second.
	NoSerfSnapshot bool
}

// Cluster is a node's membership: a serf instance plus the registry of
// registered members, their persistence and the background rejoin.
type Cluster struct {
	cfg     Config
	log     zerolog.Logger
	metrics *metrics
	reg     *registry
	bus     *broadcaster
	tr      *transport
	keyWarn string
	keysMu  sync.Mutex // one key operation at a time (keys.go)
	// backupMu guards backupOf, the keyring file as it was when last
	// copied to its backup, and is held while copying it (keyring.go).
	backupMu sync.Mutex
	backupOf os.FileInfo
	// rejoinMu is held for each background rejoin attempt, so that a
	// node leaving waits for the one in flight (rejoin.go).
	rejoinMu sync.Mutex
	// standaloneMu makes becomeStandalone run once at a time.
	standaloneMu sync.Mutex
	// fanouts counts the joins announcing this node to every member at
	// once (pushPullMembers); the merge delegate skips whole states then.
	fanouts atomic.Int32
	// lastConnected is when this node last had a live registered peer
	// (Unix nanoseconds; from the data directory at start).
	lastConnected atomic.Int64

	infoMu sync.Mutex // held while info changes and is gossiped (placementquery.go)

	mu      sync.Mutex
	serf    *serf.Serf
	keyring *memberlist.Keyring // nil without encryption; serf changes it in place
	info    NodeInfo
	stop    chan struct{} // closed to stop the loops of the current serf
	loops   sync.WaitGroup
	rejoin  rejoinState
	// rejoinCancel cancels the background rejoin's attempt in flight
	// (leaving, shutting down; rejoin.go).
	rejoinCtx    context.Context
	rejoinCancel context.CancelFunc
	started      bool
	closed       bool
	leaving      bool
	// gossipErr is why gossip could not start again after this node left
	// its cluster (becomeStandalone); nil while it runs.
	gossipErr error
	// movedFrom is the gossip address the data directory recorded for this
	// node when it differs from the one it starts with; reclaimLoop runs
	// once for it.
	movedFrom string

	persistStop chan struct{} // closed by Shutdown: registry.persist writes the rest and ends
	persistDone chan struct{}
}

// infinity keeps serf from ever forgetting a failed or left member: only
// unregistering removes one.
const infinity = 100 * 365 * 24 * time.Hour

// New loads the node's cluster state from cfg.DataDir and prepares the
// cluster; it starts no network activity.
func New(cfg Config) (*Cluster, error) {
	if cfg.Name == "" || cfg.ClusterName == "" {
		return nil, fmt.Errorf("gossip: node name and cluster name are required")
	}
	if cfg.Packets == nil || cfg.Streams == nil {
		return nil, fmt.Errorf("gossip: packet conn and stream listener are required")
	}
	if cfg.Profile.Name == "" {
		p, _ := ProfileByName("lan")
		cfg.Profile = p
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("gossip: data directory: %w", err)
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, bus: newBroadcaster()}
	st, warn, err := store{dir: cfg.DataDir}.load()
	switch {
	case errors.Is(err, errNoState):
		st = state{Cluster: cfg.ClusterName, Name: cfg.Name, NodeID: newNodeID()}
	case err != nil:
		return nil, err
	case st.Cluster != cfg.ClusterName:
		return nil, &DataDirError{Dir: cfg.DataDir, Of: "cluster", Saved: st.Cluster, Configured: cfg.ClusterName}
	case st.Name != cfg.Name:
		return nil, &DataDirError{Dir: cfg.DataDir, Of: "node", Saved: st.Name, Configured: cfg.Name}
	}
	if warn != "" {
		c.log.Warn().Msg(warn)
	}
	c.info = cfg.Info
	c.info.ID = st.NodeID
	if err := c.info.CheckMetaSize(); err != nil {
		return nil, err
	}
	c.reg = newRegistry(store{dir: cfg.DataDir}, st, time.Now)
	if cfg.Tombstones.TTL > 0 {
		c.reg.limits.TTL = cfg.Tombstones.TTL
	}
	if cfg.Tombstones.Max > 0 {
		c.reg.limits.Max = cfg.Tombstones.Max
	}
	if cfg.Profile.PersistDelay > 0 {
		c.reg.delay = cfg.Profile.PersistDelay
	}
	c.reg.prune()
	if !st.LastSeen.IsZero() {
		c.lastConnected.Store(st.LastSeen.UnixNano())
	}
	c.metrics, err = newMetrics(cfg.Registerer, c.reg.counts)
	if err != nil {
		return nil, fmt.Errorf("gossip: register metrics: %w", err)
	}
	// Peers last seen alive are unconfirmed until gossip hears from them.
	for _, m := range c.reg.list() {
		if m.Name != cfg.Name && m.Status == StatusAlive {
			c.reg.setStatus(m.Name, StatusSuspect)
		}
	}
	if prev, ok := c.reg.get(cfg.Name); ok && prev.Addr != "" && prev.Addr != c.advertiseAddr() && len(c.reg.list()) > 1 {
		c.movedFrom = prev.Addr
	}
	c.reg.observe(cfg.Name, c.info, c.advertiseAddr(), StatusAlive)
	// A data directory that cannot be written stops the start here.
	if err := c.reg.flush(); err != nil {
		return nil, err
	}
	c.persistStop, c.persistDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.persistDone)
		c.reg.persist(c.persistStop, newWriteReporter(c.log).report)
	}()
	return c, nil
}

// writeReporter logs the outcome of the registry's background writes: the
// first failure, a different failure, the same failure once a minute while
// it lasts, and the recovery.
type writeReporter struct {
	log    zerolog.Logger
	last   string
	logged time.Time
}

func newWriteReporter(log zerolog.Logger) *writeReporter { return &writeReporter{log: log} }

func (w *writeReporter) report(err error) {
	if err == nil {
		w.log.Info().Msg("gossip: the cluster state is written again")
		w.last = ""
		return
	}
	if err.Error() == w.last && time.Since(w.logged) < time.Minute {
		return
	}
	w.last, w.logged = err.Error(), time.Now()
	w.log.Error().Err(err).Msg("gossip: cannot write the cluster state to the data directory; changes are kept in memory and written as soon as it works (health is DOWN until then)")
}

// Condition is how this node's membership layer is doing, for health.
type Condition struct {
	// Disk is the last failure to write the data directory
	// (Config.DataDir); nil once a write succeeds.
	// Writes are retried every second and the directory is probed every
	// few seconds when nothing needs writing.
	Disk error
	// Gossip says why gossip is not running; nil while it runs.
	Gossip error
}

// Condition reports the faults that make this node unhealthy.
func (c *Cluster) Condition() Condition {
	c.mu.Lock()
	g := c.gossipErr
	c.mu.Unlock()
	return Condition{Disk: c.reg.writeFault(), Gossip: g}
}

func newNodeID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Cluster) advertiseAddr() string {
	return net.JoinHostPort(c.cfg.AdvertiseIP.String(), strconv.Itoa(c.cfg.AdvertisePort))
}

func (c *Cluster) snapshotPath() string { return filepath.Join(c.cfg.DataDir, "serf.snapshot") }

// KeyringPath is where the gossip keyring is kept once it exists.
func (c *Cluster) KeyringPath() string { return filepath.Join(c.cfg.DataDir, keyringFileName) }

// Start starts gossip on the node's sockets and the background rejoin of
// registered members.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.started {
		return nil
	}
	c.tr = newTransport(transportConfig{packets: c.cfg.Packets, streams: c.cfg.Streams, dial: c.cfg.Dialer, label: c.cfg.ClusterName,
		timeout: c.cfg.Profile.TCPTimeout, compress: c.cfg.Profile.Compression, limits: c.cfg.Limits, known: c.knownNodes, log: c.log, metrics: c.metrics})
	// A node restarted after it was unregistered stays deaf to its
	// former cluster until it joins one.
	c.tr.deaf.Store(c.reg.exiledAlone())
	if err := c.startSerfLocked(); err != nil {
		c.tr.close()
		return err
	}
	c.started = true
	return nil
}

func (c *Cluster) startSerfLocked() error {
	mc := memberlist.DefaultLANConfig()
	sc := serf.DefaultConfig()
	c.cfg.Profile.apply(mc, sc)
	mc.Name = c.cfg.Name
	mc.Transport = &shim{t: c.tr, advertiseIP: c.cfg.AdvertiseIP, advertisePort: c.cfg.AdvertisePort}
	mc.AdvertiseAddr = c.cfg.AdvertiseIP.String()
	mc.AdvertisePort = c.cfg.AdvertisePort
	mc.Label = c.cfg.ClusterName
	mc.SkipInboundLabelCheck = true // the transport checks it, and counts
	// A node that comes back at a new address takes its place as soon as
	// its old incarnation is dead.
	mc.DeadNodeReclaimTime = time.Nanosecond
	stdLog := newStdLogger(c.log, c.metrics, c.tr.badLog)
	mc.Logger = stdLog
	keyring, err := c.keyringLocked()
	if err != nil {
		return err
	}
	mc.Keyring = keyring
	c.keyring = keyring
	c.tr.serve(keyring)
	if keyring != nil {
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}

	events := make(chan serf.Event, 1024)
	sc.NodeName = c.cfg.Name
	sc.Tags = c.info.Tags()
	sc.EventCh = events
	sc.MemberlistConfig = mc
	sc.Logger = stdLog
	if !c.cfg.NoSerfSnapshot {
		sc.SnapshotPath = c.prepareSnapshot()
	}
	sc.RejoinAfterLeave = true
	// Every rejoin goes through an introduction (rejoin.go), which the
	// contact refuses when it no longer has this node registered (Admit);
	// serf's reconnect would join failed members straight through gossip.
	sc.ReconnectInterval = infinity
	sc.ReconnectTimeout = infinity
	sc.TombstoneTimeout = infinity
	sc.CoalescePeriod, sc.QuiescentPeriod = 0, 0
	sc.UserCoalescePeriod, sc.UserQuiescentPeriod = 0, 0
	// Name conflicts are refused before joining (Introduce) and by the
	// merge delegate; serf's own resolution would shut down a node that
	// restarted at a new address while its old incarnation still looked
	// alive.
	sc.EnableNameConflictResolution = false
	// memberlist's merge and alive delegate, set here rather than as serf's
	// Config.Merge (merge.go says why); serf leaves them alone then.
	md := &mergeDelegate{c: c}
	mc.Merge, mc.Alive = md, md
	if keyring != nil {
		sc.KeyringFile = c.KeyringPath()
	}
	s, err := serf.Create(sc)
	if err != nil {
		return fmt.Errorf("gossip: start serf: %w", err)
	}
	c.serf = s
	c.tr.useMemberlist(s.Memberlist())
	c.stop = make(chan struct{})
	c.rejoinCtx, c.rejoinCancel = context.WithCancel(context.Background())
	c.loops.Add(3)
	go c.handleEvents(events, c.stop)
	go c.pollStatuses(s, c.stop)
	go c.rejoinLoop(c.stop)
	if c.movedFrom != "" {
		c.loops.Add(1)
		go c.reclaimLoop(c.stop, c.movedFrom)
		c.movedFrom = ""
	}
	return nil
}

// current returns the running serf, or ErrClosed.
func (c *Cluster) current() (*serf.Serf, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.serf == nil {
		return nil, ErrClosed
	}
	return c.serf, nil
}

// Local is this node as the registry holds it.
func (c *Cluster) Local() Member {
	m, _ := c.reg.get(c.cfg.Name)
	return m
}

// Members lists every registered member, sorted by name.
func (c *Cluster) Members() []Member { return c.reg.list() }

// Member returns one registered member.
func (c *Cluster) Member(name string) (Member, bool) { return c.reg.get(name) }

// Tombstones lists the unregistered nodes this node knows of.
func (c *Cluster) Tombstones() []Tombstone { return c.reg.tombstoneList() }

// Subscribe returns membership events as they happen. The channel closes
// when the subscriber falls behind by more than buffer events, or at
// shutdown; cancel releases it.
func (c *Cluster) Subscribe(buffer int) (<-chan Event, func()) { return c.bus.subscribe(buffer) }

// Profile is the gossip profile in use.
func (c *Cluster) Profile() Profile { return c.cfg.Profile }

func (c *Cluster) publish(ev Event, changed bool) {
	if !changed {
		return
	}
	c.metrics.events.WithLabelValues(string(ev.Type)).Inc()
	l := c.log.Info()
	if ev.Type == EventFail || ev.Type == EventSuspect {
		l = c.log.Warn()
	}
	l.Str("member", ev.Member.Name).Str("status", string(ev.Member.Status)).Str("addr", ev.Member.Addr).Msg("gossip: member " + string(ev.Type))
	c.bus.publish(ev)
}

func serfStatus(s serf.MemberStatus) (Status, bool) {
	switch s {
	case serf.StatusAlive:
		return StatusAlive, true
	case serf.StatusFailed:
		return StatusFailed, true
	case serf.StatusLeft, serf.StatusLeaving:
		return StatusLeft, true
	}
	return "", false
}

// observeMember records one serf member in the registry.
func (c *Cluster) observeMember(m serf.Member, status Status) {
	if m.Name == c.cfg.Name {
		return
	}
	info, err := DecodeTags(m.Tags)
	if err != nil {
		c.log.Warn().Err(err).Str("member", m.Name).Msg("gossip: ignoring member with unreadable metadata")
		return
	}
	addr := net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))
	ev, changed := c.reg.observe(m.Name, info, addr, status)
	c.publish(ev, changed)
}

func (c *Cluster) handleEvents(events <-chan serf.Event, stop <-chan struct{}) {
	defer c.loops.Done()
	for {
		select {
		case <-stop:
			return
		case e := <-events:
			switch ev := e.(type) {
			case serf.MemberEvent:
				for _, m := range ev.Members {
					switch ev.Type {
					case serf.EventMemberJoin, serf.EventMemberUpdate:
						c.observeMember(m, StatusAlive)
					case serf.EventMemberFailed:
						c.observeMember(m, StatusFailed)
					case serf.EventMemberLeave:
						c.observeMember(m, StatusLeft)
					case serf.EventMemberReap:
						// Only unregistering removes a member; its tombstone
						// travels as a user event.
						c.log.Debug().Str("member", m.Name).Msg("gossip: serf reaped member")
					}
				}
			case *serf.Query:
				switch ev.Name {
				case keyringQuery:
					c.answerKeyring(ev)
				case placementQuery:
					c.answerPlacement(ev, stop)
				}
			case serf.UserEvent:
				if ev.Name == unregisterEvent {
					c.onUnregisterEvent(ev.Payload)
				}
			}
		}
	}
}

// pollStatuses samples memberlist's suspect states, which serf reports no
// event for, and now and then reconciles the registry with serf's member
// list in case an event was missed. The sampling reads memberlist's node
// list, which is pointers; serf's list copies every member with its tags,
// and doing that four times a second on every node cost more than the
// probing itself at a few hundred nodes.
func (c *Cluster) pollStatuses(s *serf.Serf, stop <-chan struct{}) {
	defer c.loops.Done()
	p := c.cfg.Profile
	t := time.NewTicker(p.StatusPoll)
	defer t.Stop()
	every := reconcileInterval
	if p.ReconcileInterval > 0 {
		every = p.ReconcileInterval
	}
	reconcileEvery := max(1, int(every/p.StatusPoll))
	encrypted := s.EncryptionEnabled()
	backupErr := "" // the last failure to back up the keyring, logged once
	for tick := 1; ; tick++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		suspect, alive, connected := c.reg.suspicions(c.cfg.Name, s.Memberlist().Members())
		for _, name := range suspect {
			c.publish(c.reg.setStatus(name, StatusSuspect))
		}
		for _, name := range alive {
			c.publish(c.reg.setStatus(name, StatusAlive))
		}
		if connected {
			c.markConnected()
		}
		if tick%reconcileEvery == 0 {
			c.reconcile(s)
			c.reg.prune()
		}
		if !encrypted {
			continue
		}
		if err := c.backupKeyring(); err != nil {
			if err.Error() != backupErr {
				c.log.Error().Err(err).Msg("gossip: cannot back up the keyring")
			}
			backupErr = err.Error()
		} else {
			backupErr = ""
		}
	}
}

// markConnected records that this node has a live registered peer now.
func (c *Cluster) markConnected() {
	now := time.Now()
	c.lastConnected.Store(now.UnixNano())
	c.reg.seen(now)
}

// returning tells whether this node has been away from its cluster for
// so long that its tombstone, had it been unregistered meanwhile, may be
// gone: it then rejoins only through peers that still have it registered
// (Admit). Half the tombstone TTL leaves a margin for the time peers
// take to notice it gone (its tombstone may predate its last contact by
// that much) and for state.LastSeen lagging behind.
func (c *Cluster) returning() bool {
	last := c.lastConnected.Load()
	return last == 0 || time.Since(time.Unix(0, last)) > c.reg.limits.TTL/2
}

// reconcileInterval is how often pollStatuses compares the registry with
// serf's member list, unless the profile says.
const reconcileInterval = 2 * time.Second

// reconcile brings the registry in line with serf's member list.
func (c *Cluster) reconcile(s *serf.Serf) {
	suspect := map[string]bool{}
	for _, n := range s.Memberlist().Members() {
		if n.State == memberlist.StateSuspect {
			suspect[n.Name] = true
		}
	}
	for _, m := range s.Members() {
		st, ok := serfStatus(m.Status)
		if !ok || m.Name == c.cfg.Name {
			continue
		}
		if st == StatusAlive && suspect[m.Name] {
			st = StatusSuspect
		}
		if cur, known := c.reg.get(m.Name); known && cur.Status == st {
			continue
		}
		c.observeMember(m, st)
	}
}

func findSerfMember(s *serf.Serf, name string) (serf.Member, bool) {
	for _, m := range s.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return serf.Member{}, false
}

// SetClients updates the client count this node advertises.
func (c *Cluster) SetClients(n int) error {
	return c.updateInfo(func(i *NodeInfo) bool {
		if i.Clients == n {
			return false
		}
		i.Clients = n
		return true
	})
}

// Leave announces this node's departure, so peers show it left at once.
// The node stays registered. Safe to call twice.
func (c *Cluster) Leave() error {
	c.mu.Lock()
	s := c.serf
	already := c.leaving || c.closed
	c.leaving = true
	c.mu.Unlock()
	if s == nil || already {
		return nil
	}
	c.quiesceRejoin()
	if err := s.Leave(); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Shutdown stops gossip without announcing it (after Leave, or to simulate
// a crash). Safe to call twice.
func (c *Cluster) Shutdown() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s, stop, cancelRejoin := c.serf, c.stop, c.rejoinCancel
	c.mu.Unlock()
	if cancelRejoin != nil {
		cancelRejoin()
	}
	var err error
	if s != nil {
		err = s.Shutdown()
		close(stop)
	}
	if c.tr != nil {
		c.tr.close()
	}
	c.loops.Wait()
	// The last changes gossip brought are written before Shutdown returns.
	close(c.persistStop)
	<-c.persistDone
	c.bus.closeAll()
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}

// GossipMember is one node as serf holds it, for debugging views.
type GossipMember struct {
	Name      string `json:"name"`
	Addr      string `json:"addr"`
	Status    string `json:"state"`
	MetaBytes int    `json:"metaBytes"`
}

// GossipMembers lists the nodes serf knows, copied under serf's lock
// (memberlist's own list is pointers into state it changes as it goes).
func (c *Cluster) GossipMembers() []GossipMember {
	s, err := c.current()
	if err != nil {
		return nil
	}
	var out []GossipMember
	for _, m := range s.Members() {
		size, _ := encodedSize(m.Tags)
		out = append(out, GossipMember{Name: m.Name, Addr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			Status: m.Status.String(), MetaBytes: size})
	}
	return out
}

// DebugState is the cluster as this node's layers hold it, for debugging
// views: it may change without notice.
type DebugState struct {
	Profile Profile `json:"profile"`
	// Serf is serf's own counters (members, event and query clocks,
	// encryption); empty while gossip does not run.
	Serf       map[string]string `json:"serf"`
	Memberlist []GossipMember    `json:"memberlist"`
	Registry   []Member          `json:"registry"`
	Tombstones []Tombstone       `json:"unregistered"`
	Rejoin     string            `json:"rejoin,omitempty"`
}

// DebugState reports the cluster's raw state for debugging views.
func (c *Cluster) DebugState() DebugState {
	st := DebugState{Profile: c.Profile(), Registry: c.Members(), Tombstones: c.Tombstones(), Rejoin: c.RejoinStatus(), Memberlist: c.GossipMembers()}
	if s, err := c.current(); err == nil {
		st.Serf = s.Stats()
	}
	return st
}
