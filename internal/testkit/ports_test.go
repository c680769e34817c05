package testkit

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestPortsAreFreeDistinctAndBelowTheEphemeralRange(t *testing.T) {
	var a, b Ports
	seen := map[int]bool{}
	for _, p := range []*Ports{&a, &b, &a, &b} {
		for range 300 {
			port := p.Port(t)
			if seen[port] {
				t.Fatalf("port %d handed out twice", port)
			}
			seen[port] = true
			if port < portsLow || port >= ephemeralLow() {
				t.Fatalf("port %d outside [%d, %d)", port, portsLow, ephemeralLow())
			}
		}
	}
	// Each of the two claimed blocks of its own: 600 ports need two each.
	if len(a.blocks) != 2 || len(b.blocks) != 2 {
		t.Fatalf("blocks held: %d and %d, want 2 and 2", len(a.blocks), len(b.blocks))
	}
	port := a.Port(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("a port handed out cannot be bound: %v", err)
	}
	_ = l.Close()
}

func TestRangeSkipsABoundPort(t *testing.T) {
	var p Ports
	first := p.Port(t)
	// Something else binds the next port: a range must not include it.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first+1))
	if err != nil {
		t.Skipf("port %d taken already: %v", first+1, err)
	}
	defer func() { _ = l.Close() }()
	start := p.Range(t, 10)
	if start <= first+1 {
		t.Fatalf("range starts at %d, over the bound port %d", start, first+1)
	}
	for port := start; port < start+10; port++ {
		if !free(port) {
			t.Fatalf("port %d of the range is not free", port)
		}
	}
}

func TestReceive(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if v, ok := Receive(t, ch, time.Second, "value"); v != 7 || !ok {
		t.Fatalf("got %d, %v", v, ok)
	}
	close(ch)
	if _, ok := Receive(t, ch, time.Second, "close"); ok {
		t.Fatal("a closed channel received as open")
	}
}
