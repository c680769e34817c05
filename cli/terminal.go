package cli

import "io"

// isTerminal tells whether w is a terminal, where the commands draw
// progress and redraw tables in place.
func (s *settings) isTerminal(w io.Writer) bool {
	if s.terminal != nil {
		return s.terminal(w)
	}
	return isTerminal(w)
}

// withTerminal makes every output count as a terminal (or none), for tests.
func withTerminal(yes bool) Option {
	return func(s *settings) { s.terminal = func(io.Writer) bool { return yes } }
}

// ANSI sequences for terminals.
const (
	clearScreen = "\x1b[H\x1b[2J" // cursor home, erase the screen
	clearLine   = "\r\x1b[2K"     // back to column 0, erase the line
	green       = "\x1b[32m"
	red         = "\x1b[31m"
	dim         = "\x1b[2m"
	reset       = "\x1b[0m"
)
