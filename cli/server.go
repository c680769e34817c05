package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/rosterhq/roster/node"
)

// newServerCommand runs a node until the context ends (the first SIGINT or
// SIGTERM, which main turns into a cancelled context), then stops it
// gracefully within axoniq.axonserver.cluster.shutdown-timeout.
func newServerCommand(s *settings) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a roster node",
		Long: "Run a roster node. Configuration comes from built-in defaults, axonserver.properties or\n" +
			"axonserver.yml (in . or ./config, or --config), AXONIQ_AXONSERVER_* / SERVER_PORT\n" +
			"environment variables and --<property>=<value> flags, later ones winning.\n" +
			"See configs/axonserver.properties for every property.",
		Args: cobra.NoArgs,
	}
	node.RegisterFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, warnings, err := node.LoadConfig(node.LoadOptions{Flags: cmd.Flags(), WorkDir: s.workDir})
		log := node.NewLogger(cfg.LogLevel, s.errOut, isTerminal(s.errOut))
		for _, w := range warnings {
			log.Warn().Msg(w)
		}
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		reg := prometheus.NewRegistry()
		if err := installGossipMetrics(reg); err != nil {
			return err
		}
		n, err := node.Start(ctx, cfg, node.Options{Logger: log, Metrics: reg})
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			log.Info().Dur("timeout", cfg.ShutdownTimeout).Msg("node: signal received, stopping gracefully (a second signal exits at once)")
		case <-n.Done():
			return fmt.Errorf("node stopped unexpectedly")
		}
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		start := time.Now()
		if err := n.Stop(stopCtx); err != nil {
			return err
		}
		log.Info().Dur("took", time.Since(start)).Msg("node: bye")
		return nil
	}
	return cmd
}

// isTerminal is true when w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
