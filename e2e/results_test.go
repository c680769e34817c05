//go:build e2e

package e2e

import (
	"flag"
	"testing"
	"time"

	"github.com/rosterhq/roster/e2e/figures"
)

var (
	soak        = flag.Duration("soak", 60*time.Second, "duration of the 10% packet-loss soak")
	resultsFile = flag.String("results", "", "write the figures to this JSON file (for scripts/reltable)")
)

// results are the rows of the reliability table (docs/reliability.md).
type results struct{ figures.Results }

func (r *results) add(t testing.TB, check, done, seen string) {
	t.Helper()
	r.Add(t, check, done, seen)
}

func (r *results) write(t testing.TB) {
	if *resultsFile == "" {
		return
	}
	if err := r.Write(*resultsFile); err != nil {
		t.Fatal(err)
	}
}

func ms(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
