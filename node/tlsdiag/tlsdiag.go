// Package tlsdiag tells what went wrong in a TLS handshake from the error
// a dial or a request returned, by the error types crypto/tls and
// crypto/x509 return (errors.As), never by their words. Callers word the
// advice: a node names its settings, the CLI its flags.
package tlsdiag

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
)

// Kind is what went wrong, as the side that dialed saw it.
type Kind int

const (
	// None: err is not a TLS failure this package recognises.
	None Kind = iota
	// NotTLS: something answered, but not with TLS
	// (tls.RecordHeaderError): a plain port, or another protocol.
	NotTLS
	// Refused: the peer ended the handshake with an alert, mostly
	// because it did not accept this side's certificate (or that none
	// was sent).
	Refused
	// UnknownAuthority: the peer's certificate is not signed by a CA
	// this side trusts (x509.UnknownAuthorityError).
	UnknownAuthority
	// Hostname: the peer's certificate is not valid for the name dialed
	// (x509.HostnameError).
	Hostname
	// Invalid: the peer's certificate is expired, not yet valid, or not
	// fit for its use (x509.CertificateInvalidError).
	Invalid
	// Unverified: the peer's certificate failed verification for another
	// reason (*tls.CertificateVerificationError).
	Unverified
)

// Failure is a recognised TLS failure.
type Failure struct {
	Kind Kind
	// Err is the error of that kind found in the chain: its words say
	// what exactly (which names the certificate holds, when it expired).
	Err error
	// Alert is the alert the peer sent for Refused, without the "tls: "
	// prefix ("unknown certificate authority", "certificate required").
	Alert string
}

// Diagnose finds the TLS failure in err's chain; Kind is None when there
// is none.
func Diagnose(err error) Failure {
	if err == nil {
		return Failure{}
	}
	var (
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		op        *net.OpError
	)
	switch {
	case errors.As(err, &authority):
		return Failure{Kind: UnknownAuthority, Err: authority}
	case errors.As(err, &hostname):
		return Failure{Kind: Hostname, Err: hostname}
	case errors.As(err, &invalid):
		return Failure{Kind: Invalid, Err: invalid}
	case errors.As(err, &verify):
		return Failure{Kind: Unverified, Err: verify}
	case errors.As(err, &record):
		return Failure{Kind: NotTLS, Err: record}
	case errors.As(err, &alert):
		// QUIC connections report the peer's alert so.
		return Failure{Kind: Refused, Err: alert, Alert: alertText(alert)}
	case errors.As(err, &op) && op.Op == remoteAlertOp && op.Err != nil:
		return Failure{Kind: Refused, Err: op, Alert: alertText(op.Err)}
	}
	return Failure{}
}

// remoteAlertOp is the Op of the *net.OpError in which crypto/tls reports
// an alert the peer sent over TCP; the alert itself is of an unexported
// type.
const remoteAlertOp = "remote error"

func alertText(alert error) string { return strings.TrimPrefix(alert.Error(), "tls: ") }
