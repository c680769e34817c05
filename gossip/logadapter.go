package gossip

import (
	"bytes"
	"log"
	"strings"

	"github.com/rs/zerolog"
)

// logAdapter turns serf's and memberlist's "[LEVEL] component: message"
// lines into zerolog events at the matching level. The lines that are
// about bad input from the network (badInputLines) are counted in
// roster_gossip_dropped_total, which memberlist reports only in its log,
// and logged at most once per source per interval (badInputLog), shared
// with the transport's own refusals.
type logAdapter struct {
	log     zerolog.Logger
	metrics *metrics
	badLog  *badInputLog
}

func newStdLogger(l zerolog.Logger, m *metrics, badLog *badInputLog) *log.Logger {
	return log.New(&logAdapter{log: l, metrics: m, badLog: badLog}, "", 0)
}

// badInput describes a kind of line about bad input.
type badInput struct {
	match     string // what the line contains
	reason    string // its reason in roster_gossip_dropped_total, "" for none
	transport string
}

// badInputLines are the serf and memberlist lines about input from the
// network, first match wins. Lines about decryption say "decrypt" or
// "not encrypted" in many forms and are matched apart (decryptLine).
// Those with no reason are rate-limited but not counted: what they report
// is not a dropped message (a ping meant for a node that restarted under
// another name), or was counted already (the transport's label check).
var badInputLines = []badInput{
	// Streams (handleConn, readStream, readRemoteState, readUserMsg).
	{"failed to receive", reasonMalformed, "tcp"},
	{"Failed to read remote state", reasonMalformed, "tcp"},
	{"Failed to receive user message", reasonMalformed, "tcp"},
	{"Received invalid msgType", reasonBadType, "tcp"},
	{"Failed to decode ping:", reasonMalformed, "tcp"},
	{"Too many pending push/pull requests", reasonTooManyStreams, "tcp"},
	{"Got ping for unexpected node", "", "tcp"},
	{"stream with unacceptable label", "", "tcp"},
	{"double stream label header", "", "tcp"},
	// Packets (ingestPacket, handleCommand and the handlers).
	{"Failed to decode", reasonMalformed, "udp"},
	{"Failed to decompress", reasonMalformed, "udp"},
	{"not supported", reasonBadType, "udp"},
	{"missing message type byte", reasonMalformed, "udp"},
	{"invalid checksum", reasonMalformed, "udp"},
	{"truncated messages", reasonMalformed, "udp"},
	{"handler queue full", "", "udp"},
	{"Ignoring an alive message", reasonMalformed, "udp"},
	{"ignoring alive message", reasonMalformed, "udp"},
	{"Rejected node", "", "udp"},
	{"Rejected IP update", "", "udp"},
	{"Conflicting address for", "", "udp"},
	// What a ping or an indirect ping from anyone makes memberlist send.
	{"Failed to send ack", "", "udp"},
	{"Failed to send indirect ping", "", "udp"},
	{"Failed to forward ack", "", "udp"},
	{"Failed to send nack", "", "udp"},
	{"packet with unacceptable label", "", "udp"},
	{"double packet label header", "", "udp"},
	{"cannot decode label", "", "udp"},
	{"label header cannot be empty", "", "udp"},
	// serf's handling of what memberlist passes it (delegate.go).
	{"Error decoding", reasonMalformed, "udp"},
	{"Received message of unknown type", reasonBadType, "udp"},
	{"Error forwarding message", "", "udp"},
	{"Remote state is zero bytes", reasonMalformed, "tcp"},
	{"Remote state has bad type prefix", reasonMalformed, "tcp"},
	{"Failed to decode remote state", reasonMalformed, "tcp"},
}

// classify tells whether a serf or memberlist line at level is about bad
// input, and its reason and transport. Only warnings and errors are.
func classify(line string, level zerolog.Level) (badInput, bool) {
	if level < zerolog.WarnLevel {
		return badInput{}, false
	}
	lower := strings.ToLower(line)
	if strings.Contains(lower, "decrypt") || strings.Contains(lower, "not encrypted") || strings.Contains(lower, "encryption is not configured") {
		// Only the packet path says "packet"; stream failures come as
		// "failed to receive: ..." or "remote state ...".
		transport := "tcp"
		if strings.Contains(lower, "packet") {
			transport = "udp"
		}
		return badInput{reason: reasonDecrypt, transport: transport}, true
	}
	for _, b := range badInputLines {
		if strings.Contains(line, b.match) {
			return b, true
		}
	}
	return badInput{}, false
}

// lineSource is the remote address memberlist names in a line
// ("from=ip:port"), or "".
func lineSource(line string) string {
	i := strings.LastIndex(line, "from=")
	if i < 0 {
		return ""
	}
	rest := line[i+len("from="):]
	if j := strings.IndexAny(rest, " \t"); j >= 0 {
		rest = rest[:j]
	}
	return rest
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
	if component == "serf" && level == zerolog.InfoLevel && strings.HasPrefix(line, "EventMember") {
		// Cluster.publish logs every membership change with its status
		// and address; serf's own line for it would double them.
		level = zerolog.DebugLevel
	}
	bad, isBad := classify(line, level)
	if !isBad {
		a.log.WithLevel(level).Str("component", component).Msg(line)
		return len(p), nil
	}
	// An error of the transport's guard, which memberlist reports again
	// (a push/pull whose answer the guard refused), was counted already.
	if bad.reason != "" && !strings.Contains(line, ": gossip: ") {
		a.metrics.dropped.WithLabelValues(bad.reason, bad.transport).Inc()
	}
	if !logEnabled(a.log, level) {
		return len(p), nil
	}
	// Lines that name no source are limited by who writes them.
	key := badKey{src: sourceOfString(lineSource(line))}
	if !key.src.IsValid() {
		key.kind = component
	}
	ok, suppressed, others := a.badLog.allow(key)
	if !ok {
		return len(p), nil
	}
	ev := a.log.WithLevel(level).Str("component", component).Int("suppressed", suppressed)
	if others {
		ev = ev.Bool("many_sources", true)
	}
	ev.Msg(line)
	return len(p), nil
}
