package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/api"
)

// newKeysCommand is `roster keys`, serf's `serf keys` for a roster
// cluster: every subcommand acts on every node through the --server node
// and prints what each node reported.
func newKeysCommand(s *settings) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the gossip encryption keys of every node (rotate keys without downtime)",
		Long: "Manage the gossip encryption keys of every node through any node's HTTP port.\n" +
			"Rotate a key without downtime:\n" +
			"  roster keys install NEW   # every node decrypts with NEW too\n" +
			"  roster keys use NEW       # every node encrypts with NEW\n" +
			"  roster keys remove OLD    # OLD is gone everywhere\n" +
			"Each node saves its keyring in its controldb-path (keyring.json); after a restart the\n" +
			"saved keyring wins over axoniq.axonserver.cluster.encryption-key.\n" +
			"KEY may be - to read it from standard input, keeping it out of the shell history.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newKeysSubcommand(s, "list", "List every node's gossip keys", false),
		newKeysSubcommand(s, "install", "Install KEY on every node (nodes then also decrypt with it)", true),
		newKeysSubcommand(s, "use", "Make KEY, installed everywhere, the key every node encrypts with", true),
		newKeysSubcommand(s, "remove", "Remove KEY from every node (refused while it is a primary key)", true),
	)
	return cmd
}

func newKeysSubcommand(s *settings, action, short string, withKey bool) *cobra.Command {
	use, args := action, cobra.NoArgs
	if withKey {
		use, args = action+" KEY", cobra.ExactArgs(1)
	}
	cmd := &cobra.Command{Use: use, Short: short, Args: args}
	var force bool
	if action == "remove" {
		cmd.Flags().BoolVar(&force, "force", false,
			"remove the key although some registered nodes did not answer (they cannot rejoin if they still need it)")
	}
	flags := addAdminFlags(cmd, s, defaultChangeTimeout)
	cmd.RunE = func(cmd *cobra.Command, argv []string) error {
		key := ""
		if withKey {
			var err error
			if key, err = readKeyArg(argv[0], cmd.InOrStdin()); err != nil {
				return err
			}
		}
		a, err := flags.resolve(cmd)
		if err != nil {
			return err
		}
		return runKeys(cmd.Context(), s, a, action, key, force)
	}
	return cmd
}

// readKeyArg returns the key argument, or the first line of stdin for "-".
func readKeyArg(arg string, stdin io.Reader) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	sc := bufio.NewScanner(stdin)
	if sc.Scan() {
		return strings.TrimSpace(sc.Text()), nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read key from standard input: %w", err)
	}
	return "", usagef("no key on standard input")
}

func runKeys(ctx context.Context, s *settings, a *admin, action, key string, force bool) error {
	method, path, err := api.KeyOpPath(action)
	if err != nil {
		return err
	}
	var body any
	switch action {
	case "install", "use":
		body = api.KeyRequest{Key: key}
	case "remove":
		body = api.RemoveKeyRequest{Key: key, Force: force}
	}
	var raw json.RawMessage
	if err := a.within(ctx, func(ctx context.Context) error { return a.client.Do(ctx, method, path, body, &raw) }); err != nil {
		return err
	}
	if a.output == outputJSON {
		return printJSON(s.out, raw)
	}
	var r api.KeyReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("server sent an unexpected keyring report: %w", err)
	}
	return printKeyReport(s.out, r, action)
}

// printKeyReport prints the keys (for list) and one line per node.
func printKeyReport(w io.Writer, r api.KeyReport, action string) error {
	answered := 0
	for _, n := range r.Nodes {
		if n.PrimaryKey != "" {
			answered++
		}
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 8, 2, ' ', 0)
	if action == "list" {
		keys := make([]string, 0, len(r.Keys))
		for k := range r.Keys {
			keys = append(keys, k)
		}
		// The primary key first, then by how many nodes hold it.
		sort.Slice(keys, func(i, j int) bool {
			pi, pj := r.PrimaryKeys[keys[i]], r.PrimaryKeys[keys[j]]
			if pi != pj {
				return pi > pj
			}
			if r.Keys[keys[i]] != r.Keys[keys[j]] {
				return r.Keys[keys[i]] > r.Keys[keys[j]]
			}
			return keys[i] < keys[j]
		})
		writeRow(tw, "Key", "Installed on", "Primary on")
		for _, k := range keys {
			writeRow(tw, k, fmt.Sprintf("%d/%d", r.Keys[k], answered), fmt.Sprintf("%d/%d", r.PrimaryKeys[k], answered))
		}
		writeRow(tw)
	}
	writeRow(tw, "Node", "Status", "Result", "Primary key", "Keys", "Note")
	ok := 0
	for _, n := range r.Nodes {
		result := "ok"
		if n.OK {
			ok++
		} else {
			result = "FAILED"
			if n.PrimaryKey == "" {
				result = "not reached"
			}
		}
		note := n.Message
		if n.Warning != "" {
			note = strings.TrimSpace(note + " " + n.Warning)
		}
		writeRow(tw, n.Name, n.Status, result, abbreviateKey(n.PrimaryKey), strconv.Itoa(len(n.Keys)), note)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	// An empty last column leaves padding behind.
	for _, line := range strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n") {
		if err := printLine(w, "%s", strings.TrimRight(line, " ")); err != nil {
			return err
		}
	}
	done := map[string]string{"list": "answered", "install": "have the key now", "use": "encrypt with the key now", "remove": "no longer have the key"}[action]
	return printLine(w, "%d of %d registered nodes %s", ok, len(r.Nodes), done)
}

// abbreviateKey shows enough of a key to tell keys apart in a table.
func abbreviateKey(k string) string {
	if len(k) <= 10 {
		return k
	}
	return k[:8] + "…"
}
