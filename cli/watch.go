package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/rosterhq/roster/api"
)

// Reconnection delays of cluster --watch after the stream breaks.
const (
	watchRetryMin = time.Second
	watchRetryMax = 5 * time.Second
)

// watcher keeps the node list of cluster --watch in step with the node's
// event stream (GET /v1/public/events) and prints it after every change:
// redrawn in place on a terminal, a new table (or JSON line) otherwise.
type watcher struct {
	a      *admin
	s      *settings
	out    io.Writer
	tty    bool
	colour bool

	nodes map[string]api.Node
	last  string // what was printed last: an unchanged view is not printed again
	note  string // the latest change, shown above the table
	lost  string // why the stream broke, while reconnecting
}

// watchPing is how often the node sends an event on an idle stream (a
// ping, api/events.go): a stream silent for longer than that plus
// --timeout is taken for lost.
const watchPing = 15 * time.Second

// errSilent cancels a stream attempt that got no event in time.
var errSilent = errors.New("no event in time")

func watchCluster(ctx context.Context, a *admin, s *settings) error {
	w := &watcher{a: a, s: s, out: s.out, tty: s.isTerminal(s.out), colour: useColour(s.out)}
	connected := false
	retry, delay := watchRetryMin, time.Duration(0)
	for {
		// --timeout bounds the wait for the first event of each attempt;
		// then the node's pings keep the stream alive.
		attempt, cancel := context.WithCancelCause(ctx)
		silence := time.AfterFunc(a.timeout, func() { cancel(errSilent) })
		got := false
		err := a.client.Events(attempt, func(ev api.StreamEvent) error {
			connected, got = true, true
			delay = 0
			silence.Reset(watchPing + a.timeout)
			if ev.Retry > 0 {
				retry = ev.Retry // the server's wish, as EventSource honours it
			}
			return w.apply(ev)
		})
		silence.Stop()
		silent := errors.Is(context.Cause(attempt), errSilent)
		cancel(nil)
		if ctx.Err() != nil {
			return nil // Ctrl-C: the last table stays on screen
		}
		switch {
		case silent && !connected:
			return fmt.Errorf("no answer from %s within --timeout %s", a.client.BaseURL, a.timeout)
		case silent && !got:
			err = fmt.Errorf("no answer within --timeout %s", a.timeout)
		case silent:
			err = fmt.Errorf("no event for %s", watchPing+a.timeout)
		case !connected:
			return a.explain(ctx, ctx, err) // wrong server, token or path: say so and stop
		}
		var e *api.Error
		if errors.As(err, &e) && (e.Code == api.CodeAuthTokenMissing || e.Code == api.CodeInvalidToken) {
			return err
		}
		// The node stopped or the network broke: keep the last view, say
		// so, and reconnect; the stream starts again with the full list.
		delay = min(max(delay*2, retry), watchRetryMax)
		if err := w.broken(err, delay); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

func (w *watcher) apply(ev api.StreamEvent) error {
	switch ev.Name {
	case api.SSENodes:
		w.nodes = make(map[string]api.Node, len(ev.Nodes))
		for _, n := range ev.Nodes {
			w.nodes[n.Name] = n
		}
		if w.lost != "" {
			w.note = "reconnected to " + w.a.client.BaseURL
		}
		w.lost = ""
	case api.SSEChange:
		n := ev.Change.Node
		if ev.Change.Type == api.EventRemove {
			delete(w.nodes, n.Name)
		} else {
			w.nodes[n.Name] = n
		}
		if text := describeChange(ev.Change); text != "" {
			w.note = text
		}
	default:
		return nil // pings and events this CLI does not know
	}
	return w.print()
}

// describeChange is a change in words; updates (client counts, refuted
// suspicions) show only through the table.
func describeChange(c api.NodeEvent) string {
	verb := map[string]string{
		api.EventJoin:    "is alive",
		api.EventSuspect: "is suspect",
		api.EventFail:    "failed",
		api.EventLeave:   "left",
		api.EventRemove:  "was unregistered",
	}[c.Type]
	if verb == "" {
		return ""
	}
	return c.Node.Name + " " + verb
}

func (w *watcher) sorted() []api.Node {
	nodes := make([]api.Node, 0, len(w.nodes))
	for _, n := range w.nodes {
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes
}

// print shows the list if it changed: -o json as one line of the API's
// JSON per change; a table otherwise.
func (w *watcher) print() error {
	var view bytes.Buffer
	if w.a.output == outputJSON {
		b, err := json.Marshal(w.sorted())
		if err != nil {
			return fmt.Errorf("encode nodes: %w", err)
		}
		view.Write(b)
		view.WriteByte('\n')
	} else if err := printNodeTable(&view, w.sorted(), w.colour); err != nil {
		return err
	}
	if view.String() == w.last && !w.tty {
		return nil
	}
	w.last = view.String()
	if w.a.output == outputJSON {
		return write(w.out, view.Bytes())
	}
	var b bytes.Buffer
	stamp := time.Now().Format("15:04:05")
	if w.tty {
		b.WriteString(clearScreen)
		fmt.Fprintf(&b, "%s  %s  (Ctrl-C to stop)\n", w.a.client.BaseURL, stamp)
		if w.note != "" {
			fmt.Fprintf(&b, "%s\n", w.note)
		}
		b.WriteByte('\n')
	} else {
		what := w.note
		if what == "" {
			what = "nodes of " + w.a.client.BaseURL
		}
		fmt.Fprintf(&b, "%s  %s\n", stamp, what)
	}
	b.Write(view.Bytes())
	if !w.tty {
		b.WriteByte('\n')
	}
	return write(w.out, b.Bytes())
}

// broken tells that the stream broke and when it is tried again: on the
// terminal above the last table, elsewhere on stderr.
func (w *watcher) broken(err error, delay time.Duration) error {
	w.lost = oneLine(describe(err))
	msg := fmt.Sprintf("lost the event stream of %s (%s); reconnecting in %s", w.a.client.BaseURL, w.lost, delay)
	if !w.tty || w.a.output == outputJSON {
		return printLine(w.s.errOut, "roster: cluster: %s", msg)
	}
	w.note = msg
	w.last = "" // redraw with the note
	return w.print()
}

func write(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
