package node

import (
	"crypto/tls"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/credentials"
)

// Property names of the TLS files, for messages.
const (
	keyCertChain        = "axoniq.axonserver.ssl.cert-chain-file"
	keyPrivateKey       = "axoniq.axonserver.ssl.private-key-file"
	keyInternalChain    = "axoniq.axonserver.ssl.internal-cert-chain-file"
	keyInternalKey      = "axoniq.axonserver.ssl.internal-private-key-file"
	keyInternalTrustCAs = "axoniq.axonserver.ssl.internal-trust-manager-file"
)

// tlsSetup is the node's TLS material with axoniq.axonserver.ssl.enabled:
//   - the HTTP and client gRPC ports present the public certificate;
//   - the internal port's TCP side (gossip streams and internal gRPC) runs
//     inside TLS with the internal certificate, which also identifies this
//     node when it dials others;
//   - with internal-trust-manager-file, nodes require each other's
//     certificates (mutual TLS) and accept only those its CAs signed;
//     without it, a node checks the certificate of the node it dials
//     against the system's roots and asks no certificate of callers.
//
// Every file is reloaded when it changes.
type tlsSetup struct {
	public   *certSource
	internal *certSource
	trust    *poolSource // nil: system roots, no client certificates
}

func newTLSSetup(c SSLConfig, log zerolog.Logger) (*tlsSetup, error) {
	public, err := newCertSource(keyCertChain, c.CertChainFile, keyPrivateKey, c.PrivateKeyFile, log)
	if err != nil {
		return nil, err
	}
	t := &tlsSetup{public: public, internal: public}
	if c.InternalCertChainFile != "" || c.InternalPrivateKeyFile != "" {
		chainKey, chain := keyInternalChain, c.InternalCertChainFile
		if chain == "" {
			chainKey, chain = keyCertChain, c.CertChainFile
		}
		keyKey, key := keyInternalKey, c.InternalPrivateKeyFile
		if key == "" {
			keyKey, key = keyPrivateKey, c.PrivateKeyFile
		}
		if t.internal, err = newCertSource(chainKey, chain, keyKey, key, log); err != nil {
			return nil, err
		}
	}
	if c.InternalTrustManagerFile != "" {
		if t.trust, err = newPoolSource(keyInternalTrustCAs, c.InternalTrustManagerFile, log); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// publicConfig is the server side of the HTTP and client gRPC ports.
func (t *tlsSetup) publicConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: t.public.getCertificate, NextProtos: nextProtos}
}

// internalServerConfig is the server side of the internal port. h2 is
// offered for gRPC clients, which insist on it; gossip streams offer no
// protocol and get none.
func (t *tlsSetup) internalServerConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: t.internal.getCertificate, NextProtos: []string{"h2"}}
	if t.trust == nil {
		return cfg
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = t.trust.pool()
	// A fresh config per handshake picks up a changed trust file.
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{
			MinVersion: tls.VersionTLS12, GetCertificate: t.internal.getCertificate, NextProtos: []string{"h2"},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: t.trust.pool(),
		}, nil
	}
	return cfg
}

// internalClientConfig is the side of a node that dials another node's
// internal port; names are the host names or IPs the peer's certificate
// may be valid for (any one is enough).
func (t *tlsSetup) internalClientConfig(names []string) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: t.internal.getClientCertificate,
		// The chain and name are checked in VerifyConnection against the
		// trust file as it is now; a static RootCAs would not follow it
		// when it changes. This is not "no verification".
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection:   func(cs tls.ConnectionState) error { return t.verifyPeer(cs, names) },
	}
}

// setupTLS loads the TLS files and puts the HTTP port and the internal
// port's TCP side inside TLS. It runs before the internal port is split
// between gossip and gRPC, so both travel inside TLS. The client gRPC port
// gets its credentials in clientServerOptions.
func (n *Node) setupTLS(ls *listeners) error {
	n.warnInsecureCombinations()
	if !n.cfg.SSL.Enabled {
		return nil
	}
	t, err := newTLSSetup(n.cfg.SSL, n.log)
	if err != nil {
		return err
	}
	n.tls = t
	// net/http itself answers plain HTTP on a TLS connection with a 400.
	ls.http = tls.NewListener(ls.http, t.publicConfig("http/1.1"))
	ls.internalTCP = &tlsListener{Listener: ls.internalTCP, cfg: t.internalServerConfig()}
	return nil
}

// warnInsecureCombinations logs settings that leave a door half open.
func (n *Node) warnInsecureCombinations() {
	if n.cfg.AccessControl.Enabled && !n.cfg.SSL.Enabled {
		n.log.Warn().Msg("node: access control is on but axoniq.axonserver.ssl.enabled is false: tokens travel in clear text")
	}
	if n.cfg.SSL.Enabled && n.cfg.Cluster.EncryptionKey == "" {
		n.log.Warn().Msg("node: TLS is on but axoniq.axonserver.cluster.encryption-key is not set: gossip packets (UDP) are neither encrypted nor authenticated")
	}
}

// clientCredentials are the client gRPC port's TLS credentials, nil
// without TLS.
func (n *Node) clientCredentials() credentials.TransportCredentials {
	if n.tls == nil {
		return nil
	}
	return plainHintCreds{credentials.NewTLS(n.tls.publicConfig())}
}
