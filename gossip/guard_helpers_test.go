package gossip

import (
	"bytes"
	"compress/lzw"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// This file builds memberlist's wire format (net.go, security.go,
// util.go, label.go) the way memberlist writes it, for the guard's tests.

// nodeState is memberlist's pushNodeState.
type nodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       uint8
	Vsn         []uint8
}

// mlEncode is memberlist's encode: the type byte, then msgpack.
func mlEncode(t byte, v any) []byte {
	var buf bytes.Buffer
	buf.WriteByte(t)
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func msgpackOf(v any) []byte {
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(v); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// labelled prefixes b with memberlist's label header.
func labelled(label string, b []byte) []byte {
	return append([]byte{msgHasLabel, byte(len(label))}, append([]byte(label), b...)...)
}

// pushPullMessage is what sendLocalState writes for these nodes and
// user state.
func pushPullMessage(nodes []nodeState, user []byte, join bool) []byte {
	out := mlEncode(msgPushPull, &pushPullHead{Nodes: len(nodes), UserStateLen: len(user), Join: join})
	for i := range nodes {
		out = append(out, msgpackOf(&nodes[i])...)
	}
	return append(out, user...)
}

// bombHeader is a push/pull header that claims nodes node states and
// sends none: memberlist allocates 112 bytes for each before reading.
func bombHeader(nodes int) []byte {
	return mlEncode(msgPushPull, &pushPullHead{Nodes: nodes})
}

func sampleNodes(n int) []nodeState {
	out := make([]nodeState, n)
	for i := range out {
		out[i] = nodeState{Name: "node" + string(rune('a'+i%26)), Addr: []byte{127, 0, 0, 1}, Port: 8224, Meta: bytes.Repeat([]byte{'m'}, 200),
			Incarnation: uint32(i), Vsn: []uint8{1, 5, 2, 2, 5, 4}}
	}
	return out
}

// userMessage is what sendUserMsg writes.
func userMessage(payload []byte) []byte {
	return append(mlEncode(msgUser, &userMsgHead{UserMsgLen: len(payload)}), payload...)
}

// compress is memberlist's compressPayload.
func compress(plain []byte) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, lzwLitWidth)
	_, _ = w.Write(plain)
	_ = w.Close()
	return mlEncode(msgCompress, &compressed{Algo: 0, Buf: buf.Bytes()})
}

// lzwBomb is a compress message of n zero bytes.
func lzwBomb(n int) []byte { return compress(make([]byte, n)) }

// seal is memberlist's encryptPayload, version 1.
func seal(key, plain, ad []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	out := make([]byte, 1+sealNonce, 1+sealNonce+len(plain)+sealTag)
	out[0] = 1
	_, _ = rand.Read(out[1 : 1+sealNonce])
	return gcm.Seal(out, out[1:1+sealNonce], plain, ad)
}

// sealPacket encrypts a packet as rawSendMsgPacket does.
func sealPacket(key []byte, label string, plain []byte) []byte {
	return seal(key, plain, []byte(label))
}

// sealStream encrypts a stream message as encryptLocalState does.
func sealStream(key []byte, label string, plain []byte) []byte {
	head := make([]byte, 5)
	head[0] = msgEncrypt
	binary.BigEndian.PutUint32(head[1:], uint32(1+sealNonce+len(plain)+sealTag))
	ad := append(append([]byte(nil), head...), label...)
	return append(head, seal(key, plain, ad)...)
}

// withCRC is the checksum header memberlist puts before packets to
// nodes of protocol 5.
func withCRC(b []byte) []byte {
	out := make([]byte, 5, 5+len(b))
	out[0] = msgHasCRC
	binary.BigEndian.PutUint32(out[1:], crc32.ChecksumIEEE(b))
	return append(out, b...)
}

// compound is makeCompoundMessage.
func compound(msgs ...[]byte) []byte {
	out := []byte{msgCompound, byte(len(msgs))}
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
	}
	for _, m := range msgs {
		out = append(out, m...)
	}
	return out
}

func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 16)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

// heapWatch samples the heap in use until stopped and reports the peak
// above the level it started from.
type heapWatch struct {
	base, peak uint64
	stop       chan struct{}
	done       sync.WaitGroup
}

func watchHeap() *heapWatch {
	runtime.GC()
	h := &heapWatch{stop: make(chan struct{})}
	h.base = heapInUse()
	h.peak = h.base
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				h.peak = max(h.peak, heapInUse())
			}
		}
	}()
	return h
}

// growth stops the watch and returns the peak growth in bytes.
func (h *heapWatch) growth() uint64 {
	close(h.stop)
	h.done.Wait()
	h.peak = max(h.peak, heapInUse())
	return h.peak - h.base
}

// heapInUse is the heap's objects, live and not yet swept.
func heapInUse() uint64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// droppedCounts reads roster_gossip_dropped_total, by "reason/transport".
func droppedCounts(t testing.TB, m *metrics) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(m.dropped))
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			key := map[string]string{}
			for _, l := range s.GetLabel() {
				key[l.GetName()] = l.GetValue()
			}
			out[key["reason"]+"/"+key["transport"]] = s.GetCounter().GetValue()
		}
	}
	return out
}

// droppedTotal sums roster_gossip_dropped_total over reasons for a
// transport ("" for both).
func droppedTotal(t testing.TB, m *metrics, transport string) float64 {
	t.Helper()
	total := 0.0
	for k, v := range droppedCounts(t, m) {
		if transport == "" || strings.HasSuffix(k, "/"+transport) {
			total += v
		}
	}
	return total
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
