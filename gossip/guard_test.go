package gossip

import (
	"bytes"
	"crypto/cipher"
	"io"
	"runtime"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
)

// ping is memberlist's ping message.
type ping struct {
	SeqNo uint32
	Node  string
}

func testAEADs(t testing.TB, keys ...[]byte) []cipher.AEAD {
	t.Helper()
	kr, err := memberlist.NewKeyring(keys, keys[0])
	require.NoError(t, err)
	var v keyView
	v.set(kr)
	return v.current()
}

// inbound is the check of a stream another node opened, with the limits
// of a node that knows of three nodes.
func inbound(aeads []cipher.AEAD) streamCheck {
	l := Limits{}.withDefaults()
	return streamCheck{lim: l.stream(l.nodesFor(3)), types: inboundTypes, aeads: aeads, label: "test"}
}

// allocated is the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestStreamGuardPassesMemberlistMessages(t *testing.T) {
	key := testKey(t)
	aeads := testAEADs(t, key)
	pushPull := pushPullMessage(sampleNodes(5), bytes.Repeat([]byte{'u'}, 300), true)
	for name, tc := range map[string]struct {
		msg   []byte
		aeads []cipher.AEAD
	}{
		"ping":                {msg: mlEncode(msgPing, &ping{SeqNo: 7, Node: "n1"})},
		"push/pull":           {msg: pushPull},
		"empty push/pull":     {msg: pushPullMessage(nil, nil, false)},
		"user message":        {msg: userMessage(bytes.Repeat([]byte{'x'}, 9<<10))},
		"compressed":          {msg: compress(pushPull)},
		"encrypted":           {msg: sealStream(key, "test", pushPull), aeads: aeads},
		"encrypted, compress": {msg: sealStream(key, "test", compress(pushPull)), aeads: aeads},
		"second key":          {msg: sealStream(key, "test", pushPull), aeads: testAEADs(t, testKey(t), key)},
	} {
		t.Run(name, func(t *testing.T) {
			check := inbound(tc.aeads)
			// Bytes after the message are not memberlist's to read.
			wire := append(labelled("test", tc.msg), "next"...)
			got, err := check.read(bytes.NewReader(wire), true)
			require.NoError(t, err)
			require.Equal(t, tc.msg, got, "the message is replayed as it came")
		})
	}
}

func TestStreamGuardRefusesWhatMemberlistWouldHoldTooMuchFor(t *testing.T) {
	key := testKey(t)
	aeads := testAEADs(t, key)
	lim := inbound(nil).lim
	cut := func(b []byte, n int) []byte { return b[:len(b)-n] }
	nodeWithHugeName := append(mlEncode(msgPushPull, &pushPullHead{Nodes: 1}), 0x81, 0xa4, 'N', 'a', 'm', 'e', 0xdb, 0xff, 0xff, 0xff, 0xff)
	for name, tc := range map[string]struct {
		wire   []byte
		aeads  []cipher.AEAD
		reason string
	}{
		"header bomb":            {wire: labelled("test", bombHeader(1<<20)), reason: reasonOversized},
		"just beyond the limit":  {wire: labelled("test", bombHeader(lim.nodes+1)), reason: reasonOversized},
		"negative node count":    {wire: labelled("test", bombHeader(-1)), reason: reasonOversized},
		"user state bomb":        {wire: labelled("test", mlEncode(msgPushPull, &pushPullHead{UserStateLen: 20 << 20})), reason: reasonOversized},
		"user message bomb":      {wire: labelled("test", mlEncode(msgUser, &userMsgHead{UserMsgLen: 20 << 20})), reason: reasonOversized},
		"a 4 GiB string":         {wire: labelled("test", nodeWithHugeName), reason: reasonOversized},
		"LZW bomb":               {wire: labelled("test", lzwBomb(40<<20)), reason: reasonOversized},
		"compressed twice":       {wire: labelled("test", compress(compress(mlEncode(msgPing, &ping{})))), reason: reasonBadType},
		"an ack":                 {wire: labelled("test", mlEncode(msgAck, &ping{})), reason: reasonBadType},
		"unknown type":           {wire: labelled("test", []byte{200, 1, 2, 3}), reason: reasonBadType},
		"alive on a stream":      {wire: labelled("test", mlEncode(msgAlive, &ping{})), reason: reasonBadType},
		"nodes missing":          {wire: labelled("test", cut(pushPullMessage(sampleNodes(3), nil, false), 10)), reason: reasonMalformed},
		"user state missing":     {wire: labelled("test", cut(pushPullMessage(nil, make([]byte, 100), false), 1)), reason: reasonMalformed},
		"not msgpack":            {wire: labelled("test", []byte{msgPushPull, 0xc1}), reason: reasonMalformed},
		"only a label":           {wire: labelled("test", nil), reason: reasonMalformed},
		"empty label":            {wire: []byte{msgHasLabel, 0, msgPing}, reason: reasonMalformed},
		"another cluster":        {wire: labelled("other", mlEncode(msgPing, &ping{})), reason: reasonClusterLabel},
		"no label":               {wire: mlEncode(msgPing, &ping{}), reason: reasonClusterLabel},
		"encrypted, no key here": {wire: labelled("test", sealStream(key, "test", bombHeader(1))), reason: reasonDecrypt},
		"in clear, key here":     {wire: labelled("test", pushPullMessage(nil, nil, false)), aeads: aeads, reason: reasonDecrypt},
		"another key":            {wire: labelled("test", sealStream(testKey(t), "test", bombHeader(1))), aeads: aeads, reason: reasonDecrypt},
		"another label sealed":   {wire: labelled("test", sealStream(key, "other", bombHeader(1))), aeads: aeads, reason: reasonDecrypt},
		"a key holder's bomb":    {wire: labelled("test", sealStream(key, "test", bombHeader(1<<20))), aeads: aeads, reason: reasonOversized},
		"a key holder's LZW":     {wire: labelled("test", sealStream(key, "test", lzwBomb(40<<20))), aeads: aeads, reason: reasonOversized},
		"encrypted length bomb":  {wire: labelled("test", []byte{msgEncrypt, 0x7f, 0xff, 0xff, 0xff}), aeads: aeads, reason: reasonOversized},
		"encrypted, cut short":   {wire: labelled("test", []byte{msgEncrypt, 0, 0, 4, 0, 1, 2, 3}), aeads: aeads, reason: reasonMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			check := inbound(tc.aeads)
			var err error
			n := allocated(func() { _, err = check.read(bytes.NewReader(tc.wire), true) })
			require.Error(t, err)
			require.Equal(t, tc.reason, reasonOf(err), "%v", err)
			require.Regexp(t, "^gossip: ", err.Error())
			// What the guard allocates grows with what arrived (the LZW
			// bomb's output, doubling as it grows, stops at the limit),
			// never with what is claimed.
			require.Less(t, n, uint64(2*len(tc.wire)+3*lim.plain+256<<10), "allocated")
			if tc.reason != reasonOversized || len(tc.wire) > 1<<10 {
				return
			}
			require.Less(t, n, uint64(256<<10), "a claim of a few bytes made the guard allocate")
		})
	}
}

func TestStreamGuardHoldsAnswersToTheHardCap(t *testing.T) {
	l := Limits{}.withDefaults()
	check := streamCheck{lim: l.stream(l.MaxNodes), types: replyTypes, label: "test"}
	for _, ok := range [][]byte{mlEncode(msgAck, &ping{SeqNo: 1}), mlEncode(msgErr, &struct{ Error string }{"no"}), pushPullMessage(sampleNodes(2), nil, false)} {
		got, err := check.read(bytes.NewReader(ok), false)
		require.NoError(t, err)
		require.Equal(t, ok, got)
	}
	_, err := check.read(bytes.NewReader(bombHeader(l.MaxNodes+1)), false)
	require.Equal(t, reasonOversized, reasonOf(err), "%v", err)
	_, err = check.read(bytes.NewReader(mlEncode(msgPing, &ping{})), false)
	require.Equal(t, reasonBadType, reasonOf(err), "%v", err)
	// An answer carries no label.
	_, err = check.read(bytes.NewReader(labelled("test", mlEncode(msgAck, &ping{}))), false)
	require.Equal(t, reasonBadType, reasonOf(err), "%v", err)
}

func TestStreamLimitsFollowTheCluster(t *testing.T) {
	l := Limits{}.withDefaults()
	require.Equal(t, DefaultMinNodes, l.nodesFor(0), "a floor for small clusters")
	require.Equal(t, 4000*nodeMargin, l.nodesFor(4000), "a margin above what the node knows of")
	require.Equal(t, DefaultMaxNodes, l.nodesFor(1<<20), "a hard cap")
	s := l.stream(l.nodesFor(3))
	require.Equal(t, 1024, s.nodes)
	require.Equal(t, 1<<20, s.userState)
	require.Less(t, s.wire, 5<<20, "a small cluster's stream message is bounded to a few MB")
	small := Limits{MinNodes: 8, MaxNodes: 4}.withDefaults()
	require.Equal(t, 4, small.nodesFor(100), "the floor never exceeds the cap")
}

func TestReplayConnEndsAfterTheMessage(t *testing.T) {
	c := &replayConn{data: []byte("message")}
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "message", string(got))
}

func TestPacketGuard(t *testing.T) {
	key := testKey(t)
	kr, err := memberlist.NewKeyring(nil, key)
	require.NoError(t, err)
	var clear, keyed keyView
	keyed.set(kr)
	p := mlEncode(msgPing, &ping{SeqNo: 1, Node: "n1"})
	alive := mlEncode(msgAlive, &nodeState{Name: "n2", Addr: []byte{127, 0, 0, 1}, Port: 8224})
	nested := p
	for range packetMaxDepth + 1 {
		nested = compound(nested)
	}
	good := map[string][]byte{
		"ping":                     p,
		"compound":                 compound(p, alive, mlEncode(msgUser, []byte("serf"))),
		"checksum, compress, more": withCRC(compress(compound(p, alive))),
		"nack, suspect, dead":      compound(mlEncode(msgNack, &ping{}), mlEncode(msgSuspect, &ping{}), mlEncode(msgDead, &ping{})),
	}
	bad := map[string]struct {
		msg    []byte
		reason string
	}{
		"empty":                 {nil, reasonMalformed},
		"push/pull in a packet": {bombHeader(1 << 20), reasonBadType},
		"encrypt in clear":      {[]byte{msgEncrypt, 0, 0, 0, 1}, reasonBadType},
		"unknown type":          {[]byte{77, 1}, reasonBadType},
		"checksum inside":       {compound(withCRC(p)), reasonBadType},
		"bad checksum":          {append(withCRC(p), 0), reasonMalformed},
		"compound cut short":    {compound(p, alive)[:len(compound(p, alive))-1], reasonMalformed},
		"compound count only":   {[]byte{msgCompound, 3, 0}, reasonMalformed},
		"nested too deep":       {nested, reasonMalformed},
		"LZW bomb":              {lzwBomb(40 << 20), reasonOversized},
		"compressed twice":      {compress(compress(p)), reasonMalformed},
		"not LZW":               {mlEncode(msgCompress, &compressed{Buf: []byte{0xff, 0xff, 0xff}}), reasonMalformed},
		"another algorithm":     {mlEncode(msgCompress, &compressed{Algo: 1, Buf: []byte{1}}), reasonMalformed},
		"compress not msgpack":  {[]byte{msgCompress, 0xc1}, reasonMalformed},
	}
	for name, msg := range good {
		require.NoError(t, newPacketGuard(&clear, "test", DefaultMaxPacketExpansion).check(msg), name)
		require.NoError(t, newPacketGuard(&keyed, "test", DefaultMaxPacketExpansion).check(sealPacket(key, "test", msg)), name+", encrypted")
	}
	for name, tc := range bad {
		err := newPacketGuard(&clear, "test", DefaultMaxPacketExpansion).check(tc.msg)
		require.Equal(t, tc.reason, reasonOf(err), "%s: %v", name, err)
		if len(tc.msg) > 0 {
			err = newPacketGuard(&keyed, "test", DefaultMaxPacketExpansion).check(sealPacket(key, "test", tc.msg))
			require.Equal(t, tc.reason, reasonOf(err), "%s, encrypted: %v", name, err)
		}
	}
	g := newPacketGuard(&keyed, "test", DefaultMaxPacketExpansion)
	for name, msg := range map[string][]byte{
		"in clear":      p,
		"another key":   sealPacket(testKey(t), "test", p),
		"another label": sealPacket(key, "other", p),
		"too short":     sealPacket(key, "test", nil)[:20],
		"version 2":     append([]byte{2}, sealPacket(key, "test", p)[1:]...),
	} {
		require.Equal(t, reasonDecrypt, reasonOf(g.check(msg)), name)
	}
}

// TestPacketGuardReusesItsBuffers checks that a packet in clear costs no
// allocation, and the LZW bomb not more than the guard's own buffers.
func TestPacketGuardReusesItsBuffers(t *testing.T) {
	var clear keyView
	g := newPacketGuard(&clear, "test", DefaultMaxPacketExpansion)
	p := withCRC(compound(mlEncode(msgPing, &ping{SeqNo: 1, Node: "n1"}), mlEncode(msgAlive, &nodeState{Name: "n2"})))
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = g.check(p) }))
	bomb := lzwBomb(40 << 20)
	require.Less(t, len(bomb), 65000, "the bomb fits in a packet")
	_ = g.check(bomb)
	n := allocated(func() {
		for range 100 {
			require.Equal(t, reasonOversized, reasonOf(g.check(bomb)))
		}
	})
	require.Less(t, n, uint64(100*8<<10), "100 bombs, the guard's buffers reused")
}

func TestPacketGuardOpensVersionZero(t *testing.T) {
	key := testKey(t)
	aeads := testAEADs(t, key)
	plain := mlEncode(msgPing, &ping{SeqNo: 3})
	pad := 16 - len(plain)%16
	padded := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	sealed := seal(key, padded, []byte("test"))
	sealed[0] = 0
	got, err := openSealed(aeads, nil, sealed, []byte("test"))
	require.NoError(t, err)
	require.Equal(t, plain, got)
	// Padding memberlist would cut beyond the start of the plaintext (and
	// panic on) is refused.
	bad := seal(key, bytes.Repeat([]byte{200}, 16), []byte("test"))
	bad[0] = 0
	_, err = openSealed(aeads, nil, bad, []byte("test"))
	require.ErrorContains(t, err, "padding")
}

// BenchmarkPacketGuard measures the guard's work per packet, which every
// packet a node receives costs on top of memberlist's own:
//
//	go test -run '^$' -bench PacketGuard -benchmem ./gossip
func BenchmarkPacketGuard(b *testing.B) {
	key := testKey(b)
	kr, err := memberlist.NewKeyring(nil, key)
	require.NoError(b, err)
	var clear, keyed keyView
	keyed.set(kr)
	p := mlEncode(msgPing, &ping{SeqNo: 1, Node: "node1"})
	var parts [][]byte
	for i := range 5 {
		parts = append(parts, mlEncode(msgAlive, &nodeState{Name: "node" + string(rune('a'+i)), Addr: []byte{10, 0, 0, 1}, Port: 8224,
			Meta: bytes.Repeat([]byte{'m'}, 200), Incarnation: 7, Vsn: []uint8{1, 5, 2, 2, 5, 4}}))
	}
	gossip := withCRC(compound(append([][]byte{p}, parts...)...))
	for _, bc := range []struct {
		name string
		keys *keyView
		msg  []byte
	}{
		{"ping", &clear, withCRC(p)},
		{"gossip", &clear, gossip},
		{"gossip compressed", &clear, withCRC(compress(compound(append([][]byte{p}, parts...)...)))},
		{"ping encrypted", &keyed, sealPacket(key, "test", withCRC(p))},
		{"gossip encrypted", &keyed, sealPacket(key, "test", gossip)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := newPacketGuard(bc.keys, "test", DefaultMaxPacketExpansion)
			b.SetBytes(int64(len(bc.msg)))
			b.ReportAllocs()
			for b.Loop() {
				if err := g.check(bc.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestErrorReplyIsMemberlists checks the answer to a refused stream: an
// error message as memberlist writes it, compressed and encrypted when
// memberlist would be, so that the other node reads why.
func TestErrorReplyIsMemberlists(t *testing.T) {
	key := testKey(t)
	aeads := testAEADs(t, key)
	l := Limits{}.withDefaults()
	for _, tc := range []struct {
		compress bool
		aeads    []cipher.AEAD
	}{{false, nil}, {true, nil}, {false, aeads}, {true, aeads}} {
		reply := errorReply("gossip: a push/pull of 1048576 nodes", tc.compress, tc.aeads, "test")
		check := streamCheck{lim: l.stream(l.MaxNodes), types: replyTypes, aeads: tc.aeads, label: "test"}
		got, err := check.read(bytes.NewReader(reply), false)
		require.NoError(t, err)
		require.Equal(t, reply, got)
		wantType := byte(msgErr)
		switch {
		case tc.aeads != nil:
			wantType = msgEncrypt
		case tc.compress:
			wantType = msgCompress
		}
		require.Equal(t, wantType, reply[0])
		if tc.aeads == nil && !tc.compress {
			var resp struct{ Error string }
			require.NoError(t, codec.NewDecoderBytes(reply[1:], &codec.MsgpackHandle{}).Decode(&resp))
			require.Equal(t, "gossip: a push/pull of 1048576 nodes", resp.Error)
		}
	}
	other := streamCheck{lim: l.stream(l.MaxNodes), types: replyTypes, aeads: testAEADs(t, testKey(t)), label: "test"}
	_, err := other.read(bytes.NewReader(errorReply("x", false, aeads, "test")), false)
	require.ErrorContains(t, err, "no installed keys could decrypt the message", "a node with another key reads memberlist's words")
}
