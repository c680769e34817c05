package cli

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
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
	var pidFile string
	cmd.Flags().StringVar(&pidFile, "pid-file", "", "write the node's process id to this file while it runs (roster dev uses it to find and stop its nodes)")
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
		if pidFile != "" {
			remove, err := writePIDFile(pidFile)
			if err != nil {
				n.Kill()
				return err
			}
			defer remove()
		}
		return runUntilStopped(ctx, n, log, cfg.ShutdownTimeout)
	}
	return cmd
}

// runningNode is what runUntilStopped needs of a started node.Node.
type runningNode interface {
	Err() <-chan error
	Done() <-chan struct{}
	Stop(context.Context) error
}

// runUntilStopped waits for the context to end (a signal), or for the node
// to fail, and stops the node gracefully within timeout. A failure of the
// node is the command's error, so roster server exits non-zero.
func runUntilStopped(ctx context.Context, n runningNode, log zerolog.Logger, timeout time.Duration) error {
	var failed error
	select {
	case <-ctx.Done():
		log.Info().Dur("timeout", timeout).Msg("node: signal received, stopping gracefully (a second signal exits at once)")
	case failed = <-n.Err():
		log.Error().Err(failed).Dur("timeout", timeout).Msg("node: stopping after a failure")
	case <-n.Done():
		return errors.New("node: stopped unexpectedly")
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	stopErr := n.Stop(stopCtx)
	if failed != nil {
		return failed
	}
	if stopErr != nil {
		return stopErr
	}
	log.Info().Dur("took", time.Since(start)).Msg("node: bye")
	return nil
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
