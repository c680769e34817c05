package cli

import (
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

func newRegisterNodeCommand(s *settings) *cobra.Command {
	var host string
	var port int
	cmd := &cobra.Command{
		Use:   "register-node -h HOST [-p PORT]",
		Short: "Make the --server node join the cluster of the node at HOST:PORT",
		Long: "Make the --server node join the cluster through the node at HOST:PORT (its internal\n" +
			"host name and port). Run it once per node; a registered node rejoins by itself\n" +
			"after a restart. -h is the host here, as in Axon Server: help is --help.",
		Args: cobra.NoArgs,
	}
	// -h is the host, as in Axon Server. Defining "help" first, without a
	// shorthand, stops cobra from adding its own -h/--help.
	cmd.Flags().Bool("help", false, "help for register-node")
	cmd.Flags().StringVarP(&host, "internal-host", "h", "", "internal host name of a node in the cluster (required)")
	cmd.Flags().IntVarP(&port, "internal-port", "p", 8224, "internal port of that node")
	flags := addAdminFlags(cmd, s)

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
		ctx := cmd.Context()
		through := net.JoinHostPort(host, strconv.Itoa(port))
		if err := a.client.Join(ctx, api.JoinRequest{InternalHostName: host, InternalGrpcPort: port}); err != nil {
			return err
		}
		if a.output == outputJSON {
			if err := printCluster(ctx, a, s); err != nil {
				return fmt.Errorf("joined through %s, but cannot list the cluster: %w", through, err)
			}
			return nil
		}
		me, err := a.client.Me(ctx)
		if err != nil {
			return fmt.Errorf("joined through %s, but cannot describe the node: %w", through, err)
		}
		nodes, err := a.client.Nodes(ctx)
		if err != nil {
			return fmt.Errorf("joined through %s, but cannot list the cluster: %w", through, err)
		}
		return printLine(s.out, "node %s joined the cluster through %s; %d nodes", me.Name, through, len(nodes))
	}
	return cmd
}
