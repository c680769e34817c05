// Package portprobe tells what listens on a TCP port from what it answers:
// a roster node's HTTP port, its client gRPC port or its internal port,
// another HTTP or gRPC server, with TLS or without. Commands pointed at the
// wrong port use it to say which port they hit and which one to use.
//
// It sends an HTTP/1.1 request in plain text and reads the first bytes of
// the answer (an HTTP status line, an HTTP/2 frame, or nothing); when
// nothing useful came back it tries a TLS handshake and does the same
// inside TLS. A gRPC server is told apart by calling a method that does not
// exist on the services of interest: gRPC answers "unknown method" when the
// service exists and "unknown service" when it does not, before any access
// control runs. With a token it also reads the node's own ports, to
// suggest the right one.
package portprobe

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rosterhq/roster/rpc/rosterpb"
)

// Kind is what answers on a port.
type Kind string

// Kinds of port.
const (
	// Unknown: the port accepted the connection but answered nothing a
	// probe recognises.
	Unknown Kind = "unknown"
	// HTTP is an HTTP/1.1 server, such as a node's HTTP port.
	HTTP Kind = "http"
	// ClientGRPC is a gRPC server with Axon's PlatformService: a node's
	// client gRPC port (roster's or Axon Server's).
	ClientGRPC Kind = "client-grpc"
	// Internal is a gRPC server with roster's internal service: a node's
	// internal port.
	Internal Kind = "internal"
	// GRPC is another HTTP/2 or gRPC server.
	GRPC Kind = "grpc"
)

// Service names the probe looks for.
const (
	internalService = "roster.internal.v1.Internal"
	platformService = "io.axoniq.axonserver.grpc.control.PlatformService"
	// probeMethod exists on no service: asking for it costs the server
	// nothing and runs none of its interceptors.
	probeMethod = "RosterPortProbe"
)

// Property names of the ports, for messages.
const (
	HTTPPortKey     = "server.port"
	GRPCPortKey     = "axoniq.axonserver.port"
	InternalPortKey = "axoniq.axonserver.internal-port"
)

// Ports are a node's ports as it reported them.
type Ports struct {
	Name     string
	HTTP     int
	GRPC     int
	Internal int
}

// Result is what a probe found.
type Result struct {
	Address string
	Kind    Kind
	// TLS is true when the port speaks TLS.
	TLS bool
	// ClientCertRequired is true when the TLS handshake ended for want of
	// a client certificate (a node's internal port with mutual TLS).
	ClientCertRequired bool
	// Node is the node's own account of its ports, when the probe could
	// read it (an HTTP port's /v1/public/me, or a client port's ListNodes;
	// both may need the token).
	Node *Ports
}

// Options tune a probe.
type Options struct {
	// TLS is the client configuration used to read the node's ports over
	// TLS, verifying the server as it says; nil: the system's roots. The
	// probe's own handshakes (to tell what is there) verify nothing and
	// carry no token.
	TLS *tls.Config
	// Token is sent as AxonIQ-Access-Token when reading the node's ports:
	// over plain TCP, or over TLS verified with the TLS option.
	Token string
	// TokenOverTLSOnly keeps the token off plain connections (the caller
	// meant to use TLS).
	TokenOverTLSOnly bool
	// Timeout bounds the whole probe; zero means three seconds.
	Timeout time.Duration
}

// Probe connects to address (host:port) and tells what answers there. The
// error is the dial's when nothing accepts the connection.
func Probe(ctx context.Context, address string, opts Options) (Result, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return Result{}, fmt.Errorf("portprobe: %w", err)
	}
	r := Result{Address: address, Kind: Unknown}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return r, err
	}
	first, _ := exchange(ctx, conn, host)
	switch {
	case isHTTP1(first) && bytes.Contains(first, []byte("HTTP request to an HTTPS server")):
		// net/http's answer to plain HTTP on a TLS port, which roster's
		// TLS gRPC ports give too: what is inside TLS tells them apart.
		r.TLS = true
	case isHTTP1(first):
		r.Kind = HTTP
		r.Node = readMe(ctx, address, false, opts)
		return r, nil
	case isHTTP2Settings(first):
		r.Kind = identifyGRPC(ctx, address, insecure.NewCredentials())
		if r.Kind == ClientGRPC {
			token := opts.Token
			if opts.TokenOverTLSOnly {
				token = ""
			}
			r.Node = listNodes(ctx, address, insecure.NewCredentials(), token)
		}
		return r, nil
	}

	// Nothing recognisable in plain text: try TLS. Offering only
	// http/1.1 lets an HTTPS server answer HTTP/1.1; a gRPC server wants
	// h2 and closes the connection after the handshake.
	tconn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return r, nil
	}
	tc := tls.Client(tconn, &tls.Config{ServerName: serverName(host), NextProtos: []string{"http/1.1"},
		InsecureSkipVerify: true}) //nolint:gosec // only tells what is there; no secret is sent
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	herr := tc.HandshakeContext(ctx)
	if herr != nil {
		_ = tc.Close()
		var rh tls.RecordHeaderError
		if errors.As(herr, &rh) {
			return r, nil // not TLS either
		}
		if isRemoteAlert(herr) {
			r.TLS = true // a TLS server that refused this handshake
		}
		return r, nil
	}
	r.TLS = true
	first, rerr := exchange(ctx, tc, host)
	if isRemoteAlert(rerr) {
		r.ClientCertRequired = true // TLS 1.3 reports it on the first read
	}
	if isHTTP1(first) {
		r.Kind = HTTP
		r.Node = readMe(ctx, address, true, opts)
		return r, nil
	}
	if r.ClientCertRequired {
		return r, nil // a gRPC call would fail the same way
	}
	probeCreds := credentials.NewTLS(&tls.Config{ServerName: serverName(host),
		InsecureSkipVerify: true}) //nolint:gosec // only tells what is there; no secret is sent
	r.Kind = identifyGRPC(ctx, address, probeCreds)
	if r.Kind == ClientGRPC {
		cfg := opts.TLS.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = serverName(host)
		}
		r.Node = listNodes(ctx, address, credentials.NewTLS(cfg), opts.Token)
	}
	return r, nil
}

// exchange sends an HTTP/1.1 request on conn, reads the first bytes of the
// answer, and closes conn. The error is the write's or the read's.
func exchange(ctx context.Context, conn net.Conn, host string) ([]byte, error) {
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := "GET /v1/public/me HTTP/1.1\r\nHost: " + host + "\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	buf := make([]byte, 512)
	n, err := io.ReadAtLeast(conn, buf, 9)
	return buf[:n], err
}

func isHTTP1(b []byte) bool { return bytes.HasPrefix(b, []byte("HTTP/1.")) }

// isHTTP2Settings: a gRPC server writes its SETTINGS frame (type 4 on
// stream 0) first, whatever the client sent.
func isHTTP2Settings(b []byte) bool {
	return len(b) >= 9 && b[3] == 0x4 && b[5]&0x7f == 0 && b[6] == 0 && b[7] == 0 && b[8] == 0
}

// isRemoteAlert tells whether err is a TLS alert the server sent.
func isRemoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// serverName is the SNI name for host; IPs are not sent.
func serverName(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}

// identifyGRPC calls a method that exists nowhere on the services that
// tell the ports apart.
func identifyGRPC(ctx context.Context, address string, creds credentials.TransportCredentials) Kind {
	conn, err := grpc.NewClient("passthrough:///"+address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return GRPC
	}
	defer func() { _ = conn.Close() }()
	has := func(service string) bool {
		err := conn.Invoke(ctx, "/"+service+"/"+probeMethod, &emptypb.Empty{}, &emptypb.Empty{})
		st := status.Convert(err)
		return st.Code() == codes.Unimplemented && strings.HasPrefix(st.Message(), "unknown method")
	}
	switch {
	case has(internalService):
		return Internal
	case has(platformService):
		return ClientGRPC
	}
	return GRPC
}

// readMe reads /v1/public/me: the HTTP port's own node.
func readMe(ctx context.Context, address string, useTLS bool, opts Options) *Ports {
	scheme := "http://"
	tr := &http.Transport{DisableKeepAlives: true}
	if useTLS {
		scheme = "https://"
		tr.TLSClientConfig = opts.TLS
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+address+"/v1/public/me", nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Accept", "application/json")
	if opts.Token != "" && (useTLS || !opts.TokenOverTLSOnly) {
		req.Header.Set("AxonIQ-Access-Token", opts.Token)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var me struct {
		Name             string `json:"name"`
		GrpcPort         int    `json:"grpcPort"`
		HTTPPort         int    `json:"httpPort"`
		GrpcInternalPort int    `json:"grpcInternalPort"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&me) != nil || me.Name == "" {
		return nil
	}
	return &Ports{Name: me.Name, HTTP: me.HTTPPort, GRPC: me.GrpcPort, Internal: me.GrpcInternalPort}
}

// listNodes asks a client gRPC port which node it is and what its ports are.
func listNodes(ctx context.Context, address string, creds credentials.TransportCredentials, token string) *Ports {
	conn, err := grpc.NewClient("passthrough:///"+address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil
	}
	defer func() { _ = conn.Close() }()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "axoniq-access-token", token)
	}
	resp, err := rosterpb.NewClusterServiceClient(conn).ListNodes(ctx, &rosterpb.ListNodesRequest{})
	if err != nil {
		return nil
	}
	for _, n := range resp.GetNodes() {
		if n.GetName() == resp.GetAnsweredBy() {
			return &Ports{Name: n.GetName(), HTTP: int(n.GetHttpPort()), GRPC: int(n.GetGrpcPort()), Internal: int(n.GetGrpcInternalPort())}
		}
	}
	return nil
}

// What describes the port in a few words: "the client gRPC port
// (axoniq.axonserver.port) of roster node node1, without TLS".
func (r Result) What() string {
	of := "of a roster or Axon Server node"
	if r.Node != nil {
		of = "of node " + r.Node.Name
	}
	var s string
	switch r.Kind {
	case HTTP:
		s = "an HTTP server"
		if r.Node != nil {
			s = "the HTTP port (" + HTTPPortKey + ") " + of
		}
	case ClientGRPC:
		s = "the client gRPC port (" + GRPCPortKey + ") " + of
	case Internal:
		s = "the internal port (" + InternalPortKey + ") of a roster node"
	case GRPC:
		s = "a gRPC server that is not a roster node"
	default:
		s = "a server that answers neither HTTP nor gRPC"
		if r.ClientCertRequired {
			// What roster's internal port with mutual TLS looks like to a
			// caller without the nodes' certificate.
			return "a TLS port that requires a client certificate, as a roster node's internal port (" +
				InternalPortKey + ") does with axoniq.axonserver.ssl.internal-trust-manager-file"
		}
	}
	switch {
	case r.ClientCertRequired:
		return s + ", with TLS that requires a client certificate"
	case r.TLS:
		return s + ", with TLS"
	case r.Kind != Unknown:
		return s + ", without TLS"
	}
	return s
}

// Suggest is the address of the port of the same node that serves want
// (HTTP, ClientGRPC or Internal): host with the port the node reported,
// or "" when it is not known.
func (r Result) Suggest(want Kind) string {
	if r.Node == nil {
		return ""
	}
	host, _, _ := net.SplitHostPort(r.Address)
	port := map[Kind]int{HTTP: r.Node.HTTP, ClientGRPC: r.Node.GRPC, Internal: r.Node.Internal}[want]
	if port == 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
