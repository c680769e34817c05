// Command loadgen is the e2e suite's client fleet: N Go clients
// (rpc/client) that each call the cluster every -interval and record
// failures, the longest gap between successful calls, and every move from
// node to node; and -axon-clients more that hold only the platform stream
// the way AxonIQ's Java connector does (axon.go), recording their moves.
// The suite runs it as a container on its network, so the clients resolve
// and connect to the nodes' advertised names, and reads GET /state on
// -listen.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rosterhq/roster/rpc/client"
	"github.com/rosterhq/roster/rpc/rosterpb"
)

// move is one change of node by one client.
type move struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
	Gap  string    `json:"gap"`
	// Why the client left From: request_reconnect, or the error that
	// ended its stream.
	Why string `json:"why,omitempty"`
}

// clientState is what /state reports for one client.
type clientState struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`   // go or axon
	Server    string    `json:"server"` // node name
	Address   string    `json:"address"`
	Calls     int       `json:"calls"`
	Failures  int       `json:"failures"`
	LastError string    `json:"lastError,omitempty"`
	MaxGapMS  float64   `json:"maxGapMs"` // longest time between successful calls
	Moves     []move    `json:"moves"`
	lastOK    time.Time // the last successful call
	why       string    // why it left its node, for the next move
}

type fleet struct {
	mu      sync.Mutex
	clients map[string]*clientState
}

func main() {
	seeds := flag.String("seeds", "", "client gRPC addresses of some nodes, comma separated")
	n := flag.Int("clients", 50, "number of Go clients")
	axon := flag.Int("axon-clients", 0, "number of clients that behave as AxonIQ's Java connector")
	interval := flag.Duration("interval", 20*time.Millisecond, "time between one client's calls")
	listen := flag.String("listen", ":9000", "address of the /state endpoint")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Split(*seeds, ","), *n, *axon, *interval, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, seeds []string, n, axon int, interval time.Duration, listen string) error {
	f := &fleet{clients: map[string]*clientState{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", f.serveState)
	mux.HandleFunc("POST /reset", f.reset)
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ListenAndServe() }()
	defer srv.Close()
	var wg sync.WaitGroup
	for i := 0; i < axon; i++ {
		st := &clientState{ID: fmt.Sprintf("axon-%02d", i), Kind: "axon", Moves: []move{}, lastOK: time.Now()}
		f.mu.Lock()
		f.clients[st.ID] = st
		f.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.runAxon(ctx, st, seeds)
		}()
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("loadgen-%02d", i)
		st := &clientState{ID: id, Kind: "go", Moves: []move{}, lastOK: time.Now()}
		f.mu.Lock()
		f.clients[id] = st
		f.mu.Unlock()
		c, err := client.New(client.Config{
			Seeds:         seeds,
			ClientID:      id,
			ComponentName: "loadgen",
			OnEvent: func(ev client.Event) {
				switch ev.Type {
				case client.EventConnected:
					f.connected(st, ev.Server.Name, ev.Server.Address, ev.Gap)
				case client.EventDisconnected:
					why := "request_reconnect"
					if ev.Err != nil {
						why = ev.Err.Error()
					}
					f.left(st, ev.Server.Name, why)
				}
			},
		})
		if err != nil {
			return err
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.call(ctx, c, st, interval)
		}()
	}
	wg.Wait()
	return nil
}

// connected records that st registered on node: a move when it was on
// another node, or on the same one again (sent back).
func (f *fleet) connected(st *clientState, node, addr string, gap time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st.Server != "" {
		st.Moves = append(st.Moves, move{At: time.Now().UTC(), From: st.Server, To: node, Gap: gap.String(), Why: st.why})
	}
	st.Server, st.Address, st.why = node, addr, ""
}

// left records why st left node ("": the node it is on); a Go client that
// hands over has registered on the next node first, so that leave is not
// recorded.
func (f *fleet) left(st *clientState, node, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if node == "" || node == st.Server {
		st.why = why
	}
}

// failed records a connection failure of a client that makes no calls.
func (f *fleet) failed(st *clientState, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st.LastError = err.Error()
}

// call calls ListNodes through c until ctx ends.
func (f *fleet) call(ctx context.Context, c *client.Client, st *clientState, interval time.Duration) {
	cs := rosterpb.NewClusterServiceClient(c)
	if _, err := c.WaitConnected(ctx); err != nil {
		return
	}
	f.mu.Lock()
	st.lastOK = time.Now()
	f.mu.Unlock()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := cs.ListNodes(callCtx, &rosterpb.ListNodesRequest{})
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		f.mu.Lock()
		st.Calls++
		if err != nil {
			st.Failures++
			st.LastError = err.Error()
		} else {
			if gap := float64(now.Sub(st.lastOK).Microseconds()) / 1000; gap > st.MaxGapMS {
				st.MaxGapMS = gap
			}
			st.lastOK = now
		}
		f.mu.Unlock()
	}
}

func (f *fleet) serveState(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]clientState, 0, len(f.clients))
	for _, c := range f.clients {
		cp := *c
		cp.Moves = append([]move(nil), c.Moves...)
		out = append(out, cp)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// reset zeroes the counters, so a phase of the suite is measured alone.
func (f *fleet) reset(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for _, c := range f.clients {
		c.Calls, c.Failures, c.LastError, c.MaxGapMS, c.Moves = 0, 0, "", 0, []move{}
		c.lastOK = now
	}
	w.WriteHeader(http.StatusNoContent)
}
