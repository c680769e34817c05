package node

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolveHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cfg          Config
		osName       string
		wantClient   string
		wantInternal string
		wantName     string
		wantWarnings []string
	}{
		{
			// Nothing set: the OS name is split at its first dot, the rest
			// is the domain, so the full OS name comes back.
			name: "all unset, dotted os name", osName: "box.corp.local",
			wantClient: "box.corp.local", wantInternal: "box.corp.local", wantName: "box",
		},
		{
			// A short OS name has no domain to offer.
			name: "all unset, short os name", osName: "box",
			wantClient: "box", wantInternal: "box", wantName: "box",
		},
		{
			// Domain unset: the OS name after its first dot, even when the
			// hostname itself is configured (the spec, read literally).
			name: "hostname set, domain from os", osName: "box.corp.local",
			cfg:        Config{Hostname: "node1"},
			wantClient: "node1.corp.local", wantInternal: "node1.corp.local", wantName: "box",
		},
		{
			// Domain unset and a short OS name: no domain.
			name: "hostname set, short os name", osName: "box",
			cfg:        Config{Hostname: "node1"},
			wantClient: "node1", wantInternal: "node1", wantName: "box",
		},
		{
			// A dotted hostname brings its own domain; the OS one is not used.
			name: "dotted hostname, domain unset", osName: "box.corp.local",
			cfg:        Config{Hostname: "node1.example.com"},
			wantClient: "node1.example.com", wantInternal: "node1.example.com", wantName: "box",
		},
		{
			// The plain case: hostname + "." + domain.
			name: "hostname and domain", osName: "box",
			cfg:        Config{Hostname: "node1", Domain: "example.com", DomainSet: true},
			wantClient: "node1.example.com", wantInternal: "node1.example.com", wantName: "box",
		},
		{
			// Domain set to "" (AXONIQ_AXONSERVER_DOMAIN=): no domain, and
			// the OS domain is not used either.
			name: "empty domain set", osName: "box.corp.local",
			cfg:        Config{Hostname: "node1", DomainSet: true},
			wantClient: "node1", wantInternal: "node1", wantName: "box",
		},
		{
			// Hostname from the OS ending in "." + domain: the suffix is
			// dropped, then the domain appended again.
			name: "os name ends with domain", osName: "box.corp.local",
			cfg:        Config{Domain: "corp.local", DomainSet: true},
			wantClient: "box.corp.local", wantInternal: "box.corp.local", wantName: "box",
		},
		{
			// Hostname from the OS with another domain: the OS domain is
			// replaced, silently, because the operator chose the domain.
			name: "os name with other domain", osName: "box.corp.local",
			cfg:        Config{Domain: "example.com", DomainSet: true},
			wantClient: "box.example.com", wantInternal: "box.example.com", wantName: "box",
		},
		{
			// Empty domain set and hostname from the OS: the short OS name.
			name: "os name, empty domain set", osName: "box.corp.local",
			cfg:        Config{DomainSet: true},
			wantClient: "box", wantInternal: "box", wantName: "box",
		},
		{
			// Suffix dropped leaves "a.b"; the split keeps "a" (literal rules).
			name: "os name with extra label", osName: "a.b.corp.local",
			cfg:        Config{Domain: "corp.local", DomainSet: true},
			wantClient: "a.corp.local", wantInternal: "a.corp.local", wantName: "a",
		},
		{
			// A configured dotted hostname with a domain set: the rest is
			// ignored with one warning (the internal pair inherits both and
			// would repeat it word for word).
			name: "dotted hostname and domain set", osName: "box",
			cfg:        Config{Hostname: "node1.example.com", Domain: "corp.local", DomainSet: true},
			wantClient: "node1.corp.local", wantInternal: "node1.corp.local", wantName: "box",
			wantWarnings: []string{`axoniq.axonserver.hostname "node1.example.com": "example.com" after the first dot is ignored because axoniq.axonserver.domain is set to "corp.local"`},
		},
		{
			// The rest equals the domain: nothing is lost, no warning.
			name: "dotted hostname repeating the domain", osName: "box",
			cfg:        Config{Hostname: "node1.example.com", Domain: "example.com", DomainSet: true},
			wantClient: "node1.example.com", wantInternal: "node1.example.com", wantName: "box",
		},
		{
			// IPv4 literal: left as is, the domain is never appended.
			name: "ipv4 with domain", osName: "box",
			cfg:        Config{Hostname: "10.0.0.5", Domain: "example.com", DomainSet: true},
			wantClient: "10.0.0.5", wantInternal: "10.0.0.5", wantName: "box",
		},
		{
			// IPv4 literal, domain unset: not split at its dots, no OS domain.
			name: "ipv4 domain unset", osName: "box.corp.local",
			cfg:        Config{Hostname: "192.168.1.20"},
			wantClient: "192.168.1.20", wantInternal: "192.168.1.20", wantName: "box",
		},
		{
			// IPv6 literal: left as is.
			name: "ipv6", osName: "box.corp.local",
			cfg:        Config{Hostname: "fd00::5", Domain: "example.com", DomainSet: true},
			wantClient: "fd00::5", wantInternal: "fd00::5", wantName: "box",
		},
		{
			// IPv6 literal in brackets: left as is, brackets kept.
			name: "bracketed ipv6", osName: "box.corp.local",
			cfg:        Config{Hostname: "[fd00::5]"},
			wantClient: "[fd00::5]", wantInternal: "[fd00::5]", wantName: "box",
		},
		{
			// Both internal values set: independent of the client pair.
			name: "internal pair set", osName: "box",
			cfg: Config{Hostname: "public.example.com",
				InternalHostname: "node1", InternalDomain: "internal.lan", InternalDomainSet: true},
			wantClient: "public.example.com", wantInternal: "node1.internal.lan", wantName: "box",
		},
		{
			// Internal hostname set, internal domain unset: the configured
			// domain is inherited.
			name: "internal hostname inherits domain", osName: "box",
			cfg: Config{Hostname: "public", Domain: "example.com", DomainSet: true,
				InternalHostname: "node1"},
			wantClient: "public.example.com", wantInternal: "node1.example.com", wantName: "box",
		},
		{
			// Internal hostname set, both domains unset: the internal one
			// inherits "unset", so it takes the OS domain, not the domain of
			// the dotted client hostname (defaults are the raw values).
			name: "internal hostname, domains unset", osName: "box.corp.local",
			cfg:        Config{Hostname: "public.example.com", InternalHostname: "node1"},
			wantClient: "public.example.com", wantInternal: "node1.corp.local", wantName: "box",
		},
		{
			// Internal domain set, internal hostname inherited.
			name: "internal domain only", osName: "box",
			cfg: Config{Hostname: "node1", Domain: "example.com", DomainSet: true,
				InternalDomain: "internal.lan", InternalDomainSet: true},
			wantClient: "node1.example.com", wantInternal: "node1.internal.lan", wantName: "box",
		},
		{
			// Empty internal domain with an inherited dotted hostname: the
			// warning names where each value came from.
			name: "empty internal domain, dotted hostname", osName: "box",
			cfg:        Config{Hostname: "node1.example.com", InternalDomainSet: true},
			wantClient: "node1.example.com", wantInternal: "node1", wantName: "box",
			wantWarnings: []string{`axoniq.axonserver.hostname "node1.example.com": "example.com" after the first dot is ignored because axoniq.axonserver.internal-domain is set to ""`},
		},
		{
			// An internal IP literal never gets the inherited domain.
			name: "internal ipv4", osName: "box",
			cfg: Config{Hostname: "node1", Domain: "example.com", DomainSet: true,
				InternalHostname: "10.1.2.3"},
			wantClient: "node1.example.com", wantInternal: "10.1.2.3", wantName: "box",
		},
		{
			// A configured name is kept.
			name: "name set", osName: "box.corp.local",
			cfg:        Config{Name: "n1"},
			wantClient: "box.corp.local", wantInternal: "box.corp.local", wantName: "n1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			c := tt.cfg
			w, err := c.ResolveHosts(func() (string, error) { calls++; return tt.osName, nil })
			require.NoError(t, err)
			require.Equal(t, tt.wantClient, c.ClientHost)
			require.Equal(t, tt.wantInternal, c.InternalHost)
			require.Equal(t, tt.wantName, c.Name)
			require.Equal(t, tt.wantWarnings, w)
			require.LessOrEqual(t, calls, 1, "os host name is looked up at most once")
			// The configured fields are not rewritten.
			require.Equal(t, tt.cfg.Hostname, c.Hostname)
			require.Equal(t, tt.cfg.Domain, c.Domain)
			require.Equal(t, tt.cfg.InternalHostname, c.InternalHostname)
		})
	}
}

func TestResolveHostsOSName(t *testing.T) {
	t.Parallel()
	failing := func() (string, error) { return "", errors.New("no uts") }

	// Everything configured: the OS is never asked.
	c := Config{Name: "n1", Hostname: "node1", Domain: "example.com", DomainSet: true}
	_, err := c.ResolveHosts(failing)
	require.NoError(t, err)
	require.Equal(t, "node1.example.com", c.ClientHost)

	// Needed and failing: an error that says what to set.
	c = Config{Hostname: "node1"}
	_, err = c.ResolveHosts(failing)
	require.ErrorContains(t, err, "config: os host name: no uts")
	require.ErrorContains(t, err, "axoniq.axonserver.name")

	// Needed and empty.
	c = Config{Name: "n1", DomainSet: true}
	_, err = c.ResolveHosts(func() (string, error) { return "", nil })
	require.ErrorContains(t, err, "config: os host name is empty")
}

func TestIsIPLiteral(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"10.0.0.1": true, "::1": true, "[::1]": true, "fe80::1%eth0": true,
		"[10.0.0.1]": false, "[::1": false, "node1": false, "1.2.3": false, "": false,
	} {
		require.Equal(t, want, isIPLiteral(s), s)
	}
}
