// Command follow is a client application that stays connected to a roster
// cluster while its nodes restart, and prints which node serves it.
//
//	go run ./cmd/roster dev            # a 3-node cluster, in another terminal
//	go run ./examples/follow           # then restart the nodes one by one
//
// It finds its node with Axon's PlatformService through the Go client
// (package rpc/client), calls roster's ClusterService on it every
// -interval, and reports each move with the time it spent without a server.
// Ctrl-C prints a summary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rosterhq/roster/rpc/client"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

func main() {
	servers := flag.String("servers", "localhost:8124,localhost:8125,localhost:8126", "client gRPC addresses of some nodes (comma separated)")
	clientID := flag.String("client-id", "", "client id; placement is by this id (default: pid@host-random)")
	interval := flag.Duration("interval", 500*time.Millisecond, "how often to call the cluster")
	token := flag.String("token", "", "access token, when the nodes have axoniq.axonserver.accesscontrol.enabled")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*servers, ","), *clientID, *token, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "follow:", err)
		os.Exit(1)
	}
}

// stats are what the summary reports.
type stats struct {
	mu          sync.Mutex
	calls, fail int
	moves       int
	longestGap  time.Duration
	longestCall time.Duration
}

func stamp() string { return time.Now().Format("15:04:05.000") }

func run(ctx context.Context, seeds []string, clientID, token string, interval time.Duration) error {
	st := &stats{}
	c, err := client.New(client.Config{
		Seeds:         seeds,
		ClientID:      clientID,
		ComponentName: "follow",
		AccessToken:   token,
		OnEvent: func(ev client.Event) {
			switch ev.Type {
			case client.EventConnected:
				st.mu.Lock()
				st.moves++
				st.longestGap = max(st.longestGap, ev.Gap)
				st.mu.Unlock()
				fmt.Printf("%s  -> connected to %s at %s (%s without a server)\n", stamp(), ev.Server.Name, ev.Server.Address, ev.Gap.Round(time.Microsecond))
			case client.EventDisconnected:
				why := "asked to reconnect"
				if ev.Err != nil {
					why = ev.Err.Error()
				}
				fmt.Printf("%s  <- left %s: %s\n", stamp(), ev.Server.Name, why)
			case client.EventUnreachable:
				fmt.Printf("%s  !! no node answers: %v\n", stamp(), ev.Err)
			}
		},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("%s  client %s, seeds %s\n", stamp(), c.ID(), strings.Join(seeds, ", "))

	cs := rosterpb.NewClusterServiceClient(c)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = c.Close()
			st.mu.Lock()
			defer st.mu.Unlock()
			fmt.Printf("\n%d calls, %d failed, %d connections; longest time without a server %s, longest call %s\n",
				st.calls, st.fail, st.moves, st.longestGap.Round(time.Microsecond), st.longestCall.Round(time.Microsecond))
			return nil
		case <-tick.C:
		}
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		resp, err := cs.ListNodes(callCtx, &rosterpb.ListNodesRequest{})
		took := time.Since(start)
		cancel()
		if errors.Is(ctx.Err(), context.Canceled) {
			continue // interrupted: the summary comes next
		}
		st.mu.Lock()
		st.calls++
		st.longestCall = max(st.longestCall, took)
		if err != nil {
			st.fail++
		}
		st.mu.Unlock()
		if err != nil {
			fmt.Printf("%s  call failed after %s: %v\n", stamp(), took.Round(time.Microsecond), err)
			continue
		}
		alive := 0
		for _, n := range resp.GetNodes() {
			if n.GetStatus() == rosterpb.NodeStatus_NODE_STATUS_ALIVE {
				alive++
			}
		}
		fmt.Printf("%s  served by %s (%d of %d nodes alive), %s\n", stamp(), resp.GetAnsweredBy(), alive, len(resp.GetNodes()), took.Round(time.Microsecond))
	}
}
