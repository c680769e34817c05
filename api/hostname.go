package api

import (
	"fmt"
	"net/netip"
	"strings"
)

// checkHost validates a host given to the API (a JoinRequest's
// internalHostName) and returns it in the form to dial: an IP literal
// (IPv4, or IPv6 with or without brackets) or a DNS name. DNS names follow
// the rules of Go's own resolver, so any name the node could look up is
// accepted: labels of 1-63 letters, digits, '-' or '_' (Docker Compose
// service names use '_'), not starting or ending with '-', 253 characters
// at most (plus an optional final dot), and not all digits.
func checkHost(host string) (string, error) {
	if host == "" {
		return "", fmt.Errorf("empty host name")
	}
	if inner, ok := strings.CutPrefix(host, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if a, err := netip.ParseAddr(inner); ok && err == nil && a.Is6() {
			return inner, nil
		}
		return "", fmt.Errorf("not a valid IPv6 literal")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, nil
	}
	if strings.Contains(host, ":") {
		return "", fmt.Errorf("not a host name or IP address (give the port separately)")
	}
	if err := checkDNSName(host); err != nil {
		return "", err
	}
	return host, nil
}

func checkDNSName(name string) error {
	name = strings.TrimSuffix(name, ".")
	if len(name) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	nonNumeric := false
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return fmt.Errorf("empty label")
		case len(label) > 63:
			return fmt.Errorf("label %q is longer than 63 characters", label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("label %q starts or ends with '-'", label)
		}
		for _, c := range []byte(label) {
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-':
				nonNumeric = true
			default:
				return fmt.Errorf("character %q is not allowed", c)
			}
		}
	}
	if !nonNumeric {
		return fmt.Errorf("neither a valid IP address nor a host name")
	}
	return nil
}
