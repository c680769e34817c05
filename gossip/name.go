package gossip

import "fmt"

// MaxNodeNameLength is the longest node name: a DNS label's length, so a
// name can always be a host name too.
const MaxNodeNameLength = 63

// ValidNodeName checks a node name: 1 to 63 letters, digits, '-', '_' and
// '.', starting with a letter or digit. A name travels in URL paths
// (DELETE /v1/cluster/{name}), log lines and gossip; these characters
// pass through all of them unchanged, and "." and ".." (which a URL path
// or a file name would mangle) cannot occur. The error says what is wrong
// and what is allowed.
func ValidNodeName(name string) error {
	const allowed = "allowed: 1 to 63 letters, digits, '-', '_' and '.', starting with a letter or digit"
	if name == "" {
		return fmt.Errorf("gossip: node name is empty (%s)", allowed)
	}
	if len(name) > MaxNodeNameLength {
		return fmt.Errorf("gossip: node name %.20q... is longer than %d characters (%s)", name, MaxNodeNameLength, allowed)
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		switch {
		case i == 0 && !alnum:
			return fmt.Errorf("gossip: node name %q starts with %q (%s)", name, c, allowed)
		case !alnum && c != '-' && c != '_' && c != '.':
			return fmt.Errorf("gossip: node name %q contains %q (%s)", name, c, allowed)
		}
	}
	return nil
}
