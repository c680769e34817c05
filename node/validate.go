package node

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/gossip"
)

// Validate checks a merged configuration (after ResolveHosts) and returns
// every problem, one line each, joined with errors.Join. Each line names
// the property, its value and what is allowed.
//
// Fallbacks the node applies at run time, so they are not errors here:
// an empty accesscontrol.internal-token means nodes send the token, and an
// empty ssl.internal-cert-chain-file / internal-private-key-file means the
// public cert-chain-file / private-key-file.
//
// The encryption key is a secret: its messages give its length, never its
// value.
func (c Config) Validate() error {
	var v validator

	ports := []struct {
		key string
		val int
	}{
		{"server.port", c.HTTPPort},
		{"axoniq.axonserver.port", c.Port},
		{"axoniq.axonserver.internal-port", c.InternalPort},
	}
	for i, p := range ports {
		if p.val < 0 || p.val > 65535 {
			v.addf(p.key, strconv.Itoa(p.val), "is not a valid port (allowed: 0-65535, 0 picks a free port)")
			continue
		}
		for _, q := range ports[:i] {
			if p.val != 0 && p.val == q.val {
				v.addf(p.key, strconv.Itoa(p.val), "is also %s (allowed: three different ports, or 0 to pick free ones)", q.key)
			}
		}
	}

	if !validNodeName(c.Name) {
		v.addf(keyName, c.Name, "is not a valid node name (allowed: "+nodeNameAllowed+")")
	}

	v.host(keyHostname, c.Hostname, true)
	v.host(keyDomain, c.Domain, false)
	v.host(keyInternalHostname, c.InternalHostname, true)
	v.host(keyInternalDomain, c.InternalDomain, false)
	// The resolved addresses may still be bad: an odd OS host name, or a
	// hostname and domain that are too long together.
	if c.ClientHost == "" || !validHost(c.ClientHost) {
		v.addf(keyHostname, c.ClientHost, "is not a valid resolved client address (allowed: "+hostAllowed+")")
	}
	if c.InternalHost == "" || !validHost(c.InternalHost) {
		v.addf(keyInternalHostname, c.InternalHost, "is not a valid resolved internal address (allowed: "+hostAllowed+")")
	}

	if _, err := netip.ParseAddr(c.BindAddress); err != nil {
		v.addf("axoniq.axonserver.cluster.bind-address", c.BindAddress,
			"is not an IP address (allowed: a local IP address, 0.0.0.0 or :: for all)")
	}
	if c.ControlDBPath == "" {
		v.addf("axoniq.axonserver.controldb-path", c.ControlDBPath, "is empty (allowed: a directory path)")
	}
	if c.AutoclusterFirst != "" && !validHostPort(c.AutoclusterFirst) {
		v.addf("axoniq.axonserver.autocluster.first", c.AutoclusterFirst,
			"is not a valid address (allowed: host or host:port with port 1-65535; IPv6 as [addr]:port)")
	}

	if c.AccessControl.Enabled && c.AccessControl.Token == "" {
		v.addf("axoniq.axonserver.accesscontrol.token", "",
			"is empty (allowed: any non-empty token; required when axoniq.axonserver.accesscontrol.enabled is true)")
	}
	if c.SSL.Enabled {
		const why = "required when axoniq.axonserver.ssl.enabled is true"
		v.file("axoniq.axonserver.ssl.cert-chain-file", c.SSL.CertChainFile, why)
		v.file("axoniq.axonserver.ssl.private-key-file", c.SSL.PrivateKeyFile, why)
		// Internal files are optional: empty means the public twin.
		for _, f := range []struct{ key, val string }{
			{"axoniq.axonserver.ssl.internal-cert-chain-file", c.SSL.InternalCertChainFile},
			{"axoniq.axonserver.ssl.internal-private-key-file", c.SSL.InternalPrivateKeyFile},
			{"axoniq.axonserver.ssl.internal-trust-manager-file", c.SSL.InternalTrustManagerFile},
		} {
			if f.val != "" {
				v.file(f.key, f.val, why)
			}
		}
	}

	if !validIdent(c.Cluster.Name) {
		v.addf("axoniq.axonserver.cluster.name", c.Cluster.Name,
			"is not a valid cluster name (allowed: 1-64 letters, digits, '.', '-' or '_')")
	}
	if k := c.Cluster.EncryptionKey; k != "" {
		const allowed = "allowed: base64 of 16, 24 or 32 bytes, e.g. from `roster keygen`"
		b, err := base64.StdEncoding.DecodeString(k)
		switch {
		case err != nil:
			v.add(fmt.Errorf("config: axoniq.axonserver.cluster.encryption-key: value (hidden, %d characters) is not valid base64; %s", len(k), allowed))
		case len(b) != 16 && len(b) != 24 && len(b) != 32:
			v.add(fmt.Errorf("config: axoniq.axonserver.cluster.encryption-key: value (hidden, %d characters) decodes to %d bytes; %s", len(k), len(b), allowed))
		}
	}
	switch c.Cluster.GossipProfile {
	case "lan", "wan", "local":
	default:
		v.addf("axoniq.axonserver.cluster.gossip-profile", c.Cluster.GossipProfile,
			"is not a valid gossip profile (allowed: lan, wan, local)")
	}
	if c.ShutdownTimeout <= 0 {
		v.addf("axoniq.axonserver.cluster.shutdown-timeout", c.ShutdownTimeout.String(),
			"is not positive (allowed: a duration greater than 0, such as 10s)")
	}
	if c.Cluster.TombstoneTTL <= 0 {
		v.addf("axoniq.axonserver.cluster.tombstone-ttl", formatDays(c.Cluster.TombstoneTTL),
			"is not positive (allowed: a duration greater than 0, such as 30d)")
	}
	if c.Cluster.TombstoneMax < 1 || c.Cluster.TombstoneMax > maxTombstones {
		v.addf("axoniq.axonserver.cluster.tombstone-max", strconv.Itoa(c.Cluster.TombstoneMax),
			"is out of range (allowed: 1 to %d)", maxTombstones)
	}
	c.Limits.validate(&v)
	v.tags(c.Tags)
	if !validLogLevel(c.LogLevel) {
		v.addf("logging.level.root", c.LogLevel, "is not a valid log level (allowed: trace, debug, info, warn, error)")
	}

	return errors.Join(v.errs...)
}

// errGossipKeyNeeded refuses access control over gossip anyone can join.
var errGossipKeyNeeded = errors.New("node: axoniq.axonserver.accesscontrol.enabled=true needs axoniq.axonserver.cluster.encryption-key: " +
	"gossip without a key lets any peer join; generate one with `roster keygen`")

// checkGossipKey refuses to start a node whose tokens would guard every
// door but gossip: without a gossip key, any peer that speaks serf could
// join, be listed, be handed clients, and unregister live nodes. A
// keyring saved in the data directory (by an earlier key or a key
// rotation) counts: it wins over the property anyway.
func (c Config) checkGossipKey() error {
	if c.AccessControl.Enabled && c.Cluster.EncryptionKey == "" && !gossip.HasSavedKeyring(c.ControlDBPath) {
		return errGossipKeyNeeded
	}
	return nil
}

// validator collects problems so that an operator sees all at once.
type validator struct{ errs []error }

func (v *validator) add(err error) { v.errs = append(v.errs, err) }

// addf adds `config: key: "value" <problem>`.
func (v *validator) addf(key, value, problem string, args ...any) {
	v.add(fmt.Errorf("config: %s: %q %s", key, value, fmt.Sprintf(problem, args...)))
}

const hostAllowed = "a DNS name of dot-separated labels of 1-63 letters, digits or '-', at most 253 characters, or an IP address"

// host checks a configured host name or domain; empty means "derive it".
// Domains cannot be IP addresses.
func (v *validator) host(key, val string, ipOK bool) {
	if val == "" {
		return
	}
	if ipOK && isIPLiteral(val) {
		return
	}
	// A domain that parses as an IP address is a mistake even though its
	// all-digit labels would pass as DNS labels.
	if !validDNSName(val) || !ipOK && isIPLiteral(val) {
		allowed := hostAllowed
		if !ipOK {
			allowed = strings.TrimSuffix(allowed, ", or an IP address")
		}
		v.addf(key, val, "is not a valid host name (allowed: %s)", allowed)
	}
}

// file checks that a TLS file is set and readable now, not at the first
// handshake.
func (v *validator) file(key, path, why string) {
	if path == "" {
		v.addf(key, path, "is empty (allowed: a readable PEM file; %s)", why)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		v.add(fmt.Errorf("config: %s: %q cannot be read (allowed: a readable PEM file): %w", key, path, err))
		return
	}
	_ = f.Close()
}

func validHost(s string) bool { return isIPLiteral(s) || validDNSName(s) }

// validDNSName: labels of 1-63 letters, digits or '-', 253 characters in all.
func validDNSName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !isAlnum(r) && r != '-' {
				return false
			}
		}
	}
	return true
}

// validHostPort accepts host, host:port, an IPv6 literal, and [ipv6]:port.
func validHostPort(s string) bool {
	if validHost(s) {
		return true
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return false
	}
	if strings.Contains(host, ":") {
		// SplitHostPort removed the brackets an IPv6 host needs.
		a, err := netip.ParseAddr(host)
		return err == nil && a.Is6()
	}
	return validHost(host)
}

const nodeNameAllowed = "1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"

// validNodeName: a name that travels unchanged in URL paths
// (DELETE /v1/cluster/{name}) and file names, the rule every node also
// applies to its peers (gossip.ValidNodeName).
func validNodeName(s string) bool { return gossip.ValidNodeName(s) == nil }

// validIdent: 1-64 letters, digits, '.', '-' or '_'.
func validIdent(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '.' && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
