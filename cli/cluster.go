package cli

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/spf13/cobra"
)

func newClusterCommand(s *settings) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "List the nodes of the cluster",
		Long: "List the nodes of the cluster as the --server node sees them, sorted by name.\n" +
			"With -o json the API's JSON is printed as is.",
		Args: cobra.NoArgs,
	}
	flags := addAdminFlags(cmd, s)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		a, err := flags.resolve(cmd)
		if err != nil {
			return err
		}
		return printCluster(cmd.Context(), a, s)
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
