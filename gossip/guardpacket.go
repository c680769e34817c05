package gossip

import (
	"bytes"
	"compress/lzw"
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// packetGuard checks a UDP packet, its label removed, before memberlist
// has it (ingestPacket, handleCommand): it must open with the cluster's
// keyring when there is one, and consist of messages memberlist handles
// in packets, its checksum, compound and compress wrappers well formed
// and whatever is compressed expanding to at most Limits.MaxPacketExpansion.
// memberlist would decompress up to 40 MB from one packet.
//
// It runs on the one goroutine that reads the socket and keeps its
// buffers from packet to packet: a packet in clear and uncompressed is
// checked without allocating.
type packetGuard struct {
	keys   *keyView
	label  []byte
	expand int

	plain  []byte // decrypted packet
	out    []byte // decompressed payload
	src    bytes.Reader
	lzw    *lzw.Reader
	dec    *codec.Decoder
	packed compressed
}

// packetMaxDepth bounds the nesting of wrappers: memberlist sends a
// checksum around a compress around a compound of messages.
const packetMaxDepth = 4

func newPacketGuard(keys *keyView, label string, expand int) *packetGuard {
	return &packetGuard{keys: keys, label: []byte(label), expand: expand}
}

// check returns nil for a packet memberlist may have, else a refusal.
func (g *packetGuard) check(msg []byte) error {
	if aeads := g.keys.current(); aeads != nil {
		if cap(g.plain) < len(msg) {
			g.plain = make([]byte, 0, max(len(msg), 2<<10))
		}
		plain, err := openSealed(aeads, g.plain[:0], msg, g.label)
		if err != nil {
			return refuse(reasonDecrypt, "%w", err)
		}
		msg = plain
	}
	if len(msg) >= 5 && msg[0] == msgHasCRC {
		if crc32.ChecksumIEEE(msg[5:]) != binary.BigEndian.Uint32(msg[1:5]) {
			return refuse(reasonMalformed, "a packet with a bad checksum")
		}
		msg = msg[5:]
	}
	return g.walk(msg, 0, false)
}

func (g *packetGuard) walk(b []byte, depth int, inflated bool) error {
	if len(b) == 0 {
		return refuse(reasonMalformed, "an empty message in a packet")
	}
	if depth > packetMaxDepth {
		return refuse(reasonMalformed, "messages nested more than %d deep in a packet", packetMaxDepth)
	}
	switch b[0] {
	case msgUser: // serf's to read
		return nil
	case msgPing, msgIndirectPing, msgAck, msgNack, msgSuspect, msgAlive, msgDead:
		// memberlist's codec makes up to 256 KiB for a length a message
		// claims before it finds the packet too short.
		return msgpackWithin(b[1:])
	case msgCompound:
		if len(b) < 2 {
			return refuse(reasonMalformed, "a compound message without its count")
		}
		n := int(b[1])
		if len(b) < 2+2*n {
			return refuse(reasonMalformed, "a compound message cut short in its lengths")
		}
		lengths, rest := b[2:2+2*n], b[2+2*n:]
		for i := range n {
			l := int(binary.BigEndian.Uint16(lengths[2*i:]))
			if len(rest) < l {
				return refuse(reasonMalformed, "a compound message cut short at part %d of %d", i+1, n)
			}
			if err := g.walk(rest[:l], depth+1, inflated); err != nil {
				return err
			}
			rest = rest[l:]
		}
		return nil
	case msgCompress:
		if err := msgpackWithin(b[1:]); err != nil {
			return err
		}
		if inflated {
			// memberlist never compresses what it has compressed.
			return refuse(reasonMalformed, "a compressed message inside a compressed one")
		}
		out, err := g.inflate(b[1:])
		if err != nil {
			return err
		}
		return g.walk(out, depth+1, true)
	}
	return refuse(reasonBadType, "message type %d in a packet", b[0])
}

// inflate decodes a compress message and decompresses it into g.out.
func (g *packetGuard) inflate(obj []byte) ([]byte, error) {
	if g.dec == nil {
		g.dec = codec.NewDecoderBytes(obj, &codec.MsgpackHandle{})
	} else {
		g.dec.ResetBytes(obj)
	}
	g.packed.Algo, g.packed.Buf = 0, g.packed.Buf[:0]
	if err := g.dec.Decode(&g.packed); err != nil {
		return nil, refuse(reasonMalformed, "a compressed message: %w", err)
	}
	if g.packed.Algo != 0 {
		return nil, refuse(reasonMalformed, "compression algorithm %d", g.packed.Algo)
	}
	g.src.Reset(g.packed.Buf)
	if g.lzw == nil {
		g.lzw = lzw.NewReader(&g.src, lzw.LSB, lzwLitWidth).(*lzw.Reader)
	} else {
		g.lzw.Reset(&g.src, lzw.LSB, lzwLitWidth)
	}
	if cap(g.out) < g.expand+1 {
		g.out = make([]byte, 0, g.expand+1)
	}
	return inflate(g.lzw, g.out[:0], g.expand)
}

// msgpackWithin checks that b starts with a msgpack object that ends
// within it.
func msgpackWithin(b []byte) error {
	if _, err := msgpackEnd(b, 0, len(b)); err != nil {
		if errors.Is(err, errShort) || errors.Is(err, errTooLarge) {
			return refuse(reasonMalformed, "a message that claims more than the packet holds")
		}
		return refuse(reasonMalformed, "%w", err)
	}
	return nil
}
