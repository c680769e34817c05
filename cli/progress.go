package cli

import (
	"fmt"
	"io"
)

// progress shows the steps of a long command on a terminal (stderr): the
// running step on one line, replaced by a ticked line when it is done.
// Elsewhere it prints nothing, so scripts and logs get the result, or the
// one-line error, alone.
type progress struct {
	w       io.Writer
	on      bool
	colour  bool
	running bool
}

func newProgress(s *settings) *progress {
	return &progress{w: s.errOut, on: s.isTerminal(s.errOut), colour: useColour(s.errOut)}
}

// show replaces the running step's line.
func (p *progress) show(format string, args ...any) {
	if !p.on {
		return
	}
	_, _ = fmt.Fprintf(p.w, "%s%s %s", clearLine, p.paint(dim, "…"), fmt.Sprintf(format, args...))
	p.running = true
}

// done ends the running step with a tick and what it found.
func (p *progress) done(format string, args ...any) {
	if !p.on {
		return
	}
	_, _ = fmt.Fprintf(p.w, "%s%s %s\n", clearLine, p.paint(green, tick), fmt.Sprintf(format, args...))
	p.running = false
}

// clear erases a running step, so a failure is one line after the ticks.
func (p *progress) clear() {
	if p.on && p.running {
		_, _ = fmt.Fprint(p.w, clearLine)
		p.running = false
	}
}

func (p *progress) paint(code, s string) string {
	if !p.colour {
		return s
	}
	return code + s + reset
}

// tick marks a finished step or a node that answered.
const tick = "✓"
