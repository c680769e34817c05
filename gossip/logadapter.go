package gossip

import (
	"bytes"
	"log"
	"strings"

	"github.com/rs/zerolog"
)

// logAdapter turns serf's and memberlist's "[LEVEL] component: message"
// lines into zerolog events at the matching level. It also counts the
// gossip that memberlist refuses for failing decryption, which it reports
// only in its log.
type logAdapter struct {
	log     zerolog.Logger
	metrics *metrics
}

func newStdLogger(l zerolog.Logger, m *metrics) *log.Logger {
	return log.New(&logAdapter{log: l, metrics: m}, "", 0)
}

func (a *logAdapter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := zerolog.InfoLevel
	if strings.HasPrefix(line, "[") {
		if end := strings.IndexByte(line, ']'); end > 0 {
			switch line[1:end] {
			case "TRACE":
				level = zerolog.TraceLevel
			case "DEBUG":
				level = zerolog.DebugLevel
			case "INFO":
				level = zerolog.InfoLevel
			case "WARN":
				level = zerolog.WarnLevel
			case "ERR", "ERROR":
				level = zerolog.ErrorLevel
			}
			line = strings.TrimSpace(line[end+1:])
		}
	}
	component := "gossip"
	if i := strings.Index(line, ": "); i > 0 && i < 16 && !strings.Contains(line[:i], " ") {
		component, line = line[:i], line[i+2:]
	}
	if a.serfRejoin(component, line) {
		return len(p), nil
	}
	if level >= zerolog.WarnLevel && strings.Contains(strings.ToLower(line), "decrypt") ||
		strings.Contains(line, "remote state is not encrypted") || strings.Contains(line, "not encrypted") {
		// Only the packet path says "packet"; stream failures come as
		// "failed to receive: ..." or "remote state ...".
		transport := "tcp"
		if strings.Contains(strings.ToLower(line), "packet") {
			transport = "udp"
		}
		a.metrics.dropped.WithLabelValues("decrypt", transport).Inc()
	}
	if component == "serf" && level == zerolog.InfoLevel && strings.HasPrefix(line, "EventMember") {
		// Cluster.publish logs every membership change with its status
		// and address; serf's own line for it would double them.
		level = zerolog.DebugLevel
	}
	a.log.WithLevel(level).Str("component", component).Msg(line)
	return len(p), nil
}
