// Command reltable renders the e2e suite's figures (JSON written by
// `go test -tags e2e ./e2e -args -results FILE`) as the reliability
// table of docs/reliability.md, replacing what stands between its markers.
//
//	go run ./scripts/reltable -results e2e/results.json -readme docs/reliability.md
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

const (
	begin = "<!-- reliability:begin -->"
	end   = "<!-- reliability:end -->"
)

type figure struct {
	Check string `json:"check"`
	Done  string `json:"done"`
	Seen  string `json:"seen"`
}

type results struct {
	Started time.Time `json:"started"`
	Soak    string    `json:"soak"`
	Figures []figure  `json:"figures"`
}

func main() {
	resultsPath := flag.String("results", "e2e/results.json", "figures written by the e2e suite")
	readme := flag.String("readme", "docs/reliability.md", "file whose table to replace")
	flag.Parse()
	if err := run(*resultsPath, *readme); err != nil {
		fmt.Fprintln(os.Stderr, "reltable:", err)
		os.Exit(1)
	}
}

func run(resultsPath, readme string) error {
	b, err := os.ReadFile(resultsPath)
	if err != nil {
		return err
	}
	var r results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", resultsPath, err)
	}
	if len(r.Figures) == 0 {
		return fmt.Errorf("%s holds no figures", resultsPath)
	}
	var t strings.Builder
	fmt.Fprintf(&t, "%s\n", begin)
	fmt.Fprintf(&t, "Measured by `scripts/e2e.sh` on %s (5 containers, `lan` gossip profile, packet-loss soak %s).\n\n", r.Started.Format("2006-01-02"), r.Soak)
	fmt.Fprintf(&t, "| check | what was done | what was seen |\n| --- | --- | --- |\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&t, "| %s | %s | %s |\n", f.Check, cell(f.Done), cell(f.Seen))
	}
	fmt.Fprintf(&t, "%s", end)

	doc, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s block", readme, begin, end)
	}
	s = s[:i] + t.String() + s[j+len(end):]
	return os.WriteFile(readme, []byte(s), 0o644)
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
