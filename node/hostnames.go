package node

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// Property names used in host-name warnings and errors.
const (
	keyName             = "axoniq.axonserver.name"
	keyHostname         = "axoniq.axonserver.hostname"
	keyDomain           = "axoniq.axonserver.domain"
	keyInternalHostname = "axoniq.axonserver.internal-hostname"
	keyInternalDomain   = "axoniq.axonserver.internal-domain"
)

// ResolveHosts applies Axon Server's host-name rules and fills ClientHost
// (from Hostname, Domain, DomainSet) and InternalHost (from
// InternalHostname, InternalDomain, InternalDomainSet). An empty
// InternalHostname means the configured Hostname and an unset internal
// domain means the configured Domain (both taken before the rules run), so
// without internal settings both addresses are equal. Name, when empty,
// becomes the first label of the OS host name.
//
// The rules, for each pair:
//   - hostname empty: the OS host name; if a domain is set and the OS name
//     ends with "." + domain, that suffix is dropped;
//   - an IP literal (IPv4, IPv6, or IPv6 in brackets) is used as it is and
//     never gets a domain;
//   - a hostname with a dot is split at the first dot: the first label stays
//     the hostname and the rest becomes the domain unless a domain is set;
//     then the rest is ignored, with a warning when the operator configured
//     that hostname (not when it came from the OS: setting a domain is the
//     way to replace the OS's own);
//   - domain still unset: the OS host name after its first dot, or empty;
//   - the address is hostname + "." + domain, or hostname when the domain
//     is empty.
//
// osHostname (nil: os.Hostname) is called at most once, and only when a
// rule needs it. The configured fields are left unchanged.
func (c *Config) ResolveHosts(osHostname func() (string, error)) (warnings []string, err error) {
	if osHostname == nil {
		osHostname = os.Hostname
	}
	osName := memoHostname(osHostname)

	if c.Name == "" {
		n, err := osName()
		if err != nil {
			return nil, err
		}
		c.Name, _, _ = strings.Cut(n, ".")
	}

	client := hostPair{
		hostname: c.Hostname, hostKey: keyHostname,
		domain: c.Domain, domainSet: c.DomainSet, domainKey: keyDomain,
	}
	internal := client
	if c.InternalHostname != "" {
		internal.hostname, internal.hostKey = c.InternalHostname, keyInternalHostname
	}
	if c.InternalDomainSet {
		internal.domain, internal.domainSet, internal.domainKey = c.InternalDomain, true, keyInternalDomain
	}

	clientHost, w, err := client.resolve(osName)
	if err != nil {
		return nil, err
	}
	if w != "" {
		warnings = append(warnings, w)
	}
	internalHost, w, err := internal.resolve(osName)
	if err != nil {
		return nil, err
	}
	// An inherited pair repeats the client warning word for word.
	if w != "" && (len(warnings) == 0 || warnings[0] != w) {
		warnings = append(warnings, w)
	}
	c.ClientHost, c.InternalHost = clientHost, internalHost
	return warnings, nil
}

// hostPair is one (hostname, domain) input of the rules, with the property
// names its values came from, for messages.
type hostPair struct {
	hostname, hostKey string
	domain, domainKey string
	domainSet         bool
}

// resolve applies the rules to one pair; see ResolveHosts.
func (p hostPair) resolve(osName func() (string, error)) (addr, warning string, err error) {
	h, d, dset := p.hostname, p.domain, p.domainSet
	fromOS := false
	if h == "" {
		n, err := osName()
		if err != nil {
			return "", "", err
		}
		h, fromOS = n, true
		if dset && d != "" && len(h) > len(d)+1 && strings.HasSuffix(h, "."+d) {
			h = strings.TrimSuffix(h, "."+d)
		}
	}
	if isIPLiteral(h) {
		return h, "", nil
	}
	if first, rest, dotted := strings.Cut(h, "."); dotted {
		h = first
		switch {
		case !dset:
			d, dset = rest, true
		case !fromOS && rest != d:
			warning = fmt.Sprintf("%s %q: %q after the first dot is ignored because %s is set to %q",
				p.hostKey, p.hostname, rest, p.domainKey, d)
		}
	}
	if !dset {
		n, err := osName()
		if err != nil {
			return "", "", err
		}
		if _, rest, dotted := strings.Cut(n, "."); dotted && !isIPLiteral(n) {
			d = rest
		}
	}
	if d == "" {
		return h, warning, nil
	}
	return h + "." + d, warning, nil
}

// memoHostname calls f once, on first use, and makes an empty name an
// error: every rule that asks for the OS name needs a real one.
func memoHostname(f func() (string, error)) func() (string, error) {
	var (
		done bool
		name string
		err  error
	)
	return func() (string, error) {
		if !done {
			done = true
			name, err = f()
			switch {
			case err != nil:
				err = fmt.Errorf("config: os host name: %w (set %s and %s)", err, keyName, keyHostname)
			case name == "":
				err = errors.New("config: os host name is empty (set " + keyName + " and " + keyHostname + ")")
			}
		}
		return name, err
	}
}

// isIPLiteral reports whether s is an IPv4 or IPv6 address, the latter
// optionally in brackets ("[::1]") as in URLs.
func isIPLiteral(s string) bool {
	if inner, ok := strings.CutPrefix(s, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(inner)
		return err == nil && a.Is6()
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}
