package gossip

import (
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
)

func TestTagsRoundTrip(t *testing.T) {
	cases := []NodeInfo{
		{ID: "0123456789abcdef", ClientHost: "node1.example.com", GRPCPort: 8124, HTTPPort: 8024, InternalHost: "node1.internal", InternalPort: 8224, Version: "0.1.0"},
		// Same client and internal host: the internal one is not sent twice.
		{ID: "ab", ClientHost: "10.0.0.1", GRPCPort: 1, HTTPPort: 2, InternalHost: "10.0.0.1", InternalPort: 3, Version: "x", Clients: 42},
	}
	for _, in := range cases {
		out, err := DecodeTags(in.Tags())
		require.NoError(t, err)
		require.Equal(t, in, out)
	}
	_, dup := cases[1].Tags()[tagInternalHost]
	require.False(t, dup)
}

func TestDecodeTagsRejectsBadInput(t *testing.T) {
	good := NodeInfo{ID: "id", ClientHost: "h", GRPCPort: 1, HTTPPort: 2, InternalPort: 3}.Tags()
	cases := map[string]func(map[string]string){
		"port not a number": func(m map[string]string) { m[tagGRPCPort] = "x" },
		"port too large":    func(m map[string]string) { m[tagHTTPPort] = "70000" },
		"port missing":      func(m map[string]string) { delete(m, tagInternalPort) },
		"no id":             func(m map[string]string) { delete(m, tagID) },
		"bad client count":  func(m map[string]string) { m[tagClients] = "-1" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range good {
				m[k] = v
			}
			mutate(m)
			_, err := DecodeTags(m)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "gossip: "), err.Error())
		})
	}
}

func TestMetaSizeNamesTheLongValues(t *testing.T) {
	ok := NodeInfo{ID: "0123456789abcdef", ClientHost: strings.Repeat("a", 200), InternalHost: strings.Repeat("b", 200), GRPCPort: 65535, HTTPPort: 65535, InternalPort: 65535, Version: "0.1.0"}
	require.NoError(t, ok.CheckMetaSize())
	size, err := encodedSize(ok.Tags())
	require.NoError(t, err)
	require.LessOrEqual(t, size, memberlist.MetaMaxSize)

	tooLong := ok
	tooLong.ClientHost = strings.Repeat("a", 253)
	tooLong.InternalHost = strings.Repeat("b", 253)
	err = tooLong.CheckMetaSize()
	require.Error(t, err)
	require.Contains(t, err.Error(), "axoniq.axonserver.hostname + domain is 253 bytes")
	require.Contains(t, err.Error(), "axoniq.axonserver.internal-hostname + internal-domain is 253 bytes")
	require.Contains(t, err.Error(), "512")
}

// FuzzDecodeTags: hostile metadata never panics and never yields an
// invalid port.
func FuzzDecodeTags(f *testing.F) {
	f.Add("id", "host", "8124", "8024", "8224", "", "3")
	f.Add("", "", "", "", "", "", "")
	f.Add("x", "h", "-1", "99999", "abc", "other", "-5")
	f.Fuzz(func(t *testing.T, id, host, g, w, p, n, c string) {
		tags := map[string]string{tagID: id, tagClientHost: host, tagGRPCPort: g, tagHTTPPort: w, tagInternalPort: p, tagInternalHost: n, tagClients: c}
		info, err := DecodeTags(tags)
		if err != nil {
			return
		}
		for _, port := range []int{info.GRPCPort, info.HTTPPort, info.InternalPort} {
			if port < 0 || port > 65535 {
				t.Fatalf("port %d accepted", port)
			}
		}
		if info.ID == "" || info.ClientHost == "" || info.Clients < 0 {
			t.Fatalf("incomplete info accepted: %+v", info)
		}
	})
}
