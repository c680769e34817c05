package node

import (
	"errors"

	"github.com/rosterhq/roster/node/tlsdiag"
)

// tlsFailure explains an error of a call to another node that failed in
// TLS, and what to check; ok is false for other errors. A node that speaks
// TLS where this one does not is told by wrongPort, which looks at the
// port: the plain HTTP/2 client learns only that the answer was not
// HTTP/2.
func tlsFailure(err error) (why string, ok bool) {
	const check = "; both nodes need axoniq.axonserver.ssl.enabled alike, and with " + keyInternalTrustCAs +
		" internal certificates signed by a CA in the other node's trust file"
	var refused *peerCertError
	if errors.As(err, &refused) {
		return refused.msg + check, true
	}
	f := tlsdiag.Diagnose(err)
	switch f.Kind {
	case tlsdiag.None:
		return "", false
	case tlsdiag.NotTLS:
		return "the node there does not speak TLS (axoniq.axonserver.ssl.enabled=false there)" + check, true
	case tlsdiag.Refused:
		return "the node there refused this node's certificate (" + f.Alert + ")" + check, true
	}
	return f.Err.Error() + check, true
}
