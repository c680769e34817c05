package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/rosterhq/roster/api"
	"github.com/rosterhq/roster/node/portprobe"
	"github.com/rosterhq/roster/node/tlsdiag"
)

// probeTimeout bounds the look at the --server port after a failure.
const probeTimeout = 3 * time.Second

// within runs f with --timeout as its deadline; a failure is explained
// (explain).
func (a *admin) within(parent context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, a.timeout)
	defer cancel()
	if err := f(ctx); err != nil {
		return a.explain(parent, ctx, err)
	}
	return nil
}

// explain turns a failed request to the --server node into what the user
// needs to know: that it did not answer within --timeout, or what is on
// the port it hit and which port or flag to use instead. Other errors
// (the node's own answers, unknown hosts, refused connections) are
// returned as they are.
func (a *admin) explain(parent, ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
		return fmt.Errorf("no answer from %s within --timeout %s", a.client.BaseURL, a.timeout)
	}
	if line := a.diagnose(parent, err); line != "" {
		return errors.New(line)
	}
	return err
}

// diagnose says what is wrong with talking to the --server port, or "" when
// err is not about the port or the scheme.
func (a *admin) diagnose(ctx context.Context, err error) string {
	base := a.client.BaseURL
	var (
		ae     *api.Error
		dnsErr *net.DNSError
	)
	tlsErr := tlsdiag.Diagnose(err)
	switch {
	case errors.As(err, &ae):
		// The node's own answer; only a bare 400 may be plain HTTP sent
		// to a TLS port (net/http's and roster's reply to it).
		if ae.Code != "" || ae.Status != http.StatusBadRequest {
			return ""
		}
	case errors.Is(err, http.ErrSchemeMismatch):
		return "cannot reach " + base + ": the server speaks plain HTTP, not HTTPS: use an http:// URL with -S and no -s/--https"
	case tlsErr.Kind == tlsdiag.UnknownAuthority:
		return "cannot reach " + base + ": the server's certificate is not signed by a CA this machine trusts: trust the CA " +
			"(--ca-cert ca.pem) or skip the check with -i/--insecure-ssl"
	case tlsErr.Kind == tlsdiag.Hostname:
		return "cannot reach " + base + ": " + tlsErr.Err.Error() + ": use a name the certificate holds with -S, or skip the check with -i/--insecure-ssl"
	case tlsErr.Kind == tlsdiag.Invalid:
		return "cannot reach " + base + ": the server's certificate is not valid: " + tlsErr.Err.Error() +
			" (or skip the check with -i/--insecure-ssl)"
	case errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "" // clear as they are
	case tlsErr.Kind == tlsdiag.NotTLS, isTransportError(err):
		// Something answered, but not HTTP as asked: see what it is.
	default:
		return ""
	}
	u, perr := url.Parse(base)
	if perr != nil {
		return ""
	}
	hostPort := u.Host
	if u.Port() == "" {
		hostPort = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	r, perr := portprobe.Probe(ctx, hostPort, portprobe.Options{TLS: a.tls, Token: a.client.Token,
		TokenOverTLSOnly: u.Scheme == "https", Timeout: probeTimeout})
	if perr != nil {
		return ""
	}
	wantTLS := u.Scheme == "https"
	switch r.Kind {
	case portprobe.HTTP:
		switch {
		case r.TLS && !wantTLS:
			return base + " speaks HTTPS (TLS): use -s/--https or an https:// URL with -S"
		case !r.TLS && wantTLS:
			return base + " speaks plain HTTP, not HTTPS: use an http:// URL with -S and no -s/--https"
		}
		return ""
	case portprobe.ClientGRPC, portprobe.Internal:
		scheme := "http://"
		if r.TLS {
			scheme = "https://"
		}
		use := "use the node's HTTP port with -S (" + portprobe.HTTPPortKey + ", 8024 by default)"
		if s := r.Suggest(portprobe.HTTP); s != "" {
			use = "use -S " + scheme + s
		}
		return base + " is " + r.What() + ", not an HTTP port: " + use
	case portprobe.GRPC:
		return base + " is " + r.What() + ": -S wants a roster node's HTTP port (" + portprobe.HTTPPortKey + ", 8024 by default)"
	}
	if r.ClientCertRequired {
		return base + " is " + r.What() + ": -S wants the node's HTTP port (" + portprobe.HTTPPortKey + ", 8024 by default)"
	}
	return ""
}

// isTransportError tells a request that got no (HTTP) answer: the client's
// unreachable error, which names the address.
func isTransportError(err error) bool {
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &oe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
