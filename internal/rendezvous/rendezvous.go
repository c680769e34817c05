// Package rendezvous holds the hashes of rendezvous (highest random weight)
// hashing, which both the client placement (package rpc) and the
// background rejoin (package gossip) use to agree on a choice of nodes
// with no coordination: every node that sees the same members computes the
// same weights.
package rendezvous

// Hash is FNV-1a: cheap and allocation-free over a string.
func Hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Mix is MurmurHash3's 64-bit finalizer: it spreads FNV's weak low bits,
// so that Mix(key ^ node) ranks the nodes in an independent order for
// every key.
func Mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
