package node

import (
	"io"
	"time"

	"github.com/rs/zerolog"
)

// NewLogger makes the node's logger: one JSON object a line, or readable
// console lines when console is true (stderr is a terminal). level is a
// validated logging.level.root value; anything else means info.
func NewLogger(level string, w io.Writer, console bool) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(lvl).Hook(millisTimestamp{})
}

// millisTimestamp stamps each line with millisecond precision (membership
// changes are measured in milliseconds) without changing zerolog's global
// time format.
type millisTimestamp struct{}

func (millisTimestamp) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}
