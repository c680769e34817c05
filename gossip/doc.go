// Package gossip keeps a roster node's view of its cluster.
//
// # Algorithm
//
// Failure detection and dissemination are SWIM, as implemented by
// hashicorp/memberlist with the Lifeguard extensions: every probe interval a
// node pings one peer (round robin over a shuffled list) over UDP; when no
// ack arrives within the probe timeout it asks k other nodes to ping it
// indirectly and, in parallel, tries a TCP ping. A peer that answers none of
// these is marked suspect; the suspicion is gossiped, and if the suspect does
// not refute it (by gossiping an alive message with a higher incarnation)
// within the suspicion timeout, it is declared dead. Independent suspicions
// from other nodes shorten the timeout; a node that itself misses acks slows
// its own probing (awareness), so an overloaded node does not accuse healthy
// peers. State changes piggyback on probe traffic and on periodic gossip to a
// few random peers; a periodic TCP push-pull of the full state repairs
// whatever gossip missed.
//
// hashicorp/serf adds member events (join, leave, failed, update, reap),
// Lamport clocks for leave/join intents, user events and queries on top.
//
// # What roster adds
//
// A cluster here is a set of registered nodes: a node stays registered,
// whatever its status, until it is unregistered. serf forgets failed and
// left members after its timeouts (set here to decades) and keeps nothing on
// disk but a snapshot of recently alive nodes, so this package keeps its own
// Registry: every registered member with its advertised addresses, status and
// the time of its last change, written atomically to the node's data
// directory and loaded at start. Changes gossip brings are written a
// second after they are reported, one write for all of that second, and
// kept in memory and tried again every second while the directory takes
// no writes (Condition reports it, and health is DOWN); changes a command
// makes (unregister) are written before it returns, or refused.
//
// Only roster nodes are members: memberlist's merge and alive delegate
// refuses a node whose name is not a valid node name or whose metadata is
// not roster's (a plain serf agent that knows the cluster's label), so it
// is never listed nor handed clients. The unregister event is acted on
// only when a registered member sent it about a registered member.
// Without a gossip key none of this is authenticated: it keeps out what
// is not roster, not an impostor that copies a member's metadata.
//
// Unregistered nodes leave a tombstone (name and node id): the delegate
// refuses alive messages and joins from a tombstoned node. Tombstones are
// bounded by age and count (TombstoneLimits). Expiry is safe because every
// rejoin starts with an introduction (serf's own rejoin from its snapshot
// and its reconnect are off), and a node away for half the tombstone TTL
// or more asks to be admitted as returning, which a peer grants only when
// it still has it registered (Admit); refused by most of its peers, it
// runs standalone.
//
// Joining is two steps: an introduction over the internal gRPC service (the
// Introducer, wired by package node) checks that this node's name is free and
// returns the contact's registry; then a push-pull with the contact and, in
// parallel, with every other alive member (128 at most, chosen at random,
// who gossip the rest), so that every node learns of the new one in one
// round trip instead of waiting for gossip to spread. Their replies are
// not merged (each is the whole state); serf's join through the contact
// that follows merges the contact's.
//
// A restarted node finds its peers in the Registry and rejoins through
// any of them in the background, with backoff, until one answers; three
// peers, picked per down member by rendezvous hashing, keep trying it too
// (a push-pull with it alone: they are not the ones joining, so they
// broadcast no join intent).
// One that restarted at a new address also makes sure every peer takes it
// there (reclaim.go).
//
// All gossip of one cluster carries its name as memberlist's label; the
// transport drops and counts packets and streams with another label.
package gossip
