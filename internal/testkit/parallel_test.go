package testkit

import (
	"flag"
	"testing"
)

func TestRaiseParallel(t *testing.T) {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if given {
		t.Skip("-parallel given: RaiseParallel leaves it")
	}
	f := flag.Lookup("test.parallel")
	was := f.Value.String()
	defer func() { _ = f.Value.Set(was) }()
	_ = f.Value.Set("2")
	RaiseParallel(8)
	if got := f.Value.String(); got != "8" {
		t.Fatalf("-test.parallel %s, want 8", got)
	}
	RaiseParallel(4) // never lowered
	if got := f.Value.String(); got != "8" {
		t.Fatalf("-test.parallel %s, want 8", got)
	}
}
