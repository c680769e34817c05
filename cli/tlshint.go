package cli

import (
	"errors"
	"strings"

	"github.com/rosterhq/roster/api"
)

// tlsHint turns the errors of talking HTTP to an HTTPS port, HTTPS to an
// HTTP port, or HTTPS to a server with an untrusted certificate into one
// line that says what to do. ok is false for any other error.
func tlsHint(err error) (line string, ok bool) {
	msg := err.Error()
	// "cannot reach URL: why" from the client; keep the address part.
	where, _, _ := strings.Cut(msg, ": ")
	const useHTTPS = "the server speaks HTTPS (TLS): use -s/--https or an https:// URL with -S"
	var ae *api.Error
	switch {
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return where + ": the server speaks plain HTTP, not HTTPS: use an http:// URL with -S and no -s/--https", true
	case strings.Contains(msg, "malformed HTTP response"):
		return where + ": " + useHTTPS, true
	case errors.As(err, &ae) && ae.Code == "" && strings.Contains(ae.Message, "Client sent an HTTP request to an HTTPS server"):
		return useHTTPS, true
	case strings.Contains(msg, "x509: certificate signed by unknown authority"),
		strings.Contains(msg, "certificate is not trusted"):
		return where + ": the server's certificate is not signed by a CA this machine trusts: trust the CA " +
			"(--ca-cert ca.pem) or skip the check with -i/--insecure-ssl", true
	case strings.Contains(msg, "x509: certificate is valid for"):
		_, why, _ := strings.Cut(msg, "x509: ")
		return where + ": " + why + ": use a name the certificate holds with -S, or skip the check with -i/--insecure-ssl", true
	}
	return "", false
}
