package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

func newUnregisterNodeCommand(s *settings) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "unregister-node -n NAME",
		Short: "Remove a node from the cluster for good",
		Long: "Remove the named node from every node's list, alive or not. A live node is told to\n" +
			"leave and runs on standalone. Removing the last node is refused.",
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVarP(&name, "node", "n", "", "name of the node to remove (required)")
	flags := addAdminFlags(cmd, s, defaultChangeTimeout)
	_ = cmd.RegisterFlagCompletionFunc("node", completeNodeNames(flags)) // fails only for an unknown flag

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if name == "" {
			return usagef("missing required flag -n/--node")
		}
		a, err := flags.resolve(cmd)
		if err != nil {
			return err
		}
		if err := a.within(cmd.Context(), func(ctx context.Context) error { return a.client.Unregister(ctx, name) }); err != nil {
			return err
		}
		if a.output == outputJSON {
			if err := a.within(cmd.Context(), func(ctx context.Context) error { return printCluster(ctx, a, s) }); err != nil {
				return fmt.Errorf("node %s unregistered, but cannot list the cluster: %w", name, err)
			}
			return nil
		}
		return printLine(s.out, "node %s unregistered from the cluster", name)
	}
	return cmd
}
