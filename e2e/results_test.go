//go:build e2e

package e2e

import (
	"encoding/json"
	"flag"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	soak        = flag.Duration("soak", 60*time.Second, "duration of the 10% packet-loss soak")
	resultsFile = flag.String("results", "", "write the figures to this JSON file (for scripts/reltable)")
)

// figure is one row of the reliability table (docs/reliability.md).
type figure struct {
	Check string `json:"check"`
	Done  string `json:"done"`
	Seen  string `json:"seen"`
}

type results struct {
	mu      sync.Mutex
	Started time.Time `json:"started"`
	Soak    string    `json:"soak"`
	Figures []figure  `json:"figures"`
}

func (r *results) add(t testing.TB, check, done, seen string) {
	t.Helper()
	t.Logf("FIGURE %s: %s -> %s", check, done, seen)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Figures = append(r.Figures, figure{Check: check, Done: done, Seen: seen})
}

func (r *results) write(t testing.TB) {
	if *resultsFile == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*resultsFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func ms(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
