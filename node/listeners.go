package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-sockaddr"
	"github.com/soheilhy/cmux"
)

// memberlistLabelByte starts every labelled memberlist stream (memberlist's
// hasLabelMsg); roster always labels gossip with the cluster name.
const memberlistLabelByte = 244

// listeners are the node's sockets.
type listeners struct {
	http        net.Listener
	grpc        net.Listener
	internalTCP net.Listener
	internalUDP net.PacketConn
	mux         cmux.CMux
	gossipTCP   net.Listener // gossip streams, from mux
	internalRPC net.Listener // internal gRPC, from mux
}

func listenTCP(bind string, port int, what string) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("node: listen on %s %s: %w", what, net.JoinHostPort(bind, strconv.Itoa(port)), err)
	}
	return l, nil
}

// bindInternal opens TCP and UDP on the same internal port. With port 0
// it picks a TCP port and retries when UDP has that port taken.
func bindInternal(bind string, port int) (net.Listener, net.PacketConn, error) {
	for attempt := 0; ; attempt++ {
		tl, err := listenTCP(bind, port, "axoniq.axonserver.internal-port")
		if err != nil {
			return nil, nil, err
		}
		actual := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort(bind, strconv.Itoa(actual)))
		if err == nil {
			if u, ok := ul.(*net.UDPConn); ok {
				// Large buffers absorb bursts of gossip after partitions heal.
				_ = u.SetReadBuffer(2 << 20)
			}
			return tl, ul, nil
		}
		_ = tl.Close()
		if port != 0 || attempt >= 10 {
			return nil, nil, fmt.Errorf("node: listen on axoniq.axonserver.internal-port %d/udp: %w", actual, err)
		}
	}
}

func openListeners(cfg Config) (*listeners, error) {
	ls := &listeners{}
	var err error
	if ls.http, err = listenTCP(cfg.BindAddress, cfg.HTTPPort, "server.port"); err != nil {
		return nil, err
	}
	if ls.grpc, err = listenTCP(cfg.BindAddress, cfg.Port, "axoniq.axonserver.port"); err != nil {
		ls.close()
		return nil, err
	}
	if ls.internalTCP, ls.internalUDP, err = bindInternal(cfg.BindAddress, cfg.InternalPort); err != nil {
		ls.close()
		return nil, err
	}
	return ls, nil
}

// split multiplexes the internal TCP port (possibly inside TLS): gossip
// streams start with memberlist's label byte; anything else is gRPC. A
// connection whose first bytes (and TLS handshake) take longer than
// readTimeout (axoniq.axonserver.limits.internal-read-timeout) is closed.
func (ls *listeners) split(tcp net.Listener, readTimeout time.Duration) {
	ls.mux = cmux.New(tcp)
	// A peer that connects and sends nothing must not hold a matcher forever.
	ls.mux.SetReadTimeout(readTimeout)
	ls.gossipTCP = ls.mux.Match(func(r io.Reader) bool {
		b := make([]byte, 1)
		n, _ := io.ReadFull(r, b)
		return n == 1 && b[0] == memberlistLabelByte
	})
	// Not cmux.Any: a connection that sent nothing before the read timeout
	// is closed here rather than handed to gRPC to wait for it again.
	ls.internalRPC = ls.mux.Match(func(r io.Reader) bool {
		n, _ := io.ReadFull(r, make([]byte, 1))
		return n == 1
	})
	// Errors of single connections (a stranger's garbage) do not stop the mux.
	ls.mux.HandleError(func(error) bool { return true })
}

func (ls *listeners) close() {
	for _, l := range []io.Closer{ls.http, ls.grpc, ls.internalTCP, ls.internalUDP} {
		if l != nil && !isNilCloser(l) {
			_ = l.Close()
		}
	}
	if ls.mux != nil {
		ls.mux.Close()
	}
}

func isNilCloser(c io.Closer) bool {
	switch v := c.(type) {
	case net.Listener:
		return v == nil
	case net.PacketConn:
		return v == nil
	}
	return false
}

func port(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// advertiseIP picks the IP other nodes use for gossip: the internal host
// when it is an IP or resolves, else the bind address when it is specific,
// else the first private address of this machine.
func advertiseIP(ctx context.Context, internalHost, bind string) (net.IP, error) {
	if ip := net.ParseIP(internalHost); ip != nil {
		return ip, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if ips, err := net.DefaultResolver.LookupIPAddr(ctx, internalHost); err == nil && len(ips) > 0 {
		for _, ip := range ips {
			if ip.IP.To4() != nil {
				return ip.IP, nil
			}
		}
		return ips[0].IP, nil
	}
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		return ip, nil
	}
	priv, err := sockaddr.GetPrivateIP()
	if err == nil && priv != "" {
		return net.ParseIP(priv), nil
	}
	return nil, errors.New("node: cannot find an address to advertise for gossip: axoniq.axonserver.internal-hostname does not resolve and the machine has no private IP; set axoniq.axonserver.internal-hostname to this machine's IP")
}
