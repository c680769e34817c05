package gossip

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMsgpackEndFindsWhatTheCodecWrote checks msgpackEnd against every
// kind of value memberlist's codec writes: it finds each object's end, asks
// for more at every cut, and refuses an end beyond its limit.
func TestMsgpackEndFindsWhatTheCodecWrote(t *testing.T) {
	values := []any{
		nil, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 40, -1, -32, -33, -200, -40000, -1 << 40,
		float32(1.5), 2.5, "", "x", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 255),
		strings.Repeat("s", 256), strings.Repeat("s", 70000), []byte{}, []byte{1, 2, 3}, bytes.Repeat([]byte{7}, 70000),
		[]int{}, []int{1, 2, 3}, make([]int, 20), make([]string, 70000), map[string]int{}, map[string]int{"a": 1, "b": 2},
		map[string][]string{"k": {"v", "w"}}, &pushPullHead{Nodes: 1 << 20, UserStateLen: 3, Join: true},
		&nodeState{Name: "n1", Addr: []byte{10, 0, 0, 1}, Port: 8224, Meta: []byte("meta"), Vsn: []uint8{1, 5, 2, 2, 5, 4}},
		&compressed{Algo: 0, Buf: bytes.Repeat([]byte{1}, 300)},
	}
	for _, v := range values {
		enc := msgpackOf(v)
		b := append(append([]byte(nil), enc...), 0xc1) // a byte that belongs to no object
		end, err := msgpackEnd(b, 0, len(b))
		require.NoError(t, err, "%T", v)
		require.Equal(t, len(enc), end, "%T %v", v, v)
		for cut := 0; cut < len(enc); cut += 1 + cut/8 {
			need, err := msgpackEnd(enc[:cut], 0, len(enc))
			require.ErrorIs(t, err, errShort, "%T cut at %d", v, cut)
			require.Greater(t, need, cut)
			require.LessOrEqual(t, need, len(enc))
		}
		_, err = msgpackEnd(enc, 0, len(enc)-1)
		require.ErrorIs(t, err, errTooLarge, "%T", v)
	}
}

func TestMsgpackEndRefusesWhatNoCodecWrites(t *testing.T) {
	_, err := msgpackEnd([]byte{0xc1}, 0, 10)
	require.ErrorIs(t, err, errMsgpack, "the byte msgpack never uses")
	deep := bytes.Repeat([]byte{0x91}, msgpackMaxDepth+2)
	_, err = msgpackEnd(append(deep, 0), 0, 100)
	require.ErrorIs(t, err, errMsgpack, "nested beyond the depth")
	// Claims beyond the limit are refused before any byte of them is
	// needed, 4 GiB included.
	for _, claim := range [][]byte{{0xdb, 0xff, 0xff, 0xff, 0xff}, {0xc6, 0xff, 0xff, 0xff, 0xff}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0xdf, 0x7f, 0xff, 0xff, 0xff}} {
		_, err := msgpackEnd(claim, 0, 1<<20)
		require.True(t, errors.Is(err, errTooLarge), "% x: %v", claim, err)
	}
}
