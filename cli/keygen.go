package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"
)

// gossipKeyBytes is the size of a new gossip key: AES-256.
const gossipKeyBytes = 32

func newKeygenCommand(s *settings) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new gossip encryption key",
		Long: "Print a new random gossip encryption key: base64 of 32 bytes from the system's secure\n" +
			"random source. Use it as axoniq.axonserver.cluster.encryption-key on every node, or\n" +
			"rotate it into a running cluster with roster keys install/use/remove.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			key, err := newGossipKey()
			if err != nil {
				return err
			}
			return printLine(s.out, "%s", key)
		},
	}
}

func newGossipKey() (string, error) {
	b := make([]byte, gossipKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
