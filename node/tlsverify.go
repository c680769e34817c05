package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
)

// verifyPeer checks the certificate of a node this node dialed: signed by
// the trusted CAs (or the system's roots), fit for a server, and valid for
// one of names.
func (t *tlsSetup) verifyPeer(cs tls.ConnectionState, names []string) error {
	if len(cs.PeerCertificates) == 0 {
		return &peerCertError{msg: "the peer sent no certificate"}
	}
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if t.trust != nil {
		opts.Roots = t.trust.pool()
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		trusted := "the system's roots (set " + keyInternalTrustCAs + " to trust your own CA)"
		if t.trust != nil {
			trusted = keyInternalTrustCAs
		}
		return &peerCertError{msg: "the peer's certificate is not trusted by " + trusted + ": " + err.Error(), err: err}
	}
	var mismatch error
	for _, n := range names {
		if n == "" {
			continue
		}
		if mismatch = leaf.VerifyHostname(n); mismatch == nil {
			return nil
		}
	}
	return &peerCertError{msg: fmt.Sprintf("the peer's certificate is valid for %s, not for %s",
		certNames(leaf), strings.Join(names, " or ")), err: mismatch}
}

// peerCertError is this node's refusal of the certificate of a node it
// dialed. err is x509's reason, for errors.As, when there is one.
type peerCertError struct {
	msg string
	err error
}

func (e *peerCertError) Error() string { return "node: tls: " + e.msg }

func (e *peerCertError) Unwrap() error { return e.err }

func certNames(c *x509.Certificate) string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no host name (it has no subject alternative names)"
	}
	return strings.Join(names, ", ")
}
