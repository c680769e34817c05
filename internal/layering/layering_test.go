package layering

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rosterhq/roster/"

// allowed names, for each part of the tree, the parts its non-test code may
// import. A package belongs to the longest part its path starts with.
var allowed = map[string][]string{
	"cmd":      {"cli"},
	"cli":      {"node", "api", "internal"},
	"node":     {"api", "rpc", "gossip", "internal"},
	"api":      {"api", "internal"},
	"rpc":      {"rpc", "internal"},
	"gossip":   {"gossip", "internal"},
	"internal": {"internal"},
	"examples": {"api", "rpc"},
	"e2e":      {"api", "rpc"},
	"scripts":  {"api", "rpc", "e2e", "internal"},
}

func part(importPath string) string {
	rel := strings.TrimPrefix(importPath, module)
	top, _, _ := strings.Cut(rel, "/")
	return top
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestImportsGoOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "-tags", "e2e", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var seen int
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		from := part(p.ImportPath)
		rules, ok := allowed[from]
		if !ok {
			t.Errorf("%s: its part of the tree (%q) has no import rules here: add it to allowed", p.ImportPath, from)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := part(imp)
			if !slices.Contains(rules, to) && to != from {
				t.Errorf("%s imports %s: %s may import only %s", p.ImportPath, imp, from, fmt.Sprint(rules))
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list found %d packages: the module path is not %s", seen, module)
	}
}
