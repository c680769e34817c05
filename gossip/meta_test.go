package gossip

import (
	"encoding/json"
	"fmt"
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
		// Placement tags and the draining flag.
		{ID: "cd", ClientHost: "n3", GRPCPort: 1, HTTPPort: 2, InternalHost: "n3", InternalPort: 3, Version: "x",
			NodeTags: mustTagSet(t, map[string]string{"region": "eu-west", "zone": "b", "Tier": ""}), Draining: true, Boot: "lq3x9k2a"},
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
		"bad draining flag": func(m map[string]string) { m[tagDraining] = "yes" },
		"tag with a break":  func(m map[string]string) { m[tagNodeTag+"region"] = "eu\nus" },
		"tag name with =":   func(m map[string]string) { m[tagNodeTag+"a=b"] = "c" },
		"empty tag name":    func(m map[string]string) { m[tagNodeTag] = "c" },
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
	require.Contains(t, err.Error(), "client host is 253 bytes")
	require.Contains(t, err.Error(), "internal host is 253 bytes")
	var over *MetaSizeError
	require.ErrorAs(t, err, &over)
	require.Equal(t, []MetaPart{{Field: MetaClientHost, Bytes: 253}, {Field: MetaInternalHost, Bytes: 253}}, over.Parts)
	require.Contains(t, err.Error(), "512")
}

func mustTagSet(t testing.TB, m map[string]string) TagSet {
	t.Helper()
	s, err := NewTagSet(m)
	require.NoError(t, err)
	return s
}

func TestTagSetIsCanonicalAndRoundTrips(t *testing.T) {
	a := mustTagSet(t, map[string]string{"zone": "b", "region": "eu"})
	b := mustTagSet(t, map[string]string{"region": "eu", "zone": "b"})
	require.Equal(t, a, b, "the same tags give the same TagSet whatever the map order")
	require.Equal(t, 2, a.Len())
	require.Equal(t, map[string]string{"region": "eu", "zone": "b"}, a.Map())
	require.Equal(t, 0, TagSet("").Len())
	require.NotNil(t, TagSet("").Map())

	j, err := json.Marshal(NodeInfo{ID: "x", NodeTags: a})
	require.NoError(t, err)
	require.Contains(t, string(j), `"tags":{"region":"eu","zone":"b"}`)
	var back NodeInfo
	require.NoError(t, json.Unmarshal(j, &back))
	require.Equal(t, a, back.NodeTags)

	for _, bad := range []map[string]string{{"": "x"}, {"a=b": "x"}, {"a": "x\ny"}} {
		_, err := NewTagSet(bad)
		require.Error(t, err, "%v", bad)
	}
}

// TestMetaSizeWithTags: tags share memberlist's 512 bytes with the rest;
// a configuration over the limit is refused with every tag named by its
// property.
func TestMetaSizeWithTags(t *testing.T) {
	base := NodeInfo{ID: "0123456789abcdef", ClientHost: "node1.example.com", InternalHost: "node1.internal",
		GRPCPort: 8124, HTTPPort: 8024, InternalPort: 8224, Version: "0.1.0"}
	plain, err := encodedSize(base.Tags())
	require.NoError(t, err)
	few := base
	few.NodeTags = mustTagSet(t, map[string]string{"region": "eu-west-1", "zone": "eu-west-1b", "tier": "gold"})
	require.NoError(t, few.CheckMetaSize())
	withTags, err := encodedSize(few.Tags())
	require.NoError(t, err)
	t.Logf("metadata: %d bytes without tags, %d with 3 tags (limit %d)", plain, withTags, memberlist.MetaMaxSize)

	many := map[string]string{}
	for i := range 20 {
		many[fmt.Sprintf("tag%02d", i)] = strings.Repeat("v", 20)
	}
	over := base
	over.NodeTags = mustTagSet(t, many)
	err = over.CheckMetaSize()
	require.Error(t, err)
	require.Contains(t, err.Error(), "placement tag tag00 is 25 bytes")
	require.Contains(t, err.Error(), "placement tag tag19 is 25 bytes")
	var tooMany *MetaSizeError
	require.ErrorAs(t, err, &tooMany)
	require.Contains(t, tooMany.Parts, MetaPart{Field: MetaTag, Tag: "tag07", Bytes: 25})
	require.Equal(t, 20*25, tooMany.TagBytes)
	require.Contains(t, err.Error(), "fewer or shorter tags")
	require.Contains(t, err.Error(), "512")

	// The room for the draining flag and the client count is kept: what
	// passes the check still fits with both set at run time.
	edge := base
	for n := 0; ; n++ {
		edge.NodeTags = mustTagSet(t, map[string]string{"t": strings.Repeat("v", n)})
		if edge.CheckMetaSize() != nil {
			break
		}
		fits := edge
		fits.Draining, fits.Clients = true, 9999999
		size, err := encodedSize(fits.Tags())
		require.NoError(t, err)
		require.LessOrEqual(t, size, memberlist.MetaMaxSize, "tag value of %d bytes", n)
	}
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
