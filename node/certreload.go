package node

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// reloadCheckInterval bounds how often the files behind a reloader are
// stat'ed: handshakes can be many, certificate renewals are rare.
const reloadCheckInterval = time.Second

// reloader holds a value loaded from files (a certificate and its key, or
// a CA bundle) and loads it again when a file's modification time or size
// changes, so renewed certificates are used without a restart. A reload
// that fails (a file half written) keeps the previous value and is retried
// at the next check.
type reloader[T any] struct {
	files    []string
	load     func() (T, error)
	what     string // for the log, e.g. "axoniq.axonserver.ssl.cert-chain-file"
	log      zerolog.Logger
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	value   T
	stamp   string // modification times and sizes of files when value was loaded
	checked time.Time
	failed  string // stamp whose reload failed, so it is logged once
}

func newReloader[T any](what string, files []string, load func() (T, error), log zerolog.Logger) (*reloader[T], error) {
	r := &reloader[T]{files: files, load: load, what: what, log: log, interval: reloadCheckInterval, now: time.Now}
	stamp, err := r.stampFiles()
	if err != nil {
		return nil, err
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	r.value, r.stamp, r.checked = v, stamp, r.now()
	return r, nil
}

func (r *reloader[T]) stampFiles() (string, error) {
	s := ""
	for _, f := range r.files {
		st, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("node: %s: %w", r.what, err)
		}
		s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return s, nil
}

// get returns the current value, reloading it first when the files changed.
func (r *reloader[T]) get() T {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.checked) < r.interval {
		return r.value
	}
	r.checked = now
	stamp, err := r.stampFiles()
	if err != nil || stamp == r.stamp {
		if err != nil && r.failed != "stat" {
			r.failed = "stat"
			r.log.Warn().Err(err).Msg("node: cannot check TLS files for changes; keeping the loaded ones")
		}
		return r.value
	}
	v, err := r.load()
	if err != nil {
		if r.failed != stamp {
			r.failed = stamp
			r.log.Warn().Err(err).Str("files", r.what).Msg("node: changed TLS files do not load; keeping the previous ones until they do")
		}
		return r.value
	}
	r.value, r.stamp, r.failed = v, stamp, ""
	r.log.Info().Str("files", r.what).Msg("node: TLS files changed; reloaded")
	return r.value
}

// certSource is a certificate chain and its private key, reloaded on change.
type certSource struct{ r *reloader[*tls.Certificate] }

// newCertSource loads the pair now, so that a bad file stops start-up with
// a message naming the properties and files.
func newCertSource(certKey, certFile, keyKey, keyFile string, log zerolog.Logger) (*certSource, error) {
	what := fmt.Sprintf("%s %q and %s %q", certKey, certFile, keyKey, keyFile)
	load := func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("node: %s: %w", what, err)
		}
		return &c, nil
	}
	r, err := newReloader(what, []string{certFile, keyFile}, load, log)
	if err != nil {
		return nil, err
	}
	if leaf := r.value.Leaf; leaf != nil && time.Now().After(leaf.NotAfter) {
		log.Warn().Str("file", certFile).Time("notAfter", leaf.NotAfter).Msg("node: TLS certificate has expired; peers and clients will refuse it")
	}
	return &certSource{r: r}, nil
}

func (c *certSource) certificate() *tls.Certificate { return c.r.get() }

// getCertificate is tls.Config.GetCertificate.
func (c *certSource) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.certificate(), nil
}

// getClientCertificate is tls.Config.GetClientCertificate.
func (c *certSource) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return c.certificate(), nil
}

// poolSource is a bundle of PEM CA certificates, reloaded on change.
type poolSource struct{ r *reloader[*x509.CertPool] }

func newPoolSource(key, file string, log zerolog.Logger) (*poolSource, error) {
	what := fmt.Sprintf("%s %q", key, file)
	load := func() (*x509.CertPool, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("node: %s: %w", what, err)
		}
		pool := x509.NewCertPool()
		n := 0
		for rest := b; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("node: %s: certificate %d: %w", what, n+1, err)
			}
			pool.AddCert(c)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("node: %s: %w", what, errNoPEMCertificates)
		}
		return pool, nil
	}
	r, err := newReloader(what, []string{file}, load, log)
	if err != nil {
		return nil, err
	}
	return &poolSource{r: r}, nil
}

var errNoPEMCertificates = errors.New("holds no PEM certificate (allowed: one or more -----BEGIN CERTIFICATE----- blocks)")

func (p *poolSource) pool() *x509.CertPool { return p.r.get() }
