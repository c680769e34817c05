package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Shell completion comes from cobra's "completion" command (bash, zsh,
// fish, powershell); these functions complete flag values on top of it.

// completeOutput offers -o/--output's values.
func completeOutput(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{outputTxt + "\ttable", outputJSON + "\tthe API's JSON"}, cobra.ShellCompDirectiveNoFileComp
}

// completeNodeNames offers the names of the registered nodes, asking the
// --server node (with the flags typed so far) for at most two seconds.
func completeNodeNames(flags *adminFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		a, err := flags.resolve(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		nodes, err := a.client.Nodes(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, n := range nodes {
			if strings.HasPrefix(n.Name, prefix) {
				names = append(names, n.Name+"\t"+n.Status)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
