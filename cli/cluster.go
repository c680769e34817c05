package cli

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/spf13/cobra"
)

func newClusterCommand(s *settings) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "cluster [--watch]",
		Short: "List the nodes of the cluster",
		Long: "List the nodes of the cluster as the --server node sees them, sorted by name.\n" +
			"With -o json the API's JSON is printed as is.\n\n" +
			"--watch follows the node's membership events and prints the list again after every\n" +
			"change: redrawn in place on a terminal, a new table (or, with -o json, a new JSON\n" +
			"line) otherwise. It reconnects when the node restarts; Ctrl-C stops it.",
		Args: cobra.NoArgs,
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print the list again after every membership change, until Ctrl-C")
	flags := addAdminFlags(cmd, s, defaultListTimeout)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		a, err := flags.resolve(cmd)
		if err != nil {
			return err
		}
		if watch {
			return watchCluster(cmd.Context(), a, s)
		}
		return a.within(cmd.Context(), func(ctx context.Context) error { return printCluster(ctx, a, s) })
	}
	return cmd
}

// printCluster prints the cluster as -o asks: a table, or the API's JSON.
func printCluster(ctx context.Context, a *admin, s *settings) error {
	if a.output == outputJSON {
		var raw json.RawMessage
		if err := a.client.Do(ctx, http.MethodGet, "/v1/public", nil, &raw); err != nil {
			return err
		}
		return printJSON(s.out, raw)
	}
	nodes, err := a.client.Nodes(ctx)
	if err != nil {
		return err
	}
	return printNodeTable(s.out, nodes, useColour(s.out))
}
