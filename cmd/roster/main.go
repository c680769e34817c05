// Command roster runs a cluster node (roster server) and administers a
// cluster (roster register-node, cluster, unregister-node, ...).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rosterhq/roster/cli"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal asks for a graceful stop; the second ends the
		// process at once.
		<-signals
		cancel()
		<-signals
		fmt.Fprintln(os.Stderr, "roster: second signal, exiting now")
		os.Exit(130)
	}()
	os.Exit(cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
