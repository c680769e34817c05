package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxShippedSize bounds the shipped binary: a dependency that embeds
// or links more than roster needs (a whole web distribution, a second
// protobuf runtime) shows here.
const maxShippedSize = 20 << 20

// TestShippedBuildLetsTheLinkerDropUnusedMethods builds roster as
// scripts/build.sh ships it, checks its size against maxShippedSize, and
// reads the linker's reachability graph: no
// reachable function may call methods by name through reflection (as
// text/template does), since one such call makes the linker keep every
// exported method of every type, which cost 2.7 MiB of code and function
// tables, nearly all resident in every node. A dependency that brings such
// a call back fails here, naming the function.
func TestShippedBuildLetsTheLinkerDropUnusedMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	out := filepath.Join(t.TempDir(), "roster")
	// build.sh's own -ldflags again, with -dumpdep: the binary is the shipped one.
	cmd := exec.Command(filepath.Join("..", "..", "scripts", "build.sh"), out, "-ldflags=-s -w -dumpdep")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var found, lines int
	var first string
	for sc.Scan() {
		lines++
		if l := sc.Text(); strings.Contains(l, "<ReflectMethod>") {
			if found++; first == "" {
				first = l
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("scripts/build.sh: %v", err)
	}
	if lines < 1000 {
		t.Fatalf("the linker printed %d lines of its dependency graph: -dumpdep did not reach it", lines)
	}
	if found > 0 {
		t.Fatalf("%d reachable edges call methods by name through reflection, so the linker keeps every exported method; the first: %s", found, first)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shipped binary: %.1f MiB", float64(st.Size())/(1<<20))
	if st.Size() > maxShippedSize {
		t.Fatalf("the shipped binary is %.1f MiB, over %d MiB: go tool nm -size -sort size on a build without -s -w names what grew", float64(st.Size())/(1<<20), maxShippedSize>>20)
	}
}
