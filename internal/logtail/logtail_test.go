package logtail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.log")
	if got := Lines(path, 0, 3); !strings.Contains(got, "no such file") {
		t.Fatalf("missing file: %q", got)
	}
	if err := os.WriteFile(path, []byte("one\ntwo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mark := int64(len("one\ntwo\n"))
	if got, want := Lines(path, mark, 3), "it wrote nothing to "+path; got != want {
		t.Fatalf("nothing new: %q, want %q", got, want)
	}
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\nfour\nfive\nsix\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from int64
		k    int
		want string
	}{
		{0, 3, "four | five | six"},
		{mark, 10, "three | four | five | six"},
		{1000, 2, "five | six"}, // replaced by a shorter file: read whole
	} {
		if got := Lines(path, c.from, c.k); got != c.want {
			t.Errorf("Lines(%d, %d) = %q, want %q", c.from, c.k, got, c.want)
		}
	}
}
