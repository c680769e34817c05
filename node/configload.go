package node

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// KeyInfo describes one configuration property, for help texts and docs.
type KeyInfo struct {
	Key         string // property name, e.g. axoniq.axonserver.port
	Env         string // environment variable, e.g. AXONIQ_AXONSERVER_PORT
	Default     string // built-in default as it would be written in a file; "" when derived at start-up
	Description string // one line
}

// propEncryptionKey is the gossip key's property: an empty value is an
// error, not "no encryption".
const propEncryptionKey = "axoniq.axonserver.cluster.encryption-key"

// keyDef is one row of the key table. get renders a Config value as the
// property would be written (used for defaults), set parses a property
// value into a Config; an error from set says what is allowed and is
// wrapped with the key and the value by the caller.
type keyDef struct {
	key  string
	desc string
	get  func(*Config) string
	set  func(*Config, string) error
}

// keyTable is the single list of known properties: it drives flags,
// environment variables, file parsing, KnownKeys and the documented
// configs/axonserver.properties (checked by a test). Read-only. The
// limits of the ports come last (configlimits.go).
var keyTable = append([]keyDef{
	strKey(keyName, "node name, unique in the cluster (default: first label of the OS host name)",
		func(c *Config) *string { return &c.Name }),
	strKey(keyHostname, "host name clients are told to connect to (default: the OS host name)",
		func(c *Config) *string { return &c.Hostname }),
	{key: keyDomain, desc: "domain appended to the host name for clients (default: the OS host name after its first dot)",
		get: func(c *Config) string { return c.Domain },
		set: func(c *Config, v string) error { c.Domain, c.DomainSet = v, true; return nil }},
	strKey(keyInternalHostname, "host name other nodes use (default: the host name)",
		func(c *Config) *string { return &c.InternalHostname }),
	{key: keyInternalDomain, desc: "domain appended to the internal host name (default: the domain)",
		get: func(c *Config) string { return c.InternalDomain },
		set: func(c *Config, v string) error { c.InternalDomain, c.InternalDomainSet = v, true; return nil }},
	portKey("axoniq.axonserver.port", "client gRPC port",
		func(c *Config) *int { return &c.Port }),
	portKey("axoniq.axonserver.internal-port", "node-to-node port: gossip (UDP and TCP) and internal gRPC",
		func(c *Config) *int { return &c.InternalPort }),
	portKey("server.port", "HTTP port: REST API, dashboard, health, metrics",
		func(c *Config) *int { return &c.HTTPPort }),
	strKey("axoniq.axonserver.cluster.bind-address", "local IP address all three ports listen on",
		func(c *Config) *string { return &c.BindAddress }),
	strKey("axoniq.axonserver.controldb-path", "directory where the node keeps its cluster state",
		func(c *Config) *string { return &c.ControlDBPath }),
	strKey("axoniq.axonserver.autocluster.first", "host[:port] of a node to join at start-up, retried until it works",
		func(c *Config) *string { return &c.AutoclusterFirst }),
	boolKey("axoniq.axonserver.accesscontrol.enabled", "require an access token on every request but health",
		func(c *Config) *bool { return &c.AccessControl.Enabled }),
	strKey("axoniq.axonserver.accesscontrol.token", "token clients and the CLI send in AxonIQ-Access-Token",
		func(c *Config) *string { return &c.AccessControl.Token }),
	strKey("axoniq.axonserver.accesscontrol.internal-token", "token nodes send in AxonIQ-InternalToken (default: the token)",
		func(c *Config) *string { return &c.AccessControl.InternalToken }),
	boolKey("axoniq.axonserver.ssl.enabled", "TLS on all three ports: HTTP, client gRPC and the internal port's TCP side",
		func(c *Config) *bool { return &c.SSL.Enabled }),
	strKey("axoniq.axonserver.ssl.cert-chain-file", "PEM certificate chain for TLS",
		func(c *Config) *string { return &c.SSL.CertChainFile }),
	strKey("axoniq.axonserver.ssl.private-key-file", "PEM private key for TLS",
		func(c *Config) *string { return &c.SSL.PrivateKeyFile }),
	strKey("axoniq.axonserver.ssl.internal-cert-chain-file", "PEM certificate chain between nodes (default: cert-chain-file)",
		func(c *Config) *string { return &c.SSL.InternalCertChainFile }),
	strKey("axoniq.axonserver.ssl.internal-private-key-file", "PEM private key between nodes (default: private-key-file)",
		func(c *Config) *string { return &c.SSL.InternalPrivateKeyFile }),
	strKey("axoniq.axonserver.ssl.internal-trust-manager-file", "PEM CA certificates trusted between nodes",
		func(c *Config) *string { return &c.SSL.InternalTrustManagerFile }),
	strKey("axoniq.axonserver.cluster.name", "cluster name: clusters with other names never merge",
		func(c *Config) *string { return &c.Cluster.Name }),
	strKey(propEncryptionKey, "gossip encryption key, base64 of 16, 24 or 32 bytes (roster keygen)",
		func(c *Config) *string { return &c.Cluster.EncryptionKey }),
	{key: "axoniq.axonserver.cluster.gossip-profile", desc: "gossip timing: lan, wan or local",
		get: func(c *Config) string { return c.Cluster.GossipProfile },
		set: func(c *Config, v string) error { c.Cluster.GossipProfile = strings.ToLower(v); return nil }},
	boolKey("axoniq.axonserver.cluster.rebalance", "ask a fair share of clients to reconnect when a node joins",
		func(c *Config) *bool { return &c.Cluster.Rebalance }),
	intKey("axoniq.axonserver.cluster.max-gossip-streams", "most gossip streams (TCP) handled at once on the internal port; more are closed at once",
		1, 1<<16, func(c *Config) *int { return &c.Cluster.MaxGossipStreams }),
	intKey("axoniq.axonserver.cluster.max-gossip-nodes", "most nodes a gossip push/pull may carry; a node takes four times the nodes it knows of, at least 1024, up to this",
		16, 1<<20, func(c *Config) *int { return &c.Cluster.MaxGossipNodes }),
	{key: "axoniq.axonserver.cluster.shutdown-timeout", desc: "longest graceful stop: a Go duration (10s) or seconds (10)",
		get: func(c *Config) string { return c.ShutdownTimeout.String() },
		set: setShutdownTimeout},
	{key: "axoniq.axonserver.cluster.tombstone-ttl", desc: "how long an unregistered node's tombstone is kept: a duration with a unit (30d, 12h, 90m)",
		get: func(c *Config) string { return formatDays(c.Cluster.TombstoneTTL) },
		set: setTombstoneTTL},
	{key: "axoniq.axonserver.cluster.tombstone-max", desc: "most tombstones of unregistered nodes kept, the oldest dropped first",
		get: func(c *Config) string { return strconv.Itoa(c.Cluster.TombstoneMax) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("is not a whole number (allowed: 1 to " + strconv.Itoa(maxTombstones) + ")")
			}
			c.Cluster.TombstoneMax = n
			return nil
		}},
	{key: "logging.level.root", desc: "log level: trace, debug, info, warn or error",
		get: func(c *Config) string { return c.LogLevel },
		set: setLogLevel},
}, limitKeys...)

func strKey(key, desc string, f func(*Config) *string) keyDef {
	return keyDef{key: key, desc: desc,
		get: func(c *Config) string { return *f(c) },
		set: func(c *Config, v string) error { *f(c) = v; return nil }}
}

func portKey(key, desc string, f func(*Config) *int) keyDef {
	return keyDef{key: key, desc: desc,
		get: func(c *Config) string { return strconv.Itoa(*f(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 65535 {
				return errBadPort
			}
			*f(c) = n
			return nil
		}}
}

// intKey is a whole number from least to most.
func intKey(key, desc string, least, most int, f func(*Config) *int) keyDef {
	return keyDef{key: key, desc: desc,
		get: func(c *Config) string { return strconv.Itoa(*f(c)) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < least || n > most {
				return fmt.Errorf("is not a whole number from %d to %d", least, most)
			}
			*f(c) = n
			return nil
		}}
}

func boolKey(key, desc string, f func(*Config) *bool) keyDef {
	return keyDef{key: key, desc: desc,
		get: func(c *Config) string { return strconv.FormatBool(*f(c)) },
		set: func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "true":
				*f(c) = true
			case "false":
				*f(c) = false
			default:
				return errors.New("is not a valid boolean (allowed: true, false)")
			}
			return nil
		}}
}

var errBadPort = errors.New("is not a valid port (allowed: 0-65535, 0 picks a free port)")

// setShutdownTimeout accepts a Go duration or, like Spring, plain seconds.
func setShutdownTimeout(c *Config, v string) error {
	if d, err := time.ParseDuration(v); err == nil {
		c.ShutdownTimeout = d
		return nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(s) || math.IsInf(s, 0) || math.Abs(s) > math.MaxInt64/float64(time.Second) {
		return errors.New("is not a valid duration (allowed: a Go duration such as 10s or 1m30s, or seconds such as 10)")
	}
	c.ShutdownTimeout = time.Duration(s * float64(time.Second))
	return nil
}

// maxTombstones bounds axoniq.axonserver.cluster.tombstone-max: an
// introduction carries every tombstone with the member list, in one gRPC
// message of at most 4 MB (about 100 bytes a tombstone).
const maxTombstones = 20000

// setTombstoneTTL accepts a Go duration or a whole number of days with
// Spring's "d" suffix (30d).
func setTombstoneTTL(c *Config, v string) error {
	const allowed = "is not a valid duration (allowed: a duration with a unit, such as 30d, 12h or 90m)"
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return errors.New(allowed)
		}
		c.Cluster.TombstoneTTL = time.Duration(n) * 24 * time.Hour
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New(allowed)
	}
	c.Cluster.TombstoneTTL = d
	return nil
}

// formatDays writes a duration of whole days as Spring does (30d).
func formatDays(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// setLogLevel accepts Spring's upper-case names and "warning" too.
func setLogLevel(c *Config, v string) error {
	l := strings.ToLower(v)
	if l == "warning" {
		l = "warn"
	}
	if !validLogLevel(l) {
		return errors.New("is not a valid log level (allowed: trace, debug, info, warn, error)")
	}
	c.LogLevel = l
	return nil
}

func validLogLevel(l string) bool {
	switch l {
	case "trace", "debug", "info", "warn", "error":
		return true
	}
	return false
}

// envName is the environment variable of a key: upper case, '.' and '-'
// turned into '_' (AXONIQ_AXONSERVER_INTERNAL_HOSTNAME).
func envName(key string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// envAlias is Spring Boot's canonical spelling of the same variable, which
// drops dashes (AXONIQ_AXONSERVER_INTERNALHOSTNAME); Axon Server accepts
// it, so existing deployments keep working. envName wins when both are set.
func envAlias(key string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "").Replace(key))
}

// relaxedKey is a key with case, '-' and '_' ignored, Spring's relaxed
// binding for file keys (internalHostname = internal-hostname).
func relaxedKey(key string) string {
	return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(key))
}

// KnownKeys lists every configuration property in table order.
func KnownKeys() []KeyInfo {
	def := DefaultConfig()
	out := make([]KeyInfo, len(keyTable))
	for i, k := range keyTable {
		out[i] = KeyInfo{Key: k.key, Env: envName(k.key), Default: k.get(&def), Description: k.desc}
	}
	return out
}

func lookupKey(key string) (keyDef, bool) {
	for _, k := range keyTable {
		if k.key == key {
			return k, true
		}
	}
	return keyDef{}, false
}

// RegisterFlags adds --config FILE and one string flag per known key
// (--axoniq.axonserver.port=8125, --server.port=8025), as Spring Boot
// accepts them. Flags that already exist are left alone rather than
// redefined (pflag would panic).
func RegisterFlags(fs *pflag.FlagSet) {
	if fs.Lookup("config") == nil {
		fs.String("config", "", "configuration file (default: axonserver.properties or axonserver.yml in . or ./config)")
	}
	for _, k := range KnownKeys() {
		if fs.Lookup(k.Key) == nil {
			fs.String(k.Key, k.Default, k.Description)
		}
	}
}

// LoadOptions says where LoadConfig reads from. Zero values mean: search
// for the file, work directory ".", no flags, os.LookupEnv, os.Hostname.
type LoadOptions struct {
	// ConfigFile names the one file to read instead of searching; relative
	// paths are relative to WorkDir. A --config flag in Flags wins.
	ConfigFile string
	// WorkDir is where axonserver.properties/.yml are searched, in WorkDir
	// and WorkDir/config.
	WorkDir string
	// Flags holds flags registered by RegisterFlags; only flags the user
	// set (pflag Changed) count.
	Flags *pflag.FlagSet
	// LookupEnv reads one environment variable.
	LookupEnv func(string) (string, bool)
	// Environ lists the environment, to warn about unknown
	// AXONIQ_AXONSERVER_ variables. Nil: os.Environ when LookupEnv is nil
	// too, else no check (a fake environment has no list).
	Environ func() []string
	// Hostname returns the OS host name for the host-name rules.
	Hostname func() (string, error)
}

// configFiles are the searched names, lowest precedence first, as in
// Spring Boot: ./config beats ., and .properties beats .yml in a
// directory. All files found are read.
var configFiles = []string{
	"axonserver.yml", "axonserver.yaml", "axonserver.properties",
	filepath.Join("config", "axonserver.yml"), filepath.Join("config", "axonserver.yaml"), filepath.Join("config", "axonserver.properties"),
}

// LoadConfig merges, later sources winning: DefaultConfig(), the
// configuration file(s), environment variables, then flags the user set.
// It then applies the host-name rules (ResolveHosts) and Validate. It
// returns warnings (unknown keys, ignored host-name parts) also when it
// fails; the error lists every invalid value.
func LoadConfig(opts LoadOptions) (Config, []string, error) {
	if opts.WorkDir == "" {
		opts.WorkDir = "."
	}
	environ := opts.Environ
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
		if environ == nil {
			environ = os.Environ
		}
	}

	// Empty delimiter: dotted property names stay single keys.
	ko := koanf.New("")
	origin := map[string]string{} // key -> where its final value came from
	var warnings []string

	files, err := findConfigFiles(opts)
	if err != nil {
		return Config{}, nil, err
	}
	for _, f := range files {
		m, w, err := readConfigFile(f)
		warnings = append(warnings, w...)
		if err != nil {
			return Config{}, warnings, err
		}
		if err := ko.Load(confmap.Provider(m, ""), nil); err != nil {
			return Config{}, warnings, fmt.Errorf("config: %s: %w", f, err)
		}
		for k := range m {
			origin[k] = "in " + f
		}
	}

	env := map[string]any{}
	for _, k := range keyTable {
		name := envName(k.key)
		v, ok := opts.LookupEnv(name)
		if !ok {
			name = envAlias(k.key)
			v, ok = opts.LookupEnv(name)
		}
		if ok {
			env[k.key] = v
			origin[k.key] = "by environment variable " + name
		}
	}
	if err := ko.Load(confmap.Provider(env, ""), nil); err != nil {
		return Config{}, warnings, fmt.Errorf("config: environment: %w", err)
	}
	if environ != nil {
		vars := environ()
		warnings = append(warnings, unknownEnvWarnings(vars)...)
		tags, from := tagEnvironment(vars)
		if err := ko.Load(confmap.Provider(tags, ""), nil); err != nil {
			return Config{}, warnings, fmt.Errorf("config: environment: %w", err)
		}
		for k, o := range from {
			origin[k] = o
		}
	}

	if opts.Flags != nil {
		// Without a koanf instance posflag takes only flags that were set.
		p := posflag.ProviderWithFlag(opts.Flags, "", nil, func(f *pflag.Flag) (string, any) {
			if _, ok := lookupKey(f.Name); !ok {
				return "", nil
			}
			return f.Name, f.Value.String()
		})
		if err := ko.Load(p, nil); err != nil {
			return Config{}, warnings, fmt.Errorf("config: flags: %w", err)
		}
		opts.Flags.Visit(func(f *pflag.Flag) {
			if _, ok := lookupKey(f.Name); ok {
				origin[f.Name] = "by flag --" + f.Name
			}
		})
	}

	cfg := DefaultConfig()
	var errs []error
	for _, k := range keyTable {
		if !ko.Exists(k.key) {
			continue
		}
		raw := ko.String(k.key)
		// Surrounding blanks are never meant: Java keeps trailing ones.
		v := strings.TrimSpace(raw)
		if v == "" && k.key == propEncryptionKey {
			// `encryption-key=$(roster keygen)` with roster not on the PATH:
			// never run unencrypted because a command failed.
			errs = append(errs, fmt.Errorf("config: %s: empty value set %s: give a gossip key (roster keygen prints one; "+
				"if $(roster keygen) made it empty, roster was not on the PATH), or remove the setting to run without gossip encryption",
				k.key, origin[k.key]))
			continue
		}
		if err := k.set(&cfg, v); err != nil {
			errs = append(errs, fmt.Errorf("config: %s: %q %w; set %s", k.key, raw, err, origin[k.key]))
		}
	}
	for _, k := range ko.Keys() {
		if name, ok := strings.CutPrefix(k, tagPrefix); ok {
			if cfg.Tags == nil {
				cfg.Tags = map[string]string{}
			}
			cfg.Tags[name] = strings.TrimSpace(ko.String(k))
		}
	}
	if len(errs) > 0 {
		return Config{}, warnings, errors.Join(errs...)
	}

	w, err := cfg.ResolveHosts(opts.Hostname)
	warnings = append(warnings, w...)
	if err != nil {
		return Config{}, warnings, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, warnings, err
	}
	return cfg, warnings, nil
}

// findConfigFiles returns the file named by --config or ConfigFile (which
// must exist), else every searched file that exists.
func findConfigFiles(opts LoadOptions) ([]string, error) {
	named := opts.ConfigFile
	if opts.Flags != nil {
		if f := opts.Flags.Lookup("config"); f != nil && f.Changed {
			named = f.Value.String()
		}
	}
	if named != "" {
		if !filepath.IsAbs(named) {
			named = filepath.Join(opts.WorkDir, named)
		}
		if _, err := os.Stat(named); err != nil {
			return nil, fmt.Errorf("config: config file: %w", err)
		}
		return []string{named}, nil
	}
	var found []string
	for _, name := range configFiles {
		p := filepath.Join(opts.WorkDir, name)
		st, err := os.Stat(p)
		switch {
		case err == nil && !st.IsDir():
			found = append(found, p)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	return found, nil
}

// readConfigFile parses one file into known keys, mapping Spring's relaxed
// spellings to the canonical key and warning about the rest.
func readConfigFile(path string) (map[string]any, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	var parser koanf.Parser = propertiesParser{}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yml" || ext == ".yaml" {
		parser = yamlParser{}
	}
	fk := koanf.New("")
	if err := fk.Load(rawbytes.Provider(b), parser); err != nil {
		// Parsers (YAML's) report over several lines; a start-up error is one.
		return nil, nil, fmt.Errorf("config: %s: %w", path, oneLine{err})
	}

	relaxed := make(map[string]string, len(keyTable))
	for _, k := range keyTable {
		relaxed[relaxedKey(k.key)] = k.key
	}
	out := map[string]any{}
	var warnings []string
	keys := fk.Keys() // sorted, so warnings and relaxed merges are stable
	for _, k := range keys {
		if _, ok := lookupKey(k); ok {
			out[k] = fk.String(k)
		}
	}
	for _, k := range keys {
		if _, ok := lookupKey(k); ok {
			continue
		}
		if canon, ok := tagKey(k); ok {
			out[canon] = fk.String(k)
			continue
		}
		if canon, ok := relaxed[relaxedKey(k)]; ok {
			if _, dup := out[canon]; !dup {
				out[canon] = fk.String(k)
			}
			continue
		}
		warnings = append(warnings, fmt.Sprintf("unknown property %s in %s%s", k, path, suggest(k, knownKeyNames())))
	}
	return out, warnings, nil
}

// unknownEnvWarnings flags AXONIQ_AXONSERVER_ variables that set nothing,
// usually typos.
func unknownEnvWarnings(environ []string) []string {
	known := map[string]bool{}
	var names []string
	for _, k := range keyTable {
		known[envName(k.key)], known[envAlias(k.key)] = true, true
		names = append(names, envName(k.key))
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if _, tag := tagFromEnv(name); tag {
			continue
		}
		if strings.HasPrefix(name, "AXONIQ_AXONSERVER_") && !known[name] {
			out = append(out, "unknown environment variable "+name+suggest(name, names))
		}
	}
	sort.Strings(out)
	return out
}

func knownKeyNames() []string {
	out := make([]string, len(keyTable))
	for i, k := range keyTable {
		out[i] = k.key
	}
	return out
}

// suggest returns " (did you mean X?)" for the candidate nearest to s by
// edit distance, or "" when even that one is too far to be a typo (such
// as Axon Server properties roster does not use).
func suggest(s string, candidates []string) string {
	if best := Nearest(s, candidates); best != "" {
		return " (did you mean " + best + "?)"
	}
	return ""
}

// Nearest is the candidate nearest to s by edit distance, or "" when even
// that one is too far to be a typo. The CLI names it for an unknown
// --flag (a mistyped --axoniq.axonserver.* key, say).
func Nearest(s string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		if d := editDistance(s, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > max(3, len(s)/5) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// oneLine folds a wrapped error's text onto one line.
type oneLine struct{ err error }

func (o oneLine) Error() string { return strings.Join(strings.Fields(o.err.Error()), " ") }
func (o oneLine) Unwrap() error { return o.err }
