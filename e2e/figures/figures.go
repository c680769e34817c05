// Package figures holds what the test suites beside the product measure
// for docs/reliability.md: a figure per check, written as JSON with
// -results FILE, which scripts/reltable renders as a table. The container
// suite (e2e, build tag e2e) and the attack suite (e2e/attack) use it.
package figures

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// Figure is one row of a table: the check, what was done, what was seen.
type Figure struct {
	Check string `json:"check"`
	Done  string `json:"done"`
	Seen  string `json:"seen"`
}

// Results are a suite's figures and how they were measured. Add and
// Write may be called from parallel tests.
type Results struct {
	mu sync.Mutex
	// Started is when the suite started (the table's date).
	Started time.Time `json:"started"`
	// Soak is the container suite's packet-loss soak.
	Soak string `json:"soak,omitempty"`
	// Machine describes where the figures were measured (cores, load).
	Machine string   `json:"machine,omitempty"`
	Figures []Figure `json:"figures"`
	// Order, when set, is the order of checks in the file; figures of
	// checks not in it follow in the order they were added.
	Order []string `json:"-"`
}

// Add logs the figure as "FIGURE check: done -> seen" and keeps it.
func (r *Results) Add(t testing.TB, check, done, seen string) {
	t.Helper()
	t.Logf("FIGURE %s: %s -> %s", check, done, seen)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Figures = append(r.Figures, Figure{Check: check, Done: done, Seen: seen})
}

// Write writes the figures to path as JSON, in Order.
func (r *Results) Write(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rank := func(check string) int {
		if i := slices.Index(r.Order, check); i >= 0 {
			return i
		}
		return len(r.Order)
	}
	slices.SortStableFunc(r.Figures, func(a, b Figure) int { return rank(a.Check) - rank(b.Check) })
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("figures: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("figures: %w", err)
	}
	return nil
}

// Read reads figures written by Write.
func Read(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("figures: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("figures: %s: %w", path, err)
	}
	return &r, nil
}
