package node

import "time"

// Config is a node's whole configuration, after defaults, files,
// environment and flags have been merged (see LoadConfig). Field comments
// name the property that sets each field.
type Config struct {
	// Name is axoniq.axonserver.name: unique in the cluster.
	// Default: the first label of the OS host name.
	Name string

	// Hostname and Domain are axoniq.axonserver.hostname and
	// axoniq.axonserver.domain, as configured (before the host-name rules).
	Hostname string
	Domain   string
	// DomainSet is true when axoniq.axonserver.domain was given by any
	// source, even as an empty string (AXONIQ_AXONSERVER_DOMAIN=).
	DomainSet bool

	// InternalHostname and InternalDomain are
	// axoniq.axonserver.internal-hostname and
	// axoniq.axonserver.internal-domain. Defaults: Hostname and Domain.
	InternalHostname  string
	InternalDomain    string
	InternalDomainSet bool

	// ClientHost and InternalHost are the resolved addresses (Axon's
	// host-name rules applied to Hostname/Domain and to
	// InternalHostname/InternalDomain): "hostname.domain", or "hostname",
	// or an IP literal. ResolveHosts fills them; tests may set them directly.
	ClientHost   string
	InternalHost string

	// Port is axoniq.axonserver.port (client gRPC, 8124).
	Port int
	// InternalPort is axoniq.axonserver.internal-port (gossip UDP+TCP and
	// internal gRPC, 8224).
	InternalPort int
	// HTTPPort is server.port (REST, dashboard, health, metrics, 8024).
	HTTPPort int
	// BindAddress is axoniq.axonserver.cluster.bind-address: the local
	// address all three ports listen on. Default "0.0.0.0" (all).
	BindAddress string

	// ControlDBPath is axoniq.axonserver.controldb-path (./data): where the
	// node keeps its cluster state.
	ControlDBPath string

	// AutoclusterFirst is axoniq.axonserver.autocluster.first: host[:port]
	// of a node to join at start-up, retried until it works.
	AutoclusterFirst string

	AccessControl AccessControlConfig
	SSL           SSLConfig
	Cluster       ClusterConfig
	// Limits bound connections on the three ports (configlimits.go).
	Limits LimitsConfig

	// LogLevel is logging.level.root: trace, debug, info, warn, error
	// (Spring's TRACE..ERROR spellings are accepted too).
	LogLevel string

	// ShutdownTimeout is axoniq.axonserver.cluster.shutdown-timeout: how long
	// a graceful stop may take before the node exits anyway.
	ShutdownTimeout time.Duration

	// Tags are axoniq.axonserver.tags.<name>=<value>: the node's placement
	// tags, matched against the tags clients send (node/tags.go).
	Tags map[string]string
}

// AccessControlConfig is axoniq.axonserver.accesscontrol.*.
type AccessControlConfig struct {
	Enabled       bool   // .enabled
	Token         string // .token: clients and the CLI send it in AxonIQ-Access-Token
	InternalToken string // .internal-token: nodes send it in AxonIQ-InternalToken
}

// SSLConfig is axoniq.axonserver.ssl.*. Each internal file falls back to its
// public twin when unset.
type SSLConfig struct {
	Enabled                  bool   // .enabled
	CertChainFile            string // .cert-chain-file
	PrivateKeyFile           string // .private-key-file
	InternalCertChainFile    string // .internal-cert-chain-file
	InternalPrivateKeyFile   string // .internal-private-key-file
	InternalTrustManagerFile string // .internal-trust-manager-file (CA for mutual TLS between nodes)
}

// ClusterConfig is roster's own axoniq.axonserver.cluster.* keys.
type ClusterConfig struct {
	// Name is .name (default "default"): clusters with other names never merge.
	Name string
	// EncryptionKey is .encryption-key: base64 of 16, 24 or 32 bytes.
	EncryptionKey string
	// GossipProfile is .gossip-profile: lan (default), wan or local.
	GossipProfile string
	// Rebalance is .rebalance (default true): ask a fair share of clients to
	// reconnect when a node joins.
	Rebalance bool
	// TombstoneTTL is .tombstone-ttl (default 30 days) and TombstoneMax
	// .tombstone-max (default 10000): how long, and how many, unregistered
	// nodes are remembered.
	TombstoneTTL time.Duration
	TombstoneMax int
	// MaxGossipStreams is .max-gossip-streams (default 64): inbound gossip
	// streams handled at once.
	MaxGossipStreams int
	// MaxGossipNodes is .max-gossip-nodes (default 65536): the most nodes a
	// gossip push/pull may carry (gossip.Limits).
	MaxGossipNodes int
}
