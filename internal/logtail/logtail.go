// Package logtail reads the end of a process's log file, for error
// messages that say why a process started by roster exited.
package logtail

import (
	"os"
	"strings"
)

// Lines is the last k lines written to path after offset from, joined
// with " | " for a one-line message. A file shorter than from was
// replaced, and is read whole; an unreadable file gives the error's text.
func Lines(path string, from int64, k int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if from > int64(len(b)) {
		from = 0
	}
	text := strings.TrimSpace(string(b[from:]))
	if text == "" {
		return "it wrote nothing to " + path
	}
	lines := strings.Split(text, "\n")
	if len(lines) > k {
		lines = lines[len(lines)-k:]
	}
	return strings.Join(lines, " | ")
}
