package gossip

import (
	"strings"
	"testing"
)

// FuzzDecodeTagsRoundTrip feeds DecodeTags the metadata a hostile or
// broken peer could gossip: any value for any tag, any tag missing (which
// FuzzDecodeTags does not vary). It must never panic, name the problem
// when it refuses, and accept only what encodes back to the same NodeInfo.
func FuzzDecodeTagsRoundTrip(f *testing.F) {
	good := NodeInfo{ID: "3f2a9c1d", ClientHost: "node1.example.com", GRPCPort: 8124, HTTPPort: 8024,
		InternalHost: "node1.internal", InternalPort: 8224, Version: "0.1.0", Clients: 3}.Tags()
	all := uint8(0xff)
	f.Add(all, good[tagID], good[tagClientHost], good[tagGRPCPort], good[tagHTTPPort], good[tagInternalHost], good[tagInternalPort], good[tagVersion], good[tagClients])
	f.Add(all&^(1<<4|1<<7), "id", "10.0.0.1", "0", "65535", "", "1", "", "")
	f.Add(all, "id", "h", "-1", "99999", "n", "+80", "v", "-5")
	f.Add(uint8(0), "", "", "", "", "", "", "", "")
	f.Add(all, "id", "h", "8124 ", "0x10", "n", "١٢٣", "v", "9999999999999999999999")
	keys := []string{tagID, tagClientHost, tagGRPCPort, tagHTTPPort, tagInternalHost, tagInternalPort, tagVersion, tagClients}
	f.Fuzz(func(t *testing.T, present uint8, id, host, grpc, http, internalHost, internalPort, version, clients string) {
		vals := []string{id, host, grpc, http, internalHost, internalPort, version, clients}
		tags := map[string]string{}
		for i, k := range keys {
			if present&(1<<i) != 0 {
				tags[k] = vals[i]
			}
		}
		info, err := DecodeTags(tags)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "gossip: node metadata ") {
				t.Fatalf("error does not say what it is about: %v", err)
			}
			return
		}
		for _, p := range []int{info.GRPCPort, info.HTTPPort, info.InternalPort} {
			if p < 0 || p > 65535 {
				t.Fatalf("accepted port %d from %v", p, tags)
			}
		}
		if info.ID == "" || info.ClientHost == "" || info.InternalHost == "" || info.Clients < 0 {
			t.Fatalf("accepted incomplete metadata %+v from %v", info, tags)
		}
		again, err := DecodeTags(info.Tags())
		if err != nil || again != info {
			t.Fatalf("round trip of %+v gave %+v, %v", info, again, err)
		}
	})
}
