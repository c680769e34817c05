package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedBuildLetsTheLinkerDropUnusedMethods builds roster as
// scripts/build.sh ships it and reads the linker's reachability graph: no
// reachable function may call methods by name through reflection (as
// text/template does), since one such call makes the linker keep every
// exported method of every type, which cost 2.7 MiB of code and function
// tables, nearly all resident in every node. A dependency that brings such
// a call back fails here, naming the function.
func TestShippedBuildLetsTheLinkerDropUnusedMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd := exec.Command(filepath.Join("..", "..", "scripts", "build.sh"), filepath.Join(t.TempDir(), "roster"), "-ldflags=-dumpdep")
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
}
