package gossip

import (
	"bytes"
	"compress/lzw"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// The guard reads each gossip message from the network before memberlist
// does, parsing memberlist's framing without trusting it, and passes on
// only what memberlist can read without holding more than the limits
// allow. memberlist (net.go) allocates from claims: a push/pull header's
// node count (112 bytes per node, up to a million nodes), its user-state
// length and a user message's length (up to 20 MB each), whatever follows
// them; and it decompresses up to 40 MB. The guard reads a stream's whole
// message first, so every claim memberlist acts on is backed by bytes
// that arrived, within bounds set by what this cluster can hold
// (limits.go). Encrypted messages are opened with a copy of the keyring,
// so that what a key holder sends is checked too, and the original bytes
// are replayed to memberlist, which opens them again.

// memberlist's message types (net.go); they are part of its protocol.
const (
	msgPing         = 0
	msgIndirectPing = 1
	msgAck          = 2
	msgSuspect      = 3
	msgAlive        = 4
	msgDead         = 5
	msgPushPull     = 6
	msgCompound     = 7
	msgUser         = 8
	msgCompress     = 9
	msgEncrypt      = 10
	msgNack         = 11
	msgHasCRC       = 12
	msgErr          = 13
	msgHasLabel     = 244
)

// lzwLitWidth is memberlist's LZW literal width.
const lzwLitWidth = 8

// Reasons of roster_gossip_dropped_total.
const (
	reasonClusterLabel   = "cluster_label"    // another cluster's label, or none
	reasonDecrypt        = "decrypt"          // no key of ours opens it, or it is in clear where a key is set
	reasonMalformed      = "malformed"        // not memberlist's framing, truncated, a bad checksum
	reasonOversized      = "oversized"        // a length, node count or expansion beyond the limits
	reasonBadType        = "bad_type"         // a message type memberlist does not take there
	reasonTimeout        = "timeout"          // the stream's message did not arrive in time
	reasonTooManyStreams = "too_many_streams" // Limits.MaxStreams streams open already
	reasonExiled         = "exiled"           // this node was unregistered: its former cluster's gossip is not taken
)

var dropReasons = []string{reasonClusterLabel, reasonDecrypt, reasonMalformed, reasonOversized, reasonBadType, reasonTimeout, reasonTooManyStreams, reasonExiled}

// refusal is the guard's verdict on input it does not pass on.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refuse makes a refusal; its error names the package once.
func refuse(reason, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if !strings.HasPrefix(err.Error(), "gossip: ") {
		err = fmt.Errorf("gossip: %w", err)
	}
	return &refusal{reason: reason, err: err}
}

// reasonOf is the metric reason of a guard error.
func reasonOf(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.reason
	}
	return reasonMalformed
}

// msgSet is a set of memberlist message types.
type msgSet uint16

func (s msgSet) has(t byte) bool { return t < 16 && s&(1<<t) != 0 }

var (
	// inboundTypes are the messages memberlist handles on a stream another
	// node opened (handleConn).
	inboundTypes = msgSet(1<<msgPing | 1<<msgPushPull | 1<<msgUser)
	// replyTypes are the answers memberlist reads on a stream it opened:
	// to a push/pull, a ping, or an error.
	replyTypes = msgSet(1<<msgPushPull | 1<<msgAck | 1<<msgErr)
)

// streamBuf holds what has been read of a stream, reading more on demand
// up to max bytes in all. Its buffer grows with the bytes that arrive,
// never with what they claim. Without a reader, b is all there is.
type streamBuf struct {
	r   io.Reader
	b   []byte
	max int
}

// ensure makes b hold at least n bytes.
func (s *streamBuf) ensure(n int) error {
	if n <= len(s.b) {
		return nil
	}
	if n > s.max {
		return refuse(reasonOversized, "a message of more than %d bytes", s.max)
	}
	if s.r == nil {
		return refuse(reasonMalformed, "a message cut short at %d of %d bytes", len(s.b), n)
	}
	for len(s.b) < n {
		if len(s.b) == cap(s.b) {
			grown := make([]byte, len(s.b), min(s.max, max(2*cap(s.b), 4<<10)))
			copy(grown, s.b)
			s.b = grown
		}
		k, err := s.r.Read(s.b[len(s.b):cap(s.b)])
		s.b = s.b[:len(s.b)+k]
		if err != nil && len(s.b) < n {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return refuse(reasonTimeout, "%d of %d bytes arrived in time", len(s.b), n)
			}
			return refuse(reasonMalformed, "a message cut short at %d of %d bytes: %w", len(s.b), n, err)
		}
	}
	return nil
}

// object reads the msgpack object at off, which must end by limit, and
// returns where it ends.
func (s *streamBuf) object(off, limit int) (int, error) {
	limit = min(limit, s.max)
	for {
		end, err := msgpackEnd(s.b, off, limit)
		switch {
		case err == nil:
			return end, nil
		case errors.Is(err, errShort):
			if err := s.ensure(end); err != nil {
				return 0, err
			}
		case errors.Is(err, errTooLarge):
			return 0, refuse(reasonOversized, "a msgpack object of more than %d bytes", limit-off)
		default:
			return 0, refuse(reasonMalformed, "%w", err)
		}
	}
}

// readLabel reads the label header a stream starts with and returns the
// label and where the message starts.
func readLabel(s *streamBuf) (string, int, error) {
	if err := s.ensure(1); err != nil {
		return "", 0, err
	}
	if s.b[0] != msgHasLabel {
		return "", 0, nil
	}
	if err := s.ensure(2); err != nil {
		return "", 0, err
	}
	size := int(s.b[1])
	if size == 0 {
		return "", 0, refuse(reasonMalformed, "an empty label header")
	}
	if err := s.ensure(2 + size); err != nil {
		return "", 0, err
	}
	return string(s.b[2 : 2+size]), 2 + size, nil
}

// streamCheck checks one message on a stream.
type streamCheck struct {
	lim   streamLimits
	types msgSet
	aeads []cipher.AEAD // nil: the cluster gossips in clear
	label string
}

// read reads what a stream sends first, a label header when labelled
// and one message, and returns the message once it is checked.
func (sc *streamCheck) read(r io.Reader, labelled bool) ([]byte, error) {
	s := &streamBuf{r: r, max: sc.lim.wire}
	off := 0
	if labelled {
		label, o, err := readLabel(s)
		if err != nil {
			return nil, err
		}
		if label != sc.label {
			return nil, refuse(reasonClusterLabel, "a stream labelled %q", label)
		}
		off = o
	}
	end, err := sc.message(s, off)
	if err != nil {
		return nil, err
	}
	return s.b[off:end], nil
}

// message checks the message at off and returns where it ends.
func (sc *streamCheck) message(s *streamBuf, off int) (int, error) {
	if err := s.ensure(off + 1); err != nil {
		return 0, err
	}
	if s.b[off] != msgEncrypt {
		if sc.aeads != nil {
			return 0, refuse(reasonDecrypt, "a stream in clear, and this cluster encrypts gossip")
		}
		return sc.plain(s, off, true)
	}
	if sc.aeads == nil {
		return 0, refuse(reasonDecrypt, "an encrypted stream, and this node has no gossip key")
	}
	if err := s.ensure(off + 5); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(s.b[off+1:])
	if uint64(n) > uint64(s.max-off-5) {
		return 0, refuse(reasonOversized, "an encrypted message of %d bytes; this node takes %d", n, s.max-off-5)
	}
	end := off + 5 + int(n)
	if err := s.ensure(end); err != nil {
		return 0, err
	}
	// The additional data is the message type, the length and the label.
	ad := make([]byte, 0, 5+len(sc.label))
	ad = append(append(ad, s.b[off:off+5]...), sc.label...)
	plain, err := openSealed(sc.aeads, nil, s.b[off+5:end], ad)
	if err != nil {
		return 0, refuse(reasonDecrypt, "%w", err)
	}
	inner := &streamBuf{b: plain, max: len(plain)}
	if _, err := sc.plain(inner, 0, true); err != nil {
		return 0, err
	}
	return end, nil
}

// plain checks a message in clear, or decrypted, at off.
func (sc *streamCheck) plain(s *streamBuf, off int, mayCompress bool) (int, error) {
	if err := s.ensure(off + 1); err != nil {
		return 0, err
	}
	t := s.b[off]
	if t == msgCompress && mayCompress {
		end, err := s.object(off+1, off+1+sc.lim.wire)
		if err != nil {
			return 0, err
		}
		out, err := inflateStream(s.b[off+1:end], sc.lim.plain)
		if err != nil {
			return 0, err
		}
		if _, err := sc.plain(&streamBuf{b: out, max: len(out)}, 0, false); err != nil {
			return 0, err
		}
		return end, nil
	}
	if !sc.types.has(t) {
		return 0, refuse(reasonBadType, "message type %d on a stream", t)
	}
	switch t {
	case msgPushPull:
		var h pushPullHead
		end, err := header(s, off+1, &h)
		if err != nil {
			return 0, err
		}
		if h.Nodes < 0 || h.Nodes > sc.lim.nodes {
			return 0, refuse(reasonOversized, "a push/pull of %d nodes; this node takes %d", h.Nodes, sc.lim.nodes)
		}
		if h.UserStateLen < 0 || h.UserStateLen > sc.lim.userState {
			return 0, refuse(reasonOversized, "a push/pull with %d bytes of user state; this node takes %d", h.UserStateLen, sc.lim.userState)
		}
		for range h.Nodes {
			// One node may be larger than the average a push/pull is
			// allowed (a long name), not the whole.
			if end, err = s.object(end, end+smallMax); err != nil {
				return 0, err
			}
		}
		end += h.UserStateLen
		return end, s.ensure(end)
	case msgUser:
		var h userMsgHead
		end, err := header(s, off+1, &h)
		if err != nil {
			return 0, err
		}
		if h.UserMsgLen < 0 || h.UserMsgLen > sc.lim.userMsg {
			return 0, refuse(reasonOversized, "a user message of %d bytes; this node takes %d", h.UserMsgLen, sc.lim.userMsg)
		}
		end += h.UserMsgLen
		return end, s.ensure(end)
	default: // a ping, an ack, an error
		return s.object(off+1, off+1+smallMax)
	}
}

// pushPullHead and userMsgHead are memberlist's pushPullHeader and
// userMsgHeader: msgpack maps decoded by field name.
type pushPullHead struct {
	Nodes        int
	UserStateLen int
	Join         bool
}

type userMsgHead struct {
	UserMsgLen int
}

// header decodes the msgpack header at off into v with memberlist's codec
// and returns where it ends.
func header(s *streamBuf, off int, v any) (int, error) {
	end, err := s.object(off, off+headerMax)
	if err != nil {
		return 0, err
	}
	if err := codec.NewDecoderBytes(s.b[off:end], &codec.MsgpackHandle{}).Decode(v); err != nil {
		return 0, refuse(reasonMalformed, "a message header: %w", err)
	}
	return end, nil
}

// compressed is memberlist's compress message.
type compressed struct {
	Algo uint8
	Buf  []byte
}

// inflateStream decodes a compress message and decompresses it, to at
// most limit bytes.
func inflateStream(obj []byte, limit int) ([]byte, error) {
	var c compressed
	if err := codec.NewDecoderBytes(obj, &codec.MsgpackHandle{}).Decode(&c); err != nil {
		return nil, refuse(reasonMalformed, "a compressed message: %w", err)
	}
	if c.Algo != 0 {
		return nil, refuse(reasonMalformed, "compression algorithm %d", c.Algo)
	}
	r := lzw.NewReader(bytes.NewReader(c.Buf), lzw.LSB, lzwLitWidth).(*lzw.Reader)
	return inflate(r, nil, limit)
}

// inflate appends what r decompresses to dst, refusing more than limit
// bytes in all. dst grows with the output.
func inflate(r *lzw.Reader, dst []byte, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			if len(dst) > limit {
				return nil, refuse(reasonOversized, "a message that decompresses to more than %d bytes", limit)
			}
			grown := make([]byte, len(dst), min(limit+1, max(2*cap(dst), 4<<10)))
			copy(grown, dst)
			dst = grown
		}
		k, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+k]
		if len(dst) > limit {
			return nil, refuse(reasonOversized, "a message that decompresses to more than %d bytes", limit)
		}
		if err == io.EOF {
			if len(dst) == 0 {
				return nil, refuse(reasonMalformed, "a compressed message that is empty")
			}
			return dst, nil
		}
		if err != nil {
			return nil, refuse(reasonMalformed, "a compressed message: %w", err)
		}
	}
}

// errorReply is the answer memberlist gives a stream it cannot read
// (handleConn): an error message, compressed and encrypted as its own
// messages are, so that the node at the other end learns why, in the
// words of its own failure to decrypt when their keys differ.
func errorReply(text string, compress bool, aeads []cipher.AEAD, label string) []byte {
	var buf bytes.Buffer
	buf.WriteByte(msgErr)
	_ = codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(&struct{ Error string }{text})
	msg := buf.Bytes()
	if compress {
		var packed bytes.Buffer
		w := lzw.NewWriter(&packed, lzw.LSB, lzwLitWidth)
		_, _ = w.Write(msg)
		_ = w.Close()
		var out bytes.Buffer
		out.WriteByte(msgCompress)
		_ = codec.NewEncoder(&out, &codec.MsgpackHandle{}).Encode(&compressed{Buf: packed.Bytes()})
		msg = out.Bytes()
	}
	if len(aeads) == 0 {
		return msg
	}
	// memberlist's encryptLocalState, version 1, with the primary key.
	sealed := make([]byte, 5, 5+1+sealNonce+len(msg)+sealTag)
	sealed[0] = msgEncrypt
	binary.BigEndian.PutUint32(sealed[1:], uint32(1+sealNonce+len(msg)+sealTag))
	ad := append(append([]byte(nil), sealed...), label...)
	sealed = append(sealed, 1)
	nonce := make([]byte, sealNonce)
	if _, err := rand.Read(nonce); err != nil {
		return nil
	}
	sealed = append(sealed, nonce...)
	return aeads[0].Seal(sealed, nonce, msg, ad)
}

// answered tells whether memberlist answers a stream refused for reason
// with an error: not one of another cluster, too slow or one too many.
func answered(reason string) bool {
	switch reason {
	case reasonClusterLabel, reasonTimeout, reasonTooManyStreams, reasonExiled:
		return false
	}
	return true
}

// replayConn hands memberlist a stream the guard has read one message
// of: those bytes, then the end of the stream. memberlist reads one
// message per stream, so nothing the guard has not seen reaches it.
// Writes go to the stream.
type replayConn struct {
	net.Conn
	data []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// replyConn is a stream this node opened: the first read checks the
// whole answer (a push/pull answer, an ack, an error) before memberlist
// reads it, and the stream ends after it. A node pointed at another
// address by a join or a stale member list may be talking to anyone.
type replyConn struct {
	net.Conn
	check   func(net.Conn) ([]byte, error)
	checked bool
	data    []byte
	err     error
}

func (c *replyConn) Read(p []byte) (int, error) {
	if !c.checked {
		c.checked = true
		c.data, c.err = c.check(c.Conn)
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}
