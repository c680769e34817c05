package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

// defaultRegisterTimeout bounds register-node, the wait for the other
// nodes included.
const defaultRegisterTimeout = 60 * time.Second

// listedPoll is how often register-node asks the --server node again
// whether every node lists it.
const listedPoll = 250 * time.Millisecond

func newRegisterNodeCommand(s *settings) *cobra.Command {
	var (
		host string
		port int
	)
	cmd := &cobra.Command{
		Use:   "register-node -h HOST [-p PORT]",
		Short: "Make the --server node join the cluster of the node at HOST:PORT",
		Long: "Make the --server node join the cluster through the node at HOST:PORT (its internal\n" +
			"host name and port, as the --server node reaches it). Run it once per node; a registered\n" +
			"node rejoins by itself after a restart. -h is the host here, as in Axon Server: help is\n" +
			"--help.\n\n" +
			"It talks to the --server node only: that node joins, then asks every other node on its\n" +
			"internal port whether it lists the new node, until all do, within --timeout. A node\n" +
			"that cannot be asked (unknown host, connection refused) ends the wait at once; one that\n" +
			"does not answer is named when --timeout runs out. On a terminal it shows each step.",
		Args: cobra.NoArgs,
	}
	// -h is the host, as in Axon Server. Defining "help" first, without a
	// shorthand, stops cobra from adding its own -h/--help.
	cmd.Flags().Bool("help", false, "help for register-node")
	cmd.Flags().StringVarP(&host, "internal-host", "h", "", "internal host name of a node in the cluster (required)")
	cmd.Flags().IntVarP(&port, "internal-port", "p", 8224, "internal port of that node")
	flags := addAdminFlags(cmd, s, defaultRegisterTimeout)

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if host == "" {
			return usagef("missing required flag -h/--internal-host")
		}
		if port < 1 || port > 65535 {
			return usagef("invalid -p/--internal-port %d: want 1-65535", port)
		}
		a, err := flags.resolve(cmd)
		if err != nil {
			return err
		}
		return registerNode(cmd.Context(), s, a, host, port)
	}
	return cmd
}

func registerNode(parent context.Context, s *settings, a *admin, host string, port int) error {
	ctx, cancel := context.WithTimeout(parent, a.timeout)
	defer cancel()
	p := newProgress(s)
	defer p.clear()
	through := net.JoinHostPort(host, strconv.Itoa(port))
	// late names the step that ran out of --timeout, rather than the
	// request that happened to be cut; other failures are explained.
	late := func(step string, err error) error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
			return fmt.Errorf("%s: no answer within --timeout %s", step, a.timeout)
		}
		return a.explain(parent, ctx, err)
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

	p.show("%s asks every node whether it lists %s", me.Name, me.Name)
	count, note, err := waitListed(ctx, a, me.Name, p)
	if err != nil {
		if errors.Is(err, errListedTimeout) && parent.Err() == nil {
			return fmt.Errorf("%s joined through %s, but within --timeout %s not every node lists it: %s",
				me.Name, through, a.timeout, strings.TrimPrefix(err.Error(), errListedTimeout.Error()+": "))
		}
		return fmt.Errorf("%s joined through %s, but %w", me.Name, through, err)
	}
	if note != "" {
		p.done("%s", note)
	} else {
		p.done("every node lists %s", me.Name)
	}

	if a.output == outputJSON {
		if err := a.within(parent, func(ctx context.Context) error { return printCluster(ctx, a, s) }); err != nil {
			return fmt.Errorf("joined through %s, but cannot list the cluster: %w", through, err)
		}
		return nil
	}
	if count == 0 {
		count = len(nodes)
	}
	return printLine(s.out, "node %s joined the cluster through %s; %d nodes", me.Name, through, count)
}

// errListedTimeout starts the error of a check that ran out of time.
var errListedTimeout = errors.New("timed out")

// waitListed polls the --server node's check (api.ListedPath) until every
// node it could ask lists name alive, a node cannot be asked for good, or
// ctx ends. It returns the number of registered nodes, and a note when
// the --server node cannot make the check.
func waitListed(ctx context.Context, a *admin, name string, p *progress) (int, string, error) {
	var last *api.Listing
	for {
		wait := api.DefaultListedWait
		if dl, ok := ctx.Deadline(); ok {
			// Leave time for the answer to come back before the deadline.
			wait = min(wait, time.Until(dl)*3/4)
		}
		if wait > 10*time.Millisecond {
			l, err := a.client.Listed(ctx, wait)
			var ae *api.Error
			switch {
			case err == nil:
				last = &l
			case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
				// A node without the check: the join itself succeeded.
				return 0, "joined; the --server node cannot check that every node lists it (it runs an older roster)", nil
			case ctx.Err() == nil:
				return 0, "", fmt.Errorf("cannot ask %s whether every node lists it: %w", a.client.BaseURL, err)
			}
		}
		if last != nil {
			if last.Complete {
				return len(last.Nodes) + 1, "", nil
			}
			if gone := unreachable(last); gone != "" {
				return 0, "", fmt.Errorf("%s cannot ask every node whether it lists it: %s", name, gone)
			}
			p.show("%s asks every node whether it lists %s: %s", name, name, listedSoFar(last))
		}
		select {
		case <-ctx.Done():
			if last == nil {
				return 0, "", fmt.Errorf("%w: %s did not answer whether every node lists it", errListedTimeout, a.client.BaseURL)
			}
			return 0, "", fmt.Errorf("%w: %s", errListedTimeout, describePending(last))
		case <-time.After(listedPoll):
		}
	}
}

// unreachable names the nodes that cannot be asked, with why.
func unreachable(l *api.Listing) string {
	var parts []string
	for _, n := range l.Nodes {
		if n.State == api.ListedUnreachable {
			parts = append(parts, n.Name+" at "+n.Address+" ("+n.Message+")")
		}
	}
	return strings.Join(parts, ", ")
}

// listedSoFar is one line of progress: each node with a tick when it
// lists the new node, "…" while it does not yet.
func listedSoFar(l *api.Listing) string {
	var parts []string
	for _, n := range l.Nodes {
		switch n.State {
		case api.ListedYes:
			parts = append(parts, n.Name+" "+tick)
		case api.ListedNotAsked, api.ListedUnsupported:
			parts = append(parts, n.Name+" ("+n.Status+")")
		default:
			parts = append(parts, n.Name+" …")
		}
	}
	return strings.Join(parts, "  ")
}

// describePending names the nodes that do not list the new node yet, and
// why.
func describePending(l *api.Listing) string {
	var parts []string
	for _, n := range l.Nodes {
		switch n.State {
		case api.ListedYes, api.ListedNotAsked, api.ListedUnsupported:
			continue
		case api.ListedNoAnswer:
			parts = append(parts, n.Name+" (no answer at "+n.Address+": "+n.Message+")")
		default:
			parts = append(parts, n.Name+" ("+n.Message+")")
		}
	}
	return strings.Join(parts, ", ")
}
