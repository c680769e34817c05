// Command reltable renders a suite's figures (JSON written with
// `-results FILE`) as a table of docs/reliability.md, replacing what
// stands between the table's markers:
//
//	go run ./scripts/reltable -results e2e/results.json -readme docs/reliability.md
//	go run ./scripts/reltable -table attacks -results e2e/attack/results.json -readme docs/reliability.md
//
// The reliability table is the container suite's (`go test -tags e2e
// ./e2e`), the attacks table the attack suite's (`go test ./e2e/attack`).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/rosterhq/roster/e2e/figures"
)

// table is one table of docs/reliability.md: its markers and what its
// first line says about how the figures were measured.
type table struct {
	begin, end string
	intro      func(r *figures.Results) string
}

var tables = map[string]table{
	"reliability": {"<!-- reliability:begin -->", "<!-- reliability:end -->", func(r *figures.Results) string {
		return fmt.Sprintf("Measured by `scripts/e2e.sh` on %s (5 containers, `lan` gossip profile, packet-loss soak %s).",
			r.Started.Format("2006-01-02"), r.Soak)
	}},
	"attacks": {"<!-- attacks:begin -->", "<!-- attacks:end -->", func(r *figures.Results) string {
		return fmt.Sprintf("Measured by `scripts/attacks.sh` on %s (%s).", r.Started.Format("2006-01-02"), r.Machine)
	}},
}

func main() {
	name := flag.String("table", "reliability", "which table: reliability (the container suite's) or attacks (the attack suite's)")
	resultsPath := flag.String("results", "e2e/results.json", "figures written by the suite")
	readme := flag.String("readme", "docs/reliability.md", "file whose table to replace")
	flag.Parse()
	if err := run(*name, *resultsPath, *readme); err != nil {
		fmt.Fprintln(os.Stderr, "reltable:", err)
		os.Exit(1)
	}
}

func run(name, resultsPath, readme string) error {
	tab, ok := tables[name]
	if !ok {
		return fmt.Errorf("no table %q (allowed: reliability, attacks)", name)
	}
	r, err := figures.Read(resultsPath)
	if err != nil {
		return err
	}
	if len(r.Figures) == 0 {
		return fmt.Errorf("%s holds no figures", resultsPath)
	}
	var t strings.Builder
	fmt.Fprintf(&t, "%s\n", tab.begin)
	fmt.Fprintf(&t, "%s\n\n", tab.intro(r))
	fmt.Fprintf(&t, "| check | what was done | what was seen |\n| --- | --- | --- |\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&t, "| %s | %s | %s |\n", f.Check, cell(f.Done), cell(f.Seen))
	}
	fmt.Fprintf(&t, "%s", tab.end)

	doc, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	s := string(doc)
	i, j := strings.Index(s, tab.begin), strings.Index(s, tab.end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s block", readme, tab.begin, tab.end)
	}
	s = s[:i] + t.String() + s[j+len(tab.end):]
	return os.WriteFile(readme, []byte(s), 0o644)
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
