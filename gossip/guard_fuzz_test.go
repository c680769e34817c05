package gossip

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
)

// The fuzz targets check the guard against what anyone can send: it must
// never panic, refuse with a reason the metric knows and an error that
// names the package, pass on only bytes that came in, and allocate in
// proportion to the input and the limits, never to what the input claims.
// Their seeds are memberlist's messages, the bombs and broken forms of
// both, and in testdata/fuzz the traffic of a real cluster (recorded-*).
//
//	go test -run '^$' -fuzz FuzzStreamGuard -fuzztime 1m ./gossip
//	go test -run '^$' -fuzz FuzzPacketGuard -fuzztime 1m ./gossip

// fuzzKey is the key of the fuzzed keyed cluster.
var fuzzKey = []byte("roster-fuzz-key!")

// Fuzz modes: bits of the second argument.
const (
	fuzzKeyed = 1 << iota // the node has fuzzKey
	fuzzSeal              // the input is sealed with fuzzKey first, so the fuzzer reaches what a key holder sends
	fuzzReply             // a stream's answer (no label, the answer types)
)

// fuzzLimits are small, so that what the input may expand to is too.
var fuzzLimits = Limits{MinNodes: 16, MaxNodes: 64, MaxUserMessage: 4 << 10, MaxPacketExpansion: 16 << 10}.withDefaults()

// sealFixed is seal with a zero nonce: the fuzzer needs the same input
// to give the same bytes.
func sealFixed(plain, ad []byte) []byte {
	block, _ := aes.NewCipher(fuzzKey)
	gcm, _ := cipher.NewGCM(block)
	out := make([]byte, 1+sealNonce, 1+sealNonce+len(plain)+sealTag)
	out[0] = 1
	return gcm.Seal(out, out[1:1+sealNonce], plain, ad)
}

func fuzzKeys(t testing.TB) *keyView {
	kr, err := memberlist.NewKeyring(nil, fuzzKey)
	if err != nil {
		t.Fatal(err)
	}
	var v keyView
	v.set(kr)
	return &v
}

func requireRefusal(t *testing.T, err error) {
	t.Helper()
	reason := reasonOf(err)
	known := false
	for _, r := range dropReasons {
		known = known || r == reason
	}
	if !known || !strings.HasPrefix(err.Error(), "gossip: ") {
		t.Fatalf("refusal %q (%s) is not one the metric and the log know", err, reason)
	}
}

func FuzzStreamGuard(f *testing.F) {
	pushPull := pushPullMessage(sampleNodes(3), []byte("serf state"), true)
	for _, seed := range []struct {
		data []byte
		mode uint8
	}{
		{labelled("sim", pushPull), 0},
		{labelled("sim", bombHeader(1<<20)), 0},
		{labelled("sim", compress(pushPull)), 0},
		{labelled("sim", lzwBomb(1<<20)), 0},
		{labelled("sim", userMessage([]byte("event"))), 0},
		{labelled("sim", mlEncode(msgPing, &ping{SeqNo: 1, Node: "n1"})), 0},
		{pushPull, fuzzKeyed | fuzzSeal},
		{compress(bombHeader(1 << 20)), fuzzKeyed | fuzzSeal},
		{mlEncode(msgAck, &ping{SeqNo: 1}), fuzzReply},
		{bombHeader(1 << 20), fuzzReply | fuzzKeyed | fuzzSeal},
		{labelled("sim", []byte{msgEncrypt, 0x7f, 0xff, 0xff, 0xff}), fuzzKeyed},
	} {
		f.Add(seed.data, seed.mode)
	}
	keys := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		check := streamCheck{lim: fuzzLimits.stream(fuzzLimits.MinNodes), types: inboundTypes, label: "sim"}
		if mode&fuzzKeyed != 0 {
			check.aeads = keys.current()
		}
		labelledStream := mode&fuzzReply == 0
		if !labelledStream {
			check.lim, check.types = fuzzLimits.stream(fuzzLimits.MaxNodes), replyTypes
		}
		wire := data
		if mode&fuzzSeal != 0 {
			head := make([]byte, 5)
			head[0] = msgEncrypt
			binary.BigEndian.PutUint32(head[1:], uint32(1+sealNonce+len(data)+sealTag))
			wire = append(head, sealFixed(data, append(append([]byte(nil), head...), "sim"...))...)
			if labelledStream {
				wire = labelled("sim", wire)
			}
		}
		var msg []byte
		var err error
		n := allocated(func() { msg, err = check.read(bytes.NewReader(wire), labelledStream) })
		if bound := uint64(3*len(wire) + 3*check.lim.plain + 256<<10); n > bound {
			t.Fatalf("the guard allocated %d bytes for %d of input (bound %d)", n, len(wire), bound)
		}
		if err != nil {
			requireRefusal(t, err)
			return
		}
		if len(msg) == 0 || !bytes.Contains(wire, msg) {
			t.Fatalf("the guard passed on %d bytes that are not the input's", len(msg))
		}
	})
}

func FuzzPacketGuard(f *testing.F) {
	p := mlEncode(msgPing, &ping{SeqNo: 1, Node: "n1"})
	alive := mlEncode(msgAlive, &nodeState{Name: "n2", Addr: []byte{127, 0, 0, 1}, Port: 8224, Vsn: []uint8{1, 5, 2, 2, 5, 4}})
	for _, seed := range []struct {
		data []byte
		mode uint8
	}{
		{p, 0},
		{withCRC(compress(compound(p, alive))), 0},
		{compound(p, compound(alive)), 0},
		{lzwBomb(40 << 20), 0},
		{compress(compress(p)), 0},
		{withCRC(compress(compound(p, alive))), fuzzKeyed | fuzzSeal},
		{lzwBomb(1 << 20), fuzzKeyed | fuzzSeal},
		{p, fuzzKeyed},
	} {
		f.Add(seed.data, seed.mode)
	}
	keyed, clear := fuzzKeys(f), &keyView{}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		g := newPacketGuard(clear, "sim", fuzzLimits.MaxPacketExpansion)
		if mode&fuzzKeyed != 0 {
			g = newPacketGuard(keyed, "sim", fuzzLimits.MaxPacketExpansion)
		}
		if mode&fuzzSeal != 0 {
			data = sealFixed(data, []byte("sim"))
		}
		var err error
		n := allocated(func() { err = g.check(data) })
		if bound := uint64(2*len(data) + 2*fuzzLimits.MaxPacketExpansion + 64<<10); n > bound {
			t.Fatalf("the guard allocated %d bytes for a packet of %d (bound %d)", n, len(data), bound)
		}
		if err != nil {
			requireRefusal(t, err)
		}
	})
}

// TestGuardPassesRecordedTraffic runs the guard over the seeds recorded
// from memberlist and serf in a cluster of three (testdata/fuzz/*/recorded-*:
// streams, their answers and packets, in clear and with fuzzKey,
// compressed): the guard passes every one.
func TestGuardPassesRecordedTraffic(t *testing.T) {
	keys := fuzzKeys(t)
	limits := Limits{}.withDefaults()
	for _, target := range []string{"FuzzStreamGuard", "FuzzPacketGuard"} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "recorded-*"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		for _, file := range files {
			data, mode := readSeed(t, file)
			var aeads []cipher.AEAD
			view := &keyView{}
			if mode&fuzzKeyed != 0 {
				aeads, view = keys.current(), keys
			}
			if target == "FuzzPacketGuard" {
				require.NoError(t, newPacketGuard(view, "sim", limits.MaxPacketExpansion).check(data), file)
				continue
			}
			check := streamCheck{lim: limits.stream(limits.MinNodes), types: inboundTypes, aeads: aeads, label: "sim"}
			if mode&fuzzReply != 0 {
				check.types = replyTypes
			}
			msg, err := check.read(bytes.NewReader(data), mode&fuzzReply == 0)
			require.NoError(t, err, file)
			require.True(t, bytes.HasSuffix(data, msg), file)
		}
	}
}

// readSeed reads a seed of the fuzz targets: []byte and uint8.
func readSeed(t *testing.T, file string) ([]byte, uint8) {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	require.Len(t, lines, 3, file)
	data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	require.NoError(t, err, file)
	mode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(lines[2], "uint8("), ")"), 10, 8)
	require.NoError(t, err, file)
	return []byte(data), uint8(mode)
}
