package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

func newClusterCommand(s *settings) *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "cluster [--watch]",
		Short: "List the nodes of the cluster",
		Long: "List the nodes of the cluster as the --server node sees them, sorted by name.\n" +
			"When any node has placement tags (axoniq.axonserver.tags.*), a Tags column follows.\n" +
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
	if !anyTags(nodes) {
		return printNodeTable(s.out, nodes, useColour(s.out))
	}
	return printTaggedNodeTable(s.out, nodes, useColour(s.out))
}

func anyTags(nodes []api.Node) bool {
	for _, n := range nodes {
		if len(n.Tags) > 0 {
			return true
		}
	}
	return false
}

// printTaggedNodeTable is the cluster table with a Tags column at the end:
// name=value pairs, sorted, comma separated.
func printTaggedNodeTable(w io.Writer, nodes []api.Node, colour bool) error {
	sorted := append([]api.Node(nil), nodes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	writeRow(tw, append(slices.Clone(clusterColumns), "Tags")...)
	for _, n := range sorted {
		tags := make([]string, 0, len(n.Tags))
		for k, v := range n.Tags {
			tags = append(tags, k+"="+v)
		}
		sort.Strings(tags)
		writeRow(tw, n.Name, n.HostName, strconv.Itoa(n.GrpcPort), strconv.Itoa(n.HTTPPort),
			n.InternalHostName, strconv.Itoa(n.GrpcInternalPort), paintStatus(n.Status, colour), strings.Join(tags, ","))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
