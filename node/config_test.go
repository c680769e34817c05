package node

import (
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// fakeEnv is a test environment; never the process's own.
type fakeEnv map[string]string

func (e fakeEnv) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

func (e fakeEnv) environ() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

func fakeHostname() (string, error) { return "box.corp.local", nil }

// writeFiles creates files (path relative to dir -> content).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// load runs LoadConfig on dir with a fake environment and parsed args.
func load(t *testing.T, dir string, env fakeEnv, args ...string) (Config, []string, error) {
	t.Helper()
	fs := pflag.NewFlagSet("roster", pflag.ContinueOnError)
	RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	return LoadConfig(LoadOptions{
		WorkDir:   dir,
		Flags:     fs,
		LookupEnv: env.lookup,
		Environ:   env.environ,
		Hostname:  fakeHostname,
	})
}

func TestLoadDefaults(t *testing.T) {
	cfg, warnings, err := load(t, t.TempDir(), fakeEnv{})
	require.NoError(t, err)
	require.Empty(t, warnings)

	want := DefaultConfig()
	want.Name = "box"
	want.ClientHost = "box.corp.local"
	want.InternalHost = "box.corp.local"
	require.Equal(t, want, cfg)
	require.Equal(t, 8024, cfg.HTTPPort)
	require.Equal(t, 8124, cfg.Port)
	require.Equal(t, 8224, cfg.InternalPort)
	require.Equal(t, "./data", cfg.ControlDBPath)
	require.Equal(t, "0.0.0.0", cfg.BindAddress)
	require.Equal(t, "default", cfg.Cluster.Name)
	require.Equal(t, "lan", cfg.Cluster.GossipProfile)
	require.True(t, cfg.Cluster.Rebalance)
	require.Equal(t, "info", cfg.LogLevel)
	require.Equal(t, 10*time.Second, cfg.ShutdownTimeout)
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		env   fakeEnv
		args  []string
		check func(t *testing.T, c Config)
	}{
		{
			name:  "file beats default",
			files: map[string]string{"axonserver.properties": "server.port=9000\n"},
			check: func(t *testing.T, c Config) { require.Equal(t, 9000, c.HTTPPort) },
		},
		{
			name:  "env beats file",
			files: map[string]string{"axonserver.properties": "server.port=9000\n"},
			env:   fakeEnv{"SERVER_PORT": "9001"},
			check: func(t *testing.T, c Config) { require.Equal(t, 9001, c.HTTPPort) },
		},
		{
			name:  "flag beats env and file",
			files: map[string]string{"axonserver.properties": "server.port=9000\n"},
			env:   fakeEnv{"SERVER_PORT": "9001"},
			args:  []string{"--server.port=9002"},
			check: func(t *testing.T, c Config) { require.Equal(t, 9002, c.HTTPPort) },
		},
		{
			name: "several keys from several sources",
			files: map[string]string{"axonserver.properties": strings.Join([]string{
				"axoniq.axonserver.name=fromfile",
				"axoniq.axonserver.port=9100",
				"axoniq.axonserver.internal-port=9200",
				"axoniq.axonserver.cluster.name=filecluster",
				"axoniq.axonserver.internal-hostname=filehost",
				"logging.level.root=debug",
			}, "\n")},
			env: fakeEnv{
				"AXONIQ_AXONSERVER_PORT":                 "9101",
				"AXONIQ_AXONSERVER_CLUSTER_NAME":         "envcluster",
				"AXONIQ_AXONSERVER_INTERNAL_HOSTNAME":    "envhost",
				"AXONIQ_AXONSERVER_CLUSTER_REBALANCE":    "FALSE",
				"AXONIQ_AXONSERVER_CONTROLDB_PATH":       "/var/lib/roster",
				"AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST":    "seed.example.com:8224",
				"AXONIQ_AXONSERVER_CLUSTER_BIND_ADDRESS": "127.0.0.1",
			},
			args: []string{"--axoniq.axonserver.internal-port=9201", "--axoniq.axonserver.internal-hostname", "flaghost"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "fromfile", c.Name)
				require.Equal(t, 9101, c.Port)
				require.Equal(t, 9201, c.InternalPort)
				require.Equal(t, "envcluster", c.Cluster.Name)
				require.Equal(t, "flaghost", c.InternalHostname)
				require.Equal(t, "flaghost.corp.local", c.InternalHost)
				require.Equal(t, "debug", c.LogLevel)
				require.False(t, c.Cluster.Rebalance)
				require.Equal(t, "/var/lib/roster", c.ControlDBPath)
				require.Equal(t, "seed.example.com:8224", c.AutoclusterFirst)
				require.Equal(t, "127.0.0.1", c.BindAddress)
			},
		},
		{
			name:  "a flag set to the default value still wins",
			env:   fakeEnv{"SERVER_PORT": "9001"},
			args:  []string{"--server.port=8024"},
			check: func(t *testing.T, c Config) { require.Equal(t, 8024, c.HTTPPort) },
		},
		{
			name: "nested yml",
			files: map[string]string{"axonserver.yml": "axoniq:\n  axonserver:\n    name: ymlnode\n    port: 9100\n" +
				"    ssl:\n      enabled: false\n    cluster:\n      gossip-profile: WAN\nserver:\n  port: 9000\n"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "ymlnode", c.Name)
				require.Equal(t, 9100, c.Port)
				require.Equal(t, 9000, c.HTTPPort)
				require.Equal(t, "wan", c.Cluster.GossipProfile)
			},
		},
		{
			name:  "yaml extension",
			files: map[string]string{"axonserver.yaml": "server.port: 9000\n"},
			check: func(t *testing.T, c Config) { require.Equal(t, 9000, c.HTTPPort) },
		},
		{
			name: "properties beats yml in the same directory (Spring's order)",
			files: map[string]string{
				"axonserver.yml":        "server:\n  port: 9000\naxoniq.axonserver.name: yml\n",
				"axonserver.properties": "server.port=9001\n",
			},
			check: func(t *testing.T, c Config) {
				require.Equal(t, 9001, c.HTTPPort)
				require.Equal(t, "yml", c.Name, "keys only in the yml still count")
			},
		},
		{
			name:  "./config is found",
			files: map[string]string{"config/axonserver.properties": "server.port=9000\n"},
			check: func(t *testing.T, c Config) { require.Equal(t, 9000, c.HTTPPort) },
		},
		{
			name:  "./config yml is found",
			files: map[string]string{"config/axonserver.yml": "server:\n  port: 9000\n"},
			check: func(t *testing.T, c Config) { require.Equal(t, 9000, c.HTTPPort) },
		},
		{
			name: "./config beats .",
			files: map[string]string{
				"axonserver.properties":        "server.port=9000\naxoniq.axonserver.name=dot\n",
				"config/axonserver.properties": "server.port=9001\n",
			},
			check: func(t *testing.T, c Config) {
				require.Equal(t, 9001, c.HTTPPort)
				require.Equal(t, "dot", c.Name)
			},
		},
		{
			name: "--config replaces the search",
			files: map[string]string{
				"axonserver.properties": "server.port=9000\naxoniq.axonserver.name=searched\n",
				"elsewhere/node.props":  "server.port=9005\n",
			},
			args: []string{"--config", "elsewhere/node.props"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, 9005, c.HTTPPort)
				require.Equal(t, "box", c.Name, "the searched file is not read")
			},
		},
		{
			name:  "--config yml by extension",
			files: map[string]string{"my.yml": "server:\n  port: 9006\n"},
			args:  []string{"--config=my.yml"},
			check: func(t *testing.T, c Config) { require.Equal(t, 9006, c.HTTPPort) },
		},
		{
			name:  "empty env domain overrides the file's domain",
			files: map[string]string{"axonserver.properties": "axoniq.axonserver.hostname=node1\naxoniq.axonserver.domain=example.com\n"},
			env:   fakeEnv{"AXONIQ_AXONSERVER_DOMAIN": ""},
			check: func(t *testing.T, c Config) {
				require.True(t, c.DomainSet)
				require.Equal(t, "", c.Domain)
				require.Equal(t, "node1", c.ClientHost)
				require.Equal(t, "node1", c.InternalHost)
			},
		},
		{
			name:  "empty domain in a file is set too",
			files: map[string]string{"axonserver.properties": "axoniq.axonserver.domain=\n"},
			check: func(t *testing.T, c Config) {
				require.True(t, c.DomainSet)
				require.Equal(t, "box", c.ClientHost)
			},
		},
		{
			name:  "empty env string overrides a file string",
			files: map[string]string{"axonserver.properties": "axoniq.axonserver.autocluster.first=seed:8224\n"},
			env:   fakeEnv{"AXONIQ_AXONSERVER_AUTOCLUSTER_FIRST": ""},
			check: func(t *testing.T, c Config) { require.Equal(t, "", c.AutoclusterFirst) },
		},
		{
			name: "Spring's dashless env spelling is accepted; the spec's spelling wins",
			env: fakeEnv{
				"AXONIQ_AXONSERVER_INTERNALHOSTNAME": "alias",
				"AXONIQ_AXONSERVER_CONTROLDBPATH":    "/alias",
				"AXONIQ_AXONSERVER_CONTROLDB_PATH":   "/primary",
			},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "alias", c.InternalHostname)
				require.Equal(t, "/primary", c.ControlDBPath)
			},
		},
		{
			name: "Spring's relaxed key spellings in files",
			files: map[string]string{"axonserver.properties": "axoniq.axonserver.internalHostname=relaxed\n" +
				"axoniq.axonserver.controldb_path=/relaxed\naxoniq.axonserver.controldb-path=/exact\n"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "relaxed", c.InternalHostname)
				require.Equal(t, "/exact", c.ControlDBPath)
			},
		},
		{
			name: "spellings: booleans, log levels, durations, blanks",
			files: map[string]string{"axonserver.properties": "axoniq.axonserver.cluster.rebalance=False\n" +
				"logging.level.root=WARNING\naxoniq.axonserver.cluster.shutdown-timeout=30\nserver.port = 9000   \n"},
			check: func(t *testing.T, c Config) {
				require.False(t, c.Cluster.Rebalance)
				require.Equal(t, "warn", c.LogLevel)
				require.Equal(t, 30*time.Second, c.ShutdownTimeout)
				require.Equal(t, 9000, c.HTTPPort)
			},
		},
		{
			name: "duration as Go duration and Spring log level from env",
			env:  fakeEnv{"AXONIQ_AXONSERVER_CLUSTER_SHUTDOWN_TIMEOUT": "1m30s", "LOGGING_LEVEL_ROOT": "TRACE"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, 90*time.Second, c.ShutdownTimeout)
				require.Equal(t, "trace", c.LogLevel)
			},
		},
		{
			name:  "tombstone bounds in days and as a Go duration",
			files: map[string]string{"axonserver.properties": "axoniq.axonserver.cluster.tombstone-ttl=7d\naxoniq.axonserver.cluster.tombstone-max=500\n"},
			env:   fakeEnv{},
			check: func(t *testing.T, c Config) {
				require.Equal(t, 7*24*time.Hour, c.Cluster.TombstoneTTL)
				require.Equal(t, 500, c.Cluster.TombstoneMax)
			},
		},
		{
			name:  "tombstone ttl as a Go duration",
			args:  []string{"--axoniq.axonserver.cluster.tombstone-ttl=90m"},
			check: func(t *testing.T, c Config) { require.Equal(t, 90*time.Minute, c.Cluster.TombstoneTTL) },
		},
		{
			name: "gossip limits",
			env:  fakeEnv{"AXONIQ_AXONSERVER_CLUSTER_MAX_GOSSIP_STREAMS": "128"},
			args: []string{"--axoniq.axonserver.cluster.max-gossip-nodes=4096"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, 128, c.Cluster.MaxGossipStreams)
				require.Equal(t, 4096, c.Cluster.MaxGossipNodes)
			},
		},
		{
			name:  "fractional seconds",
			args:  []string{"--axoniq.axonserver.cluster.shutdown-timeout=2.5"},
			check: func(t *testing.T, c Config) { require.Equal(t, 2500*time.Millisecond, c.ShutdownTimeout) },
		},
		{
			name: "no ${} expansion in values",
			files: map[string]string{"axonserver.properties": "axoniq.axonserver.accesscontrol.enabled=true\n" +
				"axoniq.axonserver.accesscontrol.token=${TOKEN}\n"},
			check: func(t *testing.T, c Config) { require.Equal(t, "${TOKEN}", c.AccessControl.Token) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			if tt.env == nil {
				tt.env = fakeEnv{}
			}
			cfg, warnings, err := load(t, dir, tt.env, tt.args...)
			require.NoError(t, err)
			require.Empty(t, warnings)
			tt.check(t, cfg)
		})
	}
}

// TestLoadLimits reads the limits of the ports in the spellings Spring
// and Axon Server accept: milliseconds or durations, sizes with units.
func TestLoadLimits(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"axonserver.properties": "server.tomcat.connection-timeout=20000\n" +
		"server.tomcat.keep-alive-timeout=2m\nserver.max-http-request-header-size=16KB\n" +
		"axoniq.axonserver.min-keep-alive-time=500\naxoniq.axonserver.limits.grpc-max-connections=100\n" +
		"server.tomcat.max-connections=\naxoniq.axonserver.limits.http-write-timeout=90s\n"})
	cfg, warnings, err := load(t, dir, fakeEnv{
		"AXONIQ_AXONSERVER_LIMITS_MEMBERSHIP_STREAMS_PER_CONNECTION": "2",
		"SERVER_TOMCAT_MAX_CONNECTIONS":                              "300",
	})
	require.NoError(t, err)
	require.Empty(t, warnings)
	want := DefaultConfig().Limits
	want.HTTPHeaderTimeout = 20 * time.Second
	want.HTTPIdleTimeout = 2 * time.Minute
	want.HTTPMaxHeaderBytes = 16 << 10
	want.HTTPWriteTimeout = 90 * time.Second
	want.MinKeepAliveTime = 500 * time.Millisecond
	want.GRPCMaxConnections = 100
	want.HTTPMaxConnections = 300
	want.MembershipStreamsPerConnection = 2
	require.Equal(t, want, cfg.Limits)
}

func TestLoadConfigFileOption(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.properties": "server.port=9000\n", "b.properties": "server.port=9001\n"})

	cfg, _, err := LoadConfig(LoadOptions{WorkDir: dir, ConfigFile: "a.properties",
		LookupEnv: fakeEnv{}.lookup, Hostname: fakeHostname})
	require.NoError(t, err)
	require.Equal(t, 9000, cfg.HTTPPort)

	// An absolute path, and --config beating ConfigFile.
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--config", filepath.Join(dir, "b.properties")}))
	cfg, _, err = LoadConfig(LoadOptions{WorkDir: t.TempDir(), ConfigFile: "a.properties", Flags: fs,
		LookupEnv: fakeEnv{}.lookup, Hostname: fakeHostname})
	require.NoError(t, err)
	require.Equal(t, 9001, cfg.HTTPPort)
}

func TestLoadMissingConfigFile(t *testing.T) {
	_, _, err := load(t, t.TempDir(), fakeEnv{}, "--config=nope.properties")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.True(t, strings.HasPrefix(err.Error(), "config: "), err.Error())
	require.Contains(t, err.Error(), "nope.properties")
}

func TestLoadWarnings(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"axonserver.properties": "axoniq.axonserver.hostnam=node1\n" +
		"axoniq.axonserver.devmode.enabled=true\nserver.prot=9000\n"})
	_, warnings, err := LoadConfig(LoadOptions{
		WorkDir: dir,
		LookupEnv: fakeEnv{"AXONIQ_AXONSERVER_HOSTNAM": "x", "AXONIQ_AXONSERVER_PORT": "9100",
			"AXONIQ_AXONSERVER_INTERNALHOSTNAME": "alias"}.lookup,
		Environ: func() []string {
			return []string{"AXONIQ_AXONSERVER_HOSTNAM=x", "AXONIQ_AXONSERVER_PORT=9100", "HOME=/root",
				"AXONIQ_AXONSERVER_INTERNALHOSTNAME=alias", "AXONIQ_AXONSERVER_EVENT_STORAGE=/x"}
		},
		Hostname: fakeHostname,
	})
	require.NoError(t, err)
	p := filepath.Join(dir, "axonserver.properties")
	require.Equal(t, []string{
		// Too far from any known key for a suggestion (an Axon property roster does not use).
		"unknown property axoniq.axonserver.devmode.enabled in " + p,
		"unknown property axoniq.axonserver.hostnam in " + p + " (did you mean axoniq.axonserver.hostname?)",
		"unknown property server.prot in " + p + " (did you mean server.port?)",
		"unknown environment variable AXONIQ_AXONSERVER_EVENT_STORAGE",
		"unknown environment variable AXONIQ_AXONSERVER_HOSTNAM (did you mean AXONIQ_AXONSERVER_HOSTNAME?)",
	}, warnings)

	// SPEC.md's wording for unknown keys, with the default work
	// directory's relative path.
	t.Chdir(dir)
	_, warnings, err = LoadConfig(LoadOptions{LookupEnv: fakeEnv{}.lookup, Hostname: fakeHostname})
	require.NoError(t, err)
	require.Contains(t, warnings, "unknown property axoniq.axonserver.hostnam in axonserver.properties (did you mean axoniq.axonserver.hostname?)")

	// Host-name warnings come back through LoadConfig too.
	_, warnings, err = load(t, t.TempDir(), fakeEnv{"AXONIQ_AXONSERVER_HOSTNAME": "node1.example.com",
		"AXONIQ_AXONSERVER_DOMAIN": "corp.local"})
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], `"example.com" after the first dot is ignored`)
}

func TestLoadInvalidValues(t *testing.T) {
	key16 := base64.StdEncoding.EncodeToString(make([]byte, 16))
	key20 := base64.StdEncoding.EncodeToString(make([]byte, 20))
	tests := []struct {
		name  string
		file  string
		env   fakeEnv
		args  []string
		wants []string // substrings of the error
	}{
		{
			name:  "port out of range",
			file:  "axoniq.axonserver.port=99999\n",
			wants: []string{`config: axoniq.axonserver.port: "99999" is not a valid port (allowed: 0-65535, 0 picks a free port); set in `},
		},
		{
			name:  "port not a number, from env",
			env:   fakeEnv{"SERVER_PORT": "http"},
			wants: []string{`config: server.port: "http" is not a valid port (allowed: 0-65535, 0 picks a free port); set by environment variable SERVER_PORT`},
		},
		{
			name:  "empty port from env",
			env:   fakeEnv{"AXONIQ_AXONSERVER_INTERNAL_PORT": ""},
			wants: []string{`config: axoniq.axonserver.internal-port: "" is not a valid port`},
		},
		{
			name:  "negative port from a flag",
			args:  []string{"--server.port=-1"},
			wants: []string{`config: server.port: "-1" is not a valid port`, "set by flag --server.port"},
		},
		{
			name:  "boolean",
			file:  "axoniq.axonserver.ssl.enabled=yes\n",
			wants: []string{`config: axoniq.axonserver.ssl.enabled: "yes" is not a valid boolean (allowed: true, false)`},
		},
		{
			name:  "log level",
			env:   fakeEnv{"LOGGING_LEVEL_ROOT": "verbose"},
			wants: []string{`config: logging.level.root: "verbose" is not a valid log level (allowed: trace, debug, info, warn, error)`},
		},
		{
			name:  "duration",
			file:  "axoniq.axonserver.cluster.shutdown-timeout=soon\n",
			wants: []string{`config: axoniq.axonserver.cluster.shutdown-timeout: "soon" is not a valid duration`},
		},
		{
			name:  "zero duration",
			file:  "axoniq.axonserver.cluster.shutdown-timeout=0\n",
			wants: []string{`config: axoniq.axonserver.cluster.shutdown-timeout: "0s" is not positive`},
		},
		{
			name:  "tombstone ttl",
			file:  "axoniq.axonserver.cluster.tombstone-ttl=30\n",
			wants: []string{`config: axoniq.axonserver.cluster.tombstone-ttl: "30" is not a valid duration (allowed: a duration with a unit, such as 30d, 12h or 90m)`},
		},
		{
			name:  "zero tombstone ttl",
			file:  "axoniq.axonserver.cluster.tombstone-ttl=0d\n",
			wants: []string{`config: axoniq.axonserver.cluster.tombstone-ttl: "0s" is not positive`},
		},
		{
			name:  "tombstone max",
			file:  "axoniq.axonserver.cluster.tombstone-max=many\n",
			wants: []string{`config: axoniq.axonserver.cluster.tombstone-max: "many" is not a whole number (allowed: 1 to 20000)`},
		},
		{
			name:  "tombstone max out of range",
			file:  "axoniq.axonserver.cluster.tombstone-max=0\n",
			wants: []string{`config: axoniq.axonserver.cluster.tombstone-max: "0" is out of range (allowed: 1 to 20000)`},
		},
		{
			name: "gossip stream limit",
			file: "axoniq.axonserver.cluster.max-gossip-streams=0\naxoniq.axonserver.cluster.max-gossip-nodes=many\n",
			wants: []string{`config: axoniq.axonserver.cluster.max-gossip-streams: "0" is not a whole number from 1 to 65536`,
				`config: axoniq.axonserver.cluster.max-gossip-nodes: "many" is not a whole number from 16 to 1048576`},
		},
		{
			name:  "gossip profile",
			file:  "axoniq.axonserver.cluster.gossip-profile=fast\n",
			wants: []string{`config: axoniq.axonserver.cluster.gossip-profile: "fast" is not a valid gossip profile (allowed: lan, wan, local)`},
		},
		{
			name:  "encryption key length, value hidden",
			file:  "axoniq.axonserver.cluster.encryption-key=" + key20 + "\n",
			wants: []string{"config: axoniq.axonserver.cluster.encryption-key: value (hidden, 28 characters) decodes to 20 bytes; allowed: base64 of 16, 24 or 32 bytes, e.g. from `roster keygen`"},
		},
		{
			name:  "encryption key not base64",
			file:  "axoniq.axonserver.cluster.encryption-key=not base64!\n",
			wants: []string{"config: axoniq.axonserver.cluster.encryption-key: value (hidden, 11 characters) is not valid base64"},
		},
		{
			name:  "cluster name",
			env:   fakeEnv{"AXONIQ_AXONSERVER_CLUSTER_NAME": "my cluster"},
			wants: []string{`config: axoniq.axonserver.cluster.name: "my cluster" is not a valid cluster name (allowed: 1-64 letters, digits, '.', '-' or '_')`},
		},
		{
			name:  "node name",
			file:  "axoniq.axonserver.name=" + strings.Repeat("n", 65) + "\n",
			wants: []string{`config: axoniq.axonserver.name: "` + strings.Repeat("n", 65) + `" is not a valid node name`},
		},
		{
			name:  "node name a path would mangle",
			file:  "axoniq.axonserver.name=..\n",
			wants: []string{`config: axoniq.axonserver.name: ".." is not a valid node name (allowed: 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit)`},
		},
		{
			name:  "limit duration",
			file:  "server.tomcat.connection-timeout=soon\n",
			wants: []string{`config: server.tomcat.connection-timeout: "soon" is not a valid duration (allowed: a Go duration such as 10s or 1m30s, or milliseconds such as 10000)`},
		},
		{
			name:  "zero limit duration",
			env:   fakeEnv{"AXONIQ_AXONSERVER_LIMITS_GRPC_MAX_CONNECTION_IDLE": "0"},
			wants: []string{`config: axoniq.axonserver.limits.grpc-max-connection-idle: "0s" is not positive (allowed: a duration greater than 0, such as 10s)`},
		},
		{
			name:  "negative connection cap",
			file:  "server.tomcat.max-connections=-5\n",
			wants: []string{`config: server.tomcat.max-connections: "-5" is negative (allowed: a number greater than 0, or empty to size it from the file descriptor limit)`},
		},
		{
			name:  "connection cap not a number",
			args:  []string{"--axoniq.axonserver.limits.internal-max-connections=lots"},
			wants: []string{`config: axoniq.axonserver.limits.internal-max-connections: "lots" is not a whole number (allowed: a number greater than 0, or empty to size it from the file descriptor limit); set by flag`},
		},
		{
			name:  "zero stream cap",
			file:  "axoniq.axonserver.limits.membership-streams=0\n",
			wants: []string{`config: axoniq.axonserver.limits.membership-streams: "0" is not positive (allowed: a number greater than 0)`},
		},
		{
			name:  "header size out of range",
			file:  "server.max-http-request-header-size=8\n",
			wants: []string{`config: server.max-http-request-header-size: "8B" is out of range (allowed: 1KB to 1MB)`},
		},
		{
			name:  "header size not a size",
			file:  "server.max-http-request-header-size=8 kilobytes\n",
			wants: []string{`config: server.max-http-request-header-size: "8 kilobytes" is not a valid size (allowed: bytes such as 8192, or with a unit: 8KB, 1MB)`},
		},
		{
			name:  "host name",
			file:  "axoniq.axonserver.hostname=bad_host\n",
			wants: []string{`config: axoniq.axonserver.hostname: "bad_host" is not a valid host name (allowed: a DNS name`},
		},
		{
			name:  "domain cannot be an ip",
			file:  "axoniq.axonserver.internal-domain=10.0.0.1\n",
			wants: []string{`config: axoniq.axonserver.internal-domain: "10.0.0.1" is not a valid host name`},
		},
		{
			name:  "autocluster port",
			file:  "axoniq.axonserver.autocluster.first=seed:0\n",
			wants: []string{`config: axoniq.axonserver.autocluster.first: "seed:0" is not a valid address (allowed: host or host:port with port 1-65535`},
		},
		{
			name:  "bind address",
			file:  "axoniq.axonserver.cluster.bind-address=everywhere\n",
			wants: []string{`config: axoniq.axonserver.cluster.bind-address: "everywhere" is not an IP address`},
		},
		{
			name:  "ports collide",
			env:   fakeEnv{"AXONIQ_AXONSERVER_INTERNAL_PORT": "8124"},
			wants: []string{`config: axoniq.axonserver.internal-port: "8124" is also axoniq.axonserver.port`},
		},
		{
			name: "every problem at once",
			file: "axoniq.axonserver.port=99999\nserver.port=abc\naxoniq.axonserver.ssl.enabled=maybe\n",
			wants: []string{
				`config: axoniq.axonserver.port: "99999"`,
				`config: server.port: "abc"`,
				`config: axoniq.axonserver.ssl.enabled: "maybe"`,
			},
		},
		{
			name: "every validation problem at once",
			file: "axoniq.axonserver.cluster.gossip-profile=fast\naxoniq.axonserver.cluster.encryption-key=" + key16 + "x\n" +
				"axoniq.axonserver.accesscontrol.enabled=true\n",
			wants: []string{
				"axoniq.axonserver.cluster.gossip-profile",
				"axoniq.axonserver.cluster.encryption-key",
				`config: axoniq.axonserver.accesscontrol.token: "" is empty`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				writeFiles(t, dir, map[string]string{"axonserver.properties": tt.file})
			}
			if tt.env == nil {
				tt.env = fakeEnv{}
			}
			cfg, _, err := load(t, dir, tt.env, tt.args...)
			require.Error(t, err)
			require.Equal(t, Config{}, cfg)
			for _, w := range tt.wants {
				require.Contains(t, err.Error(), w)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				require.True(t, strings.HasPrefix(line, "config: "), line)
			}
		})
	}
}

// validConfig is a resolved configuration that passes Validate.
func validConfig() Config {
	c := DefaultConfig()
	c.Name, c.ClientHost, c.InternalHost = "n1", "n1.example.com", "n1.internal"
	return c
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"cert.pem": "x", "key.pem": "x", "ca.pem": "x"})
	pem := func(n string) string { return filepath.Join(dir, n) }

	tests := []struct {
		name   string
		modify func(c *Config)
		wants  []string // substrings; none means valid
	}{
		{name: "valid", modify: func(c *Config) {}},
		{name: "all ports 0 (tests)", modify: func(c *Config) { c.Port, c.InternalPort, c.HTTPPort = 0, 0, 0 }},
		{name: "ipv6 hosts and autocluster", modify: func(c *Config) {
			c.Hostname, c.ClientHost, c.InternalHost, c.BindAddress = "[fd00::1]", "[fd00::1]", "fd00::2", "::"
			c.AutoclusterFirst = "[fd00::3]:8224"
		}},
		{name: "autocluster forms", modify: func(c *Config) { c.AutoclusterFirst = "10.0.0.1" }},
		{name: "autocluster bare ipv6", modify: func(c *Config) { c.AutoclusterFirst = "fd00::3" }},
		{name: "tls with files; internal ones fall back", modify: func(c *Config) {
			c.SSL = SSLConfig{Enabled: true, CertChainFile: pem("cert.pem"), PrivateKeyFile: pem("key.pem"),
				InternalTrustManagerFile: pem("ca.pem")}
		}},
		{name: "access control; internal token falls back", modify: func(c *Config) {
			c.AccessControl = AccessControlConfig{Enabled: true, Token: "t"}
		}},
		{name: "encryption keys", modify: func(c *Config) {
			c.Cluster.EncryptionKey = base64.StdEncoding.EncodeToString(make([]byte, 32))
		}},
		{
			name:   "tls without files",
			modify: func(c *Config) { c.SSL.Enabled = true },
			wants: []string{
				`config: axoniq.axonserver.ssl.cert-chain-file: "" is empty (allowed: a readable PEM file; required when axoniq.axonserver.ssl.enabled is true)`,
				`config: axoniq.axonserver.ssl.private-key-file: "" is empty`,
			},
		},
		{
			name: "tls with unreadable files",
			modify: func(c *Config) {
				c.SSL = SSLConfig{Enabled: true, CertChainFile: pem("cert.pem"), PrivateKeyFile: pem("key.pem"),
					InternalPrivateKeyFile: pem("missing.pem")}
			},
			wants: []string{`config: axoniq.axonserver.ssl.internal-private-key-file: "` + pem("missing.pem") + `" cannot be read`},
		},
		{
			name:   "ports",
			modify: func(c *Config) { c.Port, c.HTTPPort, c.InternalPort = 70000, 8224, 8224 },
			wants: []string{
				`config: axoniq.axonserver.port: "70000" is not a valid port (allowed: 0-65535, 0 picks a free port)`,
				`config: axoniq.axonserver.internal-port: "8224" is also server.port`,
			},
		},
		{
			name:   "unresolved",
			modify: func(c *Config) { c.Name, c.ClientHost, c.InternalHost = "", "", "" },
			wants: []string{
				`config: axoniq.axonserver.name: "" is not a valid node name`,
				`config: axoniq.axonserver.hostname: "" is not a valid resolved client address`,
				`config: axoniq.axonserver.internal-hostname: "" is not a valid resolved internal address`,
			},
		},
		{
			name: "too long host name",
			modify: func(c *Config) {
				c.Hostname = strings.Repeat("a", 64)
				c.ClientHost = strings.Repeat("a.", 127) + "a"
			},
			wants: []string{
				`config: axoniq.axonserver.hostname: "` + strings.Repeat("a", 64) + `" is not a valid host name`,
				"is not a valid resolved client address",
			},
		},
		{
			name:   "controldb path, log level, cluster name",
			modify: func(c *Config) { c.ControlDBPath, c.LogLevel, c.Cluster.Name = "", "loud", "" },
			wants: []string{
				`config: axoniq.axonserver.controldb-path: "" is empty`,
				`config: logging.level.root: "loud" is not a valid log level`,
				`config: axoniq.axonserver.cluster.name: "" is not a valid cluster name`,
			},
		},
		{
			name: "node names a path or a file name would mangle",
			modify: func(c *Config) {
				c.Name = "."
			},
			wants: []string{`config: axoniq.axonserver.name: "." is not a valid node name (allowed: 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit)`},
		},
		{name: "node name of 63 with dots and dashes", modify: func(c *Config) { c.Name = "n" + strings.Repeat("a.-_", 15) + "zz" }},
		{
			name:   "node name of 64",
			modify: func(c *Config) { c.Name = strings.Repeat("n", 64) },
			wants:  []string{`is not a valid node name`},
		},
		{
			name:   "node name starting with a dash",
			modify: func(c *Config) { c.Name = "-n1" },
			wants:  []string{`config: axoniq.axonserver.name: "-n1" is not a valid node name`},
		},
		{
			name: "limits",
			modify: func(c *Config) {
				c.Limits.HTTPIdleTimeout = 0
				c.Limits.GRPCMaxConcurrentStreams = 0
				c.Limits.InternalMaxConnections = -1
				c.Limits.HTTPMaxHeaderBytes = 4 << 20
			},
			wants: []string{
				`config: server.tomcat.keep-alive-timeout: "0s" is not positive`,
				`config: axoniq.axonserver.limits.grpc-max-concurrent-streams: "0" is not positive`,
				`config: axoniq.axonserver.limits.internal-max-connections: "-1" is negative`,
				`config: server.max-http-request-header-size: "4MB" is out of range (allowed: 1KB to 1MB)`,
			},
		},
		{
			name:   "negative shutdown timeout",
			modify: func(c *Config) { c.ShutdownTimeout = -time.Second },
			wants:  []string{`config: axoniq.axonserver.cluster.shutdown-timeout: "-1s" is not positive`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if len(tt.wants) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Len(t, strings.Split(err.Error(), "\n"), len(tt.wants), err.Error())
			for _, w := range tt.wants {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestKnownKeys(t *testing.T) {
	keys := KnownKeys()
	seen := map[string]bool{}
	def := DefaultConfig()
	for _, k := range keys {
		require.False(t, seen[k.Key], "duplicate %s", k.Key)
		seen[k.Key] = true
		require.NotEmpty(t, k.Description, k.Key)
		require.Equal(t, strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k.Key)), k.Env)

		// Every documented default parses back to the built-in one.
		kd, ok := lookupKey(k.Key)
		require.True(t, ok)
		c := DefaultConfig()
		require.NoError(t, kd.set(&c, k.Default), k.Key)
		c.DomainSet, c.InternalDomainSet = false, false
		require.Equal(t, def, c, k.Key)
	}
	for _, k := range []string{
		"axoniq.axonserver.name", "axoniq.axonserver.hostname", "axoniq.axonserver.domain",
		"axoniq.axonserver.internal-hostname", "axoniq.axonserver.internal-domain",
		"axoniq.axonserver.port", "axoniq.axonserver.internal-port", "server.port",
		"axoniq.axonserver.controldb-path", "axoniq.axonserver.autocluster.first",
		"axoniq.axonserver.accesscontrol.enabled", "axoniq.axonserver.accesscontrol.token",
		"axoniq.axonserver.accesscontrol.internal-token", "axoniq.axonserver.ssl.enabled",
		"axoniq.axonserver.ssl.cert-chain-file", "axoniq.axonserver.ssl.private-key-file",
		"axoniq.axonserver.ssl.internal-cert-chain-file", "axoniq.axonserver.ssl.internal-private-key-file",
		"axoniq.axonserver.ssl.internal-trust-manager-file", "axoniq.axonserver.cluster.name",
		"axoniq.axonserver.cluster.encryption-key", "axoniq.axonserver.cluster.gossip-profile",
		"axoniq.axonserver.cluster.rebalance", "axoniq.axonserver.cluster.bind-address",
		"axoniq.axonserver.cluster.shutdown-timeout", "logging.level.root",
		"axoniq.axonserver.cluster.tombstone-ttl", "axoniq.axonserver.cluster.tombstone-max",
		"axoniq.axonserver.cluster.max-gossip-streams", "axoniq.axonserver.cluster.max-gossip-nodes",
	} {
		require.True(t, seen[k], "missing %s", k)
	}

	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("config", "", "registered elsewhere first")
	RegisterFlags(fs) // must not panic on the existing flag
	RegisterFlags(fs) // nor when called twice
	for _, k := range keys {
		f := fs.Lookup(k.Key)
		require.NotNil(t, f, k.Key)
		require.Equal(t, k.Default, f.DefValue)
	}
}

func TestShippedPropertiesFile(t *testing.T) {
	const shipped = "../configs/axonserver.properties"
	b, err := os.ReadFile(shipped)
	require.NoError(t, err)

	// Every key is documented, commented out, with its default.
	for _, k := range KnownKeys() {
		require.Contains(t, string(b), "\n#"+k.Key+"="+k.Default+"\n", k.Key)
	}

	// As shipped: loads without warnings.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"axonserver.properties": string(b)})
	cfg, warnings, err := load(t, dir, fakeEnv{})
	require.NoError(t, err)
	require.Empty(t, warnings)
	require.Equal(t, 8024, cfg.HTTPPort)

	// Uncommented: still no warning, and no key it names is unknown. The
	// empty encryption key, an error when set, stays commented out.
	uncommented := regexp.MustCompile(`(?m)^#([a-z][\w.-]*=)`).ReplaceAllString(string(b), "$1")
	runnable := strings.Replace(uncommented, "\naxoniq.axonserver.cluster.encryption-key=\n", "\n", 1)
	require.NotEqual(t, uncommented, runnable)
	writeFiles(t, dir, map[string]string{"axonserver.properties": runnable})
	cfg, warnings, err = load(t, dir, fakeEnv{})
	require.NoError(t, err)
	require.Empty(t, warnings)
	// The only visible change: "domain=" sets an empty domain.
	require.Equal(t, "box", cfg.ClientHost)

	m, err := propertiesParser{}.Unmarshal([]byte(uncommented))
	require.NoError(t, err)
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	var want []string
	for _, k := range KnownKeys() {
		want = append(want, k.Key)
	}
	sort.Strings(want)
	require.Equal(t, want, got)
}
