package node

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rosterhq/roster/gossip"
)

// autoclusterAddress splits axoniq.axonserver.autocluster.first into
// host:port, with the default internal port.
func autoclusterAddress(first string) (string, int) {
	host, p, err := net.SplitHostPort(first)
	if err != nil {
		return strings.Trim(first, "[]"), 8224
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return host, 8224
	}
	return host, port
}

// autocluster joins the node named by autocluster.first at start-up,
// retrying with backoff until it works, unless this node is that node or
// already knows its cluster (a restart: the background rejoin covers it).
func (n *Node) autocluster() {
	defer n.bg.Done()
	host, port := autoclusterAddress(n.cfg.AutoclusterFirst)
	log := n.log.With().Str("autocluster.first", n.cfg.AutoclusterFirst).Logger()
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if len(n.cluster.Members()) > 1 {
			log.Debug().Msg("node: autocluster: already in a cluster")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
		if n.isSelf(ctx, host, port) {
			cancel()
			log.Info().Msg("node: autocluster: this node is the first node")
			return
		}
		_, err := n.cluster.JoinVia(ctx, net.JoinHostPort(host, strconv.Itoa(port)), gossip.JoinOptions{Mode: gossip.JoinAuto})
		cancel()
		if err == nil {
			log.Info().Int("members", len(n.cluster.Members())).Msg("node: autocluster: joined")
			return
		}
		if errors.Is(err, errJoinedSelf) {
			// The address leads here by a way isSelf cannot see (a
			// Service, NAT): this node answered for it.
			log.Info().Msg("node: autocluster: this node is the first node (the address leads to itself)")
			return
		}
		log.Warn().Int("attempt", attempt).Dur("retry_in", delay).Str("error", shortErr(err)).Msg("node: autocluster: cannot join yet")
		select {
		case <-n.bgStop:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}
