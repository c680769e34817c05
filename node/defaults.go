package node

import (
	"time"

	"github.com/rosterhq/roster/gossip"
)

// DefaultConfig returns the built-in defaults, the lowest-precedence source
// of LoadConfig. Name, Hostname and the domains stay empty on purpose: the
// host-name rules (ResolveHosts) derive them from the OS host name, and
// DomainSet stays false so that "domain unset" keeps its meaning.
func DefaultConfig() Config {
	return Config{
		Port:          8124,
		InternalPort:  8224,
		HTTPPort:      8024,
		BindAddress:   "0.0.0.0",
		ControlDBPath: "./data",
		Cluster: ClusterConfig{
			Name:          "default",
			GossipProfile: "lan",
			Rebalance:     true,
			TombstoneTTL:  gossip.DefaultTombstoneLimits.TTL,
			TombstoneMax:  gossip.DefaultTombstoneLimits.Max,
			// The gossip package's defaults (gossip.Limits).
			MaxGossipStreams: gossip.DefaultMaxStreams,
			MaxGossipNodes:   gossip.DefaultMaxNodes,
		},
		Limits:          defaultLimits(),
		LogLevel:        "info",
		ShutdownTimeout: 10 * time.Second,
	}
}
