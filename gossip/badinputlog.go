package gossip

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// badInputLog rate-limits the log lines about bad gossip input, the
// transport's own refusals and memberlist's complaints alike: one line
// per source address per interval, which carries the count of lines from
// that source not logged since its last one. Lines that name no source
// (serf's, some of memberlist's) are limited by who writes them instead. Metrics count everything;
// the log tells an operator who is sending it without letting a flood of
// garbage write a line per packet.
//
// Memory is bounded: at most badInputSources sources are tracked, and at
// most badInputLinesPerInterval sources get a line per interval. Sources beyond
// either (a flood from spoofed addresses) share one line per interval.
type badInputLog struct {
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex
	sources   map[badKey]*badSource
	window    time.Time // start of the interval lines are counted in
	lines     int       // source lines logged in this window
	lastSweep time.Time
	others    badSource // the shared line of sources beyond the bounds
}

// badKey is what lines are limited by: their source, or when they name
// none, the component that writes them.
type badKey struct {
	src  netip.Addr
	kind string
}

type badSource struct {
	last       time.Time // when its last line was logged
	suppressed int       // lines not logged since
}

const (
	badInputSources          = 256
	badInputLinesPerInterval = 16
)

func newBadInputLog(interval time.Duration, now func() time.Time) *badInputLog {
	if now == nil {
		now = time.Now
	}
	return &badInputLog{interval: interval, now: now, sources: map[badKey]*badSource{}}
}

// allow tells whether to log a line about bad input from src, and how
// many lines from it were not logged since its last one. others is true
// for the line shared by sources beyond the bounds.
func (l *badInputLog) allow(src badKey) (ok bool, suppressed int, others bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= l.interval {
		l.window, l.lines = now, 0
	}
	s, known := l.sources[src]
	if known && now.Sub(s.last) < l.interval {
		s.suppressed++
		return false, 0, false
	}
	if !known && len(l.sources) >= badInputSources {
		l.sweep(now)
	}
	if (!known && len(l.sources) >= badInputSources) || l.lines >= badInputLinesPerInterval {
		if !l.others.last.IsZero() && now.Sub(l.others.last) < l.interval {
			l.others.suppressed++
			return false, 0, true
		}
		n := l.others.suppressed
		l.others = badSource{last: now}
		return true, n, true
	}
	if !known {
		s = &badSource{}
		l.sources[src] = s
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	l.lines++
	return true, n, false
}

// sweep forgets the sources whose interval is over, at most once an
// interval; what they had not logged goes to the shared line's count.
func (l *badInputLog) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.interval {
		return
	}
	l.lastSweep = now
	for a, s := range l.sources {
		if now.Sub(s.last) >= l.interval {
			l.others.suppressed += s.suppressed
			delete(l.sources, a)
		}
	}
}

// sourceOf is the IP address of a network address, for badInputLog.
func sourceOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	return sourceOfString(a.String())
}

// sourceOfString is the IP address in "ip:port" or "ip", or the zero
// Addr.
func sourceOfString(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}
