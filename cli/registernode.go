package cli

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

// defaultRegisterTimeout bounds register-node, the wait for the other
// nodes included.
const defaultRegisterTimeout = 60 * time.Second

// listedPoll is how often register-node asks the nodes whether they list
// the new node yet.
const listedPoll = 250 * time.Millisecond

func newRegisterNodeCommand(s *settings) *cobra.Command {
	var (
		host    string
		port    int
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "register-node -h HOST [-p PORT]",
		Short: "Make the --server node join the cluster of the node at HOST:PORT",
		Long: "Make the --server node join the cluster through the node at HOST:PORT (its internal\n" +
			"host name and port). Run it once per node; a registered node rejoins by itself\n" +
			"after a restart. -h is the host here, as in Axon Server: help is --help.\n\n" +
			"It contacts the --server node, joins, then waits until every alive node lists the new\n" +
			"node (asking each on its HTTP port, at its advertised host name), within --timeout.\n" +
			"On a terminal it shows each step as it goes.",
		Args: cobra.NoArgs,
	}
	// -h is the host, as in Axon Server. Defining "help" first, without a
	// shorthand, stops cobra from adding its own -h/--help.
	cmd.Flags().Bool("help", false, "help for register-node")
	cmd.Flags().StringVarP(&host, "internal-host", "h", "", "internal host name of a node in the cluster (required)")
	cmd.Flags().IntVarP(&port, "internal-port", "p", 8224, "internal port of that node")
	cmd.Flags().DurationVar(&timeout, "timeout", defaultRegisterTimeout, "give up after this long, the wait for every node to list the new one included")
	flags := addAdminFlags(cmd, s)

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if host == "" {
			return usagef("missing required flag -h/--internal-host")
		}
		if port < 1 || port > 65535 {
			return usagef("invalid -p/--internal-port %d: want 1-65535", port)
		}
		if timeout <= 0 {
			return usagef("invalid --timeout %s: want a positive duration such as 60s", timeout)
		}
		a, err := flags.resolve(cmd)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
		defer cancel()
		p := newProgress(s)
		defer p.clear()
		through := net.JoinHostPort(host, strconv.Itoa(port))
		// late names the step that ran out of --timeout, rather than the
		// request that happened to be cut.
		late := func(step string, err error) error {
			if ctx.Err() != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("%s: no answer within --timeout %s", step, timeout)
			}
			return err
		}

		p.show("contacting %s", a.client.BaseURL)
		me, err := a.client.Me(ctx)
		if err != nil {
			return late("contacting "+a.client.BaseURL, err)
		}
		p.done("contacted %s at %s", me.Name, a.client.BaseURL)

		p.show("%s joins the cluster through %s", me.Name, through)
		if err := a.client.Join(ctx, api.JoinRequest{InternalHostName: host, InternalGrpcPort: port}); err != nil {
			return late("joining through "+through, err)
		}
		nodes, err := a.client.Nodes(ctx)
		if err != nil {
			return late("joined through "+through+", but listing the cluster", err)
		}
		p.done("%s joined through %s; it lists %d nodes", me.Name, through, len(nodes))

		p.show("waiting until every node lists %s", me.Name)
		count, err := waitListed(ctx, a, me.Name, p)
		if err != nil {
			return fmt.Errorf("%s joined through %s, but %w", me.Name, through, err)
		}
		p.done("every node lists %s", me.Name)

		if a.output == outputJSON {
			if err := printCluster(ctx, a, s); err != nil {
				return fmt.Errorf("joined through %s, but cannot list the cluster: %w", through, err)
			}
			return nil
		}
		return printLine(s.out, "node %s joined the cluster through %s; %d nodes", me.Name, through, count)
	}
	return cmd
}

// waitListed waits until every alive node the --server node lists has
// name in its own list, alive. Each is asked on its HTTP port at its
// advertised host name, with --server's scheme, token and TLS settings.
// It returns the number of registered nodes.
func waitListed(ctx context.Context, a *admin, name string, p *progress) (int, error) {
	confirmed := map[string]bool{name: true}
	pending := map[string]string{} // node → why it does not count yet
	for {
		nodes, err := a.client.Nodes(ctx)
		if err == nil {
			clear(pending)
			var ask []api.Node
			for _, n := range nodes {
				if !confirmed[n.Name] && n.Status == "alive" {
					ask = append(ask, n)
				}
			}
			for i, why := range checkAllListed(ctx, a, ask, name) {
				if why != "" {
					pending[ask[i].Name] = why
					continue
				}
				confirmed[ask[i].Name] = true
			}
			if len(pending) == 0 {
				return len(nodes), nil
			}
			p.show("waiting until every node lists %s: %s", name, listedSoFar(confirmed, pending, name))
		}
		select {
		case <-ctx.Done():
			// A list cut by the deadline says less than the last
			// round that got an answer: name its pending nodes.
			if len(pending) == 0 && err != nil {
				return 0, fmt.Errorf("cannot list the cluster: %w", err)
			}
			return 0, fmt.Errorf("within --timeout not every node lists it: %s", describePending(pending))
		case <-time.After(listedPoll):
		}
	}
}

// listedAsking bounds the nodes register-node asks at once: in a large
// cluster one after the other took a quarter of a second per hundred
// nodes on an idle machine, and every node at once would be a burst of
// requests on a cluster that is busy taking in the new node.
const listedAsking = 16

// checkAllListed asks every node in nodes, listedAsking at a time, whether
// it lists name alive, and returns checkListed's answer for each, in
// order.
func checkAllListed(ctx context.Context, a *admin, nodes []api.Node, name string) []string {
	why := make([]string, len(nodes))
	sem := make(chan struct{}, listedAsking)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			why[i] = checkListed(ctx, a, n, name)
		}()
	}
	wg.Wait()
	return why
}

// checkListed asks node n whether it lists name alive; "" means yes,
// anything else says why not.
func checkListed(ctx context.Context, a *admin, n api.Node, name string) string {
	base, err := url.Parse(a.client.BaseURL)
	if err != nil {
		return err.Error()
	}
	peer := &api.Client{
		BaseURL: base.Scheme + "://" + net.JoinHostPort(n.HostName, strconv.Itoa(n.HTTPPort)),
		Token:   a.client.Token,
		HTTP:    a.client.HTTP,
	}
	// A node that does not answer must not use up the whole timeout.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	list, err := peer.Nodes(ctx)
	if err != nil {
		return oneLine(describe(err))
	}
	for _, m := range list {
		if m.Name == name {
			if m.Status == "alive" {
				return ""
			}
			return "lists it " + m.Status
		}
	}
	return "does not list it"
}

func listedSoFar(confirmed map[string]bool, pending map[string]string, self string) string {
	var parts []string
	for n := range confirmed {
		if n != self {
			parts = append(parts, n+" "+tick)
		}
	}
	for n := range pending {
		parts = append(parts, n+" …")
	}
	sort.Strings(parts)
	return strings.Join(parts, "  ")
}

func describePending(pending map[string]string) string {
	names := make([]string, 0, len(pending))
	for n := range pending {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " (" + pending[n] + ")"
	}
	return strings.Join(parts, ", ")
}
