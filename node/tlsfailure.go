package node

import (
	"strings"
)

// tlsFailure explains an error of a call to another node that failed in
// TLS, and what to check; ok is false for other errors.
func tlsFailure(err error) (why string, ok bool) {
	msg := err.Error()
	const check = "; both nodes need axoniq.axonserver.ssl.enabled alike, and with " + keyInternalTrustCAs +
		" internal certificates signed by a CA in the other node's trust file"
	switch {
	case strings.Contains(msg, "looked like an HTTP/1.1 header"), strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"),
		strings.Contains(msg, "error reading server preface: http2: frame too large"):
		return "the node there requires TLS and this node has axoniq.axonserver.ssl.enabled=false" + check, true
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the node there does not speak TLS (axoniq.axonserver.ssl.enabled=false there)" + check, true
	case strings.Contains(msg, "remote error: tls: "):
		_, alert, _ := strings.Cut(msg, "remote error: tls: ")
		return "the node there refused this node's certificate (" + strings.TrimSuffix(alert, `"`) + ")" + check, true
	}
	for _, marker := range []string{"node: tls: ", "x509: ", "tls: "} {
		if i := strings.Index(msg, marker); i >= 0 {
			why = strings.TrimSuffix(strings.TrimPrefix(msg[i:], "node: tls: "), `"`)
			return why + check, true
		}
	}
	return "", false
}
