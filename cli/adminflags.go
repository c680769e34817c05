package cli

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

// Axon Server's defaults for the admin commands.
const (
	defaultServer      = "http://localhost:8024"
	defaultHTTPSServer = "https://localhost:8024"
	tokenFile          = "security/.token"
)

// Defaults of --timeout: a list is quick; a change waits for the --server
// node to act on the cluster.
const (
	defaultListTimeout   = 10 * time.Second
	defaultChangeTimeout = 30 * time.Second
)

// Output formats of -o/--output.
const (
	outputTxt  = "txt"
	outputJSON = "json"
)

// adminFlags are Axon's flags shared by every admin command. They are
// local to each admin command, not persistent on the root, so commands such
// as "server" do not get them.
type adminFlags struct {
	settings *settings
	server   string
	https    bool
	insecure bool
	caCert   string
	output   outputFormat
	token    string
	timeout  time.Duration
}

// admin is what an admin command needs once its flags are resolved.
type admin struct {
	client *api.Client
	output string
	// tls is the client TLS configuration of -i or --ca-cert (nil: the
	// system's roots), which the port diagnosis uses too.
	tls *tls.Config
	// timeout is --timeout: how long the command waits for the --server node.
	timeout time.Duration
}

// addAdminFlags adds Axon's flags and --timeout, whose default is timeout.
func addAdminFlags(cmd *cobra.Command, s *settings, timeout time.Duration) *adminFlags {
	f := &adminFlags{settings: s, output: outputTxt}
	fl := cmd.Flags()
	fl.StringVarP(&f.server, "server", "S", defaultServer,
		"URL of the node's HTTP port ("+defaultHTTPSServer+" with -s)")
	fl.BoolVarP(&f.https, "https", "s", false, "use HTTPS to talk to the server")
	fl.BoolVarP(&f.insecure, "insecure-ssl", "i", false, "do not verify the server's TLS certificate")
	fl.StringVar(&f.caCert, "ca-cert", "", "PEM file of the CA certificates to trust for the server's TLS certificate (default: the system's)")
	fl.VarP(&f.output, "output", "o", "output format: txt or json")
	fl.StringVarP(&f.token, "access-token", "t", "",
		"access token (default: the first line of ./"+tokenFile+" if it exists)")
	fl.DurationVar(&f.timeout, "timeout", timeout, "give up when the --server node has not answered within this long")
	_ = cmd.RegisterFlagCompletionFunc("output", completeOutput) // fails only for an unknown flag
	return f
}

// resolve turns the flags into a client for the chosen server.
func (f *adminFlags) resolve(cmd *cobra.Command) (*admin, error) {
	server, err := f.serverURL(cmd.Flags().Changed("server"))
	if err != nil {
		return nil, err
	}
	if f.timeout <= 0 {
		return nil, usagef("invalid --timeout %s: want a positive duration such as 30s", f.timeout)
	}
	token := f.token
	if !cmd.Flags().Changed("access-token") {
		if token, err = readToken(filepath.Join(f.settings.workDir, tokenFile)); err != nil {
			return nil, err
		}
	}
	a := &admin{client: api.NewClient(server, token, f.insecure), output: string(f.output), timeout: f.timeout}
	if f.insecure {
		a.tls = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the operator
	}
	if f.caCert != "" {
		if a.tls, err = f.trustedCAs(); err != nil {
			return nil, err
		}
		a.client = api.NewClientTLS(server, token, a.tls)
	}
	return a, nil
}

// trustedCAs is the TLS configuration --ca-cert asks for.
func (f *adminFlags) trustedCAs() (*tls.Config, error) {
	if f.insecure {
		return nil, usagef("--ca-cert and -i/--insecure-ssl contradict each other: the one checks the server's certificate, the other skips the check")
	}
	b, err := os.ReadFile(f.caCert)
	if err != nil {
		return nil, usagef("invalid --ca-cert %q: %v", f.caCert, errors.Unwrap(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, usagef("invalid --ca-cert %q: no PEM certificate in it", f.caCert)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// serverURL applies -s to the default server, and accepts host:port alone
// for -S (the scheme then follows -s).
func (f *adminFlags) serverURL(given bool) (string, error) {
	if !given {
		if f.https {
			return defaultHTTPSServer, nil
		}
		return defaultServer, nil
	}
	raw := strings.TrimSpace(f.server)
	if f.https && strings.HasPrefix(strings.ToLower(raw), "http://") {
		return "", usagef("-s/--https and the http:// URL %q contradict each other: write https:// for TLS, or drop -s for plain HTTP", f.server)
	}
	if !strings.Contains(raw, "://") {
		scheme := "http://"
		if f.https {
			scheme = "https://"
		}
		raw = scheme + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("invalid -S/--server %q: want a URL such as %s", f.server, defaultServer)
	}
	return strings.TrimRight(raw, "/"), nil
}

// readToken returns the first line of path, trimmed; a missing file means
// no token.
func readToken(path string) (string, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read access token: %w", err)
	}
	defer func() { _ = file.Close() }()
	sc := bufio.NewScanner(file)
	if sc.Scan() {
		return strings.TrimSpace(sc.Text()), nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read access token from %s: %w", path, err)
	}
	return "", nil
}

// outputFormat is -o/--output's value, checked while flags are parsed so a
// bad value is a usage error naming it.
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }

func (o *outputFormat) Set(v string) error {
	switch v {
	case outputTxt, outputJSON:
		*o = outputFormat(v)
		return nil
	}
	return fmt.Errorf("want txt or json")
}

func (o *outputFormat) Type() string { return "txt|json" }
